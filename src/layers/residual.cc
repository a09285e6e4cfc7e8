// The residual int8 add (include/irnn/residual.h, numerics.md §10.2): validation and dispatch to the
// elementwise kernels. Integer only (scanned by tests/no_float_test.sh); the float derivation of the
// multipliers is in residual_derive.cc.

#include "irnn/residual.h"

#include <string>

#include "kernels/elementwise_kernels.h"

namespace irnn {

namespace {

Status CheckZeroPoint(int32_t zp, const char* field) {
  if (zp < -128 || zp > 127) {
    return Status::InvalidArgument(std::string("ResidualAddParams: ") + field + " is " + std::to_string(zp) +
                                   " but must be in [-128, 127]");
  }
  return Status::Ok();
}

Status CheckMultiplier(QuantizedMultiplier m, const char* field, int max_shift) {
  if (m.multiplier < 0 || (m.multiplier != 0 && m.multiplier < (int32_t{1} << 30))) {
    return Status::InvalidArgument(std::string("ResidualAddParams: ") + field + ".multiplier is " +
                                   std::to_string(m.multiplier) + " but must be 0 or in [2^30, 2^31)");
  }
  if (m.shift < -31 || m.shift > max_shift) {
    return Status::InvalidArgument(std::string("ResidualAddParams: ") + field + ".shift is " + std::to_string(m.shift) +
                                   " but must be in [-31, " + std::to_string(max_shift) + "]");
  }
  return Status::Ok();
}

}  // namespace

Status ValidateResidualAddParams(const ResidualAddParams& p) {
  IRNN_RETURN_IF_ERROR(CheckZeroPoint(p.a_zp, "a_zp"));
  IRNN_RETURN_IF_ERROR(CheckZeroPoint(p.b_zp, "b_zp"));
  IRNN_RETURN_IF_ERROR(CheckZeroPoint(p.output_zp, "output_zp"));
  // Input multipliers are at most 1 (shift <= 0): |a'|, |b'| <= 255·2^20, so a' + b' cannot overflow.
  IRNN_RETURN_IF_ERROR(CheckMultiplier(p.a_scale, "a_scale", 0));
  IRNN_RETURN_IF_ERROR(CheckMultiplier(p.b_scale, "b_scale", 0));
  IRNN_RETURN_IF_ERROR(CheckMultiplier(p.output_scale, "output_scale", 30));
  if (p.rounding != Rounding::kDouble && p.rounding != Rounding::kSingle) {
    return Status::InvalidArgument("ResidualAddParams: rounding is " + std::to_string(static_cast<int>(p.rounding)) +
                                   " but must be 0 (double) or 1 (single)");
  }
  return Status::Ok();
}

Status ResidualAdd::Create(const ResidualAddParams& params, KernelPath path, std::unique_ptr<ResidualAdd>* out) {
  if (out == nullptr) return Status::InvalidArgument("ResidualAdd::Create: out is null");
  IRNN_RETURN_IF_ERROR(ValidateResidualAddParams(params));
  KernelPath resolved = KernelPath::kScalar;
  IRNN_RETURN_IF_ERROR(ResolveKernelPath(path, &resolved));
  std::unique_ptr<ResidualAdd> layer(new ResidualAdd());
  layer->params_ = params;
  layer->kernels_ = &GetElementwiseKernels(resolved);
  *out = std::move(layer);
  return Status::Ok();
}

Status ResidualAdd::Add(const int8_t* a, const int8_t* b, int64_t n, int8_t* out) const {
  if (n < 0) return Status::InvalidArgument("ResidualAdd::Add: n is " + std::to_string(n) + " but must be >= 0");
  if (n == 0) return Status::Ok();
  if (a == nullptr || b == nullptr || out == nullptr) {
    return Status::InvalidArgument("ResidualAdd::Add: a, b or out is null");
  }
  constexpr int64_t kChunk = int64_t{1} << 30;  // the kernels take an int count
  for (int64_t i = 0; i < n; i += kChunk) {
    const int len = static_cast<int>(n - i < kChunk ? n - i : kChunk);
    kernels_->AddS8S8RequantS8(a + i, b + i, len, params_, out + i);
  }
  return Status::Ok();
}

}  // namespace irnn
