// Quantization-aware training (iRNN mode) of the G2P attention encoder–decoder, its export to the
// integer runtime's parameters (irnn/g2p.h), and the integer simulation of that model with libtorch
// int64 tensor operations (sim.h, sim_attention.h), bit for bit equal to irnn::G2pModel.
//
// The QAT model mirrors the runtime one to one: an int8 character table on its own grid; two integer
// LSTMs (per-row int8 weights, Q3.12 pre-activations, Q0.15 gates, a power-of-two int16 cell, PWL
// activations) whose outputs share ONE observed int8 grid, the encoder grid; the phone table holds
// tanh(E) on that encoder grid, so [phone; context] is one int8 vector for the decoder LSTM; the
// decoder's output grid is observed; the additive attention is train/qat_attention.h's module (keys =
// encoder outputs, query = decoder output, context on the encoder grid); two per-row int8 linear layers
// to int32 logits on one logit scale. Training mode is float with fake quantization (straight-through).
// Not here: the float model (g2p.h) and the search (irnn/g2p.h G2pSearch, shared with the runtime).
#pragma once

#include <string>
#include <vector>

#include <torch/torch.h>

#include "irnn/cmudict.h"
#include "irnn/g2p.h"
#include "irnn/status.h"
#include "train/g2p.h"
#include "train/qat_attention.h"
#include "train/sim.h"
#include "train/sim_attention.h"

namespace irnn::train {

struct G2pQatOptions {
  Rounding rounding = Rounding::kDouble;
  double ema = 0.9;               // observer momentum
  int calibration_batches = 40;   // training batches observed (no gradient) before fake quantization starts
};

// One fake-quantized LSTM: gates i, f, g, o stacked as in torch.
struct QatLstmParams {
  torch::Tensor w_ih, w_hh, bias;  // [4H][K], [4H][H], [4H]
};

class QatG2pImpl : public torch::nn::Module {
 public:
  QatG2pImpl(FloatG2p float_model, const G2pQatOptions& options);

  // Teacher forcing as FloatG2p::forward: chars [S][B], inputs [T][B] -> logits [T][B][phones].
  torch::Tensor forward(const torch::Tensor& chars, const torch::Tensor& inputs);
  void set_observing(bool on) { observing_ = on; }
  bool calibrated() const { return initialized_; }
  const G2pOptions& float_options() const { return fo_; }

  // The integer parameters for the current weights and ranges.
  Status Export(G2pModelParams* params) const;

  torch::Tensor char_emb, phone_emb;   // [C][E], [P][E]
  QatLstmParams enc_fw, enc_bw, dec;
  QatAttention attention{nullptr};
  torch::Tensor out_h_w, out_h_b, out_c_w;  // [P][H_d], [P], [P][2H_e]

 private:
  // A fake-quantized LSTM over x [T][B][K]; `layer` indexes the cell ranges; out_grid: 0 encoder, 1 decoder.
  torch::Tensor RunLstm(const QatLstmParams& p, int layer, const torch::Tensor& x, torch::Tensor* h, torch::Tensor* c,
                        std::vector<torch::Tensor>* raw_h);
  void Grid(int which, double* scale, int32_t* zero_point) const;  // 0 char emb, 1 encoder, 2 decoder
  int CellScale(int layer) const;
  void Observe(double* value, double observed);

  G2pOptions fo_;
  G2pQatOptions options_;
  bool observing_ = true, initialized_ = false;
  double enc_lo_ = 0, enc_hi_ = 0, dec_lo_ = 0, dec_hi_ = 0, logit_absmax_ = 0;
  double c_absmax_[3] = {0, 0, 0};
  std::vector<double> pending_c_;  // this forward's cell maxima per layer, applied at its end
};
TORCH_MODULE(QatG2p);

// QAT fine-tuning: calibration over options.calibration_batches batches, then options'epochs with fake
// quantization (Adam at train.lr); after each epoch the exported integer model's greedy valid PER (on the
// runtime) is printed and kept; the best epoch's parameters are kept.
Status TrainQatG2p(const G2pData& data, const G2pTrainOptions& train, const G2pQatOptions& options, QatG2p model,
                   std::vector<G2pEpochStats>* curve);

// The integer model on the runtime: transcriptions (phone ids without </s>) and scores.
Status DecodeIntG2p(const G2pModel& model, const std::vector<std::vector<int32_t>>& words, int beam,
                    std::vector<std::vector<int32_t>>* out, bool progress = false);
Status EvaluateIntG2p(const G2pModel& model, const std::vector<G2pExample>& examples, int beam, G2pScore* score,
                      bool progress = false);

// The integer model simulated with libtorch tensor ops (sim == int, tested): batched over words of one
// length (greedy) or over the hypotheses of one word (beam).
class SimG2p {
 public:
  Status Init(const G2pModelParams& params);
  // chars [S][B] int64: encodes B words of length S; the decoder state is reset for B streams.
  void Encode(const torch::Tensor& chars);
  // Row i takes row parents[i]'s decoder state (parents [B] int64).
  void Reorder(const torch::Tensor& parents);
  // prev [B] int64 -> int32-valued logits [B][phones] (int64 tensor).
  torch::Tensor Step(const torch::Tensor& prev);

 private:
  G2pModelParams params_;
  torch::Tensor char_table_, phone_table_;
  sim::SimTfliteLstm fw_, bw_, dec_;
  sim::SimAttention att_;
  sim::SimAttentionKeys keys_;
  torch::Tensor oh_w_, oh_b_, oh_m_, oh_s_, oc_w_, oc_b_, oc_m_, oc_s_;
  torch::Tensor h_, c_, ctx_;
};

// Greedy (batched) or beam search (G2pSearch over SimG2p steps) on the simulation.
Status DecodeSimG2p(const G2pModelParams& params, const std::vector<std::vector<int32_t>>& words, int beam,
                    std::vector<std::vector<int32_t>>* out);

}  // namespace irnn::train
