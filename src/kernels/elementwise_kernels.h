// The kernel table of the elementwise int8 operations of the sequence layers (numerics.md §10): the
// residual add and the Mogrifier gating. src/kernels/reference/elementwise_kernels.cc is the
// specification; src/kernels/x86/elementwise_kernels_avx2.cc must match it bit for bit on every input.
// Kernels check nothing: the layer validates sizes and parameters first.
#pragma once

#include <cstdint>

#include "irnn/kernel_path.h"
#include "irnn/quantization.h"
#include "irnn/residual.h"

namespace irnn {

struct ElementwiseKernels {
  // out[i] = sat8(MBQM(MBQM((a[i] − a_zp)·2^20, Ma) + MBQM((b[i] − b_zp)·2^20, Mb), Mo) + out_zp)
  // (numerics.md §10.2). p is valid (ValidateResidualAddParams). out may alias a or b.
  void (*AddS8S8RequantS8)(const int8_t* a, const int8_t* b, int n, const ResidualAddParams& p, int8_t* out);
  // x[i] = sat8(RoundingDivideByPOT((x[i] − zp)·gate[i], 14) + zp), gate[i] in [0, 32767] (a Q0.15
  // sigmoid; the result is x scaled by 2σ on x's own grid; numerics.md §10.3). zp in [-128, 127].
  void (*MogrifyS8)(const int16_t* gate, int n, int32_t zp, int8_t* x);
};

// The table for a resolved path (kScalar; kAvx2 and kAvxVnni get the AVX2 table).
const ElementwiseKernels& GetElementwiseKernels(KernelPath resolved);

namespace reference {
const ElementwiseKernels& ElementwiseKernelTable();
}  // namespace reference

namespace avx2 {
const ElementwiseKernels* ElementwiseKernelTable();  // null when the build has no AVX2 code
}  // namespace avx2

}  // namespace irnn
