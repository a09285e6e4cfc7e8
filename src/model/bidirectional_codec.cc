// The bidirectional LSTM and residual add layers in a .irnn file (see bidirectional_codec.h;
// docs/model_format.md §14). Each direction goes through the tflite_lstm codec unchanged. Integer only:
// part of the no-float check.

#include "model/bidirectional_codec.h"

#include "model/scalar_json.h"
#include "model/tflite_lstm_codec.h"

namespace irnn::model {

void EncodeBidirectional(const std::string& name, const BidirectionalParams& p, json::Value* layer,
                         TensorWriter* tensors) {
  json::Value& f = layer->Add("forward", json::Value::Object());
  EncodeTfliteLstm(name + ".forward", p.forward, &f, tensors);
  json::Value& b = layer->Add("backward", json::Value::Object());
  EncodeTfliteLstm(name + ".backward", p.backward, &b, tensors);
}

Status DecodeBidirectional(const std::string& name, ObjectReader* layer, TensorReader* tensors,
                           BidirectionalParams* out) {
  BidirectionalParams p;
  ObjectReader f, b;
  IRNN_RETURN_IF_ERROR(layer->Object("forward", &f));
  IRNN_RETURN_IF_ERROR(DecodeTfliteLstm(name + ".forward", &f, tensors, &p.forward));
  IRNN_RETURN_IF_ERROR(f.Finish());
  IRNN_RETURN_IF_ERROR(layer->Object("backward", &b));
  IRNN_RETURN_IF_ERROR(DecodeTfliteLstm(name + ".backward", &b, tensors, &p.backward));
  IRNN_RETURN_IF_ERROR(b.Finish());
  *out = std::move(p);
  return Status::Ok();
}

void EncodeResidualAdd(const ResidualAddParams& p, json::Value* layer) {
  json::Value& v = layer->Add("params", json::Value::Object());
  v.Add("a_zp", json::Value::Int(p.a_zp));
  v.Add("b_zp", json::Value::Int(p.b_zp));
  v.Add("output_zp", json::Value::Int(p.output_zp));
  v.Add("a_scale", MultiplierJson(p.a_scale));
  v.Add("b_scale", MultiplierJson(p.b_scale));
  v.Add("output_scale", MultiplierJson(p.output_scale));
  v.Add("rounding", json::Value::String(p.rounding == Rounding::kSingle ? "single" : "double"));
}

Status DecodeResidualAdd(ObjectReader* layer, ResidualAddParams* out) {
  ResidualAddParams p;
  ObjectReader v;
  IRNN_RETURN_IF_ERROR(layer->Object("params", &v));
  IRNN_RETURN_IF_ERROR(v.Int("a_zp", -128, 127, &p.a_zp));
  IRNN_RETURN_IF_ERROR(v.Int("b_zp", -128, 127, &p.b_zp));
  IRNN_RETURN_IF_ERROR(v.Int("output_zp", -128, 127, &p.output_zp));
  IRNN_RETURN_IF_ERROR(ReadMultiplier(&v, "a_scale", &p.a_scale));
  IRNN_RETURN_IF_ERROR(ReadMultiplier(&v, "b_scale", &p.b_scale));
  IRNN_RETURN_IF_ERROR(ReadMultiplier(&v, "output_scale", &p.output_scale));
  int rounding = 0;
  IRNN_RETURN_IF_ERROR(v.Enum("rounding", {"double", "single"}, &rounding));
  p.rounding = rounding == 1 ? Rounding::kSingle : Rounding::kDouble;
  IRNN_RETURN_IF_ERROR(v.Finish());
  *out = p;
  return Status::Ok();
}

}  // namespace irnn::model
