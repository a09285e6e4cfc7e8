// The kernel table of integer attention (include/irnn/attention.h; docs/numerics.md §9): the integer
// softmax and the elementwise/dot-product pieces of additive and dot-product attention. One table per
// code path: src/kernels/reference/attention_kernels.cc is the specification, the AVX2 table
// (src/kernels/x86/attention_kernels_avx2.cc) matches it bit for bit on every input. The int8 matmuls
// of attention (Wq q, Wk k_t) are the LSTM kernels' packed matmuls (lstm_kernels.h), not here. Sizes are
// validated by the layer before a kernel is called: kernels check nothing.
#pragma once

#include <cstdint>

#include "irnn/kernel_path.h"
#include "irnn/quantization.h"

namespace irnn {

// 2^(j/256) in Q29 for j = 0..256 (numerics.md §9.2): round(2^29 · 2^(j/256)); [0] = 2^29, [256] = 2^30.
extern const int32_t kSoftmaxExp2Table[257];

struct AttentionKernels {
  // probs[t] = softmax(scores)[t] in Q0.15 for t in [0, n), n in [1, 4096]   (numerics.md §9.2)
  // exp_scale: the multiplier of (s - max) onto the 2^-16 grid of log2 units. scratch: n int32.
  void (*SoftmaxS32ToQ15)(const int32_t* scores, int n, QuantizedMultiplier exp_scale, Rounding rounding,
                          int32_t* scratch, int16_t* probs);
  // out[t*n + j] = sat16(q[j] + k[t*n + j]) for t in [0, rows)   (numerics.md §9.3)
  void (*AddRowSatS32ToS16)(const int32_t* q, const int32_t* k, int rows, int n, int16_t* out);
  // out[t] = wrap32(Σ_j v[j] · h[t*n + j]) for t in [0, rows)   (additive scores, §9.3)
  void (*DotRowsS16S8)(const int16_t* h, const int8_t* v, int rows, int n, int32_t* out);
  // out[t] = wrap32(Σ_j u[j] · (k[t*n + j] − zero_point)) for t in [0, rows)   (dot scores, §9.4)
  void (*DotRowsS8S8)(const int8_t* k, const int8_t* u, int rows, int n, int32_t zero_point, int32_t* out);
  // out[j] = sat8(RDivPOT(Σ_t a[t] · (k[t*n + j] − zero_point), 15) + zero_point), j in [0, n); the sum
  // in int32 (it cannot overflow for a from SoftmaxS32ToQ15 and rows <= 4096)   (context, §9.1)
  void (*WeightedSumS8)(const int16_t* a, const int8_t* k, int rows, int n, int32_t zero_point, int8_t* out);
};

// The table for a resolved path (kScalar, kAvx2 or kAvxVnni, which uses the AVX2 table).
const AttentionKernels& GetAttentionKernels(KernelPath resolved);

namespace reference {
const AttentionKernels& AttentionKernelTable();
}  // namespace reference

namespace avx2 {
const AttentionKernels* AttentionKernelTable();  // null when the build has no AVX2 code
}  // namespace avx2

}  // namespace irnn
