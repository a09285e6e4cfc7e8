// The training side on tiny models (seconds, not minutes): the float LSTM language model learns (its
// loss falls), checkpoints round-trip, and quantization-aware training and post-training quantization
// export integer models whose libtorch simulation (the QAT model's evaluation mode) equals the integer
// runtime bit for bit, logit for logit, in both quantization modes and both roundings.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <random>
#include <set>

#include <gtest/gtest.h>

#include "irnn/lm.h"
#include "support/tiny_corpus.h"
#include "train/lm.h"
#include "train/qat.h"

namespace irnn {
namespace {

train::TrainOptions TinyTraining() {
  train::TrainOptions o;
  o.epochs = 4;
  o.batch = 4;
  o.bptt = 8;
  o.optimizer = "adam";
  o.lr = 0.01;
  o.decay_start = 100;
  o.threads = 1;
  o.progress = false;
  return o;
}

train::FloatLm TrainedTinyModel(const TextCorpus& c, std::vector<train::EpochStats>* curve) {
  train::LmOptions lo;
  lo.vocab = c.vocab.size();
  lo.dim = 16;
  lo.layers = 2;
  train::FloatLm m(lo);
  const Status s = train::TrainFloatLm(c, TinyTraining(), m, curve);
  EXPECT_TRUE(s.ok()) << s.message();
  return m;
}

TEST(FloatLm, TinyModelLearnsAndCheckpointsRoundTrip) {
  const TextCorpus c = TinyCorpus(1);
  std::vector<train::EpochStats> curve;
  train::FloatLm m = TrainedTinyModel(c, &curve);
  ASSERT_EQ(curve.size(), 4u);
  EXPECT_LT(curve.back().train_ppl, 0.6 * curve.front().train_ppl) << "the loss did not fall";
  EXPECT_LT(curve.back().valid_ppl, c.vocab.size() / 2.0) << "no better than guessing";
  const double ppl = train::EvaluateFloatLm(m, c.test, 4, 8);
  const std::string path = ::testing::TempDir() + "tiny_float.pt";
  ASSERT_TRUE(train::SaveFloatLm(m, c.vocab, path).ok());
  train::FloatLm back(train::LmOptions{});
  Vocabulary vocab;
  const Status s = train::LoadFloatLm(path, &back, &vocab);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(vocab.words(), c.vocab.words());
  EXPECT_DOUBLE_EQ(train::EvaluateFloatLm(back, c.test, 4, 8), ppl);
  // A file that is not a checkpoint gets a message, not a crash.
  const std::string junk = ::testing::TempDir() + "junk.pt";
  std::ofstream(junk) << "not a checkpoint";
  const Status bad = train::LoadFloatLm(junk, &back, &vocab);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("junk.pt"), std::string::npos) << bad.message();
}

// The integer runtime's perplexity of p over `test` (4 streams), within 1.5x of the float model m's.
void ExpectIntPerplexityNearFloat(const LanguageModelParams& p, double logit_scale, train::FloatLm& m,
                                  const std::vector<int32_t>& test, double* int_ppl, double* float_ppl) {
  std::unique_ptr<LanguageModel> lm;
  ASSERT_TRUE(LanguageModel::Create(p, KernelPath::kAuto, &lm).ok());
  LanguageModelState st;
  ASSERT_TRUE(lm->NewState(4, &st).ok());
  auto step = [&](const std::vector<int32_t>& tok, std::vector<int32_t>* logits) {
    logits->resize(static_cast<size_t>(4 * lm->vocab()));
    return lm->Step(tok.data(), &st, logits->data());
  };
  int64_t tokens = 0;
  ASSERT_TRUE(train::PerplexityFromIntLogits(test, 4, lm->vocab(), logit_scale, step, int_ppl, &tokens, false).ok());
  *float_ppl = train::EvaluateFloatLm(m, test, 4, 8);
  EXPECT_LT(*int_ppl, 1.5 * *float_ppl) << "float " << *float_ppl << " int " << *int_ppl;
}

// One epoch of QAT (tiny training, learning rate 1e-3), then the export.
void TrainQatEpochAndExport(const TextCorpus& c, train::QatLm& q, LanguageModelParams* p, double* logit_scale) {
  train::TrainOptions o = TinyTraining();
  o.epochs = 1;
  o.lr = 1e-3;
  std::vector<train::EpochStats> qcurve;
  ASSERT_TRUE(train::TrainQat(c, o, q, &qcurve).ok());
  const Status s = q->Export(p, logit_scale);
  ASSERT_TRUE(s.ok()) << s.message();
}

// Logits of the integer runtime and of the simulation over a few steps of two streams.
void ExpectSimEqualsInt(const LanguageModelParams& p, const std::vector<int32_t>& ids, KernelPath path) {
  std::unique_ptr<LanguageModel> lm;
  const Status s = LanguageModel::Create(p, path, &lm);
  ASSERT_TRUE(s.ok()) << s.message();
  LanguageModelState state;
  ASSERT_TRUE(lm->NewState(2, &state).ok());
  train::SimLanguageModel sim;
  ASSERT_TRUE(sim.Init(p, torch::kCPU).ok());
  sim.Reset(2);
  std::vector<int32_t> logits(static_cast<size_t>(2 * lm->vocab())), sim_logits;
  int64_t distinct = 0;
  for (size_t t = 0; t + 1 < 40 && 2 * t + 1 < ids.size(); ++t) {
    const std::vector<int32_t> tokens = {ids[2 * t], ids[2 * t + 1]};
    ASSERT_TRUE(lm->Step(tokens.data(), &state, logits.data()).ok());
    ASSERT_TRUE(sim.Step(tokens, &sim_logits).ok());
    ASSERT_EQ(sim_logits, logits) << "step " << t << " (" << KernelPathName(lm->path()) << ")";
    distinct += std::set<int32_t>(logits.begin(), logits.end()).size();
  }
  EXPECT_GT(distinct, 100) << "logits barely vary: the comparison proves little";
}

// The training-mode forward (float, fake quantization) against the integer simulation: the last LSTM
// layer's int8 output, token by token, in output LSBs. Reported (printed and recorded), and bounded
// loosely: the two differ only by rounding (float vs fixed-point/PWL activations, round-half-even vs
// the integer requantization), which the recurrence can carry forward.
TEST(Qat, TrainingForwardTracksTheIntegerSimulation) {
  const TextCorpus c = TinyCorpus(3);
  std::vector<train::EpochStats> curve;
  train::FloatLm m = TrainedTinyModel(c, &curve);
  for (int variant = 0; variant < 3; ++variant) {  // irnn, tflite, irnn with pot scales (§7.1.1)
    const train::QatMode mode = variant == 1 ? train::QatMode::kTflite : train::QatMode::kIrnn;
    const char* name = variant == 0 ? "irnn" : (variant == 1 ? "tflite" : "irnn_pot");
    train::QatOptions qo;
    qo.mode = mode;
    qo.pot_scales = variant == 2;
    qo.calibration_batches = 20;
    train::QatLm q(m, qo);
    train::Calibrate(q, c.train, 4, 8, 20);
    LanguageModelParams p;
    double logit_scale = 0;
    ASSERT_TRUE(q->Export(&p, &logit_scale).ok());
    train::SimLanguageModel sim;
    ASSERT_TRUE(sim.Init(p, torch::kCPU).ok());
    sim.Reset(2);
    torch::NoGradGuard no_grad;
    q->set_observing(false);
    auto state = q->ZeroState(2);
    const size_t last = p.lstm.size() - 1;
    double s_h = 0;
    int32_t z_h = 0;
    q->OutputQuantization(last, &s_h, &z_h);
    int64_t max_diff = 0, total = 0, differ = 0;
    std::vector<int32_t> logits;
    for (size_t t = 0; t < 60; ++t) {
      const std::vector<int32_t> tokens = {c.test[2 * t], c.test[2 * t + 1]};
      ASSERT_TRUE(sim.Step(tokens, &logits).ok());
      q->forward(torch::tensor({{int64_t{tokens[0]}, int64_t{tokens[1]}}}), &state);
      const torch::Tensor codes = torch::round(state[2 * last] / s_h).to(torch::kInt64) + z_h;
      const torch::Tensor d = (codes - sim.h(last)).abs();
      max_diff = std::max<int64_t>(max_diff, d.max().item<int64_t>());
      differ += d.gt(0).sum().item<int64_t>();
      total += d.numel();
    }
    std::printf("[ qat      ] %s: training forward vs sim, last layer output: max %lld LSB, %lld of %lld differ\n",
                name, static_cast<long long>(max_diff), static_cast<long long>(differ), static_cast<long long>(total));
    RecordProperty(std::string(name) + "_max_lsb", std::to_string(max_diff));
    // Observed (corpus seed 3): irnn 1, tflite 2, irnn_pot 4 LSB (seeds 4-6: irnn_pot 1, 1, 2). With
    // power-of-two multipliers ties are frequent: MBQM rounds them up, the float forward to even.
    EXPECT_LE(max_diff, 4) << "the float training forward should simulate the integer model closely";
  }
}

TEST(Qat, SimEqualsIntAfterQatAndPtqInBothModesAndRoundings) {
  const TextCorpus c = TinyCorpus(2);
  std::vector<train::EpochStats> curve;
  train::FloatLm m = TrainedTinyModel(c, &curve);
  for (train::QatMode mode : {train::QatMode::kIrnn, train::QatMode::kTflite}) {
    for (Rounding rounding : {Rounding::kDouble, Rounding::kSingle}) {
      SCOPED_TRACE(std::string(mode == train::QatMode::kIrnn ? "irnn" : "tflite") +
                   (rounding == Rounding::kSingle ? " single" : " double"));
      train::QatOptions qo;
      qo.mode = mode;
      qo.rounding = rounding;
      qo.calibration_batches = 20;
      train::QatLm q(m, qo);
      LanguageModelParams p;
      double logit_scale = 0;
      ASSERT_NO_FATAL_FAILURE(TrainQatEpochAndExport(c, q, &p, &logit_scale));
      EXPECT_GT(logit_scale, 0);
      EXPECT_EQ(p.lstm[0].config.activation,
                mode == train::QatMode::kIrnn ? LstmActivation::kPwl : LstmActivation::kFixedPoint);
      EXPECT_EQ(!p.lstm[0].input_to_gate_channel_scale[1].empty(), mode == train::QatMode::kIrnn);
      ExpectSimEqualsInt(p, c.test, KernelPath::kScalar);
      if (KernelPathAvailable(KernelPath::kAvx2)) ExpectSimEqualsInt(p, c.test, KernelPath::kAvx2);

      // The integer model is about as good as the float one on this easy data.
      double int_ppl = 0, float_ppl = 0;
      ASSERT_NO_FATAL_FAILURE(ExpectIntPerplexityNearFloat(p, logit_scale, m, c.test, &int_ppl, &float_ppl));
      std::printf("[ qat      ] %s %s: float ppl %.3f, integer ppl %.3f\n",
                  mode == train::QatMode::kIrnn ? "irnn" : "tflite", rounding == Rounding::kSingle ? "single" : "double",
                  float_ppl, int_ppl);
    }
  }
  // PTQ: calibration only.
  train::QatOptions qo;
  qo.mode = train::QatMode::kTflite;
  qo.calibration_batches = 20;
  train::QatLm q(m, qo);
  LanguageModelParams p;
  double logit_scale = 0;
  EXPECT_FALSE(q->Export(&p, &logit_scale).ok()) << "export before calibration must be refused";
  train::Calibrate(q, c.train, 4, 8, 20);
  ASSERT_TRUE(q->Export(&p, &logit_scale).ok());
  ExpectSimEqualsInt(p, c.test, KernelPath::kScalar);
}

// Power-of-two scales (numerics.md §7.1.1): QAT with pot_scales exports an intended-mode, single-rounding
// LSTM whose every input and recurrent per-row multiplier and whose hidden multiplier is (2^30, shift <= 0),
// whose output scales are powers of two, and whose simulation equals the runtime on every path.
TEST(Qat, PotScalesExportPowerOfTwoMultipliersAndSimEqualsInt) {
  const TextCorpus c = TinyCorpus(2);
  std::vector<train::EpochStats> curve;
  train::FloatLm m = TrainedTinyModel(c, &curve);
  train::QatOptions qo;
  qo.mode = train::QatMode::kIrnn;
  qo.pot_scales = true;
  qo.calibration_batches = 20;
  train::QatLm q(m, qo);
  EXPECT_EQ(q->options().rounding, Rounding::kSingle) << "pot_scales implies single rounding";
  LanguageModelParams p;
  double logit_scale = 0;
  ASSERT_NO_FATAL_FAILURE(TrainQatEpochAndExport(c, q, &p, &logit_scale));
  auto is_pot = [](const QuantizedMultiplier& mq) { return mq.multiplier == (int32_t{1} << 30) && mq.shift <= 0; };
  int64_t rows = 0;
  for (size_t l = 0; l < p.lstm.size(); ++l) {
    SCOPED_TRACE("layer " + std::to_string(l));
    const TfliteLstmParams& lp = p.lstm[l];
    EXPECT_FALSE(lp.config.tflite_compat);
    EXPECT_EQ(lp.config.rounding, Rounding::kSingle);
    EXPECT_TRUE(is_pot(lp.hidden_scale)) << lp.hidden_scale.multiplier << " " << lp.hidden_scale.shift;
    double s_h = 0;
    int32_t z_h = 0;
    q->OutputQuantization(l, &s_h, &z_h);
    int e = 0;
    EXPECT_EQ(std::frexp(s_h, &e), 0.5) << "output scale " << s_h << " is not a power of two";
    for (int g = 0; g < 4; ++g) {
      ASSERT_EQ(lp.input_to_gate_channel_scale[g].size(), 16u);
      ASSERT_EQ(lp.recurrent_to_gate_channel_scale[g].size(), 16u);
      for (size_t r = 0; r < 16; ++r) {
        const QuantizedMultiplier mx = lp.input_to_gate_channel_scale[g][r], mh = lp.recurrent_to_gate_channel_scale[g][r];
        EXPECT_TRUE(is_pot(mx)) << "input gate " << g << " row " << r << ": " << mx.multiplier << " " << mx.shift;
        EXPECT_TRUE(is_pot(mh)) << "recurrent gate " << g << " row " << r << ": " << mh.multiplier << " " << mh.shift;
        rows += 2;
      }
    }
  }
  EXPECT_EQ(rows, 2 * 2 * 4 * 16);
  for (KernelPath path : {KernelPath::kScalar, KernelPath::kAvx2, KernelPath::kAvxVnni, KernelPath::kAvx512Vnni,
                          KernelPath::kAmx}) {
    if (KernelPathAvailable(path)) ExpectSimEqualsInt(p, c.test, path);
  }
  // About as good as the float model on this easy data.
  double int_ppl = 0, float_ppl = 0;
  ASSERT_NO_FATAL_FAILURE(ExpectIntPerplexityNearFloat(p, logit_scale, m, c.test, &int_ppl, &float_ppl));
  std::printf("[ qat      ] irnn pot: float ppl %.3f, integer ppl %.3f\n", float_ppl, int_ppl);

  // The TFLite mode has no pot scales: its export refuses them.
  train::QatOptions bad = qo;
  bad.mode = train::QatMode::kTflite;
  train::QatLm qt(m, bad);
  train::Calibrate(qt, c.train, 4, 8, 5);
  const Status refused = qt->Export(&p, &logit_scale);
  EXPECT_FALSE(refused.ok());
  EXPECT_NE(refused.message().find("pot_scales"), std::string::npos) << refused.message();
}

// 7-bit weights (QatOptions::weight_bits = 7): every exported LSTM gate weight lies in [-63, 63] and
// reaches the range's ends, the avx2 path packs those matrices in its 7-bit form, and the simulation
// equals the runtime on every path, per-row (iRNN, with and without power-of-two scales) and per-tensor
// (TFLite PTQ).
TEST(Qat, SevenBitWeightsExportInRangeAndSimEqualsInt) {
  const TextCorpus c = TinyCorpus(2);
  std::vector<train::EpochStats> curve;
  train::FloatLm m = TrainedTinyModel(c, &curve);
  for (int variant = 0; variant < 3; ++variant) {  // irnn QAT, irnn QAT with pot scales, tflite PTQ
    SCOPED_TRACE("variant " + std::to_string(variant));
    train::QatOptions qo;
    qo.mode = variant == 2 ? train::QatMode::kTflite : train::QatMode::kIrnn;
    qo.pot_scales = variant == 1;
    qo.weight_bits = 7;
    qo.calibration_batches = 20;
    train::QatLm q(m, qo);
    LanguageModelParams p;
    double logit_scale = 0;
    if (variant == 2) {
      train::Calibrate(q, c.train, 4, 8, 20);
      ASSERT_TRUE(q->Export(&p, &logit_scale).ok());
    } else {
      ASSERT_NO_FATAL_FAILURE(TrainQatEpochAndExport(c, q, &p, &logit_scale));
    }
    int lo = 0, hi = 0;
    for (const TfliteLstmParams& lp : p.lstm) {
      for (int g = 0; g < 4; ++g) {
        for (const std::vector<int8_t>* w : {&lp.weights.input_to_gate[g], &lp.weights.recurrent_to_gate[g]}) {
          for (int8_t v : *w) {
            lo = std::min<int>(lo, v);
            hi = std::max<int>(hi, v);
          }
        }
      }
    }
    EXPECT_GE(lo, -63);
    EXPECT_LE(hi, 63);
    EXPECT_TRUE(lo == -63 || hi == 63) << "the weights do not reach the 7-bit range's ends: [" << lo << ", " << hi << "]";
    for (KernelPath path : {KernelPath::kScalar, KernelPath::kAvx2, KernelPath::kAvxVnni, KernelPath::kAvx512Vnni,
                            KernelPath::kAmx}) {
      if (KernelPathAvailable(path)) ExpectSimEqualsInt(p, c.test, path);
    }
    double int_ppl = 0, float_ppl = 0;
    ASSERT_NO_FATAL_FAILURE(ExpectIntPerplexityNearFloat(p, logit_scale, m, c.test, &int_ppl, &float_ppl));
    std::printf("[ qat      ] 7-bit weights, variant %d: float ppl %.3f, integer ppl %.3f\n", variant, float_ppl, int_ppl);
  }
  train::QatOptions bad;
  bad.weight_bits = 6;
  train::QatLm qb(m, bad);
  train::Calibrate(qb, c.train, 4, 8, 5);
  LanguageModelParams p;
  double logit_scale = 0;
  const Status refused = qb->Export(&p, &logit_scale);
  EXPECT_FALSE(refused.ok());
  EXPECT_NE(refused.message().find("weight_bits"), std::string::npos) << refused.message();
}

}  // namespace
}  // namespace irnn
