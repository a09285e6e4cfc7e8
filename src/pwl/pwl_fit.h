// Fitting PWL tables (include/irnn/pwl.h) to a real function on integer input and output grids,
// quantization-aware: the error of every candidate is measured on every representable input after the
// output is computed exactly as the integer evaluator computes it (integer slope, shift, rounding,
// saturation), in output LSBs against the real function clamped to the output range.
//
// Two fitters:
//   kGreedy  - iRNN's recursive greedy knot insertion: start with one segment over the whole grid, split
//              the worst segment at its worst input, stop when the max error <= tolerance or the piece
//              budget is reached.
//   kOptimal - the fewest pieces that meet the tolerance: a left-to-right sweep that takes the longest
//              feasible segment each time (optimal for interval covering when feasibility is monotone).
// For a piece budget both return the least max error they reach. Uses double; runs at export time.
#pragma once

#include <functional>
#include <string>

#include "irnn/pwl.h"
#include "irnn/status.h"

namespace irnn {

// An integer grid: real value = scale * (q - zero_point), q in [min, max].
struct PwlGrid {
  int32_t min = 0;
  int32_t max = 0;
  double scale = 1.0;
  int32_t zero_point = 0;
};

enum class PwlFitter { kGreedy, kOptimal };

struct PwlFitOptions {
  PwlFitter fitter = PwlFitter::kGreedy;
  double max_error_lsb = 1.0;  // tolerance in output LSBs; <= 0 means "use the whole budget"
  int max_pieces = 0;          // budget; 0 means kMaxPwlPieces
  bool odd = false;            // odd symmetry about (zero point, f(0)): fit one half, mirror the other
  int shift = -1;              // slope fraction bits in [0, 30]; -1 chooses from the steepest slope
  bool keep_monotone = true;   // a monotone target gives a monotone table (costs pieces: segments may
                               // not jump against the direction of the function at their knots)
};

struct PwlFitResult {
  PwlTable table;
  double max_error_lsb = 0;   // over every input of the grid, as evaluated by PwlEvaluate
  double mean_error_lsb = 0;
  int pieces = 0;
  bool tolerance_met = false;
  int monotone = 0;           // +1 / -1 when the target is monotone on the grid (kept by the fit), else 0
};

using RealFunction = std::function<double(double)>;

Status FitPwl(const RealFunction& f, const PwlGrid& in, const PwlGrid& out, const PwlFitOptions& options,
              PwlFitResult* result);

// Max and mean |PwlEvaluate(table, q) - target(q)| over every q of the input grid, in output LSBs, where
// target(q) = clamp(f(scale_in (q - zp_in)) / scale_out + zp_out, out.min, out.max).
void MeasurePwlError(const PwlTable& table, const RealFunction& f, const PwlGrid& in, const PwlGrid& out,
                     double* max_error, double* mean_error);

// Built-in targets by name: sigmoid, tanh, exp (meant for x <= 0), reciprocal (1/x, meant for
// [1, 2)), rsqrt (1/sqrt(x)), gelu, silu. Returns false for an unknown name.
bool BuiltinPwlFunction(const std::string& name, RealFunction* f);
const char* BuiltinPwlFunctionNames();  // "sigmoid, tanh, exp, ..."

}  // namespace irnn
