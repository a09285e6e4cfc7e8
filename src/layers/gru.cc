// The integer GRU (irnn/gru.h): validation, state, Step and Run (numerics.md §8). Integer only: this
// object file is checked for floating-point instructions by tests/no_float_test.sh. The matmuls run
// on the LSTM kernel table's packed int8 GEMV (every path), the gate arithmetic of §8.2-§8.3 (sums,
// sigmoid, candidate, tanh, state update, int8 output) on its fused GRU epilogue, GruGatesS16, which on
// the SIMD paths reads the PWL activations from 64Ki-entry int16 tables made at Create
// (PwlLookupTableS16). With threads > 1 the matmuls' output rows are split between the layer's pool
// (layers/row_split.h), and each thread runs the epilogue of its rows. Step of fewer than 16 rows runs,
// where the path has it (AVX-512 VNNI, AMX), the fused streaming kernel GruStreamStepS16 instead: the six
// matmuls and the epilogue in one pass over one weight stream packed at Create, the same results. The
// float derivation is gru_derive.cc.

#include <algorithm>
#include <string>

#include "irnn/gru.h"
#include "core/fixed_point.h"
#include "core/spin_pool.h"
#include "kernels/lstm_kernels.h"
#include "kernels/pwl_kernels.h"
#include "layers/aligned_chunk.h"
#include "layers/row_split.h"

namespace irnn {

struct GruPacked {
  std::array<PackedS8, 3> input;
  std::array<PackedS8, 3> recurrent;
  // PwlLookupTableS16 of the sigmoid and tanh (SIMD paths only; empty on the scalar path).
  std::vector<int16_t> sigmoid_table, tanh_table;
  // Step's fused streaming matrix (GruStreamStepS16): the input and recurrent weights of r, z, n again,
  // as one stream; empty on the paths without that kernel.
  PackedLstmStream stream;
};

namespace {

constexpr int32_t kMaxDim = 1 << 16;
constexpr int kMaxBatch = 1 << 16;
constexpr int kMaxStreamBatch = 16;  // Step's fused streaming kernel serves fewer rows than this
constexpr const char* kGateNames[3] = {"r", "z", "n"};

std::string Field(const char* name, int gate) { return std::string(name) + "[" + kGateNames[gate] + "]"; }

template <typename T>
Status CheckSize(const std::vector<T>& v, const std::string& field, const std::string& rule, int64_t want) {
  if (static_cast<int64_t>(v.size()) != want) {
    return Status::InvalidArgument("GruParams: " + field + " has " + std::to_string(v.size()) +
                                   " elements but must have " + rule + " = " + std::to_string(want));
  }
  return Status::Ok();
}

Status CheckMultiplier(QuantizedMultiplier m, const std::string& field) {
  if (m.multiplier < 0 || (m.multiplier != 0 && m.multiplier < (int32_t{1} << 30))) {
    return Status::InvalidArgument("GruParams: " + field + ".multiplier is " + std::to_string(m.multiplier) +
                                   " but must be 0 or in [2^30, 2^31)");
  }
  if (m.shift < -31 || m.shift > 30) {
    return Status::InvalidArgument("GruParams: " + field + ".shift is " + std::to_string(m.shift) +
                                   " but must be in [-31, 30]");
  }
  return Status::Ok();
}

Status CheckTable(const PwlTable& t, const char* name, int32_t lo) {
  const Status s = ValidatePwlTable(t);
  if (!s.ok()) return Status::InvalidArgument(std::string("GruParams: ") + name + ": " + s.message());
  if (t.output_min < lo || t.output_max > 32767) {
    return Status::InvalidArgument(std::string("GruParams: ") + name + ".output range [" +
                                   std::to_string(t.output_min) + ", " + std::to_string(t.output_max) +
                                   "] but must lie within [" + std::to_string(lo) + ", 32767]");
  }
  return Status::Ok();
}

}  // namespace

Status ValidateGruParams(const GruParams& p) {
  const GruConfig& c = p.config;
  if (c.n_input < 1 || c.n_input > kMaxDim) {
    return Status::InvalidArgument("GruParams: config.n_input is " + std::to_string(c.n_input) +
                                   " but must be in [1, 65536]");
  }
  if (c.n_hidden < 1 || c.n_hidden > kMaxDim) {
    return Status::InvalidArgument("GruParams: config.n_hidden is " + std::to_string(c.n_hidden) +
                                   " but must be in [1, 65536]");
  }
  if (c.rounding != Rounding::kDouble && c.rounding != Rounding::kSingle) {
    return Status::InvalidArgument("GruParams: config.rounding is " +
                                   std::to_string(static_cast<int>(c.rounding)) + " but must be 0 or 1");
  }
  const int64_t h = c.n_hidden;
  for (int g = 0; g < 3; ++g) {
    IRNN_RETURN_IF_ERROR(CheckSize(p.input_weights[g], Field("input_weights", g), "n_hidden * n_input", h * c.n_input));
    IRNN_RETURN_IF_ERROR(
        CheckSize(p.recurrent_weights[g], Field("recurrent_weights", g), "n_hidden * n_hidden", h * h));
    IRNN_RETURN_IF_ERROR(CheckSize(p.input_effective_bias[g], Field("input_effective_bias", g), "n_hidden", h));
    IRNN_RETURN_IF_ERROR(
        CheckSize(p.recurrent_effective_bias[g], Field("recurrent_effective_bias", g), "n_hidden", h));
    IRNN_RETURN_IF_ERROR(CheckSize(p.input_scale[g], Field("input_scale", g), "n_hidden", h));
    IRNN_RETURN_IF_ERROR(CheckSize(p.recurrent_scale[g], Field("recurrent_scale", g), "n_hidden", h));
    for (int64_t r = 0; r < h; ++r) {
      const std::string row = "[" + std::to_string(r) + "]";
      IRNN_RETURN_IF_ERROR(CheckMultiplier(p.input_scale[g][r], Field("input_scale", g) + row));
      IRNN_RETURN_IF_ERROR(CheckMultiplier(p.recurrent_scale[g][r], Field("recurrent_scale", g) + row));
    }
  }
  IRNN_RETURN_IF_ERROR(CheckMultiplier(p.output_scale, "output_scale"));
  if (p.output_zp < -128 || p.output_zp > 127) {
    return Status::InvalidArgument("GruParams: output_zp is " + std::to_string(p.output_zp) +
                                   " but must be in [-128, 127]");
  }
  IRNN_RETURN_IF_ERROR(CheckTable(p.pwl_sigmoid, "pwl_sigmoid", 0));
  IRNN_RETURN_IF_ERROR(CheckTable(p.pwl_tanh, "pwl_tanh", -32767));
  return Status::Ok();
}

Status Gru::Create(GruParams params, KernelPath path, std::unique_ptr<Gru>* out) {
  return Create(std::move(params), path, 1, out);
}

int Gru::threads() const { return pool_ ? pool_->size() : 1; }

Status Gru::Create(GruParams params, KernelPath path, int threads, std::unique_ptr<Gru>* out) {
  if (out == nullptr) return Status::InvalidArgument("Gru::Create: out is null");
  if (threads < 1 || threads > 64) {
    return Status::InvalidArgument("Gru::Create: threads is " + std::to_string(threads) + " but must be in [1, 64]");
  }
  IRNN_RETURN_IF_ERROR(ValidateGruParams(params));
  KernelPath resolved = KernelPath::kScalar;
  IRNN_RETURN_IF_ERROR(ResolveKernelPath(path, &resolved));
  std::unique_ptr<Gru> layer(new Gru());
  layer->params_ = std::move(params);
  layer->path_ = resolved;
  layer->kernels_ = &GetLstmKernels(resolved);
  auto packed = std::make_shared<GruPacked>();
  const GruConfig& c = layer->params_.config;
  for (int g = 0; g < 3; ++g) {
    layer->kernels_->PackS8(layer->params_.input_weights[g].data(), c.n_hidden, c.n_input, &packed->input[g]);
    layer->kernels_->PackS8(layer->params_.recurrent_weights[g].data(), c.n_hidden, c.n_hidden,
                            &packed->recurrent[g]);
  }
  if (resolved != KernelPath::kScalar) {
    packed->sigmoid_table = PwlLookupTableS16(layer->params_.pwl_sigmoid);
    packed->tanh_table = PwlLookupTableS16(layer->params_.pwl_tanh);
  }
  if (layer->kernels_->GruStreamStepS16 != nullptr && layer->kernels_->PackLstmStreamS8 != nullptr &&
      !packed->sigmoid_table.empty()) {
    const int8_t* input_w[4] = {};
    const int8_t* recurrent_w[4] = {};
    for (int g = 0; g < 3; ++g) {
      input_w[g] = layer->params_.input_weights[g].data();
      recurrent_w[g] = layer->params_.recurrent_weights[g].data();
    }
    layer->kernels_->PackLstmStreamS8(input_w, recurrent_w, c.n_hidden, c.n_input, c.n_hidden, &packed->stream);
  }
  layer->packed_ = std::move(packed);
  if (threads > 1) layer->pool_ = std::make_shared<SpinPool>(threads);
  *out = std::move(layer);
  return Status::Ok();
}

Status Gru::NewState(int batch, GruState* state) const {
  if (state == nullptr) return Status::InvalidArgument("Gru::NewState: state is null");
  if (batch < 1 || batch > kMaxBatch) {
    return Status::InvalidArgument("Gru::NewState: batch is " + std::to_string(batch) + " but must be in [1, " +
                                   std::to_string(kMaxBatch) + "]");
  }
  // About 28 bytes per hidden unit and stream: refuse states above 1 GiB before allocating.
  const int64_t n = int64_t{batch} * params_.config.n_hidden;
  if (n * 28 > (int64_t{1} << 30)) {
    return Status::OutOfRange("Gru::NewState: batch " + std::to_string(batch) + " x n_hidden " +
                              std::to_string(params_.config.n_hidden) + " needs " + std::to_string(n * 28) +
                              " bytes of state but must need at most 1 GiB");
  }
  GruState s;
  s.batch_ = batch;
  s.h16_.assign(static_cast<size_t>(n), 0);
  s.h8_.assign(static_cast<size_t>(n), static_cast<int8_t>(params_.output_zp));
  for (auto& r : s.recurrent_) r.assign(static_cast<size_t>(n), 0);
  s.h8_next_.assign(static_cast<size_t>(n), 0);
  s.step_input_.assign(static_cast<size_t>(3 * n), 0);
  *state = std::move(s);
  return Status::Ok();
}

Status Gru::ResetState(GruState* state) const {
  if (state == nullptr) return Status::InvalidArgument("Gru::ResetState: state is null");
  const Status s = CheckState(*state);
  if (!s.ok()) return Status(s.code(), "Gru::ResetState: " + s.message());
  std::fill(state->h16_.begin(), state->h16_.end(), 0);
  std::fill(state->h8_.begin(), state->h8_.end(), static_cast<int8_t>(params_.output_zp));
  return Status::Ok();
}

Status Gru::CheckState(const GruState& state) const {
  const size_t n = static_cast<size_t>(state.batch_) * params_.config.n_hidden;
  bool ok = state.batch_ >= 1 && state.h16_.size() == n && state.h8_.size() == n && state.h8_next_.size() == n &&
            state.step_input_.size() == 3 * n;
  for (const auto& r : state.recurrent_) ok = ok && r.size() == n;
  if (!ok) {
    return Status::InvalidArgument("state was not made by NewState of a GRU of this shape (n_hidden = " +
                                   std::to_string(params_.config.n_hidden) + ")");
  }
  return Status::Ok();
}

Status Gru::Step(const int8_t* x, GruState* state, int8_t* out) const {
  if (x == nullptr) return Status::InvalidArgument("Gru::Step: x is null");
  if (out == nullptr) return Status::InvalidArgument("Gru::Step: out is null");
  if (state == nullptr) return Status::InvalidArgument("Gru::Step: state is null");
  const Status s = CheckState(*state);
  if (!s.ok()) return Status(s.code(), "Gru::Step: " + s.message());
  StepUnchecked(x, nullptr, state, out);
  return Status::Ok();
}

Status Gru::Run(const int8_t* x, int steps, GruState* state, int8_t* out) const {
  if (steps < 0) return Status::InvalidArgument("Gru::Run: steps is " + std::to_string(steps) + " but must be >= 0");
  if (steps == 0) return Status::Ok();
  if (x == nullptr) return Status::InvalidArgument("Gru::Run: x is null");
  if (out == nullptr) return Status::InvalidArgument("Gru::Run: out is null");
  if (state == nullptr) return Status::InvalidArgument("Gru::Run: state is null");
  const Status s = CheckState(*state);
  if (!s.ok()) return Status(s.code(), "Gru::Run: " + s.message());
  const GruConfig& c = params_.config;
  const int batch = state->batch_;
  const size_t in_stride = static_cast<size_t>(batch) * c.n_input;
  const size_t out_stride = static_cast<size_t>(batch) * c.n_hidden;
  const int64_t per_step = int64_t{batch} * c.n_hidden;
  // Chunks of up to ~3 MiB of workspace (3 gates x int32), at least one step.
  const int chunk = static_cast<int>(std::clamp<int64_t>((int64_t{1} << 20) / (3 * per_step), 1, steps));
  // Each gate's part on a 64-byte boundary (aligned_chunk.h: the amx path's whole-row stores).
  int32_t* const workspace = AlignedParts(3, per_step * chunk, &state->sequence_input_);
  const bool steps_split = SplitsRows(pool_.get(), c.n_hidden, int64_t{3} * batch * c.n_hidden * c.n_hidden);
  for (int t0 = 0; t0 < steps; t0 += chunk) {
    const int len = std::min(chunk, steps - t0);
    const int8_t* xc = x + t0 * in_stride;
    // The matmul's inputs at a 64-byte boundary (aligned_chunk.h).
    const int8_t* xm = AlignedChunk(xc, static_cast<size_t>(len) * in_stride, c.n_input, &state->sequence_x_);
    int32_t* parts[3];
    for (int g = 0; g < 3; ++g) parts[g] = workspace + g * AlignedPartStride(per_step * chunk);
    // Rows of the product are (step, stream) pairs: Step's products and requantization, len * batch
    // input rows at once; the threads split its output rows (the same rows of all three gates).
    // Split only where the steps split too: each thread then reads the rows it wrote (tflite_lstm.cc).
    const int64_t macs = steps_split ? int64_t{3} * len * batch * c.n_hidden * c.n_input : 0;
    ForRowRanges(pool_.get(), c.n_hidden, macs, [&](int r0, int r1) {
      for (int g = 0; g < 3; ++g) {
        kernels_->GemvPackedRequantS32(packed_->input[g], r0, r1, params_.input_effective_bias[g].data(), xm,
                                       len * batch, QuantizedMultiplier{}, params_.input_scale[g].data(),
                                       c.rounding, parts[g]);
      }
    });
    for (int t = 0; t < len; ++t) {
      const int32_t* step_parts[3] = {parts[0] + t * per_step, parts[1] + t * per_step, parts[2] + t * per_step};
      StepUnchecked(xc + t * in_stride, step_parts, state, out + (t0 + t) * out_stride);
    }
  }
  return Status::Ok();
}

// numerics.md §8.1-§8.3.
void Gru::StepUnchecked(const int8_t* x, const int32_t* const* input_part, GruState* s, int8_t* out) const {
  const GruConfig& c = params_.config;
  const int batch = s->batch_;
  const int n = batch * c.n_hidden;
  const int32_t* in[3];
  int32_t* own[3] = {};
  for (int g = 0; g < 3; ++g) {
    if (input_part != nullptr) {
      in[g] = input_part[g];
    } else {
      own[g] = s->step_input_.data() + static_cast<int64_t>(g) * n;
      in[g] = own[g];
    }
  }
  GruGateEpilogue base;
  base.sigmoid = &params_.pwl_sigmoid;
  base.tanh = &params_.pwl_tanh;
  if (!packed_->sigmoid_table.empty()) {
    base.sigmoid_table = packed_->sigmoid_table.data();
    base.tanh_table = packed_->tanh_table.data();
  }
  base.output_scale = params_.output_scale;
  base.rounding = c.rounding;
  base.output_zp = params_.output_zp;
  // With a pool, threads may still read h8 (their recurrent matmuls) while others write theirs: the
  // new h8 goes to scratch and is copied when all are done.
  const bool pooled = pool_ != nullptr;
  int8_t* const h8_new = pooled ? s->h8_next_.data() : s->h8_.data();
  // Step with few rows: the six matmuls and the epilogue in one pass over one weight stream
  // (GruStreamStepS16, packed at Create); its results equal the composed kernels' below.
  if (input_part == nullptr && batch < kMaxStreamBatch && !packed_->stream.data.empty()) {
    GruStreamStep ss;
    ss.w = &packed_->stream;
    for (int g = 0; g < 3; ++g) {
      ss.input_bias[g] = params_.input_effective_bias[g].data();
      ss.recurrent_bias[g] = params_.recurrent_effective_bias[g].data();
      ss.input_m[g] = params_.input_scale[g].data();
      ss.recurrent_m[g] = params_.recurrent_scale[g].data();
    }
    ss.rounding = c.rounding;
    ss.x = x;
    ss.h = s->h8_.data();
    ss.batch = batch;
    ss.n_hidden = c.n_hidden;
    ss.reverse = (s->stream_steps_++ & 1u) != 0;
    ss.gates = base;
    ss.gates.h16 = s->h16_.data();
    ss.gates.h8 = h8_new;
    ss.gates.out = pooled ? nullptr : out;
    const int64_t macs = int64_t{3} * batch * c.n_hidden * (c.n_hidden + c.n_input);
    ForRowRanges(pool_.get(), c.n_hidden, macs, [&](int r0, int r1) { kernels_->GruStreamStepS16(ss, r0, r1); });
    if (pooled) {
      std::copy(h8_new, h8_new + n, s->h8_.data());
      std::copy(h8_new, h8_new + n, out);
    }
    return;
  }
  // Per range of output rows: the matmuls of all gates (they read only x and the previous h8), then
  // the epilogue of §8.2-§8.3 on those rows of every stream (elementwise: it reads only those rows).
  // Every other step walks the recurrent weights the other way (the gates from the last, each one's rows
  // from the last, where the path has GemvPackedRequantWalkS32): the rows read last are then read first,
  // still in L2 when the weights exceed it (H = 1024: 3 MiB against 2 MiB). The same results. Only where
  // a thread's rows of the three gates exceed AlternateWalkMinBytes() (lstm_kernels.h).
  const bool alternate = kernels_->GemvPackedRequantWalkS32 != nullptr && (s->stream_steps_++ & 1u) != 0;
  const int64_t macs = int64_t{3} * batch * c.n_hidden * (c.n_hidden + (input_part != nullptr ? 0 : c.n_input));
  ForRowRanges(pool_.get(), c.n_hidden, macs, [&](int r0, int r1) {
    const bool reverse = alternate && int64_t{3} * (r1 - r0) * c.n_hidden > AlternateWalkMinBytes();
    // Step of 16 or more rows on a reversed step: the input and the recurrent weights are both read
    // each step (6 MiB at H = 1024), so the whole walk is reversed: per gate from the last, the recurrent
    // rows and then the input rows, each in chunks of kReverseChunkRows from the last chunk (the amx
    // path's matmul at 16 rows walks forward only; within a chunk the kernel's own order). The rows read
    // last in the forward step are read first: still in L2. The same results (rows are independent).
    const bool walk_whole_step_back = reverse && own[0] != nullptr && batch >= 16;
    if (walk_whole_step_back) {
      constexpr int kReverseChunkRows = 256;
      const auto walk_back = [&](const PackedS8& w, const int32_t* bias, const int8_t* v,
                                 const QuantizedMultiplier* m, int32_t* dst) {
        for (int hi = r1; hi > r0;) {
          const int lo = std::max(r0, (hi - 1) / kReverseChunkRows * kReverseChunkRows);
          kernels_->GemvPackedRequantWalkS32(w, lo, hi, bias, v, batch, QuantizedMultiplier{}, m, c.rounding, dst,
                                             true);
          hi = lo;
        }
      };
      for (int g = 2; g >= 0; --g) {
        walk_back(packed_->recurrent[g], params_.recurrent_effective_bias[g].data(), s->h8_.data(),
                  params_.recurrent_scale[g].data(), s->recurrent_[g].data());
        walk_back(packed_->input[g], params_.input_effective_bias[g].data(), x, params_.input_scale[g].data(),
                  own[g]);
      }
    }
    for (int i = 0; i < 3 && !walk_whole_step_back; ++i) {
      const int g = reverse ? 2 - i : i;
      if (own[g] != nullptr) {
        kernels_->GemvPackedRequantS32(packed_->input[g], r0, r1, params_.input_effective_bias[g].data(), x, batch,
                                       QuantizedMultiplier{}, params_.input_scale[g].data(), c.rounding, own[g]);
      }
      // §8.1: the recurrent matmul reads the int8 copy of the previous state.
      if (reverse) {
        kernels_->GemvPackedRequantWalkS32(packed_->recurrent[g], r0, r1, params_.recurrent_effective_bias[g].data(),
                                           s->h8_.data(), batch, QuantizedMultiplier{},
                                           params_.recurrent_scale[g].data(), c.rounding, s->recurrent_[g].data(),
                                           true);
      } else {
        kernels_->GemvPackedRequantS32(packed_->recurrent[g], r0, r1, params_.recurrent_effective_bias[g].data(),
                                       s->h8_.data(), batch, QuantizedMultiplier{}, params_.recurrent_scale[g].data(),
                                       c.rounding, s->recurrent_[g].data());
      }
    }
    const bool whole = r0 == 0 && r1 == c.n_hidden;
    for (int b = 0; b < (whole ? 1 : batch); ++b) {  // all rows: the [batch][n_hidden] values as one range
      const int64_t o = int64_t{b} * c.n_hidden + r0;
      GruGateEpilogue e = base;
      e.n = whole ? n : r1 - r0;
      for (int g = 0; g < 3; ++g) {
        e.input[g] = in[g] + o;
        e.recurrent[g] = s->recurrent_[g].data() + o;
      }
      e.h16 = s->h16_.data() + o;
      e.h8 = h8_new + o;
      e.out = pooled ? nullptr : out + o;
      kernels_->GruGatesS16(e);
    }
  });
  if (pooled) {
    std::copy(h8_new, h8_new + n, s->h8_.data());
    std::copy(h8_new, h8_new + n, out);
  }
}

}  // namespace irnn
