// sim == int: the libtorch re-implementation of the integer runtime (src/train/sim.h) against the
// runtime itself, bit for bit. Primitives on edge and random values, the fixed-point tables over all
// 65,536 inputs for every integer-bit count, PWL tables, LayerNorm rows, hundreds of random LSTM
// configurations run for several steps (fixed-point and PWL activations, per-channel multipliers,
// random initial states), and TFLite's own golden vectors. Every mismatch is printed with its seed or
// case and index.

#include "train/sim.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core/fixed_point.h"
#include "core/fixed_point_math.h"
#include "core/inv_sqrt.h"
#include "irnn/pwl.h"
#include "irnn/tflite_lstm.h"
#include "kernels/lstm_kernels.h"
#include "support/golden.h"
#include "support/random_lstm.h"

namespace irnn::train::sim {
namespace {

using torch::Tensor;

constexpr int32_t kI32Min = std::numeric_limits<int32_t>::min();
constexpr int32_t kI32Max = std::numeric_limits<int32_t>::max();

template <typename T>
Tensor FromVector(const std::vector<T>& v) {
  Tensor t = torch::empty({static_cast<int64_t>(v.size())}, torch::kInt64);
  int64_t* p = t.data_ptr<int64_t>();
  for (size_t i = 0; i < v.size(); ++i) p[i] = static_cast<int64_t>(v[i]);
  return t;
}

std::vector<int64_t> ToVector(const Tensor& t) {
  const Tensor c = t.to(torch::kCPU).to(torch::kInt64).contiguous().reshape({-1});
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

// Compares want (runtime) with got (sim); one failure listing up to 8 mismatches. True when equal.
template <typename T>
bool ExpectSame(const std::vector<T>& want, const Tensor& got_t, const std::string& what) {
  const std::vector<int64_t> got = ToVector(got_t);
  if (want.size() != got.size()) {
    ADD_FAILURE() << what << ": sim has " << got.size() << " values but the runtime " << want.size();
    return false;
  }
  std::ostringstream msg;
  int64_t bad = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    if (static_cast<int64_t>(want[i]) != got[i]) {
      if (bad < 8) msg << "\n  [" << i << "] runtime " << static_cast<int64_t>(want[i]) << " sim " << got[i];
      ++bad;
    }
  }
  if (bad > 0) ADD_FAILURE() << what << ": " << bad << " of " << want.size() << " values differ" << msg.str();
  return bad == 0;
}

// n uniform int8 values as an int64 tensor.
Tensor RandomInt8s(std::mt19937_64& rng, size_t n) {
  std::vector<int64_t> v(n);
  std::uniform_int_distribution<int> d(-128, 127);
  for (auto& x : v) x = d(rng);
  return FromVector(v);
}

Tensor AllInt16() { return torch::arange(-32768, 32768, torch::kInt64); }

// Edge-heavy int32 values plus random ones over the whole range and near zero.
std::vector<int32_t> EdgeAndRandomInt32(std::mt19937_64& rng, int random_count) {
  std::vector<int32_t> v = {kI32Min, kI32Min + 1, kI32Min + 2, -(1 << 30) - 1, -(1 << 30), -(1 << 30) + 1,
                            -65537,  -65536,      -32769,      -32768,         -32767,     -16384,
                            -2,      -1,          0,           1,              2,          16383,
                            16384,   32767,       32768,       65535,          65536,      (1 << 30) - 1,
                            1 << 30, (1 << 30) + 1, kI32Max - 1, kI32Max};
  for (int e = 0; e < 31; ++e) {
    v.push_back(1 << e);
    v.push_back(-(1 << e));
    v.push_back((1 << e) + 1);
    v.push_back(-(1 << e) - 1);
    v.push_back(3 << std::min(e, 29));  // ties at many shifts
    v.push_back(-(3 << std::min(e, 29)));
  }
  std::uniform_int_distribution<int32_t> full(kI32Min, kI32Max);
  std::uniform_int_distribution<int32_t> small(-100000, 100000);
  for (int i = 0; i < random_count; ++i) v.push_back(i % 2 == 0 ? full(rng) : small(rng));
  return v;
}

// --- (a) fixed-point tables ---------------------------------------------------------------------------

TEST(SimFixedPoint, LogisticAndTanhTablesEqualRuntimeOnAllInputsForEveryIntegerBitCount) {
  for (int k = 0; k <= 6; ++k) {
    std::vector<int16_t> logistic(65536), tanh(65536);
    for (int a = -32768; a < 32768; ++a) {
      logistic[a + 32768] = irnn::LogisticQ15(static_cast<int16_t>(a), k);
      tanh[a + 32768] = irnn::TanhQ15(static_cast<int16_t>(a), k);
    }
    const Tensor lt = LogisticQ15Table(k, torch::kCPU);
    const Tensor tt = TanhQ15Table(k, torch::kCPU);
    ExpectSame(logistic, lt, "logistic table k=" + std::to_string(k));
    ExpectSame(tanh, tt, "tanh table k=" + std::to_string(k));
    // The elementwise functions and a lookup through the table agree too.
    ExpectSame(logistic, LogisticQ15(AllInt16(), k), "LogisticQ15 k=" + std::to_string(k));
    ExpectSame(tanh, LookupS16(tt, AllInt16()), "LookupS16(tanh) k=" + std::to_string(k));
    // Not vacuous: the tables span the Q0.15 range.
    EXPECT_GT(lt.max().item<int64_t>() - lt.min().item<int64_t>(), 5000) << k;
    EXPECT_GT(tt.max().item<int64_t>(), 24000) << k;  // tanh(1) for k = 0
    EXPECT_LT(tt.min().item<int64_t>(), -24000) << k;
  }
}

TEST(SimFixedPoint, ExpOnNegativeValuesEqualsRuntimeOnAllInputs) {
  for (int k = 0; k <= 7; ++k) {
    std::vector<int16_t> want(65536);
    for (int a = -32768; a < 32768; ++a) want[a + 32768] = irnn::ExpOnNegativeValuesQ15(static_cast<int16_t>(a), k);
    // Positive inputs are outside the contract but run the same wrapping arithmetic: compare them too.
    ExpectSame(want, ExpOnNegativeValuesQ15(AllInt16(), k), "exp k=" + std::to_string(k));
  }
}

TEST(SimFixedPoint, RejectsIntegerBitsOutOfRange) {
  EXPECT_THROW(LogisticQ15(AllInt16(), 7), std::invalid_argument);
  EXPECT_THROW(TanhQ15Table(-1, torch::kCPU), std::invalid_argument);
  EXPECT_THROW(ExpOnNegativeValuesQ15(AllInt16(), 8), std::invalid_argument);
}

// --- (b) primitives -------------------------------------------------------------------------------------

TEST(SimPrimitives, SaturateAndWrap) {
  const std::vector<int64_t> v = {-(int64_t{1} << 40), int64_t{kI32Min} - 1, kI32Min, -32769, -32768, -129, -128,
                                  0, 127, 128, 32767, 32768, 65535, 65536, kI32Max, int64_t{kI32Max} + 1,
                                  int64_t{1} << 40};
  std::vector<int64_t> s8, s16, s32, w16, w32;
  for (int64_t x : v) {
    s8.push_back(std::clamp<int64_t>(x, -128, 127));
    s16.push_back(std::clamp<int64_t>(x, -32768, 32767));
    s32.push_back(std::clamp<int64_t>(x, kI32Min, kI32Max));
    w16.push_back(static_cast<int16_t>(static_cast<uint16_t>(static_cast<uint64_t>(x))));
    w32.push_back(static_cast<int32_t>(static_cast<uint32_t>(static_cast<uint64_t>(x))));
  }
  const Tensor t = FromVector(v);
  ExpectSame(s8, SaturateToInt8(t), "sat8");
  ExpectSame(s16, SaturateToInt16(t), "sat16");
  ExpectSame(s32, SaturateToInt32(t), "sat32");
  ExpectSame(w16, Wrap16(t), "wrap16");
  ExpectSame(w32, Wrap32(t), "wrap32");
}

TEST(SimPrimitives, RoundingDivideByPOTEqualsRuntimeForEveryExponent) {
  std::mt19937_64 rng(11);
  const std::vector<int32_t> xs = EdgeAndRandomInt32(rng, 2000);
  const Tensor x = FromVector(xs);
  std::vector<int32_t> all_want;
  std::vector<int64_t> all_e;
  for (int e = 0; e <= 31; ++e) {
    std::vector<int32_t> want;
    for (int32_t v : xs) want.push_back(irnn::RoundingDivideByPOT(v, e));
    ExpectSame(want, RoundingDivideByPOT(x, e), "RoundingDivideByPOT e=" + std::to_string(e));
    all_want.insert(all_want.end(), want.begin(), want.end());
    all_e.insert(all_e.end(), xs.size(), e);
  }
  // Per-element exponents.
  ExpectSame(all_want, RoundingDivideByPOT(x.repeat({32}), FromVector(all_e)), "RoundingDivideByPOT tensor exponent");
}

TEST(SimPrimitives, SaturatingRoundingDoublingHighMulEqualsRuntime) {
  std::mt19937_64 rng(12);
  const std::vector<int32_t> edges = EdgeAndRandomInt32(rng, 200);
  std::vector<int32_t> a, b, want;
  for (int32_t x : edges) {
    for (int32_t y : edges) {
      a.push_back(x);
      b.push_back(y);
      want.push_back(irnn::SaturatingRoundingDoublingHighMul(x, y));
    }
  }
  ExpectSame(want, SaturatingRoundingDoublingHighMul(FromVector(a), FromVector(b)), "SRDHM32 tensor x tensor");
  for (int32_t y : {kI32Min, kI32Min + 1, -1, 0, 1, 1 << 30, kI32Max}) {
    std::vector<int32_t> w;
    for (int32_t x : edges) w.push_back(irnn::SaturatingRoundingDoublingHighMul(x, y));
    ExpectSame(w, SaturatingRoundingDoublingHighMul(FromVector(edges), y), "SRDHM32 scalar " + std::to_string(y));
  }
  // int16: every a against edge and random b.
  std::vector<int16_t> bs = {-32768, -32767, -16385, -16384, -1, 0, 1, 16384, 32767};
  std::uniform_int_distribution<int> d16(-32768, 32767);
  for (int i = 0; i < 23; ++i) bs.push_back(static_cast<int16_t>(d16(rng)));
  for (int16_t y : bs) {
    std::vector<int16_t> w;
    for (int x = -32768; x < 32768; ++x) w.push_back(irnn::SaturatingRoundingDoublingHighMul16(static_cast<int16_t>(x), y));
    ExpectSame(w, SaturatingRoundingDoublingHighMul16(AllInt16(), y), "SRDHM16 scalar " + std::to_string(y));
    ExpectSame(w, SaturatingRoundingDoublingHighMul16(AllInt16(), torch::full({65536}, int64_t{y}, torch::kInt64)),
               "SRDHM16 tensor " + std::to_string(y));
  }
}

TEST(SimPrimitives, MultiplyByQuantizedMultiplierEqualsRuntimeBothRoundings) {
  std::mt19937_64 rng(13);
  const std::vector<int32_t> xs = EdgeAndRandomInt32(rng, 600);
  std::vector<int32_t> multipliers = {0, 1 << 30, (1 << 30) + 1, 1518500250, kI32Max - 1, kI32Max};
  std::uniform_int_distribution<int32_t> dm(1 << 30, kI32Max);
  for (int i = 0; i < 6; ++i) multipliers.push_back(dm(rng));
  const Tensor x = FromVector(xs);
  int64_t compared = 0;
  for (Rounding rounding : {Rounding::kDouble, Rounding::kSingle}) {
    const std::string rname = rounding == Rounding::kSingle ? "single" : "double";
    std::vector<int32_t> all_want;
    std::vector<int64_t> all_m, all_s;
    for (int32_t m : multipliers) {
      for (int s = -31; s <= 30; ++s) {
        std::vector<int32_t> want;
        for (int32_t v : xs) want.push_back(irnn::MultiplyByQuantizedMultiplier(v, {m, s}, rounding));
        ExpectSame(want, MultiplyByQuantizedMultiplier(x, QuantizedMultiplier{m, s}, rounding),
                   "MBQM " + rname + " M=" + std::to_string(m) + " s=" + std::to_string(s));
        all_want.insert(all_want.end(), want.begin(), want.end());
        all_m.insert(all_m.end(), xs.size(), m);
        all_s.insert(all_s.end(), xs.size(), s);
        compared += static_cast<int64_t>(xs.size());
      }
    }
    // Per-element multipliers and shifts (the per-channel path).
    const int64_t reps = static_cast<int64_t>(all_m.size() / xs.size());
    ExpectSame(all_want, MultiplyByQuantizedMultiplier(x.repeat({reps}), FromVector(all_m), FromVector(all_s), rounding),
               "MBQM per-element " + rname);
  }
  EXPECT_GT(compared, 100000);
  RecordProperty("values_compared", std::to_string(compared));
}

TEST(SimPrimitives, PerChannelRequantBroadcastsOverRows) {
  std::mt19937_64 rng(14);
  std::uniform_int_distribution<int32_t> dm(1 << 30, kI32Max), ds(-20, 5), dx(kI32Min, kI32Max);
  const int rows = 5, cols = 7;
  std::vector<QuantizedMultiplier> m(cols);
  for (auto& q : m) q = {dm(rng), ds(rng)};
  std::vector<int32_t> xs(rows * cols);
  for (auto& v : xs) v = dx(rng);
  for (Rounding rounding : {Rounding::kDouble, Rounding::kSingle}) {
    std::vector<int32_t> want;
    for (int r = 0; r < rows; ++r)
      for (int c = 0; c < cols; ++c) want.push_back(irnn::MultiplyByQuantizedMultiplier(xs[r * cols + c], m[c], rounding));
    ExpectSame(want, MultiplyByQuantizedMultiplier(FromVector(xs).view({rows, cols}), PerChannelRequant(m, torch::kCPU), rounding),
               "per-channel Requant");
  }
}

TEST(SimPrimitives, MatMulFloat64PathIsExact) {
  // Large K with extreme values: the float64 path (used on devices without int64 matmul) is exact.
  std::mt19937_64 rng(15);
  const Tensor x = RandomInt8s(rng, 3 * 70000).view({3, 70000});
  Tensor w = RandomInt8s(rng, 4 * 70000).view({4, 70000});
  w[0].fill_(-128);
  const Tensor xe = x.clone();
  xe[0].fill_(-128);
  EXPECT_TRUE(torch::equal(MatMulS8S8(xe, w), MatMulS8S8Float64(xe, w)));
  EXPECT_EQ(MatMulS8S8(xe, w)[0][0].item<int64_t>(), int64_t{128} * 128 * 70000);
  EXPECT_TRUE(torch::equal(MatMulS8S8(x, w), MatMulS8S8Float64(x, w)));
}

// --- (d) PWL evaluation -----------------------------------------------------------------------------------

// A random valid table: domain, knots, slopes, intercepts, shift and symmetry all drawn wide.
PwlTable RandomPwlTable(std::mt19937_64& rng) {
  auto uni = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  PwlTable t;
  const int64_t span = uni(0, 3) == 0 ? uni(1, 100) : (uni(0, 1) ? 65535 : uni(1000, int64_t{1} << 31));
  t.input_min = static_cast<int32_t>(uni(kI32Min, kI32Max - span));
  t.input_max = static_cast<int32_t>(t.input_min + span);
  t.odd = uni(0, 2) == 0;
  t.center_in = static_cast<int32_t>(uni(t.input_min, t.input_max));
  t.center2_out = static_cast<int32_t>(uni(-100000, 100000));
  t.shift = static_cast<int32_t>(uni(0, 30));
  t.output_min = static_cast<int32_t>(uni(kI32Min, 0));
  t.output_max = static_cast<int32_t>(uni(0, kI32Max));
  const int64_t start = t.odd ? t.center_in : t.input_min;
  const int pieces = static_cast<int>(std::min<int64_t>(uni(1, 40), t.input_max - start + 1));
  std::vector<int64_t> knots = {start};
  while (static_cast<int>(knots.size()) < pieces) {
    const int64_t k = uni(start + 1, t.input_max);
    if (std::find(knots.begin(), knots.end(), k) == knots.end()) knots.push_back(k);
  }
  std::sort(knots.begin(), knots.end());
  for (int64_t k : knots) {
    t.knot.push_back(static_cast<int32_t>(k));
    t.slope.push_back(static_cast<int32_t>(uni(0, 1) ? uni(kI32Min, kI32Max) : uni(-70000, 70000)));
    t.intercept.push_back(static_cast<int32_t>(uni(kI32Min, kI32Max)));
  }
  return t;
}

TEST(SimPwl, RandomTablesEqualPwlEvaluate) {
  std::mt19937_64 rng(21);
  int64_t compared = 0;
  for (int n = 0; n < 300; ++n) {
    const PwlTable t = RandomPwlTable(rng);
    ASSERT_TRUE(ValidatePwlTable(t).ok()) << n << ": " << ValidatePwlTable(t).message();
    std::vector<int32_t> q = EdgeAndRandomInt32(rng, 400);
    for (int32_t k : t.knot) {
      for (int64_t d : {-1, 0, 1}) q.push_back(static_cast<int32_t>(std::clamp<int64_t>(k + d, kI32Min, kI32Max)));
    }
    for (int64_t v : {int64_t{t.input_min}, int64_t{t.input_max}, int64_t{t.center_in}, int64_t{t.center_in} - 1,
                      int64_t{t.center_in} + 1}) {
      q.push_back(static_cast<int32_t>(std::clamp<int64_t>(v, kI32Min, kI32Max)));
    }
    std::uniform_int_distribution<int64_t> in_domain(t.input_min, t.input_max);
    for (int i = 0; i < 400; ++i) q.push_back(static_cast<int32_t>(in_domain(rng)));
    std::vector<int32_t> want;
    for (int32_t v : q) want.push_back(irnn::PwlEvaluate(t, v));
    if (!ExpectSame(want, EvaluatePwl(t, FromVector(q)), "random PWL table " + std::to_string(n))) return;
    compared += static_cast<int64_t>(q.size());
  }
  RecordProperty("values_compared", std::to_string(compared));
}

TEST(SimPwl, FittedLstmTablesEqualPwlEvaluateOnAllInt16Inputs) {
  for (int cs = -15; cs <= -9; cs += 3) {
    TfliteLstmParams p = testing::MakeRandomLstm(40 + cs).params;
    p.cell_scale = cs;
    p.config.activation = LstmActivation::kPwl;
    ASSERT_TRUE(FitTfliteLstmPwlTables(/*optimal=*/cs % 2 == 0, 1.0, &p).ok());
    for (const PwlTable* t : {&p.pwl_sigmoid, &p.pwl_tanh_gate, &p.pwl_tanh_cell}) {
      std::vector<int32_t> want;
      for (int a = -32768; a < 32768; ++a) want.push_back(irnn::PwlEvaluate(*t, a));
      ExpectSame(want, EvaluatePwl(*t, AllInt16()), "fitted table, cs " + std::to_string(cs));
    }
  }
}

// --- (e) LayerNorm ---------------------------------------------------------------------------------------

TEST(SimLayerNorm, InvSqrtEqualsRuntime) {
  std::mt19937_64 rng(31);
  std::vector<int32_t> v = {kI32Min, -5, -1, 0, 1, 2, 3, 4, 5, 7, 8, 9, (1 << 27) - 1, 1 << 27, (1 << 29) - 1,
                            1 << 29, (1 << 29) + 1, (1 << 30) - 1, 1 << 30, kI32Max - 1, kI32Max};
  for (int e = 1; e < 31; ++e) {
    v.push_back(1 << e);
    v.push_back((1 << e) - 1);
    v.push_back((1 << e) + 1);
  }
  std::uniform_int_distribution<int32_t> full(1, kI32Max), small(1, 100000);
  for (int i = 0; i < 20000; ++i) v.push_back(i % 2 ? full(rng) : small(rng));
  std::vector<int32_t> want_m, want_s;
  for (int32_t x : v) {
    const QuantizedMultiplier q = irnn::InvSqrtQuantizedMultiplier(x);
    want_m.push_back(q.multiplier);
    want_s.push_back(q.shift);
  }
  const auto got = InvSqrtQuantizedMultiplier(FromVector(v));
  ExpectSame(want_m, got.first, "InvSqrt multiplier");
  ExpectSame(want_s, got.second, "InvSqrt shift");
}

TEST(SimLayerNorm, RowsEqualRuntimeKernel) {
  std::mt19937_64 rng(32);
  auto uni = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  const auto& kernels = irnn::reference::LstmKernelTable();
  int64_t compared = 0;
  for (int n : {1, 2, 3, 4, 5, 7, 8, 16, 17, 31, 32, 33, 64, 100, 128, 1000, 1024}) {
    for (int trial = 0; trial < 8; ++trial) {
      const int rows = static_cast<int>(uni(1, 6));
      std::vector<int16_t> v(static_cast<size_t>(rows) * n), w(n);
      std::vector<int32_t> bias(n);
      const int64_t range = trial % 4 == 0 ? 32768 : (trial % 4 == 1 ? 300 : (trial % 4 == 2 ? 3 : 0));
      for (auto& x : v) x = static_cast<int16_t>(std::clamp<int64_t>(uni(-range, range), -32768, 32767));
      if (trial == 7) std::fill(v.begin(), v.begin() + n, int16_t{-32768});  // extreme constant row
      for (auto& x : w) x = static_cast<int16_t>(uni(-32768, 32767));
      for (auto& x : bias) x = static_cast<int32_t>(trial % 2 ? uni(kI32Min, kI32Max) : uni(-40000, 40000));
      const QuantizedMultiplier scale{static_cast<int32_t>(uni(int64_t{1} << 30, kI32Max)),
                                      static_cast<int32_t>(uni(-30, 10))};
      const int32_t guard = static_cast<int32_t>(uni(1, 1000));
      for (bool exact : {false, true}) {
        for (Rounding rounding : {Rounding::kDouble, Rounding::kSingle}) {
          std::vector<int16_t> want(v.size());
          kernels.LayerNormS16(v.data(), w.data(), bias.data(), n, rows, scale, guard, exact, rounding, want.data());
          const Tensor got = LayerNormS16(FromVector(v).view({rows, n}), FromVector(w), FromVector(bias), scale, guard,
                                          exact, rounding);
          ExpectSame(want, got,
                     "LayerNorm n=" + std::to_string(n) + " trial " + std::to_string(trial) +
                         (exact ? " exact" : " tflite") + (rounding == Rounding::kSingle ? " single" : " double"));
          compared += static_cast<int64_t>(v.size());
        }
      }
    }
  }
  RecordProperty("values_compared", std::to_string(compared));
}

// --- (c), (d) random LSTMs -------------------------------------------------------------------------------

// Runs r on the runtime's scalar path and on sim, step by step from the same initial state; compares
// out, h, c and the trace at every step. Returns the number of values compared (0 after a failure).
int64_t CompareLstm(const testing::RandomLstm& r, const TfliteLstmParams& params, bool random_state,
                    std::mt19937_64& rng) {
  std::unique_ptr<TfliteLstm> lstm;
  const Status s = TfliteLstm::Create(params, KernelPath::kScalar, &lstm);
  if (!s.ok()) {
    ADD_FAILURE() << r.description << ": " << s.message();
    return 0;
  }
  const TfliteLstmConfig& cfg = params.config;
  TfliteLstmState state;
  EXPECT_TRUE(lstm->NewState(r.batch, &state).ok());
  const SimTfliteLstm model = PrepareSimTfliteLstm(params, torch::kCPU);
  auto init = SimTfliteLstmInitialState(model, r.batch);
  if (random_state) {
    std::uniform_int_distribution<int> d8(-128, 127), d16(-32768, 32767);
    for (auto& v : state.h()) v = static_cast<int8_t>(d8(rng));
    for (auto& v : state.c()) v = static_cast<int16_t>(d16(rng));
    init.first = FromVector(state.h()).view({r.batch, cfg.n_output});
    init.second = FromVector(state.c()).view({r.batch, cfg.n_cell});
  } else {
    if (!ExpectSame(state.h(), init.first, r.description + " initial h")) return 0;
    if (!ExpectSame(state.c(), init.second, r.description + " initial c")) return 0;
  }
  Tensor h = init.first, c = init.second;
  const Tensor x_all = FromVector(r.input).view({r.steps, r.batch, cfg.n_input});
  std::vector<int8_t> out(static_cast<size_t>(r.batch) * cfg.n_output);
  std::vector<int8_t> all_out;
  int64_t compared = 0;
  for (int t = 0; t < r.steps; ++t) {
    TfliteLstmTrace trace;
    EXPECT_TRUE(lstm->Step(r.input.data() + static_cast<size_t>(t) * r.batch * cfg.n_input, &state, out.data(), &trace)
                    .ok());
    SimLstmTrace st;
    const SimLstmStep step = SimTfliteLstmStep(model, x_all[t], h, c, &st);
    const std::string at = r.description + " step " + std::to_string(t);
    bool ok = true;
    static constexpr const char* kGate[4] = {"input", "forget", "cell", "output"};
    for (int g = 0; g < 4; ++g) {
      if (cfg.use_cifg && g == kInputGate) continue;
      ok = ExpectSame(trace.gate_preact[g], st.gate_preact[g], at + " " + kGate[g] + " pre-activation") && ok;
      ok = ExpectSame(trace.gate[g], st.gate[g], at + " " + kGate[g] + " gate") && ok;
    }
    ok = ExpectSame(trace.tanh_cell, st.tanh_cell, at + " tanh(c)") && ok;
    if (cfg.use_projection) ok = ExpectSame(trace.hidden, st.hidden, at + " pre-projection hidden") && ok;
    ok = ExpectSame(out, step.out, at + " out") && ok;
    ok = ExpectSame(state.h(), step.h, at + " h") && ok;
    ok = ExpectSame(state.c(), step.c, at + " c") && ok;
    if (!ok) return 0;
    compared += static_cast<int64_t>(out.size() * 2 + state.c().size());
    all_out.insert(all_out.end(), out.begin(), out.end());
    h = step.h;
    c = step.c;
  }
  // The sequence API gives the same.
  const SimLstmSequence seq = SimTfliteLstmSequence(model, x_all, init.first, init.second);
  if (!ExpectSame(all_out, seq.out, r.description + " sequence out") ||
      !ExpectSame(state.c(), seq.c, r.description + " sequence final c")) {
    return 0;
  }
  return compared;
}

// Gives every matmul of params its own per-row multipliers near the per-tensor one (numerics.md §7.1).
void AddPerChannelScales(TfliteLstmParams* p, std::mt19937_64& rng) {
  auto jitter = [&](QuantizedMultiplier m, size_t n) {
    std::vector<QuantizedMultiplier> v(n);
    std::uniform_int_distribution<int32_t> dm(1 << 30, kI32Max);
    std::uniform_int_distribution<int> ds(-1, 1);
    for (auto& q : v) q = {dm(rng), std::clamp(m.shift + ds(rng), -31, 30)};
    return v;
  };
  const TfliteLstmConfig& c = p->config;
  for (int g = 0; g < 4; ++g) {
    if (c.use_cifg && g == kInputGate) continue;
    if (rng() % 2) p->input_to_gate_channel_scale[g] = jitter(p->input_to_gate_scale[g], c.n_cell);
    if (rng() % 2) p->recurrent_to_gate_channel_scale[g] = jitter(p->recurrent_to_gate_scale[g], c.n_cell);
  }
  if (c.use_projection) p->projection_channel_scale = jitter(p->projection_scale, c.n_output);
}

TEST(SimLstm, RandomConfigurationsEqualRuntimeStepByStep) {
  std::mt19937_64 rng(41);
  int configs = 0;
  int64_t compared = 0;
  int with_random_state = 0, per_channel = 0;
  for (uint64_t seed = 0; seed < 320; ++seed) {
    const testing::RandomLstm r = testing::MakeRandomLstm(seed);
    TfliteLstmParams params = r.params;
    const bool random_state = seed % 3 == 1;
    if (seed % 4 == 3) {
      AddPerChannelScales(&params, rng);
      ++per_channel;
    }
    const int64_t n = CompareLstm(r, params, random_state, rng);
    if (n == 0) {
      ADD_FAILURE() << "stopping at the first failing configuration: " << r.description;
      return;
    }
    compared += n;
    with_random_state += random_state ? 1 : 0;
    ++configs;
  }
  EXPECT_EQ(configs, 320);
  EXPECT_GT(with_random_state, 50);
  EXPECT_GT(per_channel, 50);
  RecordProperty("values_compared", std::to_string(compared));
}

TEST(SimLstm, PwlActivationLstmsEqualRuntime) {
  std::mt19937_64 rng(42);
  int64_t compared = 0;
  for (uint64_t seed = 1000; seed < 1012; ++seed) {
    const testing::RandomLstm r = testing::MakeRandomLstm(seed, 24, 3, 8);
    TfliteLstmParams params = r.params;
    params.config.activation = LstmActivation::kPwl;
    ASSERT_TRUE(FitTfliteLstmPwlTables(/*optimal=*/seed % 2 == 0, seed % 3 == 0 ? 2.0 : 1.0, &params).ok());
    const int64_t n = CompareLstm(r, params, seed % 2 == 1, rng);
    ASSERT_GT(n, 0) << "PWL " << r.description;
    compared += n;
  }
  RecordProperty("values_compared", std::to_string(compared));
}

TEST(SimLstm, ConvenienceOverloadsEqualPreparedModel) {
  const testing::RandomLstm r = testing::MakeRandomLstm(9, 20, 3, 6);
  const TfliteLstmConfig& cfg = r.params.config;
  const SimTfliteLstm model = PrepareSimTfliteLstm(r.params, torch::kCPU);
  const auto init = SimTfliteLstmInitialState(model, r.batch);
  const Tensor x = FromVector(r.input).view({r.steps, r.batch, cfg.n_input});
  const SimLstmSequence a = SimTfliteLstmSequence(model, x, init.first, init.second);
  const SimLstmSequence b = SimTfliteLstmSequence(r.params, x, init.first, init.second);
  EXPECT_TRUE(torch::equal(a.out, b.out));
  EXPECT_TRUE(torch::equal(a.c, b.c));
  const SimLstmStep s = SimTfliteLstmStep(r.params, x[0], init.first, init.second);
  EXPECT_TRUE(torch::equal(s.out, a.out[0]));
  // int8 / int16 input dtypes are accepted and give the same.
  const SimLstmStep t = SimTfliteLstmStep(model, x[0].to(torch::kInt8), init.first.to(torch::kInt8),
                                          init.second.to(torch::kInt16));
  EXPECT_TRUE(torch::equal(t.out, s.out));
  EXPECT_TRUE(torch::equal(t.c, s.c));
}

TEST(SimLstm, RejectsBadShapes) {
  const testing::RandomLstm r = testing::MakeRandomLstm(7);
  const SimTfliteLstm model = PrepareSimTfliteLstm(r.params, torch::kCPU);
  const auto init = SimTfliteLstmInitialState(model, 2);
  const Tensor x = torch::zeros({2, r.params.config.n_input + 1}, torch::kInt64);
  EXPECT_THROW(SimTfliteLstmStep(model, x, init.first, init.second), std::invalid_argument);
  TfliteLstmParams bad = r.params;
  bad.weights.recurrent_to_gate[kForgetGate].pop_back();
  EXPECT_THROW(PrepareSimTfliteLstm(bad, torch::kCPU), std::invalid_argument);
}

// --- (f) TFLite golden vectors -----------------------------------------------------------------------------

template <typename T>
std::vector<T> JsonInts(const nlohmann::json& v) {
  std::vector<T> out;
  for (const auto& x : v) out.push_back(static_cast<T>(x.get<int64_t>()));
  return out;
}

void RunGoldenFolder(const std::string& sub, const std::string& prefix) {
  const std::string folder = testing::SharedDir() + "/golden/" + sub;
  static constexpr const char* kGate[4] = {"input", "forget", "cell", "output"};
  int cases = 0;
  int64_t compared = 0;
  for (const std::string& file : testing::ListGoldenCases(folder, prefix)) {
    const testing::GoldenLstmCase gc = testing::LoadGoldenLstmCase(folder + "/" + file);
    const TfliteLstmConfig& cfg = gc.config;
    const SimTfliteLstm model = PrepareSimTfliteLstm(testing::ParamsFromGolden(gc), torch::kCPU);
    Tensor h = FromVector(gc.output_state_init).view({gc.n_batch, cfg.n_output});
    Tensor c = FromVector(gc.cell_state_init).view({gc.n_batch, cfg.n_cell});
    const Tensor x = FromVector(gc.input).view({gc.n_steps, gc.n_batch, cfg.n_input});
    ASSERT_EQ(gc.expected_output.size(), static_cast<size_t>(gc.n_steps)) << gc.name;
    for (int t = 0; t < gc.n_steps; ++t) {
      SimLstmTrace st;
      const SimLstmStep step = SimTfliteLstmStep(model, x[t], h, c, &st);
      const std::string at = sub + "/" + gc.name + " step " + std::to_string(t);
      const nlohmann::json& tr = gc.trace.at(t);
      bool ok = true;
      for (int g = 0; g < 4; ++g) {
        if (cfg.use_cifg && g == kInputGate) continue;
        ok = ExpectSame(JsonInts<int16_t>(tr.at(std::string(kGate[g]) + "_gate_preact")), st.gate_preact[g],
                        at + " " + kGate[g] + "_gate_preact") && ok;
        ok = ExpectSame(JsonInts<int16_t>(tr.at(std::string(kGate[g]) + "_gate")), st.gate[g],
                        at + " " + kGate[g] + "_gate") && ok;
      }
      ok = ExpectSame(JsonInts<int16_t>(tr.at("tanh_cell")), st.tanh_cell, at + " tanh_cell") && ok;
      if (cfg.use_projection) {
        ok = ExpectSame(JsonInts<int8_t>(tr.at("hidden_int8_negzp")), st.hidden, at + " hidden_int8_negzp") && ok;
      }
      ok = ExpectSame(gc.expected_output[t], step.out, at + " output") && ok;
      ok = ExpectSame(gc.expected_cell[t], step.c, at + " cell") && ok;
      ASSERT_TRUE(ok) << "stopping " << gc.name << " at the first failing step";
      compared += static_cast<int64_t>(gc.expected_output[t].size() + gc.expected_cell[t].size());
      h = step.h;
      c = step.c;
    }
    ++cases;
  }
  EXPECT_GT(cases, 0);
  EXPECT_GT(compared, 0);
  ::testing::Test::RecordProperty("cases", std::to_string(cases));
  ::testing::Test::RecordProperty("values_compared", std::to_string(compared));
}

TEST(SimGolden, TfliteDoubleRoundingCases) { RunGoldenFolder("tflite_lstm_8x8_16", "c"); }
TEST(SimGolden, TfliteSingleRoundingCases) { RunGoldenFolder("tflite_lstm_8x8_16_single_rounding", "s"); }

// --- §7.2, §7.3 Embedding and Linear ------------------------------------------------------------------------

TEST(SimLayers, EmbeddingCopiesRowsAndRejectsBadTokens) {
  std::mt19937_64 rng(52);
  const Tensor table = RandomInt8s(rng, 60).view({10, 6});
  const Tensor tokens = torch::tensor({3, 0, 9, 3}, torch::kInt64).view({2, 2});
  const Tensor out = EmbeddingLookup(table, tokens);
  ASSERT_EQ(out.sizes(), (std::vector<int64_t>{2, 2, 6}));
  EXPECT_TRUE(torch::equal(out[0][0], table[3]));
  EXPECT_TRUE(torch::equal(out[1][0], table[9]));
  EXPECT_TRUE(torch::equal(out[1][1], table[3]));
  EXPECT_THROW(EmbeddingLookup(table, torch::tensor({10}, torch::kInt64)), std::invalid_argument);
  EXPECT_THROW(EmbeddingLookup(table, torch::tensor({-1}, torch::kInt64)), std::invalid_argument);
}

TEST(SimLayers, LinearToLogitsEqualsRuntimePerChannelGemv) {
  std::mt19937_64 rng(51);
  auto uni = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  const auto& kernels = irnn::reference::LstmKernelTable();
  for (int trial = 0; trial < 40; ++trial) {
    const int batch = static_cast<int>(uni(1, 4)), rows = static_cast<int>(uni(1, 50)),
              cols = static_cast<int>(uni(1, trial < 5 ? 140000 : 300));
    std::vector<int8_t> w(static_cast<size_t>(rows) * cols), x(static_cast<size_t>(batch) * cols);
    for (auto& v : w) v = static_cast<int8_t>(trial % 5 == 0 ? -128 : uni(-128, 127));
    for (auto& v : x) v = static_cast<int8_t>(trial % 5 == 0 ? -128 : uni(-128, 127));
    std::vector<int32_t> bias(rows);
    for (auto& v : bias) v = static_cast<int32_t>(uni(kI32Min, kI32Max));
    std::vector<QuantizedMultiplier> m(rows);
    std::vector<int64_t> mult(rows), shift(rows);
    for (int r = 0; r < rows; ++r) {
      m[r] = {static_cast<int32_t>(uni(int64_t{1} << 30, kI32Max)), static_cast<int32_t>(uni(-31, 30))};
      mult[r] = m[r].multiplier;
      shift[r] = m[r].shift;
    }
    for (Rounding rounding : {Rounding::kDouble, Rounding::kSingle}) {
      std::vector<int32_t> want(static_cast<size_t>(batch) * rows);
      kernels.GemvS8S8RequantPerChannelS32(w.data(), rows, cols, bias.data(), x.data(), batch, m.data(), rounding,
                                           want.data());
      const Tensor got = LinearToLogits(FromVector(x).view({batch, cols}), FromVector(w).view({rows, cols}),
                                        FromVector(bias), FromVector(mult), FromVector(shift), rounding);
      ASSERT_TRUE(ExpectSame(want, got, "Linear trial " + std::to_string(trial))) << "rows " << rows << " cols " << cols;
    }
  }
}

}  // namespace
}  // namespace irnn::train::sim
