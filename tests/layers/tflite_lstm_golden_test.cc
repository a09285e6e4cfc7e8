// Golden tests: the TFLite 8x8_16 LSTM against vectors produced by TensorFlow Lite's own code
// (../shared/golden/tflite_lstm_8x8_16 and ..._single_rounding). Each case is one test instance named
// by its file (e.g. c17_ln_clips). Three checks per case: the integer parameters derived from the float
// scales equal TFLite's Prepare; every per-step output, hidden and cell value equals TFLite's on the
// scalar path; and the same on the AVX2 path. Every mismatch is printed with case, step and index.

#include <cstdlib>
#include <memory>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "support/golden.h"
#include "support/paths.h"

namespace irnn {
namespace {

using nlohmann::json;
using testing::GoldenLstmCase;

constexpr const char* kGate[4] = {"input", "forget", "cell", "output"};

struct CaseRef {
  std::string folder;
  std::string file;  // empty when the folder could not be listed
  std::string error;
};

void PrintTo(const CaseRef& c, std::ostream* os) { *os << (c.file.empty() ? c.error : c.file); }

std::vector<CaseRef> Cases(const std::string& sub, const std::string& prefix) {
  const std::string folder = testing::SharedDir() + "/golden/" + sub;
  std::vector<CaseRef> out;
  try {
    for (const auto& f : testing::ListGoldenCases(folder, prefix)) out.push_back({folder, f, ""});
  } catch (const std::exception& e) {
    out.push_back({folder, "", e.what()});  // becomes one failing test, never a silent skip
  }
  return out;
}

std::string CaseName(const ::testing::TestParamInfo<CaseRef>& info) {
  if (info.param.file.empty()) return "MissingGoldenFolder";
  return info.param.file.substr(0, info.param.file.size() - 5);
}

template <typename T>
std::vector<T> JsonInts(const json& v) {
  std::vector<T> out;
  for (const auto& x : v) out.push_back(static_cast<T>(x.get<int64_t>()));
  return out;
}

// Compares two integer vectors; adds a failure listing up to 8 mismatches. Returns true when equal.
template <typename T>
bool ExpectSame(const std::vector<T>& want, const std::vector<T>& got, const std::string& what) {
  if (want.size() != got.size()) {
    ADD_FAILURE() << what << ": size " << got.size() << " but expected " << want.size();
    return false;
  }
  std::ostringstream msg;
  int bad = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    if (want[i] != got[i]) {
      if (bad < 8) msg << "\n  [" << i << "] expected " << int64_t{want[i]} << " got " << int64_t{got[i]};
      ++bad;
    }
  }
  if (bad > 0) ADD_FAILURE() << what << ": " << bad << " of " << want.size() << " values differ" << msg.str();
  return bad == 0;
}

class TfliteLstmGolden : public ::testing::TestWithParam<CaseRef> {
 protected:
  void SetUp() override {
    ASSERT_TRUE(GetParam().error.empty()) << GetParam().error;
    gc_ = testing::LoadGoldenLstmCase(GetParam().folder + "/" + GetParam().file);
    ASSERT_EQ(gc_.name + ".json", GetParam().file);
  }

  // Runs the case step by step on `path`, comparing outputs, cells and the trace of every step.
  void RunSteps(KernelPath path) {
    std::unique_ptr<TfliteLstm> lstm;
    const Status s = TfliteLstm::Create(testing::ParamsFromGolden(gc_), path, &lstm);
    ASSERT_TRUE(s.ok()) << s.message();
    ASSERT_EQ(lstm->path(), path);
    TfliteLstmState state;
    ASSERT_TRUE(lstm->NewState(gc_.n_batch, &state).ok());
    state.h() = gc_.output_state_init;
    state.c() = gc_.cell_state_init;
    const TfliteLstmConfig& cfg = gc_.config;
    const size_t in_stride = static_cast<size_t>(gc_.n_batch) * cfg.n_input;
    std::vector<int8_t> out(static_cast<size_t>(gc_.n_batch) * cfg.n_output);
    ASSERT_EQ(gc_.expected_output.size(), static_cast<size_t>(gc_.n_steps));
    int64_t compared = 0;
    for (int t = 0; t < gc_.n_steps; ++t) {
      TfliteLstmTrace trace;
      ASSERT_TRUE(lstm->Step(gc_.input.data() + t * in_stride, &state, out.data(), &trace).ok());
      const std::string at = gc_.name + " step " + std::to_string(t);
      // Trace first: it says which stage went wrong.
      const json& tr = gc_.trace.at(t);
      for (int g = 0; g < 4; ++g) {
        if (cfg.use_cifg && g == kInputGate) continue;
        ExpectSame(JsonInts<int16_t>(tr.at(std::string(kGate[g]) + "_gate_preact")), trace.gate_preact[g],
                   at + " trace " + kGate[g] + "_gate_preact");
        ExpectSame(JsonInts<int16_t>(tr.at(std::string(kGate[g]) + "_gate")), trace.gate[g],
                   at + " trace " + kGate[g] + "_gate");
      }
      ExpectSame(JsonInts<int16_t>(tr.at("tanh_cell")), trace.tanh_cell, at + " trace tanh_cell");
      if (cfg.use_projection) {
        ExpectSame(JsonInts<int8_t>(tr.at("hidden_int8_negzp")), trace.hidden, at + " trace hidden_int8_negzp");
      }
      const bool ok_out = ExpectSame(gc_.expected_output[t], out, at + " output");
      const bool ok_h = ExpectSame(gc_.expected_output[t], state.h(), at + " output_state (h)");
      const bool ok_c = ExpectSame(gc_.expected_cell[t], state.c(), at + " cell_state");
      ASSERT_TRUE(ok_out && ok_h && ok_c) << "stopping " << gc_.name << " at the first failing step";
      compared += static_cast<int64_t>(out.size() + state.c().size());
    }
    // Guard against a vacuous pass.
    EXPECT_GT(compared, 0);
    RecordProperty("values_compared", std::to_string(compared));
  }

  GoldenLstmCase gc_;
};

// AVX2 missing is a failure unless IRNN_ALLOW_NO_AVX2=1 makes it an explicit skip.
#define IRNN_REQUIRE_AVX2()                                                                            \
  do {                                                                                                 \
    if (!KernelPathAvailable(KernelPath::kAvx2)) {                                                     \
      const char* allow = std::getenv("IRNN_ALLOW_NO_AVX2");                                           \
      if (allow != nullptr && std::string(allow) == "1") GTEST_SKIP() << "AVX2 not available on this CPU"; \
      FAIL() << "AVX2 path not available; set IRNN_ALLOW_NO_AVX2=1 to skip AVX2 tests on such a CPU"; \
    }                                                                                                  \
  } while (0)

TEST_P(TfliteLstmGolden, DerivedParamsMatchTflitePrepare) {
  TfliteLstmParams derived;
  const Status s = DeriveTfliteLstmParams(gc_.config, testing::ParamsFromGolden(gc_).weights, gc_.quantization,
                                          &derived);
  ASSERT_TRUE(s.ok()) << gc_.name << ": " << s.message();
  const TfliteLstmParams want = testing::ParamsFromGolden(gc_);
  auto mult = [&](const std::string& name, QuantizedMultiplier w, QuantizedMultiplier g) {
    EXPECT_TRUE(w == g) << gc_.name << " " << name << ": expected (" << w.multiplier << ", " << w.shift << ") got ("
                        << g.multiplier << ", " << g.shift << ")";
  };
  for (int g = 0; g < 4; ++g) {
    const std::string gate = kGate[g];
    mult("effective_input_to_" + gate + "_scale", want.input_to_gate_scale[g], derived.input_to_gate_scale[g]);
    mult("effective_recurrent_to_" + gate + "_scale", want.recurrent_to_gate_scale[g],
         derived.recurrent_to_gate_scale[g]);
    if (g != kCellGate) {
      mult("effective_cell_to_" + gate + "_scale", want.cell_to_gate_scale[g], derived.cell_to_gate_scale[g]);
    }
    mult("layer_norm_" + gate + "_scale", want.layer_norm_scale[g], derived.layer_norm_scale[g]);
    EXPECT_EQ(want.variance_guard[g], derived.variance_guard[g]) << gc_.name << " " << gate << "_variance_guard";
    ExpectSame(want.input_to_gate_effective_bias[g], derived.input_to_gate_effective_bias[g],
               gc_.name + " input_to_" + gate + "_effective_bias");
    ExpectSame(want.recurrent_to_gate_effective_bias[g], derived.recurrent_to_gate_effective_bias[g],
               gc_.name + " recurrent_to_" + gate + "_effective_bias");
  }
  mult("effective_hidden_scale", want.hidden_scale, derived.hidden_scale);
  mult("effective_proj_scale", want.projection_scale, derived.projection_scale);
  ExpectSame(want.projection_effective_bias, derived.projection_effective_bias,
             gc_.name + " projection_effective_bias");
  EXPECT_EQ(want.cell_scale, derived.cell_scale) << gc_.name << " cell_scale";
  EXPECT_EQ(want.quantized_cell_clip, derived.quantized_cell_clip) << gc_.name << " quantized_cell_clip";
  EXPECT_EQ(want.quantized_proj_clip, derived.quantized_proj_clip) << gc_.name << " quantized_proj_clip";
  EXPECT_EQ(want.hidden_zp, derived.hidden_zp) << gc_.name << " hidden_zp";
  EXPECT_EQ(want.output_zp, derived.output_zp) << gc_.name << " output_state_zp";
}

TEST_P(TfliteLstmGolden, StepsMatchOnScalarPath) { RunSteps(KernelPath::kScalar); }

TEST_P(TfliteLstmGolden, StepsMatchOnAvx2Path) {
  IRNN_REQUIRE_AVX2();
  RunSteps(KernelPath::kAvx2);
}

TEST_P(TfliteLstmGolden, StepsMatchOnAvxVnniPath) {
  if (!testing::AvxVnniAvailableOrNote()) GTEST_SKIP() << "AVX-VNNI not available on this CPU";
  RunSteps(KernelPath::kAvxVnni);
}

TEST_P(TfliteLstmGolden, StepsMatchOnAvx512VnniPath) {
  if (!testing::Avx512VnniAvailableOrNote()) GTEST_SKIP() << "AVX-512 VNNI not available on this CPU";
  RunSteps(KernelPath::kAvx512Vnni);
}

TEST_P(TfliteLstmGolden, StepsMatchOnAmxPath) {
  if (!testing::AmxAvailableOrNote()) GTEST_SKIP() << "AMX not available on this CPU";
  RunSteps(KernelPath::kAmx);
}

// The whole sequence in one Run call, from derived (not golden) parameters, equals the vectors too.
TEST_P(TfliteLstmGolden, SequenceFromDerivedParamsMatches) {
  TfliteLstmParams derived;
  ASSERT_TRUE(DeriveTfliteLstmParams(gc_.config, testing::ParamsFromGolden(gc_).weights, gc_.quantization, &derived)
                  .ok());
  std::unique_ptr<TfliteLstm> lstm;
  ASSERT_TRUE(TfliteLstm::Create(derived, KernelPath::kAuto, &lstm).ok());
  TfliteLstmState state;
  ASSERT_TRUE(lstm->NewState(gc_.n_batch, &state).ok());
  state.h() = gc_.output_state_init;
  state.c() = gc_.cell_state_init;
  const size_t per_step = static_cast<size_t>(gc_.n_batch) * gc_.config.n_output;
  std::vector<int8_t> out(per_step * gc_.n_steps);
  ASSERT_TRUE(lstm->Run(gc_.input.data(), gc_.n_steps, &state, out.data()).ok());
  std::vector<int8_t> want;
  for (const auto& step : gc_.expected_output) want.insert(want.end(), step.begin(), step.end());
  ExpectSame(want, out, gc_.name + " whole-sequence output (" + KernelPathName(lstm->path()) + ")");
  ExpectSame(gc_.expected_cell.back(), state.c(), gc_.name + " final cell_state");
}

INSTANTIATE_TEST_SUITE_P(DoubleRounding, TfliteLstmGolden,
                         ::testing::ValuesIn(Cases("tflite_lstm_8x8_16", "c")), CaseName);
INSTANTIATE_TEST_SUITE_P(SingleRounding, TfliteLstmGolden,
                         ::testing::ValuesIn(Cases("tflite_lstm_8x8_16_single_rounding", "s")), CaseName);

}  // namespace
}  // namespace irnn
