// PWL fitting and evaluation, exhaustively over every input of the grid (all 65,536 int16 inputs, all
// 256 int8 inputs): the error the fitter reports equals the true error of the integer evaluator
// (recomputed here with an independent evaluator), the max error stays within the tolerance, monotone
// targets stay monotone, odd symmetry holds when asked, and the AVX2 evaluator equals the scalar one.

#include <cmath>
#include <cstdlib>
#include <random>
#include <string>

#include <gtest/gtest.h>

#include "kernels/pwl_kernels.h"
#include "pwl/pwl_fit.h"

namespace irnn {
namespace {

// Independent evaluator: linear segment search, rounding written out as floor((a*d + half) / 2^s).
int64_t SlowEvaluate(const PwlTable& t, int64_t q) {
  q = std::min<int64_t>(std::max<int64_t>(q, t.input_min), t.input_max);
  if (t.odd && q < t.center_in) {
    const int64_t m = std::min<int64_t>(2 * int64_t{t.center_in} - q, t.input_max);
    return std::min<int64_t>(std::max<int64_t>(t.center2_out - SlowEvaluate(t, m), t.output_min), t.output_max);
  }
  size_t lo = 0, hi = t.knot.size();  // invariant: knot[lo] <= q < knot[hi] (knot[size] = +inf)
  while (hi - lo > 1) {
    const size_t mid = (lo + hi) / 2;
    if (t.knot[mid] <= q) lo = mid; else hi = mid;
  }
  const size_t i = lo;
  const __int128 p = static_cast<__int128>(t.slope[i]) * (q - t.knot[i]);
  __int128 num = p + (t.shift > 0 ? (static_cast<__int128>(1) << (t.shift - 1)) : 0);
  const __int128 den = static_cast<__int128>(1) << t.shift;
  __int128 fl = num / den;
  if (num % den != 0 && num < 0) --fl;  // floor
  const int64_t y = t.intercept[i] + static_cast<int64_t>(fl);
  return std::min<int64_t>(std::max<int64_t>(y, t.output_min), t.output_max);
}

struct Case {
  const char* fn;
  PwlGrid in, out;
  bool odd;
};

PwlGrid Q(int bits, int frac, int zp = 0) {
  const int32_t lo = -(1 << (bits - 1)), hi = (1 << (bits - 1)) - 1;
  return {lo, hi, std::ldexp(1.0, -frac), zp};
}

std::vector<Case> Cases() {
  return {
      {"sigmoid", Q(16, 12), Q(8, 8, -128), false},  {"sigmoid", Q(16, 12), Q(16, 15), false},
      {"tanh", Q(16, 12), Q(8, 7), true},            {"tanh", Q(16, 12), Q(16, 15), false},
      {"exp", {-32768, 0, 1.0 / 4096, 0}, Q(8, 8, -128), false},
      {"exp", {-32768, 0, 1.0 / 4096, 0}, Q(16, 15), false},
      {"sigmoid", Q(8, 4), Q(8, 8, -128), false},    {"tanh", Q(8, 5), Q(8, 7), true},
      {"exp", {-128, 0, 1.0 / 16, 0}, Q(8, 8, -128), false},
      {"gelu", Q(16, 12), Q(16, 11), false},         {"silu", Q(8, 4), Q(8, 4), false},
      {"reciprocal", {4096, 8191, 1.0 / 4096, 0}, Q(16, 15), false},
      {"rsqrt", {4096, 32767, 1.0 / 4096, 0}, Q(16, 15), false},
  };
}

void CheckFit(const Case& c, const PwlFitOptions& opt, PwlFitResult* out_result) {
  RealFunction f;
  ASSERT_TRUE(BuiltinPwlFunction(c.fn, &f)) << c.fn;
  PwlFitResult r;
  const Status s = FitPwl(f, c.in, c.out, opt, &r);
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_TRUE(ValidatePwlTable(r.table).ok());
  // Exhaustive: independent evaluator, independent error.
  double max_err = 0, sum = 0;
  int64_t prev = 0;
  bool increasing = true, decreasing = true;
  const int64_t n = int64_t{c.in.max} - c.in.min + 1;
  for (int64_t q = c.in.min; q <= c.in.max; ++q) {
    const int64_t y = SlowEvaluate(r.table, q);
    ASSERT_EQ(y, PwlEvaluate(r.table, static_cast<int32_t>(q))) << c.fn << " q=" << q;
    const double target = std::min<double>(
        std::max<double>(f(c.in.scale * (q - c.in.zero_point)) / c.out.scale + c.out.zero_point, c.out.min),
        c.out.max);
    const double e = std::abs(y - target);
    max_err = std::max(max_err, e);
    sum += e;
    if (q > c.in.min) {
      increasing &= y >= prev;
      decreasing &= y <= prev;
    }
    prev = y;
  }
  EXPECT_DOUBLE_EQ(r.max_error_lsb, max_err) << c.fn;
  EXPECT_NEAR(r.mean_error_lsb, sum / n, 1e-9) << c.fn;
  if (opt.max_error_lsb > 0 && r.tolerance_met) {
    EXPECT_LE(r.max_error_lsb, opt.max_error_lsb) << c.fn;
  }
  if (r.monotone > 0) {
    EXPECT_TRUE(increasing) << c.fn << ": monotone target, non-monotone table";
  }
  if (r.monotone < 0) {
    EXPECT_TRUE(decreasing) << c.fn << ": monotone target, non-monotone table";
  }
  if (c.odd) {
    for (int64_t q = -c.in.max; q <= c.in.max; ++q) {
      ASSERT_EQ(SlowEvaluate(r.table, -q), r.table.center2_out - SlowEvaluate(r.table, q)) << c.fn << " q=" << q;
    }
  }
  *out_result = r;
}

TEST(PwlFit, ExhaustiveErrorToleranceMonotoneAndSymmetryBothFitters) {
  int fewer = 0;
  for (const Case& c : Cases()) {
    for (double tol : {1.0, 2.0}) {
      SCOPED_TRACE(std::string(c.fn) + " tol " + std::to_string(tol) + " out scale " + std::to_string(c.out.scale));
      PwlFitOptions opt;
      opt.max_error_lsb = tol;
      opt.odd = c.odd;
      PwlFitResult greedy, optimal;
      opt.fitter = PwlFitter::kGreedy;
      CheckFit(c, opt, &greedy);
      opt.fitter = PwlFitter::kOptimal;
      CheckFit(c, opt, &optimal);
      EXPECT_TRUE(greedy.tolerance_met);
      EXPECT_TRUE(optimal.tolerance_met);
      EXPECT_LE(optimal.pieces, greedy.pieces);
      fewer += optimal.pieces < greedy.pieces;
    }
  }
  EXPECT_GT(fewer, 0) << "optimal should beat greedy on some row";
}

TEST(PwlFit, PieceBudgetGivesLeastErrorWithinBudget) {
  int big_grids = 0;
  for (const Case& c : Cases()) {
    // Budget fits bisect the tolerance: keep the int16-input grids to one case to bound the run time.
    const bool big = int64_t{c.in.max} - c.in.min > 4096;
    if (big && big_grids++ > 0) continue;
    for (int budget : {1, 4, 16}) {
      SCOPED_TRACE(std::string(c.fn) + " budget " + std::to_string(budget));
      PwlFitOptions opt;
      opt.max_error_lsb = 0;
      opt.max_pieces = budget;
      opt.odd = c.odd;
      for (PwlFitter fitter : {PwlFitter::kGreedy, PwlFitter::kOptimal}) {
        opt.fitter = fitter;
        PwlFitResult r;
        CheckFit(c, opt, &r);
        EXPECT_LE(r.pieces, budget);
      }
    }
  }
}

TEST(PwlFit, HalfLsbMeansCorrectlyRoundedOn8BitOutputs) {
  const Case c{"sigmoid", Q(8, 4), Q(8, 8, -128), false};
  PwlFitOptions opt;
  opt.max_error_lsb = 0.5;
  opt.fitter = PwlFitter::kOptimal;
  PwlFitResult r;
  CheckFit(c, opt, &r);
  EXPECT_TRUE(r.tolerance_met);
  RealFunction f;
  ASSERT_TRUE(BuiltinPwlFunction("sigmoid", &f));
  for (int q = -128; q <= 127; ++q) {
    const double t = std::min(127.0, f(q / 16.0) * 256 - 128);
    EXPECT_LE(std::abs(PwlEvaluate(r.table, q) - t), 0.5) << q;
  }
}

TEST(PwlFit, BadOptionsAreRefused) {
  RealFunction f;
  ASSERT_TRUE(BuiltinPwlFunction("tanh", &f));
  PwlFitResult r;
  PwlFitOptions opt;
  EXPECT_FALSE(FitPwl(f, {5, 4, 1.0, 0}, Q(8, 7), opt, &r).ok());
  EXPECT_FALSE(FitPwl(f, Q(8, 4), {0, 10, 0.0, 0}, opt, &r).ok());
  opt.max_pieces = kMaxPwlPieces + 1;
  EXPECT_FALSE(FitPwl(f, Q(8, 4), Q(8, 7), opt, &r).ok());
  opt.max_pieces = 0;
  opt.max_error_lsb = 0;
  EXPECT_FALSE(FitPwl(f, Q(8, 4), Q(8, 7), opt, &r).ok());
  EXPECT_FALSE(BuiltinPwlFunction("softplus2", &f));
}

TEST(PwlTable, ValidationNamesTheField) {
  PwlTable t;
  t.input_min = -10;
  t.input_max = 10;
  t.output_min = -5;
  t.output_max = 5;
  t.knot = {-10, 0};
  t.slope = {1, 2};
  t.intercept = {0, 0};
  ASSERT_TRUE(ValidatePwlTable(t).ok());
  auto expect = [](PwlTable b, const char* field) {
    const Status s = ValidatePwlTable(b);
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.message().find(field), std::string::npos) << s.message();
  };
  PwlTable b = t;
  b.knot = {-10, -10};
  expect(b, "knot[1]");
  b = t;
  b.knot = {-9, 0};
  expect(b, "knot[0]");
  b = t;
  b.slope.pop_back();
  expect(b, "slope.size()");
  b = t;
  b.shift = 31;
  expect(b, "shift");
  b = t;
  b.output_min = 6;
  expect(b, "output_min");
  b = t;
  b.knot.clear();
  b.slope.clear();
  b.intercept.clear();
  expect(b, "knot.size()");
  b = t;
  b.knot = {-10, 11};
  expect(b, "knot[1]");
}

// The AVX2 evaluator equals the scalar one on every int16 input, for fitted tables and for random
// tables with extreme slopes, shifts and saturation.
TEST(PwlKernels, Avx2EqualsScalarOnEveryInt16Input) {
  if (avx2::PwlKernelTable() == nullptr || !KernelPathAvailable(KernelPath::kAvx2)) {
    const char* allow = std::getenv("IRNN_ALLOW_NO_AVX2");
    if (allow != nullptr && std::string(allow) == "1") GTEST_SKIP() << "AVX2 not available";
    FAIL() << "AVX2 PWL kernel not available";
  }
  std::vector<int16_t> in(65536), a(65536), b(65536);
  for (int k = 0; k < 65536; ++k) in[k] = static_cast<int16_t>(k - 32768);
  std::vector<PwlTable> tables;
  for (const Case& c : Cases()) {
    if (c.in.min < -32768 || c.in.max > 32767 || c.out.min < -32768 || c.out.max > 32767) continue;
    RealFunction f;
    ASSERT_TRUE(BuiltinPwlFunction(c.fn, &f));
    PwlFitOptions opt;
    opt.max_error_lsb = 1.0;
    opt.odd = c.odd;
    PwlFitResult r;
    ASSERT_TRUE(FitPwl(f, c.in, c.out, opt, &r).ok());
    tables.push_back(r.table);
  }
  std::mt19937 rng(7);
  for (int k = 0; k < 40; ++k) {
    PwlTable t;
    t.input_min = -32768 + static_cast<int>(rng() % 1000);
    t.input_max = 32767 - static_cast<int>(rng() % 1000);
    t.output_min = -32768 + static_cast<int>(rng() % 100);
    t.output_max = 32767 - static_cast<int>(rng() % 100);
    t.shift = static_cast<int>(rng() % 31);
    t.odd = k % 3 == 0;
    t.center_in = t.odd ? static_cast<int>(rng() % 200) - 100 : 0;
    t.center2_out = static_cast<int>(rng() % 2000) - 1000;
    const int pieces = 1 + static_cast<int>(rng() % (k < 20 ? 17 : 300));
    int32_t knot = t.odd ? t.center_in : t.input_min;
    for (int p = 0; p < pieces && knot <= t.input_max; ++p) {
      t.knot.push_back(knot);
      t.slope.push_back(static_cast<int32_t>(rng()));  // any int32, extremes included
      t.intercept.push_back(static_cast<int32_t>(rng() % 70000) - 35000);
      knot += 1 + static_cast<int>(rng() % 500);
    }
    ASSERT_TRUE(ValidatePwlTable(t).ok());
    tables.push_back(t);
  }
  for (size_t k = 0; k < tables.size(); ++k) {
    for (int n : {65536, 1, 7, 8, 9, 15, 17, 33, 255}) {
      reference::PwlKernelTable().EvaluateS16(tables[k], in.data(), n, a.data());
      avx2::PwlKernelTable()->EvaluateS16(tables[k], in.data(), n, b.data());
      for (int i = 0; i < n; ++i) ASSERT_EQ(a[i], b[i]) << "table " << k << " input " << in[i] << " n " << n;
    }
  }
}

}  // namespace
}  // namespace irnn

namespace irnn {
namespace {

// Range reduction: one table on [1, 2) (reciprocal) or [1, 4) (inverse square root) serves every
// positive input; the relative error stays within the table's error plus the input truncation.
TEST(PwlRangeReduced, ReciprocalAndInverseSqrtOverTheWholePositiveRange) {
  for (int power : {1, 2}) {
    SCOPED_TRACE(power == 1 ? "reciprocal" : "rsqrt");
    RealFunction f;
    ASSERT_TRUE(BuiltinPwlFunction(power == 1 ? "reciprocal" : "rsqrt", &f));
    const PwlGrid in{4096, (4096 << power) - 1, 1.0 / 4096, 0};
    const PwlGrid out{0, 32767, 1.0 / 32768, 0};
    PwlFitOptions opt;
    opt.fitter = PwlFitter::kOptimal;
    opt.max_error_lsb = 1.0;
    PwlFitResult r;
    ASSERT_TRUE(FitPwl(f, in, out, opt, &r).ok());
    ASSERT_TRUE(ValidateRangeReducedTable(r.table, power).ok());
    std::mt19937 rng(11);
    double worst = 0;
    for (int i = 0; i < 200000; ++i) {
      const int32_t x = 1 + static_cast<int32_t>(rng() >> (1 + rng() % 31));
      const PwlRangeReduced y = PwlEvaluateRangeReduced(r.table, power, x);
      const double got = std::ldexp(y.mantissa / 32768.0, y.exponent);
      const double want = power == 1 ? 4096.0 / x : 1.0 / std::sqrt(x / 4096.0);
      worst = std::max(worst, std::abs(got / want - 1));
    }
    // 1 LSB of a value >= 0.5 at 2^-15 is <= 2^-14 relative; truncating x to 12 fraction bits adds 2^-12.
    EXPECT_LT(worst, std::ldexp(1.0, -14) + std::ldexp(1.0, -12));
  }
  PwlTable bad;
  bad.input_min = 3000;
  bad.input_max = 5999;
  bad.output_max = 10;
  bad.knot = {3000};
  bad.slope = {0};
  bad.intercept = {0};
  const Status s = ValidateRangeReducedTable(bad, 1);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("power of two"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace irnn
