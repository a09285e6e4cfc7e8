// The integer language model (irnn/lm.h): validation of the chain embedding -> LSTMs -> decoder, the
// state, the step, which copies embedding rows, runs each TfliteLstm and the Linear decoder on one
// kernel path, and the run of several steps, which does the same a chunk of steps at a time, layer by
// layer. The parts shared with the GRU language model are in lm_chain.h. Integer only (part of the
// no-float check); no allocation after NewState (beyond the layers' own first-call workspaces).

#include <string>

#include "irnn/lm.h"
#include "layers/embedding.h"
#include "layers/lm_chain.h"

namespace irnn {
namespace {

constexpr internal::LmNames kNames = {"LanguageModelParams", "lstm", "n_output", "a language model"};

int32_t OutputWidth(const TfliteLstmParams& p) { return p.config.n_output; }

}  // namespace

Status ValidateLanguageModelParams(const LanguageModelParams& p) {
  return internal::ValidateLmChain(kNames, p.embedding, p.lstm, kMaxLmLstmLayers, p.decoder, ValidateTfliteLstmParams,
                                   OutputWidth);
}

Status LanguageModel::Create(LanguageModelParams params, KernelPath path, std::unique_ptr<LanguageModel>* out) {
  if (out == nullptr) return Status::InvalidArgument("LanguageModel::Create: out is null");
  IRNN_RETURN_IF_ERROR(ValidateLanguageModelParams(params));
  KernelPath resolved = KernelPath::kScalar;
  IRNN_RETURN_IF_ERROR(ResolveKernelPath(path, &resolved));
  std::unique_ptr<LanguageModel> lm(new LanguageModel());
  lm->path_ = resolved;
  lm->max_width_ = params.embedding.dim;
  IRNN_RETURN_IF_ERROR(internal::CreateLmLayers(kNames, &params.lstm, resolved, OutputWidth, &lm->lstm_, &lm->max_width_));
  IRNN_RETURN_IF_ERROR(
      internal::Prefixed(Linear::Create(std::move(params.decoder), resolved, &lm->decoder_), "decoder: "));
  lm->embedding_ = std::move(params.embedding);
  *out = std::move(lm);
  return Status::Ok();
}

Status LanguageModel::NewState(int batch, LanguageModelState* state) const {
  if (state == nullptr) return Status::InvalidArgument("LanguageModel::NewState: state is null");
  LanguageModelState s;
  IRNN_RETURN_IF_ERROR(
      internal::NewLmState("LanguageModel::NewState", kNames, batch, max_width_, lstm_, &s.lstm_, &s.a_, &s.b_));
  s.batch_ = batch;
  *state = std::move(s);
  return Status::Ok();
}

Status LanguageModel::ResetState(LanguageModelState* state) const {
  if (state == nullptr) return Status::InvalidArgument("LanguageModel::ResetState: state is null");
  IRNN_RETURN_IF_ERROR(CheckState("LanguageModel::ResetState", state));
  for (size_t i = 0; i < lstm_.size(); ++i) IRNN_RETURN_IF_ERROR(lstm_[i]->ResetState(&state->lstm_[i]));
  return Status::Ok();
}

Status LanguageModel::CheckState(const char* who, const LanguageModelState* state) const {
  return internal::CheckLmState(who, kNames, state->batch_, max_width_, lstm_, state->lstm_, state->a_, state->b_);
}

Status LanguageModel::Step(const int32_t* tokens, LanguageModelState* state, int32_t* logits) const {
  return RunSteps("LanguageModel::Step", tokens, 1, state, logits);
}

Status LanguageModel::Run(const int32_t* tokens, int steps, LanguageModelState* state, int32_t* logits) const {
  return RunSteps("LanguageModel::Run", tokens, steps, state, logits);
}

Status LanguageModel::RunSteps(const char* who, const int32_t* tokens, int steps, LanguageModelState* state,
                               int32_t* logits) const {
  bool nothing = false;
  IRNN_RETURN_IF_ERROR(internal::CheckLmRunArgs(who, tokens, steps, state, logits, &nothing));
  if (nothing) return Status::Ok();
  IRNN_RETURN_IF_ERROR(CheckState(who, state));
  const int batch = state->batch_;
  // Every token before any step, so that a bad one leaves the state as it was.
  IRNN_RETURN_IF_ERROR(internal::CheckTokenIds(who, tokens, int64_t{steps} * batch, embedding_.vocab, batch));
  if (steps == 1) return StepChecked(tokens, state, logits);
  // Chunks of steps layer by layer: each LSTM's Run over the chunk, then the decoder over all its rows
  // (steps x streams) as one matrix product (lm_chain.h). The same logits as step by step.
  const size_t vocab = static_cast<size_t>(embedding_.vocab);
  return internal::LmRunChecked(embedding_, lstm_, tokens, steps, batch, &state->lstm_, state->a_.data(),
                                state->b_.data(), [&](const int8_t* x, int rows, int t0) {
                                  decoder_->RunUnchecked(x, rows, logits + static_cast<size_t>(t0) * batch * vocab);
                                  return Status::Ok();
                                });
}

// Embedding rows -> each LSTM -> decoder (lm_chain.h), the decoder without its checks.
Status LanguageModel::StepChecked(const int32_t* tokens, LanguageModelState* state, int32_t* logits) const {
  const int batch = state->batch_;
  return internal::LmStepChecked(embedding_, lstm_, tokens, batch, &state->lstm_, state->a_.data(), state->b_.data(),
                                 [&](const int8_t* x) {
                                   decoder_->RunUnchecked(x, batch, logits);
                                   return Status::Ok();
                                 });
}

}  // namespace irnn
