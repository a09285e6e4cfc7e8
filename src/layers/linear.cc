// The Linear layer to int32 logits (numerics.md §7.3): validation and one per-channel requantized
// matmul (GemvS8S8RequantPerChannelS32, §7.1) on the kernel path chosen at Create. Integer only (part
// of the no-float check).

#include <string>

#include "irnn/lm.h"
#include "kernels/lstm_kernels.h"

namespace irnn {
namespace {

constexpr int kMaxBatch = 1 << 16;

}  // namespace

Status ValidateLinearParams(const LinearParams& p) {
  if (p.n_in < 1 || p.n_in > kMaxLmDim) {
    return Status::InvalidArgument("LinearParams: n_in is " + std::to_string(p.n_in) + " but must be in [1, " +
                                   std::to_string(kMaxLmDim) + "]");
  }
  if (p.n_out < 1 || p.n_out > kMaxVocab) {
    return Status::InvalidArgument("LinearParams: n_out is " + std::to_string(p.n_out) + " but must be in [1, " +
                                   std::to_string(kMaxVocab) + "]");
  }
  const int64_t elements = int64_t{p.n_out} * p.n_in;  // < 2^40: no overflow
  if (elements > kMaxLmMatrix) {
    return Status::OutOfRange("LinearParams: n_out * n_in is " + std::to_string(elements) + " but must be at most " +
                              std::to_string(kMaxLmMatrix));
  }
  auto size_error = [](const char* field, size_t got, const char* rule, int64_t want) {
    return Status::InvalidArgument(std::string("LinearParams: ") + field + " has " + std::to_string(got) +
                                   " elements but must have " + rule + " = " + std::to_string(want));
  };
  if (static_cast<int64_t>(p.weights.size()) != elements) {
    return size_error("weights", p.weights.size(), "n_out*n_in", elements);
  }
  if (static_cast<int64_t>(p.effective_bias.size()) != p.n_out) {
    return size_error("effective_bias", p.effective_bias.size(), "n_out", p.n_out);
  }
  if (static_cast<int64_t>(p.channel_scale.size()) != p.n_out) {
    return size_error("channel_scale", p.channel_scale.size(), "n_out", p.n_out);
  }
  for (size_t r = 0; r < p.channel_scale.size(); ++r) {
    const QuantizedMultiplier m = p.channel_scale[r];
    const std::string field = "LinearParams: channel_scale[" + std::to_string(r) + "]";
    if (m.multiplier < 0 || (m.multiplier != 0 && m.multiplier < (int32_t{1} << 30))) {
      return Status::InvalidArgument(field + ".multiplier is " + std::to_string(m.multiplier) +
                                     " but must be 0 or in [2^30, 2^31)");
    }
    if (m.shift < -31 || m.shift > 30) {
      return Status::InvalidArgument(field + ".shift is " + std::to_string(m.shift) + " but must be in [-31, 30]");
    }
  }
  if (p.rounding != Rounding::kDouble && p.rounding != Rounding::kSingle) {
    return Status::InvalidArgument("LinearParams: rounding is " + std::to_string(static_cast<int>(p.rounding)) +
                                   " but must be 0 or 1");
  }
  return Status::Ok();
}

Status Linear::Create(LinearParams params, KernelPath path, std::unique_ptr<Linear>* out) {
  if (out == nullptr) return Status::InvalidArgument("Linear::Create: out is null");
  IRNN_RETURN_IF_ERROR(ValidateLinearParams(params));
  KernelPath resolved = KernelPath::kScalar;
  IRNN_RETURN_IF_ERROR(ResolveKernelPath(path, &resolved));
  std::unique_ptr<Linear> layer(new Linear());
  layer->params_ = std::move(params);
  layer->path_ = resolved;
  layer->kernels_ = &GetLstmKernels(resolved);
  auto packed = std::make_shared<PackedS8>();
  layer->kernels_->PackS8(layer->params_.weights.data(), layer->params_.n_out, layer->params_.n_in, packed.get());
  layer->packed_ = std::move(packed);
  *out = std::move(layer);
  return Status::Ok();
}

Status Linear::Run(const int8_t* x, int batch, int32_t* out) const {
  if (x == nullptr) return Status::InvalidArgument("Linear::Run: x is null");
  if (out == nullptr) return Status::InvalidArgument("Linear::Run: out is null");
  if (batch < 1 || batch > kMaxBatch) {
    return Status::InvalidArgument("Linear::Run: batch is " + std::to_string(batch) + " but must be in [1, " +
                                   std::to_string(kMaxBatch) + "]");
  }
  RunUnchecked(x, batch, out);
  return Status::Ok();
}

// logit[b][r] = MBQM(effective_bias[r] + sum_k W[r][k] x[b][k], M[r]), int32 (numerics.md §7.3).
void Linear::RunUnchecked(const int8_t* x, int batch, int32_t* out) const {
  kernels_->GemvPackedRequantS32(*packed_, 0, params_.n_out, params_.effective_bias.data(), x, batch, QuantizedMultiplier{},
                                 params_.channel_scale.data(), params_.rounding, out);
}

}  // namespace irnn
