// Per-channel multipliers in a .irnn file (docs/model_format.md §2.4): n multipliers as one I32 tensor
// of shape [n, 2], row r = (multiplier, shift) of output row r. Shared by the layer codecs. The values
// are checked by the layer's own validation, as the graph's multipliers are.
#pragma once

#include <string>
#include <vector>

#include "irnn/quantization.h"
#include "irnn/status.h"
#include "model/tensor_file.h"

namespace irnn::model {

inline void AddChannelScale(TensorWriter* tensors, const std::string& name, const std::vector<QuantizedMultiplier>& m) {
  std::vector<int32_t> flat;
  flat.reserve(2 * m.size());
  for (const QuantizedMultiplier& q : m) {
    flat.push_back(q.multiplier);
    flat.push_back(q.shift);
  }
  tensors->AddI32(name, {static_cast<int64_t>(m.size()), 2}, flat);
}

inline Status ReadChannelScale(TensorReader* tensors, const std::string& name, int64_t n, const std::string& why,
                               std::vector<QuantizedMultiplier>* out) {
  std::vector<int32_t> flat;
  IRNN_RETURN_IF_ERROR(tensors->ReadI32(name, {n, 2}, why, &flat));
  out->resize(static_cast<size_t>(n));
  for (size_t r = 0; r < out->size(); ++r) (*out)[r] = {flat[2 * r], flat[2 * r + 1]};
  return Status::Ok();
}

}  // namespace irnn::model
