// A GRU language model as the layer list of a .irnn file (irnn/model.h; docs/model_format.md §12): one
// embedding, the GRUs, one linear decoder, in that order. Only the order and kinds are checked here; the
// chain is ValidateGruLanguageModelParams's. Integer only (part of the no-float check).

#include <string>
#include <utility>

#include "irnn/gru_lm.h"
#include "irnn/model.h"

namespace irnn {

Status GruLanguageModelFromModel(const Model& model, GruLanguageModelParams* out) {
  const std::string who = "GruLanguageModelFromModel: ";
  if (out == nullptr) return Status::InvalidArgument(who + "params is null");
  const size_t n = model.layers.size();
  if (n < 3 || n > static_cast<size_t>(kMaxLmGruLayers) + 2) {
    return Status::InvalidArgument(who + "the model has " + std::to_string(n) +
                                   " layers but a GRU language model has 3 to " + std::to_string(kMaxLmGruLayers + 2) +
                                   " (embedding, gru..., linear)");
  }
  GruLanguageModelParams p;
  for (size_t i = 0; i < n; ++i) {
    const ModelLayer& layer = model.layers[i];
    const LayerKind want = i == 0 ? LayerKind::kEmbedding : (i + 1 == n ? LayerKind::kLinear : LayerKind::kGru);
    if (layer.kind != want) {
      return Status::InvalidArgument(who + "layers[" + std::to_string(i) + "] ('" + layer.name + "') is a \"" +
                                     LayerKindName(layer.kind) + "\" layer but must be a \"" + LayerKindName(want) +
                                     "\" layer (a GRU language model is embedding, gru..., linear)");
    }
    if (want == LayerKind::kEmbedding) p.embedding = layer.embedding;
    else if (want == LayerKind::kLinear) p.decoder = layer.linear;
    else p.gru.push_back(layer.gru);
  }
  const Status s = ValidateGruLanguageModelParams(p);
  if (!s.ok()) return Status(s.code(), who + s.message());
  *out = std::move(p);
  return Status::Ok();
}

Status ModelFromGruLanguageModel(const GruLanguageModelParams& params, Model* model) {
  const std::string who = "ModelFromGruLanguageModel: ";
  if (model == nullptr) return Status::InvalidArgument(who + "model is null");
  const Status s = ValidateGruLanguageModelParams(params);
  if (!s.ok()) return Status(s.code(), who + s.message());
  std::vector<ModelLayer> layers(params.gru.size() + 2);
  layers[0].name = "embedding";
  layers[0].kind = LayerKind::kEmbedding;
  layers[0].embedding = params.embedding;
  for (size_t i = 0; i < params.gru.size(); ++i) {
    layers[i + 1].name = "gru" + std::to_string(i);
    layers[i + 1].kind = LayerKind::kGru;
    layers[i + 1].gru = params.gru[i];
  }
  layers.back().name = "decoder";
  layers.back().kind = LayerKind::kLinear;
  layers.back().linear = params.decoder;
  model->layers = std::move(layers);
  return Status::Ok();
}

}  // namespace irnn
