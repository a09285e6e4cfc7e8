// Float scales -> ResidualAddParams (numerics.md §10.2), as TFLite's Prepare of the int8 ADD: both
// inputs on a grid of 2^-20 · 2·max(S_a, S_b), one output multiplier. Reads floats, so it is compiled
// into irnn but not into the integer-only irnn_runtime_objs.

#include <algorithm>
#include <cmath>
#include <string>

#include "core/quantize.h"
#include "irnn/residual.h"

namespace irnn {

Status DeriveResidualAddParams(float a_scale, int32_t a_zp, float b_scale, int32_t b_zp, float output_scale,
                               int32_t output_zp, Rounding rounding, ResidualAddParams* params) {
  if (params == nullptr) return Status::InvalidArgument("DeriveResidualAddParams: params is null");
  const float scales[3] = {a_scale, b_scale, output_scale};
  const char* names[3] = {"a_scale", "b_scale", "output_scale"};
  for (int i = 0; i < 3; ++i) {
    if (!(scales[i] > 0.0f) || !std::isfinite(scales[i])) {
      return Status::InvalidArgument(std::string("DeriveResidualAddParams: ") + names[i] + " is " +
                                     std::to_string(scales[i]) + " but must be finite and > 0");
    }
  }
  const double twice_max = 2.0 * std::max<double>(a_scale, b_scale);
  ResidualAddParams p;
  p.a_zp = a_zp;
  p.b_zp = b_zp;
  p.output_zp = output_zp;
  p.rounding = rounding;
  p.a_scale = QuantizeMultiplier(a_scale / twice_max, rounding);
  p.b_scale = QuantizeMultiplier(b_scale / twice_max, rounding);
  p.output_scale = QuantizeMultiplier(twice_max / (std::ldexp(1.0, kResidualLeftShift) * output_scale), rounding);
  IRNN_RETURN_IF_ERROR(ValidateResidualAddParams(p));
  *params = p;
  return Status::Ok();
}

}  // namespace irnn
