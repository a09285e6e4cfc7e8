// The integer Mogrifier LSTM (Melis, Kočiský, Blunsom 2020; the WikiText-2 model of the journal iRNN
// paper): before each LSTM step the input x and the previous output h gate each other for r rounds,
// x ← 2σ(Q^i h) ⊙ x for odd i and h ← 2σ(R^i x) ⊙ h for even i, then the step of a TfliteLstm (any of
// its modes; iRNN mode = per-channel int8 weights and PWL activations) runs on the modified x and h.
// Integer only (numerics.md §10.3): each round is an int8 matmul requantized per row to a Q3.12
// pre-activation, a PWL sigmoid to Q0.15, and an elementwise product that keeps x (h) on its own int8
// grid. DeriveMogrifierLstmParams (mogrifier_derive.cc) is the only part that reads floats.
//
// What it is not: a new cell. The state is the LSTM's (h, c); the mogrified h is used by the current
// step only, and the new h is the LSTM's output. Run is Step repeated (the input matmuls cannot be
// batched over time: every frame's x is modified by the previous h).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "irnn/kernel_path.h"
#include "irnn/pwl.h"
#include "irnn/quantization.h"
#include "irnn/status.h"
#include "irnn/tflite_lstm.h"

namespace irnn {

struct ElementwiseKernels;  // src/kernels/elementwise_kernels.h
struct MogrifierPacked;     // the rounds' matrices laid out for the kernel path (mogrifier_lstm.cc)

inline constexpr int kMaxMogrifierRounds = 16;

// Round i (1-based) of §10.3. Odd i updates x from h: weight Q^i [n_input][n_output]; even i updates
// h from x: weight R^i [n_output][n_input]. `rows` below is n_input (odd) or n_output (even).
struct MogrifierRound {
  std::vector<int8_t> weight;              // [rows][cols], symmetric per row
  std::vector<int32_t> effective_bias;     // [rows]: b[r] − zp_in·Σ_k W[r][k], zp_in of the vector read
  std::vector<QuantizedMultiplier> scale;  // [rows]: S_W[r]·S_in·2^12 (to a Q3.12 pre-activation)
};

struct MogrifierLstmParams {
  TfliteLstmParams lstm;  // the cell; its config.rounding also rounds the rounds' requantization
  int32_t input_zp = 0;   // zero point of x, in [-128, 127] (h's is lstm.output_zp)
  std::vector<MogrifierRound> rounds;  // r = rounds.size() in [1, kMaxMogrifierRounds]
  PwlTable sigmoid;  // Q3.12 -> Q0.15, outputs within [0, 32767] (σ; the 2 is the Q0.14 read of §10.3)
};

// The LSTM valid, input_zp in int8, every round's sizes, multipliers and the sigmoid table.
Status ValidateMogrifierLstmParams(const MogrifierLstmParams& params);

// Float side (mogrifier_derive.cc): per-row weight scales and the input/output scales of the LSTM ->
// the rounds' multipliers and effective biases; biases (int32 at scale S_W[r]·S_in) may be empty. The
// sigmoid table is lstm.pwl_sigmoid when the LSTM has PWL activations, else fitted (optimal, 1 LSB).
struct MogrifierRoundFloat {
  std::vector<int8_t> weight;       // [rows][cols]
  std::vector<int32_t> bias;        // [rows] or empty
  std::vector<float> weight_scale;  // [rows], > 0
};
Status DeriveMogrifierLstmParams(const TfliteLstmParams& lstm, float input_scale, int32_t input_zp,
                                 float output_scale, const std::vector<MogrifierRoundFloat>& rounds,
                                 MogrifierLstmParams* params);

class MogrifierLstm;

class MogrifierLstmState {
 public:
  int batch() const { return lstm_.batch(); }
  std::vector<int8_t>& h() { return lstm_.h(); }   // [batch][n_output]
  std::vector<int16_t>& c() { return lstm_.c(); }  // [batch][n_cell]
  const std::vector<int8_t>& h() const { return lstm_.h(); }
  const std::vector<int16_t>& c() const { return lstm_.c(); }

 private:
  friend class MogrifierLstm;
  TfliteLstmState lstm_;
  std::vector<int8_t> x_;      // the mogrified input [batch][n_input]
  std::vector<int32_t> acc_;   // [batch][max(n_input, n_output)]
  std::vector<int16_t> gate_;  // [batch][max(n_input, n_output)]
};

class MogrifierLstm {
 public:
  static Status Create(MogrifierLstmParams params, KernelPath path, std::unique_ptr<MogrifierLstm>* out);
  const MogrifierLstmParams& params() const { return params_; }

  Status NewState(int batch, MogrifierLstmState* state) const;  // reset: h = output zp, c = 0
  Status ResetState(MogrifierLstmState* state) const;

  // One step: x [batch][n_input] -> out [batch][n_output]; state updated.
  Status Step(const int8_t* x, MogrifierLstmState* state, int8_t* out) const;
  // `steps` Steps, time-major: x [steps][batch][n_input] -> out [steps][batch][n_output].
  Status Run(const int8_t* x, int steps, MogrifierLstmState* state, int8_t* out) const;
  // The rounds alone on x [batch][n_input] and h [batch][n_output], in place (for tests and tracing).
  Status Mogrify(int8_t* x, int8_t* h, MogrifierLstmState* state) const;

 private:
  MogrifierLstm() = default;
  void MogrifyUnchecked(int8_t* x, int8_t* h, MogrifierLstmState* s) const;
  MogrifierLstmParams params_;
  std::unique_ptr<TfliteLstm> lstm_;
  KernelPath path_ = KernelPath::kScalar;
  const LstmKernels* lstm_kernels_ = nullptr;
  const PwlKernels* pwl_kernels_ = nullptr;
  const ElementwiseKernels* elementwise_ = nullptr;
  std::shared_ptr<const MogrifierPacked> packed_;
};

}  // namespace irnn
