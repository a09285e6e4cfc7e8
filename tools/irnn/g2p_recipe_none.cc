// Built instead of g2p_recipe.cc when libtorch is not available: there is no `recipe` subcommand, and
// `irnn g2p` reads only integer .irnn models.

#include <cstdio>

#include "g2p_cmds.h"

namespace irnn::cli {

int RunG2pRecipe(const G2pRecipeArgs&) {
  std::fprintf(stderr, "irnn recipe g2p: error: this build has no libtorch (training is disabled)\n");
  return 1;
}

int RunG2pFloatWords(const std::string& model, const std::vector<std::string>&, int) {
  std::fprintf(stderr, "irnn g2p: error: %s: float checkpoints need a build with libtorch; use a .irnn model\n",
               model.c_str());
  return 1;
}

}  // namespace irnn::cli
