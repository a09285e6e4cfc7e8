// The bidirectional LSTM and the stack of sequence layers (include/irnn/bidirectional.h,
// numerics.md §10.1): validation, the reversal of each stream's valid frames for the backward
// direction, and the concatenation of the two halves. Integer only, no arithmetic of its own beyond
// copies: every number is computed by TfliteLstm. Not a streaming layer (Step is refused).

#include "irnn/bidirectional.h"

#include <algorithm>
#include <cstring>
#include <string>

namespace irnn {

namespace {

constexpr int kMaxBatch = 1 << 16;
constexpr int64_t kMaxSequenceBytes = int64_t{1} << 30;  // a whole sequence's largest buffer

// Ok when steps, batch and lengths describe a sequence whose buffers of `width` int8 per frame and
// stream stay below kMaxSequenceBytes.
Status CheckSequence(const char* who, int steps, int batch, const int32_t* lengths, int64_t width) {
  if (steps < 0) {
    return Status::InvalidArgument(std::string(who) + ": steps is " + std::to_string(steps) + " but must be >= 0");
  }
  if (batch < 1 || batch > kMaxBatch) {
    return Status::InvalidArgument(std::string(who) + ": batch is " + std::to_string(batch) + " but must be in [1, " +
                                   std::to_string(kMaxBatch) + "]");
  }
  const int64_t bytes = int64_t{steps} * batch * width;
  if (bytes > kMaxSequenceBytes) {
    return Status::OutOfRange(std::string(who) + ": steps " + std::to_string(steps) + " x batch " +
                              std::to_string(batch) + " x width " + std::to_string(width) + " is " +
                              std::to_string(bytes) + " bytes but must be at most 2^30");
  }
  if (lengths != nullptr) {
    for (int b = 0; b < batch; ++b) {
      if (lengths[b] < 0 || lengths[b] > steps) {
        return Status::InvalidArgument(std::string(who) + ": lengths[" + std::to_string(b) + "] is " +
                                       std::to_string(lengths[b]) + " but must be in [0, steps = " +
                                       std::to_string(steps) + "]");
      }
    }
  }
  return Status::Ok();
}

// A reset state of `batch` streams, reusing the buffers when the batch is unchanged.
Status ResetOrNew(const TfliteLstm& lstm, int batch, TfliteLstmState* state) {
  if (state->batch() == batch && lstm.CheckState(*state).ok()) return lstm.ResetState(state);
  return lstm.NewState(batch, state);
}

// Frames t >= lengths[b] of stream b of out [steps][batch][width] := zp.
void FillPadding(int steps, int batch, const int32_t* lengths, int width, int32_t zp, int8_t* out) {
  if (lengths == nullptr) return;
  for (int b = 0; b < batch; ++b) {
    for (int t = lengths[b]; t < steps; ++t) {
      std::memset(out + (static_cast<size_t>(t) * batch + b) * width, static_cast<int8_t>(zp), width);
    }
  }
}

}  // namespace

Status ValidateBidirectionalParams(const BidirectionalParams& params) {
  Status s = ValidateTfliteLstmParams(params.forward);
  if (!s.ok()) return Status(s.code(), "BidirectionalParams: forward: " + s.message());
  s = ValidateTfliteLstmParams(params.backward);
  if (!s.ok()) return Status(s.code(), "BidirectionalParams: backward: " + s.message());
  const TfliteLstmConfig& f = params.forward.config;
  const TfliteLstmConfig& b = params.backward.config;
  if (b.n_input != f.n_input) {
    return Status::InvalidArgument("BidirectionalParams: backward.config.n_input is " + std::to_string(b.n_input) +
                                   " but must be forward.config.n_input = " + std::to_string(f.n_input));
  }
  if (b.n_output != f.n_output) {
    return Status::InvalidArgument("BidirectionalParams: backward.config.n_output is " + std::to_string(b.n_output) +
                                   " but must be forward.config.n_output = " + std::to_string(f.n_output) +
                                   " (the halves share the output quantization)");
  }
  if (params.backward.output_zp != params.forward.output_zp) {
    return Status::InvalidArgument("BidirectionalParams: backward.output_zp is " +
                                   std::to_string(params.backward.output_zp) + " but must be forward.output_zp = " +
                                   std::to_string(params.forward.output_zp) +
                                   " (the halves share the output quantization)");
  }
  if (int64_t{2} * f.n_output > (int64_t{1} << 16)) {
    return Status::OutOfRange("BidirectionalParams: 2 x forward.config.n_output is " +
                              std::to_string(2 * int64_t{f.n_output}) + " but must be at most 65536");
  }
  return Status::Ok();
}

Status BidirectionalLstm::Create(BidirectionalParams params, KernelPath path,
                                 std::unique_ptr<BidirectionalLstm>* out) {
  if (out == nullptr) return Status::InvalidArgument("BidirectionalLstm::Create: out is null");
  IRNN_RETURN_IF_ERROR(ValidateBidirectionalParams(params));
  std::unique_ptr<BidirectionalLstm> layer(new BidirectionalLstm());
  Status s = TfliteLstm::Create(params.forward, path, &layer->forward_);
  if (!s.ok()) return Status(s.code(), "BidirectionalLstm::Create: forward: " + s.message());
  s = TfliteLstm::Create(params.backward, path, &layer->backward_);
  if (!s.ok()) return Status(s.code(), "BidirectionalLstm::Create: backward: " + s.message());
  layer->params_ = std::move(params);
  *out = std::move(layer);
  return Status::Ok();
}

Status BidirectionalLstm::StepRefused() {
  return Status::InvalidArgument(
      "Bidirectional: streaming needs the whole sequence (the backward direction reads it from its end); "
      "run the layer with Run over the whole sequence, or use a unidirectional layer to stream");
}

Status BidirectionalLstm::Step(const int8_t*, BidirectionalState*, int8_t*) const { return StepRefused(); }

// numerics.md §10.1.
Status BidirectionalLstm::Run(const int8_t* x, int steps, int batch, const int32_t* lengths, BidirectionalState* state,
                              int8_t* out) const {
  const int n_in = n_input();
  const int n = params_.forward.config.n_output;
  IRNN_RETURN_IF_ERROR(CheckSequence("BidirectionalLstm::Run", steps, batch, lengths, std::max(n_in, 2 * n)));
  if (steps == 0) return Status::Ok();
  if (x == nullptr) return Status::InvalidArgument("BidirectionalLstm::Run: x is null");
  if (out == nullptr) return Status::InvalidArgument("BidirectionalLstm::Run: out is null");
  if (state == nullptr) return Status::InvalidArgument("BidirectionalLstm::Run: state is null");
  IRNN_RETURN_IF_ERROR(ResetOrNew(*forward_, batch, &state->forward_));
  IRNN_RETURN_IF_ERROR(ResetOrNew(*backward_, batch, &state->backward_));
  const size_t frames = static_cast<size_t>(steps) * batch;
  state->forward_out_.resize(frames * n);
  state->backward_out_.resize(frames * n);
  state->reversed_in_.resize(frames * n_in);
  // Frames past a stream's length are inputs too (the batch runs in lock step) but never reach a valid
  // output of that stream: they come after its valid frames in both directions' time order.
  IRNN_RETURN_IF_ERROR(forward_->Run(x, steps, &state->forward_, state->forward_out_.data()));
  for (int b = 0; b < batch; ++b) {
    const int len = lengths != nullptr ? lengths[b] : steps;
    for (int t = 0; t < steps; ++t) {
      const int src = t < len ? len - 1 - t : t;
      std::memcpy(state->reversed_in_.data() + (static_cast<size_t>(t) * batch + b) * n_in,
                  x + (static_cast<size_t>(src) * batch + b) * n_in, n_in);
    }
  }
  IRNN_RETURN_IF_ERROR(
      backward_->Run(state->reversed_in_.data(), steps, &state->backward_, state->backward_out_.data()));
  const int8_t zp = static_cast<int8_t>(output_zp());
  for (int b = 0; b < batch; ++b) {
    const int len = lengths != nullptr ? lengths[b] : steps;
    for (int t = 0; t < steps; ++t) {
      int8_t* o = out + (static_cast<size_t>(t) * batch + b) * 2 * n;
      if (t >= len) {
        std::memset(o, zp, 2 * static_cast<size_t>(n));
        continue;
      }
      std::memcpy(o, state->forward_out_.data() + (static_cast<size_t>(t) * batch + b) * n, n);
      std::memcpy(o + n, state->backward_out_.data() + (static_cast<size_t>(len - 1 - t) * batch + b) * n, n);
    }
  }
  return Status::Ok();
}

// ---- SequenceStack -----------------------------------------------------------------------------------

Status SequenceStack::Add(Layer layer) {
  if (!layers_.empty() && layers_.back().n_output != layer.n_input) {
    return Status::InvalidArgument("SequenceStack: layers[" + std::to_string(layers_.size()) + "].n_input is " +
                                   std::to_string(layer.n_input) + " but must be layers[" +
                                   std::to_string(layers_.size() - 1) +
                                   "].n_output = " + std::to_string(layers_.back().n_output));
  }
  if (layers_.size() >= 1024) return Status::OutOfRange("SequenceStack: has 1024 layers but must have at most 1024");
  layers_.push_back(std::move(layer));
  return Status::Ok();
}

Status SequenceStack::AddLstm(std::unique_ptr<TfliteLstm> lstm) {
  if (lstm == nullptr) return Status::InvalidArgument("SequenceStack::AddLstm: layer is null");
  Layer l;
  l.n_input = lstm->params().config.n_input;
  l.n_output = lstm->params().config.n_output;
  l.output_zp = lstm->params().output_zp;
  l.lstm = std::move(lstm);
  return Add(std::move(l));
}

Status SequenceStack::AddBidirectional(std::unique_ptr<BidirectionalLstm> bidirectional) {
  if (bidirectional == nullptr) return Status::InvalidArgument("SequenceStack::AddBidirectional: layer is null");
  Layer l;
  l.n_input = bidirectional->n_input();
  l.n_output = bidirectional->n_output();
  l.output_zp = bidirectional->output_zp();
  l.bidirectional = std::move(bidirectional);
  return Add(std::move(l));
}

int SequenceStack::n_input() const { return layers_.empty() ? 0 : layers_.front().n_input; }
int SequenceStack::n_output() const { return layers_.empty() ? 0 : layers_.back().n_output; }

bool SequenceStack::streamable() const {
  for (const Layer& l : layers_) {
    if (l.bidirectional != nullptr) return false;
  }
  return true;
}

Status SequenceStack::NewState(int batch, State* state) const {
  if (state == nullptr) return Status::InvalidArgument("SequenceStack::NewState: state is null");
  if (batch < 1 || batch > kMaxBatch) {
    return Status::InvalidArgument("SequenceStack::NewState: batch is " + std::to_string(batch) +
                                   " but must be in [1, " + std::to_string(kMaxBatch) + "]");
  }
  state->lstm.assign(layers_.size(), TfliteLstmState());
  state->bidirectional.assign(layers_.size(), BidirectionalState());
  for (size_t i = 0; i < layers_.size(); ++i) {
    if (layers_[i].lstm != nullptr) IRNN_RETURN_IF_ERROR(layers_[i].lstm->NewState(batch, &state->lstm[i]));
  }
  state->batch = batch;
  return Status::Ok();
}

Status SequenceStack::Run(const int8_t* x, int steps, const int32_t* lengths, State* state, int8_t* out) const {
  if (state == nullptr) return Status::InvalidArgument("SequenceStack::Run: state is null");
  if (layers_.empty()) return Status::InvalidArgument("SequenceStack::Run: the stack has 0 layers but must have >= 1");
  if (state->lstm.size() != layers_.size() || state->bidirectional.size() != layers_.size()) {
    return Status::InvalidArgument("SequenceStack::Run: state was not made by NewState of this stack");
  }
  const int batch = state->batch;
  int width = 0;
  for (const Layer& l : layers_) width = std::max({width, l.n_input, l.n_output});
  IRNN_RETURN_IF_ERROR(CheckSequence("SequenceStack::Run", steps, batch, lengths, width));
  if (steps == 0) return Status::Ok();
  if (x == nullptr) return Status::InvalidArgument("SequenceStack::Run: x is null");
  if (out == nullptr) return Status::InvalidArgument("SequenceStack::Run: out is null");
  const size_t frames = static_cast<size_t>(steps) * batch;
  const int8_t* in = x;
  for (size_t i = 0; i < layers_.size(); ++i) {
    const Layer& l = layers_[i];
    const bool last = i + 1 == layers_.size();
    std::vector<int8_t>& buf = i % 2 == 0 ? state->a : state->b;
    int8_t* o = out;
    if (!last) {
      buf.resize(frames * l.n_output);
      o = buf.data();
    }
    if (l.lstm != nullptr) {
      IRNN_RETURN_IF_ERROR(l.lstm->ResetState(&state->lstm[i]));
      IRNN_RETURN_IF_ERROR(l.lstm->Run(in, steps, &state->lstm[i], o));
      FillPadding(steps, batch, lengths, l.n_output, l.output_zp, o);
    } else {
      IRNN_RETURN_IF_ERROR(l.bidirectional->Run(in, steps, batch, lengths, &state->bidirectional[i], o));
    }
    in = o;
  }
  return Status::Ok();
}

Status SequenceStack::Step(const int8_t* x, State* state, int8_t* out) const {
  if (!streamable()) return BidirectionalLstm::StepRefused();
  if (state == nullptr) return Status::InvalidArgument("SequenceStack::Step: state is null");
  if (layers_.empty()) return Status::InvalidArgument("SequenceStack::Step: the stack has 0 layers but must have >= 1");
  if (state->lstm.size() != layers_.size()) {
    return Status::InvalidArgument("SequenceStack::Step: state was not made by NewState of this stack");
  }
  if (x == nullptr || out == nullptr) return Status::InvalidArgument("SequenceStack::Step: x or out is null");
  const int8_t* in = x;
  for (size_t i = 0; i < layers_.size(); ++i) {
    const Layer& l = layers_[i];
    const bool last = i + 1 == layers_.size();
    std::vector<int8_t>& buf = i % 2 == 0 ? state->a : state->b;
    int8_t* o = out;
    if (!last) {
      buf.resize(static_cast<size_t>(state->batch) * l.n_output);
      o = buf.data();
    }
    IRNN_RETURN_IF_ERROR(l.lstm->Step(in, &state->lstm[i], o));
    in = o;
  }
  return Status::Ok();
}

}  // namespace irnn
