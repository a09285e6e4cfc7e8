// The irnn GRU rows of `irnn bench` (cell "gru"): one GRU layer, input = hidden = H, as irnn int8
// (irnn::Gru, numerics.md §8, on every kernel path of the run) and irnn fp32 (irnn::GruF32, the float
// baseline of the same structure), in sequence mode (one Run over the T steps: the input matmuls of a
// chunk of steps run as one matrix-matrix product) and streaming mode (T calls of Step, one frame per
// stream, the state carried), the state reset before every timed run, as the LSTM rows in
// bench_cmd.cc. The GRU peers are in bench_onednn.cc, bench_torch.cc and bench/ort_lstm.js.
//
// The int8 layer is what a quantizer would make of a float GRU with weights U(-a, a), a = 1/sqrt(H):
// int8 weights symmetric per output row, input scale 1/64, output scale 1/128 (zero points 0), float
// biases U(-a, a), through DeriveGruParams. Every thread count of the run, as the LSTM (Gru::Create's
// threads split the matmuls' output rows). Not a test of the GRU's numerics (tests/layers/gru_test.cc is).

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bench_common.h"
#include "irnn/gru.h"
#include "irnn/gru_f32.h"
#include "irnn/kernel_path.h"
#include "irnn/status.h"
#include "random_tflite_lstm.h"

namespace irnn::cli::bench {
namespace {

// The derived integer GRU of a random float one (see the file comment). Deterministic for a seed.
Status MakeRandomGru(int H, uint32_t seed, GruParams* params) {
  Random rng(seed + static_cast<uint32_t>(H));
  const float a = 1.0f / std::sqrt(static_cast<float>(H));
  GruParams p;
  p.config.n_input = p.config.n_hidden = H;
  GruQuantization q;
  q.input_scale = 1.0 / 64;
  q.output_scale = 1.0 / 128;
  for (int g = 0; g < 3; ++g) {
    const std::pair<std::vector<int8_t>*, std::vector<double>*> mats[] = {
        {&p.input_weights[g], &q.input_weight_scale[g]}, {&p.recurrent_weights[g], &q.recurrent_weight_scale[g]}};
    for (const auto& [w, scale] : mats) {
      w->resize(static_cast<size_t>(H) * H);
      scale->resize(static_cast<size_t>(H));
      std::vector<float> row(static_cast<size_t>(H));
      for (int r = 0; r < H; ++r) {
        float max_abs = 0;
        for (float& v : row) {
          v = rng.Uniform(-a, a);
          max_abs = std::max(max_abs, std::fabs(v));
        }
        const double s = max_abs > 0 ? max_abs / 127.0 : 1.0;
        (*scale)[r] = s;
        for (int k = 0; k < H; ++k) {
          (*w)[static_cast<size_t>(r) * H + k] = static_cast<int8_t>(std::lround(std::clamp(row[k] / s, -127.0, 127.0)));
        }
      }
    }
    for (auto* b : {&q.input_bias[g], &q.recurrent_bias[g]}) {
      b->resize(static_cast<size_t>(H));
      for (double& v : *b) v = rng.Uniform(-a, a);
    }
  }
  IRNN_RETURN_IF_ERROR(DeriveGruParams(q, &p));
  *params = std::move(p);
  return Status::Ok();
}

void BenchGruInt8(const GruParams& params, KernelPath path, int threads, const Grid& grid, Report* report) {
  const int T = grid.steps, H = params.config.n_hidden;
  std::unique_ptr<Gru> gru;
  if (Status s = Gru::Create(params, path, threads, &gru); !s.ok()) {
    report->skips.push_back({"irnn", "int8", s.message(), threads, kGru});
    return;
  }
  const char* name = KernelPathName(path);
  for (int B : grid.batch) {
    Progress(*report, "irnn int8 gru %s H=%d B=%d threads=%d", name, H, B, threads);
    GruState state;
    if (Status s = gru->NewState(B, &state); !s.ok()) {
      report->skips.push_back({"irnn", "int8", s.message(), threads, kGru});
      continue;
    }
    Random rng(grid.seed ^ 0x9e3779b9u);
    std::vector<int8_t> x(static_cast<size_t>(T) * B * H), out(x.size());
    for (int8_t& v : x) v = rng.Int8();
    TimeBothModes(*gru, &state, x, &out, "int8", name, H, B, threads, grid, report, kGru);
  }
}

void BenchGruFp32(int H, const Grid& grid, Report* report) {
  const int T = grid.steps;
  GruF32Params params;
  params.n_input = params.n_hidden = H;
  Random rng(grid.seed + static_cast<uint32_t>(H));
  const float a = 1.0f / std::sqrt(static_cast<float>(H));
  params.w_ih.resize(3 * static_cast<size_t>(H) * H);
  params.w_hh.resize(params.w_ih.size());
  params.b_ih.resize(3 * static_cast<size_t>(H));
  params.b_hh.resize(params.b_ih.size());
  for (auto* v : {&params.w_ih, &params.w_hh, &params.b_ih, &params.b_hh}) {
    for (float& e : *v) e = rng.Uniform(-a, a);
  }
  for (int threads : grid.threads) {
    std::unique_ptr<GruF32> gru;
    if (Status s = GruF32::Create(params, KernelPath::kAuto, &gru, threads); !s.ok()) {
      report->skips.push_back({"irnn", "fp32", s.message(), threads, kGru});
      continue;
    }
    const char* path = KernelPathName(gru->path());
    for (int B : grid.batch) {
      Progress(*report, "irnn fp32 gru %s H=%d B=%d threads=%d", path, H, B, threads);
      GruF32State state;
      if (Status s = gru->NewState(B, &state); !s.ok()) {
        report->skips.push_back({"irnn", "fp32", s.message(), threads, kGru});
        continue;
      }
      std::vector<float> x(static_cast<size_t>(T) * B * H), out(x.size());
      for (float& v : x) v = rng.Uniform(-1.0f, 1.0f);
      TimeBothModes(*gru, &state, x, &out, "fp32", path, H, B, threads, grid, report, kGru);
    }
  }
}

}  // namespace

void RunIrnnGru(const Grid& grid, const std::vector<KernelPath>& paths, Report* report) {
  if (!WantsCell(grid, kGru)) return;
  for (int H : grid.hidden) {
    if (!paths.empty()) {
      GruParams params;
      if (Status s = MakeRandomGru(H, grid.seed, &params); !s.ok()) {
        report->skips.push_back({"irnn", "int8", "H=" + std::to_string(H) + ": " + s.message(), 0, kGru});
      } else {
        for (KernelPath path : paths) {
          for (int threads : grid.threads) BenchGruInt8(params, path, threads, grid, report);
        }
      }
    }
    BenchGruFp32(H, grid, report);
  }
}

}  // namespace irnn::cli::bench
