// Export of a fake-quantized LSTM layer's gates to the integer LSTM (numerics.md §7.1), shared by the
// LSTM language model's QAT (qat.cc) and the G2P QAT (g2p_qat.cc): the int8 gate weights and int32
// biases with the per-tensor scales that DeriveTfliteLstmParams reads, and the per-row (iRNN) input and
// recurrent multipliers that replace what it derives. How the scales are chosen (per tensor or per row,
// in float or double) stays with each caller. Float export code (libtorch); not the integer runtime.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "core/quantize.h"
#include "irnn/tflite_lstm.h"
#include "train/fake_quant.h"

namespace irnn::train {

// Gate g of one layer: wx [d][k] and wh [d][d] the gate's float64 input and recurrent weights, sx and sh
// their float64 scales [d][1] (one per row), b the gate's float64 bias [d] (torch's two biases summed),
// s_x the input scale. Writes w's weights round(w / s) clamped to [-qmax, qmax] (127, or 63 for 7-bit
// weights), its bias in units of sx[r] * s_x, and q's per-tensor scales: the largest row scale.
inline void QuantizeLstmGate(int g, const torch::Tensor& wx, const torch::Tensor& wh, const torch::Tensor& sx,
                             const torch::Tensor& sh, const torch::Tensor& b, double s_x, TfliteLstmWeights* w,
                             TfliteLstmQuantization* q, int qmax = 127) {
  const int64_t d = wx.size(0);
  const torch::Tensor qx = torch::clamp(torch::round(wx / sx), -qmax, qmax).to(torch::kInt8).contiguous();
  const torch::Tensor qh = torch::clamp(torch::round(wh / sh), -qmax, qmax).to(torch::kInt8).contiguous();
  w->input_to_gate[g].assign(qx.data_ptr<int8_t>(), qx.data_ptr<int8_t>() + qx.numel());
  w->recurrent_to_gate[g].assign(qh.data_ptr<int8_t>(), qh.data_ptr<int8_t>() + qh.numel());
  const torch::Tensor bq = (b / (sx.reshape(-1) * s_x)).contiguous();
  auto acc = bq.accessor<double, 1>();
  w->gate_bias[g].resize(static_cast<size_t>(d));
  for (int64_t r = 0; r < d; ++r) w->gate_bias[g][static_cast<size_t>(r)] = fq::RoundToInt32(acc[r]);
  q->input_to_gate[g] = {static_cast<float>(sx.max().item<double>()), 0};
  q->recurrent_to_gate[g] = {static_cast<float>(sh.max().item<double>()), 0};
}

// The per-row multipliers of every gate (iRNN mode): input sx[g][r] * s_x * 2^12 and recurrent
// sh[g][r] * s_h * 2^12 (onto the Q3.12 gate grid), with sx, sh as QuantizeLstmGate's.
inline void SetLstmRowMultipliers(const std::array<torch::Tensor, 4>& sx, const std::array<torch::Tensor, 4>& sh,
                                  double s_x, double s_h, Rounding rounding, TfliteLstmParams* lp) {
  for (int g = 0; g < 4; ++g) {
    const int64_t d = sx[g].size(0);
    auto ax = sx[g].accessor<double, 2>();
    auto ah = sh[g].accessor<double, 2>();
    lp->input_to_gate_channel_scale[g].resize(static_cast<size_t>(d));
    lp->recurrent_to_gate_channel_scale[g].resize(static_cast<size_t>(d));
    for (int64_t r = 0; r < d; ++r) {
      lp->input_to_gate_channel_scale[g][static_cast<size_t>(r)] = QuantizeMultiplierQ15(ax[r][0] * s_x * 4096.0, rounding);
      lp->recurrent_to_gate_channel_scale[g][static_cast<size_t>(r)] =
          QuantizeMultiplierQ15(ah[r][0] * s_h * 4096.0, rounding);
    }
  }
}

}  // namespace irnn::train
