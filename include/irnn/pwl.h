// Piecewise-linear (PWL) approximation of a scalar function on integer grids — the iRNN way to run
// sigmoid, tanh, exp, reciprocals and other non-linearities with integer arithmetic only.
//
// A PwlTable is plain data (integers only) that a model file carries. Evaluation of an integer input q:
//   1. clamp q to [input_min, input_max];
//   2. with odd symmetry and q < center_in: return center2_out - Eval(min(2*center_in - q, input_max));
//   3. i = the last segment with knot[i] <= q;
//   4. y = intercept[i] + ((slope[i] * (q - knot[i]) + 2^(shift-1)) >> shift)   (64-bit; no rounding
//      term when shift == 0);
//   5. return clamp(y, output_min, output_max).
// numerics.md §6. Fitting (which uses floating point) is in src/pwl/pwl_fit.h.
#pragma once

#include <cstdint>
#include <vector>

#include "irnn/status.h"

namespace irnn {

struct PwlTable {
  int32_t input_min = 0;   // integer input domain; inputs outside are clamped into it
  int32_t input_max = 0;
  int32_t output_min = 0;  // saturation bounds of the result
  int32_t output_max = 0;
  int32_t shift = 0;       // fraction bits of the slopes, in [0, 30]
  bool odd = false;        // point symmetry about (center_in, center2_out / 2)
  int32_t center_in = 0;   // with odd: knot[0] == center_in and the table covers [center_in, input_max]
  int32_t center2_out = 0; // with odd: twice the output value at the centre
  std::vector<int32_t> knot;       // strictly ascending; knot[0] == input_min (or center_in when odd)
  std::vector<int32_t> slope;      // output LSBs per input LSB, times 2^shift
  std::vector<int32_t> intercept;  // output at knot[i]
};

// The most pieces a table may have (a model-file limit, checked before allocating).
inline constexpr int kMaxPwlPieces = 4096;

// Checks every field: sizes, order, ranges. A table that passes can be evaluated without overflow.
Status ValidatePwlTable(const PwlTable& table);

// Scalar reference evaluation of one input (the specification; see the steps above).
int32_t PwlEvaluate(const PwlTable& table, int32_t q);

// Range-reduced evaluation for functions with f(x * 2^k) = f(x) * 2^(-k / power): reciprocal
// (power 1, table fitted on inputs [L, 2L)) and inverse square root (power 2, table on [L, 4L)), where
// L = table.input_min must be a power of two. For any x > 0 on the same input grid (zero point 0):
// x = m * 2^k with m in the table's domain and k a multiple of `power`, and
//   f(x) = f(m) * 2^(-k / power)   ~=   real(mantissa) * 2^exponent.
// numerics.md §6.3. Integer only.
struct PwlRangeReduced {
  int32_t mantissa = 0;  // PwlEvaluate(table, m)
  int32_t exponent = 0;  // -k / power
};

// Checks that the table suits range reduction with this power (1 or 2).
Status ValidateRangeReducedTable(const PwlTable& table, int power);

// x must be > 0 and the table must pass ValidateRangeReducedTable(table, power).
PwlRangeReduced PwlEvaluateRangeReduced(const PwlTable& table, int power, int32_t x);

}  // namespace irnn
