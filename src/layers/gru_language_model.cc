// The integer GRU language model (irnn/gru_lm.h): validation of the chain embedding -> GRUs -> decoder,
// the state and the step (numerics.md §7.2, §8, §7.3). Integer only (part of the no-float check); no
// allocation after NewState. Not the LSTM language model (language_model.cc).

#include <algorithm>
#include <string>

#include "irnn/gru_lm.h"
#include "layers/embedding.h"

namespace irnn {
namespace {

constexpr int kMaxBatch = 1 << 16;

Status Prefixed(const Status& s, const std::string& prefix) {
  return s.ok() ? s : Status(s.code(), prefix + s.message());
}

}  // namespace

Status ValidateGruLanguageModelParams(const GruLanguageModelParams& p) {
  IRNN_RETURN_IF_ERROR(Prefixed(ValidateEmbeddingParams(p.embedding), "embedding: "));
  if (p.gru.empty() || p.gru.size() > static_cast<size_t>(kMaxLmGruLayers)) {
    return Status::InvalidArgument("GruLanguageModelParams: gru has " + std::to_string(p.gru.size()) +
                                   " layers but must have 1 to " + std::to_string(kMaxLmGruLayers));
  }
  for (size_t i = 0; i < p.gru.size(); ++i) {
    IRNN_RETURN_IF_ERROR(Prefixed(ValidateGruParams(p.gru[i]), "gru[" + std::to_string(i) + "]: "));
  }
  IRNN_RETURN_IF_ERROR(Prefixed(ValidateLinearParams(p.decoder), "decoder: "));
  auto mismatch = [](const std::string& field, int32_t got, const std::string& other, int32_t want) {
    return Status::InvalidArgument("GruLanguageModelParams: " + field + " is " + std::to_string(got) +
                                   " but must equal " + other + " = " + std::to_string(want));
  };
  if (p.gru[0].config.n_input != p.embedding.dim) {
    return mismatch("gru[0].config.n_input", p.gru[0].config.n_input, "embedding.dim", p.embedding.dim);
  }
  for (size_t i = 1; i < p.gru.size(); ++i) {
    if (p.gru[i].config.n_input != p.gru[i - 1].config.n_hidden) {
      return mismatch("gru[" + std::to_string(i) + "].config.n_input", p.gru[i].config.n_input,
                      "gru[" + std::to_string(i - 1) + "].config.n_hidden", p.gru[i - 1].config.n_hidden);
    }
  }
  const size_t last = p.gru.size() - 1;
  if (p.decoder.n_in != p.gru[last].config.n_hidden) {
    return mismatch("decoder.n_in", p.decoder.n_in, "gru[" + std::to_string(last) + "].config.n_hidden",
                    p.gru[last].config.n_hidden);
  }
  if (p.decoder.n_out != p.embedding.vocab) {
    return mismatch("decoder.n_out", p.decoder.n_out, "embedding.vocab", p.embedding.vocab);
  }
  return Status::Ok();
}

Status GruLanguageModel::Create(GruLanguageModelParams params, KernelPath path,
                                std::unique_ptr<GruLanguageModel>* out) {
  if (out == nullptr) return Status::InvalidArgument("GruLanguageModel::Create: out is null");
  IRNN_RETURN_IF_ERROR(ValidateGruLanguageModelParams(params));
  KernelPath resolved = KernelPath::kScalar;
  IRNN_RETURN_IF_ERROR(ResolveKernelPath(path, &resolved));
  std::unique_ptr<GruLanguageModel> lm(new GruLanguageModel());
  lm->path_ = resolved;
  lm->max_width_ = params.embedding.dim;
  for (size_t i = 0; i < params.gru.size(); ++i) {
    lm->max_width_ = std::max(lm->max_width_, params.gru[i].config.n_hidden);
    std::unique_ptr<Gru> layer;
    IRNN_RETURN_IF_ERROR(
        Prefixed(Gru::Create(std::move(params.gru[i]), resolved, &layer), "gru[" + std::to_string(i) + "]: "));
    lm->gru_.push_back(std::move(layer));
  }
  IRNN_RETURN_IF_ERROR(Prefixed(Linear::Create(std::move(params.decoder), resolved, &lm->decoder_), "decoder: "));
  lm->embedding_ = std::move(params.embedding);
  *out = std::move(lm);
  return Status::Ok();
}

Status GruLanguageModel::NewState(int batch, GruLanguageModelState* state) const {
  if (state == nullptr) return Status::InvalidArgument("GruLanguageModel::NewState: state is null");
  if (batch < 1 || batch > kMaxBatch) {
    return Status::InvalidArgument("GruLanguageModel::NewState: batch is " + std::to_string(batch) +
                                   " but must be in [1, " + std::to_string(kMaxBatch) + "]");
  }
  const int64_t scratch = int64_t{batch} * max_width_;
  if (scratch > (int64_t{1} << 29)) {
    return Status::OutOfRange("GruLanguageModel::NewState: batch " + std::to_string(batch) + " x width " +
                              std::to_string(max_width_) + " needs " + std::to_string(2 * scratch) +
                              " bytes of scratch but must need at most 1 GiB");
  }
  GruLanguageModelState s;
  s.gru_.resize(gru_.size());
  for (size_t i = 0; i < gru_.size(); ++i) {
    IRNN_RETURN_IF_ERROR(Prefixed(gru_[i]->NewState(batch, &s.gru_[i]), "gru[" + std::to_string(i) + "]: "));
  }
  s.batch_ = batch;
  s.a_.assign(static_cast<size_t>(scratch), 0);
  s.b_.assign(static_cast<size_t>(scratch), 0);
  *state = std::move(s);
  return Status::Ok();
}

Status GruLanguageModel::ResetState(GruLanguageModelState* state) const {
  if (state == nullptr) return Status::InvalidArgument("GruLanguageModel::ResetState: state is null");
  IRNN_RETURN_IF_ERROR(CheckState("GruLanguageModel::ResetState", state));
  for (size_t i = 0; i < gru_.size(); ++i) IRNN_RETURN_IF_ERROR(gru_[i]->ResetState(&state->gru_[i]));
  return Status::Ok();
}

Status GruLanguageModel::CheckState(const char* who, const GruLanguageModelState* state) const {
  const size_t scratch = static_cast<size_t>(state->batch_) * max_width_;
  bool ok = state->batch_ >= 1 && state->gru_.size() == gru_.size() && state->a_.size() == scratch &&
            state->b_.size() == scratch;
  for (size_t i = 0; ok && i < gru_.size(); ++i) {
    ok = state->gru_[i].batch() == state->batch_ && gru_[i]->CheckState(state->gru_[i]).ok();
  }
  if (!ok) {
    return Status::InvalidArgument(std::string(who) +
                                   ": state was not made by NewState of a GRU language model of this shape");
  }
  return Status::Ok();
}

Status GruLanguageModel::Step(const int32_t* tokens, GruLanguageModelState* state, int32_t* logits) const {
  return Run(tokens, 1, state, logits);
}

Status GruLanguageModel::Run(const int32_t* tokens, int steps, GruLanguageModelState* state,
                             int32_t* logits) const {
  const char* who = steps == 1 ? "GruLanguageModel::Step" : "GruLanguageModel::Run";
  if (steps < 0) {
    return Status::InvalidArgument(std::string(who) + ": steps is " + std::to_string(steps) + " but must be >= 0");
  }
  if (state == nullptr) return Status::InvalidArgument(std::string(who) + ": state is null");
  if (steps == 0) return Status::Ok();
  if (tokens == nullptr) return Status::InvalidArgument(std::string(who) + ": tokens is null");
  if (logits == nullptr) return Status::InvalidArgument(std::string(who) + ": logits is null");
  IRNN_RETURN_IF_ERROR(CheckState(who, state));
  const int batch = state->batch_;
  IRNN_RETURN_IF_ERROR(internal::CheckTokenIds(who, tokens, int64_t{steps} * batch, embedding_.vocab, batch));
  const size_t logits_per_step = static_cast<size_t>(batch) * embedding_.vocab;
  for (int t = 0; t < steps; ++t) {
    int8_t* in = state->a_.data();
    int8_t* out = state->b_.data();
    internal::EmbeddingLookupUnchecked(embedding_, tokens + static_cast<size_t>(t) * batch, batch, in);
    for (size_t i = 0; i < gru_.size(); ++i) {
      IRNN_RETURN_IF_ERROR(gru_[i]->Step(in, &state->gru_[i], out));
      std::swap(in, out);
    }
    IRNN_RETURN_IF_ERROR(decoder_->Run(in, batch, logits + static_cast<size_t>(t) * logits_per_step));
  }
  return Status::Ok();
}

}  // namespace irnn
