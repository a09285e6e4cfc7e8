// Integer inverse square root (numerics.md §3.2). Q3.28 fixed point: raw 2^28 is 1.0.

#include "core/inv_sqrt.h"

#include "core/fixed_point.h"

namespace irnn {
namespace {

int CountLeadingZeros32(uint32_t v) {
  if (v == 0) return 32;
  int n = 0;
  while ((v & 0x80000000u) == 0) {
    v <<= 1;
    ++n;
  }
  return n;
}

}  // namespace

QuantizedMultiplier InvSqrtQuantizedMultiplier(int32_t input) {
  if (input <= 1) return {kInt32Max, 0};
  int shift = 11;
  while (input >= (1 << 29)) {
    input /= 4;
    ++shift;
  }
  const int left_shift_bit_pairs = (CountLeadingZeros32(static_cast<uint32_t>(input)) - 1) / 2 - 1;
  shift -= left_shift_bit_pairs;
  input <<= 2 * left_shift_bit_pairs;  // input now in [2^27, 2^29)

  // Newton-Raphson x <- 1.5 x - (input/2) x^3 on Q3.28 values, starting from 1.
  const int32_t half_input = RoundingDivideByPOT(input >> 1, 1);
  constexpr int32_t kThreeHalves = 402653184;  // 1.5 in Q3.28
  int32_t x = 1 << 28;                          // 1.0
  for (int i = 0; i < 5; ++i) {
    // x^3 is Q9.22 after two Q3*Q3 products; shift left by 6 back to Q3.28.
    const int32_t x3 = SaturatingShiftLeft32(
        SaturatingRoundingDoublingHighMul(SaturatingRoundingDoublingHighMul(x, x), x), 6);
    // The difference wraps like gemmlowp's int32 FixedPoint subtraction (it never overflows here).
    const int32_t diff = static_cast<int32_t>(
        static_cast<uint32_t>(SaturatingRoundingDoublingHighMul(kThreeHalves, x)) -
        static_cast<uint32_t>(SaturatingRoundingDoublingHighMul(half_input, x3)));
    x = SaturatingShiftLeft32(diff, 3);
  }
  constexpr int32_t kHalfSqrt2 = 1518500250;  // sqrt(2)/2 in Q0.31
  x = SaturatingRoundingDoublingHighMul(x, kHalfSqrt2);
  if (shift < 0) {
    x = SaturatingShiftLeft32(x, -shift);
    shift = 0;
  }
  return {x, -shift};
}

}  // namespace irnn
