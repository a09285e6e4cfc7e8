// `irnn g2p` on an integer .irnn model: the integer runtime's encoder–decoder (irnn/g2p.h), no libtorch.
// The model's alphabet and phone symbols are its metadata "g2p_chars" and "g2p_phones" (one symbol a
// line, in id order), written by `irnn recipe g2p`.

#include <cctype>
#include <cstdio>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "g2p_cmds.h"
#include "irnn/cmudict.h"
#include "irnn/g2p.h"
#include "irnn/model.h"

namespace irnn::cli {
namespace {

int Fail(const std::string& message) {
  std::fprintf(stderr, "irnn g2p: error: %s\n", message.c_str());
  return 1;
}

Status Symbols(const Model& m, const std::string& path, const char* key, int32_t want, SymbolTable* t) {
  const auto it = m.metadata.find(key);
  if (it == m.metadata.end()) return Status::DataLoss(path + ": metadata '" + key + "' is missing");
  std::vector<std::string> symbols;
  std::istringstream in(it->second);
  for (std::string s; std::getline(in, s);) symbols.push_back(s);
  const Status s = SymbolTable::FromSymbols(std::move(symbols), t);
  if (!s.ok()) return Status::DataLoss(path + ": metadata '" + key + "': " + s.message());
  if (t->size() != want) {
    return Status::DataLoss(path + ": metadata '" + key + "' has " + std::to_string(t->size()) +
                            " symbols but the model has " + std::to_string(want));
  }
  return Status::Ok();
}

}  // namespace

Status ReadG2pModel(const std::string& path, G2pModelParams* params, SymbolTable* chars, SymbolTable* phones) {
  Model m;
  IRNN_RETURN_IF_ERROR(ReadModel(path, &m));
  const Status s = G2pModelFromModel(m, params);
  if (!s.ok()) return Status(s.code(), path + ": " + s.message());
  IRNN_RETURN_IF_ERROR(Symbols(m, path, "g2p_chars", params->char_embedding.vocab, chars));
  return Symbols(m, path, "g2p_phones", params->phone_embedding.vocab, phones);
}

int RunG2pIntWords(const std::string& path, const std::vector<std::string>& words, int beam) {
  G2pModelParams p;
  SymbolTable chars, phones;
  Status s = ReadG2pModel(path, &p, &chars, &phones);
  if (!s.ok()) return Fail(s.message());
  std::unique_ptr<G2pModel> model;
  s = G2pModel::Create(std::move(p), KernelPath::kAuto, &model);
  if (!s.ok()) return Fail(path + ": " + s.message());
  std::vector<std::vector<int32_t>> ids(words.size());
  for (size_t i = 0; i < words.size(); ++i) {  // every word is checked before anything is printed
    std::string w = words[i];
    for (char& ch : w) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    s = EncodeWord(chars, w, &ids[i]);
    if (!s.ok()) return Fail(s.message());
  }
  for (size_t i = 0; i < words.size(); ++i) {
    std::vector<int32_t> out;
    s = model->Transcribe(ids[i].data(), static_cast<int>(ids[i].size()), beam, &out);
    if (!s.ok()) return Fail(s.message());
    std::string line;
    for (int32_t id : out) line += (line.empty() ? "" : " ") + phones.symbol(id);
    std::printf("%s\t%s\n", words[i].c_str(), line.c_str());
  }
  return 0;
}

}  // namespace irnn::cli
