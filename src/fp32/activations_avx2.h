// The AVX2+FMA forms of the float baselines' activations (TanhF32 and SigmoidF32 of f32_common.h, 8 lanes,
// Horner steps as fused multiply-adds) and the lane mask of a partial block, shared by the LSTM
// (gemm_f32_avx2.cc) and GRU (gru_f32_avx2.cc) kernels. Include it only from files compiled with -mavx2
// -mfma (set per file in CMakeLists.txt); it is not part of the integer runtime and not a reference.
#pragma once

#include <immintrin.h>

#include "fp32/f32_common.h"

namespace irnn::fp32 {

inline __m256 TanhV(__m256 x) {
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-kTanhClamp)), _mm256_set1_ps(kTanhClamp));
  const __m256 x2 = _mm256_mul_ps(x, x);
  __m256 p = _mm256_set1_ps(kTanhAlpha[6]);
  for (int i = 5; i >= 0; --i) p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(kTanhAlpha[i]));
  p = _mm256_mul_ps(p, x);
  __m256 q = _mm256_set1_ps(kTanhBeta[3]);
  for (int i = 2; i >= 0; --i) q = _mm256_fmadd_ps(q, x2, _mm256_set1_ps(kTanhBeta[i]));
  return _mm256_div_ps(p, q);
}

inline __m256 SigmoidV(__m256 x) {
  const __m256 half = _mm256_set1_ps(0.5f);
  return _mm256_fmadd_ps(half, TanhV(_mm256_mul_ps(half, x)), half);
}

// Lane j is on (all ones) when j < n.
inline __m256i FirstLanes(int n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

}  // namespace irnn::fp32
