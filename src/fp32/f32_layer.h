// What LstmF32::Create/Run (lstm_f32.cc) and GruF32::Create/Run (gru_f32.cc) share beyond their kernels:
// the checks of params, threads, states and Run arguments (with the messages "<who>: <field> is <value>
// but must be <rule>"), the choice of the kernel path, aligned packed storage, and the driver that splits
// a sequence's blocks of hidden units over the worker threads. Not a layer, not a kernel, and not part of
// the integer runtime (library irnn_fp32).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <mutex>
#include <string>
#include <vector>

#include "core/spin_pool.h"
#include "irnn/kernel_path.h"
#include "irnn/status.h"

namespace irnn::fp32 {

std::string Str(int64_t v);

// One weight or bias vector of a params struct and the size it must have: gates * n_hidden rows of
// n_input values (kInputWeights) or of n_hidden values (kRecurrentWeights), or gates * n_hidden values
// (kBias).
enum class FieldShape { kInputWeights, kRecurrentWeights, kBias };
struct ParamField {
  const char* name;
  size_t size;
  FieldShape shape;
};

// n_input and n_hidden in [1, max_dim], gates * n_hidden * max(n_input, n_hidden) <= max_elements, then
// every field's size; errors are named after `type` ("LstmF32Params: w_ih has 6 values but must have
// 4 * n_hidden * n_input = 8").
Status ValidateF32Params(const char* type, int gates, int32_t n_input, int32_t n_hidden, int32_t max_dim,
                         int64_t max_elements, std::initializer_list<ParamField> fields);

// threads in [1, max_threads]; `who` is "LstmF32::Create" or the like.
Status CheckF32Threads(const char* who, int threads, int max_threads);

// The path a float layer runs for `path`: kAuto honours IRNN_PATH; the int8 extensions (avxvnni,
// avx512vnni, amx) run the AVX2 path, which also needs FMA and this build's AVX2 kernels
// (has_avx2_kernels): an explicit AVX2-class path without them is an error, kAuto falls back to scalar.
Status ResolveF32Path(const char* who, KernelPath path, bool has_avx2_kernels, KernelPath* resolved);

// Sets *storage to n zeros plus slack and returns its first element at a multiple of align_floats floats
// (align_floats a power of two).
float* AlignedZeros(std::vector<float>* storage, size_t n, size_t align_floats);

// NewState's checks: state not null, batch in [1, max_batch].
Status CheckF32NewState(const char* who, bool state_is_null, int batch, int max_batch);

// A state made by NewState of a layer with `n_hidden`: batch >= 1, its n_hidden, h (and c, when the cell
// has one: c_size not null) of batch * n_hidden values.
Status CheckF32State(const char* who, bool state_is_null, int batch, int state_n_hidden, size_t h_size,
                     const size_t* c_size, int n_hidden);

// Run's argument checks after the state's: steps >= 0; for steps > 0, x and out not null and the
// sequence (steps * batch frames of max(n_input, n_hidden) values, and its projections of n_blocks *
// block_values values each) within max_elements. *xproj_values: the projections' size (0 for steps = 0).
Status CheckF32Run(const char* who, const float* x, int steps, const float* out, int batch, int32_t n_input,
                   int32_t n_hidden, int n_blocks, int block_values, int64_t max_elements, int64_t* xproj_values);

// Step's checks: x and out not null.
Status CheckF32Step(const char* who, const float* x, const float* out);

// One thread's share of a Run of `steps` frames: its blocks [nb0, nb1) of the layer's n_blocks
// (thread of threads), project(nb0, nb1) once for the whole sequence, then for every step t
// recur(t, h_prev, nb0, nb1, h_out) with h_prev the state h0 (t = 0) or the previous output frame and
// h_out the output frame t (frames of out_stride values), and a barrier of `pool` (when there is one)
// after each step, which makes the whole h visible before the next step reads it.
template <typename Project, typename Recur>
void RunBlockRange(int thread, int threads, int n_blocks, int steps, const float* h0, float* out, size_t out_stride,
                   SpinPool* pool, Project project, Recur recur) {
  const int nb0 = static_cast<int>(static_cast<int64_t>(n_blocks) * thread / threads);
  const int nb1 = static_cast<int>(static_cast<int64_t>(n_blocks) * (thread + 1) / threads);
  if (nb1 > nb0) project(nb0, nb1);
  for (int t = 0; t < steps; ++t) {
    const float* h_prev = t == 0 ? h0 : out + (t - 1) * out_stride;
    if (nb1 > nb0) recur(t, h_prev, nb0, nb1, out + t * out_stride);
    if (pool != nullptr) pool->Barrier();
  }
}

// The body of Run after its checks, for steps >= 1: grows the state's projection scratch *xproj to
// xproj_values, runs range(0) on this thread without a pool, else range(thread) on every thread of the
// pool, one Run at a time (calls on one layer are serialized by `mutex`), then copies the last output
// frame (h->size() values of out) into the state's h.
template <typename Range>
void RunSequence(SpinPool* pool, std::mutex& mutex, int steps, int64_t xproj_values, std::vector<float>* xproj,
                 const float* out, std::vector<float>* h, Range range) {
  if (xproj->size() < static_cast<size_t>(xproj_values)) xproj->resize(static_cast<size_t>(xproj_values));
  if (pool == nullptr) {
    range(0);
  } else {
    std::lock_guard<std::mutex> lock(mutex);
    pool->Run(range);
  }
  const size_t hb = h->size();
  std::memcpy(h->data(), out + (steps - 1) * hb, hb * sizeof(float));
}

}  // namespace irnn::fp32
