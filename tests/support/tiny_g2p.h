// Test support: the tiny synthetic pronunciation dictionary of the G2P tests (g2p_train_test,
// g2p_qat_test): `words` distinct words of 2 to 6 letters over "abcdeh", each letter one phone and "ch"
// one phone together (a context rule to learn), parsed as CMUdict text and split by MakeG2pData.
#pragma once

#include <cstdint>
#include <random>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "irnn/cmudict.h"

namespace irnn {

inline G2pData TinyData(int words, uint32_t seed) {
  std::mt19937 rng(seed);
  const char* letters = "abcdeh";
  const char* phones[] = {"AE", "B", "K", "D", "EH", "HH"};
  std::string text;
  std::set<std::string> seen;
  while (static_cast<int>(seen.size()) < words) {
    std::string w;
    const int len = 2 + static_cast<int>(rng() % 5);
    for (int i = 0; i < len; ++i) w += letters[rng() % 6];
    if (!seen.insert(w).second) continue;
    text += w;
    for (size_t i = 0; i < w.size(); ++i) {
      if (w[i] == 'c' && i + 1 < w.size() && w[i + 1] == 'h') {
        text += " CH";
        ++i;
      } else {
        text += std::string(" ") + phones[std::string(letters).find(w[i])];
      }
    }
    text += "\n";
  }
  Cmudict d;
  EXPECT_TRUE(ParseCmudict(text, "tiny", &d).ok());
  G2pData g;
  EXPECT_TRUE(MakeG2pData(d, &g).ok());
  return g;
}

}  // namespace irnn
