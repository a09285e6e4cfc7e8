// The GRU language model on the training side, tiny (seconds): the float GRU LM learns (its loss falls),
// QAT fine-tunes it, and the exported integer model's libtorch simulation equals the integer runtime
// logit for logit — also after a round trip through a .irnn file.

#include <algorithm>
#include <random>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "irnn/gru_lm.h"
#include "irnn/model.h"
#include "support/tiny_corpus.h"
#include "train/qat_gru.h"

namespace irnn {
namespace {

std::vector<int32_t> Logits(const std::function<Status(const std::vector<int32_t>&, std::vector<int32_t>*)>& step,
                            const std::vector<int32_t>& ids, int batch, int steps) {
  std::vector<int32_t> all, logits;
  for (int t = 0; t < steps; ++t) {
    std::vector<int32_t> tok(ids.begin() + t * batch, ids.begin() + (t + 1) * batch);
    EXPECT_TRUE(step(tok, &logits).ok());
    all.insert(all.end(), logits.begin(), logits.end());
  }
  return all;
}

TEST(GruLmTrain, FloatLearnsAndQatSimEqualsRuntime) {
  const TextCorpus c = TinyCorpus(3);
  train::LmOptions lo;
  lo.vocab = c.vocab.size();
  lo.dim = 16;
  lo.layers = 2;
  train::TrainOptions o;
  o.epochs = 3;
  o.batch = 4;
  o.bptt = 8;
  o.optimizer = "adam";
  o.lr = 0.01;
  o.decay_start = 100;
  o.threads = 1;
  o.progress = false;
  train::FloatGruLm fm(lo);
  std::vector<train::EpochStats> curve;
  ASSERT_TRUE(train::TrainFloatGruLm(c, o, fm, &curve).ok());
  ASSERT_EQ(curve.size(), 3u);
  EXPECT_LT(curve.back().train_ppl, 0.5 * curve.front().train_ppl);
  EXPECT_LT(curve.back().valid_ppl, 0.5 * static_cast<double>(c.vocab.size()));
  const double float_ppl = train::EvaluateFloatGruLm(fm, c.test, 4, 8);

  // Both roundings with int8 weights, and 7-bit weights (QatOptions::weight_bits: the gate weights in
  // [-63, 63], which the avx2 path multiplies in its 7-bit form).
  for (auto [rnd, weight_bits] : {std::pair{Rounding::kDouble, 8}, {Rounding::kSingle, 8}, {Rounding::kDouble, 7}}) {
    SCOPED_TRACE("weight bits " + std::to_string(weight_bits));
    train::QatOptions qo;
    qo.rounding = rnd;
    qo.weight_bits = weight_bits;
    qo.calibration_batches = 20;
    train::QatGruLm qm(fm, qo);
    train::TrainOptions q = o;
    q.epochs = 1;
    q.lr = 1e-3;
    std::vector<train::EpochStats> qc;
    ASSERT_TRUE(train::TrainQatGru(c, q, qm, &qc).ok());
    GruLanguageModelParams p;
    double scale = 0;
    const Status ex = qm->Export(&p, &scale);
    ASSERT_TRUE(ex.ok()) << ex.message();
    int lo = 0, hi = 0;
    for (const GruParams& gp : p.gru) {
      for (int g = 0; g < 3; ++g) {
        for (const std::vector<int8_t>* w : {&gp.input_weights[g], &gp.recurrent_weights[g]}) {
          for (int8_t v : *w) {
            lo = std::min<int>(lo, v);
            hi = std::max<int>(hi, v);
          }
        }
      }
    }
    const int qmax = weight_bits == 7 ? 63 : 127;
    EXPECT_TRUE(lo >= -qmax && hi <= qmax && (lo == -qmax || hi == qmax)) << "weights in [" << lo << ", " << hi << "]";
    // Through a file, as the runtime would load it.
    Model m;
    ASSERT_TRUE(ModelFromGruLanguageModel(p, &m).ok());
    std::string bytes;
    ASSERT_TRUE(SerializeModel(m, &bytes).ok());
    Model back;
    ASSERT_TRUE(ParseModel(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), &back).ok());
    GruLanguageModelParams from_file;
    ASSERT_TRUE(GruLanguageModelFromModel(back, &from_file).ok());

    const int batch = 3, steps = 40;
    std::unique_ptr<GruLanguageModel> lm;
    ASSERT_TRUE(GruLanguageModel::Create(from_file, KernelPath::kAuto, &lm).ok());
    GruLanguageModelState state;
    ASSERT_TRUE(lm->NewState(batch, &state).ok());
    train::SimGruLanguageModel sim;
    ASSERT_TRUE(sim.Init(p, torch::kCPU).ok());
    sim.Reset(batch);
    const int64_t vocab = lm->vocab();
    const auto runtime = Logits(
        [&](const std::vector<int32_t>& tok, std::vector<int32_t>* out) {
          out->resize(static_cast<size_t>(batch * vocab));
          return lm->Step(tok.data(), &state, out->data());
        },
        c.test, batch, steps);
    const auto simulated =
        Logits([&](const std::vector<int32_t>& tok, std::vector<int32_t>* out) { return sim.Step(tok, out); }, c.test,
               batch, steps);
    EXPECT_EQ(runtime, simulated);
    // The integer model is about as good as the float one.
    double int_ppl = 0;
    int64_t tokens = 0;
    sim.Reset(4);
    ASSERT_TRUE(train::PerplexityFromIntLogits(
                    c.test, 4, vocab, scale,
                    [&](const std::vector<int32_t>& tok, std::vector<int32_t>* out) { return sim.Step(tok, out); },
                    &int_ppl, &tokens, false)
                    .ok());
    EXPECT_LT(int_ppl, 1.2 * float_ppl) << "float " << float_ppl;
  }
}

}  // namespace
}  // namespace irnn
