// The array entry points declared in fixed_point_simd.h: loops over fixed_point_avx2.h's 16-lane and
// fixed_point_avx512.h's 32-lane logistic and tanh (docs/numerics.md §2.2-§2.4), the tail through a
// zero-padded copy (AVX2) or masked loads and stores (AVX-512). For the exhaustive tests, and the
// avx512vnni path's LogisticQ3S16 and TanhS16. Compiled with -mavx2 like the rest of src/kernels/x86;
// the AVX-512 functions add their ISA per function. Not a specification: src/core/fixed_point_math.cc is.

#include "kernels/x86/fixed_point_simd.h"

// GCC 12's AVX-512 intrinsics pass _mm512_undefined_epi32() (`__m512i __Y = __Y;`) as the unused
// pass-through operand, which -W(maybe-)uninitialized reports at every use (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <algorithm>
#include <cstring>

#include "kernels/x86/fixed_point_avx2.h"
#include "kernels/x86/fixed_point_avx512.h"

namespace irnn {

namespace avx2 {

void ActivationQ15S16(ActivationKind kind, int integer_bits, const int16_t* in, int n, int16_t* out) {
  const ActivationConstants16 c = MakeActivationConstants16(kind, integer_bits);
  for (int i = 0; i < n; i += 16) {
    alignas(32) int16_t t[16] = {};
    const int len = std::min(16, n - i);
    std::memcpy(t, in + i, sizeof(int16_t) * static_cast<size_t>(len));
    __m256i* const v = reinterpret_cast<__m256i*>(t);
    _mm256_store_si256(v, ActivationQ15x16(_mm256_load_si256(v), c));
    std::memcpy(out + i, t, sizeof(int16_t) * static_cast<size_t>(len));
  }
}

}  // namespace avx2

namespace avx512 {

IRNN_TARGET_AVX512BW void ActivationQ15S16(ActivationKind kind, int integer_bits, const int16_t* in, int n,
                                            int16_t* out) {
  const ActivationConstants32 c = MakeActivationConstants32(kind, integer_bits, kind, integer_bits);
  for (int i = 0; i < n; i += 32) {
    const __mmask32 m = n - i >= 32 ? ~__mmask32{0} : static_cast<__mmask32>((__mmask32{1} << (n - i)) - 1u);
    _mm512_mask_storeu_epi16(out + i, m, ActivationQ15x32(_mm512_maskz_loadu_epi16(m, in + i), c));
  }
}

IRNN_TARGET_AVX512BW void ActivationPairQ15S16(ActivationKind first_kind, int first_bits, const int16_t* first,
                                                ActivationKind second_kind, int second_bits, const int16_t* second,
                                                int n, int16_t* first_out, int16_t* second_out) {
  const ActivationConstants32 c = MakeActivationConstants32(first_kind, first_bits, second_kind, second_bits);
  for (int i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << (n - i)) - 1u);
    const __m512i a = _mm512_cvtepi16_epi32(_mm256_maskz_loadu_epi16(m, first + i));
    const __m512i b = _mm512_cvtepi16_epi32(_mm256_maskz_loadu_epi16(m, second + i));
    __m512i a_out, b_out;
    ActivationPair32(a, b, c, &a_out, &b_out);
    _mm256_mask_storeu_epi16(first_out + i, m, _mm512_cvtepi32_epi16(a_out));
    _mm256_mask_storeu_epi16(second_out + i, m, _mm512_cvtepi32_epi16(b_out));
  }
}

void LogisticQ3S16(const int16_t* in, int n, int16_t* out) {
  ActivationQ15S16(ActivationKind::kLogistic, 3, in, n, out);
}

void TanhS16(const int16_t* in, int n, int integer_bits, int16_t* out) {
  ActivationQ15S16(ActivationKind::kTanh, integer_bits, in, n, out);
}

}  // namespace avx512

}  // namespace irnn
