// Run-time choice of the kernel path: compiled-in paths intersected with what the CPU reports, with the
// IRNN_PATH environment variable as an override of kAuto (the ruy model).

#include <cstdlib>
#if defined(__linux__)
#include <unistd.h>
#endif
#include <string>

#include "irnn/kernel_path.h"
#include "kernels/lstm_kernels.h"
#include "kernels/pwl_kernels.h"

namespace irnn {
namespace {

bool CpuSupportsAvx2() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") != 0;
#else
  return false;
#endif
}

bool CpuSupportsAvxVnni() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  return CpuSupportsAvx2() && __builtin_cpu_supports("avxvnni") != 0;
#else
  return false;
#endif
}

bool CpuSupportsAvx512Vnni() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  // libgcc reports the AVX-512 features only when the OS saves the zmm state (XCR0).
  return CpuSupportsAvxVnni() && __builtin_cpu_supports("avx512f") != 0 && __builtin_cpu_supports("avx512bw") != 0 &&
         __builtin_cpu_supports("avx512vl") != 0 && __builtin_cpu_supports("avx512vnni") != 0;
#else
  return false;
#endif
}

}  // namespace

const char* KernelPathName(KernelPath path) {
  switch (path) {
    case KernelPath::kAuto: return "auto";
    case KernelPath::kScalar: return "scalar";
    case KernelPath::kAvx2: return "avx2";
    case KernelPath::kAvxVnni: return "avxvnni";
    case KernelPath::kAvx512Vnni: return "avx512vnni";
    case KernelPath::kAmx: return "amx";
  }
  return "unknown";
}

Status ParseKernelPath(std::string_view name, KernelPath* path) {
  if (name == "auto") *path = KernelPath::kAuto;
  else if (name == "scalar") *path = KernelPath::kScalar;
  else if (name == "avx2") *path = KernelPath::kAvx2;
  else if (name == "avxvnni") *path = KernelPath::kAvxVnni;
  else if (name == "avx512vnni") *path = KernelPath::kAvx512Vnni;
  else if (name == "amx") *path = KernelPath::kAmx;
  else return Status::InvalidArgument("kernel path: '" + std::string(name) +
                                      "' is not one of auto, scalar, avx2, avxvnni, avx512vnni, amx");
  return Status::Ok();
}

bool KernelPathAvailable(KernelPath path) {
  switch (path) {
    case KernelPath::kScalar: return true;
    case KernelPath::kAvx2: return avx2::LstmKernelTable() != nullptr && CpuSupportsAvx2();
    case KernelPath::kAvxVnni: return avx2::AvxVnniLstmKernelTable() != nullptr && CpuSupportsAvxVnni();
    case KernelPath::kAvx512Vnni:
      return avx512::Avx512VnniLstmKernelTable() != nullptr && CpuSupportsAvx512Vnni();
    case KernelPath::kAmx:
      return avx512::AmxLstmKernelTable() != nullptr && CpuSupportsAvx512Vnni() && avx512::AmxAvailable();
    case KernelPath::kAuto: return true;
  }
  return false;
}

Status ResolveKernelPath(KernelPath requested, KernelPath* resolved) {
  if (requested == KernelPath::kAuto) {
    const char* env = std::getenv("IRNN_PATH");
    if (env != nullptr && *env != '\0') {
      KernelPath from_env = KernelPath::kAuto;
      Status s = ParseKernelPath(env, &from_env);
      if (!s.ok()) return Status::InvalidArgument("IRNN_PATH: " + s.message());
      requested = from_env;
    }
  }
  if (requested == KernelPath::kAuto) {
    *resolved = KernelPathAvailable(KernelPath::kAmx)          ? KernelPath::kAmx
                : KernelPathAvailable(KernelPath::kAvx512Vnni) ? KernelPath::kAvx512Vnni
                : KernelPathAvailable(KernelPath::kAvxVnni)  ? KernelPath::kAvxVnni
                : KernelPathAvailable(KernelPath::kAvx2)     ? KernelPath::kAvx2
                                                             : KernelPath::kScalar;
    return Status::Ok();
  }
  if (!KernelPathAvailable(requested)) {
    return Status::Unavailable(std::string("kernel path: ") + KernelPathName(requested) +
                               " is not available on this CPU or build");
  }
  *resolved = requested;
  return Status::Ok();
}

int64_t AlternateWalkMinBytes() {
  static const int64_t bytes = [] {
    int64_t l2 = int64_t{2} << 20;
#if defined(__linux__) && defined(_SC_LEVEL2_CACHE_SIZE)
    const long reported = sysconf(_SC_LEVEL2_CACHE_SIZE);
    if (reported >= (int64_t{64} << 10) && reported <= (int64_t{64} << 20)) l2 = reported;
#endif
    return l2 / 8 * 5;
  }();
  return bytes;
}

const LstmKernels& GetLstmKernels(KernelPath resolved) {
  if (resolved == KernelPath::kAmx && avx512::AmxLstmKernelTable() != nullptr) return *avx512::AmxLstmKernelTable();
  if (resolved == KernelPath::kAvx512Vnni && avx512::Avx512VnniLstmKernelTable() != nullptr) {
    return *avx512::Avx512VnniLstmKernelTable();
  }
  if (resolved == KernelPath::kAvxVnni && avx2::AvxVnniLstmKernelTable() != nullptr) {
    return *avx2::AvxVnniLstmKernelTable();
  }
  if (resolved == KernelPath::kAvx2 && avx2::LstmKernelTable() != nullptr) return *avx2::LstmKernelTable();
  return reference::LstmKernelTable();
}

const PwlKernels& GetPwlKernels(KernelPath resolved) {
  // The AVX-VNNI, AVX-512 VNNI and AMX paths change only the int8 matmuls: their activations are AVX2's.
  if ((resolved == KernelPath::kAvx2 || resolved == KernelPath::kAvxVnni || resolved == KernelPath::kAvx512Vnni ||
       resolved == KernelPath::kAmx) &&
      avx2::PwlKernelTable() != nullptr) {
    return *avx2::PwlKernelTable();
  }
  return reference::PwlKernelTable();
}

}  // namespace irnn
