// The language-model subcommands of `irnn` (Step 3): train (float), qat, ptq, eval, generate, recipe.
// They need libtorch (src/train) except where noted; inspect (inspect_cmd.h) does not.
#pragma once

#include <memory>

namespace CLI {
class App;
}  // namespace CLI

namespace irnn::cli {

// Registers the subcommands (none without libtorch). RunLmCommands runs the one that was parsed and
// returns its exit code, or -1 when none of them was.
struct LmCommands;
std::shared_ptr<LmCommands> AddLmCommands(CLI::App* app);
int RunLmCommands(LmCommands* commands);

}  // namespace irnn::cli
