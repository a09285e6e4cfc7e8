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
#include "irnn/g2p.h"
#include "irnn/model.h"
#include "train/g2p.h"
#include "train/g2p_qat.h"

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
  to.seed = a.seed;
  // The initial weights come from libtorch's global generator, whose default seed differs from process to
  // process: seed it (and fix the thread count) before the model is built, or two runs with the same
  // seed start from different weights (TrainFloatG2p seeds it again, but only after construction).
  torch::manual_seed(to.seed);
  if (to.threads > 0) torch::set_num_threads(to.threads);
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

  // 2. Integer model: QAT fine-tuning from the float model (iRNN mode), export to one .irnn file.
  train::G2pTrainOptions qt = to;
  qt.epochs = a.qat_epochs >= 0 ? a.qat_epochs : 1;
  qt.max_examples = a.qat_examples;  // default 40,000: a third of an epoch
  qt.lr = 5e-4;
  qt.decay_start = 1;
  train::G2pQatOptions qo;
  train::QatG2p qm(fm, qo);
  std::vector<train::G2pEpochStats> qat_curve;
  const double qat_t0 = elapsed();
  s = train::TrainQatG2p(data, qt, qo, qm, &qat_curve);
  if (!s.ok()) return Fail("recipe g2p", "qat: " + s.message());
  const double qat_seconds = elapsed() - qat_t0;
  G2pModelParams ip;
  s = qm->Export(&ip);
  if (!s.ok()) return Fail("recipe g2p", s.message());
  const std::string int_path = a.out + "/g2p.irnn";
  {
    Model file;
    s = ModelFromG2pModel(ip, &file);
    if (!s.ok()) return Fail("recipe g2p", s.message());
    auto join = [](const std::vector<std::string>& v) {
      std::string j;
      for (const auto& x : v) j += x + "\n";
      return j;
    };
    file.metadata["g2p_chars"] = join(data.chars.symbols());
    file.metadata["g2p_phones"] = join(data.phones.symbols());
    file.metadata["quantization"] = "qat-irnn";
    s = WriteModel(file, int_path);
    if (!s.ok()) return Fail("recipe g2p", s.message());
  }
  // Evaluate the file as a user would: read it back, integer runtime.
  G2pModelParams rp;
  SymbolTable rchars, rphones;
  s = ReadG2pModel(int_path, &rp, &rchars, &rphones);
  if (!s.ok()) return Fail("recipe g2p", s.message());
  std::unique_ptr<G2pModel> im;
  s = G2pModel::Create(rp, KernelPath::kAuto, &im);
  if (!s.ok()) return Fail("recipe g2p", s.message());
  const bool have_int = true;
  G2pScore int1, int5;
  const double int_t0 = elapsed();
  s = train::EvaluateIntG2p(*im, test, 1, &int1, true);
  if (!s.ok()) return Fail("recipe g2p", s.message());
  const double int_greedy_seconds = elapsed() - int_t0;
  s = train::EvaluateIntG2p(*im, test, 5, &int5, true);
  if (!s.ok()) return Fail("recipe g2p", s.message());
  std::fprintf(stderr, "integer test: beam 1 PER %.2f%% WER %.2f%%; beam 5 PER %.2f%% WER %.2f%%\n", 100 * int1.per(),
               100 * int1.wer(), 100 * int5.per(), 100 * int5.wer());
  // sim == int on the first test words: the libtorch simulation must transcribe them identically.
  std::vector<std::vector<int32_t>> sim_words, sim_out, int_out;
  for (size_t i = 0; i < test.size() && i < 300; ++i) sim_words.push_back(test[i].chars);
  int64_t sim_mismatches = 0;
  for (int beam : {1, 5}) {
    s = train::DecodeSimG2p(rp, sim_words, beam, &sim_out);
    if (!s.ok()) return Fail("recipe g2p", s.message());
    s = train::DecodeIntG2p(*im, sim_words, beam, &int_out);
    if (!s.ok()) return Fail("recipe g2p", s.message());
    for (size_t i = 0; i < sim_words.size(); ++i) sim_mismatches += sim_out[i] != int_out[i];
  }
  std::fprintf(stderr, "sim == int: %lld mismatches in %zu words x 2 searches\n", static_cast<long long>(sim_mismatches),
               sim_words.size());

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
  field("int_bytes", std::to_string(FileBytes(int_path)));
  field("qat_epochs", std::to_string(qat_curve.size()));
  field("qat_examples_per_epoch", std::to_string(qt.max_examples));
  field("qat_seconds", Num(qat_seconds));
  field("int_greedy_words_per_s", Num(int1.words / std::max(int_greedy_seconds, 1e-9)));
  field("sim_check_words", std::to_string(sim_words.size()));
  field("sim_int_mismatches", std::to_string(sim_mismatches));
  std::string qat_per = "[";
  for (size_t e = 0; e < qat_curve.size(); ++e) qat_per += (e ? ", " : "") + Num(qat_curve[e].valid_per);
  field("qat_valid_per_per_epoch", qat_per + "]");
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
