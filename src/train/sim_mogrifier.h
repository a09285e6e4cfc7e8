// sim of the residual int8 add (numerics.md §10.2) and the Mogrifier LSTM (§10.3) with libtorch int64
// tensor ops, bit for bit equal to the runtime (include/irnn/residual.h, mogrifier_lstm.h).
// Conventions as src/train/sim.h: int64 tensors, time-major sequences, std::invalid_argument on bad
// shapes.
//
// What it is not: it never calls the runtime's kernels or layers; it reads only their parameter
// structs. Not differentiable.
#pragma once

#include <utility>
#include <vector>

#include <torch/types.h>

#include "irnn/mogrifier_lstm.h"
#include "irnn/residual.h"
#include "train/sim.h"

namespace irnn::train::sim {

// §10.2 residual int8 add, elementwise on int8-valued a and b of one shape -> int8-valued.
torch::Tensor SimResidualAdd(const ResidualAddParams& params, const torch::Tensor& a, const torch::Tensor& b);

// §10.3 x' = sat8(RoundingDivideByPOT((x − zp)·gate, 14) + zp), elementwise (gate Q0.15 in [0, 32767]).
torch::Tensor SimMogrifyS8(const torch::Tensor& gate, const torch::Tensor& x, int64_t zp);

// §10.3 Mogrifier LSTM, prepared once on a device.
struct SimMogrifierLstm {
  SimTfliteLstm lstm;
  int64_t input_zp = 0;
  Rounding rounding = Rounding::kDouble;
  std::vector<torch::Tensor> weight, bias;  // per round: [rows][cols], effective bias [rows]
  std::vector<Requant> scale;               // per round: per-row multipliers
  PwlTensors sigmoid;
};
SimMogrifierLstm PrepareSimMogrifierLstm(const MogrifierLstmParams& params, const torch::Device& device);

// The rounds of one step on x int8-valued [B][n_input] and h int8-valued [B][n_output] -> (x', h').
std::pair<torch::Tensor, torch::Tensor> SimMogrify(const SimMogrifierLstm& model, const torch::Tensor& x,
                                                   const torch::Tensor& h);
// One step: the rounds, then the LSTM step (§4) on (x', h') and c.
SimLstmStep SimMogrifierLstmStep(const SimMogrifierLstm& model, const torch::Tensor& x, const torch::Tensor& h,
                                 const torch::Tensor& c);
// T steps, time-major: x [T][B][n_input] from (h0, c0).
SimLstmSequence SimMogrifierLstmSequence(const SimMogrifierLstm& model, const torch::Tensor& x,
                                         const torch::Tensor& h0, const torch::Tensor& c0);

}  // namespace irnn::train::sim
