// Test support: random but valid Mogrifier LSTMs (include/irnn/mogrifier_lstm.h) for runtime and sim ==
// int tests: the cell from MakeRandomLstm (every TfliteLstm option; PWL activations and per-channel
// multipliers on request), 1 to 6 rounds of random int8 weights, biases and per-row multipliers scaled
// so that the Q3.12 pre-activations span the sigmoid (some saturate), and a fitted PWL sigmoid. The
// PWL tables are fitted once per process and cached. Deterministic for a seed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "irnn/mogrifier_lstm.h"

namespace irnn::testing {

struct RandomMogrifier {
  MogrifierLstmParams params;
  int batch = 1;
  int steps = 1;
  std::vector<int8_t> input;  // [steps][batch][n_input]
  std::string description;
};

// irnn_mode: PWL LSTM activations and per-channel gate multipliers (else the LSTM as drawn).
RandomMogrifier MakeRandomMogrifier(uint64_t seed, bool irnn_mode, int max_dim = 20, int max_batch = 3,
                                    int max_steps = 6);

// PWL tables of FitTfliteLstmPwlTables(optimal, 1 LSB), fitted once per process for cell scale -12 and
// returned for any cell scale in [-15, -9] (valid tables; tanh(c) exact only for -12).
const TfliteLstmParams& CachedPwlTables(int cell_scale);

}  // namespace irnn::testing
