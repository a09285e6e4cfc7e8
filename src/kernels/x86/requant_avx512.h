// MultiplyByQuantizedMultiplier (numerics.md §1.3) on 16 int32 lanes of a zmm register, shared by the
// AVX-512 VNNI/AMX kernels (lstm_kernels_avx512.cc) and the fused streaming step (lstm_stream_avx512.cc).
// Bit for bit the scalar reference's MBQM; tested through every kernel that uses it. Internal to
// src/kernels/x86/ (an anonymous namespace: each file gets its own inline copies).
// RequantizeRight512 (last below) is a shorter exact form for the common case of a right shift (shift <=
// -1), used by the AVX-512 recurrent step and the AMX input projection.
// The per-lane form's constants (one multiplier per lane) live with their one user, lstm_stream_avx512.cc,
// which shares this file's arithmetic cores. Not here: the ymm form (lstm_kernels_avx2.cc's Requant).
#pragma once

#include <immintrin.h>

#include <climits>
#include <cstdint>

#include "core/fixed_point.h"
#include "irnn/quantization.h"

#define IRNN_TARGET_REQUANT512 __attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")))

namespace irnn {
namespace avx512 {
namespace {

// MultiplyByQuantizedMultiplier on 16 int32 lanes (numerics.md §1.3), the zmm form of the AVX2 file's
// Requant (see there for why each step is exact): double rounding = saturating x << left, SRDHM as
// floor((a*M + 2^30) / 2^31) from two vpmuldq halves, RoundingDivideByPOT(right); single rounding =
// (x*M + 2^(t-1)) >> t in 64 bits (vpsraq), t = 31 - shift, then sat32.
struct Requant512 {
  bool single;
  bool left_shift;  // shift > 0: the saturating left shift is needed (else it is the identity)
  __m512i multiplier;
  __m512i left;     // per-lane shift counts (the variable-shift forms)
  __m512i left_lo;  // INT32_MIN >> left
  __m512i left_hi;  // INT32_MAX >> left
  bool srdhm_overflow;  // M == INT32_MIN
  __m512i right;
  __m512i right_mask;
  __m512i right_half_mask;
  __m512i round64;
  __m512i total_shift;
};

IRNN_TARGET_REQUANT512 inline Requant512 MakeRequant512(QuantizedMultiplier m, Rounding rounding) {
  const int left = m.shift > 0 ? m.shift : 0;
  const int right = m.shift > 0 ? 0 : -m.shift;
  const int total_shift = 31 - m.shift;
  const uint32_t mask = (uint32_t{1} << right) - 1u;
  Requant512 q;
  q.single = rounding == Rounding::kSingle;
  q.left_shift = left > 0;
  q.multiplier = _mm512_set1_epi32(m.multiplier);
  q.left = _mm512_set1_epi32(left);
  q.left_lo = _mm512_set1_epi32(INT32_MIN >> left);
  q.left_hi = _mm512_set1_epi32(INT32_MAX >> left);
  q.srdhm_overflow = m.multiplier == INT32_MIN;
  q.right = _mm512_set1_epi32(right);
  q.right_mask = _mm512_set1_epi32(static_cast<int32_t>(mask));
  q.right_half_mask = _mm512_set1_epi32(static_cast<int32_t>(mask >> 1));
  q.round64 = _mm512_set1_epi64(int64_t{1} << (total_shift - 1));
  q.total_shift = _mm512_set1_epi64(total_shift);
  return q;
}

// The arithmetic the uniform form (Requantize512) and the per-lane one (lstm_stream_avx512.cc's
// RequantizeLanes512) share once their constants are vectors. m_odd holds the odd lanes' multipliers in
// the low dwords of its qwords (a set1_epi32 vector serves as is).
// Single rounding: (x*M + round) >> t in 64 bits, round and t per qword, then sat32.
IRNN_TARGET_REQUANT512 inline __m512i SingleRoundingCore512(__m512i x, __m512i m_even, __m512i m_odd, __m512i round_even,
                                                            __m512i round_odd, __m512i t_even, __m512i t_odd) {
  const __m512i min64 = _mm512_set1_epi64(INT32_MIN), max64 = _mm512_set1_epi64(INT32_MAX);
  __m512i even = _mm512_add_epi64(_mm512_mul_epi32(x, m_even), round_even);
  __m512i odd = _mm512_add_epi64(_mm512_mul_epi32(_mm512_srli_epi64(x, 32), m_odd), round_odd);
  even = _mm512_min_epi64(_mm512_max_epi64(_mm512_srav_epi64(even, t_even), min64), max64);
  odd = _mm512_min_epi64(_mm512_max_epi64(_mm512_srav_epi64(odd, t_odd), min64), max64);
  return _mm512_mask_blend_epi32(0xAAAA, even, _mm512_slli_epi64(odd, 32));
}

// Double rounding's saturating x << left (per-lane counts; lo/hi = INT32_MIN/INT32_MAX >> left).
IRNN_TARGET_REQUANT512 inline __m512i SaturatingLeftShift512(__m512i x, __m512i left, __m512i lo, __m512i hi) {
  const __m512i a = _mm512_sllv_epi32(_mm512_max_epi32(x, lo), left);
  return _mm512_mask_mov_epi32(a, _mm512_cmpgt_epi32_mask(x, hi), _mm512_set1_epi32(INT32_MAX));
}

// Double rounding after the left shift: SRDHM of a as floor((a*M + 2^30) / 2^31) from two vpmuldq
// halves (with kOverflowCheck, the lanes where a == M == INT32_MIN saturate to INT32_MAX, as the
// reference does), then RoundingDivideByPOT by the per-lane right shift.
template <bool kOverflowCheck>
IRNN_TARGET_REQUANT512 inline __m512i DoubleRoundingCore512(__m512i a, __m512i m_even, __m512i m_odd, __m512i right,
                                                            __m512i right_mask, __m512i right_half_mask) {
  const __m512i nudge = _mm512_set1_epi64(int64_t{1} << 30);
  const __m512i even = _mm512_add_epi64(_mm512_mul_epi32(a, m_even), nudge);
  const __m512i odd = _mm512_add_epi64(_mm512_mul_epi32(_mm512_srli_epi64(a, 32), m_odd), nudge);
  __m512i high = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(even, 31), _mm512_slli_epi64(odd, 1));
  if (kOverflowCheck) {
    const __m512i min32 = _mm512_set1_epi32(INT32_MIN);
    const __mmask16 overflow = _mm512_cmpeq_epi32_mask(a, min32) & _mm512_cmpeq_epi32_mask(m_even, min32);
    high = _mm512_mask_mov_epi32(high, overflow, _mm512_set1_epi32(INT32_MAX));
  }
  const __m512i remainder = _mm512_and_si512(high, right_mask);
  const __m512i threshold = _mm512_sub_epi32(right_half_mask, _mm512_srai_epi32(high, 31));
  const __m512i shifted = _mm512_srav_epi32(high, right);
  return _mm512_mask_add_epi32(shifted, _mm512_cmpgt_epi32_mask(remainder, threshold), shifted,
                               _mm512_set1_epi32(1));
}

IRNN_TARGET_REQUANT512 inline __m512i Requantize512(__m512i x, const Requant512& q) {
  if (q.single) {
    return SingleRoundingCore512(x, q.multiplier, q.multiplier, q.round64, q.round64, q.total_shift, q.total_shift);
  }
  const __m512i a = q.left_shift ? SaturatingLeftShift512(x, q.left, q.left_lo, q.left_hi) : x;
  return q.srdhm_overflow  // M == INT32_MIN
             ? DoubleRoundingCore512<true>(a, q.multiplier, q.multiplier, q.right, q.right_mask, q.right_half_mask)
             : DoubleRoundingCore512<false>(a, q.multiplier, q.multiplier, q.right, q.right_mask, q.right_half_mask);
}

// MBQM (numerics.md §1.3) for a right shift only (shift <= -1, r = -shift >= 1) and a multiplier other
// than INT32_MIN, with an integer z added to the result (folded into the constant: the hidden state's
// zero point; 0 elsewhere): 11 ops on 16 lanes instead of Requantize512's 14 (+ the add). With P = x*M
// (exact in 64 bits, |P| < 2^62) and s = 31 + r:
//   double rounding: SRDHM(x, M) = h = floor((P + 2^30) / 2^31) (the reference's truncating division with
//     its nudge 2^30 or 1 - 2^30 is this floor on both signs; no saturation: M != INT32_MIN), and
//     RoundingDivideByPOT(h, r) = floor((h + 2^(r-1) - [h < 0]) / 2^r) (remainder > threshold is
//     remainder + 2^(r-1) - [h < 0] >= 2^r). Nested floors of integers merge, floor((floor(a/2^31) + b)
//     / 2^r) = floor((a + 2^31 b) / 2^(31+r)), and h < 0 exactly when P < -2^30, so
//       MBQM(x) + z = floor((P + 2^30 + 2^(30+r) - 2^31 [P < -2^30] + z 2^s) / 2^s);
//   single rounding: (P + 2^(s-1)) >> s, s >= 32, so |result| <= 2^30 and the reference's sat32 never
//     acts: MBQM(x) + z = floor((P + 2^(s-1) + z 2^s) / 2^s).
// Both sums stay below 2^63 in magnitude when |z| 2^s <= 2^61 (MakeRequantRight512 refuses other z), and
// |MBQM(x)| <= 2^30 (|h| < 2^31, r >= 1). Even lanes: vpmuldq of the lanes' low dwords, vpsraq by s leaves
// the result in the low dword. Odd lanes: the caller passes a vector whose qwords hold the odd values in
// their low dwords (x >> 32 per qword, or the same sums loaded 4 bytes further on), and vpsraq by s - 32 =
// r - 1 leaves floor(. / 2^s) in the high dword (an arithmetic shift of 64 bits then taking the high half
// is a floor division by 2^32). One blend takes the even lanes' low and the odd lanes' high dwords.
struct RequantRight512 {
  __m512i multiplier;  // M in every dword (vpmuldq reads the low one of each qword)
  __m512i constant;    // 64-bit: the rounding constant plus z * 2^s
  __m512i limit;       // 64-bit -2^30: P below it is h < 0 (double rounding)
  __m512i half;        // 64-bit 2^31
  __m512i shift_even;  // s
  __m512i shift_odd;   // s - 32
};

// True when m and z meet RequantRight512's conditions: shift <= -1, multiplier != INT32_MIN, |z| 2^s <= 2^61.
inline bool RequantRightApplies(QuantizedMultiplier m, int32_t z) {
  if (m.shift > -1 || m.shift < -31 || m.multiplier == INT32_MIN) return false;
  const int s = 31 - m.shift;
  const int64_t magnitude = z < 0 ? -int64_t{z} : int64_t{z};
  return s <= 61 ? magnitude <= (int64_t{1} << (61 - s)) : z == 0;
}

IRNN_TARGET_REQUANT512 inline RequantRight512 MakeRequantRight512(QuantizedMultiplier m, Rounding rounding,
                                                                  int32_t z) {
  const int r = -m.shift, s = 31 + r;
  const int64_t round = rounding == Rounding::kSingle ? int64_t{1} << (s - 1)
                                                      : (int64_t{1} << 30) + (int64_t{1} << (30 + r));
  RequantRight512 q;
  q.multiplier = _mm512_set1_epi32(m.multiplier);
  q.constant = _mm512_set1_epi64(round + static_cast<int64_t>(static_cast<uint64_t>(int64_t{z}) << s));
  q.limit = _mm512_set1_epi64(-(int64_t{1} << 30));
  q.half = _mm512_set1_epi64(int64_t{1} << 31);
  q.shift_even = _mm512_set1_epi64(s);
  q.shift_odd = _mm512_set1_epi64(s - 32);
  return q;
}

// even: the 16 values x; odd: x's odd lanes in the low dwords of the qwords. kDouble: the rounding.
template <bool kDouble>
IRNN_TARGET_REQUANT512 inline __m512i RequantizeRight512(__m512i even, __m512i odd, const RequantRight512& q) {
  const __m512i pe = _mm512_mul_epi32(even, q.multiplier);
  const __m512i po = _mm512_mul_epi32(odd, q.multiplier);
  __m512i ae = _mm512_add_epi64(pe, q.constant);
  __m512i ao = _mm512_add_epi64(po, q.constant);
  if (kDouble) {
    ae = _mm512_mask_sub_epi64(ae, _mm512_cmplt_epi64_mask(pe, q.limit), ae, q.half);
    ao = _mm512_mask_sub_epi64(ao, _mm512_cmplt_epi64_mask(po, q.limit), ao, q.half);
  }
  return _mm512_mask_blend_epi32(0xAAAA, _mm512_srav_epi64(ae, q.shift_even), _mm512_srav_epi64(ao, q.shift_odd));
}

// ---- Per-row multipliers (numerics.md §7.1): the sequence-mode and streaming kernels ---------------

// MBQM with one (multiplier, shift) per lane, Requantize512's arithmetic with per-lane constants:
// left = max(shift, 0), right = max(-shift, 0), left_lo/left_hi = INT32_MIN/INT32_MAX >> left,
// right_mask = 2^right - 1, right_half_mask = right_mask >> 1; single rounding per 64-bit product with
// t = 31 - shift, round = 2^(t-1).
struct RequantRows512 {
  __m512i multiplier;      // the lanes' M (even lanes use it as is in vpmuldq)
  __m512i multiplier_odd;  // the odd lanes' M in the low dwords of the qwords
  __m512i left, left_lo, left_hi, right, right_mask, right_half_mask;
  __m512i round_even, round_odd, t_even, t_odd;
};

// The multipliers of rows m[0 .. valid - 1] (valid in 1..16; the other lanes get (0, 0)).
IRNN_TARGET_REQUANT512 inline RequantRows512 MakeRequantRows512(const QuantizedMultiplier* m, int valid) {
  static_assert(sizeof(QuantizedMultiplier) == 8, "QuantizedMultiplier is (int32 multiplier, int32 shift)");
  const int pairs_lo = valid < 8 ? valid : 8, pairs_hi = valid > 8 ? valid - 8 : 0;
  const __mmask16 lo_mask = static_cast<__mmask16>((1u << (2 * pairs_lo)) - 1u);
  const __mmask16 hi_mask = static_cast<__mmask16>((1u << (2 * pairs_hi)) - 1u);
  const int32_t* p = reinterpret_cast<const int32_t*>(m);
  const __m512i lo = _mm512_maskz_loadu_epi32(lo_mask, p);
  const __m512i hi = _mm512_maskz_loadu_epi32(hi_mask, p + 16);
  const __m512i even_idx = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd_idx = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  const __m512i multiplier = _mm512_permutex2var_epi32(lo, even_idx, hi);
  const __m512i shift = _mm512_permutex2var_epi32(lo, odd_idx, hi);
  const __m512i zero = _mm512_setzero_si512(), one = _mm512_set1_epi32(1);
  RequantRows512 q;
  q.multiplier = multiplier;
  q.multiplier_odd = _mm512_srli_epi64(multiplier, 32);
  q.left = _mm512_max_epi32(shift, zero);
  q.right = _mm512_max_epi32(_mm512_sub_epi32(zero, shift), zero);
  q.left_lo = _mm512_srav_epi32(_mm512_set1_epi32(INT32_MIN), q.left);
  q.left_hi = _mm512_srav_epi32(_mm512_set1_epi32(INT32_MAX), q.left);
  q.right_mask = _mm512_sub_epi32(_mm512_sllv_epi32(one, q.right), one);
  q.right_half_mask = _mm512_srli_epi32(q.right_mask, 1);
  // t = 31 - shift in [1, 62] (0 lanes: 31), positive: its int32 lanes zero-extend into 64 bits.
  const __m512i t = _mm512_sub_epi32(_mm512_set1_epi32(31), shift);
  const __m512i one64 = _mm512_set1_epi64(1);
  q.t_even = _mm512_and_si512(t, _mm512_set1_epi64(0xFFFFFFFF));
  q.t_odd = _mm512_srli_epi64(t, 32);
  q.round_even = _mm512_sllv_epi64(one64, _mm512_sub_epi64(q.t_even, one64));
  q.round_odd = _mm512_sllv_epi64(one64, _mm512_sub_epi64(q.t_odd, one64));
  return q;
}

template <bool kSingle>
IRNN_TARGET_REQUANT512 inline __m512i RequantizeRows512(__m512i x, const RequantRows512& q) {
  if (kSingle) {
    return SingleRoundingCore512(x, q.multiplier, q.multiplier_odd, q.round_even, q.round_odd, q.t_even, q.t_odd);
  }
  return DoubleRoundingCore512<true>(SaturatingLeftShift512(x, q.left, q.left_lo, q.left_hi), q.multiplier,
                                     q.multiplier_odd, q.right, q.right_mask, q.right_half_mask);
}

// The power-of-two case ("pot" models, numerics.md §7.1.1): single rounding with M = 2^30 and shift <= 0
// is sat32((x 2^30 + 2^(t-1)) >> t), t = 31 - shift, that is floor((x + 2^(k-1)) / 2^k) with k = 1 - shift
// >= 1 (|result| <= 2^30, and <= 2^29 for k >= 2: sat32 never acts). Nested floors merge: with r = k - 1 =
// -shift per lane and y = x >> r, it is floor((y + 1) / 2) = (y >> 1) + (y & 1), which never wraps (y + 1
// would for y = INT32_MAX, r = 0). right: r per lane, r >= 0.
IRNN_TARGET_REQUANT512 inline __m512i RequantizePot512(__m512i x, __m512i right) {
  const __m512i y = _mm512_srav_epi32(x, right);
  return _mm512_add_epi32(_mm512_srai_epi32(y, 1), _mm512_and_si512(y, _mm512_set1_epi32(1)));
}

// PotMultiplier (core/fixed_point.h) tells where a multiplier is such a power of two.

}  // namespace
}  // namespace avx512
}  // namespace irnn
