// Tests of the LSTM's fused streaming step (TfliteLstm::Step with fewer than 16 batch rows, which runs
// LstmStreamStepS16 on the avx512vnni and amx paths) on the models it gained: per-row multipliers
// (numerics.md §7.1), intended mode (§4.1, §5.1 Q5), PWL activations (§6.1), and the power-of-two form of
// the requantization (the kernel's kPot, chosen at Create where every input and recurrent multiplier is
// (2^30, 1 - k) under single rounding and the accumulator bounds allow it; the hidden multiplier likewise).
// Every case compares Step on those paths, 1 and 2 threads, bit for bit with Step on the scalar path (the
// reference kernels composed op by op). The models are drawn directly as integer parameters (no float
// derivation), small, with odd sizes; not a test of accuracy or of other kernels.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "irnn/tflite_lstm.h"
#include "support/paths.h"

namespace irnn {
namespace {

enum class Scales { kPot, kPerRow, kPerTensor };

struct Options {
  int n_cell = 1;
  int batch = 1;
  Scales scales = Scales::kPot;
  bool pwl = false;
  bool cifg = false;
  bool clip = false;
  bool compat = false;
  bool single = true;
  bool projection = false;
  bool hidden_pot = true;
  bool hidden_left = false;  // (hidden_pot false) a hidden shift >= 0: not a right shift
  // Saturating weights and inputs; biases at the accumulator bound of the power-of-two form (kPot) or at
  // the int32 ends (the sums wrap).
  bool extreme = false;
  int steps = 3;
};

struct Model {
  TfliteLstmParams params;
  std::vector<int8_t> input;  // [steps][batch][n_input]
  std::string description;
};

// The three PWL tables for a cell scale, fitted once (greedy, 2 LSB: the fit is float code, and slow).
const TfliteLstmParams& PwlTables(int cell_scale) {
  static std::map<int, TfliteLstmParams> cache;
  auto it = cache.find(cell_scale);
  if (it == cache.end()) {
    TfliteLstmParams p;
    p.cell_scale = cell_scale;
    const Status s = FitTfliteLstmPwlTables(false, 2.0, &p);
    EXPECT_TRUE(s.ok()) << s.message();
    it = cache.emplace(cell_scale, std::move(p)).first;
  }
  return it->second;
}

Model MakeModel(uint64_t seed, const Options& o) {
  std::mt19937_64 rng(seed);
  auto uni = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  Model m;
  TfliteLstmParams& p = m.params;
  TfliteLstmConfig& c = p.config;
  c.n_cell = o.n_cell;
  do {
    c.n_input = static_cast<int32_t>(uni(1, 70));
  } while (c.n_input == c.n_cell);
  c.use_projection = o.projection;
  c.n_output = o.projection ? static_cast<int32_t>(uni(1, 40)) : c.n_cell;
  c.use_cifg = o.cifg;
  c.rounding = o.single ? Rounding::kSingle : Rounding::kDouble;
  c.tflite_compat = o.compat;
  c.activation = o.pwl ? LstmActivation::kPwl : LstmActivation::kFixedPoint;
  p.cell_scale = static_cast<int32_t>(uni(-15, -9));
  auto int8s = [&](int64_t n) {
    std::vector<int8_t> v(static_cast<size_t>(n));
    for (auto& x : v) x = static_cast<int8_t>(o.extreme ? (uni(0, 1) == 0 ? -128 : 127) : uni(-128, 127));
    return v;
  };
  auto multiplier = [&]() -> QuantizedMultiplier {
    if (o.scales == Scales::kPot) return {int32_t{1} << 30, static_cast<int32_t>(-uni(0, 11))};
    // Even seeds: right shifts only (the kernel's RequantizeRightLanes512 on every block); odd seeds: some
    // shifts >= 0 (its blocks with such a row take RequantizeLanes512).
    return {static_cast<int32_t>(uni(int64_t{1} << 30, (int64_t{1} << 31) - 1)),
            static_cast<int32_t>(uni(-13, seed % 2 == 0 ? -1 : 1))};
  };
  for (int g = 0; g < 4; ++g) {
    if (o.cifg && g == kInputGate) continue;
    for (int part = 0; part < 2; ++part) {
      const int cols = part == 0 ? c.n_input : c.n_output;
      std::vector<int8_t> w = int8s(int64_t{c.n_cell} * cols);
      std::vector<QuantizedMultiplier> channel;
      QuantizedMultiplier tensor = multiplier();
      // kPot: per-row on most gates, per-tensor on some (both are allowed); kPerRow: per-row throughout.
      if (o.scales == Scales::kPerRow || (o.scales == Scales::kPot && uni(0, 3) != 0)) {
        for (int r = 0; r < c.n_cell; ++r) channel.push_back(multiplier());
      }
      std::vector<int32_t> bias(static_cast<size_t>(c.n_cell));
      for (int r = 0; r < c.n_cell; ++r) {
        if (o.extreme && o.scales != Scales::kPot) {
          bias[static_cast<size_t>(r)] = uni(0, 1) == 0 ? INT32_MIN : INT32_MAX;
        } else if (o.extreme) {
          // The largest bias the power-of-two form admits: B + 2^(k-1) = INT32_MAX (see StreamPotShifts).
          int64_t sum = 0;
          for (int j = 0; j < cols; ++j) sum += 128 * std::abs(int{w[static_cast<size_t>(r) * cols + j]});
          const QuantizedMultiplier mr = channel.empty() ? tensor : channel[static_cast<size_t>(r)];
          const int64_t b = INT32_MAX - (int64_t{1} << (-mr.shift)) - sum;
          bias[static_cast<size_t>(r)] = static_cast<int32_t>(uni(0, 1) == 0 ? b : -b);
        } else {
          bias[static_cast<size_t>(r)] = static_cast<int32_t>(uni(-60000, 60000));
        }
      }
      if (part == 0) {
        p.weights.input_to_gate[g] = std::move(w);
        p.input_to_gate_scale[g] = tensor;
        p.input_to_gate_channel_scale[g] = std::move(channel);
        p.input_to_gate_effective_bias[g] = std::move(bias);
      } else {
        p.weights.recurrent_to_gate[g] = std::move(w);
        p.recurrent_to_gate_scale[g] = tensor;
        p.recurrent_to_gate_channel_scale[g] = std::move(channel);
        p.recurrent_to_gate_effective_bias[g] = std::move(bias);
      }
    }
    p.weights.gate_bias[g].assign(static_cast<size_t>(c.n_cell), 0);
  }
  // o * tanh(c) < 2^30: a hidden shift k near 23 spans int8; smaller ones saturate, larger ones (up to the
  // largest the power-of-two form takes, 30, and one beyond it) give small outputs.
  p.hidden_scale = o.hidden_pot ? QuantizedMultiplier{int32_t{1} << 30, static_cast<int32_t>(-uni(14, 30))}
                                : QuantizedMultiplier{static_cast<int32_t>(uni(int64_t{1} << 30, (int64_t{1} << 31) - 1)),
                                                      static_cast<int32_t>(o.hidden_left ? uni(0, 2) : uni(-23, -14))};
  p.hidden_zp = static_cast<int32_t>(uni(-128, 127));
  p.output_zp = static_cast<int32_t>(uni(-128, 127));
  p.quantized_cell_clip = o.clip ? static_cast<int16_t>(uni(1, 32767)) : int16_t{0};
  if (o.projection) {
    p.weights.projection = int8s(int64_t{c.n_output} * c.n_cell);
    p.projection_scale = {static_cast<int32_t>(uni(int64_t{1} << 30, (int64_t{1} << 31) - 1)),
                          static_cast<int32_t>(uni(-14, -6))};
    p.projection_effective_bias.resize(static_cast<size_t>(c.n_output));
    for (auto& b : p.projection_effective_bias) b = static_cast<int32_t>(uni(-5000, 5000));
    p.quantized_proj_clip = uni(0, 1) == 0 ? int8_t{0} : static_cast<int8_t>(uni(1, 127));
  }
  if (o.pwl) {
    const TfliteLstmParams& t = PwlTables(p.cell_scale);
    p.pwl_sigmoid = t.pwl_sigmoid;
    p.pwl_tanh_gate = t.pwl_tanh_gate;
    p.pwl_tanh_cell = t.pwl_tanh_cell;
  }
  m.input = int8s(int64_t{o.steps} * o.batch * c.n_input);
  std::ostringstream d;
  d << "seed " << seed << ": n_input " << c.n_input << " n_cell " << c.n_cell << " n_output " << c.n_output
    << " batch " << o.batch << " steps " << o.steps
    << (o.scales == Scales::kPot ? " pot" : o.scales == Scales::kPerRow ? " per-row" : " per-tensor")
    << (o.hidden_pot ? " hidden-pot" : o.hidden_left ? " hidden-left" : "") << (o.pwl ? " pwl" : " fixed")
    << (o.cifg ? " cifg" : "")
    << (o.clip ? " clip" : "") << (o.projection ? " proj" : "") << (o.single ? " single" : " double")
    << (o.compat ? " compat" : " intended") << (o.extreme ? " extreme" : "");
  m.description = d.str();
  return m;
}

struct Result {
  std::vector<int8_t> out;
  std::vector<int8_t> h;
  std::vector<int16_t> c;
  bool operator==(const Result& r) const { return out == r.out && h == r.h && c == r.c; }
};

Result StepByStep(const Model& m, int batch, int steps, KernelPath path, int threads) {
  Result res;
  std::unique_ptr<TfliteLstm> lstm;
  const Status s = TfliteLstm::Create(m.params, path, threads, &lstm);
  EXPECT_TRUE(s.ok()) << s.message();
  if (!s.ok()) return res;
  TfliteLstmState state;
  EXPECT_TRUE(lstm->NewState(batch, &state).ok());
  const TfliteLstmConfig& c = m.params.config;
  const size_t in_step = static_cast<size_t>(batch) * c.n_input;
  const size_t out_step = static_cast<size_t>(batch) * c.n_output;
  res.out.assign(out_step * steps, 0);
  for (int t = 0; t < steps; ++t) {
    const Status st = lstm->Step(m.input.data() + t * in_step, &state, res.out.data() + t * out_step);
    EXPECT_TRUE(st.ok()) << st.message();
  }
  res.h = state.h();
  res.c = state.c();
  return res;
}

std::vector<KernelPath> StreamPaths() {
  std::vector<KernelPath> paths;
  if (testing::Avx512VnniAvailableOrNote()) paths.push_back(KernelPath::kAvx512Vnni);
  if (testing::AmxAvailableOrNote()) paths.push_back(KernelPath::kAmx);
  return paths;
}

// Step on each streaming path and thread count equals Step on the scalar path. Returns the comparisons.
int Compare(uint64_t seed, const Options& o) {
  const Model m = MakeModel(seed, o);
  SCOPED_TRACE(m.description);
  const Result want = StepByStep(m, o.batch, o.steps, KernelPath::kScalar, 1);
  int compared = 0;
  for (KernelPath path : StreamPaths()) {
    for (int threads : {1, 2}) {
      const Result got = StepByStep(m, o.batch, o.steps, path, threads);
      EXPECT_EQ(got.out, want.out) << KernelPathName(path) << ", " << threads << " thread(s): outputs";
      EXPECT_EQ(got.h, want.h) << KernelPathName(path) << ", " << threads << " thread(s): h";
      EXPECT_EQ(got.c, want.c) << KernelPathName(path) << ", " << threads << " thread(s): c";
      ++compared;
    }
  }
  return compared;
}

// The power-of-two form: intended mode, single rounding, pot per-row (and some per-tensor) multipliers,
// pot hidden multiplier; every n_cell of the brief, batch 1, 2, 3, 15, fixed-point and PWL activations,
// CIFG and cell clip on and off. A few cases with a non-pot hidden multiplier, in tflite_compat mode
// (the pot requantization with the two saturations of Q5) and with a projection.
TEST(TfliteLstmStream, PotModelsStepEqualsScalar) {
  uint64_t seed = 1;
  int compared = 0;
  // n_cell = 257 at batch 3 and 15: 2 threads really split the rows (row_split.h: >= 128 per thread).
  for (int n_cell : {1, 3, 17, 33, 128, 257}) {
    for (int batch : {1, 2, 3, 15}) {
      if (n_cell == 257 && batch < 3) continue;
      for (int variant = 0; variant < 4; ++variant) {
        Options o;
        o.n_cell = n_cell;
        o.batch = batch;
        o.pwl = (variant & 1) != 0;
        o.cifg = (variant & 2) != 0;
        o.clip = ((variant + batch) & 1) != 0;
        o.hidden_pot = (seed % 7) != 3;
        o.compat = (seed % 11) == 5;
        o.projection = (seed % 5) == 2;
        compared += Compare(seed++, o);
      }
    }
  }
  if (compared == 0) std::cout << "[ NOTE     ] no streaming path (AVX-512 VNNI) here: nothing was compared\n";
}

// Saturating weights and inputs with the biases at the largest magnitude the power-of-two form admits
// (B + 2^(k-1) = INT32_MAX, the sum of the two contributions up to 2^31 - 2 where k = 1): the
// accumulators reach the int32 ends without wrapping and every pre-activation saturates.
TEST(TfliteLstmStream, PotModelsAtTheAccumulatorBoundEqualScalar) {
  uint64_t seed = 1000;
  for (int n_cell : {3, 17, 33}) {
    for (int batch : {1, 3, 15}) {
      for (bool pwl : {false, true}) {
        Options o;
        o.n_cell = n_cell;
        o.batch = batch;
        o.pwl = pwl;
        o.extreme = true;
        o.cifg = (seed & 1) != 0;
        o.clip = (seed & 2) != 0;
        Compare(seed++, o);
      }
    }
  }
}

// Models the power-of-two form does not serve take the general per-lane requantization (kPerRow): per-row
// non-pot multipliers in both roundings and both modes, fixed-point and PWL, also with saturating weights
// and inputs and int32-end biases (wrapping sums); and pot multipliers under double rounding or beyond the
// accumulator bound.
TEST(TfliteLstmStream, PerRowModelsStepEqualsScalar) {
  uint64_t seed = 2000;
  for (int n_cell : {1, 17, 33, 128}) {
    for (int batch : {1, 2, 15}) {
      for (int variant = 0; variant < 4; ++variant) {
        Options o;
        o.n_cell = n_cell;
        o.batch = batch;
        o.scales = Scales::kPerRow;
        o.pwl = (variant & 1) != 0;
        o.single = (variant & 2) != 0;
        o.compat = ((variant + batch) & 1) != 0;
        o.cifg = (seed % 3) == 0;
        o.clip = (seed % 4) == 1;
        o.hidden_pot = (seed % 2) == 0;
        Compare(seed++, o);
      }
    }
  }
  for (int variant = 0; variant < 8; ++variant) {
    Options o;
    o.n_cell = variant < 4 ? 17 : 33;
    o.batch = 1 + 2 * (variant % 3);
    o.scales = Scales::kPerRow;
    o.extreme = true;
    o.single = (variant & 1) != 0;
    o.compat = (variant & 2) != 0;
    o.pwl = variant >= 6;
    Compare(seed++, o);
  }
  for (int variant = 0; variant < 4; ++variant) {
    Options o;
    o.n_cell = 33;
    o.batch = 3;
    o.single = variant < 2;  // single rounding, but biases beyond the bound: refused
    o.pwl = (variant & 1) != 0;
    Model m = MakeModel(seed, o);
    if (variant < 2) {
      for (auto& bias : m.params.input_to_gate_effective_bias) {
        for (auto& b : bias) b = b < 0 ? INT32_MIN : INT32_MAX;
      }
    }
    SCOPED_TRACE(m.description);
    const Result want = StepByStep(m, o.batch, o.steps, KernelPath::kScalar, 1);
    for (KernelPath path : StreamPaths()) {
      EXPECT_EQ(StepByStep(m, o.batch, o.steps, path, 1), want) << KernelPathName(path);
    }
    ++seed;
  }
}

// The per-tensor models the streaming step served before, now with PWL activations and in both modes.
TEST(TfliteLstmStream, PerTensorPwlModelsStepEqualsScalar) {
  uint64_t seed = 3000;
  for (int n_cell : {3, 33}) {
    for (int batch : {1, 3}) {
      for (int variant = 0; variant < 4; ++variant) {
        Options o;
        o.n_cell = n_cell;
        o.batch = batch;
        o.scales = Scales::kPerTensor;
        o.pwl = true;
        o.single = (variant & 1) != 0;
        o.compat = (variant & 2) != 0;
        o.cifg = (seed % 3) == 0;
        Compare(seed++, o);
      }
    }
  }
}

// Per-tensor models with fixed-point activations, in both roundings and modes, also with saturating
// weights and inputs and int32-end biases (wrapping sums): every multiplier shifting right (even seeds:
// the kernel's kRight form, RequantizeRight512) or some not (odd seeds, most models: kPerTensor's
// Requantize512); the hidden multiplier shifting right (RequantizeRight512) or left (Requantize512).
TEST(TfliteLstmStream, PerTensorModelsStepEqualsScalar) {
  uint64_t seed = 4000;
  for (int n_cell : {1, 17, 255}) {
    for (int batch : {1, 4, 15}) {
      for (int variant = 0; variant < 4; ++variant) {
        Options o;
        o.n_cell = n_cell;
        o.batch = batch;
        o.scales = Scales::kPerTensor;
        o.single = (variant & 1) != 0;
        o.compat = (variant & 2) != 0;
        o.hidden_pot = false;
        o.hidden_left = (seed % 4) == 3;
        o.extreme = (seed % 3) == 0;
        o.cifg = (seed % 5) == 1;
        o.clip = (seed % 5) == 2;
        Compare(seed++, o);
      }
    }
  }
}

}  // namespace
}  // namespace irnn
