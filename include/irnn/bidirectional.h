// The bidirectional integer LSTM: a forward and a backward TfliteLstm over a whole sequence, their
// outputs concatenated per frame, [T][B][n_input] -> [T][B][2 * n_output] (forward half first), and a
// stack of such sequence layers. Integer only (numerics.md §10.1).
//
// Both directions share the output quantization (the same n_output and output zero point, checked
// here; the same output scale, which the params no longer hold: the exporter guarantees it), so the
// two halves concatenate without a requantization and the next layer reads them as one int8 vector.
//
// What it is not: a streaming layer. The backward direction reads the sequence from its end, so a
// Bidirectional layer has no Step: StepRefused() is the message any streaming API returns for it. Each
// run starts both directions from the reset state (h = output zero point, c = 0).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "irnn/kernel_path.h"
#include "irnn/status.h"
#include "irnn/tflite_lstm.h"

namespace irnn {

struct BidirectionalParams {
  TfliteLstmParams forward;   // reads x[0], x[1], ..., x[len - 1]
  TfliteLstmParams backward;  // reads x[len - 1], ..., x[0]; its output at t is written at frame t
};

// Both directions valid (ValidateTfliteLstmParams), the same n_input, n_output and output zero point.
Status ValidateBidirectionalParams(const BidirectionalParams& params);

// Workspace of one caller (one per concurrent thread): the two directions' states and buffers.
class BidirectionalState {
 private:
  friend class BidirectionalLstm;
  TfliteLstmState forward_, backward_;
  std::vector<int8_t> reversed_in_, forward_out_, backward_out_;
};

class BidirectionalLstm {
 public:
  static Status Create(BidirectionalParams params, KernelPath path, std::unique_ptr<BidirectionalLstm>* out);

  const BidirectionalParams& params() const { return params_; }
  int n_input() const { return params_.forward.config.n_input; }
  int n_output() const { return 2 * params_.forward.config.n_output; }  // both halves
  int32_t output_zp() const { return params_.forward.output_zp; }

  // x [steps][batch][n_input] -> out [steps][batch][2n], n = the directions' n_output: out[t][b][0, n)
  // is the forward output, out[t][b][n, 2n) the backward output. lengths: null
  // (every stream has `steps` frames) or `batch` lengths in [0, steps]; stream b then runs over frames
  // [0, lengths[b]) only, its backward direction starting at frame lengths[b] - 1, and its frames
  // t >= lengths[b] are written as the output zero point. batch in [1, 65536], steps >= 0. state is the
  // caller's workspace (any BidirectionalState; it is resized here).
  Status Run(const int8_t* x, int steps, int batch, const int32_t* lengths, BidirectionalState* state,
             int8_t* out) const;

  // Always refused: streaming needs the whole sequence. Returns StepRefused().
  Status Step(const int8_t* x, BidirectionalState* state, int8_t* out) const;
  static Status StepRefused();

 private:
  BidirectionalLstm() = default;
  BidirectionalParams params_;
  std::unique_ptr<TfliteLstm> forward_, backward_;
};

// A stack of sequence layers run one after the other over a whole sequence (numerics.md §10.1): each
// layer's output is the next one's input (n_output of one = n_input of the next, and the output zero
// point of one = the input zero point the next was derived for, which the exporter guarantees). A
// layer is a unidirectional TfliteLstm or a BidirectionalLstm. Streaming (Step) works when every layer
// is unidirectional and equals Run bit for bit; with a bidirectional layer it is refused.
class SequenceStack {
 public:
  // Takes ownership. Checks the widths chain.
  Status AddLstm(std::unique_ptr<TfliteLstm> layer);
  Status AddBidirectional(std::unique_ptr<BidirectionalLstm> layer);

  int layers() const { return static_cast<int>(layers_.size()); }
  int n_input() const;   // of the first layer; 0 when empty
  int n_output() const;  // of the last layer; 0 when empty
  bool streamable() const;  // no bidirectional layer

  class State {
   private:
    friend class SequenceStack;
    std::vector<TfliteLstmState> lstm;  // per layer (unidirectional layers only)
    std::vector<BidirectionalState> bidirectional;
    std::vector<int8_t> a, b;  // ping-pong buffers between layers
    int batch = 0;
  };
  // A reset state for `batch` streams.
  Status NewState(int batch, State* state) const;
  // Whole sequence x [steps][batch][n_input] -> out [steps][batch][n_output] from the reset state of
  // every layer (the state's unidirectional layers are reset first). lengths as BidirectionalLstm::Run;
  // with lengths, frames past a stream's length are the last layer's output zero point.
  Status Run(const int8_t* x, int steps, const int32_t* lengths, State* state, int8_t* out) const;
  // One frame through every layer, the state carried: only when streamable(), else the message of
  // BidirectionalLstm::StepRefused().
  Status Step(const int8_t* x, State* state, int8_t* out) const;

 private:
  struct Layer {
    std::unique_ptr<TfliteLstm> lstm;
    std::unique_ptr<BidirectionalLstm> bidirectional;
    int n_input = 0, n_output = 0;
    int32_t output_zp = 0;
  };
  Status Add(Layer layer);
  std::vector<Layer> layers_;
};

}  // namespace irnn
