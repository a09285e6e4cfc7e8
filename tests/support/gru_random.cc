// Random integer GRU parameters (see gru_random.h).

#include "support/gru_random.h"

#include <random>

namespace irnn::testing {
namespace {

// The PWL tables of a derived GRU (sigmoid and tanh on Q3.12, 1 LSB), fitted once.
const GruParams& DerivedTables() {
  static const GruParams p = [] {
    GruParams g;
    g.config.n_input = 1;
    g.config.n_hidden = 1;
    GruQuantization q;
    q.input_scale = 0.01;
    q.output_scale = 0.008;
    for (int k = 0; k < 3; ++k) {
      g.input_weights[k] = {1};
      g.recurrent_weights[k] = {1};
      q.input_weight_scale[k] = {0.01};
      q.recurrent_weight_scale[k] = {0.01};
    }
    const Status s = DeriveGruParams(q, &g);
    if (!s.ok()) g.pwl_sigmoid = {};  // the tests then fail validation with the reason
    return g;
  }();
  return p;
}

}  // namespace

RandomGru MakeRandomGru(uint32_t seed, int32_t n_input, int32_t n_hidden, Rounding rounding, bool saturating) {
  std::mt19937 rng(seed);
  auto uniform = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  RandomGru r;
  GruParams& p = r.params;
  p.config.n_input = n_input;
  p.config.n_hidden = n_hidden;
  p.config.rounding = rounding;
  const int64_t h = n_hidden;
  auto multiplier = [&](int lo_shift, int hi_shift) {
    return QuantizedMultiplier{static_cast<int32_t>(uniform(int64_t{1} << 30, (int64_t{1} << 31) - 1)),
                               static_cast<int32_t>(uniform(lo_shift, hi_shift))};
  };
  for (int g = 0; g < 3; ++g) {
    p.input_weights[g].resize(static_cast<size_t>(h * n_input));
    p.recurrent_weights[g].resize(static_cast<size_t>(h * h));
    for (auto& w : p.input_weights[g]) w = static_cast<int8_t>(uniform(-127, 127));
    for (auto& w : p.recurrent_weights[g]) w = static_cast<int8_t>(uniform(-127, 127));
    for (auto* b : {&p.input_effective_bias[g], &p.recurrent_effective_bias[g]}) {
      b->resize(static_cast<size_t>(h));
      for (auto& v : *b) {
        const int64_t pick = uniform(0, 49);
        v = static_cast<int32_t>(pick == 0 ? uniform(INT32_MAX - 1000, INT32_MAX)
                                           : pick == 1 ? uniform(INT32_MIN, INT32_MIN + 1000) : uniform(-60000, 60000));
      }
    }
    for (auto* m : {&p.input_scale[g], &p.recurrent_scale[g]}) {
      m->resize(static_cast<size_t>(h));
      // Accumulators of ~127^2 sqrt(K) to Q3.12: shifts around -10; saturating configs reach 0.
      for (auto& q : *m) q = saturating ? multiplier(-8, 0) : multiplier(-14, -7);
    }
  }
  p.output_scale = saturating ? multiplier(-6, -4) : multiplier(-9, -7);
  p.output_zp = static_cast<int32_t>(uniform(-128, 127));
  p.pwl_sigmoid = DerivedTables().pwl_sigmoid;
  p.pwl_tanh = DerivedTables().pwl_tanh;
  r.description = "seed " + std::to_string(seed) + ", n_input " + std::to_string(n_input) + ", n_hidden " +
                  std::to_string(n_hidden) + (rounding == Rounding::kSingle ? ", single" : ", double") +
                  (saturating ? ", saturating" : "");
  return r;
}

}  // namespace irnn::testing
