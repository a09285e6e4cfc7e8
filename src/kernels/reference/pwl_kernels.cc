// Scalar reference PWL evaluation over int16 vectors: the specification (numerics.md §6).

#include "kernels/pwl_kernels.h"

namespace irnn {
namespace reference {
namespace {

void EvaluateS16(const PwlTable& table, const int16_t* in, int n, int16_t* out) {
  for (int i = 0; i < n; ++i) out[i] = static_cast<int16_t>(PwlEvaluate(table, in[i]));
}

}  // namespace

const PwlKernels& PwlKernelTable() {
  static const PwlKernels table = {EvaluateS16};
  return table;
}

}  // namespace reference

std::vector<int16_t> PwlLookupTableS16(const PwlTable& table) {
  std::vector<int16_t> out(65536 + 16, 0);
  for (int v = -32768; v <= 32767; ++v) {
    out[static_cast<uint16_t>(static_cast<int16_t>(v))] = static_cast<int16_t>(PwlEvaluate(table, v));
  }
  return out;
}

}  // namespace irnn
