// Tests of the integer attention layer and softmax (include/irnn/attention.h; numerics.md §9):
// the softmax against double-precision softmax on random and edge inputs within the bound of §9.6
// (per-probability error in Q0.15 LSBs and the sum of the probabilities), the attention step against a
// double-precision evaluation of the same integer equations' real meaning, every kernel path equal to
// the scalar one at the layer level, and the error messages of bad parameters and calls.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "core/quantize.h"
#include "irnn/attention.h"
#include "support/paths.h"
#include "support/random_attention.h"

namespace irnn {
namespace {

// Max |α_t − 32768·p_t| over t (LSBs) and Σα − 32768 for scores s with real value scale·s.
struct SoftmaxError {
  double max_lsb = 0;
  int64_t sum_minus_one = 0;      // Σα − 32768
  int64_t sum_minus_rounded = 0;  // Σα − Σ round(32768·p): the part not due to the Q0.15 grid itself
};

SoftmaxError MeasureSoftmax(const std::vector<int32_t>& s, double scale, Rounding rounding) {
  const int n = static_cast<int>(s.size());
  const QuantizedMultiplier m = QuantizeMultiplier(scale * 65536.0 / std::log(2.0), rounding);
  std::vector<int16_t> a(n);
  EXPECT_TRUE(SoftmaxQ15(s.data(), n, m, rounding, KernelPath::kScalar, a.data()).ok());
  const int32_t mx = *std::max_element(s.begin(), s.end());
  std::vector<double> p(n);
  double z = 0;
  for (int t = 0; t < n; ++t) z += p[t] = std::exp(scale * (static_cast<double>(s[t]) - mx));
  SoftmaxError e;
  int64_t sum = 0, rounded = 0;
  for (int t = 0; t < n; ++t) {
    e.max_lsb = std::max(e.max_lsb, std::abs(a[t] - std::min(32767.0, 32768.0 * p[t] / z)));
    sum += a[t];
    rounded += static_cast<int64_t>(std::nearbyint(std::min(32767.0, 32768.0 * p[t] / z)));
  }
  e.sum_minus_one = sum - 32768;
  e.sum_minus_rounded = sum - rounded;
  return e;
}

// §9.6: |α_t − min(32767, 32768·p_t)| <= 0.6 LSB of Q0.15 for every t, |Σα − 32768| <= 1 + n/2 (the grid: rounding
// n probabilities), and Σα within 2 + n/256 of the sum of the correctly rounded probabilities.
TEST(SoftmaxProperty, WithinBoundOfDoubleSoftmax) {
  std::mt19937 rng(1);
  double worst = 0;
  int64_t worst_sum = 0, worst_vs_rounded = 0;
  auto check = [&](const std::vector<int32_t>& s, double scale, Rounding r, const char* what) {
    const SoftmaxError e = MeasureSoftmax(s, scale, r);
    worst = std::max(worst, e.max_lsb);
    worst_sum = std::max<int64_t>(worst_sum, std::abs(e.sum_minus_one));
    worst_vs_rounded = std::max<int64_t>(worst_vs_rounded, std::abs(e.sum_minus_rounded));
    ASSERT_LE(std::abs(e.sum_minus_rounded), 2 + static_cast<int64_t>(s.size()) / 256) << what << " n " << s.size();
    ASSERT_LE(e.max_lsb, 0.6) << what << " n " << s.size() << " scale " << scale;
    ASSERT_LE(std::abs(e.sum_minus_one), 1 + static_cast<int64_t>(s.size()) / 2) << what << " n " << s.size();
  };
  for (int trial = 0; trial < 2000; ++trial) {
    const int n = std::vector<int>{1, 2, 3, 17, 33, 255, 1000, 4096}[trial % 8];
    const Rounding r = trial % 2 ? Rounding::kSingle : Rounding::kDouble;
    // Real scores spread over [-spread, spread] at a random scale.
    const double spread = std::ldexp(1.0, std::uniform_int_distribution<int>(-4, 6)(rng));
    const double scale = std::ldexp(1.0, -std::uniform_int_distribution<int>(4, 20)(rng)) *
                         std::uniform_real_distribution<double>(1.0, 2.0)(rng);
    const int64_t range = std::min<int64_t>(static_cast<int64_t>(spread / scale), int64_t{1} << 30);
    check(testing::RandomInts<int32_t>(rng, n, -range, range), scale, r, "random");
  }
  for (const int n : {1, 2, 3, 17, 255, 4096}) {
    for (const Rounding r : {Rounding::kDouble, Rounding::kSingle}) {
      check(std::vector<int32_t>(n, 12345), 0.001, r, "equal");
      check(std::vector<int32_t>(n, INT32_MIN), 0.001, r, "equal minimum");
      std::vector<int32_t> dominant(n, -1000);
      dominant[n / 2] = 1000;
      check(dominant, 0.01, r, "one dominant");  // exp(-20) per other entry
      std::vector<int32_t> extremes(n, INT32_MIN);
      extremes[0] = INT32_MAX;
      check(extremes, 1e-6, r, "extremes");  // differences beyond int32: saturated, exp underflows to 0
      std::vector<int32_t> ramp(n);
      for (int t = 0; t < n; ++t) ramp[t] = t * 7;
      check(ramp, 0.05, r, "ramp");
    }
  }
  std::cout << "[ MEASURED ] softmax: max error " << worst << " LSB of Q0.15, max |sum - 32768| " << worst_sum
            << ", max |sum - sum of rounded exact| " << worst_vs_rounded << "\n";
}

// The kernel paths give the same layer results (the kernels' own bit-exactness is attention_kernels_test).
TEST(Attention, PathsAgree) {
  std::mt19937 rng(2);
  std::vector<KernelPath> paths = {KernelPath::kAvx2};
  if (testing::AvxVnniAvailableOrNote()) paths.push_back(KernelPath::kAvxVnni);
  for (int trial = 0; trial < 30; ++trial) {
    const AttentionMode mode = trial % 2 ? AttentionMode::kDot : AttentionMode::kAdditive;
    const int n_key = std::uniform_int_distribution<int>(1, 70)(rng);
    const int n_query = std::uniform_int_distribution<int>(0, 70)(rng);
    const int n_attn = std::uniform_int_distribution<int>(1, 70)(rng);
    const int batch = std::uniform_int_distribution<int>(1, 3)(rng);
    const int T = std::uniform_int_distribution<int>(1, 90)(rng);
    const AttentionParams p = testing::RandomAttentionParams(rng, mode, n_key, n_query, n_attn,
                                                             trial % 4 < 2 ? Rounding::kDouble : Rounding::kSingle);
    const auto keys = testing::RandomInts<int8_t>(rng, size_t(T) * batch * n_key, -128, 127);
    const auto query = testing::RandomInts<int8_t>(rng, size_t(batch) * n_query, -128, 127);
    std::vector<int32_t> lengths(batch);
    for (auto& l : lengths) l = std::uniform_int_distribution<int>(1, T)(rng);
    auto run = [&](KernelPath path, std::vector<int8_t>* ctx, std::vector<int16_t>* w) {
      std::unique_ptr<Attention> layer;
      ASSERT_TRUE(Attention::Create(p, path, &layer).ok());
      AttentionState st;
      ASSERT_TRUE(layer->NewState(batch, T, &st).ok());
      ASSERT_TRUE(layer->SetKeys(keys.data(), T, lengths.data(), &st).ok());
      ctx->assign(size_t(batch) * n_key, 0);
      w->assign(size_t(batch) * T, 0);
      ASSERT_TRUE(layer->Attend(n_query ? query.data() : nullptr, &st, ctx->data(), w->data()).ok());
    };
    std::vector<int8_t> c0, c1;
    std::vector<int16_t> w0, w1;
    run(KernelPath::kScalar, &c0, &w0);
    for (const KernelPath path : paths) {
      run(path, &c1, &w1);
      ASSERT_EQ(c0, c1) << KernelPathName(path) << " trial " << trial;
      ASSERT_EQ(w0, w1) << KernelPathName(path) << " trial " << trial;
    }
  }
}

// The attention step against double precision: a derived layer (realistic scales) whose real-valued
// computation (float weights = the int8 weights times their scales) gives a context within a few LSBs
// of the key grid.
TEST(Attention, CloseToDoubleAttention) {
  std::mt19937 rng(4);
  for (const AttentionMode mode : {AttentionMode::kAdditive, AttentionMode::kDot}) {
    const int n_key = 24, n_query = 20, n_attn = 16, T = 30;
    AttentionConfig c;
    c.mode = mode;
    c.n_key = n_key;
    c.n_query = n_query;
    c.n_attn = mode == AttentionMode::kAdditive ? n_attn : 0;
    const int rows = mode == AttentionMode::kAdditive ? n_attn : n_key;
    AttentionWeights w;
    w.query_weights = testing::RandomInts<int8_t>(rng, size_t(rows) * n_query, -127, 127);
    w.query_bias.resize(rows);
    for (auto& b : w.query_bias) b = std::uniform_real_distribution<float>(-0.5f, 0.5f)(rng);
    AttentionQuantization q;
    q.key = {0.02f, 10};
    q.query = {0.015f, -5};
    q.query_weight_scale = 0.004f;
    if (mode == AttentionMode::kAdditive) {
      w.key_weights = testing::RandomInts<int8_t>(rng, size_t(n_attn) * n_key, -127, 127);
      w.score_weights = testing::RandomInts<int8_t>(rng, n_attn, -127, 127);
      q.key_weight_scale = 0.004f;
      q.score_weight_scale = 0.03f;
    } else {
      q.projection_scale = 0.02f;
    }
    AttentionParams p;
    ASSERT_TRUE(DeriveAttentionParams(c, w, q, &p).ok());
    std::unique_ptr<Attention> layer;
    ASSERT_TRUE(Attention::Create(p, KernelPath::kScalar, &layer).ok());
    AttentionState st;
    ASSERT_TRUE(layer->NewState(1, T, &st).ok());
    const auto keys = testing::RandomInts<int8_t>(rng, size_t(T) * n_key, -128, 127);
    const auto query = testing::RandomInts<int8_t>(rng, n_query, -128, 127);
    ASSERT_TRUE(layer->SetKeys(keys.data(), T, nullptr, &st).ok());
    std::vector<int8_t> ctx(n_key);
    std::vector<int16_t> alpha(T);
    ASSERT_TRUE(layer->Attend(query.data(), &st, ctx.data(), alpha.data()).ok());
    // Not a degenerate case: the weights are far from uniform.
    EXPECT_GT(*std::max_element(alpha.begin(), alpha.end()), 3 * 32768 / T) << "mode " << int(mode);
    // Double precision.
    std::vector<double> aq(rows);
    for (int r = 0; r < rows; ++r) {
      double acc = w.query_bias[r];
      for (int k = 0; k < n_query; ++k) acc += q.query_weight_scale * w.query_weights[r * n_query + k] * q.query.scale * (query[k] - q.query.zero_point);
      aq[r] = acc;
    }
    std::vector<double> score(T);
    for (int t = 0; t < T; ++t) {
      double s = 0;
      for (int j = 0; j < rows; ++j) {
        if (mode == AttentionMode::kAdditive) {
          double ak = 0;
          for (int k = 0; k < n_key; ++k) ak += q.key_weight_scale * w.key_weights[j * n_key + k] * q.key.scale * (keys[t * n_key + k] - q.key.zero_point);
          s += q.score_weight_scale * w.score_weights[j] * std::tanh(aq[j] + ak);
        } else {
          const double u = std::clamp(std::nearbyint(aq[j] / q.projection_scale), -128.0, 127.0) * q.projection_scale;
          s += u * q.key.scale * (keys[t * n_key + j] - q.key.zero_point);
        }
      }
      score[t] = s;
    }
    const double mx = *std::max_element(score.begin(), score.end());
    double z = 0;
    for (double& s : score) z += s = std::exp(s - mx);
    double worst = 0;
    for (int j = 0; j < n_key; ++j) {
      double v = 0;
      for (int t = 0; t < T; ++t) v += score[t] / z * (keys[t * n_key + j] - q.key.zero_point);
      worst = std::max(worst, std::abs(v + q.key.zero_point - ctx[j]));
    }
    EXPECT_LE(worst, 2.0) << "mode " << int(mode);
    std::cout << "[ MEASURED ] " << (mode == AttentionMode::kDot ? "dot" : "additive")
              << " attention: context vs double within " << worst << " LSB of the key grid\n";
  }
}

AttentionParams SmallParams(AttentionMode mode) {
  std::mt19937 rng(9);
  return testing::RandomAttentionParams(rng, mode, 4, 3, mode == AttentionMode::kAdditive ? 5 : 0, Rounding::kDouble);
}

void ExpectError(const Status& s, const std::string& part) {
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find(part), std::string::npos) << s.message();
}

TEST(Attention, BadParams) {
  std::unique_ptr<Attention> layer;
  AttentionParams p = SmallParams(AttentionMode::kAdditive);
  p.config.n_attn = 300;
  ExpectError(Attention::Create(p, KernelPath::kScalar, &layer), "config.n_attn is 300 but must be in [1, 256]");
  p = SmallParams(AttentionMode::kAdditive);
  p.key_weights.pop_back();
  ExpectError(Attention::Create(p, KernelPath::kScalar, &layer), "key_weights has 19 elements but must have n_attn*n_key = 20");
  p = SmallParams(AttentionMode::kDot);
  p.config.n_attn = 3;
  ExpectError(Attention::Create(p, KernelPath::kScalar, &layer), "config.n_attn is 3 but must be 0 in dot mode");
  p = SmallParams(AttentionMode::kDot);
  p.softmax_scale.multiplier = 5;
  ExpectError(Attention::Create(p, KernelPath::kScalar, &layer), "softmax_scale.multiplier is 5");
  p = SmallParams(AttentionMode::kDot);
  p.key_zp = 200;
  ExpectError(Attention::Create(p, KernelPath::kScalar, &layer), "key_zp is 200 but must be in [-128, 127]");
  p = SmallParams(AttentionMode::kAdditive);
  p.config.activation = LstmActivation::kPwl;  // without a table
  ExpectError(Attention::Create(p, KernelPath::kScalar, &layer), "pwl_tanh");
  p = SmallParams(AttentionMode::kAdditive);
  p.config.n_key = 0;
  ExpectError(Attention::Create(p, KernelPath::kScalar, &layer), "config.n_key is 0");
}

TEST(Attention, BadCalls) {
  std::unique_ptr<Attention> layer;
  ASSERT_TRUE(Attention::Create(SmallParams(AttentionMode::kAdditive), KernelPath::kScalar, &layer).ok());
  AttentionState st;
  ExpectError(layer->NewState(0, 4, &st), "batch is 0");
  ExpectError(layer->NewState(1, kMaxAttentionLength + 1, &st), "max_length is 4097");
  ExpectError(layer->NewState(65536, 4096, &st), "must be at most");
  ASSERT_TRUE(layer->NewState(2, 4, &st).ok());
  std::vector<int8_t> keys(4 * 2 * 4, 1), query(2 * 3, 0), ctx(2 * 4);
  ExpectError(layer->Attend(query.data(), &st, ctx.data()), "call SetKeys first");
  ExpectError(layer->SetKeys(keys.data(), 5, nullptr, &st), "length is 5 but must be in [1, 4]");
  const int32_t bad_lengths[2] = {2, 0};
  ExpectError(layer->SetKeys(keys.data(), 4, bad_lengths, &st), "lengths[1] is 0 but must be in [1, 4]");
  ASSERT_TRUE(layer->SetKeys(keys.data(), 4, nullptr, &st).ok());
  ExpectError(layer->Attend(nullptr, &st, ctx.data()), "query is null");
  ExpectError(layer->Pool(keys.data(), 4, nullptr, &st, ctx.data()), "n_query is 3 but must be 0");
  AttentionState foreign;
  std::unique_ptr<Attention> dot;
  ASSERT_TRUE(Attention::Create(SmallParams(AttentionMode::kDot), KernelPath::kScalar, &dot).ok());
  ASSERT_TRUE(dot->NewState(2, 4, &foreign).ok());
  ExpectError(layer->SetKeys(keys.data(), 4, nullptr, &foreign), "state was not made by NewState of this layer");
  ASSERT_TRUE(dot->SetKeys(keys.data(), 4, nullptr, &foreign).ok());
  ExpectError(layer->Attend(query.data(), &foreign, ctx.data()), "state was not made by NewState of this layer");
  int16_t probs[2];
  const int32_t scores[2] = {1, 2};
  ExpectError(SoftmaxQ15(scores, 0, {1 << 30, 0}, Rounding::kDouble, KernelPath::kScalar, probs), "n is 0");
  ExpectError(SoftmaxQ15(scores, 2, {7, 0}, Rounding::kDouble, KernelPath::kScalar, probs), "exp_scale is (7, 0)");
}

// Pooling: the learned query only (n_query == 0); equal keys give uniform weights and the key itself.
TEST(Attention, PoolingOfEqualKeysIsTheKey) {
  std::mt19937 rng(12);
  for (const AttentionMode mode : {AttentionMode::kAdditive, AttentionMode::kDot}) {
    const AttentionParams p = testing::RandomAttentionParams(rng, mode, 6, 0, 5, Rounding::kDouble);
    std::unique_ptr<Attention> layer;
    ASSERT_TRUE(Attention::Create(p, KernelPath::kAuto, &layer).ok());
    AttentionState st;
    ASSERT_TRUE(layer->NewState(1, 8, &st).ok());
    std::vector<int8_t> keys;
    const std::vector<int8_t> key = {-100, -3, 0, 5, 77, 127};
    for (int t = 0; t < 8; ++t) keys.insert(keys.end(), key.begin(), key.end());
    std::vector<int8_t> ctx(6);
    ASSERT_TRUE(layer->Pool(keys.data(), 8, nullptr, &st, ctx.data()).ok());
    EXPECT_EQ(ctx, key);
  }
}

}  // namespace
}  // namespace irnn
