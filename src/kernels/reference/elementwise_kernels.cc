// Scalar reference of the elementwise kernels (src/kernels/elementwise_kernels.h): the specification,
// plain loops on the primitives of src/core/fixed_point.h. Formulas: numerics.md §10.2-§10.3. Also the
// path dispatch of this table (GetElementwiseKernels), which holds no arithmetic.

#include "kernels/elementwise_kernels.h"

#include "core/fixed_point.h"

namespace irnn {
namespace reference {
namespace {

void AddS8S8RequantS8(const int8_t* a, const int8_t* b, int n, const ResidualAddParams& p, int8_t* out) {
  for (int i = 0; i < n; ++i) {
    // |a − a_zp| <= 255, so the shifted value fits int32 (< 2^28); with shifts <= 0 each term is < 2^28.
    const int32_t sa = MultiplyByQuantizedMultiplier((int32_t{a[i]} - p.a_zp) * (1 << kResidualLeftShift),
                                                     p.a_scale, p.rounding);
    const int32_t sb = MultiplyByQuantizedMultiplier((int32_t{b[i]} - p.b_zp) * (1 << kResidualLeftShift),
                                                     p.b_scale, p.rounding);
    out[i] = SaturateToInt8(int64_t{MultiplyByQuantizedMultiplier(sa + sb, p.output_scale, p.rounding)} + p.output_zp);
  }
}

void MogrifyS8(const int16_t* gate, int n, int32_t zp, int8_t* x) {
  for (int i = 0; i < n; ++i) {
    // |x − zp| <= 255 and gate <= 32767: the product fits int32 (< 2^23).
    x[i] = SaturateToInt8(int64_t{RoundingDivideByPOT((int32_t{x[i]} - zp) * gate[i], 14)} + zp);
  }
}

}  // namespace

const ElementwiseKernels& ElementwiseKernelTable() {
  static const ElementwiseKernels table = {AddS8S8RequantS8, MogrifyS8};
  return table;
}

}  // namespace reference

const ElementwiseKernels& GetElementwiseKernels(KernelPath resolved) {
  if (resolved != KernelPath::kScalar) {
    const ElementwiseKernels* t = avx2::ElementwiseKernelTable();
    if (t != nullptr) return *t;
  }
  return reference::ElementwiseKernelTable();
}

}  // namespace irnn
