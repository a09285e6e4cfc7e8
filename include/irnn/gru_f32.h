// A float32 GRU layer: the in-house speed baseline that the integer GRU (irnn/gru.h) is measured against
// in `irnn bench`. It has the structure of LstmF32 (irnn/lstm_f32.h) and of the integer layer (one
// layer, state owned by the caller, Run over a sequence or Step one frame, batch >= 1) and computes
// PyTorch's GRU in float, gate order r, z, n, "linear before reset" (as torch.nn.GRU, oneDNN's lbr_gru
// and ONNX GRU with linear_before_reset = 1):
//
//   r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)      z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
//   n = tanh(W_in x + b_in + r * (W_hn h + b_hn))   h' = n + z * (h - n)   (= (1 - z) * n + z * h)
//
// It is not part of the integer runtime (it lives in the library irnn_fp32, outside the objects that
// the no-float test scans) and it is not bit-exact with anything: sigmoid and tanh are LstmF32's
// rational approximation (src/fp32/f32_common.h), and the AVX2 path sums in another order, with fused
// multiply-adds, than the scalar path. The input projection of a whole sequence is one matrix product;
// each step then computes only the recurrent product and the gates.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "irnn/kernel_path.h"
#include "irnn/status.h"

namespace irnn {

inline constexpr int32_t kMaxGruF32Dim = 1 << 16;          // n_input, n_hidden
inline constexpr int kMaxGruF32Batch = 1 << 16;            // streams per state
inline constexpr int kMaxGruF32Threads = 64;
inline constexpr int64_t kMaxGruF32Elements = (int64_t{1} << 31) - 1;  // per weight matrix or buffer

// Weights in PyTorch's nn.GRU layout, gate blocks in the order r, z, n (rows [k*H, (k+1)*H) are gate k).
// Row-major. The two biases stay apart: b_hn is multiplied by r.
struct GruF32Params {
  int32_t n_input = 0;   // features per input frame, in [1, kMaxGruF32Dim]
  int32_t n_hidden = 0;  // hidden = output width H, in [1, kMaxGruF32Dim]
  std::vector<float> w_ih;  // [3H][n_input]  (weight_ih_l0)
  std::vector<float> w_hh;  // [3H][H]        (weight_hh_l0)
  std::vector<float> b_ih;  // [3H]           (bias_ih_l0)
  std::vector<float> b_hh;  // [3H]           (bias_hh_l0)
};

// Checks sizes; errors name the field ("GruF32Params: w_ih has 6 values but must have 3 * 1 * 3 = 9").
Status ValidateGruF32Params(const GruF32Params& params);

class GruF32;

// The recurrent state h of `batch` streams and the layer's scratch for them. Owned by the caller; one
// state per concurrent stream.
class GruF32State {
 public:
  int batch() const { return batch_; }
  std::vector<float>& h() { return h_; }  // [batch][H]
  const std::vector<float>& h() const { return h_; }

 private:
  friend class GruF32;
  int batch_ = 0;
  int n_hidden_ = 0;
  std::vector<float> h_;
  // Gate input parts of every frame of a Run, in the kernels' blocked layout; grows to the longest
  // sequence seen (the only allocation Run may make).
  std::vector<float> xproj_;
};

class SpinPool;  // src/core/spin_pool.h

class GruF32 {
 public:
  // As LstmF32::Create: validates params, picks the kernel path (kAuto honours IRNN_PATH; the AVX2 path
  // also needs FMA; the int8 extensions avxvnni, avx512vnni and amx run the AVX2 path), packs the weights
  // for it; threads in [1, kMaxGruF32Threads] split the hidden units.
  static Status Create(GruF32Params params, KernelPath path, std::unique_ptr<GruF32>* out, int threads = 1);
  ~GruF32();

  const GruF32Params& params() const { return params_; }
  KernelPath path() const { return path_; }
  int threads() const { return threads_; }

  // A state for `batch` streams (batch in [1, kMaxGruF32Batch]), reset: h = 0.
  Status NewState(int batch, GruF32State* state) const;
  // h = 0.
  Status ResetState(GruF32State* state) const;

  // Sequence mode: `steps` frames, time-major, x [steps][batch][n_input] -> out [steps][batch][H]; the
  // state advances by `steps`. steps = 0 does nothing. x and out must not overlap. Calls on one layer
  // with threads > 1 are serialized (the worker pool is shared).
  Status Run(const float* x, int steps, GruF32State* state, float* out) const;
  // Streaming mode: one frame, x [batch][n_input] -> out [batch][H]. The same as Run with steps = 1.
  Status Step(const float* x, GruF32State* state, float* out) const;

 private:
  GruF32() = default;
  Status CheckState(const char* who, const GruF32State* state) const;
  void RunRange(int thread, const float* x, int steps, GruF32State* state, float* out) const;

  GruF32Params params_;
  KernelPath path_ = KernelPath::kScalar;
  int threads_ = 1;
  int n_blocks_ = 0;  // ceil(H / 8): the hidden units in blocks of 8, the unit of work of every path
  // Both paths: the projection bias b_ih + (b_hh for r and z) in blocks [n_blocks][24] and b_hn in blocks
  // [n_blocks][8]; AVX2 path: weights in blocks of 8 hidden units x 3 gates, [n_blocks][K][24]. Zero-
  // padded, 32-byte aligned pointers into packed_storage_.
  std::vector<float> packed_storage_;
  const float* w_ih_packed_ = nullptr;
  const float* w_hh_packed_ = nullptr;
  const float* bias_packed_ = nullptr;
  const float* bias_hn_packed_ = nullptr;
  std::unique_ptr<SpinPool> pool_;
  mutable std::mutex pool_mutex_;
};

}  // namespace irnn
