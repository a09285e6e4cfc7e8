// The fused streaming step of the integer LSTM on AVX-512 VNNI (LstmKernels::PackLstmStreamS8 and
// LstmStreamStepS16): one time step's input-to-gate and recurrent matmuls of the four gates and the gate
// epilogue in one pass over the cells, reading the input and recurrent weights of each 16-cell block as
// one contiguous stream. It serves Step (streaming mode, one frame per call) with few input rows; Run
// (sequence mode) keeps its batched input projection and LstmRecurrentGatesS16. Bit-identical to the
// composed kernels (per-gate GemvS8S8RequantS32 of the input and of the recurrent weights, then
// LstmGatesS16), which the reference defines: the two parts keep separate int32 sums and are
// requantized separately (numerics.md §4.1, or per row, §7.1), and the epilogue is LstmGatesS16's
// arithmetic (§4.1-§4.4, with PWL tables in place of the fixed-point activations where the layer has them,
// §6.1) run on each block's results in registers; a power-of-two form of the requantization serves the
// models whose multipliers allow it (see LstmStreamStepS16 below). It is not a specification, and it does
// not handle peephole or LayerNorm (the layer composes other kernels there).
// The functions carry their ISA in __attribute__((target)) and run only after dispatch.cc has checked
// AVX-512 VNNI.
// The GRU's streaming step (GruStreamStepS16, numerics.md §8.1-§8.3 with §7.1's per-row multipliers)
// walks the same kind of stream (three gates r, z, n) and takes each block's results through the GRU
// epilogue in registers; bit-identical to GemvPackedRequantS32 (per-channel) and GruGatesS16 composed.
//
// Arithmetic, as lstm_kernels_avx512.cc's matmul: vpdpbusd of u = x ^ 0x80 (unsigned) by the signed
// weights, with row_fold = -128 * row sum added back; every sum wraps in int32 as the reference's does.
// Layout of the stream, per 16-cell block rb: first the input column groups kg = 0 .. gi-1 (gi =
// ceil(n_input / 4)), then the recurrent ones kg = 0 .. gr-1 (gr = ceil(n_output / 4)); within a group
// the present gates' 64-byte blocks in gate order (16 rows x 4 columns, row j's columns at bytes
// 4j..4j+3). So one block's bytes are read front to back exactly once per input row group, and the
// hardware prefetcher sees a single forward stream through the whole matrix. Padding rows and columns
// are zero weights (and zero inputs). The stream starts on a 64-byte boundary (CacheLineAllocator), so
// that no 64-byte load spans two cache lines.

#pragma GCC diagnostic ignored "-Wuninitialized"  // GCC 12's AVX-512 intrinsics (GCC bug 105593)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstring>
#include <optional>
#include <vector>

#include "kernels/lstm_kernels.h"
#include "kernels/x86/requant_avx512.h"

namespace irnn {
namespace avx512 {
namespace {

#define IRNN_TARGET_STREAM512 __attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")))

constexpr int kBlockRows = 16;
constexpr int kGroupBytes = 64;  // 16 rows x 4 columns of one gate
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

// acc += the dot products of x's four unsigned bytes per lane with the 64 weight bytes at w (vpdpbusd
// with w as its memory operand). GCC 12 compiles the intrinsic in PartOneRow's loop with two register
// copies of every accumulator per iteration (16 extra instructions per 8 loads); the inline asm form
// keeps each accumulator in one register. w is 64-byte aligned (the stream is, and every group is 64
// bytes).
IRNN_TARGET_STREAM512 inline void Dpbusd(__m512i& acc, __m512i x, const int8_t* w) {
#if defined(__GNUC__) && !defined(__clang__)
  asm("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(x), "m"(*reinterpret_cast<const __m512i*>(w)));
#else
  acc = _mm512_dpbusd_epi32(acc, x, _mm512_load_si512(w));
#endif
}

// One input row times the G (3 or 4) gates' blocks of one part (`groups` column groups of G * 64 bytes
// from p): even and odd groups in separate accumulators (2G independent vpdpbusd chains), added at the
// end (int32 addition wraps and is associative). out[g] = the 16 row sums of gate slot g. No software
// prefetch: with the caller alternating the walk's direction (LstmStreamStep::reverse), prefetching every
// line 4 KiB ahead into L1 measured slower at every size (B = 1, amx path, 1 thread, min of 5 alternating
// processes: H = 128 and 256 7 %, H = 512 2 %, H = 1024 even); the L2 streamer keeps up. Not inlined:
// inside LstmBlocks, register pressure brings the accumulator copies back.
template <int G>
IRNN_TARGET_STREAM512 __attribute__((noinline)) void PartOneRow(const int8_t* p, int groups, const uint8_t* u,
                                                                __m512i* out) {
  static_assert(G == 3 || G == 4, "three or four gates");
  __m512i e0 = _mm512_setzero_si512(), e1 = e0, e2 = e0, e3 = e0, o0 = e0, o1 = e0, o2 = e0, o3 = e0;
  const int8_t* q = p;
  const uint8_t* v = u;
  for (const uint8_t* end = u + 4 * (groups & ~1); v != end; v += 8, q += 2 * G * kGroupBytes) {
    // vpbroadcastd from memory: a load-port uop each (from a GPR it costs a vector-port uop and a shift).
    const __m512i x0 = _mm512_broadcastd_epi32(_mm_loadu_si32(v));
    const __m512i x1 = _mm512_broadcastd_epi32(_mm_loadu_si32(v + 4));
    Dpbusd(e0, x0, q);
    Dpbusd(e1, x0, q + kGroupBytes);
    Dpbusd(e2, x0, q + 2 * kGroupBytes);
    if constexpr (G == 4) Dpbusd(e3, x0, q + 3 * kGroupBytes);
    Dpbusd(o0, x1, q + G * kGroupBytes);
    Dpbusd(o1, x1, q + (G + 1) * kGroupBytes);
    Dpbusd(o2, x1, q + (G + 2) * kGroupBytes);
    if constexpr (G == 4) Dpbusd(o3, x1, q + (G + 3) * kGroupBytes);
  }
  if ((groups & 1) != 0) {
    int32_t four;
    std::memcpy(&four, v, 4);
    const __m512i x0 = _mm512_set1_epi32(four);
    Dpbusd(e0, x0, q);
    Dpbusd(e1, x0, q + kGroupBytes);
    Dpbusd(e2, x0, q + 2 * kGroupBytes);
    if constexpr (G == 4) Dpbusd(e3, x0, q + 3 * kGroupBytes);
  }
  out[0] = _mm512_add_epi32(e0, o0);
  out[1] = _mm512_add_epi32(e1, o1);
  out[2] = _mm512_add_epi32(e2, o2);
  if constexpr (G == 4) out[3] = _mm512_add_epi32(e3, o3);
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

// ---- GruStreamStepS16: the GRU's streaming step (numerics.md §8.1-§8.3, §7.1) ----------------------
// The same stream (PackStream of the gates r, z, n: three slots), walked one 16-unit block at a time:
// the block's input sums, then its recurrent sums, each plus fold and bias and requantized with the
// rows' own multipliers (requant_avx512.h's RequantRows512: MakeRequantPerLane / RequantizePerLane
// of lstm_kernels_avx2.cc on 16 lanes), then the gate epilogue (GruGatesS16's arithmetic) straight from
// the registers: the int32 results never reach memory.

// MBQM with one (multiplier, shift) per lane: requant_avx512.h's RequantRows512 (MakeRequantRows512,
// RequantizeRows512), the rounding chosen per call.
IRNN_TARGET_STREAM512 inline __m512i RequantizeLanes512(__m512i x, const RequantRows512& q, bool single) {
  return single ? RequantizeRows512<true>(x, q) : RequantizeRows512<false>(x, q);
}

// The per-lane form of requant_avx512.h's RequantizeRight512 (MBQM for a right shift, see the derivation
// there): for rows whose shifts are all <= -1 and whose multipliers are not INT32_MIN (the common case),
// MBQM(x) = floor((P + c) / 2^s) with P = x * M in 64 bits, s = 31 + r (r = -shift), c = 2^(s-1) (single
// rounding) or 2^30 + 2^(30+r) - 2^31 [P < -2^30] (double rounding); |result| <= 2^30, so no saturation
// acts. 8 (single) or 12 (double) ops per 16 lanes instead of RequantizeLanes512's 13 or 22. Even lanes:
// vpmuldq of the low dwords, vpsraq by s leaves the result in the low dword; odd lanes: the high dwords
// moved down, vpsraq by s - 32 leaves it in the high dword; one blend.
struct RightLanes512 {
  __m512i multiplier, multiplier_odd;
  __m512i c_even, c_odd;  // 64-bit rounding constants
  __m512i s_even, s_odd;  // s and s - 32 per qword
};

// The constants of rows m[0 .. valid - 1] (valid in 1..16; the other lanes get M = 0, r = 1: results 0,
// never stored); false (nothing made) when a row's shift is >= 0 or its multiplier is INT32_MIN.
IRNN_TARGET_STREAM512 inline bool MakeRightLanes512(const QuantizedMultiplier* m, int valid, bool single,
                                                    RightLanes512* q) {
  const int pairs_lo = std::min(valid, 8), pairs_hi = std::max(valid - 8, 0);
  const int32_t* p = reinterpret_cast<const int32_t*>(m);
  const __m512i lo = _mm512_maskz_loadu_epi32(static_cast<__mmask16>((1u << (2 * pairs_lo)) - 1u), p);
  const __m512i hi = _mm512_maskz_loadu_epi32(static_cast<__mmask16>((1u << (2 * pairs_hi)) - 1u), p + 16);
  const __m512i even_idx = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd_idx = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  const __m512i multiplier = _mm512_permutex2var_epi32(lo, even_idx, hi);
  __m512i shift = _mm512_permutex2var_epi32(lo, odd_idx, hi);
  const __mmask16 lanes = static_cast<__mmask16>((1u << valid) - 1u);
  const __m512i minus_one = _mm512_set1_epi32(-1);
  if ((_mm512_mask_cmpgt_epi32_mask(lanes, shift, minus_one) |
       _mm512_mask_cmpeq_epi32_mask(lanes, multiplier, _mm512_set1_epi32(INT32_MIN))) != 0) {
    return false;
  }
  shift = _mm512_mask_mov_epi32(minus_one, lanes, shift);
  const __m512i r = _mm512_sub_epi32(_mm512_setzero_si512(), shift);  // [1, 31]
  const __m512i s = _mm512_add_epi32(r, _mm512_set1_epi32(31));      // [32, 62]
  const __m512i low = _mm512_set1_epi64(0xFFFFFFFF);
  const __m512i s_even = _mm512_and_si512(s, low), s_odd = _mm512_srli_epi64(s, 32);
  if (single) {
    const __m512i one = _mm512_set1_epi64(1);
    q->c_even = _mm512_sllv_epi64(one, _mm512_sub_epi64(s_even, one));
    q->c_odd = _mm512_sllv_epi64(one, _mm512_sub_epi64(s_odd, one));
  } else {
    const __m512i half = _mm512_set1_epi64(int64_t{1} << 30);
    q->c_even = _mm512_add_epi64(half, _mm512_sllv_epi64(half, _mm512_and_si512(r, low)));
    q->c_odd = _mm512_add_epi64(half, _mm512_sllv_epi64(half, _mm512_srli_epi64(r, 32)));
  }
  q->multiplier = multiplier;
  q->multiplier_odd = _mm512_srli_epi64(multiplier, 32);
  q->s_even = s_even;
  q->s_odd = _mm512_sub_epi64(s_odd, _mm512_set1_epi64(32));
  return true;
}

template <bool kDouble>
IRNN_TARGET_STREAM512 inline __m512i RequantizeRightLanes512(__m512i x, const RightLanes512& q) {
  const __m512i pe = _mm512_mul_epi32(x, q.multiplier);
  const __m512i po = _mm512_mul_epi32(_mm512_srli_epi64(x, 32), q.multiplier_odd);
  __m512i ae = _mm512_add_epi64(pe, q.c_even);
  __m512i ao = _mm512_add_epi64(po, q.c_odd);
  if (kDouble) {
    const __m512i limit = _mm512_set1_epi64(-(int64_t{1} << 30)), full = _mm512_set1_epi64(int64_t{1} << 31);
    ae = _mm512_mask_sub_epi64(ae, _mm512_cmplt_epi64_mask(pe, limit), ae, full);
    ao = _mm512_mask_sub_epi64(ao, _mm512_cmplt_epi64_mask(po, limit), ao, full);
  }
  return _mm512_mask_blend_epi32(0xAAAA, _mm512_srav_epi64(ae, q.s_even), _mm512_srav_epi64(ao, q.s_odd));
}

IRNN_TARGET_STREAM512 inline __m512i Clamp(__m512i v, int32_t lo, int32_t hi) {
  return _mm512_min_epi32(_mm512_max_epi32(v, _mm512_set1_epi32(lo)), _mm512_set1_epi32(hi));
}

// sat16(sat32(a + b)) (= sat16 of the exact sum: a saturated int32 sum keeps the sign of the exact one).
IRNN_TARGET_STREAM512 inline __m512i SatSum16(__m512i a, __m512i b) {
  __m512i sum = _mm512_add_epi32(a, b);
  const __mmask16 overflow = _mm512_cmplt_epi32_mask(
      _mm512_and_si512(_mm512_xor_si512(a, sum), _mm512_xor_si512(b, sum)), _mm512_setzero_si512());
  sum = _mm512_mask_mov_epi32(sum, overflow, _mm512_xor_si512(_mm512_srai_epi32(a, 31), _mm512_set1_epi32(INT32_MAX)));
  return Clamp(sum, -32768, 32767);
}

// RoundingDivideByPOT(x, 15) as floor((x + 2^14 - [x < 0]) / 2^15): exact for |x| <= 32767 * 65535
// (lstm_kernels_avx512.cc's RoundingDivideByPOT512).
IRNN_TARGET_STREAM512 inline __m512i RoundingDivideBy2Pow15(__m512i x) {
  const __m512i nudge = _mm512_add_epi32(_mm512_set1_epi32(1 << 14), _mm512_srai_epi32(x, 31));
  return _mm512_srai_epi32(_mm512_add_epi32(x, nudge), 15);
}

// table[uint16(v)] sign-extended (the plain 64Ki-entry tables of GruGateEpilogue).
IRNN_TARGET_STREAM512 inline __m512i Lookup(__m512i v, const int16_t* table) {
  const __m512i entry = _mm512_i32gather_epi32(_mm512_and_si512(v, _mm512_set1_epi32(0xFFFF)), table, 2);
  return _mm512_srai_epi32(_mm512_slli_epi32(entry, 16), 16);
}

// What the LSTM's and the GRU's streaming steps both need of the stream and the step's inputs.
struct StreamGeometry {
  int gi, gr;                    // column groups of the input and the recurrent part
  int64_t block_bytes;           // one 16-cell block of the stream
  int64_t recurrent_offset;      // where a block's recurrent part starts
  int64_t padded_cells;
  size_t in_stride, rec_stride;  // bytes per row of the unsigned inputs
  const uint8_t* ux;
  const uint8_t* uh;
};

IRNN_TARGET_STREAM512 inline void InitStreamGeometry(const PackedLstmStream& w, const int8_t* x, const int8_t* h,
                                                     int batch, StreamGeometry* g) {
  g->gi = Groups(w.n_input);
  g->gr = Groups(w.n_output);
  g->block_bytes = BlockBytes(w);
  g->recurrent_offset = int64_t{g->gi} * w.gates * kGroupBytes;
  g->padded_cells = PaddedCells(w.n_cell);
  g->in_stride = static_cast<size_t>(g->gi) * 4;
  g->rec_stride = static_cast<size_t>(g->gr) * 4;
  g->ux = Unsigned(x, batch, w.n_input, 0);
  g->uh = Unsigned(h, batch, w.n_output, 1);
}

struct GruStreamContext : StreamGeometry {
  const GruStreamStep* s;
  bool single;
  Requant512 out_q;
  __m512i zp;
};

// Adds fold and bias to one part's sums of the block at r0 and requantizes them per row: out[i * 3 + g].
template <int NB>
IRNN_TARGET_STREAM512 inline void RequantPart(const GruStreamContext& c, const __m512i* sums, const int32_t* fold,
                                              const int32_t* const* bias, const QuantizedMultiplier* const* m,
                                              int r0, int valid, __mmask16 mask, __m512i* out) {
  for (int g = 0; g < 3; ++g) {
    const __m512i addend = _mm512_add_epi32(_mm512_loadu_si512(fold + g * c.padded_cells + r0),
                                            _mm512_maskz_loadu_epi32(mask, bias[g] + r0));
    const RequantRows512 q = MakeRequantRows512(m[g] + r0, valid);
    for (int i = 0; i < NB; ++i) {
      out[i * 3 + g] = RequantizeLanes512(_mm512_add_epi32(sums[i * 3 + g], addend), q, c.single);
    }
  }
}

// §8.2-§8.3 on the 16 units at k of the [batch][n_hidden] state (GruGatesS16's Gru16), the matmul results
// in registers: in = (ax_r, ax_z, ax_n), rec = (ah_r, ah_z, ah_n).
IRNN_TARGET_STREAM512 inline void GruEpilogue(const GruStreamContext& c, int64_t k, __mmask16 m, const __m512i* in,
                                              const __m512i* rec) {
  const GruGateEpilogue& e = c.s->gates;
  const __m512i r = Lookup(SatSum16(in[0], rec[0]), e.sigmoid_table);
  const __m512i z = Lookup(SatSum16(in[1], rec[1]), e.sigmoid_table);
  const __m512i a = Clamp(in[2], -32768, 32767);
  const __m512i cc = Clamp(rec[2], -32768, 32767);
  const __m512i pre_n = Clamp(_mm512_add_epi32(a, RoundingDivideBy2Pow15(_mm512_mullo_epi32(r, cc))), -32768, 32767);
  const __m512i n = Lookup(pre_n, e.tanh_table);
  const __m512i h = _mm512_cvtepi16_epi32(_mm256_maskz_loadu_epi16(m, e.h16 + k));
  const __m512i kept = RoundingDivideBy2Pow15(_mm512_mullo_epi32(z, _mm512_sub_epi32(h, n)));
  const __m512i h_new = Clamp(_mm512_add_epi32(n, kept), -32768, 32767);
  _mm256_mask_storeu_epi16(e.h16 + k, m, _mm512_cvtepi32_epi16(h_new));
  const __m128i h8 =
      _mm512_cvtsepi32_epi8(_mm512_add_epi32(Clamp(Requantize512(h_new, c.out_q), -65536, 65536), c.zp));
  _mm_mask_storeu_epi8(e.h8 + k, m, h8);
  if (e.out != nullptr) _mm_mask_storeu_epi8(e.out + k, m, h8);
}

// Rows b .. b + NB - 1, the unit blocks [rb0, rb1).
template <int NB>
IRNN_TARGET_STREAM512 __attribute__((flatten)) void GruBlocks(const GruStreamContext& c, int b, int rb0, int rb1,
                                                               int end) {
  const GruStreamStep& s = *c.s;
  const uint8_t* ux[NB];
  const uint8_t* uh[NB];
  for (int i = 0; i < NB; ++i) {
    ux[i] = c.ux + c.in_stride * (b + i);
    uh[i] = c.uh + c.rec_stride * (b + i);
  }
  __m512i sums[NB * 3], in[NB * 3], rec[NB * 3];
  for (int j = 0; j < rb1 - rb0; ++j) {
    const int rb = s.reverse ? rb1 - 1 - j : rb0 + j;
    const int r0 = rb * kBlockRows;
    const int valid = std::min(kBlockRows, end - r0);
    const __mmask16 mask = static_cast<__mmask16>((1u << valid) - 1u);
    const int8_t* block = s.w->data.data() + rb * c.block_bytes;
    Part<NB, 3>(block, c.gi, ux, sums);
    RequantPart<NB>(c, sums, s.w->input_fold.data(), s.input_bias, s.input_m, r0, valid, mask, in);
    Part<NB, 3>(block + c.recurrent_offset, c.gr, uh, sums);
    RequantPart<NB>(c, sums, s.w->recurrent_fold.data(), s.recurrent_bias, s.recurrent_m, r0, valid, mask, rec);
    for (int i = 0; i < NB; ++i) GruEpilogue(c, int64_t{b + i} * s.n_hidden + r0, mask, in + i * 3, rec + i * 3);
  }
}

IRNN_TARGET_STREAM512 void GruStep(const GruStreamStep& s, int begin, int end) {
  if (end <= begin) return;
  const PackedLstmStream& w = *s.w;
  GruStreamContext c;
  c.s = &s;
  InitStreamGeometry(w, s.x, s.h, s.batch, &c);
  c.single = s.rounding == Rounding::kSingle;
  c.out_q = MakeRequant512(s.gates.output_scale, s.rounding);
  c.zp = _mm512_set1_epi32(s.gates.output_zp);
  const int rb0 = begin / kBlockRows, rb1 = (end + kBlockRows - 1) / kBlockRows;
  for (int b = 0; b < s.batch; b += 4) {
    switch (std::min(4, s.batch - b)) {
      case 1: GruBlocks<1>(c, b, rb0, rb1, end); break;
      case 2: GruBlocks<2>(c, b, rb0, rb1, end); break;
      case 3: GruBlocks<3>(c, b, rb0, rb1, end); break;
      default: GruBlocks<4>(c, b, rb0, rb1, end); break;
    }
  }
}


// ---- LstmStreamStepS16 ---------------------------------------------------------------------------
// One 16-cell block at a time: the block's input sums, then its recurrent sums (each plus fold and bias,
// requantized), then the gate epilogue (LstmGatesS16's arithmetic, lstm_kernels_avx512.cc's Gates16) from
// the registers, while the next block's weights stream in: no int32 result goes to memory (the step's
// scratch buffers are not used). The activations are gathered from 64Ki-entry tables (the entry of
// uint16(v) sign-extended): avx2::ActivationTableS16 for the fixed-point functions, the caller's
// PwlLookupTableS16 tables for PWL ones: the only tables a streaming step touches.
// Four forms of the matmuls' requantization (StreamRequant), chosen once per call:
//   kRight: per-tensor multipliers that all shift right (shift <= -1, M != INT32_MIN, as a float model's
//     usually do): requant_avx512.h's RequantizeRight512 with each gate's constants (11-12 ops per 16
//     lanes instead of Requantize512's 14-15, and half the constants to set up per call);
//   kPerTensor: Requantize512 with each gate's uniform constants (the other per-tensor models);
//   kPerRow: RequantizeRightLanes512 (or, where a row's shift is >= 0, RequantizeLanes512) with the
//     block's 16 rows' own multipliers (§7.1; a per-tensor gate among
//     per-row ones gets 16 copies of its multiplier);
//   kPot: the power-of-two form (LstmStreamStep::input_pot_shift): MBQM = floor((acc + 2^(k-1)) / 2^k)
//     with per-row k, the nudge 2^(k-1) added to the fold + bias addend. The caller's bound makes acc +
//     nudge exact in int32 (|acc| <= B, B + 2^(k-1) <= INT32_MAX: no wrap where the reference has none,
//     and the reference's own int32 sum does not wrap either), so one vpsravd finishes it; and in
//     intended mode the sum of the two contributions cannot overflow, so sat32 is dropped: sat16(a_x +
//     a_h) is one add and a clamp (SatSum16's overflow check is the identity there). kRight's sums
//     cannot overflow either (PreActivation).
// The hidden requantization: Requantize512 (RequantizeRight512 where its conditions hold), or with
// LstmStreamStep::hidden_pot_shift k, ((o * tc + 2^(k-1)) >> k) + zp = MBQM(o * tc) + zp exactly (|o * tc| <
// 2^30 and k <= 30 keep the sum in int32), then sat8 by vpmovsdb (MBQM's sat32 never acts: |result| <=
// 2^29).

enum class StreamRequant { kRight, kPerTensor, kPerRow, kPot };

// What the loops need, made once per call.
struct StreamContext : StreamGeometry {
  const LstmStreamStep* s;
  int slot_gate[4];         // the gate of each slot
  Requant512 in_q[4], rec_q[4];  // kPerTensor
  RequantRight512 in_r[4], rec_r[4];  // kRight
  // kPerRow: each gate's multipliers, indexed by r0 * step (step 0: 16 copies of the per-tensor one).
  const QuantizedMultiplier* in_rows[4];
  const QuantizedMultiplier* rec_rows[4];
  int in_step[4], rec_step[4];
  bool single;
  // The epilogue's constants.
  const int16_t* sigmoid;
  const int16_t* tanh_gate;
  const int16_t* tanh_cell;
  Requant512 hidden;
  RequantRight512 hidden_r;  // hidden_right
  bool hidden_right;         // RequantRightApplies(hidden_scale, 0)
  bool single_hidden;        // the epilogue's rounding is single
  bool hidden_pot;
  __m512i hidden_add;  // hidden_pot: 2^(k-1)
  __m128i hidden_k;    // hidden_pot: k (vpsrad's count)
  __m512i zp;
  bool cifg, compat, clipping;
};

// Adds fold and bias to one part's sums of the block at r0 and requantizes them: out[i * 4 + gate] (the
// absent input gate's entries under CIFG are left alone). q: kPerTensor's constants; right_q: kRight's;
// rows/step: kPerRow's multipliers; pot_k: kPot's shifts.
template <int NB, int G, StreamRequant R>
IRNN_TARGET_STREAM512 inline void RequantLstmPart(const StreamContext& c, const __m512i* sums, const int32_t* fold,
                                                  const int32_t* const* bias, const Requant512* q,
                                                  const RequantRight512* right_q,
                                                  const QuantizedMultiplier* const* rows, const int* step,
                                                  const int32_t* const* pot_k, int r0, int valid, __mmask16 mask,
                                                  __m512i* out) {
  for (int slot = 0; slot < G; ++slot) {
    const int g = c.slot_gate[slot];
    __m512i addend = _mm512_loadu_si512(fold + slot * c.padded_cells + r0);
    if (bias[g] != nullptr) addend = _mm512_add_epi32(addend, _mm512_maskz_loadu_epi32(mask, bias[g] + r0));
    if constexpr (R == StreamRequant::kPot) {
      // Lanes past the last row read k = 0: no nudge, no shift (their results are not stored).
      const __m512i k = _mm512_maskz_loadu_epi32(mask, pot_k[g] + r0);
      addend = _mm512_add_epi32(addend, _mm512_srli_epi32(_mm512_sllv_epi32(_mm512_set1_epi32(1), k), 1));
      for (int i = 0; i < NB; ++i) out[i * 4 + g] = _mm512_srav_epi32(_mm512_add_epi32(sums[i * G + slot], addend), k);
    } else if constexpr (R == StreamRequant::kPerRow) {
      const QuantizedMultiplier* m = rows[g] + r0 * step[g];
      const int lanes = step[g] != 0 ? valid : kBlockRows;
      RightLanes512 right;
      if (!MakeRightLanes512(m, lanes, c.single, &right)) {
        const RequantRows512 general = MakeRequantRows512(m, lanes);
        for (int i = 0; i < NB; ++i) {
          out[i * 4 + g] = RequantizeLanes512(_mm512_add_epi32(sums[i * G + slot], addend), general, c.single);
        }
      } else if (c.single) {
        for (int i = 0; i < NB; ++i) {
          out[i * 4 + g] = RequantizeRightLanes512<false>(_mm512_add_epi32(sums[i * G + slot], addend), right);
        }
      } else {
        for (int i = 0; i < NB; ++i) {
          out[i * 4 + g] = RequantizeRightLanes512<true>(_mm512_add_epi32(sums[i * G + slot], addend), right);
        }
      }
    } else if constexpr (R == StreamRequant::kRight) {
      for (int i = 0; i < NB; ++i) {
        const __m512i x = _mm512_add_epi32(sums[i * G + slot], addend);
        out[i * 4 + g] = c.single ? RequantizeRight512<false>(x, _mm512_srli_epi64(x, 32), right_q[g])
                                  : RequantizeRight512<true>(x, _mm512_srli_epi64(x, 32), right_q[g]);
      }
    } else {
      for (int i = 0; i < NB; ++i) out[i * 4 + g] = Requantize512(_mm512_add_epi32(sums[i * G + slot], addend), q[g]);
    }
  }
}

// A gate's pre-activation: AddSatS32IntoS16(SaturateS32ToS16(in), rec) in tflite_compat mode, else
// SaturateS32ToS16(AddSatS32IntoS32(in, rec)). With kExactSum the int32 sums in + rec and sat16(in) + rec
// are known not to overflow, so sat32 (intended mode) and the clamp of rec that stands in for the exact
// sum (tflite_compat) are left out: kPot by the caller's bound (|in| + |rec| <= INT32_MAX, and |sat16(in)|
// <= |in|); kRight because RequantizeRight512's results lie in [-2^30, 2^30 - 1] (MBQM with a right
// shift of x in [INT32_MIN, INT32_MAX] and M < 2^31; the ends at x = INT32_MIN, INT32_MAX, M = 2^31 - 1,
// shift -1), so both sums stay within [-2^31, 2^31 - 2].
template <bool kExactSum>
IRNN_TARGET_STREAM512 inline __m512i PreActivation(__m512i in, __m512i rec, bool compat) {
  if (compat && kExactSum) return Clamp(_mm512_add_epi32(Clamp(in, -32768, 32767), rec), -32768, 32767);
  if (compat) return Clamp(_mm512_add_epi32(Clamp(in, -32768, 32767), Clamp(rec, -65536, 65536)), -32768, 32767);
  if (kExactSum) return Clamp(_mm512_add_epi32(in, rec), -32768, 32767);
  return SatSum16(in, rec);
}

// RoundingDivideByPOT(x, e) as floor((x + 2^(e-1) - [x < 0]) / 2^e), |x| + 2^(e-1) < 2^31 (Gates16's
// products: |x| <= 32767 * 32768, e <= 21).
IRNN_TARGET_STREAM512 inline __m512i RoundingDivideByPOT(__m512i x, int e) {
  const __m512i nudge = _mm512_add_epi32(_mm512_set1_epi32(int32_t{1} << (e - 1)), _mm512_srai_epi32(x, 31));
  return _mm512_srai_epi32(_mm512_add_epi32(x, nudge), static_cast<unsigned>(e));
}

IRNN_TARGET_STREAM512 inline __m512i SignExtend16(__m512i v) { return _mm512_srai_epi32(_mm512_slli_epi32(v, 16), 16); }

// Gates16 (lstm_kernels_avx512.cc, numerics.md §4.1-§4.4) of the 16 values at k of the [batch][n_cell]
// state, both matmul results in registers (in[0], rec[0] unused under CIFG), in three stages, so that
// LstmBlocks can put the next block's matmuls between them: each stage waits for one level of table
// gathers (the activations, then tanh of the new cell), and the out-of-order core runs that wait
// alongside the weight stream instead of after it. The products by vpmaddwd are exact: one factor (a
// sigmoid output or 32767 - f) is in [0, 32767], its high half zero.
struct GateValues {
  __m512i f, g, ii, o;  // the activations (ii: the input gate, or 32767 - f under CIFG)
  __m512i tc;           // tanh of the new cell (stage 2)
};

// Stage 1: the pre-activations and their activations.
template <bool kExactSum>
IRNN_TARGET_STREAM512 inline void EpilogueActivations(const StreamContext& c, const __m512i* in, const __m512i* rec,
                                                      GateValues* v) {
  v->f = Lookup(PreActivation<kExactSum>(in[1], rec[1], c.compat), c.sigmoid);
  v->g = Lookup(PreActivation<kExactSum>(in[2], rec[2], c.compat), c.tanh_gate);
  v->ii = c.cifg ? _mm512_sub_epi32(_mm512_set1_epi32(32767), v->f)
                 : Lookup(PreActivation<kExactSum>(in[0], rec[0], c.compat), c.sigmoid);
  v->o = Lookup(PreActivation<kExactSum>(in[3], rec[3], c.compat), c.sigmoid);
}

// Stage 2: the cell update (stored) and tanh of the new cell.
IRNN_TARGET_STREAM512 inline void EpilogueCell(const StreamContext& c, int64_t k, __mmask16 m, GateValues* v) {
  const LstmGateEpilogue& e = c.s->gates;
  const __m512i cell_old = _mm512_cvtepi16_epi32(_mm256_maskz_loadu_epi16(m, e.c + k));
  const __m512i kept = SignExtend16(RoundingDivideByPOT(_mm512_madd_epi16(v->f, cell_old), 15));
  const __m512i added = SignExtend16(RoundingDivideByPOT(_mm512_madd_epi16(v->ii, v->g), e.gate_shift));
  __m512i cell = Clamp(_mm512_add_epi32(kept, added), -32768, 32767);
  if (c.clipping) cell = Clamp(cell, -e.clip, e.clip);
  _mm256_mask_storeu_epi16(e.c + k, m, _mm512_cvtepi32_epi16(cell));
  v->tc = Lookup(cell, c.tanh_cell);
}

// Stage 3: the hidden state o * tanh(c), requantized to int8 (stored).
IRNN_TARGET_STREAM512 inline void EpilogueHidden(const StreamContext& c, int64_t k, __mmask16 m, const GateValues& v) {
  const __m512i product = _mm512_madd_epi16(v.o, v.tc);
  __m512i r;
  if (c.hidden_pot) {
    r = _mm512_add_epi32(_mm512_sra_epi32(_mm512_add_epi32(product, c.hidden_add), c.hidden_k), c.zp);
  } else if (c.hidden_right) {
    const __m512i m = c.single_hidden ? RequantizeRight512<false>(product, _mm512_srli_epi64(product, 32), c.hidden_r)
                                      : RequantizeRight512<true>(product, _mm512_srli_epi64(product, 32), c.hidden_r);
    r = _mm512_add_epi32(Clamp(m, -65536, 65536), c.zp);
  } else {
    r = _mm512_add_epi32(Clamp(Requantize512(product, c.hidden), -65536, 65536), c.zp);
  }
  _mm_mask_storeu_epi8(c.s->gates.out + k, m, _mm512_cvtsepi32_epi8(r));
}

// Rows b .. b + NB - 1, the cell blocks [rb0, rb1): block j's input matmul, then stage 2 of block j - 1,
// block j's recurrent matmul, stage 3 of block j - 1, then stage 1 of block j; the last block's stages 2
// and 3 after the loop. Each block's cells are independent of the others': the same results as one
// block at a time.
template <int NB, int G, StreamRequant R>
IRNN_TARGET_STREAM512 __attribute__((flatten)) void LstmBlocks(const StreamContext& c, int b, int rb0, int rb1,
                                                                int cell_end) {
  constexpr bool kExactSum = R == StreamRequant::kPot || R == StreamRequant::kRight;
  const LstmStreamStep& s = *c.s;
  const uint8_t* ux[NB];
  const uint8_t* uh[NB];
  for (int i = 0; i < NB; ++i) {
    ux[i] = c.ux + c.in_stride * (b + i);
    uh[i] = c.uh + c.rec_stride * (b + i);
  }
  __m512i sums[NB * G], in[NB * 4], rec[NB * 4];
  for (int i = 0; i < NB * 4; ++i) in[i] = rec[i] = _mm512_setzero_si512();
  GateValues v[NB];
  int64_t prev_k = 0;  // the previous block's offset in row b (its stages 2 and 3 pending when j > 0)
  __mmask16 prev_mask = 0;
  for (int j = 0; j < rb1 - rb0; ++j) {
    const int rb = s.reverse ? rb1 - 1 - j : rb0 + j;
    const int r0 = rb * kBlockRows;
    const int hi = std::min(kBlockRows, cell_end - r0);
    const __mmask16 mask = static_cast<__mmask16>((1u << hi) - 1u);
    const int8_t* block = s.w->data.data() + rb * c.block_bytes;
    Part<NB, G>(block, c.gi, ux, sums);
    if (j > 0) {
      for (int i = 0; i < NB; ++i) EpilogueCell(c, int64_t{b + i} * s.n_cell + prev_k, prev_mask, &v[i]);
    }
    RequantLstmPart<NB, G, R>(c, sums, s.w->input_fold.data(), s.input_bias, c.in_q, c.in_r, c.in_rows, c.in_step,
                              s.input_pot_shift, r0, hi, mask, in);
    Part<NB, G>(block + c.recurrent_offset, c.gr, uh, sums);
    if (j > 0) {
      for (int i = 0; i < NB; ++i) EpilogueHidden(c, int64_t{b + i} * s.n_cell + prev_k, prev_mask, v[i]);
    }
    RequantLstmPart<NB, G, R>(c, sums, s.w->recurrent_fold.data(), s.recurrent_bias, c.rec_q, c.rec_r, c.rec_rows,
                              c.rec_step, s.recurrent_pot_shift, r0, hi, mask, rec);
    for (int i = 0; i < NB; ++i) EpilogueActivations<kExactSum>(c, in + i * 4, rec + i * 4, &v[i]);
    prev_k = r0;
    prev_mask = mask;
  }
  if (rb1 > rb0) {
    for (int i = 0; i < NB; ++i) EpilogueCell(c, int64_t{b + i} * s.n_cell + prev_k, prev_mask, &v[i]);
    for (int i = 0; i < NB; ++i) EpilogueHidden(c, int64_t{b + i} * s.n_cell + prev_k, prev_mask, v[i]);
  }
}

template <int G, StreamRequant R>
IRNN_TARGET_STREAM512 void LstmBlocksRows(const StreamContext& c, int b, int rows, int rb0, int rb1, int cell_end) {
  switch (rows) {
    case 1: LstmBlocks<1, G, R>(c, b, rb0, rb1, cell_end); break;
    case 2: LstmBlocks<2, G, R>(c, b, rb0, rb1, cell_end); break;
    case 3: LstmBlocks<3, G, R>(c, b, rb0, rb1, cell_end); break;
    default: LstmBlocks<4, G, R>(c, b, rb0, rb1, cell_end); break;
  }
}

template <StreamRequant R>
IRNN_TARGET_STREAM512 void LstmAllRows(const StreamContext& c, int gates, int batch, int rb0, int rb1, int cell_end) {
  for (int b = 0; b < batch; b += 4) {
    const int rows = std::min(4, batch - b);
    if (gates == 4) {
      LstmBlocksRows<4, R>(c, b, rows, rb0, rb1, cell_end);
    } else {
      LstmBlocksRows<3, R>(c, b, rows, rb0, rb1, cell_end);
    }
  }
}

IRNN_TARGET_STREAM512 void StreamStep(const LstmStreamStep& s, int cell_begin, int cell_end) {
  if (cell_end <= cell_begin) return;
  const PackedLstmStream& w = *s.w;
  StreamContext c;
  c.s = &s;
  InitStreamGeometry(w, s.x, s.h, s.batch, &c);
  c.single = s.rounding == Rounding::kSingle;
  bool per_row = false, pot = true, right = true;
  int slot = 0;
  for (int g = 0; g < 4; ++g) {
    if (w.gates == 4 || g > 0) {
      c.slot_gate[slot++] = g;
      per_row = per_row || s.input_channel[g] != nullptr || s.recurrent_channel[g] != nullptr;
      pot = pot && s.input_pot_shift[g] != nullptr && s.recurrent_pot_shift[g] != nullptr;
      right = right && RequantRightApplies(s.input_m[g], 0) && RequantRightApplies(s.recurrent_m[g], 0);
    }
  }
  // Only the chosen form's constants are made (a short step notices the stores of unused ones: 8
  // Requant512 are 6 KiB).
  const StreamRequant form = pot       ? StreamRequant::kPot
                             : per_row ? StreamRequant::kPerRow
                             : right   ? StreamRequant::kRight
                                       : StreamRequant::kPerTensor;
  for (int g = 0; g < 4 && (form == StreamRequant::kRight || form == StreamRequant::kPerTensor); ++g) {
    if (w.gates == 3 && g == 0) continue;
    if (form == StreamRequant::kRight) {
      c.in_r[g] = MakeRequantRight512(s.input_m[g], s.rounding, 0);
      c.rec_r[g] = MakeRequantRight512(s.recurrent_m[g], s.rounding, 0);
    } else {
      c.in_q[g] = MakeRequant512(s.input_m[g], s.rounding);
      c.rec_q[g] = MakeRequant512(s.recurrent_m[g], s.rounding);
    }
  }
  struct Uniform {
    QuantizedMultiplier m[2][4][kBlockRows];  // [part][gate]: 16 copies of the per-tensor multiplier
  };
  std::optional<Uniform> uniform;  // kPerRow only (its 1 KiB is zeroed when made)
  if (form == StreamRequant::kPerRow) {
    uniform.emplace();
    for (int g = 0; g < 4; ++g) {
      QuantizedMultiplier* in = uniform->m[0][g];
      QuantizedMultiplier* rec = uniform->m[1][g];
      std::fill(in, in + kBlockRows, s.input_m[g]);
      std::fill(rec, rec + kBlockRows, s.recurrent_m[g]);
      c.in_rows[g] = s.input_channel[g] != nullptr ? s.input_channel[g] : in;
      c.rec_rows[g] = s.recurrent_channel[g] != nullptr ? s.recurrent_channel[g] : rec;
      c.in_step[g] = s.input_channel[g] != nullptr ? 1 : 0;
      c.rec_step[g] = s.recurrent_channel[g] != nullptr ? 1 : 0;
    }
  }
  const LstmGateEpilogue& e = s.gates;
  const bool pwl = s.sigmoid_table != nullptr;
  c.sigmoid = pwl ? s.sigmoid_table : avx2::ActivationTableS16(-1);
  c.tanh_gate = pwl ? s.tanh_gate_table : avx2::ActivationTableS16(3);
  c.tanh_cell = pwl ? s.tanh_cell_table : avx2::ActivationTableS16(e.cell_integer_bits);
  c.hidden_pot = s.hidden_pot_shift > 0;
  c.hidden_right = !c.hidden_pot && RequantRightApplies(e.hidden_scale, 0);
  c.single_hidden = e.rounding == Rounding::kSingle;
  if (c.hidden_right) {
    c.hidden_r = MakeRequantRight512(e.hidden_scale, e.rounding, 0);
  } else if (!c.hidden_pot) {
    c.hidden = MakeRequant512(e.hidden_scale, e.rounding);
  }
  const int hk = c.hidden_pot ? s.hidden_pot_shift : 1;
  c.hidden_add = _mm512_set1_epi32(int32_t{1} << (hk - 1));
  c.hidden_k = _mm_cvtsi32_si128(hk);
  c.zp = _mm512_set1_epi32(e.hidden_zp);
  c.cifg = w.gates == 3;
  c.compat = e.tflite_compat;
  c.clipping = e.clip > 0;
  const int rb0 = cell_begin / kBlockRows, rb1 = (cell_end + kBlockRows - 1) / kBlockRows;
  switch (form) {
    case StreamRequant::kPot: LstmAllRows<StreamRequant::kPot>(c, w.gates, s.batch, rb0, rb1, cell_end); break;
    case StreamRequant::kPerRow: LstmAllRows<StreamRequant::kPerRow>(c, w.gates, s.batch, rb0, rb1, cell_end); break;
    case StreamRequant::kRight: LstmAllRows<StreamRequant::kRight>(c, w.gates, s.batch, rb0, rb1, cell_end); break;
    default: LstmAllRows<StreamRequant::kPerTensor>(c, w.gates, s.batch, rb0, rb1, cell_end); break;
  }
}

}  // namespace

// The table members (dispatch has checked the CPU; these wrappers carry no target of their own).
void PackLstmStreamS8(const int8_t* const* input_w, const int8_t* const* recurrent_w, int n_cell, int n_input,
                      int n_output, PackedLstmStream* out) {
  PackStream(input_w, recurrent_w, n_cell, n_input, n_output, out);
}
void LstmStreamStepS16(const LstmStreamStep& s, int cell_begin, int cell_end) { StreamStep(s, cell_begin, cell_end); }
void GruStreamStepS16(const GruStreamStep& s, int begin, int end) { GruStep(s, begin, end); }

}  // namespace avx512
}  // namespace irnn
