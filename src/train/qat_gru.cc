// The GRU language model: float training, QAT (iRNN mode), export and sim (qat_gru.h; numerics.md §8).

#include "train/qat_gru.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "core/quantize.h"
#include "train/fake_quant.h"

namespace irnn::train {
namespace {

using fq::AsymmetricGrid;
using fq::FakeQuant;
using fq::FakeQuantRows;
using fq::RoundToInt32;
using fq::RowScale;

torch::Tensor TimeMajor(const std::vector<int32_t>& ids, int batch) {
  std::vector<int32_t> tm;
  int steps = 0;
  if (!BatchifyTimeMajor(ids, batch, &tm, &steps).ok() || steps < 2) return {};
  return torch::from_blob(tm.data(), {steps, batch}, torch::kInt32).to(torch::kInt64);
}

}  // namespace

// ---- Float ------------------------------------------------------------------------------------------

FloatGruLmImpl::FloatGruLmImpl(const LmOptions& o) : options_(o) {
  embedding = register_module("embedding", torch::nn::Embedding(o.vocab, o.dim));
  gru = register_module(
      "gru", torch::nn::GRU(torch::nn::GRUOptions(o.dim, o.dim).num_layers(o.layers).dropout(o.layers > 1 ? o.dropout : 0.0)));
  dropout = register_module("dropout", torch::nn::Dropout(o.dropout));
  decoder = register_module("decoder", torch::nn::Linear(o.dim, o.vocab));
}

torch::Tensor FloatGruLmImpl::forward(const torch::Tensor& tokens, torch::Tensor* h) {
  torch::Tensor x = dropout(embedding(tokens));
  auto out = gru(x, *h);
  *h = std::get<1>(out);
  return decoder(dropout(std::get<0>(out)));
}

torch::Tensor FloatGruLmImpl::ZeroState(int64_t batch) const {
  return torch::zeros({options_.layers, batch, options_.dim}, decoder->weight.options());
}

double EvaluateFloatGruLm(FloatGruLm model, const std::vector<int32_t>& ids, int batch, int bptt) {
  torch::NoGradGuard no_grad;
  model->eval();
  const torch::Tensor data = TimeMajor(ids, batch);
  if (!data.defined()) return std::nan("");
  torch::Tensor h = model->ZeroState(batch);
  double nll = 0;
  int64_t count = 0;
  for (int64_t t = 0; t + 1 < data.size(0); t += bptt) {
    const int64_t len = std::min<int64_t>(bptt, data.size(0) - 1 - t);
    const torch::Tensor x = data.narrow(0, t, len), y = data.narrow(0, t + 1, len);
    const torch::Tensor logits = model->forward(x, &h);
    nll += torch::nn::functional::cross_entropy(logits.reshape({-1, logits.size(2)}), y.reshape(-1),
                                                torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
               .item<double>();
    count += y.numel();
  }
  return std::exp(nll / count);
}

Status TrainFloatGruLm(const TextCorpus& corpus, const TrainOptions& o, FloatGruLm model,
                       std::vector<EpochStats>* curve, double max_seconds) {
  if (o.epochs < 0 || o.batch < 1 || o.bptt < 1 || !(o.lr > 0)) {
    return Status::InvalidArgument("train: epochs >= 0, batch >= 1, bptt >= 1 and lr > 0 are required");
  }
  torch::manual_seed(o.seed);
  if (o.threads > 0) torch::set_num_threads(o.threads);
  for (auto& p : model->parameters()) {
    torch::NoGradGuard no_grad;
    p.uniform_(-o.init, o.init);
  }
  std::vector<int32_t> train_ids = corpus.train;
  if (o.max_train_tokens > 0 && static_cast<int64_t>(train_ids.size()) > o.max_train_tokens) {
    train_ids.resize(static_cast<size_t>(o.max_train_tokens));
  }
  const torch::Tensor data = TimeMajor(train_ids, o.batch);
  if (!data.defined()) return Status::InvalidArgument("train: the training set is too small");
  std::unique_ptr<torch::optim::Optimizer> opt;
  IRNN_RETURN_IF_ERROR(MakeOptimizer(model->parameters(), o, &opt));
  double lr = o.lr, best_valid = INFINITY;
  std::vector<torch::Tensor> best;
  double elapsed = 0;
  for (int epoch = 1; epoch <= o.epochs; ++epoch) {
    if (max_seconds > 0 && !curve->empty() && elapsed + curve->back().seconds > max_seconds) {
      if (o.progress) std::fprintf(stderr, "gru: time budget of %.0f s reached after %d epochs\n", max_seconds, epoch - 1);
      break;
    }
    model->train();
    SetLearningRate(opt.get(), lr);
    torch::Tensor h = model->ZeroState(o.batch);
    EpochStats s = TrainEpoch(data, o, "gru epoch " + std::to_string(epoch) + "/" + std::to_string(o.epochs),
                              model->parameters(), opt.get(), [&](const torch::Tensor& x, const torch::Tensor& y) {
                                h = h.detach();
                                const torch::Tensor logits = model->forward(x, &h);
                                return torch::nn::functional::cross_entropy(logits.reshape({-1, logits.size(2)}),
                                                                            y.reshape(-1));
                              });
    s.epoch = epoch;
    s.lr = lr;
    const auto v0 = std::chrono::steady_clock::now();
    s.valid_ppl = EvaluateFloatGruLm(model, corpus.valid, 10, o.bptt);
    elapsed += s.seconds + std::chrono::duration<double>(std::chrono::steady_clock::now() - v0).count();
    curve->push_back(s);
    if (o.progress) {
      std::fprintf(stderr, "gru epoch %d: lr %.4g train ppl %.2f valid ppl %.2f (%.0f tokens/s, %.0f s)\n", epoch, lr,
                   s.train_ppl, s.valid_ppl, s.tokens_per_s, s.seconds);
    }
    if (s.valid_ppl < best_valid) {
      best_valid = s.valid_ppl;
      best.clear();
      for (const auto& p : model->parameters()) best.push_back(p.detach().clone());
    }
    if (epoch >= o.decay_start) lr *= o.lr_decay;
  }
  if (!best.empty()) {
    torch::NoGradGuard no_grad;
    auto params = model->parameters();
    for (size_t i = 0; i < params.size(); ++i) params[i].copy_(best[i]);
  }
  return Status::Ok();
}

Status SaveFloatGruLm(FloatGruLm model, const Vocabulary& vocab, const std::string& path) {
  try {
    torch::serialize::OutputArchive archive;
    WriteLmCheckpointFields(model->options(), vocab, &archive, "gru");
    model->save(archive);
    archive.save_to(path);
  } catch (const std::exception& e) {
    return Status::InvalidArgument(path + ": cannot write the checkpoint: " + e.what());
  }
  return Status::Ok();
}

Status LoadFloatGruLm(const std::string& path, FloatGruLm* model, Vocabulary* vocab) {
  if (!IsFloatGruCheckpoint(path)) return Status::DataLoss(path + ": not a GRU float checkpoint (irnn train --cell gru)");
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(path);
    LmOptions o;
    IRNN_RETURN_IF_ERROR(ReadLmCheckpointFields(&archive, path, &o, vocab));
    FloatGruLm m(o);
    m->load(archive);
    *model = m;
  } catch (const std::exception& e) {
    return Status::DataLoss(path + ": not a readable irnn GRU checkpoint: " + std::string(e.what()).substr(0, 200));
  }
  return Status::Ok();
}

bool IsFloatGruCheckpoint(const std::string& path) {
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(path);
    c10::IValue cell;
    if (!archive.try_read("cell", cell)) return false;
    return cell.isString() && cell.toStringRef() == "gru";
  } catch (const std::exception&) {
    return false;
  }
}

// ---- QAT --------------------------------------------------------------------------------------------

QatGruLmImpl::QatGruLmImpl(const FloatGruLm& f, const QatOptions& options) : options_(options) {
  const LmOptions& o = f->options();
  vocab_ = o.vocab;
  dim_ = o.dim;
  layers_ = o.layers;
  torch::NoGradGuard no_grad;
  auto named = f->gru->named_parameters();
  embedding = register_parameter("embedding", f->embedding->weight.detach().clone());
  for (int64_t l = 0; l < layers_; ++l) {
    const std::string s = std::to_string(l);
    w_ih.push_back(register_parameter("w_ih" + s, named["weight_ih_l" + s].detach().clone()));
    w_hh.push_back(register_parameter("w_hh" + s, named["weight_hh_l" + s].detach().clone()));
    b_ih.push_back(register_parameter("b_ih" + s, named["bias_ih_l" + s].detach().clone()));
    b_hh.push_back(register_parameter("b_hh" + s, named["bias_hh_l" + s].detach().clone()));
  }
  dec_w = register_parameter("dec_w", f->decoder->weight.detach().clone());
  dec_b = register_parameter("dec_b", f->decoder->bias.detach().clone());
  h_min_.assign(static_cast<size_t>(layers_), 0);
  h_max_.assign(static_cast<size_t>(layers_), 0);
}

std::vector<torch::Tensor> QatGruLmImpl::ZeroState(int64_t batch) const {
  std::vector<torch::Tensor> s;
  for (int64_t l = 0; l < layers_; ++l) s.push_back(torch::zeros({batch, dim_}, dec_w.options()));
  return s;
}

void QatGruLmImpl::EmbeddingGrid(double* scale, int32_t* zero_point) const {
  AsymmetricGrid(embedding.min().item<double>(), embedding.max().item<double>(), scale, zero_point);
}

void QatGruLmImpl::OutputGrid(size_t l, double* scale, int32_t* zero_point) const {
  AsymmetricGrid(h_min_[l], h_max_[l], scale, zero_point);
}

void QatGruLmImpl::Observe(double* v, double x) const {
  *v = initialized_ ? options_.ema * *v + (1 - options_.ema) * x : x;
}

// The fake-quantized float mirror of numerics.md §8.
torch::Tensor QatGruLmImpl::forward(const torch::Tensor& tokens, std::vector<torch::Tensor>* state) {
  double s_e;
  int32_t z_e;
  EmbeddingGrid(&s_e, &z_e);
  torch::Tensor x = FakeQuant(embedding, s_e, z_e, -128, 127).index_select(0, tokens.reshape(-1));
  x = x.reshape({tokens.size(0), tokens.size(1), dim_});
  const int64_t steps = tokens.size(0);
  const double q312 = std::ldexp(1.0, -12), q015 = std::ldexp(1.0, -15);
  const bool grid = initialized_ || !observing_;
  for (int64_t l = 0; l < layers_; ++l) {
    const torch::Tensor wx = FakeQuantRows(w_ih[l], options_.WeightMax()), wh = FakeQuantRows(w_hh[l], options_.WeightMax());
    const auto xw = (torch::matmul(x, wx.t()) + b_ih[l]).chunk(3, 2);  // every step's input part at once
    double s_h = 1;
    int32_t z_h = 0;
    if (grid) OutputGrid(static_cast<size_t>(l), &s_h, &z_h);
    torch::Tensor h16 = (*state)[l];
    torch::Tensor h8 = grid ? FakeQuant(h16, s_h, z_h, -128, 127) : h16;
    std::vector<torch::Tensor> outs, raw;
    for (int64_t t = 0; t < steps; ++t) {
      const auto hw = (torch::matmul(h8, wh.t()) + b_hh[l]).chunk(3, 1);
      const torch::Tensor r = FakeQuant(torch::sigmoid(FakeQuant(xw[0][t] + hw[0], q312, 0, -32768, 32767)), q015, 0, 0, 32767);
      const torch::Tensor z = FakeQuant(torch::sigmoid(FakeQuant(xw[1][t] + hw[1], q312, 0, -32768, 32767)), q015, 0, 0, 32767);
      const torch::Tensor a = FakeQuant(xw[2][t], q312, 0, -32768, 32767);
      const torch::Tensor b = FakeQuant(hw[2], q312, 0, -32768, 32767);
      const torch::Tensor n = FakeQuant(torch::tanh(FakeQuant(a + r * b, q312, 0, -32768, 32767)), q015, 0, -32767, 32767);
      h16 = FakeQuant(n + z * (h16 - n), q015, 0, -32768, 32767);
      if (observing_) raw.push_back(h16.detach().reshape(-1));
      h8 = grid ? FakeQuant(h16, s_h, z_h, -128, 127) : h16;
      outs.push_back(h8);
    }
    if (observing_) {
      const torch::Tensor all = torch::cat(raw);
      Observe(&h_min_[l], std::min(0.0, all.min().item<double>()));
      Observe(&h_max_[l], std::max(0.0, all.max().item<double>()));
    }
    (*state)[l] = h16;
    x = torch::stack(outs);
  }
  const torch::Tensor logits = torch::matmul(x, FakeQuantRows(dec_w).t()) + dec_b;
  if (observing_) {
    Observe(&logit_absmax_, logits.detach().abs().max().item<double>());
    initialized_ = true;
  }
  return logits;
}

Status QatGruLmImpl::Export(GruLanguageModelParams* out, double* logit_scale) const {
  if (!initialized_) return Status::InvalidArgument("QAT GRU export: the model was never calibrated");
  if (options_.weight_bits != 8 && options_.weight_bits != 7) {
    return Status::InvalidArgument("QAT GRU export: weight_bits is " + std::to_string(options_.weight_bits) +
                                   " but must be 8 or 7");
  }
  torch::NoGradGuard no_grad;
  GruLanguageModelParams p;
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
  auto to_vec = [](const torch::Tensor& t) {
    const torch::Tensor c = t.to(torch::kFloat64).contiguous().reshape(-1);
    return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
  };
  for (int64_t l = 0; l < layers_; ++l) {
    double s_h;
    int32_t z_h;
    OutputGrid(static_cast<size_t>(l), &s_h, &z_h);
    GruParams gp;
    gp.config.n_input = static_cast<int32_t>(d);
    gp.config.n_hidden = static_cast<int32_t>(d);
    gp.config.rounding = options_.rounding;
    GruQuantization q;
    q.input_scale = s_x;
    q.input_zp = z_x;
    q.output_scale = s_h;
    q.output_zp = z_h;
    q.pwl_max_err = options_.pwl_max_err;
    for (int g = 0; g < 3; ++g) {
      const torch::Tensor wx = w_ih[l].narrow(0, g * d, d).to(torch::kFloat64);
      const torch::Tensor wh = w_hh[l].narrow(0, g * d, d).to(torch::kFloat64);
      const int qmax = options_.WeightMax();
      const torch::Tensor sx = RowScale(wx, qmax), sh = RowScale(wh, qmax);  // [d][1]
      const torch::Tensor qx = torch::clamp(torch::round(wx / sx), -qmax, qmax).to(torch::kInt8).contiguous();
      const torch::Tensor qh = torch::clamp(torch::round(wh / sh), -qmax, qmax).to(torch::kInt8).contiguous();
      gp.input_weights[g].assign(qx.data_ptr<int8_t>(), qx.data_ptr<int8_t>() + qx.numel());
      gp.recurrent_weights[g].assign(qh.data_ptr<int8_t>(), qh.data_ptr<int8_t>() + qh.numel());
      q.input_weight_scale[g] = to_vec(sx);
      q.recurrent_weight_scale[g] = to_vec(sh);
      q.input_bias[g] = to_vec(b_ih[l].narrow(0, g * d, d));
      q.recurrent_bias[g] = to_vec(b_hh[l].narrow(0, g * d, d));
    }
    const Status s = DeriveGruParams(q, &gp);
    if (!s.ok()) return Status(s.code(), "QAT GRU export, layer " + std::to_string(l) + ": " + s.message());
    p.gru.push_back(std::move(gp));
    s_x = s_h;
    z_x = z_h;
  }
  // Decoder: per-row int8 weights, int32 logits on one scale with 2^20 steps up to max|logit| (as qat.cc).
  const double s_logit = std::max(logit_absmax_, 1e-3) / std::ldexp(1.0, 20);
  const torch::Tensor sw = RowScale(dec_w).to(torch::kFloat64);
  const torch::Tensor qw = torch::clamp(torch::round(dec_w.to(torch::kFloat64) / sw), -127, 127).to(torch::kInt8).contiguous();
  p.decoder.n_in = static_cast<int32_t>(d);
  p.decoder.n_out = static_cast<int32_t>(vocab_);
  p.decoder.rounding = options_.rounding;
  p.decoder.weights.assign(qw.data_ptr<int8_t>(), qw.data_ptr<int8_t>() + qw.numel());
  const torch::Tensor rowsum = qw.to(torch::kInt64).sum(1).contiguous();
  const std::vector<double> swv = to_vec(sw), bv = to_vec(dec_b);
  const int64_t* rs = rowsum.data_ptr<int64_t>();
  p.decoder.effective_bias.resize(static_cast<size_t>(vocab_));
  p.decoder.channel_scale.resize(static_cast<size_t>(vocab_));
  for (int64_t r = 0; r < vocab_; ++r) {
    const int64_t eff = int64_t{RoundToInt32(bv[r] / (swv[r] * s_x))} - int64_t{z_x} * rs[r];
    p.decoder.effective_bias[static_cast<size_t>(r)] = static_cast<int32_t>(std::clamp<int64_t>(eff, INT32_MIN, INT32_MAX));
    p.decoder.channel_scale[static_cast<size_t>(r)] = QuantizeMultiplierQ15(swv[r] * s_x / s_logit, options_.rounding);
  }
  IRNN_RETURN_IF_ERROR(ValidateGruLanguageModelParams(p));
  *out = std::move(p);
  *logit_scale = s_logit;
  return Status::Ok();
}

Status TrainQatGru(const TextCorpus& corpus, const TrainOptions& o, QatGruLm model, std::vector<EpochStats>* curve) {
  torch::manual_seed(o.seed);
  if (o.threads > 0) torch::set_num_threads(o.threads);
  {
    // Calibration: observers on, no gradient.
    torch::NoGradGuard no_grad;
    const torch::Tensor data = TimeMajor(corpus.train, o.batch);
    if (!data.defined()) return Status::InvalidArgument("qat: the training set is too small");
    auto state = model->ZeroState(o.batch);
    model->set_observing(true);
    int done = 0;
    for (int64_t t = 0; t + 1 < data.size(0) && done < model->options().calibration_batches; t += o.bptt, ++done) {
      model->forward(data.narrow(0, t, std::min<int64_t>(o.bptt, data.size(0) - 1 - t)), &state);
    }
    model->set_observing(false);
  }
  std::vector<int32_t> ids = corpus.train;
  if (o.max_train_tokens > 0 && static_cast<int64_t>(ids.size()) > o.max_train_tokens) ids.resize(o.max_train_tokens);
  const torch::Tensor data = TimeMajor(ids, o.batch);
  if (!data.defined()) return Status::InvalidArgument("qat: the training set is too small");
  std::unique_ptr<torch::optim::Optimizer> opt;
  IRNN_RETURN_IF_ERROR(MakeOptimizer(model->parameters(), o, &opt));
  double lr = o.lr;
  for (int epoch = 1; epoch <= o.epochs; ++epoch) {
    SetLearningRate(opt.get(), lr);
    model->train();
    model->set_observing(true);
    auto state = model->ZeroState(o.batch);
    EpochStats s = TrainEpoch(data, o, "gru qat epoch " + std::to_string(epoch) + "/" + std::to_string(o.epochs),
                              model->parameters(), opt.get(), [&](const torch::Tensor& x, const torch::Tensor& y) {
                                for (auto& h : state) h = h.detach();
                                const torch::Tensor logits = model->forward(x, &state);
                                return torch::nn::functional::cross_entropy(logits.reshape({-1, logits.size(2)}),
                                                                            y.reshape(-1));
                              });
    model->set_observing(false);
    s.epoch = epoch;
    s.lr = lr;
    curve->push_back(s);
    if (epoch >= o.decay_start) lr *= o.lr_decay;
  }
  return Status::Ok();
}

// ---- sim --------------------------------------------------------------------------------------------

Status SimGruLanguageModel::Init(const GruLanguageModelParams& p, const torch::Device& device) {
  IRNN_RETURN_IF_ERROR(ValidateGruLanguageModelParams(p));
  try {
    ends_.Init(p.embedding, p.decoder, device);
    gru_.clear();
    for (const auto& g : p.gru) gru_.push_back(sim::PrepareSimGru(g, device));
    h16_.clear();
    h8_.clear();
  } catch (const std::exception& e) {
    return Status::InvalidArgument(std::string("sim: ") + e.what());
  }
  return Status::Ok();
}

void SimGruLanguageModel::Reset(int64_t batch) {
  h16_.clear();
  h8_.clear();
  for (const auto& g : gru_) {
    auto s = sim::SimGruInitialState(g, batch);
    h16_.push_back(s.first);
    h8_.push_back(s.second);
  }
}

Status SimGruLanguageModel::Step(const std::vector<int32_t>& tokens, std::vector<int32_t>* logits) {
  try {
    const int64_t b = static_cast<int64_t>(tokens.size());
    if (h16_.empty() || h16_[0].size(0) != b) Reset(b);
    torch::Tensor x = ends_.Embed(tokens);
    for (size_t l = 0; l < gru_.size(); ++l) {
      const sim::SimGruStepResult s = sim::SimGruStep(gru_[l], x, h16_[l], h8_[l]);
      h16_[l] = s.h16;
      h8_[l] = s.h8;
      x = s.out;
    }
    ends_.Logits(x, logits);
  } catch (const std::exception& e) {
    return Status::InvalidArgument(std::string("sim: ") + e.what());
  }
  return Status::Ok();
}

}  // namespace irnn::train
