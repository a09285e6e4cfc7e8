// The `irnn lstm-run` subcommand: builds a random TFLite-style integer LSTM (random int8 weights with
// plausible float scales, turned into integer parameters by irnn::DeriveTfliteLstmParams), runs it over a
// random input sequence with TfliteLstm::Run and reports its speed. It measures; it checks no accuracy
// (the tests do that).
#pragma once

#include <cstdint>
#include <string>

namespace CLI {
class App;
}  // namespace CLI

namespace irnn::cli {

struct LstmRunOptions {
  int64_t n_input = 256;
  int64_t n_cell = 256;
  int64_t n_output = 0;
  bool output_given = false;  // without --output, n_output = n_cell (no projection)
  int64_t batch = 1;
  int64_t steps = 100;
  int64_t repeats = 10;
  uint32_t seed = 1;
  bool layer_norm = false;
  bool cifg = false;
  bool peephole = false;
  bool no_tflite_compat = false;
  bool pot = false;  // power-of-two scales (MakeRandomPotLstmParams)
  int64_t weight_bits = 8;  // 8 or 7 (TFLite scales only: MakeRandomTfliteLstmModel's weight_max 63)
  std::string rounding = "double";
  std::string activation = "fixed-point";
  std::string path = "auto";
  bool json = false;
};

// Registers the subcommand on `app`; its options write into `options`, which must outlive parsing.
CLI::App* AddLstmRunCommand(CLI::App* app, LstmRunOptions* options);

// Runs the subcommand. Returns the process exit code: 0 on success, 1 on an error (printed on stderr).
int RunLstmRun(const LstmRunOptions& options);

}  // namespace irnn::cli
