// Test support: random integer GRU parameters (irnn/gru.h) that pass ValidateGruParams, for the layer's
// own tests and for sim == int. Weights, effective biases (occasionally near the int32 limits, so that
// accumulators wrap), per-row multipliers (some large enough to saturate the Q3.12 gate inputs) and the
// output multiplier are drawn directly; the PWL tables come from one DeriveGruParams call (cached). Not a
// trained model.
#pragma once

#include <cstdint>
#include <string>

#include "irnn/gru.h"

namespace irnn::testing {

struct RandomGru {
  GruParams params;
  std::string description;
};

RandomGru MakeRandomGru(uint32_t seed, int32_t n_input, int32_t n_hidden, Rounding rounding, bool saturating);

}  // namespace irnn::testing
