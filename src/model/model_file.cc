// Reading and writing .irnn model files (irnn/model.h; docs/model_format.md). The container is in
// tensor_file.cc, the JSON in json.cc, each layer kind in its codec (tflite_lstm_codec.cc,
// embedding_codec.cc, linear_codec.cc); this file
// holds the __metadata__ keys, the graph document and the layer list, and the file I/O. Integer only:
// part of the no-float check.

#include <fstream>
#include <utility>

#include "irnn/model.h"
#include "model/attention_codec.h"
#include "model/graph_reader.h"
#include "model/json.h"
#include "model/embedding_codec.h"
#include "model/linear_codec.h"
#include "model/tensor_file.h"
#include "model/tflite_lstm_codec.h"

namespace irnn {
namespace {

constexpr const char* kFormat = "irnn";
constexpr const char* kVersion = "1";
constexpr size_t kMaxLayerName = 64;
constexpr size_t kMaxMetadataEntries = 256;  // user entries, besides format, version and graph

bool IsReservedKey(const std::string& key) { return key == "format" || key == "version" || key == "graph"; }

// Empty when `name` is a valid layer name, else why not.
std::string LayerNameProblem(const std::string& name) {
  if (name.empty() || name.size() > kMaxLayerName) {
    return "must have 1 to " + std::to_string(kMaxLayerName) + " characters";
  }
  for (const char ch : name) {
    const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_';
    if (!ok) return "must hold only A-Z, a-z, 0-9 and _ (it prefixes tensor names, with '.' as separator)";
  }
  return "";
}

// The layer's own validation, by kind.
Status ValidateLayer(const ModelLayer& layer) {
  switch (layer.kind) {
    case LayerKind::kTfliteLstm: return ValidateTfliteLstmParams(layer.lstm);
    case LayerKind::kEmbedding: return ValidateEmbeddingParams(layer.embedding);
    case LayerKind::kLinear: return ValidateLinearParams(layer.linear);
    case LayerKind::kAttention: return ValidateAttentionParams(layer.attention);
  }
  return Status::InvalidArgument("kind is " + std::to_string(static_cast<int>(layer.kind)) +
                                 " but must be a LayerKind");
}

Status ValidateModel(const Model& model, const std::string& who) {
  if (model.layers.empty() || model.layers.size() > kMaxModelLayers) {
    return Status::InvalidArgument(who + ": the model has " + std::to_string(model.layers.size()) +
                                   " layers but must have 1 to " + std::to_string(kMaxModelLayers));
  }
  std::map<std::string, size_t> names;
  for (size_t i = 0; i < model.layers.size(); ++i) {
    const ModelLayer& layer = model.layers[i];
    const std::string problem = LayerNameProblem(layer.name);
    if (!problem.empty()) {
      return Status::InvalidArgument(who + ": layers[" + std::to_string(i) + "].name '" + layer.name + "' " + problem);
    }
    if (!names.emplace(layer.name, i).second) {
      return Status::InvalidArgument(who + ": layers[" + std::to_string(i) + "].name '" + layer.name +
                                     "' is also the name of layers[" + std::to_string(names[layer.name]) + "]");
    }
    const Status s = ValidateLayer(layer);
    if (!s.ok()) return Status(s.code(), who + ": layer '" + layer.name + "': " + s.message());
  }
  if (model.metadata.size() > kMaxMetadataEntries) {
    return Status::InvalidArgument(who + ": the model has " + std::to_string(model.metadata.size()) +
                                   " metadata entries but must have at most " + std::to_string(kMaxMetadataEntries));
  }
  for (const auto& entry : model.metadata) {
    if (IsReservedKey(entry.first)) {
      return Status::InvalidArgument(who + ": metadata key '" + entry.first +
                                     "' is reserved by the format (format, version, graph)");
    }
  }
  return Status::Ok();
}

// A graph document's limits: a layer's objects nest 5 deep; the values are bounded by the layer count.
json::Limits GraphLimits() {
  json::Limits limits;
  limits.max_bytes = static_cast<size_t>(kMaxModelHeaderBytes);
  limits.max_depth = 16;
  limits.max_values = size_t{1} << 19;
  return limits;
}

Status ParseFrom(const model::ByteSource& source, const std::string& who, Model* out) {
  if (out == nullptr) return Status::InvalidArgument(who + ": model is null");
  model::TensorFileHeader header;
  IRNN_RETURN_IF_ERROR(model::ReadTensorFileHeader(source, who, &header));

  // __metadata__: format, version, graph; the rest is the user's.
  const std::string meta = who + ": header: __metadata__";
  const auto get = [&](const char* key) -> const std::string* {
    const auto it = header.metadata.find(key);
    return it == header.metadata.end() ? nullptr : &it->second;
  };
  const std::string* format = get("format");
  if (format == nullptr) return Status::DataLoss(meta + ".format is missing (not an .irnn file?)");
  if (*format != kFormat) {
    return Status::DataLoss(meta + ".format is " + model::DescribeJson(json::Value::String(*format)) +
                            " but must be \"" + kFormat + "\"");
  }
  const std::string* version = get("version");
  if (version == nullptr) return Status::DataLoss(meta + ".version is missing");
  if (*version != kVersion) {
    return Status::DataLoss(meta + ".version is " + model::DescribeJson(json::Value::String(*version)) +
                            " but must be \"" + kVersion + "\" (this reader knows version " + kVersion + " only)");
  }
  const std::string* graph_text = get("graph");
  if (graph_text == nullptr) return Status::DataLoss(meta + ".graph is missing");
  Model model;
  for (const auto& entry : header.metadata) {
    if (!IsReservedKey(entry.first)) model.metadata.insert(entry);
  }
  if (model.metadata.size() > kMaxMetadataEntries) {
    return Status::OutOfRange(meta + " has " + std::to_string(model.metadata.size()) +
                              " user entries but must have at most " + std::to_string(kMaxMetadataEntries));
  }

  // The graph document.
  const std::string prefix = who + ": graph: ";
  json::Value graph;
  const Status parsed = json::Parse(*graph_text, GraphLimits(), &graph);
  if (!parsed.ok()) return Status(parsed.code(), prefix + parsed.message());
  model::ObjectReader root;
  IRNN_RETURN_IF_ERROR(model::ObjectReader::Open(graph, prefix, "", &root));
  const std::vector<json::Value>* layers = nullptr;
  IRNN_RETURN_IF_ERROR(root.Array("layers", 1, kMaxModelLayers, &layers));
  IRNN_RETURN_IF_ERROR(root.Finish());

  model::TensorReader tensors(source, header, who);
  std::map<std::string, size_t> names;
  model.layers.resize(layers->size());
  for (size_t i = 0; i < layers->size(); ++i) {
    ModelLayer& layer = model.layers[i];
    model::ObjectReader r;
    IRNN_RETURN_IF_ERROR(model::ObjectReader::Open((*layers)[i], prefix, "layers[" + std::to_string(i) + "]", &r));
    IRNN_RETURN_IF_ERROR(r.String("name", &layer.name));
    const std::string problem = LayerNameProblem(layer.name);
    if (!problem.empty()) {
      return r.Error("name", "is " + model::DescribeJson(json::Value::String(layer.name)) + " but " + problem);
    }
    if (!names.emplace(layer.name, i).second) {
      return r.Error("name", "is \"" + layer.name + "\", which is also the name of layers[" +
                                 std::to_string(names[layer.name]) + "]");
    }
    r.Rename(prefix + "layer '" + layer.name + "': ", "", "the layer");
    int type = 0;
    IRNN_RETURN_IF_ERROR(r.Enum("type", {"tflite_lstm", "embedding", "linear", "attention"}, &type));
    switch (type) {
      case 3:  // "attention" (the enum index in this list, not LayerKind's number)
        layer.kind = LayerKind::kAttention;
        IRNN_RETURN_IF_ERROR(model::DecodeAttention(layer.name, &r, &tensors, &layer.attention));
        break;
      case 1:
        layer.kind = LayerKind::kEmbedding;
        IRNN_RETURN_IF_ERROR(model::DecodeEmbedding(layer.name, &r, &tensors, &layer.embedding));
        break;
      case 2:
        layer.kind = LayerKind::kLinear;
        IRNN_RETURN_IF_ERROR(model::DecodeLinear(layer.name, &r, &tensors, &layer.linear));
        break;
      default:
        layer.kind = LayerKind::kTfliteLstm;
        IRNN_RETURN_IF_ERROR(model::DecodeTfliteLstm(layer.name, &r, &tensors, &layer.lstm));
    }
    IRNN_RETURN_IF_ERROR(r.Finish());
    // The layer's own rules last: multipliers and shifts, zero points, clips, the cell scale, PWL tables.
    const Status s = ValidateLayer(layer);
    if (!s.ok()) return Status(s.code(), who + ": layer '" + layer.name + "': " + s.message());
  }
  IRNN_RETURN_IF_ERROR(tensors.Finish());
  *out = std::move(model);
  return Status::Ok();
}

// A file read piecewise; Read fails cleanly when the file is shorter than it said or cannot be read.
class FileSource : public model::ByteSource {
 public:
  Status Open(const std::string& path) {
    path_ = path;
    file_.open(path, std::ios::binary);
    if (!file_) return Status::InvalidArgument(path + ": cannot open the file for reading");
    file_.seekg(0, std::ios::end);
    const std::streamoff end = file_.tellg();
    if (!file_ || end < 0) return Status::DataLoss(path + ": cannot determine the file size");
    size_ = static_cast<uint64_t>(end);
    return Status::Ok();
  }
  uint64_t size() const override { return size_; }
  Status Read(uint64_t offset, size_t n, uint8_t* dst) const override {
    if (offset > size_ || n > size_ - offset) {
      return Status::DataLoss(path_ + ": read of " + std::to_string(n) + " bytes at offset " + std::to_string(offset) +
                              " is past the end of the file");
    }
    file_.clear();
    file_.seekg(static_cast<std::streamoff>(offset));
    file_.read(reinterpret_cast<char*>(dst), static_cast<std::streamsize>(n));
    if (!file_ || file_.gcount() != static_cast<std::streamsize>(n)) {
      return Status::DataLoss(path_ + ": could not read " + std::to_string(n) + " bytes at offset " +
                              std::to_string(offset) + " (file changed, truncated or unreadable)");
    }
    return Status::Ok();
  }

 private:
  std::string path_;
  mutable std::ifstream file_;
  uint64_t size_ = 0;
};

}  // namespace

const char* LayerKindName(LayerKind kind) {
  switch (kind) {
    case LayerKind::kTfliteLstm: return "tflite_lstm";
    case LayerKind::kEmbedding: return "embedding";
    case LayerKind::kLinear: return "linear";
    case LayerKind::kAttention: return "attention";
  }
  return "unknown";
}

Status SerializeModel(const Model& model, std::string* bytes) {
  const std::string who = "SerializeModel";
  if (bytes == nullptr) return Status::InvalidArgument(who + ": bytes is null");
  IRNN_RETURN_IF_ERROR(ValidateModel(model, who));
  json::Value graph = json::Value::Object();
  json::Value& layers = graph.Add("layers", json::Value::Array());
  model::TensorWriter tensors;
  for (const ModelLayer& layer : model.layers) {
    json::Value& l = layers.Push(json::Value::Object());
    l.Add("name", json::Value::String(layer.name));
    l.Add("type", json::Value::String(LayerKindName(layer.kind)));
    switch (layer.kind) {
      case LayerKind::kTfliteLstm: model::EncodeTfliteLstm(layer.name, layer.lstm, &l, &tensors); break;
      case LayerKind::kEmbedding: model::EncodeEmbedding(layer.name, layer.embedding, &l, &tensors); break;
      case LayerKind::kLinear: model::EncodeLinear(layer.name, layer.linear, &l, &tensors); break;
      case LayerKind::kAttention: model::EncodeAttention(layer.name, layer.attention, &l, &tensors); break;
    }
  }
  std::map<std::string, std::string> metadata = model.metadata;
  metadata["format"] = kFormat;
  metadata["version"] = kVersion;
  metadata["graph"] = json::Serialize(graph);
  return tensors.Finish(metadata, who, bytes);
}

Status WriteModel(const Model& model, const std::string& path) {
  std::string bytes;
  const Status s = SerializeModel(model, &bytes);
  if (!s.ok()) return Status(s.code(), path + ": " + s.message());
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  if (!file) return Status::InvalidArgument(path + ": cannot open the file for writing");
  file.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  file.close();
  if (!file) return Status::DataLoss(path + ": writing " + std::to_string(bytes.size()) + " bytes failed");
  return Status::Ok();
}

Status ParseModel(const uint8_t* data, size_t size, Model* model, const std::string& source) {
  if (data == nullptr && size != 0) return Status::InvalidArgument(source + ": data is null");
  static const uint8_t kEmpty = 0;
  const model::MemorySource memory(data != nullptr ? data : &kEmpty, size);
  return ParseFrom(memory, source, model);
}

Status ReadModel(const std::string& path, Model* model) {
  FileSource file;
  IRNN_RETURN_IF_ERROR(file.Open(path));
  return ParseFrom(file, path, model);
}

}  // namespace irnn
