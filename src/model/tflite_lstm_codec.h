// A TFLite-style integer LSTM layer in a .irnn file (docs/model_format.md §4): its "config" and
// "params" objects in the graph and its tensors "<layer>.<role>[.<gate>]". Only what the layer's
// configuration uses is written, and reading requires exactly that: a CIFG layer has no input-gate
// entries, a layer without peephole no cell_to_gate entries, and so on. Per-channel multipliers are
// optional "<matmul>_channel_scale" tensors ([rows, 2] I32); a matmul that has one has no per-tensor
// multiplier in "params". Fields the configuration does not use read back as zero. Layer validation
// (ValidateTfliteLstmParams) is the caller's last step.
#pragma once

#include <string>

#include "irnn/status.h"
#include "irnn/tflite_lstm.h"
#include "model/graph_reader.h"
#include "model/json.h"
#include "model/tensor_file.h"

namespace irnn::model {

// Adds "config" and "params" to the layer object and the layer's tensors to `tensors`. `p` must have
// passed ValidateTfliteLstmParams (the sizes of its vectors are trusted).
void EncodeTfliteLstm(const std::string& name, const TfliteLstmParams& p, json::Value* layer, TensorWriter* tensors);

// Reads "config" and "params" of the layer object (leaving its other members to the caller) and the
// layer's tensors, checking types, ranges, presence, dtypes and shapes.
Status DecodeTfliteLstm(const std::string& name, ObjectReader* layer, TensorReader* tensors, TfliteLstmParams* p);

}  // namespace irnn::model
