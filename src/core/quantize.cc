// QuantizeMultiplier (numerics.md §1.4). Uses double by design; see quantize.h.

#include "core/quantize.h"

#include <cmath>
#include <cstdint>

namespace irnn {

QuantizedMultiplier QuantizeMultiplier(double d, Rounding rounding) {
  if (d == 0.0 || !std::isfinite(d)) return {0, 0};
  int exponent = 0;
  const double q = std::frexp(d, &exponent);  // d = q * 2^exponent, q in [0.5, 1)
  int64_t q_fixed = static_cast<int64_t>(std::round(q * static_cast<double>(int64_t{1} << 31)));
  if (q_fixed == (int64_t{1} << 31)) {
    q_fixed /= 2;
    ++exponent;
  }
  if (exponent < -31) return {0, 0};
  if (rounding == Rounding::kSingle && exponent > 30) return {INT32_MAX, 30};
  return {static_cast<int32_t>(q_fixed), exponent};
}

}  // namespace irnn
