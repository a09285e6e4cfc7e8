// Kernel table for evaluating PWL tables (include/irnn/pwl.h) over int16 vectors. The scalar reference
// (src/kernels/reference/pwl_kernels.cc) calls PwlEvaluate per element and is the specification; the
// AVX2 version must match it bit for bit on every input. Tables are validated (ValidatePwlTable) and
// their output range lies within int16 before a kernel is called.
#pragma once

#include <cstdint>
#include <vector>

#include "irnn/kernel_path.h"
#include "irnn/pwl.h"

namespace irnn {

struct PwlKernels {
  // out[i] = PwlEvaluate(table, in[i]) for i in [0, n).
  void (*EvaluateS16)(const PwlTable& table, const int16_t* in, int n, int16_t* out);
};

const PwlKernels& GetPwlKernels(KernelPath resolved);

// PwlEvaluate(table, v) (the scalar reference, numerics.md §6.1) for every int16 v, at index uint16(v),
// followed by 16 zero entries (a 4-byte gather of the last entry stays inside): 65,552 int16, 128 KiB.
// The table's output range must lie within int16. For layers that look their activations up
// (the GRU's gate epilogue, LstmKernels::GruGatesS16).
std::vector<int16_t> PwlLookupTableS16(const PwlTable& table);

namespace reference {
const PwlKernels& PwlKernelTable();
}  // namespace reference

namespace avx2 {
const PwlKernels* PwlKernelTable();  // null when the build has no AVX2 code
}  // namespace avx2

}  // namespace irnn
