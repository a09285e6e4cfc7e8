// Built instead of bench_onednn.cc when CMake did not find oneDNN: the peer is reported as skipped.

#include "bench_common.h"

namespace irnn::cli::bench {

void RunOneDnn(const Grid& grid, Report* report) {
  for (const char* cell : {kLstm, kGru}) {
    if (!WantsCell(grid, cell)) continue;
    for (const char* precision : {"fp32", "int8"}) {
      report->skips.push_back({"onednn", precision,
                               "oneDNN not installed (apt-get install libdnnl-dev, then configure the build again)",
                               0, cell});
    }
  }
}

}  // namespace irnn::cli::bench
