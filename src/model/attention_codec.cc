// The attention layer in a .irnn file (see attention_codec.h; docs/model_format.md §8). Integer only:
// part of the no-float check.

#include "model/attention_codec.h"

#include <utility>

namespace irnn::model {
namespace {

constexpr int64_t kMaxShiftMagnitude = 64;  // coarse bound; ValidateAttentionParams checks [-31, 30]

json::Value MultiplierJson(QuantizedMultiplier m) {
  json::Value v = json::Value::Object();
  v.Add("multiplier", json::Value::Int(m.multiplier));
  v.Add("shift", json::Value::Int(m.shift));
  return v;
}

Status ReadMultiplier(ObjectReader* parent, const std::string& key, QuantizedMultiplier* m) {
  ObjectReader r;
  IRNN_RETURN_IF_ERROR(parent->Object(key, &r));
  IRNN_RETURN_IF_ERROR(r.Int("multiplier", &m->multiplier));
  IRNN_RETURN_IF_ERROR(r.Int("shift", -kMaxShiftMagnitude, kMaxShiftMagnitude, &m->shift));
  return r.Finish();
}

json::Value PwlJson(const PwlTable& t) {
  json::Value v = json::Value::Object();
  v.Add("pieces", json::Value::Int(static_cast<int64_t>(t.knot.size())));
  v.Add("input_min", json::Value::Int(t.input_min));
  v.Add("input_max", json::Value::Int(t.input_max));
  v.Add("output_min", json::Value::Int(t.output_min));
  v.Add("output_max", json::Value::Int(t.output_max));
  v.Add("shift", json::Value::Int(t.shift));
  v.Add("odd", json::Value::Bool(t.odd));
  v.Add("center_in", json::Value::Int(t.center_in));
  v.Add("center2_out", json::Value::Int(t.center2_out));
  return v;
}

Status ReadPwlScalars(ObjectReader* params, const char* key, int64_t* pieces, PwlTable* t) {
  ObjectReader r;
  IRNN_RETURN_IF_ERROR(params->Object(key, &r));
  IRNN_RETURN_IF_ERROR(r.Int("pieces", 1, kMaxPwlPieces, pieces));
  IRNN_RETURN_IF_ERROR(r.Int("input_min", &t->input_min));
  IRNN_RETURN_IF_ERROR(r.Int("input_max", &t->input_max));
  IRNN_RETURN_IF_ERROR(r.Int("output_min", &t->output_min));
  IRNN_RETURN_IF_ERROR(r.Int("output_max", &t->output_max));
  IRNN_RETURN_IF_ERROR(r.Int("shift", &t->shift));
  IRNN_RETURN_IF_ERROR(r.Bool("odd", &t->odd));
  IRNN_RETURN_IF_ERROR(r.Int("center_in", &t->center_in));
  IRNN_RETURN_IF_ERROR(r.Int("center2_out", &t->center2_out));
  return r.Finish();
}

}  // namespace

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
