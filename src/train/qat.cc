// Quantization-aware LSTM language model and its export (see qat.h; numerics.md §4, §7).

#include "train/qat.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/quantize.h"
#include "train/fake_quant.h"
#include "train/lstm_export.h"
#include "train/progress.h"

namespace irnn::train {
namespace {

using fq::AsymmetricGrid;
using fq::FakeQuant;
using fq::RoundToInt32;

// Symmetric weights in [-qmax, qmax] (127: int8; 63: 7-bit), scale max|w| / qmax per tensor or per row.
torch::Tensor WeightScale(const torch::Tensor& w, bool per_row, int qmax) {
  if (per_row) return fq::RowScale(w, qmax);
  return (w.detach().abs().max() / static_cast<double>(qmax)).clamp_min(1e-12);
}

torch::Tensor FakeQuantWeight(const torch::Tensor& w, bool per_row, int qmax) {
  const torch::Tensor s = WeightScale(w, per_row, qmax);
  const torch::Tensor q = torch::clamp(torch::round(w / s), -qmax, qmax) * s;
  return w + (q - w).detach();
}

// The four gate matrices stacked in w [4D][K] are separate tensors in a TFLite model: one scale each
// (per tensor) or one per row.
torch::Tensor FakeQuantGateWeights(const torch::Tensor& w, bool per_row, int qmax) {
  if (per_row) return FakeQuantWeight(w, true, qmax);
  const auto blocks = w.chunk(4, 0);
  std::vector<torch::Tensor> q;
  for (const auto& b : blocks) q.push_back(FakeQuantWeight(b, false, qmax));
  return torch::cat(q, 0);
}

}  // namespace

QatLmImpl::QatLmImpl(const FloatLm& f, const QatOptions& options) : options_(options) {
  if (options_.pot_scales) options_.rounding = Rounding::kSingle;
  const LmOptions& o = f->options();
  vocab_ = o.vocab;
  dim_ = o.dim;
  layers_ = o.layers;
  torch::NoGradGuard no_grad;
  embedding = register_parameter("embedding", f->embedding->weight.detach().clone());
  for (int64_t l = 0; l < layers_; ++l) {
    const std::string s = std::to_string(l);
    w_ih.push_back(register_parameter("w_ih" + s, f->lstm->named_parameters()["weight_ih_l" + s].detach().clone()));
    w_hh.push_back(register_parameter("w_hh" + s, f->lstm->named_parameters()["weight_hh_l" + s].detach().clone()));
    bias.push_back(register_parameter("bias" + s, (f->lstm->named_parameters()["bias_ih_l" + s] +
                                                   f->lstm->named_parameters()["bias_hh_l" + s]).detach().clone()));
  }
  dec_w = register_parameter("dec_w", f->decoder->weight.detach().clone());
  dec_b = register_parameter("dec_b", f->decoder->bias.detach().clone());
  ranges_.h_min.assign(layers_, 0);
  ranges_.h_max.assign(layers_, 0);
  ranges_.c_absmax.assign(layers_, 0);
}

std::vector<torch::Tensor> QatLmImpl::ZeroState(int64_t batch) const {
  std::vector<torch::Tensor> s;
  for (int64_t l = 0; l < 2 * layers_; ++l) s.push_back(torch::zeros({batch, dim_}, dec_w.options()));
  return s;
}

void QatLmImpl::Observe(std::vector<double>* lo, std::vector<double>* hi, size_t i, double new_lo, double new_hi) {
  if (!ranges_.initialized) {
    if (lo) (*lo)[i] = new_lo;
    (*hi)[i] = new_hi;
    return;
  }
  const double m = options_.ema;
  if (lo) (*lo)[i] = m * (*lo)[i] + (1 - m) * new_lo;
  (*hi)[i] = m * (*hi)[i] + (1 - m) * new_hi;
}

void QatLmImpl::EmbeddingGrid(double* scale, int32_t* zero_point) const {
  AsymmetricGrid(embedding.min().item<double>(), embedding.max().item<double>(), scale, zero_point);
}

void QatLmImpl::OutputGrid(size_t l, double* scale, int32_t* zero_point) const {
  if (options_.pot_scales) {
    fq::AsymmetricGridPot(ranges_.h_min[l], ranges_.h_max[l], scale, zero_point);
  } else {
    AsymmetricGrid(ranges_.h_min[l], ranges_.h_max[l], scale, zero_point);
  }
}

void QatLmImpl::PotWeightScales(size_t l, torch::Tensor* sx, torch::Tensor* sh) const {
  double s_x, s_h;
  int32_t z;
  if (l == 0) EmbeddingGrid(&s_x, &z);
  else OutputGrid(l - 1, &s_x, &z);
  OutputGrid(l, &s_h, &z);
  *sx = fq::PotRowScale(w_ih[l], s_x, options_.WeightMax());
  *sh = fq::PotRowScale(w_hh[l], s_h, options_.WeightMax());
}

int QatLmImpl::CellScale(size_t l) const {
  // The smallest power of two >= max|c| (TFLite's quantizer), as an int16 scale 2^(pot - 15).
  int pot = 0;
  while (pot < 6 && std::ldexp(1.0, pot) < ranges_.c_absmax[l]) ++pot;
  return pot - 15;
}

int64_t QatLmImpl::PotClippedRows() const {
  if (!options_.pot_scales || !ranges_.initialized) return 0;
  torch::NoGradGuard no_grad;
  int64_t n = 0;
  for (int64_t l = 0; l < layers_; ++l) {
    torch::Tensor sx, sh;
    PotWeightScales(static_cast<size_t>(l), &sx, &sh);
    n += (fq::RowScale(w_ih[l], options_.WeightMax()).to(torch::kFloat64) > sx * (1 + 1e-9)).sum().item<int64_t>();
    n += (fq::RowScale(w_hh[l], options_.WeightMax()).to(torch::kFloat64) > sh * (1 + 1e-9)).sum().item<int64_t>();
  }
  return n;
}

torch::Tensor QatLmImpl::forward(const torch::Tensor& tokens, std::vector<torch::Tensor>* state) {
  const bool per_row = options_.mode == QatMode::kIrnn;
  double s_e;
  int32_t z_e;
  EmbeddingGrid(&s_e, &z_e);
  torch::Tensor x = FakeQuant(embedding, s_e, z_e, -128, 127).index_select(0, tokens.reshape(-1));
  x = x.reshape({tokens.size(0), tokens.size(1), dim_});  // [T][B][D]
  const int64_t steps = tokens.size(0);
  const double q312 = std::ldexp(1.0, -12), q015 = std::ldexp(1.0, -15);
  for (int64_t l = 0; l < layers_; ++l) {
    torch::Tensor wx, wh;
    if (options_.pot_scales && per_row && ranges_.initialized) {  // numerics.md §7.1.1: the export's scales
      torch::Tensor sx, sh;
      PotWeightScales(static_cast<size_t>(l), &sx, &sh);
      wx = fq::FakeQuantRowsAt(w_ih[l], sx, options_.WeightMax());
      wh = fq::FakeQuantRowsAt(w_hh[l], sh, options_.WeightMax());
    } else {
      wx = FakeQuantGateWeights(w_ih[l], per_row, options_.WeightMax());
      wh = FakeQuantGateWeights(w_hh[l], per_row, options_.WeightMax());
    }
    const torch::Tensor xw = torch::matmul(x, wx.t()) + bias[l];  // the input part of every step at once
    torch::Tensor h = (*state)[2 * l], c = (*state)[2 * l + 1];
    double s_h = 1;
    int32_t z_h = 0;
    if (ranges_.initialized || !observing_) OutputGrid(l, &s_h, &z_h);
    const int cs = ranges_.initialized || !observing_ ? CellScale(l) : -9;
    const double s_c = std::ldexp(1.0, cs);
    std::vector<torch::Tensor> outs, cell_max, raw_h;  // observed after the loop: one sync
    double h_lo = 0, h_hi = 0, c_max = 0;
    for (int64_t t = 0; t < steps; ++t) {
      // Q3.12 gate pre-activations. TFLite saturates the input and the recurrent contributions one after
      // the other (numerics.md §5 Q5); the intended arithmetic (iRNN mode) saturates their sum once.
      torch::Tensor pre = per_row ? xw[t] + torch::matmul(h, wh.t())
                                  : FakeQuant(xw[t], q312, 0, -32768, 32767) + torch::matmul(h, wh.t());
      pre = FakeQuant(pre, q312, 0, -32768, 32767);
      const auto gates = pre.chunk(4, 1);
      const torch::Tensor i = FakeQuant(torch::sigmoid(gates[0]), q015, 0, 0, 32767);
      const torch::Tensor f = FakeQuant(torch::sigmoid(gates[1]), q015, 0, 0, 32767);
      const torch::Tensor g = FakeQuant(torch::tanh(gates[2]), q015, 0, -32767, 32767);
      const torch::Tensor o = FakeQuant(torch::sigmoid(gates[3]), q015, 0, 0, 32767);
      c = f * c + i * g;
      if (observing_) cell_max.push_back(c.detach().abs().amax({1}));
      c = FakeQuant(c, s_c, 0, -32768, 32767);
      h = o * FakeQuant(torch::tanh(c), q015, 0, -32767, 32767);
      if (observing_) raw_h.push_back(h.detach().reshape(-1));
      if (ranges_.initialized || !observing_) h = FakeQuant(h, s_h, z_h, -128, 127);
      outs.push_back(h);
    }
    if (observing_) {
      c_max = torch::cat(cell_max).max().item<double>();
      const torch::Tensor all_h = torch::cat(raw_h);
      h_lo = std::min(0.0, all_h.min().item<double>());
      h_hi = std::max(0.0, all_h.max().item<double>());
      Observe(&ranges_.h_min, &ranges_.h_max, l, h_lo, h_hi);
      Observe(nullptr, &ranges_.c_absmax, l, 0, c_max);
    }
    (*state)[2 * l] = h;
    (*state)[2 * l + 1] = c;
    x = torch::stack(outs);
  }
  const torch::Tensor logits = torch::matmul(x, fq::FakeQuantRows(dec_w).t()) + dec_b;
  if (observing_) {
    const double m = logits.detach().abs().max().item<double>();
    ranges_.logit_absmax = ranges_.initialized ? options_.ema * ranges_.logit_absmax + (1 - options_.ema) * m : m;
    ranges_.initialized = true;
  }
  return logits;
}

Status QatLmImpl::Export(LanguageModelParams* out, double* logit_scale) const {
  if (!ranges_.initialized) return Status::InvalidArgument("QAT export: the model was never calibrated");
  if (options_.weight_bits != 8 && options_.weight_bits != 7) {
    return Status::InvalidArgument("QAT export: weight_bits is " + std::to_string(options_.weight_bits) +
                                   " but must be 8 or 7");
  }
  torch::NoGradGuard no_grad;
  const bool irnn = options_.mode == QatMode::kIrnn;
  if (options_.pot_scales && !irnn) {
    return Status::InvalidArgument("QAT export: pot_scales is on but must be used with the iRNN mode only");
  }
  LanguageModelParams p;
  double s_x;
  int32_t z_x;
  EmbeddingGrid(&s_x, &z_x);
  {
    const torch::Tensor q = torch::clamp(torch::round(embedding / s_x) + z_x, -128, 127).to(torch::kInt8).contiguous();
    p.embedding.vocab = static_cast<int32_t>(vocab_);
    p.embedding.dim = static_cast<int32_t>(dim_);
    p.embedding.table.assign(q.data_ptr<int8_t>(), q.data_ptr<int8_t>() + q.numel());
    p.embedding.zero_point = z_x;
  }
  const int64_t d = dim_;
  for (int64_t l = 0; l < layers_; ++l) {
    double s_h;
    int32_t z_h;
    OutputGrid(static_cast<size_t>(l), &s_h, &z_h);
    TfliteLstmConfig cfg;
    cfg.n_input = static_cast<int32_t>(d);
    cfg.n_cell = static_cast<int32_t>(d);
    cfg.n_output = static_cast<int32_t>(d);
    cfg.rounding = options_.rounding;
    cfg.tflite_compat = !irnn;
    cfg.activation = irnn ? LstmActivation::kPwl : LstmActivation::kFixedPoint;
    TfliteLstmWeights w;
    TfliteLstmQuantization q;
    q.input = {static_cast<float>(s_x), z_x};
    q.output = {static_cast<float>(s_h), z_h};
    q.cell_scale = std::ldexp(1.0f, CellScale(static_cast<size_t>(l)));
    q.intermediates[4] = q.output;
    std::array<torch::Tensor, 4> sx, sh;
    torch::Tensor pot_sx, pot_sh;
    if (options_.pot_scales) PotWeightScales(static_cast<size_t>(l), &pot_sx, &pot_sh);
    for (int g = 0; g < 4; ++g) {
      const torch::Tensor wx = w_ih[l].narrow(0, g * d, d), wh = w_hh[l].narrow(0, g * d, d);
      if (options_.pot_scales) {
        sx[g] = pot_sx.narrow(0, g * d, d).contiguous();
        sh[g] = pot_sh.narrow(0, g * d, d).contiguous();
      } else {
        sx[g] = WeightScale(wx, irnn, options_.WeightMax()).reshape({-1, 1}).expand({d, 1}).contiguous().to(torch::kFloat64);
        sh[g] = WeightScale(wh, irnn, options_.WeightMax()).reshape({-1, 1}).expand({d, 1}).contiguous().to(torch::kFloat64);
      }
      // One bias per gate, in units of S_Wx[r] * S_x (torch's two biases are summed). Per-tensor scale
      // for the derivation: the tensor's own (TFLite) or the largest row's (iRNN; the per-row
      // multipliers below replace what it derives).
      const torch::Tensor b = bias[l].narrow(0, g * d, d).to(torch::kFloat64);
      QuantizeLstmGate(g, wx.to(torch::kFloat64), wh.to(torch::kFloat64), sx[g], sh[g], b, s_x, &w, &q,
                       options_.WeightMax());
      if (!irnn) {
        // Per tensor: the bias must be in units of the tensor scale.
        for (int64_t r = 0; r < d; ++r) {
          w.gate_bias[g][static_cast<size_t>(r)] = RoundToInt32(b[r].item<double>() / (q.input_to_gate[g].scale * static_cast<float>(s_x)));
        }
      }
    }
    TfliteLstmParams lp;
    Status s = DeriveTfliteLstmParams(cfg, w, q, &lp);
    if (!s.ok()) return Status(s.code(), "QAT export, layer " + std::to_string(l) + ": " + s.message());
    if (irnn) {
      SetLstmRowMultipliers(sx, sh, s_x, s_h, options_.rounding, &lp);
      if (options_.pwl_max_err != 1.0) {
        s = FitTfliteLstmPwlTables(true, options_.pwl_max_err, &lp);
        if (!s.ok()) return s;
      }
    }
    p.lstm.push_back(std::move(lp));
    s_x = s_h;
    z_x = z_h;
  }
  // Decoder: per-row int8 weights, int32 logits on one scale S_logit with 2^20 steps up to max|logit|.
  const double s_logit = std::max(ranges_.logit_absmax, 1e-3) / std::ldexp(1.0, 20);
  const torch::Tensor sw = fq::RowScale(dec_w).to(torch::kFloat64);  // [V][1]
  const torch::Tensor qw = torch::clamp(torch::round(dec_w.to(torch::kFloat64) / sw), -127, 127).to(torch::kInt8).contiguous();
  p.decoder.n_in = static_cast<int32_t>(d);
  p.decoder.n_out = static_cast<int32_t>(vocab_);
  p.decoder.rounding = options_.rounding;
  p.decoder.weights.assign(qw.data_ptr<int8_t>(), qw.data_ptr<int8_t>() + qw.numel());
  const torch::Tensor rowsum = qw.to(torch::kInt64).sum(1);
  auto sw_a = sw.accessor<double, 2>();
  auto b_a = dec_b.to(torch::kFloat64).contiguous();
  auto b_acc = b_a.accessor<double, 1>();
  auto rs = rowsum.accessor<int64_t, 1>();
  p.decoder.effective_bias.resize(static_cast<size_t>(vocab_));
  p.decoder.channel_scale.resize(static_cast<size_t>(vocab_));
  for (int64_t r = 0; r < vocab_; ++r) {
    const int64_t bq = RoundToInt32(b_acc[r] / (sw_a[r][0] * s_x));
    const int64_t eff = bq - int64_t{z_x} * rs[r];
    p.decoder.effective_bias[static_cast<size_t>(r)] = static_cast<int32_t>(std::clamp<int64_t>(eff, INT32_MIN, INT32_MAX));
    p.decoder.channel_scale[static_cast<size_t>(r)] = QuantizeMultiplierQ15(sw_a[r][0] * s_x / s_logit, options_.rounding);
  }
  IRNN_RETURN_IF_ERROR(ValidateLanguageModelParams(p));
  *out = std::move(p);
  *logit_scale = s_logit;
  return Status::Ok();
}

void Calibrate(QatLm model, const std::vector<int32_t>& ids, int batch, int bptt, int batches) {
  torch::NoGradGuard no_grad;
  std::vector<int32_t> tm;
  int steps = 0;
  if (!BatchifyTimeMajor(ids, batch, &tm, &steps).ok()) return;
  const torch::Tensor data = torch::from_blob(tm.data(), {steps, batch}, torch::kInt32).to(torch::kInt64);
  auto state = model->ZeroState(batch);
  model->set_observing(true);
  int done = 0;
  for (int64_t t = 0; t + 1 < data.size(0) && done < batches; t += bptt, ++done) {
    const int64_t len = std::min<int64_t>(bptt, data.size(0) - 1 - t);
    model->forward(data.narrow(0, t, len), &state);
  }
  model->set_observing(false);
}

Status TrainQat(const TextCorpus& corpus, const TrainOptions& o, QatLm model, std::vector<EpochStats>* curve) {
  torch::manual_seed(o.seed);
  if (o.threads > 0) torch::set_num_threads(o.threads);
  Calibrate(model, corpus.train, o.batch, o.bptt, model->options().calibration_batches);
  std::vector<int32_t> ids = corpus.train;
  if (o.max_train_tokens > 0 && static_cast<int64_t>(ids.size()) > o.max_train_tokens) ids.resize(o.max_train_tokens);
  std::vector<int32_t> tm;
  int steps = 0;
  IRNN_RETURN_IF_ERROR(BatchifyTimeMajor(ids, o.batch, &tm, &steps));
  const torch::Tensor data = torch::from_blob(tm.data(), {steps, o.batch}, torch::kInt32).to(torch::kInt64);
  std::unique_ptr<torch::optim::Optimizer> opt;
  IRNN_RETURN_IF_ERROR(MakeOptimizer(model->parameters(), o, &opt));
  double lr = o.lr;
  for (int epoch = 1; epoch <= o.epochs; ++epoch) {
    SetLearningRate(opt.get(), lr);
    model->train();
    // Observers keep adapting during QAT (EMA), as in Jacob et al.; export freezes them.
    model->set_observing(true);
    auto state = model->ZeroState(o.batch);
    EpochStats s = TrainEpoch(
        data, o, "qat epoch " + std::to_string(epoch) + "/" + std::to_string(o.epochs), model->parameters(),
        opt.get(), [&](const torch::Tensor& x, const torch::Tensor& y) {
          for (auto& h : state) h = h.detach();
          const torch::Tensor logits = model->forward(x, &state);
          return torch::nn::functional::cross_entropy(logits.reshape({-1, logits.size(2)}), y.reshape(-1));
        });
    model->set_observing(false);
    s.epoch = epoch;
    s.lr = lr;
    curve->push_back(s);
    if (epoch >= o.decay_start) lr *= o.lr_decay;
  }
  return Status::Ok();
}

Status PerplexityFromIntLogits(const std::vector<int32_t>& ids, int batch, int64_t vocab, double logit_scale,
                               const LogitStep& step, double* ppl, int64_t* tokens, bool progress) {
  std::vector<int32_t> tm;
  int steps = 0;
  IRNN_RETURN_IF_ERROR(BatchifyTimeMajor(ids, batch, &tm, &steps));
  if (steps < 2) return Status::InvalidArgument("perplexity: too few tokens");
  Progress bar("eval", static_cast<int64_t>(steps - 1) * batch);
  std::vector<int32_t> in(static_cast<size_t>(batch)), logits;
  double nll = 0;
  int64_t count = 0;
  for (int t = 0; t + 1 < steps; ++t) {
    std::copy(tm.begin() + static_cast<int64_t>(t) * batch, tm.begin() + static_cast<int64_t>(t + 1) * batch, in.begin());
    IRNN_RETURN_IF_ERROR(step(in, &logits));
    if (static_cast<int64_t>(logits.size()) != batch * vocab) return Status::InvalidArgument("perplexity: logits have the wrong size");
    for (int b = 0; b < batch; ++b) {
      const int32_t* z = logits.data() + static_cast<int64_t>(b) * vocab;
      const int32_t zmax = *std::max_element(z, z + vocab);
      double sum = 0;
      for (int64_t v = 0; v < vocab; ++v) sum += std::exp(logit_scale * (static_cast<double>(z[v]) - zmax));
      const int32_t target = tm[static_cast<size_t>(t + 1) * batch + b];
      nll += std::log(sum) - logit_scale * (static_cast<double>(z[target]) - zmax);
      ++count;
    }
    if (progress) bar.Update(count);
  }
  *ppl = std::exp(nll / count);
  *tokens = count;
  return Status::Ok();
}

void SimLmEnds::Init(const EmbeddingParams& embedding, const LinearParams& decoder, const torch::Device& dev) {
  device = dev;
  auto i64 = torch::TensorOptions().dtype(torch::kInt64);
  table = torch::from_blob(const_cast<int8_t*>(embedding.table.data()), {embedding.vocab, embedding.dim},
                           torch::kInt8).to(torch::kInt64).to(dev);
  dec_w = torch::from_blob(const_cast<int8_t*>(decoder.weights.data()), {decoder.n_out, decoder.n_in},
                           torch::kInt8).to(torch::kInt64).to(dev);
  dec_bias = torch::from_blob(const_cast<int32_t*>(decoder.effective_bias.data()), {decoder.n_out},
                              torch::kInt32).to(torch::kInt64).to(dev);
  std::vector<int64_t> mult, shift;
  for (const auto& m : decoder.channel_scale) {
    mult.push_back(m.multiplier);
    shift.push_back(m.shift);
  }
  dec_mult = torch::tensor(mult, i64).to(dev);
  dec_shift = torch::tensor(shift, i64).to(dev);
  rounding = decoder.rounding;
}

torch::Tensor SimLmEnds::Embed(const std::vector<int32_t>& tokens) const {
  const int64_t b = static_cast<int64_t>(tokens.size());
  return sim::EmbeddingLookup(
      table, torch::from_blob(const_cast<int32_t*>(tokens.data()), {b}, torch::kInt32).to(torch::kInt64).to(device));
}

void SimLmEnds::Logits(const torch::Tensor& x, std::vector<int32_t>* logits) const {
  const torch::Tensor z = sim::LinearToLogits(x, dec_w, dec_bias, dec_mult, dec_shift, rounding)
                              .to(torch::kInt32).to(torch::kCPU).contiguous();
  logits->assign(z.data_ptr<int32_t>(), z.data_ptr<int32_t>() + z.numel());
}

Status SimLanguageModel::Init(const LanguageModelParams& p, const torch::Device& device) {
  IRNN_RETURN_IF_ERROR(ValidateLanguageModelParams(p));
  try {
    ends_.Init(p.embedding, p.decoder, device);
    lstm_.clear();
    for (const auto& l : p.lstm) lstm_.push_back(sim::PrepareSimTfliteLstm(l, device));
  } catch (const std::exception& e) {
    return Status::InvalidArgument(std::string("sim: ") + e.what());
  }
  return Status::Ok();
}

void SimLanguageModel::Reset(int64_t batch) {
  h_.clear();
  c_.clear();
  for (const auto& l : lstm_) {
    auto s = sim::SimTfliteLstmInitialState(l, batch);
    h_.push_back(s.first);
    c_.push_back(s.second);
  }
}

Status SimLanguageModel::Step(const std::vector<int32_t>& tokens, std::vector<int32_t>* logits) {
  try {
    const int64_t b = static_cast<int64_t>(tokens.size());
    if (h_.empty() || h_[0].size(0) != b) Reset(b);
    torch::Tensor x = ends_.Embed(tokens);
    for (size_t l = 0; l < lstm_.size(); ++l) {
      const sim::SimLstmStep s = sim::SimTfliteLstmStep(lstm_[l], x, h_[l], c_[l], nullptr);
      h_[l] = s.h;
      c_[l] = s.c;
      x = s.out;
    }
    ends_.Logits(x, logits);
  } catch (const std::exception& e) {
    return Status::InvalidArgument(std::string("sim: ") + e.what());
  }
  return Status::Ok();
}

}  // namespace irnn::train
