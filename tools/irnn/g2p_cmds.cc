// `irnn g2p` and the dispatch of `irnn recipe g2p` (see g2p_cmds.h). The integer path needs only the
// runtime; the float checkpoint path and the recipe need libtorch (g2p_recipe.cc).

#include "g2p_cmds.h"

#include <cstdio>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace irnn::cli {

struct G2pCommands {
  CLI::App* g2p_cmd = nullptr;
  CLI::App* recipe_cmd = nullptr;  // lm_cmds.h's `recipe`, when built
  std::string model;
  std::vector<std::string> words;
  int beam = 1;
  G2pRecipeArgs recipe;
};

namespace {

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

std::shared_ptr<G2pCommands> AddG2pCommands(CLI::App* app) {
  auto c = std::make_shared<G2pCommands>();
  c->g2p_cmd = app->add_subcommand("g2p", "Print the phonemes of words (G2P model: .irnn integer, or .pt float)");
  c->g2p_cmd->add_option("model", c->model, "G2P model: .irnn (integer runtime) or .pt (float, libtorch)")->required();
  c->g2p_cmd->add_option("words", c->words, "Words to transcribe (characters of the model's alphabet)")->required();
  c->g2p_cmd->add_option("--beam", c->beam, "Beam width (1: greedy)")->capture_default_str();
  const auto recipes = app->get_subcommands([](CLI::App* s) { return s->get_name() == "recipe"; });
  if (!recipes.empty()) {
    c->recipe_cmd = recipes[0];
    c->recipe_cmd->add_option("--float-model", c->recipe.float_model,
                              "g2p: start from this float checkpoint instead of training one");
    c->recipe_cmd->add_option("--test-words", c->recipe.test_words, "g2p: evaluate the first N test words (0: all)");
    c->recipe_cmd->add_option("--qat-examples", c->recipe.qat_examples, "g2p: QAT pronunciations per epoch")
        ->capture_default_str();
    c->recipe_cmd->add_option("--seed", c->recipe.seed, "g2p: random seed (runs are deterministic for a seed and thread count)")
        ->capture_default_str();
  }
  return c;
}

int RunG2pCommands(G2pCommands* c) {
  if (c == nullptr) return -1;
  if (c->g2p_cmd->parsed()) {
    if (c->beam < 1 || c->beam > 64) {
      std::fprintf(stderr, "irnn g2p: error: --beam is %d but must be in [1, 64]\n", c->beam);
      return 2;
    }
    if (EndsWith(c->model, ".pt")) return RunG2pFloatWords(c->model, c->words, c->beam);
    return RunG2pIntWords(c->model, c->words, c->beam);
  }
  if (c->recipe_cmd != nullptr && c->recipe_cmd->parsed() &&
      c->recipe_cmd->get_option("name")->as<std::string>() == "g2p") {
    G2pRecipeArgs a = c->recipe;
    CLI::App* r = c->recipe_cmd;
    // The LSTM language-model options do not apply to the G2P recipe: refused, not ignored.
    if (r->get_option("--pot-scales")->count() > 0) {
      std::fprintf(stderr, "irnn recipe: error: --pot-scales is given but applies to the LSTM language-model recipes only\n");
      return 1;
    }
    if (r->get_option("--weight-bits")->count() > 0) {
      std::fprintf(stderr, "irnn recipe: error: --weight-bits is given but applies to the LSTM language-model recipes only\n");
      return 1;
    }
    a.data = r->get_option("--data")->as<std::string>();
    a.out = r->get_option("--out")->as<std::string>();
    if (r->get_option("--epochs")->count() > 0) a.epochs = r->get_option("--epochs")->as<int>();
    if (r->get_option("--qat-epochs")->count() > 0) a.qat_epochs = r->get_option("--qat-epochs")->as<int>();
    if (r->get_option("--max-tokens")->count() > 0) a.max_examples = r->get_option("--max-tokens")->as<int64_t>();
    if (r->get_option("--threads")->count() > 0) a.threads = r->get_option("--threads")->as<int>();
    return RunG2pRecipe(a);
  }
  return -1;
}

}  // namespace irnn::cli
