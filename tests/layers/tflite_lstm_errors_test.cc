// Bad input to the integer LSTM gets a clear error that names the field, never undefined behaviour:
// mismatched shapes, non-positive or non-finite scales, a cell scale that is not 2^cs with cs in
// [-15, -9], empty tensors, bad zero points, null pointers and a state of the wrong shape.

#include <cmath>
#include <limits>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "support/random_lstm.h"

namespace irnn {
namespace {

// A small valid plain LSTM: weights, quantization and derived params.
struct Valid {
  TfliteLstmConfig config;
  TfliteLstmWeights weights;
  TfliteLstmQuantization quant;
  Valid() {
    config.n_input = 3;
    config.n_cell = 4;
    config.n_output = 4;
    for (int g = 0; g < 4; ++g) {
      weights.input_to_gate[g].assign(12, 1);
      weights.recurrent_to_gate[g].assign(16, -1);
      weights.gate_bias[g].assign(4, 7);
      quant.input_to_gate[g] = {0.01f, 0};
      quant.recurrent_to_gate[g] = {0.01f, 0};
    }
    quant.input = {0.02f, 3};
    quant.output = {0.01f, -5};
    quant.cell_scale = std::ldexp(1.0f, -11);
    quant.intermediates[4] = quant.output;
  }
  Status Derive(TfliteLstmParams* p) const { return DeriveTfliteLstmParams(config, weights, quant, p); }
};

// Expects an error whose message contains every fragment.
void ExpectError(const Status& s, std::initializer_list<const char*> fragments) {
  ASSERT_FALSE(s.ok()) << "expected an error mentioning " << *fragments.begin();
  for (const char* f : fragments) EXPECT_NE(s.message().find(f), std::string::npos) << s.message();
}

TEST(TfliteLstmErrors, ValidBaselineDerivesAndRuns) {
  Valid v;
  TfliteLstmParams p;
  ASSERT_TRUE(v.Derive(&p).ok());
  std::unique_ptr<TfliteLstm> lstm;
  ASSERT_TRUE(TfliteLstm::Create(p, KernelPath::kScalar, &lstm).ok());
  TfliteLstmState s;
  ASSERT_TRUE(lstm->NewState(2, &s).ok());
  std::vector<int8_t> x(6, 5), out(8);
  EXPECT_TRUE(lstm->Step(x.data(), &s, out.data()).ok());
}

TEST(TfliteLstmErrors, MismatchedWeightShapeNamesTheTensor) {
  Valid v;
  v.weights.recurrent_to_gate[kForgetGate].resize(15);
  TfliteLstmParams p;
  ExpectError(v.Derive(&p), {"weights.recurrent_to_gate[forget]", "15", "n_cell*n_output = 16"});
}

TEST(TfliteLstmErrors, EmptyTensorsAndZeroSizes) {
  {
    Valid v;
    v.weights.input_to_gate[kCellGate].clear();
    TfliteLstmParams p;
    ExpectError(v.Derive(&p), {"weights.input_to_gate[cell]", "has 0 elements"});
  }
  {
    Valid v;
    v.config.n_cell = 0;
    TfliteLstmParams p;
    ExpectError(v.Derive(&p), {"config.n_cell", "is 0", "[1, 65536]"});
  }
  {
    Valid v;
    v.config.n_input = -3;
    TfliteLstmParams p;
    ExpectError(v.Derive(&p), {"config.n_input", "-3"});
  }
  {
    Valid v;
    v.weights.gate_bias[kOutputGate].clear();
    TfliteLstmParams p;
    ExpectError(v.Derive(&p), {"weights.gate_bias[output]"});
  }
}

TEST(TfliteLstmErrors, TensorPresentThatTheConfigurationExcludes) {
  Valid v;
  v.config.use_cifg = true;  // input gate must be absent
  TfliteLstmParams p;
  ExpectError(v.Derive(&p), {"weights.input_to_gate[input]", "absent"});
}

TEST(TfliteLstmErrors, NonPositiveAndNonFiniteScales) {
  for (float bad : {0.0f, -0.5f, std::numeric_limits<float>::infinity(), std::nanf("")}) {
    Valid v;
    v.quant.input.scale = bad;
    TfliteLstmParams p;
    ExpectError(v.Derive(&p), {"input.scale", "must be a finite number > 0"});
  }
  Valid v;
  v.quant.recurrent_to_gate[kCellGate].scale = -1.0f;
  TfliteLstmParams p;
  ExpectError(v.Derive(&p), {"recurrent_to_gate[cell].scale"});
}

TEST(TfliteLstmErrors, CellScaleMustBeAllowedPowerOfTwo) {
  {
    Valid v;
    v.quant.cell_scale = 0.001f;
    TfliteLstmParams p;
    ExpectError(v.Derive(&p), {"cell_state.scale", "power of two"});
  }
  for (int e : {-16, -8, 0}) {
    Valid v;
    v.quant.cell_scale = std::ldexp(1.0f, e);
    TfliteLstmParams p;
    ExpectError(v.Derive(&p), {"cell_state.scale", "cs in [-15, -9]"});
  }
  // The same rule on already-derived params.
  Valid v;
  TfliteLstmParams p;
  ASSERT_TRUE(v.Derive(&p).ok());
  p.cell_scale = -8;
  std::unique_ptr<TfliteLstm> lstm;
  ExpectError(TfliteLstm::Create(p, KernelPath::kScalar, &lstm), {"cell_scale is -8", "[-15, -9]"});
}

TEST(TfliteLstmErrors, ZeroPointsAndSymmetry) {
  {
    Valid v;
    v.quant.output.zero_point = 200;
    TfliteLstmParams p;
    ExpectError(v.Derive(&p), {"output.zero_point", "200", "[-128, 127]"});
  }
  {
    Valid v;
    v.quant.input_to_gate[kForgetGate].zero_point = 4;
    TfliteLstmParams p;
    ExpectError(v.Derive(&p), {"input_to_gate[forget].zero_point", "symmetric"});
  }
}

TEST(TfliteLstmErrors, ConfigurationRules) {
  {
    Valid v;
    v.config.n_output = 3;  // without projection n_output must equal n_cell
    TfliteLstmParams p;
    ExpectError(v.Derive(&p), {"config.n_output", "n_cell"});
  }
  {
    Valid v;
    v.config.use_projection_bias = true;
    TfliteLstmParams p;
    ExpectError(v.Derive(&p), {"use_projection_bias"});
  }
  {
    Valid v;
    v.quant.cell_clip = -1.0f;
    TfliteLstmParams p;
    ExpectError(v.Derive(&p), {"cell_clip"});
  }
}

TEST(TfliteLstmErrors, BadIntegerParams) {
  Valid v;
  TfliteLstmParams good;
  ASSERT_TRUE(v.Derive(&good).ok());
  std::unique_ptr<TfliteLstm> lstm;
  {
    TfliteLstmParams p = good;
    p.input_to_gate_scale[kCellGate].multiplier = 12345;
    ExpectError(TfliteLstm::Create(p, KernelPath::kScalar, &lstm), {"input_to_gate_scale[cell].multiplier", "12345"});
  }
  {
    TfliteLstmParams p = good;
    p.hidden_scale.shift = 40;
    ExpectError(TfliteLstm::Create(p, KernelPath::kScalar, &lstm), {"hidden_scale.shift", "40"});
  }
  {
    TfliteLstmParams p = good;
    p.recurrent_to_gate_effective_bias[kOutputGate].pop_back();
    ExpectError(TfliteLstm::Create(p, KernelPath::kScalar, &lstm), {"recurrent_to_gate_effective_bias[output]"});
  }
  {
    TfliteLstmParams p = good;
    p.quantized_cell_clip = -3;
    ExpectError(TfliteLstm::Create(p, KernelPath::kScalar, &lstm), {"quantized_cell_clip"});
  }
  {
    TfliteLstmParams p = good;
    p.config.rounding = static_cast<Rounding>(7);
    ExpectError(TfliteLstm::Create(p, KernelPath::kScalar, &lstm), {"config.rounding"});
  }
  ExpectError(TfliteLstm::Create(good, KernelPath::kScalar, nullptr), {"out is null"});
}

TEST(TfliteLstmErrors, NullPointersBadBatchAndForeignState) {
  Valid v;
  TfliteLstmParams p;
  ASSERT_TRUE(v.Derive(&p).ok());
  std::unique_ptr<TfliteLstm> lstm;
  ASSERT_TRUE(TfliteLstm::Create(p, KernelPath::kScalar, &lstm).ok());
  TfliteLstmState s;
  ExpectError(lstm->NewState(0, &s), {"batch is 0"});
  ExpectError(lstm->NewState(-1, &s), {"batch is -1"});
  ExpectError(lstm->NewState(1, nullptr), {"state is null"});
  {
    // A state that would need more than 1 GiB is refused before allocating: n_cell 65536 projected to
    // one output keeps the weights small; 2048 streams of it would not be.
    Valid big;
    big.config.n_input = 1;
    big.config.n_cell = 65536;
    big.config.n_output = 1;
    big.config.use_projection = true;
    for (int g = 0; g < 4; ++g) {
      big.weights.input_to_gate[g].assign(65536, 1);
      big.weights.recurrent_to_gate[g].assign(65536, 1);
      big.weights.gate_bias[g].assign(65536, 0);
    }
    big.weights.projection.assign(65536, 1);
    big.quant.projection = {0.01f, 0};
    big.quant.intermediates[4] = {0.01f, 0};
    TfliteLstmParams bp;
    ASSERT_TRUE(big.Derive(&bp).ok());
    std::unique_ptr<TfliteLstm> big_lstm;
    ASSERT_TRUE(TfliteLstm::Create(bp, KernelPath::kScalar, &big_lstm).ok());
    TfliteLstmState big_state;
    ExpectError(big_lstm->NewState(2048, &big_state), {"at most 1 GiB"});
    EXPECT_TRUE(big_lstm->NewState(2, &big_state).ok());
  }
  std::vector<int8_t> x(3), out(4);
  ExpectError(lstm->Step(x.data(), nullptr, out.data()), {"state is null"});
  ExpectError(lstm->Step(x.data(), &s, out.data()), {"state was not made by NewState"});  // never initialised
  ASSERT_TRUE(lstm->NewState(1, &s).ok());
  ExpectError(lstm->Step(nullptr, &s, out.data()), {"x is null"});
  ExpectError(lstm->Step(x.data(), &s, nullptr), {"out is null"});
  ExpectError(lstm->Run(x.data(), -2, &s, out.data()), {"steps is -2"});
  EXPECT_TRUE(lstm->Run(x.data(), 0, &s, out.data()).ok());
  ExpectError(lstm->ResetState(nullptr), {"state is null"});

  // A state made for a layer of another shape is refused.
  Valid w;
  w.config.n_cell = w.config.n_output = 5;
  for (int g = 0; g < 4; ++g) {
    w.weights.input_to_gate[g].assign(15, 1);
    w.weights.recurrent_to_gate[g].assign(25, 1);
    w.weights.gate_bias[g].assign(5, 0);
  }
  TfliteLstmParams p2;
  ASSERT_TRUE(w.Derive(&p2).ok());
  std::unique_ptr<TfliteLstm> other;
  ASSERT_TRUE(TfliteLstm::Create(p2, KernelPath::kScalar, &other).ok());
  TfliteLstmState foreign;
  ASSERT_TRUE(other->NewState(1, &foreign).ok());
  ExpectError(lstm->Step(x.data(), &foreign, out.data()), {"state was not made by NewState", "n_cell = 4"});
}

TEST(TfliteLstmErrors, KernelPathSelection) {
  KernelPath path;
  ExpectError(ParseKernelPath("neon", &path), {"'neon'", "auto, scalar, avx2"});
  ASSERT_EQ(setenv("IRNN_PATH", "bogus", 1), 0);
  ExpectError(ResolveKernelPath(KernelPath::kAuto, &path), {"IRNN_PATH", "bogus"});
  ASSERT_EQ(setenv("IRNN_PATH", "scalar", 1), 0);
  ASSERT_TRUE(ResolveKernelPath(KernelPath::kAuto, &path).ok());
  EXPECT_EQ(path, KernelPath::kScalar);
  ASSERT_EQ(unsetenv("IRNN_PATH"), 0);
}

}  // namespace
}  // namespace irnn

namespace irnn {
namespace {

TEST(TfliteLstmErrors, ExtremeLayerNormShiftDoesNotOverflow) {
  testing::RandomLstm r = testing::MakeRandomLstm(9);
  r.params.config.use_layer_norm = true;
  TfliteLstmParams p = r.params;
  for (int g = 0; g < 4; ++g) {
    if (p.config.use_cifg && g == kInputGate) continue;
    p.weights.layer_norm[g].assign(p.config.n_cell, 1);
    p.layer_norm_scale[g] = {1 << 30, 0};
    p.variance_guard[g] = 1;
  }
  p.layer_norm_scale[kForgetGate].shift = 2147483647;
  std::unique_ptr<TfliteLstm> lstm;
  const Status s = TfliteLstm::Create(p, KernelPath::kScalar, &lstm);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("layer_norm_scale[forget].shift"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace irnn
