// sim == int for the residual int8 add (numerics.md §10.2) and the Mogrifier LSTM (§10.3): the
// libtorch simulation (src/train/sim_mogrifier.h) against the runtime, bit for bit: the add on every
// int8 pair for random, edge and derived parameters; the gating kernel on every (x, gate) input; random
// Mogrifier LSTMs (fixed-point and iRNN mode, every LSTM option, 1-6 rounds) compared after the rounds
// and after every step (out, h, c), and as whole sequences.

#include "train/sim_mogrifier.h"

#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kernels/elementwise_kernels.h"
#include "support/random_mogrifier.h"

namespace irnn::train::sim {
namespace {

using torch::Tensor;

template <typename T>
Tensor FromVector(const std::vector<T>& v) {
  Tensor t = torch::empty({static_cast<int64_t>(v.size())}, torch::kInt64);
  for (size_t i = 0; i < v.size(); ++i) t.data_ptr<int64_t>()[i] = static_cast<int64_t>(v[i]);
  return t;
}

template <typename T>
bool Same(const std::vector<T>& want, const Tensor& got) {
  return torch::equal(FromVector(want), got.to(torch::kCPU).to(torch::kInt64).contiguous().reshape({-1}));
}

TEST(SimResidual, AddEqualsRuntimeOnAllPairs) {
  std::vector<int8_t> a, b;
  for (int x = -128; x < 128; ++x) {
    for (int y = -128; y < 128; ++y) {
      a.push_back(static_cast<int8_t>(x));
      b.push_back(static_cast<int8_t>(y));
    }
  }
  std::vector<ResidualAddParams> params;
  ResidualAddParams p;
  ASSERT_TRUE(DeriveResidualAddParams(0.02f, 3, 0.07f, -9, 0.04f, 11, Rounding::kDouble, &p).ok());
  params.push_back(p);
  ASSERT_TRUE(DeriveResidualAddParams(0.3f, -128, 0.001f, 127, 0.002f, -5, Rounding::kSingle, &p).ok());
  params.push_back(p);
  std::mt19937_64 rng(3);
  for (int i = 0; i < 6; ++i) {
    p.a_zp = std::uniform_int_distribution<int>(-128, 127)(rng);
    p.b_zp = std::uniform_int_distribution<int>(-128, 127)(rng);
    p.output_zp = std::uniform_int_distribution<int>(-128, 127)(rng);
    p.a_scale = {std::uniform_int_distribution<int32_t>(1 << 30, 2147483647)(rng), -(i % 3)};
    p.b_scale = {std::uniform_int_distribution<int32_t>(1 << 30, 2147483647)(rng), -(i % 2)};
    p.output_scale = {std::uniform_int_distribution<int32_t>(1 << 30, 2147483647)(rng), i == 5 ? 30 : -19 - i};
    p.rounding = i % 2 ? Rounding::kSingle : Rounding::kDouble;
    params.push_back(p);
  }
  const Tensor ta = FromVector(a), tb = FromVector(b);
  for (const ResidualAddParams& q : params) {
    std::unique_ptr<ResidualAdd> add;
    ASSERT_TRUE(ResidualAdd::Create(q, KernelPath::kScalar, &add).ok());
    std::vector<int8_t> out(a.size());
    ASSERT_TRUE(add->Add(a.data(), b.data(), static_cast<int64_t>(a.size()), out.data()).ok());
    ASSERT_TRUE(Same(out, SimResidualAdd(q, ta, tb))) << "output_scale shift " << q.output_scale.shift;
  }
}

TEST(SimMogrifier, GatingEqualsRuntimeKernelOnAllInputs) {
  std::vector<int16_t> gate;
  std::vector<int8_t> x;
  for (int g = 0; g < 32768; g += 29) {
    for (int v = -128; v < 128; ++v) {
      gate.push_back(static_cast<int16_t>(g));
      x.push_back(static_cast<int8_t>(v));
    }
  }
  gate.push_back(32767);
  x.push_back(127);
  for (int zp : {-128, 0, 55, 127}) {
    std::vector<int8_t> want = x;
    reference::ElementwiseKernelTable().MogrifyS8(gate.data(), static_cast<int>(gate.size()), zp, want.data());
    ASSERT_TRUE(Same(want, SimMogrifyS8(FromVector(gate), FromVector(x), zp))) << "zp " << zp;
  }
}

TEST(SimMogrifier, RandomMogrifierLstmsEqualRuntimeStepByStep) {
  int64_t compared = 0;
  for (uint64_t seed = 0; seed < 32; ++seed) {
    const testing::RandomMogrifier r = testing::MakeRandomMogrifier(seed, seed % 2 == 1);
    const TfliteLstmConfig& c = r.params.lstm.config;
    std::unique_ptr<MogrifierLstm> m;
    ASSERT_TRUE(MogrifierLstm::Create(r.params, KernelPath::kScalar, &m).ok());
    MogrifierLstmState st, scratch;
    ASSERT_TRUE(m->NewState(r.batch, &st).ok());
    ASSERT_TRUE(m->NewState(r.batch, &scratch).ok());
    const SimMogrifierLstm sm = PrepareSimMogrifierLstm(r.params, torch::kCPU);
    auto init = SimTfliteLstmInitialState(sm.lstm, r.batch);
    Tensor h = init.first, c_t = init.second;
    const Tensor xs = FromVector(r.input).view({r.steps, r.batch, c.n_input});
    std::vector<int8_t> out(static_cast<size_t>(r.batch) * c.n_output), all;
    for (int t = 0; t < r.steps; ++t) {
      const int8_t* x = r.input.data() + static_cast<size_t>(t) * r.batch * c.n_input;
      // The rounds alone.
      std::vector<int8_t> xm(x, x + static_cast<size_t>(r.batch) * c.n_input), hm = st.h();
      ASSERT_TRUE(m->Mogrify(xm.data(), hm.data(), &scratch).ok());
      const auto sim_xh = SimMogrify(sm, xs[t], h);
      ASSERT_TRUE(Same(xm, sim_xh.first)) << r.description << " step " << t << " mogrified x";
      ASSERT_TRUE(Same(hm, sim_xh.second)) << r.description << " step " << t << " mogrified h";
      // The step.
      ASSERT_TRUE(m->Step(x, &st, out.data()).ok());
      const SimLstmStep s = SimMogrifierLstmStep(sm, xs[t], h, c_t);
      ASSERT_TRUE(Same(out, s.out)) << r.description << " step " << t << " out";
      ASSERT_TRUE(Same(st.h(), s.h)) << r.description << " step " << t << " h";
      ASSERT_TRUE(Same(st.c(), s.c)) << r.description << " step " << t << " c";
      h = s.h;
      c_t = s.c;
      all.insert(all.end(), out.begin(), out.end());
      compared += static_cast<int64_t>(out.size() * 2 + st.c().size() + xm.size() + hm.size());
    }
    const SimLstmSequence seq = SimMogrifierLstmSequence(sm, xs, init.first, init.second);
    ASSERT_TRUE(Same(all, seq.out)) << r.description << " sequence";
    ASSERT_TRUE(Same(st.c(), seq.c)) << r.description << " sequence c";
  }
  EXPECT_GT(compared, 5000);
}

}  // namespace
}  // namespace irnn::train::sim
