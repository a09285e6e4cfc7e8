// Quantization-aware training of integer attention (include/irnn/attention.h; docs/numerics.md §9): a
// torch module whose training forward is float with fake quantization at exactly the runtime's
// quantization points (straight-through gradients), a range observer for the one learned grid (the
// dot-product query projection u), Export() to AttentionParams, and an evaluation forward that is the
// integer simulation (sim_attention.h) of the exported parameters, so what is measured is what ships.
//
// How a model uses it (the G2P encoder-decoder): the encoder's output grid (S_k, Z_k) and the decoder
// query's grid (S_q, Z_q) belong to those layers; pass them with SetGrids before forward/Export. In
// training, call forward(keys, mask, query) with float keys/query that are already fake-quantized on
// those grids; the returned context is fake-quantized on the keys' grid (concatenate it with encoder-
// grid vectors directly). For evaluation/export: Export(&params), then irnn::Attention (runtime) or
// sim::PrepareSimAttention + SimAttend (bit-identical). Not a graph of its own: no encoder, no decoder.
#pragma once

#include <torch/torch.h>

#include "irnn/attention.h"
#include "irnn/status.h"
#include "train/sim_attention.h"

namespace irnn::train {

struct QatAttentionOptions {
  AttentionMode mode = AttentionMode::kAdditive;
  int64_t n_key = 0;
  int64_t n_query = 0;  // 0 = pooling (learned query)
  int64_t n_attn = 0;   // additive hidden width (dot: 0)
  Rounding rounding = Rounding::kDouble;
  LstmActivation activation = LstmActivation::kFixedPoint;  // additive tanh: fixed point or PWL
  double ema = 0.9;                                         // observer momentum (dot: |u| max)
};

class QatAttentionImpl : public torch::nn::Module {
 public:
  explicit QatAttentionImpl(const QatAttentionOptions& options);

  // The int8 grids of keys (= values = context) and of the query, owned by the caller's layers.
  void SetGrids(double key_scale, int32_t key_zp, double query_scale, int32_t query_zp);

  struct Output {
    torch::Tensor context;  // [B][n_key], fake-quantized on the keys' grid
    torch::Tensor weights;  // [B][T] attention weights (fake-quantized to Q0.15)
  };
  // Float fake-quant forward. keys [B][T][n_key] float (real values on the key grid); mask bool [B][T]
  // (undefined = all valid; every row needs one true entry); query [B][n_query] float, undefined exactly
  // when n_query == 0. When observing (and training), the dot-mode observer updates.
  Output forward(const torch::Tensor& keys, const torch::Tensor& mask, const torch::Tensor& query);

  // The same in two parts, for a decoder that attends over one sequence many times: PrepareKeys once
  // per sequence (additive: the key projection Wk k_t, as the runtime's SetKeys), then Attend per step.
  // forward(k, m, q) == Attend(PrepareKeys(k, m), q).
  struct Keys {
    torch::Tensor keys;  // [B][T][n_key]
    torch::Tensor mask;  // bool [B][T] or undefined
    torch::Tensor proj;  // additive: [B][T][n_attn] (float, before the Q3.12 fake quantization)
  };
  Keys PrepareKeys(const torch::Tensor& keys, const torch::Tensor& mask);
  Output Attend(const Keys& keys, const torch::Tensor& query);

  // The observer (dot mode: max |u|, an EMA) updates in every forward while observing is on (the
  // default, as the LM's QAT): calibrate, then set_observing(false) to freeze the grid. Its value is
  // the buffer "u_absmax", so torch::save/load keep it with the weights.
  void set_observing(bool on) { observing_ = on; }
  const QatAttentionOptions& options() const { return options_; }
  double projection_absmax() const { return u_absmax.item<double>(); }

  // Integer parameters for the current weights, grids and ranges (numerics.md §9.5).
  Status Export(AttentionParams* params) const;
  // The evaluation forward: the integer simulation of Export()'s parameters. keys int8-valued
  // [B][T][n_key] (integers on the key grid), lengths [B] or undefined, query int8-valued or undefined.
  Status EvalInt(const torch::Tensor& keys, const torch::Tensor& lengths, const torch::Tensor& query,
                 sim::SimAttendResult* out) const;

  torch::Tensor wq, bq;  // [rows][n_query] (rows = n_attn additive, n_key dot), [rows]; wq empty if n_query == 0
  torch::Tensor wk, v;   // additive: [n_attn][n_key], [n_attn]
  torch::Tensor u_absmax;  // buffer: the dot-mode observer's max |u| (0 = not observed yet)

 private:
  QatAttentionOptions options_;
  double key_scale_ = 0, query_scale_ = 0;
  int32_t key_zp_ = 0, query_zp_ = 0;
  bool observing_ = true;
};
TORCH_MODULE(QatAttention);

}  // namespace irnn::train
