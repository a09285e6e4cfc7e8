// QAT LayerNorm LSTM and Mogrifier LSTM modules and their export (see qat_layers.h; numerics.md §3,
// §4, §7.1, §10.3). The fake-quantization helpers are fake_quant.h's, except FakeQuant, which takes
// double bounds here (the LayerNorm bias grid reaches ±(2^31 - 1)).

#include "train/qat_layers.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "core/quantize.h"
#include "train/fake_quant.h"
#include "train/sim.h"
#include "train/sim_mogrifier.h"

namespace irnn::train {
namespace {

using fq::AsymmetricGrid;
using fq::FakeQuantRows;
using fq::RoundToInt32;
using fq::RowScale;

constexpr double kQ312 = 1.0 / 4096.0;
constexpr double kQ015 = 1.0 / 32768.0;

// Straight-through fake quantization onto scale * (q - zp), q in [qmin, qmax]; zero gradient where
// the value was clamped.
torch::Tensor FakeQuant(const torch::Tensor& x, double scale, int64_t zp, double qmin, double qmax) {
  const torch::Tensor q = torch::clamp(torch::round(x / scale) + static_cast<double>(zp), qmin, qmax);
  const torch::Tensor y = (q - static_cast<double>(zp)) * scale;
  const torch::Tensor inside = (x >= (qmin - zp) * scale) & (x <= (qmax - zp) * scale);
  return y.detach() + (x - x.detach()) * inside;
}

// The LayerNorm weight γ of one gate as int16 with scale max|γ| / 32767 (per tensor).
double LnScale(const torch::Tensor& gamma) { return std::max(gamma.detach().abs().max().item<double>(), 1e-6) / 32767.0; }

template <typename T>
std::vector<T> ToVector(const torch::Tensor& t) {
  const torch::Tensor c = t.to(torch::kCPU).contiguous();
  return std::vector<T>(c.data_ptr<T>(), c.data_ptr<T>() + c.numel());
}

// The LayerNorm input grid of gate g: int16 covering the observed max |pre-activation|.
double PreScale(const QatLayerRanges& r, int g) { return std::max(r.pre_absmax[g], 1e-4) / 32767.0; }

}  // namespace

QatLstmLayerImpl::QatLstmLayerImpl(int64_t n_input, int64_t n_cell, const QatLayerOptions& options, uint64_t seed)
    : options_(options), n_input_(n_input), n_cell_(n_cell) {
  if (options_.pot_scales) options_.rounding = Rounding::kSingle;
  torch::manual_seed(seed);
  const double k = 1.0 / std::sqrt(static_cast<double>(n_cell));
  w_ih = register_parameter("w_ih", torch::empty({4 * n_cell, n_input}).uniform_(-k, k));
  w_hh = register_parameter("w_hh", torch::empty({4 * n_cell, n_cell}).uniform_(-k, k));
  torch::Tensor b = torch::zeros({4 * n_cell});
  if (!options.layer_norm) b.uniform_(-k, k);
  b.narrow(0, n_cell, n_cell).fill_(1.0);  // forget-gate bias 1
  bias = register_parameter("bias", b);
  ln_weight = register_parameter("ln_weight", torch::ones({4 * n_cell}), options.layer_norm);
}

void QatLstmLayerImpl::InputGrid(double* scale, int32_t* zero_point) const {
  AsymmetricGrid(ranges_.x_min, ranges_.x_max, scale, zero_point);
}

void QatLstmLayerImpl::OutputGrid(double* scale, int32_t* zero_point) const {
  if (options_.pot_scales) {
    fq::AsymmetricGridPot(ranges_.h_min, ranges_.h_max, scale, zero_point);
  } else {
    AsymmetricGrid(ranges_.h_min, ranges_.h_max, scale, zero_point);
  }
}

int QatLstmLayerImpl::CellScale() const {
  int pot = 0;  // the smallest power of two >= max|c|, as an int16 scale 2^(pot - 15)
  while (pot < 6 && std::ldexp(1.0, pot) < ranges_.c_absmax) ++pot;
  return pot - 15;
}

void QatLstmLayerImpl::ObserveX(const torch::Tensor& raw) {
  if (!observing_) return;
  pend_x_.push_back(raw.detach().min().reshape({1}));
  pend_x_.push_back(raw.detach().max().reshape({1}));
}

void QatLstmLayerImpl::ObserveH(const torch::Tensor& raw) {
  if (!observing_) return;
  pend_h_.push_back(raw.detach().min().reshape({1}));
  pend_h_.push_back(raw.detach().max().reshape({1}));
}

void QatLstmLayerImpl::FinishObservation() {
  if (!observing_ || pend_x_.empty() || pend_h_.empty()) return;
  const torch::Tensor x = torch::cat(pend_x_), h = torch::cat(pend_h_);
  const double x_lo = std::min(0.0, x.min().item<double>()), x_hi = std::max(0.0, x.max().item<double>());
  const double h_lo = std::min(0.0, h.min().item<double>()), h_hi = std::max(0.0, h.max().item<double>());
  const double c_max = pend_c_.empty() ? 0.0 : torch::cat(pend_c_).max().item<double>();
  double pre[4] = {0, 0, 0, 0};
  for (int g = 0; g < 4; ++g) {
    if (!pend_pre_[g].empty()) pre[g] = torch::cat(pend_pre_[g]).max().item<double>();
  }
  auto upd = [&](double* v, double n) { *v = ranges_.initialized ? options_.ema * *v + (1 - options_.ema) * n : n; };
  upd(&ranges_.x_min, x_lo);
  upd(&ranges_.x_max, x_hi);
  upd(&ranges_.h_min, h_lo);
  upd(&ranges_.h_max, h_hi);
  upd(&ranges_.c_absmax, c_max);
  for (int g = 0; g < 4; ++g) upd(&ranges_.pre_absmax[g], pre[g]);
  ranges_.initialized = true;
  pend_x_.clear();
  pend_h_.clear();
  pend_c_.clear();
  for (auto& p : pend_pre_) p.clear();
}

torch::Tensor QatLstmLayerImpl::forward(const torch::Tensor& x) {
  if (is_training()) return ForwardTrain(x, nullptr);
  torch::NoGradGuard no_grad;
  torch::Tensor out;
  const Status s = SimForward(QuantizeInput(x), &out);
  if (!s.ok()) throw std::runtime_error(s.message());
  return Dequantize(out).to(x.dtype());
}

torch::Tensor QatLstmLayerImpl::ForwardTrain(const torch::Tensor& x, const StepHook& hook) {
  const int64_t steps = x.size(0), batch = x.size(1), n = n_cell_;
  const bool q = ranges_.initialized;  // grids exist once the observers have seen a batch
  double s_x = 1, s_h = 1;
  int32_t z_x = 0, z_h = 0;
  if (q) {
    InputGrid(&s_x, &z_x);
    OutputGrid(&s_h, &z_h);
  }
  const double s_c = std::ldexp(1.0, CellScale());
  const bool pot = q && options_.pot_scales;  // numerics.md §7.1.1: the export's scales
  const torch::Tensor wx = pot ? fq::FakeQuantRowsAt(w_ih, fq::PotRowScale(w_ih, s_x)) : FakeQuantRows(w_ih);
  const torch::Tensor wh = pot ? fq::FakeQuantRowsAt(w_hh, fq::PotRowScale(w_hh, s_h)) : FakeQuantRows(w_hh);
  // LayerNorm coefficients: γ on int16 (scale S_ln = max|γ| / 32767), β on the int32 grid S_ln / 1024
  // (numerics.md §3.3: the raw gate bias is added to r·w before the division by 1024).
  std::array<torch::Tensor, 4> gamma, beta;
  std::array<double, 4> s_pre{};
  if (options_.layer_norm) {
    for (int g = 0; g < 4; ++g) {
      const torch::Tensor gw = ln_weight.narrow(0, g * n, n), gb = bias.narrow(0, g * n, n);
      const double s_ln = LnScale(gw);
      gamma[g] = FakeQuant(gw, s_ln, 0, -32767, 32767);
      beta[g] = FakeQuant(gb, s_ln / 1024.0, 0, -2147483647.0, 2147483647.0);
      s_pre[g] = PreScale(ranges_, g);
    }
  }
  torch::Tensor h = torch::zeros({batch, n}, w_ih.options()), c = torch::zeros({batch, n}, w_ih.options());
  std::vector<torch::Tensor> outs;
  for (int64_t t = 0; t < steps; ++t) {
    torch::Tensor xt = x[t];
    ObserveX(xt);
    if (q) xt = FakeQuant(xt, s_x, z_x, -128, 127);
    if (hook) hook(&xt, &h);
    torch::Tensor pre = torch::matmul(xt, wx.t()) + torch::matmul(h, wh.t());
    std::vector<torch::Tensor> y;
    if (!options_.layer_norm) {
      pre = FakeQuant(pre + bias, kQ312, 0, -32768, 32767);  // §4.1 intended mode: one saturation
      y = pre.chunk(4, 1);
    } else {
      const auto parts = pre.chunk(4, 1);
      for (int g = 0; g < 4; ++g) {
        torch::Tensor v = parts[g];
        if (observing_) pend_pre_[g].push_back(v.detach().abs().max().reshape({1}));
        if (q) v = FakeQuant(v, s_pre[g], 0, -32768, 32767);
        // §3: normalise each row; the integer path floors the variance at one LSB² (variance guard).
        const torch::Tensor mean = v.mean(1, true);
        const torch::Tensor var = (v - mean).pow(2).mean(1, true).clamp_min(s_pre[g] * s_pre[g]);
        const torch::Tensor z = (v - mean) * torch::rsqrt(var);
        y.push_back(FakeQuant(z * gamma[g] + beta[g], kQ312, 0, -32768, 32767));
      }
    }
    // Q0.15 gates; float sigmoid/tanh stand in for the PWL tables (≤ 1 LSB apart, numerics.md §6).
    const torch::Tensor i = FakeQuant(torch::sigmoid(y[0]), kQ015, 0, 0, 32767);
    const torch::Tensor f = FakeQuant(torch::sigmoid(y[1]), kQ015, 0, 0, 32767);
    const torch::Tensor g = FakeQuant(torch::tanh(y[2]), kQ015, 0, -32767, 32767);
    const torch::Tensor o = FakeQuant(torch::sigmoid(y[3]), kQ015, 0, 0, 32767);
    c = f * c + i * g;
    if (observing_) pend_c_.push_back(c.detach().abs().max().reshape({1}));
    if (q) c = FakeQuant(c, s_c, 0, -32768, 32767);
    h = o * FakeQuant(torch::tanh(c), kQ015, 0, -32767, 32767);
    ObserveH(h);
    if (q) h = FakeQuant(h, s_h, z_h, -128, 127);
    outs.push_back(h);
  }
  FinishObservation();
  return torch::stack(outs);
}

torch::Tensor QatLstmLayerImpl::QuantizeInput(const torch::Tensor& x) const {
  double s;
  int32_t z;
  InputGrid(&s, &z);
  return torch::clamp(torch::round(x.detach().to(torch::kFloat64) / s) + z, -128, 127).to(torch::kInt64);
}

torch::Tensor QatLstmLayerImpl::Dequantize(const torch::Tensor& q) const {
  double s;
  int32_t z;
  OutputGrid(&s, &z);
  return (q.to(torch::kFloat64) - z) * s;
}

Status QatLstmLayerImpl::Export(TfliteLstmParams* out) const {
  if (!ranges_.initialized) return Status::InvalidArgument("QatLstmLayer export: the layer was never calibrated");
  torch::NoGradGuard no_grad;
  const bool ln = options_.layer_norm;
  if (ln && options_.pot_scales) {
    return Status::InvalidArgument("QatLstmLayer export: pot_scales is on but must be used without layer_norm");
  }
  const int64_t n = n_cell_;
  double s_x, s_h;
  int32_t z_x, z_h;
  InputGrid(&s_x, &z_x);
  OutputGrid(&s_h, &z_h);
  TfliteLstmConfig cfg;
  cfg.n_input = static_cast<int32_t>(n_input_);
  cfg.n_cell = static_cast<int32_t>(n);
  cfg.n_output = static_cast<int32_t>(n);
  cfg.use_layer_norm = ln;
  cfg.rounding = options_.rounding;
  cfg.tflite_compat = false;
  cfg.activation = LstmActivation::kPwl;
  TfliteLstmWeights w;
  TfliteLstmQuantization q;
  q.input = {static_cast<float>(s_x), z_x};
  q.output = {static_cast<float>(s_h), z_h};
  q.cell_scale = std::ldexp(1.0f, CellScale());
  q.intermediates[4] = q.output;
  std::array<torch::Tensor, 4> sx, sh;
  std::array<double, 4> inter{};
  for (int g = 0; g < 4; ++g) {
    const torch::Tensor wx = w_ih.narrow(0, g * n, n), wh = w_hh.narrow(0, g * n, n);
    sx[g] = (options_.pot_scales ? fq::PotRowScale(wx, s_x) : RowScale(wx)).reshape(-1).to(torch::kFloat64);
    sh[g] = (options_.pot_scales ? fq::PotRowScale(wh, s_h) : RowScale(wh)).reshape(-1).to(torch::kFloat64);
    const torch::Tensor qx = torch::clamp(torch::round(wx.to(torch::kFloat64) / sx[g].unsqueeze(1)), -127, 127).to(torch::kInt8);
    const torch::Tensor qh = torch::clamp(torch::round(wh.to(torch::kFloat64) / sh[g].unsqueeze(1)), -127, 127).to(torch::kInt8);
    w.input_to_gate[g] = ToVector<int8_t>(qx);
    w.recurrent_to_gate[g] = ToVector<int8_t>(qh);
    const std::vector<double> b = ToVector<double>(bias.narrow(0, g * n, n).to(torch::kFloat64));
    const std::vector<double> sxv = ToVector<double>(sx[g]);
    w.gate_bias[g].resize(static_cast<size_t>(n));
    if (ln) {
      const double s_ln = LnScale(ln_weight.narrow(0, g * n, n));
      const torch::Tensor lq = torch::clamp(torch::round(ln_weight.narrow(0, g * n, n).to(torch::kFloat64) / s_ln), -32767, 32767)
                                   .to(torch::kInt16);
      w.layer_norm[g] = ToVector<int16_t>(lq);
      for (int64_t r = 0; r < n; ++r) w.gate_bias[g][static_cast<size_t>(r)] = RoundToInt32(b[static_cast<size_t>(r)] * 1024.0 / s_ln);
      q.layer_norm[g] = {static_cast<float>(s_ln), 0};
      inter[g] = PreScale(ranges_, g);
      q.intermediates[g] = {static_cast<float>(inter[g]), 0};
    } else {
      for (int64_t r = 0; r < n; ++r) {
        w.gate_bias[g][static_cast<size_t>(r)] = RoundToInt32(b[static_cast<size_t>(r)] / (sxv[static_cast<size_t>(r)] * s_x));
      }
      inter[g] = kQ312;
    }
    // Per-tensor scales for the derivation (the per-row multipliers below replace what it derives).
    q.input_to_gate[g] = {static_cast<float>(sx[g].max().item<double>()), 0};
    q.recurrent_to_gate[g] = {static_cast<float>(sh[g].max().item<double>()), 0};
  }
  TfliteLstmParams p;
  Status s = DeriveTfliteLstmParams(cfg, w, q, &p);
  if (!s.ok()) return Status(s.code(), "QatLstmLayer export: " + s.message());
  for (int g = 0; g < 4; ++g) {
    const std::vector<double> sxv = ToVector<double>(sx[g]), shv = ToVector<double>(sh[g]);
    p.input_to_gate_channel_scale[g].resize(static_cast<size_t>(n));
    p.recurrent_to_gate_channel_scale[g].resize(static_cast<size_t>(n));
    for (size_t r = 0; r < static_cast<size_t>(n); ++r) {
      p.input_to_gate_channel_scale[g][r] = QuantizeMultiplierQ15(sxv[r] * s_x / inter[g], options_.rounding);
      p.recurrent_to_gate_channel_scale[g][r] = QuantizeMultiplierQ15(shv[r] * s_h / inter[g], options_.rounding);
    }
  }
  IRNN_RETURN_IF_ERROR(ValidateTfliteLstmParams(p));
  *out = std::move(p);
  return Status::Ok();
}

Status QatLstmLayerImpl::SimForward(const torch::Tensor& xq, torch::Tensor* out) const {
  TfliteLstmParams p;
  IRNN_RETURN_IF_ERROR(Export(&p));
  try {
    const sim::SimTfliteLstm m = sim::PrepareSimTfliteLstm(p, xq.device());
    const auto init = sim::SimTfliteLstmInitialState(m, xq.size(1));
    *out = sim::SimTfliteLstmSequence(m, xq.to(torch::kInt64), init.first, init.second).out;
  } catch (const std::exception& e) {
    return Status::InvalidArgument(std::string("QatLstmLayer sim: ") + e.what());
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------------

QatMogrifierLstmImpl::QatMogrifierLstmImpl(int64_t n_input, int64_t n_cell, int rounds, const QatLayerOptions& options,
                                           uint64_t seed) {
  lstm = register_module("lstm", QatLstmLayer(n_input, n_cell, options, seed));
  for (int i = 0; i < rounds; ++i) {
    const bool odd = i % 2 == 0;  // round i + 1
    const int64_t rows = odd ? n_input : n_cell, cols = odd ? n_cell : n_input;
    const double k = 1.0 / std::sqrt(static_cast<double>(cols));
    weight.push_back(register_parameter("weight" + std::to_string(i + 1), torch::empty({rows, cols}).uniform_(-k, k)));
    round_bias.push_back(register_parameter("bias" + std::to_string(i + 1), torch::zeros({rows})));
  }
}

void QatMogrifierLstmImpl::Mogrify(torch::Tensor* x, torch::Tensor* h) {
  const bool q = lstm->quantizing();
  double s_x = 1, s_h = 1;
  int32_t z_x = 0, z_h = 0;
  if (q) {
    lstm->InputGrid(&s_x, &z_x);
    lstm->OutputGrid(&s_h, &z_h);
  }
  for (size_t i = 0; i < weight.size(); ++i) {
    const bool odd = i % 2 == 0;
    torch::Tensor& u = odd ? *x : *h;
    const torch::Tensor& v = odd ? *h : *x;
    // §10.3: a Q3.12 pre-activation, σ on Q0.15, then u·2σ back on u's own int8 grid.
    const torch::Tensor pre = FakeQuant(torch::matmul(v, FakeQuantRows(weight[i]).t()) + round_bias[i], kQ312, 0, -32768, 32767);
    const torch::Tensor s = FakeQuant(torch::sigmoid(pre), kQ015, 0, 0, 32767);
    torch::Tensor next = 2.0 * s * u;
    if (odd) {
      lstm->ObserveX(next);
    } else {
      lstm->ObserveH(next);
    }
    if (q) next = odd ? FakeQuant(next, s_x, z_x, -128, 127) : FakeQuant(next, s_h, z_h, -128, 127);
    u = next;
  }
}

torch::Tensor QatMogrifierLstmImpl::forward(const torch::Tensor& x) {
  if (is_training()) return lstm->ForwardTrain(x, [this](torch::Tensor* xt, torch::Tensor* h) { Mogrify(xt, h); });
  torch::NoGradGuard no_grad;
  torch::Tensor out;
  const Status s = SimForward(QuantizeInput(x), &out);
  if (!s.ok()) throw std::runtime_error(s.message());
  return Dequantize(out).to(x.dtype());
}

Status QatMogrifierLstmImpl::Export(MogrifierLstmParams* out) const {
  TfliteLstmParams lp;
  IRNN_RETURN_IF_ERROR(lstm->Export(&lp));
  torch::NoGradGuard no_grad;
  double s_x, s_h;
  int32_t z_x, z_h;
  lstm->InputGrid(&s_x, &z_x);
  lstm->OutputGrid(&s_h, &z_h);
  std::vector<MogrifierRoundFloat> rounds;
  for (size_t i = 0; i < weight.size(); ++i) {
    const double s_v = i % 2 == 0 ? s_h : s_x;  // the vector the round reads
    const torch::Tensor sw = RowScale(weight[i]).to(torch::kFloat64);
    MogrifierRoundFloat r;
    r.weight = ToVector<int8_t>(torch::clamp(torch::round(weight[i].to(torch::kFloat64) / sw), -127, 127).to(torch::kInt8));
    const std::vector<double> swv = ToVector<double>(sw.reshape(-1));
    const std::vector<double> b = ToVector<double>(round_bias[i].to(torch::kFloat64));
    for (size_t row = 0; row < swv.size(); ++row) {
      r.bias.push_back(RoundToInt32(b[row] / (swv[row] * s_v)));
      r.weight_scale.push_back(static_cast<float>(swv[row]));
    }
    rounds.push_back(std::move(r));
  }
  const Status s = DeriveMogrifierLstmParams(lp, static_cast<float>(s_x), z_x, static_cast<float>(s_h), rounds, out);
  if (!s.ok()) return Status(s.code(), "QatMogrifierLstm export: " + s.message());
  return Status::Ok();
}

Status QatMogrifierLstmImpl::SimForward(const torch::Tensor& xq, torch::Tensor* out) const {
  MogrifierLstmParams p;
  IRNN_RETURN_IF_ERROR(Export(&p));
  try {
    const sim::SimMogrifierLstm m = sim::PrepareSimMogrifierLstm(p, xq.device());
    const auto init = sim::SimTfliteLstmInitialState(m.lstm, xq.size(1));
    *out = sim::SimMogrifierLstmSequence(m, xq.to(torch::kInt64), init.first, init.second).out;
  } catch (const std::exception& e) {
    return Status::InvalidArgument(std::string("QatMogrifierLstm sim: ") + e.what());
  }
  return Status::Ok();
}

}  // namespace irnn::train
