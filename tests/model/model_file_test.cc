// The .irnn model file (irnn/model.h, docs/model_format.md): round trips of random LSTM layers (every
// option, fixed-point and PWL activations) compared field by field and by running them; the safetensors
// layout rules; the writer's refusals; malformed files, each refused with a message naming the problem;
// and fuzzing (byte flips, truncations, and every integer of the graph and the header set to extreme
// values), where every outcome must be a clean ok or a clean error. Runs under ASan/UBSan too.

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "irnn/model.h"
#include "support/file_parts.h"
#include "support/random_lstm.h"

namespace irnn {
namespace {

using ojson = nlohmann::ordered_json;
constexpr const char* kGateNames[4] = {"input", "forget", "cell", "output"};

// ---------------------------------------------------------------------------------------------------
// Helpers.

Model OneLayer(const TfliteLstmParams& p, const std::string& name = "lstm0") {
  Model m;
  m.layers.push_back({name, LayerKind::kTfliteLstm, p});
  return m;
}

using testing::Parse;
using testing::Serialize;

// What the file keeps of a layer: the fields its configuration uses; the others read back as zero.
TfliteLstmParams Canonical(TfliteLstmParams p) {
  const TfliteLstmConfig& c = p.config;
  for (int g = 0; g < 4; ++g) {
    const bool present = !(c.use_cifg && g == kInputGate);
    if (!present) p.input_to_gate_scale[g] = p.recurrent_to_gate_scale[g] = {};
    if (!(present && c.use_peephole && g != kCellGate)) p.cell_to_gate_scale[g] = {};
    if (!(present && c.use_layer_norm)) {
      p.layer_norm_scale[g] = {};
      p.variance_guard[g] = 0;
    }
  }
  if (!c.use_projection) p.projection_scale = {};
  if (c.activation != LstmActivation::kPwl) p.pwl_sigmoid = p.pwl_tanh_gate = p.pwl_tanh_cell = PwlTable{};
  return p;
}

void ExpectPwlEqual(const PwlTable& a, const PwlTable& b, const std::string& name) {
  SCOPED_TRACE(name);
  EXPECT_EQ(a.input_min, b.input_min);
  EXPECT_EQ(a.input_max, b.input_max);
  EXPECT_EQ(a.output_min, b.output_min);
  EXPECT_EQ(a.output_max, b.output_max);
  EXPECT_EQ(a.shift, b.shift);
  EXPECT_EQ(a.odd, b.odd);
  EXPECT_EQ(a.center_in, b.center_in);
  EXPECT_EQ(a.center2_out, b.center2_out);
  EXPECT_EQ(a.knot, b.knot);
  EXPECT_EQ(a.slope, b.slope);
  EXPECT_EQ(a.intercept, b.intercept);
}

void ExpectParamsEqual(const TfliteLstmParams& a, const TfliteLstmParams& b) {
  const TfliteLstmConfig &ca = a.config, &cb = b.config;
  EXPECT_EQ(ca.n_input, cb.n_input);
  EXPECT_EQ(ca.n_cell, cb.n_cell);
  EXPECT_EQ(ca.n_output, cb.n_output);
  EXPECT_EQ(ca.use_cifg, cb.use_cifg);
  EXPECT_EQ(ca.use_peephole, cb.use_peephole);
  EXPECT_EQ(ca.use_layer_norm, cb.use_layer_norm);
  EXPECT_EQ(ca.use_projection, cb.use_projection);
  EXPECT_EQ(ca.use_projection_bias, cb.use_projection_bias);
  EXPECT_EQ(ca.rounding, cb.rounding);
  EXPECT_EQ(ca.tflite_compat, cb.tflite_compat);
  EXPECT_EQ(ca.activation, cb.activation);
  for (int g = 0; g < 4; ++g) {
    SCOPED_TRACE(std::string("gate ") + kGateNames[g]);
    EXPECT_EQ(a.weights.input_to_gate[g], b.weights.input_to_gate[g]);
    EXPECT_EQ(a.weights.recurrent_to_gate[g], b.weights.recurrent_to_gate[g]);
    EXPECT_EQ(a.weights.cell_to_gate[g], b.weights.cell_to_gate[g]);
    EXPECT_EQ(a.weights.gate_bias[g], b.weights.gate_bias[g]);
    EXPECT_EQ(a.weights.layer_norm[g], b.weights.layer_norm[g]);
    EXPECT_EQ(a.input_to_gate_scale[g], b.input_to_gate_scale[g]);
    EXPECT_EQ(a.recurrent_to_gate_scale[g], b.recurrent_to_gate_scale[g]);
    EXPECT_EQ(a.cell_to_gate_scale[g], b.cell_to_gate_scale[g]);
    EXPECT_EQ(a.layer_norm_scale[g], b.layer_norm_scale[g]);
    EXPECT_EQ(a.variance_guard[g], b.variance_guard[g]);
    EXPECT_EQ(a.input_to_gate_effective_bias[g], b.input_to_gate_effective_bias[g]);
    EXPECT_EQ(a.recurrent_to_gate_effective_bias[g], b.recurrent_to_gate_effective_bias[g]);
  }
  EXPECT_EQ(a.weights.projection, b.weights.projection);
  EXPECT_EQ(a.weights.projection_bias, b.weights.projection_bias);
  EXPECT_EQ(a.hidden_scale, b.hidden_scale);
  EXPECT_EQ(a.projection_scale, b.projection_scale);
  EXPECT_EQ(a.projection_effective_bias, b.projection_effective_bias);
  EXPECT_EQ(a.cell_scale, b.cell_scale);
  EXPECT_EQ(a.quantized_cell_clip, b.quantized_cell_clip);
  EXPECT_EQ(a.quantized_proj_clip, b.quantized_proj_clip);
  EXPECT_EQ(a.hidden_zp, b.hidden_zp);
  EXPECT_EQ(a.output_zp, b.output_zp);
  ExpectPwlEqual(a.pwl_sigmoid, b.pwl_sigmoid, "pwl_sigmoid");
  ExpectPwlEqual(a.pwl_tanh_gate, b.pwl_tanh_gate, "pwl_tanh_gate");
  ExpectPwlEqual(a.pwl_tanh_cell, b.pwl_tanh_cell, "pwl_tanh_cell");
}

struct Outputs {
  std::vector<int8_t> out;
  std::vector<int8_t> h;
  std::vector<int16_t> c;
};

Outputs RunLayer(const TfliteLstmParams& p, const std::vector<int8_t>& input, int batch, int steps) {
  Outputs o;
  std::unique_ptr<TfliteLstm> lstm;
  Status s = TfliteLstm::Create(p, KernelPath::kScalar, &lstm);
  EXPECT_TRUE(s.ok()) << s.message();
  if (!s.ok()) return o;
  TfliteLstmState state;
  s = lstm->NewState(batch, &state);
  EXPECT_TRUE(s.ok()) << s.message();
  o.out.assign(static_cast<size_t>(steps) * batch * p.config.n_output, 0);
  s = lstm->Run(input.data(), steps, &state, o.out.data());
  EXPECT_TRUE(s.ok()) << s.message();
  o.h = state.h();
  o.c = state.c();
  return o;
}

// A file split into its JSON header and data section, to build malformed variants (support/file_parts.h).
using testing::FileParts;
const auto Split = testing::SplitFile;
const auto Join = testing::JoinFile;
const auto Graph = testing::GraphOf;
const auto SetGraph = testing::SetGraphOf;
const auto RemoveTensor = testing::RemoveTensorFrom;
const auto AppendTensor = testing::AppendTensorTo;

std::string LengthField(uint64_t n) {
  std::string s;
  for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>((n >> (8 * i)) & 0xFF));
  return s;
}

// Header text padded with spaces to a multiple of 8, with the length field and the data.
std::string JoinText(std::string header, const std::string& data) {
  header.append((8 - header.size() % 8) % 8, ' ');
  return LengthField(header.size()) + header + data;
}

// A deterministic layer with the given options (found by trying seeds of MakeRandomLstm) and PWL tables.
TfliteLstmParams FindLayer(const std::function<bool(const TfliteLstmConfig&)>& want, bool pwl) {
  for (uint64_t seed = 1; seed < 10000; ++seed) {
    testing::RandomLstm r = testing::MakeRandomLstm(seed, 12, 2, 6);
    if (!want(r.params.config)) continue;
    if (pwl) {
      r.params.config.activation = LstmActivation::kPwl;
      const Status s = FitTfliteLstmPwlTables(/*optimal=*/false, 2.0, &r.params);
      EXPECT_TRUE(s.ok()) << s.message();
    }
    return r.params;
  }
  ADD_FAILURE() << "no seed gives the wanted configuration";
  return {};
}

// The layer most malformed cases start from: every option but CIFG, PWL activations, n_cell != n_input.
const TfliteLstmParams& FullLayer() {
  static const TfliteLstmParams p = FindLayer(
      [](const TfliteLstmConfig& c) {
        return !c.use_cifg && c.use_peephole && c.use_layer_norm && c.use_projection && c.use_projection_bias &&
               c.n_cell != c.n_input && c.n_cell >= 2 && c.n_input >= 2;
      },
      /*pwl=*/true);
  return p;
}

const TfliteLstmParams& CifgLayer() {
  static const TfliteLstmParams p = FindLayer([](const TfliteLstmConfig& c) { return c.use_cifg; }, false);
  return p;
}

// ---------------------------------------------------------------------------------------------------
// Round trips.

TEST(ModelFileRoundTrip, RandomLayersFieldByFieldAndIdenticalOutputs) {
  constexpr int kLayers = 80;
  std::set<std::string> options_seen;
  std::set<int> output_values;
  for (int i = 0; i < kLayers; ++i) {
    const uint64_t seed = 0x5EED0000 + i;
    testing::RandomLstm r = testing::MakeRandomLstm(seed, 24, 3, 10);
    SCOPED_TRACE(r.description);
    const TfliteLstmConfig& c = r.params.config;
    if (c.use_cifg) options_seen.insert("cifg");
    if (c.use_peephole) options_seen.insert("peephole");
    if (c.use_layer_norm) options_seen.insert("layer_norm");
    if (c.use_projection) options_seen.insert("projection");
    if (c.use_projection_bias) options_seen.insert("projection_bias");
    if (!c.tflite_compat) options_seen.insert("intended");
    if (c.rounding == Rounding::kSingle) options_seen.insert("single");
    if (r.params.quantized_cell_clip > 0) options_seen.insert("cell_clip");
    if (r.params.quantized_proj_clip > 0) options_seen.insert("proj_clip");

    const std::string bytes = Serialize(OneLayer(r.params));
    Model back;
    const Status s = Parse(bytes, &back);
    ASSERT_TRUE(s.ok()) << s.message();
    ASSERT_EQ(back.layers.size(), 1u);
    EXPECT_EQ(back.layers[0].name, "lstm0");
    EXPECT_EQ(back.layers[0].kind, LayerKind::kTfliteLstm);
    ExpectParamsEqual(back.layers[0].lstm, Canonical(r.params));
    // The file is canonical: writing what was read gives the same bytes.
    EXPECT_EQ(Serialize(back), bytes);

    const Outputs want = RunLayer(r.params, r.input, r.batch, r.steps);
    const Outputs got = RunLayer(back.layers[0].lstm, r.input, r.batch, r.steps);
    ASSERT_FALSE(want.out.empty());
    EXPECT_EQ(got.out, want.out);
    EXPECT_EQ(got.h, want.h);
    EXPECT_EQ(got.c, want.c);
    output_values.insert(want.out.begin(), want.out.end());
  }
  // Not vacuous: every option was written and read, and the layers computed varied outputs.
  EXPECT_EQ(options_seen.size(), 9u);
  EXPECT_GT(output_values.size(), 50u);
}

TEST(ModelFileRoundTrip, PwlActivationLayers) {
  int pieces = 0;
  for (uint64_t seed : {11, 12, 13}) {
    testing::RandomLstm r = testing::MakeRandomLstm(seed, 16, 2, 8);
    SCOPED_TRACE(r.description);
    r.params.config.activation = LstmActivation::kPwl;
    const Status fit = FitTfliteLstmPwlTables(/*optimal=*/true, 1.0, &r.params);
    ASSERT_TRUE(fit.ok()) << fit.message();
    pieces += static_cast<int>(r.params.pwl_sigmoid.knot.size() + r.params.pwl_tanh_gate.knot.size() +
                               r.params.pwl_tanh_cell.knot.size());
    const std::string bytes = Serialize(OneLayer(r.params, "pwl_lstm"));
    Model back;
    const Status s = Parse(bytes, &back);
    ASSERT_TRUE(s.ok()) << s.message();
    ExpectParamsEqual(back.layers[0].lstm, Canonical(r.params));
    const Outputs want = RunLayer(r.params, r.input, r.batch, r.steps);
    const Outputs got = RunLayer(back.layers[0].lstm, r.input, r.batch, r.steps);
    EXPECT_EQ(got.out, want.out);
    EXPECT_EQ(got.c, want.c);
    // The tables are tensors, their scalars graph fields.
    const FileParts parts = Split(bytes);
    EXPECT_TRUE(parts.header.contains("pwl_lstm.pwl_tanh_cell.knot"));
    EXPECT_EQ(Graph(parts)["layers"][0]["params"]["pwl_sigmoid"]["pieces"].get<size_t>(),
              r.params.pwl_sigmoid.knot.size());
  }
  EXPECT_GT(pieces, 9);
}

TEST(ModelFileRoundTrip, MultiLayerModelWithMetadataThroughAFile) {
  Model m;
  for (int i = 0; i < 3; ++i) {
    m.layers.push_back(
        {"layer_" + std::to_string(i), LayerKind::kTfliteLstm, testing::MakeRandomLstm(900 + i, 10, 1, 1).params});
  }
  m.layers.push_back({"pwl", LayerKind::kTfliteLstm, FullLayer()});
  m.metadata["task"] = "ptb-char \xE2\x80\x94 test";
  m.metadata["trainer"] = "irnn \"qat\"\n";
  const std::string path = ::testing::TempDir() + "/irnn_model_test_roundtrip.irnn";
  Status s = WriteModel(m, path);
  ASSERT_TRUE(s.ok()) << s.message();
  Model back;
  s = ReadModel(path, &back);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(back.metadata, m.metadata);
  ASSERT_EQ(back.layers.size(), m.layers.size());
  for (size_t i = 0; i < m.layers.size(); ++i) {
    SCOPED_TRACE(m.layers[i].name);
    EXPECT_EQ(back.layers[i].name, m.layers[i].name);
    ExpectParamsEqual(back.layers[i].lstm, Canonical(m.layers[i].lstm));
  }
  // The file on disk is exactly the serialized bytes.
  std::ifstream f(path, std::ios::binary);
  const std::string on_disk((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_EQ(on_disk, Serialize(m));
  std::remove(path.c_str());
}

// The safetensors rules (what `safetensors.safe_open` checks) and the format's own, on a written file.
TEST(ModelFileLayout, FollowsSafetensorsRules) {
  Model m = OneLayer(FullLayer());
  m.layers.push_back({"cifg", LayerKind::kTfliteLstm, CifgLayer()});
  m.metadata["note"] = "x";
  const std::string bytes = Serialize(m);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(bytes[i]);
  ASSERT_LE(8 + n, bytes.size());
  EXPECT_EQ(n % 8, 0u);
  EXPECT_EQ(bytes[8], '{');
  const std::string header = bytes.substr(8, n);
  const size_t last = header.find_last_not_of(' ');
  EXPECT_EQ(header[last], '}');  // only spaces pad the header
  const ojson h = ojson::parse(header);
  ASSERT_TRUE(h.contains("__metadata__"));
  for (const auto& [k, v] : h["__metadata__"].items()) EXPECT_TRUE(v.is_string()) << k;
  EXPECT_EQ(h["__metadata__"]["format"], "irnn");
  EXPECT_EQ(h["__metadata__"]["version"], "1");
  EXPECT_EQ(h["__metadata__"]["note"], "x");
  struct T {
    uint64_t b, e, size;
  };
  std::vector<T> spans;
  for (const auto& [k, v] : h.items()) {
    if (k == "__metadata__") continue;
    const std::string dtype = v["dtype"];
    ASSERT_TRUE(dtype == "I8" || dtype == "I16" || dtype == "I32") << k << " " << dtype;
    const uint64_t size = dtype == "I8" ? 1 : dtype == "I16" ? 2 : 4;
    uint64_t elements = 1;
    for (const auto& d : v["shape"]) elements *= d.get<uint64_t>();
    const uint64_t b = v["data_offsets"][0], e = v["data_offsets"][1];
    EXPECT_EQ(e - b, elements * size) << k;
    EXPECT_EQ(b % size, 0u) << k << ": tensors are aligned to their element size";
    spans.push_back({b, e, size});
  }
  ASSERT_GT(spans.size(), 30u);
  // In file order: contiguous from 0 to the end of the file, by descending element size.
  for (size_t i = 1; i < spans.size(); ++i) {
    EXPECT_EQ(spans[i].b, spans[i - 1].e);
    EXPECT_LE(spans[i].size, spans[i - 1].size);
  }
  EXPECT_EQ(spans.front().b, 0u);
  EXPECT_EQ(spans.back().e, bytes.size() - 8 - n);
  // The graph is JSON with integers only: no float anywhere in the file's JSON.
  const ojson graph = ojson::parse(h["__metadata__"]["graph"].get<std::string>());
  std::function<void(const ojson&)> no_float = [&](const ojson& j) {
    EXPECT_FALSE(j.is_number_float()) << j.dump();
    if (j.is_structured()) {
      for (const auto& e : j) no_float(e);
    }
  };
  no_float(h);
  no_float(graph);
  EXPECT_EQ(graph["layers"].size(), 2u);
  EXPECT_EQ(graph["layers"][1]["type"], "tflite_lstm");
  EXPECT_FALSE(graph["layers"][1]["params"]["input_to_gate_scale"].contains("input"));  // CIFG
  EXPECT_FALSE(h.contains("cifg.input_to_gate.input"));
}

TEST(ModelFileWriter, RefusesWhatTheReaderWouldRefuse) {
  std::string bytes;
  auto expect_refused = [&](const Model& m, const std::string& expect) {
    const Status s = SerializeModel(m, &bytes);
    ASSERT_FALSE(s.ok()) << expect;
    EXPECT_NE(s.message().find(expect), std::string::npos) << s.message();
  };
  expect_refused(Model{}, "the model has 0 layers but must have 1 to 1024");
  Model m = OneLayer(FullLayer());
  m.layers[0].name = "lstm.0";
  expect_refused(m, "layers[0].name 'lstm.0' must hold only A-Z, a-z, 0-9 and _");
  m.layers[0].name = "";
  expect_refused(m, "must have 1 to 64 characters");
  m = OneLayer(FullLayer());
  m.layers.push_back(m.layers[0]);
  expect_refused(m, "layers[1].name 'lstm0' is also the name of layers[0]");
  m = OneLayer(FullLayer());
  m.layers[0].lstm.input_to_gate_scale[kForgetGate].shift = 40;
  expect_refused(m, "layer 'lstm0': TfliteLstmParams: input_to_gate_scale[forget].shift is 40");
  m = OneLayer(FullLayer());
  m.metadata["graph"] = "{}";
  expect_refused(m, "metadata key 'graph' is reserved");
  m = OneLayer(FullLayer());
  m.metadata["bad"] = "\xFF";
  expect_refused(m, "metadata 'bad' is not valid UTF-8");
  EXPECT_FALSE(SerializeModel(OneLayer(FullLayer()), nullptr).ok());
  EXPECT_NE(WriteModel(OneLayer(FullLayer()), "/nonexistent-dir/x.irnn").message().find("/nonexistent-dir/x.irnn"),
            std::string::npos);
}

TEST(ModelFileReader, FileErrorsNameThePath) {
  Model m;
  Status s = ReadModel("/nonexistent-dir/model.irnn", &m);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("/nonexistent-dir/model.irnn: cannot open"), std::string::npos) << s.message();
  s = ReadModel(::testing::TempDir(), &m);  // a directory
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message().rfind(::testing::TempDir(), 0), 0u) << s.message();
  // A file that is cut short is read piecewise and refused before any tensor is read.
  const std::string path = ::testing::TempDir() + "/irnn_model_test_truncated.irnn";
  const std::string bytes = Serialize(OneLayer(FullLayer()));
  {
    std::ofstream f(path, std::ios::binary);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size() - 3));
  }
  s = ReadModel(path, &m);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("end past the data section"), std::string::npos) << s.message();
  std::remove(path.c_str());
  EXPECT_FALSE(ParseModel(nullptr, 10, &m).ok());
  EXPECT_FALSE(ParseModel(nullptr, 0, &m).ok());
  const std::string ok = Serialize(OneLayer(FullLayer()));
  EXPECT_FALSE(ParseModel(reinterpret_cast<const uint8_t*>(ok.data()), ok.size(), nullptr).ok());
}

// ---------------------------------------------------------------------------------------------------
// Malformed files: each kind refused, with a message that names the problem.

struct BadCase {
  std::string what;
  std::function<std::string(const std::string& valid)> make;
  std::vector<std::string> expect;  // substrings of the message
};

std::string WithHeader(const std::string& valid, const std::function<void(FileParts*)>& edit) {
  FileParts p = Split(valid);
  edit(&p);
  return Join(p);
}

std::string WithGraph(const std::string& valid, const std::function<void(ojson*)>& edit) {
  FileParts p = Split(valid);
  ojson g = Graph(p);
  edit(&g);
  SetGraph(&p, g);
  return Join(p);
}

std::string WithLength(const std::string& valid, uint64_t n) { return LengthField(n) + valid.substr(8); }

std::vector<BadCase> BadCases() {
  const TfliteLstmConfig& c = FullLayer().config;
  const std::string cell_input = "[" + std::to_string(c.n_cell) + ", " + std::to_string(c.n_input) + "]";
  const std::string input_cell = "[" + std::to_string(c.n_input) + ", " + std::to_string(c.n_cell) + "]";
  const std::string w = "lstm0.input_to_gate.forget";
  auto params = [](ojson* g) -> ojson& { return (*g)["layers"][0]["params"]; };
  auto config = [](ojson* g) -> ojson& { return (*g)["layers"][0]["config"]; };
  return {
      // --- the length field and the container
      {"empty file",
       [](const std::string&) { return std::string(); },
       {"model.irnn: the file is 0 bytes but must hold at least the 8-byte header length"}},
      {"truncated inside the length field",
       [](const std::string& v) { return v.substr(0, 5); },
       {"the file is 5 bytes"}},
      {"header length larger than the file",
       [](const std::string& v) { return WithLength(v, v.size()); },
       {"header length is", "bytes follow the length field (truncated file?)"}},
      {"header length over the 16 MiB limit",
       [](const std::string& v) { return WithLength(v, uint64_t{1} << 40); },
       {"header length is 1099511627776 but must be at most 16777216"}},
      {"header length 2^64 - 1",
       [](const std::string& v) { return WithLength(v, UINT64_MAX); },
       {"header length is 18446744073709551615 but must be at most 16777216"}},
      {"header length not a multiple of 8",
       [](const std::string& v) { return WithLength(v, Split(v).header.dump().size() | 1); },
       {"must be a positive multiple of 8"}},
      {"file truncated in the data section",
       [](const std::string& v) { return v.substr(0, v.size() - 7); },
       {"end past the data section", "(truncated file?)"}},
      {"header not JSON",
       [](const std::string& v) { return JoinText("{this is not json}", Split(v).data); },
       {"model.irnn: header: JSON: expected a string key in an object but found 't' at byte 1"}},
      {"header not an object",
       [](const std::string& v) { return JoinText("[1, 2]", Split(v).data); },
       {"header must begin with '{'"}},
      {"header with NUL padding",
       [](const std::string& v) {
         std::string h = Split(v).header.dump();
         h.append(8 - h.size() % 8 + 8, '\0');
         return LengthField(h.size()) + h + Split(v).data;
       },
       {"unexpected byte 0x00 after the JSON value"}},
      {"float in the header",
       [=](const std::string& v) { return WithHeader(v, [&](FileParts* p) { p->header[w]["shape"][0] = 4.0; }); },
       {"fraction or an exponent (the format holds integers only)"}},
      {"duplicate key in the header",
       [](const std::string& v) {
         std::string h = Split(v).header.dump();
         h.insert(1, "\"__metadata__\":{},");
         return JoinText(h, Split(v).data);
       },
       {"duplicate key \"__metadata__\""}},
      {"invalid UTF-8 in the header",
       [](const std::string& v) {
         std::string h = Split(v).header.dump();
         h.replace(h.find("irnn"), 1, "\xFF");
         return JoinText(h, Split(v).data);
       },
       {"invalid UTF-8 byte 0xff in a string"}},
      {"too many JSON values in the header",
       [](const std::string& v) {
         std::string h = Split(v).header.dump();
         std::string big = "\"pad\":[";
         for (int i = 0; i < 600000; ++i) big += "0,";
         big.back() = ']';
         h.insert(1, big + ",");
         return JoinText(h, Split(v).data);
       },
       {"more than 524288 values"}},
      // --- __metadata__
      {"missing __metadata__",
       [](const std::string& v) { return WithHeader(v, [](FileParts* p) { p->header.erase("__metadata__"); }); },
       {"__metadata__ is missing"}},
      {"wrong format",
       [](const std::string& v) {
         return WithHeader(v, [](FileParts* p) { p->header["__metadata__"]["format"] = "gguf"; });
       },
       {"__metadata__.format is \"gguf\" but must be \"irnn\""}},
      {"missing format",
       [](const std::string& v) {
         return WithHeader(v, [](FileParts* p) { p->header["__metadata__"].erase("format"); });
       },
       {"__metadata__.format is missing (not an .irnn file?)"}},
      {"wrong version",
       [](const std::string& v) {
         return WithHeader(v, [](FileParts* p) { p->header["__metadata__"]["version"] = "2"; });
       },
       {"__metadata__.version is \"2\" but must be \"1\""}},
      {"metadata value not a string",
       [](const std::string& v) {
         return WithHeader(v, [](FileParts* p) { p->header["__metadata__"]["version"] = 1; });
       },
       {"__metadata__ 'version' is an integer but must be a string"}},
      {"missing graph",
       [](const std::string& v) {
         return WithHeader(v, [](FileParts* p) { p->header["__metadata__"].erase("graph"); });
       },
       {"__metadata__.graph is missing"}},
      {"graph not JSON",
       [](const std::string& v) {
         return WithHeader(v, [](FileParts* p) { p->header["__metadata__"]["graph"] = "{\"layers\": [1.5]}"; });
       },
       {"model.irnn: graph: JSON: a number with a fraction or an exponent"}},
      {"graph nested too deep",
       [](const std::string& v) {
         return WithHeader(
             v, [](FileParts* p) { p->header["__metadata__"]["graph"] = std::string(20, '[') + std::string(20, ']'); });
       },
       {"graph: JSON: nesting deeper than 16"}},
      // --- tensor descriptors
      {"unknown dtype",
       [=](const std::string& v) { return WithHeader(v, [&](FileParts* p) { p->header[w]["dtype"] = "Q4"; }); },
       {"tensor 'lstm0.input_to_gate.forget': dtype is \"Q4\" but must be a safetensors dtype"}},
      {"shape does not match the byte count",
       [=](const std::string& v) {
         return WithHeader(v,
                           [&](FileParts* p) { p->header[w]["shape"][1] = p->header[w]["shape"][1].get<int>() + 1; });
       },
       {"tensor 'lstm0.input_to_gate.forget': data_offsets", "bytes but shape", "of dtype I8 needs"}},
      {"negative dimension",
       [=](const std::string& v) { return WithHeader(v, [&](FileParts* p) { p->header[w]["shape"][0] = -4; }); },
       {"tensor 'lstm0.input_to_gate.forget': shape[0] is -4 but must be an integer >= 0"}},
      {"dimensions whose product overflows",
       [=](const std::string& v) {
         return WithHeader(v, [&](FileParts* p) {
           p->header[w]["shape"] = {int64_t{1} << 32, int64_t{1} << 32, int64_t{1} << 32};
         });
       },
       {"has more elements than 2^64 - 1"}},
      {"byte count that overflows",
       [](const std::string& v) {
         return WithHeader(v, [](FileParts* p) {
           p->header["lstm0.gate_bias.forget"]["shape"] = {int64_t{1} << 62, 2};
         });
       },
       {"of dtype I32 needs more than 2^64 - 1 bytes"}},
      {"too many dimensions",
       [=](const std::string& v) {
         return WithHeader(v, [&](FileParts* p) { p->header[w]["shape"] = std::vector<int>(9, 1); });
       },
       {"shape has 9 dimensions but must have at most 8"}},
      {"unknown descriptor key",
       [=](const std::string& v) { return WithHeader(v, [&](FileParts* p) { p->header[w]["scale"] = 1; }); },
       {"key 'scale' is not one of dtype, shape, data_offsets"}},
      {"offsets past the end of the data",
       [=](const std::string& v) {
         return WithHeader(v, [&](FileParts* p) { p->header[w]["data_offsets"][1] = p->data.size() + 100; });
       },
       {"tensor 'lstm0.input_to_gate.forget': data_offsets", "end past the data section"}},
      {"offsets reversed",
       [=](const std::string& v) {
         return WithHeader(v, [&](FileParts* p) { p->header[w]["data_offsets"] = {8, 4}; });
       },
       {"must satisfy 0 <= begin <= end"}},
      {"negative offset",
       [=](const std::string& v) { return WithHeader(v, [&](FileParts* p) { p->header[w]["data_offsets"][0] = -1; }); },
       {"must satisfy 0 <= begin <= end"}},
      {"overlapping tensors",
       [=](const std::string& v) {
         return WithHeader(v, [&](FileParts* p) {
           auto& o = p->header[w]["data_offsets"];
           const int64_t b = o[0], e = o[1];
           ASSERT_GT(b, 0);
           o = {b - 1, e - 1};
         });
       },
       {"overlap tensor"}},
      {"gap between tensors",
       [](const std::string& v) {
         return WithHeader(v, [](FileParts* p) {
           // The last tensor moves one byte later; a padding byte fills the gap.
           std::string last;
           uint64_t max_b = 0;
           for (auto& [k, d] : p->header.items()) {
             if (k != "__metadata__" && d["data_offsets"][0].get<uint64_t>() >= max_b) {
               max_b = d["data_offsets"][0];
               last = k;
             }
           }
           p->data.insert(max_b, 1, '\0');
           p->header[last]["data_offsets"] = {max_b + 1, p->header[last]["data_offsets"][1].get<uint64_t>() + 1};
         });
       },
       {"must begin at", "(tensors are contiguous, with no gap)"}},
      {"trailing garbage after the last tensor",
       [](const std::string& v) { return v + "garbage"; },
       {"7 bytes of trailing data"}},
      // --- tensors against the graph
      {"missing tensor",
       [=](const std::string& v) { return WithHeader(v, [&](FileParts* p) { RemoveTensor(p, w); }); },
       {"tensor 'lstm0.input_to_gate.forget' is missing (I8 " + cell_input + ", layer 'lstm0': [n_cell, n_input])"}},
      {"wrong tensor dtype (F32 for I32)",
       [](const std::string& v) {
         return WithHeader(v, [](FileParts* p) { p->header["lstm0.gate_bias.forget"]["dtype"] = "F32"; });
       },
       {"tensor 'lstm0.gate_bias.forget' has dtype F32 but must be I32 (layer 'lstm0': [n_cell])"}},
      {"wrong tensor dtype (F32 for I8)",
       [=](const std::string& v) {
         // The same bytes seen as F32: a quarter of the elements, so the byte count still matches.
         return WithHeader(v, [&](FileParts* p) {
           RemoveTensor(p, w);
           AppendTensor(p, w, "F32", {c.n_cell * c.n_input}, std::string(4 * c.n_cell * c.n_input, '\0'));
         });
       },
       {"tensor 'lstm0.input_to_gate.forget' has dtype F32 but must be I8"}},
      {"wrong tensor shape",
       [=](const std::string& v) {
         return WithHeader(v, [&](FileParts* p) { p->header[w]["shape"] = {c.n_input, c.n_cell}; });
       },
       {"tensor 'lstm0.input_to_gate.forget' has shape " + input_cell + " but must be " + cell_input}},
      {"tensor used by no layer",
       [](const std::string& v) {
         return WithHeader(v, [](FileParts* p) { AppendTensor(p, "lstm0.extra", "I8", {4}, "abcd"); });
       },
       {"tensor 'lstm0.extra' is not used by any layer of the graph"}},
      {"PWL table length differs from the graph",
       [=](const std::string& v) {
         return WithGraph(v, [&](ojson* g) {
           params(g)["pwl_sigmoid"]["pieces"] = params(g)["pwl_sigmoid"]["pieces"].get<int>() + 1;
         });
       },
       {"tensor 'lstm0.pwl_sigmoid.knot' has shape", "layer 'lstm0': [params.pwl_sigmoid.pieces]"}},
      {"PWL knots not ascending",
       [](const std::string& v) {
         return WithHeader(v, [](FileParts* p) {
           const uint64_t b = p->header["lstm0.pwl_sigmoid.knot"]["data_offsets"][0];
           p->data.replace(b + 4, 4, p->data.substr(b, 4));  // knot[1] = knot[0]
         });
       },
       {"layer 'lstm0': TfliteLstmParams: pwl_sigmoid: PwlTable: knot[1]", "but must be > knot[i-1]"}},
      // --- the graph
      {"graph without layers",
       [](const std::string& v) { return WithGraph(v, [](ojson* g) { (*g)["layers"] = ojson::array(); }); },
       {"model.irnn: graph: layers has 0 elements but must have 1 to 1024"}},
      {"unknown graph field",
       [](const std::string& v) { return WithGraph(v, [](ojson* g) { (*g)["edges"] = 1; }); },
       {"graph: the graph has an unknown field \"edges\""}},
      {"bad layer name",
       [](const std::string& v) { return WithGraph(v, [](ojson* g) { (*g)["layers"][0]["name"] = "lstm.0"; }); },
       {"graph: layers[0].name is \"lstm.0\" but must hold only A-Z, a-z, 0-9 and _"}},
      {"duplicate layer names",
       [](const std::string& v) { return WithGraph(v, [](ojson* g) { (*g)["layers"].push_back((*g)["layers"][0]); }); },
       {"graph: layers[1].name is \"lstm0\", which is also the name of layers[0]"}},
      {"unknown layer type",
       [](const std::string& v) { return WithGraph(v, [](ojson* g) { (*g)["layers"][0]["type"] = "nosuch"; }); },
       {"graph: layer 'lstm0': type is \"nosuch\" but must be one of \"tflite_lstm\", \"embedding\", \"linear\""}},
      {"bad enum value (rounding)",
       [=](const std::string& v) { return WithGraph(v, [&](ojson* g) { config(g)["rounding"] = "triple"; }); },
       {"layer 'lstm0': config.rounding is \"triple\" but must be one of \"double\", \"single\""}},
      {"bad enum value (activation)",
       [=](const std::string& v) { return WithGraph(v, [&](ojson* g) { config(g)["activation"] = 2; }); },
       {"config.activation is 2 but must be one of \"fixed_point\", \"pwl\""}},
      {"dimension out of range",
       [=](const std::string& v) { return WithGraph(v, [&](ojson* g) { config(g)["n_cell"] = 0; }); },
       {"layer 'lstm0': config.n_cell is 0 but must be an integer in [1, 65536]"}},
      {"missing config field",
       [=](const std::string& v) { return WithGraph(v, [&](ojson* g) { config(g).erase("use_cifg"); }); },
       {"layer 'lstm0': config.use_cifg is missing"}},
      {"unknown config field",
       [=](const std::string& v) { return WithGraph(v, [&](ojson* g) { config(g)["use_magic"] = true; }); },
       {"layer 'lstm0': config has an unknown field \"use_magic\""}},
      {"wrong JSON type",
       [=](const std::string& v) { return WithGraph(v, [&](ojson* g) { config(g)["use_peephole"] = 1; }); },
       {"config.use_peephole is 1 but must be true or false"}},
      {"entry for a gate the configuration lacks",
       [=](const std::string& v) {
         return WithGraph(v, [&](ojson* g) {
           params(g)["cell_to_gate_scale"]["cell"] = {{"multiplier", 0}, {"shift", 0}};
         });
       },
       {"params.cell_to_gate_scale.cell is present but must be absent: the cell gate has no peephole"}},
      {"invalid multiplier shift",
       [=](const std::string& v) {
         return WithGraph(v, [&](ojson* g) { params(g)["input_to_gate_scale"]["forget"]["shift"] = 40; });
       },
       {"layer 'lstm0': TfliteLstmParams: input_to_gate_scale[forget].shift is 40 but must be in [-31, 30]"}},
      {"invalid multiplier value",
       [=](const std::string& v) {
         return WithGraph(v, [&](ojson* g) { params(g)["hidden_scale"]["multiplier"] = 5; });
       },
       {"TfliteLstmParams: hidden_scale.multiplier is 5 but must be 0 or in [2^30, 2^31)"}},
      {"multiplier outside int32",
       [=](const std::string& v) {
         return WithGraph(v, [&](ojson* g) { params(g)["hidden_scale"]["multiplier"] = int64_t{1} << 31; });
       },
       {"params.hidden_scale.multiplier is 2147483648 but must be an integer in [-2147483648, 2147483647]"}},
      {"cell scale out of range",
       [=](const std::string& v) { return WithGraph(v, [&](ojson* g) { params(g)["cell_scale"] = -3; }); },
       {"TfliteLstmParams: cell_scale is -3 but must be in [-15, -9]"}},
      {"zero point out of range",
       [=](const std::string& v) { return WithGraph(v, [&](ojson* g) { params(g)["output_zp"] = 300; }); },
       {"TfliteLstmParams: output_zp is 300 but must be in [-128, 127]"}},
      {"clip outside its type",
       [=](const std::string& v) { return WithGraph(v, [&](ojson* g) { params(g)["quantized_proj_clip"] = 200; }); },
       {"params.quantized_proj_clip is 200 but must be an integer in [-128, 127]"}},
      {"negative clip",
       [=](const std::string& v) { return WithGraph(v, [&](ojson* g) { params(g)["quantized_cell_clip"] = -1; }); },
       {"TfliteLstmParams: quantized_cell_clip is -1 but must be >= 0"}},
  };
}

TEST(ModelFileMalformed, EachKindRefusedWithAMessageNamingTheProblem) {
  const std::string valid = Serialize(OneLayer(FullLayer()));
  Model m;
  ASSERT_TRUE(Parse(valid, &m).ok());
  const std::vector<BadCase> cases = BadCases();
  std::set<std::string> kinds;
  for (const BadCase& bad : cases) {
    SCOPED_TRACE(bad.what);
    EXPECT_TRUE(kinds.insert(bad.what).second) << "duplicate case name";
    const std::string bytes = bad.make(valid);
    ASSERT_NE(bytes, valid);
    Model out;
    out.metadata["sentinel"] = "unchanged";
    const Status s = Parse(bytes, &out);
    ASSERT_FALSE(s.ok()) << "accepted";
    EXPECT_EQ(s.message().rfind("model.irnn: ", 0), 0u) << s.message();
    for (const std::string& e : bad.expect) {
      EXPECT_NE(s.message().find(e), std::string::npos) << "message: " << s.message() << "\nwanted: " << e;
    }
    EXPECT_EQ(out.metadata.at("sentinel"), "unchanged") << "a refused file must leave the output alone";
    std::cout << "[ refused  ] " << bad.what << ": " << s.message().substr(0, 300) << "\n";
  }
  EXPECT_GE(cases.size(), 50u);
}

TEST(ModelFileMalformed, CifgLayerRefusesAnInputGateEntry) {
  const std::string valid = Serialize(OneLayer(CifgLayer()));
  const std::string bytes = WithGraph(valid, [](ojson* g) {
    (*g)["layers"][0]["params"]["input_to_gate_scale"]["input"] = {{"multiplier", 1 << 30}, {"shift", 0}};
  });
  Model m;
  const Status s = Parse(bytes, &m);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("params.input_to_gate_scale.input is present but must be absent: config.use_cifg is "
                             "true (no input gate)"),
            std::string::npos)
      << s.message();
}

// ---------------------------------------------------------------------------------------------------
// Fuzzing: every outcome is ok or a clean error. An accepted model must also build and run.

void CheckOutcome(const std::string& bytes, int* ok, int* refused) {
  Model m;
  const Status s = Parse(bytes, &m);
  if (!s.ok()) {
    ++*refused;
    ASSERT_EQ(s.message().rfind("model.irnn: ", 0), 0u) << s.message();
    return;
  }
  ++*ok;
  for (const ModelLayer& layer : m.layers) {
    std::unique_ptr<TfliteLstm> lstm;
    const Status c = TfliteLstm::Create(layer.lstm, KernelPath::kScalar, &lstm);
    ASSERT_TRUE(c.ok()) << "accepted but not creatable: " << c.message();
    TfliteLstmState state;
    ASSERT_TRUE(lstm->NewState(2, &state).ok());
    std::vector<int8_t> x(static_cast<size_t>(3) * 2 * layer.lstm.config.n_input, 37);
    std::vector<int8_t> y(static_cast<size_t>(3) * 2 * layer.lstm.config.n_output);
    ASSERT_TRUE(lstm->Run(x.data(), 3, &state, y.data()).ok());
  }
}

TEST(ModelFileFuzz, EveryTruncationIsRefused) {
  const std::string valid = Serialize(OneLayer(FullLayer()));
  int ok = 0, refused = 0;
  for (size_t n = 0; n < valid.size(); ++n) {
    CheckOutcome(valid.substr(0, n), &ok, &refused);
    if (::testing::Test::HasFatalFailure()) return;
  }
  EXPECT_EQ(ok, 0);
  EXPECT_EQ(refused, static_cast<int>(valid.size()));
}

TEST(ModelFileFuzz, RandomByteFlipsInsertionsAndDeletions) {
  const uint64_t seed = 0xF022ED;
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const std::string valid = Serialize(OneLayer(FullLayer()));
  uint64_t header_end = 0;
  for (int i = 7; i >= 0; --i) header_end = (header_end << 8) | static_cast<uint8_t>(valid[i]);
  header_end += 8;
  const char interesting[] = {0,
                              1,
                              '"',
                              '\\',
                              '{',
                              '}',
                              '[',
                              ']',
                              ',',
                              ':',
                              '-',
                              '0',
                              '9',
                              '.',
                              'e',
                              ' ',
                              static_cast<char>(0x7F),
                              static_cast<char>(0x80),
                              static_cast<char>(0xFF)};
  int ok = 0, refused = 0;
  for (int iter = 0; iter < 6000; ++iter) {
    std::string bytes = valid;
    // Three quarters of the mutations hit the length field or the header, where the structure is.
    auto pos = [&]() -> size_t { return rng() % 4 != 0 ? rng() % header_end : rng() % bytes.size(); };
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits && !bytes.empty(); ++e) {
      const size_t p = std::min(pos(), bytes.size() - 1);
      switch (rng() % 6) {
        case 0: bytes[p] = static_cast<char>(bytes[p] ^ (1 << (rng() % 8))); break;
        case 1: bytes[p] = interesting[rng() % sizeof(interesting)]; break;
        case 2: bytes[p] = static_cast<char>(rng()); break;
        case 3: bytes.insert(p, 1, interesting[rng() % sizeof(interesting)]); break;
        case 4: bytes.erase(p, 1 + rng() % 8); break;
        default: bytes.resize(p); break;
      }
    }
    CheckOutcome(bytes, &ok, &refused);
    if (::testing::Test::HasFatalFailure()) return;
  }
  // Not vacuous: both outcomes happen (flips in weights are valid models).
  EXPECT_GT(ok, 50);
  EXPECT_GT(refused, 3000);
  RecordProperty("accepted", ok);
  RecordProperty("refused", refused);
}

// Every integer and boolean of the graph and of the tensor descriptors, set to extreme values and to
// wrong types, one at a time.
TEST(ModelFileFuzz, EveryHeaderAndGraphLeafSetToExtremes) {
  const std::string valid = Serialize(OneLayer(FullLayer()));
  const FileParts parts = Split(valid);
  const ojson graph = Graph(parts);
  const std::vector<ojson> extremes = {0,
                                       1,
                                       -1,
                                       2,
                                       7,
                                       8,
                                       31,
                                       32,
                                       -32,
                                       65536,
                                       65537,
                                       1 << 30,
                                       (int64_t{1} << 31) - 1,
                                       int64_t{1} << 31,
                                       -(int64_t{1} << 31),
                                       -(int64_t{1} << 31) - 1,
                                       std::numeric_limits<int64_t>::max(),
                                       std::numeric_limits<int64_t>::min(),
                                       true,
                                       false,
                                       nullptr,
                                       "x",
                                       ojson::array(),
                                       ojson::object()};
  int ok = 0, refused = 0, leaves = 0;
  auto mutate_leaves = [&](const ojson& doc, const std::function<std::string(const ojson&)>& rebuild) {
    const ojson flat = doc.flatten();
    for (const auto& [ptr, value] : flat.items()) {
      if (!value.is_number_integer() && !value.is_boolean()) continue;
      ++leaves;
      const ojson::json_pointer jp(ptr);
      std::vector<ojson> tries = extremes;
      if (value.is_number_integer()) {
        tries.push_back(value.get<int64_t>() + 1);
        tries.push_back(value.get<int64_t>() - 1);
      }
      for (const ojson& t : tries) {
        ojson changed = doc;
        changed[jp] = t;
        CheckOutcome(rebuild(changed), &ok, &refused);
        if (::testing::Test::HasFatalFailure()) return;
      }
    }
  };
  mutate_leaves(graph, [&](const ojson& g) {
    FileParts p = parts;
    SetGraph(&p, g);
    return Join(p);
  });
  ojson descriptors = parts.header;
  descriptors.erase("__metadata__");
  mutate_leaves(descriptors, [&](const ojson& d) {
    FileParts p = parts;
    for (const auto& [k, v] : d.items()) p.header[k] = v;
    return Join(p);
  });
  EXPECT_GT(leaves, 150);
  EXPECT_GT(ok, 10);  // some values are valid variants (another zero point, clip, table bound, ...)
  EXPECT_GT(refused, 3000);
  RecordProperty("accepted", ok);
  RecordProperty("refused", refused);
}

}  // namespace
}  // namespace irnn
