// The float32 LSTM baseline (include/irnn/lstm_f32.h): the scalar reference kernels, Create (weight
// packing), the states, Run and Step over the threads. The checks, path choice, packing and thread driver
// it shares with the GRU baseline are in f32_layer.cc; the AVX2 kernels in gemm_f32_avx2.cc. Not part of
// the integer runtime; the integer layer is irnn::TfliteLstm.

#include "irnn/lstm_f32.h"

#include <algorithm>
#include <string>

#include "core/spin_pool.h"
#include "fp32/f32_layer.h"
#include "fp32/lstm_f32_kernels.h"

namespace irnn {
namespace fp32 {
namespace {

inline size_t BlockedIndex(int unit, int gate) {
  return static_cast<size_t>(unit / kBlockUnits) * kBlockValues + gate * kBlockUnits + unit % kBlockUnits;
}

// ---- Scalar reference kernels (contracts in lstm_f32_kernels.h) --------------------------------------

void ProjectScalar(const LstmF32Weights& w, const float* x, int rows, int nb0, int nb1, float* xproj) {
  const int H = w.n_hidden, I = w.n_input;
  const int u0 = nb0 * kBlockUnits, u1 = std::min(H, nb1 * kBlockUnits);
  const size_t stride = static_cast<size_t>(w.n_blocks) * kBlockValues;
  for (int r = 0; r < rows; ++r) {
    const float* xr = x + static_cast<size_t>(r) * I;
    float* out = xproj + static_cast<size_t>(r) * stride;
    for (int g = 0; g < 4; ++g) {
      for (int u = u0; u < u1; ++u) {
        const float* wr = w.w_ih + (static_cast<size_t>(g) * H + u) * I;
        float acc = w.bias[g * H + u];
        for (int k = 0; k < I; ++k) acc += wr[k] * xr[k];
        out[BlockedIndex(u, g)] = acc;
      }
    }
  }
}

void RecurScalar(const LstmF32Weights& w, const float* xproj, const float* h_prev, int batch, int nb0, int nb1,
                 float* c, float* h_new) {
  const int H = w.n_hidden;
  const int u0 = nb0 * kBlockUnits, u1 = std::min(H, nb1 * kBlockUnits);
  const size_t stride = static_cast<size_t>(w.n_blocks) * kBlockValues;
  for (int b = 0; b < batch; ++b) {
    const float* hb = h_prev + static_cast<size_t>(b) * H;
    const float* pre = xproj + static_cast<size_t>(b) * stride;
    for (int u = u0; u < u1; ++u) {
      float a[4];
      for (int g = 0; g < 4; ++g) {
        const float* wr = w.w_hh + (static_cast<size_t>(g) * H + u) * H;
        float acc = pre[BlockedIndex(u, g)];
        for (int k = 0; k < H; ++k) acc += wr[k] * hb[k];
        a[g] = acc;
      }
      const float i = SigmoidF32(a[0]), f = SigmoidF32(a[1]), g = TanhF32(a[2]), o = SigmoidF32(a[3]);
      float& cell = c[static_cast<size_t>(b) * H + u];
      cell = f * cell + i * g;
      h_new[static_cast<size_t>(b) * H + u] = o * TanhF32(cell);
    }
  }
}

const LstmF32Kernels kScalarKernels = {ProjectScalar, RecurScalar};

}  // namespace

const LstmF32Kernels& ScalarLstmF32Kernels() { return kScalarKernels; }

}  // namespace fp32

Status ValidateLstmF32Params(const LstmF32Params& p) {
  using fp32::FieldShape;
  return fp32::ValidateF32Params("LstmF32Params", 4, p.n_input, p.n_hidden, kMaxLstmF32Dim, kMaxLstmF32Elements,
                                 {{"w_ih", p.w_ih.size(), FieldShape::kInputWeights},
                                  {"w_hh", p.w_hh.size(), FieldShape::kRecurrentWeights},
                                  {"bias", p.bias.size(), FieldShape::kBias}});
}

Status LstmF32::Create(LstmF32Params params, KernelPath path, std::unique_ptr<LstmF32>* out, int threads) {
  if (out == nullptr) return Status::InvalidArgument("LstmF32::Create: out is null but must point to a unique_ptr");
  IRNN_RETURN_IF_ERROR(ValidateLstmF32Params(params));
  IRNN_RETURN_IF_ERROR(fp32::CheckF32Threads("LstmF32::Create", threads, kMaxLstmF32Threads));
  KernelPath resolved = KernelPath::kScalar;
  IRNN_RETURN_IF_ERROR(
      fp32::ResolveF32Path("LstmF32::Create", path, fp32::Avx2LstmF32Kernels() != nullptr, &resolved));
  std::unique_ptr<LstmF32> layer(new LstmF32());
  layer->params_ = std::move(params);
  layer->path_ = resolved;
  layer->threads_ = threads;
  const LstmF32Params& p = layer->params_;
  layer->n_blocks_ = fp32::BlockCount(p.n_hidden);
  if (resolved == KernelPath::kAvx2) {
    const size_t nb = static_cast<size_t>(layer->n_blocks_);
    const size_t ih = nb * p.n_input * fp32::kBlockValues, hh = nb * p.n_hidden * fp32::kBlockValues;
    const size_t bias = nb * fp32::kBlockValues;
    // Each part starts on a 64-byte boundary: sizes are multiples of 32 floats.
    float* base = fp32::AlignedZeros(&layer->packed_storage_, ih + hh + bias, 16);
    fp32::PackGateBlocks(p.w_ih.data(), 4, p.n_hidden, p.n_input, base);
    fp32::PackGateBlocks(p.w_hh.data(), 4, p.n_hidden, p.n_hidden, base + ih);
    fp32::PackGateBlocks(p.bias.data(), 4, p.n_hidden, 1, base + ih + hh);
    layer->w_ih_packed_ = base;
    layer->w_hh_packed_ = base + ih;
    layer->bias_packed_ = base + ih + hh;
  }
  if (threads > 1) layer->pool_ = std::make_unique<SpinPool>(threads);
  *out = std::move(layer);
  return Status::Ok();
}

LstmF32::~LstmF32() = default;

Status LstmF32::NewState(int batch, LstmF32State* state) const {
  IRNN_RETURN_IF_ERROR(fp32::CheckF32NewState("LstmF32::NewState", state == nullptr, batch, kMaxLstmF32Batch));
  state->batch_ = batch;
  state->n_hidden_ = params_.n_hidden;
  state->h_.assign(static_cast<size_t>(batch) * params_.n_hidden, 0.0f);
  state->c_.assign(static_cast<size_t>(batch) * params_.n_hidden, 0.0f);
  state->xproj_.clear();
  return Status::Ok();
}

Status LstmF32::ResetState(LstmF32State* state) const {
  IRNN_RETURN_IF_ERROR(CheckState("LstmF32::ResetState", state));
  std::fill(state->h_.begin(), state->h_.end(), 0.0f);
  std::fill(state->c_.begin(), state->c_.end(), 0.0f);
  return Status::Ok();
}

Status LstmF32::CheckState(const char* who, const LstmF32State* state) const {
  if (state == nullptr) return fp32::CheckF32State(who, true, 0, 0, 0, nullptr, params_.n_hidden);
  const size_t c_size = state->c_.size();
  return fp32::CheckF32State(who, false, state->batch_, state->n_hidden_, state->h_.size(), &c_size,
                             params_.n_hidden);
}

void LstmF32::RunRange(int thread, const float* x, int steps, LstmF32State* s, float* out) const {
  const fp32::LstmF32Kernels& k =
      path_ == KernelPath::kAvx2 ? *fp32::Avx2LstmF32Kernels() : fp32::ScalarLstmF32Kernels();
  fp32::LstmF32Weights w;
  w.n_input = params_.n_input;
  w.n_hidden = params_.n_hidden;
  w.n_blocks = n_blocks_;
  w.w_ih = params_.w_ih.data();
  w.w_hh = params_.w_hh.data();
  w.w_ih_packed = w_ih_packed_;
  w.w_hh_packed = w_hh_packed_;
  w.bias_packed = bias_packed_;
  w.bias = params_.bias.data();
  // This thread's blocks of hidden units: it computes their projections, gates, c and h at every step.
  const int B = s->batch_;
  const size_t frame_stride = static_cast<size_t>(n_blocks_) * fp32::kBlockValues * B;
  fp32::RunBlockRange(
      thread, threads_, n_blocks_, steps, s->h_.data(), out, static_cast<size_t>(B) * params_.n_hidden, pool_.get(),
      [&](int nb0, int nb1) { k.Project(w, x, steps * B, nb0, nb1, s->xproj_.data()); },
      [&](int t, const float* h_prev, int nb0, int nb1, float* h_out) {
        k.Recur(w, s->xproj_.data() + t * frame_stride, h_prev, B, nb0, nb1, s->c_.data(), h_out);
      });
}

Status LstmF32::Run(const float* x, int steps, LstmF32State* state, float* out) const {
  IRNN_RETURN_IF_ERROR(CheckState("LstmF32::Run", state));
  int64_t xproj = 0;
  IRNN_RETURN_IF_ERROR(fp32::CheckF32Run("LstmF32::Run", x, steps, out, state->batch_, params_.n_input,
                                         params_.n_hidden, n_blocks_, fp32::kBlockValues, kMaxLstmF32Elements,
                                         &xproj));
  if (steps == 0) return Status::Ok();
  fp32::RunSequence(pool_.get(), pool_mutex_, steps, xproj, &state->xproj_, out, &state->h_,
                    [&](int thread) { RunRange(thread, x, steps, state, out); });
  return Status::Ok();
}

Status LstmF32::Step(const float* x, LstmF32State* state, float* out) const {
  IRNN_RETURN_IF_ERROR(fp32::CheckF32Step("LstmF32::Step", x, out));
  return Run(x, 1, state, out);
}

}  // namespace irnn
