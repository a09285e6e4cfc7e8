// Tests of the bidirectional LSTM and the sequence stack (include/irnn/bidirectional.h, numerics.md
// §10.1) on the runtime alone: each stream of a batched run with lengths equals that stream run alone
// over its valid frames, the backward half equals a unidirectional run on the reversed frames, AVX2
// equals scalar, streaming a bidirectional layer (or a stack holding one) is refused with the message
// that it needs the whole sequence, streaming a stack of unidirectional layers equals its whole-sequence
// run, and bad parameters and arguments get precise errors. sim == int is in
// tests/train/bidirectional_sim_test.cc.

#include "irnn/bidirectional.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "support/random_lstm.h"
#include "support/paths.h"

namespace irnn {
namespace {

// Two random directions of one shape (dim = n_input = n_cell = n_output) sharing the output zero point.
BidirectionalParams MakeBidirectional(uint64_t seed, int dim) {
  const testing::LstmShape shape{dim, 1, 1};
  BidirectionalParams p;
  p.forward = testing::MakeRandomLstmOfShape(seed, shape).params;
  p.backward = testing::MakeRandomLstmOfShape(seed + 7919, shape).params;
  p.backward.output_zp = p.forward.output_zp;
  if (!p.backward.config.use_projection) p.backward.hidden_zp = p.forward.output_zp;
  return p;
}

std::vector<int8_t> RandomInt8s(std::mt19937_64& rng, size_t n) {
  std::uniform_int_distribution<int> d(-128, 127);
  std::vector<int8_t> v(n);
  for (auto& x : v) x = static_cast<int8_t>(d(rng));
  return v;
}

std::vector<int8_t> RunBidirectional(const BidirectionalParams& p, KernelPath path, const std::vector<int8_t>& x,
                                     int steps, int batch, const int32_t* lengths) {
  std::unique_ptr<BidirectionalLstm> layer;
  Status s = BidirectionalLstm::Create(p, path, &layer);
  EXPECT_TRUE(s.ok()) << s.message();
  if (!s.ok()) return {};
  BidirectionalState state;
  std::vector<int8_t> out(static_cast<size_t>(steps) * batch * layer->n_output(), 99);
  s = layer->Run(x.data(), steps, batch, lengths, &state, out.data());
  EXPECT_TRUE(s.ok()) << s.message();
  return out;
}

TEST(Bidirectional, EachStreamWithLengthsEqualsThatStreamAloneAndPaddingIsTheZeroPoint) {
  std::mt19937_64 rng(7);
  int checked_frames = 0;
  for (uint64_t seed = 0; seed < 24; ++seed) {
    const int dim = 1 + static_cast<int>(seed % 9) * 3;
    const BidirectionalParams p = MakeBidirectional(seed, dim);
    const int batch = 1 + static_cast<int>(seed % 4), steps = 1 + static_cast<int>(seed % 7);
    std::vector<int32_t> lengths(batch);
    for (auto& l : lengths) l = std::uniform_int_distribution<int>(0, steps)(rng);
    lengths[0] = steps;
    const std::vector<int8_t> x = RandomInt8s(rng, static_cast<size_t>(steps) * batch * dim);
    const std::vector<int8_t> out = RunBidirectional(p, KernelPath::kScalar, x, steps, batch, lengths.data());
    ASSERT_FALSE(out.empty());
    const int w = 2 * dim;
    for (int b = 0; b < batch; ++b) {
      const int len = lengths[b];
      std::vector<int8_t> xs(static_cast<size_t>(len) * dim);
      for (int t = 0; t < len; ++t) {
        std::copy_n(x.data() + (static_cast<size_t>(t) * batch + b) * dim, dim, xs.data() + static_cast<size_t>(t) * dim);
      }
      const std::vector<int8_t> alone = RunBidirectional(p, KernelPath::kScalar, xs, len, 1, nullptr);
      for (int t = 0; t < steps; ++t) {
        for (int k = 0; k < w; ++k) {
          const int8_t got = out[(static_cast<size_t>(t) * batch + b) * w + k];
          const int8_t want = t < len ? alone[static_cast<size_t>(t) * w + k] : static_cast<int8_t>(p.forward.output_zp);
          ASSERT_EQ(got, want) << "seed " << seed << " stream " << b << " frame " << t << " unit " << k << " length "
                               << len;
        }
        checked_frames += t < len ? 1 : 0;
      }
    }
  }
  EXPECT_GT(checked_frames, 100);
}

TEST(Bidirectional, HalvesAreTheForwardRunAndTheBackwardRunOnReversedFrames) {
  std::mt19937_64 rng(8);
  const int dim = 11, batch = 3, steps = 9;
  const BidirectionalParams p = MakeBidirectional(3, dim);
  const std::vector<int8_t> x = RandomInt8s(rng, static_cast<size_t>(steps) * batch * dim);
  const std::vector<int8_t> out = RunBidirectional(p, KernelPath::kScalar, x, steps, batch, nullptr);
  ASSERT_FALSE(out.empty());
  std::vector<int8_t> xr(x.size());
  for (int t = 0; t < steps; ++t) {
    std::copy_n(x.data() + static_cast<size_t>(steps - 1 - t) * batch * dim, batch * dim,
                xr.data() + static_cast<size_t>(t) * batch * dim);
  }
  auto run = [&](const TfliteLstmParams& lp, const std::vector<int8_t>& in) {
    std::unique_ptr<TfliteLstm> l;
    EXPECT_TRUE(TfliteLstm::Create(lp, KernelPath::kScalar, &l).ok());
    TfliteLstmState s;
    EXPECT_TRUE(l->NewState(batch, &s).ok());
    std::vector<int8_t> o(static_cast<size_t>(steps) * batch * dim);
    EXPECT_TRUE(l->Run(in.data(), steps, &s, o.data()).ok());
    return o;
  };
  const std::vector<int8_t> f = run(p.forward, x), b = run(p.backward, xr);
  for (int t = 0; t < steps; ++t) {
    for (int s = 0; s < batch; ++s) {
      for (int k = 0; k < dim; ++k) {
        const size_t o = (static_cast<size_t>(t) * batch + s) * 2 * dim;
        ASSERT_EQ(out[o + k], f[(static_cast<size_t>(t) * batch + s) * dim + k]);
        ASSERT_EQ(out[o + dim + k], b[(static_cast<size_t>(steps - 1 - t) * batch + s) * dim + k]);
      }
    }
  }
}

TEST(Bidirectional, EveryPathEqualsScalar) {
  const std::vector<KernelPath> paths = testing::OptimizedPathsOrNote();
  std::mt19937_64 rng(9);
  for (uint64_t seed = 100; seed < 112; ++seed) {
    const int dim = seed % 2 == 0 ? 17 : 33;
    const BidirectionalParams p = MakeBidirectional(seed, dim);
    const int batch = 1 + static_cast<int>(seed % 3), steps = 5;
    std::vector<int32_t> lengths = {5, 2, 0};
    const std::vector<int8_t> x = RandomInt8s(rng, static_cast<size_t>(steps) * batch * dim);
    const std::vector<int8_t> want = RunBidirectional(p, KernelPath::kScalar, x, steps, batch, lengths.data());
    for (KernelPath path : paths) {
      EXPECT_EQ(want, RunBidirectional(p, path, x, steps, batch, lengths.data()))
          << "seed " << seed << ", path " << KernelPathName(path);
    }
  }
}

TEST(Bidirectional, StreamingIsRefusedWithAClearMessage) {
  std::unique_ptr<BidirectionalLstm> layer;
  ASSERT_TRUE(BidirectionalLstm::Create(MakeBidirectional(1, 4), KernelPath::kScalar, &layer).ok());
  BidirectionalState state;
  std::vector<int8_t> x(4, 0), out(8, 0);
  const Status s = layer->Step(x.data(), &state, out.data());
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("Bidirectional: streaming needs the whole sequence"), std::string::npos) << s.message();

  SequenceStack stack;
  ASSERT_TRUE(stack.AddBidirectional(std::move(layer)).ok());
  EXPECT_FALSE(stack.streamable());
  SequenceStack::State ss;
  ASSERT_TRUE(stack.NewState(1, &ss).ok());
  const Status t = stack.Step(x.data(), &ss, out.data());
  EXPECT_FALSE(t.ok());
  EXPECT_NE(t.message().find("Bidirectional: streaming needs the whole sequence"), std::string::npos) << t.message();
}

TEST(SequenceStack, StreamingUnidirectionalLayersEqualsTheWholeSequenceRun) {
  std::mt19937_64 rng(10);
  for (uint64_t seed = 0; seed < 8; ++seed) {
    const int dim = 3 + static_cast<int>(seed) * 2, batch = 1 + static_cast<int>(seed % 3), steps = 7;
    SequenceStack stack;
    for (int l = 0; l < 3; ++l) {
      std::unique_ptr<TfliteLstm> lstm;
      ASSERT_TRUE(TfliteLstm::Create(testing::MakeRandomLstmOfShape(seed * 10 + l, {dim, 1, 1}).params,
                                     seed % 2 ? KernelPath::kScalar : KernelPath::kAuto, &lstm)
                      .ok());
      ASSERT_TRUE(stack.AddLstm(std::move(lstm)).ok());
    }
    ASSERT_TRUE(stack.streamable());
    const std::vector<int8_t> x = RandomInt8s(rng, static_cast<size_t>(steps) * batch * dim);
    SequenceStack::State s;
    ASSERT_TRUE(stack.NewState(batch, &s).ok());
    std::vector<int8_t> whole(static_cast<size_t>(steps) * batch * dim), streamed(whole.size());
    ASSERT_TRUE(stack.Run(x.data(), steps, nullptr, &s, whole.data()).ok());
    SequenceStack::State s2;
    ASSERT_TRUE(stack.NewState(batch, &s2).ok());
    for (int t = 0; t < steps; ++t) {
      const size_t o = static_cast<size_t>(t) * batch * dim;
      ASSERT_TRUE(stack.Step(x.data() + o, &s2, streamed.data() + o).ok());
    }
    EXPECT_EQ(whole, streamed) << "seed " << seed;
    // A second Run starts again from the reset state: the same output.
    std::vector<int8_t> again(whole.size());
    ASSERT_TRUE(stack.Run(x.data(), steps, nullptr, &s, again.data()).ok());
    EXPECT_EQ(whole, again);
  }
}

TEST(SequenceStack, BidirectionalThenUnidirectionalChainsAndChecksWidths) {
  std::mt19937_64 rng(11);
  const int dim = 5, batch = 2, steps = 6;
  SequenceStack stack;
  std::unique_ptr<BidirectionalLstm> bi;
  ASSERT_TRUE(BidirectionalLstm::Create(MakeBidirectional(4, dim), KernelPath::kScalar, &bi).ok());
  ASSERT_TRUE(stack.AddBidirectional(std::move(bi)).ok());
  std::unique_ptr<TfliteLstm> wrong;
  ASSERT_TRUE(TfliteLstm::Create(testing::MakeRandomLstmOfShape(5, {dim, 1, 1}).params, KernelPath::kScalar, &wrong).ok());
  const Status bad = stack.AddLstm(std::move(wrong));
  EXPECT_EQ(bad.message(), "SequenceStack: layers[1].n_input is 5 but must be layers[0].n_output = 10");
  TfliteLstmParams top = testing::MakeRandomLstmOfShape(6, {2 * dim, 1, 1}).params;
  std::unique_ptr<TfliteLstm> lstm;
  ASSERT_TRUE(TfliteLstm::Create(top, KernelPath::kScalar, &lstm).ok());
  ASSERT_TRUE(stack.AddLstm(std::move(lstm)).ok());
  EXPECT_EQ(stack.n_input(), dim);
  EXPECT_EQ(stack.n_output(), 2 * dim);
  const std::vector<int8_t> x = RandomInt8s(rng, static_cast<size_t>(steps) * batch * dim);
  SequenceStack::State s;
  ASSERT_TRUE(stack.NewState(batch, &s).ok());
  std::vector<int8_t> out(static_cast<size_t>(steps) * batch * 2 * dim);
  const std::vector<int32_t> lengths = {6, 3};
  ASSERT_TRUE(stack.Run(x.data(), steps, lengths.data(), &s, out.data()).ok());
  // The same by hand: the bidirectional layer, then the LSTM, then padding to the zero point.
  const std::vector<int8_t> mid =
      RunBidirectional(MakeBidirectional(4, dim), KernelPath::kScalar, x, steps, batch, lengths.data());
  std::unique_ptr<TfliteLstm> l2;
  ASSERT_TRUE(TfliteLstm::Create(top, KernelPath::kScalar, &l2).ok());
  TfliteLstmState st;
  ASSERT_TRUE(l2->NewState(batch, &st).ok());
  std::vector<int8_t> want(out.size());
  ASSERT_TRUE(l2->Run(mid.data(), steps, &st, want.data()).ok());
  for (int t = 3; t < steps; ++t) {
    std::fill_n(want.data() + (static_cast<size_t>(t) * batch + 1) * 2 * dim, 2 * dim, static_cast<int8_t>(top.output_zp));
  }
  EXPECT_EQ(out, want);
}

TEST(Bidirectional, RejectsMismatchedDirectionsAndBadArguments) {
  BidirectionalParams p = MakeBidirectional(2, 4);
  p.backward.output_zp = p.forward.output_zp == 0 ? 1 : 0;
  std::unique_ptr<BidirectionalLstm> layer;
  Status s = BidirectionalLstm::Create(p, KernelPath::kScalar, &layer);
  EXPECT_NE(s.message().find("BidirectionalParams: backward.output_zp is"), std::string::npos) << s.message();

  p = MakeBidirectional(2, 4);
  p.backward = testing::MakeRandomLstmOfShape(3, {5, 1, 1}).params;
  s = BidirectionalLstm::Create(p, KernelPath::kScalar, &layer);
  EXPECT_EQ(s.message(), "BidirectionalParams: backward.config.n_input is 5 but must be forward.config.n_input = 4");

  p = MakeBidirectional(2, 4);
  p.forward.config.n_cell = 0;
  s = BidirectionalLstm::Create(p, KernelPath::kScalar, &layer);
  EXPECT_EQ(s.message().rfind("BidirectionalParams: forward: ", 0), 0u) << s.message();

  ASSERT_TRUE(BidirectionalLstm::Create(MakeBidirectional(2, 4), KernelPath::kScalar, &layer).ok());
  BidirectionalState state;
  std::vector<int8_t> x(4 * 3 * 2), out(8 * 3 * 2);
  const std::vector<int32_t> lengths = {3, 4};
  EXPECT_EQ(layer->Run(x.data(), 3, 2, lengths.data(), &state, out.data()).message(),
            "BidirectionalLstm::Run: lengths[1] is 4 but must be in [0, steps = 3]");
  EXPECT_EQ(layer->Run(x.data(), 3, 0, nullptr, &state, out.data()).message(),
            "BidirectionalLstm::Run: batch is 0 but must be in [1, 65536]");
  EXPECT_EQ(layer->Run(x.data(), -1, 1, nullptr, &state, out.data()).message(),
            "BidirectionalLstm::Run: steps is -1 but must be >= 0");
  EXPECT_EQ(layer->Run(nullptr, 3, 2, nullptr, &state, out.data()).message(), "BidirectionalLstm::Run: x is null");
  EXPECT_TRUE(layer->Run(nullptr, 0, 2, nullptr, &state, nullptr).ok());
  // A state used with another batch is resized, not refused.
  EXPECT_TRUE(layer->Run(x.data(), 3, 2, nullptr, &state, out.data()).ok());
  EXPECT_TRUE(layer->Run(x.data(), 2, 3, nullptr, &state, out.data()).ok());
}

}  // namespace
}  // namespace irnn
