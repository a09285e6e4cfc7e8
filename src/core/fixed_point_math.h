// Fixed-point transcendental functions on int16, bit-exact with gemmlowp's fixedpoint.h as TensorFlow
// Lite uses them: exp on negative values, logistic and tanh of a Qk input (k integer bits, 15-k
// fractional bits) giving a Q0.15 result. Scalar and normative; the AVX2 versions in
// src/kernels/x86 reproduce them bit for bit. Formulas: docs/numerics.md §2. Written from the
// specification, not copied from gemmlowp.
#pragma once

#include <cstdint>

namespace irnn {

// exp(a) for a <= 0 given in Qk, k in [0, 7]; result Q0.15 (32767 for a == 0).
int16_t ExpOnNegativeValuesQ15(int16_t a, int integer_bits);

// logistic(a), a in Qk, k in [0, 6]; result Q0.15 in [0, 32767].
int16_t LogisticQ15(int16_t a, int integer_bits);

// tanh(a), a in Qk, k in [0, 6]; result Q0.15 in [-32767, 32767].
int16_t TanhQ15(int16_t a, int integer_bits);

}  // namespace irnn
