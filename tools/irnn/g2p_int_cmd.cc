// `irnn g2p` on an integer .irnn model: the integer runtime's encoder–decoder (irnn/g2p.h).

#include <cstdio>
#include <string>
#include <vector>

#include "g2p_cmds.h"

namespace irnn::cli {

int RunG2pIntWords(const std::string& model, const std::vector<std::string>&, int) {
  std::fprintf(stderr, "irnn g2p: error: %s: integer G2P models are not supported by this build yet\n", model.c_str());
  return 1;
}

}  // namespace irnn::cli
