// The integer attention layer (include/irnn/attention.h; docs/numerics.md §9): validation, the
// per-sequence key state (SetKeys: copy, and the additive key projection Wk k_t) and the attention step
// (Attend: query projection, scores, softmax, context). The int8 matmuls are the LSTM kernels' packed
// matmuls; everything else is the attention kernel table. Integer only (part of the no-float check);
// the float -> integer derivation is attention_derive.cc.

#include <algorithm>
#include <cstring>
#include <string>

#include "core/fixed_point.h"
#include "irnn/attention.h"
#include "kernels/attention_kernels.h"
#include "kernels/lstm_kernels.h"
#include "kernels/pwl_kernels.h"

namespace irnn {
namespace {

constexpr int kMaxBatch = 1 << 16;
constexpr int kTanhIntegerBits = 3;  // the additive pre-activation is Q3.12 (numerics.md §9.3)

Status Bad(const std::string& field, int64_t value, const std::string& rule) {
  return Status::InvalidArgument("AttentionParams: " + field + " is " + std::to_string(value) + " but must be " + rule);
}

Status CheckSize(const char* field, size_t got, const char* rule, int64_t want) {
  if (static_cast<int64_t>(got) == want) return Status::Ok();
  return Status::InvalidArgument(std::string("AttentionParams: ") + field + " has " + std::to_string(got) +
                                 " elements but must have " + rule + " = " + std::to_string(want));
}

Status CheckMultiplier(const char* field, QuantizedMultiplier m) {
  if (m.multiplier < 0 || (m.multiplier != 0 && m.multiplier < (int32_t{1} << 30))) {
    return Bad(std::string(field) + ".multiplier", m.multiplier, "0 or in [2^30, 2^31)");
  }
  if (m.shift < -31 || m.shift > 30) return Bad(std::string(field) + ".shift", m.shift, "in [-31, 30]");
  return Status::Ok();
}

int QueryRows(const AttentionConfig& c) { return c.mode == AttentionMode::kAdditive ? c.n_attn : c.n_key; }

}  // namespace

Status ValidateAttentionParams(const AttentionParams& p) {
  const AttentionConfig& c = p.config;
  if (c.mode != AttentionMode::kAdditive && c.mode != AttentionMode::kDot) {
    return Bad("config.mode", static_cast<int>(c.mode), "0 (additive) or 1 (dot)");
  }
  if (c.rounding != Rounding::kDouble && c.rounding != Rounding::kSingle) {
    return Bad("config.rounding", static_cast<int>(c.rounding), "0 or 1");
  }
  if (c.activation != LstmActivation::kFixedPoint && c.activation != LstmActivation::kPwl) {
    return Bad("config.activation", static_cast<int>(c.activation), "0 (fixed point) or 1 (pwl)");
  }
  if (c.n_key < 1 || c.n_key > kMaxAttentionWidth) {
    return Bad("config.n_key", c.n_key, "in [1, " + std::to_string(kMaxAttentionWidth) + "]");
  }
  if (c.n_query < 0 || c.n_query > kMaxAttentionWidth) {
    return Bad("config.n_query", c.n_query, "in [0, " + std::to_string(kMaxAttentionWidth) + "] (0 = pooling)");
  }
  const bool additive = c.mode == AttentionMode::kAdditive;
  if (additive && (c.n_attn < 1 || c.n_attn > kMaxAttentionHidden)) {
    return Bad("config.n_attn", c.n_attn, "in [1, " + std::to_string(kMaxAttentionHidden) + "] in additive mode");
  }
  if (!additive && c.n_attn != 0) return Bad("config.n_attn", c.n_attn, "0 in dot mode");
  if (!additive && c.activation != LstmActivation::kFixedPoint) {
    return Bad("config.activation", static_cast<int>(c.activation), "0 in dot mode (it has no tanh)");
  }
  if (p.key_zp < -128 || p.key_zp > 127) return Bad("key_zp", p.key_zp, "in [-128, 127]");
  if (p.query_zp < -128 || p.query_zp > 127) return Bad("query_zp", p.query_zp, "in [-128, 127]");
  const int64_t rows = QueryRows(c);
  IRNN_RETURN_IF_ERROR(CheckSize("query_weights", p.query_weights.size(), "rows*n_query", rows * c.n_query));
  IRNN_RETURN_IF_ERROR(CheckSize("query_bias", p.query_bias.size(), "rows", rows));
  IRNN_RETURN_IF_ERROR(CheckMultiplier("query_scale", p.query_scale));
  IRNN_RETURN_IF_ERROR(CheckMultiplier("softmax_scale", p.softmax_scale));
  if (additive) {
    IRNN_RETURN_IF_ERROR(CheckSize("key_weights", p.key_weights.size(), "n_attn*n_key", int64_t{c.n_attn} * c.n_key));
    IRNN_RETURN_IF_ERROR(CheckSize("key_bias", p.key_bias.size(), "n_attn", c.n_attn));
    IRNN_RETURN_IF_ERROR(CheckSize("score_weights", p.score_weights.size(), "n_attn", c.n_attn));
    IRNN_RETURN_IF_ERROR(CheckMultiplier("key_scale", p.key_scale));
  } else {
    IRNN_RETURN_IF_ERROR(CheckSize("key_weights", p.key_weights.size(), "0 in dot mode", 0));
    IRNN_RETURN_IF_ERROR(CheckSize("key_bias", p.key_bias.size(), "0 in dot mode", 0));
    IRNN_RETURN_IF_ERROR(CheckSize("score_weights", p.score_weights.size(), "0 in dot mode", 0));
  }
  if (c.activation == LstmActivation::kPwl) {
    const Status s = ValidatePwlTable(p.pwl_tanh);
    if (!s.ok()) return Status(s.code(), "AttentionParams: pwl_tanh: " + s.message());
    if (p.pwl_tanh.output_min < -32768 || p.pwl_tanh.output_max > 32767) {
      return Bad("pwl_tanh.output_min/max", p.pwl_tanh.output_min < -32768 ? p.pwl_tanh.output_min : p.pwl_tanh.output_max,
                 "within int16 (a Q0.15 result)");
    }
  } else if (!p.pwl_tanh.knot.empty()) {
    return CheckSize("pwl_tanh.knot", p.pwl_tanh.knot.size(), "0 without activation pwl", 0);
  }
  return Status::Ok();
}

int Attention::query_rows() const { return QueryRows(params_.config); }

Status Attention::Create(AttentionParams params, KernelPath path, std::unique_ptr<Attention>* out) {
  if (out == nullptr) return Status::InvalidArgument("Attention::Create: out is null");
  IRNN_RETURN_IF_ERROR(ValidateAttentionParams(params));
  KernelPath resolved = KernelPath::kScalar;
  IRNN_RETURN_IF_ERROR(ResolveKernelPath(path, &resolved));
  std::unique_ptr<Attention> layer(new Attention());
  layer->params_ = std::move(params);
  layer->path_ = resolved;
  layer->kernels_ = &GetLstmKernels(resolved);
  layer->pwl_kernels_ = &GetPwlKernels(resolved);
  layer->attention_kernels_ = &GetAttentionKernels(resolved);
  const AttentionConfig& c = layer->params_.config;
  if (c.n_query > 0) {
    auto packed = std::make_shared<PackedS8>();
    layer->kernels_->PackS8(layer->params_.query_weights.data(), layer->query_rows(), c.n_query, packed.get());
    layer->query_packed_ = std::move(packed);
  }
  if (c.mode == AttentionMode::kAdditive) {
    auto packed = std::make_shared<PackedS8>();
    layer->kernels_->PackS8(layer->params_.key_weights.data(), c.n_attn, c.n_key, packed.get());
    layer->key_packed_ = std::move(packed);
  }
  *out = std::move(layer);
  return Status::Ok();
}

Status Attention::NewState(int batch, int max_length, AttentionState* state) const {
  if (state == nullptr) return Status::InvalidArgument("Attention::NewState: state is null");
  if (batch < 1 || batch > kMaxBatch) {
    return Status::InvalidArgument("Attention::NewState: batch is " + std::to_string(batch) + " but must be in [1, " +
                                   std::to_string(kMaxBatch) + "]");
  }
  if (max_length < 1 || max_length > kMaxAttentionLength) {
    return Status::InvalidArgument("Attention::NewState: max_length is " + std::to_string(max_length) +
                                   " but must be in [1, " + std::to_string(kMaxAttentionLength) + "]");
  }
  const AttentionConfig& c = params_.config;
  const int64_t width = std::max<int64_t>(c.n_key, c.n_attn);
  const int64_t elements = int64_t{batch} * max_length * width;
  if (elements > kMaxAttentionStateElements) {
    return Status::OutOfRange("Attention::NewState: batch*max_length*max(n_key, n_attn) is " +
                              std::to_string(elements) + " but must be at most " +
                              std::to_string(kMaxAttentionStateElements));
  }
  AttentionState s;
  s.batch_ = batch;
  s.max_length_ = max_length;
  s.lengths_.assign(batch, 0);
  s.keys_.assign(static_cast<size_t>(int64_t{batch} * max_length * c.n_key), 0);
  if (c.mode == AttentionMode::kAdditive) {
    s.key_proj_.assign(static_cast<size_t>(int64_t{batch} * max_length * c.n_attn), 0);
    s.preact_.assign(static_cast<size_t>(int64_t{max_length} * c.n_attn), 0);
    s.hidden_.assign(static_cast<size_t>(int64_t{max_length} * c.n_attn), 0);
  } else {
    s.query_s8_.assign(static_cast<size_t>(int64_t{batch} * c.n_key), 0);
  }
  s.query_acc_.assign(static_cast<size_t>(int64_t{batch} * query_rows()), 0);
  s.scores_.assign(max_length, 0);
  s.exp_.assign(max_length, 0);
  s.weights_.assign(max_length, 0);
  *state = std::move(s);
  return Status::Ok();
}

bool Attention::StateFits(const AttentionState& s) const {
  const AttentionConfig& c = params_.config;
  if (s.batch_ < 1 || s.max_length_ < 1 || s.max_length_ > kMaxAttentionLength) return false;
  const int64_t bt = int64_t{s.batch_} * s.max_length_;
  const bool additive = c.mode == AttentionMode::kAdditive;
  const int64_t attn = additive ? c.n_attn : 0;
  return bt * std::max<int64_t>(c.n_key, c.n_attn) <= kMaxAttentionStateElements &&
         s.lengths_.size() == static_cast<size_t>(s.batch_) && s.keys_.size() == static_cast<size_t>(bt * c.n_key) &&
         s.key_proj_.size() == static_cast<size_t>(bt * attn) &&
         s.query_acc_.size() == static_cast<size_t>(int64_t{s.batch_} * query_rows()) &&
         s.query_s8_.size() == static_cast<size_t>(additive ? 0 : int64_t{s.batch_} * c.n_key) &&
         s.preact_.size() == static_cast<size_t>(int64_t{s.max_length_} * attn) &&
         s.hidden_.size() == static_cast<size_t>(int64_t{s.max_length_} * attn) &&
         s.scores_.size() == static_cast<size_t>(s.max_length_) && s.exp_.size() == static_cast<size_t>(s.max_length_) &&
         s.weights_.size() == static_cast<size_t>(s.max_length_);
}

Status Attention::SetKeys(const int8_t* keys, int length, const int32_t* lengths, AttentionState* state) const {
  const std::string who = "Attention::SetKeys: ";
  if (state == nullptr) return Status::InvalidArgument(who + "state is null");
  if (keys == nullptr) return Status::InvalidArgument(who + "keys is null");
  const AttentionConfig& c = params_.config;
  if (!StateFits(*state)) return Status::InvalidArgument(who + "state was not made by NewState of this layer");
  if (length < 1 || length > state->max_length_) {
    return Status::InvalidArgument(who + "length is " + std::to_string(length) + " but must be in [1, " +
                                   std::to_string(state->max_length_) + "] (the state's max_length)");
  }
  const int batch = state->batch_;
  if (lengths != nullptr) {
    for (int b = 0; b < batch; ++b) {
      if (lengths[b] < 1 || lengths[b] > length) {
        return Status::InvalidArgument(who + "lengths[" + std::to_string(b) + "] is " + std::to_string(lengths[b]) +
                                       " but must be in [1, " + std::to_string(length) + "]");
      }
    }
  }
  const int T = state->max_length_;
  for (int b = 0; b < batch; ++b) {
    const int len = lengths != nullptr ? lengths[b] : length;
    state->lengths_[b] = len;
    int8_t* dst = state->keys_.data() + int64_t{b} * T * c.n_key;
    for (int t = 0; t < len; ++t) {
      std::memcpy(dst + int64_t{t} * c.n_key, keys + (int64_t{t} * batch + b) * c.n_key, c.n_key);
    }
    if (c.mode == AttentionMode::kAdditive) {
      // §9.3: A_k[t][j] = MBQM(key_bias[j] + Σ_i Wk[j][i]·k_t[i], key_scale), once per sequence.
      kernels_->GemvPackedRequantS32(*key_packed_, 0, c.n_attn, params_.key_bias.data(), dst, len, params_.key_scale,
                                     nullptr, c.rounding, state->key_proj_.data() + int64_t{b} * T * c.n_attn);
    }
  }
  state->has_keys_ = true;
  return Status::Ok();
}

Status Attention::Attend(const int8_t* query, AttentionState* state, int8_t* context, int16_t* weights) const {
  const std::string who = "Attention::Attend: ";
  if (state == nullptr) return Status::InvalidArgument(who + "state is null");
  if (context == nullptr) return Status::InvalidArgument(who + "context is null");
  const AttentionConfig& c = params_.config;
  if (c.n_query > 0 && query == nullptr) return Status::InvalidArgument(who + "query is null");
  if (c.n_query == 0 && query != nullptr) {
    return Status::InvalidArgument(who + "query is not null but must be null: n_query is 0 (pooling)");
  }
  if (!StateFits(*state)) return Status::InvalidArgument(who + "state was not made by NewState of this layer");
  if (!state->has_keys_) return Status::InvalidArgument(who + "the state has no keys: call SetKeys first");
  const int batch = state->batch_, T = state->max_length_, rows = query_rows();
  const AttentionKernels& ak = *attention_kernels_;

  // Query projection for every stream: [batch][rows] int32 (§9.3 / §9.4).
  int32_t* qacc = state->query_acc_.data();
  if (c.n_query > 0) {
    kernels_->GemvPackedRequantS32(*query_packed_, 0, rows, params_.query_bias.data(), query, batch,
                                   params_.query_scale, nullptr, c.rounding, qacc);
  } else {
    for (int b = 0; b < batch; ++b) {
      for (int r = 0; r < rows; ++r) {
        qacc[int64_t{b} * rows + r] = MultiplyByQuantizedMultiplier(params_.query_bias[r], params_.query_scale, c.rounding);
      }
    }
  }
  for (int b = 0; b < batch; ++b) {
    const int len = state->lengths_[b];
    const int8_t* keys = state->keys_.data() + int64_t{b} * T * c.n_key;
    int32_t* scores = state->scores_.data();
    if (c.mode == AttentionMode::kAdditive) {
      const int64_t n = int64_t{len} * c.n_attn;
      ak.AddRowSatS32ToS16(qacc + int64_t{b} * rows, state->key_proj_.data() + int64_t{b} * T * c.n_attn, len, c.n_attn,
                           state->preact_.data());
      if (c.activation == LstmActivation::kPwl) {
        pwl_kernels_->EvaluateS16(params_.pwl_tanh, state->preact_.data(), static_cast<int>(n), state->hidden_.data());
      } else {
        kernels_->TanhS16(state->preact_.data(), static_cast<int>(n), kTanhIntegerBits, state->hidden_.data());
      }
      ak.DotRowsS16S8(state->hidden_.data(), params_.score_weights.data(), len, c.n_attn, scores);
    } else {
      int8_t* u = state->query_s8_.data() + int64_t{b} * c.n_key;
      for (int j = 0; j < c.n_key; ++j) u[j] = SaturateToInt8(qacc[int64_t{b} * rows + j]);
      ak.DotRowsS8S8(keys, u, len, c.n_key, params_.key_zp, scores);
    }
    int16_t* alpha = state->weights_.data();
    ak.SoftmaxS32ToQ15(scores, len, params_.softmax_scale, c.rounding, state->exp_.data(), alpha);
    ak.WeightedSumS8(alpha, keys, len, c.n_key, params_.key_zp, context + int64_t{b} * c.n_key);
    if (weights != nullptr) {
      int16_t* w = weights + int64_t{b} * T;
      std::memcpy(w, alpha, sizeof(int16_t) * len);
      std::fill(w + len, w + T, int16_t{0});
    }
  }
  return Status::Ok();
}

Status Attention::Pool(const int8_t* keys, int length, const int32_t* lengths, AttentionState* state,
                       int8_t* context) const {
  if (params_.config.n_query != 0) {
    return Status::InvalidArgument("Attention::Pool: config.n_query is " + std::to_string(params_.config.n_query) +
                                   " but must be 0 (pooling has a learned query)");
  }
  IRNN_RETURN_IF_ERROR(SetKeys(keys, length, lengths, state));
  return Attend(nullptr, state, context, nullptr);
}

Status SoftmaxQ15(const int32_t* scores, int n, QuantizedMultiplier exp_scale, Rounding rounding, KernelPath path,
                  int16_t* probs) {
  if (scores == nullptr || probs == nullptr) return Status::InvalidArgument("SoftmaxQ15: scores or probs is null");
  if (n < 1 || n > kMaxAttentionLength) {
    return Status::InvalidArgument("SoftmaxQ15: n is " + std::to_string(n) + " but must be in [1, " +
                                   std::to_string(kMaxAttentionLength) + "]");
  }
  if (!IsValidQuantizedMultiplier(exp_scale) || exp_scale.multiplier < 0) {
    return Status::InvalidArgument("SoftmaxQ15: exp_scale is (" + std::to_string(exp_scale.multiplier) + ", " +
                                   std::to_string(exp_scale.shift) +
                                   ") but must have multiplier 0 or in [2^30, 2^31) and shift in [-31, 30]");
  }
  if (rounding != Rounding::kDouble && rounding != Rounding::kSingle) {
    return Status::InvalidArgument("SoftmaxQ15: rounding is " + std::to_string(static_cast<int>(rounding)) +
                                   " but must be 0 or 1");
  }
  KernelPath resolved = KernelPath::kScalar;
  IRNN_RETURN_IF_ERROR(ResolveKernelPath(path, &resolved));
  std::vector<int32_t> scratch(n);
  GetAttentionKernels(resolved).SoftmaxS32ToQ15(scores, n, exp_scale, rounding, scratch.data(), probs);
  return Status::Ok();
}

}  // namespace irnn
