// AVX2 kernels of the integer LSTM: the same table as src/kernels/reference/lstm_kernels.cc, computed
// 8 int32 or 16 int16 lanes at a time with integer intrinsics only (no floating-point instruction), and
// bit-identical to that reference on every input, saturation, wrap and rounding tie included. Every
// element goes through vector code: a kernel's tail is copied into zero-padded stack buffers and run
// through the same vector body. Only per-row scalars (LayerNorm's variance and inverse square root)
// and the activation-table lookups of the fused gate epilogue (tables filled by the vector kernels)
// are scalar. This file (with lstm_kernels_avx512.cc, which adds its own ISA per function) is the only
// one compiled with -mavx2 -mfma and runs only after dispatch.cc has checked the CPU. It is not a specification: where it and the reference differ, it is wrong.
// Formulas: docs/numerics.md §1-§4 and §7.1.

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/fixed_point.h"
#include "core/inv_sqrt.h"
#include "kernels/lstm_kernels.h"
#include "kernels/x86/fixed_point_avx2.h"

namespace irnn {
namespace avx2 {
namespace {

// ---- Loads and stores (unaligned; callers' buffers carry no alignment promise). ----------------------

inline __m256i Load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
inline __m128i Load128(const void* p) { return _mm_loadu_si128(static_cast<const __m128i*>(p)); }
inline void Store256(void* p, __m256i v) { _mm256_storeu_si256(static_cast<__m256i*>(p), v); }
inline void Store128(void* p, __m128i v) { _mm_storeu_si128(static_cast<__m128i*>(p), v); }

// ---- int32 lanes -----------------------------------------------------------------------------------

// sat32(a + b) per lane. Overflow happened iff a and b share a sign that the wrapped sum lacks; the
// saturated value is then INT32_MAX for a >= 0 and INT32_MIN for a < 0, i.e. (a >> 31) ^ INT32_MAX.
inline __m256i AddSat32(__m256i a, __m256i b) {
  const __m256i sum = _mm256_add_epi32(a, b);
  const __m256i overflow = _mm256_srai_epi32(
      _mm256_and_si256(_mm256_xor_si256(a, sum), _mm256_xor_si256(b, sum)), 31);
  const __m256i saturated = _mm256_xor_si256(_mm256_srai_epi32(a, 31), _mm256_set1_epi32(kInt32Max));
  return _mm256_blendv_epi8(sum, saturated, overflow);
}

// RoundingDivideByPOT on int32 lanes, e in [0, 31] given as a shift count (numerics.md §1.1):
// (x >> e) + (remainder > threshold), threshold = mask/2 + (x < 0); srai(x, 31) is -1 for x < 0.
struct RoundingShift32 {
  __m128i count;
  __m256i mask;
  __m256i half_mask;
};

inline RoundingShift32 MakeRoundingShift32(int e) {
  const uint32_t mask = (uint32_t{1} << e) - 1u;
  return {_mm_cvtsi32_si128(e), _mm256_set1_epi32(static_cast<int32_t>(mask)),
          _mm256_set1_epi32(static_cast<int32_t>(mask >> 1))};
}

inline __m256i RoundingDivideByPOT32(__m256i x, const RoundingShift32& s) {
  const __m256i remainder = _mm256_and_si256(x, s.mask);
  const __m256i threshold = _mm256_sub_epi32(s.half_mask, _mm256_srai_epi32(x, 31));
  return _mm256_sub_epi32(_mm256_sra_epi32(x, s.count), _mm256_cmpgt_epi32(remainder, threshold));
}

// Loop-invariant state of MultiplyByQuantizedMultiplier for one (multiplier, shift, rounding).
struct Requant {
  bool single;
  __m256i multiplier;  // M in every int32 lane; vpmuldq reads the low half of each 64-bit lane
  // Double rounding (numerics.md §1.3): saturating x << left, SRDHM, RoundingDivideByPOT(right).
  __m128i left;
  __m256i left_lo;         // INT32_MIN >> left: max(x, left_lo) << left saturates the low side exactly
  __m256i left_hi;         // INT32_MAX >> left: x > left_hi saturates to INT32_MAX
  __m256i srdhm_overflow;  // all ones when M == INT32_MIN (the one SRDHM overflow needs x == M too)
  RoundingShift32 right;
  // Single rounding: (x*M + 2^(t-1)) >> t in 64 bits, t = 31 - shift, then sat32.
  __m256i round64;
  __m128i total_shift;
};

inline Requant MakeRequant(QuantizedMultiplier m, Rounding rounding) {
  const int left = m.shift > 0 ? m.shift : 0;
  const int right = m.shift > 0 ? 0 : -m.shift;
  const int total_shift = 31 - m.shift;
  Requant q;
  q.single = rounding == Rounding::kSingle;
  q.multiplier = _mm256_set1_epi32(m.multiplier);
  q.left = _mm_cvtsi32_si128(left);
  q.left_lo = _mm256_set1_epi32(kInt32Min >> left);
  q.left_hi = _mm256_set1_epi32(kInt32Max >> left);
  q.srdhm_overflow = _mm256_set1_epi32(m.multiplier == kInt32Min ? -1 : 0);
  q.right = MakeRoundingShift32(right);
  q.round64 = _mm256_set1_epi64x(int64_t{1} << (total_shift - 1));
  q.total_shift = _mm_cvtsi32_si128(total_shift);
  return q;
}

// Double rounding. SRDHM(a, M) = trunc((a*M + nudge) / 2^31) with nudge 2^30 or 1 - 2^30 by the sign of
// a*M; both cases equal floor((a*M + 2^30) / 2^31), whose low 32 bits are bits 31..62 of the 64-bit
// sum: a logical shift suffices (srli 31 for even lanes, slli 1 to place odd lanes' bits in the high
// half), so no 64-bit arithmetic shift is needed.
inline __m256i RequantDouble(__m256i x, const Requant& q) {
  __m256i a = _mm256_sll_epi32(_mm256_max_epi32(x, q.left_lo), q.left);
  a = _mm256_blendv_epi8(a, _mm256_set1_epi32(kInt32Max), _mm256_cmpgt_epi32(x, q.left_hi));
  const __m256i nudge = _mm256_set1_epi64x(int64_t{1} << 30);
  const __m256i even = _mm256_add_epi64(_mm256_mul_epi32(a, q.multiplier), nudge);
  const __m256i odd = _mm256_add_epi64(_mm256_mul_epi32(_mm256_srli_epi64(a, 32), q.multiplier), nudge);
  __m256i high = _mm256_blend_epi32(_mm256_srli_epi64(even, 31), _mm256_slli_epi64(odd, 1), 0xAA);
  // INT32_MIN * INT32_MIN gives INT32_MIN here; the reference saturates it to INT32_MAX (= ~INT32_MIN).
  high = _mm256_xor_si256(high, _mm256_and_si256(_mm256_cmpeq_epi32(a, _mm256_set1_epi32(kInt32Min)),
                                                  q.srdhm_overflow));
  return RoundingDivideByPOT32(high, q.right);
}

// Arithmetic shift right of int64 lanes (AVX2 has none): floor(p / 2^t) = ~(~p >>> t) for p < 0, done
// as xor with the sign mask around a logical shift. Then saturation to the int32 range.
inline __m256i ShiftRightSat64To32(__m256i p, __m128i t) {
  const __m256i sign = _mm256_cmpgt_epi64(_mm256_setzero_si256(), p);
  __m256i r = _mm256_xor_si256(_mm256_srl_epi64(_mm256_xor_si256(p, sign), t), sign);
  const __m256i max64 = _mm256_set1_epi64x(kInt32Max);
  const __m256i min64 = _mm256_set1_epi64x(kInt32Min);
  r = _mm256_blendv_epi8(r, max64, _mm256_cmpgt_epi64(r, max64));
  return _mm256_blendv_epi8(r, min64, _mm256_cmpgt_epi64(min64, r));
}

// Single rounding: even and odd lanes as 64-bit products, rounded, shifted, saturated, re-interleaved.
inline __m256i RequantSingle(__m256i x, const Requant& q) {
  const __m256i even = _mm256_add_epi64(_mm256_mul_epi32(x, q.multiplier), q.round64);
  const __m256i odd = _mm256_add_epi64(_mm256_mul_epi32(_mm256_srli_epi64(x, 32), q.multiplier), q.round64);
  return _mm256_blend_epi32(ShiftRightSat64To32(even, q.total_shift),
                            _mm256_slli_epi64(ShiftRightSat64To32(odd, q.total_shift), 32), 0xAA);
}

// MultiplyByQuantizedMultiplier on 8 int32 lanes (numerics.md §1.3).
inline __m256i Requantize(__m256i x, const Requant& q) { return q.single ? RequantSingle(x, q) : RequantDouble(x, q); }

// MultiplyByQuantizedMultiplier with its own (multiplier, shift) in each of the 8 int32 lanes
// (per-channel requantization, numerics.md §7.1). The same arithmetic as Requant, with every
// loop-invariant held per lane and the uniform shifts replaced by variable ones (vpsllvd, vpsravd,
// vpsrlvq). vpmuldq reads the low half of each 64-bit lane, so the even lanes' multipliers are the
// vector itself and the odd lanes' are that vector shifted right by 32.
struct RequantPerLane {
  bool single;
  __m256i multiplier_even;
  __m256i multiplier_odd;
  // Double rounding.
  __m256i left;            // per-lane left shift, max(shift, 0)
  __m256i left_lo;         // INT32_MIN >> left
  __m256i left_hi;         // INT32_MAX >> left
  __m256i srdhm_overflow;  // all ones in lanes whose M == INT32_MIN
  __m256i right;           // per-lane right shift, max(-shift, 0)
  __m256i right_mask;      // 2^right - 1
  __m256i right_half_mask;
  // Single rounding: per 64-bit lane, for the even and the odd int32 lanes.
  __m256i round64_even;
  __m256i round64_odd;
  __m256i total_shift_even;
  __m256i total_shift_odd;
};

// m[0..7] are the lanes' multipliers (validated by the layer: shift in [-31, 30]). Built in registers
// from the 8 (multiplier, shift) pairs (one call per 8 output rows and input row of a per-channel
// matmul, so it must cost little next to the rows' multiply-adds); the same constants as these scalar
// definitions, lane j from m[j]:
//   left = max(shift, 0), right = max(-shift, 0), left_lo = INT32_MIN >> left, left_hi = INT32_MAX >> left,
//   srdhm_overflow = (M == INT32_MIN ? -1 : 0), right_mask = 2^right - 1 (as uint32), right_half_mask =
//   right_mask >> 1 (logical), and per vpmuldq pair t = 31 - shift, round64 = 2^(t - 1), total_shift = t.
// The multipliers and the shifts of m[0..7] in lanes 0..7 of two registers.
inline void SplitMultipliers(const QuantizedMultiplier* m, __m256i* multiplier, __m256i* shift) {
  static_assert(sizeof(QuantizedMultiplier) == 8, "QuantizedMultiplier is (int32 multiplier, int32 shift)");
  // (M0 S0 M1 S1 | M2 S2 M3 S3) and (M4 S4 M5 S5 | M6 S6 M7 S7) -> M0..M7 and S0..S7: shufps picks
  // (M0 M1 M4 M5 | M2 M3 M6 M7), vpermq puts the 64-bit pairs in order.
  const __m256 lo = _mm256_castsi256_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(m)));
  const __m256 hi = _mm256_castsi256_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(m + 4)));
  *multiplier = _mm256_permute4x64_epi64(_mm256_castps_si256(_mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0))),
                                         _MM_SHUFFLE(3, 1, 2, 0));
  *shift = _mm256_permute4x64_epi64(_mm256_castps_si256(_mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1))),
                                    _MM_SHUFFLE(3, 1, 2, 0));
}

inline RequantPerLane MakeRequantPerLane(const QuantizedMultiplier* m, Rounding rounding) {
  __m256i multiplier, shift;
  SplitMultipliers(m, &multiplier, &shift);
  const __m256i zero = _mm256_setzero_si256();
  const __m256i left = _mm256_max_epi32(shift, zero);
  const __m256i right = _mm256_max_epi32(_mm256_sub_epi32(zero, shift), zero);
  const __m256i mask = _mm256_sub_epi32(_mm256_sllv_epi32(_mm256_set1_epi32(1), right), _mm256_set1_epi32(1));
  // t = 31 - shift in [1, 62], positive: its int32 lanes zero-extend into the 64-bit lanes.
  const __m256i t = _mm256_sub_epi32(_mm256_set1_epi32(31), shift);
  const __m256i t_even = _mm256_and_si256(t, _mm256_set1_epi64x(0xFFFFFFFF));
  const __m256i t_odd = _mm256_srli_epi64(t, 32);
  const __m256i one64 = _mm256_set1_epi64x(1);
  RequantPerLane q;
  q.single = rounding == Rounding::kSingle;
  q.multiplier_even = multiplier;
  q.multiplier_odd = _mm256_srli_epi64(multiplier, 32);
  q.left = left;
  q.left_lo = _mm256_srav_epi32(_mm256_set1_epi32(kInt32Min), left);
  q.left_hi = _mm256_srav_epi32(_mm256_set1_epi32(kInt32Max), left);
  q.srdhm_overflow = _mm256_cmpeq_epi32(multiplier, _mm256_set1_epi32(kInt32Min));
  q.right = right;
  q.right_mask = mask;
  q.right_half_mask = _mm256_srli_epi32(mask, 1);
  q.round64_even = _mm256_sllv_epi64(one64, _mm256_sub_epi64(t_even, one64));
  q.round64_odd = _mm256_sllv_epi64(one64, _mm256_sub_epi64(t_odd, one64));
  q.total_shift_even = t_even;
  q.total_shift_odd = t_odd;
  return q;
}

// RequantDouble with per-lane shifts and multipliers.
inline __m256i RequantDoublePerLane(__m256i x, const RequantPerLane& q) {
  __m256i a = _mm256_sllv_epi32(_mm256_max_epi32(x, q.left_lo), q.left);
  a = _mm256_blendv_epi8(a, _mm256_set1_epi32(kInt32Max), _mm256_cmpgt_epi32(x, q.left_hi));
  const __m256i nudge = _mm256_set1_epi64x(int64_t{1} << 30);
  const __m256i even = _mm256_add_epi64(_mm256_mul_epi32(a, q.multiplier_even), nudge);
  const __m256i odd = _mm256_add_epi64(_mm256_mul_epi32(_mm256_srli_epi64(a, 32), q.multiplier_odd), nudge);
  __m256i high = _mm256_blend_epi32(_mm256_srli_epi64(even, 31), _mm256_slli_epi64(odd, 1), 0xAA);
  high = _mm256_xor_si256(high, _mm256_and_si256(_mm256_cmpeq_epi32(a, _mm256_set1_epi32(kInt32Min)),
                                                  q.srdhm_overflow));
  // RoundingDivideByPOT with a per-lane exponent (numerics.md §1.1).
  const __m256i remainder = _mm256_and_si256(high, q.right_mask);
  const __m256i threshold = _mm256_sub_epi32(q.right_half_mask, _mm256_srai_epi32(high, 31));
  return _mm256_sub_epi32(_mm256_srav_epi32(high, q.right), _mm256_cmpgt_epi32(remainder, threshold));
}

// ShiftRightSat64To32 with a per-64-bit-lane shift count.
inline __m256i ShiftRightSat64To32PerLane(__m256i p, __m256i t) {
  const __m256i sign = _mm256_cmpgt_epi64(_mm256_setzero_si256(), p);
  __m256i r = _mm256_xor_si256(_mm256_srlv_epi64(_mm256_xor_si256(p, sign), t), sign);
  const __m256i max64 = _mm256_set1_epi64x(kInt32Max);
  const __m256i min64 = _mm256_set1_epi64x(kInt32Min);
  r = _mm256_blendv_epi8(r, max64, _mm256_cmpgt_epi64(r, max64));
  return _mm256_blendv_epi8(r, min64, _mm256_cmpgt_epi64(min64, r));
}

// RequantSingle with per-lane shifts and multipliers.
inline __m256i RequantSinglePerLane(__m256i x, const RequantPerLane& q) {
  const __m256i even = _mm256_add_epi64(_mm256_mul_epi32(x, q.multiplier_even), q.round64_even);
  const __m256i odd =
      _mm256_add_epi64(_mm256_mul_epi32(_mm256_srli_epi64(x, 32), q.multiplier_odd), q.round64_odd);
  return _mm256_blend_epi32(ShiftRightSat64To32PerLane(even, q.total_shift_even),
                            _mm256_slli_epi64(ShiftRightSat64To32PerLane(odd, q.total_shift_odd), 32), 0xAA);
}

inline __m256i RequantizePerLane(__m256i x, const RequantPerLane& q) {
  return q.single ? RequantSinglePerLane(x, q) : RequantDoublePerLane(x, q);
}

// 16 int32 (two vectors, in order) -> 16 int8 with saturation: packssdw then packsswb; sat8(sat16(v)) =
// sat8(v). packssdw interleaves 128-bit halves, vpermq 0xD8 restores the order.
inline __m128i PackSat32To8(__m256i lo, __m256i hi) {
  const __m256i p16 = _mm256_permute4x64_epi64(_mm256_packs_epi32(lo, hi), 0xD8);
  return _mm_packs_epi16(_mm256_castsi256_si128(p16), _mm256_extracti128_si256(p16, 1));
}

// 16 int32 (two vectors, in order) -> 16 int16 with saturation.
inline __m256i PackSat32To16(__m256i lo, __m256i hi) {
  return _mm256_permute4x64_epi64(_mm256_packs_epi32(lo, hi), 0xD8);
}

// ---- Kernels ---------------------------------------------------------------------------------------
// Every kernel runs one vector body (a lambda) over full blocks, then once more over its tail copied
// into zero-padded stack buffers, writing back only the tail's elements. Lanes never interact in the
// elementwise kernels, and the padding zeros add nothing to the sums that do combine lanes (Gemv,
// LayerNorm statistics), so tails get exactly the vector arithmetic.

template <typename T>
inline void CopyElements(T* dst, const T* src, int count) {
  std::memcpy(dst, src, static_cast<size_t>(count) * sizeof(T));
}

// 16 int8 from p, where only `valid` bytes belong to the caller's row: the whole 16-byte load is used
// while it stays below `end` (the bytes past the row are then multiplied by zero padding of x), else
// the valid bytes are copied into a buffer.
inline __m128i LoadRowTail16(const int8_t* p, int valid, const int8_t* end) {
  if (end - p >= 16) return Load128(p);
  alignas(16) int8_t buffer[16] = {};
  CopyElements(buffer, p, valid);
  return Load128(buffer);
}

// The int8 matrix-vector body shared by the per-tensor and the per-channel Gemv; `requantize(sums, r)`
// turns the eight int32 row sums of rows r..r+7 into results.
// Eight rows at a time: int8 -> int16 sign extension (vpmovsxbw) and vpmaddwd give exact int32 pair
// sums (|w*x| <= 2^14; vpmaddubsw would saturate), accumulated with wrapping vpaddd; a vphaddd tree
// reduces the eight accumulators to eight row sums, requantized as one vector. The last block of rows
// repeats the matrix's last row in its unused lanes and stores only its valid outputs. The column
// tail multiplies whatever w holds past the row by a zero-padded copy of x's tail.
template <typename RequantizeRows>
inline void GemvS8S8Body(const int8_t* w, int rows, int cols, const int32_t* bias, const int8_t* x, int batch,
                         int32_t* out, const RequantizeRows& requantize) {
  const int cols16 = cols & ~15;
  const int col_tail = cols - cols16;
  const int8_t* w_end = w + static_cast<int64_t>(rows) * cols;
  for (int b = 0; b < batch; ++b) {
    const int8_t* xb = x + static_cast<int64_t>(b) * cols;
    int32_t* ob = out + static_cast<int64_t>(b) * rows;
    alignas(16) int8_t x_tail[16] = {};
    if (col_tail != 0) CopyElements(x_tail, xb + cols16, col_tail);
    const __m256i x_tail_v = _mm256_cvtepi8_epi16(Load128(x_tail));
    for (int r = 0; r < rows; r += 8) {
      const int valid = std::min(8, rows - r);
      const int8_t* wr[8];
      for (int j = 0; j < 8; ++j) wr[j] = w + static_cast<int64_t>(r + std::min(j, valid - 1)) * cols;
      __m256i acc[8];
      for (int j = 0; j < 8; ++j) acc[j] = _mm256_setzero_si256();
      for (int k = 0; k < cols16; k += 16) {
        const __m256i xv = _mm256_cvtepi8_epi16(Load128(xb + k));
        for (int j = 0; j < 8; ++j) {
          acc[j] = _mm256_add_epi32(acc[j], _mm256_madd_epi16(_mm256_cvtepi8_epi16(Load128(wr[j] + k)), xv));
        }
      }
      if (col_tail != 0) {
        for (int j = 0; j < 8; ++j) {
          const __m256i wv = _mm256_cvtepi8_epi16(LoadRowTail16(wr[j] + cols16, col_tail, w_end));
          acc[j] = _mm256_add_epi32(acc[j], _mm256_madd_epi16(wv, x_tail_v));
        }
      }
      const __m256i q0 = _mm256_hadd_epi32(_mm256_hadd_epi32(acc[0], acc[1]), _mm256_hadd_epi32(acc[2], acc[3]));
      const __m256i q1 = _mm256_hadd_epi32(_mm256_hadd_epi32(acc[4], acc[5]), _mm256_hadd_epi32(acc[6], acc[7]));
      __m256i sums = _mm256_add_epi32(_mm256_permute2x128_si256(q0, q1, 0x20),
                                      _mm256_permute2x128_si256(q0, q1, 0x31));
      if (bias != nullptr) {
        alignas(32) int32_t bias8[8] = {};
        CopyElements(bias8, bias + r, valid);
        sums = _mm256_add_epi32(sums, Load256(bias8));  // wraps, as the reference's uint32 sum
      }
      const __m256i result = requantize(sums, r);
      if (valid == 8) {
        Store256(ob + r, result);
      } else {
        alignas(32) int32_t result8[8];
        Store256(result8, result);
        CopyElements(ob + r, result8, valid);
      }
    }
  }
}

// out[b*rows + r] = MBQM(bias[r] + sum_k w[r*cols+k] * x[b*cols+k], m)   (numerics.md §4.1)
void GemvS8S8RequantS32(const int8_t* w, int rows, int cols, const int32_t* bias, const int8_t* x, int batch,
                        QuantizedMultiplier m, Rounding rounding, int32_t* out) {
  const Requant q = MakeRequant(m, rounding);
  GemvS8S8Body(w, rows, cols, bias, x, batch, out, [&q](__m256i sums, int) { return Requantize(sums, q); });
}

// out[b*rows + r] = MBQM(bias[r] + sum_k w[r*cols+k] * x[b*cols+k], m[r])   (numerics.md §7.1)
// The same body; each block of eight rows is requantized with its rows' own multipliers, the unused
// lanes of the last block repeating the last row's (as its weights do). The per-lane constants are
// built once per block and batch row: 8 scalar setups against 8 * cols multiply-adds.
void GemvS8S8RequantPerChannelS32(const int8_t* w, int rows, int cols, const int32_t* bias, const int8_t* x,
                                  int batch, const QuantizedMultiplier* m, Rounding rounding, int32_t* out) {
  GemvS8S8Body(w, rows, cols, bias, x, batch, out, [m, rows, rounding](__m256i sums, int r) {
    if (r + 8 <= rows) return RequantizePerLane(sums, MakeRequantPerLane(m + r, rounding));
    QuantizedMultiplier lanes[8];
    for (int j = 0; j < 8; ++j) lanes[j] = m[std::min(r + j, rows - 1)];
    return RequantizePerLane(sums, MakeRequantPerLane(lanes, rounding));
  });
}

// acc[i] = sat16(acc[i] + v[i]). v is first clamped to [-65536, 65536], which changes no result (acc is
// within +-32768) and keeps the int32 sum exact; vpackssdw saturates.
void AddSatS32IntoS16(const int32_t* v, int n, int16_t* acc) {
  const __m256i lo = _mm256_set1_epi32(-65536);
  const __m256i hi = _mm256_set1_epi32(65536);
  auto block = [&](const int32_t* vp, int16_t* ap) {
    const __m256i a = Load256(ap);
    const __m256i v0 = _mm256_min_epi32(_mm256_max_epi32(Load256(vp), lo), hi);
    const __m256i v1 = _mm256_min_epi32(_mm256_max_epi32(Load256(vp + 8), lo), hi);
    const __m256i s0 = _mm256_add_epi32(_mm256_cvtepi16_epi32(_mm256_castsi256_si128(a)), v0);
    const __m256i s1 = _mm256_add_epi32(_mm256_cvtepi16_epi32(_mm256_extracti128_si256(a, 1)), v1);
    Store256(ap, PackSat32To16(s0, s1));
  };
  int i = 0;
  for (; i + 16 <= n; i += 16) block(v + i, acc + i);
  if (i < n) {
    alignas(32) int32_t vt[16] = {};
    alignas(32) int16_t at[16] = {};
    CopyElements(vt, v + i, n - i);
    CopyElements(at, acc + i, n - i);
    block(vt, at);
    CopyElements(acc + i, at, n - i);
  }
}

// acc[i] = sat32(acc[i] + v[i]): wrapping add plus the sign-rule overflow fix (AddSat32).
void AddSatS32IntoS32(const int32_t* v, int n, int32_t* acc) {
  int i = 0;
  for (; i + 8 <= n; i += 8) Store256(acc + i, AddSat32(Load256(acc + i), Load256(v + i)));
  if (i < n) {
    alignas(32) int32_t vt[8] = {};
    alignas(32) int32_t at[8] = {};
    CopyElements(vt, v + i, n - i);
    CopyElements(at, acc + i, n - i);
    Store256(at, AddSat32(Load256(at), Load256(vt)));
    CopyElements(acc + i, at, n - i);
  }
}

// out[i] = sat16(v[i]): vpackssdw, order restored by vpermq.
void SaturateS32ToS16(const int32_t* v, int n, int16_t* out) {
  int i = 0;
  for (; i + 16 <= n; i += 16) Store256(out + i, PackSat32To16(Load256(v + i), Load256(v + i + 8)));
  if (i < n) {
    alignas(32) int32_t vt[16] = {};
    alignas(32) int16_t ot[16];
    CopyElements(vt, v + i, n - i);
    Store256(ot, PackSat32To16(Load256(vt), Load256(vt + 8)));
    CopyElements(out + i, ot, n - i);
  }
}

// out[i] = MBQM(w[i % period] * c[i], m)   (numerics.md §4.2)
// Walked one period at a time so that w is read contiguously from its start. The exact int16 product
// comes from vpmaddwd of sign-extended w with zero-extended c: the high halves contribute w_sign * 0.
void PeepholeRequantS32(const int16_t* w, int period, const int16_t* c, int n, QuantizedMultiplier m,
                        Rounding rounding, int32_t* out) {
  const Requant q = MakeRequant(m, rounding);
  auto block = [&](const int16_t* wp, const int16_t* cp, int32_t* op) {
    const __m256i product = _mm256_madd_epi16(_mm256_cvtepi16_epi32(Load128(wp)), _mm256_cvtepu16_epi32(Load128(cp)));
    Store256(op, Requantize(product, q));
  };
  for (int start = 0; start < n; start += period) {
    const int len = std::min(period, n - start);
    int j = 0;
    for (; j + 8 <= len; j += 8) block(w + j, c + start + j, out + start + j);
    if (j < len) {
      alignas(16) int16_t wt[8] = {};
      alignas(16) int16_t ct[8] = {};
      alignas(32) int32_t ot[8];
      CopyElements(wt, w + j, len - j);
      CopyElements(ct, c + start + j, len - j);
      block(wt, ct, ot);
      CopyElements(out + start + j, ot, len - j);
    }
  }
}

// u = sat32(trunc((t +- 512) / 1024)) on four int64 lanes of t = rescaled * weight + bias (values in
// natural order, sign-extended): |t| + 512 shifted logically, the sign restored by xor/sub.
inline __m256i RoundTo1024Sat(__m256i rescaled64, __m256i weight64, __m256i bias64) {
  const __m256i t = _mm256_add_epi64(_mm256_mul_epi32(rescaled64, weight64), bias64);
  const __m256i sign = _mm256_cmpgt_epi64(_mm256_setzero_si256(), t);
  const __m256i magnitude = _mm256_sub_epi64(_mm256_xor_si256(t, sign), sign);
  const __m256i quotient = _mm256_srli_epi64(_mm256_add_epi64(magnitude, _mm256_set1_epi64x(512)), 10);
  __m256i u = _mm256_sub_epi64(_mm256_xor_si256(quotient, sign), sign);
  const __m256i max64 = _mm256_set1_epi64x(kInt32Max);
  const __m256i min64 = _mm256_set1_epi64x(kInt32Min);
  u = _mm256_blendv_epi8(u, max64, _mm256_cmpgt_epi64(u, max64));
  return _mm256_blendv_epi8(u, min64, _mm256_cmpgt_epi64(min64, u));
}

// Integer LayerNorm of `rows` rows of n values, Q3.12 output (numerics.md §3).
// Statistics: sum by vpmaddwd with ones (int32 lanes, widened to int64 every 2^14 steps before they
// could overflow) and sum of squares by vpmaddwd(v, v), whose pair sums lie in [0, 2^31] and are exact
// as uint32, zero-extended into int64 lanes. The variance and 1/sqrt are per-row scalars written as
// the reference writes them. Per element: 1024 v - mean, vector MBQM, the int64 weight/bias step on
// 4-lane halves, vector MBQM again and vpackssdw. in may equal out: a row's statistics are complete
// before its first store, and each element is read before it is written.
void LayerNormS16(const int16_t* in, const int16_t* weight, const int32_t* bias, int n, int rows,
                  QuantizedMultiplier scale, int32_t variance_guard, bool exact_statistics, Rounding rounding,
                  int16_t* out) {
  constexpr int64_t kTwoTo20 = int64_t{1} << 20;
  constexpr int kFlushSteps = 1 << 14;  // 2^14 steps * 2 values * 32768 = 2^30 < 2^31 per int32 lane
  const QuantizedMultiplier out_scale{scale.multiplier, scale.shift + 12};
  const Requant q_out = MakeRequant(out_scale, rounding);
  const __m256i ones = _mm256_set1_epi16(1);
  const __m256i zero = _mm256_setzero_si256();
  const __m256i pick_low_halves = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
  for (int row = 0; row < rows; ++row) {
    const int16_t* v = in + static_cast<int64_t>(row) * n;
    int16_t* o = out + static_cast<int64_t>(row) * n;

    __m256i sum64 = zero;
    __m256i sum_sq64 = zero;
    __m256i sum32 = zero;
    int steps = 0;
    auto accumulate = [&](const int16_t* vp) {
      const __m256i x = Load256(vp);
      sum32 = _mm256_add_epi32(sum32, _mm256_madd_epi16(x, ones));
      const __m256i squares = _mm256_madd_epi16(x, x);  // read as uint32
      sum_sq64 = _mm256_add_epi64(sum_sq64, _mm256_unpacklo_epi32(squares, zero));
      sum_sq64 = _mm256_add_epi64(sum_sq64, _mm256_unpackhi_epi32(squares, zero));
      if (++steps == kFlushSteps) {
        sum64 = _mm256_add_epi64(sum64, _mm256_cvtepi32_epi64(_mm256_castsi256_si128(sum32)));
        sum64 = _mm256_add_epi64(sum64, _mm256_cvtepi32_epi64(_mm256_extracti128_si256(sum32, 1)));
        sum32 = zero;
        steps = 0;
      }
    };
    int j = 0;
    for (; j + 16 <= n; j += 16) accumulate(v + j);
    if (j < n) {
      alignas(32) int16_t vt[16] = {};
      CopyElements(vt, v + j, n - j);
      accumulate(vt);
    }
    sum64 = _mm256_add_epi64(sum64, _mm256_cvtepi32_epi64(_mm256_castsi256_si128(sum32)));
    sum64 = _mm256_add_epi64(sum64, _mm256_cvtepi32_epi64(_mm256_extracti128_si256(sum32, 1)));
    alignas(32) int64_t lanes[4];
    alignas(32) int64_t lanes_sq[4];
    Store256(lanes, sum64);
    Store256(lanes_sq, sum_sq64);
    const int64_t sum = lanes[0] + lanes[1] + lanes[2] + lanes[3];
    const int64_t sum_sq = lanes_sq[0] + lanes_sq[1] + lanes_sq[2] + lanes_sq[3];

    const int32_t mean = static_cast<int32_t>(sum * 1024 / n);
    int64_t mean_sq_scaled;  // E[v^2] * 2^20
    if (exact_statistics) {
      mean_sq_scaled = (sum_sq / n) * kTwoTo20 + (sum_sq % n) * kTwoTo20 / n;
    } else {
      mean_sq_scaled = sum_sq * (kTwoTo20 / n);  // TFLite: 2^20/n truncated
    }
    const int64_t variance = mean_sq_scaled - int64_t{mean} * mean;
    int32_t variance_q = SaturateToInt32(variance / kTwoTo20);
    if (variance_q < 1) variance_q = variance_guard;
    const Requant q_inv = MakeRequant(InvSqrtQuantizedMultiplier(variance_q), rounding);
    const __m256i mean_v = _mm256_set1_epi32(mean);

    auto normalize = [&](const int16_t* vp, const int16_t* wp, const int32_t* bp, int16_t* op) {
      const __m256i shifted = _mm256_sub_epi32(_mm256_slli_epi32(_mm256_cvtepi16_epi32(Load128(vp)), 10), mean_v);
      const __m256i rescaled = Requantize(shifted, q_inv);
      const __m256i w32 = _mm256_cvtepi16_epi32(Load128(wp));
      const __m256i b32 = Load256(bp);
      const __m256i u_lo = RoundTo1024Sat(_mm256_cvtepi32_epi64(_mm256_castsi256_si128(rescaled)),
                                          _mm256_cvtepi32_epi64(_mm256_castsi256_si128(w32)),
                                          _mm256_cvtepi32_epi64(_mm256_castsi256_si128(b32)));
      const __m256i u_hi = RoundTo1024Sat(_mm256_cvtepi32_epi64(_mm256_extracti128_si256(rescaled, 1)),
                                          _mm256_cvtepi32_epi64(_mm256_extracti128_si256(w32, 1)),
                                          _mm256_cvtepi32_epi64(_mm256_extracti128_si256(b32, 1)));
      // The low halves of the int64 lanes, back to 8 int32 in order.
      const __m256i u = _mm256_blend_epi32(_mm256_permutevar8x32_epi32(u_lo, pick_low_halves),
                                           _mm256_permutevar8x32_epi32(u_hi, pick_low_halves), 0xF0);
      const __m256i r = Requantize(u, q_out);
      Store128(op, _mm_packs_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1)));
    };
    j = 0;
    for (; j + 8 <= n; j += 8) normalize(v + j, weight + j, bias + j, o + j);
    if (j < n) {
      alignas(16) int16_t vt[8] = {};
      alignas(16) int16_t wt[8] = {};
      alignas(32) int32_t bt[8] = {};
      alignas(16) int16_t ot[8];
      CopyElements(vt, v + j, n - j);
      CopyElements(wt, weight + j, n - j);
      CopyElements(bt, bias + j, n - j);
      normalize(vt, wt, bt, ot);
      CopyElements(o + j, ot, n - j);
    }
  }
}

// out[i] = logistic(in[i]), Q3.12 -> Q0.15   (numerics.md §2.3), 16 lanes at a time (fixed_point_avx2.h).
void LogisticQ3S16(const int16_t* in, int n, int16_t* out) {
  const ActivationConstants16 c = MakeActivationConstants16(ActivationKind::kLogistic, 3);
  auto block = [&](const int16_t* ip, int16_t* op) { Store256(op, ActivationQ15x16(Load256(ip), c)); };
  int i = 0;
  for (; i + 16 <= n; i += 16) block(in + i, out + i);
  if (i < n) {
    alignas(32) int16_t t[16] = {};
    CopyElements(t, in + i, n - i);
    block(t, t);
    CopyElements(out + i, t, n - i);
  }
}

// out[i] = tanh(in[i]), Q(integer_bits) -> Q0.15, integer_bits in [0, 6]   (numerics.md §2.4), 16 lanes
// at a time (fixed_point_avx2.h).
void TanhS16(const int16_t* in, int n, int integer_bits, int16_t* out) {
  const ActivationConstants16 c = MakeActivationConstants16(ActivationKind::kTanh, integer_bits);
  auto block = [&](const int16_t* ip, int16_t* op) { Store256(op, ActivationQ15x16(Load256(ip), c)); };
  int i = 0;
  for (; i + 16 <= n; i += 16) block(in + i, out + i);
  if (i < n) {
    alignas(32) int16_t t[16] = {};
    CopyElements(t, in + i, n - i);
    block(t, t);
    CopyElements(out + i, t, n - i);
  }
}

// One block of LstmCellUpdateS16 (numerics.md §4.3):
// c = clip(sat16(int16(RDivPOT(f*c, 15)) + int16(RDivPOT(ii*g, gate_shift)))).
// kept: vpmulhrsw gives floor((f*c + 2^14) / 2^15), which differs from RoundingDivideByPOT only on
// negative ties (low 15 bits == 2^14), found from vpmulhw's sign and vpmullw's low bits and moved
// down by one; its 16-bit result is the reference's int16 wrap. added: the 32-bit product from vpmullw
// and vpmulhw interleaved, RoundingDivideByPOT on int32 lanes, then a wrapping 32 -> 16 pack (mask to
// 16 bits, vpackusdw). Under CIFG ii = 32767 - f in [0, 65535] is held as the wrapped int16; its high
// product half is corrected by + g where that int16 is negative.
struct CellUpdateConstants {
  RoundingShift32 gate_rounding;
  bool clipping;
  __m256i clip_hi;
  __m256i clip_lo;
};

inline CellUpdateConstants MakeCellUpdateConstants(int gate_shift, int16_t clip) {
  return {MakeRoundingShift32(gate_shift), clip > 0, _mm256_set1_epi16(clip),
          _mm256_set1_epi16(static_cast<int16_t>(-clip))};
}

// cifg: the input gate is 32767 - f (iv unused).
inline __m256i CellUpdate16(__m256i fv, __m256i iv, bool cifg, __m256i gv, __m256i cv, const CellUpdateConstants& k) {
  const __m256i zero = _mm256_setzero_si256();
  const __m256i fc_lo = _mm256_mullo_epi16(fv, cv);
  const __m256i fc_hi = _mm256_mulhi_epi16(fv, cv);
  const __m256i negative_tie =
      _mm256_and_si256(_mm256_cmpgt_epi16(zero, fc_hi),
                       _mm256_cmpeq_epi16(_mm256_and_si256(fc_lo, _mm256_set1_epi16(0x7FFF)), _mm256_set1_epi16(0x4000)));
  const __m256i kept = _mm256_add_epi16(_mm256_mulhrs_epi16(fv, cv), negative_tie);

  __m256i ig_lo;
  __m256i ig_hi;
  if (!cifg) {
    ig_lo = _mm256_mullo_epi16(iv, gv);
    ig_hi = _mm256_mulhi_epi16(iv, gv);
  } else {
    const __m256i ii = _mm256_sub_epi16(_mm256_set1_epi16(32767), fv);  // 32767 - f, wrapped to int16
    ig_lo = _mm256_mullo_epi16(ii, gv);
    ig_hi = _mm256_add_epi16(_mm256_mulhi_epi16(ii, gv), _mm256_and_si256(_mm256_cmpgt_epi16(zero, ii), gv));
  }
  const __m256i low16 = _mm256_set1_epi32(0xFFFF);
  const __m256i p0 = RoundingDivideByPOT32(_mm256_unpacklo_epi16(ig_lo, ig_hi), k.gate_rounding);
  const __m256i p1 = RoundingDivideByPOT32(_mm256_unpackhi_epi16(ig_lo, ig_hi), k.gate_rounding);
  const __m256i added = _mm256_packus_epi32(_mm256_and_si256(p0, low16), _mm256_and_si256(p1, low16));

  __m256i value = _mm256_adds_epi16(kept, added);
  if (k.clipping) value = _mm256_min_epi16(_mm256_max_epi16(value, k.clip_lo), k.clip_hi);
  return value;
}

// c[i] = clip(sat16(int16(RDivPOT(f*c, 15)) + int16(RDivPOT(ii*g, gate_shift))))   (numerics.md §4.3),
// 16 lanes at a time (CellUpdate16).
void LstmCellUpdateS16(const int16_t* f, const int16_t* i, const int16_t* g, int n, int gate_shift, int16_t clip,
                       int16_t* c) {
  const CellUpdateConstants kc = MakeCellUpdateConstants(gate_shift, clip);
  const bool cifg = i == nullptr;
  auto block = [&](const int16_t* fp, const int16_t* ip, const int16_t* gp, int16_t* cp) {
    const __m256i iv = cifg ? _mm256_setzero_si256() : Load256(ip);
    Store256(cp, CellUpdate16(Load256(fp), iv, cifg, Load256(gp), Load256(cp), kc));
  };
  int k = 0;
  for (; k + 16 <= n; k += 16) block(f + k, i != nullptr ? i + k : nullptr, g + k, c + k);
  if (k < n) {
    alignas(32) int16_t ft[16] = {};
    alignas(32) int16_t it[16] = {};
    alignas(32) int16_t gt[16] = {};
    alignas(32) int16_t ct[16] = {};
    CopyElements(ft, f + k, n - k);
    if (i != nullptr) CopyElements(it, i + k, n - k);
    CopyElements(gt, g + k, n - k);
    CopyElements(ct, c + k, n - k);
    block(ft, i != nullptr ? it : nullptr, gt, ct);
    CopyElements(c + k, ct, n - k);
  }
}

// sat8(MBQM(a * b, q) + zp) on 16 lanes (MulRequantS16ToS8's block).
inline __m128i MulRequant16To8(__m256i a, __m256i b, const Requant& q, __m256i zp) {
  const __m256i p0 = _mm256_madd_epi16(_mm256_cvtepi16_epi32(_mm256_castsi256_si128(a)),
                                       _mm256_cvtepu16_epi32(_mm256_castsi256_si128(b)));
  const __m256i p1 = _mm256_madd_epi16(_mm256_cvtepi16_epi32(_mm256_extracti128_si256(a, 1)),
                                       _mm256_cvtepu16_epi32(_mm256_extracti128_si256(b, 1)));
  return PackSat32To8(AddSat32(Requantize(p0, q), zp), AddSat32(Requantize(p1, q), zp));
}

// out[i] = sat8(MBQM(a[i] * b[i], m) + zero_point)   (numerics.md §4.4)
// Exact product by vpmaddwd of sign-extended a with zero-extended b; the zero point is added with
// int32 saturation (sat8(sat32(s)) = sat8(s)) and packed down with saturation.
void MulRequantS16ToS8(const int16_t* a, const int16_t* b, int n, QuantizedMultiplier m, Rounding rounding,
                       int32_t zero_point, int8_t* out) {
  const Requant q = MakeRequant(m, rounding);
  const __m256i zp = _mm256_set1_epi32(zero_point);
  auto block = [&](const int16_t* ap, const int16_t* bp, int8_t* op) {
    Store128(op, MulRequant16To8(Load256(ap), Load256(bp), q, zp));
  };
  int i = 0;
  for (; i + 16 <= n; i += 16) block(a + i, b + i, out + i);
  if (i < n) {
    alignas(32) int16_t at[16] = {};
    alignas(32) int16_t bt[16] = {};
    alignas(16) int8_t ot[16];
    CopyElements(at, a + i, n - i);
    CopyElements(bt, b + i, n - i);
    block(at, bt, ot);
    CopyElements(out + i, ot, n - i);
  }
}

// out[i] = clamp(sat8(v[i] + zero_point), lo, hi), with the reference's order of tests: q < lo gives
// lo even when lo > hi, so it is min(q, hi) then a blend of lo where q < lo (not max then min).
void AddZeroPointClampS32ToS8(const int32_t* v, int n, int32_t zero_point, int8_t lo, int8_t hi, int8_t* out) {
  const __m256i zp = _mm256_set1_epi32(zero_point);
  const __m128i lo_v = _mm_set1_epi8(lo);
  const __m128i hi_v = _mm_set1_epi8(hi);
  auto block = [&](const int32_t* vp, int8_t* op) {
    const __m128i q8 = PackSat32To8(AddSat32(Load256(vp), zp), AddSat32(Load256(vp + 8), zp));
    Store128(op, _mm_blendv_epi8(_mm_min_epi8(q8, hi_v), lo_v, _mm_cmpgt_epi8(lo_v, q8)));
  };
  int i = 0;
  for (; i + 16 <= n; i += 16) block(v + i, out + i);
  if (i < n) {
    alignas(32) int32_t vt[16] = {};
    alignas(16) int8_t ot[16];
    CopyElements(vt, v + i, n - i);
    block(vt, ot);
    CopyElements(out + i, ot, n - i);
  }
}

// ---- The fused gate epilogue -------------------------------------------------------------------------
// The activations of LstmGatesS16 are int16 -> int16 functions, so they are read from tables of all
// 65,536 inputs (128 KiB each), filled once per process, on first use, by the vector kernels above:
// the same values as those kernels (and, as the tests check, as the reference) for every input. A
// lookup is a few scalar instructions where the fixed-point evaluation (fixed_point_avx2.h) is about 70
// vector ones per 16 values: measured on a Sapphire Rapids core, 0.2 ns per value looked up against
// 0.7 ns computed, and this epilogue with the arithmetic in place of the lookups took 1.9-2.0x as long at
// every H in {128, 256, 512} and B in {1, 16}. Tables: logistic Q3.12, and tanh for integer bits 0..6
// (3 for the cell gate, 15 + cell_scale for the cell).

std::vector<int16_t> BuildActivationTable(int tanh_integer_bits) {
  // 16 entries of zero padding: a 4-byte gather (the AVX-512 path's lookup) of the last entry stays inside.
  std::vector<int16_t> in(65536), out(65536 + 16, 0);
  for (int v = 0; v < 65536; ++v) in[static_cast<size_t>(v)] = static_cast<int16_t>(static_cast<uint16_t>(v));
  if (tanh_integer_bits < 0) {
    LogisticQ3S16(in.data(), 65536, out.data());
  } else {
    TanhS16(in.data(), 65536, tanh_integer_bits, out.data());
  }
  return out;
}

// The table of tanh with `integer_bits` in [0, 6], or of logistic Q3.12 for -1; indexed by uint16(v).
template <int kIntegerBits>
const int16_t* ActivationTable() {
  static const std::vector<int16_t> table = BuildActivationTable(kIntegerBits);
  return table.data();
}

const int16_t* LogisticTable() { return ActivationTable<-1>(); }

const int16_t* TanhTable(int integer_bits) {
  switch (integer_bits) {
    case 0: return ActivationTable<0>();
    case 1: return ActivationTable<1>();
    case 2: return ActivationTable<2>();
    case 3: return ActivationTable<3>();
    case 4: return ActivationTable<4>();
    case 5: return ActivationTable<5>();
    default: return ActivationTable<6>();  // the layer validates [0, 6]
  }
}

// Scalar lookups: GCC's vectorization of this loop (vpextrw/vpinsrw chains) is slower than the plain
// loads, and vpgatherdd is slow on the CPUs with the Gather Data Sampling mitigation.
__attribute__((optimize("no-tree-vectorize"))) void LookUp(const int16_t* table, int16_t* v, int n) {
  for (int i = 0; i < n; ++i) v[i] = table[static_cast<uint16_t>(v[i])];
}

// The gate epilogue of one step (LstmKernels::LstmGatesS16) over chunks of up to 256 values held in
// L1-resident buffers, with the table lookups done by `look_up` (scalar here; gathers on AVX-512):
// L1-resident buffers: the gates' pre-activations (vector), their activations (table lookups), the
// cell update (vector), tanh of the cell (lookups), the hidden output (vector). Pre-activation:
// tflite_compat clamps the input part to int16 and the recurrent part to +-65536 (AddSatS32IntoS16's
// exact int32 sum), the other mode adds with int32 saturation; vpackssdw then saturates to int16. A
// chunk's last partial block reads zero-padded copies of its operands; only valid values are stored.
void LstmGatesS16WithLookUp(const LstmGateEpilogue& e, void (*look_up)(const int16_t* table, int16_t* v, int n)) {
  constexpr int kChunk = 256;
  const int16_t* const sigmoid = LogisticTable();
  const int16_t* const tanh_gate = TanhTable(3);
  const int16_t* const tanh_cell = TanhTable(e.cell_integer_bits);
  const CellUpdateConstants kc = MakeCellUpdateConstants(e.gate_shift, e.clip);
  const Requant hidden = MakeRequant(e.hidden_scale, e.rounding);
  const __m256i zp = _mm256_set1_epi32(e.hidden_zp);
  const bool cifg = e.input[0] == nullptr;
  const bool compat = e.tflite_compat;
  auto pre = [&](const int32_t* in, const int32_t* rec) __attribute__((always_inline)) {
    __m256i a0 = Load256(in), a1 = Load256(in + 8);
    const __m256i r0 = Load256(rec), r1 = Load256(rec + 8);
    if (compat) {
      const __m256i lo16 = _mm256_set1_epi32(-32768), hi16 = _mm256_set1_epi32(32767);
      const __m256i lo = _mm256_set1_epi32(-65536), hi = _mm256_set1_epi32(65536);
      a0 = _mm256_add_epi32(_mm256_min_epi32(_mm256_max_epi32(a0, lo16), hi16),
                            _mm256_min_epi32(_mm256_max_epi32(r0, lo), hi));
      a1 = _mm256_add_epi32(_mm256_min_epi32(_mm256_max_epi32(a1, lo16), hi16),
                            _mm256_min_epi32(_mm256_max_epi32(r1, lo), hi));
    } else {
      a0 = AddSat32(a0, r0);
      a1 = AddSat32(a1, r1);
    }
    return PackSat32To16(a0, a1);
  };
  alignas(32) int16_t act[4][kChunk];
  alignas(32) int16_t cell[kChunk];
  alignas(32) int8_t hidden_out[kChunk];
  for (int i0 = 0; i0 < e.n; i0 += kChunk) {
    const int len = std::min(kChunk, e.n - i0);
    const int full = len & ~15;
    const int padded = (len + 15) & ~15;
    for (int g = 0; g < 4; ++g) {
      if (e.input[g] == nullptr) continue;
      const int32_t* in = e.input[g] + i0;
      const int32_t* rec = e.recurrent[g] + i0;
      for (int j = 0; j < full; j += 16) Store256(act[g] + j, pre(in + j, rec + j));
      if (full < len) {
        alignas(32) int32_t in_t[16] = {};
        alignas(32) int32_t rec_t[16] = {};
        CopyElements(in_t, in + full, len - full);
        CopyElements(rec_t, rec + full, len - full);
        Store256(act[g] + full, pre(in_t, rec_t));
      }
      look_up(g == 2 ? tanh_gate : sigmoid, act[g], padded);
    }
    CopyElements(cell, e.c + i0, len);
    for (int j = len; j < padded; ++j) cell[j] = 0;
    for (int j = 0; j < padded; j += 16) {
      const __m256i iv = cifg ? _mm256_setzero_si256() : Load256(act[0] + j);
      Store256(cell + j, CellUpdate16(Load256(act[1] + j), iv, cifg, Load256(act[2] + j), Load256(cell + j), kc));
    }
    CopyElements(e.c + i0, cell, len);
    look_up(tanh_cell, cell, padded);
    for (int j = 0; j < padded; j += 16) {
      Store128(hidden_out + j, MulRequant16To8(Load256(act[3] + j), Load256(cell + j), hidden, zp));
    }
    CopyElements(e.out + i0, hidden_out, len);
  }
}

void LstmGatesS16(const LstmGateEpilogue& e) { LstmGatesS16WithLookUp(e, LookUp); }

// ---- The GRU's gate epilogue (LstmKernels::GruGatesS16, numerics.md §8.2-§8.3) ---------------------
// Over chunks of up to 256 values in L1-resident buffers, as LstmGatesS16: the pre-activations of r
// and z (vector: sat32 sum, then vpackssdw's saturation to int16), their sigmoid by LookUp from the
// layer's table, the candidate's pre-activation (vector, int32 lanes: a and c clamped to int16, r * c
// exact, a + RDivPOT(r * c, 15) packed with saturation), its tanh by LookUp, then the state update
// (int32 lanes: z * (h - n) exact, n + RDivPOT(., 15) packed with saturation) and the int8 output
// (Requantize of the int16 state, + Z_out with int32 saturation, packed with saturation: MulRequantS16ToS8
// by 1). A chunk's last partial block reads zero-padded copies; only valid values are stored.

// A 16-element block at p + j of an array of `len` elements: p + j itself, or a zero-padded copy in tmp.
template <typename T>
inline const T* Block16(const T* p, int j, int len, T* tmp) {
  if (j + 16 <= len) return p + j;
  std::memset(tmp, 0, 16 * sizeof(T));
  CopyElements(tmp, p + j, len - j);
  return tmp;
}

inline __m256i Clamp16(__m256i v) {
  return _mm256_min_epi32(_mm256_max_epi32(v, _mm256_set1_epi32(-32768)), _mm256_set1_epi32(32767));
}

void GruGatesS16(const GruGateEpilogue& e) {
  constexpr int kChunk = 256;
  const Requant out_q = MakeRequant(e.output_scale, e.rounding);
  const __m256i zp = _mm256_set1_epi32(e.output_zp);
  const RoundingShift32 by15 = MakeRoundingShift32(15);
  alignas(32) int16_t r[kChunk], z[kChunk], n[kChunk], h[kChunk];
  alignas(16) int8_t h8[kChunk];
  alignas(32) int32_t t0[16], t1[16];
  for (int i0 = 0; i0 < e.n; i0 += kChunk) {
    const int len = std::min(kChunk, e.n - i0);
    const int padded = (len + 15) & ~15;
    for (int g = 0; g < 2; ++g) {
      int16_t* act = g == 0 ? r : z;
      for (int j = 0; j < padded; j += 16) {
        const int32_t* in = Block16(e.input[g] + i0, j, len, t0);
        const int32_t* rec = Block16(e.recurrent[g] + i0, j, len, t1);
        Store256(act + j, PackSat32To16(AddSat32(Load256(in), Load256(rec)), AddSat32(Load256(in + 8), Load256(rec + 8))));
      }
      LookUp(e.sigmoid_table, act, padded);
    }
    for (int j = 0; j < padded; j += 16) {
      const int32_t* in = Block16(e.input[2] + i0, j, len, t0);
      const int32_t* rec = Block16(e.recurrent[2] + i0, j, len, t1);
      const __m256i rv = Load256(r + j);
      __m256i half[2];
      for (int k = 0; k < 2; ++k) {
        const __m256i r32 = _mm256_cvtepi16_epi32(k == 0 ? _mm256_castsi256_si128(rv) : _mm256_extracti128_si256(rv, 1));
        const __m256i a = Clamp16(Load256(in + 8 * k)), c = Clamp16(Load256(rec + 8 * k));
        half[k] = _mm256_add_epi32(a, RoundingDivideByPOT32(_mm256_mullo_epi32(r32, c), by15));
      }
      Store256(n + j, PackSat32To16(half[0], half[1]));
    }
    LookUp(e.tanh_table, n, padded);
    CopyElements(h, e.h16 + i0, len);
    for (int j = len; j < padded; ++j) h[j] = 0;
    for (int j = 0; j < padded; j += 16) {
      const __m256i hv = Load256(h + j), nv = Load256(n + j), zv = Load256(z + j);
      __m256i half[2];
      for (int k = 0; k < 2; ++k) {
        auto widen = [k](__m256i v) {
          return _mm256_cvtepi16_epi32(k == 0 ? _mm256_castsi256_si128(v) : _mm256_extracti128_si256(v, 1));
        };
        const __m256i n32 = widen(nv);
        const __m256i kept = RoundingDivideByPOT32(_mm256_mullo_epi32(widen(zv), _mm256_sub_epi32(widen(hv), n32)), by15);
        half[k] = Clamp16(_mm256_add_epi32(n32, kept));
      }
      Store256(h + j, PackSat32To16(half[0], half[1]));
      Store128(h8 + j, PackSat32To8(AddSat32(Requantize(half[0], out_q), zp), AddSat32(Requantize(half[1], out_q), zp)));
    }
    CopyElements(e.h16 + i0, h, len);
    CopyElements(e.h8 + i0, h8, len);
    if (e.out != nullptr) CopyElements(e.out + i0, h8, len);
  }
}

// ---- Packed matmul, AVX-VNNI -------------------------------------------------------------------------
// vpdpbusd multiplies unsigned by signed bytes and adds groups of four products into int32 lanes, with
// no intermediate saturation (unlike vpmaddubsw). The int8 input x is made unsigned as u = x ^ 0x80 =
// x + 128, so sum_k u_k w_k = sum_k x_k w_k + 128 sum_k w_k; the second term is folded in at packing
// time as row_fold[r] = -128 sum_k w[r][k]. Every sum wraps in int32, as the reference's does, so the
// result is the reference's bit for bit for all int8 weights and inputs (-128 included).
// Layout: rows in blocks of 8, columns in groups of 4; block (rb, kg) is 32 bytes holding row 8rb+j's
// columns 4kg..4kg+3 at bytes 4j..4j+3, so one vpdpbusd with the 4 input bytes broadcast advances 8
// rows by 4 columns, and the 8 row sums end in the 8 lanes (no horizontal reduction). Padding rows and
// columns are zero weights.

#define IRNN_TARGET_VNNI __attribute__((target("avx2,fma,avxvnni")))

// row_fold[r] = -128 sum_k w[r][k] of w [rows][cols] (wrapping, as the sums do), padded with zeros to
// whole blocks of 8 rows: what x + 128 as the unsigned operand adds, taken back (AVX-VNNI and the AVX2
// 7-bit form).
void UnsignedRowFold(const int8_t* w, int rows, int cols, std::vector<int32_t>* row_fold) {
  row_fold->assign(static_cast<size_t>((rows + 7) / 8 * 8), 0);
  for (int r = 0; r < rows; ++r) {
    uint32_t sum = 0;
    for (int k = 0; k < cols; ++k) sum += static_cast<uint32_t>(int32_t{w[static_cast<int64_t>(r) * cols + k]});
    (*row_fold)[static_cast<size_t>(r)] = static_cast<int32_t>(0u - 128u * sum);
  }
}

void VnniPackS8(const int8_t* w, int rows, int cols, PackedS8* out) {
  const int64_t blocks = (rows + 7) / 8, groups = (cols + 3) / 4;
  out->rows = rows;
  out->cols = cols;
  out->data.assign(static_cast<size_t>(blocks * groups * 32), 0);
  out->int8_min_start.clear();
  out->int8_min_cols.clear();
  for (int r = 0; r < rows; ++r) {
    for (int k = 0; k < cols; ++k) {
      out->data[static_cast<size_t>(((r / 8) * groups + k / 4) * 32 + (r % 8) * 4 + k % 4)] =
          w[static_cast<int64_t>(r) * cols + k];
    }
  }
  UnsignedRowFold(w, rows, cols, &out->row_fold);
}

// NB input rows times NR row blocks: NB * NR accumulators of 8 row sums over all column groups.
template <int NB, int NR>
IRNN_TARGET_VNNI inline void VnniTile(const int8_t* blocks, int64_t block_stride, int groups,
                                      const uint8_t* const* u, __m256i* out) {
  // Local accumulators (not `out`, which GCC would keep in memory across the loop).
  __m256i acc[NB * NR];
  for (int i = 0; i < NB * NR; ++i) acc[i] = _mm256_setzero_si256();
  for (int kg = 0; kg < groups; ++kg) {
    __m256i xb[NB];
    for (int b = 0; b < NB; ++b) {
      int32_t four;
      std::memcpy(&four, u[b] + 4 * kg, 4);
      xb[b] = _mm256_set1_epi32(four);
    }
    for (int j = 0; j < NR; ++j) {
      const __m256i wv = Load256(blocks + j * block_stride + 32 * kg);
      for (int b = 0; b < NB; ++b) acc[b * NR + j] = _mm256_dpbusd_avx_epi32(acc[b * NR + j], xb[b], wv);
    }
  }
  for (int i = 0; i < NB * NR; ++i) out[i] = acc[i];
}

// The per-row requantization of one row block of a per-channel matmul: RequantizePerLane's constants,
// or, where all 8 rows' multipliers are PotMultiplier's powers of two, their right shifts r = -shift:
// floor((x + 2^(k-1)) / 2^k) with k = r + 1 is, with y = x >> r (nested floors merge), (y >> 1) + (y & 1),
// exact for every int32 x and never wrapping (RequantizePot512's form, requant_avx512.h).
struct BlockRequant {
  RequantPerLane q;
  __m256i pot_right;  // r per lane
  bool pot;
};

inline __m256i RequantizeBlock(__m256i x, const BlockRequant& b) {
  if (b.pot) {
    const __m256i y = _mm256_srav_epi32(x, b.pot_right);
    return _mm256_add_epi32(_mm256_srai_epi32(y, 1), _mm256_and_si256(y, _mm256_set1_epi32(1)));
  }
  return RequantizePerLane(x, b.q);
}

// BlockRequant of the row blocks [row_begin / 8, (row_end + 7) / 8) of a per-channel matmul (the last
// block's unused lanes repeat the last row's multiplier), in a per-thread buffer: made once per call
// instead of once per block and input row. Null without channel.
inline const BlockRequant* PerLaneConstants(const QuantizedMultiplier* channel, int rows, int row_begin,
                                            int row_end, Rounding rounding) {
  if (channel == nullptr) return nullptr;
  thread_local std::vector<BlockRequant> blocks;
  const int first_block = row_begin / 8, end_block = (row_end + 7) / 8;
  blocks.resize(static_cast<size_t>(end_block - first_block));
  const bool single = rounding == Rounding::kSingle;
  for (int rb = first_block; rb < end_block; ++rb) {
    const int r0 = rb * 8;
    QuantizedMultiplier tail[8];
    const QuantizedMultiplier* lanes = channel + r0;
    if (r0 + 8 > rows) {
      for (int j = 0; j < 8; ++j) tail[j] = channel[std::min(r0 + j, rows - 1)];
      lanes = tail;
    }
    BlockRequant& b = blocks[static_cast<size_t>(rb - first_block)];
    // PotMultiplier of all 8 lanes at once (this ran for every block of every call: ~11 % of the
    // LSTM's step at B = 1, H = 256, pot, as a scalar loop): M == 2^30 and -31 <= shift <= 0.
    __m256i multiplier, shift;
    SplitMultipliers(lanes, &multiplier, &shift);
    const __m256i not_pot = _mm256_or_si256(
        _mm256_xor_si256(_mm256_cmpeq_epi32(multiplier, _mm256_set1_epi32(int32_t{1} << 30)), _mm256_set1_epi32(-1)),
        _mm256_or_si256(_mm256_cmpgt_epi32(shift, _mm256_setzero_si256()),
                        _mm256_cmpgt_epi32(_mm256_set1_epi32(-31), shift)));
    b.pot = single && _mm256_testz_si256(not_pot, not_pot) != 0;
    if (b.pot) {  // (q unused)
      b.pot_right = _mm256_sub_epi32(_mm256_setzero_si256(), shift);
    } else {
      b.q = MakeRequantPerLane(lanes, rounding);
    }
  }
  return blocks.data();
}

// The end of a packed matmul's row block (both AVX2-family packed kernels): adds the per-row addends
// (row_fold, or nothing where `fold` is null; bias; `correction`, per input row, where not null) to the 8
// row sums of block rb, requantizes them (per tensor, or per row with lanes) and stores the valid rows
// of input row b.
struct PackedFinish {
  const int32_t* fold;        // [rows padded to blocks of 8] or null
  const int32_t* bias;        // [rows] or null
  const int32_t* correction;  // [batch][correction_stride], row r at r - row_begin, or null
  int64_t correction_stride;
  Requant per_tensor;          // where lanes is null
  const BlockRequant* lanes;  // per-row multipliers' constants per row block from first_block (PerLaneConstants), or null
  int rows, row_begin, row_end, first_block;
  int32_t* out;

  inline void operator()(__m256i sums, int rb, int b) const {
    const int r0 = rb * 8, valid = std::min(8, row_end - r0);
    __m256i add = fold != nullptr ? Load256(fold + r0) : _mm256_setzero_si256();  // fold: padded to whole blocks
    if (bias != nullptr) {
      if (valid == 8) {
        add = _mm256_add_epi32(add, Load256(bias + r0));
      } else {
        alignas(32) int32_t bias8[8] = {};
        CopyElements(bias8, bias + r0, valid);
        add = _mm256_add_epi32(add, Load256(bias8));
      }
    }
    if (correction != nullptr) {
      alignas(32) int32_t c8[8] = {};
      CopyElements(c8, correction + b * correction_stride + (r0 - row_begin), valid);
      add = _mm256_add_epi32(add, Load256(c8));
    }
    sums = _mm256_add_epi32(sums, add);  // wraps, as the reference's uint32 sums
    __m256i result;
    if (lanes == nullptr) {
      result = Requantize(sums, per_tensor);
    } else {
      result = RequantizeBlock(sums, lanes[rb - first_block]);
    }
    int32_t* ob = out + static_cast<int64_t>(b) * rows + r0;
    if (valid == 8) {
      Store256(ob, result);
    } else {
      alignas(32) int32_t result8[8];
      Store256(result8, result);
      CopyElements(ob, result8, valid);
    }
  }
};

// The per-tensor requantizer of a packed matmul, or nothing where `channel` gives per-row multipliers
// (m is then unused and need not be valid).
inline Requant PerTensor(QuantizedMultiplier m, const QuantizedMultiplier* channel, Rounding rounding) {
  return channel == nullptr ? MakeRequant(m, rounding) : Requant{};
}

// The loops of both packed kernels over input rows and row blocks: four input rows share each weight
// load (2 row blocks at a time, each pair of blocks for all groups of four rows), the other input rows
// run eight row blocks at a time. tile<NB, NR>(block
// pointer, input row index, sums) computes NB x NR accumulators of 8 row sums.
// `reverse` mirrors the walk over the row blocks (from the last, in the same chunks: each block's sums
// are the same either way), for callers that alternate the direction step by step (the rows read last
// are still in L2 when the next step starts: GemvPackedRequantWalkS32).
template <typename TileFn>
inline void PackedLoops(const PackedS8& w, int row_begin, int row_end, int batch, const PackedFinish& finish,
                        const TileFn& tile, bool reverse = false) {
  const int groups = (w.cols + 3) / 4;
  const int first_block = row_begin / 8, blocks = (row_end + 7) / 8;  // block indices [first_block, blocks)
  const int64_t block_stride = int64_t{groups} * 32;
  __m256i acc[8];
  const int batch4 = batch / 4 * 4;
  if (batch4 > 0) {  // the row blocks (two at a time) outside: their weights stay in L1 for every input row
    const auto two = [&](int rb) {
      for (int b = 0; b < batch4; b += 4) {
        tile(std::integral_constant<int, 4>(), std::integral_constant<int, 2>(), w.data.data() + rb * block_stride, b, acc);
        for (int i = 0; i < 4; ++i) {
          finish(acc[2 * i], rb, b + i);
          finish(acc[2 * i + 1], rb + 1, b + i);
        }
      }
    };
    const auto one = [&](int rb) {
      for (int b = 0; b < batch4; b += 4) {
        tile(std::integral_constant<int, 4>(), std::integral_constant<int, 1>(), w.data.data() + rb * block_stride, b, acc);
        for (int i = 0; i < 4; ++i) finish(acc[i], rb, b + i);
      }
    };
    const int pairs_end = first_block + (blocks - first_block) / 2 * 2;  // [first_block, pairs_end): pairs
    if (!reverse) {
      for (int rb = first_block; rb < pairs_end; rb += 2) two(rb);
      if (pairs_end < blocks) one(pairs_end);
    } else {
      if (pairs_end < blocks) one(pairs_end);
      for (int rb = pairs_end - 2; rb >= first_block; rb -= 2) two(rb);
    }
  }
  for (int b = batch4; b < batch; ++b) {
    const auto eight = [&](int rb) {
      tile(std::integral_constant<int, 1>(), std::integral_constant<int, 8>(), w.data.data() + rb * block_stride, b, acc);
      for (int j = 0; j < 8; ++j) finish(acc[j], rb + j, b);
    };
    const auto one = [&](int rb) {
      tile(std::integral_constant<int, 1>(), std::integral_constant<int, 1>(), w.data.data() + rb * block_stride, b, acc);
      finish(acc[0], rb, b);
    };
    const int whole = first_block + (blocks - first_block) / 8 * 8;  // [first_block, whole): chunks of 8
    if (!reverse) {
      for (int rb = first_block; rb < whole; rb += 8) eight(rb);
      for (int rb = whole; rb < blocks; ++rb) one(rb);
    } else {
      for (int rb = blocks - 1; rb >= whole; --rb) one(rb);
      for (int rb = whole - 8; rb >= first_block; rb -= 8) eight(rb);
    }
  }
}

// The inputs x [batch][cols] as unsigned bytes x ^ 0x80 = x + 128, each row padded with zeros to
// `padded` bytes (whole groups of 4; the padding meets zero weights), in a per-thread buffer: the
// AVX-VNNI kernel's operand and the 7-bit AVX2 form's.
inline const uint8_t* UnsignedRows(const int8_t* x, int batch, int cols, size_t padded) {
  thread_local std::vector<uint8_t> unsigned_x;
  if (unsigned_x.size() < padded * batch) unsigned_x.resize(padded * batch);
  const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));
  for (int b = 0; b < batch; ++b) {
    const int8_t* xb = x + static_cast<int64_t>(b) * cols;
    uint8_t* ub = unsigned_x.data() + padded * b;
    int k = 0;
    for (; k + 32 <= cols; k += 32) Store256(ub + k, _mm256_xor_si256(Load256(xb + k), flip));
    for (; k < cols; ++k) ub[k] = static_cast<uint8_t>(xb[k]) ^ 0x80u;
    for (; k < static_cast<int>(padded); ++k) ub[k] = 0;
  }
  return unsigned_x.data();
}

IRNN_TARGET_VNNI void VnniGemvPackedRequantS32(const PackedS8& w, int row_begin, int row_end, const int32_t* bias,
                                               const int8_t* x, int batch, QuantizedMultiplier m,
                                               const QuantizedMultiplier* channel, Rounding rounding, int32_t* out) {
  if (row_end <= row_begin) return;
  const int cols = w.cols;
  const int groups = (cols + 3) / 4;
  const int64_t block_stride = int64_t{groups} * 32;
  // The inputs as unsigned bytes, each row padded to whole groups (the padding meets zero weights).
  const size_t padded = static_cast<size_t>(groups) * 4;
  const uint8_t* const unsigned_x = UnsignedRows(x, batch, cols, padded);
  const PackedFinish finish{w.row_fold.data(), bias,     nullptr,   0,          PerTensor(m, channel, rounding),
                            PerLaneConstants(channel, w.rows, row_begin, row_end, rounding),
                            w.rows,           row_begin, row_end, row_begin / 8, out};
  PackedLoops(w, row_begin, row_end, batch, finish, [&](auto nb, auto nr, const int8_t* blocks, int b, __m256i* acc) {
    const uint8_t* u[decltype(nb)::value];
    for (int i = 0; i < decltype(nb)::value; ++i) u[i] = unsigned_x + padded * (b + i);
    VnniTile<decltype(nb)::value, decltype(nr)::value>(blocks, block_stride, groups, u, acc);
  });
}

// ---- The packed matmul on AVX2: vpmaddubsw with the sign trick -----------------------------------
// vpmaddubsw multiplies unsigned by signed bytes and adds adjacent pairs into int16 lanes WITH
// saturation, so it is exact only while every pair sum fits int16. With a = |x| as unsigned bytes (in
// [0, 128]: vpabsb of -128 is 0x80) and b = w * sign(x) (vpsignb), a * b = x * w, and where |w| <= 127,
// |b| <= 127 and every pair sum is within 2 * 128 * 127 = 32,512: no saturation. vpmaddwd with ones then
// adds the pairs into the four-column int32 sums of vpdpbusd's layout (exact), accumulated with wrapping
// vpaddd. A weight of -128 (|w| = 128 would overflow b) is packed as -127 and listed (int8_min_start,
// int8_min_cols); the kernel adds -x[k] for each listed (row, column) to that row's sums before
// requantizing: w x = -127 x - x. So every sum is the reference's, for all int8 weights and inputs.
// The layout is VnniPackS8's (blocks of 8 rows x 4 columns), without a fold.
// Where every weight of the matrix lies in [-64, 63] (7-bit weights, as a quantizer with a reduced
// weight range gives them: ONNX Runtime's AVX2 int8 kernels rely on it), one instruction less per 32
// MACs: a = x + 128 as unsigned bytes (x ^ 0x80, in [0, 255]) and b = w itself, every pair sum within
// 2 * 255 * 64 = 32,640, so vpmaddubsw never saturates; AVX-VNNI's fold row_fold[r] = -128 sum_k w[r][k]
// restores sum_k x_k w_k (wrapping, as the reference). SignPackS8 fills row_fold exactly then, and the
// kernel takes this form where row_fold is not empty: the same results, for every input.

void SignPackS8(const int8_t* w, int rows, int cols, PackedS8* out) {
  const int64_t blocks = (rows + 7) / 8, groups = (cols + 3) / 4;
  out->rows = rows;
  out->cols = cols;
  out->data.assign(static_cast<size_t>(blocks * groups * 32), 0);
  out->row_fold.clear();
  out->row_bound.clear();
  out->int8_min_start.clear();
  out->int8_min_cols.clear();
  bool any_min = false;
  bool narrow = true;  // every weight in [-64, 63]: the 7-bit form
  for (int r = 0; r < rows; ++r) {
    for (int k = 0; k < cols; ++k) {
      int8_t v = w[static_cast<int64_t>(r) * cols + k];
      narrow = narrow && v >= -64 && v <= 63;
      if (v == -128) {
        any_min = true;
        v = -127;
      }
      out->data[static_cast<size_t>(((r / 8) * groups + k / 4) * 32 + (r % 8) * 4 + k % 4)] = v;
    }
  }
  if (narrow) UnsignedRowFold(w, rows, cols, &out->row_fold);
  if (!any_min) return;
  out->int8_min_start.assign(static_cast<size_t>(rows) + 1, 0);
  for (int r = 0; r < rows; ++r) {
    for (int k = 0; k < cols; ++k) {
      if (w[static_cast<int64_t>(r) * cols + k] == -128) out->int8_min_cols.push_back(k);
    }
    out->int8_min_start[static_cast<size_t>(r) + 1] = static_cast<int32_t>(out->int8_min_cols.size());
  }
}

// NB input rows times NR row blocks: NB * NR accumulators of 8 row sums over all column groups. a[b]:
// |x| of input row b, s[b]: x itself (the signs), both padded with zeros to whole groups.
template <int NB, int NR>
inline void SignTile(const int8_t* blocks, int64_t block_stride, int groups, const uint8_t* const* a,
                     const int8_t* const* s, __m256i* out) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i acc[NB * NR];
  for (int i = 0; i < NB * NR; ++i) acc[i] = _mm256_setzero_si256();
  for (int kg = 0; kg < groups; ++kg) {
    if (NB == 1) {  // the input once, the row blocks' weights one after the other
      int32_t fa, fs;
      std::memcpy(&fa, a[0] + 4 * kg, 4);
      std::memcpy(&fs, s[0] + 4 * kg, 4);
      const __m256i av = _mm256_set1_epi32(fa), sv = _mm256_set1_epi32(fs);
      for (int j = 0; j < NR; ++j) {
        const __m256i wv = Load256(blocks + j * block_stride + 32 * kg);
        acc[j] = _mm256_add_epi32(acc[j], _mm256_madd_epi16(_mm256_maddubs_epi16(av, _mm256_sign_epi8(wv, sv)), ones));
      }
    } else {  // the weights once, each input row's bytes one after the other
      __m256i wv[NR];
      for (int j = 0; j < NR; ++j) wv[j] = Load256(blocks + j * block_stride + 32 * kg);
      for (int b = 0; b < NB; ++b) {
        int32_t fa, fs;
        std::memcpy(&fa, a[b] + 4 * kg, 4);
        std::memcpy(&fs, s[b] + 4 * kg, 4);
        const __m256i av = _mm256_set1_epi32(fa), sv = _mm256_set1_epi32(fs);
        for (int j = 0; j < NR; ++j) {
          acc[b * NR + j] = _mm256_add_epi32(
              acc[b * NR + j], _mm256_madd_epi16(_mm256_maddubs_epi16(av, _mm256_sign_epi8(wv[j], sv)), ones));
        }
      }
    }
  }
  for (int i = 0; i < NB * NR; ++i) out[i] = acc[i];
}

// NB input rows times NR row blocks of a 7-bit matrix (SignPackS8's row_fold): VnniTile's loop with
// vpmaddubsw + vpmaddwd by ones + vpaddd for vpdpbusd. u[b]: x + 128 of input row b, padded with zeros.
// (Not one template with VnniTile: that one must carry IRNN_TARGET_VNNI, this one must not.)
template <int NB, int NR>
inline void NarrowTile(const int8_t* blocks, int64_t block_stride, int groups, const uint8_t* const* u,
                       __m256i* out) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i acc[NB * NR];
  for (int i = 0; i < NB * NR; ++i) acc[i] = _mm256_setzero_si256();
  for (int kg = 0; kg < groups; ++kg) {
    __m256i xb[NB];
    for (int b = 0; b < NB; ++b) {
      int32_t four;
      std::memcpy(&four, u[b] + 4 * kg, 4);
      xb[b] = _mm256_set1_epi32(four);
    }
    for (int j = 0; j < NR; ++j) {
      const __m256i wv = Load256(blocks + j * block_stride + 32 * kg);
      for (int b = 0; b < NB; ++b) {
        acc[b * NR + j] = _mm256_add_epi32(acc[b * NR + j], _mm256_madd_epi16(_mm256_maddubs_epi16(xb[b], wv), ones));
      }
    }
  }
  for (int i = 0; i < NB * NR; ++i) out[i] = acc[i];
}

// The 7-bit form of SignGemvPackedRequantWalkS32 (w.row_fold filled by SignPackS8).
void NarrowGemvPackedRequantWalkS32(const PackedS8& w, int row_begin, int row_end, const int32_t* bias,
                                    const int8_t* x, int batch, QuantizedMultiplier m,
                                    const QuantizedMultiplier* channel, Rounding rounding, int32_t* out, bool reverse) {
  const int cols = w.cols;
  const int groups = (cols + 3) / 4;
  const int64_t block_stride = int64_t{groups} * 32;
  const size_t padded = static_cast<size_t>(groups) * 4;
  const uint8_t* const unsigned_x = UnsignedRows(x, batch, cols, padded);
  const PackedFinish finish{w.row_fold.data(), bias,     nullptr,   0,          PerTensor(m, channel, rounding),
                            PerLaneConstants(channel, w.rows, row_begin, row_end, rounding),
                            w.rows,           row_begin, row_end, row_begin / 8, out};
  PackedLoops(w, row_begin, row_end, batch, finish, [&](auto nb, auto nr, const int8_t* blocks, int b, __m256i* acc) {
    const uint8_t* u[decltype(nb)::value];
    for (int i = 0; i < decltype(nb)::value; ++i) u[i] = unsigned_x + padded * (b + i);
    NarrowTile<decltype(nb)::value, decltype(nr)::value>(blocks, block_stride, groups, u, acc);
  }, reverse);
}

void SignGemvPackedRequantWalkS32(const PackedS8& w, int row_begin, int row_end, const int32_t* bias,
                                  const int8_t* x, int batch, QuantizedMultiplier m, const QuantizedMultiplier* channel,
                                  Rounding rounding, int32_t* out, bool reverse) {
  if (row_end <= row_begin) return;
  if (!w.row_fold.empty()) {
    NarrowGemvPackedRequantWalkS32(w, row_begin, row_end, bias, x, batch, m, channel, rounding, out, reverse);
    return;
  }
  const int cols = w.cols;
  const int groups = (cols + 3) / 4;
  const int64_t block_stride = int64_t{groups} * 32;
  // |x| and x, each row padded with zeros to whole groups (the padding meets zero weights).
  thread_local std::vector<uint8_t> abs_x;
  thread_local std::vector<int8_t> sign_x;
  const size_t padded = static_cast<size_t>(groups) * 4;
  if (abs_x.size() < padded * batch) {
    abs_x.resize(padded * batch);
    sign_x.resize(padded * batch);
  }
  for (int b = 0; b < batch; ++b) {
    const int8_t* xb = x + static_cast<int64_t>(b) * cols;
    uint8_t* ab = abs_x.data() + padded * b;
    int8_t* sb = sign_x.data() + padded * b;
    int k = 0;
    for (; k + 32 <= cols; k += 32) {
      const __m256i v = Load256(xb + k);
      Store256(sb + k, v);
      Store256(ab + k, _mm256_abs_epi8(v));
    }
    for (; k < cols; ++k) {
      sb[k] = xb[k];
      ab[k] = static_cast<uint8_t>(std::abs(int{xb[k]}));
    }
    for (; k < static_cast<int>(padded); ++k) ab[k] = sb[k] = 0;
  }
  // The -128 weights' -x[k] per (input row, row of the range).
  thread_local std::vector<int32_t> correction;
  const int range = row_end - row_begin;
  const bool corrected = !w.int8_min_start.empty();
  if (corrected) {
    if (correction.size() < static_cast<size_t>(range) * batch) correction.resize(static_cast<size_t>(range) * batch);
    for (int b = 0; b < batch; ++b) {
      const int8_t* xb = x + static_cast<int64_t>(b) * cols;
      for (int r = row_begin; r < row_end; ++r) {
        uint32_t sum = 0;
        for (int32_t i = w.int8_min_start[static_cast<size_t>(r)]; i < w.int8_min_start[static_cast<size_t>(r) + 1]; ++i) {
          sum -= static_cast<uint32_t>(int32_t{xb[w.int8_min_cols[static_cast<size_t>(i)]]});
        }
        correction[static_cast<size_t>(b) * range + (r - row_begin)] = static_cast<int32_t>(sum);
      }
    }
  }
  const PackedFinish finish{nullptr, bias, corrected ? correction.data() : nullptr, range,
                            PerTensor(m, channel, rounding), PerLaneConstants(channel, w.rows, row_begin, row_end, rounding),
                            w.rows, row_begin, row_end, row_begin / 8, out};
  PackedLoops(w, row_begin, row_end, batch, finish, [&](auto nb, auto nr, const int8_t* blocks, int b, __m256i* acc) {
    const uint8_t* a[decltype(nb)::value];
    const int8_t* sg[decltype(nb)::value];
    for (int i = 0; i < decltype(nb)::value; ++i) {
      a[i] = abs_x.data() + padded * (b + i);
      sg[i] = sign_x.data() + padded * (b + i);
    }
    SignTile<decltype(nb)::value, decltype(nr)::value>(blocks, block_stride, groups, a, sg, acc);
  }, reverse);
}

void SignGemvPackedRequantS32(const PackedS8& w, int row_begin, int row_end, const int32_t* bias, const int8_t* x,
                              int batch, QuantizedMultiplier m, const QuantizedMultiplier* channel, Rounding rounding,
                              int32_t* out) {
  SignGemvPackedRequantWalkS32(w, row_begin, row_end, bias, x, batch, m, channel, rounding, out, false);
}

}  // namespace

const int16_t* ActivationTableS16(int tanh_integer_bits) {
  return tanh_integer_bits < 0 ? LogisticTable() : TanhTable(tanh_integer_bits);
}

void LstmGatesS16Tables(const LstmGateEpilogue& e, void (*look_up)(const int16_t* table, int16_t* v, int n)) {
  LstmGatesS16WithLookUp(e, look_up);
}

void RequantizeS32RowsInPlace(int32_t* v, int rows, int64_t stride, int n, const QuantizedMultiplier* channel,
                              Rounding rounding) {
  // Lane groups outer, rows inner: each group's per-lane constants are made once for all rows.
  for (int i = 0; i < n; i += 8) {
    const int valid = std::min(8, n - i);
    QuantizedMultiplier lanes[8];
    if (valid < 8) {
      for (int j = 0; j < 8; ++j) lanes[j] = channel[i + std::min(j, valid - 1)];
    }
    const RequantPerLane q = MakeRequantPerLane(valid == 8 ? channel + i : lanes, rounding);
    for (int r = 0; r < rows; ++r) {
      int32_t* p = v + r * stride + i;
      if (valid == 8) {
        Store256(p, RequantizePerLane(Load256(p), q));
      } else {
        alignas(32) int32_t t[8] = {};
        CopyElements(t, p, valid);
        Store256(t, RequantizePerLane(Load256(t), q));
        CopyElements(p, t, valid);
      }
    }
  }
}

void RequantizeS32InPlace(int32_t* v, int n, QuantizedMultiplier m, const QuantizedMultiplier* channel,
                          Rounding rounding) {
  if (channel == nullptr) {
    const Requant q = MakeRequant(m, rounding);
    int i = 0;
    for (; i + 8 <= n; i += 8) Store256(v + i, Requantize(Load256(v + i), q));
    if (i < n) {
      alignas(32) int32_t t[8] = {};
      CopyElements(t, v + i, n - i);
      Store256(t, Requantize(Load256(t), q));
      CopyElements(v + i, t, n - i);
    }
    return;
  }
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    Store256(v + i, RequantizePerLane(Load256(v + i), MakeRequantPerLane(channel + i, rounding)));
  }
  for (; i < n; i += 8) {
    const int valid = std::min(8, n - i);
    QuantizedMultiplier lanes[8];
    for (int j = 0; j < 8; ++j) lanes[j] = channel[i + std::min(j, valid - 1)];
    alignas(32) int32_t t[8] = {};
    CopyElements(t, v + i, valid);
    Store256(t, RequantizePerLane(Load256(t), MakeRequantPerLane(lanes, rounding)));
    CopyElements(v + i, t, valid);
  }
}

const LstmKernels* LstmKernelTable() {
  static const LstmKernels table = {
      GemvS8S8RequantS32, GemvS8S8RequantPerChannelS32, AddSatS32IntoS16,  AddSatS32IntoS32,
      SaturateS32ToS16,   PeepholeRequantS32,           LayerNormS16,      LogisticQ3S16,
      TanhS16,            LstmCellUpdateS16,            MulRequantS16ToS8, AddZeroPointClampS32ToS8,
      SignPackS8,         SignGemvPackedRequantS32,
      LstmGatesS16,       nullptr,            nullptr,           nullptr,
      GruGatesS16,        nullptr,            SignGemvPackedRequantWalkS32,
  };
  return &table;
}

const LstmKernels* AvxVnniLstmKernelTable() {
  static const LstmKernels table = [] {
    LstmKernels t = *LstmKernelTable();
    t.PackS8 = VnniPackS8;
    t.GemvPackedRequantS32 = VnniGemvPackedRequantS32;
    t.GemvPackedRequantWalkS32 = nullptr;  // the AVX2 walk reads SignPackS8's layout (no fold)
    return t;
  }();
  return &table;
}

}  // namespace avx2
}  // namespace irnn
