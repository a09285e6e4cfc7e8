// Strict reading of the objects of a .irnn graph document (docs/model_format.md §3): each field is read
// with its type and range, a field that the configuration rules out must be absent, and Finish refuses
// any field nobody read, so a misspelt or unknown key is an error rather than a silently ignored one.
// Every message names the full field path: "model.irnn: graph: layer 'lstm0': config.rounding is
// \"triple\" but must be one of \"double\", \"single\"". Not a general JSON schema engine.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "irnn/status.h"
#include "model/json.h"

namespace irnn::model {

// A JSON value for a message: an integer, a quoted and shortened string, or the name of its type.
std::string DescribeJson(const json::Value& v);

class ObjectReader {
 public:
  ObjectReader() = default;
  // Fails unless `v` is an object. prefix: what every message starts with ("<file>: graph: "); path:
  // the field path of `v` ("config.pwl_sigmoid"), or "" for an object named by the prefix alone, which
  // messages then call `self` ("the graph", "the layer").
  static Status Open(const json::Value& v, const std::string& prefix, const std::string& path, ObjectReader* out,
                     const std::string& self = "the graph");

  // The field path of member `key`, for messages ("config.n_cell").
  std::string Field(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }
  // Names this object anew, for instance once a layer's name is known.
  void Rename(std::string prefix, std::string path, std::string self) {
    prefix_ = std::move(prefix);
    path_ = std::move(path);
    self_ = std::move(self);
  }

  bool Has(const std::string& key) const;
  // Required members, each marked as read.
  Status Int(const std::string& key, int64_t lo, int64_t hi, int64_t* out);
  // An integer in [lo, hi] (which must lie within T's range) into a narrower type.
  template <typename T>
  Status Int(const std::string& key, int64_t lo, int64_t hi, T* out) {
    int64_t v = 0;
    IRNN_RETURN_IF_ERROR(Int(key, lo, hi, &v));
    *out = static_cast<T>(v);
    return Status::Ok();
  }
  // An integer in the whole range of T.
  template <typename T>
  Status Int(const std::string& key, T* out) {
    return Int(key, std::numeric_limits<T>::min(), std::numeric_limits<T>::max(), out);
  }
  Status Bool(const std::string& key, bool* out);
  Status String(const std::string& key, std::string* out);
  // One of `names`; *index is its position.
  Status Enum(const std::string& key, std::initializer_list<const char*> names, int* index);
  Status Object(const std::string& key, ObjectReader* out);
  Status Array(const std::string& key, size_t min_size, size_t max_size, const std::vector<json::Value>** out);
  // Fails when `key` is present: "<field> is present but must be absent: <reason>".
  Status Absent(const std::string& key, const std::string& reason) const;
  // Fails naming the first member that no call above read.
  Status Finish() const;

  Status Error(const std::string& key, const std::string& message) const;

 private:
  const json::Value* Get(const std::string& key);
  Status Missing(const std::string& key) const;

  const json::Value* v_ = nullptr;
  std::string prefix_;
  std::string path_;
  std::string self_;
  std::vector<bool> read_;
};

}  // namespace irnn::model
