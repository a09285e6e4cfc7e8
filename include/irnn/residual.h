// The residual connection of integer sequence models: an elementwise add of two int8 tensors with
// their own quantization into a third, out = a + b in real terms (numerics.md §10.2). The arithmetic is
// TFLite's int8 ADD: both inputs are moved onto a common fine grid (2^20 units of twice the larger input
// scale), added exactly in int32, and requantized once to the output. Integer only.
//
// What it is not: a broadcasting add (a and b have the same length), nor an activation: nothing is
// clipped but the int8 saturation of the result. DeriveResidualAddParams (residual_derive.cc) is the
// only part that reads float scales.
#pragma once

#include <cstdint>
#include <memory>

#include "irnn/kernel_path.h"
#include "irnn/quantization.h"
#include "irnn/status.h"

namespace irnn {

struct ElementwiseKernels;  // src/kernels/elementwise_kernels.h

// §10.2: a' = MBQM((a − a_zp)·2^20, a_scale), b' = MBQM((b − b_zp)·2^20, b_scale),
// out = sat8(MBQM(a' + b', output_scale) + output_zp).
struct ResidualAddParams {
  int32_t a_zp = 0;       // [-128, 127]
  int32_t b_zp = 0;       // [-128, 127]
  int32_t output_zp = 0;  // [-128, 127]
  QuantizedMultiplier a_scale;       // S_a / (2 max(S_a, S_b)): a valid multiplier with shift <= 0
  QuantizedMultiplier b_scale;       // S_b / (2 max(S_a, S_b)): the same rule
  QuantizedMultiplier output_scale;  // 2 max(S_a, S_b) / (2^20 S_out): any valid multiplier
  Rounding rounding = Rounding::kDouble;
};

inline constexpr int kResidualLeftShift = 20;

// Zero points in int8, multipliers valid (numerics.md §1.3), input shifts <= 0 (so |a'| + |b'| < 2^29).
Status ValidateResidualAddParams(const ResidualAddParams& params);

// Float scales and zero points -> params, as TFLite's Prepare of ADD (float; residual_derive.cc).
Status DeriveResidualAddParams(float a_scale, int32_t a_zp, float b_scale, int32_t b_zp, float output_scale,
                               int32_t output_zp, Rounding rounding, ResidualAddParams* params);

class ResidualAdd {
 public:
  static Status Create(const ResidualAddParams& params, KernelPath path, std::unique_ptr<ResidualAdd>* out);
  const ResidualAddParams& params() const { return params_; }
  // out[i] = a[i] (+) b[i] for i in [0, n), n >= 0. out may alias a or b.
  Status Add(const int8_t* a, const int8_t* b, int64_t n, int8_t* out) const;

 private:
  ResidualAdd() = default;
  ResidualAddParams params_;
  const ElementwiseKernels* kernels_ = nullptr;
};

}  // namespace irnn
