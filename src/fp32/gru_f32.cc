// The float32 GRU baseline (include/irnn/gru_f32.h): validation, the scalar reference kernels, weight
// packing, the threading of Run and Step (as lstm_f32.cc does for the LSTM baseline). The AVX2 kernels
// are in gru_f32_avx2.cc. Not part of the integer runtime; the integer layer is irnn::Gru.

#include "irnn/gru_f32.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "core/spin_pool.h"
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

bool CpuSupportsFma() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("fma") != 0;
#else
  return false;
#endif
}

std::string Str(int64_t v) { return std::to_string(v); }

// Lays W [3H][k] out as [n_blocks][k][24]; `out` has n_blocks * k * 24 zeroed values.
void PackGruGateBlocks(const float* w, int n_hidden, int k, float* out) {
  const int n_blocks = (n_hidden + kBlockUnits - 1) / kBlockUnits;
  for (int nb = 0; nb < n_blocks; ++nb) {
    float* block = out + static_cast<size_t>(nb) * k * kGruBlockValues;
    for (int g = 0; g < 3; ++g) {
      for (int j = 0; j < kBlockUnits; ++j) {
        const int u = nb * kBlockUnits + j;
        if (u >= n_hidden) continue;  // padding stays zero
        const float* row = w + (static_cast<size_t>(g) * n_hidden + u) * k;
        for (int kk = 0; kk < k; ++kk) block[static_cast<size_t>(kk) * kGruBlockValues + g * kBlockUnits + j] = row[kk];
      }
    }
  }
}

}  // namespace

const GruF32Kernels& ScalarGruF32Kernels() { return kScalarKernels; }

}  // namespace fp32

Status ValidateGruF32Params(const GruF32Params& p) {
  if (p.n_input < 1 || p.n_input > kMaxGruF32Dim) {
    return Status::OutOfRange("GruF32Params: n_input is " + fp32::Str(p.n_input) + " but must be in [1, " +
                              fp32::Str(kMaxGruF32Dim) + "]");
  }
  if (p.n_hidden < 1 || p.n_hidden > kMaxGruF32Dim) {
    return Status::OutOfRange("GruF32Params: n_hidden is " + fp32::Str(p.n_hidden) + " but must be in [1, " +
                              fp32::Str(kMaxGruF32Dim) + "]");
  }
  const int64_t h3 = 3 * static_cast<int64_t>(p.n_hidden);
  if (h3 * p.n_input > kMaxGruF32Elements || h3 * p.n_hidden > kMaxGruF32Elements) {
    return Status::OutOfRange("GruF32Params: 3 * n_hidden * max(n_input, n_hidden) is " +
                              fp32::Str(h3 * std::max(p.n_input, p.n_hidden)) + " but must be <= " +
                              fp32::Str(kMaxGruF32Elements));
  }
  struct Field {
    const char* name;
    size_t size;
    int64_t want;
    const char* rule;
  };
  for (const Field& f : {Field{"w_ih", p.w_ih.size(), h3 * p.n_input, "3 * n_hidden * n_input"},
                         Field{"w_hh", p.w_hh.size(), h3 * p.n_hidden, "3 * n_hidden * n_hidden"},
                         Field{"b_ih", p.b_ih.size(), h3, "3 * n_hidden"},
                         Field{"b_hh", p.b_hh.size(), h3, "3 * n_hidden"}}) {
    if (static_cast<int64_t>(f.size) != f.want) {
      return Status::InvalidArgument(std::string("GruF32Params: ") + f.name + " has " +
                                     fp32::Str(static_cast<int64_t>(f.size)) + " values but must have " + f.rule +
                                     " = " + fp32::Str(f.want));
    }
  }
  return Status::Ok();
}

Status GruF32::Create(GruF32Params params, KernelPath path, std::unique_ptr<GruF32>* out, int threads) {
  if (out == nullptr) return Status::InvalidArgument("GruF32::Create: out is null but must point to a unique_ptr");
  IRNN_RETURN_IF_ERROR(ValidateGruF32Params(params));
  if (threads < 1 || threads > kMaxGruF32Threads) {
    return Status::OutOfRange("GruF32::Create: threads is " + fp32::Str(threads) + " but must be in [1, " +
                              fp32::Str(kMaxGruF32Threads) + "]");
  }
  const bool explicit_avx2 = path == KernelPath::kAvx2 || path == KernelPath::kAvxVnni ||
                             path == KernelPath::kAvx512Vnni || path == KernelPath::kAmx;
  KernelPath resolved = KernelPath::kScalar;
  IRNN_RETURN_IF_ERROR(ResolveKernelPath(path, &resolved));
  if (resolved == KernelPath::kAvxVnni || resolved == KernelPath::kAvx512Vnni || resolved == KernelPath::kAmx) {
    resolved = KernelPath::kAvx2;  // int8 extensions; a CPU that has them has AVX2
  }
  if (resolved == KernelPath::kAvx2 && (fp32::Avx2GruF32Kernels() == nullptr || !fp32::CpuSupportsFma())) {
    if (explicit_avx2) {
      return Status::Unavailable("GruF32::Create: kernel path avx2 needs AVX2 and FMA, not available here");
    }
    resolved = KernelPath::kScalar;
  }
  std::unique_ptr<GruF32> layer(new GruF32());
  layer->params_ = std::move(params);
  layer->path_ = resolved;
  layer->threads_ = threads;
  const GruF32Params& p = layer->params_;
  const int H = p.n_hidden;
  layer->n_blocks_ = (H + fp32::kBlockUnits - 1) / fp32::kBlockUnits;
  const size_t nb = static_cast<size_t>(layer->n_blocks_);
  const bool avx2 = resolved == KernelPath::kAvx2;
  const size_t ih = avx2 ? nb * p.n_input * fp32::kGruBlockValues : 0;
  const size_t hh = avx2 ? nb * p.n_hidden * fp32::kGruBlockValues : 0;
  const size_t bias = nb * fp32::kGruBlockValues, bias_hn = nb * fp32::kBlockUnits;
  // Each part starts on a 32-byte boundary: sizes are multiples of 8 floats, plus 8 floats of slack.
  layer->packed_storage_.assign(ih + hh + bias + bias_hn + 8, 0.0f);
  float* base = layer->packed_storage_.data();
  base += (8 - (reinterpret_cast<uintptr_t>(base) / sizeof(float)) % 8) % 8;
  if (avx2) {
    fp32::PackGruGateBlocks(p.w_ih.data(), H, p.n_input, base);
    fp32::PackGruGateBlocks(p.w_hh.data(), H, H, base + ih);
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
  if (state == nullptr) return Status::InvalidArgument("GruF32::NewState: state is null");
  if (batch < 1 || batch > kMaxGruF32Batch) {
    return Status::OutOfRange("GruF32::NewState: batch is " + fp32::Str(batch) + " but must be in [1, " +
                              fp32::Str(kMaxGruF32Batch) + "]");
  }
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
  if (state == nullptr) return Status::InvalidArgument(std::string(who) + ": state is null");
  const size_t want = static_cast<size_t>(state->batch_) * params_.n_hidden;
  if (state->batch_ < 1 || state->n_hidden_ != params_.n_hidden || state->h_.size() != want) {
    return Status::InvalidArgument(std::string(who) + ": state has batch " + fp32::Str(state->batch_) +
                                   ", n_hidden " + fp32::Str(state->n_hidden_) + ", " +
                                   fp32::Str(static_cast<int64_t>(state->h_.size())) +
                                   " h values but must come from NewState of this layer (n_hidden " +
                                   fp32::Str(params_.n_hidden) + ")");
  }
  return Status::Ok();
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
  // This thread's blocks of hidden units (see LstmF32::RunRange); the barrier after each step makes
  // the whole h visible before the next step reads it.
  const int nb0 = static_cast<int>(static_cast<int64_t>(n_blocks_) * thread / threads_);
  const int nb1 = static_cast<int>(static_cast<int64_t>(n_blocks_) * (thread + 1) / threads_);
  const int B = s->batch_, H = params_.n_hidden;
  const size_t frame_stride = static_cast<size_t>(n_blocks_) * fp32::kGruBlockValues * B;
  const size_t out_stride = static_cast<size_t>(B) * H;
  if (nb1 > nb0) k.Project(w, x, steps * B, nb0, nb1, s->xproj_.data());
  for (int t = 0; t < steps; ++t) {
    const float* h_prev = t == 0 ? s->h_.data() : out + (t - 1) * out_stride;
    if (nb1 > nb0) k.Recur(w, s->xproj_.data() + t * frame_stride, h_prev, B, nb0, nb1, out + t * out_stride);
    if (pool_ != nullptr) pool_->Barrier();
  }
}

Status GruF32::Run(const float* x, int steps, GruF32State* state, float* out) const {
  IRNN_RETURN_IF_ERROR(CheckState("GruF32::Run", state));
  if (steps < 0) return Status::InvalidArgument("GruF32::Run: steps is " + fp32::Str(steps) + " but must be >= 0");
  if (steps == 0) return Status::Ok();
  if (x == nullptr || out == nullptr) {
    return Status::InvalidArgument(std::string("GruF32::Run: ") + (x == nullptr ? "x" : "out") +
                                   " is null but must point to the sequence");
  }
  const int64_t frames = static_cast<int64_t>(steps) * state->batch_;
  const int64_t xproj = frames * n_blocks_ * fp32::kGruBlockValues;
  if (xproj > kMaxGruF32Elements || frames * std::max(params_.n_input, params_.n_hidden) > kMaxGruF32Elements) {
    return Status::OutOfRange("GruF32::Run: steps * batch is " + fp32::Str(frames) +
                              " but the sequence must fit in " + fp32::Str(kMaxGruF32Elements) + " values");
  }
  if (state->xproj_.size() < static_cast<size_t>(xproj)) state->xproj_.resize(static_cast<size_t>(xproj));
  if (pool_ == nullptr) {
    RunRange(0, x, steps, state, out);
  } else {
    std::lock_guard<std::mutex> lock(pool_mutex_);
    pool_->Run([&](int thread) { RunRange(thread, x, steps, state, out); });
  }
  const size_t hb = static_cast<size_t>(state->batch_) * params_.n_hidden;
  std::memcpy(state->h_.data(), out + (steps - 1) * hb, hb * sizeof(float));
  return Status::Ok();
}

Status GruF32::Step(const float* x, GruF32State* state, float* out) const {
  if (x == nullptr || out == nullptr) {
    return Status::InvalidArgument(std::string("GruF32::Step: ") + (x == nullptr ? "x" : "out") +
                                   " is null but must point to a frame");
  }
  return Run(x, 1, state, out);
}

}  // namespace irnn
