// Quantization-aware training (iRNN mode) of two issue-7 LSTM variants as standalone libtorch
// modules: the LayerNorm LSTM (integer LayerNorm on every gate pre-activation, numerics.md §3, §4) and
// the Mogrifier LSTM (numerics.md §10.3), each with range observers, Export() to the runtime's
// parameters through the existing derivation code (DeriveTfliteLstmParams with use_layer_norm,
// DeriveMogrifierLstmParams), and an evaluation-mode forward that is the integer simulation (sim.h,
// sim_mogrifier.h) of the exported parameters, so what evaluation reads is what ships.
//
// Mode: always iRNN (per-row int8 weights with per-channel requantization §7.1, PWL activations §6,
// intended arithmetic: tflite_compat = false, exact LayerNorm statistics, one saturation of the gate
// sum). Training mode is float with straight-through fake quantization on the integer grids: the int8
// input grid (asymmetric, observed), int8 per-row weights, the gate pre-activations on an observed
// int16 grid S_g (LayerNorm input) or on Q3.12 (no LayerNorm), the LayerNorm output on Q3.12 with its
// int16 weight (scale max|γ|/32767) and int32 bias (scale that / 1024, §3.3), Q0.15 gates (sigmoid/tanh
// in float stand in for their ≤ 1 LSB PWL tables), a power-of-two cell scale and the observed
// asymmetric int8 output grid. The Mogrifier rounds use int8 per-row Q^i / R^i, a Q3.12 pre-activation,
// a Q0.15 σ and 2σ⊙u back on u's own int8 grid.
//
// What it is not: a model or a recipe. There is no embedding, decoder, CLI or language-model training
// loop for these cells here (src/train/qat.cc, the LM, is untouched); a caller stacks the modules with
// its own head. Only the features the modules need are exported (no CIFG, peephole or projection).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <vector>

#include <torch/torch.h>

#include "irnn/mogrifier_lstm.h"
#include "irnn/status.h"
#include "irnn/tflite_lstm.h"

namespace irnn::train {

struct QatLayerOptions {
  bool layer_norm = true;          // LayerNorm on the gate pre-activations (numerics.md §3)
  Rounding rounding = Rounding::kDouble;
  double ema = 0.9;                // observer momentum
  // Power-of-two scales (numerics.md §7.1.1), without LayerNorm only (Export refuses them with it: its
  // gate intermediate is an observed scale): per-row weight scales rounded up to power-of-two input and
  // recurrent multipliers and a power-of-two output grid, in training and export alike. Implies single
  // rounding (the constructor sets it).
  bool pot_scales = false;
};

// Observed ranges fixing the grids (EMA of per-batch extremes).
struct QatLayerRanges {
  double x_min = 0, x_max = 0;     // input (and, for the Mogrifier, mogrified input)
  double h_min = 0, h_max = 0;     // output / recurrent h (and mogrified h)
  double c_absmax = 0;             // cell
  double pre_absmax[4] = {0, 0, 0, 0};  // LayerNorm input per gate
  bool initialized = false;
};

// LSTM layer (gates i, f, g, o, PyTorch order), optionally with LayerNorm. Sequences are time-major:
// x [T][B][n_input] -> out [T][B][n_cell]; the state starts at h = 0, c = 0 (the runtime's reset).
// The weights are drawn after torch::manual_seed(seed) (the global generator); the forget gate's
// bias starts at 1 (with LayerNorm: γ = 1, the other β = 0). Call forward once in training mode with
// the observers on (calibration) before training with fake quantization: until then no grid exists
// and Export refuses.
class QatLstmLayerImpl : public torch::nn::Module {
 public:
  QatLstmLayerImpl(int64_t n_input, int64_t n_cell, const QatLayerOptions& options, uint64_t seed = 1);

  // Training mode (is_training()): the fake-quantized float forward (observers update when observing).
  // Evaluation mode: quantize x, run the sim of Export(), dequantize (no gradient).
  torch::Tensor forward(const torch::Tensor& x);

  // A hook that changes the step's input (on the input grid) and h (on the output grid) before the
  // LSTM step; the Mogrifier's rounds. Training-mode only.
  using StepHook = std::function<void(torch::Tensor* x, torch::Tensor* h)>;
  torch::Tensor ForwardTrain(const torch::Tensor& x, const StepHook& hook);

  // The int8 grids and the integer path for tests: QuantizeInput gives int64 int8-valued tensors;
  // SimForward runs the sim of the exported parameters on them.
  torch::Tensor QuantizeInput(const torch::Tensor& x) const;
  torch::Tensor Dequantize(const torch::Tensor& q) const;  // output grid
  Status SimForward(const torch::Tensor& xq, torch::Tensor* out) const;
  Status Export(TfliteLstmParams* params) const;

  void InputGrid(double* scale, int32_t* zero_point) const;
  void OutputGrid(double* scale, int32_t* zero_point) const;
  int CellScale() const;  // cs of the cell's 2^cs
  bool quantizing() const { return ranges_.initialized; }
  void set_observing(bool on) { observing_ = on; }
  bool observing() const { return observing_; }
  void ObserveX(const torch::Tensor& raw);  // pending until the end of the forward
  void ObserveH(const torch::Tensor& raw);
  const QatLayerRanges& ranges() const { return ranges_; }
  const QatLayerOptions& options() const { return options_; }
  int64_t n_input() const { return n_input_; }
  int64_t n_cell() const { return n_cell_; }

  torch::Tensor w_ih, w_hh, bias;  // [4n][n_input], [4n][n], [4n]
  torch::Tensor ln_weight;         // [4n] γ per gate (LayerNorm only; β is `bias`)

 private:
  void FinishObservation();
  QatLayerOptions options_;
  QatLayerRanges ranges_;
  bool observing_ = true;
  int64_t n_input_ = 0, n_cell_ = 0;
  std::vector<torch::Tensor> pend_x_, pend_h_, pend_c_;
  std::vector<torch::Tensor> pend_pre_[4];
};
TORCH_MODULE(QatLstmLayer);

// Mogrifier LSTM: `rounds` rounds (numerics.md §10.3) before each step of a QatLstmLayer (with or
// without LayerNorm). Round i (1-based) odd: x ← 2σ(Q^i h + b) ⊙ x; even: h ← 2σ(R^i x + b) ⊙ h.
class QatMogrifierLstmImpl : public torch::nn::Module {
 public:
  QatMogrifierLstmImpl(int64_t n_input, int64_t n_cell, int rounds, const QatLayerOptions& options,
                       uint64_t seed = 1);

  // Training mode: fake-quantized float; evaluation mode: the sim of Export(), dequantized.
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor QuantizeInput(const torch::Tensor& x) const { return lstm->QuantizeInput(x); }
  torch::Tensor Dequantize(const torch::Tensor& q) const { return lstm->Dequantize(q); }
  Status SimForward(const torch::Tensor& xq, torch::Tensor* out) const;
  Status Export(MogrifierLstmParams* params) const;
  void set_observing(bool on) { lstm->set_observing(on); }

  QatLstmLayer lstm{nullptr};
  std::vector<torch::Tensor> weight, round_bias;  // per round: [rows][cols], [rows]

 private:
  void Mogrify(torch::Tensor* x, torch::Tensor* h);
};
TORCH_MODULE(QatMogrifierLstm);

}  // namespace irnn::train
