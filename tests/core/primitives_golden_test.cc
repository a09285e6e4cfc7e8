// The fixed-point primitives against TFLite's own outputs (../shared/golden/tflite_lstm_8x8_16/
// primitives.json): the full 65,536-entry sigmoid and tanh tables (0..6 integer bits),
// MultiplyByQuantizedMultiplier (double rounding), the integer inverse square root and
// QuantizeMultiplier of float32 values.

#include <string>

#include <gtest/gtest.h>

#include "core/fixed_point.h"
#include "core/fixed_point_math.h"
#include "core/inv_sqrt.h"
#include "core/quantize.h"
#include "support/golden.h"

namespace irnn {
namespace {

class PrimitivesGolden : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    json_ = new nlohmann::json(
        testing::ReadJson(testing::SharedDir() + "/golden/tflite_lstm_8x8_16/primitives.json"));
  }
  static void TearDownTestSuite() {
    delete json_;
    json_ = nullptr;
  }
  static const nlohmann::json& J() { return *json_; }

  // Compares a full int16 table; prints up to 8 mismatches.
  template <typename F>
  static void CheckTable(const std::string& key, F f) {
    const auto& table = J().at(key);
    ASSERT_EQ(table.size(), 65536u) << key;
    int bad = 0;
    for (int k = 0; k < 65536; ++k) {
      const int16_t in = static_cast<int16_t>(k - 32768);
      const int want = table[k].get<int>();
      const int got = f(in);
      if (want != got && ++bad <= 8) ADD_FAILURE() << key << "(" << in << "): expected " << want << " got " << got;
    }
    EXPECT_EQ(bad, 0) << key << ": " << bad << " of 65536 entries differ";
  }

  static nlohmann::json* json_;
};
nlohmann::json* PrimitivesGolden::json_ = nullptr;

TEST_F(PrimitivesGolden, SigmoidQ3_12TableExact) {
  CheckTable("sigmoid_q3_12_to_q0_15", [](int16_t x) { return LogisticQ15(x, 3); });
}

TEST_F(PrimitivesGolden, TanhTablesExactForEveryIntegerBitCount) {
  for (int bits = 0; bits <= 6; ++bits) {
    CheckTable("tanh_q" + std::to_string(bits) + "_to_q0_15", [bits](int16_t x) { return TanhQ15(x, bits); });
  }
}

TEST_F(PrimitivesGolden, MultiplyByQuantizedMultiplierDoubleRoundingRows) {
  const auto& rows = J().at("multiply_by_quantized_multiplier");
  ASSERT_GT(rows.size(), 100u);
  for (const auto& r : rows) {
    const int32_t x = r[0], m = r[1], shift = r[2], want = r[3];
    EXPECT_EQ(MultiplyByQuantizedMultiplierDoubleRounding(x, m, shift), want)
        << "x=" << x << " M=" << m << " shift=" << shift;
    EXPECT_EQ(MultiplyByQuantizedMultiplier(x, {m, shift}, Rounding::kDouble), want);
  }
}

TEST_F(PrimitivesGolden, InvSqrtRows) {
  const auto& rows = J().at("inv_sqrt_quantized_multiplier_exp_reverse_shift_m1");
  ASSERT_GT(rows.size(), 100u);
  for (const auto& r : rows) {
    const QuantizedMultiplier got = InvSqrtQuantizedMultiplier(r[0].get<int32_t>());
    EXPECT_EQ(got.multiplier, r[1].get<int32_t>()) << "input " << r[0];
    EXPECT_EQ(got.shift, r[2].get<int32_t>()) << "input " << r[0];
  }
}

TEST_F(PrimitivesGolden, QuantizeMultiplierOfFloat32Rows) {
  const auto& rows = J().at("quantize_multiplier_of_float32");
  ASSERT_GT(rows.size(), 100u);
  for (const auto& r : rows) {
    const float value = static_cast<float>(r[0].get<double>());
    const QuantizedMultiplier got = QuantizeMultiplier(value);
    EXPECT_EQ(got.multiplier, r[1].get<int32_t>()) << "value " << r[0];
    EXPECT_EQ(got.shift, r[2].get<int32_t>()) << "value " << r[0];
  }
}

}  // namespace
}  // namespace irnn
