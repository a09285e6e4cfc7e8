// Tests of the AVX2 LSTM kernel table against the scalar reference table (the specification): every
// kernel, bit for bit, on random inputs (seed printed; set IRNN_TEST_SEED to replay), edge-heavy inputs
// (int16/int32 extremes, -32768 * -32768, zeros, rounding ties), sizes around the vector widths, every
// multiplier shift, every integer_bits, and all 65,536 int16 inputs of the activations. Also the
// dispatch: GetLstmKernels and ResolveKernelPath with IRNN_PATH. A CPU without AVX2 fails these tests
// unless IRNN_ALLOW_NO_AVX2=1, which turns them into skips; they never pass without running.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/fixed_point.h"
#include "irnn/kernel_path.h"
#include "kernels/lstm_kernels.h"

namespace irnn {
namespace {

constexpr int32_t kI32Min = std::numeric_limits<int32_t>::min();
constexpr int32_t kI32Max = std::numeric_limits<int32_t>::max();

// Sizes around the 8- and 16-lane widths and their multiples.
const int kSizes[] = {1, 3, 15, 16, 17, 31, 33, 255, 256, 257};

const LstmKernels& Ref() { return reference::LstmKernelTable(); }
const LstmKernels& Avx() { return *avx2::LstmKernelTable(); }

const char* RoundingName(Rounding r) { return r == Rounding::kSingle ? "single" : "double"; }

// The seed of a test: IRNN_TEST_SEED when set, else fresh from the system.
uint64_t TestSeed() {
  const char* env = std::getenv("IRNN_TEST_SEED");
  if (env != nullptr && *env != '\0') return std::strtoull(env, nullptr, 10);
  std::random_device rd;
  return (uint64_t{rd()} << 32) ^ rd();
}

// Value generators. Edge lists hold the values where integer code goes wrong: extremes, their
// neighbours, zero, +-1, powers of two (their products are rounding ties for every shift) and their
// neighbours.
std::vector<int16_t> EdgeInt16() {
  std::vector<int16_t> e = {-32768, -32767, -32766, -16385, -16384, -16383, -1, 0, 1, 3, -3,
                            16383, 16384, 16385, 32766, 32767, 4096, -4096, 12288, -12288};
  for (int k = 0; k < 15; ++k) {
    e.push_back(static_cast<int16_t>(1 << k));
    e.push_back(static_cast<int16_t>(-(1 << k)));
    e.push_back(static_cast<int16_t>((1 << k) + 1));
    e.push_back(static_cast<int16_t>(-(1 << k) - 1));
  }
  return e;
}

std::vector<int32_t> EdgeInt32() {
  std::vector<int32_t> e = {kI32Min, kI32Min + 1, kI32Min + 2, -65537, -65536, -65535, -32769, -32768,
                            -32767,  -1,          0,           1,      32767,  32768,  32769,  65535,
                            65536,   65537,       kI32Max - 2, kI32Max - 1, kI32Max, 1 << 30, -(1 << 30)};
  for (int k = 0; k < 31; ++k) {
    const int32_t p = static_cast<int32_t>(uint32_t{1} << k);
    e.push_back(p);
    e.push_back(-p);
    e.push_back(p + 1);
    e.push_back(-p - 1);
    e.push_back(p - 1);
    e.push_back(static_cast<int32_t>(static_cast<uint32_t>(p) * 3u));  // 3 * 2^k: odd multiples give ties
  }
  return e;
}

class Gen {
 public:
  explicit Gen(uint64_t seed) : rng_(seed) {}
  std::mt19937_64& rng() { return rng_; }
  int Int(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  // Half edge values, a quarter small, a quarter full-range.
  int16_t I16() {
    switch (Int(0, 3)) {
      case 0:
      case 1: return edge16_[Int(0, static_cast<int>(edge16_.size()) - 1)];
      case 2: return static_cast<int16_t>(Int(-300, 300));
      default: return static_cast<int16_t>(Int(-32768, 32767));
    }
  }
  int32_t I32() {
    switch (Int(0, 3)) {
      case 0:
      case 1: return edge32_[Int(0, static_cast<int>(edge32_.size()) - 1)];
      case 2: return Int(-70000, 70000);
      default: return static_cast<int32_t>(static_cast<uint32_t>(rng_()));
    }
  }
  int8_t I8() {
    static const int8_t kEdge[] = {-128, -127, -1, 0, 1, 126, 127, 64, -64};
    if (Int(0, 2) == 0) return kEdge[Int(0, 8)];
    return static_cast<int8_t>(Int(-128, 127));
  }
  std::vector<int16_t> VecI16(int n) {
    std::vector<int16_t> v(n);
    for (auto& x : v) x = I16();
    return v;
  }
  std::vector<int32_t> VecI32(int n) {
    std::vector<int32_t> v(n);
    for (auto& x : v) x = I32();
    return v;
  }
  std::vector<int8_t> VecI8(int n) {
    std::vector<int8_t> v(n);
    for (auto& x : v) x = I8();
    return v;
  }
  // A valid multiplier: 0 rarely, else [2^30, 2^31) with the edges 2^30 and 2^31 - 1 often.
  QuantizedMultiplier Multiplier(int min_shift = -31, int max_shift = 30) {
    QuantizedMultiplier m;
    switch (Int(0, 7)) {
      case 0: m.multiplier = 1 << 30; break;
      case 1: m.multiplier = kI32Max; break;
      case 2: m.multiplier = 0; break;
      default: m.multiplier = Int(1 << 30, kI32Max);
    }
    m.shift = Int(min_shift, max_shift);
    return m;
  }

 private:
  std::mt19937_64 rng_;
  std::vector<int16_t> edge16_ = EdgeInt16();
  std::vector<int32_t> edge32_ = EdgeInt32();
};

// Exact equality, every mismatch (up to 20) printed with its index.
template <typename T>
::testing::AssertionResult SameValues(const std::vector<T>& expected, const std::vector<T>& actual) {
  if (expected.size() != actual.size()) {
    return ::testing::AssertionFailure() << "size " << actual.size() << " != " << expected.size();
  }
  int mismatches = 0;
  std::ostringstream os;
  for (size_t k = 0; k < expected.size(); ++k) {
    if (expected[k] != actual[k]) {
      if (mismatches < 20) {
        os << "\n  [" << k << "] reference " << int64_t{expected[k]} << ", avx2 " << int64_t{actual[k]};
      }
      ++mismatches;
    }
  }
  if (mismatches == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << mismatches << " of " << expected.size() << " values differ:" << os.str();
}

template <typename T>
size_t DistinctValues(const std::vector<T>& v) {
  return std::set<T>(v.begin(), v.end()).size();
}

class LstmKernelsAvx2 : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!KernelPathAvailable(KernelPath::kAvx2)) {
      const char* allow = std::getenv("IRNN_ALLOW_NO_AVX2");
      if (allow != nullptr && std::string(allow) == "1") {
        GTEST_SKIP() << "AVX2 kernels not available on this CPU or build (IRNN_ALLOW_NO_AVX2=1 turns this "
                        "failure into a skip)";
      }
      FAIL() << "AVX2 kernels not available on this CPU or build, so they cannot be compared to the "
                "reference; set IRNN_ALLOW_NO_AVX2=1 to skip these tests instead";
    }
    seed_ = TestSeed();
    std::printf("[ seed     ] %llu (replay with IRNN_TEST_SEED=%llu)\n", static_cast<unsigned long long>(seed_),
                static_cast<unsigned long long>(seed_));
    RecordProperty("seed", std::to_string(seed_));
  }
  std::string SeedTrace() const { return "seed " + std::to_string(seed_) + " (IRNN_TEST_SEED replays it)"; }

  uint64_t seed_ = 0;
};

// ---- GemvS8S8RequantS32 ----------------------------------------------------------------------------

void CheckGemv(const std::vector<int8_t>& w, int rows, int cols, const std::vector<int32_t>* bias,
               const std::vector<int8_t>& x, int batch, QuantizedMultiplier m, Rounding rounding) {
  SCOPED_TRACE(::testing::Message() << "rows " << rows << " cols " << cols << " batch " << batch << " bias "
                                    << (bias != nullptr) << " multiplier " << m.multiplier << " shift " << m.shift
                                    << " rounding " << RoundingName(rounding));
  const size_t n_out = static_cast<size_t>(rows) * batch;
  std::vector<int32_t> expected(n_out, 0x5A5A5A5A);
  std::vector<int32_t> actual(n_out, 0x5A5A5A5A);
  const int32_t* b = bias != nullptr ? bias->data() : nullptr;
  Ref().GemvS8S8RequantS32(w.data(), rows, cols, b, x.data(), batch, m, rounding, expected.data());
  Avx().GemvS8S8RequantS32(w.data(), rows, cols, b, x.data(), batch, m, rounding, actual.data());
  EXPECT_TRUE(SameValues(expected, actual));
}

TEST_F(LstmKernelsAvx2, GemvMatchesReference) {
  SCOPED_TRACE(SeedTrace());
  Gen gen(seed_);
  std::set<int32_t> seen;
  for (int rows : kSizes) {
    for (int cols : kSizes) {
      for (int batch : {1, 2, 3}) {
        for (Rounding rounding : {Rounding::kDouble, Rounding::kSingle}) {
          const auto w = gen.VecI8(rows * cols);
          const auto x = gen.VecI8(cols * batch);
          const auto bias = gen.VecI32(rows);
          // Shifts near the product scale keep outputs away from saturation, so the sums are visible.
          const QuantizedMultiplier m = gen.Int(0, 3) == 0 ? gen.Multiplier() : gen.Multiplier(-20, -5);
          const bool with_bias = gen.Int(0, 3) != 0;
          CheckGemv(w, rows, cols, with_bias ? &bias : nullptr, x, batch, m, rounding);
          std::vector<int32_t> probe(static_cast<size_t>(rows) * batch);
          Avx().GemvS8S8RequantS32(w.data(), rows, cols, nullptr, x.data(), batch, {kI32Max, 0}, rounding,
                                   probe.data());
          seen.insert(probe.begin(), probe.end());
        }
      }
    }
  }
  EXPECT_GT(seen.size(), 1000u) << "the dot products were nearly constant: the test would pass vacuously";
}

TEST_F(LstmKernelsAvx2, GemvEdgeValuesMatchReference) {
  SCOPED_TRACE(SeedTrace());
  Gen gen(seed_);
  // All -128 * -128 (and -128 * 127) products with extreme biases: the largest sums of every sign.
  for (int cols : {1, 16, 17, 255, 257}) {
    for (int8_t xv : {int8_t{-128}, int8_t{127}}) {
      const int rows = 19;
      std::vector<int8_t> w(static_cast<size_t>(rows) * cols, -128);
      std::vector<int8_t> x(static_cast<size_t>(cols) * 2, xv);
      std::vector<int32_t> bias(rows);
      for (int r = 0; r < rows; ++r) bias[r] = r % 3 == 0 ? kI32Max : (r % 3 == 1 ? kI32Min : 0);
      for (Rounding rounding : {Rounding::kDouble, Rounding::kSingle}) {
        for (int shift : {-31, -1, 0, 1, 30}) {
          CheckGemv(w, rows, cols, &bias, x, 2, {kI32Max, shift}, rounding);
          CheckGemv(w, rows, cols, nullptr, x, 2, {1 << 30, shift}, rounding);
        }
      }
    }
  }
}

// The int32 accumulator wraps (numerics.md §4.1): 140,000 products of 16,384 exceed 2^31.
TEST_F(LstmKernelsAvx2, GemvAccumulatorWrapsLikeReference) {
  SCOPED_TRACE(SeedTrace());
  const int rows = 9;
  const int cols = 140000;
  std::vector<int8_t> w(static_cast<size_t>(rows) * cols, -128);
  std::vector<int8_t> x(cols, -128);
  std::vector<int32_t> bias = {0, kI32Max, kI32Min, -1, 1, 12345, -12345, 1 << 30, -(1 << 30)};
  for (Rounding rounding : {Rounding::kDouble, Rounding::kSingle}) {
    CheckGemv(w, rows, cols, &bias, x, 1, {kI32Max, 0}, rounding);
    CheckGemv(w, rows, cols, &bias, x, 1, {1 << 30, -3}, rounding);
  }
  // The wrapped sum itself, read through the identity-like multiplier: 140000 * 16384 mod 2^32.
  std::vector<int32_t> out(rows);
  Avx().GemvS8S8RequantS32(w.data(), rows, cols, nullptr, x.data(), 1, {kI32Max, 0}, Rounding::kDouble,
                           out.data());
  const int32_t wrapped = static_cast<int32_t>(static_cast<uint32_t>(140000u * 16384u));
  EXPECT_NE(out[0], 0);
  EXPECT_LT(out[0], 0) << "140000 * 16384 = " << 140000LL * 16384 << " wraps to " << wrapped;
}

// ---- MultiplyByQuantizedMultiplier through every kernel that requantizes ----------------------------

// Every shift in [-31, 30] with multipliers 2^30, 2^31 - 1 and a random one, both roundings. Gemv with
// cols = 1 and edge biases feeds MBQM every int32 edge value, INT32_MIN and INT32_MAX included;
// Peephole and MulRequant feed it all int16 x int16 products, 2^30 included.
TEST_F(LstmKernelsAvx2, RequantizeEveryShiftMatchesReference) {
  SCOPED_TRACE(SeedTrace());
  Gen gen(seed_);
  const std::vector<int32_t> edges32 = EdgeInt32();
  const std::vector<int16_t> edges16 = EdgeInt16();
  // Gemv inputs: bias = every edge value plus random ones; w * x in {-1, 0, 1} nudges them by one.
  const int rows = static_cast<int>(edges32.size()) + 61;
  std::vector<int32_t> bias = edges32;
  while (static_cast<int>(bias.size()) < rows) bias.push_back(gen.I32());
  std::vector<int8_t> w(rows);
  for (int r = 0; r < rows; ++r) w[r] = static_cast<int8_t>(r % 3 - 1);
  const std::vector<int8_t> x = {1, -1};  // two batches
  // Peephole / MulRequant inputs: the edge cross product (a^2 pairs), plus a random tail of odd length.
  std::vector<int16_t> a;
  std::vector<int16_t> b;
  for (int16_t p : edges16) {
    for (int16_t q : edges16) {
      a.push_back(p);
      b.push_back(q);
    }
  }
  for (int k = 0; k < 333; ++k) {
    a.push_back(gen.I16());
    b.push_back(gen.I16());
  }
  const int n = static_cast<int>(a.size());
  for (Rounding rounding : {Rounding::kDouble, Rounding::kSingle}) {
    for (int shift = -31; shift <= 30; ++shift) {
      for (int32_t multiplier : {int32_t{1} << 30, kI32Max, gen.Int(1 << 30, kI32Max)}) {
        const QuantizedMultiplier m{multiplier, shift};
        SCOPED_TRACE(::testing::Message() << "multiplier " << multiplier << " shift " << shift << " rounding "
                                          << RoundingName(rounding));
        CheckGemv(w, rows, 1, &bias, x, 2, m, rounding);

        std::vector<int32_t> e32(n);
        std::vector<int32_t> a32(n);
        Ref().PeepholeRequantS32(a.data(), n, b.data(), n, m, rounding, e32.data());
        Avx().PeepholeRequantS32(a.data(), n, b.data(), n, m, rounding, a32.data());
        EXPECT_TRUE(SameValues(e32, a32)) << "PeepholeRequantS32";

        const int32_t zero_point = gen.Int(-128, 127);
        std::vector<int8_t> e8(n);
        std::vector<int8_t> a8(n);
        Ref().MulRequantS16ToS8(a.data(), b.data(), n, m, rounding, zero_point, e8.data());
        Avx().MulRequantS16ToS8(a.data(), b.data(), n, m, rounding, zero_point, a8.data());
        EXPECT_TRUE(SameValues(e8, a8)) << "MulRequantS16ToS8, zero_point " << zero_point;
      }
    }
  }
}

// ---- GemvS8S8RequantPerChannelS32 (numerics.md §7.1) ------------------------------------------------

void CheckGemvPerChannel(const std::vector<int8_t>& w, int rows, int cols, const std::vector<int32_t>* bias,
                         const std::vector<int8_t>& x, int batch, const std::vector<QuantizedMultiplier>& m,
                         Rounding rounding) {
  SCOPED_TRACE(::testing::Message() << "per-channel rows " << rows << " cols " << cols << " batch " << batch
                                    << " bias " << (bias != nullptr) << " rounding " << RoundingName(rounding));
  ASSERT_EQ(m.size(), static_cast<size_t>(rows));
  const size_t n_out = static_cast<size_t>(rows) * batch;
  std::vector<int32_t> expected(n_out, 0x5A5A5A5A);
  std::vector<int32_t> actual(n_out, 0x5A5A5A5A);
  const int32_t* b = bias != nullptr ? bias->data() : nullptr;
  Ref().GemvS8S8RequantPerChannelS32(w.data(), rows, cols, b, x.data(), batch, m.data(), rounding, expected.data());
  Avx().GemvS8S8RequantPerChannelS32(w.data(), rows, cols, b, x.data(), batch, m.data(), rounding, actual.data());
  EXPECT_TRUE(SameValues(expected, actual));
}

std::vector<QuantizedMultiplier> RandomMultipliers(Gen& gen, int rows, int min_shift, int max_shift) {
  std::vector<QuantizedMultiplier> m(rows);
  for (auto& q : m) q = gen.Multiplier(min_shift, max_shift);
  return m;
}

// The reference against its definition: row r of the per-channel Gemv is the per-tensor Gemv of that
// row with m[r] (both scalar), so §7.1 is §4.1 row by row.
TEST(GemvPerChannelReference, EachRowIsThePerTensorGemvWithItsMultiplier) {
  Gen gen(20240901);
  int compared = 0;
  for (int rows : {1, 7, 9, 33}) {
    for (int cols : {1, 16, 19}) {
      for (Rounding rounding : {Rounding::kDouble, Rounding::kSingle}) {
        const int batch = 2;
        const auto w = gen.VecI8(rows * cols);
        const auto x = gen.VecI8(cols * batch);
        const auto bias = gen.VecI32(rows);
        const auto m = RandomMultipliers(gen, rows, -31, 30);
        std::vector<int32_t> out(static_cast<size_t>(rows) * batch);
        Ref().GemvS8S8RequantPerChannelS32(w.data(), rows, cols, bias.data(), x.data(), batch, m.data(), rounding,
                                           out.data());
        for (int r = 0; r < rows; ++r) {
          // A one-row matrix: row r's weights and bias.
          const std::vector<int8_t> wr(w.begin() + r * cols, w.begin() + (r + 1) * cols);
          std::vector<int32_t> one(batch);
          Ref().GemvS8S8RequantS32(wr.data(), 1, cols, &bias[r], x.data(), batch, m[r], rounding, one.data());
          for (int b = 0; b < batch; ++b) {
            ASSERT_EQ(out[static_cast<size_t>(b) * rows + r], one[b]) << "row " << r << " batch " << b;
            ++compared;
          }
        }
      }
    }
  }
  EXPECT_GT(compared, 300);
}

// All rows with the same multiplier: the per-channel kernel is the per-tensor kernel, on both paths.
TEST_F(LstmKernelsAvx2, GemvPerChannelWithEqualMultipliersIsPerTensor) {
  SCOPED_TRACE(SeedTrace());
  Gen gen(seed_);
  for (int rows : kSizes) {
    for (int cols : {1, 15, 16, 17, 33}) {
      for (Rounding rounding : {Rounding::kDouble, Rounding::kSingle}) {
        const int batch = gen.Int(1, 3);
        const auto w = gen.VecI8(rows * cols);
        const auto x = gen.VecI8(cols * batch);
        const auto bias = gen.VecI32(rows);
        const QuantizedMultiplier m = gen.Multiplier();
        const std::vector<QuantizedMultiplier> all(rows, m);
        const size_t n = static_cast<size_t>(rows) * batch;
        for (const LstmKernels* k : {&Ref(), &Avx()}) {
          std::vector<int32_t> per_tensor(n), per_channel(n);
          k->GemvS8S8RequantS32(w.data(), rows, cols, bias.data(), x.data(), batch, m, rounding, per_tensor.data());
          k->GemvS8S8RequantPerChannelS32(w.data(), rows, cols, bias.data(), x.data(), batch, all.data(), rounding,
                                          per_channel.data());
          ASSERT_TRUE(SameValues(per_tensor, per_channel)) << (k == &Ref() ? "scalar" : "avx2") << " rows " << rows
                                                            << " cols " << cols;
        }
      }
    }
  }
}

TEST_F(LstmKernelsAvx2, GemvPerChannelMatchesReference) {
  SCOPED_TRACE(SeedTrace());
  Gen gen(seed_);
  std::set<int32_t> seen;
  for (int rows : kSizes) {
    for (int cols : kSizes) {
      for (int batch : {1, 2, 3}) {
        for (Rounding rounding : {Rounding::kDouble, Rounding::kSingle}) {
          const auto w = gen.VecI8(rows * cols);
          const auto x = gen.VecI8(cols * batch);
          const auto bias = gen.VecI32(rows);
          // Mostly shifts near the product scale (visible sums), sometimes any shift, per row.
          const auto m = gen.Int(0, 3) == 0 ? RandomMultipliers(gen, rows, -31, 30) : RandomMultipliers(gen, rows, -20, -5);
          const bool with_bias = gen.Int(0, 3) != 0;
          CheckGemvPerChannel(w, rows, cols, with_bias ? &bias : nullptr, x, batch, m, rounding);
          std::vector<int32_t> probe(static_cast<size_t>(rows) * batch);
          Avx().GemvS8S8RequantPerChannelS32(w.data(), rows, cols, nullptr, x.data(), batch, m.data(), rounding,
                                             probe.data());
          seen.insert(probe.begin(), probe.end());
        }
      }
    }
  }
  EXPECT_GT(seen.size(), 1000u) << "the outputs were nearly constant: the test would pass vacuously";
}

TEST_F(LstmKernelsAvx2, GemvPerChannelEdgeValuesMatchReference) {
  SCOPED_TRACE(SeedTrace());
  Gen gen(seed_);
  // The largest sums of every sign, with extreme biases and extreme per-row shifts side by side.
  for (int cols : {1, 16, 17, 255, 257}) {
    for (int8_t xv : {int8_t{-128}, int8_t{127}}) {
      const int rows = 19;
      std::vector<int8_t> w(static_cast<size_t>(rows) * cols, -128);
      std::vector<int8_t> x(static_cast<size_t>(cols) * 2, xv);
      std::vector<int32_t> bias(rows);
      for (int r = 0; r < rows; ++r) bias[r] = r % 3 == 0 ? kI32Max : (r % 3 == 1 ? kI32Min : 0);
      std::vector<QuantizedMultiplier> m(rows);
      const int shifts[] = {-31, 30, -1, 0, 1, 29, -30};
      const int32_t multipliers[] = {kI32Max, 1 << 30, 0, gen.Int(1 << 30, kI32Max)};
      for (int r = 0; r < rows; ++r) m[r] = {multipliers[r % 4], shifts[r % 7]};
      for (Rounding rounding : {Rounding::kDouble, Rounding::kSingle}) {
        CheckGemvPerChannel(w, rows, cols, &bias, x, 2, m, rounding);
        CheckGemvPerChannel(w, rows, cols, nullptr, x, 2, m, rounding);
      }
    }
  }
}

// The int32 accumulator wraps as in the per-tensor kernel.
TEST_F(LstmKernelsAvx2, GemvPerChannelAccumulatorWrapsLikeReference) {
  SCOPED_TRACE(SeedTrace());
  const int rows = 11;
  const int cols = 140000;
  std::vector<int8_t> w(static_cast<size_t>(rows) * cols, -128);
  std::vector<int8_t> x(cols, -128);
  std::vector<int32_t> bias = {0, kI32Max, kI32Min, -1, 1, 12345, -12345, 1 << 30, -(1 << 30), 7, -7};
  std::vector<QuantizedMultiplier> m(rows);
  for (int r = 0; r < rows; ++r) m[r] = {r % 2 == 0 ? kI32Max : 1 << 30, -r};
  for (Rounding rounding : {Rounding::kDouble, Rounding::kSingle}) CheckGemvPerChannel(w, rows, cols, &bias, x, 1, m, rounding);
}

// Every shift in [-31, 30] in every lane position: row r gets shift ((s + r) mod 62) - 31, so across the
// 62 passes each of the eight lanes (and the tail lanes) sees each shift, with multipliers 2^30,
// 2^31 - 1 and random ones, and biases that are every int32 edge value (cols = 1, w * x in {-1, 0, 1}).
TEST_F(LstmKernelsAvx2, GemvPerChannelEveryShiftInEveryLaneMatchesReference) {
  SCOPED_TRACE(SeedTrace());
  Gen gen(seed_);
  const std::vector<int32_t> edges32 = EdgeInt32();
  const int rows = static_cast<int>(edges32.size()) + 61;
  std::vector<int32_t> bias = edges32;
  while (static_cast<int>(bias.size()) < rows) bias.push_back(gen.I32());
  std::vector<int8_t> w(rows);
  for (int r = 0; r < rows; ++r) w[r] = static_cast<int8_t>(r % 3 - 1);
  const std::vector<int8_t> x = {1, -1};
  for (Rounding rounding : {Rounding::kDouble, Rounding::kSingle}) {
    for (int s = 0; s < 62; ++s) {
      std::vector<QuantizedMultiplier> m(rows);
      for (int r = 0; r < rows; ++r) {
        const int32_t multipliers[] = {int32_t{1} << 30, kI32Max, gen.Int(1 << 30, kI32Max)};
        m[r] = {multipliers[(r / 62 + s) % 3], (s + r) % 62 - 31};
      }
      SCOPED_TRACE(::testing::Message() << "pass " << s);
      CheckGemvPerChannel(w, rows, 1, &bias, x, 2, m, rounding);
    }
  }
}

// ---- Elementwise saturating kernels ------------------------------------------------------------------

TEST_F(LstmKernelsAvx2, AddSatS32IntoS16MatchesReference) {
  SCOPED_TRACE(SeedTrace());
  Gen gen(seed_);
  int saturated = 0;
  for (int n : kSizes) {
    for (int rep = 0; rep < 4; ++rep) {
      SCOPED_TRACE(::testing::Message() << "n " << n << " rep " << rep);
      const auto v = gen.VecI32(n);
      const auto acc = gen.VecI16(n);
      auto expected = acc;
      auto actual = acc;
      Ref().AddSatS32IntoS16(v.data(), n, expected.data());
      Avx().AddSatS32IntoS16(v.data(), n, actual.data());
      EXPECT_TRUE(SameValues(expected, actual));
      for (int16_t e : expected) saturated += (e == 32767 || e == -32768);
    }
  }
  EXPECT_GT(saturated, 0) << "no input saturated";
}

TEST_F(LstmKernelsAvx2, AddSatS32IntoS32MatchesReference) {
  SCOPED_TRACE(SeedTrace());
  Gen gen(seed_);
  int saturated = 0;
  for (int n : kSizes) {
    for (int rep = 0; rep < 4; ++rep) {
      SCOPED_TRACE(::testing::Message() << "n " << n << " rep " << rep);
      const auto v = gen.VecI32(n);
      const auto acc = gen.VecI32(n);
      auto expected = acc;
      auto actual = acc;
      Ref().AddSatS32IntoS32(v.data(), n, expected.data());
      Avx().AddSatS32IntoS32(v.data(), n, actual.data());
      EXPECT_TRUE(SameValues(expected, actual));
      for (int32_t e : expected) saturated += (e == kI32Max || e == kI32Min);
    }
  }
  // Every pair of edge values.
  const auto edges = EdgeInt32();
  std::vector<int32_t> v;
  std::vector<int32_t> acc;
  for (int32_t p : edges) {
    for (int32_t q : edges) {
      v.push_back(p);
      acc.push_back(q);
    }
  }
  auto expected = acc;
  auto actual = acc;
  Ref().AddSatS32IntoS32(v.data(), static_cast<int>(v.size()), expected.data());
  Avx().AddSatS32IntoS32(v.data(), static_cast<int>(v.size()), actual.data());
  EXPECT_TRUE(SameValues(expected, actual)) << "edge pairs";
  EXPECT_GT(saturated, 0) << "no input saturated";
}

TEST_F(LstmKernelsAvx2, SaturateS32ToS16MatchesReference) {
  SCOPED_TRACE(SeedTrace());
  Gen gen(seed_);
  for (int n : kSizes) {
    SCOPED_TRACE(::testing::Message() << "n " << n);
    const auto v = gen.VecI32(n);
    std::vector<int16_t> expected(n, 0x1234);
    std::vector<int16_t> actual(n, 0x1234);
    Ref().SaturateS32ToS16(v.data(), n, expected.data());
    Avx().SaturateS32ToS16(v.data(), n, actual.data());
    EXPECT_TRUE(SameValues(expected, actual));
  }
  const auto edges = EdgeInt32();
  std::vector<int16_t> expected(edges.size());
  std::vector<int16_t> actual(edges.size());
  Ref().SaturateS32ToS16(edges.data(), static_cast<int>(edges.size()), expected.data());
  Avx().SaturateS32ToS16(edges.data(), static_cast<int>(edges.size()), actual.data());
  EXPECT_TRUE(SameValues(expected, actual)) << "edge values";
}

// ---- PeepholeRequantS32 --------------------------------------------------------------------------------

TEST_F(LstmKernelsAvx2, PeepholeMatchesReference) {
  SCOPED_TRACE(SeedTrace());
  Gen gen(seed_);
  for (int period : {1, 3, 7, 8, 9, 15, 16, 17, 33, 256, 300}) {
    for (int n : kSizes) {
      for (Rounding rounding : {Rounding::kDouble, Rounding::kSingle}) {
        const QuantizedMultiplier m = gen.Int(0, 2) == 0 ? gen.Multiplier() : gen.Multiplier(-20, 0);
        SCOPED_TRACE(::testing::Message() << "period " << period << " n " << n << " multiplier " << m.multiplier
                                          << " shift " << m.shift << " rounding " << RoundingName(rounding));
        const auto w = gen.VecI16(period);
        const auto c = gen.VecI16(n);
        std::vector<int32_t> expected(n, 0x5A5A5A5A);
        std::vector<int32_t> actual(n, 0x5A5A5A5A);
        Ref().PeepholeRequantS32(w.data(), period, c.data(), n, m, rounding, expected.data());
        Avx().PeepholeRequantS32(w.data(), period, c.data(), n, m, rounding, actual.data());
        EXPECT_TRUE(SameValues(expected, actual));
      }
    }
  }
}

// ---- LayerNormS16 ------------------------------------------------------------------------------------

void CheckLayerNorm(const std::vector<int16_t>& in, const std::vector<int16_t>& weight,
                    const std::vector<int32_t>& bias, int n, int rows, QuantizedMultiplier scale, int32_t guard,
                    bool exact, Rounding rounding, std::vector<int16_t>* result = nullptr) {
  SCOPED_TRACE(::testing::Message() << "n " << n << " rows " << rows << " scale " << scale.multiplier << " shift "
                                    << scale.shift << " guard " << guard << " exact " << exact << " rounding "
                                    << RoundingName(rounding));
  std::vector<int16_t> expected(in.size(), 0x1234);
  std::vector<int16_t> actual(in.size(), 0x1234);
  Ref().LayerNormS16(in.data(), weight.data(), bias.data(), n, rows, scale, guard, exact, rounding, expected.data());
  Avx().LayerNormS16(in.data(), weight.data(), bias.data(), n, rows, scale, guard, exact, rounding, actual.data());
  EXPECT_TRUE(SameValues(expected, actual));
  // In place, as the layer calls it.
  std::vector<int16_t> inplace = in;
  Avx().LayerNormS16(inplace.data(), weight.data(), bias.data(), n, rows, scale, guard, exact, rounding,
                     inplace.data());
  EXPECT_TRUE(SameValues(expected, inplace)) << "in place";
  if (result != nullptr) *result = expected;
}

TEST_F(LstmKernelsAvx2, LayerNormMatchesReference) {
  SCOPED_TRACE(SeedTrace());
  Gen gen(seed_);
  std::set<int16_t> seen;
  for (int n : kSizes) {
    for (int rows : {1, 2, 3}) {
      for (bool exact : {false, true}) {
        for (Rounding rounding : {Rounding::kDouble, Rounding::kSingle}) {
          std::vector<int16_t> in(static_cast<size_t>(n) * rows);
          // Inputs of different character: edge-heavy random, narrow around an offset, extremes only.
          const int style = gen.Int(0, 2);
          const int offset = gen.Int(-20000, 20000);
          for (auto& v : in) {
            if (style == 0) v = gen.I16();
            if (style == 1) v = static_cast<int16_t>(offset + gen.Int(-500, 500));
            if (style == 2) v = gen.Int(0, 1) == 0 ? int16_t{-32768} : int16_t{32767};
          }
          std::vector<int16_t> weight(n);
          for (auto& v : weight) v = static_cast<int16_t>(gen.Int(0, 3) == 0 ? gen.I16() : gen.Int(-20000, 20000));
          std::vector<int32_t> bias(n);
          for (auto& v : bias) v = gen.Int(0, 3) == 0 ? gen.I32() : gen.Int(-(1 << 22), 1 << 22);
          // The layer applies shift + 12; valid scales keep it within [-31, 30].
          const QuantizedMultiplier scale = gen.Int(0, 3) == 0 ? gen.Multiplier(-31, 18) : gen.Multiplier(-24, -14);
          const int32_t guard = gen.Int(0, 1) == 0 ? 1 : gen.Int(1, 1 << 20);
          std::vector<int16_t> out;
          CheckLayerNorm(in, weight, bias, n, rows, scale, guard, exact, rounding, &out);
          seen.insert(out.begin(), out.end());
        }
      }
    }
  }
  EXPECT_GT(seen.size(), 500u) << "LayerNorm outputs nearly constant: the test would pass vacuously";
}

TEST_F(LstmKernelsAvx2, LayerNormEdgeRowsMatchReference) {
  SCOPED_TRACE(SeedTrace());
  Gen gen(seed_);
  for (int n : kSizes) {
    std::vector<std::vector<int16_t>> rows_list;
    rows_list.push_back(std::vector<int16_t>(n, 0));         // zero variance: the guard
    rows_list.push_back(std::vector<int16_t>(n, -32768));    // extreme sum
    rows_list.push_back(std::vector<int16_t>(n, 32767));
    std::vector<int16_t> alternating(n);
    for (int j = 0; j < n; ++j) alternating[j] = j % 2 == 0 ? -32768 : 32767;  // largest variance
    rows_list.push_back(alternating);
    rows_list.push_back(gen.VecI16(n));
    std::vector<int16_t> in;
    for (const auto& r : rows_list) in.insert(in.end(), r.begin(), r.end());
    const int rows = static_cast<int>(rows_list.size());
    for (const auto& wb : {std::make_pair(int16_t{32767}, kI32Max), std::make_pair(int16_t{-32768}, kI32Min),
                           std::make_pair(int16_t{1}, int32_t{0})}) {
      const std::vector<int16_t> weight(n, wb.first);
      const std::vector<int32_t> bias(n, wb.second);
      for (bool exact : {false, true}) {
        for (Rounding rounding : {Rounding::kDouble, Rounding::kSingle}) {
          for (QuantizedMultiplier scale : {QuantizedMultiplier{kI32Max, 18}, QuantizedMultiplier{1 << 30, -31},
                                            QuantizedMultiplier{1 << 30, -19}, QuantizedMultiplier{0, 0}}) {
            for (int32_t guard : {1, kI32Max}) CheckLayerNorm(in, weight, bias, n, rows, scale, guard, exact, rounding);
          }
        }
      }
    }
  }
}

// A row long enough for the int32 sum lanes to be widened mid-row (2^14 vector steps).
TEST_F(LstmKernelsAvx2, LayerNormLongRowMatchesReference) {
  SCOPED_TRACE(SeedTrace());
  Gen gen(seed_);
  const int n = 16 * ((1 << 15) + 3) + 5;  // without the widening, a row of -32768 overflows int32
  for (int style = 0; style < 3; ++style) {
    std::vector<int16_t> in(n);
    for (auto& v : in) v = style == 0 ? int16_t{-32768} : (style == 1 ? int16_t{32767} : gen.I16());
    if (style < 2) in[n / 2] = 0;  // a nonzero variance
    std::vector<int16_t> weight(n);
    for (auto& v : weight) v = static_cast<int16_t>(gen.Int(-20000, 20000));
    std::vector<int32_t> bias(n);
    for (auto& v : bias) v = gen.Int(-(1 << 22), 1 << 22);
    for (bool exact : {false, true}) {
      for (Rounding rounding : {Rounding::kDouble, Rounding::kSingle}) {
        CheckLayerNorm(in, weight, bias, n, 1, {1 << 30, -19}, 1, exact, rounding);
      }
    }
  }
}

// With TFLite's statistics and n > 2^20, 2^20/n truncates to 0, the variance comes out negative and
// the guard 1 makes 1/sqrt(v) = 1: 1024 v - mean reaches -2^26 and, times weight -32768, saturates the
// int32 step u = sat32((t +- 512) / 1024), which ordinary rows never reach.
TEST_F(LstmKernelsAvx2, LayerNormHugeRowSaturatesLikeReference) {
  SCOPED_TRACE(SeedTrace());
  const int n = (1 << 20) + 17;
  std::vector<int16_t> in(n, 32767);
  in[0] = -32768;  // two outliers keep the mean near 32767, so 1024 * -32768 - mean is near -2^26
  in[n - 1] = -32768;
  for (int16_t weight_value : {int16_t{-32768}, int16_t{32767}}) {
    for (int32_t bias_value : {kI32Max, 0, kI32Min}) {
      const std::vector<int16_t> weight(n, weight_value);
      const std::vector<int32_t> bias(n, bias_value);
      for (Rounding rounding : {Rounding::kDouble, Rounding::kSingle}) {
        std::vector<int16_t> expected;
        // shift -29 + 12 = -17: a saturated u = 2^31 - 1 lands near 8192, inside int16.
        CheckLayerNorm(in, weight, bias, n, 1, {1 << 30, -29}, 1, /*exact=*/false, rounding, &expected);
        EXPECT_NE(expected[0], 32767);
        EXPECT_NE(expected[0], -32768);
      }
    }
  }
}

// ---- Activations: exhaustive -------------------------------------------------------------------------

std::vector<int16_t> AllInt16() {
  std::vector<int16_t> v(65536);
  for (int k = 0; k < 65536; ++k) v[k] = static_cast<int16_t>(k - 32768);
  return v;
}

TEST_F(LstmKernelsAvx2, LogisticExhaustiveMatchesReference) {
  SCOPED_TRACE(SeedTrace());
  const auto in = AllInt16();
  std::vector<int16_t> expected(in.size());
  std::vector<int16_t> actual(in.size());
  Ref().LogisticQ3S16(in.data(), 65536, expected.data());
  Avx().LogisticQ3S16(in.data(), 65536, actual.data());
  EXPECT_TRUE(SameValues(expected, actual)) << "all 65,536 inputs";
  EXPECT_GT(DistinctValues(expected), 10000u);
  // Every input again, offset so that each lands in every lane position and in tails.
  for (int n : kSizes) {
    for (int offset : {0, 1, 7, 15}) {
      SCOPED_TRACE(::testing::Message() << "n " << n << " offset " << offset);
      for (int start = offset; start < 65536; start += 4099) {
        const int len = std::min(n, 65536 - start);
        std::vector<int16_t> chunk(in.begin() + start, in.begin() + start + len);
        std::vector<int16_t> want(expected.begin() + start, expected.begin() + start + len);
        Avx().LogisticQ3S16(chunk.data(), len, chunk.data());  // in place
        ASSERT_TRUE(SameValues(want, chunk)) << "start " << start;
      }
    }
  }
}

TEST_F(LstmKernelsAvx2, TanhExhaustiveMatchesReference) {
  SCOPED_TRACE(SeedTrace());
  const auto in = AllInt16();
  for (int integer_bits = 0; integer_bits <= 6; ++integer_bits) {
    SCOPED_TRACE(::testing::Message() << "integer_bits " << integer_bits);
    std::vector<int16_t> expected(in.size());
    std::vector<int16_t> actual(in.size());
    Ref().TanhS16(in.data(), 65536, integer_bits, expected.data());
    Avx().TanhS16(in.data(), 65536, integer_bits, actual.data());
    EXPECT_TRUE(SameValues(expected, actual)) << "all 65,536 inputs";
    EXPECT_GT(DistinctValues(expected), 1000u);
    for (int n : {1, 3, 15, 17, 33}) {
      for (int start = 5; start < 65536; start += 8191) {
        const int len = std::min(n, 65536 - start);
        std::vector<int16_t> chunk(in.begin() + start, in.begin() + start + len);
        std::vector<int16_t> want(expected.begin() + start, expected.begin() + start + len);
        Avx().TanhS16(chunk.data(), len, integer_bits, chunk.data());  // in place, tails
        ASSERT_TRUE(SameValues(want, chunk)) << "n " << n << " start " << start;
      }
    }
  }
}

// ---- LstmCellUpdateS16 ------------------------------------------------------------------------------

TEST_F(LstmKernelsAvx2, CellUpdateMatchesReference) {
  SCOPED_TRACE(SeedTrace());
  Gen gen(seed_);
  int clipped = 0;
  for (int gate_shift = 15; gate_shift <= 21; ++gate_shift) {
    for (bool cifg : {false, true}) {
      const auto random_clip = static_cast<int16_t>(gen.Int(1, 32766));
      for (int16_t clip : {int16_t{0}, int16_t{-5}, int16_t{1}, int16_t{32767}, random_clip}) {
        for (int n : kSizes) {
          SCOPED_TRACE(::testing::Message() << "gate_shift " << gate_shift << " cifg " << cifg << " clip " << clip
                                            << " n " << n);
          const auto f = gen.VecI16(n);
          const auto i = gen.VecI16(n);
          const auto g = gen.VecI16(n);
          const auto c = gen.VecI16(n);
          auto expected = c;
          auto actual = c;
          Ref().LstmCellUpdateS16(f.data(), cifg ? nullptr : i.data(), g.data(), n, gate_shift, clip, expected.data());
          Avx().LstmCellUpdateS16(f.data(), cifg ? nullptr : i.data(), g.data(), n, gate_shift, clip, actual.data());
          EXPECT_TRUE(SameValues(expected, actual));
          if (clip > 1 && clip < 32767) {
            for (int16_t e : expected) clipped += (e == clip || e == -clip);
          }
        }
      }
    }
  }
  EXPECT_GT(clipped, 0) << "the clip was never reached";
}

// Every pair of edge values for f and c (and for i and g), so that the negative rounding ties of both
// products, -32768 * -32768 and the int16 wrap of the casts all occur.
TEST_F(LstmKernelsAvx2, CellUpdateEdgePairsMatchReference) {
  SCOPED_TRACE(SeedTrace());
  const auto edges = EdgeInt16();
  std::vector<int16_t> f;
  std::vector<int16_t> c;
  for (int16_t p : edges) {
    for (int16_t q : edges) {
      f.push_back(p);
      c.push_back(q);
    }
  }
  const int n = static_cast<int>(f.size());
  // g and i run over the same pairs in another order.
  std::vector<int16_t> g(c.rbegin(), c.rend());
  std::vector<int16_t> i(f.rbegin(), f.rend());
  for (int gate_shift = 15; gate_shift <= 21; ++gate_shift) {
    for (bool cifg : {false, true}) {
      for (int16_t clip : {int16_t{0}, int16_t{16384}}) {
        for (int pass = 0; pass < 2; ++pass) {
          SCOPED_TRACE(::testing::Message() << "gate_shift " << gate_shift << " cifg " << cifg << " clip " << clip
                                            << " pass " << pass);
          // Pass 1 swaps roles so that f * c and ii * g both see the cross product.
          const auto& fa = pass == 0 ? f : i;
          const auto& ca = pass == 0 ? c : g;
          const auto& ia = pass == 0 ? i : f;
          const auto& ga = pass == 0 ? g : c;
          auto expected = ca;
          auto actual = ca;
          Ref().LstmCellUpdateS16(fa.data(), cifg ? nullptr : ia.data(), ga.data(), n, gate_shift, clip,
                                  expected.data());
          Avx().LstmCellUpdateS16(fa.data(), cifg ? nullptr : ia.data(), ga.data(), n, gate_shift, clip,
                                  actual.data());
          EXPECT_TRUE(SameValues(expected, actual));
        }
      }
    }
  }
}

// ---- MulRequantS16ToS8 and AddZeroPointClampS32ToS8 ----------------------------------------------------

TEST_F(LstmKernelsAvx2, MulRequantMatchesReference) {
  SCOPED_TRACE(SeedTrace());
  Gen gen(seed_);
  for (int n : kSizes) {
    for (Rounding rounding : {Rounding::kDouble, Rounding::kSingle}) {
      for (int32_t zero_point : {0, -128, 127, 5, kI32Min, kI32Max, gen.I32()}) {
        const QuantizedMultiplier m = gen.Int(0, 2) == 0 ? gen.Multiplier() : gen.Multiplier(-28, -20);
        SCOPED_TRACE(::testing::Message() << "n " << n << " zero_point " << zero_point << " multiplier "
                                          << m.multiplier << " shift " << m.shift << " rounding "
                                          << RoundingName(rounding));
        const auto a = gen.VecI16(n);
        const auto b = gen.VecI16(n);
        std::vector<int8_t> expected(n, 0x55);
        std::vector<int8_t> actual(n, 0x55);
        Ref().MulRequantS16ToS8(a.data(), b.data(), n, m, rounding, zero_point, expected.data());
        Avx().MulRequantS16ToS8(a.data(), b.data(), n, m, rounding, zero_point, actual.data());
        EXPECT_TRUE(SameValues(expected, actual));
      }
    }
  }
}

TEST_F(LstmKernelsAvx2, AddZeroPointClampMatchesReference) {
  SCOPED_TRACE(SeedTrace());
  Gen gen(seed_);
  std::set<int8_t> seen;
  for (int n : kSizes) {
    for (int32_t zero_point : {0, -128, 127, -1, kI32Min, kI32Max, gen.I32()}) {
      // Full range, a narrowed range, a single point, and lo > hi (the reference returns lo below lo).
      for (auto lohi : {std::make_pair(-128, 127), std::make_pair(-20, 30), std::make_pair(7, 7),
                        std::make_pair(50, -50), std::make_pair(gen.Int(-128, 127), gen.Int(-128, 127))}) {
        SCOPED_TRACE(::testing::Message() << "n " << n << " zero_point " << zero_point << " lo " << lohi.first
                                          << " hi " << lohi.second);
        const auto v = gen.VecI32(n);
        std::vector<int8_t> expected(n, 0x55);
        std::vector<int8_t> actual(n, 0x55);
        const auto lo = static_cast<int8_t>(lohi.first);
        const auto hi = static_cast<int8_t>(lohi.second);
        Ref().AddZeroPointClampS32ToS8(v.data(), n, zero_point, lo, hi, expected.data());
        Avx().AddZeroPointClampS32ToS8(v.data(), n, zero_point, lo, hi, actual.data());
        EXPECT_TRUE(SameValues(expected, actual));
        seen.insert(expected.begin(), expected.end());
      }
    }
  }
  EXPECT_GT(seen.size(), 100u);
}

// ---- Dispatch ----------------------------------------------------------------------------------------

// Sets or clears IRNN_PATH for the scope, restoring the previous value.
class ScopedIrnnPath {
 public:
  explicit ScopedIrnnPath(const char* value) {
    const char* old = std::getenv("IRNN_PATH");
    had_old_ = old != nullptr;
    if (had_old_) old_ = old;
    if (value != nullptr) {
      setenv("IRNN_PATH", value, 1);
    } else {
      unsetenv("IRNN_PATH");
    }
  }
  ~ScopedIrnnPath() {
    if (had_old_) {
      setenv("IRNN_PATH", old_.c_str(), 1);
    } else {
      unsetenv("IRNN_PATH");
    }
  }

 private:
  bool had_old_ = false;
  std::string old_;
};

TEST_F(LstmKernelsAvx2, DispatchReturnsAvx2Table) {
  ASSERT_NE(avx2::LstmKernelTable(), nullptr);
  EXPECT_EQ(&GetLstmKernels(KernelPath::kAvx2), avx2::LstmKernelTable());
  EXPECT_EQ(&GetLstmKernels(KernelPath::kScalar), &reference::LstmKernelTable());
  EXPECT_NE(avx2::LstmKernelTable()->GemvS8S8RequantS32, reference::LstmKernelTable().GemvS8S8RequantS32);
  EXPECT_NE(avx2::LstmKernelTable()->GemvS8S8RequantPerChannelS32,
            reference::LstmKernelTable().GemvS8S8RequantPerChannelS32);

  KernelPath resolved = KernelPath::kAuto;
  {
    ScopedIrnnPath env("avx2");
    ASSERT_TRUE(ResolveKernelPath(KernelPath::kAuto, &resolved).ok());
    EXPECT_EQ(resolved, KernelPath::kAvx2);
  }
  {
    ScopedIrnnPath env(nullptr);
    ASSERT_TRUE(ResolveKernelPath(KernelPath::kAuto, &resolved).ok());
    const KernelPath best = KernelPathAvailable(KernelPath::kAmx)          ? KernelPath::kAmx
                            : KernelPathAvailable(KernelPath::kAvx512Vnni) ? KernelPath::kAvx512Vnni
                            : KernelPathAvailable(KernelPath::kAvxVnni)  ? KernelPath::kAvxVnni
                                                                         : KernelPath::kAvx2;
    EXPECT_EQ(resolved, best) << "auto picks the best available path";
    ASSERT_TRUE(ResolveKernelPath(KernelPath::kAvx2, &resolved).ok());
    EXPECT_EQ(resolved, KernelPath::kAvx2);
  }
}

// ---- Packed matmul (PackS8 + GemvPackedRequantS32) on every path ------------------------------------

// The paths whose packed matmul can run here; AVX-VNNI only where the CPU has it (said on stdout).
std::vector<KernelPath> PackedPaths() {
  std::vector<KernelPath> paths = {KernelPath::kScalar};
  if (KernelPathAvailable(KernelPath::kAvx2)) paths.push_back(KernelPath::kAvx2);
  if (KernelPathAvailable(KernelPath::kAvxVnni)) {
    paths.push_back(KernelPath::kAvxVnni);
  } else {
    std::printf("[ NOTE     ] AVX-VNNI is not available on this CPU: its packed matmul is not compared here\n");
  }
  if (KernelPathAvailable(KernelPath::kAvx512Vnni)) {
    paths.push_back(KernelPath::kAvx512Vnni);
  } else {
    std::printf("[ NOTE     ] AVX-512 VNNI is not available on this CPU: its packed matmul is not compared here\n");
  }
  if (KernelPathAvailable(KernelPath::kAmx)) {
    paths.push_back(KernelPath::kAmx);
  } else {
    std::printf("[ NOTE     ] AMX is not available on this CPU: its packed matmul is not compared here\n");
  }
  return paths;
}

// The packed matmul of every path equals the reference's Gemv on the unpacked matrix.
void CheckPacked(const std::vector<int8_t>& w, int rows, int cols, const int32_t* bias, const std::vector<int8_t>& x,
                 int batch, QuantizedMultiplier m, const std::vector<QuantizedMultiplier>* channel,
                 Rounding rounding) {
  SCOPED_TRACE(::testing::Message() << "rows " << rows << " cols " << cols << " batch " << batch << " per-channel "
                                    << (channel != nullptr) << " rounding " << RoundingName(rounding));
  const size_t n_out = static_cast<size_t>(rows) * batch;
  std::vector<int32_t> expected(n_out, 0x5A5A5A5A);
  if (channel == nullptr) {
    Ref().GemvS8S8RequantS32(w.data(), rows, cols, bias, x.data(), batch, m, rounding, expected.data());
  } else {
    Ref().GemvS8S8RequantPerChannelS32(w.data(), rows, cols, bias, x.data(), batch, channel->data(), rounding,
                                       expected.data());
  }
  for (KernelPath path : PackedPaths()) {
    const LstmKernels& k = GetLstmKernels(path);
    PackedS8 packed;
    k.PackS8(w.data(), rows, cols, &packed);
    const QuantizedMultiplier* ch = channel != nullptr ? channel->data() : nullptr;
    std::vector<int32_t> actual(n_out, 0x5A5A5A5A);
    k.GemvPackedRequantS32(packed, 0, rows, bias, x.data(), batch, m, ch, rounding, actual.data());
    EXPECT_TRUE(SameValues(expected, actual)) << KernelPathName(path);
    // The rows in three ranges split at multiples of 8 (as threads split them), written into one buffer.
    const int a = (rows / 3) / 8 * 8, b = (2 * rows / 3) / 8 * 8;
    std::vector<int32_t> pieces(n_out, 0x5A5A5A5A);
    k.GemvPackedRequantS32(packed, 0, a, bias, x.data(), batch, m, ch, rounding, pieces.data());
    k.GemvPackedRequantS32(packed, a, b, bias, x.data(), batch, m, ch, rounding, pieces.data());
    k.GemvPackedRequantS32(packed, b, rows, bias, x.data(), batch, m, ch, rounding, pieces.data());
    EXPECT_TRUE(SameValues(expected, pieces)) << KernelPathName(path) << " in row ranges [0, " << a << "), [" << a
                                              << ", " << b << "), [" << b << ", " << rows << ")";
  }
}

TEST(PackedGemv, EveryPathMatchesReferenceOnOddSizesAndBatches) {
  Gen gen(TestSeed());
  std::set<int32_t> seen;
  for (int rows : {1, 3, 7, 8, 9, 17, 33, 64, 255}) {
    for (int cols : {1, 3, 4, 5, 17, 33, 64, 255}) {
      for (int batch : {1, 2, 3, 4, 5, 8, 9, 16, 17, 33}) {
        const Rounding rounding = gen.Int(0, 1) == 0 ? Rounding::kDouble : Rounding::kSingle;
        const auto w = gen.VecI8(rows * cols);
        const auto x = gen.VecI8(cols * batch);
        const auto bias = gen.VecI32(rows);
        const bool with_bias = gen.Int(0, 3) != 0;
        const QuantizedMultiplier m = gen.Multiplier(-20, -5);
        const std::vector<QuantizedMultiplier> channel = RandomMultipliers(gen, rows, -20, -5);
        const bool per_channel = gen.Int(0, 1) == 0;
        CheckPacked(w, rows, cols, with_bias ? bias.data() : nullptr, x, batch, m, per_channel ? &channel : nullptr,
                    rounding);
        std::vector<int32_t> probe(static_cast<size_t>(rows) * batch);
        Ref().GemvS8S8RequantS32(w.data(), rows, cols, nullptr, x.data(), batch, {kI32Max, 0}, rounding,
                                 probe.data());
        seen.insert(probe.begin(), probe.end());
      }
    }
  }
  EXPECT_GT(seen.size(), 1000u) << "the dot products were nearly constant: the test would pass vacuously";
}

TEST(PackedGemv, EveryPathMatchesReferenceOnEdgeValuesAndWrap) {
  // -128 inputs (which become 0 after the AVX-VNNI offset) against -128 and 127 weights, extreme biases,
  // every shift; then sums that wrap around int32.
  for (int cols : {1, 4, 17, 257}) {
    for (int8_t wv : {int8_t{-128}, int8_t{127}}) {
      for (int8_t xv : {int8_t{-128}, int8_t{127}, int8_t{0}}) {
        const int rows = 19;
        for (int batch : {5, 17, 33}) {  // 17, 33: the AMX path's tiles too (33: a 2 x 2 block and a tail)
          std::vector<int8_t> w(static_cast<size_t>(rows) * cols, wv);
          std::vector<int8_t> x(static_cast<size_t>(cols) * batch, xv);
          std::vector<int32_t> bias(rows);
          for (int r = 0; r < rows; ++r) bias[r] = r % 3 == 0 ? kI32Max : (r % 3 == 1 ? kI32Min : 0);
          for (Rounding rounding : {Rounding::kDouble, Rounding::kSingle}) {
            for (int shift : {-31, -1, 0, 30}) {
              CheckPacked(w, rows, cols, bias.data(), x, batch, {kI32Max, shift}, nullptr, rounding);
            }
          }
        }
      }
    }
  }
  const int rows = 9, cols = 140000;
  std::vector<int8_t> w(static_cast<size_t>(rows) * cols, -128);
  std::vector<int8_t> x(static_cast<size_t>(cols) * 16, -128);
  std::vector<int32_t> bias = {0, kI32Max, kI32Min, -1, 1, 12345, -12345, 1 << 30, -(1 << 30)};
  std::vector<QuantizedMultiplier> channel(rows, {kI32Max, 0});
  CheckPacked(w, rows, cols, bias.data(), x, 4, {kI32Max, 0}, nullptr, Rounding::kDouble);
  CheckPacked(w, rows, cols, bias.data(), x, 1, {kI32Max, 0}, &channel, Rounding::kSingle);
  CheckPacked(w, rows, cols, bias.data(), x, 16, {kI32Max, 0}, &channel, Rounding::kDouble);
}

// The AMX path's matmul runs blocks of 2 x 2 tiles (32 input rows x 32 output rows) with 2 x 1, 1 x 2
// and 1 x 1 at the edges; its tiles are 64 columns deep. Batches around multiples of 16 and 32, rows
// around multiples of 16 and 32, columns around multiples of 64 (every path is compared; the AMX
// path only where the CPU has it, said on stdout).
TEST(PackedGemv, EveryPathMatchesReferenceOnAmxTileEdges) {
  Gen gen(TestSeed());
  for (int rows : {1, 16, 17, 31, 33, 255}) {
    for (int cols : {1, 63, 64, 65, 255}) {
      for (int batch : {16, 31, 32, 33, 48, 63, 100}) {
        const Rounding rounding = gen.Int(0, 1) == 0 ? Rounding::kDouble : Rounding::kSingle;
        const auto w = gen.VecI8(rows * cols);
        const auto x = gen.VecI8(cols * batch);
        const auto bias = gen.VecI32(rows);
        const std::vector<QuantizedMultiplier> channel = RandomMultipliers(gen, rows, -20, -5);
        const bool per_channel = gen.Int(0, 3) == 0;
        CheckPacked(w, rows, cols, gen.Int(0, 3) != 0 ? bias.data() : nullptr, x, batch, gen.Multiplier(-20, -5),
                    per_channel ? &channel : nullptr, rounding);
      }
    }
  }
}

// The AMX path's input projection has two forms, chosen by depth (lagged up to 256 columns, pipelined
// deeper), and reads the inputs straight from
// x when x starts on a 64-byte boundary and its rows are whole tiles deep (a copy otherwise, and for a
// partial last tile of rows). Both forms, x at a 64-byte boundary and 16 bytes past one, batches around
// multiples of 16; every path against the reference.
TEST(PackedGemv, EveryPathMatchesReferenceOnBothAmxFormsAndInputAlignments) {
  Gen gen(TestSeed());
  for (int cols : {64, 128, 192, 256, 257, 320, 512}) {
    for (int rows : {1, 17, 33, 64}) {
      for (int batch : {16, 17, 31, 48, 50}) {
        const Rounding rounding = gen.Int(0, 1) == 0 ? Rounding::kDouble : Rounding::kSingle;
        const auto w = gen.VecI8(rows * cols);
        const auto x = gen.VecI8(cols * batch);
        const auto bias = gen.VecI32(rows);
        const QuantizedMultiplier m = gen.Multiplier(-20, -5);
        const std::vector<QuantizedMultiplier> channel = RandomMultipliers(gen, rows, -20, -5);
        const bool per_channel = gen.Int(0, 3) == 0;
        const QuantizedMultiplier* ch = per_channel ? channel.data() : nullptr;
        std::vector<int32_t> expected(static_cast<size_t>(rows) * batch);
        if (per_channel) {
          Ref().GemvS8S8RequantPerChannelS32(w.data(), rows, cols, bias.data(), x.data(), batch, ch, rounding,
                                             expected.data());
        } else {
          Ref().GemvS8S8RequantS32(w.data(), rows, cols, bias.data(), x.data(), batch, m, rounding, expected.data());
        }
        std::vector<int8_t> storage(x.size() + 128);
        const size_t aligned = (64 - reinterpret_cast<uintptr_t>(storage.data()) % 64) % 64;
        for (size_t offset : {aligned, aligned + 16}) {
          std::copy(x.begin(), x.end(), storage.begin() + static_cast<std::ptrdiff_t>(offset));
          for (KernelPath path : PackedPaths()) {
            const LstmKernels& k = GetLstmKernels(path);
            PackedS8 packed;
            k.PackS8(w.data(), rows, cols, &packed);
            std::vector<int32_t> actual(expected.size(), 0x5A5A5A5A);
            k.GemvPackedRequantS32(packed, 0, rows, bias.data(), storage.data() + offset, batch, m, ch, rounding,
                                   actual.data());
            EXPECT_TRUE(SameValues(expected, actual))
                << KernelPathName(path) << " rows " << rows << " cols " << cols << " batch " << batch << " x at "
                << (offset == aligned ? "a 64-byte boundary" : "16 bytes past one") << " per-channel " << per_channel;
          }
        }
      }
    }
  }
}

// Power-of-two multipliers (M = 2^30, shift <= 0, single rounding: requant_avx512.h's PotMultiplier),
// per row and per tensor, take the AMX path's pot store modes: the folded one (the nudge in the bias,
// where PackS8's row bound proves the sum cannot wrap: small biases) and the unfolded one (extreme
// biases). Odd row counts, depths around 64-column tiles, batches around multiples of 16.
TEST(PackedGemv, EveryPathMatchesReferenceOnPotMultipliers) {
  Gen gen(TestSeed());
  for (int rows : {1, 3, 17, 33, 255}) {
    for (int cols : {3, 64, 128, 256, 300}) {
      for (int batch : {16, 17, 33, 100}) {
        const auto w = gen.VecI8(rows * cols);
        const auto x = gen.VecI8(cols * batch);
        std::vector<int32_t> small(rows), extreme(rows);
        std::vector<QuantizedMultiplier> channel(rows);
        for (int r = 0; r < rows; ++r) {
          small[r] = gen.Int(-5000, 5000);
          extreme[r] = r % 2 == 0 ? kI32Max - gen.Int(0, 3) : kI32Min + gen.Int(0, 3);
          channel[r] = {1 << 30, -gen.Int(0, 20)};
        }
        const QuantizedMultiplier m{1 << 30, -gen.Int(0, 20)};
        for (const std::vector<int32_t>* bias : {&small, &extreme}) {
          CheckPacked(w, rows, cols, bias->data(), x, batch, m, &channel, Rounding::kSingle);
          CheckPacked(w, rows, cols, bias->data(), x, batch, m, nullptr, Rounding::kSingle);
        }
        CheckPacked(w, rows, cols, nullptr, x, batch, m, &channel, Rounding::kSingle);  // no bias: folded
      }
    }
  }
}

// Matrices whose weights all lie in [-64, 63]: the avx2 path's 7-bit form (x + 128 times w, no sign
// trick, row_fold). Random and edge weights (-64 and 63 against inputs -128 and 127: pair sums of
// -32,640 and 32,130 in vpmaddubsw), odd sizes, batches 1 to 33, per-tensor, per-row and power-of-two
// multipliers, sums that wrap; and one weight just outside (64 or -65), which must leave the form.
TEST(PackedGemv, EveryPathMatchesReferenceOnSevenBitWeights) {
  Gen gen(TestSeed());
  const auto narrow = [&](int n) {
    std::vector<int8_t> v(static_cast<size_t>(n));
    for (auto& x : v) x = gen.Int(0, 3) == 0 ? (gen.Int(0, 1) == 0 ? int8_t{-64} : int8_t{63})
                                             : static_cast<int8_t>(gen.Int(-64, 63));
    return v;
  };
  int narrow_packed = 0;
  for (int rows : {1, 3, 9, 17, 33, 255}) {
    for (int cols : {1, 3, 5, 17, 33, 256}) {
      for (int batch : {1, 3, 4, 5, 16, 17, 33}) {
        auto w = narrow(rows * cols);
        const auto x = gen.VecI8(cols * batch);
        const auto bias = gen.VecI32(rows);
        const Rounding rounding = gen.Int(0, 1) == 0 ? Rounding::kDouble : Rounding::kSingle;
        const std::vector<QuantizedMultiplier> channel = RandomMultipliers(gen, rows, -20, -5);
        std::vector<QuantizedMultiplier> pot(static_cast<size_t>(rows));
        for (auto& m : pot) m = {1 << 30, -gen.Int(0, 31)};
        CheckPacked(w, rows, cols, bias.data(), x, batch, gen.Multiplier(-20, -5), nullptr, rounding);
        CheckPacked(w, rows, cols, nullptr, x, batch, gen.Multiplier(-20, -5), &channel, rounding);
        CheckPacked(w, rows, cols, bias.data(), x, batch, {1 << 30, -3}, &pot, Rounding::kSingle);
        if (KernelPathAvailable(KernelPath::kAvx2)) {
          PackedS8 packed;
          GetLstmKernels(KernelPath::kAvx2).PackS8(w.data(), rows, cols, &packed);
          narrow_packed += packed.row_fold.empty() ? 0 : 1;
          w[static_cast<size_t>(gen.Int(0, rows * cols - 1))] = gen.Int(0, 1) == 0 ? int8_t{64} : int8_t{-65};
          GetLstmKernels(KernelPath::kAvx2).PackS8(w.data(), rows, cols, &packed);
          EXPECT_TRUE(packed.row_fold.empty()) << "a weight outside [-64, 63] must leave the 7-bit form";
          CheckPacked(w, rows, cols, bias.data(), x, batch, gen.Multiplier(-20, -5), nullptr, rounding);
        }
      }
    }
  }
  if (KernelPathAvailable(KernelPath::kAvx2)) {
    EXPECT_EQ(narrow_packed, 6 * 6 * 7) << "the 7-bit form was not taken";
  }
  for (int8_t wv : {int8_t{-64}, int8_t{63}}) {
    for (int8_t xv : {int8_t{-128}, int8_t{127}, int8_t{0}}) {
      for (int cols : {4, 17, 257}) {
        const int rows = 19;
        std::vector<int8_t> w(static_cast<size_t>(rows) * cols, wv);
        std::vector<int8_t> x(static_cast<size_t>(cols) * 17, xv);
        std::vector<int32_t> bias(rows);
        for (int r = 0; r < rows; ++r) bias[r] = r % 3 == 0 ? kI32Max : (r % 3 == 1 ? kI32Min : 0);
        for (int batch : {1, 5, 17}) {
          CheckPacked(w, rows, cols, bias.data(), x, batch, {kI32Max, 0}, nullptr, Rounding::kDouble);
          CheckPacked(w, rows, cols, bias.data(), x, batch, {1 << 30, -31}, nullptr, Rounding::kSingle);
        }
      }
    }
  }
  // Sums that wrap around int32: 140,000 columns of -64 against -128 (each row's sum 2^30 * 1.07).
  const int rows = 9, cols = 140000;
  std::vector<int8_t> w(static_cast<size_t>(rows) * cols, -64);
  std::vector<int8_t> x(static_cast<size_t>(cols) * 4, -128);
  std::vector<int32_t> bias = {0, kI32Max, kI32Min, -1, 1, 12345, -12345, 1 << 30, -(1 << 30)};
  CheckPacked(w, rows, cols, bias.data(), x, 4, {kI32Max, 0}, nullptr, Rounding::kDouble);
  CheckPacked(w, rows, cols, bias.data(), x, 1, {kI32Max, 0}, nullptr, Rounding::kSingle);
}

// Per-row multipliers where some rows of a block are powers of two and others are not (M = 2^30 with
// shift > 0, M != 2^30, and the edges shift = 0 and -31): the avx2 path's row blocks requantize with
// shifts only where all 8 rows are PotMultiplier's, and by the general form otherwise.
TEST(PackedGemv, EveryPathMatchesReferenceOnMixedPotBlocks) {
  Gen gen(TestSeed());
  for (int rows : {8, 17, 64}) {
    for (int batch : {1, 4, 5}) {
      const int cols = 33;
      const auto w = gen.VecI8(rows * cols);
      const auto x = gen.VecI8(cols * batch);
      const auto bias = gen.VecI32(rows);
      std::vector<QuantizedMultiplier> channel(static_cast<size_t>(rows));
      for (int r = 0; r < rows; ++r) {
        switch (gen.Int(0, 5)) {
          case 0: channel[r] = {1 << 30, 1}; break;
          case 1: channel[r] = {(1 << 30) + 1, -4}; break;
          case 2: channel[r] = {1 << 30, 0}; break;
          case 3: channel[r] = {1 << 30, -31}; break;
          default: channel[r] = {1 << 30, -gen.Int(0, 31)};
        }
      }
      for (Rounding rounding : {Rounding::kDouble, Rounding::kSingle}) {
        CheckPacked(w, rows, cols, bias.data(), x, batch, {1 << 30, 0}, &channel, rounding);
      }
      // Whole blocks of powers of two, then one row changed: the block must leave the shift form.
      for (auto& m : channel) m = {1 << 30, -gen.Int(0, 31)};
      CheckPacked(w, rows, cols, bias.data(), x, batch, {1 << 30, 0}, &channel, Rounding::kSingle);
      channel[static_cast<size_t>(gen.Int(0, rows - 1))] = {1 << 30, 2};
      CheckPacked(w, rows, cols, bias.data(), x, batch, {1 << 30, 0}, &channel, Rounding::kSingle);
    }
  }
}

// ---- The fused gate epilogue (LstmGatesS16) on every path --------------------------------------------

// Every path's LstmGatesS16 equals the reference's (which is the separate reference kernels composed).
void CheckGates(const std::vector<std::vector<int32_t>>& in, const std::vector<std::vector<int32_t>>& rec, int n,
                bool compat, bool cifg, int cell_bits, int16_t clip, QuantizedMultiplier hidden, Rounding rounding,
                int32_t zp, const std::vector<int16_t>& c0) {
  SCOPED_TRACE(::testing::Message() << "n " << n << " compat " << compat << " cifg " << cifg << " cell_bits "
                                    << cell_bits << " clip " << clip << " rounding " << RoundingName(rounding));
  LstmGateEpilogue e;
  for (int g = cifg ? 1 : 0; g < 4; ++g) {
    e.input[g] = in[g].data();
    e.recurrent[g] = rec[g].data();
  }
  e.n = n;
  e.tflite_compat = compat;
  e.gate_shift = 15 + cell_bits;
  e.clip = clip;
  e.cell_integer_bits = cell_bits;
  e.hidden_scale = hidden;
  e.rounding = rounding;
  e.hidden_zp = zp;
  std::vector<int16_t> c_expected = c0;
  std::vector<int8_t> out_expected(static_cast<size_t>(n), 0x5A);
  e.c = c_expected.data();
  e.out = out_expected.data();
  Ref().LstmGatesS16(e);
  for (KernelPath path : PackedPaths()) {
    std::vector<int16_t> c_actual = c0;
    std::vector<int8_t> out_actual(static_cast<size_t>(n), 0x5A);
    e.c = c_actual.data();
    e.out = out_actual.data();
    GetLstmKernels(path).LstmGatesS16(e);
    EXPECT_TRUE(SameValues(c_expected, c_actual)) << KernelPathName(path) << ": cell";
    EXPECT_TRUE(SameValues(out_expected, out_actual)) << KernelPathName(path) << ": hidden";
  }
}

TEST(GateEpilogue, ReferenceIsTheSeparateKernelsComposed) {
  Gen gen(TestSeed());
  const int n = 300;  // more than one of the reference's chunks
  std::vector<std::vector<int32_t>> in(4), rec(4);
  for (int g = 0; g < 4; ++g) {
    in[g] = gen.VecI32(n);
    rec[g] = gen.VecI32(n);
  }
  const auto c0 = gen.VecI16(n);
  const QuantizedMultiplier hidden = gen.Multiplier(-20, 0);
  for (bool compat : {false, true}) {
    LstmGateEpilogue e;
    for (int g = 0; g < 4; ++g) {
      e.input[g] = in[g].data();
      e.recurrent[g] = rec[g].data();
    }
    e.n = n;
    e.tflite_compat = compat;
    e.gate_shift = 19;
    e.clip = 9000;
    e.cell_integer_bits = 4;
    e.hidden_scale = hidden;
    e.hidden_zp = -3;
    std::vector<int16_t> c_fused = c0;
    std::vector<int8_t> out_fused(n);
    e.c = c_fused.data();
    e.out = out_fused.data();
    Ref().LstmGatesS16(e);
    // The same with the separate kernels, as the layer calls them.
    std::vector<std::vector<int16_t>> gate(4, std::vector<int16_t>(n));
    for (int g = 0; g < 4; ++g) {
      std::vector<int32_t> acc = in[g];
      if (compat) {
        Ref().SaturateS32ToS16(acc.data(), n, gate[g].data());
        Ref().AddSatS32IntoS16(rec[g].data(), n, gate[g].data());
      } else {
        Ref().AddSatS32IntoS32(rec[g].data(), n, acc.data());
        Ref().SaturateS32ToS16(acc.data(), n, gate[g].data());
      }
      if (g == 2) {
        Ref().TanhS16(gate[g].data(), n, 3, gate[g].data());
      } else {
        Ref().LogisticQ3S16(gate[g].data(), n, gate[g].data());
      }
    }
    std::vector<int16_t> c_separate = c0, tanh_cell(n);
    std::vector<int8_t> out_separate(n);
    Ref().LstmCellUpdateS16(gate[1].data(), gate[0].data(), gate[2].data(), n, 19, 9000, c_separate.data());
    Ref().TanhS16(c_separate.data(), n, 4, tanh_cell.data());
    Ref().MulRequantS16ToS8(gate[3].data(), tanh_cell.data(), n, hidden, Rounding::kDouble, -3, out_separate.data());
    EXPECT_TRUE(SameValues(c_separate, c_fused)) << "compat " << compat;
    EXPECT_TRUE(SameValues(out_separate, out_fused)) << "compat " << compat;
  }
}

TEST(GateEpilogue, EveryPathMatchesReference) {
  Gen gen(TestSeed());
  for (int n : {1, 3, 15, 16, 17, 33, 255, 256, 257, 300, 513}) {
    for (bool compat : {false, true}) {
      for (bool cifg : {false, true}) {
        std::vector<std::vector<int32_t>> in(4), rec(4);
        for (int g = 0; g < 4; ++g) {
          in[g] = gen.VecI32(n);
          rec[g] = gen.VecI32(n);
        }
        const int cell_bits = gen.Int(0, 6);
        const int16_t clip = gen.Int(0, 1) == 0 ? int16_t{0} : static_cast<int16_t>(gen.Int(1, 32767));
        const Rounding rounding = gen.Int(0, 1) == 0 ? Rounding::kDouble : Rounding::kSingle;
        CheckGates(in, rec, n, compat, cifg, cell_bits, clip, gen.Multiplier(-25, 5), rounding, gen.Int(-128, 127),
                   gen.VecI16(n));
      }
    }
  }
}

// Every int16 pre-activation in every gate (the activations are tables on some paths), every cell width.
TEST(GateEpilogue, EveryPathMatchesReferenceOnEveryPreActivation) {
  Gen gen(TestSeed());
  const int n = 65536;
  std::vector<std::vector<int32_t>> in(4, std::vector<int32_t>(n)), rec(4, std::vector<int32_t>(n, 0));
  for (int g = 0; g < 4; ++g) {
    for (int v = 0; v < n; ++v) in[g][v] = -32768 + (v * (2 * g + 1) + 7919 * g) % 65536;  // a permutation
  }
  std::vector<int16_t> c0(n);
  for (int v = 0; v < n; ++v) c0[v] = static_cast<int16_t>(v - 32768);  // every cell value
  for (int cell_bits = 0; cell_bits <= 6; ++cell_bits) {
    CheckGates(in, rec, n, cell_bits % 2 == 0, false, cell_bits, 0, gen.Multiplier(-20, 0), Rounding::kDouble, 5, c0);
  }
}

// The gate epilogue of one case of the fused steps' tests, run by the reference: the gate pre-activations
// in[g] and rec[g] (g >= 1 with cifg) of n values, random cell width, clip, hidden scale and zero point,
// random initial cell c0; c and out are the reference's results (e.c and e.out point at them: copy e and
// point them elsewhere before running another path).
struct ExpectedGates {
  LstmGateEpilogue e;
  std::vector<int16_t> c0, c;
  std::vector<int8_t> out;
};

ExpectedGates RandomGatesOnReference(Gen& gen, const std::vector<std::vector<int32_t>>& in,
                                     const std::vector<std::vector<int32_t>>& rec, int n, bool compat, bool cifg,
                                     Rounding rounding) {
  ExpectedGates x;
  LstmGateEpilogue& e = x.e;
  for (int g = cifg ? 1 : 0; g < 4; ++g) {
    e.input[g] = in[g].data();
    e.recurrent[g] = rec[g].data();
  }
  e.n = n;
  e.tflite_compat = compat;
  e.cell_integer_bits = gen.Int(0, 6);
  e.gate_shift = 15 + e.cell_integer_bits;
  e.clip = gen.Int(0, 1) == 0 ? int16_t{0} : static_cast<int16_t>(gen.Int(1, 32767));
  e.hidden_scale = gen.Multiplier(-25, 5);
  e.rounding = rounding;
  e.hidden_zp = gen.Int(-128, 127);
  x.c0 = gen.VecI16(n);
  x.c = x.c0;
  x.out.assign(static_cast<size_t>(n), 0x5A);
  e.c = x.c.data();
  e.out = x.out.data();
  Ref().LstmGatesS16(e);
  return x;
}

// Every gate output (every pre-activation) against edge cell values: the cell update's products f*c and
// i*g meet the int16 extremes and the rounding ties of RoundingDivideByPOT (c a multiple of 2^k plus
// 2^(k-1)), with every gate shift (cell_bits 0-6), under CIFG too (i = 32767 - f).
TEST(GateEpilogue, EveryPathMatchesReferenceOnCellProductEdges) {
  Gen gen(TestSeed());
  const int n = 65536;
  std::vector<int16_t> edges = {-32768, -32767, -16384, -16383, -2, -1, 0, 1, 2, 16383, 16384, 32766, 32767};
  for (int k = 1; k <= 14; ++k) {
    edges.push_back(static_cast<int16_t>((1 << k) + (1 << (k - 1))));
    edges.push_back(static_cast<int16_t>(-((1 << k) + (1 << (k - 1)))));
  }
  std::vector<std::vector<int32_t>> in(4, std::vector<int32_t>(n)), rec(4, std::vector<int32_t>(n, 0));
  std::vector<int16_t> c0(n);
  for (int v = 0; v < n; ++v) c0[v] = edges[static_cast<size_t>(v) % edges.size()];
  for (int cell_bits = 0; cell_bits <= 6; ++cell_bits) {
    for (int g = 0; g < 4; ++g) {
      for (int v = 0; v < n; ++v) in[g][v] = -32768 + (v * (2 * g + 3) + 104729 * (g + cell_bits)) % 65536;
    }
    CheckGates(in, rec, n, true, cell_bits == 3, cell_bits, 0, gen.Multiplier(-20, 0), Rounding::kDouble, -7, c0);
  }
}

// ---- The fused recurrent step (LstmRecurrentGatesS16) on every path that has it -----------------------

// The weights of one LstmRecurrentStep packed for path k, with its scratch, over epilogue e (whose
// recurrent inputs the kernel computes itself, so they are cleared).
struct RecurrentStepFixture {
  std::vector<PackedS8> packed = std::vector<PackedS8>(4);
  std::vector<std::vector<int32_t>> scratch;
  LstmRecurrentStep s;
};

void SetUpRecurrentStep(const LstmKernels& k, const std::vector<std::vector<int8_t>>& w,
                        const std::vector<std::vector<int32_t>>& bias, const QuantizedMultiplier* m, bool cifg,
                        int n_cell, int cols, const std::vector<int8_t>& h, int batch, Rounding rounding,
                        const LstmGateEpilogue& e, RecurrentStepFixture* f) {
  f->scratch.assign(4, std::vector<int32_t>(static_cast<size_t>(n_cell) * batch, 0x5A5A5A5A));
  LstmRecurrentStep& s = f->s;
  for (int g = cifg ? 1 : 0; g < 4; ++g) {
    k.PackS8(w[g].data(), n_cell, cols, &f->packed[g]);
    s.w[g] = &f->packed[g];
    s.bias[g] = bias[g].data();
    s.m[g] = m[g];
    s.scratch[g] = f->scratch[g].data();
  }
  s.rounding = rounding;
  s.h = h.data();
  s.batch = batch;
  s.n_cell = n_cell;
  s.gates = e;
  for (int g = 0; g < 4; ++g) s.gates.recurrent[g] = nullptr;
}

// Every path's LstmRecurrentGatesS16, over the whole cell range or split at a 16-cell boundary (as
// threads split it), equals the reference's per-gate GemvS8S8RequantS32 followed by LstmGatesS16.
TEST(RecurrentGates, EveryPathMatchesReferenceComposition) {
  Gen gen(TestSeed());
  int compared = 0;
  for (int n_cell : {1, 3, 17, 33, 255, 256}) {
    for (int cols : {1, 3, 17, 64, 65, 255, 300}) {  // 256 x 300: past the AVX-512 path's fused size
      for (int batch : {1, 3, 4, 5, 16, 17, 32, 33, 48}) {  // >= 16: the AMX path's tiles of 16 input rows
        const bool compat = gen.Int(0, 1) == 0, cifg = gen.Int(0, 3) == 0;
        const Rounding rounding = gen.Int(0, 1) == 0 ? Rounding::kDouble : Rounding::kSingle;
        SCOPED_TRACE(::testing::Message() << "n_cell " << n_cell << " cols " << cols << " batch " << batch
                                          << " compat " << compat << " cifg " << cifg << " rounding "
                                          << RoundingName(rounding));
        const int n = n_cell * batch;
        std::vector<std::vector<int8_t>> w(4);
        std::vector<std::vector<int32_t>> bias(4), in(4), rec(4, std::vector<int32_t>(static_cast<size_t>(n)));
        QuantizedMultiplier m[4];
        const auto h = gen.VecI8(cols * batch);
        for (int g = 0; g < 4; ++g) {
          w[g] = gen.VecI8(n_cell * cols);
          bias[g] = gen.VecI32(n_cell);
          in[g] = gen.VecI32(n);
          m[g] = gen.Multiplier(-20, -5);
          Ref().GemvS8S8RequantS32(w[g].data(), n_cell, cols, bias[g].data(), h.data(), batch, m[g], rounding,
                                   rec[g].data());
        }
        const ExpectedGates want = RandomGatesOnReference(gen, in, rec, n, compat, cifg, rounding);
        for (KernelPath path : PackedPaths()) {
          const LstmKernels& k = GetLstmKernels(path);
          if (k.LstmRecurrentGatesS16 == nullptr) continue;
          RecurrentStepFixture f;
          SetUpRecurrentStep(k, w, bias, m, cifg, n_cell, cols, h, batch, rounding, want.e, &f);
          LstmRecurrentStep& s = f.s;
          for (int split : {0, 16, 48}) {
            if (split >= n_cell) continue;
            std::vector<int16_t> c_actual = want.c0;
            std::vector<int8_t> out_actual(static_cast<size_t>(n), 0x5A);
            s.gates.c = c_actual.data();
            s.gates.out = out_actual.data();
            if (split > 0) k.LstmRecurrentGatesS16(s, 0, split);
            k.LstmRecurrentGatesS16(s, split, n_cell);
            EXPECT_TRUE(SameValues(want.c, c_actual)) << KernelPathName(path) << " split " << split << ": cell";
            EXPECT_TRUE(SameValues(want.out, out_actual)) << KernelPathName(path) << " split " << split << ": hidden";
            ++compared;
          }
        }
      }
    }
  }
  if (compared == 0) {
    std::printf("[ NOTE     ] no path here has LstmRecurrentGatesS16 (AVX-512 VNNI): nothing was compared\n");
  }
}

// The recurrent step's right-shift form (every recurrent scale and the hidden scale a right shift, the
// zero point folded into the hidden requantization; tflite_compat) against edge values: pre-activations
// sweeping [-40000, 40000] (every gate output of the tables and both saturations), edge cell values
// (the ties of f*c and i*g: c a multiple of 2^k plus 2^(k-1), the int16 extremes), every gate shift
// (cell_bits 0-6), with and without clip and CIFG, both roundings, hidden scales whose products o*tanh(c)
// meet ties, zero points +-128 and 0; 1, 3, 16, 17 and 33 input rows (the zmm kernel below 16, AMX tiles
// from 16), 33 and 255 cells (masked tails). Equal to the reference's per-gate matmuls and LstmGatesS16.
TEST(RecurrentGates, RightShiftFormMatchesReferenceOnEdges) {
  // Only the AVX-512 VNNI and AMX tables have the fused recurrent step: on a CPU without either (an AVX2
  // machine such as CI's) there is nothing to compare.
  bool any = false;
  for (KernelPath path : PackedPaths()) any = any || GetLstmKernels(path).LstmRecurrentGatesS16 != nullptr;
  if (!any) GTEST_SKIP() << "no kernel path of this CPU has LstmRecurrentGatesS16 (AVX-512 VNNI or AMX)";
  Gen gen(TestSeed());
  std::vector<int16_t> edges = {-32768, -32767, -16384, -16383, -2, -1, 0, 1, 2, 16383, 16384, 32766, 32767};
  for (int k = 1; k <= 14; ++k) {
    edges.push_back(static_cast<int16_t>((1 << k) + (1 << (k - 1))));
    edges.push_back(static_cast<int16_t>(-((1 << k) + (1 << (k - 1)))));
  }
  int compared = 0;
  const int cols = 19;
  for (int n_cell : {33, 255}) {
    for (int batch : {1, 3, 16, 17, 33}) {
      const int n = n_cell * batch;
      std::vector<std::vector<int8_t>> w(4);
      std::vector<std::vector<int32_t>> bias(4), in(4, std::vector<int32_t>(static_cast<size_t>(n))),
          rec(4, std::vector<int32_t>(static_cast<size_t>(n)));
      const auto h = gen.VecI8(cols * batch);
      std::vector<int16_t> c0(static_cast<size_t>(n));
      for (int v = 0; v < n; ++v) c0[static_cast<size_t>(v)] = edges[static_cast<size_t>(v * 7 + batch) % edges.size()];
      for (int config = 0; config < 28; ++config) {
        const bool cifg = config % 2 == 1, clip = config % 4 >= 2;
        const int cell_bits = config / 4;  // 0-6
        for (Rounding rounding : {Rounding::kDouble, Rounding::kSingle}) {
          QuantizedMultiplier m[4];
          for (int g = 0; g < 4; ++g) {
            w[g] = gen.VecI8(n_cell * cols);
            bias[g] = gen.VecI32(n_cell);
            for (int32_t& b : bias[g]) b /= 4096;
            m[g] = QuantizedMultiplier{gen.Int(1 << 30, kI32Max), gen.Int(-12, -1)};
            Ref().GemvS8S8RequantS32(w[g].data(), n_cell, cols, bias[g].data(), h.data(), batch, m[g], rounding,
                                     rec[g].data());
            for (int v = 0; v < n; ++v) in[g][v] = -40000 + static_cast<int32_t>((int64_t{v} * 977 + g * 12345 + config * 71) % 80001);
          }
          ExpectedGates want;
          LstmGateEpilogue& e = want.e;
          for (int g = cifg ? 1 : 0; g < 4; ++g) {
            e.input[g] = in[g].data();
            e.recurrent[g] = rec[g].data();
          }
          e.n = n;
          e.tflite_compat = true;
          e.cell_integer_bits = cell_bits;
          e.gate_shift = 15 + cell_bits;
          e.clip = clip ? static_cast<int16_t>(gen.Int(1, 32767)) : int16_t{0};
          const int hidden_shift = -(config % 5) - 1;  // -1 .. -5: o * tanh(c) = 2^k multiples are ties
          e.hidden_scale = QuantizedMultiplier{config % 3 == 0 ? 1 << 30 : gen.Int(1 << 30, kI32Max), hidden_shift};
          e.rounding = rounding;
          e.hidden_zp = config % 3 == 0 ? 0 : (config % 3 == 1 ? -128 : 127);
          want.c0 = c0;
          want.c = c0;
          want.out.assign(static_cast<size_t>(n), 0x5A);
          e.c = want.c.data();
          e.out = want.out.data();
          Ref().LstmGatesS16(e);
          SCOPED_TRACE(::testing::Message() << "n_cell " << n_cell << " batch " << batch << " config " << config
                                            << " rounding " << RoundingName(rounding));
          for (KernelPath path : PackedPaths()) {
            const LstmKernels& k = GetLstmKernels(path);
            if (k.LstmRecurrentGatesS16 == nullptr) continue;
            RecurrentStepFixture f;
            SetUpRecurrentStep(k, w, bias, m, cifg, n_cell, cols, h, batch, rounding, e, &f);
            LstmRecurrentStep& s = f.s;
            std::vector<int16_t> c_actual = c0;
            std::vector<int8_t> out_actual(static_cast<size_t>(n), 0x5A);
            s.gates.c = c_actual.data();
            s.gates.out = out_actual.data();
            k.LstmRecurrentGatesS16(s, 0, 16);  // split as two threads would
            k.LstmRecurrentGatesS16(s, 16, n_cell);
            EXPECT_TRUE(SameValues(want.c, c_actual)) << KernelPathName(path) << ": cell";
            EXPECT_TRUE(SameValues(want.out, out_actual)) << KernelPathName(path) << ": hidden";
            ++compared;
          }
        }
      }
    }
  }
  EXPECT_GT(compared, 0);
}

// ---- The right-shift requantization of the AVX-512 recurrent step (RequantizeRight512) -------------

// MBQM(x, m) + z by avx512::RequantizeRightS32 equals the scalar MBQM plus z for every right shift
// (-31..-1), both roundings, multipliers 0, 2^30, 2^30 + 1, 2^31 - 1 and random ones, zero points 0,
// +-1, -128, 127 and the largest the conditions allow, on every int32 edge value (INT32_MIN and
// INT32_MAX, +-2^k and their neighbours, 3 * 2^k: with M = 2^30 those are rounding ties of both
// roundings), values next to exact ties of the double rounding's second step, and random values; sizes
// 1, 3, 17, 33 and 255 (masked tails). Scales outside the conditions are refused.
TEST(RequantizeRight, MatchesScalarMbqmForEveryRightShift) {
  if (!KernelPathAvailable(KernelPath::kAvx512Vnni)) {
    std::printf("[ NOTE     ] AVX-512 VNNI is not available on this CPU: RequantizeRightS32 is not compared here\n");
    return;
  }
  Gen gen(TestSeed());
  std::vector<int32_t> base = EdgeInt32();
  for (int k = 0; k < 600; ++k) base.push_back(gen.I32());
  for (int k = 0; k < 200; ++k) base.push_back(gen.Int(-70000, 70000));
  int32_t out[1] = {0};
  EXPECT_FALSE(avx512::RequantizeRightS32(base.data(), 1, QuantizedMultiplier{1 << 30, 0}, Rounding::kDouble, 0, out));
  EXPECT_FALSE(avx512::RequantizeRightS32(base.data(), 1, QuantizedMultiplier{1 << 30, 3}, Rounding::kDouble, 0, out));
  EXPECT_FALSE(avx512::RequantizeRightS32(base.data(), 1, QuantizedMultiplier{kI32Min, -3}, Rounding::kSingle, 0, out));
  EXPECT_FALSE(avx512::RequantizeRightS32(base.data(), 1, QuantizedMultiplier{1 << 30, -31}, Rounding::kDouble, 1, out));
  EXPECT_FALSE(avx512::RequantizeRightS32(base.data(), 1, QuantizedMultiplier{1 << 30, -20}, Rounding::kDouble,
                                          (1 << 10) + 1, out));
  int compared = 0;
  for (int shift = -31; shift <= -1; ++shift) {
    const int r = -shift;
    const int32_t z_max = r <= 30 ? static_cast<int32_t>(std::min<int64_t>(int64_t{1} << (30 - r), kI32Max)) : 0;
    for (int32_t multiplier : {0, 1 << 30, (1 << 30) + 1, kI32Max, gen.Int(1 << 30, kI32Max), gen.Int(1 << 30, kI32Max)}) {
      const QuantizedMultiplier m{multiplier, shift};
      // Values whose SRDHM with this multiplier lands next to a tie of RoundingDivideByPOT by r: x with
      // x * M near (j 2^r + 2^(r-1)) 2^31, for small j of both signs.
      std::vector<int32_t> x = base;
      if (multiplier != 0) {
        for (int j = -6; j <= 6; ++j) {
          const __int128 target =
              (static_cast<__int128>(j) * (int64_t{1} << r) + (int64_t{1} << (r - 1))) * (int64_t{1} << 31);
          const __int128 center = target / multiplier;
          for (int d = -2; d <= 2; ++d) {
            const __int128 v = center + d;
            if (v >= kI32Min && v <= kI32Max) x.push_back(static_cast<int32_t>(v));
          }
        }
      }
      for (Rounding rounding : {Rounding::kDouble, Rounding::kSingle}) {
        for (int32_t z : {0, 1, -1, -128, 127, z_max, -z_max}) {
          if (std::abs(int64_t{z}) > z_max) continue;
          SCOPED_TRACE(::testing::Message() << "multiplier " << multiplier << " shift " << shift << " rounding "
                                            << RoundingName(rounding) << " z " << z);
          std::vector<int32_t> want(x.size()), got(x.size(), 0x5A5A5A5A);
          for (size_t i = 0; i < x.size(); ++i) {
            want[i] = static_cast<int32_t>(int64_t{MultiplyByQuantizedMultiplier(x[i], m, rounding)} + z);
          }
          ASSERT_TRUE(avx512::RequantizeRightS32(x.data(), static_cast<int>(x.size()), m, rounding, z, got.data()));
          EXPECT_TRUE(SameValues(want, got));
          for (int n : {1, 3, 17, 33, 255}) {  // masked tails: nothing past n is written
            std::vector<int32_t> part(static_cast<size_t>(n) + 16, 0x5A5A5A5A);
            ASSERT_TRUE(avx512::RequantizeRightS32(x.data(), n, m, rounding, z, part.data()));
            for (int i = 0; i < n; ++i) ASSERT_EQ(part[i], want[i]) << "n " << n << " i " << i << " x " << x[i];
            for (int i = n; i < n + 16; ++i) ASSERT_EQ(part[i], 0x5A5A5A5A) << "n " << n << " wrote past the end";
          }
          ++compared;
        }
      }
    }
  }
  EXPECT_GT(compared, 0);
}

// ---- The fused streaming step (PackLstmStreamS8 + LstmStreamStepS16) on every path that has it ------

// One case: every path's LstmStreamStepS16, over the whole cell range or split at 16-cell boundaries (as
// threads split it), equals the reference's per-gate GemvS8S8RequantS32 of the input and of the
// recurrent weights followed by LstmGatesS16. Returns the number of paths compared.
int CheckStreamStep(Gen& gen, int n_cell, int n_input, int n_output, int batch, bool compat, bool cifg,
                    Rounding rounding, bool extreme) {
  SCOPED_TRACE(::testing::Message() << "n_cell " << n_cell << " n_input " << n_input << " n_output " << n_output
                                    << " batch " << batch << " compat " << compat << " cifg " << cifg
                                    << " rounding " << RoundingName(rounding) << " extreme " << extreme);
  const int n = n_cell * batch;
  // extreme: weights and inputs at -128 / 127, biases at the int32 ends, large multipliers (the sums
  // wrap, the requantization and the epilogue saturate).
  auto weights = [&](int count) {
    std::vector<int8_t> v = gen.VecI8(count);
    if (extreme) {
      for (auto& e : v) e = gen.Int(0, 1) == 0 ? int8_t{-128} : int8_t{127};
    }
    return v;
  };
  std::vector<std::vector<int8_t>> wi(4), wr(4);
  std::vector<std::vector<int32_t>> bi(4), br(4), in(4, std::vector<int32_t>(static_cast<size_t>(n))),
      rec(4, std::vector<int32_t>(static_cast<size_t>(n)));
  QuantizedMultiplier mi[4], mr[4];
  const auto x = weights(n_input * batch);
  const auto h = weights(n_output * batch);
  for (int g = 0; g < 4; ++g) {
    wi[g] = weights(n_cell * n_input);
    wr[g] = weights(n_cell * n_output);
    bi[g] = gen.VecI32(n_cell);
    br[g] = gen.VecI32(n_cell);
    if (extreme) {
      for (auto& e : bi[g]) e = gen.Int(0, 1) == 0 ? kI32Min : kI32Max;
    }
    mi[g] = extreme ? QuantizedMultiplier{kI32Max, gen.Int(-2, 10)} : gen.Multiplier(-20, -5);
    mr[g] = extreme ? QuantizedMultiplier{kI32Max, gen.Int(-2, 10)} : gen.Multiplier(-20, -5);
    Ref().GemvS8S8RequantS32(wi[g].data(), n_cell, n_input, bi[g].data(), x.data(), batch, mi[g], rounding,
                             in[g].data());
    Ref().GemvS8S8RequantS32(wr[g].data(), n_cell, n_output, br[g].data(), h.data(), batch, mr[g], rounding,
                             rec[g].data());
  }
  const ExpectedGates want = RandomGatesOnReference(gen, in, rec, n, compat, cifg, rounding);
  int compared = 0;
  for (KernelPath path : PackedPaths()) {
    const LstmKernels& k = GetLstmKernels(path);
    if (k.LstmStreamStepS16 == nullptr) continue;
    EXPECT_NE(k.PackLstmStreamS8, nullptr) << KernelPathName(path);
    if (k.PackLstmStreamS8 == nullptr) continue;
    const int8_t* wi_p[4] = {};
    const int8_t* wr_p[4] = {};
    for (int g = cifg ? 1 : 0; g < 4; ++g) {
      wi_p[g] = wi[g].data();
      wr_p[g] = wr[g].data();
    }
    PackedLstmStream packed;
    k.PackLstmStreamS8(wi_p, wr_p, n_cell, n_input, n_output, &packed);
    std::vector<std::vector<int32_t>> scratch_in(4, std::vector<int32_t>(static_cast<size_t>(n), 0x5A5A5A5A));
    std::vector<std::vector<int32_t>> scratch_rec(4, std::vector<int32_t>(static_cast<size_t>(n), 0x5A5A5A5A));
    LstmStreamStep s;
    s.w = &packed;
    for (int g = cifg ? 1 : 0; g < 4; ++g) {
      s.input_bias[g] = bi[g].data();
      s.recurrent_bias[g] = br[g].data();
      s.input_m[g] = mi[g];
      s.recurrent_m[g] = mr[g];
      s.input_scratch[g] = scratch_in[g].data();
      s.recurrent_scratch[g] = scratch_rec[g].data();
    }
    s.rounding = rounding;
    s.x = x.data();
    s.h = h.data();
    s.batch = batch;
    s.n_cell = n_cell;
    s.gates = want.e;
    for (int g = 0; g < 4; ++g) s.gates.input[g] = s.gates.recurrent[g] = nullptr;
    for (int split : {0, 16, 80}) {
      if (split > 0 && split >= n_cell) continue;
      std::vector<int16_t> c_actual = want.c0;
      std::vector<int8_t> out_actual(static_cast<size_t>(n), 0x5A);
      s.gates.c = c_actual.data();
      s.gates.out = out_actual.data();
      if (split > 0) k.LstmStreamStepS16(s, 0, split);
      k.LstmStreamStepS16(s, split, n_cell);
      EXPECT_TRUE(SameValues(want.c, c_actual)) << KernelPathName(path) << " split " << split << ": cell";
      EXPECT_TRUE(SameValues(want.out, out_actual)) << KernelPathName(path) << " split " << split << ": hidden";
      ++compared;
    }
  }
  return compared;
}

TEST(StreamStep, EveryPathMatchesReferenceComposition) {
  Gen gen(TestSeed());
  int compared = 0;
  for (int n_cell : {1, 3, 17, 33, 255}) {
    for (int n_input : {1, 3, 17, 33, 255}) {
      for (int batch : {1, 2, 3, 4, 5, 17}) {
        const int n_output = gen.Int(0, 1) == 0 ? n_cell : gen.Int(1, 70);  // with projection: any n_output
        const bool compat = gen.Int(0, 1) == 0, cifg = gen.Int(0, 3) == 0;
        const Rounding rounding = gen.Int(0, 1) == 0 ? Rounding::kDouble : Rounding::kSingle;
        compared += CheckStreamStep(gen, n_cell, n_input, n_output, batch, compat, cifg, rounding, false);
      }
    }
  }
  if (compared == 0) {
    std::printf("[ NOTE     ] no path here has LstmStreamStepS16 (AVX-512 VNNI): nothing was compared\n");
  }
}

TEST(StreamStep, EveryPathMatchesReferenceOnSaturationAndWrap) {
  Gen gen(TestSeed());
  for (bool compat : {false, true}) {
    for (bool cifg : {false, true}) {
      for (Rounding rounding : {Rounding::kDouble, Rounding::kSingle}) {
        for (int batch : {1, 3, 4}) {
          CheckStreamStep(gen, 33, 255, 17, batch, compat, cifg, rounding, true);
          CheckStreamStep(gen, 17, 3, 33, batch, compat, cifg, rounding, true);
        }
      }
    }
  }
}

// These need no AVX2: the scalar path and the rejection of a bad IRNN_PATH hold on every CPU.
TEST(KernelDispatch, IrnnPathScalarSelectsScalar) {
  ScopedIrnnPath env("scalar");
  KernelPath resolved = KernelPath::kAuto;
  const Status s = ResolveKernelPath(KernelPath::kAuto, &resolved);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(resolved, KernelPath::kScalar);
  EXPECT_EQ(&GetLstmKernels(resolved), &reference::LstmKernelTable());
}

TEST(KernelDispatch, IrnnPathBogusIsRejected) {
  ScopedIrnnPath env("bogus");
  KernelPath resolved = KernelPath::kScalar;
  const Status s = ResolveKernelPath(KernelPath::kAuto, &resolved);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("IRNN_PATH"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("bogus"), std::string::npos) << s.message();
}

TEST(KernelDispatch, ExplicitPathIgnoresIrnnPath) {
  ScopedIrnnPath env("bogus");
  KernelPath resolved = KernelPath::kAuto;
  const Status s = ResolveKernelPath(KernelPath::kScalar, &resolved);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(resolved, KernelPath::kScalar);
}

}  // namespace
}  // namespace irnn
