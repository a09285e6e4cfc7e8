// Test support: which optimized kernel paths this CPU runs. AVX2 is required by the tests (see
// IRNN_ALLOW_NO_AVX2); AVX-VNNI is newer (Alder Lake, Sapphire Rapids, Zen 5), so where the CPU lacks
// it the comparisons with it cannot run: that is said once on stdout, never passed over silently. The
// same holds for AVX-512 VNNI and AMX.
#pragma once

#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "irnn/kernel_path.h"

namespace irnn::testing {

inline bool AvxVnniAvailableOrNote() {
  const bool available = KernelPathAvailable(KernelPath::kAvxVnni);
  static const bool noted = [available] {
    if (!available) std::cout << "[ NOTE     ] AVX-VNNI is not available on this CPU: its comparisons do not run\n";
    return true;
  }();
  (void)noted;
  return available;
}

// The same for AVX-512 VNNI (avx512f, bw, vl, vnni: Ice Lake, Sapphire Rapids, Zen 4 and later).
inline bool Avx512VnniAvailableOrNote() {
  const bool available = KernelPathAvailable(KernelPath::kAvx512Vnni);
  static const bool noted = [available] {
    if (!available) std::cout << "[ NOTE     ] AVX-512 VNNI is not available on this CPU: its comparisons do not run\n";
    return true;
  }();
  (void)noted;
  return available;
}

// The same for AMX int8 tiles (Sapphire Rapids and later; Linux grants the tile permission).
inline bool AmxAvailableOrNote() {
  const bool available = KernelPathAvailable(KernelPath::kAmx);
  static const bool noted = [available] {
    if (!available) std::cout << "[ NOTE     ] AMX is not available on this CPU: its comparisons do not run\n";
    return true;
  }();
  (void)noted;
  return available;
}

// Every optimized path this build and CPU run, in the order avx2, avxvnni, avx512vnni, amx, for tests that
// compare a layer on each path with its scalar run. AVX2 is required (a failure unless IRNN_ALLOW_NO_AVX2=1);
// a newer path the CPU lacks is noted once on stdout.
inline std::vector<KernelPath> OptimizedPathsOrNote() {
  std::vector<KernelPath> paths;
  if (KernelPathAvailable(KernelPath::kAvx2)) {
    paths.push_back(KernelPath::kAvx2);
  } else {
    const char* allow = std::getenv("IRNN_ALLOW_NO_AVX2");
    if (allow == nullptr || std::string(allow) != "1") ADD_FAILURE() << "AVX2 is not available on this CPU";
    return paths;
  }
  if (AvxVnniAvailableOrNote()) paths.push_back(KernelPath::kAvxVnni);
  if (Avx512VnniAvailableOrNote()) paths.push_back(KernelPath::kAvx512Vnni);
  if (AmxAvailableOrNote()) paths.push_back(KernelPath::kAmx);
  return paths;
}

}  // namespace irnn::testing
