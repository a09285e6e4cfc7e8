// The integer GRU language model (issue 7, must-show 3): token ids -> int8 embedding (§7.2) -> a stack
// of integer GRUs (irnn/gru.h, numerics.md §8) -> a Linear decoder writing int32 logits (§7.3). The
// same chain as irnn/lm.h's LanguageModel with GRU layers in place of LSTMs; integer only at inference.
// The .irnn file form is in irnn/model.h (GruLanguageModelFromModel). Not here: softmax, perplexity.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "irnn/gru.h"
#include "irnn/lm.h"

namespace irnn {

inline constexpr int kMaxLmGruLayers = 64;

// Embedding -> gru[0] -> ... -> gru[L-1] -> decoder. Chain rules as LanguageModelParams:
// embedding.dim == gru[0].n_input, gru[i].n_hidden == gru[i+1].n_input, gru[L-1].n_hidden ==
// decoder.n_in, decoder.n_out == embedding.vocab. Guaranteed by the exporter, not checkable: each
// layer's output quantization is the next one's input quantization.
struct GruLanguageModelParams {
  EmbeddingParams embedding;
  std::vector<GruParams> gru;  // 1..kMaxLmGruLayers layers
  LinearParams decoder;
};

Status ValidateGruLanguageModelParams(const GruLanguageModelParams& params);

class GruLanguageModel;

class GruLanguageModelState {
 public:
  int batch() const { return batch_; }
  GruState& gru(size_t i) { return gru_[i]; }
  const GruState& gru(size_t i) const { return gru_[i]; }
  size_t num_layers() const { return gru_.size(); }

 private:
  friend class GruLanguageModel;
  int batch_ = 0;
  std::vector<GruState> gru_;
  std::vector<int8_t> a_, b_;  // activations between layers, [batch][max width]
};

class GruLanguageModel {
 public:
  static Status Create(GruLanguageModelParams params, KernelPath path, std::unique_ptr<GruLanguageModel>* out);

  KernelPath path() const { return path_; }
  const EmbeddingParams& embedding() const { return embedding_; }
  size_t num_layers() const { return gru_.size(); }
  const Gru& gru(size_t i) const { return *gru_[i]; }
  const Linear& decoder() const { return *decoder_; }
  int32_t vocab() const { return embedding_.vocab; }

  Status NewState(int batch, GruLanguageModelState* state) const;  // batch in [1, 65536]
  Status ResetState(GruLanguageModelState* state) const;
  // One token per stream -> logits [batch][vocab]. Tokens are checked first: on error no state changes.
  Status Step(const int32_t* tokens, GruLanguageModelState* state, int32_t* logits) const;
  // `steps` steps, time-major tokens [steps][batch] -> logits [steps][batch][vocab].
  Status Run(const int32_t* tokens, int steps, GruLanguageModelState* state, int32_t* logits) const;

 private:
  GruLanguageModel() = default;
  Status CheckState(const char* who, const GruLanguageModelState* state) const;

  KernelPath path_ = KernelPath::kScalar;
  EmbeddingParams embedding_;
  std::vector<std::unique_ptr<Gru>> gru_;
  std::unique_ptr<Linear> decoder_;
  int32_t max_width_ = 0;
};

}  // namespace irnn
