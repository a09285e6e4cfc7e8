// The strict JSON parser and serializer (see json.h). Recursive descent; the recursion depth is the
// nesting depth, capped by Limits::max_depth, so untrusted text cannot exhaust the stack. Integer only:
// this object is part of the no-float check.

#include "model/json.h"

#include <algorithm>
#include <limits>
#include <utility>

namespace irnn::json {
namespace {

// Length of the well-formed UTF-8 sequence that starts at s[i] (1-4), or 0 if there is none
// (Unicode 15, table 3-7: no overlong forms, no surrogates, nothing above U+10FFFF).
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char b0 = byte(i);
  if (b0 < 0x80) return 1;
  const size_t left = s.size() - i;
  auto cont = [&](size_t k) { return (byte(i + k) & 0xC0) == 0x80; };
  if (b0 >= 0xC2 && b0 <= 0xDF) return left >= 2 && cont(1) ? 2 : 0;
  if (b0 >= 0xE0 && b0 <= 0xEF) {
    if (left < 3 || !cont(1) || !cont(2)) return 0;
    const unsigned char b1 = byte(i + 1);
    if (b0 == 0xE0 && b1 < 0xA0) return 0;  // overlong
    if (b0 == 0xED && b1 > 0x9F) return 0;  // UTF-16 surrogate
    return 3;
  }
  if (b0 >= 0xF0 && b0 <= 0xF4) {
    if (left < 4 || !cont(1) || !cont(2) || !cont(3)) return 0;
    const unsigned char b1 = byte(i + 1);
    if (b0 == 0xF0 && b1 < 0x90) return 0;  // overlong
    if (b0 == 0xF4 && b1 > 0x8F) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;
}

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

class Parser {
 public:
  Parser(std::string_view text, const Limits& limits) : text_(text), limits_(limits) {}

  Status ParseDocument(Value* out) {
    if (text_.size() > limits_.max_bytes) {
      return Status::OutOfRange("JSON: the text is " + std::to_string(text_.size()) + " bytes but must be at most " +
                                std::to_string(limits_.max_bytes));
    }
    SkipWhitespace();
    IRNN_RETURN_IF_ERROR(ParseValue(0, out));
    SkipWhitespace();
    if (pos_ != text_.size()) return Error("unexpected " + Describe() + " after the JSON value");
    return Status::Ok();
  }

 private:
  Status Error(const std::string& what) const {
    return Status::DataLoss("JSON: " + what + " at byte " + std::to_string(pos_));
  }

  // The character at pos_, for error messages.
  std::string Describe() const {
    if (pos_ >= text_.size()) return "end of text";
    const unsigned char c = static_cast<unsigned char>(text_[pos_]);
    if (c >= 0x20 && c < 0x7F) return std::string("'") + static_cast<char>(c) + "'";
    static const char kHex[] = "0123456789abcdef";
    return std::string("byte 0x") + kHex[c >> 4] + kHex[c & 15];
  }

  bool AtEnd() const { return pos_ >= text_.size(); }
  char Peek() const { return text_[pos_]; }

  void SkipWhitespace() {
    while (!AtEnd() && (Peek() == ' ' || Peek() == '\t' || Peek() == '\n' || Peek() == '\r')) ++pos_;
  }

  Status CountValue() {
    if (++values_ > limits_.max_values) {
      return Status::OutOfRange("JSON: more than " + std::to_string(limits_.max_values) + " values at byte " +
                                std::to_string(pos_));
    }
    return Status::Ok();
  }

  Status ParseValue(int depth, Value* out) {
    IRNN_RETURN_IF_ERROR(CountValue());
    if (AtEnd()) return Error("expected a value but found end of text");
    const char c = Peek();
    if (c == '{' || c == '[') {
      if (depth >= limits_.max_depth) {
        return Status::OutOfRange("JSON: nesting deeper than " + std::to_string(limits_.max_depth) + " at byte " +
                                  std::to_string(pos_));
      }
      return c == '{' ? ParseObject(depth + 1, out) : ParseArray(depth + 1, out);
    }
    if (c == '"') {
      std::string s;
      IRNN_RETURN_IF_ERROR(ParseString(&s));
      *out = Value::String(std::move(s));
      return Status::Ok();
    }
    if (c == '-' || (c >= '0' && c <= '9')) return ParseInteger(out);
    if (ConsumeLiteral("true")) {
      *out = Value::Bool(true);
      return Status::Ok();
    }
    if (ConsumeLiteral("false")) {
      *out = Value::Bool(false);
      return Status::Ok();
    }
    if (ConsumeLiteral("null")) {
      *out = Value();
      return Status::Ok();
    }
    return Error("expected a value but found " + Describe());
  }

  bool ConsumeLiteral(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  Status ParseInteger(Value* out) {
    const bool negative = Peek() == '-';
    if (negative) ++pos_;
    if (AtEnd() || Peek() < '0' || Peek() > '9') return Error("expected a digit but found " + Describe());
    // Magnitude limit: 2^63 for a negative number, 2^63 - 1 otherwise.
    const uint64_t limit = negative ? uint64_t{1} << 63 : (uint64_t{1} << 63) - 1;
    uint64_t magnitude = 0;
    if (Peek() == '0') {
      ++pos_;
      if (!AtEnd() && Peek() >= '0' && Peek() <= '9') return Error("a number with a leading zero");
    } else {
      while (!AtEnd() && Peek() >= '0' && Peek() <= '9') {
        const uint64_t d = static_cast<uint64_t>(Peek() - '0');
        if (magnitude > (limit - d) / 10) return Error("an integer outside the int64 range");
        magnitude = magnitude * 10 + d;
        ++pos_;
      }
    }
    if (!AtEnd() && (Peek() == '.' || Peek() == 'e' || Peek() == 'E')) {
      return Error("a number with a fraction or an exponent (the format holds integers only)");
    }
    int64_t v = 0;
    if (!negative) {
      v = static_cast<int64_t>(magnitude);
    } else if (magnitude == (uint64_t{1} << 63)) {
      v = std::numeric_limits<int64_t>::min();
    } else {
      v = -static_cast<int64_t>(magnitude);
    }
    *out = Value::Int(v);
    return Status::Ok();
  }

  // Four hex digits after "\u" (pos_ on the first digit).
  Status ParseHex4(uint32_t* cp) {
    if (text_.size() - pos_ < 4) return Error("a truncated \\u escape");
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      const int d = HexDigit(Peek());
      if (d < 0) return Error("expected a hex digit in a \\u escape but found " + Describe());
      v = v * 16 + static_cast<uint32_t>(d);
      ++pos_;
    }
    *cp = v;
    return Status::Ok();
  }

  Status ParseString(std::string* out) {
    ++pos_;  // opening quote
    out->clear();
    while (true) {
      if (AtEnd()) return Error("an unterminated string");
      const unsigned char c = static_cast<unsigned char>(Peek());
      if (c == '"') {
        ++pos_;
        return Status::Ok();
      }
      if (c < 0x20) return Error("a control character " + Describe() + " in a string (it must be escaped)");
      if (c == '\\') {
        ++pos_;
        if (AtEnd()) return Error("an unterminated string");
        const char e = Peek();
        ++pos_;
        switch (e) {
          case '"': out->push_back('"'); break;
          case '\\': out->push_back('\\'); break;
          case '/': out->push_back('/'); break;
          case 'b': out->push_back('\b'); break;
          case 'f': out->push_back('\f'); break;
          case 'n': out->push_back('\n'); break;
          case 'r': out->push_back('\r'); break;
          case 't': out->push_back('\t'); break;
          case 'u': {
            uint32_t cp = 0;
            IRNN_RETURN_IF_ERROR(ParseHex4(&cp));
            if (cp >= 0xDC00 && cp <= 0xDFFF) return Error("a lone low surrogate in a \\u escape");
            if (cp >= 0xD800 && cp <= 0xDBFF) {
              if (text_.substr(pos_, 2) != "\\u") return Error("a high surrogate not followed by a low surrogate");
              pos_ += 2;
              uint32_t low = 0;
              IRNN_RETURN_IF_ERROR(ParseHex4(&low));
              if (low < 0xDC00 || low > 0xDFFF) return Error("a high surrogate not followed by a low surrogate");
              cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            }
            AppendUtf8(cp, out);
            break;
          }
          default: --pos_; return Error("an unknown escape \\" + Describe());
        }
        continue;
      }
      const size_t n = Utf8SequenceLength(text_, pos_);
      if (n == 0) return Error("invalid UTF-8 " + Describe() + " in a string");
      out->append(text_.data() + pos_, n);
      pos_ += n;
    }
  }

  Status ParseArray(int depth, Value* out) {
    ++pos_;  // '['
    Value array = Value::Array();
    SkipWhitespace();
    if (!AtEnd() && Peek() == ']') {
      ++pos_;
      *out = std::move(array);
      return Status::Ok();
    }
    while (true) {
      SkipWhitespace();
      Value element;
      IRNN_RETURN_IF_ERROR(ParseValue(depth, &element));
      array.Push(std::move(element));
      SkipWhitespace();
      if (AtEnd()) return Error("an unterminated array");
      if (Peek() == ',') {
        ++pos_;
        continue;
      }
      if (Peek() == ']') {
        ++pos_;
        *out = std::move(array);
        return Status::Ok();
      }
      return Error("expected ',' or ']' in an array but found " + Describe());
    }
  }

  Status ParseObject(int depth, Value* out) {
    ++pos_;  // '{'
    Value object = Value::Object();
    std::vector<size_t> key_pos;  // byte offset of each key, for the duplicate-key message
    SkipWhitespace();
    if (!AtEnd() && Peek() == '}') {
      ++pos_;
      *out = std::move(object);
      return Status::Ok();
    }
    while (true) {
      SkipWhitespace();
      if (AtEnd() || Peek() != '"') return Error("expected a string key in an object but found " + Describe());
      key_pos.push_back(pos_);
      std::string key;
      IRNN_RETURN_IF_ERROR(ParseString(&key));
      SkipWhitespace();
      if (AtEnd() || Peek() != ':') return Error("expected ':' after an object key but found " + Describe());
      ++pos_;
      SkipWhitespace();
      Value member;
      IRNN_RETURN_IF_ERROR(ParseValue(depth, &member));
      object.Add(std::move(key), std::move(member));
      SkipWhitespace();
      if (AtEnd()) return Error("an unterminated object");
      if (Peek() == ',') {
        ++pos_;
        continue;
      }
      if (Peek() == '}') {
        ++pos_;
        break;
      }
      return Error("expected ',' or '}' in an object but found " + Describe());
    }
    IRNN_RETURN_IF_ERROR(CheckUniqueKeys(object, key_pos));
    *out = std::move(object);
    return Status::Ok();
  }

  // Sorting an index keeps this O(n log n): a header may hold many thousand tensor entries.
  Status CheckUniqueKeys(const Value& object, const std::vector<size_t>& key_pos) const {
    const size_t n = object.size();
    std::vector<uint32_t> order(n);
    for (size_t i = 0; i < n; ++i) order[i] = static_cast<uint32_t>(i);
    std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
      const int c = object.key(a).compare(object.key(b));
      return c < 0 || (c == 0 && a < b);
    });
    for (size_t i = 1; i < n; ++i) {
      if (object.key(order[i]) == object.key(order[i - 1])) {
        const uint32_t later = std::max(order[i], order[i - 1]);
        return Status::DataLoss("JSON: a duplicate key \"" + object.key(later) + "\" at byte " +
                                std::to_string(key_pos[later]));
      }
    }
    return Status::Ok();
  }

  std::string_view text_;
  Limits limits_;
  size_t pos_ = 0;
  size_t values_ = 0;
};

void SerializeString(const std::string& s, std::string* out) {
  static const char kHex[] = "0123456789abcdef";
  out->push_back('"');
  for (const char ch : s) {
    const unsigned char c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      case '\b': out->append("\\b"); break;
      case '\f': out->append("\\f"); break;
      default:
        if (c < 0x20) {
          out->append("\\u00");
          out->push_back(kHex[c >> 4]);
          out->push_back(kHex[c & 15]);
        } else {
          out->push_back(ch);
        }
    }
  }
  out->push_back('"');
}

void SerializeTo(const Value& v, std::string* out) {
  switch (v.type()) {
    case Type::kNull: out->append("null"); break;
    case Type::kBool: out->append(v.bool_value() ? "true" : "false"); break;
    case Type::kInt: out->append(std::to_string(v.int_value())); break;
    case Type::kString: SerializeString(v.string_value(), out); break;
    case Type::kArray:
      out->push_back('[');
      for (size_t i = 0; i < v.elements().size(); ++i) {
        if (i > 0) out->push_back(',');
        SerializeTo(v.elements()[i], out);
      }
      out->push_back(']');
      break;
    case Type::kObject:
      out->push_back('{');
      for (size_t i = 0; i < v.size(); ++i) {
        if (i > 0) out->push_back(',');
        SerializeString(v.key(i), out);
        out->push_back(':');
        SerializeTo(v.value(i), out);
      }
      out->push_back('}');
      break;
  }
}

}  // namespace

const char* TypeName(Type type) {
  switch (type) {
    case Type::kNull: return "null";
    case Type::kBool: return "a boolean";
    case Type::kInt: return "an integer";
    case Type::kString: return "a string";
    case Type::kArray: return "an array";
    case Type::kObject: return "an object";
  }
  return "an unknown type";
}

Value Value::Bool(bool b) {
  Value v;
  v.type_ = Type::kBool;
  v.bool_ = b;
  return v;
}

Value Value::Int(int64_t i) {
  Value v;
  v.type_ = Type::kInt;
  v.int_ = i;
  return v;
}

Value Value::String(std::string s) {
  Value v;
  v.type_ = Type::kString;
  v.string_ = std::move(s);
  return v;
}

Value Value::Array() {
  Value v;
  v.type_ = Type::kArray;
  return v;
}

Value Value::Object() {
  Value v;
  v.type_ = Type::kObject;
  return v;
}

const Value* Value::Find(std::string_view key) const {
  if (type_ != Type::kObject) return nullptr;
  for (size_t i = 0; i < keys_.size(); ++i) {
    if (keys_[i] == key) return &elements_[i];
  }
  return nullptr;
}

Value& Value::Push(Value v) {
  elements_.push_back(std::move(v));
  return elements_.back();
}

Value& Value::Add(std::string key, Value v) {
  keys_.push_back(std::move(key));
  elements_.push_back(std::move(v));
  return elements_.back();
}

Status Parse(std::string_view text, const Limits& limits, Value* out) {
  if (out == nullptr) return Status::InvalidArgument("json::Parse: out is null");
  Parser parser(text, limits);
  Value v;
  IRNN_RETURN_IF_ERROR(parser.ParseDocument(&v));
  *out = std::move(v);
  return Status::Ok();
}

std::string Serialize(const Value& value) {
  std::string out;
  SerializeTo(value, &out);
  return out;
}

bool IsValidUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const size_t n = Utf8SequenceLength(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

}  // namespace irnn::json
