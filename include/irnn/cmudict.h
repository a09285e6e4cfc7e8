// The CMU Pronouncing Dictionary for grapheme-to-phoneme (G2P) conversion: a validating reader, the
// grouping of alternate pronunciations, a deterministic word-level train/valid/test split, the character
// and phone vocabularies, and the two G2P metrics (phone error rate, word error rate). Standard library
// only; errors name the file and line; nothing here aborts on bad input. This is not a model: the
// encoder–decoder that maps characters to phones is irnn/g2p.h (integer) and src/train/g2p.h (float, QAT).
//
// File format (the CMUSphinx variant shipped by Debian's pocketsphinx-en-us, and CMU's own): one
// pronunciation per line, `word PH1 PH2 ...`, fields separated by spaces or tabs; alternates are written
// `word(2)`, `word(3)`, ...; lines starting with ";;;" are comments and blank lines are skipped. Phones
// are upper-case ARPAbet letters; a lexical-stress digit (AH0, AH1, AH2, as in CMU's own file) is
// removed, so both variants give the same 39-phone inventory.
//
// The split (documented in docs/results.md): a word (without its (N) suffix) goes to test if
// FNV-1a-64(word) mod 100 is in [95, 100), to valid if in [90, 95), else to train. It depends on the word
// alone, so it is the same on every machine and for every version of the dictionary, no word is in two
// splits, and a word's alternates stay together.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "irnn/status.h"

namespace irnn {

inline constexpr int kMaxCmudictWordChars = 64;     // characters of a word, without the (N) suffix
inline constexpr int kMaxCmudictPhones = 64;        // phones of one pronunciation
inline constexpr int64_t kMaxCmudictBytes = int64_t{1} << 28;  // 256 MiB: refuse larger files

// One word and all of its pronunciations (file order, duplicates removed).
struct CmudictWord {
  std::string word;                                  // lower-case as in the file, without "(N)"
  std::vector<std::vector<std::string>> prons;       // >= 1, each >= 1 phone (stress removed)
};

struct Cmudict {
  std::vector<CmudictWord> words;  // sorted by word (byte order), each word once
  int64_t lines = 0;               // pronunciation lines read
};

// Parses dictionary text; `source` names it in errors ("<source>:<line>: ..."). Rules: a word is 1 to
// kMaxCmudictWordChars printable ASCII characters other than '(' and ')' (before an optional "(N)" suffix,
// N in [2, 99]); at least one and at most kMaxCmudictPhones phones, each [A-Z]+ with an optional stress
// digit 0-2; no NUL bytes.
Status ParseCmudict(const std::string& text, const std::string& source, Cmudict* dict);
// Reads and parses the file at `path` (at most kMaxCmudictBytes).
Status ReadCmudict(const std::string& path, Cmudict* dict);
// `dir`/cmudict-en-us.dict if `path` is a folder, else the file itself.
Status ReadCmudictPath(const std::string& path, Cmudict* dict);

enum class G2pSplit : uint8_t { kTrain = 0, kValid = 1, kTest = 2 };
// FNV-1a 64-bit hash of the word's bytes (offset basis 14695981039346656037, prime 1099511628211).
uint64_t Fnv1a64(const std::string& s);
// The split of a word (without its "(N)" suffix): see the header comment.
G2pSplit SplitOfWord(const std::string& word);

// A symbol table: id -> symbol and back.
class SymbolTable {
 public:
  static Status FromSymbols(std::vector<std::string> symbols, SymbolTable* table);
  int32_t size() const { return static_cast<int32_t>(symbols_.size()); }
  const std::string& symbol(int32_t id) const { return symbols_[static_cast<size_t>(id)]; }
  const std::vector<std::string>& symbols() const { return symbols_; }
  int32_t Find(const std::string& s) const;  // -1 when absent

 private:
  std::vector<std::string> symbols_;
  std::vector<std::pair<std::string, int32_t>> sorted_;  // for Find
};

// Phone vocabulary ids: 0 is the end symbol "</s>", 1 the start symbol "<s>", then the phones in byte
// order. Character vocabulary: one symbol per character, in byte order (no special symbols: the encoder
// reads exactly the word).
inline constexpr int32_t kPhoneEnd = 0;
inline constexpr int32_t kPhoneStart = 1;

struct G2pExample {
  std::string word;
  std::vector<int32_t> chars;                 // character ids
  std::vector<std::vector<int32_t>> prons;    // phone ids of each pronunciation (no start/end symbols)
};

struct G2pData {
  SymbolTable chars;   // the characters of all words (the input alphabet; it holds no pronunciation)
  SymbolTable phones;  // </s>, <s>, then the phones of all pronunciations
  std::vector<G2pExample> train, valid, test;
};

// The split dictionary with its vocabularies.
Status MakeG2pData(const Cmudict& dict, G2pData* data);

// Character ids of a word, or an error naming the first character outside the alphabet.
Status EncodeWord(const SymbolTable& chars, const std::string& word, std::vector<int32_t>* ids);

// Levenshtein distance (unit insert, delete, substitute) between two id sequences.
int64_t EditDistance(const std::vector<int32_t>& a, const std::vector<int32_t>& b);

// G2P scores over a set of words. For each word, the reference is the pronunciation closest to the
// hypothesis (smallest edit distance; ties: the first in file order). PER = Σ distance / Σ reference
// length; WER = words whose hypothesis equals none of the pronunciations / words.
struct G2pScore {
  int64_t words = 0, word_errors = 0;
  int64_t phone_errors = 0, ref_phones = 0;
  void Add(const std::vector<int32_t>& hyp, const std::vector<std::vector<int32_t>>& prons);
  double per() const { return ref_phones > 0 ? static_cast<double>(phone_errors) / ref_phones : 0.0; }
  double wer() const { return words > 0 ? static_cast<double>(word_errors) / words : 0.0; }
};

}  // namespace irnn
