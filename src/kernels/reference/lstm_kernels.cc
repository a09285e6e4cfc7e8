// Scalar reference kernels of the integer LSTM: the specification every optimized path must match bit
// for bit. Plain loops, no tricks. Formulas: docs/numerics.md §3-§4, §7.1 and §8.2-§8.3.

#include "kernels/lstm_kernels.h"
#include "kernels/row_major_packed.h"

#include <cstdint>

#include "core/fixed_point.h"
#include "core/fixed_point_math.h"
#include "core/inv_sqrt.h"
#include "irnn/pwl.h"

namespace irnn {
namespace reference {
namespace {

void GemvS8S8RequantS32(const int8_t* w, int rows, int cols, const int32_t* bias, const int8_t* x, int batch,
                        QuantizedMultiplier m, Rounding rounding, int32_t* out) {
  for (int b = 0; b < batch; ++b) {
    const int8_t* xb = x + static_cast<int64_t>(b) * cols;
    for (int r = 0; r < rows; ++r) {
      const int8_t* wr = w + static_cast<int64_t>(r) * cols;
      // Two's-complement wrap of the int32 accumulator (numerics.md §4.1), done in uint32 to stay defined.
      uint32_t acc = bias != nullptr ? static_cast<uint32_t>(bias[r]) : 0u;
      for (int k = 0; k < cols; ++k) acc += static_cast<uint32_t>(int32_t{wr[k]} * int32_t{xb[k]});
      out[static_cast<int64_t>(b) * rows + r] = MultiplyByQuantizedMultiplier(static_cast<int32_t>(acc), m, rounding);
    }
  }
}

void GemvS8S8RequantPerChannelS32(const int8_t* w, int rows, int cols, const int32_t* bias, const int8_t* x,
                                  int batch, const QuantizedMultiplier* m, Rounding rounding, int32_t* out) {
  for (int b = 0; b < batch; ++b) {
    const int8_t* xb = x + static_cast<int64_t>(b) * cols;
    for (int r = 0; r < rows; ++r) {
      const int8_t* wr = w + static_cast<int64_t>(r) * cols;
      uint32_t acc = bias != nullptr ? static_cast<uint32_t>(bias[r]) : 0u;  // wraps, as §4.1
      for (int k = 0; k < cols; ++k) acc += static_cast<uint32_t>(int32_t{wr[k]} * int32_t{xb[k]});
      out[static_cast<int64_t>(b) * rows + r] =
          MultiplyByQuantizedMultiplier(static_cast<int32_t>(acc), m[r], rounding);  // row r's own multiplier
    }
  }
}

void AddSatS32IntoS16(const int32_t* v, int n, int16_t* acc) {
  for (int i = 0; i < n; ++i) acc[i] = SaturateToInt16(int64_t{acc[i]} + v[i]);
}

void AddSatS32IntoS32(const int32_t* v, int n, int32_t* acc) {
  for (int i = 0; i < n; ++i) acc[i] = SaturateToInt32(int64_t{acc[i]} + v[i]);
}

void SaturateS32ToS16(const int32_t* v, int n, int16_t* out) {
  for (int i = 0; i < n; ++i) out[i] = SaturateToInt16(v[i]);
}

void PeepholeRequantS32(const int16_t* w, int period, const int16_t* c, int n, QuantizedMultiplier m,
                        Rounding rounding, int32_t* out) {
  for (int i = 0; i < n; ++i) {
    out[i] = MultiplyByQuantizedMultiplier(int32_t{w[i % period]} * int32_t{c[i]}, m, rounding);
  }
}

void LayerNormS16(const int16_t* in, const int16_t* weight, const int32_t* bias, int n, int rows,
                  QuantizedMultiplier scale, int32_t variance_guard, bool exact_statistics, Rounding rounding,
                  int16_t* out) {
  constexpr int64_t kTwoTo20 = int64_t{1} << 20;
  const QuantizedMultiplier out_scale{scale.multiplier, scale.shift + 12};
  for (int row = 0; row < rows; ++row) {
    const int16_t* v = in + static_cast<int64_t>(row) * n;
    int16_t* o = out + static_cast<int64_t>(row) * n;
    int64_t sum = 0;
    int64_t sum_sq = 0;
    for (int j = 0; j < n; ++j) {
      sum += v[j];
      sum_sq += int64_t{v[j]} * v[j];
    }
    const int32_t mean = static_cast<int32_t>(sum * 1024 / n);
    int64_t mean_sq_scaled;  // E[v^2] * 2^20
    if (exact_statistics) {
      mean_sq_scaled = (sum_sq / n) * kTwoTo20 + (sum_sq % n) * kTwoTo20 / n;
    } else {
      mean_sq_scaled = sum_sq * (kTwoTo20 / n);  // TFLite: 2^20/n truncated, exact only for n = 2^k
    }
    const int64_t variance = mean_sq_scaled - int64_t{mean} * mean;
    int32_t variance_q = SaturateToInt32(variance / kTwoTo20);
    if (variance_q < 1) variance_q = variance_guard;
    const QuantizedMultiplier inv_std = InvSqrtQuantizedMultiplier(variance_q);
    for (int j = 0; j < n; ++j) {
      const int32_t shifted = 1024 * int32_t{v[j]} - mean;
      const int32_t rescaled = MultiplyByQuantizedMultiplier(shifted, inv_std, rounding);
      const int64_t t = int64_t{rescaled} * weight[j] + bias[j];
      const int32_t u = SaturateToInt32((t > 0 ? t + 512 : t - 512) / 1024);
      o[j] = SaturateToInt16(MultiplyByQuantizedMultiplier(u, out_scale, rounding));
    }
  }
}

void LogisticQ3S16(const int16_t* in, int n, int16_t* out) {
  for (int i = 0; i < n; ++i) out[i] = LogisticQ15(in[i], 3);
}

void TanhS16(const int16_t* in, int n, int integer_bits, int16_t* out) {
  for (int i = 0; i < n; ++i) out[i] = TanhQ15(in[i], integer_bits);
}

void LstmCellUpdateS16(const int16_t* f, const int16_t* i, const int16_t* g, int n, int gate_shift, int16_t clip,
                       int16_t* c) {
  for (int k = 0; k < n; ++k) {
    // Both products are plain int16 casts in TFLite (CwiseMul); neither can overflow for these shifts.
    const auto kept = static_cast<int16_t>(RoundingDivideByPOT(int32_t{f[k]} * c[k], 15));
    const int32_t in_gate = i != nullptr ? int32_t{i[k]} : 32767 - int32_t{f[k]};
    const auto added = static_cast<int16_t>(RoundingDivideByPOT(in_gate * g[k], gate_shift));
    int16_t value = SaturateToInt16(int32_t{kept} + added);
    if (clip > 0) value = value > clip ? clip : (value < -clip ? static_cast<int16_t>(-clip) : value);
    c[k] = value;
  }
}

void MulRequantS16ToS8(const int16_t* a, const int16_t* b, int n, QuantizedMultiplier m, Rounding rounding,
                       int32_t zero_point, int8_t* out) {
  for (int i = 0; i < n; ++i) {
    const int32_t r = MultiplyByQuantizedMultiplier(int32_t{a[i]} * b[i], m, rounding);
    out[i] = SaturateToInt8(int64_t{r} + zero_point);
  }
}

void AddZeroPointClampS32ToS8(const int32_t* v, int n, int32_t zero_point, int8_t lo, int8_t hi, int8_t* out) {
  for (int i = 0; i < n; ++i) {
    const int8_t q = SaturateToInt8(int64_t{v[i]} + zero_point);
    out[i] = q < lo ? lo : (q > hi ? hi : q);
  }
}

// The gate epilogue as the kernels above composed, in chunks of 64 values (every step is elementwise).
void LstmGatesS16(const LstmGateEpilogue& e) {
  constexpr int kChunk = 64;
  for (int i0 = 0; i0 < e.n; i0 += kChunk) {
    const int len = e.n - i0 < kChunk ? e.n - i0 : kChunk;
    int16_t gate[4][kChunk];
    int32_t acc[kChunk];
    for (int g = 0; g < 4; ++g) {
      if (e.input[g] == nullptr) continue;  // CIFG
      if (e.tflite_compat) {
        SaturateS32ToS16(e.input[g] + i0, len, gate[g]);
        AddSatS32IntoS16(e.recurrent[g] + i0, len, gate[g]);
      } else {
        for (int k = 0; k < len; ++k) acc[k] = e.input[g][i0 + k];
        AddSatS32IntoS32(e.recurrent[g] + i0, len, acc);
        SaturateS32ToS16(acc, len, gate[g]);
      }
      if (g == 2) {
        TanhS16(gate[g], len, 3, gate[g]);
      } else {
        LogisticQ3S16(gate[g], len, gate[g]);
      }
    }
    LstmCellUpdateS16(gate[1], e.input[0] != nullptr ? gate[0] : nullptr, gate[2], len, e.gate_shift, e.clip,
                      e.c + i0);
    int16_t tanh_cell[kChunk];
    TanhS16(e.c + i0, len, e.cell_integer_bits, tanh_cell);
    MulRequantS16ToS8(gate[3], tanh_cell, len, e.hidden_scale, e.rounding, e.hidden_zp, e.out + i0);
  }
}


// numerics.md §8.2-§8.3, one value at a time: the scalar primitives of §1 and the reference PWL
// evaluation of §6.1 (the tables are not read).
void GruGatesS16(const GruGateEpilogue& e) {
  for (int i = 0; i < e.n; ++i) {
    const int32_t r = PwlEvaluate(*e.sigmoid, SaturateToInt16(int64_t{e.input[0][i]} + e.recurrent[0][i]));
    const int32_t z = PwlEvaluate(*e.sigmoid, SaturateToInt16(int64_t{e.input[1][i]} + e.recurrent[1][i]));
    const int32_t a = SaturateToInt16(e.input[2][i]);
    const int32_t c = SaturateToInt16(e.recurrent[2][i]);
    const int32_t n = PwlEvaluate(*e.tanh, SaturateToInt16(int64_t{a} + RoundingDivideByPOT(r * c, 15)));
    const int32_t d = int32_t{e.h16[i]} - n;  // |d| <= 65535: z * d fits int32 (0 <= z <= 32767)
    const int16_t h = SaturateToInt16(int64_t{n} + RoundingDivideByPOT(z * d, 15));
    e.h16[i] = h;
    const int8_t h8 = SaturateToInt8(int64_t{MultiplyByQuantizedMultiplier(h, e.output_scale, e.rounding)} + e.output_zp);
    e.h8[i] = h8;
    if (e.out != nullptr) e.out[i] = h8;
  }
}

}  // namespace

const LstmKernels& LstmKernelTable() {
  static const LstmKernels table = {
      GemvS8S8RequantS32, GemvS8S8RequantPerChannelS32, AddSatS32IntoS16,  AddSatS32IntoS32,
      SaturateS32ToS16,   PeepholeRequantS32,           LayerNormS16,      LogisticQ3S16,
      TanhS16,            LstmCellUpdateS16,            MulRequantS16ToS8, AddZeroPointClampS32ToS8,
      row_major::PackS8,  row_major::GemvPackedRequantS32<GemvS8S8RequantS32, GemvS8S8RequantPerChannelS32>,
      LstmGatesS16,       nullptr,            nullptr,           nullptr,
      GruGatesS16,
  };
  return table;
}

}  // namespace reference
}  // namespace irnn
