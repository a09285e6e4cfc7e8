// Tests of the zmm requantization forms of src/kernels/x86/requant_avx512.h on their own: the short
// right-shift form RequantizeRight512 (used by the AVX-512 recurrent step and the AMX input projection),
// with both roundings and z = 0, against the scalar MultiplyByQuantizedMultiplier (docs/numerics.md §1.3)
// for every right shift 1..31, edge and tie inputs and random ones, several multipliers (normalized, 0,
// 1, negative); and where the form applies. (Its zero-point folding is tested in lstm_kernels_test.cc,
// RequantizeRight.)
// Skipped with a note on stdout where the CPU lacks AVX-512 VNNI (tests/support/paths.h). Not a test of
// the kernels that use it (tests/kernels/lstm_kernels_test.cc, PackedGemv).

// GCC 12's AVX-512 intrinsics pass _mm512_undefined_epi32() (`__m512i __Y = __Y;`) as the unused
// pass-through operand, which -Wmaybe-uninitialized reports at every use (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <climits>
#include <cstdint>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "core/fixed_point.h"
#include "kernels/x86/requant_avx512.h"
#include "support/paths.h"

namespace irnn {
namespace {

__attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni"))) void ApplyRight(
    const std::vector<int32_t>& x, QuantizedMultiplier m, Rounding rounding, std::vector<int32_t>* out) {
  const avx512::RequantRight512 q = avx512::MakeRequantRight512(m, rounding, 0);
  out->assign(x.size(), 0);
  for (size_t i = 0; i + 16 <= x.size(); i += 16) {
    const __m512i v = _mm512_loadu_si512(x.data() + i);
    const __m512i odd = _mm512_shuffle_epi32(v, _MM_PERM_DDBB);
    _mm512_storeu_si512(out->data() + i, rounding == Rounding::kDouble ? avx512::RequantizeRight512<true>(v, odd, q)
                                                                        : avx512::RequantizeRight512<false>(v, odd, q));
  }
}

// Inputs for multiplier m and right shift r: the int32 edges, values whose SRDHM product sits on or next
// to its rounding tie (P mod 2^31 near 2^30) and whose high part sits on or next to the divide's tie
// (h mod 2^r near 2^(r-1)), both signs, then random values; padded to a multiple of 16 lanes.
std::vector<int32_t> Inputs(int32_t m, int r, std::mt19937* gen) {
  std::vector<int32_t> x = {0, 1, -1, 2, -2, 3, -3, INT32_MAX, INT32_MAX - 1, INT32_MIN, INT32_MIN + 1, 1 << 30,
                            -(1 << 30), (1 << 30) - 1, -(1 << 30) + 1};
  for (int k = 0; k < 31; ++k) {
    for (int d = -1; d <= 1; ++d) {
      x.push_back(static_cast<int32_t>((int64_t{1} << k) + d));
      x.push_back(static_cast<int32_t>(-(int64_t{1} << k) + d));
    }
  }
  if (m > 0) {
    // x near (h * 2^31 - 2^30) / m for h on the divide's ties: the product on SRDHM's tie or next to it.
    for (int64_t j = -40; j <= 40; ++j) {
      const int64_t h = j * (int64_t{1} << r) + (int64_t{1} << (r - 1));
      if (h > INT32_MAX || h < INT32_MIN) continue;  // SRDHM's results are int32 (and h * 2^31 fits int64)
      for (int64_t base : {(h * (int64_t{1} << 31) - (int64_t{1} << 30)) / m, (h * (int64_t{1} << 31)) / m}) {
        for (int64_t d = -2; d <= 2; ++d) {
          const int64_t v = base + d;
          if (v >= INT32_MIN && v <= INT32_MAX) x.push_back(static_cast<int32_t>(v));
        }
      }
    }
  }
  std::uniform_int_distribution<int32_t> any(INT32_MIN, INT32_MAX);
  std::uniform_int_distribution<int32_t> small(-(1 << 20), 1 << 20);
  for (int i = 0; i < 2000; ++i) x.push_back(any(*gen));
  for (int i = 0; i < 2000; ++i) x.push_back(small(*gen));
  while (x.size() % 16 != 0) x.push_back(0);
  return x;
}

TEST(RequantAvx512, RightEqualsReferenceForEveryRightShiftAndRounding) {
  if (!testing::Avx512VnniAvailableOrNote()) return;  // noted on stdout
  std::mt19937 gen(20261123);
  std::uniform_int_distribution<int32_t> normalized(1 << 30, INT32_MAX);
  int64_t compared = 0;
  for (int r = 1; r <= 31; ++r) {
    std::vector<int32_t> multipliers = {1 << 30, (1 << 30) + 1, INT32_MAX, 1518500250, 0, 1, -1, -(1 << 30),
                                        INT32_MIN + 1};
    for (int i = 0; i < 4; ++i) multipliers.push_back(normalized(gen));
    for (int32_t mv : multipliers) {
      const QuantizedMultiplier m{mv, -r};
      ASSERT_TRUE(avx512::RequantRightApplies(m, 0));
      const std::vector<int32_t> x = Inputs(mv, r, &gen);
      for (Rounding rounding : {Rounding::kDouble, Rounding::kSingle}) {
        std::vector<int32_t> actual;
        ApplyRight(x, m, rounding, &actual);
        int bad = 0;
        for (size_t i = 0; i < x.size(); ++i) {
          const int32_t expected = MultiplyByQuantizedMultiplier(x[i], m, rounding);
          if (actual[i] != expected && ++bad <= 5) {
            ADD_FAILURE() << "x " << x[i] << " multiplier " << mv << " shift " << -r << " rounding "
                          << (rounding == Rounding::kDouble ? "double" : "single") << ": reference " << expected
                          << ", vector " << actual[i] << " (lane " << i % 16 << ")";
          }
        }
        EXPECT_EQ(bad, 0);
        compared += static_cast<int64_t>(x.size());
      }
    }
  }
  EXPECT_GT(compared, 2000000);
}

TEST(RequantAvx512, RightAppliesOnlyToRightShiftsAndBoundedZeroPoints) {
  EXPECT_TRUE(avx512::RequantRightApplies({1 << 30, -1}, 0));
  EXPECT_TRUE(avx512::RequantRightApplies({INT32_MAX, -31}, 0));
  EXPECT_FALSE(avx512::RequantRightApplies({1 << 30, 0}, 0));
  EXPECT_FALSE(avx512::RequantRightApplies({1 << 30, 5}, 0));
  EXPECT_FALSE(avx512::RequantRightApplies({INT32_MIN, -5}, 0));
  EXPECT_TRUE(avx512::RequantRightApplies({1 << 30, -1}, 1 << 20));   // |z| 2^32 <= 2^61
  EXPECT_FALSE(avx512::RequantRightApplies({1 << 30, -31}, 1 << 20));  // |z| 2^62 > 2^61
}

}  // namespace
}  // namespace irnn
