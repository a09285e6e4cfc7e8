// The integer-only GRU of irnn (issue 7): PyTorch's GRU formulation (gates r, z, n in that row order,
// "linear before reset": n = tanh(W_in x + b_in + r * (W_hn h + b_hn))) on int8 matmuls with int8
// weights per output row (iRNN), int16 Q3.12 gate pre-activations, PWL sigmoid/tanh to Q0.15, the
// state kept in int16 Q0.15 and its int8 copy on the output grid feeding the recurrent matmul. Batch
// >= 1; state owned by the caller; Run over a sequence equals that many Steps bit for bit.
// Numerics: docs/numerics.md §8 (and §1, §6, §7.1 for the primitives).
//
// Two steps of use, as for TfliteLstm:
//   1. DeriveGruParams (src/layers/gru_derive.cc, float): int8 weights, float biases and scales -> the
//      integer parameters (effective biases, multipliers, PWL tables). The only part that reads floats.
//   2. Gru::Create on those parameters, then Step / Run with a GruState. Integer only.
// Threads: Create's `threads` splits the output rows of the matmuls (the input projection of a sequence
// and every step's recurrent and input matmuls) and the gate arithmetic of those rows.
// Memory: on the SIMD paths Create evaluates the PWL sigmoid and tanh on all 65,536 int16 inputs into
// two int16 lookup tables, 128 KiB each (256 KiB per layer, shared by copies of the layer's packed
// weights), which the fused gate epilogue reads; the scalar path evaluates the PWL tables directly.
// Not here: bidirectional wrapping, stacking (see irnn/gru_lm.h for the GRU language model).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include "irnn/kernel_path.h"
#include "irnn/pwl.h"
#include "irnn/quantization.h"
#include "irnn/status.h"

namespace irnn {

struct LstmKernels;  // src/kernels/lstm_kernels.h
struct PackedS8;

// Gate index order of every per-gate array below (PyTorch's row order in weight_ih / weight_hh).
enum GruGate : int { kResetGate = 0, kUpdateGate = 1, kNewGate = 2 };

struct GruConfig {
  int32_t n_input = 0;   // features per input frame, in [1, 65536]
  int32_t n_hidden = 0;  // hidden units = output width, in [1, 65536]
  Rounding rounding = Rounding::kDouble;  // MultiplyByQuantizedMultiplier variant
};

// Everything the integer step reads (numerics.md §8).
struct GruParams {
  GruConfig config;
  std::array<std::vector<int8_t>, 3> input_weights;      // [n_hidden][n_input] per gate, row-major
  std::array<std::vector<int8_t>, 3> recurrent_weights;  // [n_hidden][n_hidden] per gate
  // Effective biases: the float bias in accumulator units minus zero point x row sum (§8.1).
  std::array<std::vector<int32_t>, 3> input_effective_bias;      // [n_hidden]
  std::array<std::vector<int32_t>, 3> recurrent_effective_bias;  // [n_hidden]
  // Per output row multipliers to Q3.12: S_W[g][r] * S_in / 2^-12 (§7.1, §8.1).
  std::array<std::vector<QuantizedMultiplier>, 3> input_scale;      // [n_hidden]
  std::array<std::vector<QuantizedMultiplier>, 3> recurrent_scale;  // [n_hidden]
  QuantizedMultiplier output_scale;  // Q0.15 state -> int8 output grid: 2^-15 / S_out (§8.3)
  int32_t output_zp = 0;             // zero point of the output (and of the int8 recurrent input)
  PwlTable pwl_sigmoid;              // Q3.12 -> Q0.15 in [0, 32767] (gates r, z)
  PwlTable pwl_tanh;                 // Q3.12 -> Q0.15 in [-32767, 32767] (candidate n)
};

// Checks every size, multiplier, zero point and table; Create calls it. Errors read
// "GruParams: <field> is <value> but must be <rule>".
Status ValidateGruParams(const GruParams& params);

// Float-side description of a GRU for DeriveGruParams (gru_derive.cc; not in the runtime objects).
struct GruQuantization {
  double input_scale = 0;   // S_x, int8 asymmetric input
  int32_t input_zp = 0;
  double output_scale = 0;  // S_out = S_h8, int8 asymmetric output (and recurrent input)
  int32_t output_zp = 0;
  std::array<std::vector<double>, 3> input_weight_scale;      // [n_hidden] per gate: S_Wx[g][r]
  std::array<std::vector<double>, 3> recurrent_weight_scale;  // [n_hidden] per gate: S_Wh[g][r]
  std::array<std::vector<double>, 3> input_bias;              // [n_hidden] float b_i* (empty: 0)
  std::array<std::vector<double>, 3> recurrent_bias;          // [n_hidden] float b_h* (empty: 0)
  double pwl_max_err = 1.0;  // PWL tolerance in Q0.15 LSBs
};

// Derives the integer parameters (effective biases, Q15 multipliers, PWL tables) from int8 weights
// (already in params->config / *_weights) and the float quantization. Floats: export time only.
Status DeriveGruParams(const GruQuantization& quantization, GruParams* params);

class Gru;

// Recurrent state of `batch` streams plus scratch. One per concurrent stream.
class GruState {
 public:
  int batch() const { return batch_; }
  std::vector<int16_t>& h16() { return h16_; }  // [batch][n_hidden], Q0.15
  std::vector<int8_t>& h8() { return h8_; }     // [batch][n_hidden], output grid (== the last output)
  const std::vector<int16_t>& h16() const { return h16_; }
  const std::vector<int8_t>& h8() const { return h8_; }

 private:
  friend class Gru;
  int batch_ = 0;
  std::vector<int16_t> h16_;
  std::vector<int8_t> h8_;
  std::array<std::vector<int32_t>, 3> recurrent_;  // [batch * n_hidden] per gate
  std::vector<int8_t> h8_next_;                    // [batch * n_hidden] the new h8 while threads read h8
  std::vector<int32_t> step_input_;                // Step's input parts, 3 * batch * n_hidden
  std::vector<int32_t> sequence_input_;            // Run's workspace for a chunk of steps
  std::vector<int8_t> sequence_x_;                 // Run's copy of a chunk's inputs at a 64-byte boundary
  uint32_t stream_steps_ = 0;  // fused streaming or sequence steps so far: their parity sets the walk direction
};

struct GruPacked;  // gru.cc
class SpinPool;    // src/core/spin_pool.h

class Gru {
 public:
  // Validates params and picks the kernel path (kAuto honours IRNN_PATH).
  static Status Create(GruParams params, KernelPath path, std::unique_ptr<Gru>* out);
  // The same with `threads` in [1, 64] threads (the caller's and threads - 1 workers) splitting the
  // output rows of every matmul large enough to gain from it (src/layers/row_split.h), as TfliteLstm
  // does. The results do not depend on the thread count. A layer with threads > 1 runs one Step or Run
  // at a time: calls from several threads must not overlap (with threads == 1, any number of threads
  // may share the layer, each with its own state).
  static Status Create(GruParams params, KernelPath path, int threads, std::unique_ptr<Gru>* out);
  int threads() const;

  const GruParams& params() const { return params_; }
  KernelPath path() const { return path_; }

  // A reset state for `batch` streams, batch in [1, 65536]: h16 = 0, h8 = output zero point.
  Status NewState(int batch, GruState* state) const;
  Status ResetState(GruState* state) const;
  Status CheckState(const GruState& state) const;

  // One step: x [batch][n_input] -> out [batch][n_hidden]; state updated (numerics.md §8).
  Status Step(const int8_t* x, GruState* state, int8_t* out) const;
  // `steps` steps, time-major: x [steps][batch][n_input] -> out [steps][batch][n_hidden]. Bit for bit
  // `steps` Steps; the input matmuls of a chunk of steps run as one matrix-matrix product.
  Status Run(const int8_t* x, int steps, GruState* state, int8_t* out) const;

 private:
  Gru() = default;
  void StepUnchecked(const int8_t* x, const int32_t* const* input_part, GruState* s, int8_t* out) const;

  GruParams params_;
  KernelPath path_ = KernelPath::kScalar;
  const LstmKernels* kernels_ = nullptr;
  std::shared_ptr<const GruPacked> packed_;
  std::shared_ptr<SpinPool> pool_;  // null with one thread
};

}  // namespace irnn
