// The strict JSON parser of the model header (src/model/json.h): what it accepts, what it refuses and
// with which message, its limits, serializer round trips, and random inputs that must never crash it
// (this also runs under ASan/UBSan).

#include "model/json.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <random>
#include <string>

namespace irnn::json {
namespace {

Value MustParse(const std::string& text) {
  Value v;
  const Status s = Parse(text, Limits(), &v);
  EXPECT_TRUE(s.ok()) << text << ": " << s.message();
  return v;
}

// Parsing `text` fails and the message contains `expect`.
void ExpectRefused(const std::string& text, const std::string& expect, const Limits& limits = Limits()) {
  Value v;
  const Status s = Parse(text, limits, &v);
  ASSERT_FALSE(s.ok()) << "accepted: " << text;
  EXPECT_NE(s.message().find(expect), std::string::npos) << "text: " << text << "\nmessage: " << s.message();
  EXPECT_EQ(s.message().rfind("JSON: ", 0), 0u) << s.message();
}

TEST(Json, ParsesEveryKindInDocumentOrder) {
  const Value v = MustParse(R"( {"b": [1, -2, 0, true, false, null, "x"], "a": {"k": {}}, "e": []} )");
  ASSERT_TRUE(v.is_object());
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(v.key(0), "b");
  EXPECT_EQ(v.key(1), "a");
  const Value* b = v.Find("b");
  ASSERT_NE(b, nullptr);
  ASSERT_EQ(b->elements().size(), 7u);
  EXPECT_EQ(b->elements()[0].int_value(), 1);
  EXPECT_EQ(b->elements()[1].int_value(), -2);
  EXPECT_TRUE(b->elements()[3].bool_value());
  EXPECT_TRUE(b->elements()[4].is_bool());
  EXPECT_FALSE(b->elements()[4].bool_value());
  EXPECT_TRUE(b->elements()[5].is_null());
  EXPECT_EQ(b->elements()[6].string_value(), "x");
  EXPECT_TRUE(v.Find("a")->Find("k")->is_object());
  EXPECT_EQ(v.Find("zz"), nullptr);
}

TEST(Json, Int64LimitsExactly) {
  EXPECT_EQ(MustParse("9223372036854775807").int_value(), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(MustParse("-9223372036854775808").int_value(), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(MustParse("-0").int_value(), 0);
  ExpectRefused("9223372036854775808", "outside the int64 range at byte");
  ExpectRefused("-9223372036854775809", "outside the int64 range");
  ExpectRefused("123456789012345678901234567890", "outside the int64 range");
}

TEST(Json, RefusesFloatsInEveryForm) {
  ExpectRefused("1.5", "fraction or an exponent");
  ExpectRefused("[1, 2.0]", "fraction or an exponent (the format holds integers only) at byte 5");
  ExpectRefused("1e3", "fraction or an exponent");
  ExpectRefused("-1E-3", "fraction or an exponent");
  ExpectRefused(".5", "expected a value but found '.'");
  ExpectRefused("NaN", "expected a value");
  ExpectRefused("Infinity", "expected a value");
  ExpectRefused("-", "expected a digit but found end of text");
  ExpectRefused("01", "leading zero");
  ExpectRefused("+1", "expected a value but found '+'");
}

TEST(Json, StringsEscapesAndUtf8) {
  EXPECT_EQ(MustParse(R"("a\"b\\c\/d\b\f\n\r\t")").string_value(), "a\"b\\c/d\b\f\n\r\t");
  EXPECT_EQ(MustParse(R"("\u00e9\u20ac")").string_value(), "\xC3\xA9\xE2\x82\xAC");
  EXPECT_EQ(MustParse(R"("\ud83d\ude00")").string_value(), "\xF0\x9F\x98\x80");  // surrogate pair
  EXPECT_EQ(MustParse("\"\xF0\x9F\x98\x80 \xC3\xA9\"").string_value(), "\xF0\x9F\x98\x80 \xC3\xA9");
  EXPECT_EQ(MustParse(R"("\u0000")").string_value(), std::string(1, '\0'));
  ExpectRefused(R"("\ud83d")", "high surrogate not followed by a low surrogate");
  ExpectRefused(R"("\ude00")", "lone low surrogate");
  ExpectRefused(R"("\u12G4")", "expected a hex digit");
  ExpectRefused(R"("\u12)", "truncated \\u escape");
  ExpectRefused(R"("\x")", "unknown escape \\'x'");
  ExpectRefused("\"a\nb\"", "control character byte 0x0a in a string");
  ExpectRefused("\"abc", "unterminated string");
  ExpectRefused("\"\xC0\x80\"", "invalid UTF-8 byte 0xc0");  // overlong NUL
  ExpectRefused("\"\xED\xA0\x80\"", "invalid UTF-8");        // encoded surrogate
  ExpectRefused("\"\xF4\x90\x80\x80\"", "invalid UTF-8");    // above U+10FFFF
  ExpectRefused("\"\xE2\x82\"", "invalid UTF-8");            // truncated sequence
  ExpectRefused("\"\xFF\"", "invalid UTF-8 byte 0xff");
  EXPECT_TRUE(IsValidUtf8("plain \xC3\xA9 \xF0\x9F\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("\xC3"));
  EXPECT_FALSE(IsValidUtf8("\xE0\x80\x80"));
}

TEST(Json, StructureErrorsNamePositionAndProblem) {
  ExpectRefused("", "expected a value but found end of text at byte 0");
  ExpectRefused("   ", "expected a value but found end of text at byte 3");
  ExpectRefused("{\"a\" 1}", "expected ':' after an object key but found '1' at byte 5");
  ExpectRefused("{\"a\":1,}", "expected a string key in an object but found '}'");
  ExpectRefused("{a:1}", "expected a string key");
  ExpectRefused("[1 2]", "expected ',' or ']' in an array but found '2' at byte 3");
  ExpectRefused("[1,", "expected a value but found end of text");
  ExpectRefused("{\"a\":1", "unterminated object");
  ExpectRefused("[1", "unterminated array");
  ExpectRefused("{} {}", "unexpected '{' after the JSON value at byte 3");
  ExpectRefused("tru", "expected a value but found 't'");
  ExpectRefused("nul", "expected a value");
  ExpectRefused(std::string("{}\0", 3), "unexpected byte 0x00 after the JSON value");
  ExpectRefused(R"({"a":1,"b":2,"a":3})", "duplicate key \"a\" at byte 13");
}

TEST(Json, DuplicateKeysFoundInLargeObjects) {
  std::string text = "{";
  for (int i = 0; i < 5000; ++i) text += "\"k" + std::to_string(i) + "\":" + std::to_string(i) + ",";
  std::string ok = text;
  ok.back() = '}';
  EXPECT_EQ(MustParse(ok).size(), 5000u);
  ExpectRefused(text + "\"k1234\":0}", "duplicate key \"k1234\"");
}

TEST(Json, LimitsOnDepthValuesAndSize) {
  Limits limits;
  limits.max_depth = 4;
  EXPECT_TRUE(Parse("[[[[1]]]]", limits, nullptr).code() == StatusCode::kInvalidArgument);  // null out
  Value v;
  EXPECT_TRUE(Parse("[[[[1]]]]", limits, &v).ok());
  Status s = Parse("[[[[[1]]]]]", limits, &v);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kOutOfRange);
  EXPECT_NE(s.message().find("nesting deeper than 4 at byte 4"), std::string::npos) << s.message();
  // The default depth limit stops a stack-exhausting document long before the stack does.
  ExpectRefused(std::string(100000, '['), "nesting deeper than 32");
  ExpectRefused(std::string(100000, '{'), "expected a string key");  // '{{' is malformed at depth 1

  limits = Limits();
  limits.max_values = 10;
  EXPECT_TRUE(Parse("[1,2,3,4,5,6,7,8,9]", limits, &v).ok());  // 10 values with the array
  s = Parse("[1,2,3,4,5,6,7,8,9,10]", limits, &v);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("more than 10 values"), std::string::npos) << s.message();

  limits = Limits();
  limits.max_bytes = 8;
  s = Parse("[1, 2, 3]", limits, &v);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("the text is 9 bytes but must be at most 8"), std::string::npos) << s.message();
}

TEST(Json, SerializeRoundTripsAndEscapes) {
  Value root = Value::Object();
  root.Add("s", Value::String(std::string("q\"\\\n\x01\x1f\xC3\xA9", 8)));
  root.Add("i", Value::Int(std::numeric_limits<int64_t>::min()));
  root.Add("j", Value::Int(std::numeric_limits<int64_t>::max()));
  Value& a = root.Add("a", Value::Array());
  a.Push(Value::Bool(true));
  a.Push(Value());
  a.Push(Value::Object());
  const std::string text = Serialize(root);
  EXPECT_EQ(text,
            "{\"s\":\"q\\\"\\\\\\n\\u0001\\u001f\xC3\xA9\",\"i\":-9223372036854775808,"
            "\"j\":9223372036854775807,\"a\":[true,null,{}]}");
  const Value back = MustParse(text);
  EXPECT_EQ(Serialize(back), text);
  EXPECT_EQ(back.Find("s")->string_value(), root.Find("s")->string_value());
}

// Random bytes, and a valid document with random edits: every outcome is ok or a clean error; an
// accepted document serializes to text that parses to the same serialization.
TEST(Json, RandomInputsNeverCrash) {
  const uint64_t seed = 0x15011;
  std::mt19937_64 rng(seed);
  SCOPED_TRACE("seed " + std::to_string(seed));
  const std::string valid =
      R"({"a":[1,-2,{"b":"c\u00e9\ud83d\ude00"},true,false,null],"d":{"e":[[],{}],"f":"\\\"x"},"g":-9223372036854775808})";
  static const char kAlphabet[] = "{}[]\":,-0123456789.eE tfnrulasx\\\x80\xC3\xA9\xF0\xFF\x00";
  const std::string alphabet(kAlphabet, sizeof(kAlphabet) - 1);  // keeps the NUL
  int accepted = 0, refused = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    std::string text;
    if (iter % 4 == 0) {
      const size_t n = rng() % 40;
      for (size_t i = 0; i < n; ++i) text.push_back(alphabet[rng() % alphabet.size()]);
    } else {
      text = valid;
      const int edits = 1 + static_cast<int>(rng() % 3);
      for (int e = 0; e < edits && !text.empty(); ++e) {
        const size_t pos = rng() % text.size();
        switch (rng() % 4) {
          case 0: text[pos] = alphabet[rng() % alphabet.size()]; break;
          case 1: text.erase(pos, 1 + rng() % 4); break;
          case 2: text.insert(pos, 1, alphabet[rng() % alphabet.size()]); break;
          default: text.resize(pos); break;
        }
      }
    }
    Value v;
    const Status s = Parse(text, Limits(), &v);
    if (s.ok()) {
      ++accepted;
      const std::string once = Serialize(v);
      Value again;
      ASSERT_TRUE(Parse(once, Limits(), &again).ok()) << once;
      ASSERT_EQ(Serialize(again), once);
    } else {
      ++refused;
      ASSERT_FALSE(s.message().empty());
    }
  }
  EXPECT_GT(accepted, 100);
  EXPECT_GT(refused, 1000);
}

}  // namespace
}  // namespace irnn::json
