// AVX2 versions of the elementwise kernels (src/kernels/elementwise_kernels.h): 8 int32 lanes at a time,
// integer intrinsics only, bit-identical to src/kernels/reference/elementwise_kernels.cc on every input
// (ties, saturation and the INT32_MIN SRDHM case included). Tails go through the same vector body on
// zero-padded stack buffers. Compiled with -mavx2 only and run only after the CPU check of dispatch.
// Not a specification: where it and the reference differ, it is wrong. Formulas: numerics.md §1.3,
// §10.2-§10.3. The MultiplyByQuantizedMultiplier lanes follow lstm_kernels_avx2.cc (whose helpers are
// internal to that file).

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "core/fixed_point.h"
#include "kernels/elementwise_kernels.h"

namespace irnn {
namespace avx2 {
namespace {

inline __m128i LoadLow64(const void* p) { return _mm_loadl_epi64(static_cast<const __m128i*>(p)); }

// RoundingDivideByPOT on int32 lanes (numerics.md §1.1).
inline __m256i RoundingDivideByPOT32(__m256i x, int e) {
  const __m256i mask = _mm256_set1_epi32(static_cast<int32_t>((uint32_t{1} << e) - 1u));
  const __m256i remainder = _mm256_and_si256(x, mask);
  const __m256i threshold = _mm256_sub_epi32(_mm256_srli_epi32(mask, 1), _mm256_srai_epi32(x, 31));
  return _mm256_sub_epi32(_mm256_sra_epi32(x, _mm_cvtsi32_si128(e)), _mm256_cmpgt_epi32(remainder, threshold));
}

// MBQM double rounding: saturating x << left, SRDHM (floor((a·M + 2^30) / 2^31) equals the reference's
// nudged truncation for both signs), INT32_MIN·INT32_MIN -> INT32_MAX, then RoundingDivideByPOT(right).
inline __m256i RequantDouble(__m256i x, QuantizedMultiplier m) {
  const int left = m.shift > 0 ? m.shift : 0;
  const int right = m.shift > 0 ? 0 : -m.shift;
  const __m256i mult = _mm256_set1_epi32(m.multiplier);
  __m256i a = _mm256_sll_epi32(_mm256_max_epi32(x, _mm256_set1_epi32(kInt32Min >> left)), _mm_cvtsi32_si128(left));
  a = _mm256_blendv_epi8(a, _mm256_set1_epi32(kInt32Max), _mm256_cmpgt_epi32(x, _mm256_set1_epi32(kInt32Max >> left)));
  const __m256i nudge = _mm256_set1_epi64x(int64_t{1} << 30);
  const __m256i even = _mm256_add_epi64(_mm256_mul_epi32(a, mult), nudge);
  const __m256i odd = _mm256_add_epi64(_mm256_mul_epi32(_mm256_srli_epi64(a, 32), mult), nudge);
  __m256i high = _mm256_blend_epi32(_mm256_srli_epi64(even, 31), _mm256_slli_epi64(odd, 1), 0xAA);
  if (m.multiplier == kInt32Min) {
    high = _mm256_xor_si256(high, _mm256_cmpeq_epi32(a, _mm256_set1_epi32(kInt32Min)));
  }
  return RoundingDivideByPOT32(high, right);
}

// floor(p / 2^t) on int64 lanes, saturated to the int32 range.
inline __m256i ShiftRightSat64To32(__m256i p, __m128i t) {
  const __m256i sign = _mm256_cmpgt_epi64(_mm256_setzero_si256(), p);
  __m256i r = _mm256_xor_si256(_mm256_srl_epi64(_mm256_xor_si256(p, sign), t), sign);
  const __m256i max64 = _mm256_set1_epi64x(kInt32Max);
  const __m256i min64 = _mm256_set1_epi64x(kInt32Min);
  r = _mm256_blendv_epi8(r, max64, _mm256_cmpgt_epi64(r, max64));
  return _mm256_blendv_epi8(r, min64, _mm256_cmpgt_epi64(min64, r));
}

// MBQM single rounding: (x·M + 2^(t−1)) >> t in 64 bits, t = 31 − shift, saturated.
inline __m256i RequantSingle(__m256i x, QuantizedMultiplier m) {
  const int t = 31 - m.shift;
  const __m256i mult = _mm256_set1_epi32(m.multiplier);
  const __m256i round = _mm256_set1_epi64x(int64_t{1} << (t - 1));
  const __m128i tc = _mm_cvtsi32_si128(t);
  const __m256i even = _mm256_add_epi64(_mm256_mul_epi32(x, mult), round);
  const __m256i odd = _mm256_add_epi64(_mm256_mul_epi32(_mm256_srli_epi64(x, 32), mult), round);
  return _mm256_blend_epi32(ShiftRightSat64To32(even, tc), _mm256_slli_epi64(ShiftRightSat64To32(odd, tc), 32), 0xAA);
}

inline __m256i Requantize(__m256i x, QuantizedMultiplier m, Rounding r) {
  return r == Rounding::kSingle ? RequantSingle(x, m) : RequantDouble(x, m);
}

// sat8 of 8 int32 lanes (after adding zp with int32 saturation, which sat8 makes irrelevant) into 8 bytes.
inline void StoreSat8(__m256i v, int8_t* out) {
  const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  _mm_storel_epi64(reinterpret_cast<__m128i*>(out), _mm_packs_epi16(w, w));
}

// Runs body(a, b, out) on blocks of 8 elements; the tail through zero-padded copies.
template <typename T, typename Body>
void Blocks8(const T* a, const T* b, int n, int8_t* out, Body body) {
  int i = 0;
  for (; i + 8 <= n; i += 8) body(a + i, b + i, out + i);
  if (i < n) {
    T at[8] = {}, bt[8] = {};
    int8_t ot[8];
    std::memcpy(at, a + i, sizeof(T) * (n - i));
    if (b != nullptr) std::memcpy(bt, b + i, sizeof(T) * (n - i));
    body(at, bt, ot);
    std::memcpy(out + i, ot, n - i);
  }
}

void AddS8S8RequantS8(const int8_t* a, const int8_t* b, int n, const ResidualAddParams& p, int8_t* out) {
  const __m256i za = _mm256_set1_epi32(p.a_zp), zb = _mm256_set1_epi32(p.b_zp), zo = _mm256_set1_epi32(p.output_zp);
  Blocks8(a, b, n, out, [&](const int8_t* ap, const int8_t* bp, int8_t* op) {
    const __m256i xa = _mm256_slli_epi32(_mm256_sub_epi32(_mm256_cvtepi8_epi32(LoadLow64(ap)), za), kResidualLeftShift);
    const __m256i xb = _mm256_slli_epi32(_mm256_sub_epi32(_mm256_cvtepi8_epi32(LoadLow64(bp)), zb), kResidualLeftShift);
    const __m256i sum = _mm256_add_epi32(Requantize(xa, p.a_scale, p.rounding), Requantize(xb, p.b_scale, p.rounding));
    // MBQM's result plus a zero point in [-128, 127] cannot wrap in a way sat8 would miss only if it is
    // saturated in int32 first: add with saturation by clamping the requantized value to +-2^24.
    const __m256i lim = _mm256_set1_epi32(1 << 24);
    __m256i r = Requantize(sum, p.output_scale, p.rounding);
    r = _mm256_min_epi32(_mm256_max_epi32(r, _mm256_sub_epi32(_mm256_setzero_si256(), lim)), lim);
    StoreSat8(_mm256_add_epi32(r, zo), op);
  });
}

void MogrifyS8(const int16_t* gate, int n, int32_t zp, int8_t* x) {
  const __m256i z = _mm256_set1_epi32(zp);
  int i = 0;
  auto body = [&](const int16_t* g, int8_t* xp) {
    const __m256i d = _mm256_sub_epi32(_mm256_cvtepi8_epi32(LoadLow64(xp)), z);
    const __m256i prod = _mm256_mullo_epi32(d, _mm256_cvtepi16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g))));
    StoreSat8(_mm256_add_epi32(RoundingDivideByPOT32(prod, 14), z), xp);
  };
  for (; i + 8 <= n; i += 8) body(gate + i, x + i);
  if (i < n) {
    int16_t gt[8] = {};
    int8_t xt[8] = {};
    std::memcpy(gt, gate + i, sizeof(int16_t) * (n - i));
    std::memcpy(xt, x + i, n - i);
    body(gt, xt);
    std::memcpy(x + i, xt, n - i);
  }
}

}  // namespace

const ElementwiseKernels* ElementwiseKernelTable() {
  static const ElementwiseKernels table = {AddS8S8RequantS8, MogrifyS8};
  return &table;
}

}  // namespace avx2
}  // namespace irnn
