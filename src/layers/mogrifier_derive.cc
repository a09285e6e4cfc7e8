// Float side of the Mogrifier LSTM (numerics.md §10.3): per-row weight scales and the LSTM's input and
// output scales -> the rounds' Q3.12 multipliers (QuantizeMultiplierQ15, as every per-channel multiplier
// of the exporter, numerics.md §7.1) and effective biases, plus the PWL sigmoid. Compiled into irnn, not
// into the integer-only irnn_runtime_objs.

#include <cmath>
#include <cstdint>
#include <string>

#include "core/quantize.h"
#include "irnn/mogrifier_lstm.h"

namespace irnn {

Status DeriveMogrifierLstmParams(const TfliteLstmParams& lstm, float input_scale, int32_t input_zp,
                                 float output_scale, const std::vector<MogrifierRoundFloat>& rounds,
                                 MogrifierLstmParams* params) {
  if (params == nullptr) return Status::InvalidArgument("DeriveMogrifierLstmParams: params is null");
  if (!(input_scale > 0.0f) || !std::isfinite(input_scale) || !(output_scale > 0.0f) || !std::isfinite(output_scale)) {
    return Status::InvalidArgument("DeriveMogrifierLstmParams: input_scale and output_scale are " +
                                   std::to_string(input_scale) + ", " + std::to_string(output_scale) +
                                   " but must be finite and > 0");
  }
  MogrifierLstmParams p;
  p.lstm = lstm;
  p.input_zp = input_zp;
  const int64_t n_in = lstm.config.n_input, n_out = lstm.config.n_output;
  for (size_t i = 0; i < rounds.size(); ++i) {
    const MogrifierRoundFloat& f = rounds[i];
    const bool odd = i % 2 == 0;
    const int64_t rows = odd ? n_in : n_out, cols = odd ? n_out : n_in;
    const std::string at = "DeriveMogrifierLstmParams: rounds[" + std::to_string(i) + "].";
    if (static_cast<int64_t>(f.weight.size()) != rows * cols || static_cast<int64_t>(f.weight_scale.size()) != rows ||
        !(f.bias.empty() || static_cast<int64_t>(f.bias.size()) == rows)) {
      return Status::InvalidArgument(at + "weight, weight_scale, bias have " + std::to_string(f.weight.size()) + ", " +
                                     std::to_string(f.weight_scale.size()) + ", " + std::to_string(f.bias.size()) +
                                     " elements but must have " + std::to_string(rows * cols) + ", " +
                                     std::to_string(rows) + ", 0 or " + std::to_string(rows));
    }
    // The round reads h (odd) or x (even): its scale and zero point fold into the multiplier and bias.
    const double in_scale = odd ? output_scale : input_scale;
    const int64_t in_zp = odd ? lstm.output_zp : input_zp;
    MogrifierRound r;
    r.weight = f.weight;
    r.effective_bias.resize(static_cast<size_t>(rows));
    r.scale.resize(static_cast<size_t>(rows));
    for (int64_t row = 0; row < rows; ++row) {
      const double ws = f.weight_scale[static_cast<size_t>(row)];
      if (!(ws > 0.0) || !std::isfinite(ws)) {
        return Status::InvalidArgument(at + "weight_scale[" + std::to_string(row) + "] is " + std::to_string(ws) +
                                       " but must be finite and > 0");
      }
      int64_t sum = 0;
      for (int64_t k = 0; k < cols; ++k) sum += f.weight[static_cast<size_t>(row * cols + k)];
      const int64_t b = (f.bias.empty() ? 0 : f.bias[static_cast<size_t>(row)]) - in_zp * sum;
      if (b < INT32_MIN || b > INT32_MAX) {
        return Status::OutOfRange(at + "effective_bias[" + std::to_string(row) + "] is " + std::to_string(b) +
                                  " but must fit int32");
      }
      r.effective_bias[static_cast<size_t>(row)] = static_cast<int32_t>(b);
      r.scale[static_cast<size_t>(row)] = QuantizeMultiplierQ15(ws * in_scale * 4096.0, lstm.config.rounding);
    }
    p.rounds.push_back(std::move(r));
  }
  if (lstm.config.activation == LstmActivation::kPwl) {
    p.sigmoid = lstm.pwl_sigmoid;
  } else {
    TfliteLstmParams fit = lstm;
    IRNN_RETURN_IF_ERROR(FitTfliteLstmPwlTables(/*optimal=*/true, 1.0, &fit));
    p.sigmoid = fit.pwl_sigmoid;
  }
  IRNN_RETURN_IF_ERROR(ValidateMogrifierLstmParams(p));
  *params = std::move(p);
  return Status::Ok();
}

}  // namespace irnn
