// Word-level text corpora for language modelling: Penn Treebank and WikiText-2 in their published
// formats, and plain text (for example the King James Bible from Debian's bible-kjv-text). Words are
// whitespace-separated tokens; every line ends with "<eos>". Ids are int32 indices into a vocabulary.
// Standard library only. Errors name the file and the problem; nothing here aborts on bad input.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "irnn/status.h"

namespace irnn {

class Vocabulary {
 public:
  static constexpr const char* kEos = "<eos>";
  static constexpr const char* kUnk = "<unk>";

  // The most frequent words of `words` (ties broken by first appearance), at most max_size of them
  // (0 = all), plus <eos> and <unk>.
  static Vocabulary Build(const std::vector<std::string>& words, int max_size = 0);
  // From an explicit word list (one per id); fails on duplicates or an empty list.
  static Status FromWords(std::vector<std::string> words, Vocabulary* vocab);

  int32_t size() const { return static_cast<int32_t>(words_.size()); }
  const std::string& word(int32_t id) const { return words_[static_cast<size_t>(id)]; }
  const std::vector<std::string>& words() const { return words_; }
  // The id of a word, or -1.
  int32_t Find(const std::string& w) const;
  int32_t eos() const { return Find(kEos); }
  int32_t unk() const { return Find(kUnk); }

 private:
  std::vector<std::string> words_;
  std::unordered_map<std::string, int32_t> index_;
};

struct TextCorpus {
  Vocabulary vocab;
  std::vector<int32_t> train, valid, test;
};

// Reads whitespace-separated words, appending <eos> at the end of every line (blank lines included, as
// the usual PTB/WikiText language-modelling setup does). lowercase/split_punctuation prepare raw text.
Status ReadWords(const std::string& path, bool lowercase, bool split_punctuation, std::vector<std::string>* words);

// Maps words to ids; a word outside the vocabulary becomes <unk> (an error when the vocabulary has none).
Status EncodeWords(const std::vector<std::string>& words, const Vocabulary& vocab, std::vector<int32_t>* ids);

// dir/ptb.{train,valid,test}.txt (Mikolov's PTB: 10,000 words incl. <unk>, plus <eos>).
Status LoadPtb(const std::string& dir, TextCorpus* corpus);
// dir/{train,valid,test}.txt (WikiText-2, tokenized, raw '@-@' style kept as words).
Status LoadWikiText2(const std::string& dir, TextCorpus* corpus);
// One plain-text file: lower-cased, punctuation split off, the max_vocab most frequent words (others
// <unk>); lines are dealt deterministically: of every 20 lines, one to valid and one to test.
Status LoadPlainText(const std::string& path, int max_vocab, TextCorpus* corpus);

// Lays ids out as `batch` parallel streams, time-major: out[t * batch + b] = ids[b * steps + t], with
// steps = ids.size() / batch (the remainder is dropped). Fails when there is not one step per stream.
Status BatchifyTimeMajor(const std::vector<int32_t>& ids, int batch, std::vector<int32_t>* out, int* steps);

}  // namespace irnn
