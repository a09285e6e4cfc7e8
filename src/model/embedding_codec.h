// The embedding layer in a .irnn file (docs/model_format.md §5): "config" {vocab, dim}, "params"
// {zero_point} and the tensor "<layer>.table". Layer validation (ValidateEmbeddingParams) is the
// caller's last step.
#pragma once

#include <string>

#include "irnn/lm.h"
#include "irnn/status.h"
#include "model/graph_reader.h"
#include "model/json.h"
#include "model/tensor_file.h"

namespace irnn::model {

// `p` must have passed ValidateEmbeddingParams.
void EncodeEmbedding(const std::string& name, const EmbeddingParams& p, json::Value* layer, TensorWriter* tensors);

Status DecodeEmbedding(const std::string& name, ObjectReader* layer, TensorReader* tensors, EmbeddingParams* p);

}  // namespace irnn::model
