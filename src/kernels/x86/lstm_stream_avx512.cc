// The fused streaming step of the integer LSTM on AVX-512 VNNI (LstmKernels::PackLstmStreamS8 and
// LstmStreamStepS16): one time step's input-to-gate and recurrent matmuls of the four gates and the gate
// epilogue in one pass over the cells, reading the input and recurrent weights of each 16-cell block as
// one contiguous stream. It serves Step (streaming mode, one frame per call) with few input rows; Run
// (sequence mode) keeps its batched input projection and LstmRecurrentGatesS16. Bit-identical to the
// composed kernels (per-gate GemvS8S8RequantS32 of the input and of the recurrent weights, then
// LstmGatesS16), which the reference defines: the two parts keep separate int32 sums and are
// requantized separately (numerics.md §4.1), and the epilogue is the path's own LstmGatesS16
// (§4.1-§4.4). It is not a specification, and it does not handle peephole, LayerNorm, PWL activations
// or per-channel scales (the layer composes other kernels there). The functions carry their ISA in
// __attribute__((target)) and run only after dispatch.cc has checked AVX-512 VNNI.
//
// Arithmetic, as lstm_kernels_avx512.cc's matmul: vpdpbusd of u = x ^ 0x80 (unsigned) by the signed
// weights, with row_fold = -128 * row sum added back; every sum wraps in int32 as the reference's does.
// Layout of the stream, per 16-cell block rb: first the input column groups kg = 0 .. gi-1 (gi =
// ceil(n_input / 4)), then the recurrent ones kg = 0 .. gr-1 (gr = ceil(n_output / 4)); within a group
// the present gates' 64-byte blocks in gate order (16 rows x 4 columns, row j's columns at bytes
// 4j..4j+3). So one block's bytes are read front to back exactly once per input row group, and the
// hardware prefetcher sees a single forward stream through the whole matrix. Padding rows and columns
// are zero weights (and zero inputs).

#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // GCC 12's AVX-512 intrinsics (GCC bug 105593)
#include <immintrin.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/lstm_kernels.h"
#include "kernels/x86/requant_avx512.h"

namespace irnn {
namespace avx512 {
namespace {

#define IRNN_TARGET_STREAM512 __attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")))

constexpr int kBlockRows = 16;
constexpr int kGroupBytes = 64;  // 16 rows x 4 columns of one gate
// How far ahead of its loads the one-row loop prefetches (into L1): past the 4 KiB pages where the
// hardware prefetchers stop. 4 KiB measured best of {0, 1, 2, 4} KiB at H = 512, B = 1 (1 KiB: 10 %
// slower, none: about 15 % slower; H = 128, 256, 1024: within 3 %); a prefetch past the end of the stream
// is harmless (prefetches never fault).
constexpr int kPrefetchBytes = 4096;

inline int Groups(int cols) { return (cols + 3) / 4; }
inline int64_t PaddedCells(int n_cell) { return (n_cell + kBlockRows - 1) / kBlockRows * kBlockRows; }
inline int64_t BlockBytes(const PackedLstmStream& w) {
  return int64_t{Groups(w.n_input) + Groups(w.n_output)} * w.gates * kGroupBytes;
}

// Packs one part (input or recurrent) of every present gate into the stream and its folds.
void PackPart(const int8_t* const* weights, int n_cell, int cols, int64_t part_offset, PackedLstmStream* out,
              std::vector<int32_t>* fold) {
  const int64_t block_bytes = BlockBytes(*out), padded = PaddedCells(n_cell);
  int slot = 0;
  for (int g = 0; g < 4; ++g) {
    if (weights[g] == nullptr) continue;
    for (int r = 0; r < n_cell; ++r) {
      uint32_t sum = 0;
      for (int k = 0; k < cols; ++k) {
        const int8_t v = weights[g][static_cast<int64_t>(r) * cols + k];
        const int64_t at = (r / kBlockRows) * block_bytes + part_offset +
                           (int64_t{k / 4} * out->gates + slot) * kGroupBytes + (r % kBlockRows) * 4 + k % 4;
        out->data[static_cast<size_t>(at)] = v;
        sum += static_cast<uint32_t>(int32_t{v});
      }
      (*fold)[static_cast<size_t>(slot * padded + r)] = static_cast<int32_t>(0u - 128u * sum);  // wraps
    }
    ++slot;
  }
}

void PackStream(const int8_t* const* input_w, const int8_t* const* recurrent_w, int n_cell, int n_input, int n_output,
                PackedLstmStream* out) {
  out->n_cell = n_cell;
  out->n_input = n_input;
  out->n_output = n_output;
  out->gates = 0;
  for (int g = 0; g < 4; ++g) out->gates += input_w[g] != nullptr ? 1 : 0;
  const int64_t padded = PaddedCells(n_cell);
  out->data.assign(static_cast<size_t>(padded / kBlockRows * BlockBytes(*out)), 0);
  out->input_fold.assign(static_cast<size_t>(out->gates * padded), 0);
  out->recurrent_fold.assign(static_cast<size_t>(out->gates * padded), 0);
  PackPart(input_w, n_cell, n_input, 0, out, &out->input_fold);
  PackPart(recurrent_w, n_cell, n_output, int64_t{Groups(n_input)} * out->gates * kGroupBytes, out,
           &out->recurrent_fold);
}

// The rows' inputs as unsigned bytes (v ^ 0x80), each row padded with zeros to a whole column group, in
// a per-thread buffer (`which` picks one of two: the input x and the hidden state h).
IRNN_TARGET_STREAM512 const uint8_t* Unsigned(const int8_t* v, int rows, int cols, int which) {
  thread_local std::vector<uint8_t> buffers[2];
  std::vector<uint8_t>& buffer = buffers[which];
  const size_t padded = static_cast<size_t>(Groups(cols)) * 4;
  if (buffer.size() < padded * rows) buffer.resize(padded * rows);
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  for (int b = 0; b < rows; ++b) {
    const int8_t* vb = v + static_cast<int64_t>(b) * cols;
    uint8_t* ub = buffer.data() + padded * b;
    int k = 0;
    for (; k + 64 <= cols; k += 64) _mm512_storeu_si512(ub + k, _mm512_xor_si512(_mm512_loadu_si512(vb + k), flip));
    for (; k < cols; ++k) ub[k] = static_cast<uint8_t>(vb[k]) ^ 0x80u;
    for (; k < static_cast<int>(padded); ++k) ub[k] = 0;
  }
  return buffer.data();
}

// One input row times the G gates' blocks of one part (`groups` column groups of G * 64 bytes from p):
// even and odd groups in separate accumulators (2G independent vpdpbusd chains), added at the end
// (int32 addition wraps and is associative). out[g] = the 16 row sums of gate slot g.
template <int G>
IRNN_TARGET_STREAM512 inline void PartOneRow(const int8_t* p, int groups, const uint8_t* u, __m512i* out) {
  __m512i even[G], odd[G];
  for (int g = 0; g < G; ++g) even[g] = odd[g] = _mm512_setzero_si512();
  int kg = 0;
  for (; kg + 2 <= groups; kg += 2) {
    int32_t four[2];
    std::memcpy(four, u + 4 * kg, 8);
    const __m512i x0 = _mm512_set1_epi32(four[0]);
    const __m512i x1 = _mm512_set1_epi32(four[1]);
    const int8_t* q = p + int64_t{kg} * G * kGroupBytes;
    for (int g = 0; g < 2 * G; ++g) {
      _mm_prefetch(reinterpret_cast<const char*>(q + kPrefetchBytes + g * kGroupBytes), _MM_HINT_T0);
    }
    for (int g = 0; g < G; ++g) even[g] = _mm512_dpbusd_epi32(even[g], x0, _mm512_loadu_si512(q + g * kGroupBytes));
    for (int g = 0; g < G; ++g) {
      odd[g] = _mm512_dpbusd_epi32(odd[g], x1, _mm512_loadu_si512(q + (G + g) * kGroupBytes));
    }
  }
  if (kg < groups) {
    int32_t four;
    std::memcpy(&four, u + 4 * kg, 4);
    const __m512i x0 = _mm512_set1_epi32(four);
    const int8_t* q = p + int64_t{kg} * G * kGroupBytes;
    for (int g = 0; g < G; ++g) even[g] = _mm512_dpbusd_epi32(even[g], x0, _mm512_loadu_si512(q + g * kGroupBytes));
  }
  for (int g = 0; g < G; ++g) out[g] = _mm512_add_epi32(even[g], odd[g]);
}

// NB input rows (2..4) times the G gates' blocks of one part: each weight load serves NB rows.
// out[b * G + g].
template <int NB, int G>
IRNN_TARGET_STREAM512 inline void PartRows(const int8_t* p, int groups, const uint8_t* const* u, __m512i* out) {
  __m512i acc[NB * G];
  for (int i = 0; i < NB * G; ++i) acc[i] = _mm512_setzero_si512();
  for (int kg = 0; kg < groups; ++kg) {
    __m512i xb[NB];
    for (int b = 0; b < NB; ++b) {
      int32_t four;
      std::memcpy(&four, u[b] + 4 * kg, 4);
      xb[b] = _mm512_set1_epi32(four);
    }
    const int8_t* q = p + int64_t{kg} * G * kGroupBytes;
    for (int g = 0; g < G; ++g) {
      const __m512i wv = _mm512_loadu_si512(q + g * kGroupBytes);
      for (int b = 0; b < NB; ++b) acc[b * G + g] = _mm512_dpbusd_epi32(acc[b * G + g], xb[b], wv);
    }
  }
  for (int i = 0; i < NB * G; ++i) out[i] = acc[i];
}

template <int NB, int G>
IRNN_TARGET_STREAM512 inline void Part(const int8_t* p, int groups, const uint8_t* const* u, __m512i* out) {
  if constexpr (NB == 1) {
    PartOneRow<G>(p, groups, u[0], out);
  } else {
    PartRows<NB, G>(p, groups, u, out);
  }
}

// What the loops need, made once per call.
struct StreamContext {
  const LstmStreamStep* s;
  int gi, gr;               // column groups of the input and the recurrent part
  int64_t block_bytes;      // one 16-cell block of the stream
  int64_t recurrent_offset; // where a block's recurrent part starts
  int64_t padded_cells;
  size_t in_stride, rec_stride;  // bytes per row of the unsigned inputs
  const uint8_t* ux;
  const uint8_t* uh;
  int slot_gate[4];         // the gate of each slot
  Requant512 in_q[4], rec_q[4];
};

// Adds fold and bias to one part's sums of block rb (slot order), requantizes them and stores the 16
// cells of rows b .. b + NB - 1 (masked to the cells below cell_end) into that part's scratch.
template <int NB, int G>
IRNN_TARGET_STREAM512 inline void StorePart(const StreamContext& c, const __m512i* sums, const int32_t* fold,
                                            const int32_t* const* bias, const Requant512* q, int32_t* const* scratch,
                                            int rb, int b, __mmask16 mask) {
  const int r0 = rb * kBlockRows;
  for (int slot = 0; slot < G; ++slot) {
    const int g = c.slot_gate[slot];
    __m512i addend = _mm512_loadu_si512(fold + slot * c.padded_cells + r0);
    if (bias[g] != nullptr) addend = _mm512_add_epi32(addend, _mm512_maskz_loadu_epi32(mask, bias[g] + r0));
    for (int i = 0; i < NB; ++i) {
      const __m512i v = Requantize512(_mm512_add_epi32(sums[i * G + slot], addend), q[g]);
      _mm512_mask_storeu_epi32(scratch[g] + static_cast<int64_t>(b + i) * c.s->n_cell + r0, mask, v);
    }
  }
}

// Rows b .. b + NB - 1, the cell blocks [rb0, rb1): both parts' matmuls into the scratch buffers.
template <int NB, int G>
IRNN_TARGET_STREAM512 void Matmuls(const StreamContext& c, int b, int rb0, int rb1, int cell_end) {
  const LstmStreamStep& s = *c.s;
  const uint8_t* ux[NB];
  const uint8_t* uh[NB];
  for (int i = 0; i < NB; ++i) {
    ux[i] = c.ux + c.in_stride * (b + i);
    uh[i] = c.uh + c.rec_stride * (b + i);
  }
  __m512i sums[NB * G];
  for (int i = 0; i < rb1 - rb0; ++i) {
    const int rb = s.reverse ? rb1 - 1 - i : rb0 + i;
    const int r0 = rb * kBlockRows;
    const int hi = std::min(kBlockRows, cell_end - r0);
    const __mmask16 mask = static_cast<__mmask16>((1u << hi) - 1u);
    const int8_t* block = s.w->data.data() + rb * c.block_bytes;
    Part<NB, G>(block, c.gi, ux, sums);
    StorePart<NB, G>(c, sums, s.w->input_fold.data(), s.input_bias, c.in_q, s.input_scratch, rb, b, mask);
    Part<NB, G>(block + c.recurrent_offset, c.gr, uh, sums);
    StorePart<NB, G>(c, sums, s.w->recurrent_fold.data(), s.recurrent_bias, c.rec_q, s.recurrent_scratch, rb, b,
                     mask);
  }
}

template <int G>
IRNN_TARGET_STREAM512 void MatmulsRows(const StreamContext& c, int b, int rows, int rb0, int rb1, int cell_end) {
  switch (rows) {
    case 1: Matmuls<1, G>(c, b, rb0, rb1, cell_end); break;
    case 2: Matmuls<2, G>(c, b, rb0, rb1, cell_end); break;
    case 3: Matmuls<3, G>(c, b, rb0, rb1, cell_end); break;
    default: Matmuls<4, G>(c, b, rb0, rb1, cell_end); break;
  }
}

// Cells per chunk: the matmuls of a chunk's blocks, then its epilogue, while the chunk's int32 results
// (8 x 4 bytes per cell and row) are still in L1.
constexpr int kChunkBlocks = 4;

IRNN_TARGET_STREAM512 void StreamStep(const LstmStreamStep& s, int cell_begin, int cell_end) {
  if (cell_end <= cell_begin) return;
  const PackedLstmStream& w = *s.w;
  StreamContext c;
  c.s = &s;
  c.gi = Groups(w.n_input);
  c.gr = Groups(w.n_output);
  c.block_bytes = BlockBytes(w);
  c.recurrent_offset = int64_t{c.gi} * w.gates * kGroupBytes;
  c.padded_cells = PaddedCells(w.n_cell);
  c.in_stride = static_cast<size_t>(c.gi) * 4;
  c.rec_stride = static_cast<size_t>(c.gr) * 4;
  c.ux = Unsigned(s.x, s.batch, w.n_input, 0);
  c.uh = Unsigned(s.h, s.batch, w.n_output, 1);
  int slot = 0;
  for (int g = 0; g < 4; ++g) {
    c.in_q[g] = MakeRequant512(s.input_m[g], s.rounding);
    c.rec_q[g] = MakeRequant512(s.recurrent_m[g], s.rounding);
    if (w.gates == 4 || g > 0) c.slot_gate[slot++] = g;
  }
  void (*const epilogue)(const LstmGateEpilogue&) = Avx512VnniLstmKernelTable()->LstmGatesS16;
  const int first_block = cell_begin / kBlockRows, end_block = (cell_end + kBlockRows - 1) / kBlockRows;
  const int chunks = (end_block - first_block + kChunkBlocks - 1) / kChunkBlocks;
  for (int chunk = 0; chunk < chunks; ++chunk) {
    const int rb0 = first_block + (s.reverse ? chunks - 1 - chunk : chunk) * kChunkBlocks;
    const int rb1 = std::min(end_block, rb0 + kChunkBlocks);
    for (int b = 0; b < s.batch; b += 4) {
      const int rows = std::min(4, s.batch - b);
      if (w.gates == 4) {
        MatmulsRows<4>(c, b, rows, rb0, rb1, cell_end);
      } else {
        MatmulsRows<3>(c, b, rows, rb0, rb1, cell_end);
      }
    }
    // The chunk's epilogue, row by row: LstmGatesS16 is elementwise, so a sub-range of the cells is the
    // same call with every pointer moved to it.
    const int k0 = std::max(cell_begin, rb0 * kBlockRows), k1 = std::min(cell_end, rb1 * kBlockRows);
    for (int b = 0; b < s.batch; ++b) {
      const int64_t at = int64_t{b} * s.n_cell + k0;
      LstmGateEpilogue e = s.gates;
      for (int g = 0; g < 4; ++g) {
        const bool present = w.gates == 4 || g > 0;
        e.input[g] = present ? s.input_scratch[g] + at : nullptr;
        e.recurrent[g] = present ? s.recurrent_scratch[g] + at : nullptr;
      }
      e.n = k1 - k0;
      e.c = s.gates.c + at;
      e.out = s.gates.out + at;
      epilogue(e);
    }
  }
}

}  // namespace

// The table members (dispatch has checked the CPU; these wrappers carry no target of their own).
void PackLstmStreamS8(const int8_t* const* input_w, const int8_t* const* recurrent_w, int n_cell, int n_input,
                      int n_output, PackedLstmStream* out) {
  PackStream(input_w, recurrent_w, n_cell, n_input, n_output, out);
}
void LstmStreamStepS16(const LstmStreamStep& s, int cell_begin, int cell_end) { StreamStep(s, cell_begin, cell_end); }

}  // namespace avx512
}  // namespace irnn
