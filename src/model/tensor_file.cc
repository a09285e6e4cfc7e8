// The safetensors container of a .irnn file: header checks, typed tensor reads, the writer (see
// tensor_file.h; docs/model_format.md §1-§2). Every count, size and offset is checked with
// overflow-safe unsigned arithmetic before it is used. Integer only: part of the no-float check.

#include "model/tensor_file.h"

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <utility>

#include "model/json.h"

namespace irnn::model {
namespace {

struct DTypeEntry {
  DType dtype;
  const char* name;
  uint64_t size;
};

constexpr DTypeEntry kDTypes[] = {
    {DType::kBool, "BOOL", 1},      {DType::kU8, "U8", 1},   {DType::kI8, "I8", 1},   {DType::kF8E5M2, "F8_E5M2", 1},
    {DType::kF8E4M3, "F8_E4M3", 1}, {DType::kI16, "I16", 2}, {DType::kU16, "U16", 2}, {DType::kF16, "F16", 2},
    {DType::kBF16, "BF16", 2},      {DType::kI32, "I32", 4}, {DType::kU32, "U32", 4}, {DType::kF32, "F32", 4},
    {DType::kF64, "F64", 8},        {DType::kI64, "I64", 8}, {DType::kU64, "U64", 8},
};

bool ParseDType(const std::string& name, DType* dtype) {
  for (const DTypeEntry& e : kDTypes) {
    if (name == e.name) {
      *dtype = e.dtype;
      return true;
    }
  }
  return false;
}

// a * b, or false when it exceeds 2^64 - 1.
bool MulU64(uint64_t a, uint64_t b, uint64_t* out) {
  if (a != 0 && b > UINT64_MAX / a) return false;
  *out = a * b;
  return true;
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// A string for a message, cut short: a hostile file may hold a megabyte-long name.
std::string Truncate(const std::string& s) {
  constexpr size_t kMax = 80;
  if (s.size() <= kMax) return s;
  size_t cut = kMax;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;  // keep UTF-8 whole
  return s.substr(0, cut) + "...";
}

std::string Quote(const std::string& s) { return "'" + Truncate(s) + "'"; }

std::string Describe(const json::Value& v) {
  switch (v.type()) {
    case json::Type::kInt: return std::to_string(v.int_value());
    case json::Type::kString: return "\"" + Truncate(v.string_value()) + "\"";
    default: return json::TypeName(v.type());
  }
}

Status ParseDescriptor(const std::string& who, const std::string& name, const json::Value& v, uint64_t data_size,
                       TensorInfo* info) {
  const std::string where = who + ": tensor " + Quote(name);
  if (name.empty()) return Status::DataLoss(who + ": a tensor has an empty name");
  if (!v.is_object()) return Status::DataLoss(where + " is " + Describe(v) + " but must be an object");
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string& k = v.key(i);
    if (k != "dtype" && k != "shape" && k != "data_offsets") {
      return Status::DataLoss(where + ": key " + Quote(k) + " is not one of dtype, shape, data_offsets");
    }
  }
  const json::Value* dtype = v.Find("dtype");
  const json::Value* shape = v.Find("shape");
  const json::Value* offsets = v.Find("data_offsets");
  if (dtype == nullptr) return Status::DataLoss(where + ": dtype is missing");
  if (shape == nullptr) return Status::DataLoss(where + ": shape is missing");
  if (offsets == nullptr) return Status::DataLoss(where + ": data_offsets is missing");
  info->name = name;
  if (!dtype->is_string() || !ParseDType(dtype->string_value(), &info->dtype)) {
    return Status::DataLoss(where + ": dtype is " + Describe(*dtype) +
                            " but must be a safetensors dtype (the irnn format uses I8, I16, I32)");
  }
  if (!shape->is_array()) return Status::DataLoss(where + ": shape is " + Describe(*shape) + " but must be an array");
  if (shape->elements().size() > kMaxRank) {
    return Status::OutOfRange(where + ": shape has " + std::to_string(shape->elements().size()) +
                              " dimensions but must have at most " + std::to_string(kMaxRank));
  }
  uint64_t elements = 1;
  info->shape.clear();
  for (size_t d = 0; d < shape->elements().size(); ++d) {
    const json::Value& dim = shape->elements()[d];
    if (!dim.is_int() || dim.int_value() < 0) {
      return Status::DataLoss(where + ": shape[" + std::to_string(d) + "] is " + Describe(dim) +
                              " but must be an integer >= 0");
    }
    info->shape.push_back(dim.int_value());
    if (!MulU64(elements, static_cast<uint64_t>(dim.int_value()), &elements)) {
      return Status::OutOfRange(where + ": shape " + ShapeString(info->shape) + "... has more elements than 2^64 - 1");
    }
  }
  uint64_t bytes = 0;
  if (!MulU64(elements, DTypeSize(info->dtype), &bytes)) {
    return Status::OutOfRange(where + ": shape " + ShapeString(info->shape) + " of dtype " + DTypeName(info->dtype) +
                              " needs more than 2^64 - 1 bytes");
  }
  if (!offsets->is_array() || offsets->elements().size() != 2 || !offsets->elements()[0].is_int() ||
      !offsets->elements()[1].is_int()) {
    return Status::DataLoss(where + ": data_offsets must be an array of two integers [begin, end]");
  }
  const int64_t begin = offsets->elements()[0].int_value();
  const int64_t end = offsets->elements()[1].int_value();
  const std::string range = "[" + std::to_string(begin) + ", " + std::to_string(end) + "]";
  if (begin < 0 || end < begin) {
    return Status::DataLoss(where + ": data_offsets " + range + " must satisfy 0 <= begin <= end");
  }
  if (static_cast<uint64_t>(end) > data_size) {
    return Status::DataLoss(where + ": data_offsets " + range + " end past the data section of " +
                            std::to_string(data_size) + " bytes (truncated file?)");
  }
  info->begin = static_cast<uint64_t>(begin);
  info->end = static_cast<uint64_t>(end);
  if (info->end - info->begin != bytes) {
    return Status::DataLoss(where + ": data_offsets " + range + " span " + std::to_string(info->end - info->begin) +
                            " bytes but shape " + ShapeString(info->shape) + " of dtype " + DTypeName(info->dtype) +
                            " needs " + std::to_string(bytes));
  }
  return Status::Ok();
}

void PutU64Le(uint64_t v, std::string* out) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

}  // namespace

const char* DTypeName(DType dtype) {
  for (const DTypeEntry& e : kDTypes) {
    if (e.dtype == dtype) return e.name;
  }
  return "?";
}

uint64_t DTypeSize(DType dtype) {
  for (const DTypeEntry& e : kDTypes) {
    if (e.dtype == dtype) return e.size;
  }
  return 1;
}

Status MemorySource::Read(uint64_t offset, size_t n, uint8_t* dst) const {
  if (offset > size_ || n > size_ - offset) {
    return Status::DataLoss("read of " + std::to_string(n) + " bytes at offset " + std::to_string(offset) +
                            " past the end of a " + std::to_string(size_) + "-byte buffer");
  }
  if (n > 0) std::memcpy(dst, data_ + offset, n);
  return Status::Ok();
}

Status ReadTensorFileHeader(const ByteSource& source, const std::string& who, TensorFileHeader* header) {
  const uint64_t size = source.size();
  if (size < 8) {
    return Status::DataLoss(who + ": the file is " + std::to_string(size) +
                            " bytes but must hold at least the 8-byte header length (truncated file?)");
  }
  uint8_t len_bytes[8];
  IRNN_RETURN_IF_ERROR(source.Read(0, 8, len_bytes));
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | len_bytes[i];
  if (n > kMaxHeaderBytes) {
    return Status::OutOfRange(who + ": header length is " + std::to_string(n) + " but must be at most " +
                              std::to_string(kMaxHeaderBytes));
  }
  if (n > size - 8) {
    return Status::DataLoss(who + ": header length is " + std::to_string(n) + " but only " + std::to_string(size - 8) +
                            " bytes follow the length field (truncated file?)");
  }
  if (n == 0 || n % 8 != 0) {
    return Status::DataLoss(who + ": header length is " + std::to_string(n) +
                            " but must be a positive multiple of 8 (the header is padded with spaces)");
  }
  std::string text(static_cast<size_t>(n), '\0');
  IRNN_RETURN_IF_ERROR(source.Read(8, static_cast<size_t>(n), reinterpret_cast<uint8_t*>(&text[0])));
  if (text[0] != '{') return Status::DataLoss(who + ": header must begin with '{' (a JSON object)");
  json::Limits limits;
  limits.max_bytes = static_cast<size_t>(kMaxHeaderBytes);
  json::Value root;
  const Status parsed = json::Parse(text, limits, &root);
  if (!parsed.ok()) return Status(parsed.code(), who + ": header: " + parsed.message());
  if (!root.is_object())
    return Status::DataLoss(who + ": header is " + json::TypeName(root.type()) + " but must be an object");

  TensorFileHeader h;
  h.data_start = 8 + n;
  h.data_size = size - h.data_start;
  bool has_metadata = false;
  for (size_t i = 0; i < root.size(); ++i) {
    const std::string& key = root.key(i);
    const json::Value& v = root.value(i);
    if (key == "__metadata__") {
      if (!v.is_object()) {
        return Status::DataLoss(who + ": header: __metadata__ is " + json::TypeName(v.type()) +
                                " but must be an object");
      }
      for (size_t k = 0; k < v.size(); ++k) {
        if (!v.value(k).is_string()) {
          return Status::DataLoss(who + ": header: __metadata__ " + Quote(v.key(k)) + " is " +
                                  json::TypeName(v.value(k).type()) + " but must be a string");
        }
        h.metadata[v.key(k)] = v.value(k).string_value();
      }
      has_metadata = true;
      continue;
    }
    if (h.tensors.size() >= kMaxTensors) {
      return Status::OutOfRange(who + ": header holds more than " + std::to_string(kMaxTensors) + " tensors");
    }
    TensorInfo info;
    IRNN_RETURN_IF_ERROR(ParseDescriptor(who, key, v, h.data_size, &info));
    h.tensors.push_back(std::move(info));
  }
  if (!has_metadata) {
    return Status::DataLoss(who + ": header: __metadata__ is missing (an .irnn file stores its graph there)");
  }
  // The data section is covered exactly: contiguous, in order, no overlap, no gap, nothing after.
  std::sort(h.tensors.begin(), h.tensors.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t expected = 0;
  for (size_t i = 0; i < h.tensors.size(); ++i) {
    const TensorInfo& t = h.tensors[i];
    if (t.begin < expected) {
      return Status::DataLoss(who + ": tensor " + Quote(t.name) + " data_offsets [" + std::to_string(t.begin) + ", " +
                              std::to_string(t.end) + "] overlap tensor " + Quote(h.tensors[i - 1].name) +
                              ", which ends at " + std::to_string(expected));
    }
    if (t.begin > expected) {
      return Status::DataLoss(who + ": tensor " + Quote(t.name) + " begins at " + std::to_string(t.begin) +
                              " but must begin at " + std::to_string(expected) +
                              " (tensors are contiguous, with no gap)");
    }
    expected = t.end;
  }
  if (expected != h.data_size) {
    return Status::DataLoss(who + ": the data section is " + std::to_string(h.data_size) +
                            " bytes but the tensors cover " + std::to_string(expected) + ": " +
                            std::to_string(h.data_size - expected) + " bytes of trailing data");
  }
  *header = std::move(h);
  return Status::Ok();
}

TensorReader::TensorReader(const ByteSource& source, const TensorFileHeader& header, std::string who)
    : source_(source), header_(header), who_(std::move(who)), used_(header.tensors.size(), false) {
  for (size_t i = 0; i < header.tensors.size(); ++i) index_.emplace(header.tensors[i].name, i);
}

bool TensorReader::Has(const std::string& name) const { return index_.count(name) != 0; }

Status TensorReader::Locate(const std::string& name, DType dtype, const std::vector<int64_t>& shape,
                            const std::string& why, const TensorInfo** info) {
  const auto it = index_.find(name);
  if (it == index_.end()) {
    return Status::DataLoss(who_ + ": tensor " + Quote(name) + " is missing (" + DTypeName(dtype) + " " +
                            ShapeString(shape) + ", " + why + ")");
  }
  const TensorInfo& t = header_.tensors[it->second];
  if (t.dtype != dtype) {
    return Status::DataLoss(who_ + ": tensor " + Quote(name) + " has dtype " + DTypeName(t.dtype) + " but must be " +
                            DTypeName(dtype) + " (" + why + ")");
  }
  if (t.shape != shape) {
    return Status::DataLoss(who_ + ": tensor " + Quote(name) + " has shape " + ShapeString(t.shape) + " but must be " +
                            ShapeString(shape) + " (" + why + ")");
  }
  if (used_[it->second]) return Status::DataLoss(who_ + ": tensor " + Quote(name) + " is used twice (" + why + ")");
  used_[it->second] = true;
  *info = &t;
  return Status::Ok();
}

template <typename T>
Status TensorReader::ReadInts(const std::string& name, DType dtype, const std::vector<int64_t>& shape,
                              const std::string& why, std::vector<T>* out) {
  const TensorInfo* t = nullptr;
  IRNN_RETURN_IF_ERROR(Locate(name, dtype, shape, why, &t));
  // Checked by ReadTensorFileHeader: end - begin = elements * sizeof(T) and end <= data_size, so this
  // allocation is bounded by the bytes the file really holds.
  const uint64_t bytes = t->end - t->begin;
  const size_t count = static_cast<size_t>(bytes / sizeof(T));
  out->assign(count, T{0});
  const uint64_t base = header_.data_start + t->begin;
  if constexpr (sizeof(T) == 1) {
    if (count > 0) IRNN_RETURN_IF_ERROR(source_.Read(base, count, reinterpret_cast<uint8_t*>(out->data())));
  } else {
    // Little-endian decode through a bounded buffer, whatever the host byte order.
    constexpr size_t kChunk = size_t{1} << 16;
    uint8_t buf[kChunk];
    for (size_t done = 0; done < count;) {
      const size_t n = std::min(count - done, kChunk / sizeof(T));
      IRNN_RETURN_IF_ERROR(source_.Read(base + done * sizeof(T), n * sizeof(T), buf));
      for (size_t i = 0; i < n; ++i) {
        uint32_t u = 0;
        for (size_t b = sizeof(T); b-- > 0;) u = (u << 8) | buf[i * sizeof(T) + b];
        using U = std::conditional_t<sizeof(T) == 2, uint16_t, uint32_t>;
        const U narrow = static_cast<U>(u);
        T v;
        std::memcpy(&v, &narrow, sizeof(T));  // two's complement reinterpretation, no UB
        (*out)[done + i] = v;
      }
      done += n;
    }
  }
  return Status::Ok();
}

Status TensorReader::ReadI8(const std::string& name, const std::vector<int64_t>& shape, const std::string& why,
                            std::vector<int8_t>* out) {
  return ReadInts(name, DType::kI8, shape, why, out);
}

Status TensorReader::ReadI16(const std::string& name, const std::vector<int64_t>& shape, const std::string& why,
                             std::vector<int16_t>* out) {
  return ReadInts(name, DType::kI16, shape, why, out);
}

Status TensorReader::ReadI32(const std::string& name, const std::vector<int64_t>& shape, const std::string& why,
                             std::vector<int32_t>* out) {
  return ReadInts(name, DType::kI32, shape, why, out);
}

Status TensorReader::Finish() const {
  for (size_t i = 0; i < used_.size(); ++i) {
    if (!used_[i]) {
      return Status::DataLoss(who_ + ": tensor " + Quote(header_.tensors[i].name) +
                              " is not used by any layer of the graph");
    }
  }
  return Status::Ok();
}

namespace {

template <typename T>
std::string EncodeLe(const std::vector<T>& data) {
  std::string out;
  out.reserve(data.size() * sizeof(T));
  for (const T v : data) {
    using U = std::conditional_t<sizeof(T) == 1, uint8_t, std::conditional_t<sizeof(T) == 2, uint16_t, uint32_t>>;
    U u;
    std::memcpy(&u, &v, sizeof(T));
    for (size_t b = 0; b < sizeof(T); ++b) out.push_back(static_cast<char>((u >> (8 * b)) & 0xFF));
  }
  return out;
}

}  // namespace

void TensorWriter::AddI8(const std::string& name, const std::vector<int64_t>& shape, const std::vector<int8_t>& data) {
  entries_.push_back({name, DType::kI8, shape, data.size(), EncodeLe(data)});
}

void TensorWriter::AddI16(const std::string& name, const std::vector<int64_t>& shape,
                          const std::vector<int16_t>& data) {
  entries_.push_back({name, DType::kI16, shape, data.size(), EncodeLe(data)});
}

void TensorWriter::AddI32(const std::string& name, const std::vector<int64_t>& shape,
                          const std::vector<int32_t>& data) {
  entries_.push_back({name, DType::kI32, shape, data.size(), EncodeLe(data)});
}

Status TensorWriter::Finish(const std::map<std::string, std::string>& metadata, const std::string& who,
                            std::string* bytes) const {
  std::vector<size_t> order(entries_.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const uint64_t sa = DTypeSize(entries_[a].dtype), sb = DTypeSize(entries_[b].dtype);
    return sa != sb ? sa > sb : entries_[a].name < entries_[b].name;
  });
  if (entries_.size() > kMaxTensors) {
    return Status::OutOfRange(who + ": " + std::to_string(entries_.size()) + " tensors but at most " +
                              std::to_string(kMaxTensors) + " fit a file");
  }
  json::Value header = json::Value::Object();
  json::Value& meta = header.Add("__metadata__", json::Value::Object());
  for (const auto& [key, value] : metadata) {
    if (!json::IsValidUtf8(key) || !json::IsValidUtf8(value)) {
      return Status::InvalidArgument(who + ": metadata " + Quote(key) + " is not valid UTF-8");
    }
    meta.Add(key, json::Value::String(value));
  }
  uint64_t offset = 0;
  for (size_t k = 0; k < order.size(); ++k) {
    const Entry& e = entries_[order[k]];
    if (k > 0 && e.name == entries_[order[k - 1]].name) {
      return Status::InvalidArgument(who + ": tensor " + Quote(e.name) + " is written twice");
    }
    if (e.name.empty() || e.name == "__metadata__" || !json::IsValidUtf8(e.name)) {
      return Status::InvalidArgument(who + ": tensor name " + Quote(e.name) +
                                     " must be a non-empty UTF-8 string other than __metadata__");
    }
    uint64_t elements = 1;
    json::Value shape = json::Value::Array();
    for (const int64_t d : e.shape) {
      if (d < 0 || !MulU64(elements, static_cast<uint64_t>(d), &elements)) {
        return Status::InvalidArgument(who + ": tensor " + Quote(e.name) + " has an invalid shape " +
                                       ShapeString(e.shape));
      }
      shape.Push(json::Value::Int(d));
    }
    if (elements != e.count) {
      return Status::InvalidArgument(who + ": tensor " + Quote(e.name) + " has " + std::to_string(e.count) +
                                     " elements but its shape " + ShapeString(e.shape) + " needs " +
                                     std::to_string(elements));
    }
    json::Value desc = json::Value::Object();
    desc.Add("dtype", json::Value::String(DTypeName(e.dtype)));
    desc.Add("shape", std::move(shape));
    json::Value offsets = json::Value::Array();
    offsets.Push(json::Value::Int(static_cast<int64_t>(offset)));
    offsets.Push(json::Value::Int(static_cast<int64_t>(offset + e.bytes.size())));
    desc.Add("data_offsets", std::move(offsets));
    header.Add(e.name, std::move(desc));
    offset += e.bytes.size();
  }
  std::string text = json::Serialize(header);
  text.append((8 - text.size() % 8) % 8, ' ');  // safetensors pads the header to a multiple of 8
  if (text.size() > kMaxHeaderBytes) {
    return Status::OutOfRange(who + ": the header would be " + std::to_string(text.size()) +
                              " bytes but must be at most " + std::to_string(kMaxHeaderBytes));
  }
  std::string out;
  out.reserve(8 + text.size() + static_cast<size_t>(offset));
  PutU64Le(text.size(), &out);
  out += text;
  for (const size_t i : order) out += entries_[i].bytes;
  *bytes = std::move(out);
  return Status::Ok();
}

}  // namespace irnn::model
