// `irnn recipe ptb-gru-small` (issue 7, must-show 3): the GRU language model end to end — float
// training, QAT in iRNN mode, export to .irnn, perplexity of float, sim and runtime. libtorch only.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "irnn/kernel_path.h"
#include "irnn/status.h"

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

// Whether the .irnn file at `path` holds a GRU language model (any layer of type "gru"); false when it
// cannot be read (the LSTM reader then reports why).
bool IsGruModelFile(const std::string& path);

// `irnn eval --backend int|sim` of a GRU language model file: perplexity of `ids` (metadata vocab must
// equal `vocab`), batch streams, on kernel path `path` (int) or the libtorch simulation (sim).
Status EvalGruModelFile(const std::string& file, const Vocabulary& vocab, const std::vector<int32_t>& ids, int batch,
                        bool sim, KernelPath path, double* ppl, int64_t* tokens, double* seconds);

// Runs the recipe `name` (ptb-gru-small) on a loaded corpus; returns the exit code.
int RunGruRecipe(const std::string& name, const TextCorpus& corpus, const GruRecipeArgs& args);

}  // namespace irnn::cli
