// PLACEHOLDER until the AVX2 PWL evaluator lands: no AVX2 table.
#include "kernels/pwl_kernels.h"
namespace irnn::avx2 {
const PwlKernels* PwlKernelTable() { return nullptr; }
}  // namespace irnn::avx2
