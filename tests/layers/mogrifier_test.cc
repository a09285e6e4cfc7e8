// The integer Mogrifier LSTM (include/irnn/mogrifier_lstm.h, numerics.md §10.3) on the runtime alone:
// Run equals Steps, every kernel path equals scalar, a step is the rounds followed by the TfliteLstm
// step on the mogrified (x, h), one round is within one int8 LSB of the real 2σ(W v)·x, the float
// derivation gives the documented multipliers and biases, and bad parameters are refused with the field
// named. sim == int is in tests/train/mogrifier_sim_test.cc.

#include "irnn/mogrifier_lstm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "support/random_mogrifier.h"
#include "support/paths.h"

namespace irnn {
namespace {

struct RunResult {
  std::vector<int8_t> out, h;
  std::vector<int16_t> c;
};

RunResult RunSteps(const testing::RandomMogrifier& r, KernelPath path, bool whole) {
  std::unique_ptr<MogrifierLstm> m;
  const Status s = MogrifierLstm::Create(r.params, path, &m);
  EXPECT_TRUE(s.ok()) << s.message();
  if (!s.ok()) return {};
  MogrifierLstmState st;
  EXPECT_TRUE(m->NewState(r.batch, &st).ok());
  const TfliteLstmConfig& c = r.params.lstm.config;
  RunResult res;
  res.out.resize(static_cast<size_t>(r.steps) * r.batch * c.n_output);
  if (whole) {
    EXPECT_TRUE(m->Run(r.input.data(), r.steps, &st, res.out.data()).ok());
  } else {
    for (int t = 0; t < r.steps; ++t) {
      EXPECT_TRUE(m->Step(r.input.data() + static_cast<size_t>(t) * r.batch * c.n_input, &st,
                          res.out.data() + static_cast<size_t>(t) * r.batch * c.n_output)
                      .ok());
    }
  }
  res.h = st.h();
  res.c = st.c();
  return res;
}

TEST(MogrifierLstm, RunEqualsStepsAndEveryPathEqualsScalar) {
  const std::vector<KernelPath> paths = testing::OptimizedPathsOrNote();
  for (uint64_t seed = 0; seed < 40; ++seed) {
    const testing::RandomMogrifier r = testing::MakeRandomMogrifier(seed, seed % 2 == 0);
    const RunResult steps = RunSteps(r, KernelPath::kScalar, false);
    const RunResult whole = RunSteps(r, KernelPath::kScalar, true);
    ASSERT_EQ(steps.out, whole.out) << r.description;
    ASSERT_EQ(steps.c, whole.c) << r.description;
    for (KernelPath p : paths) {
      const RunResult o = RunSteps(r, p, seed % 3 == 0);
      ASSERT_EQ(steps.out, o.out) << KernelPathName(p) << " " << r.description;
      ASSERT_EQ(steps.h, o.h) << KernelPathName(p) << " " << r.description;
      ASSERT_EQ(steps.c, o.c) << KernelPathName(p) << " " << r.description;
    }
  }
}

TEST(MogrifierLstm, StepIsTheRoundsThenTheLstmStepOnTheMogrifiedInputs) {
  for (uint64_t seed = 50; seed < 60; ++seed) {
    const testing::RandomMogrifier r = testing::MakeRandomMogrifier(seed, true);
    const TfliteLstmConfig& c = r.params.lstm.config;
    std::unique_ptr<MogrifierLstm> m;
    ASSERT_TRUE(MogrifierLstm::Create(r.params, KernelPath::kScalar, &m).ok());
    std::unique_ptr<TfliteLstm> lstm;
    ASSERT_TRUE(TfliteLstm::Create(r.params.lstm, KernelPath::kScalar, &lstm).ok());
    MogrifierLstmState ms, scratch;
    ASSERT_TRUE(m->NewState(r.batch, &ms).ok());
    ASSERT_TRUE(m->NewState(r.batch, &scratch).ok());
    TfliteLstmState ls;
    ASSERT_TRUE(lstm->NewState(r.batch, &ls).ok());
    std::vector<int8_t> out(static_cast<size_t>(r.batch) * c.n_output), want(out.size());
    int changed = 0;
    for (int t = 0; t < r.steps; ++t) {
      const int8_t* x = r.input.data() + static_cast<size_t>(t) * r.batch * c.n_input;
      std::vector<int8_t> xm(x, x + static_cast<size_t>(r.batch) * c.n_input);
      ASSERT_TRUE(m->Mogrify(xm.data(), ls.h().data(), &scratch).ok());
      changed += !std::equal(xm.begin(), xm.end(), x);
      ASSERT_TRUE(lstm->Step(xm.data(), &ls, want.data()).ok());
      ASSERT_TRUE(m->Step(x, &ms, out.data()).ok());
      ASSERT_EQ(out, want) << r.description << " step " << t;
      ASSERT_EQ(ms.c(), ls.c());
    }
    EXPECT_GT(changed, 0) << r.description;
  }
}

TEST(MogrifierLstm, OneRoundIsWithinOneLsbOfTheRealGating) {
  // One round (odd: x <- 2σ(Q h) ⊙ x). The pre-activation is exact integer arithmetic; the PWL sigmoid
  // is within 1 LSB of Q0.15; so x' is within one int8 LSB of (x − zp)·2σ(pre / 4096) + zp, saturated.
  int compared = 0;
  for (uint64_t seed = 70; seed < 80; ++seed) {
    testing::RandomMogrifier r = testing::MakeRandomMogrifier(seed, true);
    r.params.rounds.resize(1);
    const TfliteLstmConfig& c = r.params.lstm.config;
    std::unique_ptr<MogrifierLstm> m;
    ASSERT_TRUE(MogrifierLstm::Create(r.params, KernelPath::kScalar, &m).ok());
    MogrifierLstmState st;
    ASSERT_TRUE(m->NewState(1, &st).ok());
    std::mt19937_64 rng(seed);
    std::vector<int8_t> h(c.n_output), x(c.n_input);
    for (auto& v : h) v = static_cast<int8_t>(std::uniform_int_distribution<int>(-128, 127)(rng));
    for (auto& v : x) v = static_cast<int8_t>(std::uniform_int_distribution<int>(-128, 127)(rng));
    std::vector<int8_t> xm = x, hm = h;
    ASSERT_TRUE(m->Mogrify(xm.data(), hm.data(), &st).ok());
    EXPECT_EQ(hm, h);  // one round leaves h alone
    const MogrifierRound& q = r.params.rounds[0];
    for (int row = 0; row < c.n_input; ++row) {
      int64_t acc = q.effective_bias[row];
      for (int k = 0; k < c.n_output; ++k) acc += int64_t{q.weight[static_cast<size_t>(row) * c.n_output + k]} * h[k];
      const double pre = std::min(32767.0, std::max(-32768.0, std::round(acc * (q.scale[row].multiplier *
                                                                                 std::ldexp(1.0, q.scale[row].shift - 31)))));
      const double real = (x[row] - r.params.input_zp) * 2.0 / (1.0 + std::exp(-pre / 4096.0)) + r.params.input_zp;
      const double want = std::min(127.0, std::max(-128.0, real));
      EXPECT_LE(std::abs(want - xm[row]), 1.0 + 1e-9) << r.description << " row " << row << " pre " << pre;
      ++compared;
    }
  }
  EXPECT_GT(compared, 20);
}

TEST(MogrifierLstm, DeriveFoldsZeroPointsAndScales) {
  testing::RandomMogrifier r = testing::MakeRandomMogrifier(5, true);
  const TfliteLstmConfig& c = r.params.lstm.config;
  std::vector<MogrifierRoundFloat> rounds(2);
  rounds[0].weight.assign(static_cast<size_t>(c.n_input) * c.n_output, 3);
  rounds[0].weight_scale.assign(c.n_input, 0.01f);
  rounds[1].weight.assign(static_cast<size_t>(c.n_output) * c.n_input, -2);
  rounds[1].weight_scale.assign(c.n_output, 0.02f);
  rounds[1].bias.assign(c.n_output, 100);
  MogrifierLstmParams p;
  const Status s = DeriveMogrifierLstmParams(r.params.lstm, 0.05f, -4, 0.0078125f, rounds, &p);
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_EQ(p.rounds.size(), 2u);
  EXPECT_EQ(p.input_zp, -4);
  // Round 1 reads h (zero point lstm.output_zp, scale 1/128): bias = −zp_h·3·n_output, M = 0.01/128·4096.
  EXPECT_EQ(p.rounds[0].effective_bias[0], -r.params.lstm.output_zp * 3 * c.n_output);
  const QuantizedMultiplier m0 = p.rounds[0].scale[0];
  EXPECT_NEAR(m0.multiplier * std::ldexp(1.0, m0.shift - 31), 0.01 / 128 * 4096, 1e-5);
  // Round 2 reads x (zero point −4): bias = 100 − (−4)·(−2)·n_input.
  EXPECT_EQ(p.rounds[1].effective_bias[0], 100 - 8 * c.n_input);
  const QuantizedMultiplier m1 = p.rounds[1].scale[0];
  EXPECT_NEAR(m1.multiplier * std::ldexp(1.0, m1.shift - 31), 0.02 * 0.05 * 4096, 1e-4);
  std::unique_ptr<MogrifierLstm> m;
  EXPECT_TRUE(MogrifierLstm::Create(p, KernelPath::kAuto, &m).ok());
  rounds[1].weight_scale[0] = 0.0f;
  EXPECT_FALSE(DeriveMogrifierLstmParams(r.params.lstm, 0.05f, -4, 0.0078125f, rounds, &p).ok());
}

TEST(MogrifierLstm, RejectsBadParams) {
  const testing::RandomMogrifier r = testing::MakeRandomMogrifier(3, true);
  std::unique_ptr<MogrifierLstm> m;
  MogrifierLstmParams p = r.params;
  p.rounds.clear();
  EXPECT_EQ(MogrifierLstm::Create(p, KernelPath::kScalar, &m).message(),
            "MogrifierLstmParams: rounds has 0 elements but must have 1 to 16");
  p = r.params;
  p.rounds[0].weight.pop_back();
  EXPECT_NE(MogrifierLstm::Create(p, KernelPath::kScalar, &m).message().find("rounds[0].weight has"), std::string::npos);
  p = r.params;
  p.rounds[0].scale[0] = {5, 0};
  EXPECT_NE(MogrifierLstm::Create(p, KernelPath::kScalar, &m).message().find("rounds[0].scale[0] is (5, 0)"),
            std::string::npos);
  p = r.params;
  p.input_zp = -129;
  EXPECT_EQ(MogrifierLstm::Create(p, KernelPath::kScalar, &m).message(),
            "MogrifierLstmParams: input_zp is -129 but must be in [-128, 127]");
  p = r.params;
  p.sigmoid = r.params.lstm.pwl_tanh_gate;  // outputs reach -32767
  EXPECT_NE(MogrifierLstm::Create(p, KernelPath::kScalar, &m).message().find("sigmoid outputs are"), std::string::npos);
  p = r.params;
  p.lstm.config.n_cell = 0;
  EXPECT_EQ(MogrifierLstm::Create(p, KernelPath::kScalar, &m).message().rfind("MogrifierLstmParams: lstm: ", 0), 0u);
  ASSERT_TRUE(MogrifierLstm::Create(r.params, KernelPath::kScalar, &m).ok());
  MogrifierLstmState st;
  std::vector<int8_t> x(64), out(64);
  EXPECT_EQ(m->Step(x.data(), &st, out.data()).message(), "MogrifierLstm::Step: state was not made by NewState of this layer");
  EXPECT_EQ(m->NewState(0, &st).message(), "MogrifierLstm::NewState: batch is 0 but must be in [1, 65536]");
  EXPECT_EQ(m->Run(x.data(), -2, &st, out.data()).message(), "MogrifierLstm::Run: steps is -2 but must be >= 0");
}

}  // namespace
}  // namespace irnn
