// `irnn train | qat | ptq | eval | generate | recipe`: the language-model pipeline of Step 3 — float
// training, quantization-aware training (iRNN) or post-training quantization (Li & Alvarez), export to
// one .irnn file, and evaluation on the float, simulated-integer (libtorch) and integer (runtime)
// backends. Long commands draw a progress line with tokens/s and ETA.

#include "lm_cmds.h"
#include "gru_lm_cmds.h"

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>

#include <CLI/CLI.hpp>

#include "irnn/lm.h"
#include "irnn/model.h"
#include "irnn/text_data.h"
#include "train/lm.h"
#include "train/qat.h"
#include "train/qat_gru.h"

namespace irnn::cli {

void PrepareThreadingEnvironment(int argc, char** argv) {
#ifdef __linux__
  if (argc < 2 || std::getenv("OMP_WAIT_POLICY") != nullptr) return;
  bool uses_torch = false;
  for (const char* name : {"train", "qat", "ptq", "eval", "generate", "recipe"}) {
    uses_torch = uses_torch || std::strcmp(argv[1], name) == 0;
  }
  if (!uses_torch || setenv("OMP_WAIT_POLICY", "passive", 1) != 0) return;
  execv("/proc/self/exe", argv);  // returns only on failure: then go on as we are, just slower
#else
  (void)argc;
  (void)argv;
#endif
}

struct DataArgs {
  std::string path;
  std::string format = "auto";  // auto, ptb, wikitext2, text
  int max_vocab = 10000;        // plain text only
};

struct TrainArgs {
  DataArgs data;
  std::string out;
  std::string cell = "lstm";  // lstm or gru (gru_lm_cmds.cc)
  train::LmOptions lm;
  train::TrainOptions train;
  std::string plot;
};

struct QuantArgs {
  std::string float_model;
  DataArgs data;
  std::string out;
  std::string mode = "irnn";
  std::string rounding = "double";
  train::TrainOptions train;  // QAT fine-tuning
  int calibration_batches = 100;
  double pwl_max_err = 1.0;
  bool pot_scales = false;  // numerics.md §7.1.1 (irnn mode; implies single rounding)
  int weight_bits = 8;      // the LSTM gate weights: 8 or 7 (QatOptions::weight_bits)
  bool rounding_given = false;
  std::string plot;
};

struct EvalArgs {
  std::string model;
  DataArgs data;
  std::string backend = "int";
  std::string split = "test";
  int batch = 10;
  std::string path = "auto";
  bool json = false;
};

struct GenerateArgs {
  std::string model;
  int words = 50;
  double temperature = 1.0;
  uint32_t seed = 1;
  std::string prompt;
};

struct RecipeArgs {
  std::string name;
  DataArgs data;
  std::string out;
  int epochs = -1;  // -1: the recipe's own
  int qat_epochs = -1;
  int64_t max_tokens = 0;
  int threads = 0;
  int64_t sim_tokens = -1;  // -1: the recipe's own (0: the whole test split)
  double time_budget = 0;   // ptb-gru-small: seconds for float training (0: none)
  bool pot_scales = false;  // the QAT (iRNN) model with power-of-two scales (numerics.md §7.1.1)
  int weight_bits = 8;      // the LSTM gate weights of the QAT and PTQ models: 8 or 7
};

struct LmCommands {
  TrainArgs train;
  QuantArgs qat, ptq;
  EvalArgs eval;
  GenerateArgs generate;
  RecipeArgs recipe;
  CLI::App *train_cmd = nullptr, *qat_cmd = nullptr, *ptq_cmd = nullptr, *eval_cmd = nullptr,
           *generate_cmd = nullptr, *recipe_cmd = nullptr;
};

namespace {

int Fail(const char* cmd, const std::string& message) {
  std::fprintf(stderr, "irnn %s: error: %s\n", cmd, message.c_str());
  return 1;
}

bool IsDir(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}
bool Exists(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0;
}
int64_t FileBytes(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 ? static_cast<int64_t>(st.st_size) : -1;
}

Status LoadData(const DataArgs& a, TextCorpus* c) {
  if (a.path.empty()) return Status::InvalidArgument("--data is required");
  std::string format = a.format;
  if (format == "auto") {
    if (IsDir(a.path) && Exists(a.path + "/ptb.train.txt")) format = "ptb";
    else if (IsDir(a.path) && Exists(a.path + "/train.txt")) format = "wikitext2";
    else if (!IsDir(a.path) && Exists(a.path)) format = "text";
    else return Status::InvalidArgument("--data " + a.path + ": not a PTB or WikiText-2 folder nor a text file");
  }
  if (format == "ptb") return LoadPtb(a.path, c);
  if (format == "wikitext2") return LoadWikiText2(a.path, c);
  if (format == "text") return LoadPlainText(a.path, a.max_vocab, c);
  return Status::InvalidArgument("--format is '" + format + "' but must be auto, ptb, wikitext2 or text");
}

void AddDataOptions(CLI::App* cmd, DataArgs* d) {
  cmd->add_option("--data", d->path, "PTB or WikiText-2 folder, or a plain-text file (recipe g2p: the CMUdict folder or file)")->required();
  cmd->add_option("--format", d->format, "auto, ptb, wikitext2 or text")->capture_default_str();
  cmd->add_option("--max-vocab", d->max_vocab, "Vocabulary size for plain text")->capture_default_str();
}

void AddTrainOptions(CLI::App* cmd, train::TrainOptions* t) {
  cmd->add_option("--epochs", t->epochs, "Epochs")->capture_default_str();
  cmd->add_option("--batch", t->batch, "Parallel streams")->capture_default_str();
  cmd->add_option("--bptt", t->bptt, "Truncated backpropagation length")->capture_default_str();
  cmd->add_option("--optimizer", t->optimizer, "sgd or adam")->capture_default_str();
  cmd->add_option("--lr", t->lr, "Learning rate")->capture_default_str();
  cmd->add_option("--lr-decay", t->lr_decay, "Learning-rate factor per epoch after --decay-start")->capture_default_str();
  cmd->add_option("--decay-start", t->decay_start, "First epoch that decays the learning rate")->capture_default_str();
  cmd->add_option("--clip", t->clip, "Gradient norm clip")->capture_default_str();
  cmd->add_option("--seed", t->seed, "Random seed (runs are deterministic for a seed and thread count)")->capture_default_str();
  cmd->add_option("--threads", t->threads, "Threads (0: all cores)")->capture_default_str();
  cmd->add_option("--max-tokens", t->max_train_tokens, "Use only this many training tokens per epoch (0: all)")
      ->capture_default_str();
}

Status ParseRounding(const std::string& s, Rounding* r) {
  if (s == "double") *r = Rounding::kDouble;
  else if (s == "single") *r = Rounding::kSingle;
  else return Status::InvalidArgument("--rounding is '" + s + "' but must be double or single");
  return Status::Ok();
}

// Writes the integer model with the vocabulary and the logit scale in its metadata.
Status WriteIntModel(const LanguageModelParams& p, const Vocabulary& vocab, double logit_scale,
                     const std::string& mode, const std::string& path) {
  Model m;
  IRNN_RETURN_IF_ERROR(ModelFromLanguageModel(p, &m));
  std::string words;
  for (const auto& w : vocab.words()) words += w + "\n";
  m.metadata["vocab"] = words;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", logit_scale);
  m.metadata["logit_scale"] = buf;
  m.metadata["quantization"] = mode;
  return WriteModel(m, path);
}

Status ReadIntModel(const std::string& path, LanguageModelParams* p, Vocabulary* vocab, double* logit_scale) {
  Model m;
  IRNN_RETURN_IF_ERROR(ReadModel(path, &m));
  IRNN_RETURN_IF_ERROR(LanguageModelFromModel(m, p));
  const auto v = m.metadata.find("vocab");
  const auto s = m.metadata.find("logit_scale");
  if (v == m.metadata.end() || s == m.metadata.end()) {
    return Status::DataLoss(path + ": metadata 'vocab' and 'logit_scale' are required for a language model");
  }
  std::vector<std::string> words;
  std::istringstream in(v->second);
  for (std::string w; std::getline(in, w);) words.push_back(w);
  IRNN_RETURN_IF_ERROR(Vocabulary::FromWords(std::move(words), vocab));
  if (vocab->size() != p->embedding.vocab) {
    return Status::DataLoss(path + ": metadata vocab has " + std::to_string(vocab->size()) + " words but the model " +
                            std::to_string(p->embedding.vocab));
  }
  char* end = nullptr;
  *logit_scale = std::strtod(s->second.c_str(), &end);
  if (end == s->second.c_str() || !(*logit_scale > 0) || !std::isfinite(*logit_scale)) {
    return Status::DataLoss(path + ": metadata logit_scale '" + s->second + "' is not a positive number");
  }
  return Status::Ok();
}

const std::vector<int32_t>& Split(const TextCorpus& c, const std::string& split) {
  return split == "train" ? c.train : (split == "valid" ? c.valid : c.test);
}

// Perplexity of a split on the integer runtime or the simulation.
Status EvalInt(const LanguageModelParams& p, double logit_scale, const std::vector<int32_t>& ids, int batch,
               const std::string& backend, KernelPath path, double* ppl, int64_t* tokens, double* seconds) {
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t vocab = p.embedding.vocab;
  if (backend == "int") {
    std::unique_ptr<LanguageModel> lm;
    IRNN_RETURN_IF_ERROR(LanguageModel::Create(p, path, &lm));
    LanguageModelState state;
    IRNN_RETURN_IF_ERROR(lm->NewState(batch, &state));
    auto step = [&](const std::vector<int32_t>& tok, std::vector<int32_t>* logits) {
      logits->resize(static_cast<size_t>(batch * vocab));
      return lm->Step(tok.data(), &state, logits->data());
    };
    IRNN_RETURN_IF_ERROR(train::PerplexityFromIntLogits(ids, batch, vocab, logit_scale, step, ppl, tokens, true));
  } else {
    train::SimLanguageModel sim;
    IRNN_RETURN_IF_ERROR(sim.Init(p, torch::kCPU));
    sim.Reset(batch);
    auto step = [&](const std::vector<int32_t>& tok, std::vector<int32_t>* logits) { return sim.Step(tok, logits); };
    IRNN_RETURN_IF_ERROR(train::PerplexityFromIntLogits(ids, batch, vocab, logit_scale, step, ppl, tokens, true));
  }
  *seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return Status::Ok();
}

int RunTrain(const TrainArgs& a) {
  // The arguments first: a bad --cell must not wait for the corpus to load.
  if (a.cell != "lstm" && a.cell != "gru") return Fail("train", "--cell is '" + a.cell + "' but must be lstm or gru");
  TextCorpus c;
  Status s = LoadData(a.data, &c);
  if (!s.ok()) return Fail("train", s.message());
  train::LmOptions lo = a.lm;
  if (a.cell == "gru") return RunGruTrain(c, lo, a.train, a.out);
  lo.vocab = c.vocab.size();
  train::FloatLm model(lo);
  std::vector<train::EpochStats> curve;
  s = train::TrainFloatLm(c, a.train, model, &curve);
  if (!s.ok()) return Fail("train", s.message());
  const double test = train::EvaluateFloatLm(model, c.test, 10, a.train.bptt);
  std::printf("float test perplexity %.2f (%zu epochs)\n", test, curve.size());
  s = train::SaveFloatLm(model, c.vocab, a.out);
  if (!s.ok()) return Fail("train", s.message());
  if (!a.plot.empty()) {
    s = train::PlotCurves(curve, "float training", a.plot);
    if (!s.ok()) return Fail("train", s.message());
  }
  std::printf("wrote %s\n", a.out.c_str());
  return 0;
}

// QAT (train > 0 epochs) or PTQ (calibration only) from a float checkpoint to a .irnn file.
Status Quantize(const QuantArgs& a, bool qat, const TextCorpus& c, const train::FloatLm& float_model,
                LanguageModelParams* params, double* logit_scale, std::vector<train::EpochStats>* curve) {
  train::QatOptions qo;
  if (a.mode == "irnn") qo.mode = train::QatMode::kIrnn;
  else if (a.mode == "tflite") qo.mode = train::QatMode::kTflite;
  else return Status::InvalidArgument("--mode is '" + a.mode + "' but must be irnn or tflite");
  IRNN_RETURN_IF_ERROR(ParseRounding(a.rounding, &qo.rounding));
  if (a.pot_scales) {
    if (qo.mode != train::QatMode::kIrnn) {
      return Status::InvalidArgument("--pot-scales is given but must be used with --mode irnn");
    }
    if (a.rounding_given && qo.rounding != Rounding::kSingle) {
      return Status::InvalidArgument("--rounding is '" + a.rounding + "' but must be single with --pot-scales");
    }
    qo.pot_scales = true;
  }
  if (a.weight_bits != 8 && a.weight_bits != 7) {
    return Status::InvalidArgument("--weight-bits is " + std::to_string(a.weight_bits) + " but must be 8 or 7");
  }
  qo.weight_bits = a.weight_bits;
  qo.calibration_batches = a.calibration_batches;
  qo.pwl_max_err = a.pwl_max_err;
  train::QatLm model(float_model, qo);
  if (qat) {
    IRNN_RETURN_IF_ERROR(train::TrainQat(c, a.train, model, curve));
  } else {
    train::Calibrate(model, c.train, a.train.batch, a.train.bptt, a.calibration_batches);
  }
  if (a.pot_scales) {
    std::fprintf(stderr, "pot scales: %lld LSTM weight rows clip at the capped multiplier 2^-1 (numerics.md 7.1.1)\n",
                 static_cast<long long>(model->PotClippedRows()));
  }
  return model->Export(params, logit_scale);
}

int RunQuantize(const QuantArgs& a, bool qat) {
  const char* name = qat ? "qat" : "ptq";
  // The arguments first: a bad --pot-scales combination must not wait for the corpus to load.
  if (a.pot_scales && a.mode != "irnn") return Fail(name, "--pot-scales is given but must be used with --mode irnn");
  if (a.pot_scales && a.rounding_given && a.rounding != "single") {
    return Fail(name, "--rounding is '" + a.rounding + "' but must be single with --pot-scales");
  }
  if (a.weight_bits != 8 && a.weight_bits != 7) {
    return Fail(name, "--weight-bits is " + std::to_string(a.weight_bits) + " but must be 8 or 7");
  }
  TextCorpus c;
  Status s = LoadData(a.data, &c);
  if (!s.ok()) return Fail(name, s.message());
  if (train::IsFloatGruCheckpoint(a.float_model)) {  // gru_lm_cmds.cc: QAT in iRNN mode only
    if (!qat || a.mode != "irnn") return Fail(name, "a GRU checkpoint supports qat --mode irnn only");
    if (a.pot_scales) return Fail(name, "--pot-scales is given but applies to LSTM checkpoints only");
    Rounding rounding = Rounding::kDouble;
    s = ParseRounding(a.rounding, &rounding);
    if (!s.ok()) return Fail(name, s.message());
    return RunGruQat(c, a.float_model, a.train, rounding, a.calibration_batches, a.pwl_max_err, a.weight_bits, a.out);
  }
  train::FloatLm fm(train::LmOptions{});
  Vocabulary vocab;
  s = train::LoadFloatLm(a.float_model, &fm, &vocab);
  if (!s.ok()) return Fail(name, s.message());
  if (vocab.words() != c.vocab.words()) return Fail(name, "the checkpoint's vocabulary differs from --data's");
  LanguageModelParams p;
  double logit_scale = 0;
  std::vector<train::EpochStats> curve;
  s = Quantize(a, qat, c, fm, &p, &logit_scale, &curve);
  if (!s.ok()) return Fail(name, s.message());
  s = WriteIntModel(p, c.vocab, logit_scale, std::string(name) + "-" + a.mode, a.out);
  if (!s.ok()) return Fail(name, s.message());
  std::printf("wrote %s (%lld bytes)\n", a.out.c_str(), static_cast<long long>(FileBytes(a.out)));
  return 0;
}

int RunEval(const EvalArgs& a) {
  // The arguments first: a bad --split or --backend must not wait for the corpus to load.
  if (a.split != "train" && a.split != "valid" && a.split != "test") {
    return Fail("eval", "--split is '" + a.split + "' but must be train, valid or test");
  }
  if (a.backend != "float" && a.backend != "sim" && a.backend != "int") {
    return Fail("eval", "--backend is '" + a.backend + "' but must be float, sim or int");
  }
  TextCorpus c;
  Status s = LoadData(a.data, &c);
  if (!s.ok()) return Fail("eval", s.message());
  double ppl = 0, seconds = 0;
  int64_t tokens = 0;
  if (a.backend == "float" && train::IsFloatGruCheckpoint(a.model)) {  // gru_lm_cmds.cc
    const auto t0 = std::chrono::steady_clock::now();
    s = EvalGruCheckpoint(a.model, c, Split(c, a.split), a.batch, &ppl);
    if (!s.ok()) return Fail("eval", s.message());
    seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    tokens = static_cast<int64_t>(Split(c, a.split).size());
  } else if (a.backend == "float") {
    train::FloatLm fm(train::LmOptions{});
    Vocabulary vocab;
    s = train::LoadFloatLm(a.model, &fm, &vocab);
    if (!s.ok()) return Fail("eval", s.message());
    if (vocab.words() != c.vocab.words()) return Fail("eval", "the model's vocabulary differs from --data's");
    const auto t0 = std::chrono::steady_clock::now();
    ppl = train::EvaluateFloatLm(fm, Split(c, a.split), a.batch, 35);
    seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    tokens = static_cast<int64_t>(Split(c, a.split).size());
  } else if ((a.backend == "int" || a.backend == "sim") && IsGruModelFile(a.model)) {  // gru_lm_cmds.cc
    KernelPath path = KernelPath::kAuto;
    s = ParseKernelPath(a.path, &path);
    if (s.ok()) {
      s = EvalGruModelFile(a.model, c.vocab, Split(c, a.split), a.batch, a.backend == "sim", path, &ppl, &tokens,
                           &seconds);
    }
    if (!s.ok()) return Fail("eval", s.message());
  } else if (a.backend == "int" || a.backend == "sim") {
    LanguageModelParams p;
    Vocabulary vocab;
    double logit_scale = 0;
    s = ReadIntModel(a.model, &p, &vocab, &logit_scale);
    if (!s.ok()) return Fail("eval", s.message());
    if (vocab.words() != c.vocab.words()) return Fail("eval", "the model's vocabulary differs from --data's");
    KernelPath path = KernelPath::kAuto;
    s = ParseKernelPath(a.path, &path);
    if (!s.ok()) return Fail("eval", s.message());
    s = EvalInt(p, logit_scale, Split(c, a.split), a.batch, a.backend, path, &ppl, &tokens, &seconds);
    if (!s.ok()) return Fail("eval", s.message());
  } else {
    return Fail("eval", "--backend is '" + a.backend + "' but must be float, sim or int");
  }
  if (a.json) {
    std::printf("{\"backend\": \"%s\", \"metric\": \"ppl\", \"value\": %.6f, \"tokens\": %lld, \"split\": \"%s\", "
                "\"seconds\": %.3f, \"model\": \"%s\"}\n",
                a.backend.c_str(), ppl, static_cast<long long>(tokens), a.split.c_str(), seconds, a.model.c_str());
  } else {
    std::printf("%s perplexity (%s backend): %.4f over %lld tokens, %.1f s\n", a.split.c_str(), a.backend.c_str(), ppl,
                static_cast<long long>(tokens), seconds);
  }
  return 0;
}

int RunGenerate(const GenerateArgs& a) {
  LanguageModelParams p;
  Vocabulary vocab;
  double logit_scale = 0;
  Status s = ReadIntModel(a.model, &p, &vocab, &logit_scale);
  if (!s.ok()) return Fail("generate", s.message());
  if (a.words < 1 || a.words > 100000) return Fail("generate", "--words must be in [1, 100000]");
  if (!(a.temperature >= 0)) return Fail("generate", "--temperature must be >= 0");
  std::unique_ptr<LanguageModel> lm;
  s = LanguageModel::Create(p, KernelPath::kAuto, &lm);
  if (!s.ok()) return Fail("generate", s.message());
  LanguageModelState state;
  s = lm->NewState(1, &state);
  if (!s.ok()) return Fail("generate", s.message());
  std::vector<int32_t> logits(static_cast<size_t>(lm->vocab()));
  int32_t token = vocab.eos();
  std::istringstream prompt(a.prompt);
  for (std::string w; prompt >> w;) {
    int32_t id = vocab.Find(w);
    if (id < 0) id = vocab.unk();
    if (id < 0) return Fail("generate", "prompt word '" + w + "' is not in the vocabulary");
    s = lm->Step(&token, &state, logits.data());
    if (!s.ok()) return Fail("generate", s.message());
    std::printf("%s ", w.c_str());
    token = id;
  }
  std::mt19937 rng(a.seed);
  for (int i = 0; i < a.words; ++i) {
    s = lm->Step(&token, &state, logits.data());
    if (!s.ok()) return Fail("generate", s.message());
    if (a.temperature == 0) {
      token = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    } else {
      const int32_t zmax = *std::max_element(logits.begin(), logits.end());
      std::vector<double> w(logits.size());
      for (size_t v = 0; v < logits.size(); ++v) w[v] = std::exp(logit_scale * (logits[v] - zmax) / a.temperature);
      token = static_cast<int32_t>(std::discrete_distribution<int32_t>(w.begin(), w.end())(rng));
    }
    const std::string& word = vocab.word(token);
    std::printf("%s", word == Vocabulary::kEos ? "\n" : (word + " ").c_str());
  }
  std::printf("\n");
  return 0;
}

// A whole experiment: float training, QAT (iRNN mode) and PTQ (TFLite mode), exports, evaluation of
// every backend on the test split, report.json.
int RunRecipe(const RecipeArgs& a) {
  if (a.name == "ptb-gru-small") {  // the GRU language model (gru_lm_cmds.cc)
    if (a.pot_scales) return Fail("recipe", "--pot-scales is given but applies to the LSTM recipes only");
    if (a.weight_bits != 8) return Fail("recipe", "--weight-bits 7 is given but applies to the LSTM recipes only");
    if (a.out.empty()) return Fail("recipe", "--out is required");
    if (!IsDir(a.out) && mkdir(a.out.c_str(), 0755) != 0) return Fail("recipe", "cannot create " + a.out);
    TextCorpus gc;
    const Status gs = LoadData(a.data, &gc);
    if (!gs.ok()) return Fail("recipe", gs.message());
    return RunGruRecipe(a.name, gc,
                        GruRecipeArgs{a.out, a.epochs, a.qat_epochs, a.max_tokens, a.threads, a.sim_tokens, a.time_budget});
  }
  if (a.weight_bits != 8 && a.weight_bits != 7) {  // before the float training, not after it
    return Fail("recipe", "--weight-bits is " + std::to_string(a.weight_bits) + " but must be 8 or 7");
  }
  const auto t0 = std::chrono::steady_clock::now();
  TrainArgs t;
  t.data = a.data;
  QuantArgs q;
  q.data = a.data;
  q.train.optimizer = "adam";
  q.train.lr = 2e-4;
  q.train.epochs = 1;
  q.train.lr_decay = 0.5;
  int64_t sim_tokens = 0;  // 0: the libtorch simulation evaluates the whole test split
  if (a.name == "ptb-small" || a.name == "wt2-small") {
    t.lm.dim = 200;
    t.lm.layers = 2;
    // Zaremba et al.'s "small" configuration: plain SGD, no dropout, 13 epochs, the learning rate
    // halved after every epoch from the 5th. They sum the loss over the 20 time steps of a chunk and
    // average it over the batch; our loss is the mean over both, so their lr 1 and clip 5 are our lr 20
    // and clip 0.25 (identical updates).
    t.lm.dropout = 0.0;
    t.train.optimizer = "sgd";
    t.train.lr = 20.0;
    t.train.clip = 0.25;
    t.train.batch = 20;
    t.train.bptt = 20;
    t.train.epochs = 13;
    t.train.decay_start = 4;
    t.train.lr_decay = 0.5;
    q.train.max_train_tokens = 300000;  // QAT fine-tunes on about a third of an epoch
    if (a.name == "wt2-small") {
      // WikiText-2 is 2.2x PTB's size with a 3.3x larger vocabulary: an epoch takes about 20 minutes on
      // 2 cores, so the same model and optimizer get one epoch here (--epochs for more), and the slow
      // libtorch simulation is checked against the runtime on the first 20,000 test tokens.
      t.train.epochs = 1;
      sim_tokens = 20000;
    }
  } else if (a.name == "kjv-tiny") {
    t.data.max_vocab = 5000;
    q.data.max_vocab = 5000;
    t.lm.dim = 128;
    t.lm.layers = 2;
    t.lm.dropout = 0.1;
    t.train.optimizer = "adam";
    t.train.lr = 3e-3;
    t.train.batch = 32;
    t.train.epochs = 2;
    t.train.decay_start = 1;
    t.train.max_train_tokens = 400000;
    q.train.max_train_tokens = 100000;
  } else {
    return Fail("recipe", "'" + a.name + "' is not one of ptb-small, ptb-gru-small, wt2-small, kjv-tiny");
  }
  if (a.epochs >= 0) t.train.epochs = a.epochs;
  if (a.sim_tokens >= 0) sim_tokens = a.sim_tokens;
  if (a.qat_epochs >= 0) q.train.epochs = a.qat_epochs;
  if (a.max_tokens > 0) {
    t.train.max_train_tokens = a.max_tokens;
    q.train.max_train_tokens = a.max_tokens;
  }
  t.train.threads = q.train.threads = a.threads;
  q.train.batch = t.train.batch;
  if (a.out.empty()) return Fail("recipe", "--out is required");
  if (!IsDir(a.out) && mkdir(a.out.c_str(), 0755) != 0) return Fail("recipe", "cannot create " + a.out);

  TextCorpus c;
  Status s = LoadData(t.data, &c);
  if (!s.ok()) return Fail("recipe", s.message());
  std::fprintf(stderr, "recipe %s: %d words of vocabulary, %zu training tokens\n", a.name.c_str(), c.vocab.size(),
               c.train.size());
  // 1. Float.
  train::LmOptions lo = t.lm;
  lo.vocab = c.vocab.size();
  train::FloatLm fm(lo);
  std::vector<train::EpochStats> curve;
  s = train::TrainFloatLm(c, t.train, fm, &curve);
  if (!s.ok()) return Fail("recipe", s.message());
  const std::string float_path = a.out + "/float.pt";
  s = train::SaveFloatLm(fm, c.vocab, float_path);
  if (!s.ok()) return Fail("recipe", s.message());
  const double float_ppl = train::EvaluateFloatLm(fm, c.test, 10, t.train.bptt);
  double float_tps = 0;
  for (const auto& e : curve) float_tps += e.tokens_per_s / curve.size();
  std::fprintf(stderr, "float test perplexity %.2f\n", float_ppl);
  s = train::PlotCurves(curve, a.name + ": float training", a.out + "/float_curve.png");
  if (!s.ok()) std::fprintf(stderr, "recipe: warning: no training plot: %s\n", s.message().c_str());
  // 2. QAT (iRNN) and 3. PTQ (TFLite).
  LanguageModelParams qat_p, ptq_p;
  double qat_scale = 0, ptq_scale = 0;
  std::vector<train::EpochStats> qat_curve, unused;
  q.mode = "irnn";
  q.pot_scales = a.pot_scales;
  q.weight_bits = a.weight_bits;
  s = Quantize(q, true, c, fm, &qat_p, &qat_scale, &qat_curve);
  if (!s.ok()) return Fail("recipe", "qat: " + s.message());
  const std::string qat_path = a.out + "/qat_irnn.irnn";
  s = WriteIntModel(qat_p, c.vocab, qat_scale, "qat-irnn", qat_path);
  if (!s.ok()) return Fail("recipe", s.message());
  QuantArgs pq = q;
  pq.mode = "tflite";
  pq.pot_scales = false;
  s = Quantize(pq, false, c, fm, &ptq_p, &ptq_scale, &unused);
  if (!s.ok()) return Fail("recipe", "ptq: " + s.message());
  const std::string ptq_path = a.out + "/ptq_tflite.irnn";
  s = WriteIntModel(ptq_p, c.vocab, ptq_scale, "ptq-tflite", ptq_path);
  if (!s.ok()) return Fail("recipe", s.message());
  // 4. Evaluate: QAT on sim and int (they must agree exactly), PTQ on int.
  double qat_sim = 0, qat_int = 0, ptq_int = 0, sec = 0, int_seconds = 0;
  int64_t tokens = 0;
  // The simulation on the whole split, or on its first sim_tokens tokens, with the runtime on the same
  // tokens beside it (they must agree exactly).
  std::vector<int32_t> sim_ids = c.test;
  if (sim_tokens > 0 && sim_tokens < static_cast<int64_t>(sim_ids.size())) sim_ids.resize(sim_tokens);
  double qat_int_sim_ids = 0;
  int64_t sim_count = 0;
  s = EvalInt(qat_p, qat_scale, sim_ids, 10, "sim", KernelPath::kAuto, &qat_sim, &sim_count, &sec);
  if (!s.ok()) return Fail("recipe", s.message());
  s = EvalInt(qat_p, qat_scale, sim_ids, 10, "int", KernelPath::kAuto, &qat_int_sim_ids, &sim_count, &sec);
  if (!s.ok()) return Fail("recipe", s.message());
  s = EvalInt(qat_p, qat_scale, c.test, 10, "int", KernelPath::kAuto, &qat_int, &tokens, &int_seconds);
  if (!s.ok()) return Fail("recipe", s.message());
  s = EvalInt(ptq_p, ptq_scale, c.test, 10, "int", KernelPath::kAuto, &ptq_int, &tokens, &sec);
  if (!s.ok()) return Fail("recipe", s.message());
  double qat_tps = 0;
  for (const auto& e : qat_curve) qat_tps += e.tokens_per_s / qat_curve.size();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const int64_t float_bytes = FileBytes(float_path), int_bytes = FileBytes(qat_path);
  std::ofstream r(a.out + "/report.json");
  char buf[1024];
  std::snprintf(buf, sizeof buf,
                "{\"recipe\": \"%s\", \"float_ppl\": %.4f, \"qat_sim_ppl\": %.4f, \"qat_int_ppl\": %.4f, "
                "\"ptq_int_ppl\": %.4f, \"float_bytes\": %lld, \"int_bytes\": %lld, \"ptq_bytes\": %lld, "
                "\"float_tokens_per_s\": %.1f, \"qat_tokens_per_s\": %.1f, \"int_eval_tokens_per_s\": %.1f, "
                "\"test_tokens\": %lld, \"float_epochs\": %d, \"qat_epochs\": %d, \"seconds\": %.1f}\n",
                a.name.c_str(), float_ppl, qat_sim, qat_int, ptq_int, static_cast<long long>(float_bytes),
                static_cast<long long>(int_bytes), static_cast<long long>(FileBytes(ptq_path)), float_tps, qat_tps,
                tokens / std::max(int_seconds, 1e-9), static_cast<long long>(tokens), t.train.epochs, q.train.epochs,
                seconds);
  std::string report = buf;
  report.resize(report.size() - 2);  // drop "}\n": the per-epoch curve follows
  report += ", \"float_valid_ppl_per_epoch\": [";
  for (size_t e = 0; e < curve.size(); ++e) {
    char v[32];
    std::snprintf(v, sizeof v, "%s%.4f", e ? ", " : "", curve[e].valid_ppl);
    report += v;
  }
  report += "]";
  char sim_fields[160];
  std::snprintf(sim_fields, sizeof sim_fields,
                ", \"sim_tokens\": %lld, \"qat_int_ppl_on_sim_tokens\": %.4f, \"qat_pot_scales\": %s, "
                "\"weight_bits\": %d}\n",
                static_cast<long long>(sim_count), qat_int_sim_ids, a.pot_scales ? "true" : "false", a.weight_bits);
  report += sim_fields;
  r << report;
  std::printf("%s", buf);
  std::printf("\n%-28s %10s\n", "model (test split)", "perplexity");
  std::printf("%-28s %10.2f\n", "float", float_ppl);
  if (sim_count != tokens) {
    std::printf("%-28s %10.2f  (first %lld tokens; runtime on them: %.2f)\n", "QAT iRNN, integer (sim)", qat_sim,
                static_cast<long long>(sim_count), qat_int_sim_ids);
  } else {
    std::printf("%-28s %10.2f\n", "QAT iRNN, integer (sim)", qat_sim);
  }
  std::printf("%-28s %10.2f\n", "QAT iRNN, integer (runtime)", qat_int);
  if (a.pot_scales) std::printf("(the QAT model has power-of-two LSTM scales, single rounding: numerics.md 7.1.1)\n");
  std::printf("%-28s %10.2f\n", "PTQ TFLite, integer", ptq_int);
  if (a.weight_bits == 7) std::printf("(both integer models have 7-bit LSTM gate weights, in [-63, 63])\n");
  std::printf("sizes: float %lld bytes, int8 %lld bytes (%.3fx); %.0f s in all\n", static_cast<long long>(float_bytes),
              static_cast<long long>(int_bytes), static_cast<double>(int_bytes) / float_bytes, seconds);
  return 0;
}

}  // namespace

std::shared_ptr<LmCommands> AddLmCommands(CLI::App* app) {
  auto c = std::make_shared<LmCommands>();
  c->train_cmd = app->add_subcommand("train", "Train a float LSTM or GRU language model (libtorch)");
  c->train_cmd->add_option("--cell", c->train.cell, "lstm or gru (torch::nn::GRU; qat --mode irnn only)")
      ->capture_default_str();
  AddDataOptions(c->train_cmd, &c->train.data);
  c->train_cmd->add_option("--out", c->train.out, "Float checkpoint to write (.pt)")->required();
  c->train_cmd->add_option("--dim", c->train.lm.dim, "Embedding and LSTM width")->capture_default_str();
  c->train_cmd->add_option("--layers", c->train.lm.layers, "LSTM layers")->capture_default_str();
  c->train_cmd->add_option("--dropout", c->train.lm.dropout, "Dropout in training")->capture_default_str();
  AddTrainOptions(c->train_cmd, &c->train.train);
  c->train_cmd->add_option("--plot", c->train.plot, "Draw the training curves to this PNG");

  for (bool qat : {true, false}) {
    QuantArgs* q = qat ? &c->qat : &c->ptq;
    CLI::App* cmd = app->add_subcommand(
        qat ? "qat" : "ptq", qat ? "Quantization-aware training from a float checkpoint, export to .irnn"
                                 : "Post-training quantization of a float checkpoint (calibration only), export to .irnn");
    cmd->add_option("float_model", q->float_model, "Float checkpoint (.pt) from 'irnn train'")->required();
    AddDataOptions(cmd, &q->data);
    cmd->add_option("--out", q->out, "Integer model to write (.irnn)")->required();
    q->mode = qat ? "irnn" : "tflite";
    cmd->add_option("--mode", q->mode, "irnn (per-channel, PWL) or tflite (per-tensor, fixed point)")->capture_default_str();
    cmd->add_option("--rounding", q->rounding, "double or single rounding")->capture_default_str();
    cmd->add_option("--calibration-batches", q->calibration_batches, "bptt chunks observed for the ranges")
        ->capture_default_str();
    cmd->add_option("--pwl-max-err", q->pwl_max_err, "PWL tolerance in Q0.15 LSBs (irnn mode)")->capture_default_str();
    cmd->add_flag("--pot-scales", q->pot_scales,
                  "irnn mode: power-of-two LSTM scales (per-row weight scales rounded up so that every input and "
                  "recurrent multiplier is 2^k; output scale rounded up to 2^k), the same in training and export; "
                  "implies --rounding single (numerics.md 7.1.1)");
    cmd->add_option("--weight-bits", q->weight_bits,
                    "LSTM and GRU gate weights: 8 (int8) or 7 (in [-63, 63], scale max|w|/63, in training and export; "
                    "the avx2 kernel path then multiplies with one instruction less per 32 MACs)")
        ->capture_default_str();
    if (qat) {
      q->train.optimizer = "adam";
      q->train.lr = 2e-4;
      q->train.epochs = 1;
      AddTrainOptions(cmd, &q->train);
    } else {
      cmd->add_option("--batch", q->train.batch, "Parallel streams")->capture_default_str();
    }
    (qat ? c->qat_cmd : c->ptq_cmd) = cmd;
  }

  c->eval_cmd = app->add_subcommand(
      "eval", "Perplexity of a model on a split: float (.pt), sim or int (.irnn); LSTM or GRU language models");
  c->eval_cmd->add_option("model", c->eval.model, "Model file")->required();
  AddDataOptions(c->eval_cmd, &c->eval.data);
  c->eval_cmd->add_option("--backend", c->eval.backend, "float, sim (libtorch integer simulation) or int (runtime)")
      ->capture_default_str();
  c->eval_cmd->add_option("--split", c->eval.split, "train, valid or test")->capture_default_str();
  c->eval_cmd->add_option("--batch", c->eval.batch, "Parallel streams")->capture_default_str();
  c->eval_cmd->add_option("--path", c->eval.path, "Kernel path for int: auto, scalar, avx2, avxvnni, avx512vnni, amx")->capture_default_str();
  c->eval_cmd->add_flag("--json", c->eval.json, "Print one JSON object");

  c->generate_cmd = app->add_subcommand("generate", "Sample text from an integer model (.irnn)");
  c->generate_cmd->add_option("model", c->generate.model, "Model file")->required();
  c->generate_cmd->add_option("--words", c->generate.words, "Words to generate")->capture_default_str();
  c->generate_cmd->add_option("--temperature", c->generate.temperature, "Sampling temperature; 0 = greedy")
      ->capture_default_str();
  c->generate_cmd->add_option("--seed", c->generate.seed, "Random seed")->capture_default_str();
  c->generate_cmd->add_option("--prompt", c->generate.prompt, "Words to start from");

  c->recipe_cmd = app->add_subcommand("recipe", "Run a named experiment end to end and write DIR/report.json");
  c->recipe_cmd->add_option("name", c->recipe.name, "ptb-small, ptb-gru-small, wt2-small, kjv-tiny or g2p (CMUdict grapheme-to-phoneme)")->required();
  AddDataOptions(c->recipe_cmd, &c->recipe.data);
  c->recipe_cmd->add_option("--out", c->recipe.out, "Output folder")->required();
  c->recipe_cmd->add_option("--epochs", c->recipe.epochs, "Override the float epochs");
  c->recipe_cmd->add_option("--qat-epochs", c->recipe.qat_epochs, "Override the QAT epochs");
  c->recipe_cmd->add_option("--max-tokens", c->recipe.max_tokens, "Use only this many training tokens per epoch");
  c->recipe_cmd->add_option("--threads", c->recipe.threads, "Threads (0: all cores)");
  c->recipe_cmd->add_option("--time-budget", c->recipe.time_budget,
                            "ptb-gru-small: seconds of float training; no epoch starts that would exceed it");
  c->recipe_cmd->add_option("--sim-tokens", c->recipe.sim_tokens,
                            "Test tokens for the libtorch simulation (0: all; default: all, wt2-small 20000)");
  c->recipe_cmd->add_flag("--pot-scales", c->recipe.pot_scales,
                          "LSTM recipes: QAT (iRNN) with power-of-two scales and single rounding, as qat --pot-scales");
  c->recipe_cmd->add_option("--weight-bits", c->recipe.weight_bits,
                            "LSTM recipes: the QAT and PTQ models' LSTM gate weights, 8 or 7 (as qat --weight-bits)")
      ->capture_default_str();
  return c;
}

int RunLmCommands(LmCommands* c) {
  if (c == nullptr) return -1;
  if (c->train_cmd->parsed()) return RunTrain(c->train);
  c->qat.rounding_given = c->qat_cmd->count("--rounding") > 0;
  c->ptq.rounding_given = c->ptq_cmd->count("--rounding") > 0;
  if (c->qat_cmd->parsed()) return RunQuantize(c->qat, true);
  if (c->ptq_cmd->parsed()) return RunQuantize(c->ptq, false);
  if (c->eval_cmd->parsed()) return RunEval(c->eval);
  if (c->generate_cmd->parsed()) return RunGenerate(c->generate);
  if (c->recipe_cmd->parsed()) return RunRecipe(c->recipe);
  return -1;
}

}  // namespace irnn::cli
