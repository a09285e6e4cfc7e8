// The integer language model (irnn/lm.h): validation of the chain embedding -> LSTMs -> decoder, the
// state, and the step, which copies embedding rows, runs each TfliteLstm and the Linear decoder on one
// kernel path. Integer only (part of the no-float check); no allocation after NewState.

#include <algorithm>
#include <string>

#include "irnn/lm.h"
#include "layers/embedding.h"

namespace irnn {
namespace {

constexpr int kMaxBatch = 1 << 16;

Status Prefixed(const Status& s, const std::string& prefix) {
  return s.ok() ? s : Status(s.code(), prefix + s.message());
}

}  // namespace

Status ValidateLanguageModelParams(const LanguageModelParams& p) {
  IRNN_RETURN_IF_ERROR(Prefixed(ValidateEmbeddingParams(p.embedding), "embedding: "));
  if (p.lstm.empty() || p.lstm.size() > static_cast<size_t>(kMaxLmLstmLayers)) {
    return Status::InvalidArgument("LanguageModelParams: lstm has " + std::to_string(p.lstm.size()) +
                                   " layers but must have 1 to " + std::to_string(kMaxLmLstmLayers));
  }
  for (size_t i = 0; i < p.lstm.size(); ++i) {
    IRNN_RETURN_IF_ERROR(Prefixed(ValidateTfliteLstmParams(p.lstm[i]), "lstm[" + std::to_string(i) + "]: "));
  }
  IRNN_RETURN_IF_ERROR(Prefixed(ValidateLinearParams(p.decoder), "decoder: "));
  // The chain: each layer's output width is the next one's input width.
  auto mismatch = [](const std::string& field, int32_t got, const std::string& other, int32_t want) {
    return Status::InvalidArgument("LanguageModelParams: " + field + " is " + std::to_string(got) +
                                   " but must equal " + other + " = " + std::to_string(want));
  };
  if (p.lstm[0].config.n_input != p.embedding.dim) {
    return mismatch("lstm[0].config.n_input", p.lstm[0].config.n_input, "embedding.dim", p.embedding.dim);
  }
  for (size_t i = 1; i < p.lstm.size(); ++i) {
    if (p.lstm[i].config.n_input != p.lstm[i - 1].config.n_output) {
      return mismatch("lstm[" + std::to_string(i) + "].config.n_input", p.lstm[i].config.n_input,
                      "lstm[" + std::to_string(i - 1) + "].config.n_output", p.lstm[i - 1].config.n_output);
    }
  }
  const size_t last = p.lstm.size() - 1;
  if (p.decoder.n_in != p.lstm[last].config.n_output) {
    return mismatch("decoder.n_in", p.decoder.n_in, "lstm[" + std::to_string(last) + "].config.n_output",
                    p.lstm[last].config.n_output);
  }
  if (p.decoder.n_out != p.embedding.vocab) {
    return mismatch("decoder.n_out", p.decoder.n_out, "embedding.vocab", p.embedding.vocab);
  }
  return Status::Ok();
}

Status LanguageModel::Create(LanguageModelParams params, KernelPath path, std::unique_ptr<LanguageModel>* out) {
  if (out == nullptr) return Status::InvalidArgument("LanguageModel::Create: out is null");
  IRNN_RETURN_IF_ERROR(ValidateLanguageModelParams(params));
  KernelPath resolved = KernelPath::kScalar;
  IRNN_RETURN_IF_ERROR(ResolveKernelPath(path, &resolved));
  std::unique_ptr<LanguageModel> lm(new LanguageModel());
  lm->path_ = resolved;
  lm->max_width_ = params.embedding.dim;
  for (size_t i = 0; i < params.lstm.size(); ++i) {
    lm->max_width_ = std::max(lm->max_width_, params.lstm[i].config.n_output);
    std::unique_ptr<TfliteLstm> layer;
    IRNN_RETURN_IF_ERROR(Prefixed(TfliteLstm::Create(std::move(params.lstm[i]), resolved, &layer),
                                  "lstm[" + std::to_string(i) + "]: "));
    lm->lstm_.push_back(std::move(layer));
  }
  IRNN_RETURN_IF_ERROR(Prefixed(Linear::Create(std::move(params.decoder), resolved, &lm->decoder_), "decoder: "));
  lm->embedding_ = std::move(params.embedding);
  *out = std::move(lm);
  return Status::Ok();
}

Status LanguageModel::NewState(int batch, LanguageModelState* state) const {
  if (state == nullptr) return Status::InvalidArgument("LanguageModel::NewState: state is null");
  if (batch < 1 || batch > kMaxBatch) {
    return Status::InvalidArgument("LanguageModel::NewState: batch is " + std::to_string(batch) +
                                   " but must be in [1, " + std::to_string(kMaxBatch) + "]");
  }
  const int64_t scratch = int64_t{batch} * max_width_;
  if (scratch > (int64_t{1} << 29)) {
    return Status::OutOfRange("LanguageModel::NewState: batch " + std::to_string(batch) + " x width " +
                              std::to_string(max_width_) + " needs " + std::to_string(2 * scratch) +
                              " bytes of scratch but must need at most 1 GiB");
  }
  LanguageModelState s;
  s.lstm_.resize(lstm_.size());
  for (size_t i = 0; i < lstm_.size(); ++i) {
    IRNN_RETURN_IF_ERROR(Prefixed(lstm_[i]->NewState(batch, &s.lstm_[i]), "lstm[" + std::to_string(i) + "]: "));
  }
  s.batch_ = batch;
  s.a_.assign(static_cast<size_t>(scratch), 0);
  s.b_.assign(static_cast<size_t>(scratch), 0);
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
  const size_t scratch = static_cast<size_t>(state->batch_) * max_width_;
  bool ok = state->batch_ >= 1 && state->lstm_.size() == lstm_.size() && state->a_.size() == scratch &&
            state->b_.size() == scratch;
  for (size_t i = 0; ok && i < lstm_.size(); ++i) {
    ok = state->lstm_[i].batch() == state->batch_ && lstm_[i]->CheckState(state->lstm_[i]).ok();
  }
  if (!ok) {
    return Status::InvalidArgument(std::string(who) +
                                   ": state was not made by NewState of a language model of this shape");
  }
  return Status::Ok();
}

Status LanguageModel::Step(const int32_t* tokens, LanguageModelState* state, int32_t* logits) const {
  return RunSteps("LanguageModel::Step", tokens, 1, state, logits);
}

Status LanguageModel::Run(const int32_t* tokens, int steps, LanguageModelState* state, int32_t* logits) const {
  return RunSteps("LanguageModel::Run", tokens, steps, state, logits);
}

Status LanguageModel::RunSteps(const char* who, const int32_t* tokens, int steps, LanguageModelState* state,
                               int32_t* logits) const {
  if (steps < 0) {
    return Status::InvalidArgument(std::string(who) + ": steps is " + std::to_string(steps) + " but must be >= 0");
  }
  if (state == nullptr) return Status::InvalidArgument(std::string(who) + ": state is null");
  if (steps == 0) return Status::Ok();
  if (tokens == nullptr) return Status::InvalidArgument(std::string(who) + ": tokens is null");
  if (logits == nullptr) return Status::InvalidArgument(std::string(who) + ": logits is null");
  IRNN_RETURN_IF_ERROR(CheckState(who, state));
  const int batch = state->batch_;
  // Every token before any step, so that a bad one leaves the state as it was.
  IRNN_RETURN_IF_ERROR(internal::CheckTokenIds(who, tokens, int64_t{steps} * batch, embedding_.vocab, batch));
  const size_t logits_per_step = static_cast<size_t>(batch) * embedding_.vocab;
  for (int t = 0; t < steps; ++t) {
    IRNN_RETURN_IF_ERROR(StepChecked(tokens + static_cast<size_t>(t) * batch, state,
                                     logits + static_cast<size_t>(t) * logits_per_step));
  }
  return Status::Ok();
}

// Embedding rows -> each LSTM -> decoder, ping-ponging between the state's two scratch buffers. The
// TfliteLstm steps re-check their (already checked) states, which is cheap and cannot fail here.
Status LanguageModel::StepChecked(const int32_t* tokens, LanguageModelState* state, int32_t* logits) const {
  const int batch = state->batch_;
  int8_t* in = state->a_.data();
  int8_t* out = state->b_.data();
  internal::EmbeddingLookupUnchecked(embedding_, tokens, batch, in);
  for (size_t i = 0; i < lstm_.size(); ++i) {
    IRNN_RETURN_IF_ERROR(lstm_[i]->Step(in, &state->lstm_[i], out));
    std::swap(in, out);
  }
  decoder_->RunUnchecked(in, batch, logits);
  return Status::Ok();
}

}  // namespace irnn
