// The language-model runtime (irnn/lm.h): Embedding (numerics.md §7.2) and Linear (§7.3) against their
// definitions; random small language models (vocab 50, dim 16, two LSTM layers; per-tensor or
// per-channel; fixed-point or PWL activations) that equal the composition of their layers, are
// bit-exact between scalar and AVX2, give the same logits run whole, in chunks or step by step, and
// the same logits after a round trip through a .irnn file; and the errors: bad tokens (state left
// unchanged), a chain that does not fit, bad sizes and multipliers, a foreign state, null pointers.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "core/fixed_point.h"
#include "irnn/lm.h"
#include "irnn/model.h"
#include "support/paths.h"
#include "support/random_lm.h"

namespace irnn {
namespace {

void ExpectError(const Status& s, std::initializer_list<std::string> fragments) {
  ASSERT_FALSE(s.ok()) << "expected an error mentioning " << *fragments.begin();
  for (const std::string& f : fragments) EXPECT_NE(s.message().find(f), std::string::npos) << s.message();
}

bool Avx2Available() {
  if (KernelPathAvailable(KernelPath::kAvx2)) return true;
  const char* allow = std::getenv("IRNN_ALLOW_NO_AVX2");
  if (allow != nullptr && std::string(allow) == "1") return false;
  ADD_FAILURE() << "AVX2 not available (IRNN_ALLOW_NO_AVX2=1 turns this into a skip)";
  return false;
}

std::unique_ptr<LanguageModel> MakeLm(const LanguageModelParams& p, KernelPath path) {
  std::unique_ptr<LanguageModel> lm;
  const Status s = LanguageModel::Create(p, path, &lm);
  EXPECT_TRUE(s.ok()) << s.message();
  return lm;
}

// Logits of tokens [steps][batch] run in chunks of `chunk` steps on a fresh state.
std::vector<int32_t> RunLm(const LanguageModel& lm, const testing::RandomLm& r, int chunk) {
  LanguageModelState state;
  Status s = lm.NewState(r.batch, &state);
  EXPECT_TRUE(s.ok()) << s.message();
  const size_t per_step = static_cast<size_t>(r.batch) * lm.vocab();
  std::vector<int32_t> logits(per_step * r.steps, 0x5A5A5A5A);
  for (int t = 0; t < r.steps; t += chunk) {
    const int n = std::min(chunk, r.steps - t);
    s = chunk == 1 ? lm.Step(r.tokens.data() + t * r.batch, &state, logits.data() + t * per_step)
                   : lm.Run(r.tokens.data() + t * r.batch, n, &state, logits.data() + t * per_step);
    EXPECT_TRUE(s.ok()) << s.message();
  }
  return logits;
}

// ---- Embedding -----------------------------------------------------------------------------------

EmbeddingParams SmallEmbedding() {
  EmbeddingParams e;
  e.vocab = 5;
  e.dim = 3;
  for (int i = 0; i < 15; ++i) e.table.push_back(static_cast<int8_t>(i * 17 - 128));
  e.zero_point = -3;
  return e;
}

TEST(Embedding, LookupCopiesRows) {
  const EmbeddingParams e = SmallEmbedding();
  const std::vector<int32_t> tokens = {4, 0, 2, 2};
  std::vector<int8_t> out(12, 0);
  ASSERT_TRUE(EmbeddingLookup(e, tokens.data(), 4, out.data()).ok());
  for (int i = 0; i < 4; ++i) {
    for (int k = 0; k < 3; ++k) EXPECT_EQ(out[i * 3 + k], e.table[tokens[i] * 3 + k]) << i << " " << k;
  }
  EXPECT_TRUE(EmbeddingLookup(e, nullptr, 0, nullptr).ok());
}

TEST(Embedding, BadTokenNamesTokenAndPositionAndWritesNothing) {
  const EmbeddingParams e = SmallEmbedding();
  std::vector<int8_t> out(12, 99);
  const std::vector<int32_t> tokens = {1, 2, 5, 0};
  ExpectError(EmbeddingLookup(e, tokens.data(), 4, out.data()),
              {"EmbeddingLookup: tokens[2] is 5 but must be a token id in [0, 5)"});
  EXPECT_EQ(out, std::vector<int8_t>(12, 99));
  const std::vector<int32_t> negative = {-1};
  ExpectError(EmbeddingLookup(e, negative.data(), 1, out.data()), {"tokens[0] is -1"});
  ExpectError(EmbeddingLookup(e, tokens.data(), -1, out.data()), {"n is -1"});
  ExpectError(EmbeddingLookup(e, nullptr, 1, out.data()), {"tokens is null"});
}

TEST(Embedding, ValidationNamesTheField) {
  EmbeddingParams e = SmallEmbedding();
  e.table.pop_back();
  ExpectError(ValidateEmbeddingParams(e), {"EmbeddingParams: table has 14 elements but must have vocab*dim = 15"});
  e = SmallEmbedding();
  e.vocab = 0;
  ExpectError(ValidateEmbeddingParams(e), {"EmbeddingParams: vocab is 0 but must be in [1, 16777216]"});
  e = SmallEmbedding();
  e.dim = 70000;
  ExpectError(ValidateEmbeddingParams(e), {"EmbeddingParams: dim is 70000"});
  e = SmallEmbedding();
  e.zero_point = 128;
  ExpectError(ValidateEmbeddingParams(e), {"EmbeddingParams: zero_point is 128 but must be in [-128, 127]"});
  e = SmallEmbedding();
  e.vocab = 1 << 24;
  e.dim = 1 << 16;
  ExpectError(ValidateEmbeddingParams(e), {"vocab * dim is 1099511627776 but must be at most 2147483647"});
}

// ---- Linear --------------------------------------------------------------------------------------------

LinearParams RandomLinear(std::mt19937_64& rng, int n_in, int n_out, Rounding rounding) {
  auto uni = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  LinearParams p;
  p.n_in = n_in;
  p.n_out = n_out;
  p.rounding = rounding;
  for (int i = 0; i < n_in * n_out; ++i) p.weights.push_back(static_cast<int8_t>(uni(-128, 127)));
  for (int r = 0; r < n_out; ++r) {
    p.effective_bias.push_back(uni(0, 9) == 0 ? (uni(0, 1) ? kInt32Max : kInt32Min) : uni(-100000, 100000));
    p.channel_scale.push_back({uni(0, 9) == 0 ? 0 : uni(1 << 30, kInt32Max), uni(0, 9) == 0 ? uni(-31, 30) : uni(-12, 0)});
  }
  return p;
}

// logit[b][r] = MBQM(eff_bias[r] + sum_k W[r][k] x[b][k], M[r]) with a wrapping int32 sum (§7.3, §4.1).
std::vector<int32_t> LinearByDefinition(const LinearParams& p, const std::vector<int8_t>& x, int batch) {
  std::vector<int32_t> out;
  for (int b = 0; b < batch; ++b) {
    for (int r = 0; r < p.n_out; ++r) {
      int64_t acc = p.effective_bias[r];
      for (int k = 0; k < p.n_in; ++k) acc += int64_t{p.weights[static_cast<size_t>(r) * p.n_in + k]} * x[b * p.n_in + k];
      const auto wrapped = static_cast<int32_t>(static_cast<uint32_t>(static_cast<uint64_t>(acc)));
      out.push_back(MultiplyByQuantizedMultiplier(wrapped, p.channel_scale[r], p.rounding));
    }
  }
  return out;
}

TEST(Linear, EqualsItsDefinitionOnBothPaths) {
  const bool avx2 = Avx2Available();
  std::mt19937_64 rng(0x11AEA7);
  std::set<int32_t> seen;
  for (int n_in : {1, 7, 16, 17, 40}) {
    for (int n_out : {1, 8, 9, 50, 257}) {
      for (Rounding rounding : {Rounding::kDouble, Rounding::kSingle}) {
        const int batch = 1 + static_cast<int>(rng() % 3);
        const LinearParams p = RandomLinear(rng, n_in, n_out, rounding);
        std::vector<int8_t> x(static_cast<size_t>(batch) * n_in);
        for (auto& v : x) v = static_cast<int8_t>(rng());
        const std::vector<int32_t> want = LinearByDefinition(p, x, batch);
        std::vector<KernelPath> paths = {KernelPath::kScalar};
        if (avx2) {
          const std::vector<KernelPath> optimized = testing::OptimizedPathsOrNote();
          paths.insert(paths.end(), optimized.begin(), optimized.end());
        }
        for (KernelPath path : paths) {
          std::unique_ptr<Linear> linear;
          ASSERT_TRUE(Linear::Create(p, path, &linear).ok());
          EXPECT_EQ(linear->path(), path);
          std::vector<int32_t> got(want.size(), 0x5A5A5A5A);
          ASSERT_TRUE(linear->Run(x.data(), batch, got.data()).ok());
          ASSERT_EQ(got, want) << KernelPathName(path) << " n_in " << n_in << " n_out " << n_out;
        }
        seen.insert(want.begin(), want.end());
      }
    }
  }
  EXPECT_GT(seen.size(), 500u);
}

TEST(Linear, ValidationAndRunErrors) {
  std::mt19937_64 rng(5);
  const LinearParams base = RandomLinear(rng, 4, 6, Rounding::kDouble);
  LinearParams p = base;
  p.weights.resize(23);
  ExpectError(ValidateLinearParams(p), {"LinearParams: weights has 23 elements but must have n_out*n_in = 24"});
  p = base;
  p.effective_bias.resize(5);
  ExpectError(ValidateLinearParams(p), {"LinearParams: effective_bias has 5 elements but must have n_out = 6"});
  p = base;
  p.channel_scale.resize(7);
  ExpectError(ValidateLinearParams(p), {"LinearParams: channel_scale has 7 elements but must have n_out = 6"});
  p = base;
  p.channel_scale[3] = {1000, 0};
  ExpectError(ValidateLinearParams(p), {"LinearParams: channel_scale[3].multiplier is 1000 but must be 0 or in [2^30, 2^31)"});
  p = base;
  p.channel_scale[5] = {1 << 30, 31};
  ExpectError(ValidateLinearParams(p), {"LinearParams: channel_scale[5].shift is 31 but must be in [-31, 30]"});
  p = base;
  p.n_in = 0;
  ExpectError(ValidateLinearParams(p), {"LinearParams: n_in is 0 but must be in [1, 65536]"});
  p = base;
  p.rounding = static_cast<Rounding>(7);
  ExpectError(ValidateLinearParams(p), {"LinearParams: rounding is 7 but must be 0 or 1"});
  std::unique_ptr<Linear> linear;
  ExpectError(Linear::Create(p, KernelPath::kScalar, &linear), {"rounding is 7"});
  ASSERT_TRUE(Linear::Create(base, KernelPath::kScalar, &linear).ok());
  std::vector<int8_t> x(8);
  std::vector<int32_t> out(12);
  ExpectError(linear->Run(x.data(), 0, out.data()), {"Linear::Run: batch is 0"});
  ExpectError(linear->Run(nullptr, 1, out.data()), {"Linear::Run: x is null"});
  ExpectError(linear->Run(x.data(), 1, nullptr), {"Linear::Run: out is null"});
}

// ---- The language model ---------------------------------------------------------------------------

struct Variant {
  bool per_channel;
  bool pwl;
  Rounding decoder_rounding;
};

const Variant kVariants[] = {{false, false, Rounding::kDouble},
                             {true, false, Rounding::kSingle},
                             {false, true, Rounding::kSingle},
                             {true, true, Rounding::kDouble}};

testing::RandomLm RandomModel(uint64_t seed, const Variant& v) {
  testing::LmOptions o;
  o.per_channel = v.per_channel;
  o.pwl = v.pwl;
  o.decoder_rounding = v.decoder_rounding;
  return testing::MakeRandomLm(seed, o);
}

// The logits of the model are those of its layers run one after another (each a tested component).
std::vector<int32_t> ByComposition(const testing::RandomLm& r) {
  const LanguageModelParams& p = r.params;
  const size_t n = r.tokens.size();
  std::vector<int8_t> x(n * p.embedding.dim);
  EXPECT_TRUE(EmbeddingLookup(p.embedding, r.tokens.data(), static_cast<int>(n), x.data()).ok());
  for (const TfliteLstmParams& lp : p.lstm) {
    std::unique_ptr<TfliteLstm> lstm;
    EXPECT_TRUE(TfliteLstm::Create(lp, KernelPath::kScalar, &lstm).ok());
    TfliteLstmState state;
    EXPECT_TRUE(lstm->NewState(r.batch, &state).ok());
    std::vector<int8_t> y(n * lp.config.n_output);
    EXPECT_TRUE(lstm->Run(x.data(), r.steps, &state, y.data()).ok());
    x = std::move(y);
  }
  std::unique_ptr<Linear> linear;
  EXPECT_TRUE(Linear::Create(p.decoder, KernelPath::kScalar, &linear).ok());
  std::vector<int32_t> logits(n * p.decoder.n_out);
  EXPECT_TRUE(linear->Run(x.data(), static_cast<int>(n), logits.data()).ok());
  return logits;
}

TEST(LanguageModel, RandomModelsEqualTheirCompositionOnEveryPathAndChunking) {
  const bool avx2 = Avx2Available();
  int models = 0;
  for (const Variant& v : kVariants) {
    // PWL variants fewer: fitting their tables (at test time, not run time) dominates the test's time.
    for (int i = 0; i < (v.pwl ? 4 : 12); ++i) {
      const testing::RandomLm r = RandomModel(0x7E57 * (i + 1) + (v.per_channel ? 1000 : 0) + (v.pwl ? 2000 : 0), v);
      SCOPED_TRACE(r.description);
      ASSERT_EQ(r.params.lstm.size(), 2u);
      auto scalar = MakeLm(r.params, KernelPath::kScalar);
      ASSERT_NE(scalar, nullptr);
      EXPECT_EQ(scalar->vocab(), 50);
      EXPECT_EQ(scalar->num_lstm_layers(), 2u);
      const std::vector<int32_t> whole = RunLm(*scalar, r, r.steps);
      ASSERT_EQ(whole, ByComposition(r)) << "the model differs from its layers run one after another";
      ASSERT_EQ(RunLm(*scalar, r, 1), whole) << "step by step";
      ASSERT_EQ(RunLm(*scalar, r, 3), whole) << "chunks of 3";
      // Not vacuous: the logits vary and are not the sentinel.
      const std::set<int32_t> distinct(whole.begin(), whole.end());
      ASSERT_GT(distinct.size(), 20u);
      ASSERT_EQ(std::count(whole.begin(), whole.end(), 0x5A5A5A5A), 0);
      if (avx2) {
        int chunk = 2;  // each path runs in another chunking of the steps
        for (KernelPath path : testing::OptimizedPathsOrNote()) {
          auto fast = MakeLm(r.params, path);
          ASSERT_NE(fast, nullptr);
          ASSERT_EQ(fast->path(), path);
          ASSERT_EQ(RunLm(*fast, r, chunk++), whole) << KernelPathName(path) << " logits differ from scalar";
        }
      }
      ++models;
    }
  }
  EXPECT_EQ(models, 32);
  if (!avx2) GTEST_SKIP() << "AVX2 comparison skipped (IRNN_ALLOW_NO_AVX2=1); scalar checked";
}

// Run computes whole chunks of max(1, 512 / batch) steps: the decoder then sees steps x batch rows at once
// (16 or more: the AMX tiles; above 512 rows: several chunks). Long random sequences, every path, Run in
// one call against the scalar model step by step.
TEST(LanguageModel, LongRunsInChunksEqualStepByStepOnEveryPath) {
  if (!Avx2Available()) GTEST_SKIP() << "AVX2 comparison skipped (IRNN_ALLOW_NO_AVX2=1)";
  testing::LmOptions o;
  o.max_batch = 7;
  o.max_steps = 300;
  int checked = 0;
  for (uint64_t seed = 1; checked < 4 && seed < 100; ++seed) {
    const testing::RandomLm r = testing::MakeRandomLm(0x10C5 * seed, o);
    if (r.steps * r.batch <= 512) continue;  // more than one chunk of rows
    SCOPED_TRACE(r.description + " steps " + std::to_string(r.steps) + " batch " + std::to_string(r.batch));
    auto scalar = MakeLm(r.params, KernelPath::kScalar);
    ASSERT_NE(scalar, nullptr);
    const std::vector<int32_t> stepwise = RunLm(*scalar, r, 1);
    ASSERT_EQ(RunLm(*scalar, r, r.steps), stepwise) << "scalar Run in chunks";
    for (KernelPath path : testing::OptimizedPathsOrNote()) {
      auto fast = MakeLm(r.params, path);
      ASSERT_NE(fast, nullptr);
      ASSERT_EQ(RunLm(*fast, r, r.steps), stepwise) << KernelPathName(path) << " Run differs from scalar Step";
    }
    ++checked;
  }
  EXPECT_EQ(checked, 4);
}

TEST(LanguageModel, RoundTripThroughAModelFileGivesIdenticalLogits) {
  for (const Variant& v : kVariants) {
    const testing::RandomLm r = RandomModel(0xF17E + (v.per_channel ? 1 : 0) + (v.pwl ? 2 : 0), v);
    SCOPED_TRACE(r.description);
    Model model;
    model.metadata["vocab_file"] = "ptb.vocab";
    ASSERT_TRUE(ModelFromLanguageModel(r.params, &model).ok());
    ASSERT_EQ(model.layers.size(), 4u);
    EXPECT_EQ(model.layers[0].name, "embedding");
    EXPECT_EQ(model.layers[1].name, "lstm0");
    EXPECT_EQ(model.layers[3].name, "decoder");
    EXPECT_EQ(model.metadata.at("vocab_file"), "ptb.vocab");
    const std::string path = ::testing::TempDir() + "/irnn_lm_test.irnn";
    ASSERT_TRUE(WriteModel(model, path).ok());
    Model back;
    Status s = ReadModel(path, &back);
    std::remove(path.c_str());
    ASSERT_TRUE(s.ok()) << s.message();
    EXPECT_EQ(back.metadata, model.metadata);
    LanguageModelParams p;
    s = LanguageModelFromModel(back, &p);
    ASSERT_TRUE(s.ok()) << s.message();
    EXPECT_EQ(p.embedding.table, r.params.embedding.table);
    EXPECT_EQ(p.embedding.zero_point, r.params.embedding.zero_point);
    EXPECT_EQ(p.decoder.weights, r.params.decoder.weights);
    EXPECT_EQ(p.decoder.effective_bias, r.params.decoder.effective_bias);
    EXPECT_EQ(p.decoder.channel_scale, r.params.decoder.channel_scale);
    EXPECT_EQ(p.decoder.rounding, r.params.decoder.rounding);
    for (size_t i = 0; i < p.lstm.size(); ++i) {
      for (int g = 0; g < 4; ++g) {
        EXPECT_EQ(p.lstm[i].input_to_gate_channel_scale[g], r.params.lstm[i].input_to_gate_channel_scale[g]);
      }
    }
    auto a = MakeLm(r.params, KernelPath::kScalar);
    auto b = MakeLm(p, KernelPath::kAuto);
    ASSERT_NE(b, nullptr);
    EXPECT_EQ(RunLm(*b, r, r.steps), RunLm(*a, r, r.steps));
  }
}

TEST(LanguageModel, StateIsCarriedResetAndIndependent) {
  const testing::RandomLm r = RandomModel(31337, kVariants[1]);
  auto lm = MakeLm(r.params, KernelPath::kAuto);
  ASSERT_NE(lm, nullptr);
  const std::vector<int32_t> want = RunLm(*lm, r, r.steps);
  LanguageModelState s1, s2;
  ASSERT_TRUE(lm->NewState(r.batch, &s1).ok());
  ASSERT_TRUE(lm->NewState(r.batch, &s2).ok());
  EXPECT_EQ(s1.batch(), r.batch);
  ASSERT_EQ(s1.num_lstm_layers(), 2u);
  std::vector<int32_t> got(want.size());
  ASSERT_TRUE(lm->Run(r.tokens.data(), r.steps, &s1, got.data()).ok());
  EXPECT_EQ(got, want);
  // A second run on the same state continues the sequence: different logits (the state matters).
  std::vector<int32_t> again(want.size());
  ASSERT_TRUE(lm->Run(r.tokens.data(), r.steps, &s1, again.data()).ok());
  EXPECT_NE(again, want);
  ASSERT_TRUE(lm->ResetState(&s1).ok());
  for (int8_t h : s1.lstm(0).h()) ASSERT_EQ(h, r.params.lstm[0].output_zp);
  ASSERT_TRUE(lm->Run(r.tokens.data(), r.steps, &s1, again.data()).ok());
  EXPECT_EQ(again, want);
  ASSERT_TRUE(lm->Run(r.tokens.data(), r.steps, &s2, got.data()).ok());
  EXPECT_EQ(got, want);
  EXPECT_TRUE(lm->Run(r.tokens.data(), 0, &s2, nullptr).ok());
}

TEST(LanguageModel, BadTokenIsRefusedBeforeAnyStepAndNamesItsPosition) {
  const testing::RandomLm r = RandomModel(4242, kVariants[0]);
  auto lm = MakeLm(r.params, KernelPath::kAuto);
  ASSERT_NE(lm, nullptr);
  const int batch = 2, steps = 3;
  std::vector<int32_t> tokens = {1, 2, 3, 4, 5, 6};
  tokens[5] = 50;  // step 2, stream 1
  LanguageModelState state;
  ASSERT_TRUE(lm->NewState(batch, &state).ok());
  std::vector<int32_t> logits(static_cast<size_t>(steps) * batch * 50, 7);
  ExpectError(lm->Run(tokens.data(), steps, &state, logits.data()),
              {"LanguageModel::Run: tokens[5] (step 2, stream 1) is 50 but must be a token id in [0, 50)"});
  EXPECT_EQ(logits, std::vector<int32_t>(logits.size(), 7)) << "nothing computed";
  const std::vector<int32_t> bad_step = {3, -7};
  ExpectError(lm->Step(bad_step.data(), &state, logits.data()),
              {"LanguageModel::Step: tokens[1] (step 0, stream 1) is -7"});
  // The state was left untouched: the good sequence now gives the same logits as on a fresh state.
  tokens[5] = 6;
  std::vector<int32_t> after(logits.size()), fresh(logits.size());
  ASSERT_TRUE(lm->Run(tokens.data(), steps, &state, after.data()).ok());
  LanguageModelState clean;
  ASSERT_TRUE(lm->NewState(batch, &clean).ok());
  ASSERT_TRUE(lm->Run(tokens.data(), steps, &clean, fresh.data()).ok());
  EXPECT_EQ(after, fresh);
}

TEST(LanguageModel, ChainThatDoesNotFitIsRefused) {
  const testing::RandomLm r = RandomModel(99, kVariants[0]);
  std::unique_ptr<LanguageModel> lm;
  {
    LanguageModelParams p = r.params;
    p.embedding.dim += 1;
    p.embedding.table.resize(static_cast<size_t>(p.embedding.vocab) * p.embedding.dim);
    ExpectError(LanguageModel::Create(p, KernelPath::kScalar, &lm),
                {"LanguageModelParams: lstm[0].config.n_input is 16 but must equal embedding.dim = 17"});
  }
  {
    LanguageModelParams p = r.params;
    p.lstm.push_back(p.lstm[0]);  // lstm[2].n_input = 16 != lstm[1].n_output unless equal by chance
    if (p.lstm[1].config.n_output != 16) {
      ExpectError(LanguageModel::Create(p, KernelPath::kScalar, &lm),
                  {"lstm[2].config.n_input is 16 but must equal lstm[1].config.n_output = " +
                   std::to_string(p.lstm[1].config.n_output)});
    }
  }
  {
    LanguageModelParams p = r.params;
    p.decoder.n_in += 1;
    p.decoder.weights.resize(static_cast<size_t>(p.decoder.n_in) * p.decoder.n_out);
    ExpectError(LanguageModel::Create(p, KernelPath::kScalar, &lm),
                {"decoder.n_in is " + std::to_string(p.decoder.n_in) + " but must equal lstm[1].config.n_output"});
  }
  {
    LanguageModelParams p = r.params;
    p.decoder.n_out = 49;
    p.decoder.weights.resize(static_cast<size_t>(p.decoder.n_in) * 49);
    p.decoder.effective_bias.resize(49);
    p.decoder.channel_scale.resize(49);
    ExpectError(LanguageModel::Create(p, KernelPath::kScalar, &lm),
                {"decoder.n_out is 49 but must equal embedding.vocab = 50"});
  }
  {
    LanguageModelParams p = r.params;
    p.lstm.clear();
    ExpectError(LanguageModel::Create(p, KernelPath::kScalar, &lm), {"lstm has 0 layers but must have 1 to 64"});
  }
  {
    LanguageModelParams p = r.params;
    p.lstm[1].hidden_scale.shift = 77;
    ExpectError(LanguageModel::Create(p, KernelPath::kScalar, &lm), {"lstm[1]: TfliteLstmParams: hidden_scale.shift is 77"});
  }
  {
    LanguageModelParams p = r.params;
    p.decoder.channel_scale[4].multiplier = 3;
    ExpectError(LanguageModel::Create(p, KernelPath::kScalar, &lm), {"decoder: LinearParams: channel_scale[4].multiplier is 3"});
  }
  {
    LanguageModelParams p = r.params;
    p.embedding.zero_point = -300;
    ExpectError(LanguageModel::Create(p, KernelPath::kScalar, &lm), {"embedding: EmbeddingParams: zero_point is -300"});
  }
  ExpectError(LanguageModel::Create(r.params, KernelPath::kScalar, nullptr), {"out is null"});
}

TEST(LanguageModel, ForeignStatesAndNullPointersAreRefused) {
  const testing::RandomLm r = RandomModel(1234, kVariants[0]);
  const testing::RandomLm other = RandomModel(5678, kVariants[0]);
  auto lm = MakeLm(r.params, KernelPath::kAuto);
  auto lm2 = MakeLm(other.params, KernelPath::kAuto);
  ASSERT_NE(lm, nullptr);
  ASSERT_NE(lm2, nullptr);
  std::vector<int32_t> tokens = {1, 2};
  std::vector<int32_t> logits(100);
  LanguageModelState never;
  ExpectError(lm->Step(tokens.data(), &never, logits.data()), {"LanguageModel::Step: state was not made by NewState"});
  LanguageModelState foreign;
  ASSERT_TRUE(lm2->NewState(1, &foreign).ok());
  if (other.params.lstm[0].config.n_cell != r.params.lstm[0].config.n_cell ||
      other.params.lstm[1].config.n_cell != r.params.lstm[1].config.n_cell) {
    ExpectError(lm->Step(tokens.data(), &foreign, logits.data()), {"state was not made by NewState"});
  }
  LanguageModelState s;
  ASSERT_TRUE(lm->NewState(1, &s).ok());
  ExpectError(lm->Step(nullptr, &s, logits.data()), {"LanguageModel::Step: tokens is null"});
  ExpectError(lm->Step(tokens.data(), &s, nullptr), {"LanguageModel::Step: logits is null"});
  ExpectError(lm->Step(tokens.data(), nullptr, logits.data()), {"LanguageModel::Step: state is null"});
  ExpectError(lm->Run(tokens.data(), -1, &s, logits.data()), {"LanguageModel::Run: steps is -1"});
  ExpectError(lm->NewState(0, &s), {"LanguageModel::NewState: batch is 0"});
  ExpectError(lm->NewState(1, nullptr), {"state is null"});
}

}  // namespace
}  // namespace irnn
