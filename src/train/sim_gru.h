// sim of the integer GRU (numerics.md §8) with libtorch int64 tensor operations, for the evaluation
// forward of the GRU QAT and as the independent cross-check "sim == int" of irnn::Gru. Conventions of
// sim.h: every tensor holds integers in torch::kInt64, wrapping and saturation are explicit, errors
// throw std::invalid_argument. It reads only GruParams; it never calls the runtime's kernels or layers.
#pragma once

#include <array>
#include <cstdint>

#include <torch/types.h>

#include "irnn/gru.h"
#include "train/sim.h"

namespace irnn::train::sim {

// A GruParams as tensors on one device, prepared once.
struct SimGru {
  GruConfig config;
  torch::Device device = torch::kCPU;
  std::array<torch::Tensor, 3> w_x, w_h;        // [n_hidden][n_input], [n_hidden][n_hidden]
  std::array<torch::Tensor, 3> bias_x, bias_h;  // [n_hidden] effective biases
  std::array<Requant, 3> m_x, m_h;              // per-row multipliers
  QuantizedMultiplier output_scale;
  int32_t output_zp = 0;
  PwlTensors pwl_sigmoid, pwl_tanh;
};

// Converts params (sizes re-checked) to tensors on `device`.
SimGru PrepareSimGru(const GruParams& params, const torch::Device& device);

struct SimGruStepResult {
  torch::Tensor out;  // [B][n_hidden] int8-valued (== h8)
  torch::Tensor h16;  // [B][n_hidden] int16-valued, Q0.15
  torch::Tensor h8;   // [B][n_hidden] int8-valued
};

// One step: x int8-valued [B][n_input], the state (h16, h8) -> (out, h16', h8').
SimGruStepResult SimGruStep(const SimGru& model, const torch::Tensor& x, const torch::Tensor& h16,
                            const torch::Tensor& h8);

struct SimGruSequenceResult {
  torch::Tensor out;  // [T][B][n_hidden]
  torch::Tensor h16, h8;
};
// T steps, time-major x [T][B][n_input]; the input matmuls of all steps at once.
SimGruSequenceResult SimGruSequence(const SimGru& model, const torch::Tensor& x, const torch::Tensor& h16,
                                    const torch::Tensor& h8);

// The reset state of B streams: h16 = 0, h8 = output zero point.
std::pair<torch::Tensor, torch::Tensor> SimGruInitialState(const SimGru& model, int64_t batch);

}  // namespace irnn::train::sim
