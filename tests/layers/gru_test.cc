// The integer GRU (irnn/gru.h, numerics.md §8) without libtorch: streaming equals whole-sequence runs
// (Run == T Steps, chunked or not), AVX2 and AVX-VNNI equal the scalar path bit for bit on odd sizes,
// an independent scalar transcription of §8 equals the layer, validation errors name the field, the
// GRU language model's Run equals its Steps, 2 threads equal 1 thread and the scalar path, and the .irnn
// round trip and malformed GRU files. The fused gate epilogue (LstmKernels::GruGatesS16) of every path
// against the scalar reference on odd sizes and saturating inputs, and the 64Ki-entry activation
// tables (PwlLookupTableS16) against PwlEvaluate on every input.
// sim == int is tests/train/gru_sim_test.cc.

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/fixed_point.h"
#include "irnn/gru.h"
#include "irnn/gru_lm.h"
#include "irnn/model.h"
#include "kernels/lstm_kernels.h"
#include "kernels/pwl_kernels.h"
#include "support/gru_random.h"
#include "support/paths.h"

namespace irnn {
namespace {

std::vector<int8_t> RandomInt8(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int8_t> v(n);
  for (auto& x : v) x = static_cast<int8_t>(static_cast<int>(rng() % 256) - 128);
  return v;
}

std::unique_ptr<Gru> MakeGru(const GruParams& p, KernelPath path) {
  std::unique_ptr<Gru> g;
  const Status s = Gru::Create(p, path, &g);
  EXPECT_TRUE(s.ok()) << s.message();
  return g;
}

struct Outcome {
  std::vector<int8_t> out;
  std::vector<int16_t> h16;
  std::vector<int8_t> h8;
};

Outcome RunWhole(const Gru& g, const std::vector<int8_t>& x, int steps, int batch) {
  GruState s;
  EXPECT_TRUE(g.NewState(batch, &s).ok());
  Outcome o;
  o.out.resize(static_cast<size_t>(steps) * batch * g.params().config.n_hidden);
  const Status st = g.Run(x.data(), steps, &s, o.out.data());
  EXPECT_TRUE(st.ok()) << st.message();
  o.h16 = s.h16();
  o.h8 = s.h8();
  return o;
}

// A random GRU of the seed (single rounding for odd seeds, the option MakeRandomGru's last argument
// for multiples of 3), random inputs, and what the scalar path's Run gives on them.
struct ScalarCase {
  testing::RandomGru r;
  std::vector<int8_t> x;
  Outcome want;
};

ScalarCase MakeScalarCase(uint32_t seed, int n_in, int n_hidden, int steps, int batch) {
  ScalarCase c{testing::MakeRandomGru(seed, n_in, n_hidden, seed % 2 ? Rounding::kSingle : Rounding::kDouble,
                                      seed % 3 == 0),
               RandomInt8(static_cast<size_t>(steps) * batch * n_in, seed), {}};
  auto scalar = MakeGru(c.r.params, KernelPath::kScalar);
  if (scalar == nullptr) {
    ADD_FAILURE() << "the scalar GRU was not created";
    return c;
  }
  c.want = RunWhole(*scalar, c.x, steps, batch);
  return c;
}

Outcome RunSteps(const Gru& g, const std::vector<int8_t>& x, int steps, int batch) {
  GruState s;
  EXPECT_TRUE(g.NewState(batch, &s).ok());
  const size_t in = static_cast<size_t>(batch) * g.params().config.n_input;
  const size_t outw = static_cast<size_t>(batch) * g.params().config.n_hidden;
  Outcome o;
  o.out.resize(steps * outw);
  for (int t = 0; t < steps; ++t) EXPECT_TRUE(g.Step(x.data() + t * in, &s, o.out.data() + t * outw).ok());
  o.h16 = s.h16();
  o.h8 = s.h8();
  return o;
}

// numerics.md §8 transcribed literally, one element at a time, with the scalar primitives of §1 and the
// reference PWL evaluation (§6.1): independent of gru.cc's buffers, loops and kernel tables.
Outcome Transcription(const GruParams& p, const std::vector<int8_t>& x, int steps, int batch) {
  const int I = p.config.n_input, H = p.config.n_hidden;
  std::vector<int16_t> h16(static_cast<size_t>(batch) * H, 0);
  std::vector<int8_t> h8(static_cast<size_t>(batch) * H, static_cast<int8_t>(p.output_zp));
  Outcome o;
  auto matmul = [&](const std::vector<int8_t>& w, const std::vector<int32_t>& bias,
                    const std::vector<QuantizedMultiplier>& m, const int8_t* v, int k, int r) {
    uint32_t acc = static_cast<uint32_t>(bias[r]);  // two's-complement wrap
    for (int j = 0; j < k; ++j) acc += static_cast<uint32_t>(int32_t{w[static_cast<size_t>(r) * k + j]} * v[j]);
    return MultiplyByQuantizedMultiplier(static_cast<int32_t>(acc), m[r], p.config.rounding);
  };
  for (int t = 0; t < steps; ++t) {
    std::vector<int8_t> prev8 = h8;
    for (int b = 0; b < batch; ++b) {
      const int8_t* xv = x.data() + (static_cast<size_t>(t) * batch + b) * I;
      const int8_t* hv = prev8.data() + static_cast<size_t>(b) * H;
      for (int r = 0; r < H; ++r) {
        int32_t ax[3], ah[3];
        for (int g = 0; g < 3; ++g) {
          ax[g] = matmul(p.input_weights[g], p.input_effective_bias[g], p.input_scale[g], xv, I, r);
          ah[g] = matmul(p.recurrent_weights[g], p.recurrent_effective_bias[g], p.recurrent_scale[g], hv, H, r);
        }
        const int32_t rg = PwlEvaluate(p.pwl_sigmoid, SaturateToInt16(int64_t{ax[0]} + ah[0]));
        const int32_t zg = PwlEvaluate(p.pwl_sigmoid, SaturateToInt16(int64_t{ax[1]} + ah[1]));
        const int32_t a = SaturateToInt16(ax[2]), bb = SaturateToInt16(ah[2]);
        const int32_t n = PwlEvaluate(p.pwl_tanh, SaturateToInt16(int64_t{a} + RoundingDivideByPOT(rg * bb, 15)));
        int16_t& hs = h16[static_cast<size_t>(b) * H + r];
        hs = SaturateToInt16(int64_t{n} + RoundingDivideByPOT(zg * (hs - n), 15));
        h8[static_cast<size_t>(b) * H + r] =
            SaturateToInt8(int64_t{MultiplyByQuantizedMultiplier(hs, p.output_scale, p.config.rounding)} + p.output_zp);
      }
    }
    o.out.insert(o.out.end(), h8.begin(), h8.end());
  }
  o.h16 = h16;
  o.h8 = h8;
  return o;
}

void ExpectSame(const Outcome& a, const Outcome& b) {
  EXPECT_EQ(a.out, b.out);
  EXPECT_EQ(a.h16, b.h16);
  EXPECT_EQ(a.h8, b.h8);
}

// On each of `paths`, with 1 and 2 threads, Run over the whole sequence (or Step, one step per call,
// where `by_step`) gives `want`.
void ExpectOnEveryPathAndThreadCount(const std::vector<KernelPath>& paths, const GruParams& params,
                                     const std::vector<int8_t>& x, int steps, int batch, bool by_step,
                                     const Outcome& want) {
  for (KernelPath path : paths) {
    for (int threads : {1, 2}) {
      SCOPED_TRACE(std::string(KernelPathName(path)) + " threads " + std::to_string(threads));
      std::unique_ptr<Gru> gru;
      const Status st = Gru::Create(params, path, threads, &gru);
      ASSERT_TRUE(st.ok()) << st.message();
      ExpectSame(by_step ? RunSteps(*gru, x, steps, batch) : RunWhole(*gru, x, steps, batch), want);
    }
  }
}

TEST(Gru, StepsEqualRunAndTranscriptionAndEveryPathOnOddSizes) {
  const std::vector<KernelPath> paths = testing::OptimizedPathsOrNote();
  const int sizes[] = {1, 3, 17, 33, 255};
  uint32_t seed = 700;
  int saturated_h8 = 0;
  for (int n_in : sizes) {
    for (int n_hidden : sizes) {
      if (n_in == 255 && n_hidden == 255) continue;  // covered below with fewer steps
      ++seed;
      const bool saturating = seed % 3 == 0;
      const Rounding rnd = seed % 2 ? Rounding::kSingle : Rounding::kDouble;
      const testing::RandomGru r = testing::MakeRandomGru(seed, n_in, n_hidden, rnd, saturating);
      SCOPED_TRACE(r.description);
      const int batch = 1 + static_cast<int>(seed % 3), steps = n_hidden >= 255 ? 3 : 6;
      const std::vector<int8_t> x = RandomInt8(static_cast<size_t>(steps) * batch * n_in, seed);
      auto scalar = MakeGru(r.params, KernelPath::kScalar);
      ASSERT_NE(scalar, nullptr);
      const Outcome whole = RunWhole(*scalar, x, steps, batch);
      ExpectSame(RunSteps(*scalar, x, steps, batch), whole);
      ExpectSame(Transcription(r.params, x, steps, batch), whole);
      for (int8_t v : whole.out) saturated_h8 += v == -128 || v == 127;
      for (KernelPath path : paths) {
        SCOPED_TRACE(KernelPathName(path));
        auto fast = MakeGru(r.params, path);
        ExpectSame(RunWhole(*fast, x, steps, batch), whole);
        ExpectSame(RunSteps(*fast, x, steps, batch), whole);
      }
    }
  }
  EXPECT_GT(saturated_h8, 0) << "no configuration saturated the int8 output";
}

// Threads split the matmuls' output rows (src/layers/row_split.h) at multiples of 16 when the work is
// large enough (at least 128 rows per thread): H = 3 and 33 stay on one thread, H = 257 splits at batch 17.
TEST(Gru, TwoThreadsEqualOneThreadAndScalarOnEveryPath) {
  std::vector<KernelPath> paths = testing::OptimizedPathsOrNote();
  paths.insert(paths.begin(), KernelPath::kScalar);
  uint32_t seed = 900;
  for (int n_hidden : {3, 33, 257}) {
    for (int batch : {1, 17}) {
      ++seed;
      const int n_in = n_hidden == 257 ? 17 : 33, steps = 4;
      const ScalarCase c = MakeScalarCase(seed, n_in, n_hidden, steps, batch);
      const testing::RandomGru& r = c.r;
      const std::vector<int8_t>& x = c.x;
      const Outcome& want = c.want;
      SCOPED_TRACE(r.description + " batch " + std::to_string(batch));
      for (KernelPath path : paths) {
        SCOPED_TRACE(KernelPathName(path));
        std::unique_ptr<Gru> two;
        const Status st = Gru::Create(r.params, path, 2, &two);
        ASSERT_TRUE(st.ok()) << st.message();
        EXPECT_EQ(two->threads(), 2);
        ExpectSame(RunWhole(*two, x, steps, batch), want);
        ExpectSame(RunSteps(*two, x, steps, batch), want);
      }
    }
  }
}

// Run's step (the composed matmuls and epilogue) walks the recurrent weights the other way on every
// other step where the path has GemvPackedRequantWalkS32 and a thread's rows of the three gates exceed
// AlternateWalkMinBytes() (the gates from the last, each one's row blocks from the last): four steps at
// H = 672 (1.29 MiB on one thread) with batches 1 (the one-row walk), 3 (three one-row walks) and 5 (a
// 4-row walk and a one-row walk), and H = 944 at batch 1, whose 2 threads walk 1.3 MiB each; 1 and 2
// threads; equal to the scalar Run.
TEST(Gru, AlternatingWalkOfRunEqualsScalarOnEveryPathAndThreadCount) {
  const std::vector<KernelPath> paths = testing::OptimizedPathsOrNote();
  uint32_t seed = 1700;
  const int shapes[][2] = {{672, 1}, {672, 3}, {672, 5}, {944, 1}};  // n_hidden, batch
  for (const auto& shape : shapes) {
    ++seed;
    const int n_in = 19, n_hidden = shape[0], batch = shape[1], steps = 4;
    const ScalarCase c = MakeScalarCase(seed, n_in, n_hidden, steps, batch);
    const testing::RandomGru& r = c.r;
    const std::vector<int8_t>& x = c.x;
    const Outcome& want = c.want;
    SCOPED_TRACE(r.description + " batch " + std::to_string(batch));
    ExpectOnEveryPathAndThreadCount(paths, r.params, x, steps, batch, false, want);
  }
}

// Step of 16 or more rows (the composed matmuls, AMX tiles on the amx path) reverses the whole walk on
// every other step where a thread's rows exceed AlternateWalkMinBytes(): per gate from the last, the
// recurrent rows then the input rows, in 256-row chunks from the last (H = 672: chunks 512..671, 256..511,
// 0..255). Batch 16 and 17, four steps, 1 and 2 threads (two threads' halves stay forward); Step ==
// scalar Run bit for bit.
TEST(Gru, ReversedWalkOfStepOfSixteenRowsEqualsScalarOnEveryPath) {
  const std::vector<KernelPath> paths = testing::OptimizedPathsOrNote();
  uint32_t seed = 1750;
  for (int batch : {16, 17}) {
    ++seed;
    const int n_in = 19, n_hidden = 672, steps = 4;
    const ScalarCase c = MakeScalarCase(seed, n_in, n_hidden, steps, batch);
    SCOPED_TRACE(c.r.description + " batch " + std::to_string(batch));
    ExpectOnEveryPathAndThreadCount(paths, c.r.params, c.x, steps, batch, true, c.want);
  }
}

// Step of fewer than 16 rows runs the fused streaming kernel where the path has one (GruStreamStepS16,
// AVX-512 VNNI and AMX): every unit block's six matmuls, per-row requantization and epilogue in one pass.
// Batches 4..15 take its 4-row groups and the 1-3-row tails together; odd sizes; saturating weights and
// multipliers; single and double rounding; 1 and 2 threads; Step == scalar Run bit for bit.
TEST(Gru, StreamingStepOfFewRowsEqualsScalarOnEveryPathAndThreadCount) {
  std::vector<KernelPath> paths = testing::OptimizedPathsOrNote();
  const int sizes[] = {1, 3, 17, 33, 255};
  uint32_t seed = 1300;
  for (int n_in : sizes) {
    for (int n_hidden : sizes) {
      ++seed;
      const int batch = n_hidden == 255 ? 5 + static_cast<int>(seed % 3) * 5 : 4 + static_cast<int>(seed % 12);
      const int steps = 3;
      testing::RandomGru r =
          testing::MakeRandomGru(seed, n_in, n_hidden, seed % 2 ? Rounding::kSingle : Rounding::kDouble, seed % 3 == 0);
      // A quarter of the rows get any valid multiplier (shift -31..30, left shifts included, or M = 0):
      // every lane of the per-row requantization takes its own constants.
      std::mt19937 rng(seed);
      for (int g = 0; g < 3; ++g) {
        for (auto* m : {&r.params.input_scale[g], &r.params.recurrent_scale[g]}) {
          for (QuantizedMultiplier& q : *m) {
            if (rng() % 4 != 0) continue;
            q.shift = static_cast<int32_t>(rng() % 62) - 31;
            q.multiplier = rng() % 8 == 0 ? 0 : static_cast<int32_t>((1u << 30) + rng() % (1u << 30));
          }
        }
      }
      SCOPED_TRACE(r.description + " batch " + std::to_string(batch));
      const std::vector<int8_t> x = RandomInt8(static_cast<size_t>(steps) * batch * n_in, seed);
      auto scalar = MakeGru(r.params, KernelPath::kScalar);
      ASSERT_NE(scalar, nullptr);
      const Outcome want = RunWhole(*scalar, x, steps, batch);
      ExpectSame(RunSteps(*scalar, x, steps, batch), want);
      ExpectOnEveryPathAndThreadCount(paths, r.params, x, steps, batch, true, want);
    }
  }
}

TEST(Gru, BadThreadCountIsAStatus) {
  const GruParams p = testing::MakeRandomGru(6, 4, 6, Rounding::kDouble, false).params;
  std::unique_ptr<Gru> g;
  EXPECT_EQ(Gru::Create(p, KernelPath::kScalar, 0, &g).message(), "Gru::Create: threads is 0 but must be in [1, 64]");
  EXPECT_EQ(Gru::Create(p, KernelPath::kScalar, 65, &g).message(), "Gru::Create: threads is 65 but must be in [1, 64]");
  EXPECT_EQ(g, nullptr);
  ASSERT_TRUE(Gru::Create(p, KernelPath::kScalar, 64, &g).ok());
  EXPECT_EQ(g->threads(), 64);
}

TEST(Gru, LongSequenceRunsInChunksEqualSteps) {
  // 2^20 / (3 * batch * n_hidden) = 3 steps per chunk of Run's workspace: 10 steps take 4 chunks.
  const testing::RandomGru r = testing::MakeRandomGru(9, 5, 255, Rounding::kDouble, false);
  auto g = MakeGru(r.params, KernelPath::kScalar);
  const int batch = 457, steps = 10;
  const std::vector<int8_t> x = RandomInt8(static_cast<size_t>(steps) * batch * 5, 10);
  ExpectSame(RunWhole(*g, x, steps, batch), RunSteps(*g, x, steps, batch));
}

// Run copies a chunk's inputs to a 64-byte boundary when they are not on one and n_input is whole AMX
// tiles deep (src/layers/aligned_chunk.h): inputs at offsets 0, 1 and 16 from a 64-byte boundary give
// the scalar path's results on every path (batch 17: the amx path's tiles).
TEST(Gru, RunOnInputsAtAnyAlignmentEqualsScalarOnEveryPath) {
  const std::vector<KernelPath> paths = testing::OptimizedPathsOrNote();
  int compared = 0;
  for (int n_in : {64, 128}) {
    const testing::RandomGru r = testing::MakeRandomGru(static_cast<uint32_t>(800 + n_in), n_in, 33, Rounding::kDouble,
                                                        false);
    const int batch = 17, steps = 3;
    const std::vector<int8_t> x = RandomInt8(static_cast<size_t>(steps) * batch * n_in, 801);
    auto scalar = MakeGru(r.params, KernelPath::kScalar);
    ASSERT_NE(scalar, nullptr);
    const Outcome want = RunWhole(*scalar, x, steps, batch);
    std::vector<int8_t> buffer(x.size() + 128);
    const uintptr_t base = reinterpret_cast<uintptr_t>(buffer.data());
    for (size_t offset : {size_t{0}, size_t{1}, size_t{16}}) {
      int8_t* at = buffer.data() + ((64 - base % 64) % 64) + offset;
      std::copy(x.begin(), x.end(), at);
      for (KernelPath path : paths) {
        SCOPED_TRACE(::testing::Message() << KernelPathName(path) << " n_input " << n_in << " offset " << offset);
        auto fast = MakeGru(r.params, path);
        GruState state;
        ASSERT_TRUE(fast->NewState(batch, &state).ok());
        std::vector<int8_t> out(want.out.size());
        ASSERT_TRUE(fast->Run(at, steps, &state, out.data()).ok());
        EXPECT_EQ(out, want.out);
        EXPECT_EQ(state.h16(), want.h16);
        ++compared;
      }
    }
  }
  EXPECT_EQ(compared, 6 * static_cast<int>(paths.size()));
}

TEST(Gru, ResetStateAndStreamsAreIndependent) {
  const testing::RandomGru r = testing::MakeRandomGru(11, 7, 9, Rounding::kDouble, false);
  auto g = MakeGru(r.params, KernelPath::kAuto);
  const std::vector<int8_t> x = RandomInt8(4 * 2 * 7, 12);
  const Outcome two = RunWhole(*g, x, 4, 2);
  // Stream 1 of the batch alone gives the same outputs as in the batch.
  std::vector<int8_t> x1;
  for (int t = 0; t < 4; ++t) x1.insert(x1.end(), x.begin() + (t * 2 + 1) * 7, x.begin() + (t * 2 + 2) * 7);
  const Outcome one = RunWhole(*g, x1, 4, 1);
  for (int t = 0; t < 4; ++t) {
    EXPECT_EQ(std::vector<int8_t>(two.out.begin() + (t * 2 + 1) * 9, two.out.begin() + (t * 2 + 2) * 9),
              std::vector<int8_t>(one.out.begin() + t * 9, one.out.begin() + (t + 1) * 9));
  }
  GruState s;
  ASSERT_TRUE(g->NewState(2, &s).ok());
  std::vector<int8_t> out(2 * 9);
  ASSERT_TRUE(g->Step(x.data(), &s, out.data()).ok());
  ASSERT_TRUE(g->ResetState(&s).ok());
  EXPECT_EQ(s.h16(), std::vector<int16_t>(18, 0));
  EXPECT_EQ(s.h8(), std::vector<int8_t>(18, static_cast<int8_t>(r.params.output_zp)));
}

void ExpectInvalid(const GruParams& p, const std::string& fragment) {
  std::unique_ptr<Gru> g;
  const Status s = Gru::Create(p, KernelPath::kScalar, &g);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find(fragment), std::string::npos) << s.message();
}

TEST(Gru, ValidationNamesTheField) {
  const GruParams good = testing::MakeRandomGru(5, 4, 6, Rounding::kDouble, false).params;
  GruParams p = good;
  p.config.n_input = 0;
  ExpectInvalid(p, "GruParams: config.n_input is 0 but must be in [1, 65536]");
  p = good;
  p.config.n_hidden = 70000;
  ExpectInvalid(p, "config.n_hidden is 70000");
  p = good;
  p.config.rounding = static_cast<Rounding>(7);
  ExpectInvalid(p, "config.rounding is 7 but must be 0 or 1");
  p = good;
  p.input_weights[1].pop_back();
  ExpectInvalid(p, "input_weights[z] has 23 elements but must have n_hidden * n_input = 24");
  p = good;
  p.recurrent_weights[2].push_back(0);
  ExpectInvalid(p, "recurrent_weights[n] has 37 elements");
  p = good;
  p.recurrent_effective_bias[0].clear();
  ExpectInvalid(p, "recurrent_effective_bias[r] has 0 elements but must have n_hidden = 6");
  p = good;
  p.input_scale[2][3].multiplier = 5;
  ExpectInvalid(p, "input_scale[n][3].multiplier is 5 but must be 0 or in [2^30, 2^31)");
  p = good;
  p.recurrent_scale[1][0].shift = 31;
  ExpectInvalid(p, "recurrent_scale[z][0].shift is 31 but must be in [-31, 30]");
  p = good;
  p.output_scale.multiplier = -1;
  ExpectInvalid(p, "output_scale.multiplier is -1");
  p = good;
  p.output_zp = 128;
  ExpectInvalid(p, "output_zp is 128 but must be in [-128, 127]");
  p = good;
  p.pwl_sigmoid.output_min = -5;
  ExpectInvalid(p, "pwl_sigmoid");
  p = good;
  p.pwl_tanh.knot.clear();
  ExpectInvalid(p, "pwl_tanh");
}

TEST(Gru, CallErrorsAreStatusesNotCrashes) {
  const GruParams p = testing::MakeRandomGru(6, 4, 6, Rounding::kDouble, false).params;
  auto g = MakeGru(p, KernelPath::kScalar);
  std::unique_ptr<Gru> none;
  EXPECT_FALSE(Gru::Create(p, KernelPath::kScalar, nullptr).ok());
  GruState s;
  EXPECT_EQ(g->NewState(0, &s).message(), "Gru::NewState: batch is 0 but must be in [1, 65536]");
  EXPECT_FALSE(g->NewState(1 << 17, &s).ok());
  EXPECT_FALSE(g->NewState(1, nullptr).ok());
  std::vector<int8_t> x(4), out(6);
  GruState empty;
  const Status bad = g->Step(x.data(), &empty, out.data());
  EXPECT_NE(bad.message().find("Gru::Step: state was not made by NewState of a GRU of this shape"), std::string::npos)
      << bad.message();
  ASSERT_TRUE(g->NewState(1, &s).ok());
  EXPECT_FALSE(g->Step(nullptr, &s, out.data()).ok());
  EXPECT_FALSE(g->Step(x.data(), &s, nullptr).ok());
  EXPECT_FALSE(g->Step(x.data(), nullptr, out.data()).ok());
  EXPECT_EQ(g->Run(x.data(), -1, &s, out.data()).message(), "Gru::Run: steps is -1 but must be >= 0");
  EXPECT_TRUE(g->Run(nullptr, 0, &s, nullptr).ok());
  // A state of another width is refused.
  auto wider = MakeGru(testing::MakeRandomGru(6, 4, 7, Rounding::kDouble, false).params, KernelPath::kScalar);
  GruState other;
  ASSERT_TRUE(wider->NewState(1, &other).ok());
  EXPECT_FALSE(g->Run(x.data(), 1, &other, out.data()).ok());
}

// The lookup tables the SIMD paths read equal the reference PWL evaluation on all 65,536 inputs, and
// their 16 padding entries are zero.
TEST(GruTables, LookupTablesEqualPwlEvaluateOnEveryInput) {
  const GruParams p = testing::MakeRandomGru(31, 3, 3, Rounding::kDouble, false).params;
  for (const PwlTable* t : {&p.pwl_sigmoid, &p.pwl_tanh}) {
    const std::vector<int16_t> table = PwlLookupTableS16(*t);
    ASSERT_EQ(table.size(), 65536u + 16u);
    int mismatches = 0;
    for (int v = -32768; v <= 32767; ++v) {
      mismatches += table[static_cast<uint16_t>(static_cast<int16_t>(v))] != PwlEvaluate(*t, v);
    }
    EXPECT_EQ(mismatches, 0);
    for (size_t i = 65536; i < table.size(); ++i) EXPECT_EQ(table[i], 0);
  }
}

// Every path's GruGatesS16 equals the reference's on odd sizes (1, 3, 17, 33, 255, and batch 17 x 33
// as one range), both roundings, with int32 inputs near +-2^31 and +-32768, and h16 at its extremes.
TEST(GruGates, EveryPathEqualsReferenceOnOddSizesAndSaturatingInputs) {
  const std::vector<KernelPath> paths = testing::OptimizedPathsOrNote();
  const GruParams p = testing::MakeRandomGru(32, 3, 3, Rounding::kDouble, false).params;
  const std::vector<int16_t> sigmoid = PwlLookupTableS16(p.pwl_sigmoid), tanh = PwlLookupTableS16(p.pwl_tanh);
  std::mt19937 rng(33);
  auto value = [&](uint32_t kind) -> int32_t {
    const int32_t edges[] = {INT32_MIN, INT32_MIN + 1, INT32_MAX, INT32_MAX - 1, -32769, -32768, -32767,
                             32766, 32767, 32768, -65536, 65536, 0, 1, -1, 16384, -16384};
    switch (kind % 4) {
      case 0: return edges[rng() % (sizeof(edges) / sizeof(edges[0]))];
      case 1: return static_cast<int32_t>(rng());                          // anywhere in int32
      case 2: return static_cast<int32_t>(rng() % 131073) - 65536;         // around the int16 range
      default: return static_cast<int32_t>(rng() % 32769) - 16384;         // Q3.12 gate inputs
    }
  };
  int saturated = 0;
  for (int n : {1, 3, 17, 33, 255, 17 * 33}) {
    for (Rounding rounding : {Rounding::kDouble, Rounding::kSingle}) {
      for (int trial = 0; trial < 3; ++trial) {
        SCOPED_TRACE("n " + std::to_string(n) + " rounding " + std::to_string(static_cast<int>(rounding)) +
                     " trial " + std::to_string(trial));
        std::vector<std::vector<int32_t>> in(3, std::vector<int32_t>(n)), rec(3, std::vector<int32_t>(n));
        for (int g = 0; g < 3; ++g) {
          for (int i = 0; i < n; ++i) {
            in[g][i] = value(rng() + static_cast<uint32_t>(trial));
            rec[g][i] = value(rng() + static_cast<uint32_t>(trial));
          }
        }
        std::vector<int16_t> h0(n);
        for (auto& h : h0) h = static_cast<int16_t>(rng() % 5 == 0 ? (rng() % 2 ? 32767 : -32768) : rng());
        GruGateEpilogue e;
        for (int g = 0; g < 3; ++g) {
          e.input[g] = in[g].data();
          e.recurrent[g] = rec[g].data();
        }
        e.n = n;
        e.sigmoid = &p.pwl_sigmoid;
        e.tanh = &p.pwl_tanh;
        e.sigmoid_table = sigmoid.data();
        e.tanh_table = tanh.data();
        // 2^-15 / S_out for S_out around 2^-7 (the layer's), and larger multipliers that saturate.
        e.output_scale = QuantizedMultiplier{static_cast<int32_t>((1u << 30) + rng() % (1u << 30)),
                                             -8 + static_cast<int>(rng() % (trial == 2 ? 14 : 4))};
        e.rounding = rounding;
        e.output_zp = static_cast<int32_t>(rng() % 256) - 128;
        std::vector<int16_t> h_want = h0;
        std::vector<int8_t> h8_want(n, 0x5A), out_want(n, 0x5A);
        e.h16 = h_want.data();
        e.h8 = h8_want.data();
        e.out = out_want.data();
        reference::LstmKernelTable().GruGatesS16(e);
        EXPECT_EQ(h8_want, out_want);
        for (int8_t v : h8_want) saturated += v == -128 || v == 127;
        for (KernelPath path : paths) {
          SCOPED_TRACE(KernelPathName(path));
          for (bool with_out : {true, false}) {
            std::vector<int16_t> h = h0;
            std::vector<int8_t> h8(n, 0x5A), out(n, 0x5A);
            e.h16 = h.data();
            e.h8 = h8.data();
            e.out = with_out ? out.data() : nullptr;
            GetLstmKernels(path).GruGatesS16(e);
            EXPECT_EQ(h, h_want);
            EXPECT_EQ(h8, h8_want);
            EXPECT_EQ(out, with_out ? out_want : std::vector<int8_t>(n, 0x5A));
          }
        }
      }
    }
  }
  EXPECT_GT(saturated, 0) << "no case saturated the int8 output";
}

TEST(GruDerive, FoldsBiasesAndZeroPointsAndFitsTables) {
  GruParams p;
  p.config.n_input = 2;
  p.config.n_hidden = 1;
  GruQuantization q;
  q.input_scale = 0.5;
  q.input_zp = 3;
  q.output_scale = 1.0 / 128;
  q.output_zp = -2;
  for (int g = 0; g < 3; ++g) {
    p.input_weights[g] = {10, -4};
    p.recurrent_weights[g] = {7};
    q.input_weight_scale[g] = {0.25};
    q.recurrent_weight_scale[g] = {0.5};
    q.input_bias[g] = {1.0 + g};     // / (0.25 * 0.5) = 8, 16, 24
    q.recurrent_bias[g] = {-0.25};  // / (0.5 / 128) = -64
  }
  const Status s = DeriveGruParams(q, &p);
  ASSERT_TRUE(s.ok()) << s.message();
  for (int g = 0; g < 3; ++g) {
    EXPECT_EQ(p.input_effective_bias[g][0], 8 * (g + 1) - 3 * 6);
    EXPECT_EQ(p.recurrent_effective_bias[g][0], -64 + 2 * 7);
    // 0.25 * 0.5 * 4096 = 512 = 2^30 * 2^(s - 31) with s = 10.
    EXPECT_EQ(p.input_scale[g][0], (QuantizedMultiplier{1 << 30, 10}));
    EXPECT_EQ(p.recurrent_scale[g][0], (QuantizedMultiplier{1 << 30, 5}));  // 0.5 / 128 * 4096 = 16
  }
  EXPECT_EQ(p.output_scale, (QuantizedMultiplier{1 << 30, -7}));  // 2^-15 * 128 = 2^-8
  EXPECT_EQ(PwlEvaluate(p.pwl_sigmoid, 0), 16384);
  EXPECT_EQ(PwlEvaluate(p.pwl_tanh, 0), 0);
  EXPECT_NEAR(PwlEvaluate(p.pwl_tanh, 4096), 24956, 1);  // tanh(1) * 2^15 = 24955.9
  q.input_weight_scale[1].clear();
  EXPECT_NE(DeriveGruParams(q, &p).message().find("gate [z] must have n_hidden = 1 elements"), std::string::npos);
  q.input_weight_scale[1] = {0.25};
  q.output_scale = 0;
  EXPECT_FALSE(DeriveGruParams(q, &p).ok());
}

// ---- The GRU language model and its file -------------------------------------------------------------

GruLanguageModelParams RandomGruLm(uint32_t seed, int vocab, int dim, int layers) {
  std::mt19937 rng(seed);
  GruLanguageModelParams p;
  p.embedding.vocab = vocab;
  p.embedding.dim = dim;
  p.embedding.table = RandomInt8(static_cast<size_t>(vocab) * dim, seed + 1);
  p.embedding.zero_point = 3;
  for (int l = 0; l < layers; ++l) {
    p.gru.push_back(testing::MakeRandomGru(seed + 10 + l, dim, dim, Rounding::kDouble, false).params);
  }
  p.decoder.n_in = dim;
  p.decoder.n_out = vocab;
  p.decoder.weights = RandomInt8(static_cast<size_t>(vocab) * dim, seed + 2);
  for (int r = 0; r < vocab; ++r) {
    p.decoder.effective_bias.push_back(static_cast<int32_t>(rng() % 20001) - 10000);
    p.decoder.channel_scale.push_back({static_cast<int32_t>((1u << 30) + rng() % (1u << 30)), -3});
  }
  return p;
}

TEST(GruLanguageModel, RunEqualsStepsAndBadTokensChangeNothing) {
  const GruLanguageModelParams p = RandomGruLm(40, 23, 12, 2);
  std::unique_ptr<GruLanguageModel> lm;
  ASSERT_TRUE(GruLanguageModel::Create(p, KernelPath::kAuto, &lm).ok());
  const int batch = 3, steps = 5;
  std::vector<int32_t> tokens(steps * batch);
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<int32_t>((i * 7) % 23);
  GruLanguageModelState a, b;
  ASSERT_TRUE(lm->NewState(batch, &a).ok());
  ASSERT_TRUE(lm->NewState(batch, &b).ok());
  std::vector<int32_t> whole(steps * batch * 23), stepped(steps * batch * 23);
  ASSERT_TRUE(lm->Run(tokens.data(), steps, &a, whole.data()).ok());
  for (int t = 0; t < steps; ++t) {
    ASSERT_TRUE(lm->Step(tokens.data() + t * batch, &b, stepped.data() + t * batch * 23).ok());
  }
  EXPECT_EQ(whole, stepped);
  const std::vector<int16_t> h16 = a.gru(1).h16();
  std::vector<int32_t> bad = {1, 23, 2};
  const Status s = lm->Step(bad.data(), &a, whole.data());
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("23"), std::string::npos) << s.message();
  EXPECT_EQ(a.gru(1).h16(), h16);
  // The chain is checked.
  GruLanguageModelParams q = p;
  q.decoder.n_in = 11;
  q.decoder.weights.resize(23 * 11);
  EXPECT_NE(ValidateGruLanguageModelParams(q).message().find("decoder.n_in is 11 but must equal gru[1].config.n_hidden = 12"),
            std::string::npos);
}

TEST(GruModelFile, RoundTripsBitForBit) {
  const GruLanguageModelParams p = RandomGruLm(50, 17, 9, 2);
  Model m;
  ASSERT_TRUE(ModelFromGruLanguageModel(p, &m).ok());
  EXPECT_EQ(m.layers[1].name, "gru0");
  EXPECT_STREQ(LayerKindName(LayerKind::kGru), "gru");
  std::string bytes;
  ASSERT_TRUE(SerializeModel(m, &bytes).ok());
  Model back;
  const Status s = ParseModel(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), &back, "m.irnn");
  ASSERT_TRUE(s.ok()) << s.message();
  GruLanguageModelParams q;
  ASSERT_TRUE(GruLanguageModelFromModel(back, &q).ok());
  ASSERT_EQ(q.gru.size(), 2u);
  for (size_t l = 0; l < 2; ++l) {
    for (int g = 0; g < 3; ++g) {
      EXPECT_EQ(q.gru[l].input_weights[g], p.gru[l].input_weights[g]);
      EXPECT_EQ(q.gru[l].recurrent_weights[g], p.gru[l].recurrent_weights[g]);
      EXPECT_EQ(q.gru[l].input_effective_bias[g], p.gru[l].input_effective_bias[g]);
      EXPECT_EQ(q.gru[l].recurrent_effective_bias[g], p.gru[l].recurrent_effective_bias[g]);
      EXPECT_EQ(q.gru[l].input_scale[g], p.gru[l].input_scale[g]);
      EXPECT_EQ(q.gru[l].recurrent_scale[g], p.gru[l].recurrent_scale[g]);
    }
    EXPECT_EQ(q.gru[l].output_scale, p.gru[l].output_scale);
    EXPECT_EQ(q.gru[l].output_zp, p.gru[l].output_zp);
    EXPECT_EQ(q.gru[l].pwl_tanh.knot, p.gru[l].pwl_tanh.knot);
    EXPECT_EQ(q.gru[l].pwl_sigmoid.intercept, p.gru[l].pwl_sigmoid.intercept);
  }
  // An LSTM language model reader refuses a GRU file with a clear message, and vice versa.
  LanguageModelParams lstm;
  const Status wrong = LanguageModelFromModel(back, &lstm);
  EXPECT_NE(wrong.message().find("is a \"gru\" layer but must be a \"tflite_lstm\" layer"), std::string::npos)
      << wrong.message();
}

// Serializes a one-GRU model, lets `edit` change its graph JSON text or tensors, and expects `fragment`.
void ExpectBadGraph(const std::string& from, const std::string& to, const std::string& fragment) {
  Model m;
  m.layers.emplace_back();
  m.layers[0].name = "g";
  m.layers[0].kind = LayerKind::kGru;
  m.layers[0].gru = testing::MakeRandomGru(60, 3, 4, Rounding::kDouble, false).params;
  std::string bytes;
  ASSERT_TRUE(SerializeModel(m, &bytes).ok());
  const size_t at = bytes.find(from);
  ASSERT_NE(at, std::string::npos) << from;
  ASSERT_EQ(from.size(), to.size()) << "edits keep the header length";
  bytes.replace(at, from.size(), to);
  Model back;
  const Status s = ParseModel(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), &back, "bad.irnn");
  EXPECT_FALSE(s.ok()) << from << " -> " << to;
  EXPECT_NE(s.message().find(fragment), std::string::npos) << s.message();
}

TEST(GruModelFile, MalformedFilesGetClearErrors) {
  // Each edit keeps the byte length so that the header stays consistent.
  ExpectBadGraph("\\\"n_hidden\\\":4", "\\\"n_hidden\\\":5", "g.input_weights.r");
  ExpectBadGraph("\\\"n_hidden\\\":4", "\\\"n_hiddex\\\":4", "config.n_hidden is missing");
  ExpectBadGraph("\\\"rounding\\\":\\\"double\\\"", "\\\"rounding\\\":\\\"doubly\\\"", "config.rounding");
  ExpectBadGraph("\\\"type\\\":\\\"gru\\\"", "\\\"type\\\":\\\"grx\\\"", "type");
  ExpectBadGraph("\\\"output_zp\\\":", "\\\"output_zq\\\":", "params.output_zp is missing");
  ExpectBadGraph("\"g.recurrent_weights.z\"", "\"g.recurrent_weights.q\"", "g.recurrent_weights.z");
  ExpectBadGraph("\"g.pwl_tanh.knot\"", "\"g.pwl_tanh.kno_\"", "g.pwl_tanh.knot");
}

}  // namespace
}  // namespace irnn
