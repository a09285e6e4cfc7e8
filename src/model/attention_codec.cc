// The attention layer in a .irnn file (see attention_codec.h; docs/model_format.md §8). Integer only:
// part of the no-float check.

#include "model/attention_codec.h"

#include <utility>

#include "model/scalar_json.h"

namespace irnn::model {

void EncodeAttention(const std::string& name, const AttentionParams& p, json::Value* layer, TensorWriter* tensors) {
  const AttentionConfig& c = p.config;
  const bool additive = c.mode == AttentionMode::kAdditive;
  const bool pwl = c.activation == LstmActivation::kPwl;
  json::Value& config = layer->Add("config", json::Value::Object());
  config.Add("mode", json::Value::String(additive ? "additive" : "dot"));
  config.Add("n_key", json::Value::Int(c.n_key));
  config.Add("n_query", json::Value::Int(c.n_query));
  config.Add("n_attn", json::Value::Int(c.n_attn));
  config.Add("rounding", json::Value::String(c.rounding == Rounding::kSingle ? "single" : "double"));
  config.Add("activation", json::Value::String(pwl ? "pwl" : "fixed_point"));
  json::Value& params = layer->Add("params", json::Value::Object());
  params.Add("key_zp", json::Value::Int(p.key_zp));
  params.Add("query_zp", json::Value::Int(p.query_zp));
  params.Add("query_scale", MultiplierJson(p.query_scale));
  if (additive) params.Add("key_scale", MultiplierJson(p.key_scale));
  params.Add("softmax_scale", MultiplierJson(p.softmax_scale));
  if (pwl) params.Add("pwl_tanh", PwlJson(p.pwl_tanh));
  const int64_t rows = additive ? c.n_attn : c.n_key;
  if (c.n_query > 0) tensors->AddI8(name + ".query_weights", {rows, c.n_query}, p.query_weights);
  tensors->AddI32(name + ".query_bias", {rows}, p.query_bias);
  if (additive) {
    tensors->AddI8(name + ".key_weights", {c.n_attn, c.n_key}, p.key_weights);
    tensors->AddI32(name + ".key_bias", {c.n_attn}, p.key_bias);
    tensors->AddI8(name + ".score_weights", {c.n_attn}, p.score_weights);
  }
  if (pwl) {
    const int64_t pieces = static_cast<int64_t>(p.pwl_tanh.knot.size());
    tensors->AddI32(name + ".pwl_tanh.knot", {pieces}, p.pwl_tanh.knot);
    tensors->AddI32(name + ".pwl_tanh.slope", {pieces}, p.pwl_tanh.slope);
    tensors->AddI32(name + ".pwl_tanh.intercept", {pieces}, p.pwl_tanh.intercept);
  }
}

Status DecodeAttention(const std::string& name, ObjectReader* layer, TensorReader* tensors, AttentionParams* out) {
  AttentionParams p;
  AttentionConfig& c = p.config;
  ObjectReader config;
  IRNN_RETURN_IF_ERROR(layer->Object("config", &config));
  int mode = 0;
  IRNN_RETURN_IF_ERROR(config.Enum("mode", {"additive", "dot"}, &mode));
  c.mode = mode == 1 ? AttentionMode::kDot : AttentionMode::kAdditive;
  const bool additive = c.mode == AttentionMode::kAdditive;
  IRNN_RETURN_IF_ERROR(config.Int("n_key", 1, kMaxAttentionWidth, &c.n_key));
  IRNN_RETURN_IF_ERROR(config.Int("n_query", 0, kMaxAttentionWidth, &c.n_query));
  if (additive) {
    IRNN_RETURN_IF_ERROR(config.Int("n_attn", 1, kMaxAttentionHidden, &c.n_attn));
  } else {
    IRNN_RETURN_IF_ERROR(config.Int("n_attn", 0, 0, &c.n_attn));
  }
  int rounding = 0;
  IRNN_RETURN_IF_ERROR(config.Enum("rounding", {"double", "single"}, &rounding));
  c.rounding = rounding == 1 ? Rounding::kSingle : Rounding::kDouble;
  int activation = 0;
  IRNN_RETURN_IF_ERROR(config.Enum("activation", {"fixed_point", "pwl"}, &activation));
  c.activation = activation == 1 ? LstmActivation::kPwl : LstmActivation::kFixedPoint;
  const bool pwl = c.activation == LstmActivation::kPwl;
  IRNN_RETURN_IF_ERROR(config.Finish());

  ObjectReader params;
  IRNN_RETURN_IF_ERROR(layer->Object("params", &params));
  IRNN_RETURN_IF_ERROR(params.Int("key_zp", -128, 127, &p.key_zp));
  IRNN_RETURN_IF_ERROR(params.Int("query_zp", -128, 127, &p.query_zp));
  IRNN_RETURN_IF_ERROR(ReadMultiplier(&params, "query_scale", &p.query_scale));
  if (additive) {
    IRNN_RETURN_IF_ERROR(ReadMultiplier(&params, "key_scale", &p.key_scale));
  } else {
    IRNN_RETURN_IF_ERROR(params.Absent("key_scale", "config.mode is \"dot\" (no key projection)"));
  }
  IRNN_RETURN_IF_ERROR(ReadMultiplier(&params, "softmax_scale", &p.softmax_scale));
  int64_t pieces = 0;
  if (pwl) {
    IRNN_RETURN_IF_ERROR(ReadPwlScalars(&params, "pwl_tanh", &pieces, &p.pwl_tanh));
  } else {
    IRNN_RETURN_IF_ERROR(params.Absent("pwl_tanh", "config.activation is \"fixed_point\""));
  }
  IRNN_RETURN_IF_ERROR(params.Finish());

  const std::string of = "layer '" + name + "': ";
  const int64_t rows = additive ? c.n_attn : c.n_key;
  if (c.n_query > 0) {
    IRNN_RETURN_IF_ERROR(
        tensors->ReadI8(name + ".query_weights", {rows, c.n_query}, of + "[rows, n_query]", &p.query_weights));
  }
  IRNN_RETURN_IF_ERROR(tensors->ReadI32(name + ".query_bias", {rows}, of + "[rows]", &p.query_bias));
  if (additive) {
    IRNN_RETURN_IF_ERROR(
        tensors->ReadI8(name + ".key_weights", {c.n_attn, c.n_key}, of + "[n_attn, n_key]", &p.key_weights));
    IRNN_RETURN_IF_ERROR(tensors->ReadI32(name + ".key_bias", {c.n_attn}, of + "[n_attn]", &p.key_bias));
    IRNN_RETURN_IF_ERROR(tensors->ReadI8(name + ".score_weights", {c.n_attn}, of + "[n_attn]", &p.score_weights));
  }
  if (pwl) {
    const std::string why = of + "[params.pwl_tanh.pieces]";
    IRNN_RETURN_IF_ERROR(tensors->ReadI32(name + ".pwl_tanh.knot", {pieces}, why, &p.pwl_tanh.knot));
    IRNN_RETURN_IF_ERROR(tensors->ReadI32(name + ".pwl_tanh.slope", {pieces}, why, &p.pwl_tanh.slope));
    IRNN_RETURN_IF_ERROR(tensors->ReadI32(name + ".pwl_tanh.intercept", {pieces}, why, &p.pwl_tanh.intercept));
  }
  *out = std::move(p);
  return Status::Ok();
}

}  // namespace irnn::model
