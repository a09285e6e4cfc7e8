// Test support: the tiny structured text corpus of the language-model training tests (lm_train_test,
// gru_lm_train_test): sentences of 6 words drawn from 3 patterns over 30 words ("w0".."w29"), 400 for
// training and 40 each for validation and test. Seconds to learn; not a benchmark.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "irnn/text_data.h"

namespace irnn {

inline TextCorpus TinyCorpus(uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::string> words;
  for (int i = 0; i < 30; ++i) words.push_back("w" + std::to_string(i));
  auto sentence = [&](std::vector<std::string>* out) {
    const int pattern = static_cast<int>(rng() % 3);
    const int start = static_cast<int>(rng() % 10);
    for (int k = 0; k < 6; ++k) out->push_back(words[static_cast<size_t>((start + k * (pattern + 1)) % 30)]);
    out->push_back(Vocabulary::kEos);
  };
  std::vector<std::string> tr, va, te;
  for (int i = 0; i < 400; ++i) sentence(&tr);
  for (int i = 0; i < 40; ++i) sentence(&va);
  for (int i = 0; i < 40; ++i) sentence(&te);
  TextCorpus c;
  c.vocab = Vocabulary::Build(tr);
  EXPECT_TRUE(EncodeWords(tr, c.vocab, &c.train).ok());
  EXPECT_TRUE(EncodeWords(va, c.vocab, &c.valid).ok());
  EXPECT_TRUE(EncodeWords(te, c.vocab, &c.test).ok());
  return c;
}

}  // namespace irnn
