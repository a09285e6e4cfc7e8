// sim of the bidirectional LSTM of numerics.md §10.1 with libtorch int64 tensor ops, bit for bit equal
// to the runtime (include/irnn/bidirectional.h); the residual add and the Mogrifier LSTM are in
// sim_mogrifier.h. Conventions as src/train/sim.h: int64 tensors, time-major sequences,
// std::invalid_argument on bad shapes.
//
// What it is not: it never calls the runtime's kernels or layers; it reads only their parameter
// structs. Not differentiable.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/types.h>

#include "irnn/bidirectional.h"
#include "train/sim.h"

namespace irnn::train::sim {

// §10.1 bidirectional LSTM over a whole sequence: x int8-valued [T][B][n_input] -> [T][B][2 n_output]
// (forward half, backward half). lengths: empty (every stream T frames) or B values in [0, T]; frames
// t >= lengths[b] are the output zero point. Both directions start from the reset state.
torch::Tensor SimBidirectionalSequence(const SimTfliteLstm& forward, const SimTfliteLstm& backward,
                                       const torch::Tensor& x, const std::vector<int64_t>& lengths = {});
torch::Tensor SimBidirectionalSequence(const BidirectionalParams& params, const torch::Tensor& x,
                                       const std::vector<int64_t>& lengths = {});

}  // namespace irnn::train::sim
