// `sim` of integer attention: the equations of docs/numerics.md §9 (integer softmax, additive and
// dot-product attention, pooling) with libtorch int64 tensor operations, batched over streams with
// per-stream lengths, on any device. Bit for bit equal to the runtime (irnn::Attention, SoftmaxQ15;
// tested in tests/train/attention_sim_test.cc). Conventions as src/train/sim.h: int64 tensors holding
// integers, explicit saturation/wrapping, std::invalid_argument for bad shapes. It never calls the
// runtime's kernels or layer code; it reads AttentionParams and the constant table kSoftmaxExp2Table.
// Not differentiable (the training forward is qat_attention.h).
#pragma once

#include <torch/types.h>

#include "irnn/attention.h"
#include "train/sim.h"

namespace irnn::train::sim {

// §9.2 integer softmax over the last dimension of int32-valued scores [..., T]. mask: undefined (every
// entry valid) or bool [..., T] with at least one true entry per row; masked entries get probability 0
// and take no part in the max or the sum. -> int16-valued Q0.15 [..., T].
torch::Tensor SoftmaxQ15(const torch::Tensor& scores, const torch::Tensor& mask, QuantizedMultiplier exp_scale,
                         Rounding rounding);

// An attention layer's parameters as tensors on one device.
struct SimAttention {
  AttentionParams params;  // validated copy (the tensors below are made from it)
  torch::Device device = torch::kCPU;
  torch::Tensor wq, bq;       // [rows][n_query] (undefined when n_query == 0), [rows]
  torch::Tensor wk, bk, v;    // additive: [n_attn][n_key], [n_attn], [n_attn]
  torch::Tensor tanh_table;   // additive, fixed point: TanhQ15Table(3)
  PwlTensors pwl_tanh;        // additive, pwl
};
// Validates params (ValidateAttentionParams; std::invalid_argument with its message) and uploads them.
SimAttention PrepareSimAttention(const AttentionParams& params, const torch::Device& device);

// The keys of B streams: keys int8-valued [B][T][n_key] (batch-major, unlike the runtime's time-major
// SetKeys), lengths int [B] in [1, T] (undefined: all T).
struct SimAttentionKeys {
  torch::Tensor keys;      // [B][T][n_key]
  torch::Tensor mask;      // bool [B][T]: t < length
  torch::Tensor key_proj;  // additive: [B][T][n_attn] = MBQM(Wk k_t + bk, key_scale)
};
SimAttentionKeys SimAttentionSetKeys(const SimAttention& model, const torch::Tensor& keys,
                                     const torch::Tensor& lengths = torch::Tensor());

struct SimAttendResult {
  torch::Tensor context;  // [B][n_key] int8-valued, on the keys' grid
  torch::Tensor weights;  // [B][T] Q0.15 (0 past a stream's length)
  torch::Tensor scores;   // [B][T] int32-valued (masked entries: whatever the formula gives)
};
// query int8-valued [B][n_query], undefined exactly when n_query == 0 (pooling).
SimAttendResult SimAttend(const SimAttention& model, const SimAttentionKeys& keys, const torch::Tensor& query);

}  // namespace irnn::train::sim
