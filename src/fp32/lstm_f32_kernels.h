// The kernels of the float32 LSTM baseline (include/irnn/lstm_f32.h), one table per code path: the
// scalar reference (lstm_f32.cc) and AVX2+FMA (gemm_f32_avx2.cc). Not part of the integer runtime.
//
// Work is cut into blocks of 8 hidden units; a block owns the 4 gates of its 8 units, so a thread that
// owns a range of blocks computes their gates, cell and hidden values without waiting for others.
// The gate pre-activations of one frame are stored blocked: xproj[nb*32 + g*8 + j] is gate g
// (i, f, g, o) of unit nb*8 + j, padded to n_blocks * 32 values per frame.
#pragma once

#include <cstdint>

namespace irnn::fp32 {

inline constexpr int kBlockUnits = 8;
inline constexpr int kBlockValues = 4 * kBlockUnits;  // 32 gate values per block and frame

// Everything a kernel reads about the layer. Sizes were validated by LstmF32::Create.
struct LstmF32Weights {
  int n_input = 0;
  int n_hidden = 0;
  int n_blocks = 0;                     // ceil(n_hidden / 8)
  const float* w_ih = nullptr;          // [4H][n_input], PyTorch layout (scalar path)
  const float* w_hh = nullptr;          // [4H][H]
  const float* bias = nullptr;          // [4H]
  const float* w_ih_packed = nullptr;   // [n_blocks][n_input][32] (AVX2 path), zero-padded
  const float* w_hh_packed = nullptr;   // [n_blocks][H][32]
  const float* bias_packed = nullptr;   // [n_blocks][32]
};

struct LstmF32Kernels {
  // Input projection of `rows` frames for blocks [nb0, nb1):
  //   xproj[r][nb*32 + g*8 + j] = b[g*H + u] + sum_k W_ih[g*H + u][k] * x[r][k],  u = nb*8 + j < H
  // x is [rows][n_input]; xproj rows hold n_blocks * 32 values.
  void (*Project)(const LstmF32Weights& w, const float* x, int rows, int nb0, int nb1, float* xproj);
  // One recurrent step of `batch` streams for blocks [nb0, nb1):
  //   a = xproj[b] + W_hh h_prev[b];  i, f, o = sigmoid(a_i, a_f, a_o);  g = tanh(a_g)
  //   c[b][u] = f * c[b][u] + i * g;  h_new[b][u] = o * tanh(c[b][u])
  // h_prev and h_new are [batch][H] and must not overlap; c is [batch][H].
  void (*Recur)(const LstmF32Weights& w, const float* xproj, const float* h_prev, int batch, int nb0, int nb1,
                float* c, float* h_new);
};

const LstmF32Kernels& ScalarLstmF32Kernels();
// Null when this build has no AVX2 code (not x86-64).
const LstmF32Kernels* Avx2LstmF32Kernels();
// Lays W [4H][k] out as [n_blocks][k][32] (AVX2 path); `out` has n_blocks * k * 32 zeroed values.
void PackGateBlocks(const float* w, int n_hidden, int k, float* out);

// tanh(x) as the ratio of an odd polynomial of degree 13 and an even one of degree 6 on x clamped to
// [-kTanhClamp, kTanhClamp] (the rational form of Eigen's fast float tanh); max error under 4e-7 on all
// floats (most of it from the clamp: tanh(7.9053) = 1 - 2.7e-7). sigmoid(x) = 0.5 + 0.5 * tanh(x / 2). Every path evaluates these same formulas, in this order
// (the AVX2 path with fused multiply-adds).
inline constexpr float kTanhClamp = 7.90531110763549805f;
inline constexpr float kTanhAlpha[7] = {4.89352455891786e-03f,  6.37261928875436e-04f, 1.48572235717979e-05f,
                                        5.12229709037114e-08f,  -8.60467152213735e-11f, 2.00018790482477e-13f,
                                        -2.76076847742355e-16f};  // x^1, x^3, ..., x^13
inline constexpr float kTanhBeta[4] = {4.89352518554385e-03f, 2.26843463243900e-03f, 1.18534705686654e-04f,
                                       1.19825839466702e-06f};  // x^0, x^2, x^4, x^6

inline float TanhF32(float x) {
  x = x < -kTanhClamp ? -kTanhClamp : (x > kTanhClamp ? kTanhClamp : x);
  const float x2 = x * x;
  float p = kTanhAlpha[6];
  for (int i = 5; i >= 0; --i) p = p * x2 + kTanhAlpha[i];
  p = p * x;
  float q = kTanhBeta[3];
  for (int i = 2; i >= 0; --i) q = q * x2 + kTanhBeta[i];
  return p / q;
}

inline float SigmoidF32(float x) { return 0.5f + 0.5f * TanhF32(0.5f * x); }

}  // namespace irnn::fp32
