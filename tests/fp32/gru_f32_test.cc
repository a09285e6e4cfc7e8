// Tests of the float32 GRU baseline (irnn::GruF32): the scalar path against a straightforward
// double-precision GRU (PyTorch's equations with exact sigmoid and tanh), the AVX2 path against the
// scalar path (within 1e-5: another summation order and fused multiply-adds), Run against repeated Step
// and 2 or 3 threads against 1 (exactly: the same arithmetic per unit), odd sizes, and argument errors.
// The float path is a speed baseline, so it is compared with a tolerance; the integer GRU's tests
// (tests/layers/gru_test.cc) compare exactly. The checks made the same way for LstmF32 are in
// tests/support/f32_layer_harness.h.

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
#include "support/f32_layer_harness.h"

namespace irnn {
namespace {

using f32_test::kSeed;

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

// The GRU's double reference as the harness calls it.
const auto kNaive = [](const GruF32Params& p, const std::vector<float>& x, int steps, int batch) {
  return NaiveGru(p, x, steps, batch);
};

TEST(GruF32, ScalarMatchesDoubleGru) {
  f32_test::ExpectScalarMatchesDouble<GruF32, GruF32State>(RandomParams, kNaive);
}

// The AVX2 path within 1e-5 of the scalar path and within 2e-5 of the double GRU.
TEST(GruF32, Avx2MatchesScalarAndDouble) {
  if (!f32_test::Avx2Usable<GruF32>(RandomParams(1, 1, 1))) {
    GTEST_SKIP() << "AVX2 with FMA is not available on this CPU or build";
  }
  f32_test::ExpectAvx2MatchesScalar<GruF32, GruF32State>(RandomParams, &kNaive);
}

// Run over a sequence equals Step frame by frame, and 2 or 3 threads equal 1, exactly, on every path.
TEST(GruF32, RunEqualsStepsAndThreadsAgree) {
  f32_test::ExpectRunEqualsStepsAndThreadsAgree<GruF32, GruF32State>(
      RandomParams, f32_test::Avx2Usable<GruF32>(RandomParams(1, 1, 1)));
}

// State carried across calls: two Runs of 3 steps equal one Run of 6; ResetState starts over.
TEST(GruF32, StateCarriesAcrossRuns) {
  f32_test::ExpectStateCarriesAcrossRuns<GruF32, GruF32State>(RandomParams(5, 9, kSeed));
}

TEST(GruF32, PathResolution) { f32_test::ExpectPathResolution<GruF32>(RandomParams(2, 3, 1)); }

TEST(GruF32, BadArguments) {
  const GruF32Params good = RandomParams(3, 4, kSeed);
  std::unique_ptr<GruF32> layer;
  const auto expect_error = f32_test::ExpectError;
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
  std::unique_ptr<GruF32> wide;
  ASSERT_TRUE(GruF32::Create(RandomParams(3, 5, 1), KernelPath::kScalar, &wide).ok());
  f32_test::ExpectStateAndRunErrors<GruF32, GruF32State>(*layer, *wide, kMaxGruF32Batch);
}

}  // namespace
}  // namespace irnn
