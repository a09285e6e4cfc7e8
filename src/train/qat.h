// Quantization-aware training (iRNN) and post-training quantization (Li & Alvarez) of the LSTM language
// model, and its export to the integer runtime's parameters (irnn/lm.h).
//
// The QAT model mirrors the runtime one to one: an int8 embedding table (asymmetric, its scale and zero
// point are the first LSTM's input quantization), LSTM layers whose weights are int8 (per tensor in
// TFLite mode, per output row in iRNN mode), gate pre-activations on the Q3.12 int16 grid, gates on
// Q0.15, the cell on int16 with a power-of-two scale 2^cs, the hidden/output vector on an asymmetric int8
// grid learned by an EMA min/max observer, and an int8 per-row decoder. In training mode the forward
// pass is float with fake quantization (straight-through gradients). Evaluation mode is the integer
// simulation (sim.h) of the exported parameters, so the accuracy read during training is the accuracy
// that ships.
#pragma once

#include <string>
#include <vector>

#include <torch/torch.h>

#include "irnn/lm.h"
#include "irnn/status.h"
#include "train/lm.h"
#include "train/sim.h"

namespace irnn::train {

enum class QatMode {
  kTflite,  // per-tensor int8 weights, fixed-point sigmoid/tanh, TFLite quirks (Li & Alvarez)
  kIrnn,    // per-channel int8 weights, PWL activations, intended arithmetic (iRNN)
};

struct QatOptions {
  QatMode mode = QatMode::kIrnn;
  Rounding rounding = Rounding::kDouble;
  double pwl_max_err = 1.0;     // PWL tables (iRNN mode): max error in Q0.15 LSBs
  int calibration_batches = 100;  // bptt chunks of training data observed before QAT / for PTQ
  double ema = 0.9;             // observer momentum
  // Power-of-two scales (numerics.md §7.1.1; iRNN mode only): every LSTM input and recurrent per-row
  // multiplier S_W[r]·S_x·2^12 and the hidden multiplier 2^-30/S_h are powers of two, (2^30, shift <= 0),
  // in training (the weight fake quantization) and in the export alike, so the kernels' pot fast paths
  // apply. Implies single rounding (the constructor sets it); the decoder is unchanged.
  bool pot_scales = false;
  // The LSTM (and GRU, QatGruLm) gate weights' precision: 8 (int8 in [-127, 127]) or 7 (in [-63, 63],
  // scale max|w| / 63), in training and export alike. 7-bit weights let the avx2 kernel path multiply with one instruction
  // less per 32 MACs (the reduced range ONNX Runtime's AVX2 int8 kernels rely on); the decoder stays int8.
  int weight_bits = 8;
  int WeightMax() const { return weight_bits == 7 ? 63 : 127; }
};

// Observed ranges that fix the quantization grids.
struct QuantRanges {
  std::vector<double> h_min, h_max;  // per LSTM layer: its output (= next layer's input)
  std::vector<double> c_absmax;      // per LSTM layer: the cell
  double logit_absmax = 0;           // decoder outputs
  bool initialized = false;
};

class QatLmImpl : public torch::nn::Module {
 public:
  // Starts from a trained float model's parameters.
  QatLmImpl(const FloatLm& float_model, const QatOptions& options);

  // Fake-quantized float forward: tokens [T][B] int64 -> logits [T][B][vocab]. state: per layer (h, c),
  // each [B][dim]. When observing, the observers update from this batch.
  torch::Tensor forward(const torch::Tensor& tokens, std::vector<torch::Tensor>* state);
  std::vector<torch::Tensor> ZeroState(int64_t batch) const;

  void set_observing(bool on) { observing_ = on; }
  // The int8 grid (scale, zero point) of LSTM layer l's output, as exported.
  void OutputQuantization(size_t l, double* scale, int32_t* zero_point) const { OutputGrid(l, scale, zero_point); }
  const QuantRanges& ranges() const { return ranges_; }
  const QatOptions& options() const { return options_; }
  int64_t vocab() const { return vocab_; }

  // With pot_scales: the LSTM weight rows whose power-of-two scale is capped (numerics.md §7.1.1), so
  // that their largest weights clip at ±127; 0 without the option or before calibration.
  int64_t PotClippedRows() const;

  // The integer runtime's parameters for the current weights and ranges, and the logit scale that turns
  // the int32 logits back into real logits (for perplexity).
  Status Export(LanguageModelParams* params, double* logit_scale) const;

  torch::Tensor embedding;                       // [V][D]
  std::vector<torch::Tensor> w_ih, w_hh, bias;   // per layer: [4D][D], [4D][D], [4D]; gates i, f, g, o
  torch::Tensor dec_w, dec_b;                    // [V][D], [V]

 private:
  void Observe(std::vector<double>* lo, std::vector<double>* hi, size_t i, double new_lo, double new_hi);
  void EmbeddingGrid(double* scale, int32_t* zero_point) const;
  void OutputGrid(size_t layer, double* scale, int32_t* zero_point) const;
  // With pot_scales: LSTM layer l's input and recurrent weight scales per row [4D][1] (float64, the
  // rows' max|w|/127 rounded up to power-of-two multipliers on the current input and output grids).
  void PotWeightScales(size_t layer, torch::Tensor* sx, torch::Tensor* sh) const;
  int CellScale(size_t layer) const;

  QatOptions options_;
  QuantRanges ranges_;
  bool observing_ = true;
  int64_t vocab_ = 0, dim_ = 0, layers_ = 0;
};
TORCH_MODULE(QatLm);

// Runs `batches` bptt chunks of `ids` through the model with the observers on and no gradient.
void Calibrate(QatLm model, const std::vector<int32_t>& ids, int batch, int bptt, int batches);

// QAT fine-tuning: calibrate, then train with fake quantization (observers frozen after the first
// epoch's calibration). Returns per-epoch stats with the valid perplexity of the integer simulation.
Status TrainQat(const TextCorpus& corpus, const TrainOptions& options, QatLm model, std::vector<EpochStats>* curve);

// Perplexity of `ids` from int32 logits produced by `step` (one token per stream per call, time-major),
// logit = S_logit * int. The evaluator's own arithmetic (log-softmax in double) is not part of the
// integer runtime.
using LogitStep = std::function<Status(const std::vector<int32_t>& tokens, std::vector<int32_t>* logits)>;
Status PerplexityFromIntLogits(const std::vector<int32_t>& ids, int batch, int64_t vocab, double logit_scale,
                               const LogitStep& step, double* ppl, int64_t* tokens, bool progress);

// The two ends of an integer language model in the simulation (sim.h), shared by SimLanguageModel and
// SimGruLanguageModel: the embedding table and the Linear decoder as int64 tensors on one device. Each
// may throw libtorch's exceptions (the models catch them).
struct SimLmEnds {
  void Init(const EmbeddingParams& embedding, const LinearParams& decoder, const torch::Device& device);
  // The embedding rows of one token per stream: [batch][dim].
  torch::Tensor Embed(const std::vector<int32_t>& tokens) const;
  // The decoder's int32 logits of x [batch][n_in], row-major, into `logits`.
  void Logits(const torch::Tensor& x, std::vector<int32_t>* logits) const;

  torch::Device device = torch::kCPU;
  torch::Tensor table, dec_w, dec_bias, dec_mult, dec_shift;
  Rounding rounding = Rounding::kDouble;
};

// The integer language model evaluated with libtorch integer tensor operations (sim.h): the QAT model's
// evaluation-mode forward. Bit-exact with irnn::LanguageModel (tested), independent of its kernels.
class SimLanguageModel {
 public:
  Status Init(const LanguageModelParams& params, const torch::Device& device);
  void Reset(int64_t batch);
  // One token per stream -> int32 logits [batch][vocab] (row-major).
  Status Step(const std::vector<int32_t>& tokens, std::vector<int32_t>* logits);
  // The int8-valued output h [batch][dim] of LSTM layer l after the last step.
  const torch::Tensor& h(size_t l) const { return h_[l]; }

 private:
  SimLmEnds ends_;
  std::vector<sim::SimTfliteLstm> lstm_;
  std::vector<torch::Tensor> h_, c_;
};

}  // namespace irnn::train
