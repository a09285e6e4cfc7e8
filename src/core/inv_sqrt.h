// Integer inverse square root as TFLite's LayerNorm uses it (GetInvSqrtQuantizedMultiplierExp with
// reverse_shift = -1): a QuantizedMultiplier for 1/sqrt(v), found by five Newton-Raphson steps in
// Q3.28 fixed point. Integer only. (numerics.md §3.2)
#pragma once

#include <cstdint>

#include "irnn/quantization.h"

namespace irnn {

// For v <= 1 returns {2^31 - 1, 0}. Otherwise multiplier * 2^(shift - 31) ~= 1/sqrt(v), with
// multiplier in [2^30, 2^31) and shift in [-12, 0], exactly as TFLite computes it.
QuantizedMultiplier InvSqrtQuantizedMultiplier(int32_t v);

}  // namespace irnn
