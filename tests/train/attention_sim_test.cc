// sim == int for integer attention (numerics.md §9): the libtorch simulation (src/train/sim_attention.h)
// against the runtime (irnn::Attention, irnn::SoftmaxQ15) bit for bit: softmax on random and edge
// scores, additive (fixed-point and PWL tanh) and dot attention, pooling, random shapes, batch > 1 and
// per-stream lengths; and the QAT module: float fake-quant forward close to its integer evaluation,
// Export -> runtime == sim. Not a test of accuracy against real-valued softmax (attention_test.cc).

#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "irnn/attention.h"
#include "support/random_attention.h"
#include "train/qat_attention.h"
#include "train/sim_attention.h"

namespace irnn {
namespace {

torch::Tensor ToLong(const std::vector<int32_t>& v) {
  return torch::tensor(std::vector<int64_t>(v.begin(), v.end()), torch::kInt64);
}

TEST(AttentionSim, SoftmaxEqualsRuntime) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 300; ++trial) {
    const int n = trial < 5 ? std::vector<int>{1, 3, 17, 33, 255}[trial] : std::uniform_int_distribution<int>(1, 300)(rng);
    const int kind = trial % 4;
    std::vector<int32_t> s;
    if (kind == 0) s = testing::RandomInts<int32_t>(rng, n, INT32_MIN, INT32_MAX);
    else if (kind == 1) s = testing::RandomInts<int32_t>(rng, n, -5000, 5000);
    else if (kind == 2) s.assign(n, static_cast<int32_t>(rng()));
    else { s = testing::RandomInts<int32_t>(rng, n, -100, 100); s[rng() % n] = 1 << 20; }
    const QuantizedMultiplier m = testing::RandomMultiplier(rng, -20, 10);
    const Rounding r = trial % 2 ? Rounding::kSingle : Rounding::kDouble;
    std::vector<int16_t> want(n);
    ASSERT_TRUE(SoftmaxQ15(s.data(), n, m, r, KernelPath::kScalar, want.data()).ok());
    const torch::Tensor got = train::sim::SoftmaxQ15(ToLong(s), torch::Tensor(), m, r);
    for (int t = 0; t < n; ++t) ASSERT_EQ(got[t].item<int64_t>(), want[t]) << "trial " << trial << " t " << t;
  }
}

struct Case {
  AttentionMode mode;
  int n_key, n_query, n_attn, batch, T;
  bool lengths;
  LstmActivation activation;
};

void CheckCase(const Case& c, std::mt19937& rng, Rounding rounding) {
  AttentionParams p = testing::RandomAttentionParams(rng, c.mode, c.n_key, c.n_query, c.n_attn, rounding);
  if (c.activation == LstmActivation::kPwl) {
    // A PWL tanh from the exporter (DeriveAttentionParams fits it).
    AttentionParams fitted;
    AttentionConfig cfg = p.config;
    cfg.activation = LstmActivation::kPwl;
    AttentionWeights w;
    w.query_weights = p.query_weights;
    w.key_weights = p.key_weights;
    w.score_weights = p.score_weights;
    AttentionQuantization q;
    q.key = {0.05f, 3};
    q.query = {0.04f, -2};
    q.query_weight_scale = q.key_weight_scale = q.score_weight_scale = 0.01f;
    ASSERT_TRUE(DeriveAttentionParams(cfg, w, q, &fitted).ok());
    p.config.activation = LstmActivation::kPwl;
    p.pwl_tanh = fitted.pwl_tanh;
  }
  std::unique_ptr<Attention> layer;
  ASSERT_TRUE(Attention::Create(p, KernelPath::kAuto, &layer).ok());
  AttentionState state;
  ASSERT_TRUE(layer->NewState(c.batch, c.T, &state).ok());
  // Keys: time-major for the runtime, batch-major for sim.
  const std::vector<int8_t> keys = testing::RandomInts<int8_t>(rng, size_t(c.T) * c.batch * c.n_key, -128, 127);
  std::vector<int32_t> lengths(c.batch, c.T);
  if (c.lengths) for (auto& l : lengths) l = std::uniform_int_distribution<int>(1, c.T)(rng);
  ASSERT_TRUE(layer->SetKeys(keys.data(), c.T, c.lengths ? lengths.data() : nullptr, &state).ok());
  torch::Tensor k = torch::tensor(std::vector<int64_t>(keys.begin(), keys.end())).reshape({c.T, c.batch, c.n_key})
                        .permute({1, 0, 2}).contiguous();
  const train::sim::SimAttention sm = train::sim::PrepareSimAttention(p, torch::kCPU);
  const train::sim::SimAttentionKeys sk =
      train::sim::SimAttentionSetKeys(sm, k, c.lengths ? ToLong(lengths) : torch::Tensor());
  for (int step = 0; step < 3; ++step) {
    std::vector<int8_t> query = testing::RandomInts<int8_t>(rng, size_t(c.batch) * c.n_query, -128, 127);
    std::vector<int8_t> context(size_t(c.batch) * c.n_key);
    std::vector<int16_t> weights(size_t(c.batch) * c.T);
    ASSERT_TRUE(layer->Attend(c.n_query > 0 ? query.data() : nullptr, &state, context.data(), weights.data()).ok());
    const torch::Tensor q = c.n_query > 0 ? torch::tensor(std::vector<int64_t>(query.begin(), query.end()))
                                                .reshape({c.batch, c.n_query})
                                          : torch::Tensor();
    const train::sim::SimAttendResult r = train::sim::SimAttend(sm, sk, q);
    const torch::Tensor ctx = r.context.contiguous(), w = r.weights.contiguous();
    for (int b = 0; b < c.batch; ++b) {
      for (int j = 0; j < c.n_key; ++j) {
        ASSERT_EQ(ctx[b][j].item<int64_t>(), context[size_t(b) * c.n_key + j]) << "b " << b << " j " << j;
      }
      for (int t = 0; t < c.T; ++t) ASSERT_EQ(w[b][t].item<int64_t>(), weights[size_t(b) * c.T + t]);
    }
  }
}

TEST(AttentionSim, AdditiveDotPoolingEqualRuntime) {
  std::mt19937 rng(11);
  const Case fixed[] = {
      {AttentionMode::kAdditive, 5, 7, 9, 3, 6, true, LstmActivation::kFixedPoint},
      {AttentionMode::kAdditive, 16, 16, 8, 1, 1, false, LstmActivation::kFixedPoint},
      {AttentionMode::kAdditive, 33, 17, 24, 4, 17, true, LstmActivation::kPwl},
      {AttentionMode::kDot, 17, 9, 0, 3, 33, true, LstmActivation::kFixedPoint},
      {AttentionMode::kDot, 8, 8, 0, 2, 5, false, LstmActivation::kFixedPoint},
      {AttentionMode::kAdditive, 12, 0, 10, 3, 9, true, LstmActivation::kFixedPoint},  // pooling
      {AttentionMode::kDot, 12, 0, 0, 2, 9, true, LstmActivation::kFixedPoint},        // pooling
  };
  for (const Case& c : fixed) {
    SCOPED_TRACE(static_cast<int>(c.mode));
    CheckCase(c, rng, Rounding::kDouble);
    CheckCase(c, rng, Rounding::kSingle);
  }
  for (int trial = 0; trial < 20; ++trial) {
    Case c;
    c.mode = trial % 2 ? AttentionMode::kDot : AttentionMode::kAdditive;
    c.n_key = std::uniform_int_distribution<int>(1, 40)(rng);
    c.n_query = std::uniform_int_distribution<int>(0, 40)(rng);
    c.n_attn = std::uniform_int_distribution<int>(1, 40)(rng);
    c.batch = std::uniform_int_distribution<int>(1, 4)(rng);
    c.T = std::uniform_int_distribution<int>(1, 40)(rng);
    c.lengths = trial % 3 != 0;
    c.activation = LstmActivation::kFixedPoint;
    SCOPED_TRACE(trial);
    CheckCase(c, rng, trial % 4 < 2 ? Rounding::kDouble : Rounding::kSingle);
  }
}

// The QAT module: its float fake-quant forward stays close to the integer evaluation of its export,
// and the export runs the same on the runtime as on sim.
TEST(AttentionQat, FloatCloseToIntAndExportMatchesRuntime) {
  torch::manual_seed(3);
  std::mt19937 rng(5);
  for (const AttentionMode mode : {AttentionMode::kAdditive, AttentionMode::kDot}) {
    for (const int64_t n_query : {int64_t{12}, int64_t{0}}) {
      train::QatAttentionOptions o;
      o.mode = mode;
      o.n_key = 16;
      o.n_query = n_query;
      o.n_attn = mode == AttentionMode::kAdditive ? 10 : 0;
      train::QatAttention qat(o);
      {
        // Larger weights than the initialisation, so that the attention is far from uniform.
        torch::NoGradGuard no_grad;
        qat->wq.mul_(mode == AttentionMode::kDot ? 0.5 : 3.0);
        qat->bq.mul_(5.0);
        if (mode == AttentionMode::kAdditive) {
          qat->wk.mul_(3.0);
          qat->v.mul_(4.0);
        }
      }
      const double sk = 0.03, sq = 0.02;
      const int32_t zk = 5, zq = -7;
      qat->SetGrids(sk, zk, sq, zq);
      const int64_t B = 3, T = 11;
      const torch::Tensor kint = torch::randint(-128, 128, {B, T, o.n_key}, torch::kInt64);
      const torch::Tensor qint = n_query > 0 ? torch::randint(-128, 128, {B, n_query}, torch::kInt64) : torch::Tensor();
      const torch::Tensor kf = (kint - zk).to(torch::kFloat32) * sk;
      const torch::Tensor qf = n_query > 0 ? (qint - zq).to(torch::kFloat32) * sq : torch::Tensor();
      const torch::Tensor lengths = torch::tensor({11, 4, 7}, torch::kInt64);
      const torch::Tensor mask = torch::arange(T).reshape({1, T}) < lengths.reshape({B, 1});
      qat->train();
      const auto fl = qat->forward(kf, mask, qf);  // observes (dot): calibration on this batch
      qat->set_observing(false);
      train::sim::SimAttendResult ir;
      const Status s = qat->EvalInt(kint, lengths, qint, &ir);
      ASSERT_TRUE(s.ok()) << s.message();
      // Context in key LSBs and weights in Q0.15 LSBs, float vs int.
      const torch::Tensor ctx_f = torch::round(fl.context.detach() / sk) + zk;
      const double ctx_err = (ctx_f - ir.context.to(torch::kFloat32)).abs().max().item<double>();
      const double w_err = (fl.weights.detach() * 32768.0 - ir.weights.to(torch::kFloat32)).abs().max().item<double>();
      EXPECT_LE(ctx_err, 1.0) << "mode " << int(mode) << " n_query " << n_query;
      EXPECT_LE(w_err, 16.0) << "mode " << int(mode) << " n_query " << n_query;
      const double max_w = fl.weights.detach().max().item<double>();
      EXPECT_GT(max_w, 0.3) << "mode " << int(mode) << " n_query " << n_query << ": nearly uniform attention";
      std::cout << "[ MEASURED ] QAT (max weight " << max_w << ") " << (mode == AttentionMode::kDot ? "dot" : "additive")
                << (n_query == 0 ? " pooling" : "") << ": float vs int context " << ctx_err << " LSB, weights "
                << w_err << " LSB of Q0.15\n";
      // The two-part form is the same computation.
      const auto two = qat->Attend(qat->PrepareKeys(kf, mask), qf);
      EXPECT_TRUE(torch::equal(two.context, fl.context));
      // Export -> runtime == sim.
      AttentionParams p;
      ASSERT_TRUE(qat->Export(&p).ok());
      std::unique_ptr<Attention> layer;
      ASSERT_TRUE(Attention::Create(p, KernelPath::kAuto, &layer).ok());
      AttentionState st;
      ASSERT_TRUE(layer->NewState(int(B), int(T), &st).ok());
      const torch::Tensor tm = kint.permute({1, 0, 2}).contiguous().to(torch::kInt8);
      std::vector<int32_t> len32 = {11, 4, 7};
      ASSERT_TRUE(layer->SetKeys(tm.data_ptr<int8_t>(), int(T), len32.data(), &st).ok());
      std::vector<int8_t> ctx(B * o.n_key);
      const torch::Tensor q8 = n_query > 0 ? qint.to(torch::kInt8).contiguous() : torch::Tensor();
      ASSERT_TRUE(layer->Attend(n_query > 0 ? q8.data_ptr<int8_t>() : nullptr, &st, ctx.data()).ok());
      for (int64_t i = 0; i < B * o.n_key; ++i) ASSERT_EQ(ctx[i], ir.context.reshape(-1)[i].item<int64_t>());
    }
  }
}

// Gradients reach every parameter through the fake quantization (straight-through).
TEST(AttentionQat, GradientsFlow) {
  torch::manual_seed(4);
  for (const AttentionMode mode : {AttentionMode::kAdditive, AttentionMode::kDot}) {
    train::QatAttentionOptions o;
    o.mode = mode;
    o.n_key = 8;
    o.n_query = 6;
    o.n_attn = mode == AttentionMode::kAdditive ? 5 : 0;
    train::QatAttention qat(o);
    qat->SetGrids(0.05, 0, 0.05, 0);
    const torch::Tensor keys = torch::randn({2, 7, 8}).clamp(-5, 5).requires_grad_(true);
    const torch::Tensor query = torch::randn({2, 6}).clamp(-5, 5).requires_grad_(true);
    const auto out = qat->forward(keys, torch::Tensor(), query);
    (out.context * torch::randn({2, 8})).sum().backward();
    for (const auto& p : qat->named_parameters()) {
      ASSERT_TRUE(p.value().grad().defined()) << p.key();
      EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0.0) << p.key() << " mode " << int(mode);
    }
    EXPECT_GT(query.grad().abs().sum().item<double>(), 0.0);
    EXPECT_GT(keys.grad().abs().sum().item<double>(), 0.0);
  }
}

}  // namespace
}  // namespace irnn
