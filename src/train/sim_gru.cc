// sim of the integer GRU (sim_gru.h; numerics.md §8) with int64 tensor operations.

#include "train/sim_gru.h"

#include <stdexcept>
#include <string>
#include <vector>

namespace irnn::train::sim {
namespace {

using torch::Tensor;

Tensor Long(const Tensor& x) { return x.scalar_type() == torch::kInt64 ? x : x.to(torch::kInt64); }

template <typename T>
Tensor ToTensor(const std::vector<T>& v, std::initializer_list<int64_t> shape, const torch::Device& device) {
  std::vector<int64_t> w(v.begin(), v.end());
  return torch::tensor(w, torch::TensorOptions().dtype(torch::kInt64)).reshape(shape).to(device);
}

// §8.1-§8.3 given the input matmul results ax[g] [B][H] (int32-valued).
SimGruStepResult StepFromInput(const SimGru& m, const std::array<Tensor, 3>& ax, const Tensor& h16_in,
                               const Tensor& h8_in) {
  const Rounding rnd = m.config.rounding;
  std::array<Tensor, 3> ah;
  for (int g = 0; g < 3; ++g) ah[g] = GemvRequant(h8_in, m.w_h[g], m.bias_h[g], m.m_h[g], rnd);
  const Tensor r = EvaluatePwl(m.pwl_sigmoid, SaturateToInt16(ax[kResetGate] + ah[kResetGate]));
  const Tensor z = EvaluatePwl(m.pwl_sigmoid, SaturateToInt16(ax[kUpdateGate] + ah[kUpdateGate]));
  const Tensor a = SaturateToInt16(ax[kNewGate]);
  const Tensor b = SaturateToInt16(ah[kNewGate]);
  const Tensor n = EvaluatePwl(m.pwl_tanh, SaturateToInt16(a + RoundingDivideByPOT(r * b, 15)));
  const Tensor h16 = SaturateToInt16(n + RoundingDivideByPOT(z * (Long(h16_in) - n), 15));
  const Tensor h8 =
      SaturateToInt8(MultiplyByQuantizedMultiplier(h16, m.output_scale, rnd) + static_cast<int64_t>(m.output_zp));
  return {h8, h16, h8};
}

}  // namespace

SimGru PrepareSimGru(const GruParams& p, const torch::Device& device) {
  const GruConfig& c = p.config;
  const int64_t h = c.n_hidden, in = c.n_input;
  if (h < 1 || in < 1) throw std::invalid_argument("PrepareSimGru: n_input and n_hidden must be >= 1");
  SimGru m;
  m.config = c;
  m.device = device;
  for (int g = 0; g < 3; ++g) {
    if (static_cast<int64_t>(p.input_weights[g].size()) != h * in ||
        static_cast<int64_t>(p.recurrent_weights[g].size()) != h * h ||
        static_cast<int64_t>(p.input_effective_bias[g].size()) != h ||
        static_cast<int64_t>(p.recurrent_effective_bias[g].size()) != h ||
        static_cast<int64_t>(p.input_scale[g].size()) != h || static_cast<int64_t>(p.recurrent_scale[g].size()) != h) {
      throw std::invalid_argument("PrepareSimGru: gate " + std::to_string(g) + " has tensors of the wrong size");
    }
    m.w_x[g] = ToTensor(p.input_weights[g], {h, in}, device);
    m.w_h[g] = ToTensor(p.recurrent_weights[g], {h, h}, device);
    m.bias_x[g] = ToTensor(p.input_effective_bias[g], {h}, device);
    m.bias_h[g] = ToTensor(p.recurrent_effective_bias[g], {h}, device);
    m.m_x[g] = PerChannelRequant(p.input_scale[g], device);
    m.m_h[g] = PerChannelRequant(p.recurrent_scale[g], device);
  }
  m.output_scale = p.output_scale;
  m.output_zp = p.output_zp;
  m.pwl_sigmoid = ToPwlTensors(p.pwl_sigmoid, device);
  m.pwl_tanh = ToPwlTensors(p.pwl_tanh, device);
  return m;
}

SimGruStepResult SimGruStep(const SimGru& m, const Tensor& x, const Tensor& h16, const Tensor& h8) {
  std::array<Tensor, 3> ax;
  for (int g = 0; g < 3; ++g) ax[g] = GemvRequant(Long(x), m.w_x[g], m.bias_x[g], m.m_x[g], m.config.rounding);
  return StepFromInput(m, ax, h16, Long(h8));
}

SimGruSequenceResult SimGruSequence(const SimGru& m, const Tensor& x_in, const Tensor& h16_0, const Tensor& h8_0) {
  const Tensor x = Long(x_in);
  if (x.dim() != 3) throw std::invalid_argument("SimGruSequence: x must be [T][B][n_input]");
  const int64_t steps = x.size(0), batch = x.size(1);
  std::array<Tensor, 3> ax_all;
  for (int g = 0; g < 3; ++g) {
    ax_all[g] = GemvRequant(x.reshape({steps * batch, x.size(2)}), m.w_x[g], m.bias_x[g], m.m_x[g], m.config.rounding)
                    .reshape({steps, batch, -1});
  }
  Tensor h16 = Long(h16_0), h8 = Long(h8_0);
  std::vector<Tensor> outs;
  for (int64_t t = 0; t < steps; ++t) {
    const SimGruStepResult s = StepFromInput(m, {ax_all[0][t], ax_all[1][t], ax_all[2][t]}, h16, h8);
    h16 = s.h16;
    h8 = s.h8;
    outs.push_back(s.out);
  }
  return {torch::stack(outs), h16, h8};
}

std::pair<Tensor, Tensor> SimGruInitialState(const SimGru& m, int64_t batch) {
  auto o = torch::TensorOptions().dtype(torch::kInt64).device(m.device);
  return {torch::zeros({batch, m.config.n_hidden}, o), torch::full({batch, m.config.n_hidden}, m.output_zp, o)};
}

}  // namespace irnn::train::sim
