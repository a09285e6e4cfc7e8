// The GRU language model in the `irnn` language-model subcommands (issue 7, must-show 3): `train --cell
// gru`, `qat` of a GRU checkpoint, `eval` of GRU checkpoints and .irnn files, and `recipe ptb-gru-small`
// (float training, QAT in iRNN mode, export to .irnn, perplexity of float, sim and runtime). libtorch
// only; lm_cmds.cc dispatches here. Not here: PTQ or TFLite mode for GRUs (they do not exist).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "irnn/kernel_path.h"
#include "irnn/quantization.h"
#include "irnn/status.h"

#include "irnn/text_data.h"
#include "train/lm.h"

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

// `irnn train --cell gru`: trains a float GRU LM (TrainFloatGruLm), writes the checkpoint `out`.
int RunGruTrain(const TextCorpus& corpus, train::LmOptions lm, const train::TrainOptions& options,
                const std::string& out);
// `irnn qat` of a GRU checkpoint (iRNN mode only): QAT, export to the .irnn file `out`; weight_bits 8
// or 7 (QatOptions::weight_bits).
int RunGruQat(const TextCorpus& corpus, const std::string& float_model, const train::TrainOptions& options,
              Rounding rounding, int calibration_batches, double pwl_max_err, int weight_bits, const std::string& out);
// `irnn eval --backend float` of a GRU checkpoint.
Status EvalGruCheckpoint(const std::string& path, const TextCorpus& corpus, const std::vector<int32_t>& ids,
                         int batch, double* ppl);

// Runs the recipe `name` (ptb-gru-small) on a loaded corpus; returns the exit code.
int RunGruRecipe(const std::string& name, const TextCorpus& corpus, const GruRecipeArgs& args);

}  // namespace irnn::cli
