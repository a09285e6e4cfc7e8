// `irnn inspect MODEL`: what a .irnn file holds — layers, shapes, bit widths, options, sizes and
// metadata — after full validation. Needs no libtorch.
#pragma once

#include <string>

namespace CLI {
class App;
}  // namespace CLI

namespace irnn::cli {

struct InspectOptions {
  std::string model;
  bool json = false;
};

CLI::App* AddInspectCommand(CLI::App* app, InspectOptions* options);
int RunInspect(const InspectOptions& options);

}  // namespace irnn::cli
