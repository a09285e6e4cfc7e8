// Random integer attention parameters and inputs for the attention tests (layers, kernels, sim):
// either raw random integers with valid multipliers (every code path and saturation gets exercised) or
// derived from random float scales by DeriveAttentionParams (realistic ranges). Header-only test
// support, not part of the library.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "irnn/attention.h"

namespace irnn::testing {

inline QuantizedMultiplier RandomMultiplier(std::mt19937& rng, int shift_lo, int shift_hi) {
  std::uniform_int_distribution<int32_t> m((int32_t{1} << 30), 0x7FFFFFFF);
  std::uniform_int_distribution<int32_t> s(shift_lo, shift_hi);
  return {m(rng), s(rng)};
}

template <typename T>
std::vector<T> RandomInts(std::mt19937& rng, size_t n, int64_t lo, int64_t hi) {
  std::uniform_int_distribution<int64_t> d(lo, hi);
  std::vector<T> v(n);
  for (auto& x : v) x = static_cast<T>(d(rng));
  return v;
}

// Raw random parameters of the given shape. pwl_tanh: a PWL table for activation kPwl (the caller fits
// it, the tests share one).
inline AttentionParams RandomAttentionParams(std::mt19937& rng, AttentionMode mode, int n_key, int n_query, int n_attn,
                                             Rounding rounding) {
  AttentionParams p;
  p.config.mode = mode;
  p.config.n_key = n_key;
  p.config.n_query = n_query;
  p.config.n_attn = mode == AttentionMode::kAdditive ? n_attn : 0;
  p.config.rounding = rounding;
  const int rows = mode == AttentionMode::kAdditive ? n_attn : n_key;
  p.key_zp = static_cast<int32_t>(std::uniform_int_distribution<int>(-128, 127)(rng));
  p.query_zp = static_cast<int32_t>(std::uniform_int_distribution<int>(-128, 127)(rng));
  p.query_weights = RandomInts<int8_t>(rng, static_cast<size_t>(rows) * n_query, -127, 127);
  p.query_bias = RandomInts<int32_t>(rng, rows, -200000, 200000);
  if (mode == AttentionMode::kAdditive) {
    p.query_scale = RandomMultiplier(rng, -8, 2);
    p.key_weights = RandomInts<int8_t>(rng, static_cast<size_t>(n_attn) * n_key, -127, 127);
    p.key_bias = RandomInts<int32_t>(rng, n_attn, -200000, 200000);
    p.key_scale = RandomMultiplier(rng, -8, 2);
    p.score_weights = RandomInts<int8_t>(rng, n_attn, -127, 127);
    p.softmax_scale = RandomMultiplier(rng, -12, -2);
  } else {
    p.query_scale = RandomMultiplier(rng, -14, -4);
    p.softmax_scale = RandomMultiplier(rng, -4, 8);
  }
  return p;
}

}  // namespace irnn::testing
