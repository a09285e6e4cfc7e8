// QuantizeMultiplier (numerics.md §1.4). Uses double by design; see quantize.h.

#include "core/quantize.h"

#include <cmath>
#include <cstdint>

namespace irnn {

namespace {

// d ~= m * 2^(exponent - bits), m in [2^(bits-1), 2^bits), returned as m * 2^(31 - bits).
QuantizedMultiplier QuantizeWithMantissaBits(double d, Rounding rounding, int bits) {
  if (d == 0.0 || !std::isfinite(d)) return {0, 0};
  int exponent = 0;
  const double q = std::frexp(d, &exponent);  // d = q * 2^exponent, q in [0.5, 1)
  int64_t q_fixed = static_cast<int64_t>(std::round(q * static_cast<double>(int64_t{1} << bits)));
  if (q_fixed == (int64_t{1} << bits)) {
    q_fixed /= 2;
    ++exponent;
  }
  if (exponent < -31) return {0, 0};
  const int64_t unit = int64_t{1} << (31 - bits);
  if (rounding == Rounding::kSingle && exponent > 30) {
    return {static_cast<int32_t>((INT32_MAX / unit) * unit), 30};
  }
  return {static_cast<int32_t>(q_fixed * unit), exponent};
}

}  // namespace

QuantizedMultiplier QuantizeMultiplier(double d, Rounding rounding) {
  return QuantizeWithMantissaBits(d, rounding, 31);
}

QuantizedMultiplier QuantizeMultiplierQ15(double d, Rounding rounding) {
  return QuantizeWithMantissaBits(d, rounding, 15);
}

}  // namespace irnn
