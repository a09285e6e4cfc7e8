// Random TFLite-style integer LSTMs: see random_tflite_lstm.h.

#include "random_tflite_lstm.h"

#include <algorithm>
#include <array>
#include <cmath>

#include "core/quantize.h"

namespace irnn::cli {
namespace {

// Symmetric per-tensor quantization of U(-a, a) values to [-qmax, qmax]; returns the scale.
template <typename T>
float RandomSymmetric(Random* rng, size_t n, float a, int32_t qmax, std::vector<T>* out) {
  std::vector<float> w(n);
  float max_abs = 0.0f;
  for (float& v : w) {
    v = rng->Uniform(-a, a);
    max_abs = std::max(max_abs, std::fabs(v));
  }
  const float scale = max_abs > 0.0f ? max_abs / static_cast<float>(qmax) : 1.0f / static_cast<float>(qmax);
  out->resize(n);
  for (size_t i = 0; i < n; ++i) {
    const long q = std::lround(w[i] / scale);
    (*out)[i] = static_cast<T>(std::clamp<long>(q, -qmax, qmax));
  }
  return scale;
}

// Real bias values quantized at `scale` into int32.
std::vector<int32_t> QuantizeBias(const std::vector<float>& real, double scale) {
  std::vector<int32_t> q(real.size());
  for (size_t i = 0; i < real.size(); ++i) {
    const double v = std::round(static_cast<double>(real[i]) / scale);
    q[i] = static_cast<int32_t>(std::clamp(v, -2147483648.0, 2147483647.0));
  }
  return q;
}

}  // namespace

RandomTfliteLstmModel MakeRandomTfliteLstmModel(const TfliteLstmConfig& config, uint32_t seed, int32_t weight_max) {
  Random rng(seed);
  RandomTfliteLstmModel m;
  m.config = config;
  const size_t n_in = config.n_input, n_cell = config.n_cell, n_out = config.n_output;
  TfliteLstmQuantization& q = m.quantization;
  q.input = {1.0f / 64.0f, 5};
  q.output = {config.use_projection ? 1.0f / 64.0f : 1.0f / 128.0f, config.use_projection ? -3 : 0};
  q.cell_scale = std::ldexp(1.0f, -11);
  for (int g = 0; g < 4; ++g) q.intermediates[g] = {std::ldexp(1.0f, -12), 0};
  q.intermediates[4] = {1.0f / 128.0f, 0};

  const float a = 1.0f / std::sqrt(static_cast<float>(n_in + n_out));
  for (int g = 0; g < 4; ++g) {
    if (config.use_cifg && g == kInputGate) continue;
    const float sx = RandomSymmetric(&rng, n_cell * n_in, a, weight_max, &m.weights.input_to_gate[g]);
    const float sh = RandomSymmetric(&rng, n_cell * n_out, a, weight_max, &m.weights.recurrent_to_gate[g]);
    q.input_to_gate[g] = {sx, 0};
    q.recurrent_to_gate[g] = {sh, 0};
    if (config.use_peephole && g != kCellGate) {
      q.cell_to_gate[g] = {RandomSymmetric(&rng, n_cell, 0.1f, 32767, &m.weights.cell_to_gate[g]), 0};
    }
    std::vector<float> bias(n_cell);
    for (float& b : bias) b = g == kForgetGate ? 1.0f : rng.Uniform(-0.1f, 0.1f);
    if (config.use_layer_norm) {
      // LN coefficients ~ 1 +- 0.1; the bias is added after the normalized value * coefficient, in
      // units of coefficient scale * 2^-10 (numerics.md §3).
      std::vector<float> ln(n_cell);
      float max_abs = 0.0f;
      for (float& v : ln) {
        v = rng.Uniform(0.9f, 1.1f);
        max_abs = std::max(max_abs, v);
      }
      const float ln_scale = max_abs / 32767.0f;
      m.weights.layer_norm[g].resize(n_cell);
      for (size_t i = 0; i < n_cell; ++i) {
        m.weights.layer_norm[g][i] = static_cast<int16_t>(std::lround(ln[i] / ln_scale));
      }
      q.layer_norm[g] = {ln_scale, 0};
      m.weights.gate_bias[g] = QuantizeBias(bias, static_cast<double>(ln_scale) / 1024.0);
    } else {
      // TFLite's bias scale: input scale * input weight scale.
      m.weights.gate_bias[g] = QuantizeBias(bias, static_cast<double>(q.input.scale) * sx);
    }
  }
  if (config.use_projection) {
    const float sp = RandomSymmetric(&rng, n_out * n_cell, 1.0f / std::sqrt(static_cast<float>(n_cell)), weight_max,
                                     &m.weights.projection);
    q.projection = {sp, 0};
  }
  return m;
}

Status MakeRandomPotLstmParams(TfliteLstmConfig config, uint32_t seed, TfliteLstmParams* params) {
  config.tflite_compat = false;
  config.rounding = Rounding::kSingle;
  RandomTfliteLstmModel m = MakeRandomTfliteLstmModel(config, seed);
  // The float weights again (the same generator calls as MakeRandomTfliteLstmModel's, so the two models
  // are the same layer quantized two ways), quantized per row at power-of-two scales.
  Random rng(seed);
  const size_t n_in = config.n_input, n_cell = config.n_cell, n_out = config.n_output;
  const float a = 1.0f / std::sqrt(static_cast<float>(n_in + n_out));
  const double s_x = m.quantization.input.scale, s_h = m.quantization.output.scale;
  std::array<std::vector<double>, 4> sx, sh;
  auto quantize_rows = [&](size_t cols, std::vector<int8_t>* q, std::vector<double>* scales) {
    std::vector<float> w(n_cell * cols);
    for (float& v : w) v = rng.Uniform(-a, a);
    q->resize(w.size());
    scales->resize(n_cell);
    for (size_t r = 0; r < n_cell; ++r) {
      float max_abs = 0.0f;
      for (size_t k = 0; k < cols; ++k) max_abs = std::max(max_abs, std::fabs(w[r * cols + k]));
      const double scale = std::exp2(std::ceil(std::log2(std::max(max_abs, 1e-30f) / 127.0)));
      (*scales)[r] = scale;
      for (size_t k = 0; k < cols; ++k) {
        (*q)[r * cols + k] = static_cast<int8_t>(std::clamp<long>(std::lround(w[r * cols + k] / scale), -127, 127));
      }
    }
  };
  for (int g = 0; g < 4; ++g) {
    if (config.use_cifg && g == kInputGate) continue;
    quantize_rows(n_in, &m.weights.input_to_gate[g], &sx[g]);
    quantize_rows(n_out, &m.weights.recurrent_to_gate[g], &sh[g]);
    if (config.use_peephole && g != kCellGate) {
      std::vector<int16_t> unused;
      RandomSymmetric(&rng, n_cell, 0.1f, 32767, &unused);  // keeps the generator in step
    }
    std::vector<float> bias(n_cell);
    for (float& b : bias) b = g == kForgetGate ? 1.0f : rng.Uniform(-0.1f, 0.1f);
    if (config.use_layer_norm) {
      for (size_t i = 0; i < n_cell; ++i) rng.Uniform(0.9f, 1.1f);  // the LN coefficients, kept as they are
    } else {
      for (size_t r = 0; r < n_cell; ++r) {
        m.weights.gate_bias[g][r] = QuantizeBias({bias[r]}, s_x * sx[g][r])[0];
      }
    }
    // The per-tensor scales the derivation reads (the per-row multipliers below replace what it derives).
    m.quantization.input_to_gate[g] = {static_cast<float>(*std::max_element(sx[g].begin(), sx[g].end())), 0};
    m.quantization.recurrent_to_gate[g] = {static_cast<float>(*std::max_element(sh[g].begin(), sh[g].end())), 0};
  }
  if (config.use_projection) {
    const float sp = m.quantization.projection.scale;
    m.quantization.projection.scale = static_cast<float>(std::exp2(std::ceil(std::log2(sp))));
    for (int8_t& v : m.weights.projection) {
      v = static_cast<int8_t>(std::clamp<long>(std::lround(v * static_cast<double>(sp) / m.quantization.projection.scale), -127, 127));
    }
  }
  IRNN_RETURN_IF_ERROR(DeriveTfliteLstmParams(m.config, m.weights, m.quantization, params));
  const double gate_scale = std::ldexp(1.0, -12);  // Q3.12 pre-activations (no LayerNorm)
  for (int g = 0; g < 4; ++g) {
    if (sx[g].empty() || config.use_layer_norm) continue;
    params->input_to_gate_channel_scale[g].resize(n_cell);
    params->recurrent_to_gate_channel_scale[g].resize(n_cell);
    for (size_t r = 0; r < n_cell; ++r) {
      params->input_to_gate_channel_scale[g][r] = QuantizeMultiplierQ15(sx[g][r] * s_x / gate_scale, Rounding::kSingle);
      params->recurrent_to_gate_channel_scale[g][r] = QuantizeMultiplierQ15(sh[g][r] * s_h / gate_scale, Rounding::kSingle);
    }
  }
  return ValidateTfliteLstmParams(*params);
}

size_t TfliteLstmWeightBytes(const TfliteLstmWeights& w) {
  size_t bytes = w.projection.size() + w.projection_bias.size() * sizeof(int32_t);
  for (int g = 0; g < 4; ++g) {
    bytes += w.input_to_gate[g].size() + w.recurrent_to_gate[g].size();
    bytes += (w.cell_to_gate[g].size() + w.layer_norm[g].size()) * sizeof(int16_t);
    bytes += w.gate_bias[g].size() * sizeof(int32_t);
  }
  return bytes;
}

}  // namespace irnn::cli
