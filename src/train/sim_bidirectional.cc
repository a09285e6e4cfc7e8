// sim of the bidirectional LSTM (numerics.md §10.1): the forward sequence, the backward sequence on each
// stream's valid frames reversed, and the concatenation. See sim_bidirectional.h.

#include "train/sim_bidirectional.h"

#include <stdexcept>
#include <string>

namespace irnn::train::sim {

using torch::Tensor;

Tensor SimBidirectionalSequence(const SimTfliteLstm& forward, const SimTfliteLstm& backward, const Tensor& x_in,
                                const std::vector<int64_t>& lengths) {
  if (x_in.dim() != 3) throw std::invalid_argument("sim: SimBidirectionalSequence: x must be [T][B][n_input]");
  const Tensor x = x_in.to(torch::kInt64);
  const int64_t steps = x.size(0), batch = x.size(1);
  if (!lengths.empty() && static_cast<int64_t>(lengths.size()) != batch) {
    throw std::invalid_argument("sim: SimBidirectionalSequence: lengths has " + std::to_string(lengths.size()) +
                                " values but must have B = " + std::to_string(batch));
  }
  // src[t][b]: the frame the backward direction reads at its step t (each stream's valid frames
  // reversed, padding frames in place); the same map sends its outputs back to their frames.
  Tensor src = torch::empty({steps, batch}, torch::kInt64);
  Tensor valid = torch::empty({steps, batch}, torch::kBool);
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t len = lengths.empty() ? steps : lengths[static_cast<size_t>(b)];
    if (len < 0 || len > steps) throw std::invalid_argument("sim: SimBidirectionalSequence: a length is outside [0, T]");
    for (int64_t t = 0; t < steps; ++t) {
      src[t][b] = t < len ? len - 1 - t : t;
      valid[t][b] = t < len;
    }
  }
  src = src.to(x.device());
  valid = valid.to(x.device());
  const auto f0 = SimTfliteLstmInitialState(forward, batch);
  const auto b0 = SimTfliteLstmInitialState(backward, batch);
  const Tensor fwd = SimTfliteLstmSequence(forward, x, f0.first, f0.second).out;
  const Tensor idx_in = src.unsqueeze(2).expand({steps, batch, x.size(2)});
  const Tensor bwd_rev = SimTfliteLstmSequence(backward, x.gather(0, idx_in), b0.first, b0.second).out;
  const Tensor bwd = bwd_rev.gather(0, src.unsqueeze(2).expand({steps, batch, bwd_rev.size(2)}));
  const Tensor out = torch::cat({fwd, bwd}, 2);
  return torch::where(valid.unsqueeze(2), out, torch::full_like(out, forward.output_zp));
}

Tensor SimBidirectionalSequence(const BidirectionalParams& params, const Tensor& x, const std::vector<int64_t>& lengths) {
  return SimBidirectionalSequence(PrepareSimTfliteLstm(params.forward, x.device()),
                                  PrepareSimTfliteLstm(params.backward, x.device()), x, lengths);
}

}  // namespace irnn::train::sim
