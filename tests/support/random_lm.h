// Test support for the language-model runtime: random but valid LSTM layers of given sizes, per-channel
// multipliers for them, and whole random language models (embedding -> LSTMs -> decoder) with token
// sequences. Deterministic for a seed. Float is used here (deriving parameters), never in the runtime.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "irnn/lm.h"
#include "irnn/tflite_lstm.h"

namespace irnn::testing {

// Every matmul of `p` that exists gets per-channel multipliers with probability `probability` (and at
// least one does when probability > 0): per row, a random multiplier in [2^30, 2^31) and the
// per-tensor shift moved by -1, 0 or +1. The per-tensor multipliers they replace are set to {0, 0}, as a
// model file reads them back.
void AddPerChannelScales(std::mt19937_64& rng, TfliteLstmParams* p, double probability = 0.75);

// A random valid LSTM with the given sizes (n_output != n_cell forces a projection), random options,
// input and output quantization given, derived with DeriveTfliteLstmParams.
TfliteLstmParams RandomLstmLayer(std::mt19937_64& rng, int n_input, int n_cell, int n_output,
                                 TensorQuantization input, TensorQuantization output, std::string* description);

struct LmOptions {
  int vocab = 50;
  int dim = 16;
  int layers = 2;
  int max_cell = 24;
  bool per_channel = false;
  bool pwl = false;
  Rounding decoder_rounding = Rounding::kDouble;
  int max_batch = 3;
  int max_steps = 10;
};

struct RandomLm {
  LanguageModelParams params;
  int batch = 1;
  int steps = 1;
  std::vector<int32_t> tokens;  // [steps][batch], in [0, vocab)
  std::string description;
};

// A chained model: each LSTM's input quantization is the previous one's output quantization, the
// embedding's zero point is lstm[0]'s input zero point, the decoder folds the last output zero point
// (numerics.md §7.3) and maps to logits of scale 2^-8.
RandomLm MakeRandomLm(uint64_t seed, const LmOptions& options = {});

}  // namespace irnn::testing
