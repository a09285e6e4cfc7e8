// A chunk of a sequence's int8 inputs at a 64-byte boundary, shared by TfliteLstm::Run and Gru::Run
// before their input projection: the amx path reads those inputs as tiles, whose rows straddle two
// cache lines unless they start on one (its kernel then copies them itself, once per gate). Inputs
// already aligned, and rows that are not whole tiles deep (n_input % 64 != 0: that kernel copies them
// anyway), are returned as they are. It copies bytes and changes no value. Integer only (no-float check).
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

}  // namespace irnn
