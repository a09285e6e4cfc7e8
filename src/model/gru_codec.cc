// The integer GRU layer in a .irnn file (see gru_codec.h; docs/model_format.md §12). Integer only: part
// of the no-float check.

#include "model/gru_codec.h"

#include <utility>

#include "model/channel_scale_tensor.h"
#include "model/scalar_json.h"

namespace irnn::model {
namespace {

constexpr const char* kGates[3] = {"r", "z", "n"};
constexpr int kMaxDim = 1 << 16;

std::string GateTensor(const std::string& layer, const char* role, int g) { return layer + "." + role + "." + kGates[g]; }

}  // namespace

void EncodeGru(const std::string& name, const GruParams& p, json::Value* layer, TensorWriter* tensors) {
  const GruConfig& c = p.config;
  json::Value& config = layer->Add("config", json::Value::Object());
  config.Add("n_input", json::Value::Int(c.n_input));
  config.Add("n_hidden", json::Value::Int(c.n_hidden));
  config.Add("rounding", json::Value::String(c.rounding == Rounding::kSingle ? "single" : "double"));
  json::Value& params = layer->Add("params", json::Value::Object());
  params.Add("output_scale", MultiplierJson(p.output_scale));
  params.Add("output_zp", json::Value::Int(p.output_zp));
  params.Add("pwl_sigmoid", PwlJson(p.pwl_sigmoid));
  params.Add("pwl_tanh", PwlJson(p.pwl_tanh));
  const int64_t h = c.n_hidden, in = c.n_input;
  for (int g = 0; g < 3; ++g) {
    tensors->AddI8(GateTensor(name, "input_weights", g), {h, in}, p.input_weights[g]);
    tensors->AddI8(GateTensor(name, "recurrent_weights", g), {h, h}, p.recurrent_weights[g]);
    tensors->AddI32(GateTensor(name, "input_effective_bias", g), {h}, p.input_effective_bias[g]);
    tensors->AddI32(GateTensor(name, "recurrent_effective_bias", g), {h}, p.recurrent_effective_bias[g]);
    AddChannelScale(tensors, GateTensor(name, "input_scale", g), p.input_scale[g]);
    AddChannelScale(tensors, GateTensor(name, "recurrent_scale", g), p.recurrent_scale[g]);
  }
  const std::pair<const char*, const PwlTable*> tables[] = {{"pwl_sigmoid", &p.pwl_sigmoid}, {"pwl_tanh", &p.pwl_tanh}};
  for (const auto& [role, t] : tables) {
    const int64_t n = static_cast<int64_t>(t->knot.size());
    tensors->AddI32(name + "." + role + ".knot", {n}, t->knot);
    tensors->AddI32(name + "." + role + ".slope", {n}, t->slope);
    tensors->AddI32(name + "." + role + ".intercept", {n}, t->intercept);
  }
}

Status DecodeGru(const std::string& name, ObjectReader* layer, TensorReader* tensors, GruParams* out) {
  GruParams p;
  GruConfig& c = p.config;
  ObjectReader config;
  IRNN_RETURN_IF_ERROR(layer->Object("config", &config));
  IRNN_RETURN_IF_ERROR(config.Int("n_input", 1, kMaxDim, &c.n_input));
  IRNN_RETURN_IF_ERROR(config.Int("n_hidden", 1, kMaxDim, &c.n_hidden));
  int rounding = 0;
  IRNN_RETURN_IF_ERROR(config.Enum("rounding", {"double", "single"}, &rounding));
  c.rounding = rounding == 1 ? Rounding::kSingle : Rounding::kDouble;
  IRNN_RETURN_IF_ERROR(config.Finish());
  ObjectReader params;
  IRNN_RETURN_IF_ERROR(layer->Object("params", &params));
  IRNN_RETURN_IF_ERROR(ReadMultiplier(&params, "output_scale", &p.output_scale));
  IRNN_RETURN_IF_ERROR(params.Int("output_zp", -128, 127, &p.output_zp));
  int64_t pieces[2] = {0, 0};
  const std::pair<const char*, PwlTable*> tables[] = {{"pwl_sigmoid", &p.pwl_sigmoid}, {"pwl_tanh", &p.pwl_tanh}};
  for (size_t i = 0; i < 2; ++i) IRNN_RETURN_IF_ERROR(ReadPwlScalars(&params, tables[i].first, &pieces[i], tables[i].second));
  IRNN_RETURN_IF_ERROR(params.Finish());
  const std::string of = "layer '" + name + "': ";
  const int64_t h = c.n_hidden, in = c.n_input;
  for (int g = 0; g < 3; ++g) {
    IRNN_RETURN_IF_ERROR(tensors->ReadI8(GateTensor(name, "input_weights", g), {h, in}, of + "[n_hidden, n_input]",
                                         &p.input_weights[g]));
    IRNN_RETURN_IF_ERROR(tensors->ReadI8(GateTensor(name, "recurrent_weights", g), {h, h},
                                         of + "[n_hidden, n_hidden]", &p.recurrent_weights[g]));
    IRNN_RETURN_IF_ERROR(tensors->ReadI32(GateTensor(name, "input_effective_bias", g), {h}, of + "[n_hidden]",
                                          &p.input_effective_bias[g]));
    IRNN_RETURN_IF_ERROR(tensors->ReadI32(GateTensor(name, "recurrent_effective_bias", g), {h}, of + "[n_hidden]",
                                          &p.recurrent_effective_bias[g]));
    IRNN_RETURN_IF_ERROR(ReadChannelScale(tensors, GateTensor(name, "input_scale", g), h, of + "[n_hidden, 2]",
                                          &p.input_scale[g]));
    IRNN_RETURN_IF_ERROR(ReadChannelScale(tensors, GateTensor(name, "recurrent_scale", g), h, of + "[n_hidden, 2]",
                                          &p.recurrent_scale[g]));
  }
  for (size_t i = 0; i < 2; ++i) {
    const std::string base = name + "." + tables[i].first;
    const std::string why = of + "[params." + tables[i].first + ".pieces]";
    PwlTable* t = tables[i].second;
    IRNN_RETURN_IF_ERROR(tensors->ReadI32(base + ".knot", {pieces[i]}, why, &t->knot));
    IRNN_RETURN_IF_ERROR(tensors->ReadI32(base + ".slope", {pieces[i]}, why, &t->slope));
    IRNN_RETURN_IF_ERROR(tensors->ReadI32(base + ".intercept", {pieces[i]}, why, &t->intercept));
  }
  *out = std::move(p);
  return Status::Ok();
}

}  // namespace irnn::model
