// Word-level LSTM language model on libtorch: the float model (training and evaluation), checkpoints,
// and the training loop. Quantization-aware training and export build on it (qat.h). Written
// device-agnostic (tensors follow the model's device), run on the CPU here.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "irnn/status.h"
#include "irnn/text_data.h"

namespace irnn::train {

struct LmOptions {
  int64_t vocab = 0;
  int64_t dim = 200;     // embedding = hidden = cell width
  int64_t layers = 2;
  double dropout = 0.0;  // between layers and before the decoder, in training only
};

struct TrainOptions {
  int epochs = 13;
  int batch = 20;
  int bptt = 35;
  std::string optimizer = "sgd";  // sgd (Zaremba et al.) or adam
  double lr = 1.0;
  double lr_decay = 0.5;          // lr *= lr_decay at the end of each epoch >= decay_start
  int decay_start = 4;
  double clip = 5.0;              // gradient norm clip
  double init = 0.1;              // uniform(-init, init) initialisation
  uint64_t seed = 1;
  int threads = 0;                // 0: all cores
  int64_t max_train_tokens = 0;   // 0: the whole training set each epoch (smaller for quick runs)
  bool progress = true;
};

class FloatLmImpl : public torch::nn::Module {
 public:
  explicit FloatLmImpl(const LmOptions& o);
  // tokens [T][B] int64 -> logits [T][B][vocab]; state (h, c) each [layers][B][dim] is updated.
  torch::Tensor forward(const torch::Tensor& tokens, std::tuple<torch::Tensor, torch::Tensor>* state);
  std::tuple<torch::Tensor, torch::Tensor> ZeroState(int64_t batch) const;
  const LmOptions& options() const { return options_; }

  torch::nn::Embedding embedding{nullptr};
  torch::nn::LSTM lstm{nullptr};
  torch::nn::Dropout dropout{nullptr};
  torch::nn::Linear decoder{nullptr};

 private:
  LmOptions options_;
};
TORCH_MODULE(FloatLm);

struct EpochStats {
  int epoch = 0;
  double lr = 0;
  double train_ppl = 0;
  double valid_ppl = 0;
  double seconds = 0;
  double tokens_per_s = 0;
};

// The optimizer that options.optimizer names (sgd or adam) over `params`, at options.lr.
Status MakeOptimizer(const std::vector<torch::Tensor>& params, const TrainOptions& options,
                     std::unique_ptr<torch::optim::Optimizer>* out);

// The learning rate of every parameter group.
void SetLearningRate(torch::optim::Optimizer* opt, double lr);

// One epoch of truncated backpropagation through time over `data` [steps][batch] (time-major), in
// chunks of options.bptt steps. For each chunk, chunk_loss(x, y) runs the model on x (carrying and
// detaching its own state) and returns the mean cross-entropy against y; then backward, a gradient norm
// clip of options.clip over `params`, one optimizer step. Draws a progress line if options.progress.
// Returns train_ppl, seconds and tokens_per_s (the caller fills epoch, lr and valid_ppl).
using ChunkLoss = std::function<torch::Tensor(const torch::Tensor& x, const torch::Tensor& y)>;
EpochStats TrainEpoch(const torch::Tensor& data, const TrainOptions& options, const std::string& label,
                      const std::vector<torch::Tensor>& params, torch::optim::Optimizer* opt,
                      const ChunkLoss& chunk_loss);

// Trains `model` on corpus.train, evaluating corpus.valid after each epoch; keeps the parameters of the
// best validation epoch. Deterministic for a seed and thread count.
Status TrainFloatLm(const TextCorpus& corpus, const TrainOptions& options, FloatLm model,
                    std::vector<EpochStats>* curve);

// Perplexity of `ids` under the float model (batch streams, carried state).
double EvaluateFloatLm(FloatLm model, const std::vector<int32_t>& ids, int batch, int bptt);

// A checkpoint holds the options, the vocabulary and the parameters.
Status SaveFloatLm(FloatLm model, const Vocabulary& vocab, const std::string& path);
Status LoadFloatLm(const std::string& path, FloatLm* model, Vocabulary* vocab);

// The fields every float LM checkpoint holds besides its weights ("options", "dropout_rate", "vocab"),
// shared by the LSTM and the GRU language models. A non-empty `cell` is written as "cell" between
// "dropout_rate" and "vocab", where GRU checkpoints hold "gru" (LSTM checkpoints have no "cell"); Read
// leaves "cell" to the caller. Read checks every value; `path` names the file in errors. Both may throw
// libtorch's exceptions on an unreadable archive (callers catch them).
void WriteLmCheckpointFields(const LmOptions& o, const Vocabulary& vocab, torch::serialize::OutputArchive* archive,
                             const std::string& cell = "");
Status ReadLmCheckpointFields(torch::serialize::InputArchive* archive, const std::string& path, LmOptions* o,
                              Vocabulary* vocab);

// Writes the training curves (train and valid perplexity per epoch) as a PNG with gnuplot.
Status PlotCurves(const std::vector<EpochStats>& curve, const std::string& title, const std::string& path);

}  // namespace irnn::train
