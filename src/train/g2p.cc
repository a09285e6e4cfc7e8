// Float attention encoder–decoder for G2P: model, training, greedy and beam-search decoding (see g2p.h).

#include "train/g2p.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <numeric>
#include <random>
#include <sstream>

#include "train/g2p_batches.h"
#include "train/progress.h"

namespace irnn::train {

FloatG2pImpl::FloatG2pImpl(const G2pOptions& o) : options_(o) {
  char_emb = register_module("char_emb", torch::nn::Embedding(o.chars, o.emb));
  phone_emb = register_module("phone_emb", torch::nn::Embedding(o.phones, o.emb));
  enc_fw = register_module("enc_fw", torch::nn::LSTM(torch::nn::LSTMOptions(o.emb, o.enc)));
  enc_bw = register_module("enc_bw", torch::nn::LSTM(torch::nn::LSTMOptions(o.emb, o.enc)));
  dec = register_module("dec", torch::nn::LSTMCell(torch::nn::LSTMCellOptions(o.emb + 2 * o.enc, o.dec)));
  att_q = register_module("att_q", torch::nn::Linear(torch::nn::LinearOptions(o.dec, o.attn).bias(false)));
  att_k = register_module("att_k", torch::nn::Linear(torch::nn::LinearOptions(2 * o.enc, o.attn)));
  att_v = register_module("att_v", torch::nn::Linear(torch::nn::LinearOptions(o.attn, 1).bias(false)));
  out_h = register_module("out_h", torch::nn::Linear(o.dec, o.phones));
  out_c = register_module("out_c", torch::nn::Linear(torch::nn::LinearOptions(2 * o.enc, o.phones).bias(false)));
  dropout = register_module("dropout", torch::nn::Dropout(o.dropout));
}

G2pEncoded FloatG2pImpl::Encode(const torch::Tensor& chars) {
  const torch::Tensor x = dropout(char_emb(chars));  // [S][B][E]
  const torch::Tensor fw = std::get<0>(enc_fw(x));
  const torch::Tensor bw = std::get<0>(enc_bw(x.flip({0}))).flip({0});
  G2pEncoded e;
  e.enc = torch::cat({fw, bw}, 2);
  e.keys = att_k(e.enc);
  return e;
}

G2pDecoderState FloatG2pImpl::InitialState(int64_t batch) const {
  auto opts = torch::TensorOptions().device(out_h->weight.device());
  return {torch::zeros({batch, options_.dec}, opts), torch::zeros({batch, options_.dec}, opts),
          torch::zeros({batch, 2 * options_.enc}, opts)};
}

torch::Tensor FloatG2pImpl::DecodeStep(const G2pEncoded& enc, const torch::Tensor& prev, G2pDecoderState* s) {
  // tanh keeps the phone embedding inside the encoder's output range: the integer decoder reads it on
  // the encoder's output grid (its table holds the quantized tanh values).
  const torch::Tensor x = torch::cat({dropout(torch::tanh(phone_emb(prev))), s->ctx}, 1);
  auto hc = dec(x, std::make_tuple(s->h, s->c));
  s->h = std::get<0>(hc);
  s->c = std::get<1>(hc);
  const torch::Tensor q = att_q(s->h);                                        // [B][A]
  const torch::Tensor energy = att_v(torch::tanh(enc.keys + q.unsqueeze(0))).squeeze(2);  // [S][B]
  const torch::Tensor alpha = torch::softmax(energy, 0);
  s->ctx = (alpha.unsqueeze(2) * enc.enc).sum(0);                             // [B][2H_e]
  return out_h(dropout(s->h)) + out_c(s->ctx);
}

torch::Tensor FloatG2pImpl::forward(const torch::Tensor& chars, const torch::Tensor& inputs) {
  const G2pEncoded enc = Encode(chars);
  G2pDecoderState s = InitialState(chars.size(1));
  std::vector<torch::Tensor> logits;
  for (int64_t t = 0; t < inputs.size(0); ++t) logits.push_back(DecodeStep(enc, inputs[t], &s));
  return torch::stack(logits);
}

namespace {

torch::Tensor CharsTensor(const std::vector<const std::vector<int32_t>*>& words, torch::Device device) {
  const int64_t s = static_cast<int64_t>(words[0]->size()), b = static_cast<int64_t>(words.size());
  std::vector<int64_t> v(static_cast<size_t>(s * b));
  for (int64_t j = 0; j < b; ++j) {
    for (int64_t i = 0; i < s; ++i) v[static_cast<size_t>(i * b + j)] = (*words[static_cast<size_t>(j)])[i];
  }
  return torch::tensor(v, torch::kInt64).reshape({s, b}).to(device);
}

int MaxLen(size_t chars) { return static_cast<int>(2 * chars + 8); }

}  // namespace

std::vector<std::vector<G2pItem>> MakeG2pBatches(const std::vector<G2pExample>& ex, int batch, int64_t max_items,
                                                 std::mt19937_64* rng) {
  std::vector<G2pItem> items;
  for (size_t w = 0; w < ex.size(); ++w) {
    for (size_t p = 0; p < ex[w].prons.size(); ++p) items.push_back({static_cast<int32_t>(w), static_cast<int32_t>(p)});
  }
  std::shuffle(items.begin(), items.end(), *rng);
  if (max_items > 0 && static_cast<int64_t>(items.size()) > max_items) items.resize(static_cast<size_t>(max_items));
  std::map<size_t, std::vector<G2pItem>> by_len;
  for (const G2pItem& it : items) by_len[ex[static_cast<size_t>(it.word)].chars.size()].push_back(it);
  std::vector<std::vector<G2pItem>> batches;
  for (auto& kv : by_len) {
    for (size_t i = 0; i < kv.second.size(); i += static_cast<size_t>(batch)) {
      batches.emplace_back(kv.second.begin() + i, kv.second.begin() + std::min(kv.second.size(), i + batch));
    }
  }
  std::shuffle(batches.begin(), batches.end(), *rng);
  return batches;
}

void G2pBatchTensors(const std::vector<G2pExample>& ex, const std::vector<G2pItem>& b, torch::Device device,
                     torch::Tensor* chars, torch::Tensor* in, torch::Tensor* out, int64_t* tokens) {
  const int64_t bs = static_cast<int64_t>(b.size()), s = static_cast<int64_t>(ex[b[0].word].chars.size());
  size_t t_max = 0;
  for (const G2pItem& it : b) t_max = std::max(t_max, ex[it.word].prons[it.pron].size() + 1);
  const int64_t tt = static_cast<int64_t>(t_max);
  std::vector<int64_t> cv(static_cast<size_t>(s * bs)), iv(static_cast<size_t>(tt * bs), kPhoneEnd),
      ov(static_cast<size_t>(tt * bs), -100);
  *tokens = 0;
  for (int64_t j = 0; j < bs; ++j) {
    const auto& w = ex[b[j].word];
    for (int64_t i = 0; i < s; ++i) cv[i * bs + j] = w.chars[i];
    const auto& p = w.prons[b[j].pron];
    iv[j] = kPhoneStart;
    for (size_t t = 0; t < p.size(); ++t) {
      iv[(t + 1) * bs + j] = p[t];
      ov[t * bs + j] = p[t];
    }
    ov[p.size() * bs + j] = kPhoneEnd;
    *tokens += static_cast<int64_t>(p.size()) + 1;
  }
  *chars = torch::tensor(cv, torch::kInt64).reshape({s, bs}).to(device);
  *in = torch::tensor(iv, torch::kInt64).reshape({tt, bs}).to(device);
  *out = torch::tensor(ov, torch::kInt64).to(device);
}

void RunG2pEpoch(const std::string& title, const std::vector<G2pExample>& ex,
                 const std::vector<std::vector<G2pItem>>& batches, torch::Device device,
                 const std::function<torch::Tensor(const torch::Tensor&, const torch::Tensor&)>& forward,
                 const std::vector<torch::Tensor>& params, double clip, bool progress, torch::optim::Optimizer* opt,
                 G2pEpochStats* s) {
  int64_t total = 0;
  for (const auto& b : batches) {
    for (const G2pItem& it : b) total += static_cast<int64_t>(ex[it.word].prons[it.pron].size()) + 1;
  }
  Progress bar(title, total, "phone");
  double nll = 0;
  int64_t done = 0;
  for (const auto& b : batches) {
    torch::Tensor x, yin, yout;
    int64_t tokens = 0;
    G2pBatchTensors(ex, b, device, &x, &yin, &yout, &tokens);
    opt->zero_grad();
    const torch::Tensor logits = forward(x, yin);
    const torch::Tensor loss = torch::nn::functional::cross_entropy(
        logits.reshape({yout.size(0), -1}), yout, torch::nn::functional::CrossEntropyFuncOptions().ignore_index(-100));
    loss.backward();
    torch::nn::utils::clip_grad_norm_(params, clip);
    opt->step();
    nll += loss.item<double>() * tokens;
    done += tokens;
    if (progress) {
      char extra[48];
      std::snprintf(extra, sizeof extra, "loss %.3f", nll / done);
      bar.Update(done, extra);
    }
  }
  s->train_loss = nll / std::max<int64_t>(done, 1);
  s->seconds = bar.Seconds();
  s->tokens_per_s = done / std::max(s->seconds, 1e-9);
}

Status TrainFloatG2p(const G2pData& data, const G2pTrainOptions& o, FloatG2p model, std::vector<G2pEpochStats>* curve) {
  if (o.epochs < 0 || o.batch < 1 || !(o.lr > 0)) {
    return Status::InvalidArgument("g2p train: epochs >= 0, batch >= 1 and lr > 0 are required");
  }
  if (data.train.empty()) return Status::InvalidArgument("g2p train: the training split is empty");
  torch::manual_seed(o.seed);
  if (o.threads > 0) torch::set_num_threads(o.threads);
  const torch::Device device = model->out_h->weight.device();
  torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(o.lr));
  std::mt19937_64 rng(o.seed);
  double lr = o.lr, best_per = INFINITY;
  std::vector<torch::Tensor> best;
  std::vector<G2pExample> valid(data.valid.begin(),
                                data.valid.begin() + (o.valid_words > 0 ? std::min<int64_t>(o.valid_words,
                                                                                            data.valid.size())
                                                                        : data.valid.size()));
  for (int epoch = 1; epoch <= o.epochs; ++epoch) {
    model->train();
    for (auto& g : opt.param_groups()) g.options().set_lr(lr);
    const auto batches = MakeG2pBatches(data.train, o.batch, o.max_examples, &rng);
    G2pEpochStats s;
    s.epoch = epoch;
    s.lr = lr;
    RunG2pEpoch("g2p epoch " + std::to_string(epoch) + "/" + std::to_string(o.epochs), data.train, batches, device,
                [&](const torch::Tensor& x, const torch::Tensor& yin) { return model->forward(x, yin); },
                model->parameters(), o.clip, o.progress, &opt, &s);
    const G2pScore v = EvaluateFloatG2p(model, valid, 1);
    s.valid_per = v.per();
    s.valid_wer = v.wer();
    curve->push_back(s);
    if (o.progress) {
      std::fprintf(stderr, "g2p epoch %d: lr %.4g loss %.4f valid PER %.2f%% WER %.2f%% (greedy, %lld words; %.0f phones/s, %.0f s)\n",
                   epoch, lr, s.train_loss, 100 * s.valid_per, 100 * s.valid_wer, static_cast<long long>(v.words),
                   s.tokens_per_s, s.seconds);
    }
    if (s.valid_per < best_per) {
      best_per = s.valid_per;
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
  model->eval();
  return Status::Ok();
}

std::vector<int32_t> BeamSearchLogProb(const G2pLogProbStep& step, int64_t phones, int beam, int max_len) {
  struct Hyp {
    std::vector<int32_t> seq;
    double score;
  };
  std::vector<Hyp> alive = {{{}, 0.0}}, finished;
  std::vector<int64_t> parents = {0};
  std::vector<int32_t> prev = {kPhoneStart};
  std::vector<float> logp;
  for (int t = 0; t < max_len && !alive.empty(); ++t) {
    step(parents, prev, &logp);
    struct Cand {
      double score;
      int64_t hyp, phone;
    };
    std::vector<Cand> cands;
    for (size_t i = 0; i < alive.size(); ++i) {
      for (int64_t p = 0; p < phones; ++p) {
        if (p == kPhoneStart) continue;
        cands.push_back({alive[i].score + logp[i * phones + p], static_cast<int64_t>(i), p});
      }
    }
    const size_t keep = std::min(cands.size(), static_cast<size_t>(2 * beam));
    std::partial_sort(cands.begin(), cands.begin() + keep, cands.end(), [](const Cand& a, const Cand& b) {
      if (a.score != b.score) return a.score > b.score;
      return a.hyp != b.hyp ? a.hyp < b.hyp : a.phone < b.phone;
    });
    std::vector<Hyp> next;
    parents.clear();
    prev.clear();
    for (size_t k = 0; k < keep && static_cast<int>(next.size()) < beam; ++k) {
      const Cand& c = cands[k];
      if (c.phone == kPhoneEnd) {
        if (static_cast<int>(finished.size()) < beam) finished.push_back({alive[c.hyp].seq, c.score});
        continue;
      }
      Hyp h = alive[c.hyp];
      h.seq.push_back(static_cast<int32_t>(c.phone));
      h.score = c.score;
      next.push_back(std::move(h));
      parents.push_back(c.hyp);
      prev.push_back(static_cast<int32_t>(c.phone));
    }
    alive = std::move(next);
    if (static_cast<int>(finished.size()) >= beam) break;
    // Scores only fall: once the best finished beats every live hypothesis, it is the answer.
    double best_finished = -INFINITY;
    for (const auto& f : finished) best_finished = std::max(best_finished, f.score);
    bool any_better = false;
    for (const auto& a : alive) any_better = any_better || a.score > best_finished;
    if (!any_better) break;
  }
  if (finished.empty()) return alive.empty() ? std::vector<int32_t>{} : alive[0].seq;
  size_t best = 0;
  for (size_t i = 1; i < finished.size(); ++i) {
    if (finished[i].score > finished[best].score) best = i;
  }
  return finished[best].seq;
}

void DecodeFloatG2p(FloatG2p model, const std::vector<std::vector<int32_t>>& words, int beam,
                    std::vector<std::vector<int32_t>>* out, bool progress) {
  torch::NoGradGuard no_grad;
  model->eval();
  const torch::Device device = model->out_h->weight.device();
  out->assign(words.size(), {});
  Progress bar(beam == 1 ? "g2p greedy" : "g2p beam " + std::to_string(beam), static_cast<int64_t>(words.size()), "word");
  int64_t done = 0;
  if (beam <= 1) {
    std::map<size_t, std::vector<size_t>> by_len;
    for (size_t i = 0; i < words.size(); ++i) by_len[words[i].size()].push_back(i);
    for (const auto& kv : by_len) {
      for (size_t i0 = 0; i0 < kv.second.size(); i0 += 256) {
        std::vector<size_t> idx(kv.second.begin() + i0, kv.second.begin() + std::min(kv.second.size(), i0 + 256));
        std::vector<const std::vector<int32_t>*> w;
        for (size_t i : idx) w.push_back(&words[i]);
        const int64_t b = static_cast<int64_t>(idx.size());
        const G2pEncoded enc = model->Encode(CharsTensor(w, device));
        G2pDecoderState s = model->InitialState(b);
        torch::Tensor prev = torch::full({b}, kPhoneStart, torch::TensorOptions().dtype(torch::kInt64).device(device));
        std::vector<bool> ended(static_cast<size_t>(b), false);
        int alive = static_cast<int>(b);
        for (int t = 0; t < MaxLen(kv.first) && alive > 0; ++t) {
          prev = model->DecodeStep(enc, prev, &s).argmax(1);
          const torch::Tensor cpu = prev.to(torch::kCPU);
          const int64_t* p = cpu.data_ptr<int64_t>();
          for (int64_t j = 0; j < b; ++j) {
            if (ended[j]) continue;
            if (p[j] == kPhoneEnd) {
              ended[j] = true;
              --alive;
            } else {
              (*out)[idx[j]].push_back(static_cast<int32_t>(p[j]));
            }
          }
        }
        done += b;
        if (progress) bar.Update(done);
      }
    }
    return;
  }
  const int64_t phones = model->options().phones;
  for (size_t i = 0; i < words.size(); ++i) {
    const G2pEncoded enc = model->Encode(CharsTensor({&words[i]}, device));
    G2pDecoderState s = model->InitialState(1);
    auto step = [&](const std::vector<int64_t>& parents, const std::vector<int32_t>& prev, std::vector<float>* logp) {
      const torch::Tensor idx = torch::tensor(parents, torch::kInt64).to(device);
      s.h = s.h.index_select(0, idx);
      s.c = s.c.index_select(0, idx);
      s.ctx = s.ctx.index_select(0, idx);
      std::vector<int64_t> p(prev.begin(), prev.end());
      const torch::Tensor lp = torch::log_softmax(model->DecodeStep(enc, torch::tensor(p, torch::kInt64).to(device), &s), 1)
                                   .to(torch::kFloat32).to(torch::kCPU).contiguous();
      logp->assign(lp.data_ptr<float>(), lp.data_ptr<float>() + lp.numel());
    };
    (*out)[i] = BeamSearchLogProb(step, phones, beam, MaxLen(words[i].size()));
    ++done;
    if (progress) bar.Update(done);
  }
}

G2pScore EvaluateFloatG2p(FloatG2p model, const std::vector<G2pExample>& examples, int beam, bool progress) {
  std::vector<std::vector<int32_t>> words, hyps;
  for (const auto& e : examples) words.push_back(e.chars);
  DecodeFloatG2p(model, words, beam, &hyps, progress);
  G2pScore score;
  for (size_t i = 0; i < examples.size(); ++i) score.Add(hyps[i], examples[i].prons);
  return score;
}

namespace {

std::string Join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += x + "\n";
  return s;
}

Status ReadSymbols(torch::serialize::InputArchive& archive, const char* key, const std::string& path, SymbolTable* t) {
  c10::IValue value;
  archive.read(key, value);
  if (!value.isString()) return Status::DataLoss(path + ": '" + key + "' must be a string");
  std::vector<std::string> symbols;
  std::istringstream in(value.toStringRef());
  for (std::string w; std::getline(in, w);) symbols.push_back(w);
  const Status s = SymbolTable::FromSymbols(std::move(symbols), t);
  if (!s.ok()) return Status::DataLoss(path + ": '" + key + "': " + s.message());
  return Status::Ok();
}

}  // namespace

Status SaveFloatG2p(FloatG2p model, const G2pData& data, const std::string& path) {
  try {
    torch::serialize::OutputArchive archive;
    const G2pOptions& o = model->options();
    archive.write("g2p_options", torch::tensor({o.chars, o.phones, o.emb, o.enc, o.dec, o.attn}, torch::kInt64));
    archive.write("dropout_rate", torch::tensor({o.dropout}, torch::kFloat64));
    archive.write("chars", c10::IValue(Join(data.chars.symbols())));
    archive.write("phones", c10::IValue(Join(data.phones.symbols())));
    model->save(archive);
    archive.save_to(path);
  } catch (const std::exception& e) {
    return Status::InvalidArgument(path + ": cannot write the checkpoint: " + e.what());
  }
  return Status::Ok();
}

Status LoadFloatG2p(const std::string& path, FloatG2p* model, SymbolTable* chars, SymbolTable* phones) {
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(path);
    torch::Tensor opts, dropout;
    archive.read("g2p_options", opts);
    archive.read("dropout_rate", dropout);
    if (opts.numel() != 6 || opts.scalar_type() != torch::kInt64) {
      return Status::DataLoss(path + ": 'g2p_options' must be 6 int64 values");
    }
    G2pOptions o;
    o.chars = opts[0].item<int64_t>();
    o.phones = opts[1].item<int64_t>();
    o.emb = opts[2].item<int64_t>();
    o.enc = opts[3].item<int64_t>();
    o.dec = opts[4].item<int64_t>();
    o.attn = opts[5].item<int64_t>();
    o.dropout = dropout.item<double>();
    for (int64_t v : {o.chars, o.phones, o.emb, o.enc, o.dec, o.attn}) {
      if (v < 1 || v > 4096) return Status::DataLoss(path + ": g2p_options value " + std::to_string(v) + " out of range");
    }
    IRNN_RETURN_IF_ERROR(ReadSymbols(archive, "chars", path, chars));
    IRNN_RETURN_IF_ERROR(ReadSymbols(archive, "phones", path, phones));
    if (chars->size() != o.chars || phones->size() != o.phones) {
      return Status::DataLoss(path + ": the symbol tables do not match the options");
    }
    FloatG2p m(o);
    m->load(archive);
    m->eval();
    *model = m;
  } catch (const std::exception& e) {
    return Status::DataLoss(path + ": not a readable irnn G2P checkpoint: " + std::string(e.what()).substr(0, 200));
  }
  return Status::Ok();
}

}  // namespace irnn::train
