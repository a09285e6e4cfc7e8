// DeriveGruParams (irnn/gru.h): float scales and biases of a quantized GRU -> the integer parameters of
// numerics.md §8 (effective biases, per-row Q15 multipliers, the output multiplier, PWL tables). Uses
// double; compiled into `irnn` but not into the integer runtime objects. Not the step itself (gru.cc).

#include <cmath>
#include <string>

#include "irnn/gru.h"
#include "core/quantize.h"
#include "pwl/pwl_fit.h"

namespace irnn {
namespace {

constexpr const char* kGateNames[3] = {"r", "z", "n"};

Status FoldBias(const std::vector<int8_t>& w, int32_t rows, int32_t cols, const std::vector<double>& bias,
                const std::vector<double>& w_scale, double in_scale, int32_t zp, const std::string& field,
                std::vector<int32_t>* out) {
  out->assign(static_cast<size_t>(rows), 0);
  for (int32_t r = 0; r < rows; ++r) {
    int64_t rowsum = 0;
    for (int32_t k = 0; k < cols; ++k) rowsum += w[static_cast<size_t>(r) * cols + k];
    const double b = bias.empty() ? 0.0 : std::nearbyint(bias[r] / (w_scale[r] * in_scale));
    const double v = b - static_cast<double>(zp) * static_cast<double>(rowsum);
    if (!(std::fabs(v) <= 2147483647.0)) {
      return Status::OutOfRange("DeriveGruParams: " + field + "[" + std::to_string(r) + "] is " + std::to_string(v) +
                                " but must fit int32");
    }
    (*out)[r] = static_cast<int32_t>(v);
  }
  return Status::Ok();
}

}  // namespace

Status DeriveGruParams(const GruQuantization& q, GruParams* p) {
  if (p == nullptr) return Status::InvalidArgument("DeriveGruParams: params is null");
  const GruConfig& c = p->config;
  if (c.n_input < 1 || c.n_hidden < 1) {
    return Status::InvalidArgument("DeriveGruParams: config.n_input and config.n_hidden must be >= 1");
  }
  if (!(q.input_scale > 0) || !(q.output_scale > 0)) {
    return Status::InvalidArgument("DeriveGruParams: input_scale and output_scale must be > 0");
  }
  const size_t h = static_cast<size_t>(c.n_hidden);
  for (int g = 0; g < 3; ++g) {
    const std::string gate = std::string("[") + kGateNames[g] + "]";
    if (q.input_weight_scale[g].size() != h || q.recurrent_weight_scale[g].size() != h ||
        (!q.input_bias[g].empty() && q.input_bias[g].size() != h) ||
        (!q.recurrent_bias[g].empty() && q.recurrent_bias[g].size() != h)) {
      return Status::InvalidArgument("DeriveGruParams: the scales and biases of gate " + gate +
                                     " must have n_hidden = " + std::to_string(h) + " elements");
    }
    if (p->input_weights[g].size() != h * c.n_input || p->recurrent_weights[g].size() != h * h) {
      return Status::InvalidArgument("DeriveGruParams: the weights of gate " + gate + " have the wrong size");
    }
    IRNN_RETURN_IF_ERROR(FoldBias(p->input_weights[g], c.n_hidden, c.n_input, q.input_bias[g],
                                  q.input_weight_scale[g], q.input_scale, q.input_zp, "input_effective_bias" + gate,
                                  &p->input_effective_bias[g]));
    IRNN_RETURN_IF_ERROR(FoldBias(p->recurrent_weights[g], c.n_hidden, c.n_hidden, q.recurrent_bias[g],
                                  q.recurrent_weight_scale[g], q.output_scale, q.output_zp,
                                  "recurrent_effective_bias" + gate, &p->recurrent_effective_bias[g]));
    p->input_scale[g].resize(h);
    p->recurrent_scale[g].resize(h);
    for (size_t r = 0; r < h; ++r) {
      // Accumulator units S_W * S_in -> Q3.12 (numerics.md §8.1).
      p->input_scale[g][r] = QuantizeMultiplierQ15(q.input_weight_scale[g][r] * q.input_scale * 4096.0, c.rounding);
      p->recurrent_scale[g][r] =
          QuantizeMultiplierQ15(q.recurrent_weight_scale[g][r] * q.output_scale * 4096.0, c.rounding);
    }
  }
  p->output_scale = QuantizeMultiplier(std::ldexp(1.0, -15) / q.output_scale, c.rounding);
  p->output_zp = q.output_zp;
  RealFunction sigmoid, tanh;
  BuiltinPwlFunction("sigmoid", &sigmoid);
  BuiltinPwlFunction("tanh", &tanh);
  const PwlGrid q3_12{-32768, 32767, std::ldexp(1.0, -12), 0};
  const PwlGrid q0_15_unsigned{0, 32767, std::ldexp(1.0, -15), 0};
  const PwlGrid q0_15_signed{-32767, 32767, std::ldexp(1.0, -15), 0};
  PwlFitOptions opt;
  opt.fitter = PwlFitter::kOptimal;
  opt.max_error_lsb = q.pwl_max_err;
  PwlFitResult fit;
  IRNN_RETURN_IF_ERROR(FitPwl(sigmoid, q3_12, q0_15_unsigned, opt, &fit));
  p->pwl_sigmoid = fit.table;
  opt.odd = true;
  IRNN_RETURN_IF_ERROR(FitPwl(tanh, q3_12, q0_15_signed, opt, &fit));
  p->pwl_tanh = fit.table;
  return ValidateGruParams(*p);
}

}  // namespace irnn
