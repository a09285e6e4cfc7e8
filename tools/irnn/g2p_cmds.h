// The grapheme-to-phoneme subcommands of `irnn`: `irnn g2p MODEL WORD...` prints phonemes (an integer
// .irnn model on the integer runtime; a float .pt checkpoint where libtorch is built in), and
// `irnn recipe g2p --data DIR --out DIR` (libtorch) trains the float and the QAT models on CMUdict,
// exports the integer model and writes DIR/report.json. Not the language-model commands (lm_cmds.h).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "irnn/status.h"

namespace CLI {
class App;
}  // namespace CLI

namespace irnn {
struct G2pModelParams;
class SymbolTable;
}  // namespace irnn

namespace irnn::cli {

struct G2pCommands;
// Adds `g2p`, and the G2P options of `recipe` when that subcommand exists (it is lm_cmds.h's).
std::shared_ptr<G2pCommands> AddG2pCommands(CLI::App* app);
// Runs `g2p`, or `recipe g2p`; returns its exit code, or -1 when neither was parsed.
int RunG2pCommands(G2pCommands* commands);

struct G2pRecipeArgs {
  std::string data;         // CMUdict folder or file
  std::string out;          // output folder
  std::string float_model;  // reuse this float checkpoint instead of training one
  int epochs = -1;          // -1: the recipe's own
  int qat_epochs = -1;
  int64_t max_examples = 0;  // float training pronunciations per epoch (0: all)
  int64_t qat_examples = 40000;  // QAT pronunciations per epoch
  int threads = 0;
  uint64_t seed = 1;         // libtorch's generator and the example order (runs are deterministic for a seed)
  int64_t test_words = 0;    // evaluate on the first N test words (0: all)
};
// Implemented in g2p_recipe.cc (libtorch) or g2p_recipe_none.cc.
int RunG2pRecipe(const G2pRecipeArgs& args);
// `irnn g2p` on an integer model (g2p_int_cmd.cc); returns an exit code.
int RunG2pIntWords(const std::string& model, const std::vector<std::string>& words, int beam);
// Reads a .irnn G2P model with its symbol tables (metadata g2p_chars, g2p_phones).
Status ReadG2pModel(const std::string& path, G2pModelParams* params, SymbolTable* chars, SymbolTable* phones);
// `irnn g2p` on a float checkpoint (libtorch); returns an exit code.
int RunG2pFloatWords(const std::string& model, const std::vector<std::string>& words, int beam);

}  // namespace irnn::cli
