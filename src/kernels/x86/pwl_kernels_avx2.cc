// AVX2 evaluation of PWL tables over int16 vectors: the same function as the scalar reference
// (src/kernels/reference/pwl_kernels.cc, i.e. PwlEvaluate of include/irnn/pwl.h, numerics.md §6),
// computed 8 int32 lanes at a time with integer intrinsics only, and bit-identical to it for every valid
// table and every int16 input: clamping, odd-symmetry mirroring, any int32 slope (exact 64-bit
// products), shift 0 to 30, any int32 intercept and saturation included. The segment search is a
// branch-free uniform binary search: its first four levels compare against 16 knots held in two
// registers (vpermd), the remaining levels gather knots from the table, so tables of at most 16 pieces
// never touch memory after set-up. When a scan of the table proves that every reachable product
// fits (the fitted tables), the arithmetic runs on 32-bit results; otherwise it runs in full 64 bits.
// Both are exact: the choice changes speed, never a result. Every element goes through the vector
// body: the tail is copied into a zero-padded stack buffer. Compiled with -mavx2 -mfma only, and called
// only after dispatch.cc has checked the CPU. It is not a specification: where it and the reference
// differ, it is wrong.

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "kernels/pwl_kernels.h"

namespace irnn {
namespace avx2 {
namespace {

constexpr int kRegisterPieces = 16;  // knots, slopes and intercepts held in two registers each
constexpr int kBlockVectors = 8;     // vectors evaluated together so that their gathers overlap

// Loop-invariant state of one call, derived from the table once.
struct PwlState {
  __m256i input_min, input_max;
  // Odd symmetry: center_in, input_max - center_in (as uint32), center2_out clamped to [-2^30, 2^30]
  // (so center2 - y cannot wrap for |y| < 2^15, and the clamp to int16 outputs is unchanged).
  __m256i center_in, mirror_span, center2;
  __m256i output_min32, output_max32, output_min64, output_max64;
  __m256i round64;     // 2^(shift-1), or 0 when shift == 0
  __m256i sign_bit64;  // 2^(63-shift): where a logical shift leaves the sign bit
  __m128i shift, shift_up;  // shift and 32 - shift
  // Search: top_knot[j] = knot[min(j*step, n-1)] for j in [0, 16), step a power of two; the register
  // levels leave pos = min(j*step, n-1), and the gather levels refine it with steps step/2, ..., 1.
  __m256i knot_mid;  // top_knot[8] (first level: one broadcast compare)
  __m256i top_knot_lo, top_knot_hi;
  __m256i slope_lo, slope_hi, intercept_lo, intercept_hi;  // used when n <= kRegisterPieces
  __m128i step_log2;
  int gather_levels;  // log2(step)
  __m256i last;       // n - 1
  const int32_t* knot;
  const int32_t* slope;
  const int32_t* intercept;
  // True when, for every segment an input can reach, q - knot < 2^31, |slope * (q - knot)| + round <
  // 2^(shift+29) and |intercept| <= 2^30: then the shifted product fits in 30 bits and
  // intercept + product in int32, so the low 32 bits of the 64-bit products are all the result needs.
  bool narrow;
};

inline __m256i Load8(const int32_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }

// The narrow condition above, over the segments that inputs in [-32768, 32767] can reach after the
// clamp and the mirror. int64 arithmetic throughout: every bound below is < 2^63.
bool ProductsFitNarrow(const PwlTable& t) {
  const int64_t lo = std::min<int64_t>(std::max<int64_t>(-32768, t.input_min), t.input_max);
  int64_t hi = std::min<int64_t>(std::max<int64_t>(32767, t.input_min), t.input_max);
  if (t.odd) hi = std::max(hi, std::min<int64_t>(2 * int64_t{t.center_in} - lo, t.input_max));
  const int64_t round = t.shift > 0 ? int64_t{1} << (t.shift - 1) : 0;
  const int64_t limit = int64_t{1} << (t.shift + 29);
  const size_t n = t.knot.size();
  for (size_t i = 0; i < n && t.knot[i] <= hi; ++i) {
    const int64_t end = i + 1 < n ? std::min<int64_t>(int64_t{t.knot[i + 1]} - 1, hi) : hi;
    const int64_t max_d = end - t.knot[i];
    if (max_d >= (int64_t{1} << 31)) return false;
    if (std::llabs(int64_t{t.slope[i]}) * max_d + round >= limit) return false;
    if (std::llabs(int64_t{t.intercept[i]}) > (int64_t{1} << 30)) return false;
  }
  return true;
}

PwlState MakeState(const PwlTable& t, int elements) {
  PwlState s;
  const int n = static_cast<int>(t.knot.size());
  s.input_min = _mm256_set1_epi32(t.input_min);
  s.input_max = _mm256_set1_epi32(t.input_max);
  s.center_in = _mm256_set1_epi32(t.center_in);
  // Unsigned arithmetic: the difference may exceed INT32_MAX (it is < 2^32 since center_in >= input_min).
  s.mirror_span = _mm256_set1_epi32(
      static_cast<int32_t>(static_cast<uint32_t>(t.input_max) - static_cast<uint32_t>(t.center_in)));
  s.center2 = _mm256_set1_epi32(std::min(std::max(t.center2_out, -(1 << 30)), 1 << 30));
  s.output_min32 = _mm256_set1_epi32(t.output_min);
  s.output_max32 = _mm256_set1_epi32(t.output_max);
  s.output_min64 = _mm256_set1_epi64x(t.output_min);
  s.output_max64 = _mm256_set1_epi64x(t.output_max);
  s.round64 = _mm256_set1_epi64x(t.shift > 0 ? int64_t{1} << (t.shift - 1) : 0);
  s.sign_bit64 = _mm256_set1_epi64x(static_cast<int64_t>(uint64_t{1} << (63 - t.shift)));
  s.shift = _mm_cvtsi32_si128(t.shift);
  s.shift_up = _mm_cvtsi32_si128(32 - t.shift);

  // The register levels take steps 8*step, 4*step, 2*step, step; the first must be bit_floor(n) (or
  // more) for a uniform binary search, so step = bit_floor(n) / 8 for n > 16, else 1.
  int step_log2 = 0;
  if (n > kRegisterPieces) {
    int floor_log2 = 0;
    while ((2 << floor_log2) <= n) ++floor_log2;
    step_log2 = floor_log2 - 3;
  }
  int32_t top[kRegisterPieces], slope[kRegisterPieces], intercept[kRegisterPieces];
  for (int j = 0; j < kRegisterPieces; ++j) {
    // Past the end the last entry repeats: the search then settles on n - 1, which is the answer.
    const int i = static_cast<int>(std::min<int64_t>(int64_t{j} << step_log2, n - 1));
    top[j] = t.knot[i];
    slope[j] = t.slope[i];
    intercept[j] = t.intercept[i];
  }
  s.knot_mid = _mm256_set1_epi32(top[8]);
  s.top_knot_lo = Load8(top);
  s.top_knot_hi = Load8(top + 8);
  s.slope_lo = Load8(slope);
  s.slope_hi = Load8(slope + 8);
  s.intercept_lo = Load8(intercept);
  s.intercept_hi = Load8(intercept + 8);
  s.step_log2 = _mm_cvtsi32_si128(step_log2);
  s.gather_levels = step_log2;
  s.last = _mm256_set1_epi32(n - 1);
  s.knot = t.knot.data();
  s.slope = t.slope.data();
  s.intercept = t.intercept.data();
  // The scan costs O(pieces): worth it only when the call has at least as many elements.
  s.narrow = elements >= n && ProductsFitNarrow(t);
  return s;
}

// Entry j (in [0, 16)) of a 16-entry table held in two registers; `upper` is all ones where j >= 8.
// vpermd reads only the low 3 bits of each index.
inline __m256i Lookup16(__m256i lo, __m256i hi, __m256i j, __m256i upper) {
  return _mm256_blendv_epi8(_mm256_permutevar8x32_epi32(lo, j), _mm256_permutevar8x32_epi32(hi, j), upper);
}

// s * d exactly, per 64-bit lane, from the low 32 bits of each lane: s signed, d unsigned.
// vpmuludq treats s as unsigned, i.e. as s + 2^32 when s < 0, so subtract d * 2^32 there.
inline __m256i MulS32U32ToS64(__m256i s, __m256i d) {
  const __m256i product = _mm256_mul_epu32(s, d);
  const __m256i correction = _mm256_and_si256(d, _mm256_srai_epi32(s, 31));
  return _mm256_sub_epi64(product, _mm256_slli_epi64(correction, 32));
}

// (x + round) >> shift, arithmetic, per int64 lane. AVX2 has no vpsraq: shift logically, then
// sign-extend from the bit where the sign landed ((v ^ m) - m with m = 2^(63-shift)).
inline __m256i RoundingShiftRight64(__m256i x, const PwlState& s) {
  const __m256i v = _mm256_srl_epi64(_mm256_add_epi64(x, s.round64), s.shift);
  return _mm256_sub_epi64(_mm256_xor_si256(v, s.sign_bit64), s.sign_bit64);
}

// clamp(x, output_min, output_max) per int64 lane.
inline __m256i Clamp64(__m256i x, const PwlState& s) {
  x = _mm256_blendv_epi8(x, s.output_min64, _mm256_cmpgt_epi64(s.output_min64, x));
  return _mm256_blendv_epi8(x, s.output_max64, _mm256_cmpgt_epi64(x, s.output_max64));
}

// clamp(intercept + ((slope * d + round) >> shift), output_min, output_max) on 8 lanes, d in [0, 2^32)
// (it wraps as int32 but is exact as uint32).
template <bool kNarrow>
inline __m256i SegmentValue(const PwlState& s, __m256i slope, __m256i intercept, __m256i d) {
  // vpmul[u]dq reads the low half of each 64-bit lane: even lanes as they are, odd lanes shifted down.
  const __m256i slope_odd = _mm256_srli_epi64(slope, 32);
  const __m256i d_odd = _mm256_srli_epi64(d, 32);
  if (kNarrow) {
    // d < 2^31 and the shifted product fits in 30 bits: bits [shift, shift + 32) of product + round are
    // the result. Even lanes shift them down into the low half, odd lanes up into the high half.
    const __m256i even = _mm256_srl_epi64(_mm256_add_epi64(_mm256_mul_epi32(slope, d), s.round64), s.shift);
    const __m256i odd =
        _mm256_sll_epi64(_mm256_add_epi64(_mm256_mul_epi32(slope_odd, d_odd), s.round64), s.shift_up);
    const __m256i y = _mm256_add_epi32(intercept, _mm256_blend_epi32(even, odd, 0xAA));
    return _mm256_min_epi32(_mm256_max_epi32(y, s.output_min32), s.output_max32);
  }
  const __m256i even = RoundingShiftRight64(MulS32U32ToS64(slope, d), s);
  const __m256i odd = RoundingShiftRight64(MulS32U32ToS64(slope_odd, d_odd), s);
  // Sign-extend the intercepts into 64-bit lanes: (i, i >> 31) pairs.
  const __m256i sign = _mm256_srai_epi32(intercept, 31);
  const __m256i intercept_even =
      _mm256_blend_epi32(intercept, _mm256_shuffle_epi32(sign, _MM_SHUFFLE(2, 2, 0, 0)), 0xAA);
  const __m256i intercept_odd =
      _mm256_blend_epi32(_mm256_shuffle_epi32(intercept, _MM_SHUFFLE(3, 3, 1, 1)), sign, 0xAA);
  const __m256i y_even = Clamp64(_mm256_add_epi64(even, intercept_even), s);
  const __m256i y_odd = Clamp64(_mm256_add_epi64(odd, intercept_odd), s);
  // The clamped results fit in int16: the low halves of the 64-bit lanes are the int32 results.
  return _mm256_blend_epi32(y_even, _mm256_slli_epi64(y_odd, 32), 0xAA);
}

// PwlEvaluate on kVectors x 8 int32 lanes holding int16 inputs, in place. The vectors go through every
// step together: the gathers of one search level are independent of each other, so their latencies
// overlap instead of adding up along one dependency chain.
template <bool kOdd, bool kGather, bool kNarrow, int kVectors>
inline void EvaluateBlock(const PwlState& s, __m256i* q) {
  __m256i mirror[kVectors], j[kVectors], upper[kVectors];
  for (int v = 0; v < kVectors; ++v) {
    q[v] = _mm256_min_epi32(_mm256_max_epi32(q[v], s.input_min), s.input_max);
    if (kOdd) {
      // q < center_in: evaluate at min(2*center_in - q, input_max) = center_in + min(center_in - q,
      // input_max - center_in), both differences in [0, 2^32) and compared unsigned, so nothing wraps.
      mirror[v] = _mm256_cmpgt_epi32(s.center_in, q[v]);
      const __m256i distance = _mm256_min_epu32(_mm256_sub_epi32(s.center_in, q[v]), s.mirror_span);
      q[v] = _mm256_blendv_epi8(q[v], _mm256_add_epi32(s.center_in, distance), mirror[v]);
    }
    // Uniform binary search for the last knot <= q (knot[0] <= q after the clamp): j advances by the
    // step where the candidate knot is <= q. The first level decides which register serves the rest.
    upper[v] = _mm256_xor_si256(_mm256_cmpgt_epi32(s.knot_mid, q[v]), _mm256_set1_epi32(-1));
    j[v] = _mm256_and_si256(upper[v], _mm256_set1_epi32(8));
    for (int step = 4; step >= 1; step >>= 1) {
      const __m256i candidate = _mm256_add_epi32(j[v], _mm256_set1_epi32(step));
      const __m256i above = _mm256_cmpgt_epi32(Lookup16(s.top_knot_lo, s.top_knot_hi, candidate, upper[v]), q[v]);
      j[v] = _mm256_add_epi32(j[v], _mm256_andnot_si256(above, _mm256_set1_epi32(step)));
    }
  }
  __m256i knot[kVectors], slope[kVectors], intercept[kVectors];
  if (kGather) {
    __m256i pos[kVectors];
    for (int v = 0; v < kVectors; ++v) pos[v] = _mm256_min_epi32(_mm256_sll_epi32(j[v], s.step_log2), s.last);
    for (int level = s.gather_levels - 1; level >= 0; --level) {
      const __m256i step = _mm256_set1_epi32(1 << level);
      for (int v = 0; v < kVectors; ++v) {
        // The candidate index is capped at n - 1 so the gather stays inside the table; taking the
        // capped index keeps the search exact (if knot[n-1] <= q, n - 1 is the answer).
        const __m256i candidate = _mm256_min_epi32(_mm256_add_epi32(pos[v], step), s.last);
        const __m256i above = _mm256_cmpgt_epi32(_mm256_i32gather_epi32(s.knot, candidate, 4), q[v]);
        // candidate >= pos >= 0: max(pos, 0) keeps pos, max(pos, candidate) advances.
        pos[v] = _mm256_max_epi32(pos[v], _mm256_andnot_si256(above, candidate));
      }
    }
    for (int v = 0; v < kVectors; ++v) {
      knot[v] = _mm256_i32gather_epi32(s.knot, pos[v], 4);
      slope[v] = _mm256_i32gather_epi32(s.slope, pos[v], 4);
      intercept[v] = _mm256_i32gather_epi32(s.intercept, pos[v], 4);
    }
  } else {
    for (int v = 0; v < kVectors; ++v) {
      knot[v] = Lookup16(s.top_knot_lo, s.top_knot_hi, j[v], upper[v]);
      slope[v] = Lookup16(s.slope_lo, s.slope_hi, j[v], upper[v]);
      intercept[v] = Lookup16(s.intercept_lo, s.intercept_hi, j[v], upper[v]);
    }
  }
  for (int v = 0; v < kVectors; ++v) {
    __m256i y = SegmentValue<kNarrow>(s, slope[v], intercept[v], _mm256_sub_epi32(q[v], knot[v]));
    if (kOdd) {
      const __m256i reflected = _mm256_min_epi32(
          _mm256_max_epi32(_mm256_sub_epi32(s.center2, y), s.output_min32), s.output_max32);
      y = _mm256_blendv_epi8(y, reflected, mirror[v]);
    }
    q[v] = y;
  }
}

inline __m256i LoadS16ToS32(const int16_t* p) {
  return _mm256_cvtepi16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

// Lanes hold values within [output_min, output_max] (int16), so the saturating pack is exact.
inline void StoreS32ToS16(int16_t* p, __m256i y) {
  _mm_storeu_si128(reinterpret_cast<__m128i*>(p),
                   _mm_packs_epi32(_mm256_castsi256_si128(y), _mm256_extracti128_si256(y, 1)));
}

template <bool kOdd, bool kGather, bool kNarrow>
void EvaluateLoop(const PwlState& s, const int16_t* in, int n, int16_t* out) {
  int i = 0;
  for (; n - i >= 8 * kBlockVectors; i += 8 * kBlockVectors) {  // n - i: no overflow near INT_MAX
    __m256i q[kBlockVectors];
    for (int v = 0; v < kBlockVectors; ++v) q[v] = LoadS16ToS32(in + i + 8 * v);
    EvaluateBlock<kOdd, kGather, kNarrow, kBlockVectors>(s, q);
    for (int v = 0; v < kBlockVectors; ++v) StoreS32ToS16(out + i + 8 * v, q[v]);
  }
  while (i < n) {
    // Fewer than a block left: one vector at a time, through a zero-padded buffer.
    const int count = std::min(8, n - i);
    int16_t buffer[8] = {0};
    std::memcpy(buffer, in + i, sizeof(int16_t) * count);
    __m256i q = LoadS16ToS32(buffer);
    EvaluateBlock<kOdd, kGather, kNarrow, 1>(s, &q);
    StoreS32ToS16(buffer, q);
    std::memcpy(out + i, buffer, sizeof(int16_t) * count);
    i += count;
  }
}

template <bool kOdd, bool kGather>
void EvaluateLoop(const PwlState& s, const int16_t* in, int n, int16_t* out) {
  if (s.narrow) EvaluateLoop<kOdd, kGather, true>(s, in, n, out);
  else EvaluateLoop<kOdd, kGather, false>(s, in, n, out);
}

void EvaluateS16(const PwlTable& table, const int16_t* in, int n, int16_t* out) {
  if (n <= 0) return;
  const PwlState s = MakeState(table, n);
  const bool gather = table.knot.size() > static_cast<size_t>(kRegisterPieces);
  if (table.odd) {
    if (gather) EvaluateLoop<true, true>(s, in, n, out);
    else EvaluateLoop<true, false>(s, in, n, out);
  } else {
    if (gather) EvaluateLoop<false, true>(s, in, n, out);
    else EvaluateLoop<false, false>(s, in, n, out);
  }
}

}  // namespace

const PwlKernels* PwlKernelTable() {
  static const PwlKernels table = {EvaluateS16};
  return &table;
}

}  // namespace avx2
}  // namespace irnn
