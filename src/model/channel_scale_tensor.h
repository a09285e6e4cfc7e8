// Per-channel multipliers in a .irnn file (docs/model_format.md §2.4), shared by the layer codecs. Two
// encodings of n multipliers:
//   full:    NAME           I32 [n, 2], row r = (multiplier, shift) of output row r;
//   compact: NAME.mantissa  I16 [n] and NAME.shift I8 [n], multiplier = mantissa * 2^16.
// The writer uses the compact one when every multiplier has zero low 16 bits and every shift fits in
// int8 (what the exporter's QuantizeMultiplierQ15 gives), else the full one; both decode to the same
// multipliers. The values are checked by the layer's own validation, as the graph's multipliers are.
#pragma once

#include <string>
#include <vector>

#include "irnn/quantization.h"
#include "irnn/status.h"
#include "model/tensor_file.h"

namespace irnn::model {

inline void AddChannelScale(TensorWriter* tensors, const std::string& name, const std::vector<QuantizedMultiplier>& m) {
  bool compact = true;
  for (const QuantizedMultiplier& q : m) {
    compact = compact && (q.multiplier & 0xFFFF) == 0 && q.shift >= -128 && q.shift <= 127;
  }
  const int64_t n = static_cast<int64_t>(m.size());
  if (compact) {
    std::vector<int16_t> mantissa;
    std::vector<int8_t> shift;
    mantissa.reserve(m.size());
    shift.reserve(m.size());
    for (const QuantizedMultiplier& q : m) {
      mantissa.push_back(static_cast<int16_t>(q.multiplier / 65536));  // exact: the low 16 bits are zero
      shift.push_back(static_cast<int8_t>(q.shift));
    }
    tensors->AddI16(name + ".mantissa", {n}, mantissa);
    tensors->AddI8(name + ".shift", {n}, shift);
    return;
  }
  std::vector<int32_t> flat;
  flat.reserve(2 * m.size());
  for (const QuantizedMultiplier& q : m) {
    flat.push_back(q.multiplier);
    flat.push_back(q.shift);
  }
  tensors->AddI32(name, {n, 2}, flat);
}

// Whether the file holds per-channel multipliers NAME, in either encoding.
inline bool HasChannelScale(const TensorReader& tensors, const std::string& name) {
  return tensors.Has(name) || tensors.Has(name + ".mantissa");
}

// Reads either encoding; a file with neither gets the full encoding's "missing tensor" message.
inline Status ReadChannelScale(TensorReader* tensors, const std::string& name, int64_t n, const std::string& why,
                               std::vector<QuantizedMultiplier>* out) {
  if (!tensors->Has(name) && tensors->Has(name + ".mantissa")) {
    std::vector<int16_t> mantissa;
    std::vector<int8_t> shift;
    IRNN_RETURN_IF_ERROR(tensors->ReadI16(name + ".mantissa", {n}, why, &mantissa));
    IRNN_RETURN_IF_ERROR(tensors->ReadI8(name + ".shift", {n}, why, &shift));
    out->resize(static_cast<size_t>(n));
    for (size_t r = 0; r < out->size(); ++r) {
      (*out)[r] = {static_cast<int32_t>(int64_t{mantissa[r]} * 65536), shift[r]};
    }
    return Status::Ok();
  }
  std::vector<int32_t> flat;
  IRNN_RETURN_IF_ERROR(tensors->ReadI32(name, {n, 2}, why, &flat));
  out->resize(static_cast<size_t>(n));
  for (size_t r = 0; r < out->size(); ++r) (*out)[r] = {flat[2 * r], flat[2 * r + 1]};
  return Status::Ok();
}

}  // namespace irnn::model
