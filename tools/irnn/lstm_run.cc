// `irnn lstm-run`: times the TFLite 8x8_16 integer LSTM on a random model and a random input sequence.
// The model (random_tflite_lstm.h) is what a quantizer would produce from a float LSTM: float weights ~ U(-a, a) with
// a = 1/sqrt(n_input + n_output), quantized symmetric per tensor (int8, scale max|w|/127); int32 biases
// (forget gate 1.0, others small) at TFLite's bias scales; int8 input scale 1/64; cell scale 2^-11;
// LayerNorm pre-activation scale 2^-12; hidden scale 1/128. The float scales pass through
// DeriveTfliteLstmParams, exactly as a TFLite model's would; the timed part is integer only.
// Argument errors come from the library's Status messages where the library checks the value.

#include "lstm_run.h"

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "irnn/kernel_path.h"
#include "irnn/status.h"
#include "irnn/tflite_lstm.h"
#include "irnn/version.h"
#include "random_tflite_lstm.h"

namespace irnn::cli {
namespace {

// The CLI refuses to allocate more than this for weights or for the input and output sequences, so that a
// typo (--steps 1e9) gives a message instead of an out-of-memory kill.
constexpr double kMaxBytes = 2.0 * 1024 * 1024 * 1024;

uint64_t Fnv1a64(const std::vector<int8_t>& bytes) {
  uint64_t h = 1469598103934665603ull;
  for (int8_t b : bytes) {
    h ^= static_cast<uint8_t>(b);
    h *= 1099511628211ull;
  }
  return h;
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "irnn lstm-run: error: %s\n", message.c_str());
  return 1;
}

// Values the library takes as int: out-of-int range values are refused here, the rest by the library.
bool FitsInt(int64_t v) { return v >= std::numeric_limits<int>::min() && v <= std::numeric_limits<int>::max(); }

const char* YesNo(bool b) { return b ? "yes" : "no"; }

}  // namespace

CLI::App* AddLstmRunCommand(CLI::App* app, LstmRunOptions* o) {
  CLI::App* cmd = app->add_subcommand(
      "lstm-run", "Time the TFLite 8x8_16 integer LSTM on a random model and a random input sequence");
  cmd->add_option("--input", o->n_input, "Input features per frame (n_input)")->capture_default_str();
  cmd->add_option("--cell", o->n_cell, "Cell units (n_cell)")->capture_default_str();
  cmd->add_option_function<int64_t>(
      "--output",
      [o](const int64_t& v) {
        o->n_output = v;
        o->output_given = true;
      },
      "Output width (n_output); a value other than --cell adds a projection [default: --cell]");
  cmd->add_option("--batch", o->batch, "Streams run together (batch)")->capture_default_str();
  cmd->add_option("--steps", o->steps, "Time steps per run (T)")->capture_default_str();
  cmd->add_option("--repeats", o->repeats, "Timed runs of T steps; the median is reported")->capture_default_str();
  cmd->add_option("--seed", o->seed, "Seed of the random model and input")->capture_default_str();
  cmd->add_flag("--layer-norm", o->layer_norm, "Integer LayerNorm on each gate");
  cmd->add_flag("--cifg", o->cifg, "Coupled input-forget gate (no input gate)");
  cmd->add_flag("--peephole", o->peephole, "Peephole (diagonal cell-to-gate) weights");
  cmd->add_flag("--no-tflite-compat", o->no_tflite_compat,
                "Compute what the equations intend instead of reproducing TFLite's quirks");
  cmd->add_option("--rounding", o->rounding, "Requantization rounding: double or single")->capture_default_str();
  cmd->add_option("--activation", o->activation,
                  "Gate non-linearities: fixed-point (TFLite) or pwl (iRNN tables fitted at derivation)")
      ->capture_default_str();
  cmd->add_flag("--pot", o->pot,
                "Power-of-two scales (per gate row), as the iRNN export with power-of-two scales gives: implies "
                "--no-tflite-compat and --rounding single");
  cmd->add_option("--weight-bits", o->weight_bits,
                  "Weight precision: 8 (int8, [-127, 127]) or 7 ([-63, 63], a reduced range as ONNX Runtime's AVX2 "
                  "int8 kernels need; the avx2 path then runs one instruction less per 32 MACs); not with --pot")
      ->capture_default_str();
  cmd->add_option("--path", o->path,
                  "Kernel path: auto, scalar, avx2, avxvnni, avx512vnni or amx (auto honours IRNN_PATH)")
      ->capture_default_str();
  cmd->add_flag("--json", o->json, "Print one JSON object instead of text");
  return cmd;
}

int RunLstmRun(const LstmRunOptions& o) {
  TfliteLstmConfig config;
  const int64_t n_output = o.output_given ? o.n_output : o.n_cell;
  for (auto [name, v] : {std::pair<const char*, int64_t>{"--input", o.n_input}, {"--cell", o.n_cell},
                         {"--output", n_output}, {"--batch", o.batch}, {"--steps", o.steps},
                         {"--repeats", o.repeats}}) {
    if (!FitsInt(v)) return Fail(std::string(name) + " is " + std::to_string(v) + " but must fit in a 32-bit int");
  }
  // Sizes below 1 are refused here, not left to DeriveTfliteLstmParams: it sizes vectors by n_cell and
  // n_output before it validates them. The upper limits are the library's.
  for (auto [name, v] : {std::pair<const char*, int64_t>{"--input", o.n_input}, {"--cell", o.n_cell},
                         {"--output", n_output}}) {
    if (v < 1) return Fail(std::string(name) + " is " + std::to_string(v) + " but must be >= 1");
  }
  config.n_input = static_cast<int32_t>(o.n_input);
  config.n_cell = static_cast<int32_t>(o.n_cell);
  config.n_output = static_cast<int32_t>(n_output);
  config.use_projection = n_output != o.n_cell;
  config.use_cifg = o.cifg;
  config.use_peephole = o.peephole;
  config.use_layer_norm = o.layer_norm;
  config.tflite_compat = !o.no_tflite_compat;
  if (o.rounding == "double") {
    config.rounding = Rounding::kDouble;
  } else if (o.rounding == "single") {
    config.rounding = Rounding::kSingle;
  } else {
    return Fail("--rounding is '" + o.rounding + "' but must be double or single");
  }
  if (o.activation == "fixed-point") {
    config.activation = LstmActivation::kFixedPoint;
  } else if (o.activation == "pwl") {
    config.activation = LstmActivation::kPwl;
  } else {
    return Fail("--activation is '" + o.activation + "' but must be fixed-point or pwl");
  }
  KernelPath requested = KernelPath::kAuto;
  if (Status s = ParseKernelPath(o.path, &requested); !s.ok()) return Fail("--path: " + s.message());
  if (o.weight_bits != 8 && o.weight_bits != 7) {
    return Fail("--weight-bits is " + std::to_string(o.weight_bits) + " but must be 8 or 7");
  }
  if (o.weight_bits == 7 && o.pot) return Fail("--weight-bits 7 is for TFLite scales, not with --pot");
  if (o.steps < 1) return Fail("--steps is " + std::to_string(o.steps) + " but must be >= 1");
  if (o.repeats < 1) return Fail("--repeats is " + std::to_string(o.repeats) + " but must be >= 1");

  const double planned_weight_bytes =
      4.0 * config.n_cell * (static_cast<double>(config.n_input) + config.n_output) +
      static_cast<double>(config.n_output) * config.n_cell;
  if (planned_weight_bytes > kMaxBytes) {
    return Fail("the weights would take " + std::to_string(static_cast<int64_t>(planned_weight_bytes)) +
                " bytes but must take at most " + std::to_string(static_cast<int64_t>(kMaxBytes)) +
                " (reduce --input, --cell or --output)");
  }
  TfliteLstmParams params;
  if (o.pot) {
    if (Status s = MakeRandomPotLstmParams(config, o.seed, &params); !s.ok()) return Fail(s.message());
    config = params.config;
  } else {
    const RandomTfliteLstmModel model = MakeRandomTfliteLstmModel(config, o.seed, o.weight_bits == 7 ? 63 : 127);
    if (Status s = DeriveTfliteLstmParams(model.config, model.weights, model.quantization, &params); !s.ok()) {
      return Fail(s.message());
    }
  }
  const size_t weight_bytes = TfliteLstmWeightBytes(params.weights);
  std::unique_ptr<TfliteLstm> lstm;
  if (Status s = TfliteLstm::Create(std::move(params), requested, &lstm); !s.ok()) return Fail(s.message());
  // The sequences, plus a bound on the state and its scratch buffers (well under 16 bytes per cell and
  // output unit and stream). A batch outside the library's range is left to NewState to report.
  const double run_bytes =
      static_cast<double>(o.steps) * o.batch * (static_cast<double>(config.n_input) + config.n_output) +
      16.0 * o.batch * (static_cast<double>(config.n_cell) + config.n_output);
  if (run_bytes > kMaxBytes) {
    return Fail("the state and the input and output sequences would take " +
                std::to_string(static_cast<int64_t>(run_bytes)) + " bytes but must take at most " +
                std::to_string(static_cast<int64_t>(kMaxBytes)) + " (reduce --steps, --batch or the sizes)");
  }
  TfliteLstmState state;
  if (Status s = lstm->NewState(static_cast<int>(o.batch), &state); !s.ok()) return Fail(s.message());
  const int steps = static_cast<int>(o.steps);
  const size_t frames = static_cast<size_t>(steps) * static_cast<size_t>(o.batch);
  std::vector<int8_t> x(frames * config.n_input);
  Random rng(o.seed ^ 0x9e3779b9u);
  for (int8_t& v : x) v = rng.Int8();
  std::vector<int8_t> out(frames * config.n_output);

  // One untimed run warms caches and gives the reference output; every timed run starts from a reset
  // state and must give the same output (the runtime is deterministic).
  if (Status s = lstm->Run(x.data(), steps, &state, out.data()); !s.ok()) return Fail(s.message());
  const uint64_t checksum = Fnv1a64(out);
  // A sanity view of the output: a random model that saturates every unit would time a degenerate case.
  const auto [out_min, out_max] = std::minmax_element(out.begin(), out.end());
  bool seen[256] = {};
  for (int8_t v : out) seen[static_cast<uint8_t>(v)] = true;
  const int distinct = static_cast<int>(std::count(std::begin(seen), std::end(seen), true));
  std::vector<double> us_per_step;
  for (int64_t r = 0; r < o.repeats; ++r) {
    if (Status s = lstm->ResetState(&state); !s.ok()) return Fail(s.message());
    const auto t0 = std::chrono::steady_clock::now();
    const Status s = lstm->Run(x.data(), steps, &state, out.data());
    const auto t1 = std::chrono::steady_clock::now();
    if (!s.ok()) return Fail(s.message());
    if (Fnv1a64(out) != checksum) return Fail("the output of run " + std::to_string(r + 1) + " differs from the first");
    us_per_step.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count() / steps);
  }
  std::sort(us_per_step.begin(), us_per_step.end());
  const size_t n = us_per_step.size();
  const double median = n % 2 == 1 ? us_per_step[n / 2] : 0.5 * (us_per_step[n / 2 - 1] + us_per_step[n / 2]);
  const double steps_per_s = median > 0.0 ? 1e6 / median : 0.0;
  const double frames_per_s = steps_per_s * static_cast<double>(o.batch);
  // Multiply-accumulates per frame of the matrix products (gates and projection); the element-wise work
  // (peephole, LayerNorm, activations) is not counted.
  const int gates = config.use_cifg ? 3 : 4;
  const double macs_per_frame =
      gates * static_cast<double>(config.n_cell) * (static_cast<double>(config.n_input) + config.n_output) +
      (config.use_projection ? static_cast<double>(config.n_output) * config.n_cell : 0.0);
  const double gops = 2.0 * macs_per_frame * frames_per_s / 1e9;
  const char* path = KernelPathName(lstm->path());
  const char* rounding = config.rounding == Rounding::kDouble ? "double" : "single";

  if (o.json) {
    std::printf(
        "{\"tool\": \"irnn\", \"version\": \"%s\", \"command\": \"lstm-run\", \"n_input\": %d, \"n_cell\": %d, "
        "\"n_output\": %d, \"batch\": %" PRId64 ", \"steps\": %d, \"repeats\": %" PRId64 ", \"seed\": %u, "
        "\"layer_norm\": %s, \"cifg\": %s, \"peephole\": %s, \"projection\": %s, \"tflite_compat\": %s, "
        "\"pot_scales\": %s, \"rounding\": \"%s\", \"activation\": \"%s\", \"path\": \"%s\", \"weights_bytes\": %zu, "
        "\"macs_per_frame\": %.0f, "
        "\"us_per_step_median\": %.3f, \"us_per_step_min\": %.3f, \"us_per_step_max\": %.3f, "
        "\"steps_per_s\": %.1f, \"frames_per_s\": %.1f, \"gops\": %.4f, \"output_min\": %d, \"output_max\": %d, "
        "\"output_distinct\": %d, \"output_checksum\": \"%016" PRIx64 "\"}\n",
        kVersionString, config.n_input, config.n_cell, config.n_output, o.batch, steps, o.repeats, o.seed,
        config.use_layer_norm ? "true" : "false", config.use_cifg ? "true" : "false",
        config.use_peephole ? "true" : "false", config.use_projection ? "true" : "false",
        config.tflite_compat ? "true" : "false", o.pot ? "true" : "false", rounding, o.activation.c_str(), path,
        weight_bytes, macs_per_frame,
        median, us_per_step.front(), us_per_step.back(), steps_per_s, frames_per_s, gops, *out_min, *out_max, distinct,
        checksum);
    return 0;
  }
  std::printf("irnn lstm-run: TFLite 8x8_16 integer LSTM, random model (seed %u)\n", o.seed);
  std::printf("  shape       n_input=%d n_cell=%d n_output=%d batch=%" PRId64 " steps=%d\n", config.n_input,
              config.n_cell, config.n_output, o.batch, steps);
  std::printf("  options     layer_norm=%s cifg=%s peephole=%s projection=%s rounding=%s tflite_compat=%s "
              "pot_scales=%s activation=%s\n",
              YesNo(config.use_layer_norm), YesNo(config.use_cifg), YesNo(config.use_peephole),
              YesNo(config.use_projection), rounding, YesNo(config.tflite_compat), YesNo(o.pot),
              o.activation.c_str());
  std::printf("  kernel path %s\n", path);
  std::printf("  weights     %zu bytes\n", weight_bytes);
  std::printf("  time/step   %.3f us median of %" PRId64 " runs (min %.3f, max %.3f)\n", median, o.repeats,
              us_per_step.front(), us_per_step.back());
  std::printf("  throughput  %.0f steps/s, %.0f frames/s, %.3f GOPS (2 x %.0f MACs per frame)\n", steps_per_s,
              frames_per_s, gops, macs_per_frame);
  std::printf("  output      int8 in [%d, %d], %d distinct values\n", *out_min, *out_max, distinct);
  std::printf("  checksum    %016" PRIx64 " (FNV-1a of the output sequence; equal across kernel paths)\n", checksum);
  return 0;
}

}  // namespace irnn::cli
