// The language model in a .irnn file (irnn/model.h, docs/model_format.md §5-§7): the layout of the
// "embedding" and "linear" layer types, malformed files of those types (wrong shapes and dtypes,
// missing or stray tensors, bad config and params, invalid multipliers), models whose layers are each
// valid but do not form a language model (order, count, chain), and fuzzing of a language-model file
// where every outcome is a clean ok (then the model builds and runs) or a clean error.

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <iostream>
#include <limits>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "irnn/lm.h"
#include "irnn/model.h"
#include "support/file_parts.h"
#include "support/random_lm.h"

namespace irnn {
namespace {

using testing::FileParts;
using testing::ojson;

using testing::Parse;
using testing::Serialize;

// A small language model (vocab 50, dim 16, two LSTMs, per-channel) as a Model.
const testing::RandomLm& Lm() {
  static const testing::RandomLm r = [] {
    testing::LmOptions o;
    o.per_channel = true;
    o.max_cell = 12;
    return testing::MakeRandomLm(20240607, o);
  }();
  return r;
}

Model LmModel() {
  Model m;
  const Status s = ModelFromLanguageModel(Lm().params, &m);
  EXPECT_TRUE(s.ok()) << s.message();
  return m;
}

TEST(LmModelFile, LayoutOfEmbeddingAndLinearLayers) {
  const LanguageModelParams& p = Lm().params;
  const FileParts parts = testing::SplitFile(Serialize(LmModel()));
  const ojson graph = testing::GraphOf(parts);
  ASSERT_EQ(graph["layers"].size(), 4u);
  const ojson& e = graph["layers"][0];
  EXPECT_EQ(e["type"], "embedding");
  EXPECT_EQ(e["config"], (ojson{{"vocab", 50}, {"dim", 16}}));
  EXPECT_EQ(e["params"], (ojson{{"zero_point", p.embedding.zero_point}}));
  const ojson& d = graph["layers"][3];
  EXPECT_EQ(d["type"], "linear");
  EXPECT_EQ(d["config"]["n_in"], p.decoder.n_in);
  EXPECT_EQ(d["config"]["n_out"], 50);
  EXPECT_EQ(d["params"], ojson::object());
  EXPECT_EQ(parts.header["embedding.table"]["dtype"], "I8");
  EXPECT_EQ(parts.header["embedding.table"]["shape"], ojson::array({50, 16}));
  EXPECT_EQ(parts.header["decoder.weights"]["shape"], ojson::array({50, p.decoder.n_in}));
  EXPECT_EQ(parts.header["decoder.effective_bias"]["shape"], ojson::array({50}));
  EXPECT_EQ(parts.header["decoder.channel_scale"]["dtype"], "I32");
  EXPECT_EQ(parts.header["decoder.channel_scale"]["shape"], ojson::array({50, 2}));
  // Canonical: reading and writing again gives the same bytes.
  Model back;
  ASSERT_TRUE(Parse(Serialize(LmModel()), &back).ok());
  EXPECT_EQ(Serialize(back), Serialize(LmModel()));
  EXPECT_EQ(back.layers[0].kind, LayerKind::kEmbedding);
  EXPECT_EQ(back.layers[3].kind, LayerKind::kLinear);
  EXPECT_STREQ(LayerKindName(LayerKind::kEmbedding), "embedding");
  EXPECT_STREQ(LayerKindName(LayerKind::kLinear), "linear");
}

// Multipliers with zero low 16 bits (the exporter's QuantizeMultiplierQ15) are stored compactly:
// NAME.mantissa I16 [n] and NAME.shift I8 [n] instead of NAME I32 [n, 2] (docs/model_format.md §2.4).
LanguageModelParams WithQ15Multipliers(LanguageModelParams p) {
  auto clear = [](std::vector<QuantizedMultiplier>* v) {
    for (QuantizedMultiplier& q : *v) q.multiplier &= ~0xFFFF;  // stays in [2^30, 2^31)
  };
  clear(&p.decoder.channel_scale);
  for (TfliteLstmParams& l : p.lstm) {
    for (int g = 0; g < 4; ++g) {
      clear(&l.input_to_gate_channel_scale[g]);
      clear(&l.recurrent_to_gate_channel_scale[g]);
    }
    clear(&l.projection_channel_scale);
  }
  return p;
}

Model ModelOf(const LanguageModelParams& p) {
  Model m;
  const Status s = ModelFromLanguageModel(p, &m);
  EXPECT_TRUE(s.ok()) << s.message();
  return m;
}

TEST(LmModelFile, Q15ChannelScalesAreStoredInThreeBytesAndReadBackExactly) {
  const LanguageModelParams p = WithQ15Multipliers(Lm().params);
  const std::string compact = Serialize(ModelOf(p));
  const std::string full = Serialize(LmModel());
  const FileParts parts = testing::SplitFile(compact);
  EXPECT_FALSE(parts.header.contains("decoder.channel_scale"));
  EXPECT_EQ(parts.header["decoder.channel_scale.mantissa"]["dtype"], "I16");
  EXPECT_EQ(parts.header["decoder.channel_scale.mantissa"]["shape"], ojson::array({50}));
  EXPECT_EQ(parts.header["decoder.channel_scale.shift"]["dtype"], "I8");
  int64_t channels = 0;  // multipliers in the file, every one of them compact
  for (const auto& [key, desc] : parts.header.items()) {
    if (key == "__metadata__" || key.find("channel_scale") == std::string::npos) continue;
    const bool mantissa = key.size() > 9 && key.compare(key.size() - 9, 9, ".mantissa") == 0;
    const bool shift = key.size() > 6 && key.compare(key.size() - 6, 6, ".shift") == 0;
    EXPECT_TRUE(mantissa || shift) << key << " is in the full encoding";
    if (mantissa) channels += desc["shape"][0].get<int64_t>();
  }
  EXPECT_GT(channels, 50 + 2 * 4 * 2);  // the decoder's and at least 2 layers x 4 gates x 2 matrices
  // The payload shrinks by 5 bytes per multiplier (8 -> 2 + 1).
  EXPECT_EQ(static_cast<int64_t>(testing::SplitFile(full).data.size() - parts.data.size()), 5 * channels);
  // Read back: the same multipliers, and the same bytes when written again.
  Model back;
  ASSERT_TRUE(Parse(compact, &back).ok());
  EXPECT_EQ(Serialize(back), compact);
  LanguageModelParams q;
  const Status s = LanguageModelFromModel(back, &q);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_TRUE(q.decoder.channel_scale == p.decoder.channel_scale);
  EXPECT_TRUE(q.lstm[1].recurrent_to_gate_channel_scale[3] == p.lstm[1].recurrent_to_gate_channel_scale[3]);
  // One multiplier with a nonzero low bit: that tensor falls back to the full encoding, the others stay compact.
  LanguageModelParams mixed = p;
  mixed.decoder.channel_scale[7].multiplier |= 1;
  const FileParts mixed_parts = testing::SplitFile(Serialize(ModelOf(mixed)));
  EXPECT_EQ(mixed_parts.header["decoder.channel_scale"]["dtype"], "I32");
  EXPECT_FALSE(mixed_parts.header.contains("decoder.channel_scale.mantissa"));
  int lstm_compact = 0;
  for (const auto& [key, desc] : mixed_parts.header.items()) {
    lstm_compact += key.rfind("lstm", 0) == 0 && key.find(".mantissa") != std::string::npos;
  }
  EXPECT_GT(lstm_compact, 0);
}

TEST(LmModelFile, MalformedQ15ChannelScalesAreRefused) {
  const std::string valid = Serialize(ModelOf(WithQ15Multipliers(Lm().params)));
  auto refused = [&](const std::function<void(FileParts*)>& edit, const std::string& want) {
    FileParts f = testing::SplitFile(valid);
    edit(&f);
    Model out;
    const Status s = Parse(testing::JoinFile(f), &out);
    ASSERT_FALSE(s.ok()) << "accepted; wanted: " << want;
    EXPECT_NE(s.message().find(want), std::string::npos) << s.message();
  };
  refused([](FileParts* f) { testing::RemoveTensorFrom(f, "decoder.channel_scale.shift"); },
          "tensor 'decoder.channel_scale.shift' is missing (I8 [50]");
  refused([](FileParts* f) {
            testing::RemoveTensorFrom(f, "decoder.channel_scale.mantissa");
            testing::AppendTensorTo(f, "decoder.channel_scale.mantissa", "I32", {50}, std::string(200, '\0'));
          },
          "tensor 'decoder.channel_scale.mantissa' has dtype I32 but must be I16");
  refused([](FileParts* f) {
            testing::RemoveTensorFrom(f, "decoder.channel_scale.shift");
            testing::AppendTensorTo(f, "decoder.channel_scale.shift", "I8", {49}, std::string(49, '\0'));
          },
          "tensor 'decoder.channel_scale.shift' has shape [49] but must be [50]");
  // A mantissa below 2^14 is a multiplier below 2^30.
  refused([](FileParts* f) {
            const uint64_t b = f->header["decoder.channel_scale.mantissa"]["data_offsets"][0];
            f->data[b + 2 * 3] = 0;
            f->data[b + 2 * 3 + 1] = 0x20;  // 0x2000 = 2^13
          },
          "LinearParams: channel_scale[3].multiplier is 536870912 but must be 0 or in [2^30, 2^31)");
  refused([](FileParts* f) {
            const uint64_t b = f->header["decoder.channel_scale.shift"]["data_offsets"][0];
            f->data[b + 5] = 40;
          },
          "LinearParams: channel_scale[5].shift is 40 but must be in [-31, 30]");
  // Both encodings at once: the full one is read, the compact pair is a stray tensor.
  std::vector<int32_t> full_pairs;
  for (int r = 0; r < 50; ++r) full_pairs.insert(full_pairs.end(), {1 << 30, 0});
  refused([&](FileParts* f) {
            testing::AppendTensorTo(f, "decoder.channel_scale", "I32", {50, 2},
                                    testing::I32Bytes(full_pairs));
          },
          "tensor 'decoder.channel_scale.mantissa' is not used by any layer of the graph");
}

TEST(LmModelFile, WriterRefusesInvalidLayers) {
  std::string bytes;
  Model m = LmModel();
  m.layers[0].embedding.table.pop_back();
  Status s = SerializeModel(m, &bytes);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("SerializeModel: layer 'embedding': EmbeddingParams: table has"), std::string::npos)
      << s.message();
  m = LmModel();
  m.layers[3].linear.channel_scale[0].shift = -32;
  s = SerializeModel(m, &bytes);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("layer 'decoder': LinearParams: channel_scale[0].shift is -32"), std::string::npos)
      << s.message();
  LanguageModelParams bad = Lm().params;
  bad.decoder.n_out = 7;
  s = ModelFromLanguageModel(bad, &m);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message().rfind("ModelFromLanguageModel: ", 0), 0u) << s.message();
}

// ---- Malformed files of the new layer types ------------------------------------------------------------

struct BadCase {
  std::string what;
  std::function<void(FileParts*)> edit;
  std::vector<std::string> expect;
};

std::function<void(FileParts*)> EditGraph(const std::function<void(ojson*)>& edit) {
  return [edit](FileParts* f) {
    ojson g = testing::GraphOf(*f);
    edit(&g);
    testing::SetGraphOf(f, g);
  };
}

std::vector<BadCase> BadCases() {
  const LanguageModelParams& p = Lm().params;
  const std::string n_in = std::to_string(p.decoder.n_in);
  auto emb = [](ojson* g) -> ojson& { return (*g)["layers"][0]; };
  auto dec = [](ojson* g) -> ojson& { return (*g)["layers"][3]; };
  return {
      {"embedding table missing",
       [](FileParts* f) { testing::RemoveTensorFrom(f, "embedding.table"); },
       {"tensor 'embedding.table' is missing (I8 [50, 16], layer 'embedding': [vocab, dim])"}},
      {"embedding table of the wrong shape",
       [](FileParts* f) { f->header["embedding.table"]["shape"] = {16, 50}; },
       {"tensor 'embedding.table' has shape [16, 50] but must be [50, 16]"}},
      {"embedding table of the wrong dtype",
       [](FileParts* f) {
         testing::RemoveTensorFrom(f, "embedding.table");
         testing::AppendTensorTo(f, "embedding.table", "I16", {50, 8}, std::string(800, '\0'));
       },
       {"tensor 'embedding.table' has dtype I16 but must be I8"}},
      {"embedding vocab does not match the table",
       EditGraph([=](ojson* g) { emb(g)["config"]["vocab"] = 51; }),
       {"tensor 'embedding.table' has shape [50, 16] but must be [51, 16]"}},
      {"embedding vocab zero",
       EditGraph([=](ojson* g) { emb(g)["config"]["vocab"] = 0; }),
       {"layer 'embedding': config.vocab is 0 but must be an integer in [1, 16777216]"}},
      {"embedding dim too large",
       EditGraph([=](ojson* g) { emb(g)["config"]["dim"] = 65537; }),
       {"layer 'embedding': config.dim is 65537 but must be an integer in [1, 65536]"}},
      {"embedding zero point out of range",
       EditGraph([=](ojson* g) { emb(g)["params"]["zero_point"] = 200; }),
       {"layer 'embedding': params.zero_point is 200 but must be an integer in [-128, 127]"}},
      {"embedding params missing",
       EditGraph([=](ojson* g) { emb(g).erase("params"); }),
       {"layer 'embedding': params is missing"}},
      {"embedding unknown config field",
       EditGraph([=](ojson* g) { emb(g)["config"]["padding_idx"] = 0; }),
       {"layer 'embedding': config has an unknown field \"padding_idx\""}},
      {"embedding stray tensor",
       [](FileParts* f) { testing::AppendTensorTo(f, "embedding.bias", "I32", {1}, testing::I32Bytes({0})); },
       {"tensor 'embedding.bias' is not used by any layer of the graph"}},
      {"linear weights missing",
       [](FileParts* f) { testing::RemoveTensorFrom(f, "decoder.weights"); },
       {"tensor 'decoder.weights' is missing (I8 [50, " + n_in + "], layer 'decoder': [n_out, n_in])"}},
      {"linear weights of the wrong shape",
       [=](FileParts* f) { f->header["decoder.weights"]["shape"] = {p.decoder.n_in, 50}; },
       {"tensor 'decoder.weights' has shape [" + n_in + ", 50] but must be [50, " + n_in + "]"}},
      {"linear bias missing",
       [](FileParts* f) { testing::RemoveTensorFrom(f, "decoder.effective_bias"); },
       {"tensor 'decoder.effective_bias' is missing (I32 [50], layer 'decoder': [n_out])"}},
      {"linear channel scale missing",
       [](FileParts* f) { testing::RemoveTensorFrom(f, "decoder.channel_scale"); },
       {"tensor 'decoder.channel_scale' is missing (I32 [50, 2], layer 'decoder': [n_out, 2])"}},
      {"linear channel scale of the wrong shape",
       [](FileParts* f) { f->header["decoder.channel_scale"]["shape"] = {25, 4}; },
       {"tensor 'decoder.channel_scale' has shape [25, 4] but must be [50, 2]"}},
      {"linear channel scale of the wrong dtype",
       [](FileParts* f) { f->header["decoder.channel_scale"]["dtype"] = "F32"; },
       {"tensor 'decoder.channel_scale' has dtype F32 but must be I32"}},
      {"linear invalid multiplier",
       [](FileParts* f) { testing::SetI32(f, "decoder.channel_scale", 6, 1 << 29); },
       {"model.irnn: layer 'decoder': LinearParams: channel_scale[3].multiplier is 536870912 but must be 0 or in "
        "[2^30, 2^31)"}},
      {"linear negative multiplier",
       [](FileParts* f) { testing::SetI32(f, "decoder.channel_scale", 0, -5); },
       {"LinearParams: channel_scale[0].multiplier is -5"}},
      {"linear invalid shift",
       [](FileParts* f) { testing::SetI32(f, "decoder.channel_scale", 99, 31); },
       {"LinearParams: channel_scale[49].shift is 31 but must be in [-31, 30]"}},
      {"linear n_out does not match the tensors",
       EditGraph([=](ojson* g) { dec(g)["config"]["n_out"] = 49; }),
       {"tensor 'decoder.weights' has shape [50, " + n_in + "] but must be [49, " + n_in + "]"}},
      {"linear bad rounding",
       EditGraph([=](ojson* g) { dec(g)["config"]["rounding"] = "stochastic"; }),
       {"layer 'decoder': config.rounding is \"stochastic\" but must be one of \"double\", \"single\""}},
      {"linear params not empty",
       EditGraph([=](ojson* g) { dec(g)["params"]["scale"] = 1; }),
       {"layer 'decoder': params has an unknown field \"scale\""}},
      {"linear config missing n_in",
       EditGraph([=](ojson* g) { dec(g)["config"].erase("n_in"); }),
       {"layer 'decoder': config.n_in is missing"}},
      {"unknown layer type",
       EditGraph([=](ojson* g) { dec(g)["type"] = "softmax"; }),
       {"layer 'decoder': type is \"softmax\" but must be one of \"tflite_lstm\", \"embedding\", \"linear\""}},
      {"embedding read as a linear layer",
       EditGraph([=](ojson* g) { emb(g)["type"] = "linear"; }),
       {"layer 'embedding': config.n_in is missing"}},
  };
}

TEST(LmModelFileMalformed, EachKindRefusedWithAMessageNamingTheProblem) {
  const std::string valid = Serialize(LmModel());
  Model ok;
  ASSERT_TRUE(Parse(valid, &ok).ok());
  const std::vector<BadCase> cases = BadCases();
  std::set<std::string> names;
  for (const BadCase& bad : cases) {
    SCOPED_TRACE(bad.what);
    EXPECT_TRUE(names.insert(bad.what).second) << "duplicate case name";
    FileParts f = testing::SplitFile(valid);
    bad.edit(&f);
    const std::string bytes = testing::JoinFile(f);
    ASSERT_NE(bytes, valid);
    Model out;
    out.metadata["sentinel"] = "unchanged";
    const Status s = Parse(bytes, &out);
    ASSERT_FALSE(s.ok()) << "accepted";
    EXPECT_EQ(s.message().rfind("model.irnn: ", 0), 0u) << s.message();
    for (const std::string& e : bad.expect) {
      EXPECT_NE(s.message().find(e), std::string::npos) << "message: " << s.message() << "\nwanted: " << e;
    }
    EXPECT_EQ(out.metadata.at("sentinel"), "unchanged");
    std::cout << "[ refused  ] " << bad.what << ": " << s.message().substr(0, 300) << "\n";
  }
  EXPECT_GE(cases.size(), 25u);
}

// ---- Valid files that are not a language model -----------------------------------------------------

Status FromBytes(const std::string& bytes, LanguageModelParams* p) {
  Model m;
  const Status s = Parse(bytes, &m);
  EXPECT_TRUE(s.ok()) << "the file itself is valid: " << s.message();
  return LanguageModelFromModel(m, p);
}

TEST(LmModelFileChain, LayersThatDoNotFormALanguageModelAreRefused) {
  const LanguageModelParams& p = Lm().params;
  LanguageModelParams out;
  auto expect = [&](const Model& m, const std::string& fragment) {
    const Status s = FromBytes(Serialize(m), &out);
    ASSERT_FALSE(s.ok()) << fragment;
    EXPECT_EQ(s.message().rfind("LanguageModelFromModel: ", 0), 0u) << s.message();
    EXPECT_NE(s.message().find(fragment), std::string::npos) << s.message();
  };
  Model m = LmModel();
  std::swap(m.layers[0], m.layers[3]);
  expect(m, "layers[0] ('decoder') is a \"linear\" layer but must be a \"embedding\" layer");
  m = LmModel();
  std::swap(m.layers[1], m.layers[3]);
  expect(m, "layers[1] ('decoder') is a \"linear\" layer but must be a \"tflite_lstm\" layer");
  m = LmModel();
  m.layers.erase(m.layers.begin() + 1, m.layers.begin() + 3);
  expect(m, "the model has 2 layers but a language model has 3 to 66");
  m = LmModel();
  m.layers.pop_back();
  expect(m, "layers[2] ('lstm1') is a \"tflite_lstm\" layer but must be a \"linear\" layer");
  // Each layer valid, the widths do not chain.
  m = LmModel();
  m.layers[0].embedding.dim = 15;
  m.layers[0].embedding.table.resize(50 * 15);
  expect(m, "lstm[0].config.n_input is 16 but must equal embedding.dim = 15 (layers: embedding = 'embedding', "
            "lstm[0] = 'lstm0', lstm[1] = 'lstm1', decoder = 'decoder')");
  m = LmModel();
  std::swap(m.layers[1], m.layers[2]);
  if (p.lstm[1].config.n_input != 16) expect(m, "lstm[0].config.n_input is");
  m = LmModel();
  m.layers[3].linear.n_out = 40;
  m.layers[3].linear.weights.resize(static_cast<size_t>(40) * p.decoder.n_in);
  m.layers[3].linear.effective_bias.resize(40);
  m.layers[3].linear.channel_scale.resize(40);
  expect(m, "decoder.n_out is 40 but must equal embedding.vocab = 50");
  // A model of LSTM layers only (the format before the language model) is not a language model.
  Model lstm_only;
  lstm_only.layers.resize(3);
  for (int i = 0; i < 3; ++i) {
    lstm_only.layers[i].name = "l" + std::to_string(i);
    lstm_only.layers[i].lstm = p.lstm[0];
  }
  expect(lstm_only, "layers[0] ('l0') is a \"tflite_lstm\" layer but must be a \"embedding\" layer");
  EXPECT_FALSE(LanguageModelFromModel(LmModel(), nullptr).ok());
  EXPECT_FALSE(ModelFromLanguageModel(p, nullptr).ok());
}

// ---- Fuzzing -----------------------------------------------------------------------------------------

void CheckOutcome(const std::string& bytes, int* ok, int* refused) {
  Model m;
  const Status s = Parse(bytes, &m);
  if (!s.ok()) {
    ++*refused;
    ASSERT_EQ(s.message().rfind("model.irnn: ", 0), 0u) << s.message();
    return;
  }
  ++*ok;
  LanguageModelParams p;
  const Status lm_status = LanguageModelFromModel(m, &p);
  if (!lm_status.ok()) return;  // a valid file of another composition
  std::unique_ptr<LanguageModel> lm;
  const Status c = LanguageModel::Create(p, KernelPath::kAuto, &lm);
  ASSERT_TRUE(c.ok()) << "accepted but not creatable: " << c.message();
  LanguageModelState state;
  ASSERT_TRUE(lm->NewState(2, &state).ok());
  std::vector<int32_t> tokens = {0, 49, 7, 3};
  std::vector<int32_t> logits(static_cast<size_t>(4) * lm->vocab());
  ASSERT_TRUE(lm->Run(tokens.data(), 2, &state, logits.data()).ok());
}

TEST(LmModelFileFuzz, TruncationsAndRandomEditsGiveCleanOutcomes) {
  const std::string valid = Serialize(LmModel());
  int ok = 0, refused = 0;
  for (size_t n = 0; n < valid.size(); n += 1 + n / 64) {
    CheckOutcome(valid.substr(0, n), &ok, &refused);
    if (::testing::Test::HasFatalFailure()) return;
  }
  EXPECT_EQ(ok, 0) << "a truncated file was accepted";
  const uint64_t seed = 0x1A2F022;
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  uint64_t header_end = 0;
  for (int i = 7; i >= 0; --i) header_end = (header_end << 8) | static_cast<uint8_t>(valid[i]);
  header_end += 8;
  const char interesting[] = {0, 1, '"', '{', '}', '[', ']', ',', ':', '-', '0', '9', ' ', static_cast<char>(0xFF)};
  int accepted = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    std::string bytes = valid;
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits && !bytes.empty(); ++e) {
      const size_t p = std::min<size_t>(rng() % 4 != 0 ? rng() % header_end : rng() % bytes.size(), bytes.size() - 1);
      switch (rng() % 4) {
        case 0: bytes[p] = static_cast<char>(bytes[p] ^ (1 << (rng() % 8))); break;
        case 1: bytes[p] = interesting[rng() % sizeof(interesting)]; break;
        case 2: bytes[p] = static_cast<char>(rng()); break;
        default: bytes.erase(p, 1 + rng() % 4); break;
      }
    }
    const int before = ok;
    CheckOutcome(bytes, &ok, &refused);
    accepted += ok - before;
    if (::testing::Test::HasFatalFailure()) return;
  }
  EXPECT_GT(accepted, 20);   // flips in weights give valid models, which must build and run
  EXPECT_GT(refused, 1500);
}

// Every integer and boolean of the graph set to extreme values, one at a time.
TEST(LmModelFileFuzz, EveryGraphLeafSetToExtremes) {
  const std::string valid = Serialize(LmModel());
  const FileParts parts = testing::SplitFile(valid);
  const ojson graph = testing::GraphOf(parts);
  const std::vector<ojson> extremes = {0,  1, -1, 2, 31, -32, 65536, 65537, 1 << 24, (1 << 24) + 1,
                                       (int64_t{1} << 31) - 1, int64_t{1} << 31, -(int64_t{1} << 31) - 1,
                                       std::numeric_limits<int64_t>::max(), true, nullptr, "x", ojson::object()};
  int ok = 0, refused = 0, leaves = 0;
  const ojson flat = graph.flatten();
  for (const auto& [ptr, value] : flat.items()) {
    if (!value.is_number_integer() && !value.is_boolean()) continue;
    ++leaves;
    const ojson::json_pointer jp(ptr);
    for (const ojson& t : extremes) {
      ojson changed = graph;
      changed[jp] = t;
      FileParts f = parts;
      testing::SetGraphOf(&f, changed);
      CheckOutcome(testing::JoinFile(f), &ok, &refused);
      if (::testing::Test::HasFatalFailure()) return;
    }
  }
  EXPECT_GT(leaves, 40);
  EXPECT_GT(refused, 500);
}

}  // namespace
}  // namespace irnn
