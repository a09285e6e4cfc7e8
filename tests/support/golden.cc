// Golden-case reader (see golden.h).

#include "support/golden.h"

#include <algorithm>
#include <cstdlib>
#include <dirent.h>
#include <fstream>
#include <stdexcept>

namespace irnn::testing {
namespace {

using nlohmann::json;
constexpr const char* kGate[4] = {"input", "forget", "cell", "output"};

template <typename T>
std::vector<T> Ints(const json& tensor) {
  std::vector<T> out;
  if (tensor.is_null()) return out;
  const json& data = tensor.is_object() ? tensor.at("data") : tensor;
  out.reserve(data.size());
  for (const auto& v : data) out.push_back(static_cast<T>(v.get<int64_t>()));
  return out;
}

TensorQuantization Quant(const json& q) {
  TensorQuantization t;
  if (q.is_null()) return t;
  t.scale = static_cast<float>(q.at("scale").get<double>());
  t.zero_point = q.at("zero_point").get<int32_t>();
  return t;
}

QuantizedMultiplier Mult(const json& ip, const std::string& stem) {
  return {ip.at(stem + "_a").get<int32_t>(), ip.at(stem + "_b").get<int32_t>()};
}

}  // namespace

std::string SharedDir() {
  const char* env = std::getenv("IRNN_SHARED");
  if (env != nullptr && *env != '\0') return env;
  return IRNN_SHARED_DIR;
}

json ReadJson(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw std::runtime_error("cannot open " + path + " (is ../shared beside the repository?)");
  try {
    return json::parse(f);
  } catch (const std::exception& e) {
    throw std::runtime_error("malformed JSON in " + path + ": " + e.what());
  }
}

std::vector<std::string> ListGoldenCases(const std::string& folder, const std::string& prefix) {
  std::vector<std::string> names;
  DIR* dir = opendir(folder.c_str());
  if (dir == nullptr) throw std::runtime_error("golden folder missing: " + folder);
  while (dirent* e = readdir(dir)) {
    const std::string n = e->d_name;
    if (n.rfind(prefix, 0) == 0 && n.size() > 5 && n.substr(n.size() - 5) == ".json") names.push_back(n);
  }
  closedir(dir);
  std::sort(names.begin(), names.end());
  if (names.empty()) throw std::runtime_error("no golden cases '" + prefix + "*.json' in " + folder);
  return names;
}

GoldenLstmCase LoadGoldenLstmCase(const std::string& path) {
  const json j = ReadJson(path);
  GoldenLstmCase c;
  c.name = j.at("case_id").get<std::string>();
  const json& flags = j.at("flags");
  const json& sizes = j.at("sizes");
  TfliteLstmConfig& cfg = c.config;
  cfg.n_input = sizes.at("n_input");
  cfg.n_cell = sizes.at("n_cell");
  cfg.n_output = sizes.at("n_output");
  cfg.use_cifg = flags.at("use_cifg");
  cfg.use_peephole = flags.at("use_peephole");
  cfg.use_layer_norm = flags.at("use_layer_norm");
  cfg.use_projection = flags.at("use_projection");
  cfg.use_projection_bias = flags.at("use_projection_bias");
  cfg.rounding = flags.value("rounding", std::string("double")) == "single" ? Rounding::kSingle : Rounding::kDouble;
  cfg.tflite_compat = true;
  c.n_batch = sizes.at("n_batch");
  c.n_steps = sizes.at("n_steps");

  const json& t = j.at("tensors");
  const json& fp = j.at("float_params");
  TfliteLstmWeights& w = c.weights;
  TfliteLstmQuantization& q = c.quantization;
  for (int g = 0; g < 4; ++g) {
    const std::string gate = kGate[g];
    w.input_to_gate[g] = Ints<int8_t>(t.at("input_to_" + gate + "_weights"));
    w.recurrent_to_gate[g] = Ints<int8_t>(t.at("recurrent_to_" + gate + "_weights"));
    w.gate_bias[g] = Ints<int32_t>(t.at(gate + "_gate_bias"));
    w.layer_norm[g] = Ints<int16_t>(t.at(gate + "_layer_norm_coefficients"));
    q.input_to_gate[g] = Quant(fp.value("input_to_" + gate + "_weights", json()));
    q.recurrent_to_gate[g] = Quant(fp.value("recurrent_to_" + gate + "_weights", json()));
    q.layer_norm[g] = Quant(fp.value(gate + "_layer_norm_coefficients", json()));
    if (g != kCellGate) {
      w.cell_to_gate[g] = Ints<int16_t>(t.at("cell_to_" + gate + "_weights"));
      q.cell_to_gate[g] = Quant(fp.value("cell_to_" + gate + "_weights", json()));
    }
  }
  w.projection = Ints<int8_t>(t.at("projection_weights"));
  w.projection_bias = Ints<int32_t>(t.at("projection_bias"));
  q.projection = Quant(fp.value("projection_weights", json()));
  q.input = Quant(fp.at("input"));
  q.output = Quant(fp.at("output"));
  const TensorQuantization state = Quant(fp.at("output_state"));
  if (state.scale != q.output.scale || state.zero_point != q.output.zero_point) {
    throw std::runtime_error(path + ": output_state quantization differs from output");
  }
  q.cell_scale = static_cast<float>(fp.at("cell_state").at("scale").get<double>());
  for (int i = 0; i < 5; ++i) q.intermediates[i] = Quant(fp.at("intermediates").at(i));
  q.cell_clip = static_cast<float>(fp.at("cell_clip").get<double>());
  q.proj_clip = static_cast<float>(fp.at("proj_clip").get<double>());

  c.integer_params = j.at("integer_params");
  c.input = Ints<int8_t>(t.at("input"));
  c.output_state_init = Ints<int8_t>(t.at("output_state_init"));
  c.cell_state_init = Ints<int16_t>(t.at("cell_state_init"));
  const json& e = j.at("expected");
  for (const auto& step : e.at("output")) c.expected_output.push_back(Ints<int8_t>(step));
  for (const auto& step : e.at("cell_state")) c.expected_cell.push_back(Ints<int16_t>(step));
  c.trace = e.at("trace");
  return c;
}

TfliteLstmParams ParamsFromGolden(const GoldenLstmCase& c) {
  const json& ip = c.integer_params;
  TfliteLstmParams p;
  p.config = c.config;
  p.weights = c.weights;
  for (int g = 0; g < 4; ++g) {
    const std::string gate = kGate[g];
    const bool present = !(c.config.use_cifg && g == kInputGate);
    if (!present) {
      // Absent input gate: its tensors stay empty.
      p.weights.input_to_gate[g].clear();
      p.weights.recurrent_to_gate[g].clear();
      p.weights.gate_bias[g].clear();
      p.weights.layer_norm[g].clear();
      p.weights.cell_to_gate[g].clear();
    }
    p.input_to_gate_scale[g] = Mult(ip, "effective_input_to_" + gate + "_scale");
    p.recurrent_to_gate_scale[g] = Mult(ip, "effective_recurrent_to_" + gate + "_scale");
    if (g != kCellGate) p.cell_to_gate_scale[g] = Mult(ip, "effective_cell_to_" + gate + "_scale");
    p.layer_norm_scale[g] = Mult(ip, "layer_norm_" + gate + "_scale");
    p.variance_guard[g] = ip.at(gate + "_variance_guard");
    p.input_to_gate_effective_bias[g] = Ints<int32_t>(ip.at("input_to_" + gate + "_effective_bias"));
    p.recurrent_to_gate_effective_bias[g] = Ints<int32_t>(ip.at("recurrent_to_" + gate + "_effective_bias"));
  }
  p.hidden_scale = Mult(ip, "effective_hidden_scale");
  p.projection_scale = Mult(ip, "effective_proj_scale");
  p.projection_effective_bias = Ints<int32_t>(ip.at("projection_effective_bias"));
  p.cell_scale = ip.at("cell_scale");
  p.quantized_cell_clip = static_cast<int16_t>(ip.at("quantized_cell_clip").get<int>());
  p.quantized_proj_clip = static_cast<int8_t>(ip.at("quantized_proj_clip").get<int>());
  p.hidden_zp = ip.at("hidden_zp");
  p.output_zp = ip.at("output_state_zp");
  return p;
}

}  // namespace irnn::testing
