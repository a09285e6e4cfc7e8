// sim == int for the bidirectional LSTM (numerics.md §10.1): SimBidirectionalSequence against
// BidirectionalLstm::Run, bit for bit, on random directions (fixed-point and PWL activations, every
// LSTM option, per-channel multipliers), batches with and without per-stream lengths.

#include "train/sim_bidirectional.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "support/random_lstm.h"
#include "support/random_mogrifier.h"

namespace irnn::train::sim {
namespace {

using torch::Tensor;

Tensor FromInt8(const std::vector<int8_t>& v) {
  Tensor t = torch::empty({static_cast<int64_t>(v.size())}, torch::kInt64);
  for (size_t i = 0; i < v.size(); ++i) t.data_ptr<int64_t>()[i] = v[i];
  return t;
}

// Per-row multipliers near the per-tensor ones for every gate matmul (numerics.md §7.1).
void AddPerChannelScales(TfliteLstmParams* p, std::mt19937_64& rng) {
  std::uniform_int_distribution<int32_t> dm(1 << 30, 2147483647);
  std::uniform_int_distribution<int> ds(-1, 1);
  auto jitter = [&](QuantizedMultiplier m, size_t n) {
    std::vector<QuantizedMultiplier> v(n);
    for (auto& q : v) q = {dm(rng), std::clamp(m.shift + ds(rng), -31, 30)};
    return v;
  };
  for (int g = 0; g < 4; ++g) {
    if (p->weights.input_to_gate[g].empty()) continue;
    p->input_to_gate_channel_scale[g] = jitter(p->input_to_gate_scale[g], p->config.n_cell);
    p->recurrent_to_gate_channel_scale[g] = jitter(p->recurrent_to_gate_scale[g], p->config.n_cell);
  }
}

TEST(SimBidirectional, EqualsRuntimeOnRandomDirectionsWithAndWithoutLengths) {
  std::mt19937_64 rng(71);
  int64_t compared = 0;
  for (uint64_t seed = 0; seed < 18; ++seed) {
    const int dim = 1 + static_cast<int>(seed % 6) * 5;
    const testing::LstmShape shape{dim, 1, 1};
    BidirectionalParams p;
    p.forward = testing::MakeRandomLstmOfShape(seed, shape).params;
    p.backward = testing::MakeRandomLstmOfShape(seed + 5000, shape).params;
    p.backward.output_zp = p.forward.output_zp;
    if (!p.backward.config.use_projection) p.backward.hidden_zp = p.forward.output_zp;
    if (seed % 2 == 1) {  // iRNN mode: PWL activations and per-channel weights
      for (TfliteLstmParams* d : {&p.forward, &p.backward}) {
        const TfliteLstmParams& pwl = testing::CachedPwlTables(d->cell_scale);  // FitTfliteLstmPwlTables
        d->config.activation = LstmActivation::kPwl;
        d->pwl_sigmoid = pwl.pwl_sigmoid;
        d->pwl_tanh_gate = pwl.pwl_tanh_gate;
        d->pwl_tanh_cell = pwl.pwl_tanh_cell;
        AddPerChannelScales(d, rng);
      }
    }
    std::unique_ptr<BidirectionalLstm> layer;
    const Status s = BidirectionalLstm::Create(p, KernelPath::kScalar, &layer);
    ASSERT_TRUE(s.ok()) << s.message();
    const int batch = 1 + static_cast<int>(seed % 4), steps = 1 + static_cast<int>(seed % 8);
    std::vector<int8_t> x(static_cast<size_t>(steps) * batch * dim);
    for (auto& v : x) v = static_cast<int8_t>(std::uniform_int_distribution<int>(-128, 127)(rng));
    std::vector<int32_t> lengths(batch, steps);
    const bool with_lengths = seed % 3 != 0;
    if (with_lengths) {
      for (auto& l : lengths) l = std::uniform_int_distribution<int>(0, steps)(rng);
    }
    BidirectionalState state;
    std::vector<int8_t> out(static_cast<size_t>(steps) * batch * 2 * dim);
    ASSERT_TRUE(layer->Run(x.data(), steps, batch, with_lengths ? lengths.data() : nullptr, &state, out.data()).ok());
    const Tensor xt = FromInt8(x).view({steps, batch, dim});
    const Tensor got = SimBidirectionalSequence(p, xt, with_lengths ? std::vector<int64_t>(lengths.begin(), lengths.end())
                                                                    : std::vector<int64_t>{});
    ASSERT_TRUE(torch::equal(got, FromInt8(out).view({steps, batch, 2 * dim})))
        << "seed " << seed << " dim " << dim << " batch " << batch << " steps " << steps
        << (seed % 2 ? " pwl+per-channel" : " fixed-point");
    compared += static_cast<int64_t>(out.size());
  }
  EXPECT_GT(compared, 2000);
}

}  // namespace
}  // namespace irnn::train::sim
