// `irnn recipe ptb-gru-small` (issue 7, must-show 3): the GRU language model end to end — float
// training, QAT in iRNN mode, export to .irnn, perplexity of float, sim and runtime. libtorch only.
#pragma once

#include <cstdint>
#include <string>

#include "irnn/text_data.h"

namespace irnn::cli {

struct GruRecipeArgs {
  std::string out;            // output folder (exists)
  int epochs = -1;            // float epochs, -1: the recipe's own
  int qat_epochs = -1;
  int64_t max_tokens = 0;     // training tokens per epoch, 0: all
  int threads = 0;
  int64_t sim_tokens = -1;    // test tokens for the libtorch simulation, -1: the recipe's own, 0: all
  double time_budget = 0;     // seconds for float training, 0: none (see TrainFloatGruLm)
};

// Runs the recipe `name` (ptb-gru-small) on a loaded corpus; returns the exit code.
int RunGruRecipe(const std::string& name, const TextCorpus& corpus, const GruRecipeArgs& args);

}  // namespace irnn::cli
