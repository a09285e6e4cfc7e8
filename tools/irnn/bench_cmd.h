// The `irnn bench` subcommand: per-time-step latency of one LSTM layer and one GRU layer (input = hidden
// = H) for a grid of H, batch and thread counts, in sequence mode (one call over T steps) and streaming
// mode (one call per frame, state carried), for irnn int8 (TfliteLstm and Gru, every kernel path), irnn
// fp32 (LstmF32, GruF32) and the peers that are installed (oneDNN fp32 and int8, libtorch fp32, ONNX
// Runtime fp32 and int8 through Node.js; a peer without an int8 GRU is reported as skipped); in the
// same run, microbenchmarks of the machine's limits and, given the folder of `irnn recipe ptb-small`,
// the Step 3 language model's end-to-end speed and file sizes, float vs int.
// It measures; it asserts nothing about time (docs/benchmarks.md).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace CLI {
class App;
}  // namespace CLI

namespace irnn::cli {

struct BenchOptions {
  bool json = false;
  std::string plot;
  std::vector<int64_t> hidden = {128, 256, 512, 1024};
  std::vector<int64_t> batch = {1, 16};
  std::vector<int64_t> threads = {1, 2};
  int64_t steps = 100;
  int64_t repeats = 7;
  uint32_t seed = 1;
  bool quick = false;
  bool hidden_given = false;  // --quick replaces only what was not given
  bool repeats_given = false;
  std::string ptb_model;
  bool no_peers = false;
  bool no_limits = false;
  std::string ort_script;  // default: bench/ort_lstm.js of the source tree
  std::string node = "node";
  std::vector<std::string> paths;  // --paths: irnn int8 kernel paths (empty: every available one)
  std::vector<std::string> cells = {"lstm", "gru"};  // --cells
  std::vector<std::string> lstm_scales = {"tflite", "pot", "tflite7"};  // --lstm-scales
};

// Registers the subcommand on `app`; its options write into `options`, which must outlive parsing.
CLI::App* AddBenchCommand(CLI::App* app, BenchOptions* options);

// Runs the subcommand. Returns the exit code: 0 on success, 2 on a bad option value, 1 on another
// error (printed on stderr). A peer that is missing or fails is reported as skipped, not as an error.
int RunBench(const BenchOptions& options);

}  // namespace irnn::cli
