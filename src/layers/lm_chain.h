// Internal to the runtime: what the two integer language models share around their recurrent layers
// (LanguageModel in language_model.cc with TfliteLstm layers, GruLanguageModel in
// gru_language_model.cc with Gru layers): the chain validation embedding -> layers -> decoder, building
// the layers, the state (layer states and two scratch buffers) and its check, and the step embedding
// rows -> each layer -> decoder (numerics.md §7.2, §7.3). Templates over the layer type; the messages
// name the model through LmNames. Integer only (part of the no-float check). Not a public API
// (irnn/lm.h, irnn/gru_lm.h) and not the layers themselves.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "irnn/kernel_path.h"
#include "irnn/lm.h"
#include "irnn/status.h"
#include "layers/embedding.h"

namespace irnn::internal {

inline constexpr int kMaxLmBatch = 1 << 16;

inline Status Prefixed(const Status& s, const std::string& prefix) {
  return s.ok() ? s : Status(s.code(), prefix + s.message());
}

// How messages name one language model and its layers.
struct LmNames {
  const char* params;  // the params struct: "LanguageModelParams"
  const char* layer;   // the layer vector: "lstm" (messages say "lstm[1]: ...")
  const char* width;   // the config field that is a layer's output width: "n_output"
  const char* what;    // the model in state errors: "a language model"
};

// Each part's own validation (validate_layer for a layer), then the chain: embedding.dim == layer[0]'s
// n_input, each layer's output width (width(params)) == the next one's n_input, the last one's ==
// decoder.n_in, and decoder.n_out == embedding.vocab.
template <typename LayerParams, typename ValidateLayer, typename Width>
Status ValidateLmChain(const LmNames& n, const EmbeddingParams& embedding, const std::vector<LayerParams>& layers,
                       int max_layers, const LinearParams& decoder, ValidateLayer validate_layer, Width width) {
  const std::string layer = n.layer;
  IRNN_RETURN_IF_ERROR(Prefixed(ValidateEmbeddingParams(embedding), "embedding: "));
  if (layers.empty() || layers.size() > static_cast<size_t>(max_layers)) {
    return Status::InvalidArgument(std::string(n.params) + ": " + layer + " has " + std::to_string(layers.size()) +
                                   " layers but must have 1 to " + std::to_string(max_layers));
  }
  for (size_t i = 0; i < layers.size(); ++i) {
    IRNN_RETURN_IF_ERROR(Prefixed(validate_layer(layers[i]), layer + "[" + std::to_string(i) + "]: "));
  }
  IRNN_RETURN_IF_ERROR(Prefixed(ValidateLinearParams(decoder), "decoder: "));
  auto mismatch = [&n](const std::string& field, int32_t got, const std::string& other, int32_t want) {
    return Status::InvalidArgument(std::string(n.params) + ": " + field + " is " + std::to_string(got) +
                                   " but must equal " + other + " = " + std::to_string(want));
  };
  auto output = [&](size_t i) { return layer + "[" + std::to_string(i) + "].config." + n.width; };
  if (layers[0].config.n_input != embedding.dim) {
    return mismatch(layer + "[0].config.n_input", layers[0].config.n_input, "embedding.dim", embedding.dim);
  }
  for (size_t i = 1; i < layers.size(); ++i) {
    if (layers[i].config.n_input != width(layers[i - 1])) {
      return mismatch(layer + "[" + std::to_string(i) + "].config.n_input", layers[i].config.n_input, output(i - 1),
                      width(layers[i - 1]));
    }
  }
  const size_t last = layers.size() - 1;
  if (decoder.n_in != width(layers[last])) {
    return mismatch("decoder.n_in", decoder.n_in, output(last), width(layers[last]));
  }
  if (decoder.n_out != embedding.vocab) {
    return mismatch("decoder.n_out", decoder.n_out, "embedding.vocab", embedding.vocab);
  }
  return Status::Ok();
}

// Creates each layer from its (moved) params on `path`; *max_width becomes the widest of its value and
// the layers' output widths.
template <typename Layer, typename LayerParams, typename Width>
Status CreateLmLayers(const LmNames& n, std::vector<LayerParams>* params, KernelPath path, Width width,
                      std::vector<std::unique_ptr<Layer>>* layers, int32_t* max_width) {
  for (size_t i = 0; i < params->size(); ++i) {
    *max_width = std::max(*max_width, width((*params)[i]));
    std::unique_ptr<Layer> layer;
    IRNN_RETURN_IF_ERROR(Prefixed(Layer::Create(std::move((*params)[i]), path, &layer),
                                  std::string(n.layer) + "[" + std::to_string(i) + "]: "));
    layers->push_back(std::move(layer));
  }
  return Status::Ok();
}

// The parts of a new state for `batch` streams: one reset state per layer and two scratch buffers of
// batch x max_width. `who` names the caller ("LanguageModel::NewState"). Nothing is written on error.
template <typename Layer, typename LayerState>
Status NewLmState(const char* who, const LmNames& n, int batch, int32_t max_width,
                  const std::vector<std::unique_ptr<Layer>>& layers, std::vector<LayerState>* states,
                  std::vector<int8_t>* a, std::vector<int8_t>* b) {
  if (batch < 1 || batch > kMaxLmBatch) {
    return Status::InvalidArgument(std::string(who) + ": batch is " + std::to_string(batch) + " but must be in [1, " +
                                   std::to_string(kMaxLmBatch) + "]");
  }
  const int64_t scratch = int64_t{batch} * max_width;
  if (scratch > (int64_t{1} << 29)) {
    return Status::OutOfRange(std::string(who) + ": batch " + std::to_string(batch) + " x width " +
                              std::to_string(max_width) + " needs " + std::to_string(2 * scratch) +
                              " bytes of scratch but must need at most 1 GiB");
  }
  std::vector<LayerState> s(layers.size());
  for (size_t i = 0; i < layers.size(); ++i) {
    IRNN_RETURN_IF_ERROR(
        Prefixed(layers[i]->NewState(batch, &s[i]), std::string(n.layer) + "[" + std::to_string(i) + "]: "));
  }
  *states = std::move(s);
  a->assign(static_cast<size_t>(scratch), 0);
  b->assign(static_cast<size_t>(scratch), 0);
  return Status::Ok();
}

// Ok when the state parts fit these layers (as NewLmState made them for `batch`); else the error
// "<who>: state was not made by NewState of <n.what> of this shape".
template <typename Layer, typename LayerState>
Status CheckLmState(const char* who, const LmNames& n, int batch, int32_t max_width,
                    const std::vector<std::unique_ptr<Layer>>& layers, const std::vector<LayerState>& states,
                    const std::vector<int8_t>& a, const std::vector<int8_t>& b) {
  const size_t scratch = static_cast<size_t>(batch) * max_width;
  bool ok = batch >= 1 && states.size() == layers.size() && a.size() == scratch && b.size() == scratch;
  for (size_t i = 0; ok && i < layers.size(); ++i) {
    ok = states[i].batch() == batch && layers[i]->CheckState(states[i]).ok();
  }
  if (!ok) {
    return Status::InvalidArgument(std::string(who) + ": state was not made by NewState of " + n.what +
                                   " of this shape");
  }
  return Status::Ok();
}

// The argument checks of Step/Run before the state's: steps >= 0, a state, and for steps > 0 tokens and
// logits. *nothing is true when there is nothing to do (steps == 0).
inline Status CheckLmRunArgs(const char* who, const int32_t* tokens, int steps, const void* state,
                             const int32_t* logits, bool* nothing) {
  *nothing = false;
  if (steps < 0) {
    return Status::InvalidArgument(std::string(who) + ": steps is " + std::to_string(steps) + " but must be >= 0");
  }
  if (state == nullptr) return Status::InvalidArgument(std::string(who) + ": state is null");
  *nothing = steps == 0;
  if (*nothing) return Status::Ok();
  if (tokens == nullptr) return Status::InvalidArgument(std::string(who) + ": tokens is null");
  if (logits == nullptr) return Status::InvalidArgument(std::string(who) + ": logits is null");
  return Status::Ok();
}

// One step of checked tokens on a checked state: embedding rows -> each layer -> decode(x, logits),
// ping-ponging between the scratch buffers a and b. The layers' steps re-check their (already checked)
// states, which is cheap and cannot fail here.
template <typename Layer, typename LayerState, typename Decode>
Status LmStepChecked(const EmbeddingParams& embedding, const std::vector<std::unique_ptr<Layer>>& layers,
                     const int32_t* tokens, int batch, std::vector<LayerState>* states, int8_t* a, int8_t* b,
                     Decode decode) {
  int8_t* in = a;
  int8_t* out = b;
  EmbeddingLookupUnchecked(embedding, tokens, batch, in);
  for (size_t i = 0; i < layers.size(); ++i) {
    IRNN_RETURN_IF_ERROR(layers[i]->Step(in, &(*states)[i], out));
    std::swap(in, out);
  }
  return decode(in);
}

}  // namespace irnn::internal
