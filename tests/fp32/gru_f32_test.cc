// Tests of the float32 GRU baseline (irnn::GruF32): the scalar path against a straightforward
// double-precision GRU (PyTorch's equations with exact sigmoid and tanh), the AVX2 path against the
// scalar path (within 1e-5: another summation order and fused multiply-adds), Run against repeated Step
// and 2 or 3 threads against 1 (exactly: the same arithmetic per unit), odd sizes, and argument errors.
// The float path is a speed baseline, so it is compared with a tolerance; the integer GRU's tests
// (tests/layers/gru_test.cc) compare exactly.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "irnn/gru_f32.h"
#include "irnn/kernel_path.h"

namespace irnn {
namespace {

constexpr uint32_t kSeed = 20261123;

// Random weights U(-a, a), a = 1.5 / sqrt(H) (a little wider than nn.GRU's 1 / sqrt(H), so that gates
// saturate sometimes), biases U(-2a, 2a), inputs U(-1, 1).
GruF32Params RandomParams(int n_input, int n_hidden, uint32_t seed) {
  std::mt19937 gen(seed);
  const float a = 1.5f / std::sqrt(static_cast<float>(n_hidden));
  std::uniform_real_distribution<float> u(-a, a);
  GruF32Params p;
  p.n_input = n_input;
  p.n_hidden = n_hidden;
  p.w_ih.resize(3 * static_cast<size_t>(n_hidden) * n_input);
  p.w_hh.resize(3 * static_cast<size_t>(n_hidden) * n_hidden);
  p.b_ih.resize(3 * static_cast<size_t>(n_hidden));
  p.b_hh.resize(3 * static_cast<size_t>(n_hidden));
  for (float& v : p.w_ih) v = u(gen);
  for (float& v : p.w_hh) v = u(gen);
  for (float& v : p.b_ih) v = 2.0f * u(gen);
  for (float& v : p.b_hh) v = 2.0f * u(gen);
  return p;
}

std::vector<float> RandomInput(size_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> x(n);
  for (float& v : x) v = u(gen);
  return x;
}

// torch.nn.GRU's equations in double, with exact sigmoid and tanh. x [T][B][I] -> out [T][B][H].
std::vector<double> NaiveGru(const GruF32Params& p, const std::vector<float>& x, int steps, int batch) {
  const int H = p.n_hidden, I = p.n_input;
  std::vector<double> h(static_cast<size_t>(batch) * H, 0.0), out;
  auto sigmoid = [](double v) { return 1.0 / (1.0 + std::exp(-v)); };
  for (int t = 0; t < steps; ++t) {
    std::vector<double> h_new(h.size());
    for (int b = 0; b < batch; ++b) {
      const float* xb = x.data() + (static_cast<size_t>(t) * batch + b) * I;
      for (int u = 0; u < H; ++u) {
        double gi[3], gh[3];
        for (int g = 0; g < 3; ++g) {
          const size_t row = static_cast<size_t>(g) * H + u;
          gi[g] = p.b_ih[row];
          gh[g] = p.b_hh[row];
          for (int k = 0; k < I; ++k) gi[g] += static_cast<double>(p.w_ih[row * I + k]) * xb[k];
          for (int k = 0; k < H; ++k) gh[g] += static_cast<double>(p.w_hh[row * H + k]) * h[b * H + k];
        }
        const double r = sigmoid(gi[0] + gh[0]), z = sigmoid(gi[1] + gh[1]);
        const double n = std::tanh(gi[2] + r * gh[2]);
        h_new[static_cast<size_t>(b) * H + u] = (1.0 - z) * n + z * h[static_cast<size_t>(b) * H + u];
      }
    }
    h = h_new;
    out.insert(out.end(), h.begin(), h.end());
  }
  return out;
}

struct Output {
  std::vector<float> out;  // [T][B][H]
  std::vector<float> h;
};

Output RunLayer(const GruF32Params& p, KernelPath path, int threads, const std::vector<float>& x, int steps,
                int batch, bool stepwise) {
  std::unique_ptr<GruF32> layer;
  Status s = GruF32::Create(p, path, &layer, threads);
  EXPECT_TRUE(s.ok()) << s.message();
  if (!s.ok()) return {};
  EXPECT_EQ(layer->path(), path);
  GruF32State state;
  s = layer->NewState(batch, &state);
  EXPECT_TRUE(s.ok()) << s.message();
  Output o;
  o.out.assign(static_cast<size_t>(steps) * batch * p.n_hidden, -7.0f);
  if (stepwise) {
    for (int t = 0; t < steps; ++t) {
      s = layer->Step(x.data() + static_cast<size_t>(t) * batch * p.n_input, &state,
                      o.out.data() + static_cast<size_t>(t) * batch * p.n_hidden);
      EXPECT_TRUE(s.ok()) << s.message();
    }
  } else {
    s = layer->Run(x.data(), steps, &state, o.out.data());
    EXPECT_TRUE(s.ok()) << s.message();
  }
  o.h = state.h();
  return o;
}

bool Avx2Usable() {
  std::unique_ptr<GruF32> layer;
  return GruF32::Create(RandomParams(1, 1, 1), KernelPath::kAvx2, &layer).ok();
}

const int kOddSizes[] = {1, 3, 17, 33, 255};
const int kBatches[] = {1, 3, 16};

TEST(GruF32, ScalarMatchesDoubleGru) {
  const int steps = 5;
  int cases = 0;
  double worst = 0;
  for (int H : kOddSizes) {
    for (int I : kOddSizes) {
      for (int B : kBatches) {
        const GruF32Params p = RandomParams(I, H, kSeed + H * 1000 + I);
        const std::vector<float> x = RandomInput(static_cast<size_t>(steps) * B * I, kSeed + B);
        const Output got = RunLayer(p, KernelPath::kScalar, 1, x, steps, B, false);
        const std::vector<double> want = NaiveGru(p, x, steps, B);
        ASSERT_EQ(got.out.size(), want.size());
        double max_err = 0, max_abs = 0;
        for (size_t i = 0; i < want.size(); ++i) {
          max_err = std::max(max_err, std::fabs(got.out[i] - want[i]));
          max_abs = std::max(max_abs, std::fabs(want[i]));
        }
        EXPECT_LT(max_err, 2e-5) << "H=" << H << " I=" << I << " B=" << B;
        worst = std::max(worst, max_err);
        EXPECT_GT(max_abs, 0.02) << "H=" << H << " I=" << I << " B=" << B << ": outputs all near zero";
        ++cases;
      }
    }
  }
  EXPECT_EQ(cases, 75);
  std::printf("max |scalar - double| over %d cases: %.3g\n", cases, worst);
}

TEST(GruF32, Avx2MatchesScalarAndDouble) {
  if (!Avx2Usable()) GTEST_SKIP() << "AVX2 with FMA is not available on this CPU or build";
  const int steps = 7;
  double worst = 0, worst_double = 0;
  for (int H : kOddSizes) {
    for (int I : kOddSizes) {
      for (int B : kBatches) {
        const GruF32Params p = RandomParams(I, H, kSeed + 7 * H + I);
        const std::vector<float> x = RandomInput(static_cast<size_t>(steps) * B * I, kSeed ^ B);
        const Output scalar = RunLayer(p, KernelPath::kScalar, 1, x, steps, B, false);
        const Output avx2 = RunLayer(p, KernelPath::kAvx2, 1, x, steps, B, false);
        const std::vector<double> want = NaiveGru(p, x, steps, B);
        ASSERT_EQ(scalar.out.size(), avx2.out.size());
        ASSERT_EQ(want.size(), avx2.out.size());
        double max_err = 0, max_double = 0;
        for (size_t i = 0; i < scalar.out.size(); ++i) {
          max_err = std::max(max_err, double{std::fabs(scalar.out[i] - avx2.out[i])});
          max_double = std::max(max_double, std::fabs(avx2.out[i] - want[i]));
        }
        EXPECT_LT(max_err, 1e-5) << "H=" << H << " I=" << I << " B=" << B;
        EXPECT_LT(max_double, 2e-5) << "H=" << H << " I=" << I << " B=" << B;
        worst = std::max(worst, max_err);
        worst_double = std::max(worst_double, max_double);
      }
    }
  }
  std::printf("max |avx2 - scalar|: %.3g, max |avx2 - double|: %.3g\n", worst, worst_double);
}

// Run over a sequence equals Step frame by frame, and 2 or 3 threads equal 1, exactly, on every path.
TEST(GruF32, RunEqualsStepsAndThreadsAgree) {
  std::vector<KernelPath> paths = {KernelPath::kScalar};
  if (Avx2Usable()) paths.push_back(KernelPath::kAvx2);
  const int steps = 6;
  int cases = 0;
  for (KernelPath path : paths) {
    for (int H : {1, 17, 33, 255}) {
      for (int I : {3, 33}) {
        for (int B : kBatches) {
          const GruF32Params p = RandomParams(I, H, kSeed + H + 31 * I);
          const std::vector<float> x = RandomInput(static_cast<size_t>(steps) * B * I, kSeed + 3 * B);
          const Output run = RunLayer(p, path, 1, x, steps, B, false);
          const std::string where = std::string(KernelPathName(path)) + " H=" + std::to_string(H) +
                                    " I=" + std::to_string(I) + " B=" + std::to_string(B);
          for (int threads : {1, 2, 3}) {
            for (bool stepwise : {false, true}) {
              if (threads == 1 && !stepwise) continue;
              const Output other = RunLayer(p, path, threads, x, steps, B, stepwise);
              EXPECT_EQ(run.out, other.out) << where << " threads=" << threads << " stepwise=" << stepwise;
              EXPECT_EQ(run.h, other.h) << where;
              ++cases;
            }
          }
          // The state after the run is the last output frame.
          EXPECT_TRUE(std::equal(run.h.begin(), run.h.end(), run.out.end() - run.h.size())) << where;
        }
      }
    }
  }
  EXPECT_GE(cases, 120);
}

// State carried across calls: two Runs of 3 steps equal one Run of 6; ResetState starts over.
TEST(GruF32, StateCarriesAcrossRuns) {
  const GruF32Params p = RandomParams(5, 9, kSeed);
  const int B = 2;
  const std::vector<float> x = RandomInput(6 * B * 5, kSeed);
  std::unique_ptr<GruF32> layer;
  ASSERT_TRUE(GruF32::Create(p, KernelPath::kAuto, &layer, 2).ok());
  GruF32State state;
  ASSERT_TRUE(layer->NewState(B, &state).ok());
  std::vector<float> whole(6 * B * 9), parts(6 * B * 9);
  ASSERT_TRUE(layer->Run(x.data(), 6, &state, whole.data()).ok());
  ASSERT_TRUE(layer->ResetState(&state).ok());
  ASSERT_TRUE(layer->Run(x.data(), 3, &state, parts.data()).ok());
  ASSERT_TRUE(layer->Run(x.data() + 3 * B * 5, 3, &state, parts.data() + 3 * B * 9).ok());
  EXPECT_EQ(whole, parts);
  ASSERT_TRUE(layer->Run(x.data(), 0, &state, nullptr).ok());  // 0 steps: nothing, pointers unused
}

TEST(GruF32, PathResolution) {
  std::unique_ptr<GruF32> layer;
  ASSERT_TRUE(GruF32::Create(RandomParams(2, 3, 1), KernelPath::kAuto, &layer).ok());
  EXPECT_TRUE(layer->path() == KernelPath::kScalar || layer->path() == KernelPath::kAvx2)
      << KernelPathName(layer->path());
  if (KernelPathAvailable(KernelPath::kAvxVnni)) {
    ASSERT_TRUE(GruF32::Create(RandomParams(2, 3, 1), KernelPath::kAvxVnni, &layer).ok());
    EXPECT_EQ(layer->path(), KernelPath::kAvx2);
  }
}

TEST(GruF32, BadArguments) {
  const GruF32Params good = RandomParams(3, 4, kSeed);
  std::unique_ptr<GruF32> layer;
  auto expect_error = [](const Status& s, const char* needle) {
    EXPECT_FALSE(s.ok());
    EXPECT_NE(s.message().find(needle), std::string::npos) << s.message();
  };
  GruF32Params p = good;
  p.n_input = 0;
  expect_error(GruF32::Create(p, KernelPath::kScalar, &layer), "n_input is 0");
  p = good;
  p.n_hidden = -1;
  expect_error(GruF32::Create(p, KernelPath::kScalar, &layer), "n_hidden is -1");
  p = good;
  p.n_hidden = kMaxGruF32Dim + 1;
  expect_error(GruF32::Create(p, KernelPath::kScalar, &layer), "n_hidden is 65537");
  p = good;
  p.w_ih.pop_back();
  expect_error(GruF32::Create(p, KernelPath::kScalar, &layer), "w_ih has 35 values but must have 3 * n_hidden");
  p = good;
  p.w_hh.push_back(0.0f);
  expect_error(GruF32::Create(p, KernelPath::kScalar, &layer), "w_hh has 49 values");
  p = good;
  p.b_ih.clear();
  expect_error(GruF32::Create(p, KernelPath::kScalar, &layer), "b_ih has 0 values");
  p = good;
  p.b_hh.resize(13);
  expect_error(GruF32::Create(p, KernelPath::kScalar, &layer), "b_hh has 13 values");
  expect_error(GruF32::Create(good, KernelPath::kScalar, nullptr), "out is null");
  expect_error(GruF32::Create(good, KernelPath::kScalar, &layer, 0), "threads is 0");
  expect_error(GruF32::Create(good, KernelPath::kScalar, &layer, 65), "threads is 65");
  EXPECT_EQ(layer, nullptr);

  ASSERT_TRUE(GruF32::Create(good, KernelPath::kScalar, &layer).ok());
  GruF32State state;
  expect_error(layer->NewState(0, &state), "batch is 0");
  expect_error(layer->NewState(kMaxGruF32Batch + 1, &state), "batch is 65537");
  expect_error(layer->NewState(1, nullptr), "state is null");
  std::vector<float> x(3 * 2 * 3), out(3 * 2 * 4);
  expect_error(layer->Run(x.data(), 1, &state, out.data()), "must come from NewState");
  std::unique_ptr<GruF32> wide;
  ASSERT_TRUE(GruF32::Create(RandomParams(3, 5, 1), KernelPath::kScalar, &wide).ok());
  ASSERT_TRUE(wide->NewState(2, &state).ok());
  expect_error(layer->Step(x.data(), &state, out.data()), "must come from NewState");
  ASSERT_TRUE(layer->NewState(2, &state).ok());
  state.h().pop_back();
  expect_error(layer->Run(x.data(), 1, &state, out.data()), "must come from NewState");
  ASSERT_TRUE(layer->NewState(2, &state).ok());
  expect_error(layer->Run(nullptr, 1, &state, out.data()), "x is null");
  expect_error(layer->Run(x.data(), 1, &state, nullptr), "out is null");
  expect_error(layer->Run(x.data(), -1, &state, out.data()), "steps is -1");
  expect_error(layer->Run(x.data(), 1, nullptr, out.data()), "state is null");
  expect_error(layer->Step(nullptr, &state, out.data()), "x is null");
  expect_error(layer->Step(x.data(), &state, nullptr), "out is null");
  expect_error(layer->ResetState(nullptr), "state is null");
  expect_error(layer->Run(x.data(), 1 << 30, &state, out.data()), "steps * batch is");
  EXPECT_TRUE(layer->Run(x.data(), 3, &state, out.data()).ok());
}

}  // namespace
}  // namespace irnn
