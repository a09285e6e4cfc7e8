// The AVX-512 VNNI path of the integer LSTM: PackS8 and GemvPackedRequantS32 on zmm vpdpbusd over
// blocks of 16 rows; every other kernel is the AVX-VNNI table's (AVX2 code). Bit-identical to the
// reference (src/kernels/reference/lstm_kernels.cc) on every input. The functions carry their ISA in
// __attribute__((target)) (this file gets no -mavx512 flag) and run only after dispatch.cc has checked
// avx512f, avx512bw, avx512vl and avx512vnni. It is not a specification: where it and the reference
// differ, it is wrong. Formulas: docs/numerics.md §4.1 and §7.1.
//
// Arithmetic, as the AVX-VNNI path's (lstm_kernels_avx2.cc): vpdpbusd multiplies unsigned by signed
// bytes and adds groups of four products into int32 lanes without intermediate saturation. The int8
// input is made unsigned as u = x ^ 0x80 = x + 128, so sum_k u_k w_k = sum_k x_k w_k + 128 sum_k w_k;
// the second term is folded in at packing time as row_fold[r] = -128 sum_k w[r][k]. Every sum wraps in
// int32, as the reference's does, so the sums are the reference's for all int8 weights and inputs.
// Layout: rows in blocks of 16, columns in groups of 4; block (rb, kg) is 64 bytes holding row
// 16rb+j's columns 4kg..4kg+3 at bytes 4j..4j+3 (the layout of an AMX B tile row as well), blocks
// stored block-major. One vpdpbusd with 4 input bytes broadcast advances 16 rows by 4 columns; the 16
// row sums end in the 16 lanes. Padding rows and columns are zero weights. The sums plus bias and fold
// are stored (masked to the requested rows) into `out`, then requantized there by the AVX2 code.

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/lstm_kernels.h"

namespace irnn {
namespace avx512 {
namespace {

#define IRNN_TARGET_AVX512 __attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")))

constexpr int kBlockRows = 16;
constexpr int kBlockBytes = 64;  // 16 rows x 4 columns

void PackS8(const int8_t* w, int rows, int cols, PackedS8* out) {
  const int64_t blocks = (rows + kBlockRows - 1) / kBlockRows, groups = (cols + 3) / 4;
  out->rows = rows;
  out->cols = cols;
  out->data.assign(static_cast<size_t>(blocks * groups * kBlockBytes), 0);
  out->row_fold.assign(static_cast<size_t>(blocks * kBlockRows), 0);
  for (int r = 0; r < rows; ++r) {
    uint32_t sum = 0;
    for (int k = 0; k < cols; ++k) {
      const int8_t v = w[static_cast<int64_t>(r) * cols + k];
      out->data[static_cast<size_t>(((r / kBlockRows) * groups + k / 4) * kBlockBytes + (r % kBlockRows) * 4 +
                                    k % 4)] = v;
      sum += static_cast<uint32_t>(int32_t{v});
    }
    out->row_fold[static_cast<size_t>(r)] = static_cast<int32_t>(0u - 128u * sum);  // wraps, as the sums do
  }
}

// NB input rows times NR row blocks: NB * NR accumulators of 16 row sums over all column groups. The
// accumulators are locals (GCC keeps an output array in memory across the loop).
template <int NB, int NR>
IRNN_TARGET_AVX512 inline void Tile(const int8_t* blocks, int64_t block_stride, int groups, const uint8_t* const* u,
                                    __m512i* out) {
  __m512i acc[NB * NR];
  for (int i = 0; i < NB * NR; ++i) acc[i] = _mm512_setzero_si512();
  for (int kg = 0; kg < groups; ++kg) {
    __m512i xb[NB];
    for (int b = 0; b < NB; ++b) {
      int32_t four;
      std::memcpy(&four, u[b] + 4 * kg, 4);
      xb[b] = _mm512_set1_epi32(four);
    }
    for (int j = 0; j < NR; ++j) {
      const __m512i wv = _mm512_loadu_si512(blocks + j * block_stride + kBlockBytes * kg);
      for (int b = 0; b < NB; ++b) acc[b * NR + j] = _mm512_dpbusd_epi32(acc[b * NR + j], xb[b], wv);
    }
  }
  for (int i = 0; i < NB * NR; ++i) out[i] = acc[i];
}

// One input row times NR row blocks, the column groups split between two sets of accumulators (even
// and odd groups) so that 2 * NR independent vpdpbusd chains hide its latency; the sets are added at
// the end (int32 addition wraps and is associative, so the sums are unchanged).
template <int NR>
IRNN_TARGET_AVX512 inline void TileOneRow(const int8_t* blocks, int64_t block_stride, int groups, const uint8_t* u,
                                          __m512i* out) {
  __m512i even[NR], odd[NR];
  for (int j = 0; j < NR; ++j) even[j] = odd[j] = _mm512_setzero_si512();
  int kg = 0;
  for (; kg + 2 <= groups; kg += 2) {
    int32_t four[2];
    std::memcpy(four, u + 4 * kg, 8);
    const __m512i x0 = _mm512_set1_epi32(four[0]);
    const __m512i x1 = _mm512_set1_epi32(four[1]);
    for (int j = 0; j < NR; ++j) {
      const int8_t* p = blocks + j * block_stride + kBlockBytes * kg;
      even[j] = _mm512_dpbusd_epi32(even[j], x0, _mm512_loadu_si512(p));
      odd[j] = _mm512_dpbusd_epi32(odd[j], x1, _mm512_loadu_si512(p + kBlockBytes));
    }
  }
  if (kg < groups) {
    int32_t four;
    std::memcpy(&four, u + 4 * kg, 4);
    const __m512i x0 = _mm512_set1_epi32(four);
    for (int j = 0; j < NR; ++j) {
      even[j] = _mm512_dpbusd_epi32(even[j], x0, _mm512_loadu_si512(blocks + j * block_stride + kBlockBytes * kg));
    }
  }
  for (int j = 0; j < NR; ++j) out[j] = _mm512_add_epi32(even[j], odd[j]);
}

// Adds fold and bias to the 16 row sums of block rb and stores those of rows in [row_begin, row_end)
// into input row b's outputs (a lambda would not carry the target attribute).
struct Finish {
  const int32_t* fold;  // padded to whole blocks
  const int32_t* bias;  // may be null
  int32_t* out;
  int rows, row_begin, row_end;

  IRNN_TARGET_AVX512 inline void operator()(__m512i sums, int rb, int b) const {
    const int r0 = rb * kBlockRows;
    const int lo = std::max(0, row_begin - r0), hi = std::min(kBlockRows, row_end - r0);
    const __mmask16 mask = static_cast<__mmask16>(((1u << hi) - 1u) & ~((1u << lo) - 1u));
    sums = _mm512_add_epi32(sums, _mm512_loadu_si512(fold + r0));
    if (bias != nullptr) sums = _mm512_add_epi32(sums, _mm512_maskz_loadu_epi32(mask, bias + r0));
    _mm512_mask_storeu_epi32(out + static_cast<int64_t>(b) * rows + r0, mask, sums);
  }
};

IRNN_TARGET_AVX512 void GemvPackedRequantS32(const PackedS8& w, int row_begin, int row_end, const int32_t* bias,
                                             const int8_t* x, int batch, QuantizedMultiplier m,
                                             const QuantizedMultiplier* channel, Rounding rounding, int32_t* out) {
  if (row_end <= row_begin) return;
  const int rows = w.rows, cols = w.cols;
  const int groups = (cols + 3) / 4;
  // Block indices [first_block, blocks); row_begin need not be a multiple of 16 (threads split at 8).
  const int first_block = row_begin / kBlockRows, blocks = (row_end + kBlockRows - 1) / kBlockRows;
  const int64_t block_stride = int64_t{groups} * kBlockBytes;
  // The inputs as unsigned bytes, each row padded to whole groups (the padding meets zero weights).
  thread_local std::vector<uint8_t> unsigned_x;
  const size_t padded = static_cast<size_t>(groups) * 4;
  if (unsigned_x.size() < padded * batch) unsigned_x.resize(padded * batch);
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  for (int b = 0; b < batch; ++b) {
    const int8_t* xb = x + static_cast<int64_t>(b) * cols;
    uint8_t* ub = unsigned_x.data() + padded * b;
    int k = 0;
    for (; k + 64 <= cols; k += 64) _mm512_storeu_si512(ub + k, _mm512_xor_si512(_mm512_loadu_si512(xb + k), flip));
    for (; k < cols; ++k) ub[k] = static_cast<uint8_t>(xb[k]) ^ 0x80u;
    for (; k < static_cast<int>(padded); ++k) ub[k] = 0;
  }
  const Finish finish{w.row_fold.data(), bias, out, rows, row_begin, row_end};
  const int8_t* const data = w.data.data();
  const uint8_t* u[4];
  __m512i acc[16];
  int b = 0;
  for (; b + 4 <= batch; b += 4) {  // four input rows share each weight load
    for (int i = 0; i < 4; ++i) u[i] = unsigned_x.data() + padded * (b + i);
    int rb = first_block;
    for (; rb + 4 <= blocks; rb += 4) {
      Tile<4, 4>(data + rb * block_stride, block_stride, groups, u, acc);
      for (int i = 0; i < 4; ++i) {
        for (int j = 0; j < 4; ++j) finish(acc[4 * i + j], rb + j, b + i);
      }
    }
    for (; rb < blocks; ++rb) {
      Tile<4, 1>(data + rb * block_stride, block_stride, groups, u, acc);
      for (int i = 0; i < 4; ++i) finish(acc[i], rb, b + i);
    }
  }
  for (; b < batch; ++b) {  // one input row: eight row blocks at a time
    const uint8_t* ub = unsigned_x.data() + padded * b;
    int rb = first_block;
    for (; rb + 8 <= blocks; rb += 8) {
      TileOneRow<8>(data + rb * block_stride, block_stride, groups, ub, acc);
      for (int j = 0; j < 8; ++j) finish(acc[j], rb + j, b);
    }
    for (; rb + 4 <= blocks; rb += 4) {
      TileOneRow<4>(data + rb * block_stride, block_stride, groups, ub, acc);
      for (int j = 0; j < 4; ++j) finish(acc[j], rb + j, b);
    }
    for (; rb < blocks; ++rb) {
      TileOneRow<1>(data + rb * block_stride, block_stride, groups, ub, acc);
      finish(acc[0], rb, b);
    }
  }
  const QuantizedMultiplier* ch = channel != nullptr ? channel + row_begin : nullptr;
  for (int i = 0; i < batch; ++i) {
    avx2::RequantizeS32InPlace(out + static_cast<int64_t>(i) * rows + row_begin, row_end - row_begin, m, ch,
                               rounding);
  }
}

}  // namespace

const LstmKernels* Avx512VnniLstmKernelTable() {
  static const LstmKernels* table = []() -> const LstmKernels* {
    const LstmKernels* vnni = avx2::AvxVnniLstmKernelTable();
    if (vnni == nullptr) return nullptr;
    static LstmKernels t = *vnni;
    t.PackS8 = PackS8;
    t.GemvPackedRequantS32 = GemvPackedRequantS32;
    return &t;
  }();
  return table;
}

}  // namespace avx512
}  // namespace irnn
