// The libtorch peer of `irnn bench` (built when the tool has libtorch; else bench_torch_none.cc): one
// LSTM layer as torch::lstm and one GRU layer as torch::gru (the functions nn::LSTM and nn::GRU call) on
// fp32 tensors, under InferenceMode, with at::set_num_threads(threads). Sequence mode: one call over
// [T][B][H]. Streaming mode: T calls on [1][B][H] frames, (h, c) or h carried. Also the Step 3 float
// language model's speed (float.pt), for the end-to-end comparison with the integer model.

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>
#include <vector>

#include "bench_common.h"
#include "irnn/text_data.h"
#include "train/lm.h"

namespace irnn::cli::bench {

namespace {

// The grid both cells run: for every thread count, H and B, PyTorch-like random weights of `gates` * H
// rows (U(-1/sqrt(H), 1/sqrt(H)), seeded by H) in torch::lstm/gru's order (w_ih, w_hh, b_ih, b_hh), an
// input [T][B][H] in U(-1, 1) and a zero state [1][B][H]; fn(H, B, threads, params, x, zero) times the
// cell on them.
template <typename Fn>
void ForEachLibtorchShape(const Grid& grid, Report* report, const char* cell, int gates, Fn fn) {
  c10::InferenceMode inference;
  for (int threads : grid.threads) {
    at::set_num_threads(threads);
    for (int H : grid.hidden) {
      for (int B : grid.batch) {
        Progress(*report, "libtorch fp32 %sH=%d B=%d threads=%d", cell, H, B, threads);
        torch::manual_seed(grid.seed + static_cast<uint64_t>(H));
        const double a = 1.0 / std::sqrt(static_cast<double>(H));
        const std::vector<torch::Tensor> params = {
            torch::empty({gates * H, H}).uniform_(-a, a), torch::empty({gates * H, H}).uniform_(-a, a),
            torch::empty({gates * H}).uniform_(-a, a), torch::empty({gates * H}).uniform_(-a, a)};
        const torch::Tensor x = torch::empty({grid.steps, B, H}).uniform_(-1.0, 1.0);
        const torch::Tensor zero = torch::zeros({1, B, H});
        fn(H, B, threads, params, x, zero);
      }
    }
  }
}

// One LSTM layer in both modes.
void RunLibtorchLstm(const Grid& grid, Report* report) {
  const int T = grid.steps;
  ForEachLibtorchShape(grid, report, "", 4, [&](int H, int B, int threads, const std::vector<torch::Tensor>& params,
                                               const torch::Tensor& x, const torch::Tensor& zero) {
    Timing t;
    TimeSteps(
        T, grid.repeats, [] {},
        [&] {
          auto out = torch::lstm(x, {zero, zero}, params, /*has_biases=*/true, /*num_layers=*/1, /*dropout=*/0.0,
                                 /*train=*/false, /*bidirectional=*/false, /*batch_first=*/false);
          return std::get<0>(out).defined();
        },
        &t);
    report->results.push_back(MakeResult("libtorch", "fp32", "torch::lstm", kSequence, H, B, threads, grid, t));

    const std::vector<torch::Tensor> frames = x.split(1);  // [1][B][H] views
    TimeSteps(
        T, grid.repeats, [] {},
        [&] {
          torch::Tensor h = zero, c = zero;
          for (int step = 0; step < T; ++step) {
            auto out = torch::lstm(frames[step], {h, c}, params, true, 1, 0.0, false, false, false);
            h = std::get<1>(out);
            c = std::get<2>(out);
          }
          return h.defined();
        },
        &t);
    report->results.push_back(MakeResult("libtorch", "fp32", "torch::lstm", kStreaming, H, B, threads, grid, t));
  });
}

// One GRU layer in both modes.
void RunLibtorchGru(const Grid& grid, Report* report) {
  const int T = grid.steps;
  ForEachLibtorchShape(grid, report, "gru ", 3, [&](int H, int B, int threads, const std::vector<torch::Tensor>& params,
                                                   const torch::Tensor& x, const torch::Tensor& zero) {
    Timing t;
    TimeSteps(
        T, grid.repeats, [] {},
        [&] {
          auto out = torch::gru(x, zero, params, /*has_biases=*/true, /*num_layers=*/1, /*dropout=*/0.0,
                                /*train=*/false, /*bidirectional=*/false, /*batch_first=*/false);
          return std::get<0>(out).defined();
        },
        &t);
    report->results.push_back(MakeResult("libtorch", "fp32", "torch::gru", kSequence, H, B, threads, grid, t, kGru));

    const std::vector<torch::Tensor> frames = x.split(1);  // [1][B][H] views
    TimeSteps(
        T, grid.repeats, [] {},
        [&] {
          torch::Tensor h = zero;
          for (int step = 0; step < T; ++step) {
            h = std::get<1>(torch::gru(frames[step], h, params, true, 1, 0.0, false, false, false));
          }
          return h.defined();
        },
        &t);
    report->results.push_back(MakeResult("libtorch", "fp32", "torch::gru", kStreaming, H, B, threads, grid, t, kGru));
  });
}

}  // namespace

void RunLibtorch(const Grid& grid, Report* report) {
  Progress(*report, "libtorch %s", TORCH_VERSION);
  if (WantsCell(grid, kLstm)) RunLibtorchLstm(grid, report);
  if (WantsCell(grid, kGru)) RunLibtorchGru(grid, report);
}

bool FloatLmSpeed(const std::string& path, int64_t tokens, int repeats, uint32_t seed, std::vector<LmSpeed>* out,
                  std::string* why) {
  train::FloatLm model(train::LmOptions{});
  Vocabulary vocab;
  const Status s = train::LoadFloatLm(path, &model, &vocab);
  if (!s.ok()) {
    *why = s.message();
    return false;
  }
  at::set_num_threads(1);
  model->eval();
  c10::InferenceMode inference;
  torch::manual_seed(seed);
  const int64_t vocab_size = model->embedding->weight.size(0);
  for (const auto& [batch, chunk] : {std::pair<int, int>{1, 1}, {10, 35}}) {
    const int64_t steps = std::max<int64_t>(1, tokens / batch);
    const torch::Tensor ids = torch::randint(vocab_size, {steps, batch}, torch::kInt64);
    std::vector<double> seconds;
    for (int r = 0; r <= repeats; ++r) {  // r = 0: warm-up
      auto state = model->ZeroState(batch);
      const auto t0 = std::chrono::steady_clock::now();
      for (int64_t t = 0; t < steps; t += chunk) {
        const torch::Tensor logits = model->forward(ids.narrow(0, t, std::min<int64_t>(chunk, steps - t)), &state);
        if (!logits.defined()) {
          *why = "the float model returned no logits";
          return false;
        }
      }
      const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (r > 0) seconds.push_back(sec);
    }
    LmSpeed speed;
    speed.batch = batch;
    speed.chunk = chunk;
    speed.tokens = steps * batch;
    speed.tokens_per_s = static_cast<double>(speed.tokens) / Median(seconds);
    out->push_back(speed);
  }
  return true;
}

}  // namespace irnn::cli::bench
