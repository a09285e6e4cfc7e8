// Internal to the runtime: the embedding copy without checks, for LanguageModel, which has validated the
// params at Create and the tokens before the step. Public API: irnn/lm.h.
#pragma once

#include <cstdint>

#include "irnn/lm.h"

namespace irnn::internal {

// out[i][:] = table[tokens[i]][:] for i in [0, n); every token must be in [0, vocab).
void EmbeddingLookupUnchecked(const EmbeddingParams& params, const int32_t* tokens, int n, int8_t* out);

// Ok when every token of tokens[0..n) is in [0, vocab); else an error "<who>: tokens[i] (<where>) is t
// but must be in [0, vocab)", where `batch` > 0 turns i into "step i / batch, stream i % batch".
Status CheckTokenIds(const char* who, const int32_t* tokens, int64_t n, int32_t vocab, int batch);

}  // namespace irnn::internal
