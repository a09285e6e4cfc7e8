// Fixed-point primitives of the integer runtime: saturation, rounding shifts, the rounding doubling
// high multiply and MultiplyByQuantizedMultiplier in both rounding variants. Scalar, header-only, and
// normative: the SIMD kernels must reproduce these bit for bit. Every formula is in docs/numerics.md §1.
// Nothing here uses floating point; see quantize.h for turning a real scale into a multiplier.
#pragma once

#include <cstdint>
#include <limits>

#include "irnn/quantization.h"

namespace irnn {

inline constexpr int32_t kInt32Min = std::numeric_limits<int32_t>::min();
inline constexpr int32_t kInt32Max = std::numeric_limits<int32_t>::max();

inline int32_t SaturateToInt32(int64_t v) {
  return v > kInt32Max ? kInt32Max : (v < kInt32Min ? kInt32Min : static_cast<int32_t>(v));
}
inline int16_t SaturateToInt16(int64_t v) {
  return static_cast<int16_t>(v > 32767 ? 32767 : (v < -32768 ? -32768 : v));
}
inline int8_t SaturateToInt8(int64_t v) {
  return static_cast<int8_t>(v > 127 ? 127 : (v < -128 ? -128 : v));
}
// Two's-complement wrap to 16 bits (the int16 add/sub of gemmlowp's FixedPoint).
inline int16_t Wrap16(int32_t v) { return static_cast<int16_t>(static_cast<uint16_t>(static_cast<uint32_t>(v))); }

// x / 2^e rounded to nearest, ties away from zero. 0 <= e <= 31. (numerics.md §1.1; gemmlowp
// RoundingDivideByPOT.) Also used on int16 values, for which the result is identical.
inline int32_t RoundingDivideByPOT(int32_t x, int e) {
  const int32_t mask = static_cast<int32_t>((uint32_t{1} << e) - 1u);
  const int32_t remainder = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> e) + (remainder > threshold ? 1 : 0);
}

// round(a * b / 2^31), ties away from zero, saturating the one overflow a == b == INT32_MIN.
// (numerics.md §1.2; gemmlowp SaturatingRoundingDoublingHighMul; ARM vqrdmulh.)
inline int32_t SaturatingRoundingDoublingHighMul(int32_t a, int32_t b) {
  if (a == b && a == kInt32Min) return kInt32Max;
  const int64_t ab = static_cast<int64_t>(a) * static_cast<int64_t>(b);
  const int64_t nudge = ab >= 0 ? (int64_t{1} << 30) : (1 - (int64_t{1} << 30));
  return static_cast<int32_t>((ab + nudge) / (int64_t{1} << 31));
}

// The same on int16: round(a * b / 2^15), saturating a == b == -32768. Equals x86 pmulhrsw except in
// that one case. (numerics.md §1.2)
inline int16_t SaturatingRoundingDoublingHighMul16(int16_t a, int16_t b) {
  if (a == b && a == -32768) return 32767;
  const int32_t ab = static_cast<int32_t>(a) * static_cast<int32_t>(b);
  const int32_t nudge = ab >= 0 ? (1 << 14) : (1 - (1 << 14));
  return static_cast<int16_t>((ab + nudge) / (1 << 15));
}

// x * 2^k, saturated to int32. 0 <= k <= 31.
inline int32_t SaturatingShiftLeft32(int32_t x, int k) {
  return SaturateToInt32(static_cast<int64_t>(x) * (int64_t{1} << k));
}

// Double rounding (TFLite's default build): SRDHM(x * 2^left, M) then a rounding divide by 2^right.
// shift in [-31, 30]; the left shift saturates (TFLite leaves that overflow undefined).
inline int32_t MultiplyByQuantizedMultiplierDoubleRounding(int32_t x, int32_t multiplier, int shift) {
  const int left = shift > 0 ? shift : 0;
  const int right = shift > 0 ? 0 : -shift;
  return RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(SaturatingShiftLeft32(x, left), multiplier),
                             right);
}

// Single rounding (TFLite built with TFLITE_SINGLE_ROUNDING): (x*M + 2^(t-1)) >> t in 64 bits,
// t = 31 - shift, arithmetic shift (ties toward +inf). shift in [-31, 30]; the result saturates to
// int32 (TFLite leaves that overflow undefined).
inline int32_t MultiplyByQuantizedMultiplierSingleRounding(int32_t x, int32_t multiplier, int shift) {
  const int total_shift = 31 - shift;
  const int64_t round = int64_t{1} << (total_shift - 1);
  const int64_t product = static_cast<int64_t>(x) * static_cast<int64_t>(multiplier) + round;
  return SaturateToInt32(product >> total_shift);
}

inline int32_t MultiplyByQuantizedMultiplier(int32_t x, QuantizedMultiplier m, Rounding rounding) {
  return rounding == Rounding::kSingle ? MultiplyByQuantizedMultiplierSingleRounding(x, m.multiplier, m.shift)
                                       : MultiplyByQuantizedMultiplierDoubleRounding(x, m.multiplier, m.shift);
}

// True when m can be used by MultiplyByQuantizedMultiplier: multiplier in {0} U [2^30, 2^31) and
// shift in [-31, 30].
inline bool IsValidQuantizedMultiplier(QuantizedMultiplier m) {
  const bool mult_ok = m.multiplier == 0 || (m.multiplier >= (int32_t{1} << 30));
  return mult_ok && m.shift >= -31 && m.shift <= 30;
}

// True when m is a power of two for single rounding (M = 2^30, shift in [-31, 0], the "pot" models of
// numerics.md §7.1.1): MultiplyByQuantizedMultiplier(x, m) is then floor((x + 2^(k-1)) / 2^k) with
// k = 1 - shift >= 1, which the SIMD kernels compute with shifts only.
inline bool PotMultiplier(QuantizedMultiplier m, Rounding rounding) {
  return rounding == Rounding::kSingle && m.multiplier == (int32_t{1} << 30) && m.shift <= 0 && m.shift >= -31;
}

}  // namespace irnn
