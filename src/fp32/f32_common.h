// What the kernels of the two float32 baselines (LstmF32, lstm_f32_kernels.h; GruF32, gru_f32_kernels.h)
// share: the block of 8 hidden units that is the unit of work of every path, the layer description every
// kernel reads, the packing of gate-major weights into blocks, and the scalar tanh and sigmoid (the AVX2
// forms are in activations_avx2.h). Not part of the integer runtime (library irnn_fp32, allowed floats).
#pragma once

#include <cstdint>

namespace irnn::fp32 {

inline constexpr int kBlockUnits = 8;

// The blocks of kBlockUnits hidden units that cover n_hidden units (the last may be partial).
inline int BlockCount(int n_hidden) { return (n_hidden + kBlockUnits - 1) / kBlockUnits; }

// The part of a layer's description that every cell's kernels read; sizes were validated by Create.
// Each cell's weights struct (LstmF32Weights, GruF32Weights) adds its biases.
struct F32Weights {
  int n_input = 0;
  int n_hidden = 0;
  int n_blocks = 0;                     // BlockCount(n_hidden)
  const float* w_ih = nullptr;          // [gates * H][n_input], PyTorch layout (scalar path)
  const float* w_hh = nullptr;          // [gates * H][H]
  const float* w_ih_packed = nullptr;   // [n_blocks][n_input][gates * 8] (AVX2 path), zero-padded
  const float* w_hh_packed = nullptr;   // [n_blocks][H][gates * 8]
  const float* bias_packed = nullptr;   // [n_blocks][gates * 8] (the cell's header says on which paths)
};

// Lays W [gates * H][k] (gate-major rows, PyTorch's layout) out as [n_blocks][k][gates * 8]: element
// [nb][kk][g * 8 + j] is W[g * H + nb * 8 + j][kk]. `out` has n_blocks * k * gates * 8 zeroed values;
// the padding units of the last block stay zero.
void PackGateBlocks(const float* w, int gates, int n_hidden, int k, float* out);

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
