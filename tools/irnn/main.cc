// The irnn command-line tool: parses arguments (CLI11) and dispatches to a subcommand. It is the only
// place that maps irnn::Status errors to exit codes: 0 success, 1 an error while running, 2 bad usage.
// It never aborts on bad input: every error is a message on stderr and a non-zero exit code.

#include <cstdio>
#include <exception>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "irnn/kernel_path.h"
#include "irnn/status.h"
#include "irnn/version.h"
#include "bench_cmd.h"
#include "lstm_run.h"
#include "inspect_cmd.h"
#include "g2p_cmds.h"
#include "lm_cmds.h"
#include "pwl_cmd.h"

namespace {

// "irnn 0.1.0" and the kernel paths this build can run on this CPU.
std::string VersionText() {
  std::string text = std::string("irnn ") + irnn::kVersionString + "\nkernel paths available:";
  for (irnn::KernelPath p : {irnn::KernelPath::kScalar, irnn::KernelPath::kAvx2, irnn::KernelPath::kAvxVnni,
                             irnn::KernelPath::kAvx512Vnni, irnn::KernelPath::kAmx}) {
    if (irnn::KernelPathAvailable(p)) text += std::string(" ") + irnn::KernelPathName(p);
  }
  irnn::KernelPath resolved = irnn::KernelPath::kScalar;
  const irnn::Status s = irnn::ResolveKernelPath(irnn::KernelPath::kAuto, &resolved);
  if (s.ok()) {
    text += std::string("\nauto selects: ") + irnn::KernelPathName(resolved) + " (override with IRNN_PATH)";
  } else {
    text += "\nauto selects: none: " + s.message();
  }
  return text;
}

int Main(int argc, char** argv) {
  CLI::App app("irnn " + std::string(irnn::kVersionString) +
                   ": integer-only recurrent neural networks (runtime and tools)",
               "irnn");
  app.set_version_flag("--version", VersionText, "Print the version and the available kernel paths, then exit");
  // No require_subcommand(): CLI11 checks it before unknown arguments, so "irnn typo" would only hear
  // that a subcommand is required. A missing subcommand is reported below instead.
  app.require_subcommand(0, 1);

  irnn::cli::LstmRunOptions lstm_run;
  CLI::App* lstm_run_cmd = irnn::cli::AddLstmRunCommand(&app, &lstm_run);
  irnn::cli::PwlOptions pwl;
  CLI::App* pwl_cmd = irnn::cli::AddPwlCommand(&app, &pwl);
  irnn::cli::InspectOptions inspect;
  CLI::App* inspect_cmd = irnn::cli::AddInspectCommand(&app, &inspect);
  irnn::cli::BenchOptions bench;
  CLI::App* bench_cmd = irnn::cli::AddBenchCommand(&app, &bench);
  const std::shared_ptr<irnn::cli::LmCommands> lm = irnn::cli::AddLmCommands(&app);
  const std::shared_ptr<irnn::cli::G2pCommands> g2p = irnn::cli::AddG2pCommands(&app);  // after `recipe`
  // Set after the subcommands are added: a subcommand copies its parent's footer when it is created.
  app.footer("Run 'irnn <subcommand> --help' for the options of a subcommand.");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);  // prints the message and a hint
    return 2;
  }
  if (lstm_run_cmd->parsed()) return irnn::cli::RunLstmRun(lstm_run);
  if (pwl_cmd->parsed()) return irnn::cli::RunPwl(pwl);
  if (inspect_cmd->parsed()) return irnn::cli::RunInspect(inspect);
  if (bench_cmd->parsed()) return irnn::cli::RunBench(bench);
  const int g2p_rc = irnn::cli::RunG2pCommands(g2p.get());  // `g2p`, `recipe g2p`
  if (g2p_rc >= 0) return g2p_rc;
  const int lm_rc = irnn::cli::RunLmCommands(lm.get());
  if (lm_rc >= 0) return lm_rc;
  std::fprintf(stderr, "irnn: error: no subcommand given; run 'irnn --help'\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  irnn::cli::PrepareThreadingEnvironment(argc, argv);
  try {
    return Main(argc, argv);
  } catch (const std::exception& e) {  // for example std::bad_alloc: a message, not a crash
    std::fprintf(stderr, "irnn: error: %s\n", e.what());
    return 1;
  }
}
