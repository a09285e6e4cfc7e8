// Random LSTM generator (see random_lstm.h).

#include "support/random_lstm.h"

#include <cmath>
#include <sstream>
#include <stdexcept>

namespace irnn::testing {

namespace {

RandomLstm Make(uint64_t seed, int max_dim, int max_batch, int max_steps, const LstmShape* shape) {
  std::mt19937_64 rng(seed);
  auto uni = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  auto real = [&](double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(rng); };
  auto coin = [&]() { return uni(0, 1) == 1; };

  TfliteLstmConfig cfg;
  cfg.n_input = uni(1, max_dim);
  cfg.n_cell = uni(1, max_dim);
  cfg.use_cifg = coin();
  cfg.use_peephole = coin();
  cfg.use_layer_norm = coin();
  cfg.use_projection = coin();
  cfg.use_projection_bias = cfg.use_projection && coin();
  cfg.rounding = coin() ? Rounding::kSingle : Rounding::kDouble;
  cfg.tflite_compat = uni(0, 3) != 0;
  cfg.n_output = cfg.use_projection ? uni(1, max_dim) : cfg.n_cell;
  if (cfg.use_peephole && cfg.tflite_compat && cfg.n_output > cfg.n_cell) cfg.n_output = uni(1, cfg.n_cell);
  if (shape != nullptr) {
    cfg.n_input = cfg.n_cell = cfg.n_output = shape->dim;
    cfg.use_projection = cfg.use_projection_bias = false;
  }

  auto int8s = [&](size_t n, int lo = -127, int hi = 127) {
    std::vector<int8_t> v(n);
    for (auto& x : v) x = static_cast<int8_t>(uni(lo, hi));
    return v;
  };
  auto int16s = [&](size_t n, int lo, int hi) {
    std::vector<int16_t> v(n);
    for (auto& x : v) x = static_cast<int16_t>(uni(lo, hi));
    return v;
  };
  auto int32s = [&](size_t n, int lo, int hi) {
    std::vector<int32_t> v(n);
    for (auto& x : v) x = uni(lo, hi);
    return v;
  };
  auto sym = [&](double lo, double hi) { return TensorQuantization{static_cast<float>(real(lo, hi)), 0}; };

  TfliteLstmWeights w;
  TfliteLstmQuantization q;
  const size_t nc = cfg.n_cell, ni = cfg.n_input, no = cfg.n_output;
  // Scales span a range that makes some gates saturate and some stay small.
  q.input = {static_cast<float>(real(0.002, 0.05)), uni(-128, 127)};
  q.output = {static_cast<float>(real(0.002, 0.03)), uni(-128, 127)};
  q.cell_scale = std::ldexp(1.0f, uni(-15, -9));
  for (int g = 0; g < 4; ++g) {
    if (cfg.use_cifg && g == kInputGate) continue;
    w.input_to_gate[g] = int8s(nc * ni);
    w.recurrent_to_gate[g] = int8s(nc * no);
    w.gate_bias[g] = int32s(nc, -40000, 40000);
    q.input_to_gate[g] = sym(0.001, 0.05);
    q.recurrent_to_gate[g] = sym(0.001, 0.05);
    if (cfg.use_peephole && g != kCellGate) {
      w.cell_to_gate[g] = int16s(nc, -32767, 32767);
      q.cell_to_gate[g] = sym(1e-5, 1e-4);
    }
    if (cfg.use_layer_norm) {
      w.layer_norm[g] = int16s(nc, -32767, 32767);
      q.layer_norm[g] = sym(1e-5, 1e-4);
      q.intermediates[g] = sym(5e-5, 5e-4);
    }
  }
  q.intermediates[4] = {static_cast<float>(real(0.003, 0.01)), uni(-60, 60)};
  if (!cfg.use_projection) q.intermediates[4] = q.output;
  if (cfg.use_projection) {
    w.projection = int8s(no * nc);
    q.projection = sym(0.001, 0.03);
    if (cfg.use_projection_bias) w.projection_bias = int32s(no, -5000, 5000);
  }
  q.cell_clip = coin() ? static_cast<float>(real(0.5, 4.0)) : 0.0f;
  q.proj_clip = cfg.use_projection && coin() ? static_cast<float>(real(0.05, 0.5)) : 0.0f;

  RandomLstm r;
  const Status s = DeriveTfliteLstmParams(cfg, w, q, &r.params);
  if (!s.ok()) throw std::runtime_error("MakeRandomLstm(seed " + std::to_string(seed) + "): " + s.message());
  r.batch = uni(1, max_batch);
  r.steps = uni(1, max_steps);
  if (shape != nullptr) {
    r.batch = shape->batch;
    r.steps = shape->steps;
  }
  r.input = int8s(static_cast<size_t>(r.steps) * r.batch * ni, -128, 127);
  std::ostringstream d;
  d << "seed " << seed << ": n_input " << ni << " n_cell " << nc << " n_output " << no << " batch " << r.batch
    << " steps " << r.steps << (cfg.use_cifg ? " cifg" : "") << (cfg.use_peephole ? " peephole" : "")
    << (cfg.use_layer_norm ? " ln" : "") << (cfg.use_projection ? " proj" : "")
    << (cfg.use_projection_bias ? "+bias" : "") << (q.cell_clip > 0 ? " cell_clip" : "")
    << (q.proj_clip > 0 ? " proj_clip" : "") << (cfg.rounding == Rounding::kSingle ? " single" : " double")
    << (cfg.tflite_compat ? " compat" : " intended");
  r.description = d.str();
  return r;
}

}  // namespace

RandomLstm MakeRandomLstm(uint64_t seed, int max_dim, int max_batch, int max_steps) {
  return Make(seed, max_dim, max_batch, max_steps, nullptr);
}

RandomLstm MakeRandomLstmOfShape(uint64_t seed, const LstmShape& shape) {
  return Make(seed, shape.dim, shape.batch, shape.steps, &shape);
}

}  // namespace irnn::testing
