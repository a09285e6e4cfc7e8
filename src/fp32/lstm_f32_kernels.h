// The kernels of the float32 LSTM baseline (include/irnn/lstm_f32.h), one table per code path: the
// scalar reference (lstm_f32.cc) and AVX2+FMA (gemm_f32_avx2.cc). Not part of the integer runtime.
//
// Work is cut into blocks of 8 hidden units; a block owns the 4 gates of its 8 units, so a thread that
// owns a range of blocks computes their gates, cell and hidden values without waiting for others.
// The gate pre-activations of one frame are stored blocked: xproj[nb*32 + g*8 + j] is gate g
// (i, f, g, o) of unit nb*8 + j, padded to n_blocks * 32 values per frame.
#pragma once

#include <cstdint>

#include "fp32/f32_common.h"  // kBlockUnits, F32Weights, PackGateBlocks, TanhF32, SigmoidF32

namespace irnn::fp32 {

inline constexpr int kBlockValues = 4 * kBlockUnits;  // 32 gate values per block and frame

// Everything a kernel reads about the layer (F32Weights with 4 gates: w_ih [4H][n_input], w_hh [4H][H],
// packed [n_blocks][K][32]; bias_packed [n_blocks][32] on the AVX2 path only). Sizes were validated by
// LstmF32::Create.
struct LstmF32Weights : F32Weights {
  const float* bias = nullptr;  // [4H] (scalar path)
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

}  // namespace irnn::fp32
