// The container of a .irnn file: the safetensors byte layout (docs/model_format.md §1-§2). An 8-byte
// little-endian header length N, N bytes of JSON header (tensor descriptors and "__metadata__", padded
// with spaces to a multiple of 8), then the raw little-endian tensor bytes. This layer knows dtypes,
// shapes and offsets; it knows nothing of layers or graphs (model_file.cc and the layer codecs do).
//
// Reading is in two steps so that nothing is allocated or read before it is checked:
//   1. ReadTensorFileHeader: header length against the file size and the limit, JSON, every
//      descriptor (dtype, shape, overflow-safe byte count, offsets in range, contiguous, in order, the
//      data section exactly covered), and "__metadata__" (strings only).
//   2. TensorReader::Read*: a tensor with the dtype and shape the caller expects, decoded from
//      little-endian. Each tensor may be read once; Finish reports a tensor nobody read.
// Writing: TensorWriter collects tensors and metadata and emits the whole file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "irnn/status.h"

namespace irnn::model {

// The safetensors dtypes. The irnn format uses kI8, kI16 and kI32 only; the others are known so that a
// file holding one gets a precise message ("has dtype F32 but must be I8").
enum class DType : uint8_t {
  kBool,
  kU8,
  kI8,
  kF8E5M2,
  kF8E4M3,
  kI16,
  kU16,
  kF16,
  kBF16,
  kI32,
  kU32,
  kF32,
  kF64,
  kI64,
  kU64
};

const char* DTypeName(DType dtype);  // "I8", "F32", ...
uint64_t DTypeSize(DType dtype);     // bytes per element

inline constexpr uint64_t kMaxHeaderBytes = uint64_t{16} << 20;  // header JSON length N
inline constexpr size_t kMaxTensors = size_t{1} << 16;
inline constexpr size_t kMaxRank = 8;

struct TensorInfo {
  std::string name;
  DType dtype = DType::kI8;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // data_offsets, relative to the start of the data section
  uint64_t end = 0;
};

// Random access to the bytes of a file or buffer. Read fails cleanly when the range is not there.
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  virtual uint64_t size() const = 0;
  virtual Status Read(uint64_t offset, size_t n, uint8_t* dst) const = 0;
};

class MemorySource : public ByteSource {
 public:
  MemorySource(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  uint64_t size() const override { return size_; }
  Status Read(uint64_t offset, size_t n, uint8_t* dst) const override;

 private:
  const uint8_t* data_;
  size_t size_;
};

struct TensorFileHeader {
  std::vector<TensorInfo> tensors;              // sorted by data offset
  std::map<std::string, std::string> metadata;  // "__metadata__", every value a string
  uint64_t data_start = 0;                      // 8 + N
  uint64_t data_size = 0;                       // file size - data_start, exactly covered by tensors
};

// Step 1 above. `who` prefixes every error message (the file name).
Status ReadTensorFileHeader(const ByteSource& source, const std::string& who, TensorFileHeader* header);

// Step 2 above: typed reads of the tensors of a checked header.
class TensorReader {
 public:
  TensorReader(const ByteSource& source, const TensorFileHeader& header, std::string who);

  bool Has(const std::string& name) const;
  // Reads tensor `name`, which must exist, have the dtype of T (int8_t: I8, int16_t: I16, int32_t: I32)
  // and exactly `shape`; `why` says who needs it, for the messages.
  Status ReadI8(const std::string& name, const std::vector<int64_t>& shape, const std::string& why,
                std::vector<int8_t>* out);
  Status ReadI16(const std::string& name, const std::vector<int64_t>& shape, const std::string& why,
                 std::vector<int16_t>* out);
  Status ReadI32(const std::string& name, const std::vector<int64_t>& shape, const std::string& why,
                 std::vector<int32_t>* out);
  // Fails naming the first tensor that no Read consumed.
  Status Finish() const;

 private:
  Status Locate(const std::string& name, DType dtype, const std::vector<int64_t>& shape, const std::string& why,
                const TensorInfo** info);
  template <typename T>
  Status ReadInts(const std::string& name, DType dtype, const std::vector<int64_t>& shape, const std::string& why,
                  std::vector<T>* out);

  const ByteSource& source_;
  const TensorFileHeader& header_;
  std::string who_;
  std::map<std::string, size_t> index_;  // name -> position in header_.tensors
  std::vector<bool> used_;
};

// Collects tensors (little-endian encoded on Add) and writes the file. Tensors are laid out by
// descending element size, then by name, as safetensors' own writer does, so every tensor is aligned
// to its element size.
class TensorWriter {
 public:
  void AddI8(const std::string& name, const std::vector<int64_t>& shape, const std::vector<int8_t>& data);
  void AddI16(const std::string& name, const std::vector<int64_t>& shape, const std::vector<int16_t>& data);
  void AddI32(const std::string& name, const std::vector<int64_t>& shape, const std::vector<int32_t>& data);

  // The whole file. Fails on a duplicate name, a data size that does not match its shape, a name or
  // metadata string that is not UTF-8, or a header over kMaxHeaderBytes.
  Status Finish(const std::map<std::string, std::string>& metadata, const std::string& who, std::string* bytes) const;

 private:
  struct Entry {
    std::string name;
    DType dtype;
    std::vector<int64_t> shape;
    size_t count;       // elements given
    std::string bytes;  // little-endian data
  };
  std::vector<Entry> entries_;
};

}  // namespace irnn::model
