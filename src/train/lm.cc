// Float LSTM language model and its training loop (see lm.h).

#include "train/lm.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "train/progress.h"

namespace irnn::train {

FloatLmImpl::FloatLmImpl(const LmOptions& o) : options_(o) {
  embedding = register_module("embedding", torch::nn::Embedding(o.vocab, o.dim));
  lstm = register_module("lstm", torch::nn::LSTM(torch::nn::LSTMOptions(o.dim, o.dim).num_layers(o.layers).dropout(
                                                     o.layers > 1 ? o.dropout : 0.0)));
  dropout = register_module("dropout", torch::nn::Dropout(o.dropout));
  decoder = register_module("decoder", torch::nn::Linear(o.dim, o.vocab));
}

torch::Tensor FloatLmImpl::forward(const torch::Tensor& tokens, std::tuple<torch::Tensor, torch::Tensor>* state) {
  torch::Tensor x = dropout(embedding(tokens));
  auto out = lstm(x, *state);
  *state = std::get<1>(out);
  return decoder(dropout(std::get<0>(out)));
}

std::tuple<torch::Tensor, torch::Tensor> FloatLmImpl::ZeroState(int64_t batch) const {
  auto opts = torch::TensorOptions().device(decoder->weight.device());
  return {torch::zeros({options_.layers, batch, options_.dim}, opts),
          torch::zeros({options_.layers, batch, options_.dim}, opts)};
}

namespace {

torch::Tensor Batchify(const std::vector<int32_t>& ids, int batch, torch::Device device) {
  std::vector<int32_t> tm;
  int steps = 0;
  if (!BatchifyTimeMajor(ids, batch, &tm, &steps).ok()) return {};
  return torch::from_blob(tm.data(), {steps, batch}, torch::kInt32).to(torch::kInt64).to(device);
}

}  // namespace

double EvaluateFloatLm(FloatLm model, const std::vector<int32_t>& ids, int batch, int bptt) {
  torch::NoGradGuard no_grad;
  model->eval();
  const torch::Tensor data = Batchify(ids, batch, model->decoder->weight.device());
  if (!data.defined() || data.size(0) < 2) return std::nan("");
  auto state = model->ZeroState(batch);
  double nll = 0;
  int64_t count = 0;
  for (int64_t t = 0; t + 1 < data.size(0); t += bptt) {
    const int64_t len = std::min<int64_t>(bptt, data.size(0) - 1 - t);
    const torch::Tensor x = data.narrow(0, t, len), y = data.narrow(0, t + 1, len);
    const torch::Tensor logits = model->forward(x, &state);
    nll += torch::nn::functional::cross_entropy(logits.reshape({-1, logits.size(2)}), y.reshape(-1),
                                                torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
               .item<double>();
    count += y.numel();
  }
  return std::exp(nll / count);
}

Status MakeOptimizer(const std::vector<torch::Tensor>& params, const TrainOptions& o,
                     std::unique_ptr<torch::optim::Optimizer>* out) {
  if (o.optimizer == "sgd") {
    *out = std::make_unique<torch::optim::SGD>(params, torch::optim::SGDOptions(o.lr));
  } else if (o.optimizer == "adam") {
    *out = std::make_unique<torch::optim::Adam>(params, torch::optim::AdamOptions(o.lr));
  } else {
    return Status::InvalidArgument("train: optimizer is '" + o.optimizer + "' but must be sgd or adam");
  }
  return Status::Ok();
}

void SetLearningRate(torch::optim::Optimizer* opt, double lr) {
  for (auto& g : opt->param_groups()) g.options().set_lr(lr);
}

EpochStats TrainEpoch(const torch::Tensor& data, const TrainOptions& o, const std::string& label,
                      const std::vector<torch::Tensor>& params, torch::optim::Optimizer* opt,
                      const ChunkLoss& chunk_loss) {
  Progress progress(label, data.numel());
  double nll = 0;
  int64_t count = 0;
  for (int64_t t = 0; t + 1 < data.size(0); t += o.bptt) {
    const int64_t len = std::min<int64_t>(o.bptt, data.size(0) - 1 - t);
    const torch::Tensor x = data.narrow(0, t, len), y = data.narrow(0, t + 1, len);
    opt->zero_grad();
    const torch::Tensor loss = chunk_loss(x, y);
    loss.backward();
    torch::nn::utils::clip_grad_norm_(params, o.clip);
    opt->step();
    nll += loss.item<double>() * y.numel();
    count += y.numel();
    if (o.progress) {
      char extra[64];
      std::snprintf(extra, sizeof extra, "ppl %.1f", std::exp(nll / count));
      progress.Update((t + len) * data.size(1), extra);
    }
  }
  EpochStats s;
  s.train_ppl = std::exp(nll / std::max<int64_t>(count, 1));
  s.seconds = progress.Seconds();
  s.tokens_per_s = count / std::max(s.seconds, 1e-9);
  return s;
}

Status TrainFloatLm(const TextCorpus& corpus, const TrainOptions& o, FloatLm model, std::vector<EpochStats>* curve) {
  if (o.epochs < 0 || o.batch < 1 || o.bptt < 1 || !(o.lr > 0)) {
    return Status::InvalidArgument("train: epochs >= 0, batch >= 1, bptt >= 1 and lr > 0 are required");
  }
  torch::manual_seed(o.seed);
  if (o.threads > 0) torch::set_num_threads(o.threads);
  for (auto& p : model->parameters()) {
    torch::NoGradGuard no_grad;
    p.uniform_(-o.init, o.init);
  }
  const torch::Device device = model->decoder->weight.device();
  std::vector<int32_t> train_ids = corpus.train;
  if (o.max_train_tokens > 0 && static_cast<int64_t>(train_ids.size()) > o.max_train_tokens) {
    train_ids.resize(static_cast<size_t>(o.max_train_tokens));
  }
  const torch::Tensor data = Batchify(train_ids, o.batch, device);
  if (!data.defined() || data.size(0) < 2) return Status::InvalidArgument("train: the training set is too small");
  std::unique_ptr<torch::optim::Optimizer> opt;
  IRNN_RETURN_IF_ERROR(MakeOptimizer(model->parameters(), o, &opt));
  double lr = o.lr;
  double best_valid = INFINITY;
  std::vector<torch::Tensor> best;
  for (int epoch = 1; epoch <= o.epochs; ++epoch) {
    model->train();
    SetLearningRate(opt.get(), lr);
    auto state = model->ZeroState(o.batch);
    EpochStats s = TrainEpoch(
        data, o, "epoch " + std::to_string(epoch) + "/" + std::to_string(o.epochs), model->parameters(), opt.get(),
        [&](const torch::Tensor& x, const torch::Tensor& y) {
          state = {std::get<0>(state).detach(), std::get<1>(state).detach()};  // truncated BPTT
          const torch::Tensor logits = model->forward(x, &state);
          return torch::nn::functional::cross_entropy(logits.reshape({-1, logits.size(2)}), y.reshape(-1));
        });
    s.epoch = epoch;
    s.lr = lr;
    s.valid_ppl = EvaluateFloatLm(model, corpus.valid, 10, o.bptt);
    curve->push_back(s);
    if (o.progress) {
      std::fprintf(stderr, "epoch %d: lr %.4g train ppl %.2f valid ppl %.2f (%.0f tokens/s, %.0f s)\n", epoch, lr,
                   s.train_ppl, s.valid_ppl, s.tokens_per_s, s.seconds);
    }
    if (s.valid_ppl < best_valid) {
      best_valid = s.valid_ppl;
      best.clear();
      for (const auto& p : model->parameters()) best.push_back(p.detach().clone());
    }
    if (epoch >= o.decay_start) lr *= o.lr_decay;
  }
  if (!best.empty()) {
    torch::NoGradGuard no_grad;
    auto params = model->parameters();
    for (size_t i = 0; i < params.size(); ++i) params[i].copy_(best[i]);
  }
  return Status::Ok();
}

Status SaveFloatLm(FloatLm model, const Vocabulary& vocab, const std::string& path) {
  try {
    torch::serialize::OutputArchive archive;
    WriteLmCheckpointFields(model->options(), vocab, &archive);
    model->save(archive);
    archive.save_to(path);
  } catch (const std::exception& e) {
    return Status::InvalidArgument(path + ": cannot write the checkpoint: " + e.what());
  }
  return Status::Ok();
}

void WriteLmCheckpointFields(const LmOptions& o, const Vocabulary& vocab, torch::serialize::OutputArchive* archive,
                             const std::string& cell) {
  archive->write("options", torch::tensor({o.vocab, o.dim, o.layers}, torch::kInt64));
  archive->write("dropout_rate", torch::tensor({o.dropout}, torch::kFloat64));
  if (!cell.empty()) archive->write("cell", c10::IValue(cell));
  std::string words;
  for (const auto& w : vocab.words()) words += w + "\n";
  archive->write("vocab", c10::IValue(words));
}

Status ReadLmCheckpointFields(torch::serialize::InputArchive* archive, const std::string& path, LmOptions* o,
                              Vocabulary* vocab) {
  torch::Tensor opts, dropout;
  archive->read("options", opts);
  archive->read("dropout_rate", dropout);
  if (opts.numel() != 3 || opts.scalar_type() != torch::kInt64) {
    return Status::DataLoss(path + ": 'options' must be 3 int64 values");
  }
  o->vocab = opts[0].item<int64_t>();
  o->dim = opts[1].item<int64_t>();
  o->layers = opts[2].item<int64_t>();
  o->dropout = dropout.item<double>();
  if (o->vocab < 2 || o->vocab > 10000000 || o->dim < 1 || o->dim > 65536 || o->layers < 1 || o->layers > 16) {
    return Status::DataLoss(path + ": options out of range (vocab " + std::to_string(o->vocab) + ", dim " +
                            std::to_string(o->dim) + ", layers " + std::to_string(o->layers) + ")");
  }
  c10::IValue words_value;
  archive->read("vocab", words_value);
  if (!words_value.isString()) return Status::DataLoss(path + ": 'vocab' must be a string");
  std::vector<std::string> words;
  std::istringstream in(words_value.toStringRef());
  for (std::string w; std::getline(in, w);) words.push_back(w);
  if (static_cast<int64_t>(words.size()) != o->vocab) {
    return Status::DataLoss(path + ": the vocabulary has " + std::to_string(words.size()) + " words but options say " +
                            std::to_string(o->vocab));
  }
  return Vocabulary::FromWords(std::move(words), vocab);
}

Status LoadFloatLm(const std::string& path, FloatLm* model, Vocabulary* vocab) {
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(path);
    LmOptions o;
    IRNN_RETURN_IF_ERROR(ReadLmCheckpointFields(&archive, path, &o, vocab));
    FloatLm m(o);
    m->load(archive);
    *model = m;
  } catch (const std::exception& e) {
    return Status::DataLoss(path + ": not a readable irnn float checkpoint: " + std::string(e.what()).substr(0, 200));
  }
  return Status::Ok();
}

Status PlotCurves(const std::vector<EpochStats>& curve, const std::string& title, const std::string& path) {
  const std::string data = path + ".tmp.dat", script = path + ".tmp.gp";
  {
    std::ofstream d(data);
    for (const auto& s : curve) d << s.epoch << ' ' << s.train_ppl << ' ' << s.valid_ppl << '\n';
    std::ofstream g(script);
    g << "set terminal pngcairo size 900,600 noenhanced\nset output '" << path << "'\nset title '" << title
      << "'\nset xlabel 'epoch'\nset ylabel 'perplexity'\nset logscale y\nset grid\n"
      << "plot '" << data << "' using 1:2 with linespoints title 'train', '" << data
      << "' using 1:3 with linespoints title 'valid'\n";
  }
  const int rc = std::system(("gnuplot '" + script + "' 2>&1").c_str());
  std::remove(data.c_str());
  std::remove(script.c_str());
  if (rc != 0) return Status::Unavailable("gnuplot failed (apt-get install gnuplot-nox); no plot written");
  return Status::Ok();
}

}  // namespace irnn::train
