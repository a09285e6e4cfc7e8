// The integer-only attention encoder–decoder for grapheme-to-phoneme conversion (numerics.md §11):
// characters -> int8 embedding -> forward and backward integer LSTMs (one shared output grid, so their
// outputs concatenate into the keys without requantizing) -> an integer LSTM decoder with input feeding
// and integer additive attention (irnn/attention.h) -> int32 phone logits; greedy or beam search over
// those logits, with a fixed-point log-softmax for the beam scores. Integer only at run time (the float
// model and its quantization-aware twin live in src/train/g2p*.h). Not a general sequence-to-sequence
// framework: the layer list is fixed (G2pModelParams).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "irnn/attention.h"
#include "irnn/kernel_path.h"
#include "irnn/lm.h"
#include "irnn/quantization.h"
#include "irnn/status.h"
#include "irnn/tflite_lstm.h"

namespace irnn {

// Longest word (characters) and output (phones) the runtime accepts.
inline constexpr int kMaxG2pWord = 256;
inline constexpr int kMaxG2pBeam = 64;
// Output symbol ids 0 and 1 are the end and start symbols (irnn/cmudict.h kPhoneEnd, kPhoneStart).
inline constexpr int32_t kG2pEnd = 0;
inline constexpr int32_t kG2pStart = 1;

// The layers, in file order (model "g2p"; docs/model_format.md). Chain rules checked by
// ValidateG2pModelParams: char_embedding.dim == enc_fw.n_input == enc_bw.n_input; enc_fw and enc_bw have
// the same shape and output zero point; phone_embedding.dim + 2·enc.n_output == dec.n_input;
// attention.n_key == 2·enc.n_output, key_zp == enc output zero point, n_query == dec.n_output,
// query_zp == dec output zero point; out_h.n_in == dec.n_output, out_c.n_in == attention.n_key,
// out_h.n_out == out_c.n_out == phone_embedding.vocab >= 2. Not checkable from integers and guaranteed by
// the exporter: both encoder directions have the same output scale, the phone embedding and the
// decoder's input are on the encoder's output grid, and both output layers share one logit scale.
struct G2pModelParams {
  EmbeddingParams char_embedding;   // [chars][E] on the encoder's input grid
  TfliteLstmParams enc_fw, enc_bw;  // E -> H_e each
  EmbeddingParams phone_embedding;  // [phones][E_p] on the encoder's OUTPUT grid (the decoder input grid)
  TfliteLstmParams dec;             // E_p + 2·H_e -> H_d
  AttentionParams attention;        // additive or dot; keys = encoder outputs, query = decoder output
  LinearParams out_h;               // H_d -> phones, int32 logits
  LinearParams out_c;               // 2·H_e -> phones, the same logit scale
  // S_logit · log2(e) · 2^16: a logit difference -> log2 units in Q16 (§11.3). Beam search only.
  QuantizedMultiplier log2_scale;
  Rounding rounding = Rounding::kDouble;  // of log2_scale
};

Status ValidateG2pModelParams(const G2pModelParams& params);

// §11.3 fixed-point log-softmax in log2 units, Q16: out[v] = d[v] − log2(Σ_u 2^(d[u]/2^16))·2^16 with
// d[v] = max(MBQM(sat32(z[v] − max z), log2_scale), −32·2^16). n in [1, 65536].
void LogSoftmaxLog2Q16(const int32_t* logits, int n, QuantizedMultiplier log2_scale, Rounding rounding,
                       int32_t* out);
// 2^(d/2^16) for d in [−32·2^16, 0], Q30 (§11.3); and floor-based log2(x/2^30)·2^16 for x >= 2^30.
int64_t Exp2NegQ16ToQ30(int32_t d);
int32_t Log2Q30ToQ16(int64_t x);

// One decoder step of `hyps` hypotheses, after the caller's state was reordered by `parents`
// (hypothesis i continues old hypothesis parents[i]); prev[i] is hypothesis i's last output. Writes
// logits [hyps][phones]. Used by G2pSearch so that the integer runtime and its simulation share it.
using G2pStepFn = std::function<Status(const std::vector<int32_t>& parents, const std::vector<int32_t>& prev,
                                       std::vector<int32_t>* logits)>;

// §11.4 search over int32 logits: beam == 1 is greedy (argmax, lowest id on ties); beam > 1 is beam search
// scored by summed LogSoftmaxLog2Q16 (int64), candidates ordered by score, then hypothesis, then id; it
// stops when `beam` hypotheses ended, none is alive, no live hypothesis beats the best ended one, or after
// max_len steps. Output: the best ended hypothesis without the end symbol (or the best live one if none
// ended).
Status G2pSearch(const G2pStepFn& step, int32_t phones, QuantizedMultiplier log2_scale, Rounding rounding, int beam,
                 int max_len, std::vector<int32_t>* out);

class G2pModel;

// The state of one word being decoded by up to `capacity` hypotheses. Owned by the caller.
class G2pState {
 public:
  int hyps() const { return hyps_; }
  int length() const { return length_; }

 private:
  friend class G2pModel;
  int capacity_ = 0, hyps_ = 0, length_ = 0;
  TfliteLstmState enc_fw_, enc_bw_, dec_;
  AttentionState attention_;
  std::vector<int8_t> x_, fw_, bw_, keys_;    // encoder input, outputs, keys [length][capacity][2H_e]
  std::vector<int8_t> dec_in_, dec_out_, ctx_;
  std::vector<int8_t> h_tmp_, ctx_tmp_;
  std::vector<int16_t> c_tmp_;
  std::vector<int32_t> tokens_, logits_h_, logits_c_;
};

class G2pModel {
 public:
  static Status Create(G2pModelParams params, KernelPath path, std::unique_ptr<G2pModel>* out);
  const G2pModelParams& params() const { return params_; }
  int32_t chars() const { return params_.char_embedding.vocab; }
  int32_t phones() const { return params_.phone_embedding.vocab; }

  // Encodes one word (character ids [n], n in [1, kMaxG2pWord]) for `hyps` hypotheses (1 to kMaxG2pBeam),
  // all starting at the decoder's reset state with a zero context.
  Status Encode(const int32_t* chars, int n, int hyps, G2pState* state) const;
  // Keeps hypotheses parents[0..k) in that order (k = parents.size(), 1 to the encoded hyps count).
  Status Reorder(const std::vector<int32_t>& parents, G2pState* state) const;
  // One decoder step: prev [hyps] phone ids -> logits [hyps][phones].
  Status DecodeStep(const int32_t* prev, G2pState* state, int32_t* logits) const;
  // Encode + G2pSearch: phones of the word without the end symbol; max_len = 2n + 8.
  Status Transcribe(const int32_t* chars, int n, int beam, std::vector<int32_t>* out) const;

 private:
  G2pModel() = default;
  G2pModelParams params_;
  KernelPath path_ = KernelPath::kScalar;
  std::unique_ptr<TfliteLstm> enc_fw_, enc_bw_, dec_;
  std::unique_ptr<Attention> attention_;
  std::unique_ptr<Linear> out_h_, out_c_;
};

struct Model;
// The G2P model held by `model` (metadata "composition" = "g2p"): the layers, in order, char_embedding,
// enc_fw, enc_bw, phone_embedding, dec, attention, out_h, out_c; metadata "g2p_log2_multiplier",
// "g2p_log2_shift", "g2p_rounding" (decimal integers). Errors name the layer.
Status G2pModelFromModel(const Model& model, G2pModelParams* params);
// The layers of `params` (validated first) as model->layers plus the metadata above; other metadata
// entries are kept.
Status ModelFromG2pModel(const G2pModelParams& params, Model* model);

}  // namespace irnn
