// Integer attention: additive (Bahdanau) and dot-product ("general", Luong) attention over a sequence
// of int8 encoder outputs, an integer softmax, and attention pooling (a learned query). Integer only at
// run time; the equations are docs/numerics.md §9.
//
// Keys and values are the same tensor: the encoder outputs k_t, int8 [T][n_key] on ONE asymmetric grid
// (S_k, key_zp). The query q is int8 [n_query] on its own grid (S_q, query_zp). One attention step:
//   additive: a_t[j] = sat16(MBQM(Wq q + bq, M_q)[j] + MBQM(Wk k_t + bk, M_k)[j])   (Q3.12, §9.3)
//             h_t[j] = tanh(a_t[j]) (Q0.15; fixed point §2.4 or a PWL table §6)
//             s_t    = Σ_j v[j] h_t[j]                                            (int32)
//   dot:      u      = sat8(MBQM(Wq q + bq, M_q))     (int8 symmetric, width n_key; §9.4)
//             s_t    = Σ_j u[j] (k_t[j] − key_zp)                                  (int32)
//   α = softmax(s) in Q0.15 (§9.2);   context[j] = sat8(RDivPOT(Σ_t α_t (k_t[j] − key_zp), 15) + key_zp)
// The context lies on the KEYS' grid, so it concatenates with encoder-grid vectors without requantizing.
// The key projection Wk k_t (additive) is computed once per sequence by SetKeys. With n_query == 0 the
// query term is the bias alone: attention pooling over a sequence with a learned query (Attend with a
// null query), for classifiers.
//
// Use (an attention decoder; `enc` = the encoder's int8 outputs, time-major [T][B][n_key]):
//   std::unique_ptr<Attention> attn;  Attention::Create(params, KernelPath::kAuto, &attn);
//   AttentionState st;  attn->NewState(B, T_max, &st);
//   attn->SetKeys(enc, T, lengths, &st);                 // once per input sequence
//   for each decoder step: attn->Attend(h_dec, &st, context);  // h_dec int8 [B][n_query]
// The context is on the encoder's grid: concatenate it with other encoder-grid int8 vectors as is.
//
// What it is not: no float anywhere here (the float -> integer derivation is DeriveAttentionParams,
// compiled into `irnn` only), no masking beyond per-stream lengths, no multi-head attention.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "irnn/kernel_path.h"
#include "irnn/pwl.h"
#include "irnn/quantization.h"
#include "irnn/status.h"
#include "irnn/tflite_lstm.h"  // LstmActivation, TensorQuantization

namespace irnn {

enum class AttentionMode : uint8_t {
  kAdditive = 0,  // Bahdanau: v · tanh(Wq q + b + Wk k_t)
  kDot = 1,       // Luong "general": (Wq q + b) · (k_t − key_zp)
};

// Limits (checked before anything is allocated).
inline constexpr int32_t kMaxAttentionLength = 4096;     // T, keys per stream
inline constexpr int32_t kMaxAttentionWidth = 4096;      // n_key, n_query
inline constexpr int32_t kMaxAttentionHidden = 256;      // n_attn (additive): keeps Σ_j v h in int32
inline constexpr int64_t kMaxAttentionStateElements = int64_t{1} << 28;  // batch·T·max(n_key, n_attn)

struct AttentionConfig {
  AttentionMode mode = AttentionMode::kAdditive;
  int32_t n_key = 0;    // key/value width, [1, kMaxAttentionWidth]
  int32_t n_query = 0;  // query width, [0, kMaxAttentionWidth]; 0 = pooling (the query is learned)
  int32_t n_attn = 0;   // additive: hidden width, [1, kMaxAttentionHidden]; dot: must be 0
  Rounding rounding = Rounding::kDouble;
  LstmActivation activation = LstmActivation::kFixedPoint;  // tanh of the additive hidden (§2.4 or §6)
};

// Every integer the attention step reads.
struct AttentionParams {
  AttentionConfig config;
  int32_t key_zp = 0;    // zero point of keys and of the context, [-128, 127]
  int32_t query_zp = 0;  // zero point of the query, [-128, 127] (folded into query_bias; kept for tools)
  // Query side: rows = n_attn (additive) or n_key (dot); cols = n_query (empty when n_query == 0).
  std::vector<int8_t> query_weights;  // [rows][n_query]
  std::vector<int32_t> query_bias;    // [rows] effective bias: b − query_zp·Σ_k Wq[r][k]
  QuantizedMultiplier query_scale;    // additive: S_Wq·S_q / 2^−12; dot: S_Wq·S_q / S_u
  // Additive only (empty in dot mode).
  std::vector<int8_t> key_weights;    // [n_attn][n_key]
  std::vector<int32_t> key_bias;      // [n_attn] effective bias: −key_zp·Σ_k Wk[r][k]
  QuantizedMultiplier key_scale;      // S_Wk·S_k / 2^−12
  std::vector<int8_t> score_weights;  // v [n_attn], symmetric (scale S_v)
  // Softmax input multiplier: S_s · log2(e) · 2^16 where S_s is the score scale (additive S_v·2^−15,
  // dot S_u·S_k). (§9.2)
  QuantizedMultiplier softmax_scale;
  PwlTable pwl_tanh;  // activation == kPwl: Q3.12 -> Q0.15 tanh; empty otherwise
};

Status ValidateAttentionParams(const AttentionParams& params);

// Float description of an attention layer, the input of DeriveAttentionParams (src/layers/
// attention_derive.cc, in `irnn`, not in the runtime objects).
struct AttentionQuantization {
  TensorQuantization key;          // int8 asymmetric: the encoder output grid
  TensorQuantization query;        // int8 asymmetric (unused when n_query == 0)
  float query_weight_scale = 0;    // symmetric int8 Wq (unused when n_query == 0)
  float key_weight_scale = 0;      // symmetric int8 Wk (additive)
  float score_weight_scale = 0;    // symmetric int8 v (additive)
  float projection_scale = 0;      // dot: the int8 symmetric grid S_u of u = Wq q + b
};
struct AttentionWeights {
  std::vector<int8_t> query_weights;  // [rows][n_query]
  std::vector<float> query_bias;      // [rows] real bias b (may be empty = 0)
  std::vector<int8_t> key_weights;    // additive [n_attn][n_key]
  std::vector<int8_t> score_weights;  // additive [n_attn]
};
// Fills *params from quantized weights and float scales (numerics.md §9.5). For activation kPwl the
// tanh table is fitted (optimal, 1 LSB).
Status DeriveAttentionParams(const AttentionConfig& config, const AttentionWeights& weights,
                             const AttentionQuantization& quantization, AttentionParams* params);

// Per-sequence state of `batch` streams: their keys (copied), the key projection, the lengths and the
// scratch of one Attend. Made by Attention::NewState; owned by the caller (one per concurrent user).
class AttentionState {
 public:
  int batch() const { return batch_; }
  int max_length() const { return max_length_; }
  const std::vector<int32_t>& lengths() const { return lengths_; }

 private:
  friend class Attention;
  int batch_ = 0;
  int max_length_ = 0;
  bool has_keys_ = false;
  std::vector<int32_t> lengths_;        // [batch]
  std::vector<int8_t> keys_;            // [batch][max_length][n_key]
  std::vector<int32_t> key_proj_;       // additive: [batch][max_length][n_attn]
  std::vector<int32_t> query_acc_;      // [batch][rows]
  std::vector<int8_t> query_s8_;        // dot: u [batch][n_key]
  std::vector<int16_t> preact_;         // additive: [max_length][n_attn]
  std::vector<int16_t> hidden_;         // additive: [max_length][n_attn]
  std::vector<int32_t> scores_;         // [max_length]
  std::vector<int32_t> exp_;            // [max_length]
  std::vector<int16_t> weights_;        // [max_length]
};

struct LstmKernels;
struct PwlKernels;
struct AttentionKernels;
struct PackedS8;

class Attention {
 public:
  static Status Create(AttentionParams params, KernelPath path, std::unique_ptr<Attention>* out);
  const AttentionParams& params() const { return params_; }
  KernelPath path() const { return path_; }

  // A state for `batch` streams of up to `max_length` keys. batch in [1, 65536], max_length in
  // [1, kMaxAttentionLength], batch·max_length·max(n_key, n_attn) <= kMaxAttentionStateElements.
  Status NewState(int batch, int max_length, AttentionState* state) const;

  // Sets the keys (= values) of every stream: keys int8, time-major [length][batch][n_key] (what an
  // encoder's Run produces), length in [1, state.max_length()]. lengths: null (every stream has
  // `length` keys) or [batch] values in [1, length]; keys past a stream's length are ignored.
  // Additive mode projects every key once here (Wk k_t).
  Status SetKeys(const int8_t* keys, int length, const int32_t* lengths, AttentionState* state) const;

  // One attention step for every stream: query int8 [batch][n_query] (null exactly when n_query == 0)
  // -> context int8 [batch][n_key] on the keys' grid. weights: null, or [batch][state.max_length()]
  // Q0.15 attention weights (entries past a stream's length are 0). SetKeys must have been called.
  Status Attend(const int8_t* query, AttentionState* state, int8_t* context, int16_t* weights = nullptr) const;

  // Attention pooling (n_query == 0): SetKeys then Attend(nullptr).
  Status Pool(const int8_t* keys, int length, const int32_t* lengths, AttentionState* state, int8_t* context) const;

 private:
  Attention() = default;
  int query_rows() const;
  bool StateFits(const AttentionState& state) const;  // every buffer has this layer's sizes

  AttentionParams params_;
  KernelPath path_ = KernelPath::kScalar;
  const LstmKernels* kernels_ = nullptr;
  const PwlKernels* pwl_kernels_ = nullptr;
  const AttentionKernels* attention_kernels_ = nullptr;
  std::shared_ptr<const PackedS8> query_packed_;
  std::shared_ptr<const PackedS8> key_packed_;
};

// Standalone integer softmax (numerics.md §9.2) of n int32 scores sharing one scale, for callers that
// compute their own scores: probs int16 Q0.15 [n], n in [1, kMaxAttentionLength]; exp_scale as
// AttentionParams::softmax_scale. Runs on `path` (kAuto: the best available, or IRNN_PATH); every path
// gives the same bits. Allocates an n-element scratch buffer per call.
Status SoftmaxQ15(const int32_t* scores, int n, QuantizedMultiplier exp_scale, Rounding rounding, KernelPath path,
                  int16_t* probs);

}  // namespace irnn
