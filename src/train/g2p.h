// Grapheme-to-phoneme (G2P) conversion with an attention encoder–decoder on libtorch: the float model,
// its training loop (teacher forcing, Adam, length-bucketed batches), and greedy and beam-search decoding
// with the G2P metrics (irnn/cmudict.h). It is the float twin of the integer model (irnn/g2p.h); the
// quantization-aware model and its export build on it elsewhere. Written device-agnostic, run on the CPU.
//
// The model (every piece maps one to one onto an integer runtime layer):
//   chars -> char embedding [E] -> forward LSTM [H_e] and backward LSTM [H_e] -> enc_s = [fw_s; bw_s] [2H_e]
//   keys_s = W_k enc_s + b_k  [A]                              (precomputed once per word)
//   decoder step t, input y_{t-1} (<s> first) and the previous context ctx_{t-1} (zeros first):
//     x_t = [tanh(phone_emb(y_{t-1})); ctx_{t-1}]  [E + 2H_e]  ("input feeding", Luong et al. 2015)
//     (h_t, c_t) = LSTMCell(x_t, (h_{t-1}, c_{t-1}))  [H_d]    (zero initial state)
//     e_{t,s} = v · tanh(W_q h_t + keys_s)                      (additive attention, Bahdanau et al. 2015)
//     alpha_t = softmax_s(e_t);  ctx_t = Σ_s alpha_{t,s} enc_s
//     logits_t = W_oh h_t + W_oc ctx_t + b_o  [phones]
// A phone sequence ends with </s> (kPhoneEnd).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "irnn/cmudict.h"
#include "irnn/status.h"

namespace irnn::train {

struct G2pOptions {
  int64_t chars = 0;    // character vocabulary
  int64_t phones = 0;   // phone vocabulary (with </s> and <s>)
  int64_t emb = 64;     // character and phone embedding width
  int64_t enc = 128;    // encoder LSTM width per direction
  int64_t dec = 256;    // decoder LSTM width
  int64_t attn = 128;   // attention width
  double dropout = 0.1;  // on embeddings and the decoder output, training only
};

struct G2pTrainOptions {
  int epochs = 5;
  int batch = 128;
  double lr = 3e-3;       // Adam
  double lr_decay = 0.5;  // lr *= lr_decay after each epoch >= decay_start
  int decay_start = 2;
  double clip = 5.0;
  uint64_t seed = 1;
  int threads = 0;            // 0: all cores
  int64_t max_examples = 0;   // 0: every training pronunciation per epoch
  int64_t valid_words = 2000; // valid PER (greedy) after each epoch on the first N valid words (0: all)
  bool progress = true;
};

// The decoder's recurrent state for a batch of hypotheses.
struct G2pDecoderState {
  torch::Tensor h, c, ctx;  // [B][H_d], [B][H_d], [B][2H_e]
};

// The encoder's output for a batch of words of one length S.
struct G2pEncoded {
  torch::Tensor enc;   // [S][B][2H_e]
  torch::Tensor keys;  // [S][B][A]
};

class FloatG2pImpl : public torch::nn::Module {
 public:
  explicit FloatG2pImpl(const G2pOptions& o);
  const G2pOptions& options() const { return options_; }

  // chars [S][B] int64 (all words of length S) -> encoder outputs and attention keys.
  G2pEncoded Encode(const torch::Tensor& chars);
  G2pDecoderState InitialState(int64_t batch) const;
  // One decoder step: prev [B] int64 phone ids -> logits [B][phones]; the state advances. The batch of
  // `enc` is either B or 1 (one word shared by B beam hypotheses).
  torch::Tensor DecodeStep(const G2pEncoded& enc, const torch::Tensor& prev, G2pDecoderState* state);
  // Teacher forcing: chars [S][B], inputs [T][B] (<s> then the phones) -> logits [T][B][phones].
  torch::Tensor forward(const torch::Tensor& chars, const torch::Tensor& inputs);

  torch::nn::Embedding char_emb{nullptr}, phone_emb{nullptr};
  torch::nn::LSTM enc_fw{nullptr}, enc_bw{nullptr};
  torch::nn::LSTMCell dec{nullptr};
  torch::nn::Linear att_q{nullptr}, att_k{nullptr}, att_v{nullptr};
  torch::nn::Linear out_h{nullptr}, out_c{nullptr};
  torch::nn::Dropout dropout{nullptr};

 private:
  G2pOptions options_;
};
TORCH_MODULE(FloatG2p);

// A decoder for search: Encode one word, then steps over a batch of hypotheses of that word. Scores
// are log-probabilities (float model) or whatever the integer search uses (see irnn/g2p.h).
struct G2pEpochStats {
  int epoch = 0;
  double lr = 0, train_loss = 0, valid_per = 0, valid_wer = 0, seconds = 0, tokens_per_s = 0;
};

// Trains on data.train; after each epoch the greedy PER/WER on (part of) data.valid is printed and kept;
// the parameters of the best valid-PER epoch are kept at the end.
Status TrainFloatG2p(const G2pData& data, const G2pTrainOptions& options, FloatG2p model,
                     std::vector<G2pEpochStats>* curve);

// Decodes words (character ids) with the float model: greedy (beam == 1, batched by length) or beam
// search of width `beam`. Output: phone ids without </s>. max_len caps the output (default: 2·S + 8).
void DecodeFloatG2p(FloatG2p model, const std::vector<std::vector<int32_t>>& words, int beam,
                    std::vector<std::vector<int32_t>>* out, bool progress = false);

// PER/WER of `examples` under the float model.
G2pScore EvaluateFloatG2p(FloatG2p model, const std::vector<G2pExample>& examples, int beam, bool progress = false);

// Checkpoints hold the options, the two symbol tables and the parameters.
Status SaveFloatG2p(FloatG2p model, const G2pData& data, const std::string& path);
Status LoadFloatG2p(const std::string& path, FloatG2p* model, SymbolTable* chars, SymbolTable* phones);

// Beam search shared by every backend. `step(prev, beams)` advances the hypotheses kept in the caller's
// state (reordered by `parents` first: hypothesis i continues old hypothesis parents[i]) and returns
// their log-probabilities [beams][phones] row-major. Returns the best finished hypothesis (no </s>).
using G2pLogProbStep = std::function<void(const std::vector<int64_t>& parents, const std::vector<int32_t>& prev,
                                          std::vector<float>* logp)>;
std::vector<int32_t> BeamSearchLogProb(const G2pLogProbStep& step, int64_t phones, int beam, int max_len);

}  // namespace irnn::train
