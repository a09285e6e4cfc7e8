// Microbenchmarks of the machine's limits for `irnn bench`, in AVX2: read bandwidth of a working set
// (which cache level holds it depends on its size), the int8 multiply-accumulate peak of AVX2's int8
// sequence (vpmaddubsw u8 x s8 -> s16 pairs, vpmaddwd by ones -> s32, vpaddd into the accumulator: 32
// MACs per 256-bit vpmaddubsw; exact only for 7-bit weights) and of the avx2 kernel path's exact one
// (vpsignb first: the sign trick), and the fp32 FMA peak (8 MACs per vfmadd). Independent chains, enough of them to cover each instruction's latency; an empty asm
// statement per iteration keeps the compiler from hoisting the loop-invariant products. Each runs on
// `threads` threads at once; the figure is the sum. Compiled with -mavx2 -mfma: every function here is
// called only after bench_cmd.cc has checked that the CPU has AVX2 and FMA. The AVX-VNNI, AVX-512 VNNI
// and AMX peaks (the matmul instructions of those kernel paths) carry their ISA in target attributes
// and run only where that kernel path is available (AMX: after the library got Linux's permission).

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <thread>
#include <vector>

#include "bench_common.h"

namespace irnn::cli::bench::avx2 {
namespace {

using Clock = std::chrono::steady_clock;

// Sum of n floats (n a multiple of 64), `passes` times over; 8 accumulators.
__attribute__((noinline)) float ReadPasses(const float* p, size_t n, int64_t passes) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
  for (int64_t pass = 0; pass < passes; ++pass) {
    for (size_t i = 0; i < n; i += 64) {
      a0 = _mm256_add_ps(a0, _mm256_load_ps(p + i));
      a1 = _mm256_add_ps(a1, _mm256_load_ps(p + i + 8));
      a2 = _mm256_add_ps(a2, _mm256_load_ps(p + i + 16));
      a3 = _mm256_add_ps(a3, _mm256_load_ps(p + i + 24));
      a4 = _mm256_add_ps(a4, _mm256_load_ps(p + i + 32));
      a5 = _mm256_add_ps(a5, _mm256_load_ps(p + i + 40));
      a6 = _mm256_add_ps(a6, _mm256_load_ps(p + i + 48));
      a7 = _mm256_add_ps(a7, _mm256_load_ps(p + i + 56));
    }
  }
  const __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                                 _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
  float lanes[8];
  _mm256_storeu_ps(lanes, s);
  float total = 0;
  for (float v : lanes) total += v;
  return total;
}

// 6 chains of vpmaddubsw + vpmaddwd + vpaddd per iteration: 6 * 32 int8 MACs.
constexpr int kInt8Chains = 6;
__attribute__((noinline)) int32_t Int8MacLoop(int64_t iterations) {
  __m256i a = _mm256_set1_epi8(3);
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i b0 = _mm256_set1_epi8(1), b1 = _mm256_set1_epi8(-2), b2 = _mm256_set1_epi8(3);
  __m256i b3 = _mm256_set1_epi8(-4), b4 = _mm256_set1_epi8(5), b5 = _mm256_set1_epi8(-6);
  __m256i c0 = _mm256_setzero_si256(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0;
  for (int64_t it = 0; it < iterations; ++it) {
    asm volatile("" : "+x"(a));  // `a` may have changed: the products must be recomputed
    c0 = _mm256_add_epi32(c0, _mm256_madd_epi16(_mm256_maddubs_epi16(a, b0), ones));
    c1 = _mm256_add_epi32(c1, _mm256_madd_epi16(_mm256_maddubs_epi16(a, b1), ones));
    c2 = _mm256_add_epi32(c2, _mm256_madd_epi16(_mm256_maddubs_epi16(a, b2), ones));
    c3 = _mm256_add_epi32(c3, _mm256_madd_epi16(_mm256_maddubs_epi16(a, b3), ones));
    c4 = _mm256_add_epi32(c4, _mm256_madd_epi16(_mm256_maddubs_epi16(a, b4), ones));
    c5 = _mm256_add_epi32(c5, _mm256_madd_epi16(_mm256_maddubs_epi16(a, b5), ones));
  }
  const __m256i s = _mm256_add_epi32(_mm256_add_epi32(_mm256_add_epi32(c0, c1), _mm256_add_epi32(c2, c3)),
                                     _mm256_add_epi32(c4, c5));
  return _mm256_extract_epi32(s, 0) + _mm256_extract_epi32(s, 7);
}

// The avx2 kernel path's exact sequence (lstm_kernels_avx2.cc, the sign trick): vpsignb + vpmaddubsw +
// vpmaddwd + vpaddd, 6 chains per iteration: 6 * 32 int8 MACs, one instruction more per 32 MACs than
// Int8MacLoop's (which is exact only for 7-bit weights).
__attribute__((noinline)) int32_t Int8SignMacLoop(int64_t iterations) {
  __m256i a = _mm256_set1_epi8(3), s = _mm256_set1_epi8(-1);
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i b0 = _mm256_set1_epi8(1), b1 = _mm256_set1_epi8(-2), b2 = _mm256_set1_epi8(3);
  __m256i b3 = _mm256_set1_epi8(-4), b4 = _mm256_set1_epi8(5), b5 = _mm256_set1_epi8(-6);
  __m256i c0 = _mm256_setzero_si256(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0;
  for (int64_t it = 0; it < iterations; ++it) {
    asm volatile("" : "+x"(a), "+x"(s));  // `a` and `s` may have changed: everything is recomputed
    c0 = _mm256_add_epi32(c0, _mm256_madd_epi16(_mm256_maddubs_epi16(a, _mm256_sign_epi8(b0, s)), ones));
    c1 = _mm256_add_epi32(c1, _mm256_madd_epi16(_mm256_maddubs_epi16(a, _mm256_sign_epi8(b1, s)), ones));
    c2 = _mm256_add_epi32(c2, _mm256_madd_epi16(_mm256_maddubs_epi16(a, _mm256_sign_epi8(b2, s)), ones));
    c3 = _mm256_add_epi32(c3, _mm256_madd_epi16(_mm256_maddubs_epi16(a, _mm256_sign_epi8(b3, s)), ones));
    c4 = _mm256_add_epi32(c4, _mm256_madd_epi16(_mm256_maddubs_epi16(a, _mm256_sign_epi8(b4, s)), ones));
    c5 = _mm256_add_epi32(c5, _mm256_madd_epi16(_mm256_maddubs_epi16(a, _mm256_sign_epi8(b5, s)), ones));
  }
  const __m256i sum = _mm256_add_epi32(_mm256_add_epi32(_mm256_add_epi32(c0, c1), _mm256_add_epi32(c2, c3)),
                                       _mm256_add_epi32(c4, c5));
  return _mm256_extract_epi32(sum, 0) + _mm256_extract_epi32(sum, 7);
}

// 12 independent FMA chains per iteration: 12 * 8 fp32 MACs.
constexpr int kFmaChains = 12;
__attribute__((noinline)) float FmaLoop(int64_t iterations) {
  const __m256 x = _mm256_set1_ps(0.999999f), y = _mm256_set1_ps(1e-7f);
  __m256 c[kFmaChains];
  for (int j = 0; j < kFmaChains; ++j) c[j] = _mm256_set1_ps(static_cast<float>(j));
  for (int64_t it = 0; it < iterations; ++it) {
    for (int j = 0; j < kFmaChains; ++j) c[j] = _mm256_fmadd_ps(c[j], x, y);
  }
  __m256 s = c[0];
  for (int j = 1; j < kFmaChains; ++j) s = _mm256_add_ps(s, c[j]);
  float lanes[8];
  _mm256_storeu_ps(lanes, s);
  return lanes[0] + lanes[7];
}

// The int8 peaks of the wider kernel paths: 12 independent vpdpbusd chains on ymm (32 MACs each,
// AVX-VNNI) or zmm (64 MACs each, AVX-512 VNNI), and AMX tdpbusd into 4 independent tiles (16 x 16 x 64
// = 16,384 MACs each). Each is called only after the kernel path's own CPU check.
constexpr int kVnniChains = 12;
__attribute__((noinline, target("avx2,avxvnni"))) int32_t VnniLoop(int64_t iterations) {
  __m256i a = _mm256_set1_epi8(3);
  const __m256i b = _mm256_set1_epi8(-2);
  __m256i c[kVnniChains];
  for (int j = 0; j < kVnniChains; ++j) c[j] = _mm256_set1_epi32(j);
  for (int64_t it = 0; it < iterations; ++it) {
    asm volatile("" : "+x"(a));
    for (int j = 0; j < kVnniChains; ++j) c[j] = _mm256_dpbusd_avx_epi32(c[j], a, b);
  }
  __m256i s = c[0];
  for (int j = 1; j < kVnniChains; ++j) s = _mm256_add_epi32(s, c[j]);
  return _mm256_extract_epi32(s, 0);
}

__attribute__((noinline, target("avx2,avx512f,avx512bw,avx512vnni"))) int32_t Vnni512Loop(int64_t iterations) {
  __m512i a = _mm512_set1_epi8(3);
  const __m512i b = _mm512_set1_epi8(-2);
  __m512i c[kVnniChains];
  for (int j = 0; j < kVnniChains; ++j) c[j] = _mm512_set1_epi32(j);
  for (int64_t it = 0; it < iterations; ++it) {
    asm volatile("" : "+v"(a));
    for (int j = 0; j < kVnniChains; ++j) c[j] = _mm512_dpbusd_epi32(c[j], a, b);
  }
  __m512i s = c[0];
  for (int j = 1; j < kVnniChains; ++j) s = _mm512_add_epi32(s, c[j]);
  return _mm512_cvtsi512_si32(s);
}

struct alignas(64) AmxTileConfig {
  uint8_t palette_id;
  uint8_t start_row;
  uint8_t reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
};

__attribute__((noinline, target("amx-tile,amx-int8"))) int32_t AmxLoop(int64_t iterations) {
  AmxTileConfig config = {};
  config.palette_id = 1;
  for (int t = 0; t < 8; ++t) {
    config.colsb[t] = 64;
    config.rows[t] = 16;
  }
  alignas(64) static const int8_t operands[16 * 64] = {1, 2, 3};
  alignas(64) int32_t out[16 * 16];
  _tile_loadconfig(&config);
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  _tile_loadd(4, operands, 64);
  _tile_loadd(5, operands, 64);
  for (int64_t it = 0; it < iterations; ++it) {
    _tile_dpbusd(0, 4, 5);
    _tile_dpbusd(1, 4, 5);
    _tile_dpbusd(2, 4, 5);
    _tile_dpbusd(3, 4, 5);
  }
  _tile_stored(0, out, 64);
  _tile_release();
  return out[0];
}

// Runs work(thread) on `threads` threads started together; returns the slowest one's seconds.
template <typename Work>
double Parallel(int threads, Work work) {
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<double> seconds(threads);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      ready.fetch_add(1);
      while (!go.load(std::memory_order_acquire)) {
      }
      const auto t0 = Clock::now();
      work(t);
      seconds[t] = std::chrono::duration<double>(Clock::now() - t0).count();
    });
  }
  while (ready.load() < threads) {
  }
  go.store(true, std::memory_order_release);
  for (std::thread& th : pool) th.join();
  return *std::max_element(seconds.begin(), seconds.end());
}

// Repeats `units`-sized work so that one measurement takes about `seconds`; best of 3.
template <typename Work>
double BestRate(int threads, double seconds, double work_per_unit, Work work) {
  int64_t units = 1;
  for (;;) {  // calibrate on one thread
    const auto t0 = Clock::now();
    work(0, units);
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (s > seconds / 8 || units > (int64_t{1} << 40)) {
      units = std::max<int64_t>(1, static_cast<int64_t>(units * seconds / std::max(s, 1e-9)));
      break;
    }
    units *= 4;
  }
  double best = 0;
  for (int r = 0; r < 3; ++r) {
    const double s = Parallel(threads, [&](int t) { work(t, units); });
    best = std::max(best, work_per_unit * units * threads / s);
  }
  return best;
}

}  // namespace

double ReadBandwidthGBps(int64_t bytes, int threads, double seconds) {
  const size_t n = static_cast<size_t>(std::max<int64_t>(bytes, 256)) / sizeof(float) / 64 * 64;
  std::vector<std::unique_ptr<float, decltype(&std::free)>> buffers;
  for (int t = 0; t < threads; ++t) {
    auto* p = static_cast<float*>(std::aligned_alloc(64, n * sizeof(float)));
    if (p == nullptr) return 0;
    buffers.emplace_back(p, &std::free);
  }
  // Each thread writes its own buffer first (pages faulted in, placed near that thread).
  Parallel(threads, [&](int t) { std::fill(buffers[t].get(), buffers[t].get() + n, 1.0f); });
  return BestRate(threads, seconds, static_cast<double>(n * sizeof(float)) / 1e9,
                  [&](int t, int64_t passes) {
                    volatile float sink = ReadPasses(buffers[t].get(), n, passes);  // the sum is used
                    (void)sink;
                  });
}

double Int8MacPeakG(int threads, double seconds) {
  return BestRate(threads, seconds, kInt8Chains * 32 / 1e9,
                  [](int, int64_t iterations) {
                    volatile int32_t sink = Int8MacLoop(iterations);
                    (void)sink;
                  });
}

double Int8SignMacPeakG(int threads, double seconds) {
  return BestRate(threads, seconds, kInt8Chains * 32 / 1e9,
                  [](int, int64_t iterations) {
                    volatile int32_t sink = Int8SignMacLoop(iterations);
                    (void)sink;
                  });
}

double VnniMacPeakG(int threads, double seconds) {
  return BestRate(threads, seconds, kVnniChains * 32 / 1e9, [](int, int64_t iterations) {
    volatile int32_t sink = VnniLoop(iterations);
    (void)sink;
  });
}

double Vnni512MacPeakG(int threads, double seconds) {
  return BestRate(threads, seconds, kVnniChains * 64 / 1e9, [](int, int64_t iterations) {
    volatile int32_t sink = Vnni512Loop(iterations);
    (void)sink;
  });
}

double AmxMacPeakG(int threads, double seconds) {
  return BestRate(threads, seconds, 4 * 16 * 16 * 64 / 1e9, [](int, int64_t iterations) {
    volatile int32_t sink = AmxLoop(iterations);
    (void)sink;
  });
}

double Fp32FmaPeakG(int threads, double seconds) {
  return BestRate(threads, seconds, kFmaChains * 8 / 1e9, [](int, int64_t iterations) {
    volatile float sink = FmaLoop(iterations);
    (void)sink;
  });
}

}  // namespace irnn::cli::bench::avx2
