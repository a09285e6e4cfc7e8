// Integer quantization vocabulary shared by the runtime API: the rounding scheme of a requantization
// and a fixed-point multiplier. No floating point here: float scales become QuantizedMultiplier values
// before the runtime sees them.
#pragma once

#include <cstdint>

namespace irnn {

// Rounding of MultiplyByQuantizedMultiplier. A model records which one it was built for; it is chosen at
// run time, never by a build flag. (numerics.md §1.3)
enum class Rounding : uint8_t {
  kDouble = 0,  // gemmlowp: rounding doubling high multiply, then rounding divide by a power of two
  kSingle = 1,  // one rounding of the 64-bit product: (x*M + 2^(t-1)) >> t, t = 31 - shift
};

// real multiplier ~= multiplier * 2^(shift - 31). multiplier is 0 or in [2^30, 2^31); shift in [-31, 30].
struct QuantizedMultiplier {
  int32_t multiplier = 0;
  int32_t shift = 0;
};

inline bool operator==(QuantizedMultiplier a, QuantizedMultiplier b) {
  return a.multiplier == b.multiplier && a.shift == b.shift;
}

}  // namespace irnn
