// The checks, path choice, storage and weight packing shared by the float32 baselines LstmF32 and GruF32
// (f32_layer.h, f32_common.h). Not part of the integer runtime (library irnn_fp32).

#include "fp32/f32_layer.h"

#include <algorithm>
#include <string>

#include "fp32/f32_common.h"

namespace irnn::fp32 {
namespace {

bool CpuSupportsFma() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("fma") != 0;
#else
  return false;
#endif
}

}  // namespace

std::string Str(int64_t v) { return std::to_string(v); }

void PackGateBlocks(const float* w, int gates, int n_hidden, int k, float* out) {
  const int n_blocks = BlockCount(n_hidden);
  const int block_values = gates * kBlockUnits;
  for (int nb = 0; nb < n_blocks; ++nb) {
    float* block = out + static_cast<size_t>(nb) * k * block_values;
    for (int g = 0; g < gates; ++g) {
      for (int j = 0; j < kBlockUnits; ++j) {
        const int u = nb * kBlockUnits + j;
        if (u >= n_hidden) continue;  // padding stays zero
        const float* row = w + (static_cast<size_t>(g) * n_hidden + u) * k;
        for (int kk = 0; kk < k; ++kk) block[static_cast<size_t>(kk) * block_values + g * kBlockUnits + j] = row[kk];
      }
    }
  }
}

Status ValidateF32Params(const char* type, int gates, int32_t n_input, int32_t n_hidden, int32_t max_dim,
                         int64_t max_elements, std::initializer_list<ParamField> fields) {
  const std::string t = type;
  if (n_input < 1 || n_input > max_dim) {
    return Status::OutOfRange(t + ": n_input is " + Str(n_input) + " but must be in [1, " + Str(max_dim) + "]");
  }
  if (n_hidden < 1 || n_hidden > max_dim) {
    return Status::OutOfRange(t + ": n_hidden is " + Str(n_hidden) + " but must be in [1, " + Str(max_dim) + "]");
  }
  const std::string g = Str(gates);
  const int64_t rows = gates * static_cast<int64_t>(n_hidden);
  if (rows * n_input > max_elements || rows * n_hidden > max_elements) {
    return Status::OutOfRange(t + ": " + g + " * n_hidden * max(n_input, n_hidden) is " +
                              Str(rows * std::max(n_input, n_hidden)) + " but must be <= " + Str(max_elements));
  }
  for (const ParamField& f : fields) {
    const int64_t want = f.shape == FieldShape::kInputWeights      ? rows * n_input
                         : f.shape == FieldShape::kRecurrentWeights ? rows * n_hidden
                                                                    : rows;
    const std::string rule = g + (f.shape == FieldShape::kInputWeights      ? " * n_hidden * n_input"
                                  : f.shape == FieldShape::kRecurrentWeights ? " * n_hidden * n_hidden"
                                                                             : " * n_hidden");
    if (static_cast<int64_t>(f.size) != want) {
      return Status::InvalidArgument(t + ": " + f.name + " has " + Str(static_cast<int64_t>(f.size)) +
                                     " values but must have " + rule + " = " + Str(want));
    }
  }
  return Status::Ok();
}

Status CheckF32Threads(const char* who, int threads, int max_threads) {
  if (threads < 1 || threads > max_threads) {
    return Status::OutOfRange(std::string(who) + ": threads is " + Str(threads) + " but must be in [1, " +
                              Str(max_threads) + "]");
  }
  return Status::Ok();
}

Status ResolveF32Path(const char* who, KernelPath path, bool has_avx2_kernels, KernelPath* resolved) {
  const bool explicit_avx2 = path == KernelPath::kAvx2 || path == KernelPath::kAvxVnni ||
                             path == KernelPath::kAvx512Vnni || path == KernelPath::kAmx;
  *resolved = KernelPath::kScalar;
  IRNN_RETURN_IF_ERROR(ResolveKernelPath(path, resolved));
  // AVX-VNNI, AVX-512 VNNI and AMX accelerate int8 products only; a CPU that has them has AVX2, which
  // the float layers use.
  if (*resolved == KernelPath::kAvxVnni || *resolved == KernelPath::kAvx512Vnni || *resolved == KernelPath::kAmx) {
    *resolved = KernelPath::kAvx2;
  }
  if (*resolved == KernelPath::kAvx2 && (!has_avx2_kernels || !CpuSupportsFma())) {
    if (explicit_avx2) {
      return Status::Unavailable(std::string(who) + ": kernel path avx2 needs AVX2 and FMA, not available here");
    }
    *resolved = KernelPath::kScalar;  // kAuto (or IRNN_PATH=avx2 through kAuto) on an AVX2 CPU without FMA
  }
  return Status::Ok();
}

float* AlignedZeros(std::vector<float>* storage, size_t n, size_t align_floats) {
  storage->assign(n + align_floats, 0.0f);
  float* base = storage->data();
  return base + (align_floats - (reinterpret_cast<uintptr_t>(base) / sizeof(float)) % align_floats) % align_floats;
}

Status CheckF32NewState(const char* who, bool state_is_null, int batch, int max_batch) {
  if (state_is_null) return Status::InvalidArgument(std::string(who) + ": state is null");
  if (batch < 1 || batch > max_batch) {
    return Status::OutOfRange(std::string(who) + ": batch is " + Str(batch) + " but must be in [1, " +
                              Str(max_batch) + "]");
  }
  return Status::Ok();
}

Status CheckF32State(const char* who, bool state_is_null, int batch, int state_n_hidden, size_t h_size,
                     const size_t* c_size, int n_hidden) {
  if (state_is_null) return Status::InvalidArgument(std::string(who) + ": state is null");
  const size_t want = static_cast<size_t>(batch) * n_hidden;
  if (batch < 1 || state_n_hidden != n_hidden || h_size != want || (c_size != nullptr && *c_size != want)) {
    const std::string values = c_size == nullptr ? Str(static_cast<int64_t>(h_size)) + " h values"
                                                 : Str(static_cast<int64_t>(h_size)) + " h and " +
                                                       Str(static_cast<int64_t>(*c_size)) + " c values";
    return Status::InvalidArgument(std::string(who) + ": state has batch " + Str(batch) + ", n_hidden " +
                                   Str(state_n_hidden) + ", " + values +
                                   " but must come from NewState of this layer (n_hidden " + Str(n_hidden) + ")");
  }
  return Status::Ok();
}

Status CheckF32Run(const char* who, const float* x, int steps, const float* out, int batch, int32_t n_input,
                   int32_t n_hidden, int n_blocks, int block_values, int64_t max_elements, int64_t* xproj_values) {
  *xproj_values = 0;
  if (steps < 0) return Status::InvalidArgument(std::string(who) + ": steps is " + Str(steps) + " but must be >= 0");
  if (steps == 0) return Status::Ok();
  if (x == nullptr || out == nullptr) {
    return Status::InvalidArgument(std::string(who) + ": " + (x == nullptr ? "x" : "out") +
                                   " is null but must point to the sequence");
  }
  const int64_t frames = static_cast<int64_t>(steps) * batch;
  const int64_t xproj = frames * n_blocks * block_values;
  if (xproj > max_elements || frames * std::max(n_input, n_hidden) > max_elements) {
    return Status::OutOfRange(std::string(who) + ": steps * batch is " + Str(frames) +
                              " but the sequence must fit in " + Str(max_elements) + " values");
  }
  *xproj_values = xproj;
  return Status::Ok();
}

Status CheckF32Step(const char* who, const float* x, const float* out) {
  if (x == nullptr || out == nullptr) {
    return Status::InvalidArgument(std::string(who) + ": " + (x == nullptr ? "x" : "out") +
                                   " is null but must point to a frame");
  }
  return Status::Ok();
}

}  // namespace irnn::fp32
