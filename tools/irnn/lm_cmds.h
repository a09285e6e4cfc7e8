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

// Called first thing in main(). libtorch's OpenMP threads spin while they wait, and on a small
// machine they then compete with OpenBLAS's own threads for the cores: training ran 2-3x slower on
// 2 cores than with OMP_WAIT_POLICY=passive. libgomp reads that variable when it is loaded, before
// main(), so for the libtorch subcommands this sets it and re-executes the program once (Linux), unless
// the user has set it. A no-op without libtorch, for the other subcommands, or if re-executing fails.
void PrepareThreadingEnvironment(int argc, char** argv);

}  // namespace irnn::cli
