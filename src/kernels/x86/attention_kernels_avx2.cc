// AVX2 kernels of integer attention (kernels/attention_kernels.h; docs/numerics.md §9), bit-exact with
// the scalar reference (src/kernels/reference/attention_kernels.cc): the softmax's requantization,
// table exp, 64-bit sum and reciprocal normalisation on 8 lanes; the row dot products with pmaddwd; the
// context sum with 32-bit lanes. Remainders shorter than a vector go through the reference code of the
// same operation (identical by definition). Compiled with -mavx2 only for this folder; integer only.

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "core/fixed_point.h"
#include "kernels/attention_kernels.h"

namespace irnn::avx2 {
namespace {

inline __m256i Load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
inline void Store256(void* p, __m256i v) { _mm256_storeu_si256(static_cast<__m256i*>(p), v); }

// Joins the low 32 bits of the 64-bit lanes of `even` (elements 0, 2, 4, 6) and `odd` (1, 3, 5, 7);
// both hold values < 2^32 with zero upper halves.
inline __m256i Join64(__m256i even, __m256i odd) { return _mm256_or_si256(even, _mm256_slli_epi64(odd, 32)); }

// MBQM (numerics.md §1.3) of x <= 0 with a multiplier M >= 0, both rounding variants (see the notes in
// numerics.md §9.2 on why the negative-only forms below equal the general formulas).
struct NonPositiveRequant {
  bool single = false;
  __m256i multiplier;
  // Double rounding.
  int left = 0, right = 0;
  __m256i left_limit;  // INT32_MIN >> left: below it, x·2^left saturates
  __m256i right_half;  // (2^right − 1) >> 1
  __m256i right_mask;  // 2^right − 1
  // Single rounding.
  int total = 0;        // 31 − shift, in [1, 62]
  __m256i round_minus_one;  // 2^(total−1) − 1 in 64-bit lanes
};

NonPositiveRequant MakeRequant(QuantizedMultiplier m, Rounding rounding) {
  NonPositiveRequant q;
  q.single = rounding == Rounding::kSingle;
  q.multiplier = _mm256_set1_epi64x(static_cast<int64_t>(m.multiplier));
  q.left = m.shift > 0 ? m.shift : 0;
  q.right = m.shift > 0 ? 0 : -m.shift;
  q.left_limit = _mm256_set1_epi32(kInt32Min >> q.left);
  const int32_t mask = static_cast<int32_t>((uint32_t{1} << q.right) - 1u);
  q.right_mask = _mm256_set1_epi32(mask);
  q.right_half = _mm256_set1_epi32(mask >> 1);
  q.total = 31 - m.shift;
  q.round_minus_one = _mm256_set1_epi64x((int64_t{1} << (q.total - 1)) - 1);
  return q;
}

// |x|·M in 64-bit lanes (even elements, odd elements); |INT32_MIN| = 2^31 read as unsigned.
inline void AbsProducts(__m256i x, __m256i multiplier, __m256i* even, __m256i* odd) {
  const __m256i a = _mm256_sub_epi32(_mm256_setzero_si256(), x);
  *even = _mm256_mul_epu32(a, multiplier);
  *odd = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), multiplier);
}

inline __m256i RequantNonPositive(__m256i x, const NonPositiveRequant& q) {
  if (q.single) {
    // floor((x·M + 2^(t−1)) / 2^t) = −((|x|·M + 2^(t−1) − 1) >> t), then sat32.
    __m256i even, odd;
    AbsProducts(x, q.multiplier, &even, &odd);
    const __m128i t = _mm_cvtsi32_si128(q.total);
    const __m256i limit = _mm256_set1_epi64x(int64_t{1} << 31);
    even = _mm256_srl_epi64(_mm256_add_epi64(even, q.round_minus_one), t);
    odd = _mm256_srl_epi64(_mm256_add_epi64(odd, q.round_minus_one), t);
    even = _mm256_blendv_epi8(even, limit, _mm256_cmpgt_epi64(even, limit));
    odd = _mm256_blendv_epi8(odd, limit, _mm256_cmpgt_epi64(odd, limit));
    return _mm256_sub_epi32(_mm256_setzero_si256(), Join64(even, odd));
  }
  // Double rounding: sat32(x·2^left), SRDHM, RoundingDivideByPOT(right).
  const __m256i overflow = _mm256_cmpgt_epi32(q.left_limit, x);
  x = _mm256_blendv_epi8(_mm256_sll_epi32(x, _mm_cvtsi32_si128(q.left)), _mm256_set1_epi32(kInt32Min), overflow);
  // SRDHM of x <= 0 and M >= 0: trunc((x·M + 1 − 2^30) / 2^31) = −((|x|·M + 2^30 − 1) >> 31).
  __m256i even, odd;
  AbsProducts(x, q.multiplier, &even, &odd);
  const __m256i nudge = _mm256_set1_epi64x((int64_t{1} << 30) - 1);
  even = _mm256_srli_epi64(_mm256_add_epi64(even, nudge), 31);
  odd = _mm256_srli_epi64(_mm256_add_epi64(odd, nudge), 31);
  x = _mm256_sub_epi32(_mm256_setzero_si256(), Join64(even, odd));
  if (q.right == 0) return x;
  const __m256i rem = _mm256_and_si256(x, q.right_mask);
  const __m256i threshold = _mm256_add_epi32(q.right_half, _mm256_and_si256(_mm256_srai_epi32(x, 31), _mm256_set1_epi32(1)));
  return _mm256_sub_epi32(_mm256_sra_epi32(x, _mm_cvtsi32_si128(q.right)), _mm256_cmpgt_epi32(rem, threshold));
}

// Steps 2-6 of §9.2 on 8 scores: e in [0, 2^29].
inline __m256i ExpQ29(__m256i s, __m256i max, const NonPositiveRequant& q) {
  __m256i d = _mm256_sub_epi32(s, max);  // wraps only when the true difference is below −2^31
  d = _mm256_blendv_epi8(d, _mm256_set1_epi32(kInt32Min), _mm256_cmpgt_epi32(d, _mm256_setzero_si256()));
  const __m256i x = _mm256_min_epi32(RequantNonPositive(d, q), _mm256_setzero_si256());
  const __m256i ip = _mm256_srai_epi32(x, 16);
  const __m256i f = _mm256_and_si256(x, _mm256_set1_epi32(0xFFFF));
  const __m256i j = _mm256_srli_epi32(f, 8);
  const __m256i r = _mm256_and_si256(f, _mm256_set1_epi32(255));
  const __m256i lo = _mm256_i32gather_epi32(kSoftmaxExp2Table, j, 4);
  const __m256i hi = _mm256_i32gather_epi32(kSoftmaxExp2Table + 1, j, 4);
  const __m256i interp = _mm256_srai_epi32(
      _mm256_add_epi32(_mm256_mullo_epi32(_mm256_sub_epi32(hi, lo), r), _mm256_set1_epi32(128)), 8);
  const __m256i p = _mm256_add_epi32(lo, interp);
  const __m256i sh = _mm256_min_epi32(_mm256_sub_epi32(_mm256_setzero_si256(), ip), _mm256_set1_epi32(31));
  // RoundingDivideByPOT(p, sh) for p >= 0: (p + 2^(sh−1)) >> sh; p + 2^30 < 2^31.
  const __m256i half = _mm256_srli_epi32(_mm256_sllv_epi32(_mm256_set1_epi32(1), sh), 1);
  return _mm256_srlv_epi32(_mm256_add_epi32(p, half), sh);
}

// Step 9 on 8 values: min(32767, (e·R + 2^44) >> 45), e in [0, 2^30], R in [2^19, 2^31].
inline __m256i Normalise(__m256i e, __m256i recip) {
  const __m256i round = _mm256_set1_epi64x(int64_t{1} << 44);
  const __m256i even = _mm256_srli_epi64(_mm256_add_epi64(_mm256_mul_epu32(e, recip), round), 45);
  const __m256i odd = _mm256_srli_epi64(_mm256_add_epi64(_mm256_mul_epu32(_mm256_srli_epi64(e, 32), recip), round), 45);
  return _mm256_min_epi32(Join64(even, odd), _mm256_set1_epi32(32767));
}

inline void StoreS32AsS16(int16_t* dst, __m256i v, int count) {
  const __m256i packed = _mm256_permute4x64_epi64(_mm256_packs_epi32(v, v), 0x08);  // lanes 0, 2 -> low 128
  alignas(32) int16_t tmp[16];
  _mm256_store_si256(reinterpret_cast<__m256i*>(tmp), packed);
  std::memcpy(dst, tmp, sizeof(int16_t) * count);
}

void SoftmaxS32ToQ15(const int32_t* scores, int n, QuantizedMultiplier exp_scale, Rounding rounding,
                     int32_t* scratch, int16_t* probs) {
  int32_t max = scores[0];
  int t = 0;
  if (n >= 8) {
    __m256i vmax = Load256(scores);
    for (t = 8; t + 8 <= n; t += 8) vmax = _mm256_max_epi32(vmax, Load256(scores + t));
    alignas(32) int32_t lanes[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), vmax);
    for (const int32_t v : lanes) max = v > max ? v : max;
  }
  for (; t < n; ++t) max = scores[t] > max ? scores[t] : max;

  const NonPositiveRequant q = MakeRequant(exp_scale, rounding);
  const __m256i vmax = _mm256_set1_epi32(max);
  __m256i sum = _mm256_setzero_si256();  // 4 x int64
  auto accumulate = [&sum](__m256i e) {
    sum = _mm256_add_epi64(sum, _mm256_cvtepu32_epi64(_mm256_castsi256_si128(e)));
    sum = _mm256_add_epi64(sum, _mm256_cvtepu32_epi64(_mm256_extracti128_si256(e, 1)));
  };
  for (t = 0; t + 8 <= n; t += 8) {
    const __m256i e = ExpQ29(Load256(scores + t), vmax, q);
    Store256(scratch + t, e);
    accumulate(e);
  }
  const int rest = n - t;
  if (rest > 0) {
    alignas(32) int32_t pad[8];
    for (int i = 0; i < 8; ++i) pad[i] = i < rest ? scores[t + i] : kInt32Min;  // padding: e = 0 or tiny,
    __m256i e = ExpQ29(_mm256_load_si256(reinterpret_cast<const __m256i*>(pad)), vmax, q);  // masked below
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    e = _mm256_and_si256(e, _mm256_cmpgt_epi32(_mm256_set1_epi32(rest), lane));
    alignas(32) int32_t out[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(out), e);
    std::memcpy(scratch + t, out, sizeof(int32_t) * rest);
    accumulate(e);
  }
  alignas(32) int64_t parts[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(parts), sum);
  const int64_t total = parts[0] + parts[1] + parts[2] + parts[3];
  const __m256i recip = _mm256_set1_epi64x((int64_t{1} << 60) / total);
  for (t = 0; t + 8 <= n; t += 8) StoreS32AsS16(probs + t, Normalise(Load256(scratch + t), recip), 8);
  if (t < n) {
    alignas(32) int32_t pad[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    std::memcpy(pad, scratch + t, sizeof(int32_t) * (n - t));
    StoreS32AsS16(probs + t, Normalise(_mm256_load_si256(reinterpret_cast<const __m256i*>(pad)), recip), n - t);
  }
}

// sat32(a + b) on 8 lanes.
inline __m256i AddSat32(__m256i a, __m256i b) {
  const __m256i s = _mm256_add_epi32(a, b);
  const __m256i overflow = _mm256_srai_epi32(_mm256_andnot_si256(_mm256_xor_si256(a, b), _mm256_xor_si256(a, s)), 31);
  const __m256i limit = _mm256_xor_si256(_mm256_srai_epi32(a, 31), _mm256_set1_epi32(kInt32Max));
  return _mm256_blendv_epi8(s, limit, overflow);
}

void AddRowSatS32ToS16(const int32_t* q, const int32_t* k, int rows, int n, int16_t* out) {
  for (int t = 0; t < rows; ++t) {
    const int32_t* kr = k + int64_t{t} * n;
    int16_t* o = out + int64_t{t} * n;
    int j = 0;
    for (; j + 16 <= n; j += 16) {
      const __m256i a = AddSat32(Load256(q + j), Load256(kr + j));
      const __m256i b = AddSat32(Load256(q + j + 8), Load256(kr + j + 8));
      Store256(o + j, _mm256_permute4x64_epi64(_mm256_packs_epi32(a, b), 0xD8));
    }
    if (j < n) reference::AttentionKernelTable().AddRowSatS32ToS16(q + j, kr + j, 1, n - j, o + j);
  }
}

inline int32_t HorizontalSum(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
  return _mm_cvtsi128_si32(s);
}

void DotRowsS16S8(const int16_t* h, const int8_t* v, int rows, int n, int32_t* out) {
  for (int t = 0; t < rows; ++t) {
    const int16_t* hr = h + int64_t{t} * n;
    __m256i acc = _mm256_setzero_si256();
    int j = 0;
    for (; j + 16 <= n; j += 16) {
      const __m256i vv = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(v + j)));
      acc = _mm256_add_epi32(acc, _mm256_madd_epi16(Load256(hr + j), vv));  // |pair| <= 2^23
    }
    uint32_t sum = static_cast<uint32_t>(HorizontalSum(acc));
    for (; j < n; ++j) sum += static_cast<uint32_t>(int32_t{v[j]} * hr[j]);
    out[t] = static_cast<int32_t>(sum);
  }
}

void DotRowsS8S8(const int8_t* k, const int8_t* u, int rows, int n, int32_t zero_point, int32_t* out) {
  uint32_t usum = 0;
  for (int j = 0; j < n; ++j) usum += static_cast<uint32_t>(int32_t{u[j]});
  const uint32_t fold = static_cast<uint32_t>(zero_point) * usum;  // Σ u (k − zp) = Σ u k − zp Σ u (mod 2^32)
  for (int t = 0; t < rows; ++t) {
    const int8_t* kr = k + int64_t{t} * n;
    __m256i acc = _mm256_setzero_si256();
    int j = 0;
    for (; j + 16 <= n; j += 16) {
      const __m256i kv = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kr + j)));
      const __m256i uv = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(u + j)));
      acc = _mm256_add_epi32(acc, _mm256_madd_epi16(kv, uv));
    }
    uint32_t sum = static_cast<uint32_t>(HorizontalSum(acc));
    for (; j < n; ++j) sum += static_cast<uint32_t>(int32_t{u[j]} * kr[j]);
    out[t] = static_cast<int32_t>(sum - fold);
  }
}

void WeightedSumS8(const int16_t* a, const int8_t* k, int rows, int n, int32_t zero_point, int8_t* out) {
  const __m256i zp = _mm256_set1_epi32(zero_point);
  int j = 0;
  for (; j + 8 <= n; j += 8) {
    __m256i acc = _mm256_setzero_si256();
    for (int t = 0; t < rows; ++t) {
      const __m128i raw = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(k + int64_t{t} * n + j));
      const __m256i kv = _mm256_sub_epi32(_mm256_cvtepi8_epi32(raw), zp);
      acc = _mm256_add_epi32(acc, _mm256_mullo_epi32(kv, _mm256_set1_epi32(a[t])));
    }
    // RoundingDivideByPOT(acc, 15) + zero point, sat8.
    const __m256i rem = _mm256_and_si256(acc, _mm256_set1_epi32(0x7FFF));
    const __m256i threshold =
        _mm256_add_epi32(_mm256_set1_epi32(0x3FFF), _mm256_and_si256(_mm256_srai_epi32(acc, 31), _mm256_set1_epi32(1)));
    __m256i r = _mm256_sub_epi32(_mm256_srai_epi32(acc, 15), _mm256_cmpgt_epi32(rem, threshold));
    r = _mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(r, zp), _mm256_set1_epi32(-128)), _mm256_set1_epi32(127));
    alignas(32) int32_t lanes[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), r);
    for (int i = 0; i < 8; ++i) out[j + i] = static_cast<int8_t>(lanes[i]);
  }
  if (j < n) {
    // The remaining columns: the reference on a column slice (row stride n).
    for (; j < n; ++j) {
      uint32_t acc = 0;
      for (int t = 0; t < rows; ++t) {
        acc += static_cast<uint32_t>(int32_t{a[t]} * (int32_t{k[int64_t{t} * n + j]} - zero_point));
      }
      out[j] = SaturateToInt8(int64_t{RoundingDivideByPOT(static_cast<int32_t>(acc), 15)} + zero_point);
    }
  }
}

}  // namespace

const AttentionKernels* AttentionKernelTable() {
  static const AttentionKernels table = {SoftmaxS32ToQ15, AddRowSatS32ToS16, DotRowsS16S8, DotRowsS8S8,
                                         WeightedSumS8};
  return &table;
}

}  // namespace irnn::avx2
