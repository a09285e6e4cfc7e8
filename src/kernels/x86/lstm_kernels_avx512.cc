// The AVX-512 VNNI and AMX paths of the integer LSTM: PackS8 and GemvPackedRequantS32 on zmm vpdpbusd
// over blocks of 16 rows (and, on the amx path, on AMX tiles for 16 or more input rows), and the fused
// gate epilogue LstmGatesS16 on zmm with gathered activation tables, and LstmRecurrentGatesS16 (one
// step's four recurrent matmuls feeding that epilogue from registers, in a cheaper right-shift form,
// Gates16Right with requant_avx512.h's RequantizeRight512, where every scale of the step allows it);
// LogisticQ3S16 and TanhS16 are fixed_point_simd.cc's 32-lane ones; the GRU's gate epilogue GruGatesS16
// with the same gathers;
// every other kernel is the AVX-VNNI table's (AVX2 code).
// Bit-identical to the reference (src/kernels/reference/lstm_kernels.cc)
// on every input. The functions carry their ISA in __attribute__((target)) (this file gets no -mavx512
// flag) and run only after dispatch.cc has checked avx512f, avx512bw, avx512vl and avx512vnni (and AMX,
// AmxAvailable, for the amx table). It is not a specification: where it and the reference differ, it is
// wrong. Formulas: docs/numerics.md §1.3, §4.1-§4.4 and §7.1.
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
// are requantized on zmm (per-tensor multiplier, or pot per-row ones) and stored masked to the requested
// rows; with other per-channel multipliers the zmm kernel stores them raw and requantizes them with the
// AVX2 code (the AMX kernel requantizes them on zmm, RequantizeRows512).

#include <cpuid.h>
// GCC 12's AVX-512 intrinsics pass _mm512_undefined_epi32() (`__m512i __Y = __Y;`) as the unused
// pass-through operand, which -Wmaybe-uninitialized (and, once inlined, -Wuninitialized) reports at
// every use (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#if defined(__linux__)
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <type_traits>
#include <vector>

#include "kernels/lstm_kernels.h"
#include "kernels/x86/requant_avx512.h"
#include "kernels/x86/fixed_point_simd.h"

namespace irnn {
namespace avx512 {
namespace {

#define IRNN_TARGET_AVX512 __attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")))

constexpr int kBlockRows = 16;
constexpr int kBlockBytes = 64;  // 16 rows x 4 columns

// Column groups per block in memory: padded to a multiple of 16 (64 columns, an AMX tile's depth).
inline int PaddedGroups(int cols) { return (cols + 63) / 64 * 16; }

void PackS8(const int8_t* w, int rows, int cols, PackedS8* out) {
  const int64_t blocks = (rows + kBlockRows - 1) / kBlockRows, groups = PaddedGroups(cols);
  out->rows = rows;
  out->cols = cols;
  out->data.assign(static_cast<size_t>(blocks * groups * kBlockBytes), 0);
  out->row_fold.assign(static_cast<size_t>(blocks * kBlockRows), 0);
  out->row_bound.assign(static_cast<size_t>(rows), 0);
  for (int r = 0; r < rows; ++r) {
    uint32_t sum = 0;
    int64_t abs_sum = 0;
    for (int k = 0; k < cols; ++k) {
      const int8_t v = w[static_cast<int64_t>(r) * cols + k];
      abs_sum += v < 0 ? -int64_t{v} : int64_t{v};
      out->data[static_cast<size_t>(((r / kBlockRows) * groups + k / 4) * kBlockBytes + (r % kBlockRows) * 4 +
                                    k % 4)] = v;
      sum += static_cast<uint32_t>(int32_t{v});
    }
    out->row_fold[static_cast<size_t>(r)] = static_cast<int32_t>(0u - 128u * sum);  // wraps, as the sums do
    out->row_bound[static_cast<size_t>(r)] = 128 * abs_sum;
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

// The inputs as unsigned bytes (x ^ 0x80) in a per-thread buffer: rows padded with zeros to whole
// padded groups (the padding meets zero weights), and the row count padded to a multiple of
// row_multiple with zero rows (whose results are never stored).
IRNN_TARGET_AVX512 const uint8_t* UnsignedInput(const int8_t* x, int batch, int cols, int row_multiple) {
  thread_local std::vector<uint8_t> buffer;
  const size_t padded = static_cast<size_t>(PaddedGroups(cols)) * 4;
  const int rows = (batch + row_multiple - 1) / row_multiple * row_multiple;
  if (buffer.size() < padded * rows) buffer.resize(padded * rows);
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  for (int b = 0; b < batch; ++b) {
    const int8_t* xb = x + static_cast<int64_t>(b) * cols;
    uint8_t* ub = buffer.data() + padded * b;
    int k = 0;
    for (; k + 64 <= cols; k += 64) _mm512_storeu_si512(ub + k, _mm512_xor_si512(_mm512_loadu_si512(xb + k), flip));
    for (; k < cols; ++k) ub[k] = static_cast<uint8_t>(xb[k]) ^ 0x80u;
    for (; k < static_cast<int>(padded); ++k) ub[k] = 0;
  }
  std::memset(buffer.data() + padded * batch, 0, padded * (rows - batch));
  return buffer.data();
}

// Adds fold and bias to the 16 row sums of block rb and stores those of rows in [row_begin, row_end)
// into input row b's outputs (a lambda would not carry the target attribute).
struct Finish {
  const int32_t* fold;  // padded to whole blocks
  const int32_t* bias;  // may be null
  int32_t* out;
  int rows, row_begin, row_end;
  const Requant512* requant;  // per-tensor: requantized here; null (per-channel): by RequantizeRest
  const int32_t* pot_right;   // PotRights' (then requant is null): RequantizePot512 here, by absolute row
  bool pot_folded;            // PotRights' folded form: the nudge is in bias, one shift by pot_right
  // Or the layer's own (LstmRecurrentStep::pot_right = k - 1 and pot_nudge = 2^(k-1), proved not to
  // wrap): the nudge added here, one shift by k. Null: pot_right is PotRights'.
  const int32_t* pot_nudge = nullptr;

  // fold + bias of block rb's rows (bias masked to the requested rows).
  IRNN_TARGET_AVX512 inline __m512i Addend(int rb) const {
    const int r0 = rb * kBlockRows;
    const __m512i f = _mm512_loadu_si512(fold + r0);
    return bias != nullptr ? _mm512_add_epi32(f, _mm512_maskz_loadu_epi32(Mask(rb), bias + r0)) : f;
  }
  IRNN_TARGET_AVX512 inline __mmask16 Mask(int rb) const {
    const int r0 = rb * kBlockRows;
    const int lo = std::max(0, row_begin - r0), hi = std::min(kBlockRows, row_end - r0);
    return static_cast<__mmask16>(((1u << hi) - 1u) & ~((1u << lo) - 1u));
  }
  // The same as operator() with Addend(rb) and Mask(rb) computed once for many input rows.
  IRNN_TARGET_AVX512 inline void Store(__m512i sums, __m512i addend, __mmask16 mask, int rb, int b) const {
    sums = _mm512_add_epi32(sums, addend);
    if (requant != nullptr) sums = Requantize512(sums, *requant);
    if (pot_right != nullptr) sums = Pot(sums, rb * kBlockRows);
    _mm512_mask_storeu_epi32(out + static_cast<int64_t>(b) * rows + rb * kBlockRows, mask, sums);
  }

  IRNN_TARGET_AVX512 inline void operator()(__m512i sums, int rb, int b) const {
    const int r0 = rb * kBlockRows;
    const int lo = std::max(0, row_begin - r0), hi = std::min(kBlockRows, row_end - r0);
    const __mmask16 mask = static_cast<__mmask16>(((1u << hi) - 1u) & ~((1u << lo) - 1u));
    sums = _mm512_add_epi32(sums, _mm512_loadu_si512(fold + r0));
    if (bias != nullptr) sums = _mm512_add_epi32(sums, _mm512_maskz_loadu_epi32(mask, bias + r0));
    if (requant != nullptr) sums = Requantize512(sums, *requant);
    if (pot_right != nullptr) sums = Pot(sums, r0);
    _mm512_mask_storeu_epi32(out + static_cast<int64_t>(b) * rows + r0, mask, sums);
  }

  IRNN_TARGET_AVX512 inline __m512i Pot(__m512i sums, int r0) const {
    const __m512i right = _mm512_loadu_si512(pot_right + r0);
    if (pot_nudge != nullptr) {
      return _mm512_srav_epi32(_mm512_add_epi32(sums, _mm512_loadu_si512(pot_nudge + r0)),
                               _mm512_add_epi32(right, _mm512_set1_epi32(1)));
    }
    return pot_folded ? _mm512_srav_epi32(sums, right) : RequantizePot512(sums, right);
  }

  // Per-channel multipliers: the stored sums requantized in place, 8 lanes at a time (AVX2 code).
  void RequantizeRest(int batch, const QuantizedMultiplier* channel, Rounding rounding) const {
    if (requant != nullptr || pot_right != nullptr) return;
    avx2::RequantizeS32RowsInPlace(out + row_begin, batch, rows, row_end - row_begin, channel + row_begin, rounding);
  }
};

// Where every multiplier of the rows [row_begin, row_end) (channel's, or m for all when channel is null)
// is a power of two for the rounding (requant_avx512.h's PotMultiplier), their right shifts -shift in a
// per-thread buffer indexed by the absolute row, whole 16-row blocks (other rows 1); else null. O(rows)
// per call: a scan of the multipliers against a matmul of rows x cols x batch.
// Folded form: where w.row_bound proves |bias[r]| + 128 sum_k |w[r][k]| + 2^(k-1) <= INT32_MAX for every
// row, the sum plus the nudge 2^(k-1) never wraps, so MBQM = (bias + nudge + sum) >> k: `bias` then
// points at bias + nudge (a per-thread buffer by absolute row) and right at k, one shift per value.
struct PotRows {
  const int32_t* right = nullptr;  // -shift (RequantizePot512), or k = 1 - shift (folded)
  const int32_t* bias = nullptr;   // the bias to use
  bool folded = false;
};

// The scan runs 16 rows at a time on zmm (a scalar scan of 256 rows took ~10 % of the AMX projection's
// time at H = 256, B = 16: 4 gates' matmuls of one Run chunk, perf).
IRNN_TARGET_AVX512 inline PotRows PotRights(const PackedS8& w, const int32_t* bias, QuantizedMultiplier m,
                                        const QuantizedMultiplier* channel, int row_begin, int row_end,
                                        Rounding rounding) {
  PotRows p;
  if (rounding != Rounding::kSingle) return p;
  if (channel == nullptr && !PotMultiplier(m, rounding)) return p;
  thread_local std::vector<int32_t> right, folded_bias;
  const size_t padded = static_cast<size_t>(row_end + kBlockRows - 1) / kBlockRows * kBlockRows;
  right.assign(padded, 1);
  const bool bounded = w.row_bound.size() >= static_cast<size_t>(row_end);
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  const __m512i pot = _mm512_set1_epi32(int32_t{1} << 30);
  const __m512i one64 = _mm512_set1_epi64(1), max32 = _mm512_set1_epi64(INT32_MAX);
  __mmask16 unfoldable = 0;
  for (int r = row_begin; r < row_end; r += 16) {
    const int n = std::min(16, row_end - r);
    const __mmask16 lanes = static_cast<__mmask16>((1u << n) - 1u);
    __m512i mult, shift;
    if (channel != nullptr) {
      const int32_t* const q = reinterpret_cast<const int32_t*>(channel + r);  // {multiplier, shift} pairs
      const __m512i lo = _mm512_maskz_loadu_epi32(static_cast<__mmask16>(n >= 8 ? 0xFFFF : (1u << (2 * n)) - 1u), q);
      const __m512i hi = n > 8 ? _mm512_maskz_loadu_epi32(static_cast<__mmask16>((1u << (2 * (n - 8))) - 1u), q + 16)
                               : _mm512_setzero_si512();
      mult = _mm512_permutex2var_epi32(lo, even, hi);
      shift = _mm512_permutex2var_epi32(lo, odd, hi);
    } else {
      mult = _mm512_set1_epi32(m.multiplier);
      shift = _mm512_set1_epi32(m.shift);
    }
    const __mmask16 ok = _mm512_mask_cmpeq_epi32_mask(lanes, mult, pot) &
                         _mm512_cmple_epi32_mask(shift, _mm512_setzero_si512()) &
                         _mm512_cmpge_epi32_mask(shift, _mm512_set1_epi32(-31));
    if (ok != lanes) return p;
    const __m512i rights = _mm512_sub_epi32(_mm512_setzero_si512(), shift);
    _mm512_mask_storeu_epi32(right.data() + r, lanes, rights);
    if (bounded) {
      const __m512i b = bias != nullptr ? _mm512_maskz_loadu_epi32(lanes, bias + r) : _mm512_setzero_si512();
      for (int h = 0; h < 2; ++h) {  // 8 rows in int64 lanes: |b| + row_bound + 2^(-shift) <= INT32_MAX
        const __mmask8 half = static_cast<__mmask8>(lanes >> (8 * h));
        const __m512i b64 = _mm512_abs_epi64(_mm512_cvtepi32_epi64(h == 0 ? _mm512_castsi512_si256(b)
                                                                             : _mm512_extracti64x4_epi64(b, 1)));
        const __m512i r64 = _mm512_cvtepi32_epi64(h == 0 ? _mm512_castsi512_si256(rights)
                                                         : _mm512_extracti64x4_epi64(rights, 1));
        const __m512i bound = _mm512_maskz_loadu_epi64(half, w.row_bound.data() + r + 8 * h);
        const __m512i total = _mm512_add_epi64(_mm512_add_epi64(b64, bound), _mm512_sllv_epi64(one64, r64));
        unfoldable |= static_cast<__mmask16>(_mm512_mask_cmpgt_epi64_mask(half, total, max32));
      }
    }
  }
  p.right = right.data();
  p.bias = bias;
  if (bounded && unfoldable == 0) {
    folded_bias.assign(padded, 0);
    for (int r = row_begin; r < row_end; r += 16) {
      const __mmask16 lanes = static_cast<__mmask16>((1u << std::min(16, row_end - r)) - 1u);
      const __m512i k = _mm512_add_epi32(_mm512_maskz_loadu_epi32(lanes, right.data() + r), _mm512_set1_epi32(1));
      const __m512i b = bias != nullptr ? _mm512_maskz_loadu_epi32(lanes, bias + r) : _mm512_setzero_si512();
      _mm512_mask_storeu_epi32(right.data() + r, lanes, k);
      _mm512_mask_storeu_epi32(folded_bias.data() + r, lanes,
                               _mm512_add_epi32(b, _mm512_sllv_epi32(_mm512_set1_epi32(1), _mm512_sub_epi32(k, _mm512_set1_epi32(1)))));
    }
    p.bias = folded_bias.data();
    p.folded = true;
  }
  return p;
}

template <bool kReverse>
IRNN_TARGET_AVX512 void GemvPackedLoopsIn(const PackedS8& w, int row_begin, int row_end, const uint8_t* unsigned_x,
                                          int batch, const Finish& finish);

// GemvPackedLoopsIn in the direction `reverse` (one instance per direction: the forward walk's code as
// before the reverse walk existed).
IRNN_TARGET_AVX512 inline void GemvPackedLoops(const PackedS8& w, int row_begin, int row_end,
                                               const uint8_t* unsigned_x, int batch, const Finish& finish,
                                               bool reverse) {
  if (reverse) {
    GemvPackedLoopsIn<true>(w, row_begin, row_end, unsigned_x, batch, finish);
  } else {
    GemvPackedLoopsIn<false>(w, row_begin, row_end, unsigned_x, batch, finish);
  }
}

// GemvPackedRequantS32 with GemvPackedLoops' walk direction: `reverse` walks the row blocks from the last.
IRNN_TARGET_AVX512 void GemvPackedRequantWalk(const PackedS8& w, int row_begin, int row_end, const int32_t* bias,
                                              const int8_t* x, int batch, QuantizedMultiplier m,
                                              const QuantizedMultiplier* channel, Rounding rounding, int32_t* out,
                                              bool reverse) {
  if (row_end <= row_begin) return;
  const int rows = w.rows, cols = w.cols;
  const uint8_t* const unsigned_x = UnsignedInput(x, batch, cols, 1);
  const Requant512 per_tensor = MakeRequant512(m, rounding);
  const PotRows pot = PotRights(w, bias, m, channel, row_begin, row_end, rounding);
  const Requant512* const requant = channel == nullptr && pot.right == nullptr ? &per_tensor : nullptr;
  const Finish finish{w.row_fold.data(), pot.right != nullptr ? pot.bias : bias, out, rows, row_begin, row_end,
                      requant, pot.right, pot.folded};
  GemvPackedLoops(w, row_begin, row_end, unsigned_x, batch, finish, reverse);
  finish.RequantizeRest(batch, channel, rounding);
}

IRNN_TARGET_AVX512 void GemvPackedRequantS32(const PackedS8& w, int row_begin, int row_end, const int32_t* bias,
                                             const int8_t* x, int batch, QuantizedMultiplier m,
                                             const QuantizedMultiplier* channel, Rounding rounding, int32_t* out) {
  GemvPackedRequantWalk(w, row_begin, row_end, bias, x, batch, m, channel, rounding, out, false);
}

// GemvPackedRequantS32's loops over the input rows and row blocks of the unsigned input, each block's
// sums finished by `finish`. With kReverse, each walk over the row blocks (one per group of input rows)
// is the forward walk's mirror image: its chunks of 8, 4 or 1 blocks from the last to the first, each
// chunk's blocks read side by side as before (each block's sums are the same either way): a caller
// alternating the direction step by step finds the blocks it read last still in L2 when the weights it
// walks exceed L2 (LstmRecurrentStep::reverse).
template <bool kReverse>
IRNN_TARGET_AVX512 void GemvPackedLoopsIn(const PackedS8& w, int row_begin, int row_end, const uint8_t* unsigned_x,
                                          int batch, const Finish& finish) {
  const int cols = w.cols;
  const int groups = (cols + 3) / 4;  // the groups holding columns; the zmm loops stop there
  // Block indices [first_block, blocks); row_begin need not be a multiple of 16 (threads split at 8).
  const int first_block = row_begin / kBlockRows, blocks = (row_end + kBlockRows - 1) / kBlockRows;
  const int64_t block_stride = int64_t{PaddedGroups(cols)} * kBlockBytes;
  const size_t padded = static_cast<size_t>(PaddedGroups(cols)) * 4;
  const int8_t* const data = w.data.data();
  const uint8_t* u[4];
  __m512i acc[16];
  // The first block of the chunk of n blocks at rb in the forward walk, or of its mirror image.
  const int mirror = first_block + blocks;
  auto at = [mirror](int rb, int n) { return kReverse ? mirror - rb - n : rb; };
  int b = 0;
  for (; b + 4 <= batch; b += 4) {  // four input rows share each weight load
    for (int i = 0; i < 4; ++i) u[i] = unsigned_x + padded * (b + i);
    int rb = first_block;
    for (; rb + 4 <= blocks; rb += 4) {
      const int r = at(rb, 4);
      Tile<4, 4>(data + r * block_stride, block_stride, groups, u, acc);
      for (int i = 0; i < 4; ++i) {
        for (int j = 0; j < 4; ++j) finish(acc[4 * i + j], r + j, b + i);
      }
    }
    for (; rb < blocks; ++rb) {
      const int r = at(rb, 1);
      Tile<4, 1>(data + r * block_stride, block_stride, groups, u, acc);
      for (int i = 0; i < 4; ++i) finish(acc[i], r, b + i);
    }
  }
  for (; b < batch; ++b) {  // one input row: eight row blocks at a time
    const uint8_t* ub = unsigned_x + padded * b;
    int rb = first_block;
    for (; rb + 8 <= blocks; rb += 8) {
      const int r = at(rb, 8);
      TileOneRow<8>(data + r * block_stride, block_stride, groups, ub, acc);
      for (int j = 0; j < 8; ++j) finish(acc[j], r + j, b);
    }
    for (; rb + 4 <= blocks; rb += 4) {
      const int r = at(rb, 4);
      TileOneRow<4>(data + r * block_stride, block_stride, groups, ub, acc);
      for (int j = 0; j < 4; ++j) finish(acc[j], r + j, b);
    }
    for (; rb < blocks; ++rb) {
      const int r = at(rb, 1);
      TileOneRow<1>(data + r * block_stride, block_stride, groups, ub, acc);
      finish(acc[0], r, b);
    }
  }
}

// GemvPackedRequantS32 of a matrix whose per-row multipliers the layer has found to be powers of two
// (LstmRecurrentStep::pot_right, pot_nudge: see there), without PotRights' scan of the multipliers on
// every call (O(rows) per call: at H = 512, B = 1 it cost about a third of the step). `reverse`: as
// GemvPackedLoops'.
IRNN_TARGET_AVX512 void GemvPackedPot(const PackedS8& w, int row_begin, int row_end, const int32_t* bias,
                                      const int8_t* x, int batch, const int32_t* pot_right, const int32_t* pot_nudge,
                                      int32_t* out, bool reverse) {
  if (row_end <= row_begin) return;
  const uint8_t* const unsigned_x = UnsignedInput(x, batch, w.cols, 1);
  Finish finish{w.row_fold.data(), bias, out, w.rows, row_begin, row_end, nullptr, pot_right, false};
  finish.pot_nudge = pot_nudge;
  GemvPackedLoops(w, row_begin, row_end, unsigned_x, batch, finish, reverse);
}

// The gate epilogue (LstmKernels::LstmGatesS16) on 16 values at a time, in int32 lanes from end to
// end: no int16 intermediate goes to memory. Every step is the reference's arithmetic on values that
// fit their lanes: pre-activations clamped as AddSatS32IntoS16 / AddSatS32IntoS32 + SaturateS32ToS16
// do; activations gathered from the tables (indexed by the signed int16 value) and sign-extended;
// f*c, i*g and o*tanh(c) are exact int32 products by vpmaddwd (the logistic's outputs, and 32767 - f
// under CIFG, are in [0, 32767]: the logistic table's entries are in [11, 32756]); RoundingDivideByPOT
// as one floor (no wrap at these sizes); the int16 casts of the cell update as sign extension of the
// low 16 bits; the hidden value's sat8(r + zp) as vpmovsdb of clamp(r, +-65536) + zp. The tail is
// masked.
IRNN_TARGET_AVX512 inline __m512i SignExtend16(__m512i v) { return _mm512_srai_epi32(_mm512_slli_epi32(v, 16), 16); }

// RoundingDivideByPOT(x, e) (round half away from zero) as floor((x + 2^(e-1) - [x < 0]) / 2^e), for
// |x| + 2^(e-1) < 2^31 (no wrap): the products f*c and i*g of the cell update, |x| <= 32767 * 32768,
// e <= 21; the GRU's r*c and z*(h - n), |x| <= 32767 * 65535, e = 15. For x >= 0 it rounds half up;
// for x < 0, x = 2^e q + r (0 <= r < 2^e) rounds down where r <= 2^(e-1) (r + 2^(e-1) - 1 < 2^e), so
// ties go away from zero, as the reference's mask/threshold rule does.
IRNN_TARGET_AVX512 inline __m512i RoundingDivideByPOT512(__m512i x, int e) {
  const __m512i nudge = _mm512_add_epi32(_mm512_set1_epi32(int32_t{1} << (e - 1)), _mm512_srai_epi32(x, 31));
  return _mm512_srai_epi32(_mm512_add_epi32(x, nudge), e);
}

IRNN_TARGET_AVX512 inline __m512i Clamp512(__m512i v, int32_t lo, int32_t hi) {
  return _mm512_min_epi32(_mm512_max_epi32(v, _mm512_set1_epi32(lo)), _mm512_set1_epi32(hi));
}

// A gate's pre-activation on 16 lanes (masked loads): AddSatS32IntoS16(SaturateS32ToS16(in), rec) in
// tflite_compat mode, else SaturateS32ToS16(AddSatS32IntoS32(in, rec)).
IRNN_TARGET_AVX512 inline __m512i PreActivation512(const int32_t* in_p, const int32_t* rec_p, __mmask16 m,
                                                   bool compat) {
  const __m512i in = _mm512_maskz_loadu_epi32(m, in_p);
  const __m512i rec = _mm512_maskz_loadu_epi32(m, rec_p);
  __m512i sum;
  if (compat) {
    sum = _mm512_add_epi32(Clamp512(in, -32768, 32767), Clamp512(rec, -65536, 65536));
  } else {
    sum = _mm512_add_epi32(in, rec);  // sat32: overflow iff in and rec share a sign that sum lacks
    const __mmask16 overflow = _mm512_cmplt_epi32_mask(
        _mm512_and_si512(_mm512_xor_si512(in, sum), _mm512_xor_si512(rec, sum)), _mm512_setzero_si512());
    sum = _mm512_mask_mov_epi32(sum, overflow, _mm512_xor_si512(_mm512_srai_epi32(in, 31), _mm512_set1_epi32(INT32_MAX)));
  }
  return Clamp512(sum, -32768, 32767);
}

// table[uint16(v)] sign-extended, v an int16 value in each int32 lane. (The exact arithmetic on 32
// int16 lanes, fixed_point_avx512.h, measured slower here: 0.36 ns per value against 0.19 for this
// gather on a Sapphire Rapids core, and the whole step 1.0-2.3x as long at H = 128-512, B = 1 and 16,
// the tables' share of L2 at H = 512, B = 1 included.) The table is SignedTable's: indexed by the
// signed value, one entry early, so that the gathered dword holds the entry in its high half and one
// arithmetic shift sign-extends it (no index mask, no left shift).
IRNN_TARGET_AVX512 inline __m512i Activation512(__m512i v, const int16_t* signed_table) {
  return _mm512_srai_epi32(_mm512_i32gather_epi32(v, signed_table, 2), 16);
}

// table[uint16(v)] sign-extended from a plain 64Ki-entry table indexed by the value's 16 bits (the GRU's
// per-layer tables, PwlLookupTableS16): Activation512's gather without the reordered layout.
IRNN_TARGET_AVX512 inline __m512i ActivationPlain512(__m512i v, const int16_t* table) {
  return SignExtend16(_mm512_i32gather_epi32(_mm512_and_si512(v, _mm512_set1_epi32(0xFFFF)), table, 2));
}

// ActivationTableS16(bits) reordered for Activation512: entries t[1 + 32768 + v] = table[uint16(v)] for
// v in [-32768, 32767] after one padding entry t[0]; returns t + 32768, where the dword at t + 32768 + v
// (in int16 units) is (t[32768 + v], t[32769 + v]), the entry of v in the high half. The 8 tables
// (logistic and tanh with 0-6 integer bits, 128 KiB each) are built together into SignedTableBlock on
// the first use (on ordinary pages where the block cannot be allocated).
// The distance of SignedTableBlock's tables, in entries (65537 rounded up to 64-byte lines).
constexpr size_t kSignedTableStride = 65568;

std::vector<int16_t> MakeSignedTable(int tanh_integer_bits) {
  const int16_t* table = avx2::ActivationTableS16(tanh_integer_bits);
  std::vector<int16_t> t(65537, 0);
  for (int v = -32768; v <= 32767; ++v) t[static_cast<size_t>(v + 32769)] = table[static_cast<uint16_t>(v)];
  return t;
}

// The 8 signed tables (logistic, tanh with 0-6 integer bits) in one 2 MiB-aligned block of 2 MiB,
// advised as a transparent huge page where Linux allows it: the gathers of the gate epilogue touch 16
// random entries of 2-3 tables per instruction, and with 4 KiB pages those 32 pages each (96 of them at
// H = 256, B = 16) miss the first-level data TLB. One huge page covers all of them. Built once, on the
// first call, never freed.
const int16_t* SignedTableBlock() {
  static const int16_t* const block = [] {
    constexpr size_t kHuge = size_t{2} << 20;
    auto* b = static_cast<int16_t*>(std::aligned_alloc(kHuge, kHuge));
    if (b != nullptr) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
      madvise(b, kHuge, MADV_HUGEPAGE);
#endif
    } else {  // the same layout on ordinary pages
      static std::vector<int16_t> fallback(8 * kSignedTableStride);
      b = fallback.data();
    }
    for (int i = 0; i < 8; ++i) {
      const std::vector<int16_t> t = MakeSignedTable(i - 1);
      std::memcpy(b + static_cast<size_t>(i) * kSignedTableStride, t.data(), t.size() * sizeof(int16_t));
    }
    return static_cast<const int16_t*>(b);
  }();
  return block;
}

// tanh_integer_bits: -1 (logistic Q3.12) or 0-6 (tanh), as ActivationTableS16's.
const int16_t* SignedTable(int tanh_integer_bits) {
  const int i = tanh_integer_bits >= 0 && tanh_integer_bits <= 6 ? tanh_integer_bits + 1 : 0;
  return SignedTableBlock() + static_cast<size_t>(i) * kSignedTableStride + 32768;
}

// a * b of int16 values sign-extended in int32 lanes, a >= 0 (its high half zero): vpmaddwd's
// a_lo * b_lo + a_hi * b_hi is a_lo * b_lo exactly (one uop against vpmulld's two). Every product of
// the epilogue has a gate output of the logistic (in [0, 32767]) or 32767 - f (CIFG) as a.
IRNN_TARGET_AVX512 inline __m512i MulNonNegative16(__m512i a, __m512i b) { return _mm512_madd_epi16(a, b); }

// An activation (table[uint16(v)] sign-extended) from the signed-layout fixed-point tables
// (Activation512) or, `plain`, from the layer's PWL tables (ActivationPlain512).
IRNN_TARGET_AVX512 inline __m512i Act512(__m512i v, const int16_t* table, bool plain) {
  return plain ? ActivationPlain512(v, table) : Activation512(v, table);
}

// The constants of the gate epilogue, made once per call.
struct GateConstants {
  const int16_t* sigmoid;
  const int16_t* tanh_gate;
  const int16_t* tanh_cell;
  bool plain;  // the tables are the layer's PWL tables (plain layout), not SignedTable's
  Requant512 hidden;
  __m512i zp;
  bool cifg, compat, clipping;
  // Gates16Right's (made when `right`: the hidden scale and zero point meet RequantRightApplies).
  bool right;
  RequantRight512 hidden_right;  // zero point folded
  __m512i cell_lo, cell_hi;      // the cell's clamp: int16, or +-clip when clipping
  __m512i gate_shift, gate_nudge;  // e.gate_shift, 2^(gate_shift - 1)
  // The pot forms' (Gates16Right with kPot): the input contribution's clamp before the recurrent one is
  // added (int16 in tflite_compat mode, +-2^30 in intended mode, see there) ...
  __m512i in_lo, in_hi;
  // ... and, where the hidden scale is a power of two (hidden_pot: single rounding, M = 2^30, shift <=
  // 0, k = 1 - shift), its right shift k - 1 and the addend 1 + 2 zp.
  bool hidden_pot;
  __m512i hidden_pot_right, hidden_pot_add;
};

IRNN_TARGET_AVX512 inline GateConstants MakeGateConstants(const LstmGateEpilogue& e) {
  GateConstants q;
  q.plain = e.sigmoid_table != nullptr;
  q.sigmoid = q.plain ? e.sigmoid_table : SignedTable(-1);
  q.tanh_gate = q.plain ? e.tanh_gate_table : SignedTable(3);
  q.tanh_cell = q.plain ? e.tanh_cell_table : SignedTable(e.cell_integer_bits);
  q.hidden = MakeRequant512(e.hidden_scale, e.rounding);
  q.zp = _mm512_set1_epi32(e.hidden_zp);
  q.cifg = e.input[0] == nullptr;
  q.compat = e.tflite_compat;
  q.clipping = e.clip > 0;
  q.right = RequantRightApplies(e.hidden_scale, e.hidden_zp);
  if (q.right) q.hidden_right = MakeRequantRight512(e.hidden_scale, e.rounding, e.hidden_zp);
  q.cell_lo = _mm512_set1_epi32(q.clipping ? -e.clip : -32768);
  q.cell_hi = _mm512_set1_epi32(q.clipping ? e.clip : 32767);
  q.gate_shift = _mm512_set1_epi32(e.gate_shift);
  q.gate_nudge = _mm512_set1_epi32(int32_t{1} << (e.gate_shift - 1));
  q.in_lo = _mm512_set1_epi32(e.tflite_compat ? -32768 : -(int32_t{1} << 30));
  q.in_hi = _mm512_set1_epi32(e.tflite_compat ? 32767 : int32_t{1} << 30);
  q.hidden_pot = e.rounding == Rounding::kSingle && e.hidden_scale.multiplier == (int32_t{1} << 30) &&
                 e.hidden_scale.shift <= 0 && e.hidden_scale.shift >= -31;
  q.hidden_pot_right = _mm512_set1_epi32(q.hidden_pot ? -e.hidden_scale.shift : 0);
  q.hidden_pot_add = _mm512_set1_epi32(1 + 2 * e.hidden_zp);
  return q;
}

// PreActivation512 with the recurrent value in a register (its lanes outside m are never stored).
IRNN_TARGET_AVX512 inline __m512i PreActivationRec512(const LstmGateEpilogue& e, int g, int64_t k, __mmask16 m,
                                                      __m512i rec, bool compat) {
  const __m512i in = _mm512_maskz_loadu_epi32(m, e.input[g] + k);
  __m512i sum;
  if (compat) {
    sum = _mm512_add_epi32(Clamp512(in, -32768, 32767), Clamp512(rec, -65536, 65536));
  } else {
    sum = _mm512_add_epi32(in, rec);
    const __mmask16 overflow = _mm512_cmplt_epi32_mask(
        _mm512_and_si512(_mm512_xor_si512(in, sum), _mm512_xor_si512(rec, sum)), _mm512_setzero_si512());
    sum = _mm512_mask_mov_epi32(sum, overflow, _mm512_xor_si512(_mm512_srai_epi32(in, 31), _mm512_set1_epi32(INT32_MAX)));
  }
  return Clamp512(sum, -32768, 32767);
}

// The gate epilogue of the values [k, k + 16) masked by m, the recurrent results rec[g] in registers
// (rec[0] unused under CIFG).
IRNN_TARGET_AVX512 __attribute__((always_inline)) inline void Gates16(const LstmGateEpilogue& e, const GateConstants& q, int64_t k, __mmask16 m,
                                       const __m512i* rec) {
  const __m512i f = Act512(PreActivationRec512(e, 1, k, m, rec[1], q.compat), q.sigmoid, q.plain);
  const __m512i g = Act512(PreActivationRec512(e, 2, k, m, rec[2], q.compat), q.tanh_gate, q.plain);
  const __m512i ii = q.cifg ? _mm512_sub_epi32(_mm512_set1_epi32(32767), f)
                            : Act512(PreActivationRec512(e, 0, k, m, rec[0], q.compat), q.sigmoid, q.plain);
  const __m512i c = _mm512_cvtepi16_epi32(_mm256_maskz_loadu_epi16(m, e.c + k));
  const __m512i kept = SignExtend16(RoundingDivideByPOT512(MulNonNegative16(f, c), 15));
  const __m512i added = SignExtend16(RoundingDivideByPOT512(MulNonNegative16(ii, g), e.gate_shift));
  __m512i cell = Clamp512(_mm512_add_epi32(kept, added), -32768, 32767);
  if (q.clipping) cell = Clamp512(cell, -e.clip, e.clip);
  _mm256_mask_storeu_epi16(e.c + k, m, _mm512_cvtepi32_epi16(cell));
  const __m512i o = Act512(PreActivationRec512(e, 3, k, m, rec[3], q.compat), q.sigmoid, q.plain);
  const __m512i r = Requantize512(MulNonNegative16(o, Act512(cell, q.tanh_cell, q.plain)), q.hidden);
  _mm_mask_storeu_epi8(e.out + k, m, _mm512_cvtsepi32_epi8(_mm512_add_epi32(Clamp512(r, -65536, 65536), q.zp)));
}

IRNN_TARGET_AVX512 void LstmGatesS16(const LstmGateEpilogue& e) {
  const GateConstants q = MakeGateConstants(e);
  for (int k = 0; k < e.n; k += 16) {
    const __mmask16 m = e.n - k >= 16 ? static_cast<__mmask16>(0xFFFF)
                                      : static_cast<__mmask16>((1u << (e.n - k)) - 1u);
    __m512i rec[4];
    rec[0] = q.cifg ? _mm512_setzero_si512() : _mm512_maskz_loadu_epi32(m, e.recurrent[0] + k);
    for (int g = 1; g < 4; ++g) rec[g] = _mm512_maskz_loadu_epi32(m, e.recurrent[g] + k);
    Gates16(e, q, k, m, rec);
  }
}

// Gates16 for recurrent results of RequantizeRight512 (|rec| <= 2^30), tflite_compat, and a hidden scale
// and zero point that meet RequantRightApplies (q.right): the same values in fewer ops.
// - pre-activation: sat16(sat16(in) + rec) needs no clamp of rec (|sat16(in) + rec| <= 2^30 + 2^15 does
//   not wrap, and beyond +-65536 both forms saturate alike).
// - f*c and i*g rounded (RoundingDivideByPOT, e = 15 and gate_shift) as one vpdpwssd and a shift: with
//   a = f or i in [0, 32767] and b = c or g int16, a*b < 0 only when b < 0, and for a = 0 the nudge's
//   -[b < 0] changes nothing (floor((2^(e-1) - 1) / 2^e) = 0), so RDivPOT(a*b, e) = floor((2^(e-1) +
//   a*b - [b < 0]) / 2^e); vpdpwssd of the words (a, 1) and (b, b's sign extension = -[b < 0]) adds
//   exactly a*b - [b < 0] to the accumulator 2^(e-1). The results are in [-32767, 32767], so the
//   reference's int16 casts change nothing; the clamps to int16 and to +-clip are one clamp.
// - o * tanh(c): vpmaddwd of the words (0, o) and the gathered dword (., tanh(c)), then
//   RequantizeRight512 with the zero point folded in; vpmovsdb saturates (|MBQM| <= 2^29 and |zp| <=
//   2^29: no wrap).
IRNN_TARGET_AVX512 inline __m512i PreActivationRight512(const LstmGateEpilogue& e, int g, int64_t k, __mmask16 m,
                                                        __m512i rec) {
  const __m512i in = _mm512_maskz_loadu_epi32(m, e.input[g] + k);
  return Clamp512(_mm512_add_epi32(Clamp512(in, -32768, 32767), rec), -32768, 32767);
}

// The pot forms' pre-activation, rec = RequantizePot512's (|rec| <= 2^30; in intended mode the layer
// ensures |rec| <= 2^29, every row's k >= 2, unless kInBounded): the input contribution clamped to
// [in_lo, in_hi], rec added (no wrap: |sum| <= 2^30 + 2^29, or 2^15 + 2^30 in tflite_compat), clamped to int16.
// tflite_compat (in_lo/in_hi = int16): sat16(sat16(in) + rec) as PreActivationRight512. Intended mode
// (+-2^30): sat16(sat32(in + rec)); where |in| <= 2^30 the sum does not wrap and is unchanged; where in >
// 2^30 both in + rec and 2^30 + rec exceed 2^29 > 32767 (both saturate to 32767), and alike below -2^30.
IRNN_TARGET_AVX512 __attribute__((always_inline)) inline __m512i PreActivationPot512(const LstmGateEpilogue& e, const GateConstants& q, int g,
                                                      int64_t k, __mmask16 m, __m512i rec) {
  const __m512i in = _mm512_maskz_loadu_epi32(m, e.input[g] + k);
  const __m512i bounded = _mm512_min_epi32(_mm512_max_epi32(in, q.in_lo), q.in_hi);
  return Clamp512(_mm512_add_epi32(bounded, rec), -32768, 32767);
}

// A gathered dword (., v) of a logistic table as the words (v, 1): v >= 0.
IRNN_TARGET_AVX512 inline __m512i WithOne(__m512i gathered) {
  return _mm512_or_si512(_mm512_srli_epi32(gathered, 16), _mm512_set1_epi32(0x10000));
}

// The gathered dword of v: SignedTable's layout holds the entry in the high word (index v); the plain
// PWL tables hold it in the low word (index uint16(v)).
template <bool kPlain>
IRNN_TARGET_AVX512 inline __m512i Gather512(__m512i v, const int16_t* table) {
  if (kPlain) return _mm512_i32gather_epi32(_mm512_and_si512(v, _mm512_set1_epi32(0xFFFF)), table, 2);
  return _mm512_i32gather_epi32(v, table, 2);
}

// The logistic value v >= 0 of a gathered dword as the words (v, 1).
template <bool kPlain>
IRNN_TARGET_AVX512 inline __m512i GateWithOne(__m512i gathered) {
  if (kPlain) return _mm512_or_si512(_mm512_and_si512(gathered, _mm512_set1_epi32(0xFFFF)), _mm512_set1_epi32(0x10000));
  return WithOne(gathered);
}

// The entry of a gathered dword sign-extended.
template <bool kPlain>
IRNN_TARGET_AVX512 inline __m512i Entry512(__m512i gathered) {
  return kPlain ? SignExtend16(gathered) : _mm512_srai_epi32(gathered, 16);
}

// kPot: rec from RequantizePot512 (the pot forms: PreActivationPot512, any mode); else tflite_compat,
// rec from RequantizeRight512. kPlain: the layer's PWL tables. kHiddenPot: the hidden scale is a power
// of two (q.hidden_pot), so MBQM(x) + zp = floor((x + 2^(k-1) + zp 2^k) / 2^k) = floor((floor(x /
// 2^(k-1)) + 1 + 2 zp) / 2) (nested floors merge), with x = o * tanh(c), |x| < 2^30: no wrap.
// kInBounded (intended mode, LstmRecurrentStep::input_pot): the layer proved |in| + |rec| <= INT32_MAX, so
// in + rec does not wrap and sat16(sat32(in + rec)) is one clamp of the sum.
template <bool kPot, bool kInBounded = false>
IRNN_TARGET_AVX512 __attribute__((always_inline)) inline __m512i PreRight512(const LstmGateEpilogue& e, const GateConstants& q, int g, int64_t k,
                                              __mmask16 m, const __m512i* rec) {
  if (kInBounded) return Clamp512(_mm512_add_epi32(_mm512_maskz_loadu_epi32(m, e.input[g] + k), rec[g]), -32768, 32767);
  return kPot ? PreActivationPot512(e, q, g, k, m, rec[g]) : PreActivationRight512(e, g, k, m, rec[g]);
}

// Gates16Right in two halves, so that two input rows' gathers can be in flight together (Gates16Right2):
// GatesRightPre gathers the four gates (the 1 / 3 of each row's gathers that do not depend on the cell),
// GatesRightPost updates the cell, gathers tanh(c) and stores c and the hidden value.
struct GateWords {
  __m512i f1, g, i1, o;
};

template <bool kPot, bool kPlain, bool kInBounded>
IRNN_TARGET_AVX512 __attribute__((always_inline)) inline GateWords GatesRightPre(const LstmGateEpilogue& e, const GateConstants& q,
                                                                                 int64_t k, __mmask16 m, const __m512i* rec) {
  GateWords w;
  w.f1 = GateWithOne<kPlain>(Gather512<kPlain>(PreRight512<kPot, kInBounded>(e, q, 1, k, m, rec), q.sigmoid));
  w.g = Entry512<kPlain>(Gather512<kPlain>(PreRight512<kPot, kInBounded>(e, q, 2, k, m, rec), q.tanh_gate));
  // Under CIFG i = 32767 - f: (32767 - f, 1) = 0x27FFF - (f, 1) as dwords.
  w.i1 = q.cifg ? _mm512_sub_epi32(_mm512_set1_epi32(0x27FFF), w.f1)
                : GateWithOne<kPlain>(Gather512<kPlain>(PreRight512<kPot, kInBounded>(e, q, 0, k, m, rec), q.sigmoid));
  // o as the words (0, o) (SignedTable: matching tanh(c) in the high word) or (o, 0) (plain: low word).
  w.o = _mm512_and_si512(Gather512<kPlain>(PreRight512<kPot, kInBounded>(e, q, 3, k, m, rec), q.sigmoid),
                         _mm512_set1_epi32(kPlain ? 0xFFFF : static_cast<int32_t>(0xFFFF0000u)));
  return w;
}

template <bool kDouble, bool kPlain, bool kHiddenPot>
IRNN_TARGET_AVX512 __attribute__((always_inline)) inline void GatesRightPost(const LstmGateEpilogue& e, const GateConstants& q,
                                                                             int64_t k, __mmask16 m, const GateWords& w) {
  const __m512i c = _mm512_cvtepi16_epi32(_mm256_maskz_loadu_epi16(m, e.c + k));
  const __m512i kept = _mm512_srai_epi32(_mm512_dpwssd_epi32(_mm512_set1_epi32(1 << 14), w.f1, c), 15);
  const __m512i added = _mm512_srav_epi32(_mm512_dpwssd_epi32(q.gate_nudge, w.i1, w.g), q.gate_shift);
  const __m512i cell = _mm512_min_epi32(_mm512_max_epi32(_mm512_add_epi32(kept, added), q.cell_lo), q.cell_hi);
  const __m512i tanh_cell = Gather512<kPlain>(cell, q.tanh_cell);
  _mm256_mask_storeu_epi16(e.c + k, m, _mm512_cvtepi32_epi16(cell));
  const __m512i x = _mm512_madd_epi16(w.o, tanh_cell);
  __m512i r;
  if (kHiddenPot) {
    r = _mm512_srai_epi32(_mm512_add_epi32(_mm512_srav_epi32(x, q.hidden_pot_right), q.hidden_pot_add), 1);
  } else {
    r = RequantizeRight512<kDouble>(x, _mm512_srli_epi64(x, 32), q.hidden_right);
  }
  _mm_mask_storeu_epi8(e.out + k, m, _mm512_cvtsepi32_epi8(r));
}

template <bool kDouble, bool kPot, bool kPlain, bool kHiddenPot, bool kInBounded>
IRNN_TARGET_AVX512 __attribute__((always_inline)) inline void Gates16Right(const LstmGateEpilogue& e, const GateConstants& q, int64_t k,
                                            __mmask16 m, const __m512i* rec) {
  GatesRightPost<kDouble, kPlain, kHiddenPot>(e, q, k, m, GatesRightPre<kPot, kPlain, kInBounded>(e, q, k, m, rec));
}

// Gates16Right of two input rows (values [k0, k0 + 16) and [k1, k1 + 16), the same mask): both rows'
// gate gathers issued before either row's dependent work.
template <bool kDouble, bool kPot, bool kPlain, bool kHiddenPot, bool kInBounded, typename Mid>
IRNN_TARGET_AVX512 __attribute__((always_inline)) inline void Gates16Right2(const LstmGateEpilogue& e, const GateConstants& q,
                                                                            int64_t k0, int64_t k1, __mmask16 m,
                                                                            const __m512i* rec0, const __m512i* rec1, Mid& mid) {
  const GateWords w0 = GatesRightPre<kPot, kPlain, kInBounded>(e, q, k0, m, rec0);
  const GateWords w1 = GatesRightPre<kPot, kPlain, kInBounded>(e, q, k1, m, rec1);
  mid();
  GatesRightPost<kDouble, kPlain, kHiddenPot>(e, q, k0, m, w0);
  GatesRightPost<kDouble, kPlain, kHiddenPot>(e, q, k1, m, w1);
}

// ---- GruGatesS16: the GRU's gate epilogue (numerics.md §8.2-§8.3) -------------------------------
// 16 values at a time in int32 lanes, nothing in between going to memory. r and z: PreActivation512's
// sat16(sat32(in + rec)) (= sat16 of the exact sum) gathered from the layer's sigmoid table by
// ActivationPlain512; the candidate: a and c clamped to int16, r * c exact (0 <= r <= 32767, |c| <= 32768),
// a + RDivPOT(r * c, 15) within +-65535 and then clamped, gathered from the tanh table; the state: z *
// (h - n) exact (0 <= z <= 32767, |h - n| <= 65535), n + RDivPOT(., 15) clamped to int16; the output:
// sat8(MBQM(h, M_out) + Z_out) as vpmovsdb of clamp(MBQM, +-65536) + Z_out. The tail is masked.
IRNN_TARGET_AVX512 inline void Gru16(const GruGateEpilogue& e, int64_t k, __mmask16 m, const Requant512& out_q,
                                     __m512i zp) {
  const __m512i r = ActivationPlain512(PreActivation512(e.input[0] + k, e.recurrent[0] + k, m, false), e.sigmoid_table);
  const __m512i z = ActivationPlain512(PreActivation512(e.input[1] + k, e.recurrent[1] + k, m, false), e.sigmoid_table);
  const __m512i a = Clamp512(_mm512_maskz_loadu_epi32(m, e.input[2] + k), -32768, 32767);
  const __m512i c = Clamp512(_mm512_maskz_loadu_epi32(m, e.recurrent[2] + k), -32768, 32767);
  const __m512i pre_n =
      Clamp512(_mm512_add_epi32(a, RoundingDivideByPOT512(_mm512_mullo_epi32(r, c), 15)), -32768, 32767);
  const __m512i n = ActivationPlain512(pre_n, e.tanh_table);
  const __m512i h = _mm512_cvtepi16_epi32(_mm256_maskz_loadu_epi16(m, e.h16 + k));
  const __m512i kept = RoundingDivideByPOT512(_mm512_mullo_epi32(z, _mm512_sub_epi32(h, n)), 15);
  const __m512i h_new = Clamp512(_mm512_add_epi32(n, kept), -32768, 32767);
  _mm256_mask_storeu_epi16(e.h16 + k, m, _mm512_cvtepi32_epi16(h_new));
  const __m128i h8 =
      _mm512_cvtsepi32_epi8(_mm512_add_epi32(Clamp512(Requantize512(h_new, out_q), -65536, 65536), zp));
  _mm_mask_storeu_epi8(e.h8 + k, m, h8);
  if (e.out != nullptr) _mm_mask_storeu_epi8(e.out + k, m, h8);
}

IRNN_TARGET_AVX512 void GruGatesS16(const GruGateEpilogue& e) {
  const Requant512 out_q = MakeRequant512(e.output_scale, e.rounding);
  const __m512i zp = _mm512_set1_epi32(e.output_zp);
  for (int k = 0; k < e.n; k += 16) {
    const __mmask16 m = e.n - k >= 16 ? static_cast<__mmask16>(0xFFFF)
                                      : static_cast<__mmask16>((1u << (e.n - k)) - 1u);
    Gru16(e, k, m, out_q, zp);
  }
}

// ---- LstmRecurrentGatesS16: the recurrent matmuls of the four gates and the epilogue in one pass --
// For each block of 16 cells, the four gates' 16-row blocks are multiplied by the (once converted)
// hidden state, the sums get fold + bias and the per-tensor requantization exactly as
// GemvPackedRequantS32's Finish does, and go straight into Gates16: the recurrent results never
// reach memory. Under CIFG the absent input gate's slot multiplies the forget gate's block again (the
// result is not read).

// NB input rows times the four gates' blocks wp[0..3] over all column groups: out[b * 4 + g].
template <int NB>
IRNN_TARGET_AVX512 inline void TileGates(const int8_t* const* wp, int groups, const uint8_t* const* u, __m512i* out) {
  __m512i acc[NB * 4];
  for (int i = 0; i < NB * 4; ++i) acc[i] = _mm512_setzero_si512();
  for (int kg = 0; kg < groups; ++kg) {
    __m512i xb[NB];
    for (int b = 0; b < NB; ++b) {
      int32_t four;
      std::memcpy(&four, u[b] + 4 * kg, 4);
      xb[b] = _mm512_set1_epi32(four);
    }
    for (int j = 0; j < 4; ++j) {
      const __m512i wv = _mm512_loadu_si512(wp[j] + kBlockBytes * kg);
      for (int b = 0; b < NB; ++b) acc[b * 4 + j] = _mm512_dpbusd_epi32(acc[b * 4 + j], xb[b], wv);
    }
  }
  for (int i = 0; i < NB * 4; ++i) out[i] = acc[i];
}

// One input row times NG gate blocks (4: one cell block, 8: two): the even and odd column groups in
// separate accumulators (2 * NG independent chains).
template <int NG>
IRNN_TARGET_AVX512 inline void TileGatesOneRow(const int8_t* const* wp, int groups, const uint8_t* u, __m512i* out) {
  __m512i even[NG], odd[NG];
  for (int j = 0; j < NG; ++j) even[j] = odd[j] = _mm512_setzero_si512();
  int kg = 0;
  for (; kg + 2 <= groups; kg += 2) {
    int32_t four[2];
    std::memcpy(four, u + 4 * kg, 8);
    const __m512i x0 = _mm512_set1_epi32(four[0]);
    const __m512i x1 = _mm512_set1_epi32(four[1]);
    for (int j = 0; j < NG; ++j) {
      const int8_t* p = wp[j] + kBlockBytes * kg;
      even[j] = _mm512_dpbusd_epi32(even[j], x0, _mm512_loadu_si512(p));
      odd[j] = _mm512_dpbusd_epi32(odd[j], x1, _mm512_loadu_si512(p + kBlockBytes));
    }
  }
  if (kg < groups) {
    int32_t four;
    std::memcpy(&four, u + 4 * kg, 4);
    const __m512i x0 = _mm512_set1_epi32(four);
    for (int j = 0; j < NG; ++j) even[j] = _mm512_dpbusd_epi32(even[j], x0, _mm512_loadu_si512(wp[j] + kBlockBytes * kg));
  }
  for (int j = 0; j < NG; ++j) out[j] = _mm512_add_epi32(even[j], odd[j]);
}

// The forms of a step (FinishGatesIn): kGeneral: Requantize512 (per-tensor) and Gates16; kRight (double
// rounding) and kRightSingle (single): RequantizeRight512 and Gates16Right, where every present gate's
// scale and the hidden scale and zero point meet RequantRightApplies (tflite_compat, fixed-point
// activations); kRows / kRowsSingle: per-row multipliers (s.channel) by RequantizeRows512 and Gates16;
// kPot and its variants (+ kPotPlain: PWL tables, + kPotHidden: a pot hidden scale, + kPotFolded: the
// nudge folded into the addend (s.pot_nudge), one shift; + kPotInBounded: intended mode with pot input
// multipliers, no clamp of the input contribution): s.pot_right's RequantizePot512 and
// Gates16Right<kPot> (the hidden scale pot or meeting RequantRightApplies).
enum RecurrentMode { kGeneral = 0, kRight = 1, kRightSingle = 2, kRows = 3, kRowsSingle = 4, kPot = 16 };
constexpr int kPotPlain = 1, kPotHidden = 2, kPotFolded = 4, kPotInBounded = 8;

constexpr bool IsPotMode(int mode) { return mode >= kPot; }
constexpr bool IsRowsMode(int mode) { return mode == kRows || mode == kRowsSingle; }

// What every row block needs: the gates' weights, addends (fold + bias, bias masked) and masks, and the
// per-row requantization constants of the kRows modes (rows) or the pot modes (right).
struct RecurrentBlock {
  const int8_t* wp[4];
  __m512i addend[4];
  __mmask16 mask;
  __m512i right[4];
  RequantRows512 rows[4];
};

template <int kMode = kGeneral>
IRNN_TARGET_AVX512 __attribute__((always_inline)) inline RecurrentBlock MakeRecurrentBlock(const LstmRecurrentStep& s, int rb, int64_t block_stride,
                                                            int cell_end) {
  RecurrentBlock blk;
  const int r0 = rb * kBlockRows;
  const int hi = std::min(kBlockRows, cell_end - r0);
  blk.mask = static_cast<__mmask16>((1u << hi) - 1u);
  for (int g = 0; g < 4; ++g) {
    const PackedS8* w = s.w[g] != nullptr ? s.w[g] : s.w[1];
    const int32_t* bias = s.w[g] != nullptr ? s.bias[g] : nullptr;
    blk.wp[g] = w->data.data() + rb * block_stride;
    const __m512i f = _mm512_loadu_si512(w->row_fold.data() + r0);
    blk.addend[g] = bias != nullptr ? _mm512_add_epi32(f, _mm512_maskz_loadu_epi32(blk.mask, bias + r0)) : f;
    if (IsPotMode(kMode)) {
      const int gg = s.w[g] != nullptr ? g : 1;
      blk.right[g] = _mm512_maskz_loadu_epi32(blk.mask, s.pot_right[gg] + r0);
      if ((kMode & kPotFolded) != 0) {  // the nudge in the addend, the shift k = right + 1
        blk.addend[g] = _mm512_add_epi32(blk.addend[g], _mm512_maskz_loadu_epi32(blk.mask, s.pot_nudge[gg] + r0));
        blk.right[g] = _mm512_add_epi32(blk.right[g], _mm512_set1_epi32(1));
      }
    }
    if (IsRowsMode(kMode)) {
      const int gg = s.w[g] != nullptr ? g : 1;
      if (s.channel[gg] != nullptr) {
        blk.rows[g] = MakeRequantRows512(s.channel[gg] + r0, hi);
      } else {
        QuantizedMultiplier same[16];
        for (int j = 0; j < 16; ++j) same[j] = s.m[gg];
        blk.rows[g] = MakeRequantRows512(same, 16);
      }
    }
  }
  return blk;
}

// Requantizes the four gates' sums of one input row and runs the epilogue of its 16 cells.
IRNN_TARGET_AVX512 inline void FinishGates(const LstmRecurrentStep& s, const GateConstants& q, const Requant512* rq,
                                           const RecurrentBlock& blk, const __m512i* sums, int b, int r0) {
  __m512i rec[4];
  for (int g = 0; g < 4; ++g) rec[g] = Requantize512(_mm512_add_epi32(sums[g], blk.addend[g]), rq[g]);
  Gates16(s.gates, q, int64_t{b} * s.n_cell + r0, blk.mask, rec);
}

IRNN_TARGET_AVX512 inline int ChooseRecurrentMode(const LstmRecurrentStep& s) {
  const LstmGateEpilogue& e = s.gates;
  const bool plain = e.sigmoid_table != nullptr;
  const bool hidden_right = RequantRightApplies(e.hidden_scale, e.hidden_zp);
  if (s.pot_right[1] != nullptr) {
    const bool hidden_pot = e.rounding == Rounding::kSingle && e.hidden_scale.multiplier == (int32_t{1} << 30) &&
                            e.hidden_scale.shift <= 0 && e.hidden_scale.shift >= -31;
    if (hidden_pot || hidden_right) {
      return kPot + (plain ? kPotPlain : 0) + (hidden_pot ? kPotHidden : 0) +
             (s.pot_nudge[1] != nullptr ? kPotFolded : 0) + (s.input_pot && !e.tflite_compat ? kPotInBounded : 0);
    }
  }
  for (int g = 0; g < 4; ++g) {
    if (s.w[g] != nullptr && s.channel[g] != nullptr) return s.rounding == Rounding::kSingle ? kRowsSingle : kRows;
  }
  if (!e.tflite_compat || plain || !hidden_right) return kGeneral;
  for (int g = 0; g < 4; ++g) {
    if (s.w[g] != nullptr && !RequantRightApplies(s.m[g], 0)) return kGeneral;
  }
  return s.rounding == Rounding::kDouble ? kRight : kRightSingle;
}

// Calls fn(std::integral_constant<int, mode>) for a mode of ChooseRecurrentMode: one instantiation per
// mode, shared by the zmm and AMX recurrent steps.
template <int kMode = kPot + 15, typename Fn>
inline void DispatchRecurrentMode(int mode, Fn&& fn) {
  if constexpr (kMode >= kPot) {
    if (mode == kMode) return fn(std::integral_constant<int, kMode>());
    return DispatchRecurrentMode<kMode == kPot ? kRowsSingle : kMode - 1>(mode, fn);
  } else if constexpr (kMode > kGeneral) {
    if (mode == kMode) return fn(std::integral_constant<int, kMode>());
    return DispatchRecurrentMode<kMode - 1>(mode, fn);
  } else {
    return fn(std::integral_constant<int, kGeneral>());
  }
}

// The requantizers of a step: rq for kGeneral, right for the right-shift modes (the absent input gate's
// slot a copy of the forget gate's: its sums are never used).
struct RecurrentRequant {
  Requant512 rq[4];
  RequantRight512 right[4];
};

template <int kMode>
IRNN_TARGET_AVX512 inline void MakeRecurrentRequant(const LstmRecurrentStep& s, RecurrentRequant* r) {
  for (int g = 0; g < 4; ++g) {
    if (kMode == kGeneral) {
      r->rq[g] = MakeRequant512(s.m[g], s.rounding);
    } else if (kMode == kRight || kMode == kRightSingle) {
      r->right[g] = MakeRequantRight512(s.w[g] != nullptr ? s.m[g] : s.m[1], s.rounding, 0);
    }
  }
}

// The recurrent results of one input row in a Gates16Right mode (pot or right; sums without fold + bias).
template <int kMode>
IRNN_TARGET_AVX512 __attribute__((always_inline)) inline void RightRec(const RecurrentRequant& r,
                                                                       const RecurrentBlock& blk, const __m512i* sums,
                                                                       __m512i* rec) {
  // All four gates, also under CIFG (the absent gate's slot holds the forget gate's constants and zero
  // sums on the AMX path, the forget gate's sums on the zmm one; its result is not read): a loop of
  // constant trip count keeps rec in registers (from q.cifg ? 1 : 0 GCC kept it on the stack, a store
  // and a reload per gate).
  for (int g = 0; g < 4; ++g) {
    const __m512i x = _mm512_add_epi32(sums[g], blk.addend[g]);
    if (IsPotMode(kMode)) {
      rec[g] = (kMode & kPotFolded) != 0 ? _mm512_srav_epi32(x, blk.right[g]) : RequantizePot512(x, blk.right[g]);
    } else {
      rec[g] = RequantizeRight512<kMode == kRight>(x, _mm512_srli_epi64(x, 32), r.right[g]);
    }
  }
}

// FinishGates in mode kMode; sums without fold + bias (they are added here).
template <int kMode>
IRNN_TARGET_AVX512 __attribute__((always_inline)) inline void FinishGatesIn(const LstmRecurrentStep& s, const GateConstants& q,
                                             const RecurrentRequant& r, const RecurrentBlock& blk, const __m512i* sums,
                                             int b, int r0) {
  if (kMode == kGeneral) {
    FinishGates(s, q, r.rq, blk, sums, b, r0);
    return;
  }
  __m512i rec[4];
  rec[0] = _mm512_setzero_si512();
  if (IsRowsMode(kMode)) {
    for (int g = q.cifg ? 1 : 0; g < 4; ++g) {
      rec[g] = RequantizeRows512<kMode == kRowsSingle>(_mm512_add_epi32(sums[g], blk.addend[g]), blk.rows[g]);
    }
    Gates16(s.gates, q, int64_t{b} * s.n_cell + r0, blk.mask, rec);
    return;
  }
  if (IsPotMode(kMode)) {
    RightRec<kMode>(r, blk, sums, rec);
    Gates16Right<false, true, (kMode & kPotPlain) != 0, (kMode & kPotHidden) != 0, (kMode & kPotInBounded) != 0>(
        s.gates, q, int64_t{b} * s.n_cell + r0, blk.mask, rec);
    return;
  }
  // (RightRec here measured 8 % slower at H = 128, B = 1, tflite_compat: the loop below kept.)
  for (int g = q.cifg ? 1 : 0; g < 4; ++g) {
    const __m512i x = _mm512_add_epi32(sums[g], blk.addend[g]);
    rec[g] = RequantizeRight512<kMode == kRight>(x, _mm512_srli_epi64(x, 32), r.right[g]);
  }
  Gates16Right<kMode == kRight, false, false, false, false>(s.gates, q, int64_t{b} * s.n_cell + r0, blk.mask, rec);
}

// FinishGatesIn of the input rows b and b + 1 (sums0, sums1): in the Gates16Right modes by
// Gates16Right2 (both rows' gathers in flight together), else one row after the other.
template <int kMode, typename Mid>
IRNN_TARGET_AVX512 __attribute__((always_inline)) inline void FinishGatesIn2(const LstmRecurrentStep& s, const GateConstants& q,
                                                                             const RecurrentRequant& r, const RecurrentBlock& blk,
                                                                             const __m512i* sums0, const __m512i* sums1, int b,
                                                                             int r0, Mid& mid) {
  if (kMode == kGeneral || IsRowsMode(kMode)) {
    FinishGatesIn<kMode>(s, q, r, blk, sums0, b, r0);
    mid();
    FinishGatesIn<kMode>(s, q, r, blk, sums1, b + 1, r0);
    return;
  }
  __m512i rec0[4], rec1[4];
  RightRec<kMode>(r, blk, sums0, rec0);
  RightRec<kMode>(r, blk, sums1, rec1);
  const int64_t k0 = int64_t{b} * s.n_cell + r0, k1 = k0 + s.n_cell;
  if (IsPotMode(kMode)) {
    Gates16Right2<false, true, (kMode & kPotPlain) != 0, (kMode & kPotHidden) != 0, (kMode & kPotInBounded) != 0>(
        s.gates, q, k0, k1, blk.mask, rec0, rec1, mid);
  } else {
    Gates16Right2<kMode == kRight, false, false, false, false>(s.gates, q, k0, k1, blk.mask, rec0, rec1, mid);
  }
}

// The four gates' matmuls by `gemv` into s.scratch[g] (rows [cell_begin, cell_end)), then the epilogue
// of those cells of every input row: GemvPackedRequantS32 and LstmGatesS16 composed, with one call.
// With s.reverse the gates go from the last to the first and each matmul walks its row blocks from the
// last (GemvPackedLoops): the whole walk over the weights mirrored, the same results. Alternated step by
// step, the weights read last are read first: at H = 1024 (4 MiB of recurrent weights against 2 MiB of
// L2) the end of the previous walk is still in L2 instead of evicted by the cyclic scan. Only where this
// call's rows of all gates exceed AlternateWalkMinBytes() (below, the weights stay in L2 and the mirrored
// walk measured a little slower).
using GemvFn = void (*)(const PackedS8&, int, int, const int32_t*, const int8_t*, int, QuantizedMultiplier,
                        const QuantizedMultiplier*, Rounding, int32_t*, bool);

IRNN_TARGET_AVX512 void ComposedRecurrentGates(const LstmRecurrentStep& s, int cell_begin, int cell_end, GemvFn gemv) {
  const LstmGateEpilogue& e = s.gates;
  const int64_t walk = int64_t{s.w[0] != nullptr ? 4 : 3} * (cell_end - cell_begin) * s.w[1]->cols;
  const bool reverse = s.reverse && walk > AlternateWalkMinBytes();
  for (int i = 0; i < 4; ++i) {
    const int g = reverse ? 3 - i : i;
    if (s.w[g] == nullptr) continue;
    if (s.pot_right[g] != nullptr) {
      GemvPackedPot(*s.w[g], cell_begin, cell_end, s.bias[g], s.h, s.batch, s.pot_right[g], s.pot_nudge[g],
                    s.scratch[g], reverse);
    } else {
      gemv(*s.w[g], cell_begin, cell_end, s.bias[g], s.h, s.batch, s.m[g], s.channel[g], s.rounding, s.scratch[g],
           reverse);
    }
  }
  const GateConstants q = MakeGateConstants(e);
  for (int b = 0; b < s.batch; ++b) {
    for (int k = cell_begin; k < cell_end; k += 16) {
      const int64_t i = int64_t{b} * s.n_cell + k;
      const __mmask16 m = cell_end - k >= 16 ? static_cast<__mmask16>(0xFFFF)
                                             : static_cast<__mmask16>((1u << (cell_end - k)) - 1u);
      __m512i rec[4];
      rec[0] = q.cifg ? _mm512_setzero_si512() : _mm512_maskz_loadu_epi32(m, s.scratch[0] + i);
      for (int g = 1; g < 4; ++g) rec[g] = _mm512_maskz_loadu_epi32(m, s.scratch[g] + i);
      Gates16(e, q, i, m, rec);
    }
  }
}

// Above this many weights per gate the fused loop below measured slower than the composed one (H = 512,
// B = 1: 4 weight streams of one 16-row block each instead of 8 consecutive blocks).
constexpr int64_t kMaxFusedGateWeights = int64_t{256} * 256;

template <int kMode>
IRNN_TARGET_AVX512 void RecurrentGatesImpl(const LstmRecurrentStep& s, int cell_begin, int cell_end) {
  const int cols = s.w[1]->cols;
  const int groups = (cols + 3) / 4;
  const int64_t block_stride = int64_t{PaddedGroups(cols)} * kBlockBytes;
  const size_t padded = static_cast<size_t>(PaddedGroups(cols)) * 4;
  const uint8_t* const unsigned_h = UnsignedInput(s.h, s.batch, cols, 1);
  const GateConstants q = MakeGateConstants(s.gates);
  RecurrentRequant rq;
  MakeRecurrentRequant<kMode>(s, &rq);
  __m512i sums[16];
  for (int rb = cell_begin / kBlockRows; rb * kBlockRows < cell_end; ++rb) {
    const RecurrentBlock blk = MakeRecurrentBlock<kMode>(s, rb, block_stride, cell_end);
    int b = 0;
    for (; b + 4 <= s.batch; b += 4) {
      const uint8_t* u[4];
      for (int i = 0; i < 4; ++i) u[i] = unsigned_h + padded * (b + i);
      TileGates<4>(blk.wp, groups, u, sums);
      for (int i = 0; i < 4; ++i) FinishGatesIn<kMode>(s, q, rq, blk, sums + 4 * i, b + i, rb * kBlockRows);
    }
    if (s.batch < 4 && (rb + 1) * kBlockRows < cell_end) {  // one row at a time: two cell blocks at once
      const RecurrentBlock next = MakeRecurrentBlock<kMode>(s, rb + 1, block_stride, cell_end);
      const int8_t* wp[8];
      for (int g = 0; g < 4; ++g) {
        wp[g] = blk.wp[g];
        wp[4 + g] = next.wp[g];
      }
      for (; b < s.batch; ++b) {
        TileGatesOneRow<8>(wp, groups, unsigned_h + padded * b, sums);
        FinishGatesIn<kMode>(s, q, rq, blk, sums, b, rb * kBlockRows);
        FinishGatesIn<kMode>(s, q, rq, next, sums + 4, b, (rb + 1) * kBlockRows);
      }
      ++rb;
      continue;
    }
    for (; b < s.batch; ++b) {
      TileGatesOneRow<4>(blk.wp, groups, unsigned_h + padded * b, sums);
      FinishGatesIn<kMode>(s, q, rq, blk, sums, b, rb * kBlockRows);
    }
  }
}

IRNN_TARGET_AVX512 void RecurrentGatesS16(const LstmRecurrentStep& s, int cell_begin, int cell_end) {
  if (cell_end <= cell_begin) return;
  if (int64_t{s.n_cell} * s.w[1]->cols > kMaxFusedGateWeights) {
    ComposedRecurrentGates(s, cell_begin, cell_end, GemvPackedRequantWalk);
    return;
  }
  DispatchRecurrentMode(ChooseRecurrentMode(s),
                        [&](auto mode) { RecurrentGatesImpl<decltype(mode)::value>(s, cell_begin, cell_end); });
}

// ---- AMX (the amx path) --------------------------------------------------------------------------
// For 16 or more input rows the matmuls run on AMX tiles: tdpbusd multiplies a 16 x 64 tile of
// unsigned input bytes (A: 16 input rows, 64 columns) by a 64 x 16 tile of signed weights (B: 16 rows
// of 64 bytes, the 16 column groups of a 16-row block, 1 KB contiguous in the packed layout above)
// into 16 x 16 int32 sums (C: [input row][output row]), with the same wrapping int32 arithmetic as
// vpdpbusd, so the same fold makes the sums exact. K is padded to 64 columns by the packing (zero
// weights) and by UnsignedInput (zero inputs); input rows to whole tiles by zero rows (their results
// are never stored). Every kernel loads the tile configuration (8 tiles of 16 x 64 bytes) once per
// call and releases the tiles at its end. The input projection (AmxGemvPackedRequantS32) uses tdpbssd
// on the signed inputs instead, with the bias as the C tiles' start in its pipelined form and added in
// the vector pass in its lagged one (see SignedInput, GemmBlock, AmxGemm and AmxGemmLagged).
//
// Software pipeline: the C tiles of one block of work are stored to a 4 KB buffer, and the tile
// steps (loads + tdpbusd, one depth tile k at a time) of the NEXT block are issued between the rows
// of vector work on those stored sums (fold + bias, requantization, stores; or the gate epilogue), so
// the tdpbusd chains (no vector port) run under that vector work. Issued after it instead, they would
// wait: one block's vector work is far longer than the out-of-order window. (Measured in a scratch
// harness, H = 512, B = 16: the input projection 31 instead of 43 us per step, the recurrent step 37
// instead of 49.) Two refinements of that scheme live with their functions: matmuls of at most 4
// depth tiles issue a block's tile work whole and then the vector work on the previous block
// (AmxGemmLagged); the recurrent step's pot and right modes issue single-gate tile ops (a B tile load
// and its tdpbusd) between a pair of rows' gate gathers and their cell updates (AmxGateOp).

#define IRNN_TARGET_AMX \
  __attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni,amx-tile,amx-int8")))

struct alignas(64) TileConfig {
  uint8_t palette_id;
  uint8_t start_row;
  uint8_t reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
};

constexpr TileConfig MakeTileConfig() {
  TileConfig config = {};
  config.palette_id = 1;
  for (int t = 0; t < 8; ++t) {
    config.colsb[t] = 64;
    config.rows[t] = 16;
  }
  return config;
}

// The configuration lives in static storage: built on the stack, GCC 12 dropped the stores of colsb
// in one inlined copy (ldtilecfg's read of it is not visible to the optimizer), and the zero widths
// made ldtilecfg fault.
constexpr TileConfig kTileConfig = MakeTileConfig();

IRNN_TARGET_AMX inline void LoadTileConfig() { _tile_loadconfig(&kTileConfig); }

// The input projection's A tiles are the int8 inputs themselves, multiplied by the signed weights with
// tdpbssd (signed x signed bytes, the same wrapping int32 sums as vpdpbusd): no unsigned copy and no
// fold. Where x starts on a 64-byte boundary and its rows are whole tiles deep (cols a multiple of 64),
// the A tiles are loaded straight from x (row stride cols) and only a last, partial tile of rows (batch
// not a multiple of 16) comes from a copy padded with zero rows, so no tile load reads past x.
// Otherwise every row is copied to a 64-byte aligned buffer, padded with zero columns (they meet zero
// weights) and zero rows: tile rows that straddle two cache lines made the whole matmul about 10 %
// slower (measured, H = 128, 128 input rows, x 16 bytes past a 64-byte boundary).
struct AmxInput {
  const int8_t* x;     // tiles [0, full_tiles): 16 rows each from here, row stride `stride`
  const int8_t* tail;  // tile full_tiles, if batch is not a multiple of 16 (zero rows after the last)
  int64_t stride;
  int full_tiles;
  const int8_t* Tile(int mt) const { return mt < full_tiles ? x + int64_t{mt} * 16 * stride : tail; }
};

// A per-thread buffer of at least `bytes` bytes starting on a 64-byte boundary.
inline int8_t* AlignedBuffer(size_t bytes) {
  thread_local std::vector<int8_t> buffer;
  if (buffer.size() < bytes + 64) buffer.resize(bytes + 64);
  const uintptr_t address = reinterpret_cast<uintptr_t>(buffer.data());
  return buffer.data() + ((64 - (address & 63)) & 63);
}

IRNN_TARGET_AVX512 AmxInput SignedInput(const int8_t* x, int batch, int cols) {
  const int full = batch / 16, rest = batch % 16;
  if (cols % 64 == 0 && (reinterpret_cast<uintptr_t>(x) & 63) == 0) {
    AmxInput in{x, nullptr, cols, full};
    if (rest != 0) {
      int8_t* tail = AlignedBuffer(static_cast<size_t>(16) * cols);
      std::memcpy(tail, x + int64_t{full} * 16 * cols, static_cast<size_t>(rest) * cols);
      std::memset(tail + int64_t{rest} * cols, 0, static_cast<size_t>(16 - rest) * cols);
      in.tail = tail;
    }
    return in;
  }
  const int64_t padded = int64_t{PaddedGroups(cols)} * 4;
  const int tiles = (batch + 15) / 16;
  int8_t* copy = AlignedBuffer(static_cast<size_t>(padded * tiles * 16));
  if (padded == cols) {
    std::memcpy(copy, x, static_cast<size_t>(batch) * cols);
  } else {
    for (int b = 0; b < batch; ++b) {
      std::memcpy(copy + padded * b, x + int64_t{b} * cols, cols);
      std::memset(copy + padded * b + cols, 0, static_cast<size_t>(padded - cols));
    }
  }
  std::memset(copy + padded * batch, 0, static_cast<size_t>(padded * (tiles * 16 - batch)));
  return AmxInput{copy, nullptr, padded, tiles};
}

// One depth step k of the C tiles (tmm0..tmm3) of NM input-row tiles x NN row blocks (NM, NN in {1, 2};
// C index i * NN + j): A tiles in tmm4/tmm5, B tiles in tmm6/tmm7, each loaded tile used NN or NM
// times. a0, a1: the input-row tiles; b: the first block's k = 0 tile.
template <int NM, int NN>
IRNN_TARGET_AMX __attribute__((always_inline)) inline void AmxStep(const int8_t* a0, const int8_t* a1, int64_t stride, const int8_t* b,
                                    int64_t block_stride, int k) {
  _tile_loadd(4, a0 + k * 64, stride);
  _tile_loadd(6, b + k * 1024, 64);
  _tile_dpbssd(0, 4, 6);
  if (NN == 2) {
    _tile_loadd(7, b + block_stride + k * 1024, 64);
    _tile_dpbssd(1, 4, 7);
  }
  if (NM == 2) {
    _tile_loadd(5, a1 + k * 64, stride);
    if (NN == 2) {
      _tile_dpbssd(2, 5, 6);
      _tile_dpbssd(3, 5, 7);
    } else {
      _tile_dpbssd(1, 5, 6);
    }
  }
}

// A block of GEMM work: NM x NN tiles (shape = 2 * (NM - 1) + (NN - 1)) at input row b0 and row block
// rb. Init, Step and Store run its tile instructions; the caller requantizes its stored sums.
struct GemmBlock {
  const int8_t* a0;
  const int8_t* a1;
  const int8_t* b;
  int b0, rb, nm, nn;

  // The C tiles start at the bias: every row of a C tile is the 16 biases of its row block (a tile
  // load with row stride 0), so the sums need no vector addition after.
  IRNN_TARGET_AMX inline void Init(const int32_t* addend) const {
    const int32_t* first = addend + rb * kBlockRows;
    const int32_t* second = first + kBlockRows;
    _tile_loadd(0, first, 0);  // (the tile numbers are literals: the intrinsics paste them into the instruction)
    if (nn == 2) _tile_loadd(1, second, 0);
    if (nm == 2 && nn == 2) {
      _tile_loadd(2, first, 0);
      _tile_loadd(3, second, 0);
    } else if (nm == 2) {
      _tile_loadd(1, first, 0);
    }
  }
  // Or at zero (tilezero: no load, and no wait for a load's data), the bias added in the vector pass.
  IRNN_TARGET_AMX inline void Zero() const {
    _tile_zero(0);
    if (nm * nn >= 2) _tile_zero(1);
    if (nm * nn == 4) {
      _tile_zero(2);
      _tile_zero(3);
    }
  }
  IRNN_TARGET_AMX __attribute__((always_inline)) inline void Step(int64_t stride, int64_t block_stride, int k) const {
    if (nm == 2 && nn == 2) {
      AmxStep<2, 2>(a0, a1, stride, b, block_stride, k);
    } else if (nm == 2) {
      AmxStep<2, 1>(a0, a1, stride, b, block_stride, k);
    } else if (nn == 2) {
      AmxStep<1, 2>(a0, a1, stride, b, block_stride, k);
    } else {
      AmxStep<1, 1>(a0, a1, stride, b, block_stride, k);
    }
  }
  IRNN_TARGET_AMX inline void Store(int32_t (*sums)[16][16]) const {
    _tile_stored(0, sums[0], 64);
    if (nm * nn >= 2) _tile_stored(1, sums[1], 64);
    if (nm * nn == 4) {
      _tile_stored(2, sums[2], 64);
      _tile_stored(3, sums[3], 64);
    }
  }
};

// How the AMX matmul finishes its sums (bias already in them): the short right-shift form
// (RequantizeRight512, double or single rounding), the general per-tensor Requantize512, per-row
// multipliers (kRowsSingle / kRowsDouble: RequantizeRows512 with the constants of each 16-row block made
// once per call), or the pot forms (PotRights).
enum class AmxRequant { kRightDouble, kRightSingle, kGeneral, kPot, kPotFolded, kRowsSingle, kRowsDouble };

template <AmxRequant kMode>
struct AmxOut {
  int32_t* out;
  int rows, row_begin, row_end;
  const RequantRight512* right;
  const Requant512* general;
  const int32_t* pot_right = nullptr;  // kPot: PotRights' shifts by absolute row
  const RequantRows512* rows_q = nullptr;  // kRows*: the constants of block rb at rows_q[rb]

  IRNN_TARGET_AVX512 inline __mmask16 Mask(int rb) const {
    const int r0 = rb * kBlockRows;
    const int lo = std::max(0, row_begin - r0), hi = std::min(kBlockRows, row_end - r0);
    return static_cast<__mmask16>(((1u << hi) - 1u) & ~((1u << lo) - 1u));
  }
  IRNN_TARGET_AVX512 inline void Store(__m512i sums, __mmask16 mask, int rb, int b) const {
    if (kMode == AmxRequant::kRightDouble || kMode == AmxRequant::kRightSingle) {
      sums = RequantizeRight512<kMode == AmxRequant::kRightDouble>(sums, _mm512_shuffle_epi32(sums, _MM_PERM_DDBB),
                                                                   *right);
    }
    if (kMode == AmxRequant::kGeneral) sums = Requantize512(sums, *general);
    if (kMode == AmxRequant::kPot) sums = RequantizePot512(sums, _mm512_loadu_si512(pot_right + rb * kBlockRows));
    if (kMode == AmxRequant::kPotFolded) sums = _mm512_srav_epi32(sums, _mm512_loadu_si512(pot_right + rb * kBlockRows));
    if (kMode == AmxRequant::kRowsSingle) sums = RequantizeRows512<true>(sums, rows_q[rb]);
    if (kMode == AmxRequant::kRowsDouble) sums = RequantizeRows512<false>(sums, rows_q[rb]);
    _mm512_mask_storeu_epi32(out + static_cast<int64_t>(b) * rows + rb * kBlockRows, mask, sums);
  }
};

// What both AMX matmul forms below start from: the row blocks and depth tiles, the signed input tiles,
// and the C tiles' start (the bias of the requested rows, zero elsewhere: those results are not stored).
struct AmxGemmSetup {
  int first_block, blocks, k_tiles;
  int64_t block_stride;
  AmxInput in;
  const int8_t* data;
  const int32_t* addend;  // a per-thread buffer
};

IRNN_TARGET_AVX512 inline AmxGemmSetup MakeAmxGemmSetup(const PackedS8& w, int row_begin, int row_end,
                                                        const int32_t* bias, const int8_t* x, int batch) {
  AmxGemmSetup g;
  g.first_block = row_begin / kBlockRows;
  g.blocks = (row_end + kBlockRows - 1) / kBlockRows;
  g.k_tiles = PaddedGroups(w.cols) / 16;
  g.block_stride = int64_t{PaddedGroups(w.cols)} * kBlockBytes;
  g.in = SignedInput(x, batch, w.cols);
  g.data = w.data.data();
  thread_local std::vector<int32_t> addend_buffer;
  addend_buffer.assign(static_cast<size_t>(g.blocks) * kBlockRows, 0);
  if (bias != nullptr) {
    std::memcpy(addend_buffer.data() + row_begin, bias + row_begin, sizeof(int32_t) * (row_end - row_begin));
  }
  g.addend = addend_buffer.data();
  return g;
}

// The vector work on one block's stored sums: o.Store of each valid input row of each of its tiles.
template <AmxRequant kMode>
IRNN_TARGET_AVX512 __attribute__((always_inline)) inline void FinishBlock(const GemmBlock& blk,
                                                                           const int32_t (*slot)[16][16], int batch,
                                                                           const int32_t* addend,
                                                                           const AmxOut<kMode>& o) {
  for (int j = 0; j < blk.nn; ++j) {
    const __mmask16 mask = o.Mask(blk.rb + j);
    const __m512i add = _mm512_loadu_si512(addend + (blk.rb + j) * kBlockRows);
    for (int i = 0; i < blk.nm; ++i) {
      const int b = blk.b0 + 16 * i;
      const int valid = std::min(16, batch - b);
      const int32_t(*tile)[16] = slot[i * blk.nn + j];
      for (int r = 0; r < valid; ++r) o.Store(_mm512_add_epi32(_mm512_load_si512(tile[r]), add), mask, blk.rb + j, b + r);
    }
  }
}

// GemvPackedRequantS32 with 16 or more input rows: blocks of 2 input-row tiles (32 rows) x 2 row blocks
// (32 output rows) (2 x 1, 1 x 2, 1 x 1 at the edges). The 32-row input panel (32 x K bytes) stays in
// L1 while the weights stream through in 1 KB tiles. Software pipeline: block i's tile steps are
// issued between the requantizations of block i - 1's stored sums (Requantize, stores, one 16-lane
// row at a time), so the tdpbssd chains (no vector port) run under that vector work instead of after
// it (the out-of-order window is far shorter than one block's vector work). Used beyond 4 depth tiles
// (AmxMatmul); shallower matmuls take the lagged form below, whose blocks' tile work is short.
template <AmxRequant kMode>
IRNN_TARGET_AMX void AmxGemm(const PackedS8& w, int row_begin, int row_end, const int32_t* bias, const int8_t* x,
                             int batch, const AmxOut<kMode>& o) {
  const AmxGemmSetup g = MakeAmxGemmSetup(w, row_begin, row_end, bias, x, batch);
  const int first_block = g.first_block, blocks = g.blocks, k_tiles = g.k_tiles;
  const int64_t block_stride = g.block_stride;
  const AmxInput in = g.in;  // a copy: stores of int32 sums could alias the setup's fields
  const int8_t* const data = g.data;
  const int32_t* const addend = g.addend;

  LoadTileConfig();
  alignas(64) int32_t sums[4][16][16];  // [C tile][input row][output row] of the previous block
  bool have_previous = false;
  GemmBlock previous{};
  const int m_tiles = (batch + 15) / 16;
  for (int mt = 0; mt < m_tiles; mt += 2) {
    for (int rb = first_block; rb < blocks; rb += 2) {
      const GemmBlock current{in.Tile(mt), in.Tile(mt + 1), data + rb * block_stride, mt * 16, rb,
                              std::min(2, m_tiles - mt), std::min(2, blocks - rb)};
      if (!have_previous) {
        current.Init(addend);
        for (int k = 0; k < k_tiles; ++k) current.Step(in.stride, block_stride, k);
        previous = current;
        have_previous = true;
        continue;
      }
      previous.Store(sums);
      current.Init(addend);
      // The previous block's 16-lane rows (units), with the current block's k steps spread among them.
      const int units = previous.nn * previous.nm * 16;
      // Step `issued` is due after unit floor((issued + 1) * units / k_tiles) - 1: a running remainder
      // instead of a division per unit.
      int issued = 0, credit = 0;
      for (int j = 0; j < previous.nn; ++j) {
        const __mmask16 mask = o.Mask(previous.rb + j);
        for (int i = 0; i < previous.nm; ++i) {
          const int b = previous.b0 + 16 * i;
          const int valid = std::min(16, batch - b);
          const int32_t(*tile)[16] = sums[i * previous.nn + j];
          for (int r = 0; r < 16; ++r) {
            if (r < valid) o.Store(_mm512_load_si512(tile[r]), mask, previous.rb + j, b + r);
            for (credit += k_tiles; credit >= units; credit -= units) current.Step(in.stride, block_stride, issued++);
          }
        }
      }
      for (; issued < k_tiles; ++issued) current.Step(in.stride, block_stride, issued);
      previous = current;
    }
  }
  previous.Store(sums);
  _tile_release();
  for (int j = 0; j < previous.nn; ++j) {
    const __mmask16 mask = o.Mask(previous.rb + j);
    for (int i = 0; i < previous.nm; ++i) {
      const int b = previous.b0 + 16 * i;
      const int valid = std::min(16, batch - b);
      for (int r = 0; r < valid; ++r) {
        o.Store(_mm512_load_si512(sums[i * previous.nn + j][r]), mask, previous.rb + j, b + r);
      }
    }
  }
}

// Lagged form, for shallow matmuls (up to 4 depth tiles: H <= 256 in the LSTM's Run): each block's tile
// work (tilezero, then its 2-4 depth steps) is issued whole, then the vector work on the previous
// block's sums (FinishBlock: bias, requantization, stores) runs while that tile work executes, then the
// block's C tiles go to one of two 4 KB slots. The C tiles start at zero and FinishBlock adds the bias
// (int32 addition wraps, so the sums are the same): a block boundary waits for no tile load.
// Measured, step by step (scratch harness: 4 gates' matmuls of one Run chunk, pot per-row multipliers,
// outputs on a 64-byte boundary, 10th percentile; H = 128: 128 input rows, H = 256: 64):
//   pipelined form above           H = 128 14.4 us, H = 256 ~18.5 us
//   lagged, bias-loaded C tiles    12.2
//   + tilezero, bias in the pass   10.0-10.7 (H = 256 about equal)
//   + PotRights on zmm             9.5, H = 256 13.4
//   (per-tensor double rounding: + vector work before the tile stores: 12.85 -> 11.75, 15.9 -> 15.3)
// Per step (`irnn lstm-run --batch 16 --path amx`, min of 4 alternating medians, with TfliteLstm::Run's
// aligned workspace): pot H = 128 6.82 -> 5.67 us, H = 256 16.1 -> 14.5; TFLite scales 7.61 -> 6.84,
// 17.97 -> 16.5. What is left is mostly the output stores: 64 KB of int32 results per gate and chunk go
// to L2 (the same tile work with its stores kept in L1 took 8.2 instead of 12.2-12.5 us at H = 256);
// prefetchw of the next block's output lines, non-temporal stores, cldemote, B tiles reused across
// input panels and two staggered 2 x 1 block streams did not beat this form. At 8 depth tiles (H = 512)
// it was no faster per step than the pipelined form, at 16 (H = 1024) 7 % slower: those keep that one.
// Outputs 16 bytes past a cache line made it slower than the pipelined form (18.5 vs 14.9 us at H = 128):
// every 16-lane store then writes two lines.
template <AmxRequant kMode>
IRNN_TARGET_AMX void AmxGemmLagged(const PackedS8& w, int row_begin, int row_end, const int32_t* bias, const int8_t* x,
                             int batch, const AmxOut<kMode>& o) {
  const AmxGemmSetup g = MakeAmxGemmSetup(w, row_begin, row_end, bias, x, batch);
  const int first_block = g.first_block, blocks = g.blocks, k_tiles = g.k_tiles;
  const int64_t block_stride = g.block_stride;
  const AmxInput in = g.in;  // a copy: stores of int32 sums could alias the setup's fields
  const int8_t* const data = g.data;
  const int32_t* const addend = g.addend;

  LoadTileConfig();
  alignas(64) int32_t sums[2][4][16][16];  // [slot][C tile][input row][output row]: blocks alternate
  GemmBlock previous{};
  int n = 0;
  const int m_tiles = (batch + 15) / 16;
  for (int mt = 0; mt < m_tiles; mt += 2) {
    for (int rb = first_block; rb < blocks; rb += 2, ++n) {
      const GemmBlock current{in.Tile(mt), in.Tile(mt + 1), data + rb * block_stride, mt * 16, rb,
                              std::min(2, m_tiles - mt), std::min(2, blocks - rb)};
      current.Zero();
      for (int k = 0; k < k_tiles; ++k) current.Step(in.stride, block_stride, k);
      if (n > 0) FinishBlock(previous, sums[(n - 1) & 1], batch, addend, o);
      current.Store(sums[n & 1]);
      previous = current;
    }
  }
  _tile_release();
  FinishBlock(previous, sums[(n - 1) & 1], batch, addend, o);
}

// The two forms: up to 256 columns (4 depth tiles) the lagged one, deeper the pipelined one, for every
// store mode. (The lagged form replaced a phased one for the per-tensor modes: per panel of 32 input
// rows all blocks' tile work, then all their vector work. `irnn lstm-run` (TFLite scales, B = 16, amx,
// aligned workspace) took 7.3 instead of 7.8 us per step at H = 128 with it, 17.8 instead of 18.5 at
// H = 256.)
template <AmxRequant kMode>
IRNN_TARGET_AMX void AmxMatmul(const PackedS8& w, int row_begin, int row_end, const int32_t* bias, const int8_t* x,
                               int batch, const AmxOut<kMode>& o) {
  if (PaddedGroups(w.cols) <= 64) {
    AmxGemmLagged(w, row_begin, row_end, bias, x, batch, o);
  } else {
    AmxGemm(w, row_begin, row_end, bias, x, batch, o);
  }
}


IRNN_TARGET_AMX void AmxGemvPackedRequantS32(const PackedS8& w, int row_begin, int row_end, const int32_t* bias,
                                             const int8_t* x, int batch, QuantizedMultiplier m,
                                             const QuantizedMultiplier* channel, Rounding rounding, int32_t* out) {
  if (batch < 16) {  // a tile would be mostly padding
    GemvPackedRequantS32(w, row_begin, row_end, bias, x, batch, m, channel, rounding, out);
    return;
  }
  if (row_end <= row_begin) return;
  const PotRows pot = PotRights(w, bias, m, channel, row_begin, row_end, rounding);
  if (pot.folded) {
    const AmxOut<AmxRequant::kPotFolded> o{out, w.rows, row_begin, row_end, nullptr, nullptr, pot.right};
    AmxMatmul(w, row_begin, row_end, pot.bias, x, batch, o);
  } else if (pot.right != nullptr) {
    const AmxOut<AmxRequant::kPot> o{out, w.rows, row_begin, row_end, nullptr, nullptr, pot.right};
    AmxMatmul(w, row_begin, row_end, bias, x, batch, o);
  } else if (channel != nullptr) {
    // The per-row constants of the requested blocks, once per call (the stores of every input row reuse them).
    // (CacheLineAllocator: the zmm members are read by aligned loads; std::allocator gave 32-byte
    // aligned storage here.)
    thread_local std::vector<RequantRows512, CacheLineAllocator<RequantRows512>> rows_q;
    const int blocks = (row_end + kBlockRows - 1) / kBlockRows;
    if (rows_q.size() < static_cast<size_t>(blocks)) rows_q.resize(static_cast<size_t>(blocks));
    for (int rb = row_begin / kBlockRows; rb < blocks; ++rb) {
      rows_q[static_cast<size_t>(rb)] = MakeRequantRows512(channel + rb * kBlockRows, std::min(kBlockRows, w.rows - rb * kBlockRows));
    }
    if (rounding == Rounding::kSingle) {
      const AmxOut<AmxRequant::kRowsSingle> o{out, w.rows, row_begin, row_end, nullptr, nullptr, nullptr, rows_q.data()};
      AmxMatmul(w, row_begin, row_end, bias, x, batch, o);
    } else {
      const AmxOut<AmxRequant::kRowsDouble> o{out, w.rows, row_begin, row_end, nullptr, nullptr, nullptr, rows_q.data()};
      AmxMatmul(w, row_begin, row_end, bias, x, batch, o);
    }
  } else if (RequantRightApplies(m, 0)) {
    const RequantRight512 q = MakeRequantRight512(m, rounding, 0);
    if (rounding == Rounding::kDouble) {
      AmxMatmul(w, row_begin, row_end, bias, x, batch,
                AmxOut<AmxRequant::kRightDouble>{out, w.rows, row_begin, row_end, &q, nullptr});
    } else {
      AmxMatmul(w, row_begin, row_end, bias, x, batch,
                AmxOut<AmxRequant::kRightSingle>{out, w.rows, row_begin, row_end, &q, nullptr});
    }
  } else {
    const Requant512 q = MakeRequant512(m, rounding);
    const AmxOut<AmxRequant::kGeneral> o{out, w.rows, row_begin, row_end, nullptr, &q};
    AmxMatmul(w, row_begin, row_end, bias, x, batch, o);
  }
}

// LstmRecurrentGatesS16 with 16 or more input rows: for each tile of 16 input rows and each block of
// 16 cells, the four gates' blocks are the B tiles of one A tile (the hidden state's 64 columns) into
// C0-C3 (C0 idle under CIFG). The stored sums get fold + bias and the requantization (FinishGates)
// and go straight into the gate epilogue, two input rows at a time in the Gates16Right modes (one in
// the general and per-row modes, see BlockEpilogue), with the next block's tile ops issued between
// those rows (the pipeline above): the recurrent results never reach s.scratch.
//
// AmxGateOp: tile op u of a block's gates * k_tiles ops, one gate's B tile load and tdpbusd (depth tile
// k = u / gates, the gates in order; the A tile loaded with the first gate of each k). Issued one or
// two at a time between pairs of rows instead of a whole depth step (A + four B loads, four tdpbusd):
// measured 2-3 % faster at H = 128 and 256, B = 16 (a tile load waits for the tdpbusd before it and
// holds up retirement; short ones stall the vector work around them less). AmxGateStep: all gates' ops
// of depth tile k (AmxGateOp's k * gates to k * gates + gates - 1) in one go, as the general and
// per-row modes issue them at H <= 128.
IRNN_TARGET_AMX inline void AmxGateStep(const uint8_t* a, int64_t row_bytes, const int8_t* const* b, bool cifg,
                                        int k) {
  _tile_loadd(4, a + k * 64, row_bytes);
  if (!cifg) {
    _tile_loadd(5, b[0] + k * 1024, 64);
    _tile_dpbusd(0, 4, 5);
  }
  _tile_loadd(6, b[1] + k * 1024, 64);
  _tile_dpbusd(1, 4, 6);
  _tile_loadd(7, b[2] + k * 1024, 64);
  _tile_dpbusd(2, 4, 7);
  _tile_loadd(5, b[3] + k * 1024, 64);
  _tile_dpbusd(3, 4, 5);
}

IRNN_TARGET_AMX inline void AmxGateOp(const uint8_t* a, int64_t row_bytes, const int8_t* const* b, bool cifg, int u) {
  const unsigned gates = cifg ? 3 : 4;  // unsigned: u >= 0, and the division by 4 is a shift
  const unsigned k = static_cast<unsigned>(u) / gates, j = static_cast<unsigned>(u) - k * gates;
  if (j == 0) _tile_loadd(4, a + k * 64, row_bytes);
  switch (j + (cifg ? 1 : 0)) {
    case 0:
      _tile_loadd(5, b[0] + k * 1024, 64);
      _tile_dpbusd(0, 4, 5);
      break;
    case 1:
      _tile_loadd(6, b[1] + k * 1024, 64);
      _tile_dpbusd(1, 4, 6);
      break;
    case 2:
      _tile_loadd(7, b[2] + k * 1024, 64);
      _tile_dpbusd(2, 4, 7);
      break;
    default:
      _tile_loadd(5, b[3] + k * 1024, 64);
      _tile_dpbusd(3, 4, 5);
      break;
  }
}

// The tile ops due after two more epilogue rows (BlockEpilogue's credit scheme), called by
// Gates16Right2 between the two rows' gate gathers and their cell updates (measured 2-4 % faster than
// after the cell updates in the tflite_compat form at H = 128 and 256, B = 16, the same in the pot form).
// Where a block has more ops than rows (H >= 512) half of them there and half after the pair (Rest):
// all between, the recurrent step at H = 1024, B = 16 measured 2-3 % slower than with one row at a time.
struct GateStepIssuer {
  const uint8_t* a;
  int64_t row_bytes;
  const int8_t* const* b;
  bool cifg;
  int ops, valid;
  int* credit;
  int* issued;
  IRNN_TARGET_AMX inline void operator()() { Issue(ops > valid ? 1 : 2); }
  // After the pair: the second row's ops where they were not issued with the first's.
  IRNN_TARGET_AMX inline void Rest() {
    if (ops > valid) Issue(1);
  }
  IRNN_TARGET_AMX inline void Issue(int rows) {
    for (*credit += rows * ops; *credit >= valid; *credit -= valid) AmxGateOp(a, row_bytes, b, cifg, (*issued)++);
  }
};

// The epilogue of one block's valid input rows (their sums in sums[gate][row]), two rows at a time,
// with `ops` tile ops of the next block (AmxGateOp; *issued counts them) spread over the rows.
// (A copy for full blocks with a constant mask 0xFFFF, so plain loads and stores, measured no faster.)
template <int kMode>
IRNN_TARGET_AMX __attribute__((always_inline)) inline void BlockEpilogue(
    const LstmRecurrentStep& s, const GateConstants& q, const RecurrentRequant& rq, const RecurrentBlock& blk,
    const int32_t (*sums)[16][16], int b0, int r0, int valid, const uint8_t* a, int64_t row_bytes,
    const int8_t* const* b, bool cifg, int ops, int* issued) {
  int credit = 0;  // ops spread over the valid rows, as in AmxGemvPackedRequantS32
  int r = 0;
  GateStepIssuer issue{a, row_bytes, b, cifg, ops, valid, &credit, issued};
  // Pairs only in the Gates16Right modes: the general and per-row modes (Gates16, no pair form) measured
  // 3-5 % slower at H = 128 and 256, B = 16 with FinishGatesIn2's row after row and the ops between.
  for (; !(kMode == kGeneral || IsRowsMode(kMode)) && r + 2 <= valid; r += 2) {
    __m512i rows[8];
    for (int g = 0; g < 4; ++g) {
      rows[g] = _mm512_load_si512(sums[g][r]);
      rows[4 + g] = _mm512_load_si512(sums[g][r + 1]);
    }
    FinishGatesIn2<kMode>(s, q, rq, blk, rows, rows + 4, b0 + r, r0, issue);
    issue.Rest();
  }
  // Ops one at a time, but in the general and per-row modes whole depth steps (AmxGateStep) where a
  // block has at most two (H <= 128): measured in those modes, B16, against the old per-row whole
  // steps: H128 8.4-8.5 us one at a time, 7.8 before; H256 17.7 against 19.3.
  const int group = (kMode == kGeneral || IsRowsMode(kMode)) && ops <= 2 * (cifg ? 3 : 4) ? (cifg ? 3 : 4) : 1;
  for (; r < valid; ++r) {
    __m512i rows[4];
    for (int g = 0; g < 4; ++g) rows[g] = _mm512_load_si512(sums[g][r]);
    FinishGatesIn<kMode>(s, q, rq, blk, rows, b0 + r, r0);
    for (credit += ops; credit >= valid * group; credit -= valid * group) {
      if (group == 1) {
        AmxGateOp(a, row_bytes, b, cifg, (*issued)++);
      } else {  // *issued is a multiple of group here: whole steps from the block's start
        AmxGateStep(a, row_bytes, b, cifg, *issued / group);
        *issued += group;
      }
    }
  }
}

template <int kMode>
IRNN_TARGET_AMX void AmxRecurrentGatesImpl(const LstmRecurrentStep& s, int cell_begin, int cell_end) {
  const int cols = s.w[1]->cols;
  const int k_tiles = PaddedGroups(cols) / 16;
  const int64_t block_stride = int64_t{PaddedGroups(cols)} * kBlockBytes;
  const int64_t row_bytes = int64_t{PaddedGroups(cols)} * 4;
  const uint8_t* const unsigned_h = UnsignedInput(s.h, s.batch, cols, 16);
  const GateConstants q = MakeGateConstants(s.gates);
  const bool cifg = s.w[0] == nullptr;
  const int ops = (cifg ? 3 : 4) * k_tiles;  // AmxGateOp's per block
  RecurrentRequant rq;
  MakeRecurrentRequant<kMode>(s, &rq);
  const int8_t* base[4];
  for (int g = 0; g < 4; ++g) base[g] = (s.w[g] != nullptr ? s.w[g] : s.w[1])->data.data();
  const int first_block = cell_begin / kBlockRows, blocks = (cell_end + kBlockRows - 1) / kBlockRows;

  LoadTileConfig();
  alignas(64) int32_t sums[4][16][16];  // [gate][input row][cell] of the previous block
  if (cifg) std::memset(sums, 0, sizeof(sums));  // C0's sums under CIFG: read, never used

  // Blocks in order (b0, rb); the previous one's epilogue interleaved with the current one's tile ops.
  int prev_b0 = -1, prev_rb = 0;
  for (int b0 = 0; b0 < s.batch; b0 += 16) {
    const uint8_t* a = unsigned_h + int64_t{b0} * row_bytes;
    for (int rb = first_block; rb < blocks; ++rb) {
      const int8_t* b[4];
      for (int g = 0; g < 4; ++g) b[g] = base[g] + rb * block_stride;
      int issued = 0;
      if (prev_b0 >= 0) {
        if (!cifg) _tile_stored(0, sums[0], 64);
        _tile_stored(1, sums[1], 64);
        _tile_stored(2, sums[2], 64);
        _tile_stored(3, sums[3], 64);
      }
      if (!cifg) _tile_zero(0);
      _tile_zero(1);
      _tile_zero(2);
      _tile_zero(3);
      if (prev_b0 >= 0) {
        const RecurrentBlock blk = MakeRecurrentBlock<kMode>(s, prev_rb, block_stride, cell_end);
        const int valid = std::min(16, s.batch - prev_b0);
        BlockEpilogue<kMode>(s, q, rq, blk, sums, prev_b0, prev_rb * kBlockRows, valid, a, row_bytes, b, cifg, ops,
                             &issued);
      }
      for (; issued < ops; ++issued) AmxGateOp(a, row_bytes, b, cifg, issued);
      prev_b0 = b0;
      prev_rb = rb;
    }
  }
  if (!cifg) _tile_stored(0, sums[0], 64);
  _tile_stored(1, sums[1], 64);
  _tile_stored(2, sums[2], 64);
  _tile_stored(3, sums[3], 64);
  _tile_release();
  const RecurrentBlock blk = MakeRecurrentBlock<kMode>(s, prev_rb, block_stride, cell_end);
  const int valid = std::min(16, s.batch - prev_b0);
  int issued = 0;
  BlockEpilogue<kMode>(s, q, rq, blk, sums, prev_b0, prev_rb * kBlockRows, valid, nullptr, 0, nullptr, cifg, 0, &issued);
}

IRNN_TARGET_AMX void AmxRecurrentGatesS16(const LstmRecurrentStep& s, int cell_begin, int cell_end) {
  if (s.batch < 16) {
    RecurrentGatesS16(s, cell_begin, cell_end);
    return;
  }
  if (cell_end <= cell_begin) return;
  DispatchRecurrentMode(ChooseRecurrentMode(s),
                        [&](auto mode) { AmxRecurrentGatesImpl<decltype(mode)::value>(s, cell_begin, cell_end); });
}

// LstmKernels::GemvPackedRequantWalkS32 of the amx path: the zmm walk below 16 input rows (where
// AmxGemvPackedRequantS32 takes the zmm loops too), else AmxGemvPackedRequantS32 (forward only).
IRNN_TARGET_AMX void AmxGemvPackedRequantWalk(const PackedS8& w, int row_begin, int row_end, const int32_t* bias,
                                              const int8_t* x, int batch, QuantizedMultiplier m,
                                              const QuantizedMultiplier* channel, Rounding rounding, int32_t* out,
                                              bool reverse) {
  if (batch < 16) {
    GemvPackedRequantWalk(w, row_begin, row_end, bias, x, batch, m, channel, rounding, out, reverse);
    return;
  }
  AmxGemvPackedRequantS32(w, row_begin, row_end, bias, x, batch, m, channel, rounding, out);
}

}  // namespace

IRNN_TARGET_AVX512 bool RequantizeRightS32(const int32_t* x, int n, QuantizedMultiplier m, Rounding rounding,
                                           int32_t z, int32_t* out) {
  if (!RequantRightApplies(m, z)) return false;
  const RequantRight512 q = MakeRequantRight512(m, rounding, z);
  for (int k = 0; k < n; k += 16) {
    const __mmask16 mask = n - k >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << (n - k)) - 1u);
    const __m512i v = _mm512_maskz_loadu_epi32(mask, x + k);
    const __m512i r = rounding == Rounding::kDouble ? RequantizeRight512<true>(v, _mm512_srli_epi64(v, 32), q)
                                                    : RequantizeRight512<false>(v, _mm512_srli_epi64(v, 32), q);
    _mm512_mask_storeu_epi32(out + k, mask, r);
  }
  return true;
}

// AMX needs the CPU's amx-tile and amx-int8 (CPUID leaf 7: EDX bits 24, 25), the tile state enabled by
// the OS (XCR0 bits 17, 18), and on Linux the process's permission to use the tile data, asked once
// with arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA): the one system call of the runtime.
bool AmxAvailable() {
  static const bool available = [] {
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (__get_cpuid(1, &eax, &ebx, &ecx, &edx) == 0 || (ecx & (1u << 27)) == 0) return false;  // OSXSAVE
    if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) == 0) return false;
    if ((edx & (1u << 24)) == 0 || (edx & (1u << 25)) == 0) return false;  // amx-tile, amx-int8
    unsigned xcr0_lo = 0, xcr0_hi = 0;
    __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
    if ((xcr0_lo & (3u << 17)) != (3u << 17)) return false;  // XTILECFG, XTILEDATA
#if defined(__linux__)
    constexpr long kArchReqXcompPerm = 0x1023;
    constexpr long kXfeatureXtiledata = 18;
    if (syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) != 0) return false;
    return true;
#else
    return false;
#endif
  }();
  return available;
}

const LstmKernels* Avx512VnniLstmKernelTable() {
  static const LstmKernels* table = []() -> const LstmKernels* {
    const LstmKernels* vnni = avx2::AvxVnniLstmKernelTable();
    if (vnni == nullptr) return nullptr;
    static LstmKernels t = *vnni;
    t.PackS8 = PackS8;
    t.GemvPackedRequantS32 = GemvPackedRequantS32;
    t.LstmGatesS16 = LstmGatesS16;
    t.GruGatesS16 = GruGatesS16;
    t.LstmRecurrentGatesS16 = RecurrentGatesS16;
    t.LogisticQ3S16 = avx512::LogisticQ3S16;  // 32 lanes (fixed_point_avx512.h)
    t.TanhS16 = avx512::TanhS16;
    t.PackLstmStreamS8 = avx512::PackLstmStreamS8;    // lstm_stream_avx512.cc
    t.LstmStreamStepS16 = avx512::LstmStreamStepS16;
    t.GruStreamStepS16 = avx512::GruStreamStepS16;
    t.GemvPackedRequantWalkS32 = GemvPackedRequantWalk;
    return &t;
  }();
  return table;
}

const LstmKernels* AmxLstmKernelTable() {
  static const LstmKernels* table = []() -> const LstmKernels* {
    const LstmKernels* zmm = Avx512VnniLstmKernelTable();
    if (zmm == nullptr) return nullptr;
    static LstmKernels t = *zmm;
    t.GemvPackedRequantS32 = AmxGemvPackedRequantS32;
    t.LstmRecurrentGatesS16 = AmxRecurrentGatesS16;
    t.GemvPackedRequantWalkS32 = AmxGemvPackedRequantWalk;
    return &t;
  }();
  return table;
}

}  // namespace avx512
}  // namespace irnn
