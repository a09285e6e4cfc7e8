// Derivation of the integer attention parameters (include/irnn/attention.h) from int8 weights and float
// scales (docs/numerics.md §9.5): multipliers by QuantizeMultiplier (§1.4), effective biases folding the
// zero points, the softmax input multiplier, and the PWL tanh table when asked for. Uses double on
// purpose: it runs at export time, is compiled into `irnn` and is not part of the runtime objects.

#include <cmath>
#include <string>

#include "core/quantize.h"
#include "irnn/attention.h"
#include "pwl/pwl_fit.h"

namespace irnn {
namespace {

Status CheckScale(double scale, const std::string& field, bool needed) {
  if (!needed) return Status::Ok();
  if (!(scale > 0.0) || !std::isfinite(scale)) {
    return Status::InvalidArgument("AttentionQuantization: " + field + " is " + std::to_string(scale) +
                                   " but must be a finite number > 0");
  }
  return Status::Ok();
}

Status RoundBias(double value, const std::string& field, int64_t fold, int32_t* out) {
  const double r = std::nearbyint(value);
  const double total = r + static_cast<double>(fold);
  if (!std::isfinite(total) || total < -2147483648.0 || total > 2147483647.0) {
    return Status::OutOfRange("DeriveAttentionParams: " + field + " is " + std::to_string(total) +
                              " but must fit in int32 (bias too large for its scale)");
  }
  *out = static_cast<int32_t>(total);
  return Status::Ok();
}

}  // namespace

Status DeriveAttentionParams(const AttentionConfig& c, const AttentionWeights& w, const AttentionQuantization& q,
                             AttentionParams* params) {
  if (params == nullptr) return Status::InvalidArgument("DeriveAttentionParams: params is null");
  const bool additive = c.mode == AttentionMode::kAdditive;
  const bool has_query = c.n_query > 0;
  IRNN_RETURN_IF_ERROR(CheckScale(q.key.scale, "key.scale", true));
  IRNN_RETURN_IF_ERROR(CheckScale(q.query.scale, "query.scale", has_query));
  IRNN_RETURN_IF_ERROR(CheckScale(q.query_weight_scale, "query_weight_scale", has_query));
  IRNN_RETURN_IF_ERROR(CheckScale(q.key_weight_scale, "key_weight_scale", additive));
  IRNN_RETURN_IF_ERROR(CheckScale(q.score_weight_scale, "score_weight_scale", additive));
  IRNN_RETURN_IF_ERROR(CheckScale(q.projection_scale, "projection_scale", !additive));
  const int64_t rows = additive ? c.n_attn : c.n_key;
  if (rows < 1 || c.n_query < 0 || c.n_key < 1 || rows > kMaxAttentionWidth || c.n_query > kMaxAttentionWidth ||
      static_cast<int64_t>(w.query_weights.size()) != rows * c.n_query ||
      (!w.query_bias.empty() && static_cast<int64_t>(w.query_bias.size()) != rows)) {
    return Status::InvalidArgument("DeriveAttentionParams: query_weights has " + std::to_string(w.query_weights.size()) +
                                   " elements and query_bias " + std::to_string(w.query_bias.size()) +
                                   " but must have rows*n_query and rows (or 0), rows = " + std::to_string(rows));
  }
  AttentionParams p;
  p.config = c;
  p.key_zp = q.key.zero_point;
  p.query_zp = has_query ? q.query.zero_point : 0;
  p.query_weights = w.query_weights;
  // The grid the query projection lands on: Q3.12 (additive) or S_u (dot).
  const double target = additive ? std::ldexp(1.0, -12) : static_cast<double>(q.projection_scale);
  // With a query the accumulator's scale is S_Wq·S_q; without one the bias is stored on the target grid
  // and the multiplier is 1.0 (QuantizeMultiplier(1) = (2^30, 1), exact for |x| < 2^30).
  const double acc_scale =
      has_query ? static_cast<double>(q.query_weight_scale) * static_cast<double>(q.query.scale) : target;
  p.query_scale = QuantizeMultiplier(acc_scale / target, c.rounding);
  p.query_bias.resize(rows);
  for (int64_t r = 0; r < rows; ++r) {
    int64_t rowsum = 0;
    for (int64_t k = 0; k < c.n_query; ++k) rowsum += w.query_weights[r * c.n_query + k];
    const double b = w.query_bias.empty() ? 0.0 : static_cast<double>(w.query_bias[r]);
    IRNN_RETURN_IF_ERROR(RoundBias(b / acc_scale, "query_bias[" + std::to_string(r) + "]", -int64_t{p.query_zp} * rowsum,
                                   &p.query_bias[r]));
  }
  double score_scale = 0;
  if (additive) {
    if (static_cast<int64_t>(w.key_weights.size()) != int64_t{c.n_attn} * c.n_key ||
        static_cast<int64_t>(w.score_weights.size()) != c.n_attn) {
      return Status::InvalidArgument("DeriveAttentionParams: key_weights has " + std::to_string(w.key_weights.size()) +
                                     " and score_weights " + std::to_string(w.score_weights.size()) +
                                     " elements but must have n_attn*n_key and n_attn");
    }
    p.key_weights = w.key_weights;
    p.score_weights = w.score_weights;
    p.key_scale = QuantizeMultiplier(static_cast<double>(q.key_weight_scale) * q.key.scale / std::ldexp(1.0, -12),
                                     c.rounding);
    p.key_bias.resize(c.n_attn);
    for (int64_t r = 0; r < c.n_attn; ++r) {
      int64_t rowsum = 0;
      for (int64_t k = 0; k < c.n_key; ++k) rowsum += w.key_weights[r * c.n_key + k];
      p.key_bias[r] = static_cast<int32_t>(-int64_t{p.key_zp} * rowsum);  // |.| <= 128·127·4096 < 2^31
    }
    score_scale = static_cast<double>(q.score_weight_scale) * std::ldexp(1.0, -15);
  } else {
    score_scale = static_cast<double>(q.projection_scale) * static_cast<double>(q.key.scale);
  }
  // §9.2: (s − max) · S_s in log2 units on a 2^−16 grid.
  p.softmax_scale = QuantizeMultiplier(score_scale * (1.0 / std::log(2.0)) * 65536.0, c.rounding);
  if (additive && c.activation == LstmActivation::kPwl) {
    RealFunction tanh;
    BuiltinPwlFunction("tanh", &tanh);
    const PwlGrid q3_12{-32768, 32767, std::ldexp(1.0, -12), 0};
    const PwlGrid q0_15_signed{-32767, 32767, std::ldexp(1.0, -15), 0};
    PwlFitOptions opt;
    opt.fitter = PwlFitter::kOptimal;
    opt.max_error_lsb = 1.0;
    opt.odd = true;
    PwlFitResult r;
    IRNN_RETURN_IF_ERROR(FitPwl(tanh, q3_12, q0_15_signed, opt, &r));
    p.pwl_tanh = r.table;
  }
  IRNN_RETURN_IF_ERROR(ValidateAttentionParams(p));
  *params = std::move(p);
  return Status::Ok();
}

}  // namespace irnn
