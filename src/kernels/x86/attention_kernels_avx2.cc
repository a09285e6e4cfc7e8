// AVX2 kernels of integer attention (kernels/attention_kernels.h). Placeholder table: the scalar
// reference until the vector code lands. Integer only.

#include "kernels/attention_kernels.h"

namespace irnn::avx2 {

const AttentionKernels* AttentionKernelTable() { return &reference::AttentionKernelTable(); }

}  // namespace irnn::avx2
