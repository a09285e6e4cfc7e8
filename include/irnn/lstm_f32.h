// A float32 LSTM layer: the in-house speed baseline that the integer LSTM is measured against in
// `irnn bench`. It has the structure of the integer layer (one layer, state owned by the caller,
// Run over a sequence or Step one frame, batch >= 1) and computes the standard LSTM in float, with
// PyTorch's gate order and conventions:
//
//   i = sigmoid(W_i x + U_i h + b_i)      f = sigmoid(W_f x + U_f h + b_f)
//   g = tanh   (W_g x + U_g h + b_g)      o = sigmoid(W_o x + U_o h + b_o)
//   c' = f * c + i * g                    h' = o * tanh(c')
//
// It is not part of the integer runtime (it lives in the separate library irnn_fp32, outside the
// objects that the no-float test scans) and it is not bit-exact with anything: sigmoid and tanh are a
// rational approximation (max error under 4e-7 absolute, the same function on every kernel path), and
// the AVX2 path sums in another order, with fused multiply-adds, than the scalar path.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "irnn/kernel_path.h"
#include "irnn/status.h"

namespace irnn {

inline constexpr int32_t kMaxLstmF32Dim = 1 << 16;          // n_input, n_hidden
inline constexpr int kMaxLstmF32Batch = 1 << 16;            // streams per state
inline constexpr int kMaxLstmF32Threads = 64;
inline constexpr int64_t kMaxLstmF32Elements = (int64_t{1} << 31) - 1;  // per weight matrix or buffer

// Weights in PyTorch's nn.LSTM layout, gate blocks in the order i, f, g, o (rows [k*H, (k+1)*H) are
// gate k). Row-major.
struct LstmF32Params {
  int32_t n_input = 0;   // features per input frame, in [1, kMaxLstmF32Dim]
  int32_t n_hidden = 0;  // hidden = cell = output width H, in [1, kMaxLstmF32Dim]
  std::vector<float> w_ih;  // [4H][n_input]  (weight_ih_l0)
  std::vector<float> w_hh;  // [4H][H]        (weight_hh_l0)
  std::vector<float> bias;  // [4H]           (bias_ih_l0 + bias_hh_l0)
};

// Checks sizes; errors name the field ("LstmF32Params: w_ih has 6 values but must have 4 * 1 * 2 = 8").
Status ValidateLstmF32Params(const LstmF32Params& params);

class LstmF32;

// The recurrent state (h, c) of `batch` streams and the layer's scratch for them. Owned by the caller;
// one state per concurrent stream.
class LstmF32State {
 public:
  int batch() const { return batch_; }
  std::vector<float>& h() { return h_; }  // [batch][H]
  std::vector<float>& c() { return c_; }  // [batch][H]
  const std::vector<float>& h() const { return h_; }
  const std::vector<float>& c() const { return c_; }

 private:
  friend class LstmF32;
  int batch_ = 0;
  int n_hidden_ = 0;
  std::vector<float> h_;
  std::vector<float> c_;
  // Gate pre-activations W x + b of every frame of a Run, in the kernels' blocked layout; grows to the
  // longest sequence seen (the only allocation Run may make).
  std::vector<float> xproj_;
};

class SpinPool;  // src/core/spin_pool.h

class LstmF32 {
 public:
  // Validates params, picks the kernel path (kAuto honours IRNN_PATH; the AVX2 path also needs FMA;
  // kAvxVnni, an int8 extension, runs the AVX2 path) and packs the weights for it. threads in [1, kMaxLstmF32Threads]: with more than one, Run and Step
  // split the hidden units over that many threads (the caller's and threads - 1 workers that wait for
  // work by spinning, then yielding, for about a millisecond, then sleeping).
  static Status Create(LstmF32Params params, KernelPath path, std::unique_ptr<LstmF32>* out, int threads = 1);
  ~LstmF32();

  const LstmF32Params& params() const { return params_; }
  KernelPath path() const { return path_; }
  int threads() const { return threads_; }

  // A state for `batch` streams (batch in [1, kMaxLstmF32Batch]), reset: h = 0, c = 0.
  Status NewState(int batch, LstmF32State* state) const;
  // h = 0, c = 0.
  Status ResetState(LstmF32State* state) const;

  // Sequence mode: `steps` frames, time-major, x [steps][batch][n_input] -> out [steps][batch][H];
  // the state advances by `steps`. The input projection W x + b of all steps * batch frames is one
  // matrix product; each step then computes only U h and the gates. steps = 0 does nothing. x and out
  // must not overlap. Calls on one layer with threads > 1 are serialized (the worker pool is shared).
  Status Run(const float* x, int steps, LstmF32State* state, float* out) const;
  // Streaming mode: one frame, x [batch][n_input] -> out [batch][H]. The same as Run with steps = 1.
  Status Step(const float* x, LstmF32State* state, float* out) const;

 private:
  LstmF32() = default;
  Status CheckState(const char* who, const LstmF32State* state) const;
  void RunRange(int thread, const float* x, int steps, LstmF32State* state, float* out) const;

  LstmF32Params params_;
  KernelPath path_ = KernelPath::kScalar;
  int threads_ = 1;
  int n_blocks_ = 0;  // ceil(H / 8): the hidden units in blocks of 8, the unit of work of every path
  // AVX2 path only: weights and bias in blocks of 8 hidden units x 4 gates, [n_blocks][K][32] and
  // [n_blocks][32], zero-padded, 64-byte aligned pointers into packed_storage_.
  std::vector<float> packed_storage_;
  const float* w_ih_packed_ = nullptr;
  const float* w_hh_packed_ = nullptr;
  const float* bias_packed_ = nullptr;
  std::unique_ptr<SpinPool> pool_;
  mutable std::mutex pool_mutex_;
};

}  // namespace irnn
