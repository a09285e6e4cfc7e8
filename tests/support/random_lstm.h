// Test support: random but valid TFLite-style LSTM configurations, for property tests (AVX2 vs scalar,
// chunked vs whole-sequence runs). Deterministic for a seed.
#pragma once

#include <cstdint>
#include <random>
#include <string>

#include "irnn/tflite_lstm.h"

namespace irnn::testing {

struct RandomLstm {
  TfliteLstmParams params;
  int batch = 1;
  int steps = 1;
  std::vector<int8_t> input;  // [steps][batch][n_input]
  std::string description;    // flags and sizes, for failure messages
};

// Draws sizes in [1, max_dim], every option at random, derives the parameters with
// DeriveTfliteLstmParams from random scales, and draws an input sequence. Inputs, weights and scales are
// drawn wide enough that saturation and clipping happen.
RandomLstm MakeRandomLstm(uint64_t seed, int max_dim = 40, int max_batch = 4, int max_steps = 12);

// The same with a fixed shape: n_input = n_cell = n_output = dim (no projection), `batch` streams and
// `steps` steps; the other options stay random.
struct LstmShape {
  int dim = 1;
  int batch = 1;
  int steps = 1;
};
RandomLstm MakeRandomLstmOfShape(uint64_t seed, const LstmShape& shape);

}  // namespace irnn::testing
