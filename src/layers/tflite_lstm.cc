// The TFLite 8x8_16 integer LSTM: validation, state and the step (numerics.md §4-§5). Integer only: this
// object file is checked for floating-point instructions by tests/no_float_test.sh. The parameter
// derivation from float scales lives in tflite_lstm_derive.cc.

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "irnn/tflite_lstm.h"
#include "core/spin_pool.h"
#include "layers/aligned_chunk.h"
#include "layers/row_split.h"
#include "kernels/lstm_kernels.h"
#include "kernels/pwl_kernels.h"

namespace irnn {

// The weight matrices laid out for the layer's kernel path, once, at Create.
struct TfliteLstmPacked {
  std::array<PackedS8, 4> input_to_gate;
  std::array<PackedS8, 4> recurrent_to_gate;
  PackedS8 projection;
  // Step's fused streaming matrix (LstmStreamStepS16): the input and recurrent weights again, as one
  // stream; empty where the path has no such kernel or the layer's options need the composed step.
  PackedLstmStream stream;
  // PwlLookupTableS16 of the PWL activations (numerics.md §6.1), for the SIMD kernels that look them up
  // (the streaming step's and the AVX-512 paths' fused recurrent step); empty with fixed-point
  // activations or where no kernel needs them.
  std::vector<int16_t> pwl_sigmoid_table, pwl_tanh_gate_table, pwl_tanh_cell_table;
  // The streaming step's power-of-two form (LstmStreamStep::input_pot_shift, StreamPotShifts): k per row,
  // [input 0 / recurrent 1][gate][n_cell]; empty where the model does not allow it.
  std::vector<int32_t> stream_pot_shift;
  int stream_hidden_pot_shift = 0;  // LstmStreamStep::hidden_pot_shift (0: the general form)
  // The fused recurrent step's (LstmRecurrentGatesS16) power-of-two form: where every present gate's
  // recurrent multipliers (per row or per tensor) are powers of two for single rounding (M = 2^30, shift
  // in [-31, -1]): per gate, -shift of each row, padded with 1 to a multiple of 16 rows
  // (LstmRecurrentStep::pot_right); else all empty.
  std::array<std::vector<int32_t>, 4> recurrent_pot_right;
  // With recurrent_pot_right, where |bias_h[r]| + 128 sum_k |Wh[r][k]| + 2^(k-1) <= INT32_MAX for every
  // row of every present gate (the matmul result plus the rounding nudge never wraps): 2^(k-1) per row,
  // padded with 0 (LstmRecurrentStep::pot_nudge); else all empty.
  std::array<std::vector<int32_t>, 4> recurrent_pot_nudge;
  // Every input-to-gate multiplier pot as well (LstmRecurrentStep::input_pot).
  bool input_pot = false;
};

namespace {

constexpr int32_t kMaxDim = 1 << 16;    // n_input, n_cell, n_output
constexpr int kMaxBatch = 1 << 16;
constexpr int kMaxStreamBatch = 16;  // Step's fused streaming kernel serves fewer rows than this
constexpr const char* kGateNames[4] = {"input", "forget", "cell", "output"};

// MBQM by m is exactly (x + 2^(k-1)) >> k, k = 1 - shift >= 2 (numerics.md §1.3, single rounding).
bool PotRecurrentMultiplier(QuantizedMultiplier m, Rounding rounding) {
  return rounding == Rounding::kSingle && m.multiplier == (int32_t{1} << 30) && m.shift <= 0 && m.shift >= -31;
}

// The largest |MBQM(acc)| of a pot multiplier (k = 1 - shift in [1, 32]) over the accumulators of a row
// whose |acc| <= bound (int64, the bias included): floor((acc + 2^(k-1)) / 2^k) lies in [-2^(31-k),
// 2^(31-k)] for any int32 acc (in [-1, 0] for k = 32), and within (bound + 2^(k-1)) / 2^k when bound +
// 2^(k-1) <= INT32_MAX.
int64_t PotResultBound(int64_t bound, int shift) {
  const int k = 1 - shift;
  const int64_t nudged = bound + (int64_t{1} << (k - 1));
  return nudged <= INT32_MAX ? nudged >> k : k >= 31 ? 1 : int64_t{1} << (31 - k);
}

// 128 sum_k |w[r][k]| + |bias[r]|: the largest |accumulator| of row r for int8 inputs (bias may be empty).
int64_t RowAccumulatorBound(const int8_t* w, int cols, const std::vector<int32_t>& bias, int r) {
  int64_t bound = 0;
  for (int k = 0; k < cols; ++k) bound += 128 * std::abs(int64_t{w[k]});
  return bound + (bias.empty() ? 0 : std::abs(int64_t{bias[static_cast<size_t>(r)]}));
}

std::string Field(const char* name, int gate) { return std::string(name) + "[" + kGateNames[gate] + "]"; }

Status SizeError(const std::string& field, size_t got, const std::string& rule, int64_t want) {
  return Status::InvalidArgument("TfliteLstmParams: " + field + " has " + std::to_string(got) +
                                 " elements but must have " + rule + " = " + std::to_string(want));
}

template <typename T>
Status CheckSize(const std::vector<T>& v, const std::string& field, bool present, const std::string& rule,
                 int64_t want) {
  if (!present) {
    if (!v.empty()) return SizeError(field, v.size(), "0 (tensor absent in this configuration)", 0);
    return Status::Ok();
  }
  if (static_cast<int64_t>(v.size()) != want) return SizeError(field, v.size(), rule, want);
  return Status::Ok();
}

Status CheckMultiplier(QuantizedMultiplier m, const std::string& field, int extra_shift = 0) {
  const int64_t shifted_shift = int64_t{m.shift} + extra_shift;  // no overflow for any int32 shift
  const bool mult_ok = m.multiplier == 0 || m.multiplier >= (int32_t{1} << 30);
  if (!mult_ok || m.multiplier < 0) {
    return Status::InvalidArgument("TfliteLstmParams: " + field + ".multiplier is " +
                                   std::to_string(m.multiplier) + " but must be 0 or in [2^30, 2^31)");
  }
  if (shifted_shift < -31 || shifted_shift > 30) {
    return Status::InvalidArgument("TfliteLstmParams: " + field + ".shift is " + std::to_string(m.shift) +
                                   " but must be in [" + std::to_string(-31 - extra_shift) + ", " +
                                   std::to_string(30 - extra_shift) + "]");
  }
  return Status::Ok();
}

// A per-channel multiplier vector (numerics.md §7.1): empty, or `want` valid multipliers.
Status CheckChannelScale(const std::vector<QuantizedMultiplier>& v, const std::string& field, bool allowed,
                         const std::string& rule, int64_t want) {
  if (v.empty()) return Status::Ok();
  if (!allowed) return SizeError(field, v.size(), "0 (tensor absent in this configuration)", 0);
  if (static_cast<int64_t>(v.size()) != want) return SizeError(field, v.size(), "0 or " + rule, want);
  for (size_t r = 0; r < v.size(); ++r) {
    IRNN_RETURN_IF_ERROR(CheckMultiplier(v[r], field + "[" + std::to_string(r) + "]"));
  }
  return Status::Ok();
}

Status CheckZeroPoint(int32_t zp, const char* field) {
  if (zp < -128 || zp > 127) {
    return Status::InvalidArgument(std::string("TfliteLstmParams: ") + field + " is " + std::to_string(zp) +
                                   " but must be in [-128, 127]");
  }
  return Status::Ok();
}

// The streaming step's power-of-two form (LstmStreamStep::input_pot_shift, numerics.md §1.3): with single
// rounding and every input and recurrent multiplier (2^30, 1 - k), k in [1, 31], fills `shifts`
// ([2][4][n_cell], k per row) and returns true when every row's accumulator bound B = |bias| + 128 *
// sum |W| (any int8 input) leaves room for the nudge, B + 2^(k-1) <= INT32_MAX, in both parts and the two
// requantized contributions cannot overflow int32 when added. Else returns false (the general form).
bool StreamPotShifts(const TfliteLstmParams& p, std::vector<int32_t>* shifts) {
  const TfliteLstmConfig& c = p.config;
  if (c.rounding != Rounding::kSingle) return false;
  const int64_t n_cell = c.n_cell;
  shifts->assign(static_cast<size_t>(8 * n_cell), 0);
  for (int g = 0; g < 4; ++g) {
    if (p.weights.input_to_gate[g].empty()) continue;  // an absent gate (CIFG)
    int64_t amax[2] = {};
    for (int64_t r = 0; r < n_cell; ++r) {
      for (int part = 0; part < 2; ++part) {
        const std::vector<QuantizedMultiplier>& channel =
            part == 0 ? p.input_to_gate_channel_scale[g] : p.recurrent_to_gate_channel_scale[g];
        const QuantizedMultiplier m =
            channel.empty() ? (part == 0 ? p.input_to_gate_scale[g] : p.recurrent_to_gate_scale[g]) : channel[r];
        if (m.multiplier != (int32_t{1} << 30) || m.shift > 0 || m.shift < -30) return false;
        const int k = 1 - m.shift;
        const std::vector<int8_t>& w = part == 0 ? p.weights.input_to_gate[g] : p.weights.recurrent_to_gate[g];
        const std::vector<int32_t>& bias =
            part == 0 ? p.input_to_gate_effective_bias[g] : p.recurrent_to_gate_effective_bias[g];
        const int64_t cols = part == 0 ? c.n_input : c.n_output;
        int64_t bound = bias[r] < 0 ? -int64_t{bias[r]} : int64_t{bias[r]};
        for (int64_t j = 0; j < cols; ++j) {
          const int64_t v = w[r * cols + j];
          bound += 128 * (v < 0 ? -v : v);
        }
        const int64_t nudged = bound + (int64_t{1} << (k - 1));
        if (nudged > INT32_MAX) return false;
        amax[part] = nudged >> k;
        (*shifts)[static_cast<size_t>((part * 4 + g) * n_cell + r)] = k;
      }
      if (amax[0] + amax[1] > INT32_MAX) return false;
    }
  }
  return true;
}

// The hidden requantization's power-of-two form (LstmStreamStep::hidden_pot_shift): k, or 0.
int StreamHiddenPotShift(const TfliteLstmParams& p) {
  const QuantizedMultiplier m = p.hidden_scale;
  if (p.config.rounding != Rounding::kSingle || m.multiplier != (int32_t{1} << 30) || m.shift > 0 || m.shift < -29) {
    return 0;
  }
  return 1 - m.shift;
}

}  // namespace

Status ValidateTfliteLstmParams(const TfliteLstmParams& p) {
  const TfliteLstmConfig& c = p.config;
  auto dim = [](int32_t v, const char* name) -> Status {
    if (v < 1 || v > kMaxDim) {
      return Status::InvalidArgument(std::string("TfliteLstmParams: config.") + name + " is " + std::to_string(v) +
                                     " but must be in [1, " + std::to_string(kMaxDim) + "]");
    }
    return Status::Ok();
  };
  IRNN_RETURN_IF_ERROR(dim(c.n_input, "n_input"));
  IRNN_RETURN_IF_ERROR(dim(c.n_cell, "n_cell"));
  IRNN_RETURN_IF_ERROR(dim(c.n_output, "n_output"));
  if (!c.use_projection && c.n_output != c.n_cell) {
    return Status::InvalidArgument("TfliteLstmParams: config.n_output is " + std::to_string(c.n_output) +
                                   " but must equal n_cell = " + std::to_string(c.n_cell) + " without projection");
  }
  if (c.use_projection_bias && !c.use_projection) {
    return Status::InvalidArgument("TfliteLstmParams: config.use_projection_bias is true but use_projection is false");
  }
  if (c.use_peephole && c.tflite_compat && c.n_output > c.n_cell) {
    // TFLite's peephole reads n_output weights per batch row (numerics.md §5 Q1): past the end here.
    return Status::InvalidArgument("TfliteLstmParams: config.n_output is " + std::to_string(c.n_output) +
                                   " but must be <= n_cell = " + std::to_string(c.n_cell) +
                                   " for a peephole LSTM in tflite_compat mode");
  }
  if (c.rounding != Rounding::kDouble && c.rounding != Rounding::kSingle) {
    return Status::InvalidArgument("TfliteLstmParams: config.rounding is " +
                                   std::to_string(static_cast<int>(c.rounding)) + " but must be 0 or 1");
  }
  const int64_t n_in = c.n_input, n_cell = c.n_cell, n_out = c.n_output;
  const TfliteLstmWeights& w = p.weights;
  for (int g = 0; g < 4; ++g) {
    const bool gate_present = !(c.use_cifg && g == kInputGate);
    IRNN_RETURN_IF_ERROR(CheckSize(w.input_to_gate[g], Field("weights.input_to_gate", g), gate_present,
                                   "n_cell*n_input", n_cell * n_in));
    IRNN_RETURN_IF_ERROR(CheckSize(w.recurrent_to_gate[g], Field("weights.recurrent_to_gate", g), gate_present,
                                   "n_cell*n_output", n_cell * n_out));
    IRNN_RETURN_IF_ERROR(CheckSize(w.gate_bias[g], Field("weights.gate_bias", g), gate_present, "n_cell", n_cell));
    IRNN_RETURN_IF_ERROR(CheckSize(w.cell_to_gate[g], Field("weights.cell_to_gate", g),
                                   gate_present && c.use_peephole && g != kCellGate, "n_cell", n_cell));
    IRNN_RETURN_IF_ERROR(CheckSize(w.layer_norm[g], Field("weights.layer_norm", g),
                                   gate_present && c.use_layer_norm, "n_cell", n_cell));
    IRNN_RETURN_IF_ERROR(CheckSize(p.input_to_gate_effective_bias[g], Field("input_to_gate_effective_bias", g),
                                   gate_present, "n_cell", n_cell));
    IRNN_RETURN_IF_ERROR(CheckSize(p.recurrent_to_gate_effective_bias[g],
                                   Field("recurrent_to_gate_effective_bias", g), gate_present, "n_cell", n_cell));
    IRNN_RETURN_IF_ERROR(CheckChannelScale(p.input_to_gate_channel_scale[g], Field("input_to_gate_channel_scale", g),
                                           gate_present, "n_cell", n_cell));
    IRNN_RETURN_IF_ERROR(CheckChannelScale(p.recurrent_to_gate_channel_scale[g],
                                           Field("recurrent_to_gate_channel_scale", g), gate_present, "n_cell",
                                           n_cell));
    if (!gate_present) continue;
    // A matmul with per-channel multipliers does not use its per-tensor one.
    if (p.input_to_gate_channel_scale[g].empty()) {
      IRNN_RETURN_IF_ERROR(CheckMultiplier(p.input_to_gate_scale[g], Field("input_to_gate_scale", g)));
    }
    if (p.recurrent_to_gate_channel_scale[g].empty()) {
      IRNN_RETURN_IF_ERROR(CheckMultiplier(p.recurrent_to_gate_scale[g], Field("recurrent_to_gate_scale", g)));
    }
    if (c.use_peephole && g != kCellGate) {
      IRNN_RETURN_IF_ERROR(CheckMultiplier(p.cell_to_gate_scale[g], Field("cell_to_gate_scale", g)));
    }
    if (c.use_layer_norm) {
      // The LayerNorm output multiplies by the LN scale with 12 more bits of left shift.
      IRNN_RETURN_IF_ERROR(CheckMultiplier(p.layer_norm_scale[g], Field("layer_norm_scale", g), 12));
      if (p.variance_guard[g] < 1) {
        return Status::InvalidArgument("TfliteLstmParams: " + Field("variance_guard", g) + " is " +
                                       std::to_string(p.variance_guard[g]) + " but must be >= 1");
      }
    }
  }
  IRNN_RETURN_IF_ERROR(CheckSize(w.projection, "weights.projection", c.use_projection, "n_output*n_cell",
                                 n_out * n_cell));
  IRNN_RETURN_IF_ERROR(CheckSize(w.projection_bias, "weights.projection_bias", c.use_projection_bias, "n_output",
                                 n_out));
  IRNN_RETURN_IF_ERROR(CheckSize(p.projection_effective_bias, "projection_effective_bias", c.use_projection,
                                 "n_output", n_out));
  IRNN_RETURN_IF_ERROR(CheckChannelScale(p.projection_channel_scale, "projection_channel_scale", c.use_projection,
                                         "n_output", n_out));
  IRNN_RETURN_IF_ERROR(CheckMultiplier(p.hidden_scale, "hidden_scale"));
  if (c.use_projection && p.projection_channel_scale.empty()) {
    IRNN_RETURN_IF_ERROR(CheckMultiplier(p.projection_scale, "projection_scale"));
  }
  if (p.cell_scale < -15 || p.cell_scale > -9) {
    return Status::InvalidArgument("TfliteLstmParams: cell_scale is " + std::to_string(p.cell_scale) +
                                   " but must be in [-15, -9] (tanh of the cell supports 0..6 integer bits)");
  }
  if (p.quantized_cell_clip < 0) {
    return Status::InvalidArgument("TfliteLstmParams: quantized_cell_clip is " +
                                   std::to_string(p.quantized_cell_clip) + " but must be >= 0");
  }
  if (p.quantized_proj_clip < 0) {
    return Status::InvalidArgument("TfliteLstmParams: quantized_proj_clip is " +
                                   std::to_string(p.quantized_proj_clip) + " but must be >= 0");
  }
  if (c.activation == LstmActivation::kPwl) {
    // Every int16 input must be covered and the outputs must be valid Q0.15 gate values.
    const struct {
      const PwlTable* t;
      const char* name;
      int32_t lo;
    } tables[] = {{&p.pwl_sigmoid, "pwl_sigmoid", 0}, {&p.pwl_tanh_gate, "pwl_tanh_gate", -32767},
                  {&p.pwl_tanh_cell, "pwl_tanh_cell", -32767}};
    for (const auto& e : tables) {
      const Status s = ValidatePwlTable(*e.t);
      if (!s.ok()) return Status::InvalidArgument(std::string("TfliteLstmParams: ") + e.name + ": " + s.message());
      if (e.t->output_min < e.lo || e.t->output_max > 32767) {
        return Status::InvalidArgument(std::string("TfliteLstmParams: ") + e.name + ".output range [" +
                                       std::to_string(e.t->output_min) + ", " + std::to_string(e.t->output_max) +
                                       "] must lie within [" + std::to_string(e.lo) + ", 32767]");
      }
    }
  } else if (c.activation != LstmActivation::kFixedPoint) {
    return Status::InvalidArgument("TfliteLstmParams: config.activation is " +
                                   std::to_string(static_cast<int>(c.activation)) + " but must be 0 or 1");
  }
  IRNN_RETURN_IF_ERROR(CheckZeroPoint(p.hidden_zp, "hidden_zp"));
  IRNN_RETURN_IF_ERROR(CheckZeroPoint(p.output_zp, "output_zp"));
  return Status::Ok();
}

Status TfliteLstm::Create(TfliteLstmParams params, KernelPath path, std::unique_ptr<TfliteLstm>* out) {
  return Create(std::move(params), path, 1, out);
}

int TfliteLstm::threads() const { return pool_ ? pool_->size() : 1; }

Status TfliteLstm::Create(TfliteLstmParams params, KernelPath path, int threads, std::unique_ptr<TfliteLstm>* out) {
  if (out == nullptr) return Status::InvalidArgument("TfliteLstm::Create: out is null");
  if (threads < 1 || threads > 64) {
    return Status::InvalidArgument("TfliteLstm::Create: threads is " + std::to_string(threads) +
                                   " but must be in [1, 64]");
  }
  IRNN_RETURN_IF_ERROR(ValidateTfliteLstmParams(params));
  KernelPath resolved = KernelPath::kScalar;
  IRNN_RETURN_IF_ERROR(ResolveKernelPath(path, &resolved));
  std::unique_ptr<TfliteLstm> layer(new TfliteLstm());
  layer->params_ = std::move(params);
  layer->path_ = resolved;
  layer->kernels_ = &GetLstmKernels(resolved);
  layer->pwl_kernels_ = &GetPwlKernels(resolved);
  auto packed = std::make_shared<TfliteLstmPacked>();
  const TfliteLstmConfig& c = layer->params_.config;
  const TfliteLstmWeights& w = layer->params_.weights;
  for (int g = 0; g < 4; ++g) {
    if (w.input_to_gate[g].empty()) continue;  // an absent gate (CIFG)
    layer->kernels_->PackS8(w.input_to_gate[g].data(), c.n_cell, c.n_input, &packed->input_to_gate[g]);
    layer->kernels_->PackS8(w.recurrent_to_gate[g].data(), c.n_cell, c.n_output, &packed->recurrent_to_gate[g]);
  }
  if (c.use_projection) layer->kernels_->PackS8(w.projection.data(), c.n_output, c.n_cell, &packed->projection);
  // The fused streaming step serves any activation (PWL through lookup tables) and per-tensor or per-row
  // multipliers (numerics.md §7.1).
  const bool streamable = layer->kernels_->PackLstmStreamS8 != nullptr &&
                          layer->kernels_->LstmStreamStepS16 != nullptr && !c.use_peephole && !c.use_layer_norm;
  if (streamable) {
    const int8_t* input_w[4] = {};
    const int8_t* recurrent_w[4] = {};
    for (int g = 0; g < 4; ++g) {
      if (w.input_to_gate[g].empty()) continue;  // an absent gate (CIFG)
      input_w[g] = w.input_to_gate[g].data();
      recurrent_w[g] = w.recurrent_to_gate[g].data();
    }
    layer->kernels_->PackLstmStreamS8(input_w, recurrent_w, c.n_cell, c.n_input, c.n_output, &packed->stream);
    if (c.activation == LstmActivation::kPwl && packed->pwl_sigmoid_table.empty()) {
      packed->pwl_sigmoid_table = PwlLookupTableS16(layer->params_.pwl_sigmoid);
      packed->pwl_tanh_gate_table = PwlLookupTableS16(layer->params_.pwl_tanh_gate);
      packed->pwl_tanh_cell_table = PwlLookupTableS16(layer->params_.pwl_tanh_cell);
    }
    if (!StreamPotShifts(layer->params_, &packed->stream_pot_shift)) packed->stream_pot_shift.clear();
    packed->stream_hidden_pot_shift = StreamHiddenPotShift(layer->params_);
  }
  if (c.activation == LstmActivation::kPwl && layer->kernels_->LstmRecurrentGatesS16 != nullptr &&
      packed->pwl_sigmoid_table.empty()) {
    packed->pwl_sigmoid_table = PwlLookupTableS16(layer->params_.pwl_sigmoid);
    packed->pwl_tanh_gate_table = PwlLookupTableS16(layer->params_.pwl_tanh_gate);
    packed->pwl_tanh_cell_table = PwlLookupTableS16(layer->params_.pwl_tanh_cell);
  }
  {
    bool pot = layer->kernels_->LstmRecurrentGatesS16 != nullptr;
    const size_t padded = static_cast<size_t>(c.n_cell + 15) / 16 * 16;
    for (int g = 0; g < 4 && pot; ++g) {
      if (w.recurrent_to_gate[g].empty()) continue;  // an absent gate (CIFG)
      const std::vector<QuantizedMultiplier>& channel = layer->params_.recurrent_to_gate_channel_scale[g];
      std::vector<int32_t>& right = packed->recurrent_pot_right[g];
      right.assign(padded, 1);
      for (int r = 0; r < c.n_cell && pot; ++r) {
        const QuantizedMultiplier m = channel.empty() ? layer->params_.recurrent_to_gate_scale[g] : channel[r];
        pot = PotRecurrentMultiplier(m, c.rounding);
        right[static_cast<size_t>(r)] = -m.shift;
      }
    }
    if (!pot) {
      for (auto& right : packed->recurrent_pot_right) right.clear();
    }
    bool fold = pot;
    // The largest |input contribution| and |recurrent contribution| (MBQM results) of any value: with both
    // at most INT32_MAX together, intended mode's sat32(in + rec) never acts (input_pot).
    int64_t in_max = 0, rec_max = 0;
    for (int g = 0; g < 4 && pot; ++g) {
      if (w.recurrent_to_gate[g].empty()) continue;  // an absent gate (CIFG)
      const std::vector<QuantizedMultiplier>& in_channel = layer->params_.input_to_gate_channel_scale[g];
      const std::vector<QuantizedMultiplier>& rec_channel = layer->params_.recurrent_to_gate_channel_scale[g];
      for (int r = 0; r < c.n_cell; ++r) {
        const QuantizedMultiplier mi = in_channel.empty() ? layer->params_.input_to_gate_scale[g] : in_channel[r];
        const QuantizedMultiplier mh = rec_channel.empty() ? layer->params_.recurrent_to_gate_scale[g] : rec_channel[r];
        const int64_t bx = RowAccumulatorBound(w.input_to_gate[g].data() + int64_t{r} * c.n_input, c.n_input,
                                               layer->params_.input_to_gate_effective_bias[g], r);
        const int64_t bh = RowAccumulatorBound(w.recurrent_to_gate[g].data() + int64_t{r} * c.n_output, c.n_output,
                                               layer->params_.recurrent_to_gate_effective_bias[g], r);
        in_max = std::max(in_max, PotRecurrentMultiplier(mi, c.rounding) ? PotResultBound(bx, mi.shift) : int64_t{1} << 31);
        rec_max = std::max(rec_max, PotResultBound(bh, mh.shift));
      }
    }
    const bool input_pot = pot && in_max + rec_max <= INT32_MAX;
    // Without that proof, intended mode's pot step bounds the input contribution to +-2^30 and needs
    // |rec| <= 2^29 (every recurrent k >= 2); where a row has k = 1 (multiplier 1/2) the layer takes the
    // general per-row step instead.
    if (pot && !input_pot && !c.tflite_compat && rec_max > (int64_t{1} << 29)) {
      pot = false;
      fold = false;
      for (auto& right : packed->recurrent_pot_right) right.clear();
    }
    for (int g = 0; g < 4 && pot; ++g) {
      if (w.recurrent_to_gate[g].empty()) continue;  // an absent gate (CIFG)
      std::vector<int32_t>& nudge = packed->recurrent_pot_nudge[g];
      nudge.assign(packed->recurrent_pot_right[g].size(), 0);
      const int8_t* wr = w.recurrent_to_gate[g].data();
      const std::vector<int32_t>& bias = layer->params_.recurrent_to_gate_effective_bias[g];
      for (int r = 0; r < c.n_cell && fold; ++r) {
        int64_t bound = 0;
        for (int k = 0; k < c.n_output; ++k) bound += 128 * std::abs(int64_t{wr[int64_t{r} * c.n_output + k]});
        const int64_t b = bias[static_cast<size_t>(r)];
        const int right = packed->recurrent_pot_right[g][static_cast<size_t>(r)];
        bound += (b < 0 ? -b : b) + (int64_t{1} << right);
        fold = bound <= INT32_MAX;
        if (fold) nudge[static_cast<size_t>(r)] = int32_t{1} << right;
      }
    }
    if (!fold) {
      for (auto& nudge : packed->recurrent_pot_nudge) nudge.clear();
    }
    packed->input_pot = pot && input_pot;
  }
  layer->packed_ = std::move(packed);
  if (threads > 1) layer->pool_ = std::make_shared<SpinPool>(threads);
  *out = std::move(layer);
  return Status::Ok();
}

Status TfliteLstm::NewState(int batch, TfliteLstmState* state) const {
  if (state == nullptr) return Status::InvalidArgument("TfliteLstm::NewState: state is null");
  if (batch < 1 || batch > kMaxBatch) {
    return Status::InvalidArgument("TfliteLstm::NewState: batch is " + std::to_string(batch) +
                                   " but must be in [1, " + std::to_string(kMaxBatch) + "]");
  }
  const TfliteLstmConfig& c = params_.config;
  // About 30 bytes per cell unit and 6 per output unit: refuse states above 1 GiB.
  const int64_t bytes = int64_t{batch} * (int64_t{c.n_cell} * 30 + int64_t{c.n_output} * 6);
  if (bytes > (int64_t{1} << 30)) {
    return Status::OutOfRange("TfliteLstm::NewState: batch " + std::to_string(batch) + " x (n_cell " +
                              std::to_string(c.n_cell) + ", n_output " + std::to_string(c.n_output) +
                              ") needs " + std::to_string(bytes) + " bytes of state but must need at most 1 GiB");
  }
  const size_t n_cell = static_cast<size_t>(batch) * c.n_cell;
  const size_t n_out = static_cast<size_t>(batch) * c.n_output;
  state->batch_ = batch;
  state->h_.assign(n_out, 0);
  state->c_.assign(n_cell, 0);
  for (auto& g : state->gates_) g.assign(n_cell, 0);
  state->acc_.assign(std::max(n_cell, n_out), 0);
  state->acc2_.assign(c.tflite_compat ? 0 : n_cell, 0);
  for (auto& r : state->recurrent_) r.assign(n_cell, 0);
  state->sequence_input_.assign(4 * n_cell, 0);  // Step's input-to-gate results; Run may grow it
  state->tanh_cell_.assign(n_cell, 0);
  state->hidden_.assign(c.use_projection ? n_cell : 0, 0);
  return ResetState(state);
}

Status TfliteLstm::ResetState(TfliteLstmState* state) const {
  if (state == nullptr) return Status::InvalidArgument("TfliteLstm::ResetState: state is null");
  std::fill(state->h_.begin(), state->h_.end(), static_cast<int8_t>(params_.output_zp));
  std::fill(state->c_.begin(), state->c_.end(), int16_t{0});
  return Status::Ok();
}

Status TfliteLstm::Step(const int8_t* x, TfliteLstmState* state, int8_t* out, TfliteLstmTrace* trace) const {
  if (x == nullptr) return Status::InvalidArgument("TfliteLstm::Step: x is null");
  if (out == nullptr) return Status::InvalidArgument("TfliteLstm::Step: out is null");
  if (state == nullptr) return Status::InvalidArgument("TfliteLstm::Step: state is null");
  const Status s = CheckState(*state);
  if (!s.ok()) return Status(s.code(), "TfliteLstm::Step: " + s.message());
  StepUnchecked(x, nullptr, state, out, trace);
  return Status::Ok();
}

Status TfliteLstm::CheckState(const TfliteLstmState& state) const {
  const TfliteLstmConfig& c = params_.config;
  const size_t b = static_cast<size_t>(state.batch_);
  const size_t n_cell = b * c.n_cell;
  const size_t n_out = b * c.n_output;
  bool ok = state.batch_ >= 1 && state.h_.size() == n_out && state.c_.size() == n_cell &&
            state.tanh_cell_.size() == n_cell && state.acc_.size() == std::max(n_cell, n_out) &&
            state.acc2_.size() == (c.tflite_compat ? 0 : n_cell) &&
            state.hidden_.size() == (c.use_projection ? n_cell : 0);
  for (const auto& g : state.gates_) ok = ok && g.size() == n_cell;
  for (const auto& r : state.recurrent_) ok = ok && r.size() == n_cell;
  if (!ok) {
    // Every buffer is checked, not only h and c: a state of another mode (tflite_compat, projection) with
    // the same sizes lacks a scratch buffer that this layer writes.
    return Status::InvalidArgument("state was not made by NewState of a layer of this shape and mode (n_cell = " +
                                   std::to_string(c.n_cell) + ", n_output = " + std::to_string(c.n_output) +
                                   ", tflite_compat = " + (c.tflite_compat ? "true" : "false") +
                                   ", use_projection = " + (c.use_projection ? "true" : "false") + ")");
  }
  return Status::Ok();
}

Status TfliteLstm::Run(const int8_t* x, int steps, TfliteLstmState* state, int8_t* out) const {
  if (steps < 0) {
    return Status::InvalidArgument("TfliteLstm::Run: steps is " + std::to_string(steps) + " but must be >= 0");
  }
  if (steps == 0) return Status::Ok();
  if (x == nullptr) return Status::InvalidArgument("TfliteLstm::Run: x is null");
  if (out == nullptr) return Status::InvalidArgument("TfliteLstm::Run: out is null");
  if (state == nullptr) return Status::InvalidArgument("TfliteLstm::Run: state is null");
  const Status s = CheckState(*state);
  if (!s.ok()) return Status(s.code(), "TfliteLstm::Run: " + s.message());
  const TfliteLstmConfig& c = params_.config;
  const int batch = state->batch_;
  const size_t in_stride = static_cast<size_t>(batch) * c.n_input;
  const size_t out_stride = static_cast<size_t>(batch) * c.n_output;
  const int64_t per_step = int64_t{batch} * c.n_cell;  // one gate's input-to-gate results for one step
  // Chunks of the sequence: the input projection of a chunk's steps, then those steps. Where the input
  // weights fit in L2 (<= 1 MiB: H <= 512 with n_input = H), chunks of up to 256 KiB of workspace (4
  // gates x int32), so that the results are still in L2 when the steps read them (measured, B = 16,
  // amx path, 1 thread: H = 128/256/512 4-6 % faster per step than 4 MiB chunks, whose results went to
  // L3 and back); larger input weights are read again per chunk, so their chunks stay up to ~4 MiB.
  // At least one step.
  const int64_t input_weight_bytes = int64_t{4} * c.n_cell * c.n_input;
  const int64_t budget = input_weight_bytes <= (int64_t{1} << 20) ? int64_t{1} << 16 : int64_t{1} << 20;
  const int chunk = static_cast<int>(std::clamp<int64_t>(budget / (4 * per_step), 1, steps));
  // The four gates' parts each start on a 64-byte boundary (stride rounded up to 16 int32): the amx
  // path stores whole 16-lane rows, which straddled two cache lines at the vector's own alignment
  // (16 bytes past one, for a large vector from malloc).
  const int64_t part_stride = AlignedPartStride(per_step * chunk);
  int32_t* const workspace = AlignedParts(4, per_step * chunk, &state->sequence_input_);
  const bool steps_split = SplitsRows(pool_.get(), c.n_cell, int64_t{4} * batch * c.n_cell * c.n_output);
  for (int t0 = 0; t0 < steps; t0 += chunk) {
    const int len = std::min(chunk, steps - t0);
    const int8_t* xc = x + t0 * in_stride;
    // The matmul's inputs at a 64-byte boundary (aligned_chunk.h).
    const int8_t* xm = AlignedChunk(xc, static_cast<size_t>(len) * in_stride, c.n_input, &state->sequence_x_);
    int32_t* parts[4] = {};
    for (int g = 0; g < 4; ++g) {
      if (params_.weights.input_to_gate[g].empty()) continue;  // an absent gate (CIFG)
      parts[g] = workspace + g * part_stride;
    }
    // Rows of the product are (step, stream) pairs: the same products and requantization as Step's,
    // len * batch input rows at once.
    // Split only where the steps split too: each thread then reads the rows it wrote (a step on one
    // thread reading the worker's rows from the other core cost ~10 % at H = 256, B = 1, amx path).
    ForRowRanges(c.n_cell, steps_split ? int64_t{4} * len * batch * c.n_cell * c.n_input : 0, [&](int r0, int r1) {
      for (int g = 0; g < 4; ++g) {
        if (parts[g] == nullptr) continue;
        Matmul(packed_->input_to_gate[g], r0, r1, params_.input_to_gate_effective_bias[g].data(), xm, len * batch,
               params_.input_to_gate_scale[g], params_.input_to_gate_channel_scale[g], parts[g]);
      }
    });
    for (int t = 0; t < len; ++t) {
      const int32_t* step_parts[4] = {};
      for (int g = 0; g < 4; ++g) step_parts[g] = parts[g] != nullptr ? parts[g] + t * per_step : nullptr;
      StepUnchecked(xc + t * in_stride, step_parts, state, out + (t0 + t) * out_stride, nullptr);
    }
  }
  return Status::Ok();
}

// One requantized matmul of a packed matrix: per-tensor (numerics.md §4.1) or, when `channel` is set,
// per-channel (§7.1).
void TfliteLstm::Matmul(const PackedS8& w, int row_begin, int row_end, const int32_t* bias, const int8_t* x,
                        int batch, QuantizedMultiplier m, const std::vector<QuantizedMultiplier>& channel,
                        int32_t* out) const {
  kernels_->GemvPackedRequantS32(w, row_begin, row_end, bias, x, batch, m, channel.empty() ? nullptr : channel.data(),
                                 params_.config.rounding, out);
}

void TfliteLstm::ForRowRanges(int rows, int64_t macs, const std::function<void(int, int)>& fn) const {
  irnn::ForRowRanges(pool_.get(), rows, macs, fn);
}

// Gate pre-activation and activation for one gate (numerics.md §4.1-§4.2, §3 for LayerNorm).
void TfliteLstm::ComputeGate(int g, const int32_t* input_part, TfliteLstmState* s) const {
  const TfliteLstmConfig& c = params_.config;
  const LstmKernels& k = *kernels_;
  const TfliteLstmWeights& w = params_.weights;
  const Rounding rnd = c.rounding;
  const int batch = s->batch_;
  const int n = batch * c.n_cell;
  int16_t* gate = s->gates_[g].data();
  int32_t* acc = s->acc_.data();
  const bool peephole = c.use_peephole && g != kCellGate;

  std::copy(input_part, input_part + n, acc);  // the input-to-gate matmul's result (StepUnchecked, Run)
  if (c.tflite_compat) {
    // Each contribution saturates to int16 on its own (numerics.md §5 Q5).
    k.SaturateS32ToS16(acc, n, gate);
    k.AddSatS32IntoS16(s->recurrent_[g].data(), n, gate);
    if (peephole) {
      // TFLite passes n_output as the peephole length and batch stride (numerics.md §5 Q1).
      const int m = batch * c.n_output;
      k.PeepholeRequantS32(w.cell_to_gate[g].data(), c.n_output, s->c_.data(), m, params_.cell_to_gate_scale[g], rnd,
                           acc);
      k.AddSatS32IntoS16(acc, m, gate);
    }
  } else {
    int32_t* acc2 = s->acc2_.data();
    k.AddSatS32IntoS32(s->recurrent_[g].data(), n, acc);
    if (peephole) {
      k.PeepholeRequantS32(w.cell_to_gate[g].data(), c.n_cell, s->c_.data(), n, params_.cell_to_gate_scale[g], rnd,
                           acc2);
      k.AddSatS32IntoS32(acc2, n, acc);
    }
    k.SaturateS32ToS16(acc, n, gate);
  }
  if (c.use_layer_norm) {
    k.LayerNormS16(gate, w.layer_norm[g].data(), w.gate_bias[g].data(), c.n_cell, batch, params_.layer_norm_scale[g],
                   params_.variance_guard[g], /*exact_statistics=*/!c.tflite_compat, rnd, gate);
  }
}

void TfliteLstm::Sigmoid(int16_t* v, int n) const {
  if (params_.config.activation == LstmActivation::kPwl) {
    pwl_kernels_->EvaluateS16(params_.pwl_sigmoid, v, n, v);
  } else {
    kernels_->LogisticQ3S16(v, n, v);
  }
}

void TfliteLstm::TanhGate(int16_t* v, int n) const {
  if (params_.config.activation == LstmActivation::kPwl) {
    pwl_kernels_->EvaluateS16(params_.pwl_tanh_gate, v, n, v);
  } else {
    kernels_->TanhS16(v, n, 3, v);
  }
}

void TfliteLstm::TanhCell(const int16_t* c, int n, int16_t* out) const {
  if (params_.config.activation == LstmActivation::kPwl) {
    pwl_kernels_->EvaluateS16(params_.pwl_tanh_cell, c, n, out);
  } else {
    kernels_->TanhS16(c, n, 15 + params_.cell_scale, out);
  }
}

// out = the projection of the state's hidden vector (numerics.md §4.4), clipped (§5 Q3).
void TfliteLstm::Project(TfliteLstmState* s, int8_t* out) const {
  const TfliteLstmConfig& c = params_.config;
  const int batch = s->batch_;
  ForRowRanges(c.n_output, int64_t{batch} * c.n_output * c.n_cell, [&](int r0, int r1) {
    Matmul(packed_->projection, r0, r1, params_.projection_effective_bias.data(), s->hidden_.data(), batch,
           params_.projection_scale, params_.projection_channel_scale, s->acc_.data());
  });
  int lo = -128, hi = 127;
  if (params_.quantized_proj_clip > 0) {
    // TFLite clips raw int8 values around 0, ignoring the zero point (numerics.md §5 Q3).
    const int center = c.tflite_compat ? 0 : params_.output_zp;
    lo = std::max(-128, center - params_.quantized_proj_clip);
    hi = std::min(127, center + params_.quantized_proj_clip);
  }
  kernels_->AddZeroPointClampS32ToS8(s->acc_.data(), batch * c.n_output, params_.output_zp, static_cast<int8_t>(lo),
                                     static_cast<int8_t>(hi), out);
}

void TfliteLstm::StepUnchecked(const int8_t* x, const int32_t* const* input_part, TfliteLstmState* s, int8_t* out,
                               TfliteLstmTrace* trace) const {
  const TfliteLstmConfig& c = params_.config;
  // The matmuls of all gates first: they read only x and the previous h (numerics.md §4.1), and
  // together they are one product whose rows the threads split. Run has computed the input-to-gate
  // ones already (input_part); Step computes them here, into the state.
  const int32_t* parts[4] = {};
  int32_t* own[4] = {};
  for (int g = 0; g < 4; ++g) {
    if (params_.weights.recurrent_to_gate[g].empty()) continue;  // an absent gate (CIFG)
    if (input_part != nullptr) {
      parts[g] = input_part[g];
    } else {
      own[g] = s->sequence_input_.data() + static_cast<int64_t>(g) * s->batch_ * c.n_cell;
      parts[g] = own[g];
    }
  }
  const LstmKernels& k = *kernels_;
  const int batch = s->batch_;
  const int n = batch * c.n_cell;
  const int n_out = batch * c.n_output;
  // PWL activations only where the fused recurrent kernel reads the layer's tables (the AVX-512 paths).
  const bool pwl_tables = !packed_->pwl_sigmoid_table.empty() && k.LstmRecurrentGatesS16 != nullptr;
  const bool fused_epilogue = !c.use_peephole && !c.use_layer_norm && trace == nullptr &&
                              (c.activation == LstmActivation::kFixedPoint || pwl_tables);
  // The recurrent matmuls and the epilogue in one kernel where the path has one (per-tensor or
  // per-channel scales).
  const bool fused_recurrent = fused_epilogue && k.LstmRecurrentGatesS16 != nullptr;
  // Step with few rows: the input and recurrent matmuls and the epilogue in one pass over one weight
  // stream (LstmStreamStepS16, packed at Create where the options allow it; any activation, per-tensor or
  // per-row multipliers). 16 or more rows take the paths below, whose input matmul shares each weight
  // load among more rows (and runs on AMX tiles).
  const bool stream = !c.use_peephole && !c.use_layer_norm && trace == nullptr && input_part == nullptr &&
                      batch < kMaxStreamBatch && !packed_->stream.data.empty();
  LstmGateEpilogue e;
  if (fused_epilogue || stream) {
    // The whole gate epilogue in one pass (the same as the kernels below composed, numerics.md §4.1-§4.4).
    for (int g = 0; g < 4; ++g) {
      if (parts[g] == nullptr) continue;
      e.input[g] = parts[g];
      e.recurrent[g] = s->recurrent_[g].data();
    }
    e.n = n;
    e.tflite_compat = c.tflite_compat;
    e.gate_shift = 30 + params_.cell_scale;
    e.clip = params_.quantized_cell_clip;
    e.cell_integer_bits = 15 + params_.cell_scale;
    e.hidden_scale = params_.hidden_scale;
    e.rounding = c.rounding;
    e.c = s->c_.data();
    // TFLite stores the pre-projection vector with the negated hidden zero point (numerics.md §5 Q2).
    e.hidden_zp = c.use_projection && c.tflite_compat ? -params_.hidden_zp : params_.hidden_zp;
    e.out = c.use_projection ? s->hidden_.data() : out;
    if (c.activation == LstmActivation::kPwl) {
      e.sigmoid_table = packed_->pwl_sigmoid_table.data();
      e.tanh_gate_table = packed_->pwl_tanh_gate_table.data();
      e.tanh_cell_table = packed_->pwl_tanh_cell_table.data();
    }
  }
  if (stream) {
    LstmStreamStep ss;
    const bool pot = !packed_->stream_pot_shift.empty();
    ss.w = &packed_->stream;
    for (int g = 0; g < 4; ++g) {
      if (own[g] == nullptr) continue;
      ss.input_bias[g] = params_.input_to_gate_effective_bias[g].data();
      ss.recurrent_bias[g] = params_.recurrent_to_gate_effective_bias[g].data();
      ss.input_m[g] = params_.input_to_gate_scale[g];
      ss.recurrent_m[g] = params_.recurrent_to_gate_scale[g];
      if (!params_.input_to_gate_channel_scale[g].empty()) {
        ss.input_channel[g] = params_.input_to_gate_channel_scale[g].data();
      }
      if (!params_.recurrent_to_gate_channel_scale[g].empty()) {
        ss.recurrent_channel[g] = params_.recurrent_to_gate_channel_scale[g].data();
      }
      if (pot) {
        ss.input_pot_shift[g] = packed_->stream_pot_shift.data() + static_cast<int64_t>(g) * c.n_cell;
        ss.recurrent_pot_shift[g] = packed_->stream_pot_shift.data() + static_cast<int64_t>(4 + g) * c.n_cell;
      }
      ss.input_scratch[g] = own[g];
      ss.recurrent_scratch[g] = s->recurrent_[g].data();
    }
    if (c.activation == LstmActivation::kPwl) {
      ss.sigmoid_table = packed_->pwl_sigmoid_table.data();
      ss.tanh_gate_table = packed_->pwl_tanh_gate_table.data();
      ss.tanh_cell_table = packed_->pwl_tanh_cell_table.data();
    }
    ss.hidden_pot_shift = packed_->stream_hidden_pot_shift;
    ss.rounding = c.rounding;
    ss.x = x;
    ss.h = s->h_.data();
    ss.batch = batch;
    ss.n_cell = c.n_cell;
    ss.gates = e;
    ss.reverse = (s->stream_steps_++ & 1u) != 0;
    const int64_t macs = int64_t{4} * batch * c.n_cell * (c.n_output + c.n_input);
    ForRowRanges(c.n_cell, macs, [&](int r0, int r1) { k.LstmStreamStepS16(ss, r0, r1); });
    if (c.use_projection) Project(s, out);
    std::copy(out, out + n_out, s->h_.begin());
    return;
  }
  if (fused_recurrent) {
    LstmRecurrentStep rs;
    for (int g = 0; g < 4; ++g) {
      if (parts[g] == nullptr) continue;
      rs.w[g] = &packed_->recurrent_to_gate[g];
      rs.bias[g] = params_.recurrent_to_gate_effective_bias[g].data();
      rs.m[g] = params_.recurrent_to_gate_scale[g];
      rs.scratch[g] = s->recurrent_[g].data();
      const std::vector<QuantizedMultiplier>& channel = params_.recurrent_to_gate_channel_scale[g];
      rs.channel[g] = channel.empty() ? nullptr : channel.data();
      if (!packed_->recurrent_pot_right[g].empty()) rs.pot_right[g] = packed_->recurrent_pot_right[g].data();
      if (!packed_->recurrent_pot_nudge[g].empty()) rs.pot_nudge[g] = packed_->recurrent_pot_nudge[g].data();
    }
    rs.input_pot = packed_->input_pot;
    rs.rounding = c.rounding;
    rs.h = s->h_.data();
    rs.batch = batch;
    rs.n_cell = c.n_cell;
    rs.gates = e;
    // The walk direction alternates step by step, as the streaming step's (one toggle for both).
    rs.reverse = (s->stream_steps_++ & 1u) != 0;
    // Each thread's cells: their input-to-gate rows (Step), then the fused kernel, which reads only those.
    const int64_t macs = int64_t{4} * batch * c.n_cell * (c.n_output + (input_part == nullptr ? c.n_input : 0));
    ForRowRanges(c.n_cell, macs, [&](int r0, int r1) {
      for (int g = 0; g < 4; ++g) {
        if (own[g] == nullptr) continue;
        Matmul(packed_->input_to_gate[g], r0, r1, params_.input_to_gate_effective_bias[g].data(), x, batch,
               params_.input_to_gate_scale[g], params_.input_to_gate_channel_scale[g], own[g]);
      }
      k.LstmRecurrentGatesS16(rs, r0, r1);
    });
    if (c.use_projection) Project(s, out);
    std::copy(out, out + n_out, s->h_.begin());
    return;
  }
  const int64_t macs = int64_t{4} * s->batch_ * c.n_cell * (c.n_output + (input_part == nullptr ? c.n_input : 0));
  // Every other step walks the weights the other way where the path has GemvPackedRequantWalkS32 (the
  // gates from the last, each matmul's rows from the last) and a thread's rows of the gates' matrices
  // exceed AlternateWalkMinBytes(): the rows read last are still in L2 when the next step starts (as
  // the fused step's LstmRecurrentStep::reverse). The same results.
  const bool alternate = k.GemvPackedRequantWalkS32 != nullptr && (s->stream_steps_++ & 1u) != 0;
  ForRowRanges(c.n_cell, macs, [&](int r0, int r1) {
    const int64_t walk = int64_t{c.use_cifg ? 3 : 4} * (r1 - r0) *
                         (c.n_output + (input_part == nullptr ? c.n_input : 0));
    const bool reverse = alternate && walk > AlternateWalkMinBytes();
    const auto matmul = [&](const PackedS8& w, const int32_t* bias, const int8_t* v, QuantizedMultiplier m,
                            const std::vector<QuantizedMultiplier>& channel, int32_t* dst) {
      if (reverse) {
        k.GemvPackedRequantWalkS32(w, r0, r1, bias, v, s->batch_, m, channel.empty() ? nullptr : channel.data(),
                                   c.rounding, dst, true);
      } else {
        Matmul(w, r0, r1, bias, v, s->batch_, m, channel, dst);
      }
    };
    for (int i = 0; i < 4; ++i) {
      const int g = reverse ? 3 - i : i;
      if (parts[g] == nullptr) continue;
      if (own[g] != nullptr) {
        matmul(packed_->input_to_gate[g], params_.input_to_gate_effective_bias[g].data(), x,
               params_.input_to_gate_scale[g], params_.input_to_gate_channel_scale[g], own[g]);
      }
      matmul(packed_->recurrent_to_gate[g], params_.recurrent_to_gate_effective_bias[g].data(), s->h_.data(),
             params_.recurrent_to_gate_scale[g], params_.recurrent_to_gate_channel_scale[g], s->recurrent_[g].data());
    }
  });
  if (fused_epilogue) {
    k.LstmGatesS16(e);
    if (c.use_projection) Project(s, out);
    std::copy(out, out + n_out, s->h_.begin());
    return;
  }
  auto record_preact = [&](int g) {
    if (trace != nullptr) trace->gate_preact[g].assign(s->gates_[g].begin(), s->gates_[g].end());
  };
  auto record_gate = [&](int g) {
    if (trace != nullptr) trace->gate[g].assign(s->gates_[g].begin(), s->gates_[g].end());
  };
  for (int g : {kInputGate, kForgetGate, kCellGate}) {
    if (g == kInputGate && c.use_cifg) continue;
    ComputeGate(g, parts[g], s);
    record_preact(g);
    if (g == kCellGate) {
      TanhGate(s->gates_[g].data(), n);
    } else {
      Sigmoid(s->gates_[g].data(), n);
    }
    record_gate(g);
  }
  k.LstmCellUpdateS16(s->gates_[kForgetGate].data(), c.use_cifg ? nullptr : s->gates_[kInputGate].data(),
                      s->gates_[kCellGate].data(), n, 30 + params_.cell_scale, params_.quantized_cell_clip,
                      s->c_.data());
  ComputeGate(kOutputGate, parts[kOutputGate], s);  // its peephole reads the updated cell
  record_preact(kOutputGate);
  Sigmoid(s->gates_[kOutputGate].data(), n);
  record_gate(kOutputGate);

  // Hidden = o * tanh(c), requantized to int8 (numerics.md §4.4).
  TanhCell(s->c_.data(), n, s->tanh_cell_.data());
  if (trace != nullptr) trace->tanh_cell = s->tanh_cell_;
  if (c.use_projection) {
    // TFLite stores the pre-projection vector with the negated hidden zero point (numerics.md §5 Q2).
    const int32_t hidden_zp = c.tflite_compat ? -params_.hidden_zp : params_.hidden_zp;
    k.MulRequantS16ToS8(s->gates_[kOutputGate].data(), s->tanh_cell_.data(), n, params_.hidden_scale, c.rounding,
                        hidden_zp, s->hidden_.data());
    if (trace != nullptr) trace->hidden = s->hidden_;
    Project(s, out);
  } else {
    k.MulRequantS16ToS8(s->gates_[kOutputGate].data(), s->tanh_cell_.data(), n, params_.hidden_scale, c.rounding,
                        params_.hidden_zp, out);
  }
  std::copy(out, out + n_out, s->h_.begin());
}

}  // namespace irnn
