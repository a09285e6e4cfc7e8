// The embedding layer of the integer language model (numerics.md §7.2): validation and the row copy.
// No arithmetic at all; integer only (part of the no-float check).

#include "layers/embedding.h"

#include <cstring>
#include <string>

#include "irnn/lm.h"

namespace irnn {
namespace internal {

void EmbeddingLookupUnchecked(const EmbeddingParams& params, const int32_t* tokens, int n, int8_t* out) {
  const size_t dim = static_cast<size_t>(params.dim);
  for (int i = 0; i < n; ++i) {
    std::memcpy(out + static_cast<size_t>(i) * dim, params.table.data() + static_cast<size_t>(tokens[i]) * dim, dim);
  }
}

Status CheckTokenIds(const char* who, const int32_t* tokens, int64_t n, int32_t vocab, int batch) {
  for (int64_t i = 0; i < n; ++i) {
    if (tokens[i] >= 0 && tokens[i] < vocab) continue;
    std::string where;
    if (batch > 0) where = " (step " + std::to_string(i / batch) + ", stream " + std::to_string(i % batch) + ")";
    return Status::InvalidArgument(std::string(who) + ": tokens[" + std::to_string(i) + "]" + where + " is " +
                                   std::to_string(tokens[i]) + " but must be a token id in [0, " +
                                   std::to_string(vocab) + ")");
  }
  return Status::Ok();
}

}  // namespace internal

Status ValidateEmbeddingParams(const EmbeddingParams& p) {
  if (p.vocab < 1 || p.vocab > kMaxVocab) {
    return Status::InvalidArgument("EmbeddingParams: vocab is " + std::to_string(p.vocab) + " but must be in [1, " +
                                   std::to_string(kMaxVocab) + "]");
  }
  if (p.dim < 1 || p.dim > kMaxLmDim) {
    return Status::InvalidArgument("EmbeddingParams: dim is " + std::to_string(p.dim) + " but must be in [1, " +
                                   std::to_string(kMaxLmDim) + "]");
  }
  const int64_t elements = int64_t{p.vocab} * p.dim;  // < 2^40: no overflow
  if (elements > kMaxLmMatrix) {
    return Status::OutOfRange("EmbeddingParams: vocab * dim is " + std::to_string(elements) +
                              " but must be at most " + std::to_string(kMaxLmMatrix));
  }
  if (static_cast<int64_t>(p.table.size()) != elements) {
    return Status::InvalidArgument("EmbeddingParams: table has " + std::to_string(p.table.size()) +
                                   " elements but must have vocab*dim = " + std::to_string(elements));
  }
  if (p.zero_point < -128 || p.zero_point > 127) {
    return Status::InvalidArgument("EmbeddingParams: zero_point is " + std::to_string(p.zero_point) +
                                   " but must be in [-128, 127]");
  }
  return Status::Ok();
}

Status EmbeddingLookup(const EmbeddingParams& params, const int32_t* tokens, int n, int8_t* out) {
  IRNN_RETURN_IF_ERROR(ValidateEmbeddingParams(params));
  if (n < 0) return Status::InvalidArgument("EmbeddingLookup: n is " + std::to_string(n) + " but must be >= 0");
  if (n == 0) return Status::Ok();
  if (tokens == nullptr) return Status::InvalidArgument("EmbeddingLookup: tokens is null");
  if (out == nullptr) return Status::InvalidArgument("EmbeddingLookup: out is null");
  IRNN_RETURN_IF_ERROR(internal::CheckTokenIds("EmbeddingLookup", tokens, n, params.vocab, 0));
  internal::EmbeddingLookupUnchecked(params, tokens, n, out);
  return Status::Ok();
}

}  // namespace irnn
