// Test support: a .irnn file split into its JSON header (nlohmann ordered_json) and data section, to
// build malformed variants (a descriptor changed, a tensor removed or added, the graph edited), and
// Serialize / Parse of a whole Model. Header only; the model-file tests use it.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "irnn/model.h"

namespace irnn::testing {

using ojson = nlohmann::ordered_json;

// The bytes of a model that must serialize (a failure is a test failure, and gives "").
inline std::string Serialize(const Model& m) {
  std::string bytes;
  const Status s = SerializeModel(m, &bytes);
  EXPECT_TRUE(s.ok()) << s.message();
  return bytes;
}

// Parses bytes as the file "model.irnn" (the name error messages start with).
inline Status Parse(const std::string& bytes, Model* m) {
  return ParseModel(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), m, "model.irnn");
}

struct FileParts {
  ojson header;
  std::string data;
};

inline FileParts SplitFile(const std::string& bytes) {
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(bytes[i]);
  FileParts p;
  p.header = ojson::parse(bytes.substr(8, n));
  p.data = bytes.substr(8 + n);
  return p;
}

// The header padded with spaces to a multiple of 8, with the length field and the data.
inline std::string JoinFile(const FileParts& p) {
  std::string header = p.header.dump();
  header.append((8 - header.size() % 8) % 8, ' ');
  std::string out;
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((uint64_t{header.size()} >> (8 * i)) & 0xFF));
  return out + header + p.data;
}

inline ojson GraphOf(const FileParts& p) { return ojson::parse(p.header["__metadata__"]["graph"].get<std::string>()); }
inline void SetGraphOf(FileParts* p, const ojson& graph) { p->header["__metadata__"]["graph"] = graph.dump(); }

// Removes a tensor's descriptor and bytes, keeping the others contiguous.
inline void RemoveTensorFrom(FileParts* p, const std::string& name) {
  const uint64_t b = p->header[name]["data_offsets"][0], e = p->header[name]["data_offsets"][1];
  p->data.erase(b, e - b);
  p->header.erase(name);
  for (auto& [key, desc] : p->header.items()) {
    if (key == "__metadata__") continue;
    if (desc["data_offsets"][0].get<uint64_t>() >= e) {
      desc["data_offsets"][0] = desc["data_offsets"][0].get<uint64_t>() - (e - b);
      desc["data_offsets"][1] = desc["data_offsets"][1].get<uint64_t>() - (e - b);
    }
  }
}

inline void AppendTensorTo(FileParts* p, const std::string& name, const std::string& dtype,
                           const std::vector<int64_t>& shape, const std::string& bytes) {
  const uint64_t b = p->data.size();
  p->data += bytes;
  p->header[name] = {{"dtype", dtype}, {"shape", shape}, {"data_offsets", {b, b + bytes.size()}}};
}

// Little-endian int32 values as tensor bytes.
inline std::string I32Bytes(const std::vector<int32_t>& v) {
  std::string s;
  for (int32_t x : v) {
    const auto u = static_cast<uint32_t>(x);
    for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>((u >> (8 * i)) & 0xFF));
  }
  return s;
}

// Overwrites int32 element `index` of a tensor in place.
inline void SetI32(FileParts* p, const std::string& name, size_t index, int32_t value) {
  const uint64_t b = p->header[name]["data_offsets"][0];
  p->data.replace(b + 4 * index, 4, I32Bytes({value}));
}

}  // namespace irnn::testing
