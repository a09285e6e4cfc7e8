// AVX2+FMA kernels of the float32 LSTM baseline (table in lstm_f32_kernels.h): the input projection as
// a matrix product over all frames of a sequence, and the recurrent step with the gate epilogue fused
// into it. Weights were packed by LstmF32::Create into blocks of 8 hidden units x 4 gates
// ([n_blocks][K][32]), so one block's 32 accumulators (4 ymm registers per frame) hold the i, f, g and
// o pre-activations of 8 units: sigmoid, tanh, the cell and hidden updates run on them in registers.
// Tiles of 3 frames x 1 block (or 2 x 1, or for a single frame 1 x 3 blocks) keep 8 to 12 FMA chains
// in flight. Compiled with -mavx2 -mfma; runs only after LstmF32::Create has checked the CPU. Not the
// reference: the scalar kernels in lstm_f32.cc are.

#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "fp32/activations_avx2.h"
#include "fp32/lstm_f32_kernels.h"

namespace irnn::fp32 {
namespace {

// acc[m][j][g] += sum_k a[m * lda + k] * wp[j * panel + k * 32 + g * 8 + (0..7)], k in [0, K): MR frames
// times NBR blocks of 8 units x 4 gates, MR * NBR * 4 independent chains. Every output is summed in k
// order with one fused multiply-add per term, whatever the tile: a frame's results do not depend on
// how frames and blocks were grouped (so Run equals Step, and threads change nothing).
template <int MR, int NBR>
inline void GateTile(const float* a, size_t lda, int K, const float* wp, size_t panel, __m256 (&acc)[MR][NBR][4]) {
  for (int k = 0; k < K; ++k) {
    const float* wk = wp + static_cast<size_t>(k) * kBlockValues;
    for (int m = 0; m < MR; ++m) {
      const __m256 am = _mm256_broadcast_ss(a + m * lda + k);
      for (int j = 0; j < NBR; ++j) {
        for (int g = 0; g < 4; ++g) {
          acc[m][j][g] = _mm256_fmadd_ps(am, _mm256_load_ps(wk + j * panel + g * 8), acc[m][j][g]);
        }
      }
    }
  }
}

// Frames of a group are tiled 3 at a time (12 chains), the rest in 2s (8 chains): n = 4 is 2 + 2, not
// 3 + 1. A lone frame (n = 1) is tiled with 3 blocks instead (12 chains).
template <typename Fn>
inline void ForFrameGroups(int n, Fn fn) {
  int r = 0;
  const int threes = n % 3 == 1 && n >= 4 ? n / 3 - 1 : n / 3;
  for (int i = 0; i < threes; ++i, r += 3) fn(r, 3);
  while (r < n) {
    const int m = std::min(2, n - r);
    fn(r, m);
    r += m;
  }
}

// Projection of MR frames x NBR blocks starting at block nb: out rows (stride `ostride`).
template <int MR, int NBR>
inline void ProjectTile(const LstmF32Weights& w, const float* x, int nb, float* out, size_t ostride) {
  const int I = w.n_input;
  const size_t panel = static_cast<size_t>(I) * kBlockValues;
  __m256 acc[MR][NBR][4];
  for (int m = 0; m < MR; ++m) {
    for (int j = 0; j < NBR; ++j) {
      for (int g = 0; g < 4; ++g) acc[m][j][g] = _mm256_load_ps(w.bias_packed + (nb + j) * kBlockValues + g * 8);
    }
  }
  GateTile<MR, NBR>(x, static_cast<size_t>(I), I, w.w_ih_packed + nb * panel, panel, acc);
  for (int m = 0; m < MR; ++m) {
    for (int j = 0; j < NBR; ++j) {
      for (int g = 0; g < 4; ++g) _mm256_storeu_ps(out + m * ostride + (nb + j) * kBlockValues + g * 8, acc[m][j][g]);
    }
  }
}

void ProjectAvx2(const LstmF32Weights& w, const float* x, int rows, int nb0, int nb1, float* xproj) {
  const int I = w.n_input;
  const size_t stride = static_cast<size_t>(w.n_blocks) * kBlockValues;
  if (rows == 1) {  // one frame (Step with batch 1): 3 blocks at a time
    int nb = nb0;
    for (; nb + 3 <= nb1; nb += 3) ProjectTile<1, 3>(w, x, nb, xproj, stride);
    if (nb1 - nb == 2) ProjectTile<1, 2>(w, x, nb, xproj, stride);
    if (nb1 - nb == 1) ProjectTile<1, 1>(w, x, nb, xproj, stride);
    return;
  }
  // Frames in chunks whose inputs (chunk * I floats, about 256 KiB) stay in L2 while every block's
  // packed weights pass over them; a block's weights (I * 128 bytes) stay in L2 across the chunk.
  const int chunk = std::max(4, (65536 / std::max(I, 1)) / 3 * 3);
  for (int r0 = 0; r0 < rows; r0 += chunk) {
    const int n = std::min(rows - r0, chunk);
    for (int nb = nb0; nb < nb1; ++nb) {
      ForFrameGroups(n, [&](int r, int m) {
        const float* xr = x + static_cast<size_t>(r0 + r) * I;
        float* out = xproj + (r0 + r) * stride;
        if (m == 3) ProjectTile<3, 1>(w, xr, nb, out, stride);
        else if (m == 2) ProjectTile<2, 1>(w, xr, nb, out, stride);
        else ProjectTile<1, 1>(w, xr, nb, out, stride);
      });
    }
  }
}

// The recurrent step of MR streams x NBR blocks starting at block nb: gates, cell and hidden values.
template <int MR, int NBR>
inline void RecurTile(const LstmF32Weights& w, const float* xproj, size_t xstride, const float* h_prev, int nb,
                      float* c, float* h_new) {
  const int H = w.n_hidden;
  const size_t panel = static_cast<size_t>(H) * kBlockValues;
  __m256 acc[MR][NBR][4];
  for (int m = 0; m < MR; ++m) {
    for (int j = 0; j < NBR; ++j) {
      for (int g = 0; g < 4; ++g) acc[m][j][g] = _mm256_loadu_ps(xproj + m * xstride + (nb + j) * kBlockValues + g * 8);
    }
  }
  GateTile<MR, NBR>(h_prev, static_cast<size_t>(H), H, w.w_hh_packed + nb * panel, panel, acc);
  for (int j = 0; j < NBR; ++j) {
    const int u0 = (nb + j) * kBlockUnits;
    const int n = std::min(kBlockUnits, H - u0);  // units of this block (the last may have fewer than 8)
    const __m256i mask = FirstLanes(n);
    for (int m = 0; m < MR; ++m) {
      const __m256 i = SigmoidV(acc[m][j][0]), f = SigmoidV(acc[m][j][1]);
      const __m256 g = TanhV(acc[m][j][2]), o = SigmoidV(acc[m][j][3]);
      float* cm = c + static_cast<size_t>(m) * H + u0;
      float* hm = h_new + static_cast<size_t>(m) * H + u0;
      if (n == kBlockUnits) {
        const __m256 cell = _mm256_fmadd_ps(f, _mm256_loadu_ps(cm), _mm256_mul_ps(i, g));
        _mm256_storeu_ps(cm, cell);
        _mm256_storeu_ps(hm, _mm256_mul_ps(o, TanhV(cell)));
      } else {
        const __m256 cell = _mm256_fmadd_ps(f, _mm256_maskload_ps(cm, mask), _mm256_mul_ps(i, g));
        _mm256_maskstore_ps(cm, mask, cell);
        _mm256_maskstore_ps(hm, mask, _mm256_mul_ps(o, TanhV(cell)));
      }
    }
  }
}

void RecurAvx2(const LstmF32Weights& w, const float* xproj, const float* h_prev, int batch, int nb0, int nb1,
               float* c, float* h_new) {
  const int H = w.n_hidden;
  const size_t xstride = static_cast<size_t>(w.n_blocks) * kBlockValues;
  if (batch == 1) {  // a matrix-vector product: 3 blocks at a time
    int nb = nb0;
    for (; nb + 3 <= nb1; nb += 3) RecurTile<1, 3>(w, xproj, xstride, h_prev, nb, c, h_new);
    if (nb1 - nb == 2) RecurTile<1, 2>(w, xproj, xstride, h_prev, nb, c, h_new);
    if (nb1 - nb == 1) RecurTile<1, 1>(w, xproj, xstride, h_prev, nb, c, h_new);
    return;
  }
  // Block-major: a block's recurrent weights (H * 128 bytes) come from memory once per step and are
  // reused from cache by every group of streams.
  for (int nb = nb0; nb < nb1; ++nb) {
    ForFrameGroups(batch, [&](int b, int m) {
      const float* xp = xproj + b * xstride;
      const float* hp = h_prev + static_cast<size_t>(b) * H;
      float* cb = c + static_cast<size_t>(b) * H;
      float* hb = h_new + static_cast<size_t>(b) * H;
      if (m == 3) RecurTile<3, 1>(w, xp, xstride, hp, nb, cb, hb);
      else if (m == 2) RecurTile<2, 1>(w, xp, xstride, hp, nb, cb, hb);
      else RecurTile<1, 1>(w, xp, xstride, hp, nb, cb, hb);
    });
  }
}

const LstmF32Kernels kAvx2Kernels = {ProjectAvx2, RecurAvx2};

}  // namespace

const LstmF32Kernels* Avx2LstmF32Kernels() { return &kAvx2Kernels; }

}  // namespace irnn::fp32
