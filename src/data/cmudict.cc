// The CMU Pronouncing Dictionary reader, split, vocabularies and G2P metrics (see include/irnn/cmudict.h).
// Not part of the integer runtime objects (the metrics use double).

#include "irnn/cmudict.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <sys/stat.h>

namespace irnn {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r'; }

std::string Printable(const std::string& s) {
  std::string out;
  for (unsigned char c : s.substr(0, 40)) {
    if (c >= 32 && c < 127) {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  if (s.size() > 40) out += "...";
  return out;
}

// Splits "word(N)" into the word and N (1 when there is no suffix). Returns an error text or "".
std::string SplitSuffix(const std::string& field, std::string* word, int* alt) {
  *alt = 1;
  *word = field;
  const size_t open = field.find('(');
  if (open != std::string::npos) {
    if (field.back() != ')' || open + 2 >= field.size()) {
      return "word '" + Printable(field) + "' has a '(' but not a suffix (N) at its end";
    }
    const std::string digits = field.substr(open + 1, field.size() - open - 2);
    if (digits.size() > 2 || !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return "word '" + Printable(field) + "' has the suffix (" + Printable(digits) + ") but must have (N), N in [2, 99]";
    }
    *alt = std::stoi(digits);
    if (*alt < 2) return "word '" + Printable(field) + "' has the suffix (" + digits + ") but N must be in [2, 99]";
    *word = field.substr(0, open);
  }
  if (word->empty()) return "the word before the suffix is empty";
  if (static_cast<int>(word->size()) > kMaxCmudictWordChars) {
    return "word '" + Printable(*word) + "' has " + std::to_string(word->size()) + " characters but must have at most " +
           std::to_string(kMaxCmudictWordChars);
  }
  for (unsigned char c : *word) {
    if (c < 33 || c > 126 || c == '(' || c == ')') {
      return "word '" + Printable(*word) + "' contains a character that is not printable ASCII (or is '(' / ')')";
    }
  }
  return "";
}

// Validates a phone and removes its stress digit. Returns an error text or "".
std::string NormalizePhone(const std::string& field, std::string* phone) {
  std::string p = field;
  if (!p.empty() && p.back() >= '0' && p.back() <= '2') p.pop_back();
  if (p.empty() || p.size() > 8 || !std::all_of(p.begin(), p.end(), [](char c) { return c >= 'A' && c <= 'Z'; })) {
    return "phone '" + Printable(field) + "' must be 1 to 8 letters A-Z with an optional stress digit 0-2";
  }
  *phone = p;
  return "";
}

}  // namespace

Status ParseCmudict(const std::string& text, const std::string& source, Cmudict* dict) {
  if (dict == nullptr) return Status::InvalidArgument("ParseCmudict: dict is null");
  if (text.find('\0') != std::string::npos) {
    return Status::DataLoss(source + ": contains NUL bytes (binary file?)");
  }
  std::map<std::string, CmudictWord> words;
  int64_t line_no = 0, lines = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    auto error = [&](const std::string& what) {
      return Status::DataLoss(source + ":" + std::to_string(line_no) + ": " + what);
    };
    if (line.compare(0, 3, ";;;") == 0) continue;
    std::vector<std::string> fields;
    for (size_t i = 0; i < line.size();) {
      while (i < line.size() && IsSpace(line[i])) ++i;
      size_t j = i;
      while (j < line.size() && !IsSpace(line[j])) ++j;
      if (j > i) fields.push_back(line.substr(i, j - i));
      i = j;
    }
    if (fields.empty()) continue;
    if (fields.size() < 2) return error("'" + Printable(fields[0]) + "' has no phones (a line is 'word PH1 PH2 ...')");
    if (static_cast<int>(fields.size()) - 1 > kMaxCmudictPhones) {
      return error("the pronunciation has " + std::to_string(fields.size() - 1) + " phones but must have at most " +
                   std::to_string(kMaxCmudictPhones));
    }
    std::string word;
    int alt = 1;
    std::string e = SplitSuffix(fields[0], &word, &alt);
    if (!e.empty()) return error(e);
    std::vector<std::string> pron;
    for (size_t i = 1; i < fields.size(); ++i) {
      std::string phone;
      e = NormalizePhone(fields[i], &phone);
      if (!e.empty()) return error(e);
      pron.push_back(phone);
    }
    CmudictWord& w = words[word];
    w.word = word;
    if (std::find(w.prons.begin(), w.prons.end(), pron) == w.prons.end()) w.prons.push_back(std::move(pron));
    ++lines;
  }
  if (words.empty()) return Status::DataLoss(source + ": holds no pronunciation");
  dict->words.clear();
  dict->words.reserve(words.size());
  for (auto& kv : words) dict->words.push_back(std::move(kv.second));
  dict->lines = lines;
  return Status::Ok();
}

Status ReadCmudict(const std::string& path, Cmudict* dict) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return Status::InvalidArgument(path + ": cannot open the file (no such file)");
  if (S_ISDIR(st.st_mode)) return Status::InvalidArgument(path + ": is a folder, not a dictionary file");
  if (st.st_size > kMaxCmudictBytes) {
    return Status::OutOfRange(path + ": size " + std::to_string(st.st_size) + " bytes is above the 256 MiB limit");
  }
  std::ifstream f(path, std::ios::binary);
  if (!f) return Status::InvalidArgument(path + ": cannot open the file");
  std::ostringstream text;
  text << f.rdbuf();
  return ParseCmudict(text.str(), path, dict);
}

Status ReadCmudictPath(const std::string& path, Cmudict* dict) {
  struct stat st;
  if (stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return ReadCmudict(path + "/cmudict-en-us.dict", dict);
  return ReadCmudict(path, dict);
}

uint64_t Fnv1a64(const std::string& s) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

G2pSplit SplitOfWord(const std::string& word) {
  const uint64_t bucket = Fnv1a64(word) % 100;
  if (bucket >= 95) return G2pSplit::kTest;
  if (bucket >= 90) return G2pSplit::kValid;
  return G2pSplit::kTrain;
}

Status SymbolTable::FromSymbols(std::vector<std::string> symbols, SymbolTable* table) {
  if (symbols.empty()) return Status::InvalidArgument("SymbolTable: the symbol list is empty");
  SymbolTable t;
  for (size_t i = 0; i < symbols.size(); ++i) {
    if (symbols[i].empty()) return Status::InvalidArgument("SymbolTable: symbol " + std::to_string(i) + " is empty");
    t.sorted_.emplace_back(symbols[i], static_cast<int32_t>(i));
  }
  std::sort(t.sorted_.begin(), t.sorted_.end());
  for (size_t i = 1; i < t.sorted_.size(); ++i) {
    if (t.sorted_[i].first == t.sorted_[i - 1].first) {
      return Status::InvalidArgument("SymbolTable: symbol '" + t.sorted_[i].first + "' appears twice");
    }
  }
  t.symbols_ = std::move(symbols);
  *table = std::move(t);
  return Status::Ok();
}

int32_t SymbolTable::Find(const std::string& s) const {
  const auto it = std::lower_bound(sorted_.begin(), sorted_.end(), std::make_pair(s, int32_t{-1}));
  return it != sorted_.end() && it->first == s ? it->second : -1;
}

Status EncodeWord(const SymbolTable& chars, const std::string& word, std::vector<int32_t>* ids) {
  if (word.empty()) return Status::InvalidArgument("word is empty");
  if (static_cast<int>(word.size()) > kMaxCmudictWordChars) {
    return Status::InvalidArgument("word '" + Printable(word) + "' has " + std::to_string(word.size()) +
                                   " characters but must have at most " + std::to_string(kMaxCmudictWordChars));
  }
  ids->clear();
  for (size_t i = 0; i < word.size(); ++i) {
    const int32_t id = chars.Find(std::string(1, word[i]));
    if (id < 0) {
      std::string alphabet;
      for (const auto& c : chars.symbols()) alphabet += c;
      return Status::InvalidArgument("word '" + Printable(word) + "': character '" + Printable(word.substr(i, 1)) +
                                     "' at position " + std::to_string(i + 1) + " is not in the model's alphabet \"" +
                                     alphabet + "\"");
    }
    ids->push_back(id);
  }
  return Status::Ok();
}

Status MakeG2pData(const Cmudict& dict, G2pData* data) {
  if (dict.words.empty()) return Status::InvalidArgument("MakeG2pData: the dictionary is empty");
  std::set<std::string> char_set, phone_set;
  for (const auto& w : dict.words) {
    for (char c : w.word) char_set.insert(std::string(1, c));
    for (const auto& p : w.prons) phone_set.insert(p.begin(), p.end());
  }
  G2pData d;
  IRNN_RETURN_IF_ERROR(SymbolTable::FromSymbols(std::vector<std::string>(char_set.begin(), char_set.end()), &d.chars));
  std::vector<std::string> phones = {"</s>", "<s>"};
  phones.insert(phones.end(), phone_set.begin(), phone_set.end());
  IRNN_RETURN_IF_ERROR(SymbolTable::FromSymbols(std::move(phones), &d.phones));
  for (const auto& w : dict.words) {
    G2pExample e;
    e.word = w.word;
    IRNN_RETURN_IF_ERROR(EncodeWord(d.chars, w.word, &e.chars));
    for (const auto& p : w.prons) {
      std::vector<int32_t> ids;
      for (const auto& ph : p) ids.push_back(d.phones.Find(ph));
      e.prons.push_back(std::move(ids));
    }
    switch (SplitOfWord(w.word)) {
      case G2pSplit::kTrain: d.train.push_back(std::move(e)); break;
      case G2pSplit::kValid: d.valid.push_back(std::move(e)); break;
      case G2pSplit::kTest: d.test.push_back(std::move(e)); break;
    }
  }
  *data = std::move(d);
  return Status::Ok();
}

int64_t EditDistance(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  std::vector<int64_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = static_cast<int64_t>(j);
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = static_cast<int64_t>(i);
    for (size_t j = 1; j <= b.size(); ++j) {
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

void G2pScore::Add(const std::vector<int32_t>& hyp, const std::vector<std::vector<int32_t>>& prons) {
  if (prons.empty()) return;
  int64_t best = -1, best_len = 0;
  for (const auto& p : prons) {
    const int64_t d = EditDistance(hyp, p);
    if (best < 0 || d < best) {
      best = d;
      best_len = static_cast<int64_t>(p.size());
    }
  }
  ++words;
  if (best != 0) ++word_errors;
  phone_errors += best;
  ref_phones += best_len;
}

}  // namespace irnn
