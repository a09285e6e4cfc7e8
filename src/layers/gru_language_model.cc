// The integer GRU language model (irnn/gru_lm.h): validation of the chain embedding -> GRUs -> decoder,
// the state, the step and the run of several steps, a chunk of steps at a time, layer by layer
// (numerics.md §7.2, §8, §7.3); the parts shared with the LSTM language model (language_model.cc) are in
// lm_chain.h. Integer only (part of the no-float check); no allocation after NewState (beyond the
// layers' own first-call workspaces). Not the LSTM language model.

#include <string>

#include "irnn/gru_lm.h"
#include "layers/embedding.h"
#include "layers/lm_chain.h"

namespace irnn {
namespace {

constexpr internal::LmNames kNames = {"GruLanguageModelParams", "gru", "n_hidden", "a GRU language model"};

int32_t OutputWidth(const GruParams& p) { return p.config.n_hidden; }

}  // namespace

Status ValidateGruLanguageModelParams(const GruLanguageModelParams& p) {
  return internal::ValidateLmChain(kNames, p.embedding, p.gru, kMaxLmGruLayers, p.decoder, ValidateGruParams,
                                   OutputWidth);
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
  IRNN_RETURN_IF_ERROR(internal::CreateLmLayers(kNames, &params.gru, resolved, OutputWidth, &lm->gru_, &lm->max_width_));
  IRNN_RETURN_IF_ERROR(
      internal::Prefixed(Linear::Create(std::move(params.decoder), resolved, &lm->decoder_), "decoder: "));
  lm->embedding_ = std::move(params.embedding);
  *out = std::move(lm);
  return Status::Ok();
}

Status GruLanguageModel::NewState(int batch, GruLanguageModelState* state) const {
  if (state == nullptr) return Status::InvalidArgument("GruLanguageModel::NewState: state is null");
  GruLanguageModelState s;
  IRNN_RETURN_IF_ERROR(
      internal::NewLmState("GruLanguageModel::NewState", kNames, batch, max_width_, gru_, &s.gru_, &s.a_, &s.b_));
  s.batch_ = batch;
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
  return internal::CheckLmState(who, kNames, state->batch_, max_width_, gru_, state->gru_, state->a_, state->b_);
}

Status GruLanguageModel::Step(const int32_t* tokens, GruLanguageModelState* state, int32_t* logits) const {
  return Run(tokens, 1, state, logits);
}

Status GruLanguageModel::Run(const int32_t* tokens, int steps, GruLanguageModelState* state,
                             int32_t* logits) const {
  const char* who = steps == 1 ? "GruLanguageModel::Step" : "GruLanguageModel::Run";
  bool nothing = false;
  IRNN_RETURN_IF_ERROR(internal::CheckLmRunArgs(who, tokens, steps, state, logits, &nothing));
  if (nothing) return Status::Ok();
  IRNN_RETURN_IF_ERROR(CheckState(who, state));
  const int batch = state->batch_;
  IRNN_RETURN_IF_ERROR(internal::CheckTokenIds(who, tokens, int64_t{steps} * batch, embedding_.vocab, batch));
  if (steps == 1) {
    return internal::LmStepChecked(embedding_, gru_, tokens, batch, &state->gru_, state->a_.data(), state->b_.data(),
                                   [&](const int8_t* x) { return decoder_->Run(x, batch, logits); });
  }
  // Chunks of steps layer by layer, the decoder over all of a chunk's rows at once (lm_chain.h): the
  // same logits as step by step.
  const size_t vocab = static_cast<size_t>(embedding_.vocab);
  return internal::LmRunChecked(embedding_, gru_, tokens, steps, batch, &state->gru_, state->a_.data(),
                                state->b_.data(), [&](const int8_t* x, int rows, int t0) {
                                  return decoder_->Run(x, rows, logits + static_cast<size_t>(t0) * batch * vocab);
                                });
}

}  // namespace irnn
