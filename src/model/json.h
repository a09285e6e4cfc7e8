// A minimal, strict JSON parser and serializer for the .irnn model header (docs/model_format.md). It
// reads RFC 8259 JSON with two restrictions that suit an integer-only runtime: a number must be an
// integer that fits int64 (a fraction or an exponent is refused, never rounded), and an object may not
// repeat a key. Every input is untrusted: nesting depth, text size and the number of values are capped
// before anything grows, strings must be valid UTF-8 (no overlong forms, no surrogates), and an error
// is a Status naming what was wrong and the byte where it was found. No exceptions, no floating point
// (this object is part of the no-float check). It is not a general JSON library: no floats, no
// streaming, no comments, no duplicate keys.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "irnn/status.h"

namespace irnn::json {

enum class Type : uint8_t { kNull = 0, kBool = 1, kInt = 2, kString = 3, kArray = 4, kObject = 5 };

// "null", "a boolean", "an integer", "a string", "an array", "an object": for error messages.
const char* TypeName(Type type);

// One JSON value. Objects keep their members in document order; keys are unique in a parsed object
// (Parse refuses duplicates) and the builder (Add) leaves uniqueness to its caller.
class Value {
 public:
  Value() = default;  // null
  static Value Bool(bool b);
  static Value Int(int64_t i);
  static Value String(std::string s);
  static Value Array();
  static Value Object();

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::kNull; }
  bool is_bool() const { return type_ == Type::kBool; }
  bool is_int() const { return type_ == Type::kInt; }
  bool is_string() const { return type_ == Type::kString; }
  bool is_array() const { return type_ == Type::kArray; }
  bool is_object() const { return type_ == Type::kObject; }

  // Accessors of the scalar kinds; each returns a default (false, 0, "") for a value of another type.
  bool bool_value() const { return type_ == Type::kBool && bool_; }
  int64_t int_value() const { return type_ == Type::kInt ? int_ : 0; }
  const std::string& string_value() const { return string_; }

  // Arrays: elements (empty for a non-array). Objects: members in order (empty for a non-object).
  const std::vector<Value>& elements() const { return elements_; }
  size_t size() const { return type_ == Type::kObject ? keys_.size() : elements_.size(); }
  const std::string& key(size_t i) const { return keys_[i]; }
  const Value& value(size_t i) const { return elements_[i]; }

  // The member named `key`, or null when absent or when this is not an object. Linear: meant for the
  // small objects of a schema; a caller walking a large object iterates key(i)/value(i) instead.
  const Value* Find(std::string_view key) const;

  // Builders. Push appends to an array; Add appends a member to an object and returns it.
  Value& Push(Value v);
  Value& Add(std::string key, Value v);

 private:
  Type type_ = Type::kNull;
  bool bool_ = false;
  int64_t int_ = 0;
  std::string string_;
  std::vector<std::string> keys_;  // objects: member names, parallel to elements_
  std::vector<Value> elements_;    // arrays: elements; objects: member values
};

// Caps applied while parsing, each checked before the parser grows past it.
struct Limits {
  size_t max_bytes = size_t{16} << 20;  // length of the text
  int max_depth = 32;                   // arrays and objects nested in one another
  size_t max_values = size_t{1} << 19;  // values of any kind in the document (bounds memory use)
};

// Parses one JSON document (surrounding whitespace allowed) into *out. Errors: kDataLoss for malformed
// text ("JSON: expected ':' after an object key at byte 17"), kOutOfRange for a limit.
Status Parse(std::string_view text, const Limits& limits, Value* out);

// Compact JSON text of `value`: no whitespace, members in order, strings escaped (", \, and control
// characters as \u00XX; other bytes copied, so the text is UTF-8 when every string is).
std::string Serialize(const Value& value);

// True when `s` is well-formed UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF).
bool IsValidUtf8(std::string_view s);

}  // namespace irnn::json
