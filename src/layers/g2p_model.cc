// The integer G2P encoder–decoder (include/irnn/g2p.h; numerics.md §11): validation of the layer chain,
// the encoder, the decoder step with input feeding and attention, the fixed-point log-softmax and the
// greedy/beam search over int32 logits. Integer only (part of the no-float check).

#include <algorithm>
#include <cstring>
#include <string>

#include "core/fixed_point.h"
#include "irnn/g2p.h"

namespace irnn {
namespace {

Status Chain(const std::string& what) { return Status::InvalidArgument("G2pModelParams: " + what); }

std::string Str(int64_t v) { return std::to_string(v); }

// 2^(−2^(−(b+1))) in Q30 for b = 0..15: the factor of fractional bit b (weight 2^(−(b+1))) of §11.3.
constexpr int64_t kExp2Frac[16] = {759250125,  902905651,  984625594,  1028218693, 1050733751, 1062175491,
                                   1067942999, 1070838486, 1072289173, 1073015252, 1073378477, 1073560135,
                                   1073650976, 1073696399, 1073719111, 1073730468};
constexpr int64_t kOneQ30 = int64_t{1} << 30;

}  // namespace

Status ValidateG2pModelParams(const G2pModelParams& p) {
  auto named = [](const char* layer, const Status& s) {
    return s.ok() ? s : Status(s.code(), std::string("G2pModelParams: ") + layer + ": " + s.message());
  };
  IRNN_RETURN_IF_ERROR(named("char_embedding", ValidateEmbeddingParams(p.char_embedding)));
  IRNN_RETURN_IF_ERROR(named("enc_fw", ValidateTfliteLstmParams(p.enc_fw)));
  IRNN_RETURN_IF_ERROR(named("enc_bw", ValidateTfliteLstmParams(p.enc_bw)));
  IRNN_RETURN_IF_ERROR(named("phone_embedding", ValidateEmbeddingParams(p.phone_embedding)));
  IRNN_RETURN_IF_ERROR(named("dec", ValidateTfliteLstmParams(p.dec)));
  IRNN_RETURN_IF_ERROR(named("attention", ValidateAttentionParams(p.attention)));
  IRNN_RETURN_IF_ERROR(named("out_h", ValidateLinearParams(p.out_h)));
  IRNN_RETURN_IF_ERROR(named("out_c", ValidateLinearParams(p.out_c)));
  const TfliteLstmConfig &f = p.enc_fw.config, &b = p.enc_bw.config, &d = p.dec.config;
  if (p.char_embedding.dim != f.n_input || p.char_embedding.dim != b.n_input) {
    return Chain("char_embedding.dim is " + Str(p.char_embedding.dim) + " but must equal enc_fw.n_input (" +
                 Str(f.n_input) + ") and enc_bw.n_input (" + Str(b.n_input) + ")");
  }
  if (f.n_output != b.n_output || f.n_cell != b.n_cell) {
    return Chain("enc_bw is " + Str(b.n_cell) + "/" + Str(b.n_output) + " (cell/output) but must equal enc_fw's " +
                 Str(f.n_cell) + "/" + Str(f.n_output));
  }
  if (p.enc_fw.output_zp != p.enc_bw.output_zp) {
    return Chain("enc_bw.output_zp is " + Str(p.enc_bw.output_zp) + " but must equal enc_fw.output_zp (" +
                 Str(p.enc_fw.output_zp) + "): both directions share one output grid");
  }
  const int64_t keys = 2 * int64_t{f.n_output};
  if (int64_t{p.phone_embedding.dim} + keys != d.n_input) {
    return Chain("dec.n_input is " + Str(d.n_input) + " but must be phone_embedding.dim + 2·enc.n_output = " +
                 Str(p.phone_embedding.dim + keys));
  }
  if (p.phone_embedding.zero_point != p.enc_fw.output_zp) {
    return Chain("phone_embedding.zero_point is " + Str(p.phone_embedding.zero_point) +
                 " but must be the encoder output zero point " + Str(p.enc_fw.output_zp));
  }
  const AttentionConfig& a = p.attention.config;
  if (a.n_key != keys || p.attention.key_zp != p.enc_fw.output_zp) {
    return Chain("attention.n_key/key_zp are " + Str(a.n_key) + "/" + Str(p.attention.key_zp) + " but must be " +
                 Str(keys) + "/" + Str(p.enc_fw.output_zp) + " (the encoder outputs)");
  }
  if (a.n_query != d.n_output || p.attention.query_zp != p.dec.output_zp) {
    return Chain("attention.n_query/query_zp are " + Str(a.n_query) + "/" + Str(p.attention.query_zp) +
                 " but must be " + Str(d.n_output) + "/" + Str(p.dec.output_zp) + " (the decoder output)");
  }
  if (p.out_h.n_in != d.n_output || p.out_c.n_in != keys) {
    return Chain("out_h.n_in/out_c.n_in are " + Str(p.out_h.n_in) + "/" + Str(p.out_c.n_in) + " but must be " +
                 Str(d.n_output) + "/" + Str(keys));
  }
  if (p.out_h.n_out != p.phone_embedding.vocab || p.out_c.n_out != p.phone_embedding.vocab ||
      p.phone_embedding.vocab < 2) {
    return Chain("out_h.n_out/out_c.n_out are " + Str(p.out_h.n_out) + "/" + Str(p.out_c.n_out) +
                 " but must equal phone_embedding.vocab (" + Str(p.phone_embedding.vocab) + ", >= 2)");
  }
  if (!IsValidQuantizedMultiplier(p.log2_scale) || p.log2_scale.multiplier == 0) {
    return Chain("log2_scale is (" + Str(p.log2_scale.multiplier) + ", " + Str(p.log2_scale.shift) +
                 ") but must have a multiplier in [2^30, 2^31) and a shift in [-31, 30]");
  }
  if (p.rounding != Rounding::kDouble && p.rounding != Rounding::kSingle) {
    return Chain("rounding is " + Str(static_cast<int>(p.rounding)) + " but must be 0 or 1");
  }
  return Status::Ok();
}

int64_t Exp2NegQ16ToQ30(int32_t d) {
  // d in [−32·2^16, 0]: 2^(d/2^16) = 2^(−n) · Π_b (2^(−2^(−(b+1))))^bit_b with −d = n·2^16 + f.
  const int64_t neg = -static_cast<int64_t>(std::max(d, -32 * 65536));
  const int n = static_cast<int>(neg >> 16);
  const int64_t f = neg & 0xFFFF;
  int64_t r = kOneQ30;
  for (int b = 0; b < 16; ++b) {
    if ((f >> (15 - b)) & 1) r = (r * kExp2Frac[b] + (int64_t{1} << 29)) >> 30;
  }
  return n >= 62 ? 0 : (r + ((int64_t{1} << n) >> 1)) >> n;  // rounded; n = 0 adds 0
}

int32_t Log2Q30ToQ16(int64_t x) {
  // x >= 2^30: k = floor(log2(x)) − 30, m = x / 2^k in Q30 [1, 2) (truncated), then 16 fraction bits by
  // repeated squaring (each square truncated after rounding to Q30).
  if (x < kOneQ30) return 0;
  int k = 0;
  while ((x >> (k + 1)) >= kOneQ30) ++k;
  int64_t m = x >> k;
  int32_t frac = 0;
  for (int i = 1; i <= 16; ++i) {
    m = (m * m + (int64_t{1} << 29)) >> 30;  // m < 2^31: m·m < 2^62
    if (m >= 2 * kOneQ30) {
      m >>= 1;
      frac |= 1 << (16 - i);
    }
  }
  return (k << 16) + frac;
}

void LogSoftmaxLog2Q16(const int32_t* z, int n, QuantizedMultiplier m, Rounding rounding, int32_t* out) {
  const int32_t zmax = *std::max_element(z, z + n);
  int64_t sum = 0;
  for (int v = 0; v < n; ++v) {
    const int32_t diff = SaturateToInt32(int64_t{z[v]} - zmax);
    out[v] = std::max(MultiplyByQuantizedMultiplier(diff, m, rounding), -32 * 65536);
    sum += Exp2NegQ16ToQ30(out[v]);  // <= n·2^30 < 2^47
  }
  const int32_t lse = Log2Q30ToQ16(sum);
  for (int v = 0; v < n; ++v) out[v] -= lse;
}

Status G2pSearch(const G2pStepFn& step, int32_t phones, QuantizedMultiplier log2_scale, Rounding rounding, int beam,
                 int max_len, std::vector<int32_t>* out) {
  if (beam < 1 || beam > kMaxG2pBeam) {
    return Status::InvalidArgument("G2pSearch: beam is " + Str(beam) + " but must be in [1, " + Str(kMaxG2pBeam) + "]");
  }
  if (phones < 2) return Status::InvalidArgument("G2pSearch: phones is " + Str(phones) + " but must be >= 2");
  out->clear();
  std::vector<int32_t> parents = {0}, prev = {kG2pStart}, logits, logp(static_cast<size_t>(phones));
  if (beam == 1) {
    for (int t = 0; t < max_len; ++t) {
      IRNN_RETURN_IF_ERROR(step(parents, prev, &logits));
      const int32_t best = static_cast<int32_t>(std::max_element(logits.begin(), logits.begin() + phones) - logits.begin());
      if (best == kG2pEnd) break;
      out->push_back(best);
      prev[0] = best;
    }
    return Status::Ok();
  }
  struct Hyp {
    std::vector<int32_t> seq;
    int64_t score;
  };
  struct Cand {
    int64_t score;
    int32_t hyp, phone;
  };
  std::vector<Hyp> alive = {{{}, 0}}, ended;
  std::vector<Cand> cands;
  for (int t = 0; t < max_len && !alive.empty(); ++t) {
    IRNN_RETURN_IF_ERROR(step(parents, prev, &logits));
    cands.clear();
    for (size_t i = 0; i < alive.size(); ++i) {
      LogSoftmaxLog2Q16(logits.data() + i * static_cast<size_t>(phones), phones, log2_scale, rounding, logp.data());
      for (int32_t p = 0; p < phones; ++p) {
        if (p != kG2pStart) cands.push_back({alive[i].score + logp[static_cast<size_t>(p)], static_cast<int32_t>(i), p});
      }
    }
    const size_t keep = std::min(cands.size(), static_cast<size_t>(2 * beam));
    std::partial_sort(cands.begin(), cands.begin() + static_cast<std::ptrdiff_t>(keep), cands.end(),
                      [](const Cand& a, const Cand& b) {
                        if (a.score != b.score) return a.score > b.score;
                        return a.hyp != b.hyp ? a.hyp < b.hyp : a.phone < b.phone;
                      });
    std::vector<Hyp> next;
    parents.clear();
    prev.clear();
    for (size_t k = 0; k < keep && static_cast<int>(next.size()) < beam; ++k) {
      const Cand& c = cands[k];
      if (c.phone == kG2pEnd) {
        if (static_cast<int>(ended.size()) < beam) ended.push_back({alive[static_cast<size_t>(c.hyp)].seq, c.score});
        continue;
      }
      Hyp h = alive[static_cast<size_t>(c.hyp)];
      h.seq.push_back(c.phone);
      h.score = c.score;
      next.push_back(std::move(h));
      parents.push_back(c.hyp);
      prev.push_back(c.phone);
    }
    alive = std::move(next);
    if (static_cast<int>(ended.size()) >= beam) break;
    if (!ended.empty()) {
      int64_t best_ended = ended[0].score;
      for (const auto& e : ended) best_ended = std::max(best_ended, e.score);
      bool any_better = false;
      for (const auto& a : alive) any_better = any_better || a.score > best_ended;
      if (!any_better) break;  // scores only fall
    }
  }
  if (ended.empty()) {
    if (!alive.empty()) *out = alive[0].seq;
    return Status::Ok();
  }
  size_t best = 0;
  for (size_t i = 1; i < ended.size(); ++i) {
    if (ended[i].score > ended[best].score) best = i;
  }
  *out = ended[best].seq;
  return Status::Ok();
}

Status G2pModel::Create(G2pModelParams params, KernelPath path, std::unique_ptr<G2pModel>* out) {
  if (out == nullptr) return Status::InvalidArgument("G2pModel::Create: out is null");
  IRNN_RETURN_IF_ERROR(ValidateG2pModelParams(params));
  std::unique_ptr<G2pModel> m(new G2pModel());
  IRNN_RETURN_IF_ERROR(TfliteLstm::Create(params.enc_fw, path, &m->enc_fw_));
  IRNN_RETURN_IF_ERROR(TfliteLstm::Create(params.enc_bw, path, &m->enc_bw_));
  IRNN_RETURN_IF_ERROR(TfliteLstm::Create(params.dec, path, &m->dec_));
  IRNN_RETURN_IF_ERROR(Attention::Create(params.attention, path, &m->attention_));
  IRNN_RETURN_IF_ERROR(Linear::Create(params.out_h, path, &m->out_h_));
  IRNN_RETURN_IF_ERROR(Linear::Create(params.out_c, path, &m->out_c_));
  m->path_ = m->dec_->path();
  m->params_ = std::move(params);
  *out = std::move(m);
  return Status::Ok();
}

Status G2pModel::Encode(const int32_t* chars, int n, int hyps, G2pState* s) const {
  if (s == nullptr || chars == nullptr) return Status::InvalidArgument("G2pModel::Encode: chars and state must not be null");
  if (n < 1 || n > kMaxG2pWord) {
    return Status::InvalidArgument("G2pModel::Encode: the word has " + Str(n) + " characters but must have 1 to " +
                                   Str(kMaxG2pWord));
  }
  if (hyps < 1 || hyps > kMaxG2pBeam) {
    return Status::InvalidArgument("G2pModel::Encode: hyps is " + Str(hyps) + " but must be in [1, " +
                                   Str(kMaxG2pBeam) + "]");
  }
  const int32_t e = params_.char_embedding.dim, h = params_.enc_fw.config.n_output, k = 2 * h;
  s->x_.resize(static_cast<size_t>(n) * e);
  IRNN_RETURN_IF_ERROR(EmbeddingLookup(params_.char_embedding, chars, n, s->x_.data()));  // checks every id
  s->capacity_ = hyps;
  s->hyps_ = hyps;
  s->length_ = n;
  IRNN_RETURN_IF_ERROR(enc_fw_->NewState(1, &s->enc_fw_));
  IRNN_RETURN_IF_ERROR(enc_bw_->NewState(1, &s->enc_bw_));
  s->fw_.resize(static_cast<size_t>(n) * h);
  s->bw_.resize(static_cast<size_t>(n) * h);
  IRNN_RETURN_IF_ERROR(enc_fw_->Run(s->x_.data(), n, &s->enc_fw_, s->fw_.data()));
  // The backward direction reads the word from its end: reverse the input, run, reverse the output.
  std::vector<int8_t>& rev = s->dec_in_;
  rev.resize(s->x_.size());
  for (int t = 0; t < n; ++t) std::memcpy(&rev[static_cast<size_t>(t) * e], &s->x_[static_cast<size_t>(n - 1 - t) * e], static_cast<size_t>(e));
  std::vector<int8_t>& bw_rev = s->dec_out_;
  bw_rev.resize(s->bw_.size());
  IRNN_RETURN_IF_ERROR(enc_bw_->Run(rev.data(), n, &s->enc_bw_, bw_rev.data()));
  for (int t = 0; t < n; ++t) std::memcpy(&s->bw_[static_cast<size_t>(t) * h], &bw_rev[static_cast<size_t>(n - 1 - t) * h], static_cast<size_t>(h));
  // keys [n][hyps][2H]: [fw_t; bw_t], the same for every hypothesis.
  s->keys_.resize(static_cast<size_t>(n) * hyps * k);
  for (int t = 0; t < n; ++t) {
    for (int b = 0; b < hyps; ++b) {
      int8_t* dst = &s->keys_[(static_cast<size_t>(t) * hyps + b) * k];
      std::memcpy(dst, &s->fw_[static_cast<size_t>(t) * h], static_cast<size_t>(h));
      std::memcpy(dst + h, &s->bw_[static_cast<size_t>(t) * h], static_cast<size_t>(h));
    }
  }
  IRNN_RETURN_IF_ERROR(attention_->NewState(hyps, n, &s->attention_));
  IRNN_RETURN_IF_ERROR(attention_->SetKeys(s->keys_.data(), n, nullptr, &s->attention_));
  IRNN_RETURN_IF_ERROR(dec_->NewState(hyps, &s->dec_));
  s->ctx_.assign(static_cast<size_t>(hyps) * k, static_cast<int8_t>(params_.attention.key_zp));  // zero context
  s->dec_in_.resize(static_cast<size_t>(hyps) * params_.dec.config.n_input);
  s->dec_out_.resize(static_cast<size_t>(hyps) * params_.dec.config.n_output);
  s->logits_c_.resize(static_cast<size_t>(hyps) * phones());
  return Status::Ok();
}

Status G2pModel::Reorder(const std::vector<int32_t>& parents, G2pState* s) const {
  if (s == nullptr || s->capacity_ == 0) return Status::InvalidArgument("G2pModel::Reorder: the state was not encoded");
  if (parents.empty() || static_cast<int>(parents.size()) > s->capacity_) {
    return Status::InvalidArgument("G2pModel::Reorder: " + Str(static_cast<int64_t>(parents.size())) +
                                   " parents but must be 1 to " + Str(s->capacity_));
  }
  for (size_t i = 0; i < parents.size(); ++i) {
    if (parents[i] < 0 || parents[i] >= s->hyps_) {
      return Status::InvalidArgument("G2pModel::Reorder: parents[" + Str(static_cast<int64_t>(i)) + "] is " +
                                     Str(parents[i]) + " but must be in [0, " + Str(s->hyps_) + ")");
    }
  }
  const size_t hd = static_cast<size_t>(params_.dec.config.n_output), cd = static_cast<size_t>(params_.dec.config.n_cell);
  const size_t kd = static_cast<size_t>(params_.attention.config.n_key);
  s->h_tmp_ = s->dec_.h();
  s->c_tmp_ = s->dec_.c();
  s->ctx_tmp_ = s->ctx_;
  for (size_t i = 0; i < parents.size(); ++i) {
    const size_t p = static_cast<size_t>(parents[i]);
    std::memcpy(&s->dec_.h()[i * hd], &s->h_tmp_[p * hd], hd);
    std::memcpy(&s->dec_.c()[i * cd], &s->c_tmp_[p * cd], cd * sizeof(int16_t));
    std::memcpy(&s->ctx_[i * kd], &s->ctx_tmp_[p * kd], kd);
  }
  s->hyps_ = static_cast<int>(parents.size());
  return Status::Ok();
}

Status G2pModel::DecodeStep(const int32_t* prev, G2pState* s, int32_t* logits) const {
  if (s == nullptr || s->capacity_ == 0) return Status::InvalidArgument("G2pModel::DecodeStep: the state was not encoded");
  if (prev == nullptr || logits == nullptr) return Status::InvalidArgument("G2pModel::DecodeStep: null argument");
  const int cap = s->capacity_, hyps = s->hyps_;
  for (int i = 0; i < hyps; ++i) {
    if (prev[i] < 0 || prev[i] >= phones()) {
      return Status::InvalidArgument("G2pModel::DecodeStep: prev[" + Str(i) + "] is " + Str(prev[i]) +
                                     " but must be in [0, " + Str(phones()) + ")");
    }
  }
  // Every row of the state is computed (rows >= hyps read the end symbol and are never used): the rows
  // are independent, so the live ones do not depend on them.
  const int32_t ep = params_.phone_embedding.dim, k = params_.attention.config.n_key, din = params_.dec.config.n_input;
  std::vector<int32_t>& tokens = s->tokens_;
  tokens.assign(static_cast<size_t>(cap), kG2pEnd);
  std::copy(prev, prev + hyps, tokens.begin());
  s->x_.resize(static_cast<size_t>(cap) * ep);
  IRNN_RETURN_IF_ERROR(EmbeddingLookup(params_.phone_embedding, tokens.data(), cap, s->x_.data()));
  for (int b = 0; b < cap; ++b) {  // input feeding: [E_p(prev); ctx], both on the encoder's output grid
    std::memcpy(&s->dec_in_[static_cast<size_t>(b) * din], &s->x_[static_cast<size_t>(b) * ep], static_cast<size_t>(ep));
    std::memcpy(&s->dec_in_[static_cast<size_t>(b) * din + ep], &s->ctx_[static_cast<size_t>(b) * k], static_cast<size_t>(k));
  }
  IRNN_RETURN_IF_ERROR(dec_->Step(s->dec_in_.data(), &s->dec_, s->dec_out_.data()));
  IRNN_RETURN_IF_ERROR(attention_->Attend(s->dec_out_.data(), &s->attention_, s->ctx_.data()));
  const int32_t v = phones();
  std::vector<int32_t>& lh = s->logits_h_;
  lh.resize(static_cast<size_t>(cap) * v);
  IRNN_RETURN_IF_ERROR(out_h_->Run(s->dec_out_.data(), cap, lh.data()));
  IRNN_RETURN_IF_ERROR(out_c_->Run(s->ctx_.data(), cap, s->logits_c_.data()));
  for (size_t i = 0; i < static_cast<size_t>(hyps) * v; ++i) logits[i] = SaturateToInt32(int64_t{lh[i]} + s->logits_c_[i]);
  return Status::Ok();
}

Status G2pModel::Transcribe(const int32_t* chars, int n, int beam, std::vector<int32_t>* out) const {
  if (out == nullptr) return Status::InvalidArgument("G2pModel::Transcribe: out is null");
  if (beam < 1 || beam > kMaxG2pBeam) {
    return Status::InvalidArgument("G2pModel::Transcribe: beam is " + Str(beam) + " but must be in [1, " +
                                   Str(kMaxG2pBeam) + "]");
  }
  G2pState s;
  IRNN_RETURN_IF_ERROR(Encode(chars, n, beam, &s));
  auto step = [&](const std::vector<int32_t>& parents, const std::vector<int32_t>& prev, std::vector<int32_t>* logits) {
    IRNN_RETURN_IF_ERROR(Reorder(parents, &s));
    logits->resize(prev.size() * static_cast<size_t>(phones()));
    return DecodeStep(prev.data(), &s, logits->data());
  };
  return G2pSearch(step, phones(), params_.log2_scale, params_.rounding, beam, 2 * n + 8, out);
}

}  // namespace irnn
