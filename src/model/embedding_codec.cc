// The embedding layer in a .irnn file (see embedding_codec.h; docs/model_format.md §5). Integer only:
// part of the no-float check.

#include "model/embedding_codec.h"

namespace irnn::model {

void EncodeEmbedding(const std::string& name, const EmbeddingParams& p, json::Value* layer, TensorWriter* tensors) {
  json::Value& config = layer->Add("config", json::Value::Object());
  config.Add("vocab", json::Value::Int(p.vocab));
  config.Add("dim", json::Value::Int(p.dim));
  json::Value& params = layer->Add("params", json::Value::Object());
  params.Add("zero_point", json::Value::Int(p.zero_point));
  tensors->AddI8(name + ".table", {p.vocab, p.dim}, p.table);
}

Status DecodeEmbedding(const std::string& name, ObjectReader* layer, TensorReader* tensors, EmbeddingParams* out) {
  EmbeddingParams p;
  ObjectReader config;
  IRNN_RETURN_IF_ERROR(layer->Object("config", &config));
  IRNN_RETURN_IF_ERROR(config.Int("vocab", 1, kMaxVocab, &p.vocab));
  IRNN_RETURN_IF_ERROR(config.Int("dim", 1, kMaxLmDim, &p.dim));
  IRNN_RETURN_IF_ERROR(config.Finish());
  ObjectReader params;
  IRNN_RETURN_IF_ERROR(layer->Object("params", &params));
  IRNN_RETURN_IF_ERROR(params.Int("zero_point", -128, 127, &p.zero_point));
  IRNN_RETURN_IF_ERROR(params.Finish());
  // The shape comes from the checked config; the reader allocates only what the file holds.
  IRNN_RETURN_IF_ERROR(
      tensors->ReadI8(name + ".table", {p.vocab, p.dim}, "layer '" + name + "': [vocab, dim]", &p.table));
  *out = std::move(p);
  return Status::Ok();
}

}  // namespace irnn::model
