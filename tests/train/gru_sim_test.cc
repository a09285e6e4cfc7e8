// sim == int for the integer GRU (numerics.md §8): the libtorch int64 simulation (src/train/sim_gru.h)
// equals irnn::Gru bit for bit — outputs, the Q0.15 state and its int8 copy — for single steps and whole
// sequences, batch > 1, both roundings, with and without saturation, on odd sizes.

#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "irnn/gru.h"
#include "support/gru_random.h"
#include "train/sim_gru.h"

namespace irnn {
namespace {

torch::Tensor ToLong(const std::vector<int8_t>& v, std::vector<int64_t> shape) {
  std::vector<int64_t> w(v.begin(), v.end());
  return torch::tensor(w, torch::kInt64).reshape(shape);
}
torch::Tensor ToLong(const std::vector<int16_t>& v, std::vector<int64_t> shape) {
  std::vector<int64_t> w(v.begin(), v.end());
  return torch::tensor(w, torch::kInt64).reshape(shape);
}

TEST(GruSim, StepAndSequenceEqualTheRuntime) {
  struct Case {
    int n_in, n_hidden, batch, steps;
  };
  const Case cases[] = {{1, 1, 1, 5}, {3, 17, 4, 7}, {17, 3, 2, 9}, {33, 33, 3, 6}, {8, 64, 5, 4}, {255, 17, 2, 3}};
  uint32_t seed = 900;
  for (const Case& c : cases) {
    for (int variant = 0; variant < 4; ++variant) {
      ++seed;
      const Rounding rnd = variant % 2 ? Rounding::kSingle : Rounding::kDouble;
      const testing::RandomGru r = testing::MakeRandomGru(seed, c.n_in, c.n_hidden, rnd, variant >= 2);
      SCOPED_TRACE(r.description);
      std::unique_ptr<Gru> g;
      ASSERT_TRUE(Gru::Create(r.params, KernelPath::kAuto, &g).ok());
      std::mt19937 rng(seed);
      std::vector<int8_t> x(static_cast<size_t>(c.steps) * c.batch * c.n_in);
      for (auto& v : x) v = static_cast<int8_t>(static_cast<int>(rng() % 256) - 128);
      GruState state;
      ASSERT_TRUE(g->NewState(c.batch, &state).ok());
      const train::sim::SimGru sim = train::sim::PrepareSimGru(r.params, torch::kCPU);
      auto [h16, h8] = train::sim::SimGruInitialState(sim, c.batch);
      std::vector<int8_t> out(static_cast<size_t>(c.batch) * c.n_hidden);
      // Step by step, comparing the whole state after each step.
      for (int t = 0; t < c.steps; ++t) {
        const std::vector<int8_t> xt(x.begin() + static_cast<size_t>(t) * c.batch * c.n_in,
                                     x.begin() + static_cast<size_t>(t + 1) * c.batch * c.n_in);
        ASSERT_TRUE(g->Step(xt.data(), &state, out.data()).ok());
        const auto s = train::sim::SimGruStep(sim, ToLong(xt, {c.batch, c.n_in}), h16, h8);
        ASSERT_TRUE(torch::equal(s.out, ToLong(out, {c.batch, c.n_hidden}))) << "step " << t;
        ASSERT_TRUE(torch::equal(s.h16, ToLong(state.h16(), {c.batch, c.n_hidden}))) << "step " << t;
        ASSERT_TRUE(torch::equal(s.h8, ToLong(state.h8(), {c.batch, c.n_hidden}))) << "step " << t;
        h16 = s.h16;
        h8 = s.h8;
      }
      // The whole sequence at once against the runtime's Run.
      GruState fresh;
      ASSERT_TRUE(g->NewState(c.batch, &fresh).ok());
      std::vector<int8_t> all(static_cast<size_t>(c.steps) * c.batch * c.n_hidden);
      ASSERT_TRUE(g->Run(x.data(), c.steps, &fresh, all.data()).ok());
      auto init = train::sim::SimGruInitialState(sim, c.batch);
      const auto seq = train::sim::SimGruSequence(sim, ToLong(x, {c.steps, c.batch, c.n_in}), init.first, init.second);
      EXPECT_TRUE(torch::equal(seq.out, ToLong(all, {c.steps, c.batch, c.n_hidden})));
      EXPECT_TRUE(torch::equal(seq.h16, ToLong(fresh.h16(), {c.batch, c.n_hidden})));
      EXPECT_TRUE(torch::equal(seq.h8, h8));
    }
  }
}

}  // namespace
}  // namespace irnn
