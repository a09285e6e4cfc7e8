// Quantization-aware training of integer attention (see qat_attention.h; docs/numerics.md §9.5).

#include "train/qat_attention.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "train/fake_quant.h"

namespace irnn::train {
namespace {

using fq::FakeQuant;

// Symmetric per-tensor int8 weights: scale max|w|/127 (in double, the scale Export uses).
double WeightScale(const torch::Tensor& w) {
  if (w.numel() == 0) return 1.0;
  return std::max(w.detach().abs().max().item<double>() / 127.0, 1e-12);
}

torch::Tensor FakeQuantWeight(const torch::Tensor& w) {
  const double s = WeightScale(w);
  const torch::Tensor q = torch::clamp(torch::round(w / s), -127, 127) * s;
  return w + (q - w).detach();
}

std::vector<int8_t> QuantizeWeight(const torch::Tensor& w) {
  const double s = WeightScale(w);
  const torch::Tensor q = torch::clamp(torch::round(w.detach().to(torch::kFloat64).cpu() / s), -127, 127)
                              .to(torch::kInt8).contiguous();
  return std::vector<int8_t>(q.data_ptr<int8_t>(), q.data_ptr<int8_t>() + q.numel());
}

}  // namespace

QatAttentionImpl::QatAttentionImpl(const QatAttentionOptions& o) : options_(o) {
  const bool additive = o.mode == AttentionMode::kAdditive;
  const int64_t rows = additive ? o.n_attn : o.n_key;
  if (o.n_key < 1 || o.n_query < 0 || rows < 1 || (!additive && o.n_attn != 0)) {
    throw std::invalid_argument("QatAttention: n_key >= 1, n_query >= 0, additive n_attn >= 1, dot n_attn == 0");
  }
  const double bound_q = o.n_query > 0 ? 1.0 / std::sqrt(static_cast<double>(o.n_query)) : 0.1;
  wq = register_parameter("wq", torch::empty({rows, o.n_query}).uniform_(-bound_q, bound_q));
  bq = register_parameter("bq", o.n_query > 0 ? torch::zeros({rows}) : torch::empty({rows}).uniform_(-0.1, 0.1));
  if (additive) {
    const double bound_k = 1.0 / std::sqrt(static_cast<double>(o.n_key));
    wk = register_parameter("wk", torch::empty({o.n_attn, o.n_key}).uniform_(-bound_k, bound_k));
    const double bound_v = 1.0 / std::sqrt(static_cast<double>(o.n_attn));
    v = register_parameter("v", torch::empty({o.n_attn}).uniform_(-bound_v, bound_v));
  }
  u_absmax = register_buffer("u_absmax", torch::zeros({}, torch::kFloat64));
}

void QatAttentionImpl::SetGrids(double key_scale, int32_t key_zp, double query_scale, int32_t query_zp) {
  key_scale_ = key_scale;
  key_zp_ = key_zp;
  query_scale_ = query_scale;
  query_zp_ = query_zp;
}

QatAttentionImpl::Output QatAttentionImpl::forward(const torch::Tensor& keys, const torch::Tensor& mask,
                                                   const torch::Tensor& query) {
  return Attend(PrepareKeys(keys, mask), query);
}

QatAttentionImpl::Keys QatAttentionImpl::PrepareKeys(const torch::Tensor& keys, const torch::Tensor& mask) {
  if (!(key_scale_ > 0)) throw std::invalid_argument("QatAttention: call SetGrids first");
  if (keys.dim() != 3 || keys.size(2) != options_.n_key) {
    throw std::invalid_argument("QatAttention: keys must be [B][T][n_key]");
  }
  Keys k;
  k.keys = keys;
  k.mask = mask;
  if (options_.mode == AttentionMode::kAdditive) k.proj = torch::matmul(keys, FakeQuantWeight(wk).t());
  return k;
}

QatAttentionImpl::Output QatAttentionImpl::Attend(const Keys& k, const torch::Tensor& query) {
  const QatAttentionOptions& o = options_;
  const int64_t B = k.keys.size(0);
  if (o.n_query > 0 && (!query.defined() || query.dim() != 2 || query.size(1) != o.n_query)) {
    throw std::invalid_argument("QatAttention: query must be [B][n_query]");
  }
  // Query projection (plus bias) for every stream: [B][rows].
  const torch::Tensor aq =
      o.n_query > 0 ? torch::matmul(query, FakeQuantWeight(wq).t()) + bq : bq.unsqueeze(0).expand({B, -1});
  torch::Tensor scores;
  if (o.mode == AttentionMode::kAdditive) {
    const torch::Tensor pre = FakeQuant(aq.unsqueeze(1) + k.proj, std::ldexp(1.0, -12), 0, -32768, 32767);  // Q3.12
    const torch::Tensor h = FakeQuant(torch::tanh(pre), std::ldexp(1.0, -15), 0, -32767, 32767);           // Q0.15
    scores = torch::matmul(h, FakeQuantWeight(v));                                                          // [B][T]
  } else {
    double seen = u_absmax.item<double>();
    if (observing_) {
      const double m = aq.detach().abs().max().item<double>();
      seen = seen == 0 ? m : o.ema * seen + (1 - o.ema) * m;
      u_absmax.fill_(seen);
    }
    const double s_u = std::max(seen, 1e-6) / 127.0;
    const torch::Tensor u = FakeQuant(aq, s_u, 0, -128, 127);
    scores = torch::matmul(k.keys, u.unsqueeze(2)).squeeze(2);  // [B][T]
  }
  if (k.mask.defined()) scores = scores.masked_fill(k.mask.logical_not(), -1e30);
  const torch::Tensor alpha = FakeQuant(torch::softmax(scores, -1), std::ldexp(1.0, -15), 0, 0, 32767);
  Output out;
  out.weights = alpha;
  // Σ_t α_t k_t with real keys (the zero point is the grid's business), on the keys' grid.
  out.context = FakeQuant(torch::matmul(alpha.unsqueeze(1), k.keys).squeeze(1), key_scale_, key_zp_, -128, 127);
  return out;
}

Status QatAttentionImpl::Export(AttentionParams* params) const {
  if (params == nullptr) return Status::InvalidArgument("QatAttention::Export: params is null");
  const QatAttentionOptions& o = options_;
  const bool additive = o.mode == AttentionMode::kAdditive;
  AttentionConfig c;
  c.mode = o.mode;
  c.n_key = static_cast<int32_t>(o.n_key);
  c.n_query = static_cast<int32_t>(o.n_query);
  c.n_attn = static_cast<int32_t>(o.n_attn);
  c.rounding = o.rounding;
  c.activation = additive ? o.activation : LstmActivation::kFixedPoint;
  AttentionWeights w;
  AttentionQuantization q;
  q.key = {static_cast<float>(key_scale_), key_zp_};
  q.query = {static_cast<float>(o.n_query > 0 ? query_scale_ : 1.0), o.n_query > 0 ? query_zp_ : 0};
  if (o.n_query > 0) {
    w.query_weights = QuantizeWeight(wq);
    q.query_weight_scale = static_cast<float>(WeightScale(wq));
  }
  const torch::Tensor b = bq.detach().to(torch::kFloat32).cpu().contiguous();
  w.query_bias.assign(b.data_ptr<float>(), b.data_ptr<float>() + b.numel());
  if (additive) {
    w.key_weights = QuantizeWeight(wk);
    w.score_weights = QuantizeWeight(v);
    q.key_weight_scale = static_cast<float>(WeightScale(wk));
    q.score_weight_scale = static_cast<float>(WeightScale(v));
  } else {
    q.projection_scale = static_cast<float>(std::max(u_absmax.item<double>(), 1e-6) / 127.0);
  }
  return DeriveAttentionParams(c, w, q, params);
}

Status QatAttentionImpl::EvalInt(const torch::Tensor& keys, const torch::Tensor& lengths, const torch::Tensor& query,
                                 sim::SimAttendResult* out) const {
  AttentionParams p;
  IRNN_RETURN_IF_ERROR(Export(&p));
  try {
    const sim::SimAttention m = sim::PrepareSimAttention(p, keys.device());
    *out = sim::SimAttend(m, sim::SimAttentionSetKeys(m, keys, lengths), query);
  } catch (const std::exception& e) {
    return Status::InvalidArgument(std::string("QatAttention::EvalInt: ") + e.what());
  }
  return Status::Ok();
}

}  // namespace irnn::train
