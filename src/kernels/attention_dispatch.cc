// The attention kernel table of a resolved kernel path (kernels/attention_kernels.h). The path itself
// is resolved by ResolveKernelPath (dispatch.cc); AVX-VNNI has no attention kernels of its own and uses
// the AVX2 table. Integer only (part of the no-float check).

#include "kernels/attention_kernels.h"

namespace irnn {

const AttentionKernels& GetAttentionKernels(KernelPath resolved) {
  if (resolved == KernelPath::kAvx2 || resolved == KernelPath::kAvxVnni) {
    const AttentionKernels* t = avx2::AttentionKernelTable();
    if (t != nullptr) return *t;
  }
  return reference::AttentionKernelTable();
}

}  // namespace irnn
