// A G2P encoder–decoder as the layer list of a .irnn file (irnn/g2p.h; docs/model_format.md): eight
// layers in a fixed order plus four metadata entries ("composition" = "g2p" and the beam-search log2
// multiplier). Only the order, kinds and metadata are checked here; the chain is ValidateG2pModelParams's.
// Integer only (part of the no-float check).

#include <cerrno>
#include <cstdlib>
#include <string>
#include <utility>

#include "irnn/g2p.h"
#include "irnn/model.h"

namespace irnn {
namespace {

struct Slot {
  const char* name;
  LayerKind kind;
};
constexpr Slot kG2pLayers[8] = {
    {"char_embedding", LayerKind::kEmbedding}, {"enc_fw", LayerKind::kTfliteLstm},
    {"enc_bw", LayerKind::kTfliteLstm},        {"phone_embedding", LayerKind::kEmbedding},
    {"dec", LayerKind::kTfliteLstm},           {"attention", LayerKind::kAttention},
    {"out_h", LayerKind::kLinear},             {"out_c", LayerKind::kLinear},
};

Status ReadInt(const Model& model, const char* key, int64_t lo, int64_t hi, int64_t* value) {
  const std::string who = "G2pModelFromModel: metadata '" + std::string(key) + "'";
  const auto it = model.metadata.find(key);
  if (it == model.metadata.end()) return Status::DataLoss(who + " is missing");
  const std::string& s = it->second;
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || s.size() > 20 || end != s.c_str() + s.size() || errno != 0 || v < lo || v > hi) {
    return Status::DataLoss(who + " is '" + s.substr(0, 24) + "' but must be an integer in [" + std::to_string(lo) +
                            ", " + std::to_string(hi) + "]");
  }
  *value = v;
  return Status::Ok();
}

}  // namespace

Status G2pModelFromModel(const Model& model, G2pModelParams* out) {
  const std::string who = "G2pModelFromModel: ";
  if (out == nullptr) return Status::InvalidArgument(who + "params is null");
  const auto comp = model.metadata.find("composition");
  if (comp == model.metadata.end() || comp->second != "g2p") {
    return Status::InvalidArgument(who + "metadata 'composition' is '" +
                                   (comp == model.metadata.end() ? std::string("(absent)") : comp->second.substr(0, 32)) +
                                   "' but must be 'g2p' (this is not a G2P model)");
  }
  if (model.layers.size() != 8) {
    return Status::InvalidArgument(who + "the model has " + std::to_string(model.layers.size()) +
                                   " layers but a G2P model has 8 (char_embedding, enc_fw, enc_bw, phone_embedding, "
                                   "dec, attention, out_h, out_c)");
  }
  for (size_t i = 0; i < 8; ++i) {
    if (model.layers[i].kind != kG2pLayers[i].kind) {
      return Status::InvalidArgument(who + "layers[" + std::to_string(i) + "] ('" + model.layers[i].name + "') is a \"" +
                                     LayerKindName(model.layers[i].kind) + "\" layer but must be a \"" +
                                     LayerKindName(kG2pLayers[i].kind) + "\" layer (" + kG2pLayers[i].name + ")");
    }
  }
  G2pModelParams p;
  p.char_embedding = model.layers[0].embedding;
  p.enc_fw = model.layers[1].lstm;
  p.enc_bw = model.layers[2].lstm;
  p.phone_embedding = model.layers[3].embedding;
  p.dec = model.layers[4].lstm;
  p.attention = model.layers[5].attention;
  p.out_h = model.layers[6].linear;
  p.out_c = model.layers[7].linear;
  int64_t m = 0, shift = 0, rounding = 0;
  IRNN_RETURN_IF_ERROR(ReadInt(model, "g2p_log2_multiplier", int64_t{1} << 30, (int64_t{1} << 31) - 1, &m));
  IRNN_RETURN_IF_ERROR(ReadInt(model, "g2p_log2_shift", -31, 30, &shift));
  IRNN_RETURN_IF_ERROR(ReadInt(model, "g2p_rounding", 0, 1, &rounding));
  p.log2_scale.multiplier = static_cast<int32_t>(m);
  p.log2_scale.shift = static_cast<int32_t>(shift);
  p.rounding = static_cast<Rounding>(rounding);
  const Status s = ValidateG2pModelParams(p);
  if (!s.ok()) return Status(s.code(), who + s.message());
  *out = std::move(p);
  return Status::Ok();
}

Status ModelFromG2pModel(const G2pModelParams& p, Model* model) {
  const std::string who = "ModelFromG2pModel: ";
  if (model == nullptr) return Status::InvalidArgument(who + "model is null");
  const Status s = ValidateG2pModelParams(p);
  if (!s.ok()) return Status(s.code(), who + s.message());
  std::vector<ModelLayer> layers;
  layers.emplace_back(kG2pLayers[0].name, p.char_embedding);
  layers.emplace_back(kG2pLayers[1].name, LayerKind::kTfliteLstm, p.enc_fw);
  layers.emplace_back(kG2pLayers[2].name, LayerKind::kTfliteLstm, p.enc_bw);
  layers.emplace_back(kG2pLayers[3].name, p.phone_embedding);
  layers.emplace_back(kG2pLayers[4].name, LayerKind::kTfliteLstm, p.dec);
  layers.emplace_back(kG2pLayers[5].name, p.attention);
  layers.emplace_back(kG2pLayers[6].name, p.out_h);
  layers.emplace_back(kG2pLayers[7].name, p.out_c);
  model->layers = std::move(layers);
  model->metadata["composition"] = "g2p";
  model->metadata["g2p_log2_multiplier"] = std::to_string(p.log2_scale.multiplier);
  model->metadata["g2p_log2_shift"] = std::to_string(p.log2_scale.shift);
  model->metadata["g2p_rounding"] = std::to_string(static_cast<int>(p.rounding));
  return Status::Ok();
}

}  // namespace irnn
