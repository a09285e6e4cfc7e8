// Which kernel implementation runs: the scalar reference or an optimized path. Chosen at run time:
// kAuto picks the best path the CPU supports, and the IRNN_PATH environment variable (scalar, avx2, avxvnni,
// avx512vnni, amx) overrides kAuto, so every path can be tested and timed from one binary.
#pragma once

#include <cstdint>
#include <string_view>

#include "irnn/status.h"

namespace irnn {

// kAvxVnni: the AVX2 path with its int8 matmuls on AVX-VNNI (vpdpbusd; Alder Lake, Sapphire Rapids,
// Zen 5 and later). kAvx512Vnni: the AVX-VNNI path with its int8 matmuls on AVX-512 VNNI (zmm
// vpdpbusd; needs avx512f, bw, vl and vnni: Ice Lake, Sapphire Rapids, Zen 4 and later). kAmx: the
// AVX-512 VNNI path with the matmuls of 16 or more input rows (batches, and a sequence's input
// projection) on AMX tiles (tdpbusd; Sapphire Rapids and later). kAuto prefers the last available.
enum class KernelPath : uint8_t { kAuto = 0, kScalar = 1, kAvx2 = 2, kAvxVnni = 3, kAvx512Vnni = 4, kAmx = 5 };

const char* KernelPathName(KernelPath path);

// Parses "auto", "scalar", "avx2", "avxvnni", "avx512vnni" or "amx".
Status ParseKernelPath(std::string_view name, KernelPath* path);

// True when this build contains the path's code and the CPU can run it.
bool KernelPathAvailable(KernelPath path);

// kAuto -> IRNN_PATH if set, else the best available path. An explicit path that is not available
// gives kUnavailable; an unknown IRNN_PATH value gives kInvalidArgument.
Status ResolveKernelPath(KernelPath requested, KernelPath* resolved);

}  // namespace irnn
