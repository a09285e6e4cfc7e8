// `sim`: the integer runtime in libtorch tensor operations (see sim.h). Written from docs/numerics.md,
// independently of the runtime's kernels; every function cites the section it implements. All values
// are int64 tensors; 16- and 32-bit wrapping and saturation are explicit.

#include "train/sim.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <tuple>

#include <ATen/ATen.h>

namespace irnn::train::sim {
namespace {

using torch::Tensor;

constexpr int64_t kInt32Min = -(int64_t{1} << 31);
constexpr int64_t kInt32Max = (int64_t{1} << 31) - 1;
constexpr int64_t kOneQ0 = 32767;     // 1.0 in Q0.15 (saturated)
constexpr int64_t kOneQ2 = 1 << 13;   // 1.0 in Q2.13

[[noreturn]] void Fail(const std::string& message) { throw std::invalid_argument("sim: " + message); }

Tensor Long(const Tensor& x) { return x.scalar_type() == torch::kInt64 ? x : x.to(torch::kInt64); }
Tensor AsLong(const Tensor& cond) { return cond.to(torch::kInt64); }
Tensor TruncDiv(const Tensor& x, int64_t d) { return torch::div(x, d, "trunc"); }

// Scalar §1.1 on int64, for turning gemmlowp's 32-bit constants into int16 ones (§2.1).
int64_t RoundingDivideByPOTScalar(int64_t x, int e) {
  const int64_t mask = (int64_t{1} << e) - 1;
  const int64_t remainder = x & mask;
  const int64_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> e) + (remainder > threshold ? 1 : 0);
}
int64_t Constant16(int64_t c32) { return RoundingDivideByPOTScalar(c32, 16); }

template <typename T>
Tensor ToTensor(const std::vector<T>& v, const torch::Device& device) {
  Tensor t = torch::empty({static_cast<int64_t>(v.size())}, torch::TensorOptions().dtype(torch::kInt64));
  int64_t* p = t.data_ptr<int64_t>();
  for (size_t i = 0; i < v.size(); ++i) p[i] = static_cast<int64_t>(v[i]);
  return t.to(device);
}

void CheckShift(int e, int lo, int hi, const char* what) {
  if (e < lo || e > hi) {
    Fail(std::string(what) + " is " + std::to_string(e) + " but must be in [" + std::to_string(lo) + ", " +
         std::to_string(hi) + "]");
  }
}

}  // namespace

// --- Saturation and wrapping -----------------------------------------------------------------------

Tensor SaturateToInt8(const Tensor& x) { return torch::clamp(Long(x), -128, 127); }
Tensor SaturateToInt16(const Tensor& x) { return torch::clamp(Long(x), -32768, 32767); }
Tensor SaturateToInt32(const Tensor& x) { return torch::clamp(Long(x), kInt32Min, kInt32Max); }
Tensor Wrap16(const Tensor& x) { return torch::bitwise_and(Long(x) + 32768, 0xFFFF) - 32768; }
Tensor Wrap32(const Tensor& x) {
  return torch::bitwise_and(Long(x) + (int64_t{1} << 31), int64_t{0xFFFFFFFF}) - (int64_t{1} << 31);
}

// --- §1.1 RoundingDivideByPOT ---------------------------------------------------------------------

Tensor RoundingDivideByPOT(const Tensor& x_in, int e) {
  CheckShift(e, 0, 31, "RoundingDivideByPOT exponent");
  const Tensor x = Long(x_in);
  const int64_t mask = (int64_t{1} << e) - 1;
  const Tensor remainder = torch::bitwise_and(x, mask);
  const Tensor threshold = AsLong(x < 0) + (mask >> 1);
  return torch::bitwise_right_shift(x, e) + AsLong(remainder > threshold);
}

Tensor RoundingDivideByPOT(const Tensor& x_in, const Tensor& e_in) {
  const Tensor x = Long(x_in);
  const Tensor e = Long(e_in);
  const Tensor mask = torch::bitwise_left_shift(torch::ones_like(e), e) - 1;
  const Tensor remainder = torch::bitwise_and(x, mask);
  const Tensor threshold = torch::bitwise_right_shift(mask, 1) + AsLong(x < 0);
  return torch::bitwise_right_shift(x, e) + AsLong(remainder > threshold);
}

// --- §1.2 SaturatingRoundingDoublingHighMul ---------------------------------------------------------

Tensor SaturatingRoundingDoublingHighMul(const Tensor& a_in, const Tensor& b_in) {
  const Tensor a = Long(a_in), b = Long(b_in);
  const Tensor ab = a * b;  // |ab| <= 2^62
  const Tensor nudge = torch::where(ab >= 0, int64_t{1} << 30, 1 - (int64_t{1} << 30));
  const Tensor r = TruncDiv(ab + nudge, int64_t{1} << 31);
  return torch::where(torch::logical_and(a == kInt32Min, b == kInt32Min), kInt32Max, r);
}

Tensor SaturatingRoundingDoublingHighMul(const Tensor& a_in, int32_t b) {
  const Tensor a = Long(a_in);
  const Tensor ab = a * int64_t{b};
  const Tensor nudge = torch::where(ab >= 0, int64_t{1} << 30, 1 - (int64_t{1} << 30));
  const Tensor r = TruncDiv(ab + nudge, int64_t{1} << 31);
  return b == kInt32Min ? torch::where(a == kInt32Min, kInt32Max, r) : r;
}

Tensor SaturatingRoundingDoublingHighMul16(const Tensor& a_in, const Tensor& b_in) {
  const Tensor a = Long(a_in), b = Long(b_in);
  const Tensor ab = a * b;
  const Tensor nudge = torch::where(ab >= 0, int64_t{1} << 14, 1 - (int64_t{1} << 14));
  const Tensor r = TruncDiv(ab + nudge, int64_t{1} << 15);
  return torch::where(torch::logical_and(a == -32768, b == -32768), int64_t{32767}, r);
}

Tensor SaturatingRoundingDoublingHighMul16(const Tensor& a_in, int16_t b) {
  const Tensor a = Long(a_in);
  const Tensor ab = a * int64_t{b};
  const Tensor nudge = torch::where(ab >= 0, int64_t{1} << 14, 1 - (int64_t{1} << 14));
  const Tensor r = TruncDiv(ab + nudge, int64_t{1} << 15);
  return b == -32768 ? torch::where(a == -32768, int64_t{32767}, r) : r;
}

Tensor SaturatingShiftLeft32(const Tensor& x, int k) {
  CheckShift(k, 0, 31, "SaturatingShiftLeft32 shift");
  return SaturateToInt32(Long(x) * (int64_t{1} << k));  // |x·2^k| <= 2^62
}

Tensor SaturatingShiftLeft32(const Tensor& x, const Tensor& k) {
  return SaturateToInt32(torch::bitwise_left_shift(Long(x), Long(k)));
}

// --- §1.3 MultiplyByQuantizedMultiplier -------------------------------------------------------------

Tensor MultiplyByQuantizedMultiplierDoubleRounding(const Tensor& x, int32_t multiplier, int shift) {
  CheckShift(shift, -31, 30, "multiplier shift");
  const int left = shift > 0 ? shift : 0;
  const int right = shift > 0 ? 0 : -shift;
  return RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(SaturatingShiftLeft32(x, left), multiplier), right);
}

Tensor MultiplyByQuantizedMultiplierDoubleRounding(const Tensor& x, const Tensor& multiplier, const Tensor& shift_in) {
  const Tensor shift = Long(shift_in);
  const Tensor left = torch::clamp_min(shift, 0);
  const Tensor right = torch::clamp_min(-shift, 0);
  return RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(SaturatingShiftLeft32(x, left), multiplier), right);
}

Tensor MultiplyByQuantizedMultiplierSingleRounding(const Tensor& x, int32_t multiplier, int shift) {
  CheckShift(shift, -31, 30, "multiplier shift");
  const int total_shift = 31 - shift;  // in [1, 62]
  const int64_t round = int64_t{1} << (total_shift - 1);
  // |x·M| < 2^62 and round <= 2^61: no int64 overflow.
  return SaturateToInt32(torch::bitwise_right_shift(Long(x) * int64_t{multiplier} + round, total_shift));
}

Tensor MultiplyByQuantizedMultiplierSingleRounding(const Tensor& x, const Tensor& multiplier, const Tensor& shift) {
  const Tensor total_shift = 31 - Long(shift);
  const Tensor round = torch::bitwise_left_shift(torch::ones_like(total_shift), total_shift - 1);
  return SaturateToInt32(torch::bitwise_right_shift(Long(x) * Long(multiplier) + round, total_shift));
}

Tensor MultiplyByQuantizedMultiplier(const Tensor& x, QuantizedMultiplier m, Rounding rounding) {
  return rounding == Rounding::kSingle ? MultiplyByQuantizedMultiplierSingleRounding(x, m.multiplier, m.shift)
                                       : MultiplyByQuantizedMultiplierDoubleRounding(x, m.multiplier, m.shift);
}

Tensor MultiplyByQuantizedMultiplier(const Tensor& x, const Tensor& multiplier, const Tensor& shift,
                                     Rounding rounding) {
  return rounding == Rounding::kSingle ? MultiplyByQuantizedMultiplierSingleRounding(x, multiplier, shift)
                                       : MultiplyByQuantizedMultiplierDoubleRounding(x, multiplier, shift);
}

Requant ScalarRequant(QuantizedMultiplier m) {
  Requant r;
  r.scalar = m;
  return r;
}

Requant PerChannelRequant(const std::vector<QuantizedMultiplier>& m, const torch::Device& device) {
  std::vector<int64_t> mult(m.size()), shift(m.size());
  for (size_t i = 0; i < m.size(); ++i) {
    CheckShift(m[i].shift, -31, 30, "per-channel multiplier shift");
    mult[i] = m[i].multiplier;
    shift[i] = m[i].shift;
  }
  Requant r;
  r.per_channel = true;
  r.multiplier = ToTensor(mult, device);
  r.shift = ToTensor(shift, device);
  return r;
}

Tensor MultiplyByQuantizedMultiplier(const Tensor& x, const Requant& m, Rounding rounding) {
  return m.per_channel ? MultiplyByQuantizedMultiplier(x, m.multiplier, m.shift, rounding)
                       : MultiplyByQuantizedMultiplier(x, m.scalar, rounding);
}

// --- §4.1 / §7.1 matrix products ----------------------------------------------------------------------

Tensor MatMulS8S8Float64(const Tensor& x, const Tensor& w) {
  // Exact: every product and partial sum is an integer below 2^53 in magnitude (see sim.h).
  return torch::matmul(x.to(torch::kFloat64), w.to(torch::kFloat64).t()).to(torch::kInt64);
}

Tensor MatMulS8S8(const Tensor& x, const Tensor& w) {
  if (x.dim() != 2 || w.dim() != 2 || x.size(1) != w.size(1)) {
    Fail("MatMulS8S8: x " + std::to_string(x.dim()) + "-d and w " + std::to_string(w.dim()) +
         "-d must be [B][K] and [R][K] with the same K");
  }
  // float64 (BLAS) is exact while |partial sums| <= 2^14 K < 2^53, and far faster than ATen's generic
  // int64 matmul; beyond that K (never in practice) only an int64 product is exact.
  if (x.size(1) < (int64_t{1} << 38)) return MatMulS8S8Float64(x, w);
  return torch::matmul(Long(x), Long(w).t());
}

Tensor GemvRequant(const Tensor& x, const Tensor& w, const Tensor& bias, const Requant& m, Rounding rounding) {
  Tensor acc = MatMulS8S8(x, w);
  if (bias.defined()) acc = acc + Long(bias);
  // The int32 accumulator wraps (numerics.md §4.1).
  return MultiplyByQuantizedMultiplier(Wrap32(acc), m, rounding);
}

// --- §2 fixed-point exp, logistic, tanh on int16 ------------------------------------------------------
namespace {

// gemmlowp FixedPoint<int16_t> operations (§2.1): add/sub/neg wrap, mul is the int16 SRDHM.
Tensor Add16(const Tensor& a, const Tensor& b) { return Wrap16(a + b); }
Tensor Add16(const Tensor& a, int64_t b) { return Wrap16(a + b); }
Tensor Sub16(const Tensor& a, const Tensor& b) { return Wrap16(a - b); }
Tensor Sub16(int64_t a, const Tensor& b) { return Wrap16(a - b); }
Tensor Sub16(const Tensor& a, int64_t b) { return Wrap16(a - b); }
Tensor Neg16(const Tensor& a) { return Wrap16(-a); }
Tensor Mul16(const Tensor& a, const Tensor& b) { return SaturatingRoundingDoublingHighMul16(a, b); }
Tensor Mul16(const Tensor& a, int64_t b) { return SaturatingRoundingDoublingHighMul16(a, static_cast<int16_t>(b)); }
Tensor Rescale16(const Tensor& v, int from_bits, int to_bits) {
  if (from_bits > to_bits) return SaturateToInt16(v * (int64_t{1} << (from_bits - to_bits)));
  if (from_bits < to_bits) return RoundingDivideByPOT(v, to_bits - from_bits);
  return v;
}
Tensor RoundingHalfSum16(const Tensor& a, int64_t b) {
  const Tensor sum = a + b;
  return torch::where(sum >= 0, TruncDiv(sum + 1, 2), TruncDiv(sum - 1, 2));
}

// exp on [−1/4, 0) in Q0 (§2.2 step 2).
Tensor ExpOnInterval(const Tensor& a) {
  const int64_t constant_term = Constant16(1895147668);  // e^(−1/8)
  const int64_t one_third = Constant16(715827883);
  const Tensor z = Add16(a, int64_t{1} << 12);  // a + 1/8
  const Tensor z2 = Mul16(z, z);
  const Tensor z3 = Mul16(z2, z);
  const Tensor z4 = Mul16(z2, z2);
  const Tensor z4_over_4 = RoundingDivideByPOT(z4, 2);
  const Tensor poly = RoundingDivideByPOT(Add16(Mul16(Add16(z4_over_4, z3), one_third), z2), 1);
  return SaturateToInt16(Mul16(Add16(z, poly), constant_term) + constant_term);  // the last add saturates
}

// Newton-Raphson 1/(1+a) in Q2 from the half denominator (§2.3).
Tensor ReciprocalQ2(const Tensor& half_denominator) {
  const int64_t c48_17 = Constant16(1515870810);
  const int64_t cm32_17 = Constant16(-1010580540);
  Tensor x = Add16(Mul16(half_denominator, cm32_17), c48_17);
  for (int i = 0; i < 3; ++i) {
    const Tensor one_minus = Sub16(kOneQ2, Mul16(half_denominator, x));
    x = Add16(x, Rescale16(Mul16(x, one_minus), 4, 2));
  }
  return x;
}

}  // namespace

Tensor ExpOnNegativeValuesQ15(const Tensor& a_in, int k) {
  CheckShift(k, 0, 7, "ExpOnNegativeValuesQ15 integer_bits");
  const Tensor a = Long(a_in);
  const int fractional_bits = 15 - k;
  const int64_t quarter = int64_t{1} << (fractional_bits - 2);
  const Tensor r = Sub16(torch::bitwise_and(a, quarter - 1), quarter);  // in [−1/4, 0)
  Tensor result = ExpOnInterval(Rescale16(r, k, 0));
  const Tensor remainder = Sub16(r, a);
  // Barrel shifter (§2.2 step 3): multiply by e^(−2^E) for each whole-quarter bit set.
  static constexpr struct {
    int exponent;
    int64_t multiplier32;
  } kSteps[] = {{-2, 1672461947}, {-1, 1302514674}, {0, 790015084}, {1, 290630308},
                {2, 39332535},    {3, 720401},      {4, 242}};
  for (const auto& s : kSteps) {
    if (k > s.exponent) {
      const int64_t bit = int64_t{1} << (fractional_bits + s.exponent);
      result = torch::where(torch::bitwise_and(remainder, bit) != 0, Mul16(result, Constant16(s.multiplier32)), result);
    }
  }
  if (k > 5) {
    const int64_t clamp = Constant16(-(int64_t{1} << (36 - k)));  // −32 in Qk
    result = torch::where(a < clamp, int64_t{0}, result);
  }
  return torch::where(a == 0, kOneQ0, result);
}

Tensor LogisticQ15(const Tensor& a_in, int k) {
  CheckShift(k, 0, 6, "LogisticQ15 integer_bits");
  const Tensor a = Long(a_in);
  const Tensor abs_a = torch::where(a > 0, a, Neg16(a));  // −32768 stays −32768 (wrap)
  const Tensor e = ExpOnNegativeValuesQ15(Neg16(abs_a), k);
  const Tensor x = ReciprocalQ2(RoundingHalfSum16(e, kOneQ0));
  const Tensor positive = Rescale16(x, 1, 0);  // x read as Q1, to Q0 (saturating ×2)
  const Tensor result = torch::where(a > 0, positive, Sub16(kOneQ0, positive));
  return torch::where(a == 0, int64_t{1} << 14, result);
}

Tensor TanhQ15(const Tensor& a_in, int k) {
  CheckShift(k, 0, 6, "TanhQ15 integer_bits");
  const Tensor a = Long(a_in);
  const Tensor n = torch::where(a < 0, a, Neg16(a));
  const Tensor e = ExpOnNegativeValuesQ15(n, k + 1);  // exp(2n): the same raw value read as Q(k+1)
  const Tensor x = ReciprocalQ2(RoundingHalfSum16(e, kOneQ0));
  const Tensor t = Rescale16(Sub16(x, kOneQ2), 2, 0);
  const Tensor result = torch::where(a < 0, Neg16(t), t);
  return torch::where(a == 0, int64_t{0}, result);
}

namespace {

enum class TableKind { kLogistic, kTanh };

Tensor CachedTable(TableKind kind, int k, const torch::Device& device) {
  CheckShift(k, 0, 6, kind == TableKind::kLogistic ? "LogisticQ15Table integer_bits" : "TanhQ15Table integer_bits");
  static std::mutex mu;
  // Leaked on purpose: tensors must not be destroyed after libtorch's own statics at exit.
  static auto* cache = new std::map<std::tuple<int, int, std::string>, Tensor>();
  std::lock_guard<std::mutex> lock(mu);
  const auto key = std::make_tuple(static_cast<int>(kind), k, device.str());
  auto it = cache->find(key);
  if (it != cache->end()) return it->second;
  const auto cpu_key = std::make_tuple(static_cast<int>(kind), k, torch::Device(torch::kCPU).str());
  auto cpu = cache->find(cpu_key);
  if (cpu == cache->end()) {
    const Tensor all = torch::arange(-32768, 32768, torch::TensorOptions().dtype(torch::kInt64));
    Tensor table = kind == TableKind::kLogistic ? LogisticQ15(all, k) : TanhQ15(all, k);
    cpu = cache->emplace(cpu_key, table.contiguous()).first;
  }
  Tensor on_device = cpu->second.to(device);
  cache->emplace(key, on_device);
  return on_device;
}

}  // namespace

Tensor LogisticQ15Table(int k, const torch::Device& device) { return CachedTable(TableKind::kLogistic, k, device); }
Tensor TanhQ15Table(int k, const torch::Device& device) { return CachedTable(TableKind::kTanh, k, device); }

Tensor LookupS16(const Tensor& table, const Tensor& a) { return torch::take(table, Long(a) + 32768); }

// --- §6.1 PWL evaluation ------------------------------------------------------------------------------

PwlTensors ToPwlTensors(const PwlTable& t, const torch::Device& device) {
  if (t.knot.empty() || t.slope.size() != t.knot.size() || t.intercept.size() != t.knot.size()) {
    Fail("ToPwlTensors: the table has " + std::to_string(t.knot.size()) + " knots, " +
         std::to_string(t.slope.size()) + " slopes and " + std::to_string(t.intercept.size()) +
         " intercepts but must have the same number >= 1 of each (validate it with ValidatePwlTable)");
  }
  CheckShift(t.shift, 0, 30, "PwlTable shift");
  PwlTensors p;
  p.input_min = t.input_min;
  p.input_max = t.input_max;
  p.output_min = t.output_min;
  p.output_max = t.output_max;
  p.shift = t.shift;
  p.odd = t.odd;
  p.center_in = t.center_in;
  p.center2_out = t.center2_out;
  p.knot = ToTensor(t.knot, device);
  p.slope = ToTensor(t.slope, device);
  p.intercept = ToTensor(t.intercept, device);
  return p;
}

namespace {

// §6.1 steps 3-5 for q inside [knot[0], input_max].
Tensor EvaluatePwlHalf(const PwlTensors& t, const Tensor& q) {
  // i = last knot <= q: upper bound − 1. q >= knot[0] holds, the clamp only guards the index.
  const Tensor i = torch::clamp_min(torch::searchsorted(t.knot, q, /*out_int32=*/false, /*right=*/true) - 1, 0);
  const Tensor d = q - torch::take(t.knot, i);
  const Tensor product = torch::take(t.slope, i) * d;  // |a·d| < 2^63 (numerics.md §6.1)
  const int64_t rounding = t.shift > 0 ? (int64_t{1} << (t.shift - 1)) : 0;
  const Tensor y = torch::take(t.intercept, i) + torch::bitwise_right_shift(product + rounding, t.shift);
  return torch::clamp(y, t.output_min, t.output_max);
}

}  // namespace

Tensor EvaluatePwl(const PwlTensors& t, const Tensor& q_in) {
  const Tensor q = torch::clamp(Long(q_in), t.input_min, t.input_max).contiguous();
  if (!t.odd) return EvaluatePwlHalf(t, q);
  const Tensor mirror = q < t.center_in;
  const Tensor qm = torch::where(mirror, torch::clamp_max(2 * t.center_in - q, t.input_max), q);
  const Tensor y = EvaluatePwlHalf(t, qm.contiguous());
  return torch::where(mirror, torch::clamp(t.center2_out - y, t.output_min, t.output_max), y);
}

Tensor EvaluatePwl(const PwlTable& table, const Tensor& q) { return EvaluatePwl(ToPwlTensors(table, q.device()), q); }

// --- §3 LayerNorm ---------------------------------------------------------------------------------------

std::pair<Tensor, Tensor> InvSqrtQuantizedMultiplier(const Tensor& v_in) {
  const Tensor v = Long(v_in);
  const Tensor small = v <= 1;
  Tensor x = torch::where(small, int64_t{2}, v);  // placeholder keeps the arithmetic below defined
  Tensor shift = torch::full_like(v, 11);
  // x < 2^31, so one division by 4 brings it below 2^29.
  const Tensor big = x >= (int64_t{1} << 29);
  x = torch::where(big, TruncDiv(x, 4), x);
  shift = shift + AsLong(big);
  // floor(log2 x) by binary search; clz = 31 − floor(log2 x).
  Tensor log2 = torch::zeros_like(x);
  Tensor y = x;
  for (int s : {16, 8, 4, 2, 1}) {
    const Tensor ge = y >= (int64_t{1} << s);
    log2 = log2 + AsLong(ge) * s;
    y = torch::where(ge, torch::bitwise_right_shift(y, s), y);
  }
  const Tensor clz = 31 - log2;
  const Tensor pairs = TruncDiv(clz - 1, 2) - 1;  // >= 0 since x < 2^29
  shift = shift - pairs;
  x = torch::bitwise_left_shift(x, 2 * pairs);  // now in [2^27, 2^29)

  // Newton-Raphson on Q3.28: x ← 1.5x − (v/2)·x^3, from 1.0.
  const Tensor half = RoundingDivideByPOT(torch::bitwise_right_shift(x, 1), 1);
  constexpr int32_t kThreeHalves = 402653184;
  Tensor r = torch::full_like(x, int64_t{1} << 28);
  for (int i = 0; i < 5; ++i) {
    const Tensor r3 =
        SaturatingShiftLeft32(SaturatingRoundingDoublingHighMul(SaturatingRoundingDoublingHighMul(r, r), r), 6);
    const Tensor diff =
        Wrap32(SaturatingRoundingDoublingHighMul(r, kThreeHalves) - SaturatingRoundingDoublingHighMul(half, r3));
    r = SaturatingShiftLeft32(diff, 3);
  }
  constexpr int32_t kHalfSqrt2 = 1518500250;
  r = SaturatingRoundingDoublingHighMul(r, kHalfSqrt2);
  const Tensor negative = shift < 0;
  r = torch::where(negative, SaturatingShiftLeft32(r, torch::clamp_min(-shift, 0)), r);
  shift = torch::where(negative, int64_t{0}, shift);
  return {torch::where(small, kInt32Max, r), torch::where(small, int64_t{0}, -shift)};
}

Tensor LayerNormS16(const Tensor& v_in, const Tensor& weight, const Tensor& bias, QuantizedMultiplier scale,
                    int32_t variance_guard, bool exact_statistics, Rounding rounding) {
  const Tensor v = Long(v_in);
  if (v.dim() != 2 || v.size(1) < 1) Fail("LayerNormS16: v must be [rows][n] with n >= 1");
  const int64_t n = v.size(1);
  constexpr int64_t kTwoTo20 = int64_t{1} << 20;
  const Tensor sum = v.sum(1);
  const Tensor sum_sq = (v * v).sum(1);
  const Tensor mean = TruncDiv(sum * 1024, n);  // units of 2^−10
  Tensor mean_sq_scaled;                        // E[v²]·2^20
  if (exact_statistics) {
    const Tensor q = TruncDiv(sum_sq, n);
    mean_sq_scaled = q * kTwoTo20 + TruncDiv((sum_sq - q * n) * kTwoTo20, n);
  } else {
    mean_sq_scaled = sum_sq * (kTwoTo20 / n);  // TFLite (quirk Q4)
  }
  Tensor variance = SaturateToInt32(TruncDiv(mean_sq_scaled - mean * mean, kTwoTo20));
  variance = torch::where(variance < 1, int64_t{variance_guard}, variance);
  const auto inv_std = InvSqrtQuantizedMultiplier(variance);
  const Tensor shifted = v * 1024 - mean.unsqueeze(1);
  const Tensor rescaled =
      MultiplyByQuantizedMultiplier(shifted, inv_std.first.unsqueeze(1), inv_std.second.unsqueeze(1), rounding);
  const Tensor t = rescaled * Long(weight) + Long(bias);
  const Tensor u = SaturateToInt32(TruncDiv(torch::where(t > 0, t + 512, t - 512), 1024));
  const QuantizedMultiplier out_scale{scale.multiplier, scale.shift + 12};
  return SaturateToInt16(MultiplyByQuantizedMultiplier(u, out_scale, rounding));
}

// --- §4-§5 the LSTM -------------------------------------------------------------------------------------
namespace {

template <typename T>
Tensor Matrix(const std::vector<T>& v, int64_t rows, int64_t cols, const char* field, const torch::Device& device) {
  if (static_cast<int64_t>(v.size()) != rows * cols) {
    Fail(std::string("PrepareSimTfliteLstm: ") + field + " has " + std::to_string(v.size()) +
         " elements but must have " + std::to_string(rows * cols));
  }
  return ToTensor(v, device).view({rows, cols});
}

template <typename T>
Tensor Vector(const std::vector<T>& v, int64_t n, const char* field, const torch::Device& device) {
  return Matrix(v, 1, n, field, device).view({n});
}

// The multiplier of one matmul: per-channel when `channel` is set (numerics.md §7.1), else per-tensor.
Requant MakeRequant(QuantizedMultiplier tensor_scale, const std::vector<QuantizedMultiplier>& channel, int64_t rows,
                    const char* field, const torch::Device& device) {
  if (channel.empty()) return ScalarRequant(tensor_scale);
  if (static_cast<int64_t>(channel.size()) != rows) {
    Fail(std::string("PrepareSimTfliteLstm: ") + field + " has " + std::to_string(channel.size()) +
         " elements but must have 0 or " + std::to_string(rows));
  }
  return PerChannelRequant(channel, device);
}

void CheckShape(const Tensor& t, int64_t rows, int64_t cols, const char* what) {
  if (t.dim() != 2 || t.size(0) != rows || t.size(1) != cols) {
    std::string got = "[";
    for (int64_t i = 0; i < t.dim(); ++i) got += (i ? "][" : "") + std::to_string(t.size(i));
    Fail(std::string("SimTfliteLstmStep: ") + what + " is " + got + "] but must be [" + std::to_string(rows) + "][" +
         std::to_string(cols) + "]");
  }
}

}  // namespace

SimTfliteLstm PrepareSimTfliteLstm(const TfliteLstmParams& p, const torch::Device& device) {
  const TfliteLstmConfig& c = p.config;
  if (c.n_input < 1 || c.n_cell < 1 || c.n_output < 1) Fail("PrepareSimTfliteLstm: sizes must be >= 1");
  if (!c.use_projection && c.n_output != c.n_cell) Fail("PrepareSimTfliteLstm: n_output must equal n_cell");
  if (c.use_peephole && c.tflite_compat && c.n_output > c.n_cell) {
    Fail("PrepareSimTfliteLstm: n_output must be <= n_cell for a peephole LSTM in tflite_compat mode");
  }
  CheckShift(p.cell_scale, -15, -9, "PrepareSimTfliteLstm: cell_scale");
  SimTfliteLstm m;
  m.config = c;
  m.device = device;
  const int64_t ni = c.n_input, nc = c.n_cell, no = c.n_output;
  for (int g = 0; g < 4; ++g) {
    if (c.use_cifg && g == kInputGate) continue;
    m.w_x[g] = Matrix(p.weights.input_to_gate[g], nc, ni, "weights.input_to_gate", device);
    m.w_h[g] = Matrix(p.weights.recurrent_to_gate[g], nc, no, "weights.recurrent_to_gate", device);
    m.bias_x[g] = Vector(p.input_to_gate_effective_bias[g], nc, "input_to_gate_effective_bias", device);
    m.bias_h[g] = Vector(p.recurrent_to_gate_effective_bias[g], nc, "recurrent_to_gate_effective_bias", device);
    // Per-channel multipliers (numerics.md §7.1) replace the per-tensor one of the same matmul.
    m.m_x[g] = MakeRequant(p.input_to_gate_scale[g], p.input_to_gate_channel_scale[g], nc,
                           "input_to_gate_channel_scale", device);
    m.m_h[g] = MakeRequant(p.recurrent_to_gate_scale[g], p.recurrent_to_gate_channel_scale[g], nc,
                           "recurrent_to_gate_channel_scale", device);
    if (c.use_peephole && g != kCellGate) {
      m.w_c[g] = Vector(p.weights.cell_to_gate[g], nc, "weights.cell_to_gate", device);
      m.m_c[g] = p.cell_to_gate_scale[g];
    }
    if (c.use_layer_norm) {
      m.ln_weight[g] = Vector(p.weights.layer_norm[g], nc, "weights.layer_norm", device);
      m.ln_bias[g] = Vector(p.weights.gate_bias[g], nc, "weights.gate_bias", device);
      m.ln_scale[g] = p.layer_norm_scale[g];
      m.variance_guard[g] = p.variance_guard[g];
    }
  }
  m.hidden_scale = p.hidden_scale;
  if (c.use_projection) {
    m.w_p = Matrix(p.weights.projection, no, nc, "weights.projection", device);
    m.bias_p = Vector(p.projection_effective_bias, no, "projection_effective_bias", device);
    m.m_p = MakeRequant(p.projection_scale, p.projection_channel_scale, no, "projection_channel_scale", device);
  }
  m.cell_scale = p.cell_scale;
  m.cell_clip = p.quantized_cell_clip;
  m.proj_clip = p.quantized_proj_clip;
  m.hidden_zp = p.hidden_zp;
  m.output_zp = p.output_zp;
  if (c.activation == LstmActivation::kPwl) {
    m.pwl_sigmoid = ToPwlTensors(p.pwl_sigmoid, device);
    m.pwl_tanh_gate = ToPwlTensors(p.pwl_tanh_gate, device);
    m.pwl_tanh_cell = ToPwlTensors(p.pwl_tanh_cell, device);
  } else {
    m.sigmoid_table = LogisticQ15Table(3, device);  // Q3.12 gate pre-activations
    m.tanh_gate_table = TanhQ15Table(3, device);
    m.tanh_cell_table = TanhQ15Table(15 + p.cell_scale, device);  // the raw cell is its real value
  }
  return m;
}

std::pair<Tensor, Tensor> SimTfliteLstmInitialState(const SimTfliteLstm& m, int64_t batch) {
  const auto opts = torch::TensorOptions().dtype(torch::kInt64).device(m.device);
  return {torch::full({batch, m.config.n_output}, int64_t{m.output_zp}, opts),
          torch::zeros({batch, m.config.n_cell}, opts)};
}

namespace {

// §4.1-§4.2 (and §3) the int16 pre-activation of gate g; c_peep is the cell its peephole reads.
Tensor GatePreactivation(const SimTfliteLstm& m, int g, const Tensor& x, const Tensor& h, const Tensor& c_peep) {
  const TfliteLstmConfig& c = m.config;
  const Rounding rnd = c.rounding;
  const int64_t batch = x.size(0);
  const bool peephole = c.use_peephole && g != kCellGate;
  const Tensor a_x = GemvRequant(x, m.w_x[g], m.bias_x[g], m.m_x[g], rnd);
  const Tensor a_h = GemvRequant(h, m.w_h[g], m.bias_h[g], m.m_h[g], rnd);
  Tensor gate;
  if (c.tflite_compat) {
    gate = SaturateToInt16(SaturateToInt16(a_x) + a_h);  // two saturations (quirk Q5)
    if (peephole) {
      // Quirk Q1: the peephole runs over the first B·n_output cells of the flat [B][n_cell] buffer with
      // weight index i mod n_output.
      const int64_t len = batch * c.n_output;
      const Tensor flat = gate.reshape({-1});
      const Tensor w = m.w_c[g].slice(0, 0, c.n_output).repeat({batch});
      const Tensor p = MultiplyByQuantizedMultiplier(w * c_peep.reshape({-1}).slice(0, 0, len), m.m_c[g], rnd);
      gate = torch::cat({SaturateToInt16(flat.slice(0, 0, len) + p), flat.slice(0, len)}).view({batch, c.n_cell});
    }
  } else {
    Tensor acc = SaturateToInt32(a_x + a_h);
    if (peephole) acc = SaturateToInt32(acc + MultiplyByQuantizedMultiplier(m.w_c[g] * c_peep, m.m_c[g], rnd));
    gate = SaturateToInt16(acc);
  }
  if (c.use_layer_norm) {
    gate = LayerNormS16(gate, m.ln_weight[g], m.ln_bias[g], m.ln_scale[g], m.variance_guard[g],
                        /*exact_statistics=*/!c.tflite_compat, rnd);
  }
  return gate;
}

Tensor Sigmoid(const SimTfliteLstm& m, const Tensor& v) {
  return m.config.activation == LstmActivation::kPwl ? EvaluatePwl(m.pwl_sigmoid, v) : LookupS16(m.sigmoid_table, v);
}
Tensor TanhGate(const SimTfliteLstm& m, const Tensor& v) {
  return m.config.activation == LstmActivation::kPwl ? EvaluatePwl(m.pwl_tanh_gate, v)
                                                     : LookupS16(m.tanh_gate_table, v);
}
Tensor TanhCell(const SimTfliteLstm& m, const Tensor& v) {
  return m.config.activation == LstmActivation::kPwl ? EvaluatePwl(m.pwl_tanh_cell, v)
                                                     : LookupS16(m.tanh_cell_table, v);
}

}  // namespace

SimLstmStep SimTfliteLstmStep(const SimTfliteLstm& m, const Tensor& x_in, const Tensor& h_in, const Tensor& c_in,
                              SimLstmTrace* trace) {
  const TfliteLstmConfig& cfg = m.config;
  if (x_in.dim() != 2) Fail("SimTfliteLstmStep: x must be [B][n_input]");
  const int64_t batch = x_in.size(0);
  CheckShape(x_in, batch, cfg.n_input, "x");
  CheckShape(h_in, batch, cfg.n_output, "h");
  CheckShape(c_in, batch, cfg.n_cell, "c");
  if (x_in.device() != m.device || h_in.device() != m.device || c_in.device() != m.device) {
    Fail("SimTfliteLstmStep: x, h and c must be on the model's device " + m.device.str());
  }
  const Tensor x = Long(x_in), h = Long(h_in), c = Long(c_in);
  const Rounding rnd = cfg.rounding;

  std::array<Tensor, 4> gate;
  for (int g : {kInputGate, kForgetGate, kCellGate}) {
    if (g == kInputGate && cfg.use_cifg) continue;
    const Tensor pre = GatePreactivation(m, g, x, h, c);
    gate[g] = g == kCellGate ? TanhGate(m, pre) : Sigmoid(m, pre);
    if (trace != nullptr) {
      trace->gate_preact[g] = pre;
      trace->gate[g] = gate[g];
    }
  }
  // §4.3 cell update. The int16 casts wrap as the runtime's do (they are exact for these ranges).
  const Tensor kept = Wrap16(RoundingDivideByPOT(gate[kForgetGate] * c, 15));
  const Tensor in_gate = cfg.use_cifg ? kOneQ0 - gate[kForgetGate] : gate[kInputGate];
  const Tensor added = Wrap16(RoundingDivideByPOT(in_gate * gate[kCellGate], 30 + m.cell_scale));
  Tensor c_new = SaturateToInt16(kept + added);
  if (m.cell_clip > 0) c_new = torch::clamp(c_new, -m.cell_clip, m.cell_clip);

  const Tensor o_pre = GatePreactivation(m, kOutputGate, x, h, c_new);  // peephole reads the updated cell
  const Tensor o = Sigmoid(m, o_pre);
  const Tensor tanh_c = TanhCell(m, c_new);
  if (trace != nullptr) {
    trace->gate_preact[kOutputGate] = o_pre;
    trace->gate[kOutputGate] = o;
    trace->tanh_cell = tanh_c;
  }
  // §4.4 hidden and output.
  const Tensor scaled = MultiplyByQuantizedMultiplier(o * tanh_c, m.hidden_scale, rnd);
  Tensor out;
  if (cfg.use_projection) {
    const int64_t hidden_zp = cfg.tflite_compat ? -int64_t{m.hidden_zp} : int64_t{m.hidden_zp};  // quirk Q2
    const Tensor hidden = SaturateToInt8(scaled + hidden_zp);
    if (trace != nullptr) trace->hidden = hidden;
    const Tensor acc = GemvRequant(hidden, m.w_p, m.bias_p, m.m_p, rnd);
    int64_t lo = -128, hi = 127;
    if (m.proj_clip > 0) {
      const int64_t center = cfg.tflite_compat ? 0 : m.output_zp;  // quirk Q3
      lo = std::max<int64_t>(-128, center - m.proj_clip);
      hi = std::min<int64_t>(127, center + m.proj_clip);
    }
    out = torch::clamp(SaturateToInt8(acc + int64_t{m.output_zp}), lo, hi);
  } else {
    out = SaturateToInt8(scaled + int64_t{m.hidden_zp});
  }
  return {out, out, c_new};
}

SimLstmStep SimTfliteLstmStep(const TfliteLstmParams& params, const Tensor& x, const Tensor& h, const Tensor& c) {
  return SimTfliteLstmStep(PrepareSimTfliteLstm(params, x.device()), x, h, c);
}

SimLstmSequence SimTfliteLstmSequence(const SimTfliteLstm& m, const Tensor& x, const Tensor& h0, const Tensor& c0) {
  if (x.dim() != 3) Fail("SimTfliteLstmSequence: x must be [T][B][n_input]");
  Tensor h = h0, c = c0;
  std::vector<Tensor> outs;
  outs.reserve(static_cast<size_t>(x.size(0)));
  for (int64_t t = 0; t < x.size(0); ++t) {
    SimLstmStep s = SimTfliteLstmStep(m, x[t], h, c);
    outs.push_back(s.out);
    h = s.h;
    c = s.c;
  }
  Tensor out = outs.empty() ? torch::empty({0, x.size(1), m.config.n_output}, x.options().dtype(torch::kInt64))
                            : torch::stack(outs);
  return {out, Long(h), Long(c)};
}

SimLstmSequence SimTfliteLstmSequence(const TfliteLstmParams& params, const Tensor& x, const Tensor& h0,
                                      const Tensor& c0) {
  return SimTfliteLstmSequence(PrepareSimTfliteLstm(params, x.device()), x, h0, c0);
}

// --- §7.2 Embedding, §7.3 Linear ---------------------------------------------------------------------------

Tensor EmbeddingLookup(const Tensor& table, const Tensor& tokens_in) {
  if (table.dim() != 2) Fail("EmbeddingLookup: table must be [vocab][dim]");
  const Tensor tokens = Long(tokens_in);
  const int64_t vocab = table.size(0);
  if (tokens.numel() > 0) {
    const int64_t lo = tokens.min().item<int64_t>();
    const int64_t hi = tokens.max().item<int64_t>();
    if (lo < 0 || hi >= vocab) {
      Fail("EmbeddingLookup: token id " + std::to_string(lo < 0 ? lo : hi) + " is outside [0, " +
           std::to_string(vocab) + ")");
    }
  }
  std::vector<int64_t> shape(tokens.sizes().begin(), tokens.sizes().end());
  shape.push_back(table.size(1));
  return Long(table).index_select(0, tokens.reshape({-1})).view(shape);
}

Tensor LinearToLogits(const Tensor& x, const Tensor& w, const Tensor& eff_bias, const Tensor& multiplier,
                      const Tensor& shift, Rounding rounding) {
  if (w.dim() != 2 || multiplier.numel() != w.size(0) || shift.numel() != w.size(0) ||
      (eff_bias.defined() && eff_bias.numel() != w.size(0))) {
    Fail("LinearToLogits: w must be [R][K] with eff_bias, multiplier and shift of R = " +
         std::to_string(w.dim() == 2 ? w.size(0) : -1) + " elements");
  }
  Requant m;
  m.per_channel = true;
  m.multiplier = Long(multiplier).reshape({-1});
  m.shift = Long(shift).reshape({-1});
  return GemvRequant(x, w, eff_bias.defined() ? eff_bias.reshape({-1}) : eff_bias, m, rounding);
}

}  // namespace irnn::train::sim
