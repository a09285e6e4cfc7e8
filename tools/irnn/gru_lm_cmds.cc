// `irnn recipe ptb-gru-small` (gru_lm_cmds.h): a 2x200 GRU language model on Penn Treebank trained as
// ptb-small trains its LSTM (Zaremba et al.'s "small" SGD schedule), fine-tuned with QAT in iRNN mode
// (per-row int8 weights, PWL activations, numerics.md §8), exported to one .irnn file, read back, and
// evaluated on the float model, the libtorch integer simulation and the integer runtime.

#include "gru_lm_cmds.h"

#include <sys/stat.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "irnn/gru_lm.h"
#include "irnn/model.h"
#include "train/qat_gru.h"

namespace irnn::cli {
namespace {

int64_t Bytes(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 ? static_cast<int64_t>(st.st_size) : -1;
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "irnn recipe: error: %s\n", message.c_str());
  return 1;
}

Status EvalGru(const GruLanguageModelParams& p, double logit_scale, const std::vector<int32_t>& ids, int batch,
               bool sim, double* ppl, int64_t* tokens, double* seconds, KernelPath path = KernelPath::kAuto) {
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t vocab = p.embedding.vocab;
  if (!sim) {
    std::unique_ptr<GruLanguageModel> lm;
    IRNN_RETURN_IF_ERROR(GruLanguageModel::Create(p, path, &lm));
    GruLanguageModelState state;
    IRNN_RETURN_IF_ERROR(lm->NewState(batch, &state));
    auto step = [&](const std::vector<int32_t>& tok, std::vector<int32_t>* logits) {
      logits->resize(static_cast<size_t>(batch * vocab));
      return lm->Step(tok.data(), &state, logits->data());
    };
    IRNN_RETURN_IF_ERROR(train::PerplexityFromIntLogits(ids, batch, vocab, logit_scale, step, ppl, tokens, true));
  } else {
    train::SimGruLanguageModel s;
    IRNN_RETURN_IF_ERROR(s.Init(p, torch::kCPU));
    s.Reset(batch);
    auto step = [&](const std::vector<int32_t>& tok, std::vector<int32_t>* logits) { return s.Step(tok, logits); };
    IRNN_RETURN_IF_ERROR(train::PerplexityFromIntLogits(ids, batch, vocab, logit_scale, step, ppl, tokens, true));
  }
  *seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return Status::Ok();
}

}  // namespace

bool IsGruModelFile(const std::string& path) {
  Model m;
  if (!ReadModel(path, &m).ok()) return false;
  for (const auto& l : m.layers) {
    if (l.kind == LayerKind::kGru) return true;
  }
  return false;
}

Status EvalGruModelFile(const std::string& file, const Vocabulary& vocab, const std::vector<int32_t>& ids, int batch,
                        bool sim, KernelPath path, double* ppl, int64_t* tokens, double* seconds) {
  Model m;
  IRNN_RETURN_IF_ERROR(ReadModel(file, &m));
  GruLanguageModelParams p;
  IRNN_RETURN_IF_ERROR(GruLanguageModelFromModel(m, &p));
  const auto v = m.metadata.find("vocab");
  const auto s = m.metadata.find("logit_scale");
  if (v == m.metadata.end() || s == m.metadata.end()) {
    return Status::DataLoss(file + ": metadata 'vocab' and 'logit_scale' are required for a language model");
  }
  std::vector<std::string> words;
  std::istringstream in(v->second);
  for (std::string w; std::getline(in, w);) words.push_back(w);
  if (words != vocab.words()) return Status::InvalidArgument("the model's vocabulary differs from --data's");
  char* end = nullptr;
  const double logit_scale = std::strtod(s->second.c_str(), &end);
  if (end == s->second.c_str() || !(logit_scale > 0) || !std::isfinite(logit_scale)) {
    return Status::DataLoss(file + ": metadata logit_scale '" + s->second + "' is not a positive number");
  }
  return EvalGru(p, logit_scale, ids, batch, sim, ppl, tokens, seconds, path);
}

int RunGruTrain(const TextCorpus& c, train::LmOptions lo, const train::TrainOptions& t, const std::string& out) {
  lo.vocab = c.vocab.size();
  train::FloatGruLm model(lo);
  std::vector<train::EpochStats> curve;
  Status s = train::TrainFloatGruLm(c, t, model, &curve);
  if (!s.ok()) return Fail(s.message());
  std::printf("float GRU test perplexity %.2f (%zu epochs)\n", train::EvaluateFloatGruLm(model, c.test, 10, t.bptt),
              curve.size());
  s = train::SaveFloatGruLm(model, c.vocab, out);
  if (!s.ok()) return Fail(s.message());
  std::printf("wrote %s\n", out.c_str());
  return 0;
}

int RunGruQat(const TextCorpus& c, const std::string& float_model, const train::TrainOptions& t, Rounding rounding,
              int calibration_batches, double pwl_max_err, int weight_bits, const std::string& out) {
  train::FloatGruLm fm(train::LmOptions{});
  Vocabulary vocab;
  Status s = train::LoadFloatGruLm(float_model, &fm, &vocab);
  if (!s.ok()) return Fail(s.message());
  if (vocab.words() != c.vocab.words()) return Fail("the checkpoint's vocabulary differs from --data's");
  train::QatOptions qo;
  qo.rounding = rounding;
  qo.calibration_batches = calibration_batches;
  qo.pwl_max_err = pwl_max_err;
  qo.weight_bits = weight_bits;
  train::QatGruLm qm(fm, qo);
  std::vector<train::EpochStats> curve;
  s = train::TrainQatGru(c, t, qm, &curve);
  GruLanguageModelParams p;
  double logit_scale = 0;
  if (s.ok()) s = qm->Export(&p, &logit_scale);
  Model m;
  if (s.ok()) s = ModelFromGruLanguageModel(p, &m);
  if (!s.ok()) return Fail(s.message());
  std::string words;
  for (const auto& w : c.vocab.words()) words += w + "\n";
  m.metadata["vocab"] = words;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", logit_scale);
  m.metadata["logit_scale"] = buf;
  m.metadata["quantization"] = "qat-irnn-gru";
  s = WriteModel(m, out);
  if (!s.ok()) return Fail(s.message());
  std::printf("wrote %s (%lld bytes)\n", out.c_str(), static_cast<long long>(Bytes(out)));
  return 0;
}

Status EvalGruCheckpoint(const std::string& path, const TextCorpus& c, const std::vector<int32_t>& ids, int batch,
                         double* ppl) {
  train::FloatGruLm fm(train::LmOptions{});
  Vocabulary vocab;
  IRNN_RETURN_IF_ERROR(train::LoadFloatGruLm(path, &fm, &vocab));
  if (vocab.words() != c.vocab.words()) return Status::InvalidArgument("the model's vocabulary differs from --data's");
  *ppl = train::EvaluateFloatGruLm(fm, ids, batch, 35);
  return Status::Ok();
}

int RunGruRecipe(const std::string& name, const TextCorpus& c, const GruRecipeArgs& a) {
  if (name != "ptb-gru-small") return Fail("'" + name + "' is not a GRU recipe (ptb-gru-small)");
  const auto t0 = std::chrono::steady_clock::now();
  train::LmOptions lo;
  lo.vocab = c.vocab.size();
  lo.dim = 200;
  lo.layers = 2;
  lo.dropout = 0.0;
  // The ptb-small schedule (lm_cmds.cc): SGD lr 20 and clip 0.25 on the mean loss (Zaremba's lr 1, clip
  // 5 on the summed one), batch 20, bptt 20, 13 epochs, halving from the 5th.
  train::TrainOptions t;
  t.optimizer = "sgd";
  t.lr = 20.0;
  t.clip = 0.25;
  t.batch = 20;
  t.bptt = 20;
  t.epochs = 13;
  t.decay_start = 4;
  t.lr_decay = 0.5;
  train::TrainOptions q = t;  // QAT: Adam 2e-4 on 300k tokens, one epoch (as ptb-small)
  q.optimizer = "adam";
  q.lr = 2e-4;
  q.epochs = 1;
  q.max_train_tokens = 300000;
  int64_t sim_tokens = 20000;
  if (a.epochs >= 0) t.epochs = a.epochs;
  if (a.qat_epochs >= 0) q.epochs = a.qat_epochs;
  if (a.max_tokens > 0) t.max_train_tokens = q.max_train_tokens = a.max_tokens;
  if (a.sim_tokens >= 0) sim_tokens = a.sim_tokens;
  t.threads = q.threads = a.threads;
  std::fprintf(stderr, "recipe %s: %d words of vocabulary, %zu training tokens\n", name.c_str(), c.vocab.size(),
               c.train.size());

  // 1. Float.
  train::FloatGruLm fm(lo);
  std::vector<train::EpochStats> curve;
  Status s = train::TrainFloatGruLm(c, t, fm, &curve, a.time_budget);
  if (!s.ok()) return Fail(s.message());
  const std::string float_path = a.out + "/float_gru.pt";
  s = train::SaveFloatGruLm(fm, c.vocab, float_path);
  if (!s.ok()) return Fail(s.message());
  const double float_ppl = train::EvaluateFloatGruLm(fm, c.test, 10, t.bptt);
  std::fprintf(stderr, "float GRU test perplexity %.2f\n", float_ppl);

  // 2. QAT (iRNN mode) and export.
  train::QatOptions qo;
  train::QatGruLm qm(fm, qo);
  std::vector<train::EpochStats> qat_curve;
  s = train::TrainQatGru(c, q, qm, &qat_curve);
  if (!s.ok()) return Fail("qat: " + s.message());
  GruLanguageModelParams p;
  double logit_scale = 0;
  s = qm->Export(&p, &logit_scale);
  if (!s.ok()) return Fail("qat: " + s.message());
  Model m;
  s = ModelFromGruLanguageModel(p, &m);
  if (!s.ok()) return Fail(s.message());
  std::string words;
  for (const auto& w : c.vocab.words()) words += w + "\n";
  m.metadata["vocab"] = words;
  char buf[2048];
  std::snprintf(buf, sizeof buf, "%.17g", logit_scale);
  m.metadata["logit_scale"] = buf;
  m.metadata["quantization"] = "qat-irnn-gru";
  const std::string int_path = a.out + "/qat_irnn_gru.irnn";
  s = WriteModel(m, int_path);
  if (!s.ok()) return Fail(s.message());
  // The runtime evaluates what the file holds.
  Model back;
  GruLanguageModelParams from_file;
  s = ReadModel(int_path, &back);
  if (s.ok()) s = GruLanguageModelFromModel(back, &from_file);
  if (!s.ok()) return Fail(s.message());

  // 3. Evaluate: sim and runtime on the same tokens (they must agree exactly), runtime on the whole split.
  std::vector<int32_t> sim_ids = c.test;
  if (sim_tokens > 0 && sim_tokens < static_cast<int64_t>(sim_ids.size())) sim_ids.resize(sim_tokens);
  double sim_ppl = 0, int_ppl_sim_ids = 0, int_ppl = 0, sec = 0, int_seconds = 0;
  int64_t sim_count = 0, tokens = 0;
  s = EvalGru(p, logit_scale, sim_ids, 10, true, &sim_ppl, &sim_count, &sec);
  if (!s.ok()) return Fail(s.message());
  s = EvalGru(from_file, logit_scale, sim_ids, 10, false, &int_ppl_sim_ids, &sim_count, &sec);
  if (!s.ok()) return Fail(s.message());
  s = EvalGru(from_file, logit_scale, c.test, 10, false, &int_ppl, &tokens, &int_seconds);
  if (!s.ok()) return Fail(s.message());

  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const int64_t float_bytes = Bytes(float_path), int_bytes = Bytes(int_path);
  double float_tps = 0, qat_tps = 0;
  for (const auto& e : curve) float_tps += e.tokens_per_s / curve.size();
  for (const auto& e : qat_curve) qat_tps += e.tokens_per_s / qat_curve.size();
  std::snprintf(buf, sizeof buf,
                "{\"recipe\": \"%s\", \"float_ppl\": %.4f, \"qat_sim_ppl\": %.4f, \"qat_int_ppl\": %.4f, "
                "\"int_vs_float_percent\": %.3f, \"sim_tokens\": %lld, \"qat_int_ppl_on_sim_tokens\": %.4f, "
                "\"sim_equals_int\": %s, \"float_bytes\": %lld, \"int_bytes\": %lld, \"size_ratio\": %.4f, "
                "\"float_tokens_per_s\": %.1f, \"qat_tokens_per_s\": %.1f, \"int_eval_tokens_per_s\": %.1f, "
                "\"test_tokens\": %lld, \"float_epochs\": %zu, \"qat_epochs\": %d, \"seconds\": %.1f",
                name.c_str(), float_ppl, sim_ppl, int_ppl, 100.0 * (int_ppl / float_ppl - 1.0),
                static_cast<long long>(sim_count), int_ppl_sim_ids, sim_ppl == int_ppl_sim_ids ? "true" : "false",
                static_cast<long long>(float_bytes), static_cast<long long>(int_bytes),
                static_cast<double>(int_bytes) / float_bytes, float_tps, qat_tps, tokens / std::max(int_seconds, 1e-9),
                static_cast<long long>(tokens), curve.size(), q.epochs, seconds);
  std::string report = buf;
  report += ", \"float_valid_ppl_per_epoch\": [";
  for (size_t e = 0; e < curve.size(); ++e) {
    char v[32];
    std::snprintf(v, sizeof v, "%s%.4f", e ? ", " : "", curve[e].valid_ppl);
    report += v;
  }
  report += "]}\n";
  std::ofstream(a.out + "/report.json") << report;
  std::printf("%s", report.c_str());
  std::printf("\n%-30s %10s\n", "GRU model (test split)", "perplexity");
  std::printf("%-30s %10.2f\n", "float", float_ppl);
  std::printf("%-30s %10.2f  (first %lld tokens; runtime on them: %.2f)\n", "QAT iRNN, integer (sim)", sim_ppl,
              static_cast<long long>(sim_count), int_ppl_sim_ids);
  std::printf("%-30s %10.2f  (%+.2f %% vs float)\n", "QAT iRNN, integer (runtime)", int_ppl,
              100.0 * (int_ppl / float_ppl - 1.0));
  std::printf("sizes: float %lld bytes, int8 %lld bytes (%.3fx); %.0f s in all\n", static_cast<long long>(float_bytes),
              static_cast<long long>(int_bytes), static_cast<double>(int_bytes) / float_bytes, seconds);
  return 0;
}

}  // namespace irnn::cli
