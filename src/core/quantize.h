// Conversion of real scales into integer multipliers (TFLite's QuantizeMultiplier). This is the one
// place of src/core that uses floating point: it runs when a model is derived or exported, never
// during inference, and is excluded from the no-float check of the runtime objects.
#pragma once

#include "irnn/quantization.h"

namespace irnn {

// QuantizeMultiplier(d), d >= 0: d ~= multiplier * 2^(shift - 31), multiplier in [2^30, 2^31).
// Returns {0, 0} for d == 0 or when the exponent would be below -31 (flush to zero). With
// Rounding::kSingle a shift above 30 saturates to 30 with multiplier 2^31 - 1, as TFLite's
// single-rounding build does. (numerics.md §1.4)
QuantizedMultiplier QuantizeMultiplier(double d, Rounding rounding = Rounding::kDouble);

}  // namespace irnn
