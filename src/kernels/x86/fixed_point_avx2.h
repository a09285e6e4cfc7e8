// The fixed-point logistic and tanh of docs/numerics.md §2.2-§2.4 (Qk int16 in, Q0.15 int16 out) on
// 16 int16 lanes of a ymm register with AVX2, bit for bit the scalar reference
// (src/core/fixed_point_math.cc) for every one of the 65,536 inputs and every k in [0, 6]. One function
// and one k per call (the constants are made once). Header-only so that the AVX2 LSTM kernels
// LogisticQ3S16 and TanhS16 (lstm_kernels_avx2.cc, which also fill the gate epilogue's tables with
// them) inline it; include it only from files compiled with -mavx2 (src/kernels/x86).
// It is not a specification: where it and the reference differ, it is wrong. Tested exhaustively
// (tests/kernels/fixed_point_simd_test.cc) through the entry points of fixed_point_simd.h.
//
// The steps are those of fixed_point_avx512.h, which lists why each instruction gives the reference's
// bits on the values that reach it (vpmulhrsw for the int16 SRDHM: no operand pair -32768 * -32768
// occurs; plain shifts where the reference's rescale cannot saturate; vpavgw for the two roundings of
// non-negative values). Without mask registers the barrel shifter blends with vpblendvb, logistic's
// mirror 32767 - v for a < 0 is v ^ 32767 (v in [0, 32767] borrows nothing), and tanh's sign and its
// a == 0 case are one vpsignw.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "kernels/x86/fixed_point_simd.h"

namespace irnn {
namespace avx2 {

// The constants of one activation, k in [0, 6]; the exp inside uses k' = k (logistic) or k + 1 (tanh).
struct ActivationConstants16 {
  bool tanh;
  __m128i shift;        // k': rescale Qk' -> Q0
  __m256i minus_quarter;  // -2^(13-k')
  int steps;            // barrel steps E = -2 .. k' - 1 (at most 7)
  __m256i step_bit[7];  // bit (15 - k') + E
  bool clamp;           // k' > 5: inputs below -32 in Qk' give 0
  __m256i clamp_below;
};

inline ActivationConstants16 MakeActivationConstants16(ActivationKind kind, int integer_bits) {
  ActivationConstants16 c;
  c.tanh = kind == ActivationKind::kTanh;
  const int k = c.tanh ? integer_bits + 1 : integer_bits;
  const int fractional_bits = 15 - k;
  c.shift = _mm_cvtsi32_si128(k);
  c.minus_quarter = _mm256_set1_epi16(static_cast<int16_t>(-(1 << (fractional_bits - 2))));
  c.steps = k + 2 > 7 ? 7 : k + 2;
  for (int s = 0; s < 7; ++s) {
    c.step_bit[s] = s < c.steps ? _mm256_set1_epi16(static_cast<int16_t>(1 << (fractional_bits + s - 2)))
                                : _mm256_setzero_si256();
  }
  c.clamp = k > 5;
  c.clamp_below = _mm256_set1_epi16(c.clamp ? FixedConstant16(-(1 << (36 - k))) : static_cast<int16_t>(-32768));
  return c;
}

// exp(y) for y in [-1/4, 0) in Q0 (numerics.md §2.2 step 2): the Taylor polynomial around -1/8.
inline __m256i ExpOnIntervalQ0x16(__m256i y) {
  const __m256i constant_term = _mm256_set1_epi16(FixedConstant16(1895147668));  // e^(-1/8)
  const __m256i one_third = _mm256_set1_epi16(FixedConstant16(715827883));
  const __m256i z = _mm256_add_epi16(y, _mm256_set1_epi16(1 << 12));  // y + 1/8, in [-4096, 4096)
  const __m256i z2 = _mm256_mulhrs_epi16(z, z);
  const __m256i z3 = _mm256_mulhrs_epi16(z2, z);
  const __m256i z4 = _mm256_mulhrs_epi16(z2, z2);
  const __m256i z4_over_4 = _mm256_mulhrs_epi16(z4, _mm256_set1_epi16(1 << 13));  // (z4 + 2) >> 2, z4 >= 0
  const __m256i s = _mm256_add_epi16(_mm256_mulhrs_epi16(_mm256_add_epi16(z4_over_4, z3), one_third), z2);
  const __m256i poly = _mm256_avg_epu16(s, _mm256_setzero_si256());  // RDivPOT(s, 1), s in [0, 534]
  return _mm256_adds_epi16(constant_term, _mm256_mulhrs_epi16(constant_term, _mm256_add_epi16(z, poly)));
}

// exp(n) for n <= 0 in Qk', result Q0.15 (numerics.md §2.2; the n == 0 case left out), as in
// fixed_point_avx512.h: r = n | -quarter, and the remainder's bit F + E is set where n's is clear.
inline __m256i ExpOnNegativeValuesQ15x16(__m256i n, const ActivationConstants16& c) {
  __m256i result = ExpOnIntervalQ0x16(_mm256_sll_epi16(_mm256_or_si256(n, c.minus_quarter), c.shift));
#pragma GCC unroll 7
  for (int s = 0; s < 7; ++s) {
    if (s == c.steps) break;
    const __m256i bit_set = _mm256_cmpeq_epi16(_mm256_and_si256(n, c.step_bit[s]), _mm256_setzero_si256());
    const __m256i product = _mm256_mulhrs_epi16(result, _mm256_set1_epi16(kExpStepMultiplier[s]));
    result = _mm256_blendv_epi8(result, product, bit_set);
  }
  if (c.clamp) result = _mm256_andnot_si256(_mm256_cmpgt_epi16(c.clamp_below, n), result);
  return result;
}

// logistic (numerics.md §2.3) or tanh (§2.4) of a, Qk -> Q0.15, as ActivationQ15x32 in
// fixed_point_avx512.h.
inline __m256i ActivationQ15x16(__m256i a, const ActivationConstants16& c) {
  const __m256i zero = _mm256_setzero_si256();
  const __m256i neg_abs = _mm256_min_epi16(a, _mm256_sub_epi16(zero, a));
  const __m256i e = ExpOnNegativeValuesQ15x16(neg_abs, c);
  const __m256i h = _mm256_avg_epu16(e, _mm256_set1_epi16(32767));
  const __m256i one_q2 = _mm256_set1_epi16(1 << 13);
  __m256i x = _mm256_add_epi16(_mm256_set1_epi16(FixedConstant16(1515870810)),                 // 48/17
                               _mm256_mulhrs_epi16(h, _mm256_set1_epi16(FixedConstant16(-1010580540))));  // -32/17
#pragma GCC unroll 3
  for (int i = 0; i < 3; ++i) {
    const __m256i one_minus = _mm256_sub_epi16(one_q2, _mm256_mulhrs_epi16(h, x));
    x = _mm256_add_epi16(x, _mm256_slli_epi16(_mm256_mulhrs_epi16(x, one_minus), 2));
  }
  if (c.tanh) {  // sat16(4 (x - 1)), then -t for a < 0 and 0 for a == 0
    __m256i t = _mm256_sub_epi16(x, one_q2);
    t = _mm256_adds_epi16(t, t);
    return _mm256_sign_epi16(_mm256_adds_epi16(t, t), a);
  }
  const __m256i v = _mm256_adds_epi16(x, x);  // sat16(2x); a < 0: 32767 - v = v ^ 32767
  const __m256i mirrored = _mm256_xor_si256(v, _mm256_and_si256(_mm256_srai_epi16(a, 15), _mm256_set1_epi16(32767)));
  return _mm256_blendv_epi8(mirrored, _mm256_set1_epi16(1 << 14), _mm256_cmpeq_epi16(a, zero));
}

}  // namespace avx2
}  // namespace irnn
