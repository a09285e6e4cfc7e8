// The integer-only LSTM of TensorFlow Lite ("8x8_16", Li & Alvarez 2021), bit-exact with TFLite's
// reference kernels: int8 weights, inputs and outputs; int16 gates and cell state with a power-of-two
// cell scale; fixed-point sigmoid/tanh; optional integer LayerNorm, CIFG, peephole, projection (with or
// without bias), cell and projection clipping; batch >= 1; state owned by the caller.
//
// Two steps of use:
//   1. DeriveTfliteLstmParams: float scales and zero points (as a TFLite model stores them) -> the
//      integer parameters TFLite's Prepare computes. This is the only part that reads floats.
//   2. TfliteLstm::Create on those parameters, then Step / Run with a TfliteLstmState. Integer only.
//
// With tflite_compat = true (the default) the layer reproduces TFLite's quirks (numerics.md §5); with
// false it computes what the equations intend. Beyond TFLite, a matmul may requantize per output row
// (per-channel int8 weights, iRNN mode; numerics.md §7.1). Numerics: docs/numerics.md §4-§5, §7.1.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "irnn/kernel_path.h"
#include "irnn/pwl.h"
#include "irnn/quantization.h"
#include "irnn/status.h"

namespace irnn {

struct LstmKernels;  // src/kernels/lstm_kernels.h
struct PwlKernels;   // src/kernels/pwl_kernels.h

// How the gate and cell non-linearities are computed.
enum class LstmActivation : uint8_t {
  kFixedPoint = 0,  // gemmlowp fixed-point sigmoid/tanh, as TFLite (numerics.md §2)
  kPwl = 1,         // iRNN piecewise-linear tables carried by the params (numerics.md §6)
};

// Gate index order used by every per-gate array below.
enum LstmGate : int { kInputGate = 0, kForgetGate = 1, kCellGate = 2, kOutputGate = 3 };

struct TfliteLstmConfig {
  int32_t n_input = 0;   // features per input frame, >= 1
  int32_t n_cell = 0;    // cell units, >= 1
  int32_t n_output = 0;  // output (and recurrent) width: n_cell without projection
  bool use_cifg = false;        // coupled input-forget gate: i = 1 - f, no input-gate tensors
  bool use_peephole = false;    // diagonal cell->gate weights for the input, forget and output gates
  bool use_layer_norm = false;  // integer LayerNorm on each gate pre-activation
  bool use_projection = false;  // out = W_proj h (+ bias)
  bool use_projection_bias = false;
  Rounding rounding = Rounding::kDouble;  // MultiplyByQuantizedMultiplier variant
  bool tflite_compat = true;              // reproduce TFLite's quirks (numerics.md §5)
  LstmActivation activation = LstmActivation::kFixedPoint;
};

// Quantized tensors exactly as a TFLite model holds them (row-major). Absent tensors are empty.
struct TfliteLstmWeights {
  std::array<std::vector<int8_t>, 4> input_to_gate;      // [n_cell][n_input]; [kInputGate] empty with CIFG
  std::array<std::vector<int8_t>, 4> recurrent_to_gate;  // [n_cell][n_output]
  std::array<std::vector<int16_t>, 4> cell_to_gate;      // [n_cell] peephole; never for kCellGate
  std::array<std::vector<int32_t>, 4> gate_bias;         // [n_cell]
  std::array<std::vector<int16_t>, 4> layer_norm;        // [n_cell] LN coefficients
  std::vector<int8_t> projection;                        // [n_output][n_cell]
  std::vector<int32_t> projection_bias;                  // [n_output]
};

// Float quantization parameters (scale, zero point) of a TFLite LSTM, the inputs of TFLite's Prepare.
struct TensorQuantization {
  float scale = 0.0f;
  int32_t zero_point = 0;
};

struct TfliteLstmQuantization {
  TensorQuantization input;   // x, int8 asymmetric
  TensorQuantization output;  // output and output_state (h), int8 asymmetric
  float cell_scale = 0.0f;    // int16 cell state; must be 2^cs with cs in [-15, -9]
  std::array<TensorQuantization, 4> input_to_gate;      // symmetric: zero points must be 0
  std::array<TensorQuantization, 4> recurrent_to_gate;
  std::array<TensorQuantization, 4> cell_to_gate;       // only with peephole
  std::array<TensorQuantization, 4> layer_norm;         // only with LayerNorm
  TensorQuantization projection;                         // only with projection
  std::array<TensorQuantization, 5> intermediates;      // 0-3 gate pre-activations (LN), 4 hidden
  float cell_clip = 0.0f;  // 0 = no clipping
  float proj_clip = 0.0f;
};

// Everything the integer step reads. Field names follow TFLite's IntegerLstmParameter.
struct TfliteLstmParams {
  TfliteLstmConfig config;
  TfliteLstmWeights weights;
  std::array<QuantizedMultiplier, 4> input_to_gate_scale;
  std::array<QuantizedMultiplier, 4> recurrent_to_gate_scale;
  std::array<QuantizedMultiplier, 4> cell_to_gate_scale;  // peephole; [kCellGate] unused
  std::array<QuantizedMultiplier, 4> layer_norm_scale;
  QuantizedMultiplier hidden_scale;
  QuantizedMultiplier projection_scale;
  // Per-channel requantization (iRNN mode, per-row int8 weight scales; numerics.md §7.1). Each vector is
  // empty (that matmul uses the per-tensor multiplier above) or holds one multiplier per output row:
  // n_cell for a gate, n_output for the projection. When one is set, the per-tensor multiplier of the
  // same matmul is unused (not validated, not stored in a model file). A CIFG input gate has none.
  std::array<std::vector<QuantizedMultiplier>, 4> input_to_gate_channel_scale;      // [n_cell] or empty
  std::array<std::vector<QuantizedMultiplier>, 4> recurrent_to_gate_channel_scale;  // [n_cell] or empty
  std::vector<QuantizedMultiplier> projection_channel_scale;                         // [n_output] or empty
  std::array<int32_t, 4> variance_guard{};                       // LN: used when the variance is < 1
  std::array<std::vector<int32_t>, 4> input_to_gate_effective_bias;      // [n_cell]
  std::array<std::vector<int32_t>, 4> recurrent_to_gate_effective_bias;  // [n_cell]
  std::vector<int32_t> projection_effective_bias;                        // [n_output]
  int32_t cell_scale = 0;            // cs: cell value = raw * 2^cs, cs in [-15, -9]
  int16_t quantized_cell_clip = 0;   // 0 = off, else > 0
  int8_t quantized_proj_clip = 0;    // 0 = off, else > 0
  int32_t hidden_zp = 0;             // zero point of the hidden (o * tanh c) int8 vector
  int32_t output_zp = 0;             // zero point of output and h
  // With LstmActivation::kPwl: Q3.12 -> Q0.15 sigmoid (gates i, f, o), Q3.12 -> Q0.15 tanh (cell
  // candidate), Q(15+cell_scale) -> Q0.15 tanh (of the cell). Empty otherwise.
  PwlTable pwl_sigmoid;
  PwlTable pwl_tanh_gate;
  PwlTable pwl_tanh_cell;
};

// Computes the integer parameters from quantized tensors and float scales, as TFLite's Prepare does
// (numerics.md §5.2). Validates the inputs; errors name the offending field.
Status DeriveTfliteLstmParams(const TfliteLstmConfig& config, const TfliteLstmWeights& weights,
                              const TfliteLstmQuantization& quantization, TfliteLstmParams* params);

// Fits the three PWL tables of an LSTM with activation kPwl (numerics.md §6) for params->cell_scale:
// greedy or optimal, within max_error_lsb output LSBs (Q0.15). Tanh tables are odd-symmetric.
// DeriveTfliteLstmParams calls it with (optimal, 1 LSB) when config.activation is kPwl.
Status FitTfliteLstmPwlTables(bool optimal, double max_error_lsb, TfliteLstmParams* params);

// Checks every size, flag and integer parameter; Create calls it.
Status ValidateTfliteLstmParams(const TfliteLstmParams& params);

// Per-step intermediate values for debugging and tests, [batch * n_cell] each (hidden: with projection).
struct TfliteLstmTrace {
  std::array<std::vector<int16_t>, 4> gate_preact;
  std::array<std::vector<int16_t>, 4> gate;
  std::vector<int16_t> tanh_cell;
  std::vector<int8_t> hidden;
};

class TfliteLstm;

// Recurrent state of one (batched) stream plus its scratch buffers. Owned by the caller; one state per
// concurrent stream, so one TfliteLstm can serve several threads.
class TfliteLstmState {
 public:
  int batch() const { return batch_; }
  std::vector<int8_t>& h() { return h_; }    // [batch][n_output], output-quantized
  std::vector<int16_t>& c() { return c_; }   // [batch][n_cell], scale 2^cell_scale
  const std::vector<int8_t>& h() const { return h_; }
  const std::vector<int16_t>& c() const { return c_; }

 private:
  friend class TfliteLstm;
  int batch_ = 0;
  std::vector<int8_t> h_;
  std::vector<int16_t> c_;
  std::array<std::vector<int16_t>, 4> gates_;
  std::vector<int32_t> acc_;       // [batch * max(n_cell, n_output)]
  std::vector<int32_t> acc2_;      // second int32 accumulator (non-compat mode)
  std::vector<int16_t> tanh_cell_;
  std::vector<int8_t> hidden_;
  std::array<std::vector<int32_t>, 4> recurrent_;  // [batch * n_cell] per gate: recurrent matmul results
  std::vector<int32_t> sequence_input_;  // Run's workspace: input-to-gate results of a chunk of steps
  std::vector<int8_t> sequence_x_;       // Run's copy of a chunk's inputs at a 64-byte boundary
  uint32_t stream_steps_ = 0;  // streaming or recurrent steps so far (fused or composed): their parity sets the walk direction
};

struct PackedS8;          // src/kernels/lstm_kernels.h
class SpinPool;           // src/core/spin_pool.h
struct TfliteLstmPacked;  // the layer's matrices laid out for its kernel path (tflite_lstm.cc)

class TfliteLstm {
 public:
  // Validates params and picks the kernel path (kAuto honours IRNN_PATH).
  static Status Create(TfliteLstmParams params, KernelPath path, std::unique_ptr<TfliteLstm>* out);
  // The same with `threads` in [1, 64] threads (the caller's and threads - 1 workers) splitting the
  // rows of every matmul large enough to gain from it. The results do not depend on the thread count.
  // A layer with threads > 1 runs one Step or Run at a time: calls from several threads must not
  // overlap (with threads == 1, any number of threads may share the layer, each with its own state).
  static Status Create(TfliteLstmParams params, KernelPath path, int threads, std::unique_ptr<TfliteLstm>* out);
  int threads() const;

  const TfliteLstmParams& params() const { return params_; }
  KernelPath path() const { return path_; }

  // A state for `batch` streams, reset: h = output zero point, c = 0. batch in [1, 65536].
  Status NewState(int batch, TfliteLstmState* state) const;
  // Resets h to the output zero point and c to 0.
  Status ResetState(TfliteLstmState* state) const;
  // Ok when `state` was made by NewState of a layer of this shape and mode (every buffer's size fits).
  Status CheckState(const TfliteLstmState& state) const;

  // One time step: x [batch][n_input] -> out [batch][n_output]; state updated. trace may be null.
  // On the avx512vnni and amx paths, a layer without peephole, LayerNorm, PWL activations and
  // per-channel scales runs Step with fewer than 16 rows as one fused pass over its input and recurrent
  // weights, which Create lays out a second time for it (about 4 n_cell (n_input + n_output) more bytes).
  Status Step(const int8_t* x, TfliteLstmState* state, int8_t* out, TfliteLstmTrace* trace = nullptr) const;
  // `steps` time steps, time-major: x [steps][batch][n_input] -> out [steps][batch][n_output]. The same
  // results as `steps` calls of Step, bit for bit; faster, because the input-to-gate matmuls of a chunk
  // of steps run as one matrix-matrix product (each weight load serves several input rows) and only
  // the recurrent part stays step by step.
  Status Run(const int8_t* x, int steps, TfliteLstmState* state, int8_t* out) const;

 private:
  TfliteLstm() = default;
  // input_part: null, or per gate the input-to-gate matmul's result for this step, computed by Run.
  void StepUnchecked(const int8_t* x, const int32_t* const* input_part, TfliteLstmState* state, int8_t* out,
                     TfliteLstmTrace* trace) const;
  // Rows [row_begin, row_end) of one requantized matmul of a packed matrix.
  void Matmul(const PackedS8& w, int row_begin, int row_end, const int32_t* bias, const int8_t* x, int batch,
              QuantizedMultiplier m, const std::vector<QuantizedMultiplier>& channel, int32_t* out) const;
  // fn(row_begin, row_end) over [0, rows), split between the threads at multiples of 16 when `macs`
  // (the work) and the rows per thread are large enough (src/layers/row_split.h), else one call.
  void ForRowRanges(int rows, int64_t macs, const std::function<void(int, int)>& fn) const;
  void ComputeGate(int gate, const int32_t* input_part, TfliteLstmState* s) const;
  void Sigmoid(int16_t* v, int n) const;
  void TanhGate(int16_t* v, int n) const;
  void TanhCell(const int16_t* c, int n, int16_t* out) const;
  // out = the clipped projection of the state's hidden vector.
  void Project(TfliteLstmState* s, int8_t* out) const;

  TfliteLstmParams params_;
  KernelPath path_ = KernelPath::kScalar;
  const LstmKernels* kernels_ = nullptr;
  const PwlKernels* pwl_kernels_ = nullptr;
  std::shared_ptr<const TfliteLstmPacked> packed_;
  std::shared_ptr<SpinPool> pool_;  // null with one thread
};

}  // namespace irnn
