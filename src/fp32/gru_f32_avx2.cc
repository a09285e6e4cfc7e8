// AVX2+FMA kernels of the float32 GRU baseline (table in gru_f32_kernels.h), built as the LSTM
// baseline's (gemm_f32_avx2.cc): the input projection as a matrix product over all frames of a
// sequence, and the recurrent step with the gate epilogue fused into it. Weights were packed by
// GruF32::Create into blocks of 8 hidden units x 3 gates ([n_blocks][K][24]), so one block's 24
// accumulators (3 ymm registers per frame) hold the r, z and W_hn h + b_hn values of 8 units: sigmoid,
// tanh and the state update run on them in registers. Tiles of 4 frames x 1 block, or for a single frame
// 1 x 4 blocks, keep 12 FMA chains in flight. Compiled with -mavx2 -mfma; runs only after GruF32::Create
// has checked the CPU. Not the reference: the scalar kernels in gru_f32.cc are.

#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "fp32/activations_avx2.h"
#include "fp32/gru_f32_kernels.h"

namespace irnn::fp32 {
namespace {

// acc[m][j][g] += sum_k a[m * lda + k] * wp[j * panel + k * 24 + g * 8 + (0..7)], k in [0, K): every
// output summed in k order with one fused multiply-add per term, whatever the tile (Run equals Step,
// and threads change nothing).
template <int MR, int NBR>
inline void GateTile(const float* a, size_t lda, int K, const float* wp, size_t panel, __m256 (&acc)[MR][NBR][3]) {
  for (int k = 0; k < K; ++k) {
    const float* wk = wp + static_cast<size_t>(k) * kGruBlockValues;
    for (int m = 0; m < MR; ++m) {
      const __m256 am = _mm256_broadcast_ss(a + m * lda + k);
      for (int j = 0; j < NBR; ++j) {
        for (int g = 0; g < 3; ++g) {
          acc[m][j][g] = _mm256_fmadd_ps(am, _mm256_loadu_ps(wk + j * panel + g * 8), acc[m][j][g]);
        }
      }
    }
  }
}

// Frames in groups of 4 (12 chains); the last group may have fewer.
template <typename Fn>
inline void ForFrameGroups(int n, Fn fn) {
  for (int r = 0; r < n; r += 4) fn(r, std::min(4, n - r));
}

template <int MR, int NBR>
inline void ProjectTile(const GruF32Weights& w, const float* x, int nb, float* out, size_t ostride) {
  const int I = w.n_input;
  const size_t panel = static_cast<size_t>(I) * kGruBlockValues;
  __m256 acc[MR][NBR][3];
  for (int m = 0; m < MR; ++m) {
    for (int j = 0; j < NBR; ++j) {
      for (int g = 0; g < 3; ++g) acc[m][j][g] = _mm256_loadu_ps(w.bias_packed + (nb + j) * kGruBlockValues + g * 8);
    }
  }
  GateTile<MR, NBR>(x, static_cast<size_t>(I), I, w.w_ih_packed + nb * panel, panel, acc);
  for (int m = 0; m < MR; ++m) {
    for (int j = 0; j < NBR; ++j) {
      for (int g = 0; g < 3; ++g) _mm256_storeu_ps(out + m * ostride + (nb + j) * kGruBlockValues + g * 8, acc[m][j][g]);
    }
  }
}

template <int NBR>
inline void ProjectOneFrame(const GruF32Weights& w, const float* x, int nb0, int nb1, float* xproj, size_t stride) {
  int nb = nb0;
  for (; nb + NBR <= nb1; nb += NBR) ProjectTile<1, NBR>(w, x, nb, xproj, stride);
  for (; nb < nb1; ++nb) ProjectTile<1, 1>(w, x, nb, xproj, stride);
}

void ProjectAvx2(const GruF32Weights& w, const float* x, int rows, int nb0, int nb1, float* xproj) {
  const int I = w.n_input;
  const size_t stride = static_cast<size_t>(w.n_blocks) * kGruBlockValues;
  if (rows == 1) return ProjectOneFrame<4>(w, x, nb0, nb1, xproj, stride);
  // Frames in chunks whose inputs (about 256 KiB) stay in L2 while every block's packed weights pass
  // over them.
  const int chunk = std::max(4, (65536 / std::max(I, 1)) / 4 * 4);
  for (int r0 = 0; r0 < rows; r0 += chunk) {
    const int n = std::min(rows - r0, chunk);
    for (int nb = nb0; nb < nb1; ++nb) {
      ForFrameGroups(n, [&](int r, int m) {
        const float* xr = x + static_cast<size_t>(r0 + r) * I;
        float* out = xproj + (r0 + r) * stride;
        if (m == 4) ProjectTile<4, 1>(w, xr, nb, out, stride);
        else if (m == 3) ProjectTile<3, 1>(w, xr, nb, out, stride);
        else if (m == 2) ProjectTile<2, 1>(w, xr, nb, out, stride);
        else ProjectTile<1, 1>(w, xr, nb, out, stride);
      });
    }
  }
}

// The recurrent step of MR streams x NBR blocks starting at block nb: gates and the new h.
template <int MR, int NBR>
inline void RecurTile(const GruF32Weights& w, const float* xproj, size_t xstride, const float* h_prev, int nb,
                      float* h_new) {
  const int H = w.n_hidden;
  const size_t panel = static_cast<size_t>(H) * kGruBlockValues;
  __m256 acc[MR][NBR][3];
  for (int m = 0; m < MR; ++m) {
    for (int j = 0; j < NBR; ++j) {
      const float* xp = xproj + m * xstride + (nb + j) * kGruBlockValues;
      acc[m][j][0] = _mm256_loadu_ps(xp);
      acc[m][j][1] = _mm256_loadu_ps(xp + 8);
      acc[m][j][2] = _mm256_loadu_ps(w.bias_hn_packed + (nb + j) * kBlockUnits);
    }
  }
  GateTile<MR, NBR>(h_prev, static_cast<size_t>(H), H, w.w_hh_packed + nb * panel, panel, acc);
  for (int j = 0; j < NBR; ++j) {
    const int u0 = (nb + j) * kBlockUnits;
    const int n = std::min(kBlockUnits, H - u0);  // units of this block (the last may have fewer than 8)
    const __m256i mask = FirstLanes(n);
    for (int m = 0; m < MR; ++m) {
      const __m256 r = SigmoidV(acc[m][j][0]), z = SigmoidV(acc[m][j][1]);
      const __m256 xn = _mm256_loadu_ps(xproj + m * xstride + (nb + j) * kGruBlockValues + 16);
      const __m256 cand = TanhV(_mm256_fmadd_ps(r, acc[m][j][2], xn));
      const float* hp = h_prev + static_cast<size_t>(m) * H + u0;
      float* hm = h_new + static_cast<size_t>(m) * H + u0;
      if (n == kBlockUnits) {
        _mm256_storeu_ps(hm, _mm256_fmadd_ps(z, _mm256_sub_ps(_mm256_loadu_ps(hp), cand), cand));
      } else {
        const __m256 h = _mm256_maskload_ps(hp, mask);
        _mm256_maskstore_ps(hm, mask, _mm256_fmadd_ps(z, _mm256_sub_ps(h, cand), cand));
      }
    }
  }
}

void RecurAvx2(const GruF32Weights& w, const float* xproj, const float* h_prev, int batch, int nb0, int nb1,
               float* h_new) {
  const int H = w.n_hidden;
  const size_t xstride = static_cast<size_t>(w.n_blocks) * kGruBlockValues;
  if (batch == 1) {  // a matrix-vector product: 4 blocks at a time
    int nb = nb0;
    for (; nb + 4 <= nb1; nb += 4) RecurTile<1, 4>(w, xproj, xstride, h_prev, nb, h_new);
    for (; nb < nb1; ++nb) RecurTile<1, 1>(w, xproj, xstride, h_prev, nb, h_new);
    return;
  }
  // Block-major: a block's recurrent weights (H * 96 bytes) come from memory once per step and are
  // reused from cache by every group of streams.
  for (int nb = nb0; nb < nb1; ++nb) {
    ForFrameGroups(batch, [&](int b, int m) {
      const float* xp = xproj + b * xstride;
      const float* hp = h_prev + static_cast<size_t>(b) * H;
      float* hb = h_new + static_cast<size_t>(b) * H;
      if (m == 4) RecurTile<4, 1>(w, xp, xstride, hp, nb, hb);
      else if (m == 3) RecurTile<3, 1>(w, xp, xstride, hp, nb, hb);
      else if (m == 2) RecurTile<2, 1>(w, xp, xstride, hp, nb, hb);
      else RecurTile<1, 1>(w, xp, xstride, hp, nb, hb);
    });
  }
}

const GruF32Kernels kAvx2Kernels = {ProjectAvx2, RecurAvx2};

}  // namespace

const GruF32Kernels* Avx2GruF32Kernels() { return &kAvx2Kernels; }

}  // namespace irnn::fp32
