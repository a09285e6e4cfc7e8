// sim of the residual add and the Mogrifier LSTM (numerics.md §10.2-§10.3); see sim_mogrifier.h.

#include "train/sim_mogrifier.h"

#include <stdexcept>
#include <string>

namespace irnn::train::sim {

using torch::Tensor;

namespace {
Tensor Long(const Tensor& x) { return x.scalar_type() == torch::kInt64 ? x : x.to(torch::kInt64); }

template <typename T>
Tensor ToTensor(const std::vector<T>& v, const torch::Device& device) {
  Tensor t = torch::empty({static_cast<int64_t>(v.size())}, torch::kInt64);
  int64_t* p = t.data_ptr<int64_t>();
  for (size_t i = 0; i < v.size(); ++i) p[i] = static_cast<int64_t>(v[i]);
  return t.to(device);
}
}  // namespace

Tensor SimResidualAdd(const ResidualAddParams& p, const Tensor& a, const Tensor& b) {
  if (a.sizes() != b.sizes()) throw std::invalid_argument("sim: SimResidualAdd: a and b must have one shape");
  const int64_t shift = int64_t{1} << kResidualLeftShift;
  const Tensor sa = MultiplyByQuantizedMultiplier((Long(a) - p.a_zp) * shift, p.a_scale, p.rounding);
  const Tensor sb = MultiplyByQuantizedMultiplier((Long(b) - p.b_zp) * shift, p.b_scale, p.rounding);
  return SaturateToInt8(MultiplyByQuantizedMultiplier(sa + sb, p.output_scale, p.rounding) + p.output_zp);
}

Tensor SimMogrifyS8(const Tensor& gate, const Tensor& x, int64_t zp) {
  return SaturateToInt8(RoundingDivideByPOT((Long(x) - zp) * Long(gate), 14) + zp);
}

SimMogrifierLstm PrepareSimMogrifierLstm(const MogrifierLstmParams& p, const torch::Device& device) {
  const Status s = ValidateMogrifierLstmParams(p);
  if (!s.ok()) throw std::invalid_argument("sim: PrepareSimMogrifierLstm: " + s.message());
  SimMogrifierLstm m;
  m.lstm = PrepareSimTfliteLstm(p.lstm, device);
  m.input_zp = p.input_zp;
  m.rounding = p.lstm.config.rounding;
  const int64_t n_in = p.lstm.config.n_input, n_out = p.lstm.config.n_output;
  for (size_t i = 0; i < p.rounds.size(); ++i) {
    const bool odd = i % 2 == 0;
    const MogrifierRound& r = p.rounds[i];
    m.weight.push_back(ToTensor(r.weight, device).view({odd ? n_in : n_out, odd ? n_out : n_in}));
    m.bias.push_back(ToTensor(r.effective_bias, device));
    m.scale.push_back(PerChannelRequant(r.scale, device));
  }
  m.sigmoid = ToPwlTensors(p.sigmoid, device);
  return m;
}

std::pair<Tensor, Tensor> SimMogrify(const SimMogrifierLstm& m, const Tensor& x_in, const Tensor& h_in) {
  Tensor x = Long(x_in), h = Long(h_in);
  for (size_t i = 0; i < m.weight.size(); ++i) {
    const bool odd = i % 2 == 0;
    // int8 matmul -> per-row requantization to Q3.12 -> sat16 -> PWL sigmoid Q0.15 -> gating.
    const Tensor pre = SaturateToInt16(GemvRequant(odd ? h : x, m.weight[i], m.bias[i], m.scale[i], m.rounding));
    const Tensor gate = EvaluatePwl(m.sigmoid, pre);
    if (odd) {
      x = SimMogrifyS8(gate, x, m.input_zp);
    } else {
      h = SimMogrifyS8(gate, h, m.lstm.output_zp);
    }
  }
  return {x, h};
}

SimLstmStep SimMogrifierLstmStep(const SimMogrifierLstm& m, const Tensor& x, const Tensor& h, const Tensor& c) {
  const auto xh = SimMogrify(m, x, h);
  return SimTfliteLstmStep(m.lstm, xh.first, xh.second, c);
}

SimLstmSequence SimMogrifierLstmSequence(const SimMogrifierLstm& m, const Tensor& x, const Tensor& h0, const Tensor& c0) {
  if (x.dim() != 3) throw std::invalid_argument("sim: SimMogrifierLstmSequence: x must be [T][B][n_input]");
  Tensor h = Long(h0), c = Long(c0);
  std::vector<Tensor> outs;
  for (int64_t t = 0; t < x.size(0); ++t) {
    SimLstmStep s = SimMogrifierLstmStep(m, x[t], h, c);
    outs.push_back(s.out);
    h = s.h;
    c = s.c;
  }
  Tensor out = outs.empty() ? torch::empty({0, x.size(1), m.lstm.config.n_output}, torch::kInt64) : torch::stack(outs);
  return {out, h, c};
}

}  // namespace irnn::train::sim
