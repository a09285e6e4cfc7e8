// Scalar fixed-point exp / logistic / tanh on int16 (docs/numerics.md §2). Add and subtract wrap to
// 16 bits, as gemmlowp's FixedPoint<int16_t> does; only the steps marked "saturating" saturate.

#include "core/fixed_point_math.h"

#include "core/fixed_point.h"

namespace irnn {
namespace {

using Raw = int16_t;

inline Raw Mul(Raw a, Raw b) { return SaturatingRoundingDoublingHighMul16(a, b); }
inline Raw Add(Raw a, Raw b) { return Wrap16(int32_t{a} + int32_t{b}); }
inline Raw Sub(Raw a, Raw b) { return Wrap16(int32_t{a} - int32_t{b}); }
inline Raw Neg(Raw a) { return Wrap16(-int32_t{a}); }
inline Raw RDiv(Raw a, int e) { return static_cast<Raw>(RoundingDivideByPOT(a, e)); }
// A 32-bit gemmlowp constant as its int16 counterpart (RescaleConstantInitializer).
inline Raw Constant16(int32_t c32) { return static_cast<Raw>(RoundingDivideByPOT(c32, 16)); }
// Change Qa to Qb keeping the real value: left shift saturating, or rounding right shift.
inline Raw Rescale(Raw v, int from_bits, int to_bits) {
  if (from_bits > to_bits) return SaturateToInt16(int32_t{v} * (1 << (from_bits - to_bits)));
  if (from_bits < to_bits) return RDiv(v, to_bits - from_bits);
  return v;
}
inline Raw RoundingHalfSum(Raw a, Raw b) {
  const int32_t sum = int32_t{a} + int32_t{b};
  return static_cast<Raw>(sum >= 0 ? (sum + 1) / 2 : (sum - 1) / 2);
}

constexpr Raw kOneQ0 = 32767;
constexpr Raw kOneQ2 = 1 << 13;

// exp(a) for a in [-1/4, 0), a in Q0: Taylor polynomial around -1/8. (numerics.md §2.2)
Raw ExpOnInterval(Raw a) {
  const Raw constant_term = Constant16(1895147668);   // e^(-1/8)
  const Raw one_third = Constant16(715827883);        // 1/3
  const Raw x = Add(a, 1 << 12);                      // a + 1/8
  const Raw x2 = Mul(x, x);
  const Raw x3 = Mul(x2, x);
  const Raw x4 = Mul(x2, x2);
  const Raw x4_over_4 = RDiv(x4, 2);
  const Raw poly = RDiv(Add(Mul(Add(x4_over_4, x3), one_third), x2), 1);
  return SaturateToInt16(int32_t{constant_term} + int32_t{Mul(constant_term, Add(x, poly))});  // saturating
}

// 1/(1+a) (returned in Q2 before the caller's rescale) by Newton-Raphson for a in [0, 1].
Raw ReciprocalQ2(Raw half_denominator) {
  const Raw c48_17 = Constant16(1515870810);     // 48/17 in Q2
  const Raw cm32_17 = Constant16(-1010580540);   // -32/17 in Q2
  Raw x = Add(c48_17, Mul(half_denominator, cm32_17));
  for (int i = 0; i < 3; ++i) {
    const Raw one_minus = Sub(kOneQ2, Mul(half_denominator, x));  // Q2
    x = Add(x, Rescale(Mul(x, one_minus), 4, 2));                // Q2 * Q2 = Q4 -> Q2
  }
  return x;
}

}  // namespace

int16_t ExpOnNegativeValuesQ15(int16_t a, int integer_bits) {
  const int k = integer_bits;
  const int fractional_bits = 15 - k;
  const Raw one_quarter = static_cast<Raw>(1 << (fractional_bits - 2));
  const Raw mask = static_cast<Raw>(one_quarter - 1);
  const Raw a_mod_quarter_minus_quarter = Sub(static_cast<Raw>(a & mask), one_quarter);
  Raw result = ExpOnInterval(Rescale(a_mod_quarter_minus_quarter, k, 0));
  const Raw remainder = Sub(a_mod_quarter_minus_quarter, a);

  // Barrel shifter over the whole quarters: multiply by exp(-2^E) for each set bit.
  struct Step { int exponent; int32_t multiplier32; };
  static constexpr Step kSteps[] = {{-2, 1672461947}, {-1, 1302514674}, {0, 790015084}, {1, 290630308},
                                    {2, 39332535},    {3, 720401},      {4, 242}};
  for (const Step& s : kSteps) {
    if (k > s.exponent) {
      const int bit = fractional_bits + s.exponent;
      if ((remainder & (1 << bit)) != 0) result = Mul(result, Constant16(s.multiplier32));
    }
  }
  if (k > 5) {
    const Raw clamp = Constant16(-(1 << (36 - k)));  // -32 in Qk
    if (a < clamp) result = 0;
  }
  if (a == 0) result = kOneQ0;
  return result;
}

int16_t LogisticQ15(int16_t a, int integer_bits) {
  if (a == 0) return 1 << 14;  // one half
  const Raw abs_a = a > 0 ? a : Neg(a);
  const Raw e = ExpOnNegativeValuesQ15(Neg(abs_a), integer_bits);
  const Raw x = ReciprocalQ2(RoundingHalfSum(e, kOneQ0));
  const Raw positive = Rescale(x, 1, 0);  // x read as Q1 (i.e. halved), then to Q0
  return a > 0 ? positive : Sub(kOneQ0, positive);
}

int16_t TanhQ15(int16_t a, int integer_bits) {
  if (a == 0) return 0;
  const Raw n = a < 0 ? a : Neg(a);
  const Raw e = ExpOnNegativeValuesQ15(n, integer_bits + 1);  // exp(2n): same raw, one more integer bit
  const Raw x = ReciprocalQ2(RoundingHalfSum(e, kOneQ0));
  const Raw t = Rescale(Sub(x, kOneQ2), 2, 0);
  return a < 0 ? Neg(t) : t;
}

}  // namespace irnn
