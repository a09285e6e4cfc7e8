// A language model as the layer list of a .irnn file (irnn/model.h; docs/model_format.md §7): one
// embedding, the LSTMs, one linear decoder, in that order. Only the order and kinds are checked here;
// the chain (widths, vocabulary) is ValidateLanguageModelParams's. Integer only (part of the no-float
// check).

#include <string>
#include <utility>

#include "irnn/lm.h"
#include "irnn/model.h"

namespace irnn {

Status LanguageModelFromModel(const Model& model, LanguageModelParams* out) {
  const std::string who = "LanguageModelFromModel: ";
  if (out == nullptr) return Status::InvalidArgument(who + "params is null");
  const size_t n = model.layers.size();
  if (n < 3 || n > static_cast<size_t>(kMaxLmLstmLayers) + 2) {
    return Status::InvalidArgument(who + "the model has " + std::to_string(n) + " layers but a language model has 3 to " +
                                   std::to_string(kMaxLmLstmLayers + 2) + " (embedding, tflite_lstm..., linear)");
  }
  LanguageModelParams p;
  for (size_t i = 0; i < n; ++i) {
    const ModelLayer& layer = model.layers[i];
    const LayerKind want = i == 0 ? LayerKind::kEmbedding : (i + 1 == n ? LayerKind::kLinear : LayerKind::kTfliteLstm);
    if (layer.kind != want) {
      return Status::InvalidArgument(who + "layers[" + std::to_string(i) + "] ('" + layer.name + "') is a \"" +
                                     LayerKindName(layer.kind) + "\" layer but must be a \"" + LayerKindName(want) +
                                     "\" layer (a language model is embedding, tflite_lstm..., linear)");
    }
    switch (want) {
      case LayerKind::kEmbedding: p.embedding = layer.embedding; break;
      case LayerKind::kLinear: p.decoder = layer.linear; break;
      case LayerKind::kTfliteLstm: p.lstm.push_back(layer.lstm); break;
      default: break;  // `want` is one of the three above
    }
  }
  const Status s = ValidateLanguageModelParams(p);
  if (!s.ok()) {
    // The message names the params' fields; say which model layers they are.
    std::string names = "embedding = '" + model.layers[0].name + "'";
    for (size_t i = 1; i + 1 < n; ++i) names += ", lstm[" + std::to_string(i - 1) + "] = '" + model.layers[i].name + "'";
    names += ", decoder = '" + model.layers[n - 1].name + "'";
    return Status(s.code(), who + s.message() + " (layers: " + names + ")");
  }
  *out = std::move(p);
  return Status::Ok();
}

Status ModelFromLanguageModel(const LanguageModelParams& params, Model* model) {
  const std::string who = "ModelFromLanguageModel: ";
  if (model == nullptr) return Status::InvalidArgument(who + "model is null");
  const Status s = ValidateLanguageModelParams(params);
  if (!s.ok()) return Status(s.code(), who + s.message());
  std::vector<ModelLayer> layers(params.lstm.size() + 2);
  layers[0].name = "embedding";
  layers[0].kind = LayerKind::kEmbedding;
  layers[0].embedding = params.embedding;
  for (size_t i = 0; i < params.lstm.size(); ++i) {
    layers[i + 1].name = "lstm" + std::to_string(i);
    layers[i + 1].kind = LayerKind::kTfliteLstm;
    layers[i + 1].lstm = params.lstm[i];
  }
  layers.back().name = "decoder";
  layers.back().kind = LayerKind::kLinear;
  layers.back().linear = params.decoder;
  model->layers = std::move(layers);
  return Status::Ok();
}

}  // namespace irnn
