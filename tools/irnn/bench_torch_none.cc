// Built instead of bench_torch.cc when the tool is built without libtorch: the libtorch peer and the
// float language model's speed are reported as skipped.

#include "bench_common.h"

namespace irnn::cli::bench {

void RunLibtorch(const Grid& grid, Report* report) {
  for (const char* cell : {kLstm, kGru}) {
    if (!WantsCell(grid, cell)) continue;
    report->skips.push_back(
        {"libtorch", "fp32", "irnn was built without libtorch (IRNN_WITH_TORCH=OFF or not found)", 0, cell});
  }
}

bool FloatLmSpeed(const std::string&, int64_t, int, uint32_t, std::vector<LmSpeed>*, std::string* why) {
  *why = "irnn was built without libtorch: the float model cannot be run";
  return false;
}

}  // namespace irnn::cli::bench
