// The linear layer in a .irnn file (see linear_codec.h; docs/model_format.md §6). Integer only: part of
// the no-float check.

#include "model/linear_codec.h"

#include "model/channel_scale_tensor.h"

namespace irnn::model {

void EncodeLinear(const std::string& name, const LinearParams& p, json::Value* layer, TensorWriter* tensors) {
  json::Value& config = layer->Add("config", json::Value::Object());
  config.Add("n_in", json::Value::Int(p.n_in));
  config.Add("n_out", json::Value::Int(p.n_out));
  config.Add("rounding", json::Value::String(p.rounding == Rounding::kSingle ? "single" : "double"));
  layer->Add("params", json::Value::Object());
  tensors->AddI8(name + ".weights", {p.n_out, p.n_in}, p.weights);
  tensors->AddI32(name + ".effective_bias", {p.n_out}, p.effective_bias);
  AddChannelScale(tensors, name + ".channel_scale", p.channel_scale);
}

Status DecodeLinear(const std::string& name, ObjectReader* layer, TensorReader* tensors, LinearParams* out) {
  LinearParams p;
  ObjectReader config;
  IRNN_RETURN_IF_ERROR(layer->Object("config", &config));
  IRNN_RETURN_IF_ERROR(config.Int("n_in", 1, kMaxLmDim, &p.n_in));
  IRNN_RETURN_IF_ERROR(config.Int("n_out", 1, kMaxVocab, &p.n_out));
  int rounding = 0;
  IRNN_RETURN_IF_ERROR(config.Enum("rounding", {"double", "single"}, &rounding));
  p.rounding = rounding == 1 ? Rounding::kSingle : Rounding::kDouble;
  IRNN_RETURN_IF_ERROR(config.Finish());
  ObjectReader params;
  IRNN_RETURN_IF_ERROR(layer->Object("params", &params));
  IRNN_RETURN_IF_ERROR(params.Finish());  // no scalar parameters: the multipliers are per row, a tensor
  const std::string of = "layer '" + name + "': ";
  IRNN_RETURN_IF_ERROR(tensors->ReadI8(name + ".weights", {p.n_out, p.n_in}, of + "[n_out, n_in]", &p.weights));
  IRNN_RETURN_IF_ERROR(tensors->ReadI32(name + ".effective_bias", {p.n_out}, of + "[n_out]", &p.effective_bias));
  IRNN_RETURN_IF_ERROR(
      ReadChannelScale(tensors, name + ".channel_scale", p.n_out, of + "[n_out, 2]", &p.channel_scale));
  *out = std::move(p);
  return Status::Ok();
}

}  // namespace irnn::model
