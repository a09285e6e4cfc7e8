// The attention kernel table of a resolved kernel path (kernels/attention_kernels.h). The path itself
// is resolved by ResolveKernelPath (dispatch.cc). Every optimized path other than the scalar one runs
// on a CPU with AVX2 (AVX-VNNI, and any later x86 path), and none has attention kernels of its own, so
// all of them use the AVX2 table; a build without AVX2 code uses the reference. Integer only (part of
// the no-float check).

#include "kernels/attention_kernels.h"

namespace irnn {

const AttentionKernels& GetAttentionKernels(KernelPath resolved) {
  if (resolved != KernelPath::kScalar && resolved != KernelPath::kAuto) {
    const AttentionKernels* t = avx2::AttentionKernelTable();
    if (t != nullptr) return *t;
  }
  return reference::AttentionKernelTable();
}

}  // namespace irnn
