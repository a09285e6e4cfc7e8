// The integer G2P runtime's own arithmetic and search (numerics.md §11.3-§11.4), without a model: the
// fixed-point exp2/log2 and log-softmax against double-precision math with their documented bounds, the
// greedy and beam search on scripted logits, and the model-file composition's refusals. The whole
// encoder–decoder (sim == int, model files) is tested in tests/train/g2p_qat_test.cc.

#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "core/quantize.h"
#include "irnn/g2p.h"
#include "irnn/model.h"

namespace irnn {
namespace {

TEST(G2pLogSoftmax, Exp2AndLog2AreWithinTheirBounds) {
  // Exp2NegQ16ToQ30: every d in [−32·2^16, 0] in steps of 7 (and the ends); error <= 2^−28 relative + 1.
  double worst_exp = 0;
  for (int32_t d = 0; d >= -32 * 65536; d -= 7) {
    const double want = std::ldexp(std::exp2(d / 65536.0), 30);
    const double err = std::fabs(static_cast<double>(Exp2NegQ16ToQ30(d)) - want);
    if (want > 1024) worst_exp = std::max(worst_exp, err / want);
    ASSERT_LE(err, want * std::ldexp(1.0, -26) + 1.0) << d;
  }
  EXPECT_EQ(Exp2NegQ16ToQ30(0), int64_t{1} << 30);
  EXPECT_EQ(Exp2NegQ16ToQ30(-65536), int64_t{1} << 29);
  EXPECT_EQ(Exp2NegQ16ToQ30(-40 * 65536), Exp2NegQ16ToQ30(-32 * 65536));  // clamped below
  // Log2Q30ToQ16: x in [2^30, 2^47); result within 2 LSB (Q16) below the exact value.
  std::mt19937_64 rng(5);
  for (int i = 0; i < 20000; ++i) {
    const int64_t x = (int64_t{1} << 30) + static_cast<int64_t>(rng() % ((int64_t{1} << 47) - (int64_t{1} << 30)));
    const double want = std::log2(std::ldexp(static_cast<double>(x), -30)) * 65536.0;
    const int32_t got = Log2Q30ToQ16(x);
    ASSERT_LE(got, want + 1e-6) << x;
    ASSERT_GE(got, want - 2.0) << x;
  }
  EXPECT_EQ(Log2Q30ToQ16(int64_t{1} << 30), 0);
  EXPECT_EQ(Log2Q30ToQ16(int64_t{1} << 31), 65536);
  std::printf("[ INFO     ] exp2 worst relative error %.3g (values above 2^10)\n", worst_exp);
}

TEST(G2pLogSoftmax, MatchesDoubleMathWithinAFewThousandthsOfABit) {
  std::mt19937 rng(11);
  const double s_logit = 3e-5;  // a typical exported logit scale
  const QuantizedMultiplier m = QuantizeMultiplier(s_logit * 1.4426950408889634 * 65536.0);
  double worst = 0;
  for (int trial = 0; trial < 2000; ++trial) {
    const int n = 1 + static_cast<int>(rng() % 64);
    std::vector<int32_t> z(static_cast<size_t>(n)), out(static_cast<size_t>(n));
    for (auto& v : z) v = static_cast<int32_t>(rng() % 600001) - 300000;  // logits within ±9 in real units
    LogSoftmaxLog2Q16(z.data(), n, m, Rounding::kDouble, out.data());
    double mx = -1e300, sum = 0;
    for (int32_t v : z) mx = std::max(mx, s_logit * v);
    for (int32_t v : z) sum += std::exp(s_logit * v - mx);
    for (int v = 0; v < n; ++v) {
      const double want = (s_logit * z[static_cast<size_t>(v)] - mx - std::log(sum)) / std::log(2.0);  // log2 p
      const double got = out[static_cast<size_t>(v)] / 65536.0;
      if (want > -30) worst = std::max(worst, std::fabs(got - want));
      ASSERT_LE(got, 1e-9);
    }
  }
  std::printf("[ INFO     ] log-softmax worst error %.5f bits (documented bound 0.002)\n", worst);
  EXPECT_LT(worst, 0.002);
}

TEST(G2pSearch, GreedyAndBeamOnScriptedLogits) {
  // Three symbols after </s>, <s>: 2, 3, 4. Step logits depend only on the last symbol: greedy takes 2
  // first (slightly better), which leads to a poor continuation; the beam finds 3 then </s>.
  const int32_t phones = 5;
  const QuantizedMultiplier m = QuantizeMultiplier(1e-3 * 1.4426950408889634 * 65536.0);
  auto step = [&](const std::vector<int32_t>& parents, const std::vector<int32_t>& prev, std::vector<int32_t>* logits) {
    EXPECT_EQ(parents.size(), prev.size());
    logits->assign(prev.size() * phones, -10000);
    for (size_t i = 0; i < prev.size(); ++i) {
      int32_t* z = logits->data() + i * phones;
      if (prev[i] == kG2pStart) {
        z[2] = 1100;  // p ~ 0.55
        z[3] = 900;
      } else if (prev[i] == 2) {
        z[2] = 0;
        z[3] = 0;
        z[4] = 0;
        z[kG2pEnd] = 0;  // uniform: bad for the score
      } else if (prev[i] == 3) {
        z[kG2pEnd] = 5000;  // almost surely ends
      } else {
        z[kG2pEnd] = 5000;
      }
    }
    return Status::Ok();
  };
  std::vector<int32_t> greedy, beam;
  ASSERT_TRUE(G2pSearch(step, phones, m, Rounding::kDouble, 1, 10, &greedy).ok());
  ASSERT_TRUE(G2pSearch(step, phones, m, Rounding::kDouble, 3, 10, &beam).ok());
  EXPECT_EQ(greedy, std::vector<int32_t>({2}));  // then a four-way tie: the lowest id, </s>
  EXPECT_EQ(beam, std::vector<int32_t>({3}));
  std::vector<int32_t> out;
  EXPECT_EQ(G2pSearch(step, phones, m, Rounding::kDouble, 0, 10, &out).message(),
            "G2pSearch: beam is 0 but must be in [1, 64]");
  auto failing = [](const std::vector<int32_t>&, const std::vector<int32_t>&, std::vector<int32_t>*) {
    return Status::InvalidArgument("step failed");
  };
  EXPECT_EQ(G2pSearch(failing, phones, m, Rounding::kDouble, 2, 10, &out).message(), "step failed");
}

TEST(G2pModelFile, RefusesOtherCompositions) {
  Model model;
  G2pModelParams p;
  Status s = G2pModelFromModel(model, &p);
  EXPECT_EQ(s.message(), "G2pModelFromModel: metadata 'composition' is '(absent)' but must be 'g2p' (this is not a G2P model)");
  model.metadata["composition"] = "g2p";
  s = G2pModelFromModel(model, &p);
  EXPECT_NE(s.message().find("the model has 0 layers but a G2P model has 8"), std::string::npos) << s.message();
  model.layers.resize(8);  // all tflite_lstm by default
  s = G2pModelFromModel(model, &p);
  EXPECT_NE(s.message().find("layers[0] ('') is a \"tflite_lstm\" layer but must be a \"embedding\" layer"),
            std::string::npos)
      << s.message();
  EXPECT_FALSE(ValidateG2pModelParams(G2pModelParams()).ok());
  std::unique_ptr<G2pModel> m;
  EXPECT_FALSE(G2pModel::Create(G2pModelParams(), KernelPath::kScalar, &m).ok());
}

}  // namespace
}  // namespace irnn
