// Random language models (see random_lm.h).

#include "support/random_lm.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>

#include "core/quantize.h"

namespace irnn::testing {
namespace {

int Uni(std::mt19937_64& rng, int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); }
double Real(std::mt19937_64& rng, double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(rng); }

std::vector<QuantizedMultiplier> ChannelScales(std::mt19937_64& rng, QuantizedMultiplier base, int rows) {
  std::vector<QuantizedMultiplier> v(rows);
  for (auto& m : v) {
    m.multiplier = Uni(rng, 1 << 30, 2147483647);
    m.shift = std::clamp(base.shift + Uni(rng, -1, 1), -31, 30);
  }
  return v;
}

}  // namespace

void AddPerChannelScales(std::mt19937_64& rng, TfliteLstmParams* p, double probability) {
  const TfliteLstmConfig& c = p->config;
  auto pick = [&]() { return std::bernoulli_distribution(probability)(rng); };
  int added = 0;
  for (int pass = 0; pass < 2 && added == 0 && probability > 0; ++pass) {
    for (int g = 0; g < 4; ++g) {
      if (c.use_cifg && g == kInputGate) continue;
      if (pick() && p->input_to_gate_channel_scale[g].empty()) {
        p->input_to_gate_channel_scale[g] = ChannelScales(rng, p->input_to_gate_scale[g], c.n_cell);
        p->input_to_gate_scale[g] = {};
        ++added;
      }
      if (pick() && p->recurrent_to_gate_channel_scale[g].empty()) {
        p->recurrent_to_gate_channel_scale[g] = ChannelScales(rng, p->recurrent_to_gate_scale[g], c.n_cell);
        p->recurrent_to_gate_scale[g] = {};
        ++added;
      }
    }
    if (c.use_projection && pick() && p->projection_channel_scale.empty()) {
      p->projection_channel_scale = ChannelScales(rng, p->projection_scale, c.n_output);
      p->projection_scale = {};
      ++added;
    }
  }
}

TfliteLstmParams RandomLstmLayer(std::mt19937_64& rng, int n_input, int n_cell, int n_output,
                                 TensorQuantization input, TensorQuantization output, std::string* description) {
  auto coin = [&]() { return Uni(rng, 0, 1) == 1; };
  TfliteLstmConfig cfg;
  cfg.n_input = n_input;
  cfg.n_cell = n_cell;
  cfg.n_output = n_output;
  cfg.use_projection = n_output != n_cell || coin();
  cfg.use_projection_bias = cfg.use_projection && coin();
  cfg.use_cifg = coin();
  cfg.use_peephole = coin();
  cfg.use_layer_norm = coin();
  cfg.rounding = coin() ? Rounding::kSingle : Rounding::kDouble;
  cfg.tflite_compat = Uni(rng, 0, 2) != 0;
  if (cfg.use_peephole && cfg.tflite_compat && cfg.n_output > cfg.n_cell) cfg.tflite_compat = false;

  auto int8s = [&](size_t n) {
    std::vector<int8_t> v(n);
    for (auto& x : v) x = static_cast<int8_t>(Uni(rng, -127, 127));
    return v;
  };
  auto int16s = [&](size_t n) {
    std::vector<int16_t> v(n);
    for (auto& x : v) x = static_cast<int16_t>(Uni(rng, -32767, 32767));
    return v;
  };
  auto int32s = [&](size_t n, int lo, int hi) {
    std::vector<int32_t> v(n);
    for (auto& x : v) x = Uni(rng, lo, hi);
    return v;
  };
  auto sym = [&](double lo, double hi) { return TensorQuantization{static_cast<float>(Real(rng, lo, hi)), 0}; };

  TfliteLstmWeights w;
  TfliteLstmQuantization q;
  const size_t nc = n_cell, ni = n_input, no = n_output;
  q.input = input;
  q.output = output;
  q.cell_scale = std::ldexp(1.0f, Uni(rng, -15, -9));
  for (int g = 0; g < 4; ++g) {
    if (cfg.use_cifg && g == kInputGate) continue;
    w.input_to_gate[g] = int8s(nc * ni);
    w.recurrent_to_gate[g] = int8s(nc * no);
    w.gate_bias[g] = int32s(nc, -40000, 40000);
    q.input_to_gate[g] = sym(0.001, 0.03);
    q.recurrent_to_gate[g] = sym(0.001, 0.03);
    if (cfg.use_peephole && g != kCellGate) {
      w.cell_to_gate[g] = int16s(nc);
      q.cell_to_gate[g] = sym(1e-5, 1e-4);
    }
    if (cfg.use_layer_norm) {
      w.layer_norm[g] = int16s(nc);
      q.layer_norm[g] = sym(1e-5, 1e-4);
      q.intermediates[g] = sym(5e-5, 5e-4);
    }
  }
  q.intermediates[4] = cfg.use_projection ? TensorQuantization{static_cast<float>(Real(rng, 0.003, 0.01)),
                                                               Uni(rng, -60, 60)}
                                          : output;
  if (cfg.use_projection) {
    w.projection = int8s(no * nc);
    q.projection = sym(0.001, 0.03);
    if (cfg.use_projection_bias) w.projection_bias = int32s(no, -5000, 5000);
  }
  q.cell_clip = coin() ? static_cast<float>(Real(rng, 0.5, 4.0)) : 0.0f;
  q.proj_clip = cfg.use_projection && coin() ? static_cast<float>(Real(rng, 0.05, 0.5)) : 0.0f;

  TfliteLstmParams p;
  const Status s = DeriveTfliteLstmParams(cfg, w, q, &p);
  if (!s.ok()) throw std::runtime_error("RandomLstmLayer: " + s.message());
  if (description != nullptr) {
    std::ostringstream d;
    d << "[" << ni << "->" << nc << "->" << no << (cfg.use_cifg ? " cifg" : "") << (cfg.use_peephole ? " peephole" : "")
      << (cfg.use_layer_norm ? " ln" : "") << (cfg.use_projection ? " proj" : "")
      << (cfg.rounding == Rounding::kSingle ? " single" : " double") << (cfg.tflite_compat ? " compat" : " intended")
      << "]";
    *description += d.str();
  }
  return p;
}

RandomLm MakeRandomLm(uint64_t seed, const LmOptions& o) {
  std::mt19937_64 rng(seed);
  RandomLm r;
  std::ostringstream d;
  d << "seed " << seed << ": vocab " << o.vocab << " dim " << o.dim << (o.per_channel ? " per-channel" : "")
    << (o.pwl ? " pwl" : "") << " lstm ";
  LanguageModelParams& p = r.params;

  TensorQuantization x{static_cast<float>(Real(rng, 0.01, 0.05)), Uni(rng, -100, 100)};
  p.embedding.vocab = o.vocab;
  p.embedding.dim = o.dim;
  p.embedding.zero_point = x.zero_point;  // the exporter's guarantee: lstm[0]'s input zero point
  p.embedding.table.resize(static_cast<size_t>(o.vocab) * o.dim);
  for (auto& v : p.embedding.table) v = static_cast<int8_t>(Uni(rng, -128, 127));

  int n_in = o.dim;
  std::string layers;
  for (int l = 0; l < o.layers; ++l) {
    const int n_cell = Uni(rng, 1, o.max_cell);
    const int n_out = Uni(rng, 0, 2) == 0 ? Uni(rng, 1, o.max_cell) : n_cell;
    const TensorQuantization y{static_cast<float>(Real(rng, 0.003, 0.03)), Uni(rng, -100, 100)};
    TfliteLstmParams lstm = RandomLstmLayer(rng, n_in, n_cell, n_out, x, y, &layers);
    if (o.per_channel) AddPerChannelScales(rng, &lstm);
    if (o.pwl) {
      lstm.config.activation = LstmActivation::kPwl;
      const Status s = FitTfliteLstmPwlTables(/*optimal=*/false, 2.0, &lstm);
      if (!s.ok()) throw std::runtime_error("MakeRandomLm: " + s.message());
    }
    p.lstm.push_back(std::move(lstm));
    x = y;
    n_in = n_out;
  }
  d << layers;

  // Decoder: symmetric per-row weights, logits of scale 2^-8 (numerics.md §7.3).
  LinearParams& dec = p.decoder;
  dec.n_in = n_in;
  dec.n_out = o.vocab;
  dec.rounding = o.decoder_rounding;
  dec.weights.resize(static_cast<size_t>(dec.n_out) * dec.n_in);
  for (auto& v : dec.weights) v = static_cast<int8_t>(Uni(rng, -127, 127));
  const double logit_scale = 1.0 / 256;
  for (int r = 0; r < dec.n_out; ++r) {
    const double weight_scale = Real(rng, 0.002, 0.02);
    int64_t row_sum = 0;
    for (int k = 0; k < dec.n_in; ++k) row_sum += dec.weights[static_cast<size_t>(r) * dec.n_in + k];
    dec.effective_bias.push_back(static_cast<int32_t>(Uni(rng, -5000, 5000) - int64_t{x.zero_point} * row_sum));
    dec.channel_scale.push_back(QuantizeMultiplier(weight_scale * x.scale / logit_scale, dec.rounding));
  }
  r.batch = Uni(rng, 1, o.max_batch);
  r.steps = Uni(rng, 1, o.max_steps);
  r.tokens.resize(static_cast<size_t>(r.steps) * r.batch);
  for (auto& t : r.tokens) t = Uni(rng, 0, o.vocab - 1);
  d << " batch " << r.batch << " steps " << r.steps;
  r.description = d.str();
  return r;
}

}  // namespace irnn::testing
