// The Mogrifier LSTM layer in a .irnn file (docs/model_format.md §14): the cell exactly as a
// tflite_lstm layer ("config", "params" and its tensors "<layer>.<role>[.<gate>]", tflite_lstm_codec.h)
// plus a "mogrifier" object {rounds, input_zp, sigmoid: the PWL scalars} and the tensors
// "<layer>.mogrifier.<i>.weight" (I8 [rows, cols]), "<layer>.mogrifier.<i>.effective_bias" (I32
// [rows]), "<layer>.mogrifier.<i>.scale" (per-row multipliers, channel_scale_tensor.h) for rounds
// i = 1..r, and "<layer>.mogrifier.sigmoid.{knot,slope,intercept}" (I32 [pieces]). Layer validation
// (ValidateMogrifierLstmParams) is the caller's last step.
#pragma once

#include <string>

#include "irnn/mogrifier_lstm.h"
#include "irnn/status.h"
#include "model/graph_reader.h"
#include "model/json.h"
#include "model/tensor_file.h"

namespace irnn::model {

// `p` must have passed ValidateMogrifierLstmParams.
void EncodeMogrifierLstm(const std::string& name, const MogrifierLstmParams& p, json::Value* layer,
                         TensorWriter* tensors);
Status DecodeMogrifierLstm(const std::string& name, ObjectReader* layer, TensorReader* tensors,
                           MogrifierLstmParams* p);

}  // namespace irnn::model
