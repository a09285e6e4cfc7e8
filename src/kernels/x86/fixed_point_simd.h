// Array entry points of the vector fixed-point logistic and tanh (docs/numerics.md §2.2-§2.4) of
// fixed_point_avx2.h and fixed_point_avx512.h: for the exhaustive tests, and the AVX-512 ones as the
// avx512vnni path's LogisticQ3S16 and TanhS16 kernels. Plain declarations without intrinsic types (and
// the constants both headers use), so that code built without -mavx2 can call them. Not a
// specification (src/core/fixed_point_math.cc is). A caller checks the CPU first: AVX2 for avx2::,
// AVX-512 F and BW for avx512:: (the avx512vnni path's check covers both).
#pragma once

#include <cstdint>

namespace irnn {

enum class ActivationKind { kLogistic, kTanh };

// The int16 form of a 32-bit gemmlowp constant, RoundingDivideByPOT(c32, 16) (numerics.md §2.1), as a
// constant expression for the vector code.
constexpr int16_t FixedConstant16(int32_t c32) {
  return static_cast<int16_t>((c32 >> 16) + ((c32 & 0xFFFF) > (0x7FFF + (c32 < 0 ? 1 : 0)) ? 1 : 0));
}

// exp(-2^E) for E = -2 .. 4 in Q0.15: the barrel shifter's multipliers of exp on negative values
// (numerics.md §2.2 step 3).
inline constexpr int16_t kExpStepMultiplier[7] = {
    FixedConstant16(1672461947), FixedConstant16(1302514674), FixedConstant16(790015084), FixedConstant16(290630308),
    FixedConstant16(39332535),   FixedConstant16(720401),     FixedConstant16(242)};

namespace avx2 {
// out[i] = logistic(in[i]) or tanh(in[i]), in Q(integer_bits) (integer_bits in [0, 6]), out Q0.15, for
// i < n: LogisticQ15 / TanhQ15 bit for bit, 16 int16 lanes at a time (the tail through a padded copy).
void ActivationQ15S16(ActivationKind kind, int integer_bits, const int16_t* in, int n, int16_t* out);
}  // namespace avx2

namespace avx512 {
// The same on 32 int16 lanes.
void ActivationQ15S16(ActivationKind kind, int integer_bits, const int16_t* in, int n, int16_t* out);
// Two functions in one vector as the AVX-512 gate epilogue uses them: 16 values of `first` and 16 of
// `second`, held as int32 lanes, packed by vpackssdw into one register, evaluated with
// (first_kind, first_bits) on first's lanes and (second_kind, second_bits) on second's, and unpacked.
void ActivationPairQ15S16(ActivationKind first_kind, int first_bits, const int16_t* first, ActivationKind second_kind,
                          int second_bits, const int16_t* second, int n, int16_t* first_out, int16_t* second_out);
// LstmKernels::LogisticQ3S16 and ::TanhS16 of the avx512vnni and amx paths: ActivationQ15S16 with
// logistic of Q3.12, and with tanh of Q(integer_bits).
void LogisticQ3S16(const int16_t* in, int n, int16_t* out);
void TanhS16(const int16_t* in, int n, int integer_bits, int16_t* out);
}  // namespace avx512

}  // namespace irnn
