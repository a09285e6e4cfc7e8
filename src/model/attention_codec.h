// The attention layer in a .irnn file (docs/model_format.md §8, graph type "attention"): "config"
// {mode, n_key, n_query, n_attn, rounding, activation}, "params" {key_zp, query_zp, query_scale,
// key_scale (additive), softmax_scale, pwl_tanh (activation pwl)} and the tensors
// "<layer>.query_weights" (n_query > 0), ".query_bias", and in additive mode ".key_weights",
// ".key_bias", ".score_weights", plus ".pwl_tanh.{knot,slope,intercept}" with a PWL tanh. Layer
// validation (ValidateAttentionParams) is the caller's last step. Not the layer itself.
#pragma once

#include <string>

#include "irnn/attention.h"
#include "irnn/status.h"
#include "model/graph_reader.h"
#include "model/json.h"
#include "model/tensor_file.h"

namespace irnn::model {

// `p` must have passed ValidateAttentionParams.
void EncodeAttention(const std::string& name, const AttentionParams& p, json::Value* layer, TensorWriter* tensors);

Status DecodeAttention(const std::string& name, ObjectReader* layer, TensorReader* tensors, AttentionParams* p);

}  // namespace irnn::model
