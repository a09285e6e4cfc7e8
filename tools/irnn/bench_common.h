// Shared pieces of `irnn bench` (bench_cmd.cc) and its peers, each in its own translation unit so that
// an optional library (oneDNN: bench_onednn.cc, libtorch: bench_torch.cc) is only needed where it is
// used: the grid of shapes, one measurement, a skipped peer, and the timing rule (one warm-up run, then
// `repeats` timed runs of `steps` time steps; the median per-step time is reported). Two cells are
// timed: "lstm" (one LSTM layer) and "gru" (one GRU layer, PyTorch's linear-before-reset GRU).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "irnn/kernel_path.h"

namespace irnn::cli::bench {

// One LSTM or GRU layer, input = hidden = H, for every H x B x threads of the grid, T steps per run.
struct Grid {
  std::vector<int> hidden;
  std::vector<int> batch;
  std::vector<int> threads;
  int steps = 100;
  int repeats = 7;
  uint32_t seed = 1;
  std::vector<std::string> paths;  // irnn int8 kernel paths to time; empty: every available one
  std::vector<std::string> cells = {"lstm", "gru"};  // the cells to time (--cells)
  // The irnn int8 LSTM's scales to time (--lstm-scales): "tflite" (TFLite's arithmetic, per-tensor
  // scales), "pot" (intended mode, per-row power-of-two scales, single rounding) and "tflite7" (tflite
  // with 7-bit weights, like for like with ONNX Runtime's AVX2 int8 kernels).
  std::vector<std::string> lstm_scales = {"tflite", "pot", "tflite7"};
};

inline constexpr const char* kLstm = "lstm";
inline constexpr const char* kGru = "gru";

inline bool WantsCell(const Grid& grid, const char* cell) {
  return std::find(grid.cells.begin(), grid.cells.end(), cell) != grid.cells.end();
}

// Sequence mode: one call runs all T steps (the input projection may be batched over the sequence).
// Streaming mode: one call per time step, one frame per stream, the state carried between calls.
inline constexpr const char* kSequence = "sequence";
inline constexpr const char* kStreaming = "streaming";

struct Result {
  std::string runtime;    // irnn, onednn, libtorch, onnxruntime
  std::string precision;  // int8, fp32
  std::string variant;    // kernel path or API used (avx2, scalar, lstm_forward, at::lstm, ...)
  std::string mode;       // kSequence or kStreaming
  int hidden = 0;
  int batch = 0;
  int steps = 0;
  int threads = 0;
  int repeats = 0;
  double us_per_step = 0;  // median over the timed runs of (run time / steps)
  double us_min = 0;
  double us_max = 0;
  std::string cell = kLstm;  // kLstm or kGru
  std::string scales;        // irnn int8 LSTM: "tflite" or "pot"; empty otherwise
};

struct Skip {
  std::string runtime;
  std::string precision;
  std::string reason;
  int threads = 0;  // 0: every thread count of the grid
  std::string cell = kLstm;  // kLstm or kGru
};

struct Report {
  std::vector<Result> results;
  std::vector<Skip> skips;
  bool progress = true;  // progress lines on stderr
};

// A line on stderr (stdout holds the table or the JSON).
inline void Progress(const Report& report, const char* format, ...) {
  if (!report.progress) return;
  std::va_list args;
  va_start(args, format);
  std::fputs("irnn bench: ", stderr);
  std::vfprintf(stderr, format, args);
  std::fputc('\n', stderr);
  std::fflush(stderr);
  va_end(args);
}

struct Timing {
  double median_us = 0;  // per step
  double min_us = 0;
  double max_us = 0;
};

// Calls reset() then run() once untimed (warm-up), then `repeats` times timing run() only. run() does
// `steps` time steps and returns false on failure (then TimeSteps returns false at once).
template <typename Reset, typename Run>
bool TimeSteps(int steps, int repeats, Reset reset, Run run, Timing* out) {
  reset();
  if (!run()) return false;
  std::vector<double> us;
  for (int r = 0; r < repeats; ++r) {
    reset();
    const auto t0 = std::chrono::steady_clock::now();
    const bool ok = run();
    const auto t1 = std::chrono::steady_clock::now();
    if (!ok) return false;
    us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count() / steps);
  }
  std::sort(us.begin(), us.end());
  const size_t n = us.size();
  out->median_us = n % 2 == 1 ? us[n / 2] : 0.5 * (us[n / 2 - 1] + us[n / 2]);
  out->min_us = us.front();
  out->max_us = us.back();
  return true;
}

inline Result MakeResult(const std::string& runtime, const std::string& precision, const std::string& variant,
                         const char* mode, int hidden, int batch, int threads, const Grid& grid, const Timing& t,
                         const char* cell = kLstm) {
  Result r;
  r.cell = cell;
  r.runtime = runtime;
  r.precision = precision;
  r.variant = variant;
  r.mode = mode;
  r.hidden = hidden;
  r.batch = batch;
  r.steps = grid.steps;
  r.threads = threads;
  r.repeats = grid.repeats;
  r.us_per_step = t.median_us;
  r.us_min = t.min_us;
  r.us_max = t.max_us;
  return r;
}

// One irnn layer (TfliteLstm, LstmF32, Gru or GruF32) on the input x [T][B][H] in both modes: sequence
// (one Run of all T steps) and streaming (T calls of Step), the state reset before every timed run.
template <typename Layer, typename State, typename Value>
void TimeBothModes(const Layer& layer, State* state, const std::vector<Value>& x, std::vector<Value>* out,
                   const char* precision, const char* variant, int H, int B, int threads, const Grid& grid,
                   Report* report, const char* cell = kLstm) {
  const int T = grid.steps;
  auto reset = [&] { (void)layer.ResetState(state); };
  Timing t;
  if (TimeSteps(T, grid.repeats, reset, [&] { return layer.Run(x.data(), T, state, out->data()).ok(); }, &t)) {
    report->results.push_back(MakeResult("irnn", precision, variant, kSequence, H, B, threads, grid, t, cell));
  }
  const size_t frame = static_cast<size_t>(B) * H;
  auto stream = [&] {
    for (int step = 0; step < T; ++step) {
      if (!layer.Step(x.data() + step * frame, state, out->data() + step * frame).ok()) return false;
    }
    return true;
  };
  if (TimeSteps(T, grid.repeats, reset, stream, &t)) {
    report->results.push_back(MakeResult("irnn", precision, variant, kStreaming, H, B, threads, grid, t, cell));
  }
}

inline double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// ---- Machine limits (bench_machine_avx2.cc; call only when the CPU has AVX2 and FMA) ---------------

namespace avx2 {
// Read bandwidth in GB/s (1e9 bytes) of `threads` threads each summing its own `bytes`-byte buffer
// over and over for about `seconds`; best of 3.
double ReadBandwidthGBps(int64_t bytes, int threads, double seconds);
// int8 multiply-accumulates per second (1e9), vpmaddubsw + vpmaddwd + vpaddd chains; best of 3.
double Int8MacPeakG(int threads, double seconds);
// The same with the avx2 kernel path's exact sequence, vpsignb + vpmaddubsw + vpmaddwd + vpaddd (the sign
// trick; Int8MacPeakG's sequence is exact only for 7-bit weights); best of 3.
double Int8SignMacPeakG(int threads, double seconds);
// fp32 multiply-accumulates per second (1e9), vfmadd chains; best of 3.
double Fp32FmaPeakG(int threads, double seconds);
// int8 multiply-accumulates per second (1e9) of ymm vpdpbusd (only where the avxvnni path is
// available), zmm vpdpbusd (avx512vnni) and AMX tdpbusd (amx); best of 3.
double VnniMacPeakG(int threads, double seconds);
double Vnni512MacPeakG(int threads, double seconds);
double AmxMacPeakG(int threads, double seconds);
}  // namespace avx2

// ---- Peers in their own translation units ---------------------------------------------------------

// oneDNN fp32 and int8 (bench_onednn.cc; bench_onednn_none.cc records a skip when not built with it):
// lstm_forward and, for the GRU, lbr_gru_forward (PyTorch's linear-before-reset GRU).
void RunOneDnn(const Grid& grid, Report* report);

// libtorch fp32 (bench_torch.cc; bench_torch_none.cc records a skip when built without libtorch):
// torch::lstm and torch::gru.
void RunLibtorch(const Grid& grid, Report* report);

// irnn's GRU, int8 (irnn::Gru on every kernel path of `paths`) and fp32 (irnn::GruF32) (bench_gru.cc).
void RunIrnnGru(const Grid& grid, const std::vector<KernelPath>& paths, Report* report);

// End-to-end float language model (the Step 3 model's float.pt) on libtorch, 1 thread: tokens/s of
// the forward pass (tokens -> logits), one token per call for batch 1 and 35-token chunks for batch
// 10. Returns false with *why set when it cannot (no libtorch, unreadable file).
struct LmSpeed {
  int batch = 0;
  int chunk = 0;  // tokens per stream per call
  int64_t tokens = 0;
  double tokens_per_s = 0;  // median over repeats
};
bool FloatLmSpeed(const std::string& path, int64_t tokens, int repeats, uint32_t seed, std::vector<LmSpeed>* out,
                  std::string* why);

}  // namespace irnn::cli::bench
