// PWL fitting (see pwl_fit.h; numerics.md §6). The target is tabulated once in output-LSB units; every
// candidate segment is scored with the integer evaluation formula itself.

#include "pwl/pwl_fit.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace irnn {
namespace {

constexpr int64_t kMaxGridSize = int64_t{1} << 20;

struct SegmentFit {
  int32_t slope = 0;
  int32_t intercept = 0;
  double max_error = 0;
  int32_t worst = 0;      // input index (relative to the fit domain) of the max error
  int32_t last_value = 0; // evaluated output at the segment's last input
};

class Fitter {
 public:
  Fitter(std::vector<double> target, int32_t domain_start, const PwlGrid& out, int shift, int monotone)
      : t_(std::move(target)), start_(domain_start), out_(out), shift_(shift), monotone_(monotone) {}

  int size() const { return static_cast<int>(t_.size()); }

  // Output of a segment (slope a, intercept b) at offset d, as PwlEvaluate computes it.
  int32_t Eval(int32_t a, int32_t b, int64_t d) const {
    const int64_t rounding = shift_ > 0 ? (int64_t{1} << (shift_ - 1)) : 0;
    const int64_t y = int64_t{b} + ((int64_t{a} * d + rounding) >> shift_);
    return static_cast<int32_t>(std::min<int64_t>(std::max<int64_t>(y, out_.min), out_.max));
  }

  // Best intercept for slope a over [lo, hi] (indices into t_), with the monotone bound `bound` from
  // the previous segment (kNoBound when none). With `exact` the max error is measured with the
  // evaluator's clamping and the worst input found; otherwise it is the (upper-bound) unclamped error,
  // from one pass, which is what the slope search compares.
  SegmentFit FitWithSlope(int lo, int hi, int32_t a, int64_t bound, bool exact = true) const {
    const int64_t rounding = shift_ > 0 ? (int64_t{1} << (shift_ - 1)) : 0;
    double rmin = std::numeric_limits<double>::infinity(), rmax = -rmin;
    int64_t ad = 0;
    for (int i = lo; i <= hi; ++i, ad += a) {
      const double r = t_[i] - static_cast<double>((ad + rounding) >> shift_);
      rmin = std::min(rmin, r);
      rmax = std::max(rmax, r);
    }
    double b = std::nearbyint((rmin + rmax) / 2);
    if (lo == 0 && has_first_intercept_) b = first_intercept_;
    if (bound != kNoBound) b = monotone_ > 0 ? std::max<double>(b, bound) : std::min<double>(b, bound);
    b = std::min<double>(std::max<double>(b, -2147483647.0), 2147483647.0);
    SegmentFit s;
    s.slope = a;
    s.intercept = static_cast<int32_t>(b);
    if (!exact) {
      s.max_error = std::max(rmax - b, b - rmin);
      return s;
    }
    s.worst = lo;
    for (int i = lo; i <= hi; ++i) {
      const int32_t y = Eval(a, s.intercept, i - lo);
      const double e = std::abs(y - t_[i]);
      if (e > s.max_error) {
        s.max_error = e;
        s.worst = i;
      }
      if (i == hi) s.last_value = y;
    }
    return s;
  }

  // Odd tables must give the centre value c2/2 at the centre.
  void FixFirstIntercept(int32_t value) {
    has_first_intercept_ = true;
    first_intercept_ = value;
  }

  // Minimax slope by ternary search over the integer slope, then a local scan.
  SegmentFit Fit(int lo, int hi, int64_t bound) const {
    if (lo == hi) return FitWithSlope(lo, hi, 0, bound);
    const double scale = std::ldexp(1.0, shift_);
    double smin = std::numeric_limits<double>::infinity(), smax = -smin;
    for (int i = lo; i < hi; ++i) {
      const double s = t_[i + 1] - t_[i];
      smin = std::min(smin, s);
      smax = std::max(smax, s);
    }
    auto clamp_slope = [](double v) {
      return static_cast<int64_t>(std::min(std::max(v, -2147483647.0), 2147483647.0));
    };
    int64_t a_lo = clamp_slope(std::floor(smin * scale)), a_hi = clamp_slope(std::ceil(smax * scale));
    if (monotone_ > 0) a_lo = std::max<int64_t>(a_lo, 0);
    if (monotone_ < 0) a_hi = std::min<int64_t>(a_hi, 0);
    if (a_lo > a_hi) a_lo = a_hi;
    auto err = [&](int64_t a) { return FitWithSlope(lo, hi, static_cast<int32_t>(a), bound, false).max_error; };
    while (a_hi - a_lo > 4) {
      const int64_t m1 = a_lo + (a_hi - a_lo) / 3, m2 = a_hi - (a_hi - a_lo) / 3;
      if (err(m1) <= err(m2)) a_hi = m2; else a_lo = m1;
    }
    int64_t best_a = a_lo;
    double best_err = std::numeric_limits<double>::infinity();
    for (int64_t a = a_lo - 2; a <= a_hi + 2; ++a) {
      if (a < -2147483647 || a > 2147483647) continue;
      if ((monotone_ > 0 && a < 0) || (monotone_ < 0 && a > 0)) continue;
      const double e = err(a);
      if (e < best_err) {
        best_err = e;
        best_a = a;
      }
    }
    return FitWithSlope(lo, hi, static_cast<int32_t>(best_a), bound);
  }

  // Where the greedy fitter inserts a knot: the interior input farthest from the chord through the
  // segment's end points (the fitted segment's own worst input is often an end point, whose split
  // would only peel off one input).
  int ChordSplit(int lo, int hi) const {
    if (hi - lo < 2) return lo + 1;
    int at = lo + (hi - lo) / 2;
    double worst = -1;
    const double slope = (t_[hi] - t_[lo]) / (hi - lo);
    for (int i = lo + 1; i < hi; ++i) {
      const double e = std::abs(t_[i] - (t_[lo] + slope * (i - lo)));
      if (e > worst) {
        worst = e;
        at = i;
      }
    }
    return at;
  }

  static constexpr int64_t kNoBound = std::numeric_limits<int64_t>::min();

  int64_t BoundAfter(const SegmentFit& prev) const { return monotone_ != 0 ? prev.last_value : kNoBound; }

  int32_t domain_start() const { return start_; }
  int shift() const { return shift_; }

 private:
  std::vector<double> t_;
  int32_t start_;
  PwlGrid out_;
  int shift_;
  int monotone_;
  bool has_first_intercept_ = false;
  int32_t first_intercept_ = 0;
};

double Target(const RealFunction& f, const PwlGrid& in, const PwlGrid& out, int64_t q) {
  const double x = in.scale * static_cast<double>(q - in.zero_point);
  const double y = f(x) / out.scale + out.zero_point;
  if (std::isnan(y)) return out.min;
  return std::min<double>(std::max<double>(y, out.min), out.max);
}

PwlTable MakeTable(const Fitter& fitter, const std::vector<int>& starts, const std::vector<SegmentFit>& fits,
                   const PwlGrid& in, const PwlGrid& out, bool odd, int32_t center2_out) {
  PwlTable t;
  t.input_min = in.min;
  t.input_max = in.max;
  t.output_min = out.min;
  t.output_max = out.max;
  t.shift = fitter.shift();
  t.odd = odd;
  t.center_in = odd ? in.zero_point : 0;
  t.center2_out = odd ? center2_out : 0;
  for (size_t k = 0; k < starts.size(); ++k) {
    t.knot.push_back(fitter.domain_start() + starts[k]);
    t.slope.push_back(fits[k].slope);
    t.intercept.push_back(fits[k].intercept);
  }
  return t;
}

// Greedy: split the worst segment at its worst input until the tolerance or the budget is reached.
std::vector<int> Greedy(const Fitter& fitter, double tol, int budget, std::vector<SegmentFit>* fits_out) {
  struct Seg {
    int lo;
    SegmentFit fit;
    int64_t bound;  // the monotone bound the fit was made with
  };
  const int n = fitter.size();
  std::vector<Seg> segs = {{0, fitter.Fit(0, n - 1, Fitter::kNoBound), Fitter::kNoBound}};
  auto end_of = [&](size_t k) { return k + 1 < segs.size() ? segs[k + 1].lo - 1 : n - 1; };
  while (true) {
    size_t w = 0;
    for (size_t k = 1; k < segs.size(); ++k) if (segs[k].fit.max_error > segs[w].fit.max_error) w = k;
    if (segs[w].fit.max_error <= tol || static_cast<int>(segs.size()) >= budget) break;
    const int lo = segs[w].lo, hi = end_of(w);
    if (lo == hi) break;  // a single input cannot be split further
    const int at = fitter.ChordSplit(lo, hi);
    segs.insert(segs.begin() + static_cast<long>(w) + 1, Seg{at, SegmentFit{}, Fitter::kNoBound});
    // Refit the two halves and every later segment whose monotone bound changes as a result.
    int64_t bound = w > 0 ? fitter.BoundAfter(segs[w - 1].fit) : Fitter::kNoBound;
    for (size_t k = w; k < segs.size(); ++k) {
      if (k > w + 1 && segs[k].bound == bound) break;  // unchanged from here on
      segs[k].fit = fitter.Fit(segs[k].lo, end_of(k), bound);
      segs[k].bound = bound;
      bound = fitter.BoundAfter(segs[k].fit);
    }
  }
  std::vector<int> starts;
  fits_out->clear();
  for (const Seg& sg : segs) {
    starts.push_back(sg.lo);
    fits_out->push_back(sg.fit);
  }
  return starts;
}

// Optimal sweep: from each start take the longest feasible segment (galloping, then bisection).
// Returns false when even a one-input segment cannot meet tol or the budget is exceeded.
bool Sweep(const Fitter& fitter, double tol, int budget, std::vector<int>* starts, std::vector<SegmentFit>* fits) {
  starts->clear();
  fits->clear();
  int64_t bound = Fitter::kNoBound;
  int lo = 0;
  const int n = fitter.size();
  while (lo < n) {
    if (static_cast<int>(starts->size()) >= budget) return false;
    SegmentFit best = fitter.Fit(lo, lo, bound);
    if (best.max_error > tol) return false;
    int good = lo, step = 1;
    int bad = -1;
    while (true) {  // gallop
      const int hi = std::min(n - 1, good + step);
      if (hi == good) break;
      const SegmentFit s = fitter.Fit(lo, hi, bound);
      if (s.max_error <= tol) {
        good = hi;
        best = s;
        step *= 2;
      } else {
        bad = hi;
        break;
      }
    }
    if (bad > 0) {
      int a = good, b = bad;  // good feasible, bad infeasible
      while (b - a > 1) {
        const int m = a + (b - a) / 2;
        const SegmentFit s = fitter.Fit(lo, m, bound);
        if (s.max_error <= tol) {
          a = m;
          best = s;
        } else {
          b = m;
        }
      }
      good = a;
    }
    starts->push_back(lo);
    fits->push_back(best);
    bound = fitter.BoundAfter(best);
    lo = good + 1;
  }
  return true;
}

}  // namespace

void MeasurePwlError(const PwlTable& table, const RealFunction& f, const PwlGrid& in, const PwlGrid& out,
                     double* max_error, double* mean_error) {
  double mx = 0, sum = 0;
  for (int64_t q = in.min; q <= in.max; ++q) {
    const double e = std::abs(PwlEvaluate(table, static_cast<int32_t>(q)) - Target(f, in, out, q));
    mx = std::max(mx, e);
    sum += e;
  }
  *max_error = mx;
  *mean_error = sum / static_cast<double>(int64_t{in.max} - in.min + 1);
}

Status FitPwl(const RealFunction& f, const PwlGrid& in, const PwlGrid& out, const PwlFitOptions& opt,
              PwlFitResult* result) {
  if (result == nullptr) return Status::InvalidArgument("FitPwl: result is null");
  if (!f) return Status::InvalidArgument("FitPwl: function is empty");
  if (in.min > in.max || int64_t{in.max} - in.min + 1 > kMaxGridSize) {
    return Status::InvalidArgument("FitPwl: input grid [" + std::to_string(in.min) + ", " + std::to_string(in.max) +
                                   "] must be non-empty with at most 2^20 values");
  }
  if (out.min > out.max) return Status::InvalidArgument("FitPwl: output grid min is above max");
  if (!(in.scale > 0) || !(out.scale > 0) || !std::isfinite(in.scale) || !std::isfinite(out.scale)) {
    return Status::InvalidArgument("FitPwl: grid scales must be finite and > 0");
  }
  const int budget = opt.max_pieces > 0 ? std::min(opt.max_pieces, kMaxPwlPieces) : kMaxPwlPieces;
  if (opt.max_pieces < 0 || opt.max_pieces > kMaxPwlPieces) {
    return Status::InvalidArgument("FitPwl: max_pieces is " + std::to_string(opt.max_pieces) + " but must be in [0, " +
                                   std::to_string(kMaxPwlPieces) + "]");
  }
  if (opt.max_error_lsb <= 0 && opt.max_pieces == 0) {
    return Status::InvalidArgument("FitPwl: give a tolerance (max_error_lsb > 0) or a piece budget");
  }
  if (opt.shift < -1 || opt.shift > 30) {
    return Status::InvalidArgument("FitPwl: shift is " + std::to_string(opt.shift) + " but must be -1 or in [0, 30]");
  }

  // Tabulate the target over the whole grid; detect monotonicity.
  const int64_t n_all = int64_t{in.max} - in.min + 1;
  std::vector<double> all(static_cast<size_t>(n_all));
  for (int64_t i = 0; i < n_all; ++i) all[i] = Target(f, in, out, in.min + i);
  bool inc = true, dec = true;
  double steepest = 0;
  for (int64_t i = 1; i < n_all; ++i) {
    inc &= all[i] >= all[i - 1];
    dec &= all[i] <= all[i - 1];
    steepest = std::max(steepest, std::abs(all[i] - all[i - 1]));
  }
  const int monotone = inc && !dec ? 1 : (dec && !inc ? -1 : 0);

  int32_t domain_start = in.min;
  int32_t center2_out = 0;
  if (opt.odd) {
    if (in.zero_point < in.min || in.zero_point > in.max) {
      return Status::InvalidArgument("FitPwl: odd symmetry needs the input zero point inside the grid");
    }
    domain_start = in.zero_point;
    center2_out = 2 * static_cast<int32_t>(std::lround(all[static_cast<size_t>(in.zero_point - in.min)]));
  }
  std::vector<double> half(all.begin() + (domain_start - in.min), all.end());
  if (opt.odd) {
    // The half-table serves both halves: aim at the mean of T(q) and its mirror image c2 - T(2c - q),
    // which is T(q) itself when T is exactly odd and splits the difference where the output clamp is
    // asymmetric (e.g. int8 [-128, 127]).
    for (size_t i = 0; i < half.size(); ++i) {
      const int64_t mirror = 2 * int64_t{domain_start} - (domain_start + static_cast<int64_t>(i));
      if (mirror >= in.min) half[i] = (half[i] + center2_out - all[static_cast<size_t>(mirror - in.min)]) / 2;
    }
  }

  // Slope precision: as many fraction bits as keep |slope| < 2^30 (capped at 24).
  int shift = opt.shift;
  if (shift < 0) {
    const int int_bits = steepest < 1 ? 0 : static_cast<int>(std::ceil(std::log2(steepest + 1)));
    shift = std::max(0, std::min(24, 29 - int_bits));
  }
  Fitter fitter(std::move(half), domain_start, out, shift, opt.keep_monotone ? monotone : 0);
  if (opt.odd) fitter.FixFirstIntercept(center2_out / 2);

  std::vector<int> starts;
  std::vector<SegmentFit> fits;
  const double tol = opt.max_error_lsb > 0 ? opt.max_error_lsb : 0.0;
  if (opt.fitter == PwlFitter::kGreedy) {
    starts = Greedy(fitter, tol, budget, &fits);
  } else if (opt.max_error_lsb > 0 && Sweep(fitter, tol, budget, &starts, &fits)) {
    // Fewest pieces meeting the tolerance within the budget.
  } else {
    // Least max error within the budget: bisect the tolerance between 0 and the one-piece error.
    std::vector<int> s1;
    std::vector<SegmentFit> f1;
    s1 = Greedy(fitter, std::numeric_limits<double>::infinity(), 1, &f1);
    double hi = f1[0].max_error, lo = 0;
    starts = s1;
    fits = f1;
    for (int it = 0; it < 30 && hi - lo > 1e-3 * std::max(1.0, hi); ++it) {
      const double mid = (lo + hi) / 2;
      std::vector<int> s;
      std::vector<SegmentFit> fs;
      if (Sweep(fitter, mid, budget, &s, &fs)) {
        hi = mid;
        starts = s;
        fits = fs;
      } else {
        lo = mid;
      }
    }
  }

  PwlFitResult r;
  r.table = MakeTable(fitter, starts, fits, in, out, opt.odd, center2_out);
  IRNN_RETURN_IF_ERROR(ValidatePwlTable(r.table));
  MeasurePwlError(r.table, f, in, out, &r.max_error_lsb, &r.mean_error_lsb);
  r.pieces = static_cast<int>(r.table.knot.size());
  r.tolerance_met = opt.max_error_lsb > 0 && r.max_error_lsb <= opt.max_error_lsb;
  r.monotone = monotone;
  *result = std::move(r);
  return Status::Ok();
}

bool BuiltinPwlFunction(const std::string& name, RealFunction* f) {
  if (name == "sigmoid") *f = [](double x) { return 1.0 / (1.0 + std::exp(-x)); };
  else if (name == "tanh") *f = [](double x) { return std::tanh(x); };
  else if (name == "exp") *f = [](double x) { return std::exp(x); };
  else if (name == "reciprocal") *f = [](double x) { return x == 0 ? std::numeric_limits<double>::infinity() : 1.0 / x; };
  else if (name == "rsqrt") *f = [](double x) { return x <= 0 ? std::numeric_limits<double>::infinity() : 1.0 / std::sqrt(x); };
  else if (name == "gelu") *f = [](double x) { return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))); };
  else if (name == "silu") *f = [](double x) { return x / (1.0 + std::exp(-x)); };
  else return false;
  return true;
}

const char* BuiltinPwlFunctionNames() { return "sigmoid, tanh, exp, reciprocal, rsqrt, gelu, silu"; }

}  // namespace irnn
