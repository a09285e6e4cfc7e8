// Tests of the float32 LSTM baseline (irnn::LstmF32): the activation approximation against std::tanh,
// the scalar path against a naive double-precision LSTM, the AVX2 path against the scalar path (within
// 1e-5: another summation order and fused multiply-adds), Run against repeated Step and 2 threads
// against 1 (exactly: the same arithmetic per unit), odd sizes, and argument errors. The float path is
// a speed baseline, so it is compared with a tolerance; the integer layers' tests compare exactly. The
// checks made the same way for GruF32 are in tests/support/f32_layer_harness.h.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "fp32/lstm_f32_kernels.h"
#include "irnn/kernel_path.h"
#include "irnn/lstm_f32.h"
#include "support/f32_layer_harness.h"

namespace irnn {
namespace {

using f32_test::kSeed;

// PyTorch-like random weights U(-a, a), a = 1.5 / sqrt(H) (a little wider than nn.LSTM's 1 / sqrt(H), so
// that gates saturate sometimes), and inputs U(-1, 1).
LstmF32Params RandomParams(int n_input, int n_hidden, uint32_t seed) {
  std::mt19937 gen(seed);
  const float a = 1.5f / std::sqrt(static_cast<float>(n_hidden));
  std::uniform_real_distribution<float> u(-a, a);
  LstmF32Params p;
  p.n_input = n_input;
  p.n_hidden = n_hidden;
  p.w_ih.resize(4 * static_cast<size_t>(n_hidden) * n_input);
  p.w_hh.resize(4 * static_cast<size_t>(n_hidden) * n_hidden);
  p.bias.resize(4 * static_cast<size_t>(n_hidden));
  for (float& v : p.w_ih) v = u(gen);
  for (float& v : p.w_hh) v = u(gen);
  for (float& v : p.bias) v = 2.0f * u(gen);
  return p;
}

// The LSTM of the header, in double, with exact sigmoid and tanh. x [T][B][I] -> out [T][B][H].
std::vector<double> NaiveLstm(const LstmF32Params& p, const std::vector<float>& x, int steps, int batch) {
  const int H = p.n_hidden, I = p.n_input;
  std::vector<double> h(static_cast<size_t>(batch) * H, 0.0), c(h.size(), 0.0), out;
  auto sigmoid = [](double v) { return 1.0 / (1.0 + std::exp(-v)); };
  for (int t = 0; t < steps; ++t) {
    std::vector<double> h_new(h.size());
    for (int b = 0; b < batch; ++b) {
      const float* xb = x.data() + (static_cast<size_t>(t) * batch + b) * I;
      for (int u = 0; u < H; ++u) {
        double a[4];
        for (int g = 0; g < 4; ++g) {
          const size_t row = static_cast<size_t>(g) * H + u;
          double acc = p.bias[row];
          for (int k = 0; k < I; ++k) acc += static_cast<double>(p.w_ih[row * I + k]) * xb[k];
          for (int k = 0; k < H; ++k) acc += static_cast<double>(p.w_hh[row * H + k]) * h[b * H + k];
          a[g] = acc;
        }
        double& cell = c[static_cast<size_t>(b) * H + u];
        cell = sigmoid(a[1]) * cell + sigmoid(a[0]) * std::tanh(a[2]);
        h_new[static_cast<size_t>(b) * H + u] = sigmoid(a[3]) * std::tanh(cell);
      }
    }
    h = h_new;
    out.insert(out.end(), h.begin(), h.end());
  }
  return out;
}

// The LSTM's double reference as the harness calls it.
const auto kNaive = [](const LstmF32Params& p, const std::vector<float>& x, int steps, int batch) {
  return NaiveLstm(p, x, steps, batch);
};

bool Avx2Usable() { return f32_test::Avx2Usable<LstmF32>(RandomParams(1, 1, 1)); }

TEST(LstmF32Activations, TanhAndSigmoidCloseToExact) {
  double max_tanh = 0, max_sigmoid = 0;
  for (double v = -20.0; v <= 20.0; v += 1.0 / 4096) {
    const float x = static_cast<float>(v);
    max_tanh = std::max(max_tanh, std::fabs(fp32::TanhF32(x) - std::tanh(static_cast<double>(x))));
    max_sigmoid = std::max(max_sigmoid, std::fabs(fp32::SigmoidF32(x) - 1.0 / (1.0 + std::exp(-static_cast<double>(x)))));
  }
  std::printf("max |error|: tanh %.3g, sigmoid %.3g\n", max_tanh, max_sigmoid);
  EXPECT_LT(max_tanh, 5e-7);
  EXPECT_LT(max_sigmoid, 5e-7);
  EXPECT_EQ(fp32::TanhF32(0.0f), 0.0f);
  EXPECT_EQ(fp32::TanhF32(-0.5f), -fp32::TanhF32(0.5f));
}

TEST(LstmF32, ScalarMatchesDoubleLstm) {
  f32_test::ExpectScalarMatchesDouble<LstmF32, LstmF32State>(RandomParams, kNaive);
}

// The AVX2 path within 1e-5 of the scalar path: outputs and cell.
TEST(LstmF32, Avx2MatchesScalar) {
  if (!Avx2Usable()) GTEST_SKIP() << "AVX2 with FMA is not available on this CPU or build";
  f32_test::ExpectAvx2MatchesScalar<LstmF32, LstmF32State>(RandomParams, static_cast<decltype(&kNaive)>(nullptr));
}

// Run over a sequence equals Step frame by frame, and 2 threads equal 1, exactly, on every path.
TEST(LstmF32, RunEqualsStepsAndThreadsAgree) {
  f32_test::ExpectRunEqualsStepsAndThreadsAgree<LstmF32, LstmF32State>(RandomParams, Avx2Usable());
}

// State carried across calls: two Runs of 3 steps equal one Run of 6; ResetState starts over.
TEST(LstmF32, StateCarriesAcrossRuns) {
  f32_test::ExpectStateCarriesAcrossRuns<LstmF32, LstmF32State>(RandomParams(5, 9, kSeed));
}

// The float layer has a scalar and an AVX2 path; kAuto and kAvxVnni (an int8 extension) resolve to one
// of them, and the layer reports the path it runs.
TEST(LstmF32, PathResolution) { f32_test::ExpectPathResolution<LstmF32>(RandomParams(2, 3, 1)); }

TEST(LstmF32, BadArguments) {
  const LstmF32Params good = RandomParams(3, 4, kSeed);
  std::unique_ptr<LstmF32> layer;
  const auto expect_error = f32_test::ExpectError;
  LstmF32Params p = good;
  p.n_input = 0;
  expect_error(LstmF32::Create(p, KernelPath::kScalar, &layer), "n_input is 0");
  p = good;
  p.n_hidden = -1;
  expect_error(LstmF32::Create(p, KernelPath::kScalar, &layer), "n_hidden is -1");
  p = good;
  p.n_hidden = kMaxLstmF32Dim + 1;
  expect_error(LstmF32::Create(p, KernelPath::kScalar, &layer), "n_hidden is 65537");
  p = good;
  p.w_ih.pop_back();
  expect_error(LstmF32::Create(p, KernelPath::kScalar, &layer), "w_ih has 47 values but must have");
  p = good;
  p.w_hh.push_back(0.0f);
  expect_error(LstmF32::Create(p, KernelPath::kScalar, &layer), "w_hh has 65 values");
  p = good;
  p.bias.clear();
  expect_error(LstmF32::Create(p, KernelPath::kScalar, &layer), "bias has 0 values");
  expect_error(LstmF32::Create(good, KernelPath::kScalar, nullptr), "out is null");
  expect_error(LstmF32::Create(good, KernelPath::kScalar, &layer, 0), "threads is 0");
  expect_error(LstmF32::Create(good, KernelPath::kScalar, &layer, 65), "threads is 65");
  EXPECT_EQ(layer, nullptr);

  ASSERT_TRUE(LstmF32::Create(good, KernelPath::kScalar, &layer).ok());
  std::unique_ptr<LstmF32> wide;
  ASSERT_TRUE(LstmF32::Create(RandomParams(3, 5, 1), KernelPath::kScalar, &wide).ok());
  f32_test::ExpectStateAndRunErrors<LstmF32, LstmF32State>(*layer, *wide, kMaxLstmF32Batch);
}

}  // namespace
}  // namespace irnn
