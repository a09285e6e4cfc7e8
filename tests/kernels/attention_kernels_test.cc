// The AVX2 attention kernels (src/kernels/x86/attention_kernels_avx2.cc) against the scalar reference
// (numerics.md §9), bit for bit: random, edge and saturating inputs, the odd lengths 1, 3, 17, 33, 255
// and the softmax's whole multiplier range in both rounding variants. Without AVX2 the tests fail
// unless IRNN_ALLOW_NO_AVX2=1, which turns them into skips; they never pass without running.

#include <gtest/gtest.h>

#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "kernels/attention_kernels.h"
#include "support/random_attention.h"

namespace irnn {
namespace {

const int kLengths[] = {1, 3, 8, 16, 17, 33, 255, 256, 1000, 4096};

class AttentionKernelsAvx2 : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!KernelPathAvailable(KernelPath::kAvx2) || avx2::AttentionKernelTable() == nullptr) {
      const char* allow = std::getenv("IRNN_ALLOW_NO_AVX2");
      if (allow != nullptr && std::string(allow) == "1") {
        GTEST_SKIP() << "AVX2 kernels not available on this CPU or build (IRNN_ALLOW_NO_AVX2=1 turns this "
                        "failure into a skip)";
      }
      FAIL() << "AVX2 kernels not available on this CPU or build, so they cannot be compared to the "
                "reference; set IRNN_ALLOW_NO_AVX2=1 to skip these tests instead";
    }
  }
  const AttentionKernels& ref = reference::AttentionKernelTable();
  const AttentionKernels& avx() { return *avx2::AttentionKernelTable(); }
};

TEST_F(AttentionKernelsAvx2, TableIsVectorCode) {
  EXPECT_EQ(&GetAttentionKernels(KernelPath::kAvx2), avx2::AttentionKernelTable());
  EXPECT_NE(avx().SoftmaxS32ToQ15, ref.SoftmaxS32ToQ15);
  EXPECT_NE(avx().WeightedSumS8, ref.WeightedSumS8);
}

TEST_F(AttentionKernelsAvx2, SoftmaxEqualsReference) {
  std::mt19937 rng(21);
  int cases = 0;
  for (const int n : kLengths) {
    for (int trial = 0; trial < 40; ++trial) {
      std::vector<int32_t> s;
      switch (trial % 6) {
        case 0: s = testing::RandomInts<int32_t>(rng, n, INT32_MIN, INT32_MAX); break;
        case 1: s = testing::RandomInts<int32_t>(rng, n, -3000, 3000); break;
        case 2: s.assign(n, static_cast<int32_t>(rng())); break;  // all equal
        case 3: s = testing::RandomInts<int32_t>(rng, n, INT32_MIN, INT32_MIN + 5); s[rng() % n] = INT32_MAX; break;
        case 4: s = testing::RandomInts<int32_t>(rng, n, -100, 100); s[rng() % n] = 1 << 24; break;
        default: s = testing::RandomInts<int32_t>(rng, n, -(1 << 20), 1 << 20);
      }
      // Multipliers over the whole range, zero included.
      QuantizedMultiplier m = testing::RandomMultiplier(rng, -31, 30);
      if (trial % 10 == 9) m = {0, 0};
      if (trial % 10 == 8) m.shift = trial % 20 < 10 ? 30 : -31;
      for (const Rounding r : {Rounding::kDouble, Rounding::kSingle}) {
        std::vector<int32_t> s1(n), s2(n);
        std::vector<int16_t> p1(n), p2(n);
        ref.SoftmaxS32ToQ15(s.data(), n, m, r, s1.data(), p1.data());
        avx().SoftmaxS32ToQ15(s.data(), n, m, r, s2.data(), p2.data());
        ASSERT_EQ(p1, p2) << "n " << n << " trial " << trial << " m " << m.multiplier << "," << m.shift;
        ++cases;
      }
    }
  }
  EXPECT_GT(cases, 700);
}

TEST_F(AttentionKernelsAvx2, AddRowSatEqualsReference) {
  std::mt19937 rng(22);
  for (const int n : {1, 3, 16, 17, 33, 255}) {
    for (const int rows : {1, 3, 5}) {
      for (int trial = 0; trial < 10; ++trial) {
        const int64_t lo = trial % 2 ? INT32_MIN : -40000, hi = trial % 2 ? INT32_MAX : 40000;
        const auto q = testing::RandomInts<int32_t>(rng, n, lo, hi);
        const auto k = testing::RandomInts<int32_t>(rng, size_t(rows) * n, lo, hi);
        std::vector<int16_t> o1(size_t(rows) * n), o2(size_t(rows) * n);
        ref.AddRowSatS32ToS16(q.data(), k.data(), rows, n, o1.data());
        avx().AddRowSatS32ToS16(q.data(), k.data(), rows, n, o2.data());
        ASSERT_EQ(o1, o2) << "n " << n << " rows " << rows;
      }
    }
  }
}

TEST_F(AttentionKernelsAvx2, DotRowsEqualReference) {
  std::mt19937 rng(23);
  for (const int n : {1, 3, 15, 16, 17, 33, 255, 1000}) {
    for (const int rows : {1, 3, 17}) {
      for (int trial = 0; trial < 6; ++trial) {
        const bool edge = trial % 3 == 0;
        const auto h = edge ? testing::RandomInts<int16_t>(rng, size_t(rows) * n, -32768, -32767)
                            : testing::RandomInts<int16_t>(rng, size_t(rows) * n, -32768, 32767);
        const auto v = edge ? testing::RandomInts<int8_t>(rng, n, -128, -128) : testing::RandomInts<int8_t>(rng, n, -128, 127);
        std::vector<int32_t> o1(rows), o2(rows);
        ref.DotRowsS16S8(h.data(), v.data(), rows, n, o1.data());
        avx().DotRowsS16S8(h.data(), v.data(), rows, n, o2.data());
        ASSERT_EQ(o1, o2) << "S16S8 n " << n;
        const auto k = testing::RandomInts<int8_t>(rng, size_t(rows) * n, -128, 127);
        const int32_t zp = edge ? -128 : static_cast<int32_t>(std::uniform_int_distribution<int>(-128, 127)(rng));
        ref.DotRowsS8S8(k.data(), v.data(), rows, n, zp, o1.data());
        avx().DotRowsS8S8(k.data(), v.data(), rows, n, zp, o2.data());
        ASSERT_EQ(o1, o2) << "S8S8 n " << n;
      }
    }
  }
}

TEST_F(AttentionKernelsAvx2, WeightedSumEqualsReference) {
  std::mt19937 rng(24);
  for (const int n : {1, 3, 8, 17, 33, 255}) {
    for (const int rows : {1, 3, 17, 33, 255}) {
      for (int trial = 0; trial < 4; ++trial) {
        // Softmax-like weights (sum <= 32768 + rows) and arbitrary int16 ones (the sum may wrap).
        std::vector<int16_t> a = trial % 2 ? testing::RandomInts<int16_t>(rng, rows, -32768, 32767)
                                           : testing::RandomInts<int16_t>(rng, rows, 0, 32767 / rows + 1);
        const auto k = testing::RandomInts<int8_t>(rng, size_t(rows) * n, -128, 127);
        const int32_t zp = trial == 3 ? 127 : static_cast<int32_t>(std::uniform_int_distribution<int>(-128, 127)(rng));
        std::vector<int8_t> o1(n), o2(n);
        ref.WeightedSumS8(a.data(), k.data(), rows, n, zp, o1.data());
        avx().WeightedSumS8(a.data(), k.data(), rows, n, zp, o2.data());
        ASSERT_EQ(o1, o2) << "n " << n << " rows " << rows;
      }
    }
  }
}

}  // namespace
}  // namespace irnn
