// Built instead of lm_cmds.cc when libtorch is not available: the language-model subcommands are
// absent and `irnn --help` does not list them.

#include "lm_cmds.h"

namespace irnn::cli {

struct LmCommands {};

std::shared_ptr<LmCommands> AddLmCommands(CLI::App*) { return nullptr; }
int RunLmCommands(LmCommands*) { return -1; }
void PrepareThreadingEnvironment(int, char**) {}

}  // namespace irnn::cli
