// PackS8 and GemvPackedRequantS32 for a kernel path whose matmul reads the plain row-major matrix (the
// scalar reference and AVX2): packing is a copy, and a packed matmul runs the path's own Gemv, for all
// rows in one call or, for a row range (whose outputs are strided), one input row at a time. Included
// by those paths' kernel files only. The functions have internal linkage (anonymous namespace): each
// kernel file gets its own copy, compiled with its own flags, so the AVX2 file's build never stands in
// for the reference one on a CPU without AVX2.
#pragma once

#include <cstdint>

#include "kernels/lstm_kernels.h"

namespace irnn::row_major {
namespace {

inline void PackS8(const int8_t* w, int rows, int cols, PackedS8* out) {
  out->rows = rows;
  out->cols = cols;
  out->data.assign(w, w + static_cast<int64_t>(rows) * cols);
  out->row_fold.clear();
}

// Gemv and GemvPerChannel: the path's GemvS8S8RequantS32 and GemvS8S8RequantPerChannelS32.
template <auto Gemv, auto GemvPerChannel>
void GemvPackedRequantS32(const PackedS8& w, int row_begin, int row_end, const int32_t* bias, const int8_t* x,
                          int batch, QuantizedMultiplier m, const QuantizedMultiplier* channel, Rounding rounding,
                          int32_t* out) {
  const int n = row_end - row_begin;
  if (n <= 0) return;
  const int8_t* rows = w.data.data() + static_cast<int64_t>(row_begin) * w.cols;
  const int32_t* b = bias != nullptr ? bias + row_begin : nullptr;
  const QuantizedMultiplier* c = channel != nullptr ? channel + row_begin : nullptr;
  const bool all_rows = n == w.rows;
  for (int i = 0; i < (all_rows ? 1 : batch); ++i) {
    const int8_t* xi = x + static_cast<int64_t>(i) * w.cols;
    int32_t* oi = out + static_cast<int64_t>(i) * w.rows + row_begin;
    const int rows_of_x = all_rows ? batch : 1;
    if (c == nullptr) {
      Gemv(rows, n, w.cols, b, xi, rows_of_x, m, rounding, oi);
    } else {
      GemvPerChannel(rows, n, w.cols, b, xi, rows_of_x, c, rounding, oi);
    }
  }
}

}  // namespace
}  // namespace irnn::row_major
