// The elementwise kernels of the sequence layers (src/kernels/elementwise_kernels.h, numerics.md
// §10.2-§10.3): the scalar reference against a direct int64 evaluation of the formulas, and AVX2 against
// the scalar reference, bit for bit: every (a, b) int8 pair of the residual add for random and edge
// multipliers in both roundings, every (x, gate) pair of MogrifyS8 for edge zero points, odd sizes 1, 3,
// 17, 33, 255 (tails), saturation, and outputs written over an input (aliasing). AVX2 missing fails the
// test unless IRNN_ALLOW_NO_AVX2=1, which makes it a skip.

#include "kernels/elementwise_kernels.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "core/fixed_point.h"

namespace irnn {
namespace {

const ElementwiseKernels* Avx2OrSkip() {
  if (KernelPathAvailable(KernelPath::kAvx2)) return avx2::ElementwiseKernelTable();
  const char* allow = std::getenv("IRNN_ALLOW_NO_AVX2");
  if (allow == nullptr || std::string(allow) != "1") ADD_FAILURE() << "AVX2 not available (IRNN_ALLOW_NO_AVX2=1 skips)";
  return nullptr;
}

// The formula of numerics.md §10.2 written out in int64 with the §1 primitives.
int8_t AddFormula(int8_t a, int8_t b, const ResidualAddParams& p) {
  const int32_t sa = MultiplyByQuantizedMultiplier((a - p.a_zp) * (1 << 20), p.a_scale, p.rounding);
  const int32_t sb = MultiplyByQuantizedMultiplier((b - p.b_zp) * (1 << 20), p.b_scale, p.rounding);
  return SaturateToInt8(int64_t{MultiplyByQuantizedMultiplier(sa + sb, p.output_scale, p.rounding)} + p.output_zp);
}

std::vector<ResidualAddParams> SomeParams(std::mt19937_64& rng) {
  std::vector<ResidualAddParams> v;
  std::uniform_int_distribution<int32_t> m(1 << 30, 2147483647);
  std::uniform_int_distribution<int> zp(-128, 127);
  for (int i = 0; i < 12; ++i) {
    ResidualAddParams p;
    p.a_zp = zp(rng);
    p.b_zp = zp(rng);
    p.output_zp = zp(rng);
    p.a_scale = {m(rng), -std::uniform_int_distribution<int>(0, 3)(rng)};
    p.b_scale = {m(rng), -std::uniform_int_distribution<int>(0, 3)(rng)};
    p.output_scale = {m(rng), std::uniform_int_distribution<int>(-22, -16)(rng)};
    p.rounding = i % 2 ? Rounding::kSingle : Rounding::kDouble;
    v.push_back(p);
  }
  // Edges: extreme zero points, multipliers 2^30 and 2^31 - 1, 0, the extreme shifts.
  ResidualAddParams e;
  e.a_zp = -128;
  e.b_zp = 127;
  e.output_zp = 127;
  e.a_scale = {2147483647, 0};
  e.b_scale = {1 << 30, -31};
  e.output_scale = {2147483647, 30};  // saturates everything but zero
  v.push_back(e);
  e.output_scale = {1 << 30, -31};
  e.b_scale = {0, 0};
  v.push_back(e);
  e.a_zp = 127;
  e.b_zp = -128;
  e.output_zp = -128;
  e.a_scale = {1 << 30, 0};
  e.b_scale = {1 << 30, 0};
  e.output_scale = {1 << 30, -19};  // a + b in real terms
  v.push_back(e);
  const size_t end = v.size();
  for (size_t i = end - 3; i < end; ++i) {
    ResidualAddParams s = v[i];
    s.rounding = Rounding::kSingle;
    v.push_back(s);
  }
  return v;
}

// All 65,536 (a, b) pairs.
void AllPairs(std::vector<int8_t>* a, std::vector<int8_t>* b) {
  for (int x = -128; x < 128; ++x) {
    for (int y = -128; y < 128; ++y) {
      a->push_back(static_cast<int8_t>(x));
      b->push_back(static_cast<int8_t>(y));
    }
  }
}

TEST(ElementwiseKernels, ReferenceAddIsTheFormulaOnAllPairs) {
  std::mt19937_64 rng(1);
  std::vector<int8_t> a, b;
  AllPairs(&a, &b);
  int saturated = 0;
  for (const ResidualAddParams& p : SomeParams(rng)) {
    ASSERT_TRUE(ValidateResidualAddParams(p).ok()) << ValidateResidualAddParams(p).message();
    std::vector<int8_t> out(a.size());
    reference::ElementwiseKernelTable().AddS8S8RequantS8(a.data(), b.data(), static_cast<int>(a.size()), p, out.data());
    for (size_t i = 0; i < a.size(); ++i) {
      ASSERT_EQ(out[i], AddFormula(a[i], b[i], p)) << "a " << int{a[i]} << " b " << int{b[i]};
      saturated += out[i] == 127 || out[i] == -128;
    }
  }
  EXPECT_GT(saturated, 1000);
}

TEST(ElementwiseKernels, Avx2AddEqualsScalarOnAllPairsOddSizesAndAliasing) {
  const ElementwiseKernels* k = Avx2OrSkip();
  if (k == nullptr) return;
  const ElementwiseKernels& ref = reference::ElementwiseKernelTable();
  std::mt19937_64 rng(2);
  std::vector<int8_t> a, b;
  AllPairs(&a, &b);
  for (const ResidualAddParams& p : SomeParams(rng)) {
    std::vector<int8_t> want(a.size()), got(a.size());
    ref.AddS8S8RequantS8(a.data(), b.data(), static_cast<int>(a.size()), p, want.data());
    k->AddS8S8RequantS8(a.data(), b.data(), static_cast<int>(a.size()), p, got.data());
    ASSERT_EQ(want, got);
    for (int n : {1, 3, 17, 33, 255}) {
      for (int offset : {0, 5}) {
        std::vector<int8_t> w(n), g(n, 0x55);
        ref.AddS8S8RequantS8(a.data() + 1000 * offset + 7, b.data() + 300 * offset, n, p, w.data());
        k->AddS8S8RequantS8(a.data() + 1000 * offset + 7, b.data() + 300 * offset, n, p, g.data());
        ASSERT_EQ(w, g) << "n " << n;
        // In place: out aliases a.
        std::vector<int8_t> in(a.begin() + 500, a.begin() + 500 + n);
        k->AddS8S8RequantS8(in.data(), b.data() + 500, n, p, in.data());
        ref.AddS8S8RequantS8(a.data() + 500, b.data() + 500, n, p, w.data());
        ASSERT_EQ(w, in) << "aliased, n " << n;
      }
    }
  }
}

TEST(ElementwiseKernels, MogrifyReferenceIsTheFormulaAndAvx2EqualsItOnAllInputs) {
  const ElementwiseKernels& ref = reference::ElementwiseKernelTable();
  const ElementwiseKernels* k = Avx2OrSkip();
  std::vector<int16_t> gate;
  std::vector<int8_t> x;
  for (int g = 0; g < 32768; g += 1) {
    for (int v = -128; v < 128; ++v) {
      gate.push_back(static_cast<int16_t>(g));
      x.push_back(static_cast<int8_t>(v));
    }
  }
  int saturated = 0;
  for (int zp : {-128, -1, 0, 37, 127}) {
    std::vector<int8_t> want = x;
    ref.MogrifyS8(gate.data(), static_cast<int>(gate.size()), zp, want.data());
    for (size_t i = 0; i < x.size(); i += 97) {  // the formula on a sample, the paths on everything
      const int64_t f = RoundingDivideByPOT((x[i] - zp) * gate[i], 14) + zp;
      ASSERT_EQ(want[i], SaturateToInt8(f));
      saturated += f > 127 || f < -128;
    }
    if (k == nullptr) continue;
    std::vector<int8_t> got = x;
    k->MogrifyS8(gate.data(), static_cast<int>(gate.size()), zp, got.data());
    ASSERT_EQ(want, got) << "zp " << zp;
    for (int n : {1, 3, 17, 33, 255}) {
      std::vector<int8_t> w(x.begin() + 4099, x.begin() + 4099 + n), g = w;
      ref.MogrifyS8(gate.data() + 77777, n, zp, w.data());
      k->MogrifyS8(gate.data() + 77777, n, zp, g.data());
      ASSERT_EQ(w, g) << "n " << n << " zp " << zp;
    }
  }
  EXPECT_GT(saturated, 100);
}

}  // namespace
}  // namespace irnn
