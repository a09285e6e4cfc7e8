// The fixed-point logistic and tanh of docs/numerics.md §2.2-§2.4 (Qk int16 in, Q0.15 int16 out) on
// 32 int16 lanes of a zmm register with AVX-512BW, bit for bit the scalar reference
// (src/core/fixed_point_math.cc) for every one of the 65,536 inputs and every k in [0, 6]; the
// function and k are per-lane constants, so one call can evaluate, say, tanh on the lanes that
// vpackssdw filled from its first operand and logistic on the others (ActivationPair32, as a gate
// epilogue would pair its gates). Used by the avx512vnni path's LogisticQ3S16 and TanhS16
// (fixed_point_simd.cc); the fused gate epilogue keeps its table gathers, which measured faster
// (lstm_kernels_avx512.cc, Activation512). The functions carry their ISA in __attribute__((target)) and
// run only after dispatch has checked avx512f and avx512bw. It is not a specification: where it and
// the reference differ, it is wrong. Tested exhaustively (tests/kernels/fixed_point_simd_test.cc)
// through the entry points of fixed_point_simd.h.
//
// The arithmetic is the reference's, with each gemmlowp primitive replaced by the instruction that
// gives the same bits on the values that reach it (the ranges below come from running the reference's
// steps over their whole domains, y in [-8192, 0) for the polynomial and h in [16384, 32767] for the
// Newton steps; the exhaustive tests confirm the bits):
// - mul (int16 SaturatingRoundingDoublingHighMul) is vpmulhrsw, which differs only for -32768 * -32768.
//   That product never occurs: in the polynomial |z| <= 4096; the barrel multipliers, e^(-1/8), 1/3,
//   -32/17 and the half denominator h in [16384, 32767] are positive or not -32768; the Newton iterate
//   x stays in [8162, 16384] (Q2) for every h.
// - rescale(r, Qk -> Q0) of r in [-2^(13-k), 0) is a plain left shift (|r << k| <= 2^13, no saturation).
// - RDivPOT(z4, 2) with z4 >= 0 is (z4 + 2) >> 2, vpmulhrsw by 2^13; RDivPOT(s, 1) with s in [0, 534]
//   is (s + 1) >> 1, vpavgw(s, 0).
// - The rounding half sum of e in [0, 32767] and 32767 is vpavgw(e, 32767) = (e + 32768) >> 1.
// - rescale(c, Q4 -> Q2) of the Newton correction, |c| <= 227, is a plain left shift by 2.
// - exp's a == 0 case is not needed: logistic and tanh return their value at 0 before using exp.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "kernels/x86/fixed_point_simd.h"

namespace irnn {
namespace avx512 {

#define IRNN_TARGET_AVX512BW __attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl")))

// Per-lane constants of one 32-lane activation: each lane's function and integer bits k. The exp
// inside is evaluated with k' = k for logistic and k' = k + 1 for tanh (exp(2n) as the raw n in
// Q(k+1), numerics.md §2.4).
struct ActivationConstants32 {
  __m512i minus_quarter;    // -2^(13-k'): -1/4 in Qk'
  __m512i shift;            // k': rescale Qk' -> Q0
  __m512i step_bit[7];      // bit (15 - k') + E for E = -2 .. 4, or the sign bit where k' <= E
  __m512i clamp_below;      // -32 in Qk' where k' > 5, else -32768 (no lane is below)
  __m512i negative_offset;  // a < 0: result = offset - positive result (32767 logistic, 0 tanh)
  __m512i at_zero;          // the value at a == 0 (16384 logistic, 0 tanh)
  // The same in every lane, kept here so that the kernels read them as memory operands (GCC would
  // otherwise rebuild each by a scalar move and a broadcast on port 5 at every use).
  __m512i step_multiplier[7];  // kExpStepMultiplier
  __m512i eighth;              // 1/8 in Q0 (4096)
  __m512i quarter_q0;          // 1/4 in Q0 (8192), also 1 in Q2
  __m512i one_third;
  __m512i exp_minus_eighth;    // e^(-1/8)
  __m512i one_q0;              // 32767
  __m512i c48_17;              // 48/17 in Q2
  __m512i cm32_17;             // -32/17 in Q2
  __mmask32 tanh_lanes;
  int steps;                // steps of the barrel shifter any lane takes: max k' + 2
  bool clamp, any_tanh;
};

// The first/second half in vpackssdw order: in each 128-bit lane, words 0-3 come from its first
// operand and words 4-7 from its second. For a uniform function both halves are the same.
IRNN_TARGET_AVX512BW inline ActivationConstants32 MakeActivationConstants32(ActivationKind first, int first_bits,
                                                                            ActivationKind second, int second_bits) {
  struct Lane {
    int exp_bits;
    bool tanh;
  };
  const bool first_tanh = first == ActivationKind::kTanh, second_tanh = second == ActivationKind::kTanh;
  const Lane half[2] = {{first_tanh ? first_bits + 1 : first_bits, first_tanh},
                        {second_tanh ? second_bits + 1 : second_bits, second_tanh}};
  alignas(64) int16_t minus_quarter[32], shift[32], step_bit[7][32], clamp_below[32], offset[32], at_zero[32];
  ActivationConstants32 c;
  c.tanh_lanes = 0;
  c.steps = 0;
  c.clamp = false;
  for (int j = 0; j < 32; ++j) {
    const Lane& l = half[(j % 8) < 4 ? 0 : 1];
    const int k = l.exp_bits;
    const int fractional_bits = 15 - k;
    minus_quarter[j] = static_cast<int16_t>(-(1 << (fractional_bits - 2)));
    shift[j] = static_cast<int16_t>(k);
    for (int s = 0; s < 7; ++s) {
      const int exponent = s - 2;
      // A lane without this step gets the sign bit, which every n < 0 has: the step never applies
      // (n == 0 is not used).
      step_bit[s][j] = static_cast<int16_t>(k > exponent ? 1 << (fractional_bits + exponent) : -32768);
    }
    clamp_below[j] = k > 5 ? FixedConstant16(-(1 << (36 - k))) : static_cast<int16_t>(-32768);
    offset[j] = l.tanh ? 0 : 32767;
    at_zero[j] = l.tanh ? 0 : 16384;
    if (l.tanh) c.tanh_lanes |= __mmask32{1} << j;
    if (k + 2 > c.steps) c.steps = k + 2 > 7 ? 7 : k + 2;
    if (k > 5) c.clamp = true;
  }
  c.any_tanh = c.tanh_lanes != 0;
  c.minus_quarter = _mm512_load_si512(minus_quarter);
  c.shift = _mm512_load_si512(shift);
  for (int s = 0; s < 7; ++s) c.step_bit[s] = _mm512_load_si512(step_bit[s]);
  c.clamp_below = _mm512_load_si512(clamp_below);
  c.negative_offset = _mm512_load_si512(offset);
  c.at_zero = _mm512_load_si512(at_zero);
  for (int s = 0; s < 7; ++s) c.step_multiplier[s] = _mm512_set1_epi16(kExpStepMultiplier[s]);
  c.eighth = _mm512_set1_epi16(1 << 12);
  c.quarter_q0 = _mm512_set1_epi16(1 << 13);
  c.one_third = _mm512_set1_epi16(FixedConstant16(715827883));
  c.exp_minus_eighth = _mm512_set1_epi16(FixedConstant16(1895147668));
  c.one_q0 = _mm512_set1_epi16(32767);
  c.c48_17 = _mm512_set1_epi16(FixedConstant16(1515870810));
  c.cm32_17 = _mm512_set1_epi16(FixedConstant16(-1010580540));
  return c;
}

// exp(y) for y in [-1/4, 0) in Q0 (numerics.md §2.2 step 2): the Taylor polynomial around -1/8.
IRNN_TARGET_AVX512BW inline __m512i ExpOnIntervalQ0x32(__m512i y, const ActivationConstants32& c) {
  const __m512i constant_term = c.exp_minus_eighth;
  const __m512i one_third = c.one_third;
  const __m512i z = _mm512_add_epi16(y, c.eighth);  // y + 1/8, in [-4096, 4096)
  const __m512i z2 = _mm512_mulhrs_epi16(z, z);
  const __m512i z3 = _mm512_mulhrs_epi16(z2, z);
  const __m512i z4 = _mm512_mulhrs_epi16(z2, z2);
  const __m512i z4_over_4 = _mm512_mulhrs_epi16(z4, c.quarter_q0);  // (z4 + 2) >> 2, z4 >= 0
  const __m512i s = _mm512_add_epi16(_mm512_mulhrs_epi16(_mm512_add_epi16(z4_over_4, z3), one_third), z2);
  const __m512i poly = _mm512_avg_epu16(s, _mm512_setzero_si512());  // RDivPOT(s, 1), s in [0, 534]
  return _mm512_adds_epi16(constant_term, _mm512_mulhrs_epi16(constant_term, _mm512_add_epi16(z, poly)));
}

// exp(n) for n <= 0 in Qk' per lane, result Q0.15 (numerics.md §2.2; the n == 0 case left out):
// the interval exp of r in [-1/4, 0), then the barrel shifter over whole quarters as masked
// multiplies, then the clamp below -32 for k' > 5. With q = 2^(13-k'), r = (n & (q - 1)) - q is
// n | -q (n's bits below q, every bit from q's up set), and the remainder r - n is ~n & -q (r - n =
// -q - (n & -q), and -q minus a multiple of q complements the bits from q's up): the barrel's test
// "bit F + E of the remainder is set" is "bit F + E of n is clear".
IRNN_TARGET_AVX512BW inline __m512i ExpOnNegativeValuesQ15x32(__m512i n, const ActivationConstants32& c) {
  __m512i result = ExpOnIntervalQ0x32(_mm512_sllv_epi16(_mm512_or_si512(n, c.minus_quarter), c.shift), c);
#pragma GCC unroll 7
  for (int s = 0; s < 7; ++s) {
    if (s == c.steps) break;
    const __mmask32 bit_set = _mm512_testn_epi16_mask(n, c.step_bit[s]);
    result = _mm512_mask_mulhrs_epi16(result, bit_set, result, c.step_multiplier[s]);
  }
  if (c.clamp) result = _mm512_maskz_mov_epi16(_mm512_cmpge_epi16_mask(n, c.clamp_below), result);
  return result;
}

// logistic (numerics.md §2.3) or tanh (§2.4) per lane of a, Qk -> Q0.15. -|a| is min(a, -a) with the
// wrapping negation (-32768 stays -32768, as the reference's Neg does); e = exp(-|a|) (logistic) or
// exp(-2|a|) (tanh); x = 1 / (1 + e) by three Newton steps in Q2 from 48/17 - 32/17 h, h = (1 + e) / 2;
// logistic: sat16(2x); tanh: sat16(4 (x - 1)); a < 0 mirrors (32767 - v, or -v); a == 0 is special.
IRNN_TARGET_AVX512BW inline __m512i ActivationQ15x32(__m512i a, const ActivationConstants32& c) {
  const __m512i zero = _mm512_setzero_si512();
  const __m512i neg_abs = _mm512_min_epi16(a, _mm512_sub_epi16(zero, a));
  const __m512i e = ExpOnNegativeValuesQ15x32(neg_abs, c);
  const __m512i h = _mm512_avg_epu16(e, c.one_q0);
  const __m512i one_q2 = c.quarter_q0;
  __m512i x = _mm512_add_epi16(c.c48_17, _mm512_mulhrs_epi16(h, c.cm32_17));
#pragma GCC unroll 3
  for (int i = 0; i < 3; ++i) {
    const __m512i one_minus = _mm512_sub_epi16(one_q2, _mm512_mulhrs_epi16(h, x));
    x = _mm512_add_epi16(x, _mm512_slli_epi16(_mm512_mulhrs_epi16(x, one_minus), 2));
  }
  __m512i v;
  if (c.any_tanh) {  // logistic lanes: sat16(2x); tanh lanes: sat16(2 sat16(2 (x - 8192)))
    v = _mm512_mask_sub_epi16(x, c.tanh_lanes, x, one_q2);
    v = _mm512_adds_epi16(v, v);
    v = _mm512_mask_adds_epi16(v, c.tanh_lanes, v, v);
  } else {
    v = _mm512_adds_epi16(x, x);
  }
  v = _mm512_mask_sub_epi16(v, _mm512_cmplt_epi16_mask(a, zero), c.negative_offset, v);
  return _mm512_mask_mov_epi16(v, _mm512_testn_epi16_mask(a, a), c.at_zero);
}

// The activation of two vectors of 16 int32 lanes holding int16 values (first's lanes with the first
// half's constants): packed into one register by vpackssdw, evaluated, and unpacked to sign-extended
// int32 lanes in the same order (vpunpck{l,h}wd of the result with itself puts each value in the high
// half of a dword; the arithmetic right shift by 16 sign-extends it).
IRNN_TARGET_AVX512BW inline void ActivationPair32(__m512i first, __m512i second, const ActivationConstants32& c,
                                                  __m512i* first_out, __m512i* second_out) {
  const __m512i v = ActivationQ15x32(_mm512_packs_epi32(first, second), c);
  *first_out = _mm512_srai_epi32(_mm512_unpacklo_epi16(v, v), 16);
  *second_out = _mm512_srai_epi32(_mm512_unpackhi_epi16(v, v), 16);
}

}  // namespace avx512
}  // namespace irnn
