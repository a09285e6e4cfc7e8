// The integer G2P encoder–decoder end to end on a tiny model (seconds): float training, QAT calibration
// and one fine-tuning epoch, export; the libtorch simulation (SimG2p) equals the integer runtime
// (G2pModel) logit for logit, bit for bit, over teacher-forced steps and beam reorderings, on every
// kernel path; greedy and beam transcriptions are identical on both; the model file round-trips to the
// same transcriptions; bad parameters and inputs are refused with messages that name the field.

#include <cstdio>
#include <random>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "irnn/cmudict.h"
#include "irnn/g2p.h"
#include "irnn/model.h"
#include "support/tiny_g2p.h"
#include "train/g2p.h"
#include "train/g2p_qat.h"

namespace irnn {
namespace {

class G2pQat : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    torch::set_num_threads(1);
    data_ = new G2pData(TinyData(300, 7));
    train::G2pOptions mo;
    mo.chars = data_->chars.size();
    mo.phones = data_->phones.size();
    mo.emb = 8;
    mo.enc = 12;
    mo.dec = 16;
    mo.attn = 8;
    mo.dropout = 0.0;
    torch::manual_seed(1);
    train::FloatG2p f(mo);
    train::G2pTrainOptions o;
    o.epochs = 5;
    o.batch = 16;
    o.lr = 0.02;
    o.decay_start = 100;
    o.progress = false;
    o.valid_words = 0;
    std::vector<train::G2pEpochStats> curve;
    ASSERT_TRUE(train::TrainFloatG2p(*data_, o, f, &curve).ok());
    float_per_ = train::EvaluateFloatG2p(f, data_->train, 1).per();
    train::G2pQatOptions qo;
    qo.calibration_batches = 10;
    train::QatG2p q(f, qo);
    o.epochs = 1;
    o.lr = 0.003;
    curve.clear();
    const Status s = train::TrainQatG2p(*data_, o, qo, q, &curve);
    ASSERT_TRUE(s.ok()) << s.message();
    params_ = new G2pModelParams();
    const Status e = q->Export(params_);
    ASSERT_TRUE(e.ok()) << e.message();
  }
  static void TearDownTestSuite() {
    delete data_;
    delete params_;
  }
  static G2pData* data_;
  static G2pModelParams* params_;
  static double float_per_;
};
G2pData* G2pQat::data_ = nullptr;
G2pModelParams* G2pQat::params_ = nullptr;
double G2pQat::float_per_ = 0;

TEST_F(G2pQat, SimEqualsRuntimeLogitForLogit) {
  ASSERT_NE(params_, nullptr);
  std::mt19937 rng(3);
  for (KernelPath path : {KernelPath::kScalar, KernelPath::kAvx2}) {
    std::unique_ptr<G2pModel> m;
    ASSERT_TRUE(G2pModel::Create(*params_, path, &m).ok());
    train::SimG2p sim;
    ASSERT_TRUE(sim.Init(*params_).ok());
    int64_t compared = 0, nonzero = 0;
    for (int w = 0; w < 20; ++w) {
      const auto& word = data_->train[static_cast<size_t>(w)].chars;
      const int hyps = 1 + w % 4;
      G2pState st;
      ASSERT_TRUE(m->Encode(word.data(), static_cast<int>(word.size()), hyps, &st).ok());
      std::vector<int64_t> cv;
      for (int32_t ch : word) {
        for (int k = 0; k < hyps; ++k) cv.push_back(ch);
      }
      sim.Encode(torch::tensor(cv, torch::kInt64).reshape({static_cast<int64_t>(word.size()), hyps}));
      for (int t = 0; t < 6; ++t) {
        std::vector<int32_t> parents(static_cast<size_t>(hyps)), prev(static_cast<size_t>(hyps));
        for (int k = 0; k < hyps; ++k) {
          parents[static_cast<size_t>(k)] = static_cast<int32_t>(rng() % hyps);
          prev[static_cast<size_t>(k)] = static_cast<int32_t>(rng() % m->phones());
        }
        ASSERT_TRUE(m->Reorder(parents, &st).ok());
        sim.Reorder(torch::tensor(std::vector<int64_t>(parents.begin(), parents.end()), torch::kInt64));
        std::vector<int32_t> logits(static_cast<size_t>(hyps * m->phones()));
        ASSERT_TRUE(m->DecodeStep(prev.data(), &st, logits.data()).ok());
        const torch::Tensor z = sim.Step(torch::tensor(std::vector<int64_t>(prev.begin(), prev.end()), torch::kInt64))
                                    .reshape(-1).contiguous();
        ASSERT_EQ(z.numel(), static_cast<int64_t>(logits.size()));
        for (size_t i = 0; i < logits.size(); ++i) {
          ASSERT_EQ(logits[i], z[static_cast<int64_t>(i)].item<int64_t>())
              << "path " << KernelPathName(path) << " word " << w << " step " << t << " logit " << i;
          nonzero += logits[i] != 0;
        }
        compared += static_cast<int64_t>(logits.size());
      }
    }
    EXPECT_GT(nonzero, compared / 2);  // not vacuous
  }
}

TEST_F(G2pQat, TranscriptionsAgreeAndTheFileRoundTrips) {
  ASSERT_NE(params_, nullptr);
  std::vector<std::vector<int32_t>> words;
  for (const auto& e : data_->train) words.push_back(e.chars);
  words.resize(120);
  Model file;
  ASSERT_TRUE(ModelFromG2pModel(*params_, &file).ok());
  std::string bytes;
  ASSERT_TRUE(SerializeModel(file, &bytes).ok());
  Model back;
  ASSERT_TRUE(ParseModel(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), &back, "g2p").ok());
  G2pModelParams p2;
  const Status s = G2pModelFromModel(back, &p2);
  ASSERT_TRUE(s.ok()) << s.message();
  std::unique_ptr<G2pModel> m, m2;
  ASSERT_TRUE(G2pModel::Create(*params_, KernelPath::kAuto, &m).ok());
  ASSERT_TRUE(G2pModel::Create(p2, KernelPath::kScalar, &m2).ok());
  for (int beam : {1, 3}) {
    std::vector<std::vector<int32_t>> a, b, c;
    ASSERT_TRUE(train::DecodeIntG2p(*m, words, beam, &a).ok());
    ASSERT_TRUE(train::DecodeIntG2p(*m2, words, beam, &b).ok());
    const Status ss = train::DecodeSimG2p(*params_, words, beam, &c);
    ASSERT_TRUE(ss.ok()) << ss.message();
    EXPECT_EQ(a, b) << "beam " << beam;
    EXPECT_EQ(a, c) << "beam " << beam;
  }
  G2pScore score;
  ASSERT_TRUE(train::EvaluateIntG2p(*m, data_->train, 1, &score).ok());
  std::printf("[ INFO     ] tiny G2P train PER: float %.1f%%, integer %.1f%%; file %zu bytes\n", 100 * float_per_,
              100 * score.per(), bytes.size());
  EXPECT_LT(score.per(), 0.5);
}

TEST_F(G2pQat, RefusesBadParametersAndInputs) {
  ASSERT_NE(params_, nullptr);
  G2pModelParams p = *params_;
  p.enc_bw.output_zp = p.enc_fw.output_zp == 0 ? 1 : 0;
  EXPECT_NE(ValidateG2pModelParams(p).message().find("enc_bw.output_zp is"), std::string::npos);
  p = *params_;
  p.attention.key_zp = p.enc_fw.output_zp == 0 ? 1 : 0;
  EXPECT_NE(ValidateG2pModelParams(p).message().find("attention.n_key/key_zp are"), std::string::npos);
  p = *params_;
  p.log2_scale.multiplier = 5;
  EXPECT_NE(ValidateG2pModelParams(p).message().find("log2_scale is (5,"), std::string::npos);
  p = *params_;
  p.out_c.n_out = 3;
  EXPECT_FALSE(ValidateG2pModelParams(p).ok());
  std::unique_ptr<G2pModel> m;
  ASSERT_TRUE(G2pModel::Create(*params_, KernelPath::kAuto, &m).ok());
  std::vector<int32_t> out;
  const int32_t bad[] = {0, 99};
  Status s = m->Transcribe(bad, 2, 1, &out);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("99"), std::string::npos) << s.message();
  s = m->Transcribe(bad, 0, 1, &out);
  EXPECT_EQ(s.message(), "G2pModel::Encode: the word has 0 characters but must have 1 to 256");
  s = m->Transcribe(bad, 1, 65, &out);
  EXPECT_EQ(s.message(), "G2pModel::Transcribe: beam is 65 but must be in [1, 64]");
  G2pState st;
  ASSERT_TRUE(m->Encode(bad, 1, 2, &st).ok());
  EXPECT_EQ(m->Reorder({0, 2}, &st).message(), "G2pModel::Reorder: parents[1] is 2 but must be in [0, 2)");
  const int32_t prev[] = {1, -1};
  std::vector<int32_t> logits(2 * static_cast<size_t>(m->phones()));
  EXPECT_EQ(m->DecodeStep(prev, &st, logits.data()).message(),
            "G2pModel::DecodeStep: prev[1] is -1 but must be in [0, " + std::to_string(m->phones()) + ")");
}

}  // namespace
}  // namespace irnn
