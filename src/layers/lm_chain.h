// Internal to the runtime: what the two integer language models share around their recurrent layers
// (LanguageModel in language_model.cc with TfliteLstm layers, GruLanguageModel in
// gru_language_model.cc with Gru layers): the chain validation embedding -> layers -> decoder, building
// the layers, the state (layer states and two scratch buffers) and its check, the step embedding
// rows -> each layer -> decoder, and the run of a chunk of steps layer by layer (numerics.md §7.2-§7.4). Templates over the layer type; the messages
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

// Run's chunks: at most this many rows (steps x streams), at least one step. A chunk goes through the
// chain one layer at a time (each layer's Run over all its steps, then the decoder over all its rows as
// one matrix product), so the scratch buffers between layers hold a whole chunk.
inline constexpr int kLmChunkRows = 512;

// Steps per chunk of Run for `batch` streams: kLmChunkRows / batch, at least 1.
inline int LmChunkSteps(int batch) { return std::max(1, kLmChunkRows / std::max(1, batch)); }

// Elements of each scratch buffer of a state for `batch` streams: one chunk's rows x max_width.
inline int64_t LmScratchElements(int batch, int32_t max_width) {
  return int64_t{LmChunkSteps(batch)} * batch * max_width;
}

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
// LmScratchElements (one chunk of Run: LmChunkSteps(batch) x batch rows of max_width). `who` names the
// caller ("LanguageModel::NewState"). Nothing is written on error.
template <typename Layer, typename LayerState>
Status NewLmState(const char* who, const LmNames& n, int batch, int32_t max_width,
                  const std::vector<std::unique_ptr<Layer>>& layers, std::vector<LayerState>* states,
                  std::vector<int8_t>* a, std::vector<int8_t>* b) {
  if (batch < 1 || batch > kMaxLmBatch) {
    return Status::InvalidArgument(std::string(who) + ": batch is " + std::to_string(batch) + " but must be in [1, " +
                                   std::to_string(kMaxLmBatch) + "]");
  }
  const int64_t scratch = LmScratchElements(batch, max_width);
  if (scratch > (int64_t{1} << 29)) {
    return Status::OutOfRange(std::string(who) + ": batch " + std::to_string(batch) + " x width " +
                              std::to_string(max_width) + " (" + std::to_string(LmChunkSteps(batch)) +
                              " steps per chunk) needs " + std::to_string(2 * scratch) +
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
  const size_t scratch = batch >= 1 ? static_cast<size_t>(LmScratchElements(batch, max_width)) : 0;
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

// `steps` steps of checked tokens [steps][batch] on a checked state, in chunks of LmChunkSteps(batch)
// steps: the chunk's embedding rows -> each layer's Run over the whole chunk (one input-to-gate matrix
// product per layer and chunk, only the recurrent part step by step) -> decode(x, rows, t0) with x the
// last layer's outputs for the chunk's rows = len x batch rows, time-major, starting at step t0. The
// same results as `steps` calls of LmStepChecked, bit for bit (each layer's Run equals its Steps, and
// the decoder's rows are independent). A chunk of one step takes the layers' Step (their fused
// streaming kernels for few rows).
template <typename Layer, typename LayerState, typename Decode>
Status LmRunChecked(const EmbeddingParams& embedding, const std::vector<std::unique_ptr<Layer>>& layers,
                    const int32_t* tokens, int steps, int batch, std::vector<LayerState>* states, int8_t* a,
                    int8_t* b, Decode decode) {
  const int chunk = LmChunkSteps(batch);
  for (int t0 = 0; t0 < steps; t0 += chunk) {
    const int len = std::min(chunk, steps - t0);
    const int rows = len * batch;  // <= max(batch, kLmChunkRows)
    int8_t* in = a;
    int8_t* out = b;
    EmbeddingLookupUnchecked(embedding, tokens + static_cast<size_t>(t0) * batch, rows, in);
    for (size_t i = 0; i < layers.size(); ++i) {
      if (len == 1) {
        IRNN_RETURN_IF_ERROR(layers[i]->Step(in, &(*states)[i], out));
      } else {
        IRNN_RETURN_IF_ERROR(layers[i]->Run(in, len, &(*states)[i], out));
      }
      std::swap(in, out);
    }
    IRNN_RETURN_IF_ERROR(decode(static_cast<const int8_t*>(in), rows, t0));
  }
  return Status::Ok();
}

}  // namespace irnn::internal
