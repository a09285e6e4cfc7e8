// The integer GRU layer in a .irnn file (docs/model_format.md §12): graph type "gru", "config"
// {n_input, n_hidden, rounding}, "params" {output_scale {multiplier, shift}, output_zp, pwl_sigmoid,
// pwl_tanh (the PWL scalars, as the LSTM's)} and per gate g in r, z, n the tensors
// "<layer>.input_weights.g" I8 [n_hidden, n_input], "<layer>.recurrent_weights.g" I8 [n_hidden,
// n_hidden], "<layer>.input_effective_bias.g" / "<layer>.recurrent_effective_bias.g" I32 [n_hidden],
// "<layer>.input_scale.g" / "<layer>.recurrent_scale.g" (per-row multipliers, §2.4), and the PWL tables'
// "<layer>.pwl_*.{knot,slope,intercept}". Layer validation (ValidateGruParams) is the caller's last step.
#pragma once

#include <string>

#include "irnn/gru.h"
#include "irnn/status.h"
#include "model/graph_reader.h"
#include "model/json.h"
#include "model/tensor_file.h"

namespace irnn::model {

// `p` must have passed ValidateGruParams.
void EncodeGru(const std::string& name, const GruParams& p, json::Value* layer, TensorWriter* tensors);

Status DecodeGru(const std::string& name, ObjectReader* layer, TensorReader* tensors, GruParams* p);

}  // namespace irnn::model
