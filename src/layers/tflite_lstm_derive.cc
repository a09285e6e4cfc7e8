// Derivation of the integer LSTM parameters from float scales and zero points, exactly as TFLite's
// Prepare (PopulateQuantizedLstmParams8x8_16, PopulatePrecomputedZPTimesWeightsWithBias) computes them
// (numerics.md §5.2). This file uses float and double on purpose: it runs once, at conversion time.
// The arithmetic order and the float32/double choice of each line matter for bit-exactness.

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "core/quantize.h"
#include "pwl/pwl_fit.h"
#include "irnn/tflite_lstm.h"

namespace irnn {
namespace {

constexpr const char* kGateNames[4] = {"input", "forget", "cell", "output"};

std::string GateField(const char* name, int g) { return std::string(name) + "[" + kGateNames[g] + "]"; }

Status CheckScale(float scale, const std::string& field) {
  if (!(scale > 0.0f) || !std::isfinite(scale)) {
    return Status::InvalidArgument("TfliteLstmQuantization: " + field + ".scale is " + std::to_string(scale) +
                                   " but must be a finite number > 0");
  }
  return Status::Ok();
}

Status CheckSymmetric(const TensorQuantization& q, const std::string& field) {
  IRNN_RETURN_IF_ERROR(CheckScale(q.scale, field));
  if (q.zero_point != 0) {
    return Status::InvalidArgument("TfliteLstmQuantization: " + field + ".zero_point is " +
                                   std::to_string(q.zero_point) + " but must be 0 (symmetric tensor)");
  }
  return Status::Ok();
}

Status CheckAsymmetric8(const TensorQuantization& q, const std::string& field) {
  IRNN_RETURN_IF_ERROR(CheckScale(q.scale, field));
  if (q.zero_point < -128 || q.zero_point > 127) {
    return Status::InvalidArgument("TfliteLstmQuantization: " + field + ".zero_point is " +
                                   std::to_string(q.zero_point) + " but must be in [-128, 127]");
  }
  return Status::Ok();
}

// bias[r] + zero_point_factor * sum_k w[r][k], checked to fit int32.
Status FoldZeroPoint(const std::vector<int8_t>& w, int rows, int cols, const std::vector<int32_t>* bias,
                     int32_t zero_point_factor, const std::string& field, std::vector<int32_t>* out) {
  out->assign(rows, 0);
  for (int r = 0; r < rows; ++r) {
    int64_t row_sum = 0;
    for (int k = 0; k < cols; ++k) row_sum += w[static_cast<size_t>(r) * cols + k];
    const int64_t v = (bias != nullptr ? (*bias)[r] : 0) + int64_t{zero_point_factor} * row_sum;
    if (v < INT32_MIN || v > INT32_MAX) {
      return Status::OutOfRange("TfliteLstm derivation: " + field + "[" + std::to_string(r) + "] is " +
                                std::to_string(v) + " but must fit in int32");
    }
    (*out)[r] = static_cast<int32_t>(v);
  }
  return Status::Ok();
}

}  // namespace

Status DeriveTfliteLstmParams(const TfliteLstmConfig& config, const TfliteLstmWeights& weights,
                              const TfliteLstmQuantization& q, TfliteLstmParams* params) {
  if (params == nullptr) return Status::InvalidArgument("DeriveTfliteLstmParams: params is null");
  // Sizes first: everything below allocates from them.
  for (const auto& [value, name] : {std::pair<int32_t, const char*>{config.n_input, "n_input"},
                                    {config.n_cell, "n_cell"}, {config.n_output, "n_output"}}) {
    if (value < 1 || value > (1 << 16)) {
      return Status::InvalidArgument(std::string("TfliteLstmParams: config.") + name + " is " +
                                     std::to_string(value) + " but must be in [1, 65536]");
    }
  }
  TfliteLstmParams p;
  p.config = config;
  p.weights = weights;
  const bool ln = config.use_layer_norm;
  const Rounding rnd = config.rounding;

  IRNN_RETURN_IF_ERROR(CheckAsymmetric8(q.input, "input"));
  IRNN_RETURN_IF_ERROR(CheckAsymmetric8(q.output, "output"));
  IRNN_RETURN_IF_ERROR(CheckScale(q.cell_scale, "cell_state"));
  // The kernel needs an exact power-of-two cell scale with exponent in [-15, -9].
  const double log2_cell = std::log2(static_cast<double>(q.cell_scale));
  const int cs = static_cast<int>(std::lround(log2_cell));
  if (static_cast<double>(cs) != log2_cell) {
    return Status::InvalidArgument("TfliteLstmQuantization: cell_state.scale is " + std::to_string(q.cell_scale) +
                                   " but must be a power of two");
  }
  if (cs < -15 || cs > -9) {
    return Status::InvalidArgument("TfliteLstmQuantization: cell_state.scale is 2^" + std::to_string(cs) +
                                   " but must be 2^cs with cs in [-15, -9]");
  }
  p.cell_scale = cs;

  // Intermediate scales: without LN the gate pre-activations are Q3.12 whatever the model says.
  float intermediate[5];
  for (int i = 0; i < 4; ++i) {
    if (ln && !(config.use_cifg && i == kInputGate)) {
      IRNN_RETURN_IF_ERROR(CheckScale(q.intermediates[i].scale, "intermediates[" + std::to_string(i) + "]"));
      intermediate[i] = q.intermediates[i].scale;
    } else {
      intermediate[i] = std::pow(2.0f, -12.0f);
    }
  }
  IRNN_RETURN_IF_ERROR(CheckAsymmetric8(q.intermediates[4], "intermediates[4]"));
  intermediate[4] = q.intermediates[4].scale;
  p.hidden_zp = q.intermediates[4].zero_point;
  p.output_zp = q.output.zero_point;

  const float input_scale = q.input.scale;
  const float state_scale = q.output.scale;
  for (int g = 0; g < 4; ++g) {
    const bool present = !(config.use_cifg && g == kInputGate);
    // An absent tensor counts with scale 1.0, as in TFLite.
    float wx = 1.0f, wh = 1.0f, wc = 1.0f, wln = 1.0f;
    if (present) {
      IRNN_RETURN_IF_ERROR(CheckSymmetric(q.input_to_gate[g], GateField("input_to_gate", g)));
      IRNN_RETURN_IF_ERROR(CheckSymmetric(q.recurrent_to_gate[g], GateField("recurrent_to_gate", g)));
      wx = q.input_to_gate[g].scale;
      wh = q.recurrent_to_gate[g].scale;
      if (config.use_peephole && g != kCellGate) {
        IRNN_RETURN_IF_ERROR(CheckSymmetric(q.cell_to_gate[g], GateField("cell_to_gate", g)));
        wc = q.cell_to_gate[g].scale;
      }
      if (ln) {
        IRNN_RETURN_IF_ERROR(CheckSymmetric(q.layer_norm[g], GateField("layer_norm", g)));
        wln = q.layer_norm[g].scale;
      }
    }
    // float32 products and quotients, left to right (numerics.md §5.2). The effective scale of an
    // absent tensor stays at TFLite's default 1.0.
    if (present) {
      const float eff_x = wx * input_scale / intermediate[g];
      const float eff_h = wh * state_scale / intermediate[g];
      p.input_to_gate_scale[g] = QuantizeMultiplier(eff_x, rnd);
      p.recurrent_to_gate_scale[g] = QuantizeMultiplier(eff_h, rnd);
    } else {
      p.input_to_gate_scale[g] = QuantizeMultiplier(1.0, rnd);
      p.recurrent_to_gate_scale[g] = QuantizeMultiplier(1.0, rnd);
    }
    if (config.use_peephole && g != kCellGate && present) {
      const float eff_c = static_cast<float>(std::pow(2.0, cs) * wc / intermediate[g]);
      p.cell_to_gate_scale[g] = QuantizeMultiplier(eff_c, rnd);
    } else {
      p.cell_to_gate_scale[g] = QuantizeMultiplier(1.0, rnd);
    }
    p.layer_norm_scale[g] = QuantizeMultiplier(wln, rnd);
    const float guard = 10000.0f * wln;
    p.variance_guard[g] = present ? std::max(1, static_cast<int32_t>(guard)) : 0;
  }
  const float eff_hidden = static_cast<float>(std::pow(2.0, -15) / intermediate[4] * std::pow(2.0, -15));
  p.hidden_scale = QuantizeMultiplier(eff_hidden, rnd);
  p.projection_scale = QuantizeMultiplier(1.0, rnd);
  if (config.use_projection) {
    IRNN_RETURN_IF_ERROR(CheckSymmetric(q.projection, "projection"));
    const float eff_proj = q.projection.scale * intermediate[4] / state_scale;
    p.projection_scale = QuantizeMultiplier(eff_proj, rnd);
  }

  if (q.cell_clip < 0.0f || !std::isfinite(q.cell_clip)) {
    return Status::InvalidArgument("TfliteLstmQuantization: cell_clip is " + std::to_string(q.cell_clip) +
                                   " but must be >= 0 (0 = off)");
  }
  if (q.proj_clip < 0.0f || !std::isfinite(q.proj_clip)) {
    return Status::InvalidArgument("TfliteLstmQuantization: proj_clip is " + std::to_string(q.proj_clip) +
                                   " but must be >= 0 (0 = off)");
  }
  if (q.cell_clip > 0.0f) {
    p.quantized_cell_clip = static_cast<int16_t>(std::min(std::max(q.cell_clip / q.cell_scale, -32768.0f), 32767.0f));
  }
  if (q.proj_clip > 0.0f) {
    p.quantized_proj_clip = static_cast<int8_t>(std::min(std::max(q.proj_clip / q.output.scale, -128.0f), 127.0f));
  }

  // Shapes must be right before the zero-point folding reads the weights: validate what we have so far
  // with placeholder effective biases of the right size, then fold.
  const int n_cell = config.n_cell;
  for (int g = 0; g < 4; ++g) {
    const bool present = !(config.use_cifg && g == kInputGate);
    p.input_to_gate_effective_bias[g].assign(present ? n_cell : 0, 0);
    p.recurrent_to_gate_effective_bias[g].assign(present ? n_cell : 0, 0);
  }
  p.projection_effective_bias.assign(config.use_projection ? config.n_output : 0, 0);
  p.config.activation = LstmActivation::kFixedPoint;  // the PWL tables are fitted last
  IRNN_RETURN_IF_ERROR(ValidateTfliteLstmParams(p));
  p.config.activation = config.activation;

  for (int g = 0; g < 4; ++g) {
    if (config.use_cifg && g == kInputGate) continue;
    // Without LN the gate bias is folded here; with LN it is added inside LayerNorm (numerics.md §5 Q6).
    IRNN_RETURN_IF_ERROR(FoldZeroPoint(weights.input_to_gate[g], n_cell, config.n_input,
                                       ln ? nullptr : &weights.gate_bias[g], -q.input.zero_point,
                                       GateField("input_to_gate_effective_bias", g),
                                       &p.input_to_gate_effective_bias[g]));
    IRNN_RETURN_IF_ERROR(FoldZeroPoint(weights.recurrent_to_gate[g], n_cell, config.n_output, nullptr,
                                       -q.output.zero_point, GateField("recurrent_to_gate_effective_bias", g),
                                       &p.recurrent_to_gate_effective_bias[g]));
  }
  if (config.use_projection) {
    // TFLite stores the hidden vector with -hidden_zp and folds +hidden_zp here (numerics.md §5 Q2).
    const int32_t factor = config.tflite_compat ? p.hidden_zp : -p.hidden_zp;
    IRNN_RETURN_IF_ERROR(FoldZeroPoint(weights.projection, config.n_output, n_cell,
                                       config.use_projection_bias ? &weights.projection_bias : nullptr, factor,
                                       "projection_effective_bias", &p.projection_effective_bias));
  }
  if (config.activation == LstmActivation::kPwl) IRNN_RETURN_IF_ERROR(FitTfliteLstmPwlTables(true, 1.0, &p));
  *params = std::move(p);
  return Status::Ok();
}

Status FitTfliteLstmPwlTables(bool optimal, double max_error_lsb, TfliteLstmParams* params) {
  if (params == nullptr) return Status::InvalidArgument("FitTfliteLstmPwlTables: params is null");
  if (params->cell_scale < -15 || params->cell_scale > -9) {
    return Status::InvalidArgument("FitTfliteLstmPwlTables: cell_scale is " + std::to_string(params->cell_scale) +
                                   " but must be in [-15, -9]");
  }
  RealFunction sigmoid, tanh;
  BuiltinPwlFunction("sigmoid", &sigmoid);
  BuiltinPwlFunction("tanh", &tanh);
  const PwlGrid q3_12{-32768, 32767, std::ldexp(1.0, -12), 0};
  const PwlGrid cell{-32768, 32767, std::ldexp(1.0, params->cell_scale), 0};
  const PwlGrid q0_15_unsigned{0, 32767, std::ldexp(1.0, -15), 0};
  const PwlGrid q0_15_signed{-32767, 32767, std::ldexp(1.0, -15), 0};
  PwlFitOptions opt;
  opt.fitter = optimal ? PwlFitter::kOptimal : PwlFitter::kGreedy;
  opt.max_error_lsb = max_error_lsb;
  PwlFitResult r;
  IRNN_RETURN_IF_ERROR(FitPwl(sigmoid, q3_12, q0_15_unsigned, opt, &r));
  params->pwl_sigmoid = r.table;
  opt.odd = true;
  IRNN_RETURN_IF_ERROR(FitPwl(tanh, q3_12, q0_15_signed, opt, &r));
  params->pwl_tanh_gate = r.table;
  IRNN_RETURN_IF_ERROR(FitPwl(tanh, cell, q0_15_signed, opt, &r));
  params->pwl_tanh_cell = r.table;
  return Status::Ok();
}

}  // namespace irnn
