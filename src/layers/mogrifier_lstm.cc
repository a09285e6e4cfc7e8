// The integer Mogrifier LSTM (include/irnn/mogrifier_lstm.h, numerics.md §10.3): validation, state, the
// mogrifier rounds and the step. Integer only (scanned by tests/no_float_test.sh): the rounds run on
// the LSTM kernel table's packed per-channel matmul and saturation, the PWL kernels and the elementwise
// MogrifyS8 kernel; the cell is a TfliteLstm. The float derivation is in mogrifier_derive.cc.

#include "irnn/mogrifier_lstm.h"

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "kernels/elementwise_kernels.h"
#include "kernels/lstm_kernels.h"
#include "kernels/pwl_kernels.h"

namespace irnn {

// The rounds' weight matrices laid out once, at Create, for the path's packed matmul (as TfliteLstm's).
struct MogrifierPacked {
  std::vector<PackedS8> rounds;
};

namespace {

constexpr int kMaxBatch = 1 << 16;

std::string RoundField(size_t i, const char* field) {
  return "MogrifierLstmParams: rounds[" + std::to_string(i) + "]." + field;
}

}  // namespace

Status ValidateMogrifierLstmParams(const MogrifierLstmParams& p) {
  Status s = ValidateTfliteLstmParams(p.lstm);
  if (!s.ok()) return Status(s.code(), "MogrifierLstmParams: lstm: " + s.message());
  if (p.input_zp < -128 || p.input_zp > 127) {
    return Status::InvalidArgument("MogrifierLstmParams: input_zp is " + std::to_string(p.input_zp) +
                                   " but must be in [-128, 127]");
  }
  if (p.rounds.empty() || p.rounds.size() > static_cast<size_t>(kMaxMogrifierRounds)) {
    return Status::InvalidArgument("MogrifierLstmParams: rounds has " + std::to_string(p.rounds.size()) +
                                   " elements but must have 1 to " + std::to_string(kMaxMogrifierRounds));
  }
  const int64_t n_in = p.lstm.config.n_input, n_out = p.lstm.config.n_output;
  for (size_t i = 0; i < p.rounds.size(); ++i) {
    const MogrifierRound& r = p.rounds[i];
    const bool odd = i % 2 == 0;  // round i + 1
    const int64_t rows = odd ? n_in : n_out, cols = odd ? n_out : n_in;
    const char* rule = odd ? "n_input x n_output" : "n_output x n_input";
    if (static_cast<int64_t>(r.weight.size()) != rows * cols) {
      return Status::InvalidArgument(RoundField(i, "weight") + " has " + std::to_string(r.weight.size()) +
                                     " elements but must have " + rule + " = " + std::to_string(rows * cols));
    }
    if (static_cast<int64_t>(r.effective_bias.size()) != rows) {
      return Status::InvalidArgument(RoundField(i, "effective_bias") + " has " +
                                     std::to_string(r.effective_bias.size()) + " elements but must have " +
                                     (odd ? "n_input" : "n_output") + " = " + std::to_string(rows));
    }
    if (static_cast<int64_t>(r.scale.size()) != rows) {
      return Status::InvalidArgument(RoundField(i, "scale") + " has " + std::to_string(r.scale.size()) +
                                     " elements but must have " + (odd ? "n_input" : "n_output") + " = " +
                                     std::to_string(rows));
    }
    for (size_t k = 0; k < r.scale.size(); ++k) {
      const QuantizedMultiplier m = r.scale[k];
      if (m.multiplier < 0 || (m.multiplier != 0 && m.multiplier < (int32_t{1} << 30)) || m.shift < -31 ||
          m.shift > 30) {
        return Status::InvalidArgument(RoundField(i, "scale") + "[" + std::to_string(k) + "] is (" +
                                       std::to_string(m.multiplier) + ", " + std::to_string(m.shift) +
                                       ") but must have multiplier 0 or in [2^30, 2^31) and shift in [-31, 30]");
      }
    }
  }
  s = ValidatePwlTable(p.sigmoid);
  if (!s.ok()) return Status(s.code(), "MogrifierLstmParams: sigmoid: " + s.message());
  if (p.sigmoid.output_min < 0 || p.sigmoid.output_max > 32767) {
    return Status::InvalidArgument("MogrifierLstmParams: sigmoid outputs are [" + std::to_string(p.sigmoid.output_min) +
                                   ", " + std::to_string(p.sigmoid.output_max) + "] but must lie in [0, 32767]");
  }
  return Status::Ok();
}

Status MogrifierLstm::Create(MogrifierLstmParams params, KernelPath path, std::unique_ptr<MogrifierLstm>* out) {
  if (out == nullptr) return Status::InvalidArgument("MogrifierLstm::Create: out is null");
  IRNN_RETURN_IF_ERROR(ValidateMogrifierLstmParams(params));
  KernelPath resolved = KernelPath::kScalar;
  IRNN_RETURN_IF_ERROR(ResolveKernelPath(path, &resolved));
  std::unique_ptr<MogrifierLstm> layer(new MogrifierLstm());
  Status s = TfliteLstm::Create(params.lstm, resolved, &layer->lstm_);
  if (!s.ok()) return Status(s.code(), "MogrifierLstm::Create: lstm: " + s.message());
  layer->path_ = resolved;
  layer->lstm_kernels_ = &GetLstmKernels(resolved);
  layer->pwl_kernels_ = &GetPwlKernels(resolved);
  layer->elementwise_ = &GetElementwiseKernels(resolved);
  auto packed = std::make_shared<MogrifierPacked>();
  packed->rounds.resize(params.rounds.size());
  for (size_t i = 0; i < params.rounds.size(); ++i) {
    const bool odd = i % 2 == 0;
    const int rows = odd ? params.lstm.config.n_input : params.lstm.config.n_output;
    const int cols = odd ? params.lstm.config.n_output : params.lstm.config.n_input;
    layer->lstm_kernels_->PackS8(params.rounds[i].weight.data(), rows, cols, &packed->rounds[i]);
  }
  layer->packed_ = std::move(packed);
  layer->params_ = std::move(params);
  *out = std::move(layer);
  return Status::Ok();
}

Status MogrifierLstm::NewState(int batch, MogrifierLstmState* state) const {
  if (state == nullptr) return Status::InvalidArgument("MogrifierLstm::NewState: state is null");
  if (batch < 1 || batch > kMaxBatch) {
    return Status::InvalidArgument("MogrifierLstm::NewState: batch is " + std::to_string(batch) +
                                   " but must be in [1, " + std::to_string(kMaxBatch) + "]");
  }
  const TfliteLstmConfig& c = params_.lstm.config;
  // The rounds' buffers: 7 bytes (int32 accumulator, int16 gate, int8 x) per unit of the wider side.
  const int64_t bytes = int64_t{batch} * std::max(c.n_input, c.n_output) * 7;
  if (bytes > (int64_t{1} << 30)) {
    return Status::OutOfRange("MogrifierLstm::NewState: batch " + std::to_string(batch) + " x max(n_input, n_output) " +
                              std::to_string(std::max(c.n_input, c.n_output)) + " needs " + std::to_string(bytes) +
                              " bytes of mogrifier buffers but must need at most 1 GiB");
  }
  Status s = lstm_->NewState(batch, &state->lstm_);
  if (!s.ok()) return Status(s.code(), "MogrifierLstm::NewState: " + s.message());
  const size_t width = static_cast<size_t>(batch) * std::max(c.n_input, c.n_output);
  state->x_.assign(static_cast<size_t>(batch) * c.n_input, 0);
  state->acc_.assign(width, 0);
  state->gate_.assign(width, 0);
  return Status::Ok();
}

Status MogrifierLstm::ResetState(MogrifierLstmState* state) const {
  if (state == nullptr) return Status::InvalidArgument("MogrifierLstm::ResetState: state is null");
  return lstm_->ResetState(&state->lstm_);
}

// numerics.md §10.3: rounds i = 1..r, odd ones gating x by h, even ones h by x.
void MogrifierLstm::MogrifyUnchecked(int8_t* x, int8_t* h, MogrifierLstmState* s) const {
  const TfliteLstmConfig& c = params_.lstm.config;
  const int batch = s->batch();
  for (size_t i = 0; i < params_.rounds.size(); ++i) {
    const MogrifierRound& r = params_.rounds[i];
    const bool odd = i % 2 == 0;
    const int rows = odd ? c.n_input : c.n_output;
    const int n = batch * rows;
    // §7.1 per-row requantization of the packed matrix (the same results as the plain per-channel gemv).
    lstm_kernels_->GemvPackedRequantS32(packed_->rounds[i], 0, rows, r.effective_bias.data(), odd ? h : x, batch,
                                        QuantizedMultiplier{}, r.scale.data(), c.rounding, s->acc_.data());
    lstm_kernels_->SaturateS32ToS16(s->acc_.data(), n, s->gate_.data());
    pwl_kernels_->EvaluateS16(params_.sigmoid, s->gate_.data(), n, s->gate_.data());
    elementwise_->MogrifyS8(s->gate_.data(), n, odd ? params_.input_zp : params_.lstm.output_zp, odd ? x : h);
  }
}

Status MogrifierLstm::Mogrify(int8_t* x, int8_t* h, MogrifierLstmState* state) const {
  if (x == nullptr || h == nullptr || state == nullptr) {
    return Status::InvalidArgument("MogrifierLstm::Mogrify: x, h or state is null");
  }
  Status s = lstm_->CheckState(state->lstm_);
  const TfliteLstmConfig& c = params_.lstm.config;
  const size_t width = static_cast<size_t>(state->lstm_.batch()) * std::max(c.n_input, c.n_output);
  if (!s.ok() || state->acc_.size() != width || state->gate_.size() != width ||
      state->x_.size() != static_cast<size_t>(state->lstm_.batch()) * c.n_input) {
    return Status::InvalidArgument("MogrifierLstm::Mogrify: state was not made by NewState of this layer");
  }
  MogrifyUnchecked(x, h, state);
  return Status::Ok();
}

Status MogrifierLstm::Step(const int8_t* x, MogrifierLstmState* state, int8_t* out) const {
  if (x == nullptr) return Status::InvalidArgument("MogrifierLstm::Step: x is null");
  if (out == nullptr) return Status::InvalidArgument("MogrifierLstm::Step: out is null");
  if (state == nullptr) return Status::InvalidArgument("MogrifierLstm::Step: state is null");
  const TfliteLstmConfig& c = params_.lstm.config;
  Status s = lstm_->CheckState(state->lstm_);
  const size_t width = static_cast<size_t>(state->lstm_.batch()) * std::max(c.n_input, c.n_output);
  if (!s.ok() || state->acc_.size() != width || state->gate_.size() != width ||
      state->x_.size() != static_cast<size_t>(state->lstm_.batch()) * c.n_input) {
    return Status::InvalidArgument("MogrifierLstm::Step: state was not made by NewState of this layer");
  }
  std::copy(x, x + state->x_.size(), state->x_.begin());
  // The mogrified h replaces h in the LSTM's state: the step reads it as the previous output and then
  // overwrites it with the new one.
  MogrifyUnchecked(state->x_.data(), state->lstm_.h().data(), state);
  return lstm_->Step(state->x_.data(), &state->lstm_, out);
}

Status MogrifierLstm::Run(const int8_t* x, int steps, MogrifierLstmState* state, int8_t* out) const {
  if (steps < 0) {
    return Status::InvalidArgument("MogrifierLstm::Run: steps is " + std::to_string(steps) + " but must be >= 0");
  }
  if (steps == 0) return Status::Ok();
  if (state == nullptr) return Status::InvalidArgument("MogrifierLstm::Run: state is null");
  const TfliteLstmConfig& c = params_.lstm.config;
  const size_t in_stride = static_cast<size_t>(state->batch()) * c.n_input;
  const size_t out_stride = static_cast<size_t>(state->batch()) * c.n_output;
  for (int t = 0; t < steps; ++t) {
    Status s = Step(x == nullptr ? nullptr : x + t * in_stride, state, out == nullptr ? nullptr : out + t * out_stride);
    if (!s.ok()) return Status(s.code(), "MogrifierLstm::Run: step " + std::to_string(t) + ": " + s.message());
  }
  return Status::Ok();
}

}  // namespace irnn
