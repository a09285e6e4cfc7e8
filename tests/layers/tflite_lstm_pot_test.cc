// The LSTM's sequence mode (TfliteLstm::Run) and Step on every optimized path against the scalar
// reference, bit for bit, for the layers the AVX-512 paths' fused recurrent step serves in its newer
// forms: per-channel recurrent multipliers (numerics.md §7.1), intended mode (§4.1), PWL activations
// (§6.1), and the power-of-two ("pot") forms, where every matmul multiplier is M = 2^30 with shift <= 0
// and the rounding single, so that MBQM is (x + 2^(k-1)) >> k (§1.3), and a pot hidden scale. Random
// layers built directly from raw parameters (not derived from float scales), with effective biases near
// the int32 extremes in some of them so that the accumulators wrap and the pot forms' nudges meet the
// largest magnitudes. Not a test of accuracy: only of equality with the reference.

#include <gtest/gtest.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "irnn/tflite_lstm.h"
#include "support/paths.h"
#include "support/random_mogrifier.h"

namespace irnn {
namespace {

struct PotOptions {
  int n_input = 8, n_cell = 8, batch = 1, steps = 3;
  bool cifg = false, pwl = false, clip = false, compat = false, projection = false;
  bool extreme = false;       // effective biases near the int32 extremes, saturating weights and inputs
  bool pot_rows = true;       // recurrent and input multipliers per row, pot
  bool per_tensor = false;    // pot per-tensor multipliers instead of per-row ones
  bool one_general = false;   // one recurrent row's multiplier not pot: the general per-row form
  bool pot_hidden = true;     // hidden multiplier a power of two
  Rounding rounding = Rounding::kSingle;
};

std::string Describe(const PotOptions& o) {
  std::ostringstream d;
  d << "n_input " << o.n_input << " n_cell " << o.n_cell << " batch " << o.batch << " steps " << o.steps
    << (o.cifg ? " cifg" : "") << (o.pwl ? " pwl" : " fixed") << (o.clip ? " clip" : "")
    << (o.compat ? " compat" : " intended") << (o.projection ? " projection" : "") << (o.extreme ? " extreme" : "")
    << (o.pot_rows ? " pot-rows" : " general-rows") << (o.per_tensor ? " per-tensor" : "")
    << (o.one_general ? " one-general-row" : "") << (o.pot_hidden ? " pot-hidden" : " general-hidden")
    << (o.rounding == Rounding::kSingle ? " single" : " double");
  return d.str();
}

struct PotLayer {
  TfliteLstmParams params;
  std::vector<int8_t> input;  // [steps][batch][n_input]
};

PotLayer MakePotLayer(uint64_t seed, const PotOptions& o) {
  std::mt19937_64 rng(seed);
  auto uni = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  PotLayer l;
  TfliteLstmParams& p = l.params;
  TfliteLstmConfig& c = p.config;
  c.n_input = o.n_input;
  c.n_cell = o.n_cell;
  c.use_projection = o.projection;
  c.n_output = o.projection ? std::max(1, o.n_cell / 2 + 1) : o.n_cell;
  c.use_cifg = o.cifg;
  c.rounding = o.rounding;
  c.tflite_compat = o.compat;
  c.activation = o.pwl ? LstmActivation::kPwl : LstmActivation::kFixedPoint;
  auto int8s = [&](size_t n, std::vector<int8_t>* v) {
    v->resize(n);
    for (auto& x : *v) x = static_cast<int8_t>(o.extreme && uni(0, 1) == 0 ? (uni(0, 1) ? 127 : -128) : uni(-128, 127));
  };
  auto bias = [&](size_t n, std::vector<int32_t>* v) {
    v->resize(n);
    for (auto& b : *v) {
      b = static_cast<int32_t>(o.extreme ? (uni(0, 1) ? INT32_MAX - uni(0, 1 << 20) : INT32_MIN + uni(0, 1 << 20))
                                         : uni(-(1 << 16), 1 << 16));
    }
  };
  // A pot multiplier: k = 1 - shift in [1, 32] (extreme) or around the useful Q3.12 range, with k = 1
  // (multiplier 1/2, common in trained models: numerics.md §7.1.1) in about one row in four.
  auto pot = [&]() {
    const int64_t shift = uni(0, 3) == 0 ? 0 : o.extreme ? uni(-31, -1) : uni(-12, -3);
    return QuantizedMultiplier{int32_t{1} << 30, static_cast<int32_t>(shift)};
  };
  auto general = [&]() {
    return QuantizedMultiplier{static_cast<int32_t>(uni(int64_t{1} << 30, INT32_MAX)), static_cast<int32_t>(uni(-12, -2))};
  };
  auto rows = [&](std::vector<QuantizedMultiplier>* v) {
    v->resize(o.n_cell);
    for (auto& m : *v) m = o.pot_rows ? pot() : general();
  };
  for (int g = 0; g < 4; ++g) {
    if (o.cifg && g == kInputGate) continue;
    int8s(static_cast<size_t>(o.n_cell) * o.n_input, &p.weights.input_to_gate[g]);
    int8s(static_cast<size_t>(o.n_cell) * c.n_output, &p.weights.recurrent_to_gate[g]);
    p.weights.gate_bias[g].assign(o.n_cell, 0);
    bias(o.n_cell, &p.input_to_gate_effective_bias[g]);
    bias(o.n_cell, &p.recurrent_to_gate_effective_bias[g]);
    if (o.per_tensor) {
      p.input_to_gate_scale[g] = o.pot_rows ? pot() : general();
      p.recurrent_to_gate_scale[g] = o.pot_rows ? pot() : general();
    } else {
      rows(&p.input_to_gate_channel_scale[g]);
      rows(&p.recurrent_to_gate_channel_scale[g]);
      if (o.one_general) p.recurrent_to_gate_channel_scale[g][uni(0, o.n_cell - 1)] = general();
    }
  }
  p.hidden_scale = o.pot_hidden ? QuantizedMultiplier{int32_t{1} << 30, static_cast<int32_t>(uni(o.extreme ? -31 : -24, 0))}
                                : QuantizedMultiplier{static_cast<int32_t>(uni(int64_t{1} << 30, INT32_MAX)),
                                                      static_cast<int32_t>(uni(-24, -16))};
  if (o.projection) {
    int8s(static_cast<size_t>(c.n_output) * o.n_cell, &p.weights.projection);
    bias(c.n_output, &p.projection_effective_bias);
    p.projection_scale = pot();
  }
  p.cell_scale = static_cast<int32_t>(uni(-15, -9));
  p.quantized_cell_clip = o.clip ? static_cast<int16_t>(uni(1, 20000)) : int16_t{0};
  p.hidden_zp = static_cast<int32_t>(uni(-128, 127));
  p.output_zp = static_cast<int32_t>(uni(-128, 127));
  if (o.pwl) {
    const TfliteLstmParams& t = testing::CachedPwlTables(p.cell_scale);
    p.pwl_sigmoid = t.pwl_sigmoid;
    p.pwl_tanh_gate = t.pwl_tanh_gate;
    p.pwl_tanh_cell = t.pwl_tanh_cell;
  }
  int8s(static_cast<size_t>(o.steps) * o.batch * o.n_input, &l.input);
  return l;
}

struct Result {
  std::vector<int8_t> out, h;
  std::vector<int16_t> c;
  bool operator==(const Result& r) const { return out == r.out && h == r.h && c == r.c; }
};

// Run over all steps at once (stepwise = false) or Step after Step; `threads` split the matmuls' rows.
Result RunPath(const PotLayer& l, const PotOptions& o, KernelPath path, bool stepwise, int threads = 1) {
  Result r;
  std::unique_ptr<TfliteLstm> lstm;
  const Status s = TfliteLstm::Create(l.params, path, threads, &lstm);
  EXPECT_TRUE(s.ok()) << s.message();
  if (!s.ok()) return r;
  TfliteLstmState state;
  EXPECT_TRUE(lstm->NewState(o.batch, &state).ok());
  const size_t in_step = static_cast<size_t>(o.batch) * o.n_input;
  const size_t out_step = static_cast<size_t>(o.batch) * l.params.config.n_output;
  r.out.assign(out_step * o.steps, 0);
  if (stepwise) {
    for (int t = 0; t < o.steps; ++t) {
      EXPECT_TRUE(lstm->Step(l.input.data() + t * in_step, &state, r.out.data() + t * out_step).ok());
    }
  } else {
    EXPECT_TRUE(lstm->Run(l.input.data(), o.steps, &state, r.out.data()).ok());
  }
  r.h = state.h();
  r.c = state.c();
  return r;
}

// Every optimized path's Run (and the AVX-512 paths' Step, and the amx path's Run with 2 threads, whose
// row ranges start inside 16-row blocks) equals the scalar Run.
void ExpectPathsEqualScalar(uint64_t seed, const PotOptions& o, std::set<int>* outputs) {
  const PotLayer l = MakePotLayer(seed, o);
  SCOPED_TRACE("seed " + std::to_string(seed) + ": " + Describe(o));
  const Result want = RunPath(l, o, KernelPath::kScalar, false);
  outputs->insert(want.out.begin(), want.out.end());
  for (KernelPath path : testing::OptimizedPathsOrNote()) {
    EXPECT_TRUE(RunPath(l, o, path, false) == want) << "Run on " << KernelPathName(path);
    if (path == KernelPath::kAmx || path == KernelPath::kAvx512Vnni) {
      EXPECT_TRUE(RunPath(l, o, path, true) == want) << "Step on " << KernelPathName(path);
    }
    if (path == KernelPath::kAmx) {
      EXPECT_TRUE(RunPath(l, o, path, false, 2) == want) << "Run on amx, 2 threads";
    }
  }
}

TEST(TfliteLstmPot, PotLayersEqualScalarOnEveryPath) {
  std::set<int> outputs;
  uint64_t seed = 0x9075000;
  // n_cell = 257: the only size whose 2-thread Run really splits the rows (row_split.h: >= 128 per thread).
  for (int n_cell : {1, 3, 17, 33, 128, 257}) {
    for (int batch : {1, 3, 16, 17}) {
      if (n_cell == 128 && batch == 3) continue;
      if (n_cell == 257 && batch != 17) continue;
      for (int variant = 0; variant < 4; ++variant) {
        PotOptions o;
        o.n_cell = n_cell;
        o.n_input = n_cell >= 128 ? 64 : 1 + (n_cell * 7 + variant) % 40;
        o.batch = batch;
        o.cifg = (variant & 1) != 0;
        o.pwl = (variant & 2) != 0;
        o.clip = (seed & 1) != 0;
        o.extreme = variant == 1 || (n_cell == 17 && variant == 2);
        o.pot_hidden = (seed % 5) != 0;
        o.steps = n_cell >= 128 ? 2 : 3;
        ExpectPathsEqualScalar(++seed, o, &outputs);
      }
    }
  }
  EXPECT_GT(outputs.size(), 100u) << "outputs nearly constant: the comparison would be vacuous";
}

// The other forms the layer's fused recurrent step chooses: tflite_compat with pot rows, per-tensor pot
// multipliers, one non-pot row (the general per-row form), per-channel non-pot with single and double
// rounding (the PTB LM's intended mode + PWL + per-channel), a projection after the pot step.
TEST(TfliteLstmPot, OtherFormsEqualScalarOnEveryPath) {
  std::set<int> outputs;
  uint64_t seed = 0x9076000;
  for (int n_cell : {3, 33, 128}) {
    for (int batch : {1, 16, 17}) {
      for (int form = 0; form < 7; ++form) {
        PotOptions o;
        o.n_cell = n_cell;
        o.n_input = n_cell == 128 ? 64 : 5 + form;
        o.batch = batch;
        o.steps = 2;
        o.cifg = (seed & 1) != 0;
        o.pwl = (seed & 2) != 0;
        o.clip = (seed & 4) != 0;
        o.extreme = form == 6;
        switch (form) {
          case 0: o.compat = true; break;
          case 1: o.per_tensor = true; break;
          case 2: o.one_general = true; break;
          case 3: o.pot_rows = false; o.pwl = true; break;
          case 4: o.pot_rows = false; o.rounding = Rounding::kDouble; o.pot_hidden = false; break;
          case 5: o.projection = true; break;
          default: o.pot_rows = false; o.per_tensor = true; break;
        }
        ExpectPathsEqualScalar(++seed, o, &outputs);
      }
    }
  }
  EXPECT_GT(outputs.size(), 100u) << "outputs nearly constant: the comparison would be vacuous";
}

// Multipliers of 1/2 (k = 1) at the int32 edges, where only the layer's bound proofs keep the pot step
// exact in intended mode: rows with zero weights whose accumulators are their effective biases. Row 0:
// both contributions 2^30 (accumulators INT32_MAX), whose sum 2^31 must saturate, not wrap; row 1: both
// -2^30; row 2: an input multiplier of 1 (not pot) passing 2^30 + 100 against a recurrent -2^30, whose sum
// 100 must not become 0 by a clamp of the input contribution. Each row on a gate of its own in turn.
TEST(TfliteLstmPot, HalfMultipliersAtTheInt32EdgesEqualScalar) {
  std::set<int> outputs;
  uint64_t seed = 0x9077000;
  for (int gate : {kForgetGate, kCellGate, kOutputGate, kInputGate}) {
    for (int batch : {1, 16}) {
      PotOptions o;
      o.n_cell = 17;
      o.n_input = 9;
      o.batch = batch;
      o.steps = 2;
      PotLayer l = MakePotLayer(++seed, o);
      TfliteLstmParams& p = l.params;
      const QuantizedMultiplier half{int32_t{1} << 30, 0}, one{int32_t{1} << 30, 1};
      const int32_t in_bias[3] = {INT32_MAX, INT32_MIN, (int32_t{1} << 30) + 100};
      const int32_t rec_bias[3] = {INT32_MAX, INT32_MIN, INT32_MIN};
      for (int r = 0; r < 3; ++r) {
        std::fill_n(p.weights.input_to_gate[gate].begin() + r * o.n_input, o.n_input, int8_t{0});
        std::fill_n(p.weights.recurrent_to_gate[gate].begin() + r * o.n_cell, o.n_cell, int8_t{0});
        p.input_to_gate_effective_bias[gate][static_cast<size_t>(r)] = in_bias[r];
        p.recurrent_to_gate_effective_bias[gate][static_cast<size_t>(r)] = rec_bias[r];
        p.input_to_gate_channel_scale[gate][static_cast<size_t>(r)] = r == 2 ? one : half;
        p.recurrent_to_gate_channel_scale[gate][static_cast<size_t>(r)] = half;
      }
      SCOPED_TRACE("gate " + std::to_string(gate) + " batch " + std::to_string(batch));
      const Result want = RunPath(l, o, KernelPath::kScalar, false);
      outputs.insert(want.out.begin(), want.out.end());
      for (KernelPath path : testing::OptimizedPathsOrNote()) {
        EXPECT_TRUE(RunPath(l, o, path, false) == want) << "Run on " << KernelPathName(path);
        EXPECT_TRUE(RunPath(l, o, path, true) == want) << "Step on " << KernelPathName(path);
      }
    }
  }
  EXPECT_GT(outputs.size(), 20u) << "outputs nearly constant: the comparison would be vacuous";
}

// Above 256 x 256 weights per gate the AVX-512 paths' sequence step at fewer than 16 rows composes the
// four gates' matmuls and the epilogue, and where one thread's rows of all gates exceed
// AlternateWalkMinBytes() (1.25 MiB with a 2 MiB L2) it alternates the direction of its walk over the weights step by step
// (LstmRecurrentStep::reverse: gates and row blocks from the last on every other step). Four steps, so
// that both directions run twice and each reads the state the other wrote: pot per-row multipliers
// (GemvPackedPot), general per-row and per-tensor ones (GemvPackedRequantS32's forms), TFLite compat mode;
// batch 1, 3 (one-row walks) and 5 (a 4-row walk and a one-row walk) at n_cell = 592 (1.34 MiB, one
// thread); n_cell = 832 at batch 1, whose 2-thread Run splits the rows into two walks of 1.3 MiB each.
TEST(TfliteLstmPot, AlternatingWalkAbove256x256EqualsScalar) {
  std::set<int> outputs;
  uint64_t seed = 0x9078000;
  for (int n_cell : {592, 832}) {
    for (int batch : {1, 3, 5}) {
      if (n_cell == 832 && batch != 1) continue;
      for (int form = 0; form < 3; ++form) {
        PotOptions o;
        o.n_cell = n_cell;
        o.n_input = 33;
        o.batch = batch;
        o.steps = 4;
        o.cifg = form == 1 && batch == 3;
        o.pwl = (seed & 1) != 0;
        switch (form) {
          case 0: break;  // pot per-row
          case 1: o.pot_rows = false; break;
          default: o.pot_rows = false; o.per_tensor = true; o.compat = true; o.rounding = Rounding::kDouble; break;
        }
        ExpectPathsEqualScalar(++seed, o, &outputs);
      }
    }
  }
  EXPECT_GT(outputs.size(), 100u) << "outputs nearly constant: the comparison would be vacuous";
}

}  // namespace
}  // namespace irnn
