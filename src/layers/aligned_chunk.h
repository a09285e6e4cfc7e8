// A chunk of a sequence's int8 inputs at a 64-byte boundary, shared by TfliteLstm::Run and Gru::Run
// before their input projection: the amx path reads those inputs as tiles, whose rows straddle two
// cache lines unless they start on one (its kernel then copies them itself, once per gate). Inputs
// already aligned, and rows that are not whole tiles deep (n_input % 64 != 0: that kernel copies them
// anyway), are returned as they are. It copies bytes and changes no value. Also the int32 workspace of
// the projection's results (AlignedParts): the amx path stores whole 16-lane rows, which straddle two
// cache lines unless each gate's part starts on one. Integer only (no-float check).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

namespace irnn {

// x itself, or a copy of its `bytes` bytes at a 64-byte boundary inside *buffer (grown as needed).
inline const int8_t* AlignedChunk(const int8_t* x, size_t bytes, int n_input, std::vector<int8_t>* buffer) {
  if ((reinterpret_cast<uintptr_t>(x) & 63) == 0 || n_input % 64 != 0) return x;
  if (buffer->size() < bytes + 64) buffer->resize(bytes + 64);
  int8_t* aligned = buffer->data();
  aligned += (64 - (reinterpret_cast<uintptr_t>(aligned) & 63)) & 63;
  std::memcpy(aligned, x, bytes);
  return aligned;
}

// The stride, in int32, between the parts of AlignedParts: per_part rounded up to 16 values (64 bytes).
inline int64_t AlignedPartStride(int64_t per_part) { return (per_part + 15) / 16 * 16; }

// `parts` areas of `per_part` int32 each inside *buffer (grown as needed), each starting on a 64-byte
// boundary: returns the first; part p starts AlignedPartStride(per_part) * p values after it. (A large
// vector from malloc starts 16 bytes past a cache line.)
inline int32_t* AlignedParts(int parts, int64_t per_part, std::vector<int32_t>* buffer) {
  const size_t values = static_cast<size_t>(parts * AlignedPartStride(per_part) + 16);
  if (buffer->size() < values) buffer->resize(values);
  const uintptr_t address = reinterpret_cast<uintptr_t>(buffer->data());
  return buffer->data() + ((64 - (address & 63)) & 63) / 4;
}

}  // namespace irnn
