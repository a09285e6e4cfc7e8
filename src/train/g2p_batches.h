// Internal to the G2P trainers: what the float (g2p.cc, TrainFloatG2p) and the QAT (g2p_qat.cc,
// TrainQatG2p) training loops share: batches of same-length words in a random order, a batch's
// teacher-forcing tensors, and one epoch of cross-entropy steps with Adam and gradient clipping. Float
// training code (libtorch); not the integer runtime. The models, their evaluation and what an epoch
// reports stay with each trainer.
#pragma once

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "irnn/cmudict.h"
#include "train/g2p.h"

namespace irnn::train {

struct G2pItem {
  int32_t word;  // index into the examples
  int32_t pron;
};

// Batches of (word, pronunciation) items whose words have the same length (no encoder padding), in a
// random order drawn from rng; at most max_items items (0: all).
std::vector<std::vector<G2pItem>> MakeG2pBatches(const std::vector<G2pExample>& ex, int batch, int64_t max_items,
                                                 std::mt19937_64* rng);

// A batch's chars [S][B], decoder inputs [T][B] (<s> then the phones, </s>-padded) and targets [T·B]
// (the phones then </s>; -100 = padding), on `device`; tokens: the number of targets that count.
void G2pBatchTensors(const std::vector<G2pExample>& ex, const std::vector<G2pItem>& b, torch::Device device,
                     torch::Tensor* chars, torch::Tensor* in, torch::Tensor* out, int64_t* tokens);

// One epoch over `batches`: per batch, logits = forward(chars, in) [T][B][phones], mean cross entropy
// over the targets, backward, clip_grad_norm_(params, clip), opt->step(); a progress bar titled `title`
// (drawn with progress). Fills s->train_loss (per target), s->seconds and s->tokens_per_s.
void RunG2pEpoch(const std::string& title, const std::vector<G2pExample>& ex,
                 const std::vector<std::vector<G2pItem>>& batches, torch::Device device,
                 const std::function<torch::Tensor(const torch::Tensor&, const torch::Tensor&)>& forward,
                 const std::vector<torch::Tensor>& params, double clip, bool progress, torch::optim::Optimizer* opt,
                 G2pEpochStats* s);

}  // namespace irnn::train
