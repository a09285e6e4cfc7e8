// The `irnn pwl` subcommand: fits a quantization-aware PWL approximation of a function on integer
// grids (src/pwl/pwl_fit.h), prints its pieces and errors in output LSBs, optionally as JSON and as a
// plot (gnuplot).
#pragma once

#include <cstdint>
#include <string>

namespace CLI {
class App;
}  // namespace CLI

namespace irnn::cli {

struct PwlOptions {
  std::string fn = "sigmoid";
  int in_bits = 16;
  std::string in_scale = "2^-12";
  int32_t in_zero_point = 0;
  bool in_min_given = false, in_max_given = false;
  int64_t in_min = 0, in_max = 0;
  int out_bits = 16;
  std::string out_scale;  // empty: a default that fits the function's range
  bool out_zero_point_given = false;
  int32_t out_zero_point = 0;
  double max_err = 0;     // 0: not given
  int budget = 0;         // 0: not given
  std::string fitter = "optimal";
  bool odd = false;
  bool no_monotone = false;
  bool json = false;
  std::string plot;
};

CLI::App* AddPwlCommand(CLI::App* app, PwlOptions* options);
int RunPwl(const PwlOptions& options);

}  // namespace irnn::cli
