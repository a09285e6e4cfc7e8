// Random TFLite-style integer LSTMs for the tool's timing subcommands (`irnn lstm-run`, `irnn bench`):
// what a quantizer would produce from a float LSTM of a given shape. Float weights ~ U(-a, a) with
// a = 1/sqrt(n_input + n_output), quantized symmetric per tensor (int8, scale max|w|/127); int32 biases
// (forget gate 1.0, others small) at TFLite's bias scales; int8 input scale 1/64; cell scale 2^-11;
// LayerNorm pre-activation scale 2^-12; hidden scale 1/128. The float scales go through
// DeriveTfliteLstmParams, exactly as a TFLite model's would. Deterministic for a seed on every platform.
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

#include "irnn/tflite_lstm.h"

namespace irnn::cli {

// std::mt19937's output sequence is fixed by the standard, unlike the standard distributions, so the
// same seed gives the same values everywhere.
class Random {
 public:
  explicit Random(uint32_t seed) : gen_(seed) {}
  // Uniform in [lo, hi).
  float Uniform(float lo, float hi) { return lo + (hi - lo) * static_cast<float>(gen_() >> 8) * (1.0f / 16777216.0f); }
  int8_t Int8() { return static_cast<int8_t>(static_cast<int32_t>(gen_() & 0xff) - 128); }

 private:
  std::mt19937 gen_;
};

struct RandomTfliteLstmModel {
  TfliteLstmConfig config;
  TfliteLstmWeights weights;
  TfliteLstmQuantization quantization;
};

// A random model of config's shape and options; sizes must be >= 1. weight_max: the weights' symmetric
// range, 127 (int8) or 63 (7-bit weights in [-63, 63], scale max|w|/63: a quantizer with a reduced
// weight range, as ONNX Runtime's AVX2 int8 kernels need, whose matmuls the avx2 path runs in one
// instruction less per 32 MACs).
RandomTfliteLstmModel MakeRandomTfliteLstmModel(const TfliteLstmConfig& config, uint32_t seed, int32_t weight_max = 127);

// A random model with power-of-two scales, as the iRNN export with power-of-two scales gives
// (numerics.md §7.1.1): the same float weights as MakeRandomTfliteLstmModel, but each gate row
// quantized with its own power-of-two scale (the smallest one that clips nothing), in intended mode
// (tflite_compat false) with single rounding; the input (1/64) and hidden (1/128) scales are powers of
// two already, so every gate multiplier (per row) and the hidden multiplier are powers of two, and the
// integer runtime's requantizations are rounding shifts. A projection keeps MakeRandomTfliteLstmModel's
// per-tensor scale. config's other options are kept; sizes must be >= 1.
Status MakeRandomPotLstmParams(TfliteLstmConfig config, uint32_t seed, TfliteLstmParams* params);

// Bytes of the weights, biases and coefficients of a layer.
size_t TfliteLstmWeightBytes(const TfliteLstmWeights& weights);

}  // namespace irnn::cli
