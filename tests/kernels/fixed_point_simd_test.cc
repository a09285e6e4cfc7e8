// Exhaustive tests of the vector fixed-point logistic and tanh (src/kernels/x86/fixed_point_avx2.h,
// fixed_point_avx512.h, through the entry points of fixed_point_simd.h) against the scalar reference
// LogisticQ15 / TanhQ15 (docs/numerics.md §2.2-§2.4): every one of the 65,536 int16 inputs for every
// k in [0, 6], both functions, exact equality; on the AVX-512 routine also every pair of (function, k)
// in the two halves of one register, as a gate epilogue would pack them; and the LogisticQ3S16 and
// TanhS16 kernels of every optimized path. A path the CPU lacks is
// reported on stdout (tests/support/paths.h), never passed over silently. Not a test of the LSTM
// epilogues themselves (tests/kernels/lstm_kernels_test.cc).

#include <algorithm>
#include <cstdint>
#include <set>
#include <vector>

#include <gtest/gtest.h>

#include "core/fixed_point_math.h"
#include "kernels/lstm_kernels.h"
#include "kernels/x86/fixed_point_simd.h"
#include "support/paths.h"

namespace irnn {
namespace {

constexpr ActivationKind kKinds[2] = {ActivationKind::kLogistic, ActivationKind::kTanh};

const char* Name(ActivationKind kind) { return kind == ActivationKind::kLogistic ? "logistic" : "tanh"; }

// The 65,536 int16 values in the order `stride` (odd) visits them from `start`: a permutation.
std::vector<int16_t> Permutation(uint32_t stride, uint32_t start) {
  std::vector<int16_t> v(65536);
  for (uint32_t i = 0; i < 65536; ++i) v[i] = static_cast<int16_t>(static_cast<uint16_t>((start + i * stride) & 0xFFFFu));
  return v;
}

std::vector<int16_t> Reference(ActivationKind kind, int k, const std::vector<int16_t>& in) {
  std::vector<int16_t> out(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    out[i] = kind == ActivationKind::kLogistic ? LogisticQ15(in[i], k) : TanhQ15(in[i], k);
  }
  return out;
}

// Counts the mismatches, printing the first few.
int Mismatches(const std::vector<int16_t>& in, const std::vector<int16_t>& expected, const int16_t* actual, int n,
               const char* what, ActivationKind kind, int k) {
  int bad = 0;
  for (int i = 0; i < n; ++i) {
    if (actual[i] != expected[i]) {
      if (bad < 5) {
        ADD_FAILURE() << what << " " << Name(kind) << " k=" << k << " in=" << in[i] << ": reference " << expected[i]
                      << ", vector " << actual[i];
      }
      ++bad;
    }
  }
  return bad;
}

using ArrayFn = void (*)(ActivationKind, int, const int16_t*, int, int16_t*);

// Every input, every k, both functions; then short lengths (the padded tail) at a few offsets.
void CheckExhaustive(ArrayFn fn, const char* what) {
  const std::vector<int16_t> in = Permutation(1, 32768);  // -32768 .. 32767
  for (ActivationKind kind : kKinds) {
    for (int k = 0; k <= 6; ++k) {
      const std::vector<int16_t> expected = Reference(kind, k, in);
      // Not vacuous: the reference takes thousands of values over the inputs.
      ASSERT_GT(std::set<int16_t>(expected.begin(), expected.end()).size(), 1000u) << Name(kind) << " k=" << k;
      std::vector<int16_t> actual(in.size(), 0x5A5A);
      fn(kind, k, in.data(), 65536, actual.data());
      EXPECT_EQ(Mismatches(in, expected, actual.data(), 65536, what, kind, k), 0) << Name(kind) << " k=" << k;
      for (int n : {1, 3, 17, 33, 255}) {
        for (int start : {0, 32760, 65536 - 255}) {
          std::vector<int16_t> part(in.begin() + start, in.begin() + start + n);
          std::vector<int16_t> want(expected.begin() + start, expected.begin() + start + n);
          std::vector<int16_t> got(static_cast<size_t>(n) + 1, 0x5A5A);
          fn(kind, k, part.data(), n, got.data());
          EXPECT_EQ(Mismatches(part, want, got.data(), n, what, kind, k), 0) << "n=" << n << " start=" << start;
          EXPECT_EQ(got[static_cast<size_t>(n)], 0x5A5A) << what << " wrote past n=" << n;
        }
      }
    }
  }
}

TEST(FixedPointSimd, Avx2LogisticAndTanhEqualReferenceOnEveryInput) {
  const std::vector<KernelPath> paths = testing::OptimizedPathsOrNote();
  if (std::find(paths.begin(), paths.end(), KernelPath::kAvx2) == paths.end()) return;  // reported by the helper
  CheckExhaustive(avx2::ActivationQ15S16, "avx2");
}

TEST(FixedPointSimd, Avx512LogisticAndTanhEqualReferenceOnEveryInput) {
  if (!testing::Avx512VnniAvailableOrNote()) return;  // noted on stdout
  CheckExhaustive(avx512::ActivationQ15S16, "avx512");
}

// Two functions in one register: for every (function, k) in the first half and every one in the
// second, all 65,536 inputs in each half (different permutations, so each lane meets many values).
TEST(FixedPointSimd, Avx512PairsOfFunctionsEqualReferenceOnEveryInput) {
  if (!testing::Avx512VnniAvailableOrNote()) return;  // noted on stdout
  const std::vector<int16_t> first = Permutation(1, 32768);
  const std::vector<int16_t> second = Permutation(40503, 12345);
  std::vector<int16_t> first_expected[2][7], second_expected[2][7];
  for (int kind = 0; kind < 2; ++kind) {
    for (int k = 0; k <= 6; ++k) {
      first_expected[kind][k] = Reference(kKinds[kind], k, first);
      second_expected[kind][k] = Reference(kKinds[kind], k, second);
    }
  }
  std::vector<int16_t> first_out(65536), second_out(65536);
  int combinations = 0;
  for (int kind0 = 0; kind0 < 2; ++kind0) {
    for (int k0 = 0; k0 <= 6; ++k0) {
      for (int kind1 = 0; kind1 < 2; ++kind1) {
        for (int k1 = 0; k1 <= 6; ++k1) {
          avx512::ActivationPairQ15S16(kKinds[kind0], k0, first.data(), kKinds[kind1], k1, second.data(), 65536,
                                       first_out.data(), second_out.data());
          const int bad0 = Mismatches(first, first_expected[kind0][k0], first_out.data(), 65536, "avx512 pair, first",
                                      kKinds[kind0], k0);
          const int bad1 = Mismatches(second, second_expected[kind1][k1], second_out.data(), 65536,
                                      "avx512 pair, second", kKinds[kind1], k1);
          EXPECT_EQ(bad0 + bad1, 0) << Name(kKinds[kind0]) << " k=" << k0 << " | " << Name(kKinds[kind1])
                                    << " k=" << k1;
          ++combinations;
        }
      }
    }
  }
  EXPECT_EQ(combinations, 196);
}

// The LstmKernels LogisticQ3S16 and TanhS16 of every optimized path (the AVX2 ones, and the avx512vnni
// and amx ones from fixed_point_simd.cc) on every input.
TEST(FixedPointSimd, EveryPathsActivationKernelsEqualReferenceOnEveryInput) {
  const std::vector<int16_t> in = Permutation(1, 32768);
  const std::vector<int16_t> logistic = Reference(ActivationKind::kLogistic, 3, in);
  std::vector<std::vector<int16_t>> tanh(7);
  for (int k = 0; k <= 6; ++k) tanh[k] = Reference(ActivationKind::kTanh, k, in);
  int compared = 0;
  for (KernelPath path : testing::OptimizedPathsOrNote()) {
    const LstmKernels& kernels = GetLstmKernels(path);
    std::vector<int16_t> out(65536);
    kernels.LogisticQ3S16(in.data(), 65536, out.data());
    EXPECT_EQ(Mismatches(in, logistic, out.data(), 65536, KernelPathName(path), ActivationKind::kLogistic, 3), 0);
    for (int k = 0; k <= 6; ++k) {
      kernels.TanhS16(in.data(), 65536, k, out.data());
      EXPECT_EQ(Mismatches(in, tanh[k], out.data(), 65536, KernelPathName(path), ActivationKind::kTanh, k), 0);
    }
    ++compared;
  }
  EXPECT_GT(compared, 0);
}

}  // namespace
}  // namespace irnn
