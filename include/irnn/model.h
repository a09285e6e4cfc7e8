// The .irnn model file (DESIGN.md contract 4; the format: docs/model_format.md). One file holds a whole
// model: the safetensors byte layout (8-byte little-endian header length, a JSON header, raw
// little-endian tensors), so Python's `safetensors` opens it; the graph (its layers and every integer
// parameter) is a JSON document stored as the string __metadata__["graph"]; weights, effective biases and
// PWL tables are I8/I16/I32 tensors named "<layer>.<role>". The file holds no floating-point value.
//
// Reading validates everything before it is used: header length against the file size and a limit,
// the JSON, every dtype, shape (overflow-safe), byte count and offset, the graph schema, every tensor a
// layer needs (present, right dtype and shape, none left over), enums, and finally each layer's own
// validation (ValidateTfliteLstmParams, ValidatePwlTable, ValidateEmbeddingParams, ValidateLinearParams).
// A bad file gets a Status whose message names
// the file and the field; it never crashes the reader, and every allocation is bounded by the file's
// size and fixed limits (a tensor is allocated only once its descriptor was checked against the bytes
// really present). Writing refuses a model that reading would refuse.
//
// This is not a graph executor: a Model is the list of layers; running them is the caller's business.
// One composition is known here: a language model (irnn/lm.h) is the layer list embedding,
// tflite_lstm..., linear (LanguageModelFromModel, ModelFromLanguageModel).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "irnn/attention.h"
#include "irnn/lm.h"
#include "irnn/status.h"
#include "irnn/tflite_lstm.h"

namespace irnn {

// The kinds of layer a model file can hold. Later formats add more; the graph names each by a string
// ("tflite_lstm"), never by this number.
enum class LayerKind : uint8_t {
  kTfliteLstm = 0,  // TfliteLstmParams
  kEmbedding = 1,   // EmbeddingParams
  kLinear = 2,      // LinearParams
  kAttention = 4,   // AttentionParams (graph type "attention")
};

// "tflite_lstm", "embedding", "linear": the graph's "type" string of a layer kind.
const char* LayerKindName(LayerKind kind);

struct ModelLayer {
  ModelLayer() = default;
  ModelLayer(std::string layer_name, LayerKind layer_kind, TfliteLstmParams params)
      : name(std::move(layer_name)), kind(layer_kind), lstm(std::move(params)) {}
  ModelLayer(std::string layer_name, EmbeddingParams params)
      : name(std::move(layer_name)), kind(LayerKind::kEmbedding), embedding(std::move(params)) {}
  ModelLayer(std::string layer_name, LinearParams params)
      : name(std::move(layer_name)), kind(LayerKind::kLinear), linear(std::move(params)) {}
  ModelLayer(std::string layer_name, AttentionParams params)
      : name(std::move(layer_name)), kind(LayerKind::kAttention), attention(std::move(params)) {}

  std::string name;  // 1-64 characters of [A-Za-z0-9_], unique in the model; prefixes its tensors' names
  LayerKind kind = LayerKind::kTfliteLstm;
  TfliteLstmParams lstm;      // kind == kTfliteLstm
  EmbeddingParams embedding;  // kind == kEmbedding
  LinearParams linear;        // kind == kLinear
  AttentionParams attention;  // kind == kAttention
};

struct Model {
  std::vector<ModelLayer> layers;  // 1..kMaxModelLayers, in file order
  // Free-form strings stored next to the graph in the safetensors __metadata__ (valid UTF-8; the keys
  // "format", "version" and "graph" are the format's own and may not be used).
  std::map<std::string, std::string> metadata;
};

inline constexpr size_t kMaxModelLayers = 1024;
inline constexpr uint64_t kMaxModelHeaderBytes = uint64_t{16} << 20;  // the JSON header, graph included

// The bytes of a .irnn file for `model`. Validates the model first (as reading would).
Status SerializeModel(const Model& model, std::string* bytes);
// SerializeModel, then writes the bytes to `path` (replacing the file).
Status WriteModel(const Model& model, const std::string& path);

// Parses and validates a .irnn file held in memory. `source` names it in error messages.
Status ParseModel(const uint8_t* data, size_t size, Model* model, const std::string& source = "irnn model");
// Reads and validates the .irnn file at `path`; error messages begin with the path. The file is read
// piecewise: the 8-byte length, the header, then each tensor straight into its vector.
Status ReadModel(const std::string& path, Model* model);

// The language model held by `model`: its layers must be, in order, one embedding, 1 to
// kMaxLmLstmLayers tflite_lstm, one linear (the decoder), chaining as ValidateLanguageModelParams
// requires. Errors name the layer ("LanguageModelFromModel: layers[1] ('lstm0') ...").
Status LanguageModelFromModel(const Model& model, LanguageModelParams* params);
// The layers of `params` (validated first) as model->layers, named "embedding", "lstm0", "lstm1", ...,
// "decoder". model->metadata is left as it is.
Status ModelFromLanguageModel(const LanguageModelParams& params, Model* model);

}  // namespace irnn
