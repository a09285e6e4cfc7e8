// The test harness of the two float32 baselines (tests/fp32/lstm_f32_test.cc for LstmF32,
// tests/fp32/gru_f32_test.cc for GruF32): random inputs, running a layer on a path, and the checks both
// make the same way — scalar path against the cell's double-precision reference, AVX2 against scalar, Run
// against Step and threads against one thread, state carried across Runs, path resolution. Each test
// file keeps its cell's random params and its double-precision reference; this header has no cell
// equations. Not a test of its own, and only for the float baselines (the integer layers compare exactly).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "irnn/gru_f32.h"
#include "irnn/kernel_path.h"
#include "irnn/lstm_f32.h"

namespace irnn::f32_test {

inline constexpr uint32_t kSeed = 20261123;
inline constexpr int kOddSizes[] = {1, 3, 17, 33, 255};
inline constexpr int kBatches[] = {1, 3, 16};

// Inputs U(-1, 1).
inline std::vector<float> RandomInput(size_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> x(n);
  for (float& v : x) v = u(gen);
  return x;
}

struct Output {
  std::vector<float> out;  // [T][B][H]
  std::vector<float> h;
  std::vector<float> c;  // LSTM only (empty for the GRU)
};

inline void KeepCell(const LstmF32State& state, Output* o) { o->c = state.c(); }
inline void KeepCell(const GruF32State&, Output*) {}

// Runs a new `Layer` (LstmF32 or GruF32, with its `State`) on x [steps][batch][n_input]: one Run, or
// Step frame by frame (stepwise); expects every call to succeed and the layer to run `path`.
template <typename Layer, typename State, typename Params>
Output RunLayer(const Params& p, KernelPath path, int threads, const std::vector<float>& x, int steps, int batch,
                bool stepwise) {
  std::unique_ptr<Layer> layer;
  Status s = Layer::Create(p, path, &layer, threads);
  EXPECT_TRUE(s.ok()) << s.message();
  if (!s.ok()) return {};
  EXPECT_EQ(layer->path(), path);
  State state;
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
  KeepCell(state, &o);
  return o;
}

// Whether this CPU and build run the AVX2 path (tiny is any valid params).
template <typename Layer, typename Params>
bool Avx2Usable(const Params& tiny) {
  std::unique_ptr<Layer> layer;
  return Layer::Create(tiny, KernelPath::kAvx2, &layer).ok();
}

// max |a[i] - b[i]| over the common length.
template <typename A, typename B>
double MaxAbsDiff(const std::vector<A>& a, const std::vector<B>& b) {
  double m = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    m = std::max(m, std::fabs(static_cast<double>(a[i]) - static_cast<double>(b[i])));
  }
  return m;
}

// The scalar path within 2e-5 of the double reference naive(p, x, steps, batch) on every odd size and
// batch (75 cases, 5 steps), outputs not all near zero. make(n_input, n_hidden, seed) makes the params.
template <typename Layer, typename State, typename Make, typename Naive>
void ExpectScalarMatchesDouble(Make make, Naive naive) {
  const int steps = 5;
  int cases = 0;
  double worst = 0;
  for (int H : kOddSizes) {
    for (int I : kOddSizes) {
      for (int B : kBatches) {
        const auto p = make(I, H, kSeed + H * 1000 + I);
        const std::vector<float> x = RandomInput(static_cast<size_t>(steps) * B * I, kSeed + B);
        const Output got = RunLayer<Layer, State>(p, KernelPath::kScalar, 1, x, steps, B, false);
        const std::vector<double> want = naive(p, x, steps, B);
        ASSERT_EQ(got.out.size(), want.size());
        double max_abs = 0;
        for (double v : want) max_abs = std::max(max_abs, std::fabs(v));
        const double max_err = MaxAbsDiff(got.out, want);
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

// The AVX2 path within 1e-5 of the scalar path (outputs and, for the LSTM, the cell) on every odd size
// and batch (7 steps); with naive (not null), also within 2e-5 of the double reference.
template <typename Layer, typename State, typename Make, typename Naive>
void ExpectAvx2MatchesScalar(Make make, const Naive* naive) {
  const int steps = 7;
  double worst = 0, worst_double = 0;
  for (int H : kOddSizes) {
    for (int I : kOddSizes) {
      for (int B : kBatches) {
        const auto p = make(I, H, kSeed + 7 * H + I);
        const std::vector<float> x = RandomInput(static_cast<size_t>(steps) * B * I, kSeed ^ B);
        const Output scalar = RunLayer<Layer, State>(p, KernelPath::kScalar, 1, x, steps, B, false);
        const Output avx2 = RunLayer<Layer, State>(p, KernelPath::kAvx2, 1, x, steps, B, false);
        ASSERT_EQ(scalar.out.size(), avx2.out.size());
        ASSERT_EQ(scalar.c.size(), avx2.c.size());
        const double max_err = std::max(MaxAbsDiff(scalar.out, avx2.out), MaxAbsDiff(scalar.c, avx2.c));
        EXPECT_LT(max_err, 1e-5) << "H=" << H << " I=" << I << " B=" << B;
        worst = std::max(worst, max_err);
        if (naive != nullptr) {
          const std::vector<double> want = (*naive)(p, x, steps, B);
          ASSERT_EQ(want.size(), avx2.out.size());
          const double max_double = MaxAbsDiff(avx2.out, want);
          EXPECT_LT(max_double, 2e-5) << "H=" << H << " I=" << I << " B=" << B;
          worst_double = std::max(worst_double, max_double);
        }
      }
    }
  }
  if (naive != nullptr) {
    std::printf("max |avx2 - scalar|: %.3g, max |avx2 - double|: %.3g\n", worst, worst_double);
  } else {
    std::printf("max |avx2 - scalar|: %.3g\n", worst);
  }
}

// Run over a sequence equals Step frame by frame, and 2 or 3 threads equal 1, exactly, on every path
// (paths: scalar, and AVX2 when avx2).
template <typename Layer, typename State, typename Make>
void ExpectRunEqualsStepsAndThreadsAgree(Make make, bool avx2) {
  std::vector<KernelPath> paths = {KernelPath::kScalar};
  if (avx2) paths.push_back(KernelPath::kAvx2);
  const int steps = 6;
  int cases = 0;
  for (KernelPath path : paths) {
    for (int H : {1, 17, 33, 255}) {
      for (int I : {3, 33}) {
        for (int B : kBatches) {
          const auto p = make(I, H, kSeed + H + 31 * I);
          const std::vector<float> x = RandomInput(static_cast<size_t>(steps) * B * I, kSeed + 3 * B);
          const Output run = RunLayer<Layer, State>(p, path, 1, x, steps, B, false);
          const std::string where = std::string(KernelPathName(path)) + " H=" + std::to_string(H) +
                                    " I=" + std::to_string(I) + " B=" + std::to_string(B);
          for (int threads : {1, 2, 3}) {
            for (bool stepwise : {false, true}) {
              if (threads == 1 && !stepwise) continue;
              const Output other = RunLayer<Layer, State>(p, path, threads, x, steps, B, stepwise);
              EXPECT_EQ(run.out, other.out) << where << " threads=" << threads << " stepwise=" << stepwise;
              EXPECT_EQ(run.h, other.h) << where;
              EXPECT_EQ(run.c, other.c) << where;
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

// State carried across calls: two Runs of 3 steps equal one Run of 6; ResetState starts over. p has
// n_input 5 and n_hidden 9.
template <typename Layer, typename State, typename Params>
void ExpectStateCarriesAcrossRuns(const Params& p) {
  ASSERT_EQ(p.n_input, 5);
  ASSERT_EQ(p.n_hidden, 9);
  const int B = 2;
  const std::vector<float> x = RandomInput(6 * B * 5, kSeed);
  std::unique_ptr<Layer> layer;
  ASSERT_TRUE(Layer::Create(p, KernelPath::kAuto, &layer, 2).ok());
  State state;
  ASSERT_TRUE(layer->NewState(B, &state).ok());
  std::vector<float> whole(6 * B * 9), parts(6 * B * 9);
  ASSERT_TRUE(layer->Run(x.data(), 6, &state, whole.data()).ok());
  ASSERT_TRUE(layer->ResetState(&state).ok());
  ASSERT_TRUE(layer->Run(x.data(), 3, &state, parts.data()).ok());
  ASSERT_TRUE(layer->Run(x.data() + 3 * B * 5, 3, &state, parts.data() + 3 * B * 9).ok());
  EXPECT_EQ(whole, parts);
  ASSERT_TRUE(layer->Run(x.data(), 0, &state, nullptr).ok());  // 0 steps: nothing, pointers unused
}

// A float layer has a scalar and an AVX2 path; kAuto and kAvxVnni (an int8 extension) resolve to one of
// them, and the layer reports the path it runs. p is any valid params.
template <typename Layer, typename Params>
void ExpectPathResolution(const Params& p) {
  std::unique_ptr<Layer> layer;
  ASSERT_TRUE(Layer::Create(p, KernelPath::kAuto, &layer).ok());
  EXPECT_TRUE(layer->path() == KernelPath::kScalar || layer->path() == KernelPath::kAvx2)
      << KernelPathName(layer->path());
  if (KernelPathAvailable(KernelPath::kAvxVnni)) {
    ASSERT_TRUE(Layer::Create(p, KernelPath::kAvxVnni, &layer).ok());
    EXPECT_EQ(layer->path(), KernelPath::kAvx2);
  }
}

// s is an error whose message contains needle.
inline void ExpectError(const Status& s, const char* needle) {
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find(needle), std::string::npos) << s.message();
}

// The argument errors of NewState, ResetState, Run and Step, the same for every float layer: `layer` was
// made from params with n_input 3 and n_hidden 4, `wide` with n_input 3 and n_hidden 5; max_batch is the
// layer's kMax...Batch.
template <typename Layer, typename State>
void ExpectStateAndRunErrors(const Layer& layer, const Layer& wide, int max_batch) {
  ASSERT_EQ(layer.params().n_input, 3);
  ASSERT_EQ(layer.params().n_hidden, 4);
  ASSERT_EQ(wide.params().n_hidden, 5);
  State state;
  ExpectError(layer.NewState(0, &state), "batch is 0");
  ExpectError(layer.NewState(-2, &state), "batch is -2");
  ExpectError(layer.NewState(max_batch + 1, &state), ("batch is " + std::to_string(max_batch + 1)).c_str());
  ExpectError(layer.NewState(1, nullptr), "state is null");
  std::vector<float> x(3 * 2 * 3), out(3 * 2 * 4);
  // A state never made by NewState, or made by a layer of another width.
  ExpectError(layer.Run(x.data(), 1, &state, out.data()), "must come from NewState");
  ASSERT_TRUE(wide.NewState(2, &state).ok());
  ExpectError(layer.Step(x.data(), &state, out.data()), "must come from NewState");
  ASSERT_TRUE(layer.NewState(2, &state).ok());
  state.h().pop_back();
  ExpectError(layer.Run(x.data(), 1, &state, out.data()), "must come from NewState");
  ASSERT_TRUE(layer.NewState(2, &state).ok());
  ExpectError(layer.Run(nullptr, 1, &state, out.data()), "x is null");
  ExpectError(layer.Run(x.data(), 1, &state, nullptr), "out is null");
  ExpectError(layer.Run(x.data(), -1, &state, out.data()), "steps is -1");
  ExpectError(layer.Run(x.data(), 1, nullptr, out.data()), "state is null");
  ExpectError(layer.Step(nullptr, &state, out.data()), "x is null");
  ExpectError(layer.Step(x.data(), &state, nullptr), "out is null");
  ExpectError(layer.ResetState(nullptr), "state is null");
  ExpectError(layer.Run(x.data(), 1 << 30, &state, out.data()), "steps * batch is");
  EXPECT_TRUE(layer.Run(x.data(), 3, &state, out.data()).ok());
}

}  // namespace irnn::f32_test
