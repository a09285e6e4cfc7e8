// Random Mogrifier LSTM generator (see random_mogrifier.h).

#include "support/random_mogrifier.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <mutex>
#include <random>
#include <sstream>
#include <stdexcept>

#include "support/random_lstm.h"

namespace irnn::testing {

const TfliteLstmParams& CachedPwlTables(int cell_scale) {
  static std::array<TfliteLstmParams, 7> tables;
  static std::array<bool, 7> done{};
  static std::mutex mu;
  if (cell_scale < -15 || cell_scale > -9) throw std::runtime_error("CachedPwlTables: cell_scale out of range");
  std::lock_guard<std::mutex> lock(mu);
  const int i = cell_scale + 15;
  if (!done[i]) {
    // One fit per process (about 0.3 s): the sigmoid and the gate tanh do not depend on the cell scale,
    // and for bit-exactness tests the tanh(c) table of cell scale -12 is as good a valid table as the
    // exact one for any other scale.
    static TfliteLstmParams fitted;
    static bool fitted_done = false;
    if (!fitted_done) {
      fitted.cell_scale = -12;
      const Status s = FitTfliteLstmPwlTables(/*optimal=*/true, 1.0, &fitted);
      if (!s.ok()) throw std::runtime_error("CachedPwlTables: " + s.message());
      fitted_done = true;
    }
    tables[i] = fitted;
    tables[i].cell_scale = cell_scale;
    done[i] = true;
  }
  return tables[i];
}

RandomMogrifier MakeRandomMogrifier(uint64_t seed, bool irnn_mode, int max_dim, int max_batch, int max_steps) {
  const RandomLstm base = MakeRandomLstm(seed, max_dim, max_batch, max_steps);
  std::mt19937_64 rng(seed * 7919 + 17);
  auto uni = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  RandomMogrifier r;
  MogrifierLstmParams& p = r.params;
  p.lstm = base.params;
  const TfliteLstmParams& pwl = CachedPwlTables(p.lstm.cell_scale);
  if (irnn_mode) {
    p.lstm.config.activation = LstmActivation::kPwl;
    p.lstm.pwl_sigmoid = pwl.pwl_sigmoid;
    p.lstm.pwl_tanh_gate = pwl.pwl_tanh_gate;
    p.lstm.pwl_tanh_cell = pwl.pwl_tanh_cell;
    for (int g = 0; g < 4; ++g) {
      if (p.lstm.weights.input_to_gate[g].empty()) continue;
      for (auto* v : {&p.lstm.input_to_gate_channel_scale[g], &p.lstm.recurrent_to_gate_channel_scale[g]}) {
        const QuantizedMultiplier base_m =
            v == &p.lstm.input_to_gate_channel_scale[g] ? p.lstm.input_to_gate_scale[g] : p.lstm.recurrent_to_gate_scale[g];
        v->resize(p.lstm.config.n_cell);
        for (auto& m : *v) m = {uni(1 << 30, 2147483647), std::clamp(base_m.shift + uni(-1, 1), -31, 30)};
      }
    }
  }
  p.input_zp = uni(-128, 127);
  p.sigmoid = pwl.pwl_sigmoid;
  const int n_in = p.lstm.config.n_input, n_out = p.lstm.config.n_output;
  const int rounds = uni(1, 6);
  for (int i = 0; i < rounds; ++i) {
    const bool odd = i % 2 == 0;
    const int rows = odd ? n_in : n_out, cols = odd ? n_out : n_in;
    MogrifierRound m;
    m.weight.resize(static_cast<size_t>(rows) * cols);
    for (auto& w : m.weight) w = static_cast<int8_t>(uni(-127, 127));
    m.effective_bias.resize(rows);
    for (auto& b : m.effective_bias) b = uni(-300000, 300000);
    m.scale.resize(rows);
    // |acc| is about 127·74·sqrt(cols) for uniform int8: a real multiplier near 0.5/sqrt(cols) maps it
    // to a few thousand Q3.12 units, with some beyond the sigmoid's range.
    const int base_shift = -1 - static_cast<int>(std::log2(std::sqrt(static_cast<double>(cols))));
    for (auto& s : m.scale) s = {uni(1 << 30, 2147483647), base_shift + uni(-2, 1)};
    p.rounds.push_back(std::move(m));
  }
  const Status s = ValidateMogrifierLstmParams(p);
  if (!s.ok()) throw std::runtime_error("MakeRandomMogrifier(seed " + std::to_string(seed) + "): " + s.message());
  r.batch = base.batch;
  r.steps = base.steps;
  r.input = base.input;
  std::ostringstream d;
  d << base.description << " rounds " << rounds << " input_zp " << p.input_zp << (irnn_mode ? " irnn-mode" : "");
  r.description = d.str();
  return r;
}

}  // namespace irnn::testing
