// Strict reading of graph objects (see graph_reader.h). Integer only: part of the no-float check.

#include "model/graph_reader.h"

namespace irnn::model {

std::string DescribeJson(const json::Value& v) {
  switch (v.type()) {
    case json::Type::kInt: return std::to_string(v.int_value());
    case json::Type::kBool: return v.bool_value() ? "true" : "false";
    case json::Type::kString: {
      // A hostile file may hold a megabyte-long string: show its start only, cut at a UTF-8 boundary.
      const std::string& s = v.string_value();
      constexpr size_t kMax = 60;
      if (s.size() <= kMax) return "\"" + s + "\"";
      size_t cut = kMax;
      while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
      return "\"" + s.substr(0, cut) + "...\"";
    }
    default: return json::TypeName(v.type());
  }
}

Status ObjectReader::Open(const json::Value& v, const std::string& prefix, const std::string& path, ObjectReader* out,
                          const std::string& self) {
  if (!v.is_object()) {
    return Status::DataLoss(prefix + (path.empty() ? self : path) + " is " + DescribeJson(v) +
                            " but must be an object");
  }
  out->v_ = &v;
  out->prefix_ = prefix;
  out->path_ = path;
  out->self_ = self;
  out->read_.assign(v.size(), false);
  return Status::Ok();
}

Status ObjectReader::Error(const std::string& key, const std::string& message) const {
  return Status::DataLoss(prefix_ + Field(key) + " " + message);
}

bool ObjectReader::Has(const std::string& key) const { return v_ != nullptr && v_->Find(key) != nullptr; }

const json::Value* ObjectReader::Get(const std::string& key) {
  if (v_ == nullptr) return nullptr;
  for (size_t i = 0; i < v_->size(); ++i) {
    if (v_->key(i) == key) {
      read_[i] = true;
      return &v_->value(i);
    }
  }
  return nullptr;
}

Status ObjectReader::Missing(const std::string& key) const { return Error(key, "is missing"); }

Status ObjectReader::Int(const std::string& key, int64_t lo, int64_t hi, int64_t* out) {
  const json::Value* v = Get(key);
  if (v == nullptr) return Missing(key);
  if (!v->is_int() || v->int_value() < lo || v->int_value() > hi) {
    return Error(key, "is " + DescribeJson(*v) + " but must be an integer in [" + std::to_string(lo) + ", " +
                          std::to_string(hi) + "]");
  }
  *out = v->int_value();
  return Status::Ok();
}

Status ObjectReader::Bool(const std::string& key, bool* out) {
  const json::Value* v = Get(key);
  if (v == nullptr) return Missing(key);
  if (!v->is_bool()) return Error(key, "is " + DescribeJson(*v) + " but must be true or false");
  *out = v->bool_value();
  return Status::Ok();
}

Status ObjectReader::String(const std::string& key, std::string* out) {
  const json::Value* v = Get(key);
  if (v == nullptr) return Missing(key);
  if (!v->is_string()) return Error(key, "is " + DescribeJson(*v) + " but must be a string");
  *out = v->string_value();
  return Status::Ok();
}

Status ObjectReader::Enum(const std::string& key, std::initializer_list<const char*> names, int* index) {
  const json::Value* v = Get(key);
  if (v == nullptr) return Missing(key);
  std::string rule;
  int i = 0;
  for (const char* name : names) {
    if (v->is_string() && v->string_value() == name) {
      *index = i;
      return Status::Ok();
    }
    rule += (i++ ? ", \"" : "\"") + std::string(name) + "\"";
  }
  return Error(key, "is " + DescribeJson(*v) + " but must be " + (names.size() > 1 ? "one of " : "") + rule);
}

Status ObjectReader::Object(const std::string& key, ObjectReader* out) {
  const json::Value* v = Get(key);
  if (v == nullptr) return Missing(key);
  if (!v->is_object()) return Error(key, "is " + DescribeJson(*v) + " but must be an object");
  return Open(*v, prefix_, Field(key), out);
}

Status ObjectReader::Array(const std::string& key, size_t min_size, size_t max_size,
                           const std::vector<json::Value>** out) {
  const json::Value* v = Get(key);
  if (v == nullptr) return Missing(key);
  if (!v->is_array()) return Error(key, "is " + DescribeJson(*v) + " but must be an array");
  const size_t n = v->elements().size();
  if (n < min_size || n > max_size) {
    return Error(key, "has " + std::to_string(n) + " elements but must have " + std::to_string(min_size) + " to " +
                          std::to_string(max_size));
  }
  *out = &v->elements();
  return Status::Ok();
}

Status ObjectReader::Absent(const std::string& key, const std::string& reason) const {
  if (Has(key)) return Error(key, "is present but must be absent: " + reason);
  return Status::Ok();
}

Status ObjectReader::Finish() const {
  for (size_t i = 0; i < read_.size(); ++i) {
    if (!read_[i]) {
      json::Value name = json::Value::String(v_->key(i));
      return Status::DataLoss(prefix_ + (path_.empty() ? self_ : path_) + " has an unknown field " +
                              DescribeJson(name));
    }
  }
  return Status::Ok();
}

}  // namespace irnn::model
