// Property test of the integer LayerNorm (LayerNormS16, numerics.md §3) against double-precision
// LayerNorm, with the error bound of numerics.md §9.7: exhaustive over every row of small n on a small
// value range, and random rows of larger n over the whole int16 range. The reference is the real
// LayerNorm of the integer row: out = clamp(2^12·S·(z·w + β/1024)) with z = (v − μ)/σ (population
// statistics) and S the real value of the LN scale multiplier. Rows whose variance is below 1 (the
// kernel then uses the variance guard, as TFLite) are excluded. The exact-statistics mode is tested for
// every n, TFLite's truncated 2^20/n for powers of two (where it is exact).

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "kernels/lstm_kernels.h"

namespace irnn {
namespace {

struct Worst {
  double ratio = 0;  // max over outputs of error / bound
  double lsb = 0;    // max error in output LSBs
  double lsb_wide = 0;  // the same over rows with σ >= 64 (well-conditioned)
  double z_wide = 0;    // over those rows and |w| >= 1024: error / (G·|w|), the error in units of z
  int64_t rows = 0;
};

// §9.7: |out − ref| <= 1 + G·(0.5 + |w|·δz), G = 2^12·S (output LSBs per unit of z·w), with
// d = 1 + 2|μ|/1024 (the variance error: floor, and the truncated mean squared), ρ = 1/sqrt(1 − d/σ²) − 1
// and δz = |z|·(ρ + 2^−16) + (1 + ρ)·2^−9/σ + 2^−10. Rows with σ² < 2d are not compared.
void CheckRows(const std::vector<int16_t>& in, int n, const std::vector<int16_t>& w, const std::vector<int32_t>& b,
               QuantizedMultiplier scale, bool exact, Worst* worst) {
  const int rows = static_cast<int>(in.size() / n);
  std::vector<int16_t> out(in.size());
  reference::LstmKernelTable().LayerNormS16(in.data(), w.data(), b.data(), n, rows, scale, 1, exact,
                                            Rounding::kDouble, out.data());
  const double S = std::ldexp(static_cast<double>(scale.multiplier), scale.shift - 31);
  const double G = 4096.0 * S;
  for (int r = 0; r < rows; ++r) {
    const int16_t* v = in.data() + int64_t{r} * n;
    double mu = 0;
    for (int j = 0; j < n; ++j) mu += v[j];
    mu /= n;
    double var = 0;
    for (int j = 0; j < n; ++j) var += (v[j] - mu) * (v[j] - mu);
    var /= n;
    const double d = 1 + 2 * std::abs(mu) / 1024;  // how much lower the kernel's variance can be
    if (var < 2 * d) continue;  // near the guard: the kernel's floor(var) may be < 1 (TFLite's guard)
    ++worst->rows;
    const double sigma = std::sqrt(var);
    for (int j = 0; j < n; ++j) {
      const double z = (v[j] - mu) / sigma;
      const double ref = std::clamp(G * (z * w[j] + b[j] / 1024.0), -32768.0, 32767.0);
      const double err = std::abs(out[int64_t{r} * n + j] - ref);
      const double rel = 1 / std::sqrt(1 - d / var) - 1;  // floor(var) and the truncated mean in var
      const double dz = std::abs(z) * (rel + std::ldexp(1.0, -16)) + (1 + rel) * std::ldexp(1.0, -9) / sigma +
                        std::ldexp(1.0, -10);
      const double bound = 1 + G * (0.5 + std::abs(w[j]) * dz);
      worst->ratio = std::max(worst->ratio, err / bound);
      worst->lsb = std::max(worst->lsb, err);
      if (sigma >= 64) worst->lsb_wide = std::max(worst->lsb_wide, err);
      if (sigma >= 64 && std::abs(w[j]) >= 1024 && std::abs(ref) < 32767) {
        worst->z_wide = std::max(worst->z_wide, err / (G * std::abs(w[j])));
      }
      ASSERT_LE(err, bound) << "n " << n << " row " << r << " j " << j << " out " << out[int64_t{r} * n + j]
                            << " ref " << ref;
    }
  }
}

// Every row of n values in [lo, hi] (n = 2: [−128, 127]; n = 3: [−24, 23]; n = 4: [−8, 7]).
TEST(LayerNormProperty, ExhaustiveSmallRows) {
  std::mt19937 rng(3);
  Worst worst;
  const struct { int n, lo, hi; } sets[] = {{2, -128, 127}, {3, -24, 23}, {4, -8, 7}};
  for (const auto& set : sets) {
    const int span = set.hi - set.lo + 1;
    int64_t count = 1;
    for (int i = 0; i < set.n; ++i) count *= span;
    std::vector<int16_t> in(static_cast<size_t>(count) * set.n);
    for (int64_t r = 0; r < count; ++r) {
      int64_t x = r;
      for (int j = 0; j < set.n; ++j, x /= span) in[r * set.n + j] = static_cast<int16_t>(set.lo + x % span);
    }
    for (const QuantizedMultiplier scale : {QuantizedMultiplier{1 << 30, -14}, QuantizedMultiplier{1518500250, -10}}) {
      std::vector<int16_t> w(set.n);
      std::vector<int32_t> b(set.n);
      for (auto& x : w) x = static_cast<int16_t>(std::uniform_int_distribution<int>(-32767, 32767)(rng));
      for (auto& x : b) x = std::uniform_int_distribution<int32_t>(-(1 << 22), 1 << 22)(rng);
      CheckRows(in, set.n, w, b, scale, true, &worst);
      if ((set.n & (set.n - 1)) == 0) CheckRows(in, set.n, w, b, scale, false, &worst);
    }
  }
  std::cout << "[ MEASURED ] LayerNorm exhaustive: " << worst.rows << " rows, max error " << worst.lsb
            << " LSB of Q3.12, max error/bound " << worst.ratio << "\n";
}

TEST(LayerNormProperty, RandomRows) {
  std::mt19937 rng(4);
  Worst worst;
  for (int trial = 0; trial < 300; ++trial) {
    const int n = std::vector<int>{5, 8, 17, 33, 64, 255, 1024}[trial % 7];
    const int rows = 8;
    // Values: a random offset and spread, anywhere in int16.
    const int spread = std::uniform_int_distribution<int>(2, 32767)(rng);
    const int center = std::uniform_int_distribution<int>(-32768 + spread / 2, 32767 - spread / 2)(rng);
    std::vector<int16_t> in(static_cast<size_t>(rows) * n);
    for (auto& x : in) {
      x = static_cast<int16_t>(std::clamp(center + std::uniform_int_distribution<int>(-spread / 2, spread / 2)(rng),
                                          -32768, 32767));
    }
    std::vector<int16_t> w(n);
    std::vector<int32_t> b(n);
    for (auto& x : w) x = static_cast<int16_t>(std::uniform_int_distribution<int>(-32767, 32767)(rng));
    for (auto& x : b) x = std::uniform_int_distribution<int32_t>(-(1 << 22), 1 << 22)(rng);
    const QuantizedMultiplier scale{std::uniform_int_distribution<int32_t>(1 << 30, 0x7FFFFFFF)(rng),
                                    std::uniform_int_distribution<int>(-16, -9)(rng)};
    CheckRows(in, n, w, b, scale, true, &worst);
    if ((n & (n - 1)) == 0) CheckRows(in, n, w, b, scale, false, &worst);
  }
  std::cout << "[ MEASURED ] LayerNorm random: " << worst.rows << " rows, max error " << worst.lsb
            << " LSB of Q3.12 (" << worst.lsb_wide << " where sigma >= 64, that is " << worst.z_wide
            << " in units of z), max error/bound " << worst.ratio << "\n";
}

}  // namespace
}  // namespace irnn
