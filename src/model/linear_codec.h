// The linear layer in a .irnn file (docs/model_format.md §6): "config" {n_in, n_out, rounding}, an
// empty "params", and the tensors "<layer>.weights", "<layer>.effective_bias" and
// "<layer>.channel_scale" (per-row multipliers). Layer validation (ValidateLinearParams) is the
// caller's last step.
#pragma once

#include <string>

#include "irnn/lm.h"
#include "irnn/status.h"
#include "model/graph_reader.h"
#include "model/json.h"
#include "model/tensor_file.h"

namespace irnn::model {

// `p` must have passed ValidateLinearParams.
void EncodeLinear(const std::string& name, const LinearParams& p, json::Value* layer, TensorWriter* tensors);

Status DecodeLinear(const std::string& name, ObjectReader* layer, TensorReader* tensors, LinearParams* p);

}  // namespace irnn::model
