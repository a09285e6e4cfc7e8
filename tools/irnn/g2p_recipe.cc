// `irnn recipe g2p` and `irnn g2p` on float checkpoints (libtorch): float training of the attention
// encoder–decoder on CMUdict, quantization-aware training and export of the integer model, evaluation
// of PER/WER with greedy and beam search on the test split, DIR/report.json. See g2p_cmds.h.

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "g2p_cmds.h"
#include "irnn/cmudict.h"
#include "train/g2p.h"

namespace irnn::cli {
namespace {

int Fail(const char* cmd, const std::string& message) {
  std::fprintf(stderr, "irnn %s: error: %s\n", cmd, message.c_str());
  return 1;
}

bool IsDir(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

int64_t FileBytes(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 ? static_cast<int64_t>(st.st_size) : -1;
}

std::string Lower(std::string s) {
  for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

std::string Phones(const SymbolTable& phones, const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) s += (s.empty() ? "" : " ") + phones.symbol(id);
  return s;
}

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6f", v);
  return buf;
}

}  // namespace

int RunG2pFloatWords(const std::string& model_path, const std::vector<std::string>& words, int beam) {
  train::FloatG2p model(train::G2pOptions{1, 2});
  SymbolTable chars, phones;
  const Status s = train::LoadFloatG2p(model_path, &model, &chars, &phones);
  if (!s.ok()) return Fail("g2p", s.message());
  std::vector<std::vector<int32_t>> ids(words.size()), out;
  for (size_t i = 0; i < words.size(); ++i) {
    const Status e = EncodeWord(chars, Lower(words[i]), &ids[i]);
    if (!e.ok()) return Fail("g2p", e.message());
  }
  train::DecodeFloatG2p(model, ids, beam, &out);
  for (size_t i = 0; i < words.size(); ++i) std::printf("%s\t%s\n", words[i].c_str(), Phones(phones, out[i]).c_str());
  return 0;
}

int RunG2pRecipe(const G2pRecipeArgs& a) {
  const auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&t0] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
  if (a.out.empty()) return Fail("recipe g2p", "--out is required");
  if (!IsDir(a.out) && mkdir(a.out.c_str(), 0755) != 0) return Fail("recipe g2p", "cannot create " + a.out);
  Cmudict dict;
  Status s = ReadCmudictPath(a.data, &dict);
  if (!s.ok()) return Fail("recipe g2p", s.message());
  G2pData data;
  s = MakeG2pData(dict, &data);
  if (!s.ok()) return Fail("recipe g2p", s.message());
  std::fprintf(stderr, "recipe g2p: %zu words (train %zu, valid %zu, test %zu), %d characters, %d phone symbols\n",
               dict.words.size(), data.train.size(), data.valid.size(), data.test.size(), data.chars.size(),
               data.phones.size());
  std::vector<G2pExample> test = data.test;
  if (a.test_words > 0 && a.test_words < static_cast<int64_t>(test.size())) test.resize(static_cast<size_t>(a.test_words));

  // 1. Float model: trained here, or read from --float-model.
  train::G2pOptions mo;
  mo.chars = data.chars.size();
  mo.phones = data.phones.size();
  train::G2pTrainOptions to;
  to.epochs = a.epochs >= 0 ? a.epochs : 5;  // about 3.5 min each on one busy core
  to.max_examples = a.max_examples;
  to.threads = a.threads;
  train::FloatG2p fm(mo);
  std::vector<train::G2pEpochStats> curve;
  const std::string float_path = a.out + "/float.pt";
  if (!a.float_model.empty()) {
    SymbolTable chars, phones;
    s = train::LoadFloatG2p(a.float_model, &fm, &chars, &phones);
    if (!s.ok()) return Fail("recipe g2p", s.message());
    if (chars.symbols() != data.chars.symbols() || phones.symbols() != data.phones.symbols()) {
      return Fail("recipe g2p", a.float_model + ": its alphabet or phone set differs from --data's");
    }
    std::fprintf(stderr, "recipe g2p: float model from %s\n", a.float_model.c_str());
  } else {
    s = train::TrainFloatG2p(data, to, fm, &curve);
    if (!s.ok()) return Fail("recipe g2p", s.message());
  }
  s = train::SaveFloatG2p(fm, data, float_path);
  if (!s.ok()) return Fail("recipe g2p", s.message());
  const double float_train_seconds = elapsed();
  G2pScore float1 = train::EvaluateFloatG2p(fm, test, 1, true);
  G2pScore float5 = train::EvaluateFloatG2p(fm, test, 5, true);
  std::fprintf(stderr, "float test: beam 1 PER %.2f%% WER %.2f%%; beam 5 PER %.2f%% WER %.2f%%\n", 100 * float1.per(),
               100 * float1.wer(), 100 * float5.per(), 100 * float5.wer());

  // 2. Integer model (QAT): not available in this build yet.
  const bool have_int = false;
  G2pScore int1, int5;

  const double seconds = elapsed();
  std::string r = "{\"recipe\": \"g2p\"";
  auto field = [&r](const std::string& k, const std::string& v) { r += ", \"" + k + "\": " + v; };
  field("per_float_beam1", Num(float1.per()));
  field("wer_float_beam1", Num(float1.wer()));
  field("per_float_beam5", Num(float5.per()));
  field("wer_float_beam5", Num(float5.wer()));
  field("per_int_beam1", have_int ? Num(int1.per()) : "null");
  field("wer_int_beam1", have_int ? Num(int1.wer()) : "null");
  field("per_int_beam5", have_int ? Num(int5.per()) : "null");
  field("wer_int_beam5", have_int ? Num(int5.wer()) : "null");
  field("test_words", std::to_string(float1.words));
  field("test_ref_phones", std::to_string(float1.ref_phones));
  field("train_words", std::to_string(data.train.size()));
  field("float_epochs", std::to_string(curve.size()));
  field("float_train_seconds", Num(float_train_seconds));
  field("float_bytes", std::to_string(FileBytes(float_path)));
  std::string per_epoch = "[", loss_epoch = "[";
  for (size_t e = 0; e < curve.size(); ++e) {
    per_epoch += (e ? ", " : "") + Num(curve[e].valid_per);
    loss_epoch += (e ? ", " : "") + Num(curve[e].train_loss);
  }
  field("float_valid_per_per_epoch", per_epoch + "]");
  field("float_train_loss_per_epoch", loss_epoch + "]");
  field("seconds", Num(seconds));
  r += "}\n";
  std::ofstream(a.out + "/report.json") << r;
  std::printf("%s", r.c_str());
  std::printf("\n%-34s %8s %8s\n", "model (CMUdict test split)", "PER %", "WER %");
  std::printf("%-34s %8.2f %8.2f\n", "float, greedy (beam 1)", 100 * float1.per(), 100 * float1.wer());
  std::printf("%-34s %8.2f %8.2f\n", "float, beam 5", 100 * float5.per(), 100 * float5.wer());
  if (have_int) {
    std::printf("%-34s %8.2f %8.2f\n", "integer (QAT), greedy (beam 1)", 100 * int1.per(), 100 * int1.wer());
    std::printf("%-34s %8.2f %8.2f\n", "integer (QAT), beam 5", 100 * int5.per(), 100 * int5.wer());
  }
  std::printf("%.0f s in all\n", seconds);
  return 0;
}

}  // namespace irnn::cli
