// `sim` of integer attention (see sim_attention.h; docs/numerics.md §9) with libtorch int64 tensors.

#include "train/sim_attention.h"

#include <stdexcept>
#include <string>

#include "kernels/attention_kernels.h"  // kSoftmaxExp2Table: the constant table of §9.2 (data only)

namespace irnn::train::sim {
namespace {

using torch::Tensor;

Tensor Long(const Tensor& t) { return t.scalar_type() == torch::kInt64 ? t : t.to(torch::kInt64); }

template <typename T>
Tensor ToTensor(const std::vector<T>& v, const torch::Device& device) {
  Tensor t = torch::empty({static_cast<int64_t>(v.size())}, torch::TensorOptions().dtype(torch::kInt64));
  int64_t* p = t.data_ptr<int64_t>();
  for (size_t i = 0; i < v.size(); ++i) p[i] = static_cast<int64_t>(v[i]);
  return t.to(device);
}

Tensor Exp2Table(const torch::Device& device) {
  Tensor t = torch::empty({257}, torch::TensorOptions().dtype(torch::kInt64));
  int64_t* p = t.data_ptr<int64_t>();
  for (int j = 0; j < 257; ++j) p[j] = kSoftmaxExp2Table[j];
  return t.to(device);
}

Tensor FloorDiv(const Tensor& a, int64_t b) { return torch::div(a, b, "floor"); }

}  // namespace

Tensor SoftmaxQ15(const Tensor& scores_in, const Tensor& mask, QuantizedMultiplier exp_scale, Rounding rounding) {
  const Tensor scores = Long(scores_in);
  if (scores.dim() < 1 || scores.size(-1) < 1) throw std::invalid_argument("sim::SoftmaxQ15: scores must be [..., T>=1]");
  const bool masked = mask.defined();
  const Tensor valid = masked ? mask.to(torch::kBool) : torch::ones_like(scores, torch::kBool);
  const int64_t kLow = -(int64_t{1} << 40);
  const Tensor s = torch::where(valid, scores, torch::full_like(scores, kLow));
  const Tensor max = std::get<0>(s.max(-1, true));
  const Tensor d = torch::clamp(s - max, int64_t{-2147483648LL}, 0);                        // step 2: sat32
  Tensor x = torch::clamp_max(MultiplyByQuantizedMultiplier(d, exp_scale, rounding), 0);    // step 3
  const Tensor ip = FloorDiv(x, 65536);                                                     // step 4
  const Tensor f = x - ip * 65536;
  const Tensor j = FloorDiv(f, 256), r = f - j * 256;
  const Tensor table = Exp2Table(scores.device());
  const Tensor lo = torch::take(table, j), hi = torch::take(table, j + 1);
  const Tensor p = lo + FloorDiv((hi - lo) * r + 128, 256);                                 // step 5
  Tensor e = RoundingDivideByPOT(p, torch::clamp_max(-ip, 31));                             // step 6
  e = torch::where(valid, e, torch::zeros_like(e));
  const Tensor sum = e.sum(-1, true);                                                       // step 7
  const Tensor recip = torch::full_like(sum, int64_t{1} << 60).div(sum, "floor");  // step 8
  const Tensor a = torch::bitwise_right_shift(e * recip + (int64_t{1} << 44), 45);         // step 9
  return torch::clamp_max(a, 32767);
}

SimAttention PrepareSimAttention(const AttentionParams& params, const torch::Device& device) {
  const Status s = ValidateAttentionParams(params);
  if (!s.ok()) throw std::invalid_argument("sim::PrepareSimAttention: " + s.message());
  SimAttention m;
  m.params = params;
  m.device = device;
  const AttentionConfig& c = params.config;
  const int64_t rows = c.mode == AttentionMode::kAdditive ? c.n_attn : c.n_key;
  if (c.n_query > 0) m.wq = ToTensor(params.query_weights, device).reshape({rows, c.n_query});
  m.bq = ToTensor(params.query_bias, device);
  if (c.mode == AttentionMode::kAdditive) {
    m.wk = ToTensor(params.key_weights, device).reshape({c.n_attn, c.n_key});
    m.bk = ToTensor(params.key_bias, device);
    m.v = ToTensor(params.score_weights, device);
    if (c.activation == LstmActivation::kPwl) {
      m.pwl_tanh = ToPwlTensors(params.pwl_tanh, device);
    } else {
      m.tanh_table = TanhQ15Table(3, device);
    }
  }
  return m;
}

SimAttentionKeys SimAttentionSetKeys(const SimAttention& m, const Tensor& keys_in, const Tensor& lengths) {
  const AttentionConfig& c = m.params.config;
  const Tensor keys = Long(keys_in).to(m.device);
  if (keys.dim() != 3 || keys.size(2) != c.n_key || keys.size(1) < 1 || keys.size(1) > kMaxAttentionLength) {
    throw std::invalid_argument("sim::SimAttentionSetKeys: keys must be [B][T][n_key] with T in [1, 4096], n_key = " +
                                std::to_string(c.n_key));
  }
  const int64_t B = keys.size(0), T = keys.size(1);
  SimAttentionKeys k;
  k.keys = keys;
  const Tensor t = torch::arange(T, torch::TensorOptions().dtype(torch::kInt64).device(m.device));
  if (lengths.defined()) {
    const Tensor len = Long(lengths).to(m.device).reshape({B, 1});
    if (len.lt(1).any().item<bool>() || len.gt(T).any().item<bool>()) {
      throw std::invalid_argument("sim::SimAttentionSetKeys: lengths must lie in [1, T]");
    }
    k.mask = t.reshape({1, T}) < len;
  } else {
    k.mask = torch::ones({B, T}, torch::TensorOptions().dtype(torch::kBool).device(m.device));
  }
  if (c.mode == AttentionMode::kAdditive) {
    k.key_proj = GemvRequant(keys.reshape({B * T, c.n_key}), m.wk, m.bk, ScalarRequant(m.params.key_scale), c.rounding)
                     .reshape({B, T, c.n_attn});
  }
  return k;
}

SimAttendResult SimAttend(const SimAttention& m, const SimAttentionKeys& k, const Tensor& query) {
  const AttentionConfig& c = m.params.config;
  const int64_t B = k.keys.size(0);
  const int64_t rows = c.mode == AttentionMode::kAdditive ? c.n_attn : c.n_key;
  Tensor qacc;
  if (c.n_query > 0) {
    if (!query.defined() || query.dim() != 2 || query.size(0) != B || query.size(1) != c.n_query) {
      throw std::invalid_argument("sim::SimAttend: query must be [B][n_query]");
    }
    qacc = GemvRequant(Long(query).to(m.device), m.wq, m.bq, ScalarRequant(m.params.query_scale), c.rounding);
  } else {
    if (query.defined()) throw std::invalid_argument("sim::SimAttend: query must be undefined when n_query == 0");
    qacc = MultiplyByQuantizedMultiplier(m.bq, m.params.query_scale, c.rounding).reshape({1, rows}).expand({B, rows});
  }
  const Tensor centered = k.keys - m.params.key_zp;  // [B][T][n_key]
  Tensor scores;
  if (c.mode == AttentionMode::kAdditive) {
    const Tensor pre = SaturateToInt16(qacc.unsqueeze(1) + k.key_proj);  // [B][T][n_attn]
    const Tensor h = c.activation == LstmActivation::kPwl ? EvaluatePwl(m.pwl_tanh, pre) : LookupS16(m.tanh_table, pre);
    scores = Wrap32((h * m.v).sum(-1));
  } else {
    const Tensor u = SaturateToInt8(qacc);  // [B][n_key]
    scores = Wrap32((centered * u.unsqueeze(1)).sum(-1));
  }
  SimAttendResult r;
  r.scores = scores;
  r.weights = SoftmaxQ15(scores, k.mask, m.params.softmax_scale, c.rounding);
  const Tensor acc = Wrap32((r.weights.unsqueeze(2) * centered).sum(1));  // [B][n_key]
  r.context = SaturateToInt8(RoundingDivideByPOT(acc, 15) + m.params.key_zp);
  return r;
}

}  // namespace irnn::train::sim
