// Scalar reference evaluation and validation of PWL tables (numerics.md §6). Integer only: this object
// is part of the no-float check.

#include <algorithm>
#include <string>

#include "irnn/pwl.h"

namespace irnn {
namespace {

Status Bad(const std::string& field, int64_t value, const std::string& rule) {
  return Status::InvalidArgument("PwlTable: " + field + " is " + std::to_string(value) + " but must be " + rule);
}

inline int32_t EvaluateHalf(const PwlTable& t, int32_t q) {
  // Last knot <= q; knot[0] <= q holds because q was clamped into the table's domain.
  const auto it = std::upper_bound(t.knot.begin(), t.knot.end(), q);
  const size_t i = static_cast<size_t>(it - t.knot.begin()) - 1;
  const int64_t d = int64_t{q} - t.knot[i];
  const int64_t product = int64_t{t.slope[i]} * d;
  const int64_t rounding = t.shift > 0 ? (int64_t{1} << (t.shift - 1)) : 0;
  const int64_t y = int64_t{t.intercept[i]} + ((product + rounding) >> t.shift);
  return static_cast<int32_t>(std::min<int64_t>(std::max<int64_t>(y, t.output_min), t.output_max));
}

}  // namespace

Status ValidatePwlTable(const PwlTable& t) {
  const size_t n = t.knot.size();
  if (n < 1 || n > static_cast<size_t>(kMaxPwlPieces)) {
    return Bad("knot.size()", static_cast<int64_t>(n), "in [1, " + std::to_string(kMaxPwlPieces) + "]");
  }
  if (t.slope.size() != n) return Bad("slope.size()", static_cast<int64_t>(t.slope.size()), "knot.size() = " + std::to_string(n));
  if (t.intercept.size() != n) {
    return Bad("intercept.size()", static_cast<int64_t>(t.intercept.size()), "knot.size() = " + std::to_string(n));
  }
  if (t.input_min > t.input_max) return Bad("input_min", t.input_min, "<= input_max = " + std::to_string(t.input_max));
  if (t.output_min > t.output_max) {
    return Bad("output_min", t.output_min, "<= output_max = " + std::to_string(t.output_max));
  }
  if (t.shift < 0 || t.shift > 30) return Bad("shift", t.shift, "in [0, 30]");
  const int32_t start = t.odd ? t.center_in : t.input_min;
  if (t.odd && (t.center_in < t.input_min || t.center_in > t.input_max)) {
    return Bad("center_in", t.center_in, "in [input_min, input_max]");
  }
  if (t.knot[0] != start) {
    return Bad("knot[0]", t.knot[0], std::string(t.odd ? "center_in" : "input_min") + " = " + std::to_string(start));
  }
  for (size_t i = 1; i < n; ++i) {
    if (t.knot[i] <= t.knot[i - 1] || t.knot[i] > t.input_max) {
      return Bad("knot[" + std::to_string(i) + "]", t.knot[i], "> knot[i-1] and <= input_max");
    }
  }
  return Status::Ok();
}

int32_t PwlEvaluate(const PwlTable& t, int32_t q) {
  q = std::min(std::max(q, t.input_min), t.input_max);
  if (t.odd && q < t.center_in) {
    const int64_t mirrored = std::min<int64_t>(2 * int64_t{t.center_in} - q, t.input_max);
    const int64_t y = int64_t{t.center2_out} - EvaluateHalf(t, static_cast<int32_t>(mirrored));
    return static_cast<int32_t>(std::min<int64_t>(std::max<int64_t>(y, t.output_min), t.output_max));
  }
  return EvaluateHalf(t, q);
}

Status ValidateRangeReducedTable(const PwlTable& t, int power) {
  IRNN_RETURN_IF_ERROR(ValidatePwlTable(t));
  if (power != 1 && power != 2) return Bad("power", power, "1 (reciprocal) or 2 (inverse square root)");
  const int64_t lo = t.input_min;
  if (lo < 1 || (lo & (lo - 1)) != 0 || lo > (int64_t{1} << 28)) {
    return Bad("input_min", lo, "a power of two in [1, 2^28] for range reduction");
  }
  if (t.odd) return Bad("odd", 1, "false for range reduction");
  const int64_t want_max = (lo << power) - 1;
  if (t.input_max != want_max) {
    return Bad("input_max", t.input_max, std::to_string(want_max) + " (the table must cover [L, 2^power L))");
  }
  return Status::Ok();
}

PwlRangeReduced PwlEvaluateRangeReduced(const PwlTable& t, int power, int32_t x) {
  // Position of the highest set bit of x and of L.
  auto top_bit = [](uint32_t v) {
    int b = -1;
    while (v != 0) {
      v >>= 1;
      ++b;
    }
    return b;
  };
  const int lb = top_bit(static_cast<uint32_t>(t.input_min));
  int k = top_bit(static_cast<uint32_t>(x)) - lb;  // x * 2^-k in [L, 2L)
  // Round k down to a multiple of power (floor division for negative k too).
  k = k >= 0 ? (k / power) * power : -(((-k) + power - 1) / power) * power;
  // m = x * 2^-k, truncating the bits shifted out (the table's input grid is the precision limit).
  const int32_t m = k >= 0 ? (x >> k) : static_cast<int32_t>(static_cast<uint32_t>(x) << (-k));
  return {PwlEvaluate(t, m), -k / power};
}

}  // namespace irnn
