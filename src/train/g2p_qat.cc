// Quantization-aware G2P encoder–decoder, export, runtime evaluation and integer simulation (see
// g2p_qat.h; numerics.md §4, §7, §9, §11).

#include "train/g2p_qat.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <random>

#include "core/quantize.h"
#include "train/fake_quant.h"
#include "train/g2p_batches.h"
#include "train/lstm_export.h"
#include "train/progress.h"

namespace irnn::train {
namespace {

using fq::AsymmetricGrid;
using fq::FakeQuant;
using fq::FakeQuantRows;
using fq::RoundToInt32;
using fq::RowScale;

std::vector<int8_t> QuantizeTable(const torch::Tensor& t, double scale, int32_t zp) {
  const torch::Tensor q = torch::clamp(torch::round(t.detach().to(torch::kFloat64) / scale) + zp, -128, 127)
                              .to(torch::kInt8).contiguous();
  return std::vector<int8_t>(q.data_ptr<int8_t>(), q.data_ptr<int8_t>() + q.numel());
}

// The integer LSTM (iRNN mode: per-row weights, PWL, intended arithmetic) for torch-layout weights,
// input grid (s_x, z_x), output grid (s_h, z_h) and cell scale 2^cs (as QatLmImpl::Export per layer).
Status ExportLstm(const QatLstmParams& p, double s_x, int32_t z_x, double s_h, int32_t z_h, int cs, Rounding rounding,
                  const std::string& name, TfliteLstmParams* out) {
  const int64_t d = p.w_hh.size(1), k = p.w_ih.size(1);
  TfliteLstmConfig cfg;
  cfg.n_input = static_cast<int32_t>(k);
  cfg.n_cell = static_cast<int32_t>(d);
  cfg.n_output = static_cast<int32_t>(d);
  cfg.rounding = rounding;
  cfg.tflite_compat = false;
  cfg.activation = LstmActivation::kPwl;
  TfliteLstmWeights w;
  TfliteLstmQuantization q;
  q.input = {static_cast<float>(s_x), z_x};
  q.output = {static_cast<float>(s_h), z_h};
  q.cell_scale = std::ldexp(1.0f, cs);
  q.intermediates[4] = q.output;
  std::array<torch::Tensor, 4> sx, sh;
  for (int g = 0; g < 4; ++g) {
    const torch::Tensor wx = p.w_ih.detach().narrow(0, g * d, d).to(torch::kFloat64);
    const torch::Tensor wh = p.w_hh.detach().narrow(0, g * d, d).to(torch::kFloat64);
    sx[g] = RowScale(wx).contiguous();  // [d][1]
    sh[g] = RowScale(wh).contiguous();
    QuantizeLstmGate(g, wx, wh, sx[g], sh[g], p.bias.detach().narrow(0, g * d, d).to(torch::kFloat64), s_x, &w, &q);
  }
  TfliteLstmParams lp;
  const Status s = DeriveTfliteLstmParams(cfg, w, q, &lp);
  if (!s.ok()) return Status(s.code(), "G2P QAT export, " + name + ": " + s.message());
  SetLstmRowMultipliers(sx, sh, s_x, s_h, rounding, &lp);
  *out = std::move(lp);
  return Status::Ok();
}

// A per-row int8 linear layer to int32 logits (numerics.md §7.3) on input grid (s_x, z_x).
void ExportLinear(const torch::Tensor& weight, const torch::Tensor& bias, double s_x, int32_t z_x, double s_logit,
                  Rounding rounding, LinearParams* out) {
  const torch::Tensor w = weight.detach().to(torch::kFloat64);
  const torch::Tensor sw = RowScale(w);
  const torch::Tensor qw = torch::clamp(torch::round(w / sw), -127, 127).to(torch::kInt8).contiguous();
  const int64_t n_out = w.size(0);
  out->n_in = static_cast<int32_t>(w.size(1));
  out->n_out = static_cast<int32_t>(n_out);
  out->rounding = rounding;
  out->weights.assign(qw.data_ptr<int8_t>(), qw.data_ptr<int8_t>() + qw.numel());
  const torch::Tensor rowsum = qw.to(torch::kInt64).sum(1).contiguous();
  auto rs = rowsum.accessor<int64_t, 1>();
  auto sa = sw.accessor<double, 2>();
  const torch::Tensor b = bias.defined() ? bias.detach().to(torch::kFloat64).contiguous() : torch::zeros({n_out}, torch::kFloat64);
  auto ba = b.accessor<double, 1>();
  out->effective_bias.resize(static_cast<size_t>(n_out));
  out->channel_scale.resize(static_cast<size_t>(n_out));
  for (int64_t r = 0; r < n_out; ++r) {
    const int64_t eff = int64_t{RoundToInt32(ba[r] / (sa[r][0] * s_x))} - int64_t{z_x} * rs[r];
    out->effective_bias[static_cast<size_t>(r)] = static_cast<int32_t>(std::clamp<int64_t>(eff, INT32_MIN, INT32_MAX));
    out->channel_scale[static_cast<size_t>(r)] = QuantizeMultiplierQ15(sa[r][0] * s_x / s_logit, rounding);
  }
}

QatLstmParams CopyLstm(torch::nn::Module& m, bool cell, QatG2pImpl* owner, const std::string& name) {
  auto np = m.named_parameters();
  const std::string sfx = cell ? "" : "_l0";
  QatLstmParams p;
  p.w_ih = owner->register_parameter(name + "_w_ih", np["weight_ih" + sfx].detach().clone());
  p.w_hh = owner->register_parameter(name + "_w_hh", np["weight_hh" + sfx].detach().clone());
  p.bias = owner->register_parameter(name + "_bias", (np["bias_ih" + sfx] + np["bias_hh" + sfx]).detach().clone());
  return p;
}

}  // namespace

QatG2pImpl::QatG2pImpl(FloatG2p f, const G2pQatOptions& options) : fo_(f->options()), options_(options) {
  torch::NoGradGuard no_grad;
  char_emb = register_parameter("char_emb", f->char_emb->weight.detach().clone());
  phone_emb = register_parameter("phone_emb", f->phone_emb->weight.detach().clone());
  enc_fw = CopyLstm(*f->enc_fw, false, this, "enc_fw");
  enc_bw = CopyLstm(*f->enc_bw, false, this, "enc_bw");
  dec = CopyLstm(*f->dec, true, this, "dec");
  QatAttentionOptions ao;
  ao.mode = AttentionMode::kAdditive;
  ao.n_key = 2 * fo_.enc;
  ao.n_query = fo_.dec;
  ao.n_attn = fo_.attn;
  ao.rounding = options.rounding;
  ao.activation = LstmActivation::kPwl;
  ao.ema = options.ema;
  attention = register_module("attention", QatAttention(ao));
  // Float attention v·tanh(W_q h + W_k k + b_k): the bias moves to the query side (b_q), same sum.
  attention->wq.copy_(f->att_q->weight.detach());
  attention->bq.copy_(f->att_k->bias.detach());
  attention->wk.copy_(f->att_k->weight.detach());
  attention->v.copy_(f->att_v->weight.detach().reshape(-1));
  out_h_w = register_parameter("out_h_w", f->out_h->weight.detach().clone());
  out_h_b = register_parameter("out_h_b", f->out_h->bias.detach().clone());
  out_c_w = register_parameter("out_c_w", f->out_c->weight.detach().clone());
}

void QatG2pImpl::Observe(double* value, double observed) {
  *value = initialized_ ? options_.ema * *value + (1 - options_.ema) * observed : observed;
}

void QatG2pImpl::Grid(int which, double* scale, int32_t* zero_point) const {
  if (which == 0) {
    AsymmetricGrid(char_emb.min().item<double>(), char_emb.max().item<double>(), scale, zero_point);
  } else if (which == 1) {
    AsymmetricGrid(enc_lo_, enc_hi_, scale, zero_point);
  } else {
    AsymmetricGrid(dec_lo_, dec_hi_, scale, zero_point);
  }
}

int QatG2pImpl::CellScale(int layer) const {
  int pot = 0;
  while (pot < 6 && std::ldexp(1.0, pot) < c_absmax_[layer]) ++pot;
  return pot - 15;
}

torch::Tensor QatG2pImpl::RunLstm(const QatLstmParams& p, int layer, const torch::Tensor& x, torch::Tensor* h,
                                  torch::Tensor* c, std::vector<torch::Tensor>* raw_h) {
  // numerics.md §4 in iRNN mode (§7.1): one saturation of the summed Q3.12 pre-activation, Q0.15 gates,
  // the cell on 2^cs, h = o·tanh(c) on the layer's output grid.
  const bool quant = initialized_ || !observing_;
  const double q312 = std::ldexp(1.0, -12), q015 = std::ldexp(1.0, -15);
  const double s_c = std::ldexp(1.0, quant ? CellScale(layer) : -9);
  double s_h = 1;
  int32_t z_h = 0;
  if (quant) Grid(layer == 2 ? 2 : 1, &s_h, &z_h);
  const torch::Tensor wx = FakeQuantRows(p.w_ih), wh = FakeQuantRows(p.w_hh);
  const torch::Tensor xw = torch::matmul(x, wx.t()) + p.bias;
  std::vector<torch::Tensor> outs;
  for (int64_t t = 0; t < x.size(0); ++t) {
    const torch::Tensor pre = FakeQuant(xw[t] + torch::matmul(*h, wh.t()), q312, 0, -32768, 32767);
    const auto gates = pre.chunk(4, 1);
    const torch::Tensor i = FakeQuant(torch::sigmoid(gates[0]), q015, 0, 0, 32767);
    const torch::Tensor f = FakeQuant(torch::sigmoid(gates[1]), q015, 0, 0, 32767);
    const torch::Tensor g = FakeQuant(torch::tanh(gates[2]), q015, 0, -32767, 32767);
    const torch::Tensor o = FakeQuant(torch::sigmoid(gates[3]), q015, 0, 0, 32767);
    torch::Tensor cn = f * *c + i * g;
    if (observing_) pending_c_[static_cast<size_t>(layer)] = std::max(pending_c_[static_cast<size_t>(layer)],
                                                                      cn.detach().abs().max().item<double>());
    *c = FakeQuant(cn, s_c, 0, -32768, 32767);
    torch::Tensor hn = o * FakeQuant(torch::tanh(*c), q015, 0, -32767, 32767);
    if (observing_ && raw_h != nullptr) raw_h->push_back(hn.detach());
    if (quant) hn = FakeQuant(hn, s_h, z_h, -128, 127);
    *h = hn;
    outs.push_back(hn);
  }
  return torch::stack(outs);
}

torch::Tensor QatG2pImpl::forward(const torch::Tensor& chars, const torch::Tensor& inputs) {
  const bool quant = initialized_ || !observing_;
  pending_c_.assign(3, 0.0);
  const int64_t b = chars.size(1), he = fo_.enc, hd = fo_.dec;
  auto opts = char_emb.options();
  // Encoder.
  double s_e = 1, s_k = 1;
  int32_t z_e = 0, z_k = 0;
  Grid(0, &s_e, &z_e);
  const torch::Tensor x = FakeQuant(char_emb, s_e, z_e, -128, 127).index({chars});  // [S][B][E]
  std::vector<torch::Tensor> raw_enc, raw_dec;
  torch::Tensor h = torch::zeros({b, he}, opts), c = torch::zeros({b, he}, opts);
  if (quant) Grid(1, &s_k, &z_k);  // the reset state (h = output zero point, c = 0) is the real value 0
  const torch::Tensor fw = RunLstm(enc_fw, 0, x, &h, &c, &raw_enc);
  h = torch::zeros({b, he}, opts);
  c = torch::zeros({b, he}, opts);
  const torch::Tensor bw = RunLstm(enc_bw, 1, x.flip({0}), &h, &c, &raw_enc).flip({0});
  const torch::Tensor enc = torch::cat({fw, bw}, 2);   // [S][B][2H_e] on the encoder grid
  const torch::Tensor keys = enc.transpose(0, 1);      // [B][S][2H_e]
  // Decoder.
  double s_d = 1;
  int32_t z_d = 0;
  QatAttentionImpl::Keys prepared;
  if (quant) {
    Grid(2, &s_d, &z_d);
    attention->SetGrids(s_k, z_k, s_d, z_d);
    prepared = attention->PrepareKeys(keys, torch::Tensor());  // the key projection once per batch
  }
  const torch::Tensor emb_table = quant ? FakeQuant(torch::tanh(phone_emb), s_k, z_k, -128, 127) : torch::tanh(phone_emb);
  torch::Tensor hd_state = torch::zeros({b, hd}, opts), cd_state = torch::zeros({b, hd}, opts);
  torch::Tensor ctx = torch::zeros({b, 2 * he}, opts);
  const torch::Tensor oh = FakeQuantRows(out_h_w), oc = FakeQuantRows(out_c_w);
  std::vector<torch::Tensor> logits;
  for (int64_t t = 0; t < inputs.size(0); ++t) {
    const torch::Tensor xin = torch::cat({emb_table.index_select(0, inputs[t]), ctx}, 1).unsqueeze(0);  // [1][B][K]
    const torch::Tensor hdn = RunLstm(dec, 2, xin, &hd_state, &cd_state, &raw_dec).squeeze(0);
    if (quant) {
      ctx = attention->Attend(prepared, hdn).context;
    } else {
      // Calibration: float attention with the module's weights (its grids are not known yet).
      const torch::Tensor aq = torch::matmul(hdn, attention->wq.t()) + attention->bq;        // [B][A]
      const torch::Tensor ak = torch::matmul(keys, attention->wk.t());                      // [B][S][A]
      const torch::Tensor sc = torch::matmul(torch::tanh(ak + aq.unsqueeze(1)), attention->v);  // [B][S]
      ctx = torch::matmul(torch::softmax(sc, 1).unsqueeze(1), keys).squeeze(1);
    }
    const torch::Tensor z = torch::matmul(hdn, oh.t()) + out_h_b + torch::matmul(ctx, oc.t());
    logits.push_back(z);
  }
  torch::Tensor out = torch::stack(logits);
  if (observing_) {
    torch::NoGradGuard no_grad;
    const torch::Tensor e = torch::cat(raw_enc), d = torch::cat(raw_dec);
    Observe(&enc_lo_, std::min(0.0, e.min().item<double>()));
    Observe(&enc_hi_, std::max(0.0, e.max().item<double>()));
    Observe(&dec_lo_, std::min(0.0, d.min().item<double>()));
    Observe(&dec_hi_, std::max(0.0, d.max().item<double>()));
    for (int l = 0; l < 3; ++l) Observe(&c_absmax_[l], pending_c_[static_cast<size_t>(l)]);
    Observe(&logit_absmax_, out.detach().abs().max().item<double>());
    initialized_ = true;
  }
  return out;
}

Status QatG2pImpl::Export(G2pModelParams* out) const {
  if (!initialized_) return Status::InvalidArgument("G2P QAT export: the model was never calibrated");
  torch::NoGradGuard no_grad;
  const Rounding r = options_.rounding;
  G2pModelParams p;
  double s_e, s_k, s_d;
  int32_t z_e, z_k, z_d;
  Grid(0, &s_e, &z_e);
  Grid(1, &s_k, &z_k);
  Grid(2, &s_d, &z_d);
  p.char_embedding.vocab = static_cast<int32_t>(char_emb.size(0));
  p.char_embedding.dim = static_cast<int32_t>(char_emb.size(1));
  p.char_embedding.table = QuantizeTable(char_emb, s_e, z_e);
  p.char_embedding.zero_point = z_e;
  IRNN_RETURN_IF_ERROR(ExportLstm(enc_fw, s_e, z_e, s_k, z_k, CellScale(0), r, "enc_fw", &p.enc_fw));
  IRNN_RETURN_IF_ERROR(ExportLstm(enc_bw, s_e, z_e, s_k, z_k, CellScale(1), r, "enc_bw", &p.enc_bw));
  p.phone_embedding.vocab = static_cast<int32_t>(phone_emb.size(0));
  p.phone_embedding.dim = static_cast<int32_t>(phone_emb.size(1));
  p.phone_embedding.table = QuantizeTable(torch::tanh(phone_emb), s_k, z_k);
  p.phone_embedding.zero_point = z_k;
  IRNN_RETURN_IF_ERROR(ExportLstm(dec, s_k, z_k, s_d, z_d, CellScale(2), r, "dec", &p.dec));
  QatAttention att = attention;
  att->SetGrids(s_k, z_k, s_d, z_d);
  IRNN_RETURN_IF_ERROR(att->Export(&p.attention));
  const double s_logit = std::max(logit_absmax_, 1e-3) / std::ldexp(1.0, 20);
  ExportLinear(out_h_w, out_h_b, s_d, z_d, s_logit, r, &p.out_h);
  ExportLinear(out_c_w, torch::Tensor(), s_k, z_k, s_logit, r, &p.out_c);
  p.log2_scale = QuantizeMultiplier(s_logit * 1.4426950408889634 * 65536.0, r);
  p.rounding = r;
  const Status s = ValidateG2pModelParams(p);
  if (!s.ok()) return Status(s.code(), "G2P QAT export: " + s.message());
  *out = std::move(p);
  return Status::Ok();
}

Status TrainQatG2p(const G2pData& data, const G2pTrainOptions& o, const G2pQatOptions& qo, QatG2p model,
                   std::vector<G2pEpochStats>* curve) {
  torch::manual_seed(o.seed);
  if (o.threads > 0) torch::set_num_threads(o.threads);
  std::mt19937_64 rng(o.seed + 1000);
  std::vector<G2pExample> valid(data.valid.begin(),
                                data.valid.begin() + (o.valid_words > 0 ? std::min<int64_t>(o.valid_words, data.valid.size())
                                                                        : data.valid.size()));
  // Calibration: observe ranges without gradients.
  {
    torch::NoGradGuard no_grad;
    model->train();
    model->set_observing(true);
    const auto batches = MakeG2pBatches(data.train, o.batch, 0, &rng);
    for (int i = 0; i < qo.calibration_batches && i < static_cast<int>(batches.size()); ++i) {
      torch::Tensor x, yin, yout;
      int64_t tokens = 0;
      G2pBatchTensors(data.train, batches[static_cast<size_t>(i)], torch::kCPU, &x, &yin, &yout, &tokens);
      model->forward(x, yin);
    }
    model->set_observing(false);
  }
  auto evaluate = [&](G2pScore* score) -> Status {
    G2pModelParams p;
    IRNN_RETURN_IF_ERROR(model->Export(&p));
    std::unique_ptr<G2pModel> m;
    IRNN_RETURN_IF_ERROR(G2pModel::Create(std::move(p), KernelPath::kAuto, &m));
    return EvaluateIntG2p(*m, valid, 1, score);
  };
  G2pScore v0;
  IRNN_RETURN_IF_ERROR(evaluate(&v0));
  if (o.progress) {
    std::fprintf(stderr, "g2p qat: after calibration, integer valid PER %.2f%% WER %.2f%% (greedy, %lld words)\n",
                 100 * v0.per(), 100 * v0.wer(), static_cast<long long>(v0.words));
  }
  double best_per = v0.per();
  std::vector<torch::Tensor> best;
  for (const auto& p : model->parameters()) best.push_back(p.detach().clone());
  torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(o.lr));
  double lr = o.lr;
  for (int epoch = 1; epoch <= o.epochs; ++epoch) {
    model->train();
    for (auto& g : opt.param_groups()) g.options().set_lr(lr);
    const auto batches = MakeG2pBatches(data.train, o.batch, o.max_examples, &rng);
    G2pEpochStats s;
    s.epoch = epoch;
    s.lr = lr;
    RunG2pEpoch("g2p qat " + std::to_string(epoch) + "/" + std::to_string(o.epochs), data.train, batches, torch::kCPU,
                [&](const torch::Tensor& x, const torch::Tensor& yin) { return model->forward(x, yin); },
                model->parameters(), o.clip, o.progress, &opt, &s);
    G2pScore v;
    IRNN_RETURN_IF_ERROR(evaluate(&v));
    s.valid_per = v.per();
    s.valid_wer = v.wer();
    curve->push_back(s);
    if (o.progress) {
      std::fprintf(stderr, "g2p qat epoch %d: lr %.4g loss %.4f integer valid PER %.2f%% WER %.2f%% (%.0f phones/s, %.0f s)\n",
                   epoch, lr, s.train_loss, 100 * s.valid_per, 100 * s.valid_wer, s.tokens_per_s, s.seconds);
    }
    if (s.valid_per < best_per) {
      best_per = s.valid_per;
      best.clear();
      for (const auto& p : model->parameters()) best.push_back(p.detach().clone());
    }
    if (epoch >= o.decay_start) lr *= o.lr_decay;
  }
  torch::NoGradGuard no_grad;
  auto params = model->parameters();
  for (size_t i = 0; i < params.size(); ++i) params[i].copy_(best[i]);
  model->eval();
  return Status::Ok();
}

Status DecodeIntG2p(const G2pModel& model, const std::vector<std::vector<int32_t>>& words, int beam,
                    std::vector<std::vector<int32_t>>* out, bool progress) {
  out->assign(words.size(), {});
  Progress bar(beam == 1 ? "g2p int greedy" : "g2p int beam " + std::to_string(beam), static_cast<int64_t>(words.size()),
               "word");
  for (size_t i = 0; i < words.size(); ++i) {
    IRNN_RETURN_IF_ERROR(model.Transcribe(words[i].data(), static_cast<int>(words[i].size()), beam, &(*out)[i]));
    if (progress) bar.Update(static_cast<int64_t>(i + 1));
  }
  return Status::Ok();
}

Status EvaluateIntG2p(const G2pModel& model, const std::vector<G2pExample>& examples, int beam, G2pScore* score,
                      bool progress) {
  std::vector<std::vector<int32_t>> words, hyps;
  for (const auto& e : examples) words.push_back(e.chars);
  IRNN_RETURN_IF_ERROR(DecodeIntG2p(model, words, beam, &hyps, progress));
  *score = G2pScore();
  for (size_t i = 0; i < examples.size(); ++i) score->Add(hyps[i], examples[i].prons);
  return Status::Ok();
}

// ---- Simulation ------------------------------------------------------------------------------------

namespace {

torch::Tensor I64(const std::vector<int8_t>& v, std::vector<int64_t> shape) {
  return torch::from_blob(const_cast<int8_t*>(v.data()), shape, torch::kInt8).to(torch::kInt64);
}
torch::Tensor I64(const std::vector<int32_t>& v) {
  return torch::from_blob(const_cast<int32_t*>(v.data()), {static_cast<int64_t>(v.size())}, torch::kInt32).to(torch::kInt64);
}
void Multipliers(const std::vector<QuantizedMultiplier>& m, torch::Tensor* mult, torch::Tensor* shift) {
  std::vector<int64_t> a, b;
  for (const auto& q : m) {
    a.push_back(q.multiplier);
    b.push_back(q.shift);
  }
  *mult = torch::tensor(a, torch::kInt64);
  *shift = torch::tensor(b, torch::kInt64);
}

}  // namespace

Status SimG2p::Init(const G2pModelParams& p) {
  IRNN_RETURN_IF_ERROR(ValidateG2pModelParams(p));
  try {
    params_ = p;
    char_table_ = I64(p.char_embedding.table, {p.char_embedding.vocab, p.char_embedding.dim});
    phone_table_ = I64(p.phone_embedding.table, {p.phone_embedding.vocab, p.phone_embedding.dim});
    fw_ = sim::PrepareSimTfliteLstm(p.enc_fw, torch::kCPU);
    bw_ = sim::PrepareSimTfliteLstm(p.enc_bw, torch::kCPU);
    dec_ = sim::PrepareSimTfliteLstm(p.dec, torch::kCPU);
    att_ = sim::PrepareSimAttention(p.attention, torch::kCPU);
    oh_w_ = I64(p.out_h.weights, {p.out_h.n_out, p.out_h.n_in});
    oh_b_ = I64(p.out_h.effective_bias);
    Multipliers(p.out_h.channel_scale, &oh_m_, &oh_s_);
    oc_w_ = I64(p.out_c.weights, {p.out_c.n_out, p.out_c.n_in});
    oc_b_ = I64(p.out_c.effective_bias);
    Multipliers(p.out_c.channel_scale, &oc_m_, &oc_s_);
  } catch (const std::exception& e) {
    return Status::InvalidArgument(std::string("SimG2p: ") + e.what());
  }
  return Status::Ok();
}

void SimG2p::Encode(const torch::Tensor& chars) {
  const int64_t b = chars.size(1);
  const torch::Tensor x = sim::EmbeddingLookup(char_table_, chars);  // [S][B][E]
  auto s0 = sim::SimTfliteLstmInitialState(fw_, b);
  const torch::Tensor fw = sim::SimTfliteLstmSequence(fw_, x, s0.first, s0.second).out;
  auto s1 = sim::SimTfliteLstmInitialState(bw_, b);
  const torch::Tensor bw = sim::SimTfliteLstmSequence(bw_, x.flip({0}), s1.first, s1.second).out.flip({0});
  keys_ = sim::SimAttentionSetKeys(att_, torch::cat({fw, bw}, 2).transpose(0, 1).contiguous());
  auto sd = sim::SimTfliteLstmInitialState(dec_, b);
  h_ = sd.first;
  c_ = sd.second;
  ctx_ = torch::full({b, 2 * int64_t{params_.enc_fw.config.n_output}}, params_.attention.key_zp, torch::kInt64);
}

void SimG2p::Reorder(const torch::Tensor& parents) {
  h_ = h_.index_select(0, parents);
  c_ = c_.index_select(0, parents);
  ctx_ = ctx_.index_select(0, parents);
}

torch::Tensor SimG2p::Step(const torch::Tensor& prev) {
  const torch::Tensor x = torch::cat({sim::EmbeddingLookup(phone_table_, prev), ctx_}, 1);
  const sim::SimLstmStep s = sim::SimTfliteLstmStep(dec_, x, h_, c_);
  h_ = s.h;
  c_ = s.c;
  ctx_ = sim::SimAttend(att_, keys_, s.out).context;
  const torch::Tensor zh = sim::LinearToLogits(s.out, oh_w_, oh_b_, oh_m_, oh_s_, params_.out_h.rounding);
  const torch::Tensor zc = sim::LinearToLogits(ctx_, oc_w_, oc_b_, oc_m_, oc_s_, params_.out_c.rounding);
  return sim::SaturateToInt32(zh + zc);
}

Status DecodeSimG2p(const G2pModelParams& params, const std::vector<std::vector<int32_t>>& words, int beam,
                    std::vector<std::vector<int32_t>>* out) {
  SimG2p sim;
  IRNN_RETURN_IF_ERROR(sim.Init(params));
  out->assign(words.size(), {});
  const int32_t phones = params.phone_embedding.vocab;
  try {
    if (beam == 1) {
      std::map<size_t, std::vector<size_t>> by_len;
      for (size_t i = 0; i < words.size(); ++i) by_len[words[i].size()].push_back(i);
      for (const auto& kv : by_len) {
        const int64_t s = static_cast<int64_t>(kv.first), b = static_cast<int64_t>(kv.second.size());
        std::vector<int64_t> cv(static_cast<size_t>(s * b));
        for (int64_t j = 0; j < b; ++j) {
          for (int64_t i = 0; i < s; ++i) cv[static_cast<size_t>(i * b + j)] = words[kv.second[j]][i];
        }
        sim.Encode(torch::tensor(cv, torch::kInt64).reshape({s, b}));
        torch::Tensor prev = torch::full({b}, kG2pStart, torch::kInt64);
        std::vector<bool> ended(static_cast<size_t>(b), false);
        for (int t = 0; t < 2 * s + 8; ++t) {
          prev = sim.Step(prev).argmax(1);  // the first maximum: the lowest id on ties, as G2pSearch
          const int64_t* p = prev.data_ptr<int64_t>();
          bool any = false;
          for (int64_t j = 0; j < b; ++j) {
            if (ended[j]) continue;
            if (p[j] == kG2pEnd) ended[j] = true;
            else (*out)[kv.second[j]].push_back(static_cast<int32_t>(p[j]));
            any = any || !ended[j];
          }
          if (!any) break;
        }
      }
      return Status::Ok();
    }
    for (size_t i = 0; i < words.size(); ++i) {
      const int64_t s = static_cast<int64_t>(words[i].size());
      std::vector<int64_t> cv;
      for (int64_t t = 0; t < s; ++t) {
        for (int k = 0; k < beam; ++k) cv.push_back(words[i][t]);
      }
      sim.Encode(torch::tensor(cv, torch::kInt64).reshape({s, beam}));
      auto step = [&](const std::vector<int32_t>& parents, const std::vector<int32_t>& prev, std::vector<int32_t>* logits) {
        // Rows past the live hypotheses keep their state and read the end symbol, as the runtime's.
        std::vector<int64_t> par(static_cast<size_t>(beam)), pv(static_cast<size_t>(beam), kG2pEnd);
        for (int k = 0; k < beam; ++k) par[static_cast<size_t>(k)] = k;
        for (size_t k = 0; k < parents.size(); ++k) {
          par[k] = parents[k];
          pv[k] = prev[k];
        }
        sim.Reorder(torch::tensor(par, torch::kInt64));
        const torch::Tensor z = sim.Step(torch::tensor(pv, torch::kInt64)).narrow(0, 0, static_cast<int64_t>(prev.size()))
                                    .to(torch::kInt32).contiguous();
        logits->assign(z.data_ptr<int32_t>(), z.data_ptr<int32_t>() + z.numel());
        return Status::Ok();
      };
      IRNN_RETURN_IF_ERROR(G2pSearch(step, phones, params.log2_scale, params.rounding, beam, static_cast<int>(2 * s + 8),
                                     &(*out)[i]));
    }
  } catch (const std::exception& e) {
    return Status::InvalidArgument(std::string("SimG2p: ") + e.what());
  }
  return Status::Ok();
}

}  // namespace irnn::train
