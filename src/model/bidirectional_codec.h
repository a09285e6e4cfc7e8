// The bidirectional LSTM and the residual add in a .irnn file (docs/model_format.md §14):
// "bidirectional" holds two objects "forward" and "backward", each with the "config" and "params" of a
// tflite_lstm layer, whose tensors are named "<layer>.forward.<role>[.<gate>]" and
// "<layer>.backward.<role>[.<gate>]" (tflite_lstm_codec.h); "residual_add" holds only "params"
// {a_zp, b_zp, output_zp, a_scale, b_scale, output_scale, rounding} and no tensor. Layer validation
// (ValidateBidirectionalParams, ValidateResidualAddParams) is the caller's last step.
#pragma once

#include <string>

#include "irnn/bidirectional.h"
#include "irnn/residual.h"
#include "irnn/status.h"
#include "model/graph_reader.h"
#include "model/json.h"
#include "model/tensor_file.h"

namespace irnn::model {

void EncodeBidirectional(const std::string& name, const BidirectionalParams& p, json::Value* layer,
                         TensorWriter* tensors);
Status DecodeBidirectional(const std::string& name, ObjectReader* layer, TensorReader* tensors,
                           BidirectionalParams* p);

void EncodeResidualAdd(const ResidualAddParams& p, json::Value* layer);
Status DecodeResidualAdd(ObjectReader* layer, ResidualAddParams* p);

}  // namespace irnn::model
