// The Mogrifier LSTM layer in a .irnn file (see mogrifier_codec.h; docs/model_format.md §14). The cell
// goes through the tflite_lstm codec unchanged; this file adds the rounds and the sigmoid table.
// Integer only: part of the no-float check.

#include "model/mogrifier_codec.h"

#include <vector>

#include "model/channel_scale_tensor.h"
#include "model/scalar_json.h"
#include "model/tflite_lstm_codec.h"

namespace irnn::model {

namespace {

std::string RoundTensor(const std::string& layer, size_t i, const char* role) {
  return layer + ".mogrifier." + std::to_string(i + 1) + "." + role;
}

}  // namespace

void EncodeMogrifierLstm(const std::string& name, const MogrifierLstmParams& p, json::Value* layer,
                         TensorWriter* tensors) {
  EncodeTfliteLstm(name, p.lstm, layer, tensors);
  json::Value& m = layer->Add("mogrifier", json::Value::Object());
  m.Add("rounds", json::Value::Int(static_cast<int64_t>(p.rounds.size())));
  m.Add("input_zp", json::Value::Int(p.input_zp));
  const PwlTable& t = p.sigmoid;
  m.Add("sigmoid", PwlJson(t));
  const int64_t n_in = p.lstm.config.n_input, n_out = p.lstm.config.n_output;
  for (size_t i = 0; i < p.rounds.size(); ++i) {
    const bool odd = i % 2 == 0;
    const int64_t rows = odd ? n_in : n_out, cols = odd ? n_out : n_in;
    tensors->AddI8(RoundTensor(name, i, "weight"), {rows, cols}, p.rounds[i].weight);
    tensors->AddI32(RoundTensor(name, i, "effective_bias"), {rows}, p.rounds[i].effective_bias);
    AddChannelScale(tensors, RoundTensor(name, i, "scale"), p.rounds[i].scale);
  }
  const int64_t pieces = static_cast<int64_t>(t.knot.size());
  tensors->AddI32(name + ".mogrifier.sigmoid.knot", {pieces}, t.knot);
  tensors->AddI32(name + ".mogrifier.sigmoid.slope", {pieces}, t.slope);
  tensors->AddI32(name + ".mogrifier.sigmoid.intercept", {pieces}, t.intercept);
}

Status DecodeMogrifierLstm(const std::string& name, ObjectReader* layer, TensorReader* tensors,
                           MogrifierLstmParams* out) {
  MogrifierLstmParams p;
  IRNN_RETURN_IF_ERROR(DecodeTfliteLstm(name, layer, tensors, &p.lstm));
  ObjectReader m;
  IRNN_RETURN_IF_ERROR(layer->Object("mogrifier", &m));
  int64_t rounds = 0;
  IRNN_RETURN_IF_ERROR(m.Int("rounds", 1, kMaxMogrifierRounds, &rounds));
  IRNN_RETURN_IF_ERROR(m.Int("input_zp", -128, 127, &p.input_zp));
  PwlTable& t = p.sigmoid;
  int64_t pieces = 0;
  IRNN_RETURN_IF_ERROR(ReadPwlScalars(&m, "sigmoid", &pieces, &t));
  IRNN_RETURN_IF_ERROR(m.Finish());
  // Shapes come from the cell's config, already range-checked by DecodeTfliteLstm.
  const int64_t n_in = p.lstm.config.n_input, n_out = p.lstm.config.n_output;
  const std::string of = "layer '" + name + "': ";
  p.rounds.resize(static_cast<size_t>(rounds));
  for (size_t i = 0; i < p.rounds.size(); ++i) {
    const bool odd = i % 2 == 0;
    const int64_t rows = odd ? n_in : n_out, cols = odd ? n_out : n_in;
    const std::string shape = odd ? "[n_input, n_output] (odd round)" : "[n_output, n_input] (even round)";
    const std::string rows_name = odd ? "[n_input]" : "[n_output]";
    IRNN_RETURN_IF_ERROR(tensors->ReadI8(RoundTensor(name, i, "weight"), {rows, cols}, of + shape, &p.rounds[i].weight));
    IRNN_RETURN_IF_ERROR(tensors->ReadI32(RoundTensor(name, i, "effective_bias"), {rows}, of + rows_name,
                                          &p.rounds[i].effective_bias));
    IRNN_RETURN_IF_ERROR(ReadChannelScale(tensors, RoundTensor(name, i, "scale"), rows,
                                          of + (odd ? "[n_input, 2]" : "[n_output, 2]"), &p.rounds[i].scale));
  }
  const std::string why = of + "[mogrifier.sigmoid.pieces]";
  IRNN_RETURN_IF_ERROR(tensors->ReadI32(name + ".mogrifier.sigmoid.knot", {pieces}, why, &t.knot));
  IRNN_RETURN_IF_ERROR(tensors->ReadI32(name + ".mogrifier.sigmoid.slope", {pieces}, why, &t.slope));
  IRNN_RETURN_IF_ERROR(tensors->ReadI32(name + ".mogrifier.sigmoid.intercept", {pieces}, why, &t.intercept));
  *out = std::move(p);
  return Status::Ok();
}

}  // namespace irnn::model
