// The split of a layer's matmul rows between the threads of its SpinPool, shared by the integer layers
// with a threads option (TfliteLstm, Gru): blocks of 16 output rows, one contiguous range per thread,
// and one call on the caller's thread when the work is too small to gain from waking the workers. Not
// the pool itself (core/spin_pool.h) and no arithmetic on the data: which rows go where never changes a
// result. Integer only (no-float check).
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>

#include "core/spin_pool.h"

namespace irnn {

// Below this much work a matmul runs on one thread: waking a worker and waiting for it costs about as
// much as 5 * 2^16 multiply-adds on the fast paths (measured on the amx path, 2 cores, idle: an LSTM step
// at H = 256, B = 1 with its 2^18 recurrent multiply-adds took longer on 2 threads than on 1, the
// streaming step's 2^19 and the GRU's 3 * 2^17 ran faster).
constexpr int64_t kMinParallelMacs = int64_t{5} << 16;
// Below this many rows per thread too: every step at H = 128 (LSTM and GRU, B = 1 and 16, sequence and
// streaming, amx path) took longer on 2 threads than on 1, by up to 70 % at B = 16 with 2^21 multiply-adds
// (not profiled to the end; likely the halves of h and of the outputs that move between the cores each
// step, and the per-call setup that each thread repeats), while H = 256 ran faster at B = 16 (not the pot
// LSTM's sequence step: 17.9 -> 19.6 us, open).
constexpr int kMinRowsPerThread = 128;

// Whether ForRowRanges splits `rows` with this much work between the pool's threads.
inline bool SplitsRows(const SpinPool* pool, int rows, int64_t macs) {
  const int n = pool != nullptr ? pool->size() : 1;
  // Blocks of 16 rows: a multiple of every path's row block (8 for AVX-VNNI, 16 for AVX-512 VNNI).
  const int blocks = (rows + 15) / 16;
  return n > 1 && macs >= kMinParallelMacs && blocks >= 2 && rows >= n * kMinRowsPerThread;
}

// fn(row_begin, row_end) over [0, rows), split between the pool's threads at multiples of 16 when
// `macs` (the work) is large enough, else one call. pool may be null (one thread).
inline void ForRowRanges(SpinPool* pool, int rows, int64_t macs, const std::function<void(int, int)>& fn) {
  if (!SplitsRows(pool, rows, macs)) {
    fn(0, rows);
    return;
  }
  const int n = pool->size();
  const int blocks = (rows + 15) / 16;
  pool->Run([&](int t) {
    const int b0 = static_cast<int>(int64_t{blocks} * t / n), b1 = static_cast<int>(int64_t{blocks} * (t + 1) / n);
    const int r0 = std::min(rows, 16 * b0), r1 = std::min(rows, 16 * b1);
    if (r0 < r1) fn(r0, r1);
  });
}

}  // namespace irnn
