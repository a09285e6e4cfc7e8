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

// The same with a 15-bit mantissa: multiplier = m * 2^16, m in [2^14, 2^15), so the multiplier is as
// valid as any other (the kernels do not change) but its low 16 bits are zero and a .irnn file stores
// it in 3 bytes instead of 8 (docs/model_format.md §2.4). The exporter uses it for per-channel
// multipliers, where they are a measurable part of the file: 10,000 decoder rows of 200 int8 weights
// carry 10,000 multipliers. The relative error of the scale is at most 2^-15 instead of 2^-31.
QuantizedMultiplier QuantizeMultiplierQ15(double d, Rounding rounding = Rounding::kDouble);

}  // namespace irnn
