// QAT of the LayerNorm LSTM and the Mogrifier LSTM (src/train/qat_layers.h; numerics.md §3, §4, §10.3):
// (a) a few dozen Adam steps on a tiny synthetic sequence task lower the loss; (b) the exported
// parameters on the runtime (TfliteLstm / MogrifierLstm, scalar and every optimized path) equal the
// module's evaluation forward (the sim) bit for bit, batch > 1; (c) the training-mode fake-quantized
// float output stays close to the integer output dequantized (bound in output LSBs, printed); (d) with
// power-of-two scales (numerics.md §7.1.1) every LSTM multiplier is (2^30, shift <= 0).
// Tiny sizes: a few seconds in Release. Not a recipe or an accuracy benchmark.

#include "train/qat_layers.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "irnn/mogrifier_lstm.h"
#include "irnn/tflite_lstm.h"
#include "support/paths.h"

namespace irnn::train {
namespace {

constexpr int64_t kIn = 3, kCell = 8, kSteps = 12, kBatch = 6;

// Input uniform in [-1, 1]; target y[t] = x[t-1][0] + 0.5·x[t][1] (a delay and a sum).
void MakeBatch(torch::Tensor* x, torch::Tensor* y) {
  *x = torch::rand({kSteps, kBatch, kIn}) * 2 - 1;
  torch::Tensor delayed = torch::zeros({kSteps, kBatch});
  delayed.narrow(0, 1, kSteps - 1).copy_(x->select(2, 0).narrow(0, 0, kSteps - 1));
  *y = (delayed + 0.5 * x->select(2, 1)).unsqueeze(2);
}

// Trains `layer` (fake-quantized, observers on) with a float linear head; returns the mean loss of the
// first and the last 5 steps.
template <typename Layer>
void Train(Layer layer, int steps, double* first, double* last) {
  torch::manual_seed(11);
  torch::nn::Linear head(kCell, 1);
  std::vector<torch::Tensor> params = layer->parameters();
  for (const auto& p : head->parameters()) params.push_back(p);
  torch::optim::Adam opt(params, torch::optim::AdamOptions(2e-2));
  layer->train();
  {  // calibration: one batch, observers only
    torch::NoGradGuard no_grad;
    torch::Tensor x, y;
    MakeBatch(&x, &y);
    layer->forward(x);
  }
  std::vector<double> losses;
  for (int s = 0; s < steps; ++s) {
    torch::Tensor x, y;
    MakeBatch(&x, &y);
    const torch::Tensor loss = torch::mse_loss(head(layer->forward(x)), y);
    opt.zero_grad();
    loss.backward();
    opt.step();
    losses.push_back(loss.item<double>());
  }
  *first = *last = 0;
  for (int i = 0; i < 5; ++i) {
    *first += losses[static_cast<size_t>(i)] / 5;
    *last += losses[losses.size() - 1 - static_cast<size_t>(i)] / 5;
  }
  layer->set_observing(false);
}

std::vector<int8_t> ToInt8(const torch::Tensor& q) {
  const torch::Tensor c = q.to(torch::kInt8).contiguous();
  return std::vector<int8_t>(c.data_ptr<int8_t>(), c.data_ptr<int8_t>() + c.numel());
}

std::vector<KernelPath> AllPaths() {
  std::vector<KernelPath> paths{KernelPath::kScalar};
  for (KernelPath p : testing::OptimizedPathsOrNote()) paths.push_back(p);
  return paths;
}

// (c): |training-mode float output − dequantized integer output| / S_h, in output LSBs. Observed
// (Release, these seeds): mean 0.03 LSB, max 1 (LN-LSTM); 0.04, max 1 (Mogrifier); 0.12, max 2
// (Mogrifier with LayerNorm). Bounds: mean < 0.5 LSB, max <= 4 LSB.
// A batch x (torch seed `seed`), the layer's simulation of it, and the integer runtime's Run of the
// exported params p on every path, equal to the simulation.
template <typename Layer>
void ExpectRuntimeEqualsSim(Layer layer, const TfliteLstmParams& p, uint64_t seed, torch::Tensor* x,
                            torch::Tensor* sim_out) {
  torch::manual_seed(seed);
  torch::Tensor y;
  MakeBatch(x, &y);
  const torch::Tensor xq = layer->QuantizeInput(*x);
  ASSERT_TRUE(layer->SimForward(xq, sim_out).ok());
  const std::vector<int8_t> in = ToInt8(xq), want = ToInt8(*sim_out);
  for (KernelPath path : AllPaths()) {
    std::unique_ptr<TfliteLstm> lstm;
    ASSERT_TRUE(TfliteLstm::Create(p, path, &lstm).ok());
    TfliteLstmState st;
    ASSERT_TRUE(lstm->NewState(kBatch, &st).ok());
    std::vector<int8_t> out(want.size());
    ASSERT_TRUE(lstm->Run(in.data(), kSteps, &st, out.data()).ok());
    EXPECT_EQ(out, want) << "path " << static_cast<int>(path);
  }
}

template <typename Layer>
void CompareFakeQuantWithInteger(Layer layer, const torch::Tensor& x, const torch::Tensor& int_out, double s_h,
                                 const std::string& name, double mean_bound) {
  torch::NoGradGuard no_grad;
  layer->train();
  const torch::Tensor fq = layer->forward(x).to(torch::kFloat64);
  layer->eval();
  const torch::Tensor deq = layer->Dequantize(int_out);
  const torch::Tensor diff = (fq - deq).abs() / s_h;
  const double mean = diff.mean().item<double>(), max = diff.max().item<double>();
  std::printf("[ MEASURED ] %s: fake-quant float vs integer output: mean |diff| %.3f LSB, max %.1f LSB over %lld values\n",
              name.c_str(), mean, max, static_cast<long long>(diff.numel()));
  EXPECT_LT(mean, mean_bound) << name;
  EXPECT_LE(max, 4.0) << name;
  // The eval forward is the dequantized sim output.
  EXPECT_TRUE(torch::allclose(layer->forward(x.to(torch::kFloat32)).to(torch::kFloat64), deq.to(torch::kFloat32).to(torch::kFloat64)));
}

TEST(QatLayers, LayerNormLstmTrainsAndExportEqualsRuntime) {
  QatLayerOptions o;
  o.layer_norm = true;
  QatLstmLayer layer(kIn, kCell, o, 5);
  double first, last;
  Train(layer, 40, &first, &last);
  std::printf("[ MEASURED ] LN-LSTM QAT loss: first 5 steps %.4f, last 5 steps %.4f\n", first, last);
  EXPECT_LT(last, 0.7 * first);  // observed: 0.14

  TfliteLstmParams p;
  ASSERT_TRUE(layer->Export(&p).ok());
  EXPECT_TRUE(p.config.use_layer_norm);
  EXPECT_EQ(p.config.activation, LstmActivation::kPwl);
  EXPECT_FALSE(p.input_to_gate_channel_scale[0].empty());
  torch::Tensor x, sim_out;
  ASSERT_NO_FATAL_FAILURE(ExpectRuntimeEqualsSim(layer, p, 99, &x, &sim_out));
  double s_h;
  int32_t z_h;
  layer->OutputGrid(&s_h, &z_h);
  CompareFakeQuantWithInteger(layer, x, sim_out, s_h, "LN-LSTM", 0.5);
}

TEST(QatLayers, MogrifierLstmTrainsAndExportEqualsRuntime) {
  for (bool ln : {false, true}) {
    const std::string name = ln ? "Mogrifier LN-LSTM" : "Mogrifier LSTM";
    QatLayerOptions o;
    o.layer_norm = ln;
    QatMogrifierLstm layer(kIn, kCell, 3, o, 7);
    double first, last;
    Train(layer, ln ? 12 : 40, &first, &last);  // the LN variant: a short run, for the export checks
    std::printf("[ MEASURED ] %s QAT loss: first 5 steps %.4f, last 5 steps %.4f\n", name.c_str(), first, last);
    if (!ln) {
      EXPECT_LT(last, 0.8 * first);  // observed: 0.58
    }

    MogrifierLstmParams p;
    ASSERT_TRUE(layer->Export(&p).ok()) << name;
    EXPECT_EQ(p.rounds.size(), 3u);
    EXPECT_EQ(p.lstm.config.use_layer_norm, ln);
    torch::manual_seed(98);
    torch::Tensor x, y;
    MakeBatch(&x, &y);
    const torch::Tensor xq = layer->QuantizeInput(x);
    torch::Tensor sim_out;
    ASSERT_TRUE(layer->SimForward(xq, &sim_out).ok());
    const std::vector<int8_t> in = ToInt8(xq), want = ToInt8(sim_out);
    for (KernelPath path : AllPaths()) {
      std::unique_ptr<MogrifierLstm> m;
      ASSERT_TRUE(MogrifierLstm::Create(p, path, &m).ok());
      MogrifierLstmState st;
      ASSERT_TRUE(m->NewState(kBatch, &st).ok());
      std::vector<int8_t> out(want.size());
      ASSERT_TRUE(m->Run(in.data(), kSteps, &st, out.data()).ok());
      EXPECT_EQ(out, want) << name << " path " << static_cast<int>(path);
    }
    double s_h;
    int32_t z_h;
    layer->lstm->OutputGrid(&s_h, &z_h);
    CompareFakeQuantWithInteger(layer, x, sim_out, s_h, name, 0.5);
  }
}

// Power-of-two scales (numerics.md §7.1.1) on the LSTM without LayerNorm: every input and recurrent
// multiplier and the hidden one are (2^30, shift <= 0), single rounding, intended mode, and the runtime
// equals the sim on every path. With LayerNorm the export refuses the option.
TEST(QatLayers, PotScalesLstmExportsPowerOfTwoMultipliersAndEqualsRuntime) {
  QatLayerOptions o;
  o.layer_norm = false;
  o.pot_scales = true;
  QatLstmLayer layer(kIn, kCell, o, 5);
  EXPECT_EQ(layer->options().rounding, Rounding::kSingle);
  double first, last;
  Train(layer, 40, &first, &last);
  std::printf("[ MEASURED ] pot LSTM QAT loss: first 5 steps %.4f, last 5 steps %.4f\n", first, last);
  EXPECT_LT(last, 0.7 * first);

  TfliteLstmParams p;
  const Status s = layer->Export(&p);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_FALSE(p.config.tflite_compat);
  EXPECT_EQ(p.config.rounding, Rounding::kSingle);
  auto is_pot = [](const QuantizedMultiplier& m) { return m.multiplier == (int32_t{1} << 30) && m.shift <= 0; };
  EXPECT_TRUE(is_pot(p.hidden_scale)) << p.hidden_scale.multiplier << " " << p.hidden_scale.shift;
  for (int g = 0; g < 4; ++g) {
    ASSERT_EQ(p.input_to_gate_channel_scale[g].size(), static_cast<size_t>(kCell));
    for (int64_t r = 0; r < kCell; ++r) {
      const QuantizedMultiplier mx = p.input_to_gate_channel_scale[g][r], mh = p.recurrent_to_gate_channel_scale[g][r];
      EXPECT_TRUE(is_pot(mx)) << "input gate " << g << " row " << r << ": " << mx.multiplier << " " << mx.shift;
      EXPECT_TRUE(is_pot(mh)) << "recurrent gate " << g << " row " << r << ": " << mh.multiplier << " " << mh.shift;
    }
  }
  torch::Tensor x, sim_out;
  ASSERT_NO_FATAL_FAILURE(ExpectRuntimeEqualsSim(layer, p, 97, &x, &sim_out));
  double s_h;
  int32_t z_h;
  layer->OutputGrid(&s_h, &z_h);
  int e = 0;
  EXPECT_EQ(std::frexp(s_h, &e), 0.5) << "output scale " << s_h << " is not a power of two";
  CompareFakeQuantWithInteger(layer, x, sim_out, s_h, "pot LSTM", 0.5);

  o.layer_norm = true;
  QatLstmLayer ln(kIn, kCell, o, 5);
  Train(ln, 5, &first, &last);
  EXPECT_FALSE(ln->Export(&p).ok()) << "pot scales with LayerNorm must be refused";
}

TEST(QatLayers, ExportBeforeCalibrationIsRefused) {
  QatLstmLayer layer(kIn, kCell, QatLayerOptions{}, 1);
  TfliteLstmParams p;
  const Status s = layer->Export(&p);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("never calibrated"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace irnn::train
