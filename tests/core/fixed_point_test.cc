// Unit tests of the scalar fixed-point primitives: against exact integer math (rounding shifts,
// single-rounding multiply), against gemmlowp's fixedpoint.h as an independent oracle (Debian
// libgemmlowp-dev: test-only) for the doubling high multiply and exp/logistic/tanh at every integer-bit
// count, and against double-precision math for accuracy bounds.

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>

#include <gemmlowp/fixedpoint/fixedpoint.h>
#include <gtest/gtest.h>

#include "core/fixed_point.h"
#include "core/fixed_point_math.h"
#include "core/inv_sqrt.h"
#include "core/quantize.h"

namespace irnn {
namespace {

constexpr uint64_t kSeed = 20261123;

std::vector<int32_t> EdgeAndRandomInt32(int n_random) {
  std::vector<int32_t> v = {0, 1, -1, 2, -2, 3, -3, kInt32Min, kInt32Min + 1, kInt32Max, kInt32Max - 1,
                            1 << 30, -(1 << 30), (1 << 15), -(1 << 15), 12345678, -12345678};
  for (int k = 0; k < 31; ++k) {
    v.push_back(1 << k);
    v.push_back(-(1 << k));
    v.push_back((1 << k) + 1);
    v.push_back(-(1 << k) - 1);
  }
  std::mt19937 rng(kSeed);
  for (int i = 0; i < n_random; ++i) v.push_back(static_cast<int32_t>(rng()));
  return v;
}

// x / 2^e rounded half away from zero, computed on the exact rational value.
int32_t ExactRoundingDivide(int32_t x, int e) {
  const int64_t d = int64_t{1} << e;
  const int64_t a = x < 0 ? -int64_t{x} : int64_t{x};
  int64_t q = a / d;
  if (2 * (a % d) >= d) ++q;
  return static_cast<int32_t>(x < 0 ? -q : q);
}

TEST(FixedPoint, RoundingDivideByPOTIsRoundHalfAwayFromZero) {
  SCOPED_TRACE("seed " + std::to_string(kSeed));
  for (int32_t x : EdgeAndRandomInt32(20000)) {
    for (int e = 0; e <= 31; ++e) {
      ASSERT_EQ(RoundingDivideByPOT(x, e), ExactRoundingDivide(x, e)) << "x=" << x << " e=" << e;
    }
  }
}

TEST(FixedPoint, SaturatingRoundingDoublingHighMulMatchesGemmlowp) {
  const auto v = EdgeAndRandomInt32(3000);
  for (size_t i = 0; i < v.size(); ++i) {
    for (size_t j = 0; j < v.size(); j += 7) {
      ASSERT_EQ(SaturatingRoundingDoublingHighMul(v[i], v[j]), gemmlowp::SaturatingRoundingDoublingHighMul(v[i], v[j]))
          << v[i] << " * " << v[j];
    }
  }
  EXPECT_EQ(SaturatingRoundingDoublingHighMul(kInt32Min, kInt32Min), kInt32Max);
}

TEST(FixedPoint, SaturatingRoundingDoublingHighMul16ExhaustiveRowsMatchGemmlowp) {
  // Every a against a spread of b (65,536 x 257 pairs), including both extremes.
  for (int a = -32768; a <= 32767; ++a) {
    for (int b = -32768; b <= 32767; b += 255) {
      const auto x = static_cast<int16_t>(a), y = static_cast<int16_t>(b);
      ASSERT_EQ(SaturatingRoundingDoublingHighMul16(x, y), gemmlowp::SaturatingRoundingDoublingHighMul(x, y))
          << a << " * " << b;
    }
  }
  EXPECT_EQ(SaturatingRoundingDoublingHighMul16(-32768, -32768), 32767);
}

TEST(FixedPoint, SingleRoundingMatchesExactFormula) {
  std::mt19937 rng(kSeed);
  const auto xs = EdgeAndRandomInt32(2000);
  for (int shift = -31; shift <= 30; ++shift) {
    for (int32_t m : {int32_t{1} << 30, kInt32Max, static_cast<int32_t>((1u << 30) | (rng() >> 2))}) {
      for (int32_t x : xs) {
        const int t = 31 - shift;
        const __int128 p = static_cast<__int128>(x) * m + (static_cast<__int128>(1) << (t - 1));
        __int128 r = p >> t;  // floor division (arithmetic shift)
        if (r > kInt32Max) r = kInt32Max;
        if (r < kInt32Min) r = kInt32Min;
        ASSERT_EQ(MultiplyByQuantizedMultiplierSingleRounding(x, m, shift), static_cast<int32_t>(r))
            << "x=" << x << " m=" << m << " shift=" << shift;
      }
    }
  }
}

TEST(FixedPoint, DoubleAndSingleRoundingDifferByAtMostOne) {
  std::mt19937 rng(kSeed + 1);
  int differ = 0;
  for (int i = 0; i < 200000; ++i) {
    const int32_t x = static_cast<int32_t>(rng()) >> (rng() % 16);
    const int32_t m = static_cast<int32_t>((1u << 30) | (rng() >> 2));
    const int shift = -static_cast<int>(rng() % 32);
    const int32_t a = MultiplyByQuantizedMultiplierDoubleRounding(x, m, shift);
    const int32_t b = MultiplyByQuantizedMultiplierSingleRounding(x, m, shift);
    ASSERT_LE(std::abs(int64_t{a} - b), 1) << "x=" << x << " m=" << m << " shift=" << shift;
    differ += a != b;
  }
  EXPECT_GT(differ, 0) << "the two rounding variants never differed: the test data is too easy";
}

TEST(FixedPoint, DoubleRoundingLeftShiftSaturates) {
  // x * 2^shift overflows int32: the product saturates before the high multiply.
  for (int32_t m : {int32_t{1} << 30, kInt32Max}) {
    EXPECT_EQ(MultiplyByQuantizedMultiplierDoubleRounding(1 << 20, m, 30), SaturatingRoundingDoublingHighMul(kInt32Max, m));
    EXPECT_EQ(MultiplyByQuantizedMultiplierDoubleRounding(-(1 << 20), m, 30),
              SaturatingRoundingDoublingHighMul(kInt32Min, m));
  }
  EXPECT_EQ(MultiplyByQuantizedMultiplierSingleRounding(kInt32Max, kInt32Max, 30), kInt32Max);
  EXPECT_EQ(MultiplyByQuantizedMultiplierSingleRounding(kInt32Min, kInt32Max, 30), kInt32Min);
}

template <int kBits>
void CheckExpAgainstGemmlowp() {
  using F = gemmlowp::FixedPoint<int16_t, kBits>;
  for (int a = -32768; a <= 0; ++a) {
    const int16_t want = gemmlowp::exp_on_negative_values(F::FromRaw(static_cast<int16_t>(a))).raw();
    ASSERT_EQ(ExpOnNegativeValuesQ15(static_cast<int16_t>(a), kBits), want) << "Q" << kBits << " a=" << a;
  }
}

template <int kBits>
void CheckLogisticTanhAgainstGemmlowp() {
  using F = gemmlowp::FixedPoint<int16_t, kBits>;
  for (int a = -32768; a <= 32767; ++a) {
    const auto x = static_cast<int16_t>(a);
    ASSERT_EQ(LogisticQ15(x, kBits), gemmlowp::logistic(F::FromRaw(x)).raw()) << "logistic Q" << kBits << " " << a;
    ASSERT_EQ(TanhQ15(x, kBits), gemmlowp::tanh(F::FromRaw(x)).raw()) << "tanh Q" << kBits << " " << a;
  }
}

TEST(FixedPointMath, ExpOnNegativeValuesExhaustiveMatchesGemmlowpForEveryIntegerBitCount) {
  CheckExpAgainstGemmlowp<0>();
  CheckExpAgainstGemmlowp<1>();
  CheckExpAgainstGemmlowp<2>();
  CheckExpAgainstGemmlowp<3>();
  CheckExpAgainstGemmlowp<4>();
  CheckExpAgainstGemmlowp<5>();
  CheckExpAgainstGemmlowp<6>();
  CheckExpAgainstGemmlowp<7>();
}

TEST(FixedPointMath, LogisticAndTanhExhaustiveMatchGemmlowpForEveryIntegerBitCount) {
  CheckLogisticTanhAgainstGemmlowp<0>();
  CheckLogisticTanhAgainstGemmlowp<1>();
  CheckLogisticTanhAgainstGemmlowp<2>();
  CheckLogisticTanhAgainstGemmlowp<3>();
  CheckLogisticTanhAgainstGemmlowp<4>();
  CheckLogisticTanhAgainstGemmlowp<5>();
  CheckLogisticTanhAgainstGemmlowp<6>();
}

// Accuracy against double math, over every int16 input: documented bounds in Q0.15 LSBs.
TEST(FixedPointMath, AccuracyAgainstDoubleMath) {
  for (int bits = 0; bits <= 6; ++bits) {
    double max_sig = 0, max_tanh = 0;
    for (int a = -32768; a <= 32767; ++a) {
      const double x = std::ldexp(static_cast<double>(a), bits - 15);
      const double sig = 1.0 / (1.0 + std::exp(-x)) * 32768.0;
      const double th = std::tanh(x) * 32768.0;
      max_sig = std::max(max_sig, std::abs(LogisticQ15(static_cast<int16_t>(a), bits) - sig));
      max_tanh = std::max(max_tanh, std::abs(TanhQ15(static_cast<int16_t>(a), bits) - th));
    }
    EXPECT_LT(max_sig, 12.0) << "logistic Q" << bits;
    EXPECT_LT(max_tanh, 24.0) << "tanh Q" << bits;
  }
}

TEST(Quantize, QuantizeMultiplierRepresentsTheValue) {
  std::mt19937 rng(kSeed);
  for (int i = 0; i < 10000; ++i) {
    const double d = std::ldexp(0.5 + 0.5 * (rng() / 4294967296.0), static_cast<int>(rng() % 40) - 30);  // 2^-31 .. 2^9
    const QuantizedMultiplier q = QuantizeMultiplier(d);
    ASSERT_TRUE(IsValidQuantizedMultiplier(q)) << d;
    const double back = std::ldexp(static_cast<double>(q.multiplier), q.shift - 31);
    ASSERT_NEAR(back / d, 1.0, 1e-9) << d;
  }
  EXPECT_TRUE(QuantizeMultiplier(0.0) == (QuantizedMultiplier{0, 0}));
  EXPECT_TRUE(QuantizeMultiplier(1e-12) == (QuantizedMultiplier{0, 0}));  // exponent below -31: flushed
  EXPECT_TRUE(QuantizeMultiplier(1.0) == (QuantizedMultiplier{1 << 30, 1}));
  EXPECT_TRUE(QuantizeMultiplier(std::ldexp(1.0, 40), Rounding::kSingle) == (QuantizedMultiplier{kInt32Max, 30}));
}

TEST(Quantize, QuantizeMultiplierQ15HasAFifteenBitMantissa) {
  std::mt19937 rng(kSeed);
  for (int i = 0; i < 10000; ++i) {
    const double d = std::ldexp(0.5 + 0.5 * (rng() / 4294967296.0), static_cast<int>(rng() % 40) - 30);
    const QuantizedMultiplier q = QuantizeMultiplierQ15(d);
    ASSERT_TRUE(IsValidQuantizedMultiplier(q)) << d;
    ASSERT_EQ(q.multiplier & 0xFFFF, 0) << d;  // what lets a .irnn file store it in 3 bytes
    const double back = std::ldexp(static_cast<double>(q.multiplier), q.shift - 31);
    ASSERT_LE(std::fabs(back / d - 1.0), std::ldexp(1.0, -15)) << d;  // half a step of 2^-15, relative to >= 0.5
    // It is the full multiplier rounded to 15 bits, or one step of 2^16 away where the two roundings differ.
    const QuantizedMultiplier full = QuantizeMultiplier(d);
    if (full.shift == q.shift) {
      ASSERT_LE(std::abs(int64_t{full.multiplier} - q.multiplier), int64_t{1} << 16) << d;
    }
  }
  EXPECT_TRUE(QuantizeMultiplierQ15(0.0) == (QuantizedMultiplier{0, 0}));
  EXPECT_TRUE(QuantizeMultiplierQ15(1.0) == (QuantizedMultiplier{1 << 30, 1}));
  // Rounds up to the next power of two: the mantissa 2^15 becomes 2^14 with the shift one higher.
  EXPECT_TRUE(QuantizeMultiplierQ15(std::ldexp(1.0 - 1e-7, 3)) == (QuantizedMultiplier{1 << 30, 4}));
  EXPECT_TRUE(QuantizeMultiplierQ15(std::ldexp(1.0, 40), Rounding::kSingle) ==
              (QuantizedMultiplier{0x7FFF0000, 30}));
}

TEST(InvSqrt, CloseToOneOverSquareRoot) {
  std::mt19937 rng(kSeed);
  for (int i = 0; i < 100000; ++i) {
    const int32_t v = 2 + static_cast<int32_t>(rng() % (kInt32Max - 2));
    const QuantizedMultiplier q = InvSqrtQuantizedMultiplier(v);
    ASSERT_GE(q.shift, -12);
    ASSERT_LE(q.shift, 0);
    const double got = std::ldexp(static_cast<double>(q.multiplier), q.shift - 31);
    ASSERT_NEAR(got * std::sqrt(static_cast<double>(v)), 1.0, 4e-6) << "v=" << v;
  }
}

}  // namespace
}  // namespace irnn
