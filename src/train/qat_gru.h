// The GRU language model on libtorch (issue 7, must-show 3): the float model (torch::nn::GRU, PyTorch's
// GRU semantics: gates r, z, n, "linear before reset"), its training loop, quantization-aware training
// in iRNN mode (per-row int8 weights, PWL activations, numerics.md §8) and the export to the integer
// runtime's GruLanguageModelParams (irnn/gru_lm.h), plus the libtorch integer simulation of the whole
// model (sim == int). Not here: the LSTM language model (lm.h, qat.h), TFLite mode, PTQ.
#pragma once

#include <string>
#include <vector>

#include <torch/torch.h>

#include "irnn/gru_lm.h"
#include "irnn/status.h"
#include "irnn/text_data.h"
#include "train/lm.h"
#include "train/qat.h"
#include "train/sim_gru.h"

namespace irnn::train {

// Embedding -> torch::nn::GRU (layers x dim) -> Linear decoder. LmOptions.dropout is applied between
// layers and before the decoder in training only.
class FloatGruLmImpl : public torch::nn::Module {
 public:
  explicit FloatGruLmImpl(const LmOptions& o);
  // tokens [T][B] int64 -> logits [T][B][vocab]; h [layers][B][dim] is updated.
  torch::Tensor forward(const torch::Tensor& tokens, torch::Tensor* h);
  torch::Tensor ZeroState(int64_t batch) const;
  const LmOptions& options() const { return options_; }

  torch::nn::Embedding embedding{nullptr};
  torch::nn::GRU gru{nullptr};
  torch::nn::Dropout dropout{nullptr};
  torch::nn::Linear decoder{nullptr};

 private:
  LmOptions options_;
};
TORCH_MODULE(FloatGruLm);

// As TrainFloatLm: SGD/Adam with truncated BPTT, validation after each epoch, best epoch kept.
// max_seconds > 0: no new epoch starts when the time so far plus the last epoch's would exceed it.
Status TrainFloatGruLm(const TextCorpus& corpus, const TrainOptions& options, FloatGruLm model,
                       std::vector<EpochStats>* curve, double max_seconds = 0);
double EvaluateFloatGruLm(FloatGruLm model, const std::vector<int32_t>& ids, int batch, int bptt);
// Checkpoint: options, vocabulary words and parameters (as SaveFloatLm).
Status SaveFloatGruLm(FloatGruLm model, const Vocabulary& vocab, const std::string& path);
// Reads a checkpoint that SaveFloatGruLm wrote. IsFloatGruCheckpoint: whether `path` is one (it holds
// cell = "gru"); false for an LSTM checkpoint (SaveFloatLm) or an unreadable file.
Status LoadFloatGruLm(const std::string& path, FloatGruLm* model, Vocabulary* vocab);
bool IsFloatGruCheckpoint(const std::string& path);

// QAT GRU LM: int8 embedding on its own asymmetric grid (the first GRU's input), per-row int8 weights,
// Q3.12 pre-activations, Q0.15 gates, the state on Q0.15 and its int8 copy on an EMA-observed output
// grid that the recurrent matmul reads, per-row int8 decoder. Training mode: float with straight-through
// fake quantization; evaluation goes through Export and SimGruLanguageModel / GruLanguageModel.
class QatGruLmImpl : public torch::nn::Module {
 public:
  QatGruLmImpl(const FloatGruLm& float_model, const QatOptions& options);
  // tokens [T][B] -> logits [T][B][vocab]; state: per layer the Q0.15 state h16 [B][dim] (float values).
  torch::Tensor forward(const torch::Tensor& tokens, std::vector<torch::Tensor>* state);
  std::vector<torch::Tensor> ZeroState(int64_t batch) const;
  void set_observing(bool on) { observing_ = on; }
  int64_t vocab() const { return vocab_; }
  const QatOptions& options() const { return options_; }
  // The integer parameters for the current weights and ranges, and S_logit.
  Status Export(GruLanguageModelParams* params, double* logit_scale) const;

  torch::Tensor embedding;
  std::vector<torch::Tensor> w_ih, w_hh, b_ih, b_hh;  // per layer: [3D][D] x2, [3D] x2; gates r, z, n
  torch::Tensor dec_w, dec_b;

 private:
  void EmbeddingGrid(double* scale, int32_t* zero_point) const;
  void OutputGrid(size_t layer, double* scale, int32_t* zero_point) const;
  void Observe(double* v, double x) const;

  QatOptions options_;
  std::vector<double> h_min_, h_max_;
  double logit_absmax_ = 0;
  bool initialized_ = false;
  bool observing_ = true;
  int64_t vocab_ = 0, dim_ = 0, layers_ = 0;
};
TORCH_MODULE(QatGruLm);

// Calibration (observers on, no gradient) on `batches` bptt chunks, then QAT epochs (observers keep
// adapting by EMA, as TrainQat).
Status TrainQatGru(const TextCorpus& corpus, const TrainOptions& options, QatGruLm model,
                   std::vector<EpochStats>* curve);

// The integer GRU language model with libtorch integer tensor ops (sim_gru.h, sim.h): bit-exact with
// irnn::GruLanguageModel (tested), independent of its kernels.
class SimGruLanguageModel {
 public:
  Status Init(const GruLanguageModelParams& params, const torch::Device& device);
  void Reset(int64_t batch);
  Status Step(const std::vector<int32_t>& tokens, std::vector<int32_t>* logits);

 private:
  SimLmEnds ends_;  // qat.h
  std::vector<sim::SimGru> gru_;
  std::vector<torch::Tensor> h16_, h8_;
};

}  // namespace irnn::train
