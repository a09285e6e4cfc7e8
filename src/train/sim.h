// `sim`: the integer runtime re-implemented with libtorch tensor operations, for the evaluation-mode
// forward of quantization-aware training and as an independent cross-check of the runtime ("sim ==
// int"). Every function here computes exactly the integer equations of docs/numerics.md, bit for bit,
// batched, on any device (tensors are created on the device of the inputs).
//
// What it is not: it never calls the runtime's kernels (src/kernels), its fixed-point functions
// (src/core), PwlEvaluate or the layer code; it only reads the parameter structs
// (TfliteLstmParams, PwlTable, QuantizedMultiplier). Nothing here is differentiable or uses floating
// point for values, with one documented exception: on devices without int64 matrix products (CUDA) the
// int8 x int8 dot products run in float64, where they are exact (MatMulS8S8).
//
// Value convention: every tensor holds integers in torch::kInt64 ("int64 tensors"); an argument
// documented as "int8-valued" or "int16-valued" must hold values in that range (not checked on the hot
// path). Intermediate arithmetic is in int64; wrapping and saturation to 16 or 32 bits are explicit and
// happen exactly where numerics.md says. Results are int64 tensors too. Integer arguments of other
// dtypes are accepted and converted to int64.
//
// Errors (bad shapes, out-of-range arguments, unvalidated parameters) throw std::invalid_argument (or
// c10::Error from libtorch itself); the training side turns them into messages at its boundary.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include <torch/types.h>

#include "irnn/pwl.h"
#include "irnn/quantization.h"
#include "irnn/tflite_lstm.h"

namespace irnn::train::sim {

// ---------------------------------------------------------------------------------------------------
// Saturation and wrapping (notation of numerics.md): x is an int64 tensor.
torch::Tensor SaturateToInt8(const torch::Tensor& x);
torch::Tensor SaturateToInt16(const torch::Tensor& x);
torch::Tensor SaturateToInt32(const torch::Tensor& x);
torch::Tensor Wrap16(const torch::Tensor& x);  // two's-complement wrap to [-2^15, 2^15)
torch::Tensor Wrap32(const torch::Tensor& x);  // two's-complement wrap to [-2^31, 2^31)

// ---------------------------------------------------------------------------------------------------
// §1.1 x / 2^e rounded to nearest, ties away from zero. x int32-valued (int16 values give the int16
// result); 0 <= e <= 31, either one exponent or an int64 tensor broadcasting against x.
torch::Tensor RoundingDivideByPOT(const torch::Tensor& x, int exponent);
torch::Tensor RoundingDivideByPOT(const torch::Tensor& x, const torch::Tensor& exponent);

// §1.2 round(a·b / 2^31), ties away from zero; INT32_MIN·INT32_MIN gives INT32_MAX. a, b int32-valued
// (tensors broadcast).
torch::Tensor SaturatingRoundingDoublingHighMul(const torch::Tensor& a, const torch::Tensor& b);
torch::Tensor SaturatingRoundingDoublingHighMul(const torch::Tensor& a, int32_t b);
// §1.2 int16 flavour: round(a·b / 2^15), ties away from zero; −32768·−32768 gives 32767.
torch::Tensor SaturatingRoundingDoublingHighMul16(const torch::Tensor& a, const torch::Tensor& b);
torch::Tensor SaturatingRoundingDoublingHighMul16(const torch::Tensor& a, int16_t b);

// sat32(x · 2^k), x int32-valued, 0 <= k <= 31 (scalar or tensor).
torch::Tensor SaturatingShiftLeft32(const torch::Tensor& x, int k);
torch::Tensor SaturatingShiftLeft32(const torch::Tensor& x, const torch::Tensor& k);

// §1.3 MultiplyByQuantizedMultiplier, x int32-valued. multiplier in {0} ∪ [2^30, 2^31), shift in
// [−31, 30]: one QuantizedMultiplier, or per-element int64 tensors (e.g. per output channel, shape
// [n] against x [..., n]) broadcasting against x. Results int32-valued.
torch::Tensor MultiplyByQuantizedMultiplierDoubleRounding(const torch::Tensor& x, int32_t multiplier, int shift);
torch::Tensor MultiplyByQuantizedMultiplierDoubleRounding(const torch::Tensor& x, const torch::Tensor& multiplier,
                                                          const torch::Tensor& shift);
torch::Tensor MultiplyByQuantizedMultiplierSingleRounding(const torch::Tensor& x, int32_t multiplier, int shift);
torch::Tensor MultiplyByQuantizedMultiplierSingleRounding(const torch::Tensor& x, const torch::Tensor& multiplier,
                                                          const torch::Tensor& shift);
torch::Tensor MultiplyByQuantizedMultiplier(const torch::Tensor& x, QuantizedMultiplier m, Rounding rounding);
torch::Tensor MultiplyByQuantizedMultiplier(const torch::Tensor& x, const torch::Tensor& multiplier,
                                            const torch::Tensor& shift, Rounding rounding);

// One requantization multiplier, either shared by all elements or one per output channel (last
// dimension). The LSTM's gate matmuls use this so that per-channel scales (numerics.md §7.1) need no
// other code path.
struct Requant {
  bool per_channel = false;
  QuantizedMultiplier scalar;  // when !per_channel
  torch::Tensor multiplier;    // [n] int64, when per_channel
  torch::Tensor shift;         // [n] int64, when per_channel
};
Requant ScalarRequant(QuantizedMultiplier m);
Requant PerChannelRequant(const std::vector<QuantizedMultiplier>& m, const torch::Device& device);
torch::Tensor MultiplyByQuantizedMultiplier(const torch::Tensor& x, const Requant& m, Rounding rounding);

// ---------------------------------------------------------------------------------------------------
// §4.1 / §7.1 exact int8 × int8 matrix product: out[b][r] = Σ_k x[b][k]·w[r][k] as int64 [B][R].
// x int8-valued [B][K], w int8-valued [R][K]. It runs as a float64 matmul (BLAS on the CPU; CUDA has
// no int64 matmul), exact because every partial sum is an integer of
// magnitude <= 2^14·K < 2^53 (K < 2^38). MatMulS8S8Float64 forces the second way (for tests).
torch::Tensor MatMulS8S8(const torch::Tensor& x, const torch::Tensor& w);
torch::Tensor MatMulS8S8Float64(const torch::Tensor& x, const torch::Tensor& w);

// §4.1 / §7.1 GemvS8S8RequantS32: MBQM(wrap32(bias[r] + Σ_k w[r][k]·x[b][k]), M[r]) -> [B][R]
// int32-valued. bias int32-valued [R] (may be undefined = 0).
torch::Tensor GemvRequant(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& bias,
                          const Requant& m, Rounding rounding);

// ---------------------------------------------------------------------------------------------------
// §2 gemmlowp fixed point on int16 values held in int64 tensors, elementwise, any shape.
// exp(a) for a <= 0 in Qk, k in [0, 7] -> Q0.15 (32767 for a == 0). Other inputs give what the
// runtime's function gives (wrapping arithmetic), which the tests compare too.
torch::Tensor ExpOnNegativeValuesQ15(const torch::Tensor& a, int integer_bits);
// logistic(a), a in Qk, k in [0, 6] -> Q0.15 in [0, 32767].
torch::Tensor LogisticQ15(const torch::Tensor& a, int integer_bits);
// tanh(a), a in Qk, k in [0, 6] -> Q0.15 in [−32767, 32767].
torch::Tensor TanhQ15(const torch::Tensor& a, int integer_bits);

// Lookup tables of the two functions above over all 65,536 int16 inputs ([65536] int64, entry
// a + 32768), evaluated once by the tensor code above and cached per (function, k, device).
// Thread-safe.
torch::Tensor LogisticQ15Table(int integer_bits, const torch::Device& device);
torch::Tensor TanhQ15Table(int integer_bits, const torch::Device& device);
// table[a + 32768] for int16-valued a of any shape.
torch::Tensor LookupS16(const torch::Tensor& table, const torch::Tensor& a);

// ---------------------------------------------------------------------------------------------------
// §6.1 PWL evaluation with tensor ops. The table must be valid (ValidatePwlTable); not re-checked.
struct PwlTensors {
  int64_t input_min = 0, input_max = 0, output_min = 0, output_max = 0, shift = 0;
  bool odd = false;
  int64_t center_in = 0, center2_out = 0;
  torch::Tensor knot, slope, intercept;  // [pieces] int64
};
PwlTensors ToPwlTensors(const PwlTable& table, const torch::Device& device);
// y = table(q) elementwise for int32-valued q of any shape; int64 result.
torch::Tensor EvaluatePwl(const PwlTensors& table, const torch::Tensor& q);
torch::Tensor EvaluatePwl(const PwlTable& table, const torch::Tensor& q);

// ---------------------------------------------------------------------------------------------------
// §3.2 integer inverse square root, elementwise on int32-valued v: returns {multiplier, shift} int64
// tensors of v's shape with multiplier·2^(shift−31) ≈ 1/sqrt(v); v <= 1 gives (2^31 − 1, 0).
std::pair<torch::Tensor, torch::Tensor> InvSqrtQuantizedMultiplier(const torch::Tensor& v);

// §3 integer LayerNorm of each row of v (int16-valued [rows][n]) with LN weight (int16-valued [n]) and
// bias (the raw int32 gate bias, [n]) -> int16-valued [rows][n] (Q3.12). exact_statistics: false =
// TFLite's trunc(2^20/n) (quirk Q4), true = exact division.
torch::Tensor LayerNormS16(const torch::Tensor& v, const torch::Tensor& weight, const torch::Tensor& bias,
                           QuantizedMultiplier scale, int32_t variance_guard, bool exact_statistics,
                           Rounding rounding);

// ---------------------------------------------------------------------------------------------------
// §4-§5 the TFLite 8x8_16 integer LSTM. Parameters as tensors on one device, prepared once.
// Per-channel multipliers (§7.1): a gate or projection matmul whose *_channel_scale vector is set in
// TfliteLstmParams requantizes per output row, else with its per-tensor multiplier.
struct SimTfliteLstm {
  TfliteLstmConfig config;
  torch::Device device = torch::kCPU;
  std::array<torch::Tensor, 4> w_x, w_h;         // [n_cell][n_input], [n_cell][n_output]
  std::array<torch::Tensor, 4> bias_x, bias_h;   // effective biases [n_cell]
  std::array<Requant, 4> m_x, m_h;
  std::array<torch::Tensor, 4> w_c;              // peephole [n_cell]
  std::array<QuantizedMultiplier, 4> m_c{};
  std::array<torch::Tensor, 4> ln_weight, ln_bias;  // [n_cell]: LN coefficients and the raw gate bias
  std::array<QuantizedMultiplier, 4> ln_scale{};
  std::array<int32_t, 4> variance_guard{};
  QuantizedMultiplier hidden_scale;
  torch::Tensor w_p, bias_p;  // [n_output][n_cell], [n_output]
  Requant m_p;
  int32_t cell_scale = 0;
  int32_t cell_clip = 0, proj_clip = 0;
  int32_t hidden_zp = 0, output_zp = 0;
  // Activations: fixed-point lookup tables (kFixedPoint) or PWL tables (kPwl).
  torch::Tensor sigmoid_table, tanh_gate_table, tanh_cell_table;
  PwlTensors pwl_sigmoid, pwl_tanh_gate, pwl_tanh_cell;
};

// Converts params (which should have passed ValidateTfliteLstmParams; the sizes, cell scale and
// the Q1 shape rule are re-checked here) to tensors on `device`.
SimTfliteLstm PrepareSimTfliteLstm(const TfliteLstmParams& params, const torch::Device& device);

struct SimLstmStep {
  torch::Tensor out;  // [B][n_output] int8-valued
  torch::Tensor h;    // [B][n_output] int8-valued (== out)
  torch::Tensor c;    // [B][n_cell] int16-valued
};

// Intermediate values of one step, [B][n_cell] each (as TfliteLstmTrace); the input gate's entries
// are undefined with CIFG, hidden is undefined without projection.
struct SimLstmTrace {
  std::array<torch::Tensor, 4> gate_preact;
  std::array<torch::Tensor, 4> gate;
  torch::Tensor tanh_cell;
  torch::Tensor hidden;  // the int8 pre-projection vector
};

// One step for B streams: x int8-valued [B][n_input], h int8-valued [B][n_output], c int16-valued
// [B][n_cell] (all on the model's device) -> (out, h', c'). trace may be null.
SimLstmStep SimTfliteLstmStep(const SimTfliteLstm& model, const torch::Tensor& x, const torch::Tensor& h,
                              const torch::Tensor& c, SimLstmTrace* trace = nullptr);
// Convenience: prepares params on x's device, then one step.
SimLstmStep SimTfliteLstmStep(const TfliteLstmParams& params, const torch::Tensor& x, const torch::Tensor& h,
                              const torch::Tensor& c);

struct SimLstmSequence {
  torch::Tensor out;  // [T][B][n_output]
  torch::Tensor h;    // [B][n_output] after the last step
  torch::Tensor c;    // [B][n_cell] after the last step
};
// T steps, time-major: x [T][B][n_input], initial h and c as in the step.
SimLstmSequence SimTfliteLstmSequence(const SimTfliteLstm& model, const torch::Tensor& x, const torch::Tensor& h0,
                                      const torch::Tensor& c0);
SimLstmSequence SimTfliteLstmSequence(const TfliteLstmParams& params, const torch::Tensor& x,
                                      const torch::Tensor& h0, const torch::Tensor& c0);
// The reset state of B streams: h = output zero point, c = 0.
std::pair<torch::Tensor, torch::Tensor> SimTfliteLstmInitialState(const SimTfliteLstm& model, int64_t batch);

// ---------------------------------------------------------------------------------------------------
// §7.2 Embedding: out[..., :] = table[token[...]] for an int8-valued table [vocab][dim] and integer
// tokens of any shape -> [..., dim] int64. Throws std::invalid_argument for a token outside [0, vocab).
torch::Tensor EmbeddingLookup(const torch::Tensor& table, const torch::Tensor& tokens);

// §7.3 Linear to int32 logits: logit[b][r] = MBQM(wrap32(eff_bias[r] + Σ_k w[r][k]·x[b][k]),
// (multiplier[r], shift[r])) with x int8-valued [B][K], w int8-valued [R][K], eff_bias int32-valued [R]
// (b[r] − Z_x·Σ_k w[r][k], folded by the caller), multiplier/shift [R] -> int32-valued [B][R].
torch::Tensor LinearToLogits(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& eff_bias,
                             const torch::Tensor& multiplier, const torch::Tensor& shift, Rounding rounding);

}  // namespace irnn::train::sim
