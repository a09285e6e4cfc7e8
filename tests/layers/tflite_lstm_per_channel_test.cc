// The integer LSTM with per-channel requantization (iRNN mode, numerics.md §7.1): per-row multipliers
// that are all equal give the per-tensor layer bit for bit; random per-channel layers are bit-exact
// between AVX2 and scalar and between chunked and whole runs, and differ from per-tensor ones (the
// multipliers are really used); validation names the field and row; the .irnn file stores them as
// [rows, 2] I32 tensors, drops the per-tensor multiplier they replace, and reads back identical layers.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "irnn/model.h"
#include "support/file_parts.h"
#include "support/paths.h"
#include "support/random_lm.h"
#include "support/random_lstm.h"

namespace irnn {
namespace {

using testing::ojson;
constexpr const char* kGateNames[4] = {"input", "forget", "cell", "output"};

struct RunResult {
  std::vector<int8_t> out;
  std::vector<int8_t> h;
  std::vector<int16_t> c;
};

RunResult RunLayer(const TfliteLstmParams& p, KernelPath path, const std::vector<int8_t>& input, int batch, int steps,
                   int chunk) {
  RunResult res;
  std::unique_ptr<TfliteLstm> lstm;
  Status s = TfliteLstm::Create(p, path, &lstm);
  EXPECT_TRUE(s.ok()) << s.message();
  if (!s.ok()) return res;
  TfliteLstmState state;
  EXPECT_TRUE(lstm->NewState(batch, &state).ok());
  const size_t in_step = static_cast<size_t>(batch) * p.config.n_input;
  const size_t out_step = static_cast<size_t>(batch) * p.config.n_output;
  res.out.assign(out_step * steps, 0);
  for (int t = 0; t < steps; t += chunk) {
    const int n = std::min(chunk, steps - t);
    s = lstm->Run(input.data() + t * in_step, n, &state, res.out.data() + t * out_step);
    EXPECT_TRUE(s.ok()) << s.message();
  }
  res.h = state.h();
  res.c = state.c();
  return res;
}

bool Avx2Available() {
  if (KernelPathAvailable(KernelPath::kAvx2)) return true;
  const char* allow = std::getenv("IRNN_ALLOW_NO_AVX2");
  if (allow != nullptr && std::string(allow) == "1") return false;
  ADD_FAILURE() << "AVX2 not available (IRNN_ALLOW_NO_AVX2=1 turns this into a skip)";
  return false;
}

// Every matmul of p given per-channel multipliers equal to its per-tensor one; the per-tensor fields are
// then set to an invalid value, which must be ignored.
TfliteLstmParams AllChannelsEqual(TfliteLstmParams p) {
  const TfliteLstmConfig& c = p.config;
  const QuantizedMultiplier unused{5, 99};  // invalid: proves the per-tensor field is neither read nor checked
  for (int g = 0; g < 4; ++g) {
    if (c.use_cifg && g == kInputGate) continue;
    p.input_to_gate_channel_scale[g].assign(c.n_cell, p.input_to_gate_scale[g]);
    p.recurrent_to_gate_channel_scale[g].assign(c.n_cell, p.recurrent_to_gate_scale[g]);
    p.input_to_gate_scale[g] = unused;
    p.recurrent_to_gate_scale[g] = unused;
  }
  if (c.use_projection) {
    p.projection_channel_scale.assign(c.n_output, p.projection_scale);
    p.projection_scale = unused;
  }
  return p;
}

TEST(TfliteLstmPerChannel, EqualMultipliersGiveThePerTensorLayerBitForBit) {
  const bool avx2 = Avx2Available();
  std::set<int> outputs;
  for (int i = 0; i < 200; ++i) {
    const testing::RandomLstm r = testing::MakeRandomLstm(0xC4A11E1 + i, 32, 3, 8);
    SCOPED_TRACE(r.description);
    const TfliteLstmParams per_channel = AllChannelsEqual(r.params);
    for (KernelPath path : {KernelPath::kScalar, KernelPath::kAvx2}) {
      if (path == KernelPath::kAvx2 && !avx2) continue;
      const RunResult want = RunLayer(r.params, path, r.input, r.batch, r.steps, r.steps);
      const RunResult got = RunLayer(per_channel, path, r.input, r.batch, r.steps, r.steps);
      ASSERT_EQ(got.out, want.out) << KernelPathName(path);
      ASSERT_EQ(got.h, want.h) << KernelPathName(path);
      ASSERT_EQ(got.c, want.c) << KernelPathName(path);
      outputs.insert(want.out.begin(), want.out.end());
    }
  }
  EXPECT_GT(outputs.size(), 100u) << "outputs nearly constant: the comparison would be vacuous";
  if (!avx2) GTEST_SKIP() << "AVX2 part skipped (IRNN_ALLOW_NO_AVX2=1); scalar checked";
}

TEST(TfliteLstmPerChannel, Avx2EqualsScalarAndChunkedEqualsWholeOnRandomConfigs) {
  const bool avx2 = Avx2Available();
  int differs_from_per_tensor = 0, configs = 0;
  for (int i = 0; i < 400; ++i) {
    const uint64_t seed = 0x9C0000 + i;
    testing::RandomLstm r = testing::MakeRandomLstm(seed, 40, 4, 10);
    std::mt19937_64 rng(seed);
    TfliteLstmParams p = r.params;
    testing::AddPerChannelScales(rng, &p, i % 4 == 0 ? 1.0 : 0.6);
    SCOPED_TRACE(r.description);
    const RunResult whole = RunLayer(p, KernelPath::kScalar, r.input, r.batch, r.steps, r.steps);
    const RunResult steps = RunLayer(p, KernelPath::kScalar, r.input, r.batch, r.steps, 1);
    ASSERT_EQ(steps.out, whole.out);
    ASSERT_EQ(steps.c, whole.c);
    if (avx2) {
      const RunResult fast = RunLayer(p, KernelPath::kAvx2, r.input, r.batch, r.steps, 3);
      ASSERT_EQ(fast.out, whole.out) << "AVX2 output differs from scalar";
      ASSERT_EQ(fast.h, whole.h);
      ASSERT_EQ(fast.c, whole.c) << "AVX2 cell differs from scalar";
    }
    if (testing::AvxVnniAvailableOrNote()) {
      const RunResult vnni = RunLayer(p, KernelPath::kAvxVnni, r.input, r.batch, r.steps, 2);
      ASSERT_EQ(vnni.out, whole.out) << "AVX-VNNI output differs from scalar";
      ASSERT_EQ(vnni.h, whole.h);
      ASSERT_EQ(vnni.c, whole.c) << "AVX-VNNI cell differs from scalar";
    }
    if (testing::Avx512VnniAvailableOrNote()) {
      const RunResult zmm = RunLayer(p, KernelPath::kAvx512Vnni, r.input, r.batch, r.steps, 2);
      ASSERT_EQ(zmm.out, whole.out) << "AVX-512 VNNI output differs from scalar";
      ASSERT_EQ(zmm.h, whole.h);
      ASSERT_EQ(zmm.c, whole.c) << "AVX-512 VNNI cell differs from scalar";
    }
    if (testing::AmxAvailableOrNote()) {
      const RunResult amx = RunLayer(p, KernelPath::kAmx, r.input, r.batch, r.steps, r.steps);
      ASSERT_EQ(amx.out, whole.out) << "AMX output differs from scalar";
      ASSERT_EQ(amx.h, whole.h);
      ASSERT_EQ(amx.c, whole.c) << "AMX cell differs from scalar";
    }
    differs_from_per_tensor += RunLayer(r.params, KernelPath::kScalar, r.input, r.batch, r.steps, r.steps).out != whole.out;
    ++configs;
  }
  // The per-row multipliers are really applied: most layers compute something else than per-tensor.
  EXPECT_GT(differs_from_per_tensor, configs / 2);
  if (!avx2) GTEST_SKIP() << "AVX2 comparison skipped (IRNN_ALLOW_NO_AVX2=1); chunking checked";
}

void ExpectError(const Status& s, std::initializer_list<const char*> fragments) {
  ASSERT_FALSE(s.ok()) << "expected an error mentioning " << *fragments.begin();
  for (const char* f : fragments) EXPECT_NE(s.message().find(f), std::string::npos) << s.message();
}

// A layer with projection and without CIFG, for the error cases.
TfliteLstmParams FullLayer() {
  for (uint64_t seed = 1;; ++seed) {
    testing::RandomLstm r = testing::MakeRandomLstm(seed, 12, 1, 1);
    if (r.params.config.use_projection && !r.params.config.use_cifg && r.params.config.n_cell >= 3) return r.params;
  }
}

TEST(TfliteLstmPerChannel, ValidationNamesFieldAndRow) {
  const TfliteLstmParams base = FullLayer();
  const int n_cell = base.config.n_cell, n_out = base.config.n_output;
  const QuantizedMultiplier ok{1 << 30, -3};
  {
    TfliteLstmParams p = base;
    p.input_to_gate_channel_scale[kForgetGate].assign(n_cell - 1, ok);
    ExpectError(ValidateTfliteLstmParams(p), {"input_to_gate_channel_scale[forget] has", "but must have 0 or n_cell"});
  }
  {
    TfliteLstmParams p = base;
    p.recurrent_to_gate_channel_scale[kOutputGate].assign(n_cell, ok);
    p.recurrent_to_gate_channel_scale[kOutputGate][2].multiplier = 12345;
    ExpectError(ValidateTfliteLstmParams(p),
                {"recurrent_to_gate_channel_scale[output][2].multiplier is 12345", "0 or in [2^30, 2^31)"});
  }
  {
    TfliteLstmParams p = base;
    p.input_to_gate_channel_scale[kCellGate].assign(n_cell, ok);
    p.input_to_gate_channel_scale[kCellGate][1].shift = 31;
    ExpectError(ValidateTfliteLstmParams(p), {"input_to_gate_channel_scale[cell][1].shift is 31", "[-31, 30]"});
  }
  {
    TfliteLstmParams p = base;
    p.projection_channel_scale.assign(n_out + 1, ok);
    ExpectError(ValidateTfliteLstmParams(p), {"projection_channel_scale has", "0 or n_output"});
  }
  {
    // Without the per-channel vector the per-tensor multiplier is checked as before.
    TfliteLstmParams p = base;
    p.input_to_gate_scale[kForgetGate] = {5, 0};
    ExpectError(ValidateTfliteLstmParams(p), {"input_to_gate_scale[forget].multiplier is 5"});
    p.input_to_gate_channel_scale[kForgetGate].assign(n_cell, ok);
    EXPECT_TRUE(ValidateTfliteLstmParams(p).ok());
  }
  {
    // A CIFG layer has no input gate, so no per-channel multipliers for it.
    TfliteLstmParams p;
    for (uint64_t seed = 1;; ++seed) {
      p = testing::MakeRandomLstm(seed, 8, 1, 1).params;
      if (p.config.use_cifg) break;
    }
    p.input_to_gate_channel_scale[kInputGate].assign(p.config.n_cell, ok);
    ExpectError(ValidateTfliteLstmParams(p), {"input_to_gate_channel_scale[input]", "tensor absent"});
  }
  {
    TfliteLstmParams p;
    for (uint64_t seed = 1;; ++seed) {
      p = testing::MakeRandomLstm(seed, 8, 1, 1).params;
      if (!p.config.use_projection) break;
    }
    p.projection_channel_scale.assign(p.config.n_output, ok);
    ExpectError(ValidateTfliteLstmParams(p), {"projection_channel_scale", "tensor absent"});
  }
}

// ---- The model file ------------------------------------------------------------------------------------

using testing::Parse;
using testing::Serialize;

Model OneLayer(const TfliteLstmParams& p) {
  Model m;
  m.layers.resize(1);
  m.layers[0].name = "lstm0";
  m.layers[0].lstm = p;
  return m;
}

// A per-channel layer with every matmul per-channel except the recurrent forget gate (mixed).
TfliteLstmParams PerChannelLayer() {
  TfliteLstmParams p = FullLayer();
  std::mt19937_64 rng(77);
  testing::AddPerChannelScales(rng, &p, 1.0);
  p.recurrent_to_gate_scale[kForgetGate] = QuantizedMultiplier{1 << 30, -4};
  p.recurrent_to_gate_channel_scale[kForgetGate].clear();
  return p;
}

TEST(TfliteLstmPerChannelFile, RoundTripKeepsTheMultipliersAndTheOutputs) {
  int layers = 0;
  for (int i = 0; i < 60; ++i) {
    const uint64_t seed = 0xF11E00 + i;
    testing::RandomLstm r = testing::MakeRandomLstm(seed, 20, 2, 6);
    std::mt19937_64 rng(seed);
    testing::AddPerChannelScales(rng, &r.params, 0.6);
    if (i % 15 == 0) {  // a few PWL layers (fitting tables is slow)
      r.params.config.activation = LstmActivation::kPwl;
      ASSERT_TRUE(FitTfliteLstmPwlTables(false, 2.0, &r.params).ok());
    }
    SCOPED_TRACE(r.description);
    const std::string bytes = Serialize(OneLayer(r.params));
    Model back;
    const Status s = Parse(bytes, &back);
    ASSERT_TRUE(s.ok()) << s.message();
    const TfliteLstmParams& q = back.layers[0].lstm;
    for (int g = 0; g < 4; ++g) {
      SCOPED_TRACE(kGateNames[g]);
      EXPECT_EQ(q.input_to_gate_channel_scale[g], r.params.input_to_gate_channel_scale[g]);
      EXPECT_EQ(q.recurrent_to_gate_channel_scale[g], r.params.recurrent_to_gate_channel_scale[g]);
      const bool present = !(r.params.config.use_cifg && g == kInputGate);
      if (present) {
        // AddPerChannelScales zeroed the per-tensor multipliers it replaced, as the file reads them back.
        EXPECT_EQ(q.input_to_gate_scale[g], r.params.input_to_gate_scale[g]);
        EXPECT_EQ(q.recurrent_to_gate_scale[g], r.params.recurrent_to_gate_scale[g]);
      }
    }
    EXPECT_EQ(q.projection_channel_scale, r.params.projection_channel_scale);
    EXPECT_EQ(Serialize(back), bytes) << "the file is canonical";
    const RunResult want = RunLayer(r.params, KernelPath::kScalar, r.input, r.batch, r.steps, r.steps);
    const RunResult got = RunLayer(q, KernelPath::kScalar, r.input, r.batch, r.steps, r.steps);
    ASSERT_FALSE(want.out.empty());
    EXPECT_EQ(got.out, want.out);
    EXPECT_EQ(got.c, want.c);
    ++layers;
  }
  EXPECT_EQ(layers, 60);
}

TEST(TfliteLstmPerChannelFile, LayoutTensorsReplaceGraphMultipliers) {
  const TfliteLstmParams p = PerChannelLayer();
  const int n_cell = p.config.n_cell, n_out = p.config.n_output;
  const testing::FileParts parts = testing::SplitFile(Serialize(OneLayer(p)));
  const ojson graph = testing::GraphOf(parts);
  const ojson& params = graph["layers"][0]["params"];
  EXPECT_FALSE(params["input_to_gate_scale"].contains("forget"));
  EXPECT_TRUE(params["recurrent_to_gate_scale"].contains("forget"));  // the one per-tensor matmul
  EXPECT_FALSE(params["recurrent_to_gate_scale"].contains("cell"));
  EXPECT_FALSE(params.contains("projection_scale"));
  const ojson& t = parts.header["lstm0.input_to_gate_channel_scale.forget"];
  EXPECT_EQ(t["dtype"], "I32");
  EXPECT_EQ(t["shape"], ojson::array({n_cell, 2}));
  EXPECT_EQ(parts.header["lstm0.projection_channel_scale"]["shape"], ojson::array({n_out, 2}));
  EXPECT_FALSE(parts.header.contains("lstm0.recurrent_to_gate_channel_scale.forget"));
}

TEST(TfliteLstmPerChannelFile, MalformedPerChannelEntriesAreRefused) {
  const TfliteLstmParams p = PerChannelLayer();
  const int n_cell = p.config.n_cell;
  const std::string valid = Serialize(OneLayer(p));
  Model m;
  ASSERT_TRUE(Parse(valid, &m).ok());
  const std::string t = "lstm0.input_to_gate_channel_scale.forget";
  struct Case {
    const char* what;
    std::function<void(testing::FileParts*)> edit;
    std::vector<std::string> expect;
  };
  const std::vector<Case> cases = {
      {"graph multiplier and tensor both present",
       [](testing::FileParts* f) {
         ojson g = testing::GraphOf(*f);
         g["layers"][0]["params"]["input_to_gate_scale"]["forget"] = {{"multiplier", 1 << 30}, {"shift", 0}};
         testing::SetGraphOf(f, g);
       },
       {"params.input_to_gate_scale.forget is present but must be absent: tensor "
        "'lstm0.input_to_gate_channel_scale.forget' holds this gate's per-channel multipliers"}},
      {"projection multiplier and tensor both present",
       [](testing::FileParts* f) {
         ojson g = testing::GraphOf(*f);
         g["layers"][0]["params"]["projection_scale"] = {{"multiplier", 1 << 30}, {"shift", 0}};
         testing::SetGraphOf(f, g);
       },
       {"params.projection_scale is present but must be absent: tensor 'lstm0.projection_channel_scale'"}},
      {"neither multiplier nor tensor",
       [&](testing::FileParts* f) { testing::RemoveTensorFrom(f, t); },
       {"params.input_to_gate_scale.forget is missing"}},
      {"tensor of the wrong shape",
       [&](testing::FileParts* f) { (*f).header[t]["shape"] = {2, n_cell}; },
       {"tensor 'lstm0.input_to_gate_channel_scale.forget' has shape [2, " + std::to_string(n_cell) +
        "] but must be [" + std::to_string(n_cell) + ", 2]"}},
      {"tensor of the wrong dtype",
       [&](testing::FileParts* f) {
         testing::RemoveTensorFrom(f, t);
         testing::AppendTensorTo(f, t, "I16", {n_cell, 4}, std::string(8 * n_cell, '\0'));
       },
       {"has dtype I16 but must be I32", "[n_cell, 2] (per-channel)"}},
      {"invalid multiplier in the tensor",
       [&](testing::FileParts* f) { testing::SetI32(f, t, 2, 77); },
       {"TfliteLstmParams: input_to_gate_channel_scale[forget][1].multiplier is 77"}},
      {"invalid shift in the tensor",
       [&](testing::FileParts* f) { testing::SetI32(f, t, 1, -40); },
       {"TfliteLstmParams: input_to_gate_channel_scale[forget][0].shift is -40 but must be in [-31, 30]"}},
      {"stray per-channel tensor of a gate that uses its graph multiplier",
       [&](testing::FileParts* f) {
         // recurrent forget is per-tensor: a tensor for it conflicts with the graph's multiplier.
         testing::AppendTensorTo(f, "lstm0.recurrent_to_gate_channel_scale.forget", "I32", {n_cell, 2},
                                 testing::I32Bytes(std::vector<int32_t>(2 * n_cell, 0)));
       },
       {"params.recurrent_to_gate_scale.forget is present but must be absent"}},
      {"per-channel tensor for the cell gate's peephole (no such matmul)",
       [&](testing::FileParts* f) {
         testing::AppendTensorTo(f, "lstm0.cell_to_gate_channel_scale.forget", "I32", {n_cell, 2},
                                 testing::I32Bytes(std::vector<int32_t>(2 * n_cell, 0)));
       },
       {"tensor 'lstm0.cell_to_gate_channel_scale.forget' is not used by any layer"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    testing::FileParts f = testing::SplitFile(valid);
    c.edit(&f);
    Model out;
    const Status s = Parse(testing::JoinFile(f), &out);
    ASSERT_FALSE(s.ok()) << "accepted";
    for (const std::string& e : c.expect) EXPECT_NE(s.message().find(e), std::string::npos) << s.message();
  }
}

}  // namespace
}  // namespace irnn
