// Text corpora for language modelling (see include/irnn/text_data.h).

#include "irnn/text_data.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>

namespace irnn {
namespace {

constexpr int64_t kMaxFileBytes = int64_t{1} << 31;  // 2 GiB: refuse anything larger before reading

bool IsPunct(unsigned char c) { return std::ispunct(c) != 0 && c != '\'' && c != '<' && c != '>'; }

}  // namespace

Vocabulary Vocabulary::Build(const std::vector<std::string>& words, int max_size) {
  std::unordered_map<std::string, std::pair<int64_t, int64_t>> counts;  // word -> (count, first position)
  for (size_t i = 0; i < words.size(); ++i) {
    auto it = counts.find(words[i]);
    if (it == counts.end()) counts.emplace(words[i], std::make_pair(int64_t{1}, static_cast<int64_t>(i)));
    else ++it->second.first;
  }
  std::vector<std::pair<std::string, std::pair<int64_t, int64_t>>> sorted(counts.begin(), counts.end());
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
    if (a.second.first != b.second.first) return a.second.first > b.second.first;
    return a.second.second < b.second.second;
  });
  Vocabulary v;
  auto add = [&v](const std::string& w) {
    if (v.index_.count(w) != 0) return;
    v.index_.emplace(w, static_cast<int32_t>(v.words_.size()));
    v.words_.push_back(w);
  };
  add(kEos);
  add(kUnk);
  for (const auto& e : sorted) {
    if (max_size > 0 && v.size() >= max_size + 2) break;
    add(e.first);
  }
  return v;
}

Status Vocabulary::FromWords(std::vector<std::string> words, Vocabulary* vocab) {
  if (words.empty()) return Status::InvalidArgument("Vocabulary: the word list is empty");
  Vocabulary v;
  for (size_t i = 0; i < words.size(); ++i) {
    if (words[i].empty()) return Status::InvalidArgument("Vocabulary: word " + std::to_string(i) + " is empty");
    if (!v.index_.emplace(words[i], static_cast<int32_t>(i)).second) {
      return Status::InvalidArgument("Vocabulary: word '" + words[i] + "' appears twice");
    }
  }
  v.words_ = std::move(words);
  *vocab = std::move(v);
  return Status::Ok();
}

int32_t Vocabulary::Find(const std::string& w) const {
  const auto it = index_.find(w);
  return it == index_.end() ? -1 : it->second;
}

Status ReadWords(const std::string& path, bool lowercase, bool split_punctuation, std::vector<std::string>* words) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) return Status::InvalidArgument(path + ": cannot open the file");
  const std::streamoff size = f.tellg();
  if (size < 0 || size > kMaxFileBytes) {
    return Status::OutOfRange(path + ": size " + std::to_string(size) + " bytes is above the 2 GiB limit");
  }
  f.seekg(0);
  words->clear();
  std::string line;
  int64_t line_no = 0;
  while (std::getline(f, line)) {
    ++line_no;
    if (line.find('\0') != std::string::npos) {
      return Status::DataLoss(path + ":" + std::to_string(line_no) + ": contains NUL bytes (binary file?)");
    }
    std::string prepared;
    prepared.reserve(line.size() + 8);
    for (unsigned char ch : line) {
      if (lowercase) ch = static_cast<unsigned char>(std::tolower(ch));
      if (split_punctuation && IsPunct(ch)) {
        prepared += ' ';
        prepared += static_cast<char>(ch);
        prepared += ' ';
      } else {
        prepared += static_cast<char>(ch);
      }
    }
    std::istringstream in(prepared);
    std::string w;
    while (in >> w) words->push_back(w);
    words->push_back(Vocabulary::kEos);
  }
  if (words->size() == static_cast<size_t>(line_no) || words->empty()) {
    return Status::DataLoss(path + ": has no words");
  }
  return Status::Ok();
}

Status EncodeWords(const std::vector<std::string>& words, const Vocabulary& vocab, std::vector<int32_t>* ids) {
  const int32_t unk = vocab.unk();
  ids->clear();
  ids->reserve(words.size());
  for (const auto& w : words) {
    int32_t id = vocab.Find(w);
    if (id < 0) {
      if (unk < 0) return Status::InvalidArgument("EncodeWords: '" + w + "' is not in the vocabulary, which has no <unk>");
      id = unk;
    }
    ids->push_back(id);
  }
  return Status::Ok();
}

namespace {

// The vocabulary of the training words (at most max_vocab, 0: all) and the three splits encoded with it.
Status BuildCorpus(const std::vector<std::string>& tr, const std::vector<std::string>& va,
                   const std::vector<std::string>& te, int max_vocab, TextCorpus* corpus) {
  TextCorpus c;
  c.vocab = Vocabulary::Build(tr, max_vocab);
  IRNN_RETURN_IF_ERROR(EncodeWords(tr, c.vocab, &c.train));
  IRNN_RETURN_IF_ERROR(EncodeWords(va, c.vocab, &c.valid));
  IRNN_RETURN_IF_ERROR(EncodeWords(te, c.vocab, &c.test));
  *corpus = std::move(c);
  return Status::Ok();
}

Status LoadSplits(const std::string& train, const std::string& valid, const std::string& test, int max_vocab,
                  TextCorpus* corpus) {
  std::vector<std::string> tr, va, te;
  IRNN_RETURN_IF_ERROR(ReadWords(train, false, false, &tr));
  IRNN_RETURN_IF_ERROR(ReadWords(valid, false, false, &va));
  IRNN_RETURN_IF_ERROR(ReadWords(test, false, false, &te));
  return BuildCorpus(tr, va, te, max_vocab, corpus);
}

}  // namespace

Status LoadPtb(const std::string& dir, TextCorpus* corpus) {
  return LoadSplits(dir + "/ptb.train.txt", dir + "/ptb.valid.txt", dir + "/ptb.test.txt", 0, corpus);
}

Status LoadWikiText2(const std::string& dir, TextCorpus* corpus) {
  return LoadSplits(dir + "/train.txt", dir + "/valid.txt", dir + "/test.txt", 0, corpus);
}

Status LoadPlainText(const std::string& path, int max_vocab, TextCorpus* corpus) {
  if (max_vocab < 1) return Status::InvalidArgument("LoadPlainText: max_vocab must be >= 1");
  std::vector<std::string> words;
  IRNN_RETURN_IF_ERROR(ReadWords(path, true, true, &words));
  // Deal whole lines (each ends with <eos>) to the three splits.
  std::vector<std::string> tr, va, te;
  int64_t line = 0;
  for (const auto& w : words) {
    auto& dst = line % 20 == 18 ? va : (line % 20 == 19 ? te : tr);
    dst.push_back(w);
    if (w == Vocabulary::kEos) ++line;
  }
  if (va.empty() || te.empty()) return Status::DataLoss(path + ": too few lines (" + std::to_string(line) + ") to split");
  return BuildCorpus(tr, va, te, max_vocab, corpus);
}

Status BatchifyTimeMajor(const std::vector<int32_t>& ids, int batch, std::vector<int32_t>* out, int* steps) {
  if (batch < 1) return Status::InvalidArgument("BatchifyTimeMajor: batch is " + std::to_string(batch) + " but must be >= 1");
  const size_t n = ids.size() / static_cast<size_t>(batch);
  if (n < 1) {
    return Status::InvalidArgument("BatchifyTimeMajor: " + std::to_string(ids.size()) + " tokens are fewer than batch " +
                                   std::to_string(batch));
  }
  out->resize(n * batch);
  for (size_t b = 0; b < static_cast<size_t>(batch); ++b)
    for (size_t t = 0; t < n; ++t) (*out)[t * batch + b] = ids[b * n + t];
  *steps = static_cast<int>(n);
  return Status::Ok();
}

}  // namespace irnn
