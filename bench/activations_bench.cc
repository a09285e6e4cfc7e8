// Throughput of the int16 activations on 4096-element vectors: the fixed-point sigmoid (Q3.12 -> Q0.15)
// and tanh (3 integer bits -> Q0.15) of the LSTM kernel table against piecewise-linear tables fitted to
// the same grids (max error 1 and 4 LSB, optimal and greedy fitter; tanh with odd symmetry), each on
// the scalar reference and the AVX2 path. Reports items (elements) per second and, for PWL, the piece
// count. It measures speed only: bit-exactness of the AVX2 paths is the tests' job. AVX2 variants are
// reported as errors (skipped), never as results, where the build or the CPU lacks AVX2.

#include <cstdint>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "irnn/kernel_path.h"
#include "kernels/lstm_kernels.h"
#include "kernels/pwl_kernels.h"
#include "pwl/pwl_fit.h"

namespace irnn {
namespace {

constexpr int kElements = 4096;
constexpr int kTanhIntegerBits = 3;  // Q3.12 input, as the PWL grid below

// Uniform over all of int16 (the whole Q3.12 range), fixed seed: every segment and both saturated
// ends are visited, in an order the branch predictor cannot learn.
const std::vector<int16_t>& Inputs() {
  static const std::vector<int16_t> inputs = [] {
    std::vector<int16_t> v(kElements);
    std::mt19937 rng(12345);
    std::uniform_int_distribution<int> dist(-32768, 32767);
    for (int16_t& x : v) x = static_cast<int16_t>(dist(rng));
    return v;
  }();
  return inputs;
}

bool Avx2Available() { return KernelPathAvailable(KernelPath::kAvx2); }

// Runs fn(in, out) over the input vector, or reports the benchmark skipped when !available.
template <typename Fn>
void RunActivation(benchmark::State& state, bool available, const Fn& fn) {
  if (!available) {
    state.SkipWithError("AVX2 not available in this build or on this CPU");
    return;
  }
  const std::vector<int16_t>& in = Inputs();
  std::vector<int16_t> out(kElements);
  for (auto _ : state) {
    fn(in.data(), out.data());
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * int64_t{kElements});
}

void RegisterFixedPoint() {
  const LstmKernels* avx2_kernels = avx2::LstmKernelTable();
  const bool avx2_ok = avx2_kernels != nullptr && Avx2Available();
  struct Path {
    const char* name;
    const LstmKernels* kernels;
    bool available;
  };
  for (const Path& p : {Path{"scalar", &reference::LstmKernelTable(), true}, Path{"avx2", avx2_kernels, avx2_ok}}) {
    benchmark::RegisterBenchmark((std::string("sigmoid/fixed/") + p.name).c_str(), [p](benchmark::State& state) {
      RunActivation(state, p.available,
                    [&](const int16_t* in, int16_t* out) { p.kernels->LogisticQ3S16(in, kElements, out); });
    });
    benchmark::RegisterBenchmark((std::string("tanh/fixed/") + p.name).c_str(), [p](benchmark::State& state) {
      RunActivation(state, p.available, [&](const int16_t* in, int16_t* out) {
        p.kernels->TanhS16(in, kElements, kTanhIntegerBits, out);
      });
    });
  }
}

// Fits the PWL tables and registers one benchmark per (function, tolerance, fitter, path). Returns
// false when a fit fails (the program then exits non-zero).
bool RegisterPwl() {
  const PwlGrid in_grid{-32768, 32767, 1.0 / 4096, 0};   // Q3.12
  const PwlGrid out_grid{-32768, 32767, 1.0 / 32768, 0};  // Q0.15
  const PwlKernels* avx2_kernels = avx2::PwlKernelTable();
  const bool avx2_ok = avx2_kernels != nullptr && Avx2Available();
  for (const char* fn : {"sigmoid", "tanh"}) {
    RealFunction f;
    if (!BuiltinPwlFunction(fn, &f)) return false;
    for (int tolerance : {1, 4}) {
      for (PwlFitter fitter : {PwlFitter::kOptimal, PwlFitter::kGreedy}) {
        PwlFitOptions options;
        options.fitter = fitter;
        options.max_error_lsb = tolerance;
        options.odd = std::string(fn) == "tanh";
        PwlFitResult fit;
        const Status s = FitPwl(f, in_grid, out_grid, options, &fit);
        if (!s.ok()) {
          std::fprintf(stderr, "activations_bench: fitting %s: %s\n", fn, s.message().c_str());
          return false;
        }
        const auto table = std::make_shared<const PwlTable>(fit.table);
        const std::string base = std::string(fn) + "/pwl_" +
                                 (fitter == PwlFitter::kOptimal ? "optimal" : "greedy") + "_tol" +
                                 std::to_string(tolerance) + "/";
        for (int avx2 = 0; avx2 <= 1; ++avx2) {
          const PwlKernels* kernels = avx2 ? avx2_kernels : &reference::PwlKernelTable();
          const bool available = avx2 ? avx2_ok : true;
          const int pieces = fit.pieces;
          benchmark::RegisterBenchmark(
              (base + (avx2 ? "avx2" : "scalar")).c_str(),
              [table, kernels, available, pieces](benchmark::State& state) {
                RunActivation(state, available, [&](const int16_t* in, int16_t* out) {
                  kernels->EvaluateS16(*table, in, kElements, out);
                });
                state.counters["pieces"] = pieces;
              });
        }
      }
    }
  }
  return true;
}

}  // namespace
}  // namespace irnn

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  irnn::RegisterFixedPoint();
  if (!irnn::RegisterPwl()) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
