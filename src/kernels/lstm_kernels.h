// The kernel table of the integer LSTM: one function pointer per operation, filled once per code path
// (scalar reference, AVX2). src/kernels/reference/ is the specification; src/kernels/x86/ must match it
// bit for bit on every input. Shapes are row-major; `n` counts elements, `batch` counts rows. Sizes are
// validated by the layer before a kernel is called: kernels check nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <vector>

#include "irnn/kernel_path.h"
#include "irnn/quantization.h"

namespace irnn {

struct PwlTable;  // irnn/pwl.h

// A std::vector allocator whose storage starts on a 64-byte boundary (a cache line, one zmm load): packed
// weights read as 64-byte blocks must not split each load across two lines (measured, amx path, 1
// thread, B = 1, from the 16 mod 64 address malloc gave: the LSTM's fused streaming step 20-25 % slower
// at H = 256, its sequence mode about 20 % slower at H = 512).
template <typename T>
struct CacheLineAllocator {
  using value_type = T;
  CacheLineAllocator() = default;
  template <typename U>
  CacheLineAllocator(const CacheLineAllocator<U>&) {}  // NOLINT(google-explicit-constructor): rebinding
  T* allocate(size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t{64})); }
  void deallocate(T* p, size_t) { ::operator delete(p, std::align_val_t{64}); }
  template <typename U>
  bool operator==(const CacheLineAllocator<U>&) const { return true; }
  template <typename U>
  bool operator!=(const CacheLineAllocator<U>&) const { return false; }
};

// An int8 weight matrix [rows][cols] laid out once, when a layer is created, for one path's matmul.
// What `data` and `row_fold` hold is the path's business (scalar: a row-major copy and no fold; AVX2:
// blocks of 8 rows x 4 columns, no fold, or -128 * row sums where every weight lies in [-64, 63] (the
// 7-bit form); AVX-VNNI: the same blocks and -128 * row sums, see lstm_kernels_avx2.cc;
// AVX-512 VNNI: the same with blocks of 16 rows, see lstm_kernels_avx512.cc).
struct PackedS8 {
  int rows = 0;
  int cols = 0;
  std::vector<int8_t, CacheLineAllocator<int8_t>> data;
  std::vector<int32_t> row_fold;
  // 128 * sum_k |w[r][k]|, the largest |sum_k w[r][k] x[k]| over int8 x (filled by the AVX-512 VNNI
  // PackS8 only, else empty): lets the kernel prove that bias + sum + a rounding nudge never wraps.
  std::vector<int64_t> row_bound;
  // The AVX2 PackS8's list of its -128 weights, which it stores as -127 (lstm_kernels_avx2.cc, the sign
  // trick): row r's columns are int8_min_cols[int8_min_start[r] .. int8_min_start[r + 1]). Both empty
  // where the matrix has none, and on every other path.
  std::vector<int32_t> int8_min_start;
  std::vector<int32_t> int8_min_cols;
};

// The operands of LstmKernels::LstmGatesS16: the gate epilogue of one step of an LSTM without peephole
// and LayerNorm, with the fixed-point activations, over n = batch * n_cell values (numerics.md §4.1-§4.4).
// Gates in the order input, forget, cell, output; the input gate's pointers are null under CIFG.
struct LstmGateEpilogue {
  const int32_t* input[4] = {};      // the input-to-gate matmul results (MBQM'd), [n] per gate
  const int32_t* recurrent[4] = {};  // the recurrent matmul results (MBQM'd), [n] per gate
  int n = 0;
  bool tflite_compat = true;  // how the two contributions add (see LstmGatesS16)
  int gate_shift = 0;         // LstmCellUpdateS16's: 30 + cell_scale, in [15, 21]
  int16_t clip = 0;           // LstmCellUpdateS16's: the cell clip, 0 = none
  int cell_integer_bits = 0;  // TanhS16 of the cell: 15 + cell_scale, in [0, 6]
  QuantizedMultiplier hidden_scale;
  Rounding rounding = Rounding::kDouble;
  int32_t hidden_zp = 0;
  int16_t* c = nullptr;   // [n] the cell state, updated in place
  int8_t* out = nullptr;  // [n] the hidden state, int8
  // PWL activations (numerics.md §6.1) instead of the fixed-point ones: the layer's sigmoid, gate tanh
  // and cell tanh on all 65,536 int16 inputs, indexed by uint16(v), padded by 16 entries
  // (PwlLookupTableS16). All three or none (null: the fixed-point activations). Read by the AVX-512
  // paths' LstmGatesS16 and LstmRecurrentGatesS16 only; the layer passes them to no other kernel.
  const int16_t* sigmoid_table = nullptr;
  const int16_t* tanh_gate_table = nullptr;
  const int16_t* tanh_cell_table = nullptr;
};

// Where a step's walk over weights alternates its direction (LstmRecurrentStep::reverse,
// LstmKernels::GemvPackedRequantWalkS32), it pays only when one thread's walk exceeds this many bytes:
// measured on the amx path at B = 1 (2 MiB of L2 per core), the LSTM's sequence step at H = 640 (1.56 MiB
// of recurrent weights) 17-19 -> 16 us, H = 768 55 -> 34, H = 1024 151 -> 101. H = 512 (1 MiB) is in L2
// either way and stays on the forward walk (a first form that reversed there measured 9.65 -> 9.95 us,
// part of it that form's slower forward code; not separated). That is 5/8 of L2: AlternateWalkMinBytes()
// is 5/8 of this CPU's L2 per core (Linux's sysconf; 2 MiB where it is unknown), so on a CPU with 512 KiB
// of L2 (AMD Zen 3) the walks alternate from 320 KiB. (There, avx2 path, B = 1, H = 512 and 1024, the
// alternation measured within the VM's noise: compute binds before L3 does.)
int64_t AlternateWalkMinBytes();

// The operands of LstmKernels::LstmRecurrentGatesS16: one step's recurrent matmuls of the four gates
// (per-tensor multipliers) and its gate epilogue. `gates` is LstmGatesS16's operands with n = batch *
// n_cell; its `recurrent` pointers are not read.
struct LstmRecurrentStep {
  const PackedS8* w[4] = {};      // the recurrent weights [n_cell][n_output], packed; w[0] null under CIFG
  const int32_t* bias[4] = {};    // the recurrent effective biases [n_cell] (may be null: zeros)
  QuantizedMultiplier m[4];       // the recurrent scales (per-tensor)
  Rounding rounding = Rounding::kDouble;
  const int8_t* h = nullptr;      // [batch][n_output] the previous hidden state; must not alias gates.out
  int batch = 0;
  int n_cell = 0;
  int32_t* scratch[4] = {};       // [batch * n_cell] per present gate: room a path may use for the results
  LstmGateEpilogue gates;
  // Per-channel recurrent multipliers (numerics.md §7.1): [n_cell] per present gate, or null (that gate
  // uses its per-tensor m[g]).
  const QuantizedMultiplier* channel[4] = {};
  // Set by the layer only where every present gate's recurrent multipliers (per row, or per tensor) are
  // powers of two, M = 2^30 with shift <= 0, and the rounding is single: then MBQM(x) is exactly
  // (x + 2^(k-1)) >> k with k = 1 - shift (numerics.md §1.3), and pot_right[g][r] = -shift = k - 1 of
  // row r, [n_cell rounded up to 16] per present gate (null under CIFG). Null: no such guarantee.
  const int32_t* pot_right[4] = {};
  // With pot_right, optionally: 2^(k-1) of each row where the layer proved |bias[r]| + 128 sum_k
  // |w[r][k]| + 2^(k-1) <= INT32_MAX for every row of every present gate, so that the matmul result
  // plus this nudge never wraps and MBQM is one shift of it (null: not proved).
  const int32_t* pot_nudge[4] = {};
  // Set with pot_right only where the layer proved |gates.input[g][i]| + |recurrent result| <= INT32_MAX
  // for every value (the input multipliers pot too, and the rows' accumulator bounds): intended mode's
  // sat32(in + rec) never acts. Without it, intended mode's pot step needs every recurrent row's k >= 2
  // (|rec| <= 2^29), which the layer ensures (else it passes no pot_right).
  bool input_pot = false;
  // Walk the weights in the opposite order (LstmStreamStep::reverse's reason; each cell's results are
  // the same): a path may honour it (the AVX-512 VNNI path's composed form, above 256 x 256 weights per
  // gate, where the call's rows of all gates exceed AlternateWalkMinBytes()) or ignore it (the reference).
  bool reverse = false;
};

// The input and recurrent weights of an LSTM's gates laid out as ONE stream for the fused streaming step
// (LstmKernels::LstmStreamStepS16), once, when a layer is created. What `data` and the folds hold is the
// path's business (AVX-512 VNNI: see lstm_stream_avx512.cc).
struct PackedLstmStream {
  int n_cell = 0;
  int n_input = 0;
  int n_output = 0;
  int gates = 0;  // 4, or 3 under CIFG (no input gate)
  std::vector<int8_t, CacheLineAllocator<int8_t>> data;  // 64-byte aligned
  std::vector<int32_t> input_fold;      // [gates][cells padded]
  std::vector<int32_t> recurrent_fold;  // [gates][cells padded]
};

// The operands of LstmKernels::LstmStreamStepS16: one whole step of an LSTM without peephole, LayerNorm
// and projection-free or not (the projection runs after it): the input-to-gate and the recurrent
// matmuls of the four gates (each per-tensor, numerics.md §4.1, or per-row, §7.1) and the gate epilogue
// (fixed-point or PWL activations). `gates` is LstmGatesS16's operands with n = batch * n_cell; its
// `input` and `recurrent` pointers are not read (the kernel points them at the scratch buffers).
struct LstmStreamStep {
  const PackedLstmStream* w = nullptr;
  const int32_t* input_bias[4] = {};      // the input effective biases [n_cell] (may be null: zeros)
  const int32_t* recurrent_bias[4] = {};  // the recurrent effective biases [n_cell] (may be null: zeros)
  QuantizedMultiplier input_m[4];         // the input-to-gate scales (per-tensor)
  QuantizedMultiplier recurrent_m[4];     // the recurrent scales (per-tensor)
  // Per-row multipliers [n_cell] of a gate's matmul (numerics.md §7.1), or null: its per-tensor one above.
  const QuantizedMultiplier* input_channel[4] = {};
  const QuantizedMultiplier* recurrent_channel[4] = {};
  // The activations as 64Ki-entry tables indexed by uint16(v) plus 16 padding entries (PwlLookupTableS16
  // of the layer's PWL tables, numerics.md §6.1: sigmoid of the gates i, f, o, tanh of g, tanh of the
  // cell), or all null: the fixed-point functions of §2.3-§2.4. The outputs of the sigmoid table lie in
  // [0, 32767], those of the tanh tables in [-32767, 32767] (ValidateTfliteLstmParams).
  const int16_t* sigmoid_table = nullptr;
  const int16_t* tanh_gate_table = nullptr;
  const int16_t* tanh_cell_table = nullptr;
  // The power-of-two form (an optimisation the caller may set only where its conditions hold; the results
  // stay the same bit for bit). input_pot_shift[g] / recurrent_pot_shift[g] [n_cell] per present gate:
  // k[r] in [1, 31] where rounding is single and the row's multiplier (per-row or per-tensor) is
  // (2^30, 1 - k[r]), so that its MBQM is floor((acc + 2^(k-1)) / 2^k) (§1.3); and for every row the bound
  // B = |bias[r]| + 128 * sum_k |W[r][k]| of its accumulator satisfies B + 2^(k-1) <= INT32_MAX in both
  // parts and (B_x + 2^(kx-1)) >> kx plus (B_h + 2^(kh-1)) >> kh <= INT32_MAX (the sum of the two
  // requantized contributions cannot overflow int32). All null: the general requantization.
  const int32_t* input_pot_shift[4] = {};
  const int32_t* recurrent_pot_shift[4] = {};
  // k in [1, 30] where rounding is single and gates.hidden_scale = (2^30, 1 - k); 0: the general form.
  int hidden_pot_shift = 0;
  Rounding rounding = Rounding::kDouble;
  const int8_t* x = nullptr;  // [batch][n_input] this step's input
  const int8_t* h = nullptr;  // [batch][n_output] the previous hidden state; must not alias gates.out
  int batch = 0;
  int n_cell = 0;
  // [batch * n_cell] per present gate: room for the input and the recurrent matmul results (the
  // AVX-512 VNNI kernel keeps them in registers and does not use it).
  int32_t* input_scratch[4] = {};
  int32_t* recurrent_scratch[4] = {};
  // Walk the cell blocks from the last to the first (each cell's arithmetic is independent: the same
  // results). A caller alternating the direction step by step finds the blocks it read last still in
  // cache when the matrix is a little larger than the cache (a cyclic scan would miss on every line).
  bool reverse = false;
  LstmGateEpilogue gates;
};

// The operands of LstmKernels::GruGatesS16: the gate epilogue of one GRU step (numerics.md §8.2-§8.3)
// over n values (n = batch * n_hidden, or one batch row's range of units), gates in the order r, z, n.
struct GruGateEpilogue {
  const int32_t* input[3] = {};      // ax_g: the input matmul results (MBQM'd to Q3.12), [n] per gate
  const int32_t* recurrent[3] = {};  // ah_g: the recurrent matmul results, [n] per gate
  int n = 0;
  const PwlTable* sigmoid = nullptr;  // σ and tanh (§6.1): what the scalar reference evaluates
  const PwlTable* tanh = nullptr;
  // The same functions on all 65,536 int16 inputs, indexed by uint16(v), plus 16 padding entries
  // (PwlLookupTableS16, kernels/pwl_kernels.h): what the SIMD paths read; they require them.
  const int16_t* sigmoid_table = nullptr;
  const int16_t* tanh_table = nullptr;
  QuantizedMultiplier output_scale;  // M_out
  Rounding rounding = Rounding::kDouble;
  int32_t output_zp = 0;             // Z_out
  int16_t* h16 = nullptr;  // [n] the Q0.15 state, updated in place
  int8_t* h8 = nullptr;    // [n] the new int8 state, written
  int8_t* out = nullptr;   // [n] a copy of h8 (may be null)
};

// The operands of LstmKernels::GruStreamStepS16: one whole GRU step of few batch rows (numerics.md
// §8.1-§8.3): the input and recurrent matmuls of the gates r, z, n (per-channel multipliers, §7.1) and
// the gate epilogue. The weights are PackLstmStreamS8's stream of the three gates (input_w = the input
// weights of r, z, n and null, recurrent_w = the recurrent ones). `gates` is GruGatesS16's operands for
// all [batch][n_hidden] values (n unused); its `input` and `recurrent` pointers are not read.
struct GruStreamStep {
  const PackedLstmStream* w = nullptr;
  const int32_t* input_bias[3] = {};                // [n_hidden] effective biases (not null)
  const int32_t* recurrent_bias[3] = {};            // [n_hidden]
  const QuantizedMultiplier* input_m[3] = {};       // [n_hidden] per-row multipliers
  const QuantizedMultiplier* recurrent_m[3] = {};   // [n_hidden]
  Rounding rounding = Rounding::kDouble;
  const int8_t* x = nullptr;  // [batch][n_input] this step's input
  const int8_t* h = nullptr;  // [batch][n_hidden] the previous int8 state (read before any is written)
  int batch = 0;
  int n_hidden = 0;
  bool reverse = false;  // walk the cell blocks from the last to the first (LstmStreamStep's reason)
  GruGateEpilogue gates;
};

struct LstmKernels {
  // out[b*rows + r] = MBQM(bias[r] + sum_k w[r*cols + k] * x[b*cols + k], m)   (numerics.md §4.1)
  // int8 x int8 products accumulate in int32 with two's-complement wrap. bias may be null (zeros).
  void (*GemvS8S8RequantS32)(const int8_t* w, int rows, int cols, const int32_t* bias, const int8_t* x,
                             int batch, QuantizedMultiplier m, Rounding rounding, int32_t* out);
  // out[b*rows + r] = MBQM(bias[r] + sum_k w[r*cols + k] * x[b*cols + k], m[r])   (numerics.md §7.1)
  // The same with one multiplier per output row (per-channel weights); m holds `rows` multipliers.
  void (*GemvS8S8RequantPerChannelS32)(const int8_t* w, int rows, int cols, const int32_t* bias, const int8_t* x,
                                       int batch, const QuantizedMultiplier* m, Rounding rounding, int32_t* out);
  // acc[i] = sat16(acc[i] + v[i])
  void (*AddSatS32IntoS16)(const int32_t* v, int n, int16_t* acc);
  // acc[i] = sat32(acc[i] + v[i])
  void (*AddSatS32IntoS32)(const int32_t* v, int n, int32_t* acc);
  // out[i] = sat16(v[i])
  void (*SaturateS32ToS16)(const int32_t* v, int n, int16_t* out);
  // out[i] = MBQM(w[i % period] * c[i], m)   (peephole; numerics.md §4.2)
  void (*PeepholeRequantS32)(const int16_t* w, int period, const int16_t* c, int n, QuantizedMultiplier m,
                             Rounding rounding, int32_t* out);
  // Integer LayerNorm of `rows` rows of n values each, Q3.12 output (numerics.md §3). With
  // exact_statistics the variance divides by n exactly; without it, TFLite's truncated 2^20/n.
  void (*LayerNormS16)(const int16_t* in, const int16_t* weight, const int32_t* bias, int n, int rows,
                       QuantizedMultiplier scale, int32_t variance_guard, bool exact_statistics,
                       Rounding rounding, int16_t* out);
  // out[i] = logistic(in[i]), Q3.12 -> Q0.15   (numerics.md §2.3)
  void (*LogisticQ3S16)(const int16_t* in, int n, int16_t* out);
  // out[i] = tanh(in[i]), Q(integer_bits) -> Q0.15, integer_bits in [0, 6]   (numerics.md §2.4)
  void (*TanhS16)(const int16_t* in, int n, int integer_bits, int16_t* out);
  // c[i] = clip(sat16(int16(RDivPOT(f*c, 15)) + int16(RDivPOT(ii*g, gate_shift)))), where ii = i[i], or
  // 32767 - f[i] when i is null (CIFG); clip applies when clip > 0. gate_shift = 30 + cell_scale,
  // in [15, 21].   (numerics.md §4.3)
  void (*LstmCellUpdateS16)(const int16_t* f, const int16_t* i, const int16_t* g, int n, int gate_shift,
                            int16_t clip, int16_t* c);
  // out[i] = sat8(MBQM(a[i] * b[i], m) + zero_point)   (numerics.md §4.4)
  void (*MulRequantS16ToS8)(const int16_t* a, const int16_t* b, int n, QuantizedMultiplier m, Rounding rounding,
                            int32_t zero_point, int8_t* out);
  // out[i] = clamp(sat8(v[i] + zero_point), lo, hi)
  void (*AddZeroPointClampS32ToS8)(const int32_t* v, int n, int32_t zero_point, int8_t lo, int8_t hi,
                                   int8_t* out);
  // Lays out w [rows][cols] for GemvPackedRequantS32 of the same path.
  void (*PackS8)(const int8_t* w, int rows, int cols, PackedS8* out);
  // GemvS8S8RequantS32 (channel null) or GemvS8S8RequantPerChannelS32 (channel: rows multipliers) of
  // the packed matrix, for the output rows [row_begin, row_end) only: out[b*rows + r] for those r, the
  // other outputs untouched; the same results, bit for bit, on every path. row_begin is a multiple of 8
  // (threads split the rows at such boundaries); bias and channel are indexed by the absolute row.
  void (*GemvPackedRequantS32)(const PackedS8& w, int row_begin, int row_end, const int32_t* bias, const int8_t* x,
                               int batch, QuantizedMultiplier m, const QuantizedMultiplier* channel,
                               Rounding rounding, int32_t* out);
  // The gate epilogue of one step in one pass, the same bit for bit as these kernels composed:
  //   pre_g = tflite_compat ? AddSatS32IntoS16(SaturateS32ToS16(input_g), recurrent_g)
  //                         : SaturateS32ToS16(AddSatS32IntoS32(input_g, recurrent_g))
  //   i, f, o = LogisticQ3S16(pre), g = TanhS16(pre, 3)
  //   c = LstmCellUpdateS16(f, i or null, g, gate_shift, clip)
  //   out = MulRequantS16ToS8(o, TanhS16(c, cell_integer_bits), hidden_scale, rounding, hidden_zp)
  // (numerics.md §4.1-§4.4, §5 Q5). A later member: tables are filled whole by this folder.
  void (*LstmGatesS16)(const LstmGateEpilogue& e);
  // The recurrent matmuls of the four gates (GemvPackedRequantS32 of s.w[g], s.m[g] or s.channel[g]) and
  // LstmGatesS16 fused, for the cells [cell_begin, cell_end) of every batch row, bit for bit the same
  // as those kernels composed; cell_begin is a multiple of 16 (threads split the cells). Null on the
  // paths without it (the layer composes the two kernels there). A later member, as LstmGatesS16.
  void (*LstmRecurrentGatesS16)(const LstmRecurrentStep& s, int cell_begin, int cell_end);
  // Lays out the gates' input-to-gate weights input_w[g] [n_cell][n_input] and recurrent weights
  // recurrent_w[g] [n_cell][n_output] (both null for an absent gate: the input gate under CIFG) as one
  // stream for LstmStreamStepS16 of the same path. Null on the paths without LstmStreamStepS16.
  void (*PackLstmStreamS8)(const int8_t* const* input_w, const int8_t* const* recurrent_w, int n_cell, int n_input,
                           int n_output, PackedLstmStream* out) = nullptr;
  // One whole step for the cells [cell_begin, cell_end) of every batch row (cell_begin a multiple of 16,
  // as threads split the cells), bit for bit the same as these kernels composed:
  //   input_scratch[g] = GemvS8S8RequantS32(input weights of g, input_bias[g], x, input_m[g])
  //   recurrent_scratch[g] = GemvS8S8RequantS32(recurrent weights of g, recurrent_bias[g], h, recurrent_m[g])
  //   LstmGatesS16(gates with input = input_scratch, recurrent = recurrent_scratch)
  // (numerics.md §4.1-§4.4; GemvS8S8RequantPerChannelS32 for a matmul with per-row multipliers, §7.1;
  // the PWL tables in place of the fixed-point activations where they are given, §6.1), reading each cell block's input and recurrent weights as one stream. The
  // streaming step (TfliteLstm::Step) of few rows. A later member: null on the paths without it (the
  // layer composes the kernels above there).
  void (*LstmStreamStepS16)(const LstmStreamStep& s, int cell_begin, int cell_end) = nullptr;
  // The GRU's gate epilogue in one pass, bit for bit numerics.md §8.2-§8.3 for each i < n:
  //   r = σ(sat16(in_r + rec_r)), z = σ(sat16(in_z + rec_z))   (exact sums)
  //   n = tanh(sat16(sat16(in_n) + RDivPOT(r * sat16(rec_n), 15)))
  //   h16 = sat16(n + RDivPOT(z * (h16 - n), 15)),  h8 = out = sat8(MBQM(h16, M_out) + Z_out)
  // The reference evaluates σ and tanh by PwlEvaluate; the other paths read e.sigmoid_table and
  // e.tanh_table (equal to it on every input by construction). A later member, filled on every path.
  void (*GruGatesS16)(const GruGateEpilogue& e) = nullptr;
  // One whole GRU step for the hidden units [begin, end) of every batch row (begin a multiple of 16, as
  // threads split the units), bit for bit GemvPackedRequantS32 of the six matrices (per-channel) and
  // GruGatesS16 composed: each unit block's input and recurrent weights read as one stream, the
  // results requantized and put through the epilogue in registers. Gru::Step of few rows. A later
  // member: null on the paths without it (the layer composes the kernels there).
  void (*GruStreamStepS16)(const GruStreamStep& s, int begin, int end) = nullptr;
  // GemvPackedRequantS32, with the row blocks walked from the last to the first where `reverse` and the
  // path walks row blocks (avx2; avx512vnni; amx below 16 input rows): the same results, bit for bit. A
  // caller alternating the direction step by step finds the rows it read last still in L2 when its
  // weights exceed L2 (LstmRecurrentStep::reverse's reason; Gru's sequence step). A later member: null on
  // the paths without it (callers use GemvPackedRequantS32).
  void (*GemvPackedRequantWalkS32)(const PackedS8& w, int row_begin, int row_end, const int32_t* bias,
                                   const int8_t* x, int batch, QuantizedMultiplier m,
                                   const QuantizedMultiplier* channel, Rounding rounding, int32_t* out,
                                   bool reverse) = nullptr;
};

// The table for a resolved path (kScalar, kAvx2, kAvxVnni or kAvx512Vnni; kAuto is not a resolved path).
const LstmKernels& GetLstmKernels(KernelPath resolved);

namespace reference {
const LstmKernels& LstmKernelTable();
}  // namespace reference

namespace avx2 {
// Returns null when the build has no AVX2 code (non-x86 target).
const LstmKernels* LstmKernelTable();
// The AVX2 table with the matmuls on AVX-VNNI (vpdpbusd); null when the build has no such code.
const LstmKernels* AvxVnniLstmKernelTable();
// v[i] = MBQM(v[i], channel ? channel[i] : m) on 8 lanes at a time (numerics.md §1.3, §7.1): the
// requantization of the packed matmuls, for the AVX-512 path's matmul (which sums into `out` first).
void RequantizeS32InPlace(int32_t* v, int n, QuantizedMultiplier m, const QuantizedMultiplier* channel,
                          Rounding rounding);
// v[r * stride + i] = MBQM(v[r * stride + i], channel[i]) for r < rows, i < n (numerics.md §7.1): the
// same as RequantizeS32InPlace of each row with `channel`, the per-lane constants made once per 8 lanes
// for all rows (the AMX matmul's per-channel requantization of many input rows).
void RequantizeS32RowsInPlace(int32_t* v, int rows, int64_t stride, int n, const QuantizedMultiplier* channel,
                              Rounding rounding);
// The AVX2 LstmGatesS16 with its activation-table lookups (v[i] = table[uint16(v[i])], i < n; n a
// multiple of 16; tables readable 16 entries past 65535) done by `look_up`.
void LstmGatesS16Tables(const LstmGateEpilogue& e, void (*look_up)(const int16_t* table, int16_t* v, int n));
// The activation table of LstmGatesS16: logistic Q3.12 (tanh_integer_bits = -1) or tanh with
// tanh_integer_bits in [0, 6], for all 65,536 int16 inputs indexed by uint16(v), padded by 16 entries.
const int16_t* ActivationTableS16(int tanh_integer_bits);
}  // namespace avx2

namespace avx512 {
// The AVX-VNNI table with the matmuls on AVX-512 VNNI (zmm vpdpbusd, 16-row blocks); null when the
// build has no such code.
const LstmKernels* Avx512VnniLstmKernelTable();
// The AVX-512 VNNI table with the matmuls of 16 or more input rows on AMX tiles (tdpbusd); null when
// the build has no such code.
const LstmKernels* AmxLstmKernelTable();
// True when the CPU and the OS let this process use AMX int8 tiles (asks Linux for the permission once).
bool AmxAvailable();
// For the tests: out[i] = MBQM(x[i], m, rounding) + z (i < n) by the right-shift requantization of the
// AVX-512 recurrent step (requant_avx512.h's RequantizeRight512), when m and z meet its conditions
// (shift <= -1, multiplier != INT32_MIN, |z| 2^(31 - shift) <= 2^61); else returns false and writes
// nothing. Call only where the avx512vnni path is available.
bool RequantizeRightS32(const int32_t* x, int n, QuantizedMultiplier m, Rounding rounding, int32_t z, int32_t* out);
// The AVX-512 VNNI table's PackLstmStreamS8 and LstmStreamStepS16 (lstm_stream_avx512.cc); call only
// where that table is available.
void PackLstmStreamS8(const int8_t* const* input_w, const int8_t* const* recurrent_w, int n_cell, int n_input,
                      int n_output, PackedLstmStream* out);
void LstmStreamStepS16(const LstmStreamStep& s, int cell_begin, int cell_end);
void GruStreamStepS16(const GruStreamStep& s, int begin, int end);
}  // namespace avx512

}  // namespace irnn
