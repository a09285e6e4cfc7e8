// The fake-quantization helpers of the QAT models (qat.cc, qat_gru.cc, g2p_qat.cc, qat_attention.cc,
// qat_layers.cc; numerics.md §4, §7): straight-through fake quantization onto an integer grid, the
// symmetric int8 per-row weight scale (also rounded to power-of-two multipliers), the asymmetric int8
// activation grid an observer's range gives (also with a power-of-two scale), and rounding a double to
// int32 for export. Float training code (libtorch); not part of the integer runtime, and not the integer
// simulation (sim.h).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include <torch/torch.h>

namespace irnn::train::fq {

// Straight-through fake quantization onto scale * (q - zp), q in [qmin, qmax]: the value is rounded and
// clamped; the gradient passes unchanged inside the range and is zero where the value was clamped.
inline torch::Tensor FakeQuant(const torch::Tensor& x, double scale, int64_t zp, int64_t qmin, int64_t qmax) {
  const torch::Tensor q = torch::clamp(torch::round(x / scale) + zp, qmin, qmax);
  const torch::Tensor y = (q - zp) * scale;
  const torch::Tensor inside = (x >= (qmin - zp) * scale) & (x <= (qmax - zp) * scale);
  return y.detach() + (x - x.detach()) * inside;
}

// Symmetric per-row weight scale max|w[r]| / qmax ([rows][1]; at least 1e-12): qmax 127 (int8), or 63
// (7-bit weights, QatOptions::weight_bits).
inline torch::Tensor RowScale(const torch::Tensor& w, int qmax = 127) {
  return (w.detach().abs().amax({1}, true) / static_cast<double>(qmax)).clamp_min(1e-12);
}

// w fake-quantized to [-qmax, qmax] per row (RowScale), with a straight-through gradient.
inline torch::Tensor FakeQuantRows(const torch::Tensor& w, int qmax = 127) {
  const torch::Tensor s = RowScale(w, qmax);
  const torch::Tensor q = torch::clamp(torch::round(w / s), -qmax, qmax) * s;
  return w + (q - w).detach();
}

// Power-of-two scales (numerics.md §7.1.1). The per-row weight scale of a matmul whose input has scale
// s_in and whose result lands on the Q3.12 gate grid, rounded up so that the row's multiplier
// S_W[r] * s_in * 2^12 is a power of two 2^e ([rows][1], float64). Rounding up never clips a weight,
// except that e is capped to [-31, -1] so that the multiplier is (2^30, shift <= 0): a row with
// max|w[r]| > qmax * 2^-13 / s_in clips at ±qmax (QAT trains with this same scale).
inline torch::Tensor PotRowScale(const torch::Tensor& w, double s_in, int qmax = 127) {
  const double unit = s_in * 4096.0;
  const torch::Tensor e = torch::ceil(torch::log2(RowScale(w, qmax).to(torch::kFloat64) * unit)).clamp(-31, -1);
  return torch::exp2(e) / unit;
}

// w fake-quantized to [-qmax, qmax] per row at the given scales [rows][1], with a straight-through
// gradient.
inline torch::Tensor FakeQuantRowsAt(const torch::Tensor& w, const torch::Tensor& scale, int qmax = 127) {
  const torch::Tensor s = scale.to(w.scalar_type());
  const torch::Tensor q = torch::clamp(torch::round(w / s), -qmax, qmax) * s;
  return w + (q - w).detach();
}

// The asymmetric int8 grid covering [lo, hi] and 0: the scale (rounded to float, as the runtime's
// quantization parameters hold it) and the zero point.
inline void AsymmetricGrid(double lo, double hi, double* scale, int32_t* zero_point) {
  lo = std::min(lo, 0.0);
  hi = std::max(hi, 0.0);
  if (hi - lo < 1e-8) hi = lo + 1e-8;
  *scale = static_cast<double>(static_cast<float>((hi - lo) / 255.0));
  *zero_point = static_cast<int32_t>(std::clamp(std::lround(-128 - lo / *scale), -128L, 127L));
}

// The same grid with a power-of-two scale (numerics.md §7.1.1): the smallest 2^e with 256·2^e ≥ hi − lo
// (so [−1, 1] gets 2^−7, not 2^−6: the grid's 255 steps may fall short of the range by one step, which
// then clips), the zero point as AsymmetricGrid computes it for that scale.
inline void AsymmetricGridPot(double lo, double hi, double* scale, int32_t* zero_point) {
  lo = std::min(lo, 0.0);
  hi = std::max(hi, 0.0);
  if (hi - lo < 1e-8) hi = lo + 1e-8;
  *scale = std::exp2(std::ceil(std::log2((hi - lo) / 256.0)));
  *zero_point = static_cast<int32_t>(std::clamp(std::lround(-128 - lo / *scale), -128L, 127L));
}

// Round to nearest (ties to even), saturated to [-2^31 + 1, 2^31 - 1].
inline int32_t RoundToInt32(double v) {
  return static_cast<int32_t>(std::clamp(std::nearbyint(v), -2147483647.0, 2147483647.0));
}

}  // namespace irnn::train::fq
