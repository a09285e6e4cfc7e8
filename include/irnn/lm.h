// The integer language model of iRNN (Step 3): token ids -> int8 embedding -> a stack of integer LSTMs
// (TfliteLstm, per-tensor or per-channel, fixed-point or PWL activations) -> a Linear decoder that
// writes int32 logits. Integer only at inference; the float scales were turned into multipliers at
// export (numerics.md §7). This header holds the two new layers (Embedding, Linear) and the model that
// chains them; the .irnn file form is in irnn/model.h (LanguageModelFromModel).
//
// Not here: softmax, sampling, beam search and perplexity. They read the int32 logits, which share one
// scale (the model's S_logit), so argmax and comparisons need no dequantization (numerics.md §7.3).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "irnn/kernel_path.h"
#include "irnn/quantization.h"
#include "irnn/status.h"
#include "irnn/tflite_lstm.h"

namespace irnn {

struct LstmKernels;  // src/kernels/lstm_kernels.h

inline constexpr int32_t kMaxVocab = 1 << 24;        // embedding rows, decoder outputs
inline constexpr int32_t kMaxLmDim = 1 << 16;        // embedding width, decoder inputs (as the LSTM's sizes)
inline constexpr int64_t kMaxLmMatrix = (int64_t{1} << 31) - 1;  // elements of a table or weight matrix
inline constexpr int kMaxLmLstmLayers = 64;

// ---- Embedding (numerics.md §7.2) ------------------------------------------------------------------

// An int8 table E[vocab][dim], quantized with the scale and zero point of the first LSTM's input.
struct EmbeddingParams {
  int32_t vocab = 0;          // rows (token ids 0..vocab-1), in [1, kMaxVocab]
  int32_t dim = 0;            // columns, in [1, kMaxLmDim]; vocab * dim <= kMaxLmMatrix
  std::vector<int8_t> table;  // [vocab][dim], row-major
  int32_t zero_point = 0;     // in [-128, 127]: the zero point of the table's values (read by no kernel; it
                              // equals the first LSTM's input zero point, which the exporter guarantees)
};

// Checks sizes and the zero point; errors name the field ("EmbeddingParams: table has ...").
Status ValidateEmbeddingParams(const EmbeddingParams& params);

// out[i][:] = E[tokens[i]][:] for i in [0, n): a copy, no arithmetic. A token outside [0, vocab) is an
// error naming the token and its position, and then nothing is written. Validates params (O(1)).
Status EmbeddingLookup(const EmbeddingParams& params, const int32_t* tokens, int n, int8_t* out);

// ---- Linear to int32 logits (numerics.md §7.3) ----------------------------------------------------

// logit[b][r] = MBQM(effective_bias[r] + sum_k weights[r][k] * x[b][k], channel_scale[r]), int32.
struct LinearParams {
  int32_t n_in = 0;                  // input width, in [1, kMaxLmDim]
  int32_t n_out = 0;                 // outputs (the vocabulary for a decoder), in [1, kMaxVocab]
  std::vector<int8_t> weights;       // [n_out][n_in], symmetric per output row; n_out * n_in <= kMaxLmMatrix
  std::vector<int32_t> effective_bias;  // [n_out]: b[r] - Z_x * sum_k W[r][k] (the input zero point folded)
  std::vector<QuantizedMultiplier> channel_scale;  // [n_out]: S_W[r] * S_x / S_logit, each valid (§1.3)
  Rounding rounding = Rounding::kDouble;
};

// Checks sizes, the rounding enum and every multiplier; errors name the field and row.
Status ValidateLinearParams(const LinearParams& params);

struct PackedS8;  // src/kernels/lstm_kernels.h

class Linear {
 public:
  // Validates params and picks the kernel path (kAuto honours IRNN_PATH).
  static Status Create(LinearParams params, KernelPath path, std::unique_ptr<Linear>* out);

  const LinearParams& params() const { return params_; }
  KernelPath path() const { return path_; }

  // x [batch][n_in] int8 -> out [batch][n_out] int32; batch in [1, 65536]. No allocation (after a
  // thread's first call, which may size a scratch buffer for the kernel path).
  Status Run(const int8_t* x, int batch, int32_t* out) const;

 private:
  friend class LanguageModel;
  Linear() = default;
  void RunUnchecked(const int8_t* x, int batch, int32_t* out) const;

  LinearParams params_;
  KernelPath path_ = KernelPath::kScalar;
  const LstmKernels* kernels_ = nullptr;
  std::shared_ptr<const PackedS8> packed_;  // the weights laid out for the path, at Create
};

// ---- The language model ------------------------------------------------------------------------------

// Embedding -> lstm[0] -> ... -> lstm[L-1] -> decoder. The chain must fit: embedding.dim ==
// lstm[0].n_input, lstm[i].n_output == lstm[i+1].n_input, lstm[L-1].n_output == decoder.n_in, and
// decoder.n_out == embedding.vocab. Not
// checkable from these integers and guaranteed by the exporter: the embedding's zero point equals
// lstm[0]'s input zero point, each LSTM's output quantization is the next one's input quantization, and
// the decoder's effective bias folds the last LSTM's output zero point.
struct LanguageModelParams {
  EmbeddingParams embedding;
  std::vector<TfliteLstmParams> lstm;  // 1..kMaxLmLstmLayers layers
  LinearParams decoder;                // n_out == embedding.vocab: one logit per token id
};

// Each layer's own validation, then the chain. Errors name the layer ("lstm[1]: TfliteLstmParams: ...").
Status ValidateLanguageModelParams(const LanguageModelParams& params);

class LanguageModel;

// The recurrent state of `batch` token streams and the scratch of one step. Owned by the caller; one
// state per concurrent stream, so one LanguageModel can serve several threads.
class LanguageModelState {
 public:
  int batch() const { return batch_; }
  // The state of LSTM layer i (h, c), e.g. to save or inspect it.
  TfliteLstmState& lstm(size_t i) { return lstm_[i]; }
  const TfliteLstmState& lstm(size_t i) const { return lstm_[i]; }
  size_t num_lstm_layers() const { return lstm_.size(); }

 private:
  friend class LanguageModel;
  int batch_ = 0;
  std::vector<TfliteLstmState> lstm_;
  std::vector<int8_t> a_;  // activations between layers, [chunk steps x batch][max width] (Run's chunks)
  std::vector<int8_t> b_;
};

class LanguageModel {
 public:
  // Validates params (ValidateLanguageModelParams) and builds the layers on one kernel path (kAuto
  // honours IRNN_PATH). The params are moved into the layers.
  static Status Create(LanguageModelParams params, KernelPath path, std::unique_ptr<LanguageModel>* out);

  KernelPath path() const { return path_; }
  const EmbeddingParams& embedding() const { return embedding_; }
  size_t num_lstm_layers() const { return lstm_.size(); }
  const TfliteLstm& lstm(size_t i) const { return *lstm_[i]; }
  const Linear& decoder() const { return *decoder_; }
  int32_t vocab() const { return embedding_.vocab; }  // token ids [0, vocab); logits per token

  // A state for `batch` streams (batch in [1, 65536]), reset.
  Status NewState(int batch, LanguageModelState* state) const;
  // Every LSTM layer back to h = its output zero point, c = 0.
  Status ResetState(LanguageModelState* state) const;

  // One token per stream: tokens [batch] -> logits [batch][vocab]; the state advances. Every token is
  // checked before anything is computed: on error the state is unchanged.
  Status Step(const int32_t* tokens, LanguageModelState* state, int32_t* logits) const;
  // `steps` time steps, time-major: tokens [steps][batch] -> logits [steps][batch][vocab]. All tokens
  // are checked first; on error the state is unchanged. steps = 0 does nothing. Runs in chunks of
  // max(1, 512 / batch) steps: each layer's Run over the chunk (one input-projection product), then the
  // decoder once over all the chunk's rows; the logits equal `steps` calls of Step bit for bit.
  Status Run(const int32_t* tokens, int steps, LanguageModelState* state, int32_t* logits) const;

 private:
  LanguageModel() = default;
  Status CheckState(const char* who, const LanguageModelState* state) const;
  Status RunSteps(const char* who, const int32_t* tokens, int steps, LanguageModelState* state,
                  int32_t* logits) const;
  Status StepChecked(const int32_t* tokens, LanguageModelState* state, int32_t* logits) const;

  KernelPath path_ = KernelPath::kScalar;
  EmbeddingParams embedding_;
  std::vector<std::unique_ptr<TfliteLstm>> lstm_;
  std::unique_ptr<Linear> decoder_;
  int32_t max_width_ = 0;  // widest activation between layers
};

}  // namespace irnn
