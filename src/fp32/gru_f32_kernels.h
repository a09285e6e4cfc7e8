// The kernels of the float32 GRU baseline (include/irnn/gru_f32.h), one table per code path: the scalar
// reference (gru_f32.cc) and AVX2+FMA (gru_f32_avx2.cc). Not part of the integer runtime.
//
// As for the LSTM baseline (lstm_f32_kernels.h), work is cut into blocks of 8 hidden units; a block owns
// the 3 gates of its 8 units. The gate input parts of one frame are stored blocked:
// xproj[nb*24 + g*8 + j] is gate g (r, z, n) of unit nb*8 + j, padded to n_blocks * 24 values per frame;
// it holds W_i x + b_i, plus b_h for r and z (b_hn is added to W_hn h before r multiplies it).
#pragma once

#include <cstdint>

#include "fp32/f32_common.h"  // kBlockUnits, F32Weights, PackGateBlocks, TanhF32, SigmoidF32

namespace irnn::fp32 {

inline constexpr int kGruBlockValues = 3 * kBlockUnits;  // 24 gate values per block and frame

// Everything a kernel reads about the layer (F32Weights with 3 gates: w_ih [3H][n_input], w_hh [3H][H],
// packed [n_blocks][K][24]; bias_packed [n_blocks][24] = b_ih + (b_hh for r, z) on both paths). Sizes
// were validated by GruF32::Create.
struct GruF32Weights : F32Weights {
  const float* bias_hn_packed = nullptr;  // [n_blocks][8]: b_hn, both paths
};

struct GruF32Kernels {
  // Input projection of `rows` frames for blocks [nb0, nb1):
  //   xproj[r][nb*24 + g*8 + j] = bias_packed[nb*24 + g*8 + j] + sum_k W_ih[g*H + u][k] * x[r][k]
  // for u = nb*8 + j < H. x is [rows][n_input]; xproj rows hold n_blocks * 24 values.
  void (*Project)(const GruF32Weights& w, const float* x, int rows, int nb0, int nb1, float* xproj);
  // One recurrent step of `batch` streams for blocks [nb0, nb1):
  //   r = sigmoid(xr + W_hr h), z = sigmoid(xz + W_hz h), n = tanh(xn + r * (b_hn + W_hn h))
  //   h_new[b][u] = n + z * (h_prev[b][u] - n)
  // h_prev and h_new are [batch][H] and must not overlap.
  void (*Recur)(const GruF32Weights& w, const float* xproj, const float* h_prev, int batch, int nb0, int nb1,
                float* h_new);
};

const GruF32Kernels& ScalarGruF32Kernels();
// Null when this build has no AVX2 code (not x86-64).
const GruF32Kernels* Avx2GruF32Kernels();

}  // namespace irnn::fp32
