// The TFLite-style integer LSTM layer in a .irnn file (see tflite_lstm_codec.h; docs/model_format.md
// §4). The writer and the reader share one description of what a configuration uses (Uses), so the
// two cannot disagree. Integer only: part of the no-float check.

#include "model/tflite_lstm_codec.h"

#include <array>
#include <vector>

#include "model/channel_scale_tensor.h"
#include "model/scalar_json.h"

namespace irnn::model {
namespace {

constexpr const char* kGates[4] = {"input", "forget", "cell", "output"};
constexpr int kMaxDim = 1 << 16;            // as ValidateTfliteLstmParams: n_input, n_cell, n_output

// Which gate entries a configuration uses.
struct Uses {
  explicit Uses(const TfliteLstmConfig& c) {
    for (int g = 0; g < 4; ++g) {
      gate[g] = !(c.use_cifg && g == kInputGate);
      peephole[g] = gate[g] && c.use_peephole && g != kCellGate;
      layer_norm[g] = gate[g] && c.use_layer_norm;
    }
  }
  std::array<bool, 4> gate{};
  std::array<bool, 4> peephole{};
  std::array<bool, 4> layer_norm{};
};

// Why a gate entry is absent, for the reader's "must be absent" message.
const char* AbsentGateReason(const TfliteLstmConfig& c, int g, bool peephole) {
  if (c.use_cifg && g == kInputGate) return "config.use_cifg is true (no input gate)";
  if (peephole && g == kCellGate) return "the cell gate has no peephole";
  return "not used in this configuration";
}

// ---------------------------------------------------------------------------------------------------
// Writing.

json::Value GateMultipliersJson(const std::array<QuantizedMultiplier, 4>& m, const std::array<bool, 4>& used) {
  json::Value v = json::Value::Object();
  for (int g = 0; g < 4; ++g) {
    if (used[g]) v.Add(kGates[g], MultiplierJson(m[g]));
  }
  return v;
}

std::string GateTensor(const std::string& layer, const char* role, int g) {
  return layer + "." + role + "." + kGates[g];
}

}  // namespace

void EncodeTfliteLstm(const std::string& name, const TfliteLstmParams& p, json::Value* layer, TensorWriter* tensors) {
  const TfliteLstmConfig& c = p.config;
  const Uses uses(c);
  json::Value& config = layer->Add("config", json::Value::Object());
  config.Add("n_input", json::Value::Int(c.n_input));
  config.Add("n_cell", json::Value::Int(c.n_cell));
  config.Add("n_output", json::Value::Int(c.n_output));
  config.Add("use_cifg", json::Value::Bool(c.use_cifg));
  config.Add("use_peephole", json::Value::Bool(c.use_peephole));
  config.Add("use_layer_norm", json::Value::Bool(c.use_layer_norm));
  config.Add("use_projection", json::Value::Bool(c.use_projection));
  config.Add("use_projection_bias", json::Value::Bool(c.use_projection_bias));
  config.Add("rounding", json::Value::String(c.rounding == Rounding::kSingle ? "single" : "double"));
  config.Add("tflite_compat", json::Value::Bool(c.tflite_compat));
  config.Add("activation", json::Value::String(c.activation == LstmActivation::kPwl ? "pwl" : "fixed_point"));

  json::Value& params = layer->Add("params", json::Value::Object());
  // A matmul with per-channel multipliers (a tensor) has no per-tensor multiplier in the graph.
  std::array<bool, 4> input_scalar{}, recurrent_scalar{};
  for (int g = 0; g < 4; ++g) {
    input_scalar[g] = uses.gate[g] && p.input_to_gate_channel_scale[g].empty();
    recurrent_scalar[g] = uses.gate[g] && p.recurrent_to_gate_channel_scale[g].empty();
  }
  params.Add("input_to_gate_scale", GateMultipliersJson(p.input_to_gate_scale, input_scalar));
  params.Add("recurrent_to_gate_scale", GateMultipliersJson(p.recurrent_to_gate_scale, recurrent_scalar));
  if (c.use_peephole) params.Add("cell_to_gate_scale", GateMultipliersJson(p.cell_to_gate_scale, uses.peephole));
  if (c.use_layer_norm) {
    params.Add("layer_norm_scale", GateMultipliersJson(p.layer_norm_scale, uses.layer_norm));
    json::Value& guard = params.Add("variance_guard", json::Value::Object());
    for (int g = 0; g < 4; ++g) {
      if (uses.layer_norm[g]) guard.Add(kGates[g], json::Value::Int(p.variance_guard[g]));
    }
  }
  params.Add("hidden_scale", MultiplierJson(p.hidden_scale));
  if (c.use_projection && p.projection_channel_scale.empty()) {
    params.Add("projection_scale", MultiplierJson(p.projection_scale));
  }
  params.Add("cell_scale", json::Value::Int(p.cell_scale));
  params.Add("quantized_cell_clip", json::Value::Int(p.quantized_cell_clip));
  params.Add("quantized_proj_clip", json::Value::Int(p.quantized_proj_clip));
  params.Add("hidden_zp", json::Value::Int(p.hidden_zp));
  params.Add("output_zp", json::Value::Int(p.output_zp));
  if (c.activation == LstmActivation::kPwl) {
    params.Add("pwl_sigmoid", PwlJson(p.pwl_sigmoid));
    params.Add("pwl_tanh_gate", PwlJson(p.pwl_tanh_gate));
    params.Add("pwl_tanh_cell", PwlJson(p.pwl_tanh_cell));
  }

  const int64_t n_in = c.n_input, n_cell = c.n_cell, n_out = c.n_output;
  const TfliteLstmWeights& w = p.weights;
  for (int g = 0; g < 4; ++g) {
    if (!uses.gate[g]) continue;
    tensors->AddI8(GateTensor(name, "input_to_gate", g), {n_cell, n_in}, w.input_to_gate[g]);
    tensors->AddI8(GateTensor(name, "recurrent_to_gate", g), {n_cell, n_out}, w.recurrent_to_gate[g]);
    tensors->AddI32(GateTensor(name, "gate_bias", g), {n_cell}, w.gate_bias[g]);
    tensors->AddI32(GateTensor(name, "input_to_gate_effective_bias", g), {n_cell}, p.input_to_gate_effective_bias[g]);
    tensors->AddI32(GateTensor(name, "recurrent_to_gate_effective_bias", g), {n_cell},
                    p.recurrent_to_gate_effective_bias[g]);
    if (uses.peephole[g]) tensors->AddI16(GateTensor(name, "cell_to_gate", g), {n_cell}, w.cell_to_gate[g]);
    if (uses.layer_norm[g]) tensors->AddI16(GateTensor(name, "layer_norm", g), {n_cell}, w.layer_norm[g]);
    if (!input_scalar[g]) {
      AddChannelScale(tensors, GateTensor(name, "input_to_gate_channel_scale", g), p.input_to_gate_channel_scale[g]);
    }
    if (!recurrent_scalar[g]) {
      AddChannelScale(tensors, GateTensor(name, "recurrent_to_gate_channel_scale", g),
                      p.recurrent_to_gate_channel_scale[g]);
    }
  }
  if (c.use_projection) {
    tensors->AddI8(name + ".projection", {n_out, n_cell}, w.projection);
    tensors->AddI32(name + ".projection_effective_bias", {n_out}, p.projection_effective_bias);
    if (!p.projection_channel_scale.empty()) {
      AddChannelScale(tensors, name + ".projection_channel_scale", p.projection_channel_scale);
    }
  }
  if (c.use_projection_bias) tensors->AddI32(name + ".projection_bias", {n_out}, w.projection_bias);
  if (c.activation == LstmActivation::kPwl) {
    const std::pair<const char*, const PwlTable*> tables[] = {
        {"pwl_sigmoid", &p.pwl_sigmoid}, {"pwl_tanh_gate", &p.pwl_tanh_gate}, {"pwl_tanh_cell", &p.pwl_tanh_cell}};
    for (const auto& [role, t] : tables) {
      const int64_t n = static_cast<int64_t>(t->knot.size());
      tensors->AddI32(name + "." + role + ".knot", {n}, t->knot);
      tensors->AddI32(name + "." + role + ".slope", {n}, t->slope);
      tensors->AddI32(name + "." + role + ".intercept", {n}, t->intercept);
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Reading.

namespace {

// A per-gate object: exactly the gates in `used`, each read by `read_one`. A gate whose matmul has
// per-channel multipliers (`channel_tensor[g]` non-empty: that tensor's name) has no entry.
template <typename ReadOne>
Status ReadGates(ObjectReader* params, const char* key, const TfliteLstmConfig& c, const std::array<bool, 4>& used,
                 bool peephole, ReadOne read_one, const std::array<std::string, 4>& channel_tensor = {}) {
  ObjectReader r;
  IRNN_RETURN_IF_ERROR(params->Object(key, &r));
  for (int g = 0; g < 4; ++g) {
    if (used[g] && channel_tensor[g].empty()) {
      IRNN_RETURN_IF_ERROR(read_one(&r, kGates[g], g));
    } else if (used[g]) {
      IRNN_RETURN_IF_ERROR(
          r.Absent(kGates[g], "tensor '" + channel_tensor[g] + "' holds this gate's per-channel multipliers"));
    } else {
      IRNN_RETURN_IF_ERROR(r.Absent(kGates[g], AbsentGateReason(c, g, peephole)));
    }
  }
  return r.Finish();
}

}  // namespace

Status DecodeTfliteLstm(const std::string& name, ObjectReader* layer, TensorReader* tensors, TfliteLstmParams* out) {
  TfliteLstmParams p;
  TfliteLstmConfig& c = p.config;
  ObjectReader config;
  IRNN_RETURN_IF_ERROR(layer->Object("config", &config));
  // The sizes first: every tensor shape below is built from them.
  IRNN_RETURN_IF_ERROR(config.Int("n_input", 1, kMaxDim, &c.n_input));
  IRNN_RETURN_IF_ERROR(config.Int("n_cell", 1, kMaxDim, &c.n_cell));
  IRNN_RETURN_IF_ERROR(config.Int("n_output", 1, kMaxDim, &c.n_output));
  IRNN_RETURN_IF_ERROR(config.Bool("use_cifg", &c.use_cifg));
  IRNN_RETURN_IF_ERROR(config.Bool("use_peephole", &c.use_peephole));
  IRNN_RETURN_IF_ERROR(config.Bool("use_layer_norm", &c.use_layer_norm));
  IRNN_RETURN_IF_ERROR(config.Bool("use_projection", &c.use_projection));
  IRNN_RETURN_IF_ERROR(config.Bool("use_projection_bias", &c.use_projection_bias));
  int rounding = 0, activation = 0;
  IRNN_RETURN_IF_ERROR(config.Enum("rounding", {"double", "single"}, &rounding));
  c.rounding = rounding == 1 ? Rounding::kSingle : Rounding::kDouble;
  IRNN_RETURN_IF_ERROR(config.Bool("tflite_compat", &c.tflite_compat));
  IRNN_RETURN_IF_ERROR(config.Enum("activation", {"fixed_point", "pwl"}, &activation));
  c.activation = activation == 1 ? LstmActivation::kPwl : LstmActivation::kFixedPoint;
  IRNN_RETURN_IF_ERROR(config.Finish());
  const Uses uses(c);
  const bool pwl = c.activation == LstmActivation::kPwl;

  // Per-channel multipliers are optional tensors; a matmul that has one has no per-tensor multiplier.
  std::array<std::string, 4> input_channel, recurrent_channel;
  for (int g = 0; g < 4; ++g) {
    if (!uses.gate[g]) continue;  // a stray tensor is reported as unused by the caller's Finish
    const std::string in_name = GateTensor(name, "input_to_gate_channel_scale", g);
    const std::string rec_name = GateTensor(name, "recurrent_to_gate_channel_scale", g);
    if (HasChannelScale(*tensors, in_name)) input_channel[g] = in_name;
    if (HasChannelScale(*tensors, rec_name)) recurrent_channel[g] = rec_name;
  }
  const std::string projection_channel_name = name + ".projection_channel_scale";
  const bool projection_channel = c.use_projection && HasChannelScale(*tensors, projection_channel_name);

  ObjectReader params;
  IRNN_RETURN_IF_ERROR(layer->Object("params", &params));
  auto multiplier = [](std::array<QuantizedMultiplier, 4>* m) {
    return [m](ObjectReader* r, const char* gate, int g) { return ReadMultiplier(r, gate, &(*m)[g]); };
  };
  IRNN_RETURN_IF_ERROR(ReadGates(&params, "input_to_gate_scale", c, uses.gate, false,
                                 multiplier(&p.input_to_gate_scale), input_channel));
  IRNN_RETURN_IF_ERROR(ReadGates(&params, "recurrent_to_gate_scale", c, uses.gate, false,
                                 multiplier(&p.recurrent_to_gate_scale), recurrent_channel));
  if (c.use_peephole) {
    IRNN_RETURN_IF_ERROR(
        ReadGates(&params, "cell_to_gate_scale", c, uses.peephole, true, multiplier(&p.cell_to_gate_scale)));
  } else {
    IRNN_RETURN_IF_ERROR(params.Absent("cell_to_gate_scale", "config.use_peephole is false"));
  }
  if (c.use_layer_norm) {
    IRNN_RETURN_IF_ERROR(
        ReadGates(&params, "layer_norm_scale", c, uses.layer_norm, false, multiplier(&p.layer_norm_scale)));
    IRNN_RETURN_IF_ERROR(
        ReadGates(&params, "variance_guard", c, uses.layer_norm, false,
                  [&p](ObjectReader* r, const char* gate, int g) { return r->Int(gate, &p.variance_guard[g]); }));
  } else {
    IRNN_RETURN_IF_ERROR(params.Absent("layer_norm_scale", "config.use_layer_norm is false"));
    IRNN_RETURN_IF_ERROR(params.Absent("variance_guard", "config.use_layer_norm is false"));
  }
  IRNN_RETURN_IF_ERROR(ReadMultiplier(&params, "hidden_scale", &p.hidden_scale));
  if (projection_channel) {
    IRNN_RETURN_IF_ERROR(params.Absent(
        "projection_scale", "tensor '" + projection_channel_name + "' holds the per-channel multipliers"));
  } else if (c.use_projection) {
    IRNN_RETURN_IF_ERROR(ReadMultiplier(&params, "projection_scale", &p.projection_scale));
  } else {
    IRNN_RETURN_IF_ERROR(params.Absent("projection_scale", "config.use_projection is false"));
  }
  IRNN_RETURN_IF_ERROR(params.Int("cell_scale", &p.cell_scale));
  IRNN_RETURN_IF_ERROR(params.Int("quantized_cell_clip", &p.quantized_cell_clip));
  IRNN_RETURN_IF_ERROR(params.Int("quantized_proj_clip", &p.quantized_proj_clip));
  IRNN_RETURN_IF_ERROR(params.Int("hidden_zp", &p.hidden_zp));
  IRNN_RETURN_IF_ERROR(params.Int("output_zp", &p.output_zp));
  const std::pair<const char*, PwlTable*> tables[] = {
      {"pwl_sigmoid", &p.pwl_sigmoid}, {"pwl_tanh_gate", &p.pwl_tanh_gate}, {"pwl_tanh_cell", &p.pwl_tanh_cell}};
  std::array<int64_t, 3> pieces{};
  for (size_t i = 0; i < 3; ++i) {
    if (pwl) {
      IRNN_RETURN_IF_ERROR(ReadPwlScalars(&params, tables[i].first, &pieces[i], tables[i].second));
    } else {
      IRNN_RETURN_IF_ERROR(params.Absent(tables[i].first, "config.activation is \"fixed_point\""));
    }
  }
  IRNN_RETURN_IF_ERROR(params.Finish());

  // Tensors: the shapes are fixed by the config checked above, so each allocation below is the size of
  // a tensor the header already proved the file holds.
  const int64_t n_in = c.n_input, n_cell = c.n_cell, n_out = c.n_output;
  const std::string of = "layer '" + name + "': ";
  TfliteLstmWeights& w = p.weights;
  for (int g = 0; g < 4; ++g) {
    if (!uses.gate[g]) continue;
    IRNN_RETURN_IF_ERROR(tensors->ReadI8(GateTensor(name, "input_to_gate", g), {n_cell, n_in}, of + "[n_cell, n_input]",
                                         &w.input_to_gate[g]));
    IRNN_RETURN_IF_ERROR(tensors->ReadI8(GateTensor(name, "recurrent_to_gate", g), {n_cell, n_out},
                                         of + "[n_cell, n_output]", &w.recurrent_to_gate[g]));
    IRNN_RETURN_IF_ERROR(
        tensors->ReadI32(GateTensor(name, "gate_bias", g), {n_cell}, of + "[n_cell]", &w.gate_bias[g]));
    IRNN_RETURN_IF_ERROR(tensors->ReadI32(GateTensor(name, "input_to_gate_effective_bias", g), {n_cell},
                                          of + "[n_cell]", &p.input_to_gate_effective_bias[g]));
    IRNN_RETURN_IF_ERROR(tensors->ReadI32(GateTensor(name, "recurrent_to_gate_effective_bias", g), {n_cell},
                                          of + "[n_cell]", &p.recurrent_to_gate_effective_bias[g]));
    if (uses.peephole[g]) {
      IRNN_RETURN_IF_ERROR(tensors->ReadI16(GateTensor(name, "cell_to_gate", g), {n_cell},
                                            of + "[n_cell] (use_peephole)", &w.cell_to_gate[g]));
    }
    if (uses.layer_norm[g]) {
      IRNN_RETURN_IF_ERROR(tensors->ReadI16(GateTensor(name, "layer_norm", g), {n_cell},
                                            of + "[n_cell] (use_layer_norm)", &w.layer_norm[g]));
    }
    if (!input_channel[g].empty()) {
      IRNN_RETURN_IF_ERROR(ReadChannelScale(tensors, input_channel[g], n_cell, of + "[n_cell, 2] (per-channel)",
                                            &p.input_to_gate_channel_scale[g]));
    }
    if (!recurrent_channel[g].empty()) {
      IRNN_RETURN_IF_ERROR(ReadChannelScale(tensors, recurrent_channel[g], n_cell,
                                            of + "[n_cell, 2] (per-channel)", &p.recurrent_to_gate_channel_scale[g]));
    }
  }
  if (c.use_projection) {
    IRNN_RETURN_IF_ERROR(tensors->ReadI8(name + ".projection", {n_out, n_cell},
                                         of + "[n_output, n_cell] (use_projection)", &w.projection));
    IRNN_RETURN_IF_ERROR(tensors->ReadI32(name + ".projection_effective_bias", {n_out},
                                          of + "[n_output] (use_projection)", &p.projection_effective_bias));
    if (projection_channel) {
      IRNN_RETURN_IF_ERROR(ReadChannelScale(tensors, projection_channel_name, n_out,
                                            of + "[n_output, 2] (per-channel)", &p.projection_channel_scale));
    }
  }
  if (c.use_projection_bias) {
    IRNN_RETURN_IF_ERROR(tensors->ReadI32(name + ".projection_bias", {n_out}, of + "[n_output] (use_projection_bias)",
                                          &w.projection_bias));
  }
  if (pwl) {
    for (size_t i = 0; i < 3; ++i) {
      const std::string base = name + "." + tables[i].first;
      const std::string why = of + "[params." + tables[i].first + ".pieces]";
      PwlTable* t = tables[i].second;
      IRNN_RETURN_IF_ERROR(tensors->ReadI32(base + ".knot", {pieces[i]}, why, &t->knot));
      IRNN_RETURN_IF_ERROR(tensors->ReadI32(base + ".slope", {pieces[i]}, why, &t->slope));
      IRNN_RETURN_IF_ERROR(tensors->ReadI32(base + ".intercept", {pieces[i]}, why, &t->intercept));
    }
  }
  *out = std::move(p);
  return Status::Ok();
}

}  // namespace irnn::model
