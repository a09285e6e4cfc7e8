// The float32 LSTM baseline (include/irnn/lstm_f32.h): validation, the scalar reference kernels, weight
// packing, the threading of Run and Step. The AVX2 kernels are in gemm_f32_avx2.cc. Not part of the
// integer runtime; the integer layer is irnn::TfliteLstm.

#include "irnn/lstm_f32.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "core/spin_pool.h"
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

bool CpuSupportsFma() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("fma") != 0;
#else
  return false;
#endif
}

std::string Str(int64_t v) { return std::to_string(v); }

}  // namespace

const LstmF32Kernels& ScalarLstmF32Kernels() { return kScalarKernels; }

void PackGateBlocks(const float* w, int n_hidden, int k, float* out) {
  const int n_blocks = (n_hidden + kBlockUnits - 1) / kBlockUnits;
  for (int nb = 0; nb < n_blocks; ++nb) {
    float* block = out + static_cast<size_t>(nb) * k * kBlockValues;
    for (int g = 0; g < 4; ++g) {
      for (int j = 0; j < kBlockUnits; ++j) {
        const int u = nb * kBlockUnits + j;
        if (u >= n_hidden) continue;  // padding stays zero
        const float* row = w + (static_cast<size_t>(g) * n_hidden + u) * k;
        for (int kk = 0; kk < k; ++kk) block[static_cast<size_t>(kk) * kBlockValues + g * kBlockUnits + j] = row[kk];
      }
    }
  }
}

}  // namespace fp32

Status ValidateLstmF32Params(const LstmF32Params& p) {
  if (p.n_input < 1 || p.n_input > kMaxLstmF32Dim) {
    return Status::OutOfRange("LstmF32Params: n_input is " + fp32::Str(p.n_input) + " but must be in [1, " +
                              fp32::Str(kMaxLstmF32Dim) + "]");
  }
  if (p.n_hidden < 1 || p.n_hidden > kMaxLstmF32Dim) {
    return Status::OutOfRange("LstmF32Params: n_hidden is " + fp32::Str(p.n_hidden) + " but must be in [1, " +
                              fp32::Str(kMaxLstmF32Dim) + "]");
  }
  const int64_t h4 = 4 * static_cast<int64_t>(p.n_hidden);
  if (h4 * p.n_input > kMaxLstmF32Elements || h4 * p.n_hidden > kMaxLstmF32Elements) {
    return Status::OutOfRange("LstmF32Params: 4 * n_hidden * max(n_input, n_hidden) is " +
                              fp32::Str(h4 * std::max(p.n_input, p.n_hidden)) + " but must be <= " +
                              fp32::Str(kMaxLstmF32Elements));
  }
  struct Field {
    const char* name;
    size_t size;
    int64_t want;
    const char* rule;
  };
  for (const Field& f : {Field{"w_ih", p.w_ih.size(), h4 * p.n_input, "4 * n_hidden * n_input"},
                         Field{"w_hh", p.w_hh.size(), h4 * p.n_hidden, "4 * n_hidden * n_hidden"},
                         Field{"bias", p.bias.size(), h4, "4 * n_hidden"}}) {
    if (static_cast<int64_t>(f.size) != f.want) {
      return Status::InvalidArgument(std::string("LstmF32Params: ") + f.name + " has " +
                                     fp32::Str(static_cast<int64_t>(f.size)) + " values but must have " + f.rule +
                                     " = " + fp32::Str(f.want));
    }
  }
  return Status::Ok();
}

Status LstmF32::Create(LstmF32Params params, KernelPath path, std::unique_ptr<LstmF32>* out, int threads) {
  if (out == nullptr) return Status::InvalidArgument("LstmF32::Create: out is null but must point to a unique_ptr");
  IRNN_RETURN_IF_ERROR(ValidateLstmF32Params(params));
  if (threads < 1 || threads > kMaxLstmF32Threads) {
    return Status::OutOfRange("LstmF32::Create: threads is " + fp32::Str(threads) + " but must be in [1, " +
                              fp32::Str(kMaxLstmF32Threads) + "]");
  }
  const bool explicit_avx2 =
      path == KernelPath::kAvx2 || path == KernelPath::kAvxVnni || path == KernelPath::kAvx512Vnni ||
      path == KernelPath::kAmx;
  KernelPath resolved = KernelPath::kScalar;
  IRNN_RETURN_IF_ERROR(ResolveKernelPath(path, &resolved));
  // AVX-VNNI, AVX-512 VNNI and AMX accelerate int8 products only; a CPU that has them has AVX2, which
  // this layer uses.
  if (resolved == KernelPath::kAvxVnni || resolved == KernelPath::kAvx512Vnni || resolved == KernelPath::kAmx) {
    resolved = KernelPath::kAvx2;
  }
  if (resolved == KernelPath::kAvx2 && (fp32::Avx2LstmF32Kernels() == nullptr || !fp32::CpuSupportsFma())) {
    if (explicit_avx2) {
      return Status::Unavailable("LstmF32::Create: kernel path avx2 needs AVX2 and FMA, not available here");
    }
    resolved = KernelPath::kScalar;  // kAuto (or IRNN_PATH=avx2 through kAuto) on an AVX2 CPU without FMA
  }
  std::unique_ptr<LstmF32> layer(new LstmF32());
  layer->params_ = std::move(params);
  layer->path_ = resolved;
  layer->threads_ = threads;
  const LstmF32Params& p = layer->params_;
  layer->n_blocks_ = (p.n_hidden + fp32::kBlockUnits - 1) / fp32::kBlockUnits;
  if (resolved == KernelPath::kAvx2) {
    const size_t nb = static_cast<size_t>(layer->n_blocks_);
    const size_t ih = nb * p.n_input * fp32::kBlockValues, hh = nb * p.n_hidden * fp32::kBlockValues;
    const size_t bias = nb * fp32::kBlockValues;
    // Each part starts on a 64-byte boundary: sizes are multiples of 32 floats, plus 16 floats of slack.
    layer->packed_storage_.assign(ih + hh + bias + 16, 0.0f);
    float* base = layer->packed_storage_.data();
    base += (16 - (reinterpret_cast<uintptr_t>(base) / sizeof(float)) % 16) % 16;
    fp32::PackGateBlocks(p.w_ih.data(), p.n_hidden, p.n_input, base);
    fp32::PackGateBlocks(p.w_hh.data(), p.n_hidden, p.n_hidden, base + ih);
    fp32::PackGateBlocks(p.bias.data(), p.n_hidden, 1, base + ih + hh);
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
  if (state == nullptr) return Status::InvalidArgument("LstmF32::NewState: state is null");
  if (batch < 1 || batch > kMaxLstmF32Batch) {
    return Status::OutOfRange("LstmF32::NewState: batch is " + fp32::Str(batch) + " but must be in [1, " +
                              fp32::Str(kMaxLstmF32Batch) + "]");
  }
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
  if (state == nullptr) return Status::InvalidArgument(std::string(who) + ": state is null");
  const size_t want = static_cast<size_t>(state->batch_) * params_.n_hidden;
  if (state->batch_ < 1 || state->n_hidden_ != params_.n_hidden || state->h_.size() != want ||
      state->c_.size() != want) {
    return Status::InvalidArgument(std::string(who) + ": state has batch " + fp32::Str(state->batch_) +
                                   ", n_hidden " + fp32::Str(state->n_hidden_) + ", " +
                                   fp32::Str(static_cast<int64_t>(state->h_.size())) + " h and " +
                                   fp32::Str(static_cast<int64_t>(state->c_.size())) +
                                   " c values but must come from NewState of this layer (n_hidden " +
                                   fp32::Str(params_.n_hidden) + ")");
  }
  return Status::Ok();
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
  w.bias = params_.bias.data();
  w.w_ih_packed = w_ih_packed_;
  w.w_hh_packed = w_hh_packed_;
  w.bias_packed = bias_packed_;
  // This thread's blocks of hidden units: it computes their projections, gates, c and h at every step;
  // the barrier after each step makes the whole h visible before the next step reads it.
  const int nb0 = static_cast<int>(static_cast<int64_t>(n_blocks_) * thread / threads_);
  const int nb1 = static_cast<int>(static_cast<int64_t>(n_blocks_) * (thread + 1) / threads_);
  const int B = s->batch_, H = params_.n_hidden;
  const size_t frame_stride = static_cast<size_t>(n_blocks_) * fp32::kBlockValues * B;
  const size_t out_stride = static_cast<size_t>(B) * H;
  if (nb1 > nb0) k.Project(w, x, steps * B, nb0, nb1, s->xproj_.data());
  for (int t = 0; t < steps; ++t) {
    const float* h_prev = t == 0 ? s->h_.data() : out + (t - 1) * out_stride;
    if (nb1 > nb0) k.Recur(w, s->xproj_.data() + t * frame_stride, h_prev, B, nb0, nb1, s->c_.data(), out + t * out_stride);
    if (pool_ != nullptr) pool_->Barrier();
  }
}

Status LstmF32::Run(const float* x, int steps, LstmF32State* state, float* out) const {
  IRNN_RETURN_IF_ERROR(CheckState("LstmF32::Run", state));
  if (steps < 0) return Status::InvalidArgument("LstmF32::Run: steps is " + fp32::Str(steps) + " but must be >= 0");
  if (steps == 0) return Status::Ok();
  if (x == nullptr || out == nullptr) {
    return Status::InvalidArgument(std::string("LstmF32::Run: ") + (x == nullptr ? "x" : "out") +
                                   " is null but must point to the sequence");
  }
  const int64_t frames = static_cast<int64_t>(steps) * state->batch_;
  const int64_t xproj = frames * n_blocks_ * fp32::kBlockValues;
  if (xproj > kMaxLstmF32Elements || frames * std::max(params_.n_input, params_.n_hidden) > kMaxLstmF32Elements) {
    return Status::OutOfRange("LstmF32::Run: steps * batch is " + fp32::Str(frames) +
                              " but the sequence must fit in " + fp32::Str(kMaxLstmF32Elements) + " values");
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

Status LstmF32::Step(const float* x, LstmF32State* state, float* out) const {
  if (x == nullptr || out == nullptr) {
    return Status::InvalidArgument(std::string("LstmF32::Step: ") + (x == nullptr ? "x" : "out") +
                                   " is null but must point to a frame");
  }
  return Run(x, 1, state, out);
}

}  // namespace irnn
