// The float32 GRU baseline (include/irnn/gru_f32.h): the scalar reference kernels, Create (weight and
// bias packing), the states, Run and Step over the threads, as lstm_f32.cc for the LSTM baseline; what
// both share is in f32_layer.cc, the AVX2 kernels in gru_f32_avx2.cc. Not part of the integer runtime;
// the integer layer is irnn::Gru.

#include "irnn/gru_f32.h"

#include <algorithm>
#include <string>

#include "core/spin_pool.h"
#include "fp32/f32_layer.h"
#include "fp32/gru_f32_kernels.h"

namespace irnn {
namespace fp32 {
namespace {

inline size_t GruBlockedIndex(int unit, int gate) {
  return static_cast<size_t>(unit / kBlockUnits) * kGruBlockValues + gate * kBlockUnits + unit % kBlockUnits;
}

// ---- Scalar reference kernels (contracts in gru_f32_kernels.h) ---------------------------------------

void ProjectScalar(const GruF32Weights& w, const float* x, int rows, int nb0, int nb1, float* xproj) {
  const int H = w.n_hidden, I = w.n_input;
  const int u0 = nb0 * kBlockUnits, u1 = std::min(H, nb1 * kBlockUnits);
  const size_t stride = static_cast<size_t>(w.n_blocks) * kGruBlockValues;
  for (int r = 0; r < rows; ++r) {
    const float* xr = x + static_cast<size_t>(r) * I;
    float* out = xproj + static_cast<size_t>(r) * stride;
    for (int g = 0; g < 3; ++g) {
      for (int u = u0; u < u1; ++u) {
        const float* wr = w.w_ih + (static_cast<size_t>(g) * H + u) * I;
        float acc = w.bias_packed[GruBlockedIndex(u, g)];
        for (int k = 0; k < I; ++k) acc += wr[k] * xr[k];
        out[GruBlockedIndex(u, g)] = acc;
      }
    }
  }
}

void RecurScalar(const GruF32Weights& w, const float* xproj, const float* h_prev, int batch, int nb0, int nb1,
                 float* h_new) {
  const int H = w.n_hidden;
  const int u0 = nb0 * kBlockUnits, u1 = std::min(H, nb1 * kBlockUnits);
  const size_t stride = static_cast<size_t>(w.n_blocks) * kGruBlockValues;
  for (int b = 0; b < batch; ++b) {
    const float* hb = h_prev + static_cast<size_t>(b) * H;
    const float* pre = xproj + static_cast<size_t>(b) * stride;
    for (int u = u0; u < u1; ++u) {
      float a[3];
      for (int g = 0; g < 3; ++g) {
        const float* wr = w.w_hh + (static_cast<size_t>(g) * H + u) * H;
        float acc = g == 2 ? w.bias_hn_packed[u] : pre[GruBlockedIndex(u, g)];
        for (int k = 0; k < H; ++k) acc += wr[k] * hb[k];
        a[g] = acc;
      }
      const float r = SigmoidF32(a[0]), z = SigmoidF32(a[1]);
      const float n = TanhF32(pre[GruBlockedIndex(u, 2)] + r * a[2]);
      h_new[static_cast<size_t>(b) * H + u] = n + z * (hb[u] - n);
    }
  }
}

const GruF32Kernels kScalarKernels = {ProjectScalar, RecurScalar};

}  // namespace

const GruF32Kernels& ScalarGruF32Kernels() { return kScalarKernels; }

}  // namespace fp32

Status ValidateGruF32Params(const GruF32Params& p) {
  using fp32::FieldShape;
  return fp32::ValidateF32Params("GruF32Params", 3, p.n_input, p.n_hidden, kMaxGruF32Dim, kMaxGruF32Elements,
                                 {{"w_ih", p.w_ih.size(), FieldShape::kInputWeights},
                                  {"w_hh", p.w_hh.size(), FieldShape::kRecurrentWeights},
                                  {"b_ih", p.b_ih.size(), FieldShape::kBias},
                                  {"b_hh", p.b_hh.size(), FieldShape::kBias}});
}

Status GruF32::Create(GruF32Params params, KernelPath path, std::unique_ptr<GruF32>* out, int threads) {
  if (out == nullptr) return Status::InvalidArgument("GruF32::Create: out is null but must point to a unique_ptr");
  IRNN_RETURN_IF_ERROR(ValidateGruF32Params(params));
  IRNN_RETURN_IF_ERROR(fp32::CheckF32Threads("GruF32::Create", threads, kMaxGruF32Threads));
  KernelPath resolved = KernelPath::kScalar;
  IRNN_RETURN_IF_ERROR(fp32::ResolveF32Path("GruF32::Create", path, fp32::Avx2GruF32Kernels() != nullptr, &resolved));
  std::unique_ptr<GruF32> layer(new GruF32());
  layer->params_ = std::move(params);
  layer->path_ = resolved;
  layer->threads_ = threads;
  const GruF32Params& p = layer->params_;
  const int H = p.n_hidden;
  layer->n_blocks_ = fp32::BlockCount(H);
  const size_t nb = static_cast<size_t>(layer->n_blocks_);
  const bool avx2 = resolved == KernelPath::kAvx2;
  const size_t ih = avx2 ? nb * p.n_input * fp32::kGruBlockValues : 0;
  const size_t hh = avx2 ? nb * p.n_hidden * fp32::kGruBlockValues : 0;
  const size_t bias = nb * fp32::kGruBlockValues, bias_hn = nb * fp32::kBlockUnits;
  // Each part starts on a 32-byte boundary: sizes are multiples of 8 floats.
  float* base = fp32::AlignedZeros(&layer->packed_storage_, ih + hh + bias + bias_hn, 8);
  if (avx2) {
    fp32::PackGateBlocks(p.w_ih.data(), 3, H, p.n_input, base);
    fp32::PackGateBlocks(p.w_hh.data(), 3, H, H, base + ih);
    layer->w_ih_packed_ = base;
    layer->w_hh_packed_ = base + ih;
  }
  float* bias_packed = base + ih + hh;
  float* bias_hn_packed = bias_packed + bias;
  for (int u = 0; u < H; ++u) {
    for (int g = 0; g < 3; ++g) {
      bias_packed[fp32::GruBlockedIndex(u, g)] = p.b_ih[g * H + u] + (g < 2 ? p.b_hh[g * H + u] : 0.0f);
    }
    bias_hn_packed[u] = p.b_hh[2 * H + u];
  }
  layer->bias_packed_ = bias_packed;
  layer->bias_hn_packed_ = bias_hn_packed;
  if (threads > 1) layer->pool_ = std::make_unique<SpinPool>(threads);
  *out = std::move(layer);
  return Status::Ok();
}

GruF32::~GruF32() = default;

Status GruF32::NewState(int batch, GruF32State* state) const {
  IRNN_RETURN_IF_ERROR(fp32::CheckF32NewState("GruF32::NewState", state == nullptr, batch, kMaxGruF32Batch));
  state->batch_ = batch;
  state->n_hidden_ = params_.n_hidden;
  state->h_.assign(static_cast<size_t>(batch) * params_.n_hidden, 0.0f);
  state->xproj_.clear();
  return Status::Ok();
}

Status GruF32::ResetState(GruF32State* state) const {
  IRNN_RETURN_IF_ERROR(CheckState("GruF32::ResetState", state));
  std::fill(state->h_.begin(), state->h_.end(), 0.0f);
  return Status::Ok();
}

Status GruF32::CheckState(const char* who, const GruF32State* state) const {
  if (state == nullptr) return fp32::CheckF32State(who, true, 0, 0, 0, nullptr, params_.n_hidden);
  return fp32::CheckF32State(who, false, state->batch_, state->n_hidden_, state->h_.size(), nullptr,
                             params_.n_hidden);
}

void GruF32::RunRange(int thread, const float* x, int steps, GruF32State* s, float* out) const {
  const fp32::GruF32Kernels& k =
      path_ == KernelPath::kAvx2 ? *fp32::Avx2GruF32Kernels() : fp32::ScalarGruF32Kernels();
  fp32::GruF32Weights w;
  w.n_input = params_.n_input;
  w.n_hidden = params_.n_hidden;
  w.n_blocks = n_blocks_;
  w.w_ih = params_.w_ih.data();
  w.w_hh = params_.w_hh.data();
  w.w_ih_packed = w_ih_packed_;
  w.w_hh_packed = w_hh_packed_;
  w.bias_packed = bias_packed_;
  w.bias_hn_packed = bias_hn_packed_;
  // This thread's blocks of hidden units: it computes their projections, gates and h at every step.
  const int B = s->batch_;
  const size_t frame_stride = static_cast<size_t>(n_blocks_) * fp32::kGruBlockValues * B;
  fp32::RunBlockRange(
      thread, threads_, n_blocks_, steps, s->h_.data(), out, static_cast<size_t>(B) * params_.n_hidden, pool_.get(),
      [&](int nb0, int nb1) { k.Project(w, x, steps * B, nb0, nb1, s->xproj_.data()); },
      [&](int t, const float* h_prev, int nb0, int nb1, float* h_out) {
        k.Recur(w, s->xproj_.data() + t * frame_stride, h_prev, B, nb0, nb1, h_out);
      });
}

Status GruF32::Run(const float* x, int steps, GruF32State* state, float* out) const {
  IRNN_RETURN_IF_ERROR(CheckState("GruF32::Run", state));
  int64_t xproj = 0;
  IRNN_RETURN_IF_ERROR(fp32::CheckF32Run("GruF32::Run", x, steps, out, state->batch_, params_.n_input,
                                         params_.n_hidden, n_blocks_, fp32::kGruBlockValues, kMaxGruF32Elements,
                                         &xproj));
  if (steps == 0) return Status::Ok();
  fp32::RunSequence(pool_.get(), pool_mutex_, steps, xproj, &state->xproj_, out, &state->h_,
                    [&](int thread) { RunRange(thread, x, steps, state, out); });
  return Status::Ok();
}

Status GruF32::Step(const float* x, GruF32State* state, float* out) const {
  IRNN_RETURN_IF_ERROR(fp32::CheckF32Step("GruF32::Step", x, out));
  return Run(x, 1, state, out);
}

}  // namespace irnn
