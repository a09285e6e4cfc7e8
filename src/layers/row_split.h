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
// much as 2^16 multiply-adds on one core.
constexpr int64_t kMinParallelMacs = int64_t{1} << 16;

// fn(row_begin, row_end) over [0, rows), split between the pool's threads at multiples of 16 when
// `macs` (the work) is large enough, else one call. pool may be null (one thread).
inline void ForRowRanges(SpinPool* pool, int rows, int64_t macs, const std::function<void(int, int)>& fn) {
  const int n = pool != nullptr ? pool->size() : 1;
  // Blocks of 16 rows: a multiple of every path's row block (8 for AVX-VNNI, 16 for AVX-512 VNNI).
  const int blocks = (rows + 15) / 16;
  if (n == 1 || macs < kMinParallelMacs || blocks < 2) {
    fn(0, rows);
    return;
  }
  pool->Run([&](int t) {
    const int b0 = static_cast<int>(int64_t{blocks} * t / n), b1 = static_cast<int>(int64_t{blocks} * (t + 1) / n);
    const int r0 = std::min(rows, 16 * b0), r1 = std::min(rows, 16 * b1);
    if (r0 < r1) fn(r0, r1);
  });
}

}  // namespace irnn
