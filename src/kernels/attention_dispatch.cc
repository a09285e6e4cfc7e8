// The attention kernel table of a resolved kernel path (kernels/attention_kernels.h). The path itself
// is resolved by ResolveKernelPath (dispatch.cc); the paths beyond AVX2 have no attention kernels of their
// own and use the AVX2 table. Integer only (part of the no-float check).

#include "kernels/attention_kernels.h"

namespace irnn {

const AttentionKernels& GetAttentionKernels(KernelPath resolved) {
  // Every x86 SIMD path (avx2, avxvnni, avx512vnni, amx) runs the attention kernels of AVX2.
  if (resolved != KernelPath::kScalar) {
    const AttentionKernels* t = avx2::AttentionKernelTable();
    if (t != nullptr) return *t;
  }
  return reference::AttentionKernelTable();
}

}  // namespace irnn
