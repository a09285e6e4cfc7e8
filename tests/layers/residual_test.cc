// The residual int8 add layer (include/irnn/residual.h, numerics.md §10.2): derived from float scales it
// is within one output LSB of the real sum a + b (rounded, then saturated) on every int8 pair;
// validation names the bad field; every kernel path gives the same bytes. sim == int is in
// tests/train/mogrifier_sim_test.cc; the kernels' bit-exactness in tests/kernels/elementwise_kernels_test.cc.

#include "irnn/residual.h"
#include "support/paths.h"

#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

namespace irnn {
namespace {

TEST(ResidualAdd, DerivedFromScalesIsWithinOneLsbOfTheRealSum) {
  struct Case {
    float sa;
    int za;
    float sb;
    int zb;
    float so;
    int zo;
  };
  const Case cases[] = {{0.02f, 3, 0.03f, -7, 0.05f, 0}, {0.1f, -128, 0.001f, 127, 0.08f, -20},
                        {0.01f, 0, 0.01f, 0, 0.02f, 0},  {0.5f, 10, 0.25f, 5, 0.3f, 100}};
  for (const Case& c : cases) {
    for (Rounding r : {Rounding::kDouble, Rounding::kSingle}) {
      ResidualAddParams p;
      ASSERT_TRUE(DeriveResidualAddParams(c.sa, c.za, c.sb, c.zb, c.so, c.zo, r, &p).ok());
      std::unique_ptr<ResidualAdd> add;
      ASSERT_TRUE(ResidualAdd::Create(p, KernelPath::kAuto, &add).ok());
      std::vector<int8_t> a, b;
      for (int x = -128; x < 128; ++x) {
        for (int y = -128; y < 128; ++y) {
          a.push_back(static_cast<int8_t>(x));
          b.push_back(static_cast<int8_t>(y));
        }
      }
      std::vector<int8_t> out(a.size());
      ASSERT_TRUE(add->Add(a.data(), b.data(), static_cast<int64_t>(a.size()), out.data()).ok());
      int max_err = 0;
      for (size_t i = 0; i < a.size(); ++i) {
        const double real = c.sa * (a[i] - c.za) + c.sb * (b[i] - c.zb);
        const double q = std::min(127.0, std::max(-128.0, std::round(real / c.so) + c.zo));
        max_err = std::max(max_err, static_cast<int>(std::abs(q - out[i])));
      }
      EXPECT_LE(max_err, 1) << "sa " << c.sa << " sb " << c.sb << " so " << c.so;
    }
  }
}

TEST(ResidualAdd, PathsAgree) {
  ResidualAddParams p;
  ASSERT_TRUE(DeriveResidualAddParams(0.02f, 3, 0.07f, -9, 0.04f, 11, Rounding::kDouble, &p).ok());
  std::vector<int8_t> a(1001), b(1001);
  for (size_t i = 0; i < a.size(); ++i) {
    a[i] = static_cast<int8_t>(i * 37);
    b[i] = static_cast<int8_t>(i * 101 + 5);
  }
  std::vector<int8_t> want(a.size());
  std::unique_ptr<ResidualAdd> scalar;
  ASSERT_TRUE(ResidualAdd::Create(p, KernelPath::kScalar, &scalar).ok());
  ASSERT_TRUE(scalar->Add(a.data(), b.data(), 1001, want.data()).ok());
  std::vector<KernelPath> paths = testing::OptimizedPathsOrNote();
  paths.push_back(KernelPath::kAuto);
  for (KernelPath path : paths) {
    std::unique_ptr<ResidualAdd> add;
    ASSERT_TRUE(ResidualAdd::Create(p, path, &add).ok());
    std::vector<int8_t> got(a.size());
    ASSERT_TRUE(add->Add(a.data(), b.data(), 1001, got.data()).ok());
    EXPECT_EQ(want, got) << KernelPathName(path);
  }
}

TEST(ResidualAdd, RejectsBadParamsAndArguments) {
  ResidualAddParams p;
  ASSERT_TRUE(DeriveResidualAddParams(0.02f, 3, 0.07f, -9, 0.04f, 11, Rounding::kDouble, &p).ok());
  std::unique_ptr<ResidualAdd> add;
  ResidualAddParams bad = p;
  bad.b_zp = 128;
  EXPECT_EQ(ResidualAdd::Create(bad, KernelPath::kScalar, &add).message(),
            "ResidualAddParams: b_zp is 128 but must be in [-128, 127]");
  bad = p;
  bad.a_scale.shift = 1;
  EXPECT_EQ(ResidualAdd::Create(bad, KernelPath::kScalar, &add).message(),
            "ResidualAddParams: a_scale.shift is 1 but must be in [-31, 0]");
  bad = p;
  bad.output_scale.multiplier = 5;
  EXPECT_EQ(ResidualAdd::Create(bad, KernelPath::kScalar, &add).message(),
            "ResidualAddParams: output_scale.multiplier is 5 but must be 0 or in [2^30, 2^31)");
  EXPECT_FALSE(DeriveResidualAddParams(0.0f, 0, 0.1f, 0, 0.1f, 0, Rounding::kDouble, &p).ok());
  EXPECT_FALSE(DeriveResidualAddParams(0.1f, 0, 0.1f, 0, NAN, 0, Rounding::kDouble, &p).ok());
  ASSERT_TRUE(ResidualAdd::Create(p, KernelPath::kScalar, &add).ok());
  int8_t x[3] = {1, 2, 3};
  EXPECT_EQ(add->Add(x, x, -1, x).message(), "ResidualAdd::Add: n is -1 but must be >= 0");
  EXPECT_EQ(add->Add(nullptr, x, 3, x).message(), "ResidualAdd::Add: a, b or out is null");
  EXPECT_TRUE(add->Add(nullptr, nullptr, 0, nullptr).ok());
}

}  // namespace
}  // namespace irnn
