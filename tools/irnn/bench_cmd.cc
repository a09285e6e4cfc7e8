// `irnn bench`: see bench_cmd.h. This file holds the options, the irnn LSTM runtimes (int8 TfliteLstm
// on every kernel path, fp32 LstmF32), the ONNX Runtime peer (a Node.js script, bench/ort_lstm.js, run
// as a child process, for both cells), the machine description and limits, the Step 3 model's
// end-to-end speed, and the output: tables, one JSON object (--json), a gnuplot PNG (--plot). The irnn
// GRU rows are in bench_gru.cc; oneDNN and libtorch are in their own files (bench_onednn.cc,
// bench_torch.cc) so that the tool builds without them.

#include "bench_cmd.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include "bench_common.h"
#include "irnn/kernel_path.h"
#include "irnn/lm.h"
#include "irnn/lstm_f32.h"
#include "irnn/model.h"
#include "irnn/status.h"
#include "irnn/tflite_lstm.h"
#include "irnn/version.h"
#include "random_tflite_lstm.h"

#ifndef IRNN_BENCH_DIR
#define IRNN_BENCH_DIR "bench"
#endif

namespace irnn::cli {
namespace {

using bench::Grid;
using bench::Report;
using bench::Result;
using bench::Skip;
using bench::Timing;

constexpr int64_t kMaxHidden = 8192;       // fp32 weights of one layer: 32 H^2 bytes = 2 GiB at 8192
constexpr int64_t kMaxBatch = 4096;
constexpr int64_t kMaxSteps = 100000;
constexpr int64_t kMaxThreads = 64;
constexpr int64_t kMaxRepeats = 1000;
constexpr double kMaxSequenceBytes = 2.0 * 1024 * 1024 * 1024;

int Fail(const std::string& message) {
  std::fprintf(stderr, "irnn bench: error: %s\n", message.c_str());
  return 1;
}

int UsageError(const std::string& message) {
  std::fprintf(stderr, "irnn bench: error: %s\n", message.c_str());
  return 2;
}

std::string JoinInts(const std::vector<int>& v, const char* sep = ",") {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? sep : "") + std::to_string(v[i]);
  return s;
}

std::string JoinStrings(const std::vector<std::string>& v, const char* sep = ",") {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? sep : "") + v[i];
  return s;
}

// A JSON string literal.
std::string Quote(const std::string& s) {
  std::string out = "\"";
  for (unsigned char ch : s) {
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += static_cast<char>(ch);
    } else if (ch < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", ch);
      out += buf;
    } else {
      out += static_cast<char>(ch);
    }
  }
  return out + "\"";
}

// A JSON number (finite; NaN and infinities, which JSON lacks, become null).
std::string Num(double v, int digits = 4) {
  if (!std::isfinite(v)) return "null";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

bool FileExists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

int64_t FileBytes(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) ? static_cast<int64_t>(st.st_size) : -1;
}

bool CpuHas(const char* feature) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (std::strcmp(feature, "avx2") == 0) return __builtin_cpu_supports("avx2") != 0;
  if (std::strcmp(feature, "fma") == 0) return __builtin_cpu_supports("fma") != 0;
#endif
  (void)feature;
  return false;
}

// Runs a shell command; returns its exit status (-1 if it could not start) and its stdout lines.
int RunCommand(const std::string& command, std::vector<std::string>* lines) {
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return -1;
  std::string line;
  char buf[4096];
  while (std::fgets(buf, sizeof buf, pipe) != nullptr) {
    line += buf;
    if (!line.empty() && line.back() == '\n') {
      line.pop_back();
      lines->push_back(line);
      line.clear();
    }
  }
  if (!line.empty()) lines->push_back(line);
  const int status = pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char ch : s) out += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return out + "'";
}

// ---- The machine ----------------------------------------------------------------------------------

struct CacheInfo {
  int level = 0;
  std::string type;  // Data, Instruction, Unified
  int64_t bytes = 0;
};

struct Bandwidth {
  std::string level;
  int64_t bytes = 0;
  int threads = 0;
  double gb_per_s = 0;
};

struct Peak {
  int threads = 0;
  double g_mac_per_s = 0;
};

struct Machine {
  std::string cpu;
  unsigned logical_cpus = 0;
  std::vector<CacheInfo> caches;
  bool avx2_fma = false;
  std::vector<Bandwidth> bandwidth;
  std::vector<Peak> int8_peak;
  std::vector<Peak> sign_peak;     // vpsignb + vpmaddubsw + vpmaddwd + vpaddd (the avx2 path's exact sequence)
  std::vector<Peak> fp32_peak;
  // The int8 peaks of the wider kernel paths' matmul instructions; empty where the path is unavailable.
  std::vector<Peak> vnni_peak;     // ymm vpdpbusd (avxvnni)
  std::vector<Peak> vnni512_peak;  // zmm vpdpbusd (avx512vnni)
  std::vector<Peak> amx_peak;      // tdpbusd (amx)
  std::string limits_skipped;  // why the limits were not measured
};

std::string ReadFirstLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

void DescribeMachine(Machine* m) {
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) m->cpu = line.substr(colon + 2);
      break;
    }
  }
  m->logical_cpus = std::thread::hardware_concurrency();
  for (int i = 0; i < 8; ++i) {
    const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(i) + "/";
    if (!FileExists(dir + "size")) break;
    CacheInfo c;
    c.level = std::atoi(ReadFirstLine(dir + "level").c_str());
    c.type = ReadFirstLine(dir + "type");
    const std::string size = ReadFirstLine(dir + "size");  // "48K", "2048K", "491520K"
    c.bytes = std::atoll(size.c_str());
    if (!size.empty() && size.back() == 'K') c.bytes <<= 10;
    if (!size.empty() && size.back() == 'M') c.bytes <<= 20;
    m->caches.push_back(c);
  }
  m->avx2_fma = CpuHas("avx2") && CpuHas("fma");
}

void MeasureLimits(const Grid& grid, bool quick, Machine* m, const Report& report) {
  if (!m->avx2_fma) {
    m->limits_skipped = "the CPU has no AVX2 and FMA";
    return;
  }
  const double seconds = quick ? 0.03 : 0.15;
  const std::pair<const char*, int64_t> sets[] = {
      {"L1", int64_t{16} << 10}, {"L2", int64_t{512} << 10}, {"L3", int64_t{16} << 20}, {"DRAM", int64_t{512} << 20}};
  for (int threads : grid.threads) {
    for (const auto& [level, bytes] : sets) {
      bench::Progress(report, "machine: read bandwidth %s (%lld KiB per thread), %d thread(s)", level,
                      static_cast<long long>(bytes >> 10), threads);
      m->bandwidth.push_back({level, bytes, threads, bench::avx2::ReadBandwidthGBps(bytes, threads, seconds)});
    }
    bench::Progress(report, "machine: int8 MAC and fp32 FMA peaks, %d thread(s)", threads);
    m->int8_peak.push_back({threads, bench::avx2::Int8MacPeakG(threads, seconds)});
    m->sign_peak.push_back({threads, bench::avx2::Int8SignMacPeakG(threads, seconds)});
    m->fp32_peak.push_back({threads, bench::avx2::Fp32FmaPeakG(threads, seconds)});
    if (KernelPathAvailable(KernelPath::kAvxVnni)) {
      m->vnni_peak.push_back({threads, bench::avx2::VnniMacPeakG(threads, seconds)});
    }
    if (KernelPathAvailable(KernelPath::kAvx512Vnni)) {
      m->vnni512_peak.push_back({threads, bench::avx2::Vnni512MacPeakG(threads, seconds)});
    }
    if (KernelPathAvailable(KernelPath::kAmx)) m->amx_peak.push_back({threads, bench::avx2::AmxMacPeakG(threads, seconds)});
  }
}

// Each limit of `again` (MeasureLimits after the timings) raises m's where it measured higher: a limit
// is an upper bound, and another tenant of the host can only lower a measurement (seen on a shared VM:
// the vpsignb peak 55 G MAC/s at the start of one run, 67-73 in others).
void KeepHigherLimits(const Machine& again, Machine* m) {
  for (size_t i = 0; i < m->bandwidth.size() && i < again.bandwidth.size(); ++i) {
    m->bandwidth[i].gb_per_s = std::max(m->bandwidth[i].gb_per_s, again.bandwidth[i].gb_per_s);
  }
  for (auto [mine, theirs] : {std::pair{&m->int8_peak, &again.int8_peak}, {&m->sign_peak, &again.sign_peak},
                              {&m->fp32_peak, &again.fp32_peak}, {&m->vnni_peak, &again.vnni_peak},
                              {&m->vnni512_peak, &again.vnni512_peak}, {&m->amx_peak, &again.amx_peak}}) {
    for (size_t i = 0; i < mine->size() && i < theirs->size(); ++i) {
      (*mine)[i].g_mac_per_s = std::max((*mine)[i].g_mac_per_s, (*theirs)[i].g_mac_per_s);
    }
  }
}

// ---- The binding limit of an irnn int8 result ------------------------------------------------------
// Per time step the layer multiplies 4H x H int8 weights by the input and 4H x H by the previous output,
// for each of the B streams: 8 H^2 B multiply-accumulates (the GRU: 3H x H each, 6 H^2 B). Weight bytes
// read per step: the recurrent 4 H^2 (GRU 3 H^2; sequence mode: the input projection of a chunk of steps
// reads its weights once per chunk) or all 8 H^2 (GRU 6 H^2; streaming). They come from the smallest cache level that holds those bytes with a quarter to
// spare (the activation tables, state and inputs share it), else from DRAM. Where that level is beyond
// L2, three quarters of L2 can still hold part of the bytes from one step to the next (the kernels walk
// the weights in alternating directions where they exceed L2), and no walk can read less than the rest
// from the farther level: that part is counted at L2's bandwidth, the rest at the level's. The
// limits: bytes / the read bandwidth measured at that level, and MACs / the int8 peak of the
// instruction the kernel path runs (amx: tiles for 16 or more rows, which the input projection of a
// sequence always has, zmm vpdpbusd for fewer); the larger one binds. Fraction = limit / measured time.

struct LimitUse {
  std::string binding;  // "L2 bandwidth", "int8 peak (zmm vpdpbusd)", ...
  double limit_us = 0;
  double fraction = 0;
};

double PeakFor(const std::vector<Peak>& peaks, int threads) {
  for (const Peak& p : peaks) {
    if (p.threads == threads) return p.g_mac_per_s;
  }
  return 0;
}

// The int8 peak (G MAC/s) and its name of the instruction a kernel path runs for `rows` input rows.
std::pair<double, std::string> PathPeak(const Machine& m, const std::string& path, int rows, int threads,
                                        bool seven_bit) {
  if (path == "amx" && rows >= 16) return {PeakFor(m.amx_peak, threads), "amx tdpbusd"};
  if (path == "amx" || path == "avx512vnni") return {PeakFor(m.vnni512_peak, threads), "zmm vpdpbusd"};
  if (path == "avxvnni") return {PeakFor(m.vnni_peak, threads), "ymm vpdpbusd"};
  // avx2 (and the scalar path, which is far below): the sign trick's exact sequence, or with 7-bit
  // weights the 7-bit form's (vpmaddubsw + vpmaddwd + vpaddd, lstm_kernels_avx2.cc).
  if (seven_bit) return {PeakFor(m.int8_peak, threads), "vpmaddubsw, 7-bit weights"};
  return {PeakFor(m.sign_peak, threads), "vpsignb+vpmaddubsw"};
}

bool BindingLimit(const Machine& m, const Result& r, int steps, LimitUse* use) {
  if (r.runtime != "irnn" || r.precision != "int8" || !m.limits_skipped.empty()) return false;
  const double h2 = static_cast<double>(r.hidden) * r.hidden;
  const bool sequence = r.mode == bench::kSequence;
  const double gates = r.cell == bench::kGru ? 3 : 4;
  const double bytes = (sequence ? gates : 2 * gates) * h2;
  // The weights a step reads decide where they live: in sequence mode only the recurrent matrix (the
  // input matrix is read once per chunk of steps, by the chunk's matrix product), in streaming mode both.
  const double footprint = bytes;
  std::string level = "DRAM";
  for (int want = 1; want <= 3; ++want) {
    int64_t size = 0;
    for (const CacheInfo& c : m.caches) {
      if (c.level == want && c.type != "Instruction") size = c.bytes;
    }
    if (size > 0 && footprint <= 0.75 * size) {
      level = "L" + std::to_string(want);
      break;
    }
  }
  auto bandwidth_of = [&](const std::string& name) {
    double gbps = 0;
    for (const Bandwidth& b : m.bandwidth) {
      if (b.level == name && b.threads == r.threads) gbps = b.gb_per_s;
    }
    return gbps;
  };
  const double gbps = bandwidth_of(level);
  // The part that can stay in L2 between steps when the bytes live farther out (each thread has its
  // own L2: `threads` times the size).
  double resident = 0, l2_gbps = 0;
  if (level != "L1" && level != "L2") {
    for (const CacheInfo& c : m.caches) {
      if (c.level == 2 && c.type != "Instruction") resident = std::min(bytes, 0.75 * static_cast<double>(c.bytes) * r.threads);
    }
    l2_gbps = bandwidth_of("L2");
    if (l2_gbps <= 0) resident = 0;
  }
  const double macs_each = gates * h2 * r.batch;  // the input part and the recurrent part
  const bool seven_bit = r.scales == "tflite7";
  const auto [rec_peak, rec_name] = PathPeak(m, r.variant, r.batch, r.threads, seven_bit);
  const auto [in_peak, in_name] = PathPeak(m, r.variant, sequence ? r.batch * steps : r.batch, r.threads, seven_bit);
  if (gbps <= 0 || rec_peak <= 0 || in_peak <= 0 || r.us_per_step <= 0) return false;
  const double bandwidth_us = (bytes - resident) / (gbps * 1e3) + (resident > 0 ? resident / (l2_gbps * 1e3) : 0.0);
  const double mac_us = macs_each / (rec_peak * 1e3) + macs_each / (in_peak * 1e3);
  if (bandwidth_us >= mac_us) {
    use->binding = level + " bandwidth" + (resident > 0 ? " (" + std::to_string(static_cast<int64_t>(resident) >> 10) + " KiB from L2)" : "");
    use->limit_us = bandwidth_us;
  } else {
    use->binding = "int8 peak (" + (rec_name == in_name ? rec_name : in_name + " + " + rec_name) + ")";
    use->limit_us = mac_us;
  }
  use->fraction = use->limit_us / r.us_per_step;
  return true;
}

// ---- irnn int8: TfliteLstm --------------------------------------------------------------------------

// One TfliteLstm (H, kernel path, thread count) over the batch sizes, in both modes.
void BenchTfliteLstm(const TfliteLstmParams& params, const std::string& scales, KernelPath path, int threads,
                     const Grid& grid, Report* report) {
  const int T = grid.steps, H = params.config.n_cell;
  std::unique_ptr<TfliteLstm> lstm;
  if (Status s = TfliteLstm::Create(params, path, threads, &lstm); !s.ok()) {
    report->skips.push_back({"irnn", "int8", s.message(), threads});
    return;
  }
  const char* name = KernelPathName(path);
  for (int B : grid.batch) {
    bench::Progress(*report, "irnn int8 %s %s H=%d B=%d threads=%d", scales.c_str(), name, H, B, threads);
    TfliteLstmState state;
    if (Status s = lstm->NewState(B, &state); !s.ok()) {
      report->skips.push_back({"irnn", "int8", s.message(), threads});
      continue;
    }
    Random rng(grid.seed ^ 0x9e3779b9u);
    std::vector<int8_t> x(static_cast<size_t>(T) * B * H), out(x.size());
    for (int8_t& v : x) v = rng.Int8();
    const size_t first = report->results.size();
    bench::TimeBothModes(*lstm, &state, x, &out, "int8", name, H, B, threads, grid, report);
    for (size_t i = first; i < report->results.size(); ++i) report->results[i].scales = scales;
  }
}

// The irnn int8 kernel paths to time: every path this build knows (enum values from 1 until
// KernelPathName no longer knows one) that --paths names and the CPU runs; the others are skipped.
std::vector<KernelPath> IrnnInt8Paths(const Grid& grid, Report* report) {
  std::vector<KernelPath> paths;
  for (int v = 1; v < 16; ++v) {
    const KernelPath path = static_cast<KernelPath>(v);
    if (std::strcmp(KernelPathName(path), "unknown") == 0) break;
    const bool wanted = grid.paths.empty() ||
                        std::find(grid.paths.begin(), grid.paths.end(), KernelPathName(path)) != grid.paths.end();
    const std::string why = !wanted                      ? ": not in --paths"
                            : !KernelPathAvailable(path) ? ": not available on this CPU or build"
                                                         : "";
    if (why.empty()) {
      paths.push_back(path);
      continue;
    }
    for (const char* cell : {bench::kLstm, bench::kGru}) {
      if (bench::WantsCell(grid, cell)) {
        report->skips.push_back({"irnn", "int8", std::string("kernel path ") + KernelPathName(path) + why, 0, cell});
      }
    }
  }
  return paths;
}

void RunIrnnInt8(const Grid& grid, const std::vector<KernelPath>& paths, Report* report) {
  if (!bench::WantsCell(grid, bench::kLstm)) return;
  for (int H : grid.hidden) {
    for (const std::string& scales : grid.lstm_scales) {
      TfliteLstmConfig config;
      config.n_input = config.n_cell = config.n_output = H;
      TfliteLstmParams params;
      Status s;
      if (scales == "pot") {
        s = MakeRandomPotLstmParams(config, grid.seed, &params);
      } else {  // tflite, or tflite7: the same with 7-bit weights
        const RandomTfliteLstmModel model = MakeRandomTfliteLstmModel(config, grid.seed, scales == "tflite7" ? 63 : 127);
        s = DeriveTfliteLstmParams(model.config, model.weights, model.quantization, &params);
      }
      if (!s.ok()) {
        report->skips.push_back({"irnn", "int8", scales + " H=" + std::to_string(H) + ": " + s.message()});
        continue;
      }
      for (KernelPath path : paths) {
        for (int threads : grid.threads) BenchTfliteLstm(params, scales, path, threads, grid, report);
      }
    }
  }
}

// ---- irnn fp32: LstmF32 -------------------------------------------------------------------------------

void RunIrnnFp32(const Grid& grid, Report* report) {
  if (!bench::WantsCell(grid, bench::kLstm)) return;
  const int T = grid.steps;
  for (int H : grid.hidden) {
    LstmF32Params params;
    params.n_input = params.n_hidden = H;
    Random rng(grid.seed + static_cast<uint32_t>(H));
    const float a = 1.0f / std::sqrt(static_cast<float>(H));
    params.w_ih.resize(4 * static_cast<size_t>(H) * H);
    params.w_hh.resize(params.w_ih.size());
    params.bias.resize(4 * static_cast<size_t>(H));
    for (float& v : params.w_ih) v = rng.Uniform(-a, a);
    for (float& v : params.w_hh) v = rng.Uniform(-a, a);
    for (float& v : params.bias) v = rng.Uniform(-a, a);
    for (int threads : grid.threads) {
      std::unique_ptr<LstmF32> lstm;
      if (Status s = LstmF32::Create(params, KernelPath::kAuto, &lstm, threads); !s.ok()) {
        report->skips.push_back({"irnn", "fp32", s.message(), threads});
        continue;
      }
      const char* path = KernelPathName(lstm->path());
      for (int B : grid.batch) {
        bench::Progress(*report, "irnn fp32 %s H=%d B=%d threads=%d", path, H, B, threads);
        LstmF32State state;
        if (Status s = lstm->NewState(B, &state); !s.ok()) {
          report->skips.push_back({"irnn", "fp32", s.message(), threads});
          continue;
        }
        std::vector<float> x(static_cast<size_t>(T) * B * H), out(x.size());
        for (float& v : x) v = rng.Uniform(-1.0f, 1.0f);
        bench::TimeBothModes(*lstm, &state, x, &out, "fp32", path, H, B, threads, grid, report);
      }
    }
  }
}

// ---- ONNX Runtime through Node.js ------------------------------------------------------------------------

// The value of "key" in a flat one-line JSON object as the script prints it (strings without escaped
// quotes), or "" when absent.
std::string FlatField(const std::string& line, const std::string& key) {
  const std::string pattern = "\"" + key + "\":";
  size_t p = line.find(pattern);
  if (p == std::string::npos) return "";
  p += pattern.size();
  while (p < line.size() && line[p] == ' ') ++p;
  if (p < line.size() && line[p] == '"') {
    std::string out;
    for (++p; p < line.size() && line[p] != '"'; ++p) {
      if (line[p] == '\\' && p + 1 < line.size()) ++p;
      out += line[p];
    }
    return out;
  }
  const size_t end = line.find_first_of(",}", p);
  return line.substr(p, end == std::string::npos ? std::string::npos : end - p);
}

void RunOnnxRuntime(const Grid& grid, const BenchOptions& o, Report* report) {
  auto skip_all = [&](const std::string& why) {
    for (const std::string& cell : grid.cells) {
      for (const char* precision : {"fp32", "int8"}) report->skips.push_back({"onnxruntime", precision, why, 0, cell});
    }
  };
  const std::string script = o.ort_script.empty() ? std::string(IRNN_BENCH_DIR) + "/ort_lstm.js" : o.ort_script;
  if (!FileExists(script)) return skip_all("the script " + script + " is missing");
  const std::string dir = script.substr(0, script.find_last_of('/') == std::string::npos ? 0 : script.find_last_of('/'));
  const std::string module = (dir.empty() ? std::string(".") : dir) + "/node_modules/onnxruntime-node/package.json";
  std::vector<std::string> version;
  if (RunCommand(ShellQuote(o.node) + " --version 2>/dev/null", &version) != 0 || version.empty()) {
    return skip_all("Node.js not installed ('" + o.node + " --version' failed; apt-get install nodejs npm)");
  }
  if (!FileExists(module)) {
    return skip_all("npm onnxruntime-node not installed (npm install --prefix " + (dir.empty() ? "." : dir) +
                    " onnxruntime-node)");
  }
  bench::Progress(*report, "onnxruntime: node %s %s (this takes a while; it prints nothing until done)",
                  version[0].c_str(), script.c_str());
  std::vector<int> hidden = grid.hidden, batch = grid.batch, threads = grid.threads;
  const std::string cmd = ShellQuote(o.node) + " " + ShellQuote(script) + " --jsonl --hidden " + JoinInts(hidden) +
                          " --batch " + JoinInts(batch) + " --threads " + JoinInts(threads) + " --steps " +
                          std::to_string(grid.steps) + " --repeats " + std::to_string(grid.repeats) + " --seed " +
                          std::to_string(grid.seed) + " --cells " + JoinStrings(grid.cells) + " 2>&1";
  std::vector<std::string> lines;
  const int rc = RunCommand(cmd, &lines);
  std::string ort_version, errors;
  std::set<std::string> reported;  // "cell precision" pairs with a result or a skip
  // The cell of a line; a script that predates the GRU rows prints none (its lines are the LSTM's).
  auto cell_of = [](const std::string& line) {
    const std::string cell = FlatField(line, "cell");
    return cell.empty() ? std::string(bench::kLstm) : cell;
  };
  for (const std::string& line : lines) {
    if (line.empty() || line[0] != '{') {
      if (errors.size() < 600) errors += (errors.empty() ? "" : " | ") + line;
      continue;
    }
    const std::string type = FlatField(line, "type");
    if (type == "info") {
      ort_version = FlatField(line, "version");
    } else if (type == "skip") {
      report->skips.push_back({"onnxruntime", FlatField(line, "precision"), FlatField(line, "reason"),
                               std::atoi(FlatField(line, "threads").c_str()), cell_of(line)});
      reported.insert(cell_of(line) + " " + FlatField(line, "precision"));
    } else if (type == "result") {
      Result r;
      r.runtime = "onnxruntime";
      r.precision = FlatField(line, "precision");
      r.variant = FlatField(line, "variant");
      r.mode = FlatField(line, "mode");
      r.hidden = std::atoi(FlatField(line, "hidden").c_str());
      r.batch = std::atoi(FlatField(line, "batch").c_str());
      r.steps = std::atoi(FlatField(line, "steps").c_str());
      r.threads = std::atoi(FlatField(line, "threads").c_str());
      r.repeats = std::atoi(FlatField(line, "repeats").c_str());
      r.us_per_step = std::atof(FlatField(line, "us_per_step").c_str());
      r.us_min = std::atof(FlatField(line, "us_min").c_str());
      r.us_max = std::atof(FlatField(line, "us_max").c_str());
      r.cell = cell_of(line);
      report->results.push_back(r);
      reported.insert(r.cell + " " + r.precision);
    }
  }
  if (!ort_version.empty()) bench::Progress(*report, "onnxruntime %s: done", ort_version.c_str());
  for (const std::string& cell : grid.cells) {
    for (const char* precision : {"fp32", "int8"}) {
      if (reported.count(cell + " " + precision) == 0) {
        report->skips.push_back({"onnxruntime", precision,
                                 "the script exited " + std::to_string(rc) + " without results" +
                                     (errors.empty() ? std::string() : ": " + errors),
                                 0, cell});
      }
    }
  }
}

// ---- The Step 3 language model, end to end -------------------------------------------------------------

struct PtbReport {
  std::string dir;
  std::string skipped;  // the whole section
  std::vector<std::pair<std::string, int64_t>> files;
  std::vector<bench::LmSpeed> int_speed;
  std::string int_skipped;
  std::string int_path;
  std::vector<bench::LmSpeed> float_speed;
  std::string float_skipped;
};

// The integer model's forward pass (tokens -> int32 logits) on the runtime, one thread: one token per
// call for batch 1, 35-token chunks for batch 10 (how `irnn eval --backend int` feeds it).
bool IntLmSpeed(const std::string& path, int64_t tokens, int repeats, uint32_t seed, std::vector<bench::LmSpeed>* out,
                std::string* kernel_path, std::string* why) {
  Model m;
  LanguageModelParams p;
  std::unique_ptr<LanguageModel> lm;
  Status s = ReadModel(path, &m);
  if (s.ok()) s = LanguageModelFromModel(m, &p);
  if (s.ok()) s = LanguageModel::Create(std::move(p), KernelPath::kAuto, &lm);
  if (!s.ok()) {
    *why = s.message();
    return false;
  }
  *kernel_path = KernelPathName(lm->path());
  const int32_t vocab = lm->vocab();
  Random rng(seed);
  for (const auto& [batch, chunk] : {std::pair<int, int>{1, 1}, {10, 35}}) {
    const int64_t steps = std::max<int64_t>(1, tokens / batch);
    std::vector<int32_t> ids(static_cast<size_t>(steps * batch));
    for (int32_t& id : ids) id = static_cast<int32_t>(rng.Uniform(0.0f, 1.0f) * vocab) % vocab;
    std::vector<int32_t> logits(static_cast<size_t>(chunk) * batch * vocab);
    LanguageModelState state;
    if (Status st = lm->NewState(batch, &state); !st.ok()) {
      *why = st.message();
      return false;
    }
    std::vector<double> seconds;
    for (int r = 0; r <= repeats; ++r) {  // r = 0: warm-up
      (void)lm->ResetState(&state);
      const auto t0 = std::chrono::steady_clock::now();
      for (int64_t t = 0; t < steps; t += chunk) {
        const int len = static_cast<int>(std::min<int64_t>(chunk, steps - t));
        if (Status st = lm->Run(ids.data() + t * batch, len, &state, logits.data()); !st.ok()) {
          *why = st.message();
          return false;
        }
      }
      const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (r > 0) seconds.push_back(sec);
    }
    bench::LmSpeed speed;
    speed.batch = batch;
    speed.chunk = chunk;
    speed.tokens = steps * batch;
    speed.tokens_per_s = static_cast<double>(speed.tokens) / bench::Median(seconds);
    out->push_back(speed);
  }
  return true;
}

void RunPtb(const BenchOptions& o, const Grid& grid, Report* report, PtbReport* ptb) {
  ptb->dir = o.ptb_model;
  if (o.ptb_model.empty()) {
    ptb->skipped = "no --ptb-model folder given (the output folder of 'irnn recipe ptb-small')";
    return;
  }
  struct stat st;
  if (stat(o.ptb_model.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    ptb->skipped = "--ptb-model " + o.ptb_model + " is not a folder";
    return;
  }
  const std::string float_path = o.ptb_model + "/float.pt", int_path = o.ptb_model + "/qat_irnn.irnn";
  for (const char* name : {"float.pt", "qat_irnn.irnn", "ptq_tflite.irnn"}) {
    const int64_t bytes = FileBytes(o.ptb_model + "/" + name);
    if (bytes >= 0) ptb->files.push_back({name, bytes});
  }
  const int64_t tokens = o.quick ? 700 : 3500;
  const int repeats = std::max(1, std::min(grid.repeats, 5));
  if (FileBytes(int_path) < 0) {
    ptb->int_skipped = int_path + " is missing";
  } else {
    bench::Progress(*report, "ptb: integer model %s", int_path.c_str());
    if (!IntLmSpeed(int_path, tokens, repeats, grid.seed, &ptb->int_speed, &ptb->int_path, &ptb->int_skipped)) {
      ptb->int_speed.clear();
    }
  }
  if (FileBytes(float_path) < 0) {
    ptb->float_skipped = float_path + " is missing";
  } else {
    bench::Progress(*report, "ptb: float model %s", float_path.c_str());
    if (!bench::FloatLmSpeed(float_path, tokens, repeats, grid.seed, &ptb->float_speed, &ptb->float_skipped)) {
      ptb->float_speed.clear();
    }
  }
}

// qat_irnn.irnn's size over float.pt's, or 0 when either is missing.
double IntOverFloatSize(const PtbReport& ptb) {
  int64_t float_bytes = 0, int_bytes = 0;
  for (const auto& [name, bytes] : ptb.files) {
    if (name == "float.pt") float_bytes = bytes;
    if (name == "qat_irnn.irnn") int_bytes = bytes;
  }
  return float_bytes > 0 && int_bytes > 0 ? static_cast<double>(int_bytes) / float_bytes : 0.0;
}

// ---- Output -------------------------------------------------------------------------------------------

const char* CellTitle(const std::string& cell) {
  return cell == bench::kGru ? "one GRU layer (PyTorch's GRU: gates r, z, n, linear before reset)" : "one LSTM layer";
}

// "one LSTM layer", "one GRU layer" or "one LSTM layer and one GRU layer" (the order of --cells).
std::string CellsTitle(const Grid& grid) {
  std::string s;
  for (size_t i = 0; i < grid.cells.size(); ++i) {
    s += std::string(i ? " and " : "") + "one " + (grid.cells[i] == bench::kGru ? "GRU" : "LSTM") + " layer";
  }
  return s;
}

void PrintCellTables(const Grid& grid, const Machine& m, const Report& report, const std::string& cell);
void PrintPtb(const PtbReport& ptb);

std::string SeriesName(const Result& r) {
  std::string s = r.runtime + " " + r.precision;
  if (r.runtime == "irnn") s += " " + r.variant;
  if (!r.scales.empty()) s += " " + r.scales;
  return s;
}

void PrintTables(const Grid& grid, const Machine& m, const Report& report, const PtbReport& ptb) {
  std::printf("irnn bench %s: %s, input = hidden = H, T = %d steps, microseconds per time step "
              "(median of %d runs after a warm-up)\n",
              kVersionString, CellsTitle(grid).c_str(), grid.steps, grid.repeats);
  std::printf("machine: %s, %u logical CPUs;", m.cpu.c_str(), m.logical_cpus);
  for (const CacheInfo& c : m.caches) {
    std::printf(" L%d %s %lld KiB;", c.level, c.type.c_str(), static_cast<long long>(c.bytes >> 10));
  }
  std::printf("\n\n");
  if (!m.limits_skipped.empty()) {
    std::printf("machine limits: skipped: %s\n\n", m.limits_skipped.c_str());
  } else if (!m.bandwidth.empty()) {
    std::printf("machine limits (best of 3):\n  read bandwidth, GB/s:");
    for (const Bandwidth& b : m.bandwidth) {
      std::printf(" %s %lld KiB x%d: %.1f;", b.level.c_str(), static_cast<long long>(b.bytes >> 10), b.threads,
                  b.gb_per_s);
    }
    std::printf("\n  AVX2 int8 MAC peak (vpmaddubsw+vpmaddwd+vpaddd):");
    for (const Peak& p : m.int8_peak) std::printf(" %d thread(s) %.1f G MAC/s = %.1f G ops/s;", p.threads, p.g_mac_per_s, 2 * p.g_mac_per_s);
    std::printf("\n  AVX2 exact int8 MAC peak (vpsignb+vpmaddubsw+vpmaddwd+vpaddd, the avx2 path's):");
    for (const Peak& p : m.sign_peak) std::printf(" %d thread(s) %.1f G MAC/s;", p.threads, p.g_mac_per_s);
    std::printf("\n  FP32 FMA peak:");
    for (const Peak& p : m.fp32_peak) std::printf(" %d thread(s) %.1f G MAC/s = %.1f GFLOP/s;", p.threads, p.g_mac_per_s, 2 * p.g_mac_per_s);
    const std::pair<const char*, const std::vector<Peak>*> wide[] = {
        {"AVX-VNNI int8 MAC peak (ymm vpdpbusd)", &m.vnni_peak},
        {"AVX-512 VNNI int8 MAC peak (zmm vpdpbusd)", &m.vnni512_peak},
        {"AMX int8 MAC peak (tdpbusd)", &m.amx_peak}};
    for (const auto& [name, peaks] : wide) {
      if (peaks->empty()) continue;
      std::printf("\n  %s:", name);
      for (const Peak& p : *peaks) std::printf(" %d thread(s) %.1f G MAC/s;", p.threads, p.g_mac_per_s);
    }
    std::printf("\n\n");
  }
  for (const std::string& cell : grid.cells) PrintCellTables(grid, m, report, cell);
  if (!report.skips.empty()) {
    std::printf("skipped:\n");
    for (const Skip& s : report.skips) {
      std::printf("  %s %s %s%s: %s\n", s.cell.c_str(), s.runtime.c_str(), s.precision.c_str(),
                  s.threads > 0 ? (", " + std::to_string(s.threads) + " threads").c_str() : "", s.reason.c_str());
    }
    std::printf("\n");
  }
  PrintPtb(ptb);
}

// The tables of one cell: one per (runtime, precision, variant, mode, threads), rows H, columns B; then
// the fraction of the binding limit per irnn int8 series.
void PrintCellTables(const Grid& grid, const Machine& m, const Report& report, const std::string& cell) {
  std::printf("==== %s ====\n\n", CellTitle(cell));
  std::map<std::tuple<std::string, std::string, int>, std::map<std::pair<int, int>, double>> tables;
  std::vector<std::tuple<std::string, std::string, int>> order;
  for (const Result& r : report.results) {
    if (r.cell != cell) continue;
    const auto key = std::make_tuple(SeriesName(r), r.mode, r.threads);
    if (tables.count(key) == 0) order.push_back(key);
    tables[key][{r.hidden, r.batch}] = r.us_per_step;
  }
  for (const auto& key : order) {
    const auto& cells = tables[key];
    std::printf("%s, %s, %d thread%s: us per step\n  %6s", std::get<0>(key).c_str(), std::get<1>(key).c_str(),
                std::get<2>(key), std::get<2>(key) == 1 ? "" : "s", "H");
    for (int B : grid.batch) std::printf(" %11s", ("B=" + std::to_string(B)).c_str());
    std::printf("\n");
    for (int H : grid.hidden) {
      std::printf("  %6d", H);
      for (int B : grid.batch) {
        const auto it = cells.find({H, B});
        if (it == cells.end()) std::printf(" %11s", "-");
        else std::printf(" %11.2f", it->second);
      }
      std::printf("\n");
    }
    std::printf("\n");
  }
  // The fraction of the binding limit reached, per irnn int8 series (see BindingLimit).
  std::map<std::tuple<std::string, std::string, int>, std::map<std::pair<int, int>, LimitUse>> limit_tables;
  std::vector<std::tuple<std::string, std::string, int>> limit_order;
  for (const Result& r : report.results) {
    LimitUse use;
    if (r.cell != cell || !BindingLimit(m, r, grid.steps, &use)) continue;
    const auto key = std::make_tuple(SeriesName(r), r.mode, r.threads);
    if (limit_tables.count(key) == 0) limit_order.push_back(key);
    limit_tables[key][{r.hidden, r.batch}] = use;
  }
  for (const auto& key : limit_order) {
    const auto& cells = limit_tables[key];
    std::printf("%s, %s, %d thread%s: %% of the binding limit (limit us per step: what binds)\n",
                std::get<0>(key).c_str(), std::get<1>(key).c_str(), std::get<2>(key), std::get<2>(key) == 1 ? "" : "s");
    for (int H : grid.hidden) {
      for (int B : grid.batch) {
        const auto it = cells.find({H, B});
        if (it == cells.end()) continue;
        std::printf("  H=%-5d B=%-3d %5.1f %%  (%.2f us: %s)\n", H, B, 100 * it->second.fraction, it->second.limit_us,
                    it->second.binding.c_str());
      }
    }
    std::printf("\n");
  }
}

void PrintPtb(const PtbReport& ptb) {
  std::printf("Step 3 PTB model, end to end (forward pass, tokens -> logits, 1 thread):\n");
  if (!ptb.skipped.empty()) {
    std::printf("  skipped: %s\n", ptb.skipped.c_str());
    return;
  }
  for (const auto& [name, bytes] : ptb.files) std::printf("  %-16s %lld bytes\n", name.c_str(), static_cast<long long>(bytes));
  if (const double ratio = IntOverFloatSize(ptb); ratio > 0) std::printf("  qat_irnn.irnn / float.pt = %.3f\n", ratio);
  auto print_speed = [](const char* what, const std::vector<bench::LmSpeed>& v, const std::string& skipped) {
    if (!skipped.empty()) {
      std::printf("  %s: skipped: %s\n", what, skipped.c_str());
      return;
    }
    for (const bench::LmSpeed& s : v) {
      std::printf("  %s: batch %d, %d token(s) per call: %.0f tokens/s (%lld tokens)\n", what, s.batch, s.chunk,
                  s.tokens_per_s, static_cast<long long>(s.tokens));
    }
  };
  print_speed(("int (irnn " + ptb.int_path + ")").c_str(), ptb.int_speed, ptb.int_skipped);
  print_speed("float (libtorch)", ptb.float_speed, ptb.float_skipped);
}

void PrintJson(const BenchOptions& o, const Grid& grid, const Machine& m, const Report& report, const PtbReport& ptb) {
  std::ostringstream j;
  j << "{\"tool\": \"irnn\", \"version\": " << Quote(kVersionString) << ", \"command\": \"bench\", \"config\": {"
    << "\"hidden\": [" << JoinInts(grid.hidden, ", ") << "], \"batch\": [" << JoinInts(grid.batch, ", ")
    << "], \"threads\": [" << JoinInts(grid.threads, ", ") << "], \"steps\": " << grid.steps
    << ", \"repeats\": " << grid.repeats << ", \"seed\": " << grid.seed << ", \"cells\": [";
  for (size_t i = 0; i < grid.cells.size(); ++i) j << (i ? ", " : "") << Quote(grid.cells[i]);
  j << "], \"quick\": " << (o.quick ? "true" : "false")
    << ", \"peers\": " << (o.no_peers ? "false" : "true") << ", \"unit\": \"microseconds per time step, median\"}";
  j << ", \"machine\": {\"cpu\": " << Quote(m.cpu) << ", \"logical_cpus\": " << m.logical_cpus << ", \"caches\": [";
  for (size_t i = 0; i < m.caches.size(); ++i) {
    j << (i ? ", " : "") << "{\"level\": " << m.caches[i].level << ", \"type\": " << Quote(m.caches[i].type)
      << ", \"bytes\": " << m.caches[i].bytes << "}";
  }
  j << "], \"limits\": ";
  if (!m.limits_skipped.empty()) {
    j << "{\"skipped\": " << Quote(m.limits_skipped) << "}";
  } else {
    j << "{\"read_bandwidth\": [";
    for (size_t i = 0; i < m.bandwidth.size(); ++i) {
      const Bandwidth& b = m.bandwidth[i];
      j << (i ? ", " : "") << "{\"level\": " << Quote(b.level) << ", \"bytes\": " << b.bytes
        << ", \"threads\": " << b.threads << ", \"gb_per_s\": " << Num(b.gb_per_s, 2) << "}";
    }
    j << "], \"avx2_int8_mac_peak\": [";
    for (size_t i = 0; i < m.int8_peak.size(); ++i) {
      j << (i ? ", " : "") << "{\"threads\": " << m.int8_peak[i].threads << ", \"g_mac_per_s\": "
        << Num(m.int8_peak[i].g_mac_per_s, 2) << ", \"g_ops_per_s\": " << Num(2 * m.int8_peak[i].g_mac_per_s, 2) << "}";
    }
    j << "], \"fp32_fma_peak\": [";
    for (size_t i = 0; i < m.fp32_peak.size(); ++i) {
      j << (i ? ", " : "") << "{\"threads\": " << m.fp32_peak[i].threads << ", \"g_mac_per_s\": "
        << Num(m.fp32_peak[i].g_mac_per_s, 2) << ", \"g_flop_per_s\": " << Num(2 * m.fp32_peak[i].g_mac_per_s, 2)
        << "}";
    }
    const std::pair<const char*, const std::vector<Peak>*> wide[] = {
        {"avx2_sign_int8_mac_peak", &m.sign_peak},
        {"avxvnni_int8_mac_peak", &m.vnni_peak}, {"avx512vnni_int8_mac_peak", &m.vnni512_peak},
        {"amx_int8_mac_peak", &m.amx_peak}};
    for (const auto& [name, peaks] : wide) {
      j << "], " << Quote(name) << ": [";
      for (size_t i = 0; i < peaks->size(); ++i) {
        j << (i ? ", " : "") << "{\"threads\": " << (*peaks)[i].threads << ", \"g_mac_per_s\": "
          << Num((*peaks)[i].g_mac_per_s, 2) << "}";
      }
    }
    j << "], \"int8_sequence\": \"vpmaddubsw + vpmaddwd + vpaddd, 32 MACs per vpmaddubsw\"}";
  }
  j << "}, \"results\": [";
  for (size_t i = 0; i < report.results.size(); ++i) {
    const Result& r = report.results[i];
    j << (i ? ",\n  " : "\n  ") << "{\"cell\": " << Quote(r.cell) << ", \"runtime\": " << Quote(r.runtime)
      << ", \"precision\": " << Quote(r.precision)
      << ", \"variant\": " << Quote(r.variant);
    if (!r.scales.empty()) j << ", \"scales\": " << Quote(r.scales);
    j << ", \"mode\": " << Quote(r.mode) << ", \"hidden\": " << r.hidden
      << ", \"batch\": " << r.batch << ", \"steps\": " << r.steps << ", \"threads\": " << r.threads
      << ", \"repeats\": " << r.repeats << ", \"us_per_step\": " << Num(r.us_per_step, 3)
      << ", \"us_min\": " << Num(r.us_min, 3) << ", \"us_max\": " << Num(r.us_max, 3);
    LimitUse use;
    if (BindingLimit(m, r, grid.steps, &use)) {
      j << ", \"limit\": {\"binding\": " << Quote(use.binding) << ", \"limit_us_per_step\": " << Num(use.limit_us, 3)
        << ", \"fraction\": " << Num(use.fraction, 4) << "}";
    }
    j << "}";
  }
  j << "], \"skipped\": [";
  for (size_t i = 0; i < report.skips.size(); ++i) {
    const Skip& s = report.skips[i];
    j << (i ? ", " : "") << "{\"cell\": " << Quote(s.cell) << ", \"runtime\": " << Quote(s.runtime)
      << ", \"precision\": " << Quote(s.precision)
      << ", \"threads\": " << s.threads << ", \"reason\": " << Quote(s.reason) << "}";
  }
  j << "], \"ptb\": ";
  if (!ptb.skipped.empty()) {
    j << "{\"skipped\": " << Quote(ptb.skipped) << "}";
  } else {
    j << "{\"model_dir\": " << Quote(ptb.dir) << ", \"files\": {";
    for (size_t i = 0; i < ptb.files.size(); ++i) {
      j << (i ? ", " : "") << Quote(ptb.files[i].first) << ": " << ptb.files[i].second;
    }
    j << "}, \"int_over_float_size\": " << (IntOverFloatSize(ptb) > 0 ? Num(IntOverFloatSize(ptb), 4) : "null");
    auto speeds = [&](const char* name, const std::vector<bench::LmSpeed>& v, const std::string& skipped) {
      j << ", " << Quote(name) << ": ";
      if (!skipped.empty()) {
        j << "{\"skipped\": " << Quote(skipped) << "}";
        return;
      }
      j << "[";
      for (size_t i = 0; i < v.size(); ++i) {
        j << (i ? ", " : "") << "{\"batch\": " << v[i].batch << ", \"tokens_per_call\": " << v[i].chunk
          << ", \"tokens\": " << v[i].tokens << ", \"tokens_per_s\": " << Num(v[i].tokens_per_s, 1) << "}";
      }
      j << "]";
    };
    speeds("int", ptb.int_speed, ptb.int_skipped);
    if (ptb.int_skipped.empty()) j << ", \"int_kernel_path\": " << Quote(ptb.int_path);
    speeds("float", ptb.float_speed, ptb.float_skipped);
    j << "}";
  }
  j << "}\n";
  std::fputs(j.str().c_str(), stdout);
}

// Latency vs H, log-log: one panel per (cell, mode, threads, batch), the LSTM's rows of panels first,
// then the GRU's; one line per runtime.
int Plot(const std::string& path, const Grid& grid, const Report& report) {
  const std::string script = path + ".tmp.gp";
  std::vector<std::string> modes = {bench::kSequence, bench::kStreaming};
  const int min_h = *std::min_element(grid.hidden.begin(), grid.hidden.end());
  const int max_h = *std::max_element(grid.hidden.begin(), grid.hidden.end());
  // One line style per runtime, the same in every panel.
  std::map<std::string, int> style;
  for (const Result& r : report.results) style.emplace(SeriesName(r), 0);
  int next_style = 1;
  for (auto& [name, index] : style) index = next_style++;
  {
    std::ofstream gp(script);
    if (!gp) return Fail("cannot write " + script);
    const size_t rows = grid.cells.size() * modes.size() * grid.threads.size(), cols = grid.batch.size();
    gp << "set terminal pngcairo size " << 700 * cols << "," << 520 * rows << " noenhanced font ',10'\n"
       << "set output " << Quote(path) << "\n"
       << "set multiplot layout " << rows << "," << cols << " title 'irnn bench: " << CellsTitle(grid) << ", T = " << grid.steps
       << ", microseconds per time step (median of " << grid.repeats << ")'\n"
       << "set logscale xy\nset grid\nset key top left\nset xlabel 'H'\nset ylabel 'us per step'\nset xtics ("
       << JoinInts(grid.hidden, ", ") << ")\nset xrange [" << Num(0.8 * min_h, 1) << ":" << Num(1.25 * max_h, 1)
       << "]\n";
    for (const std::string& cell : grid.cells) {
      for (const std::string& mode : modes) {
        for (int threads : grid.threads) {
          for (int B : grid.batch) {
            std::map<std::string, std::vector<std::pair<int, double>>> series;
            for (const Result& r : report.results) {
              if (r.cell == cell && r.mode == mode && r.threads == threads && r.batch == B) {
                series[SeriesName(r)].push_back({r.hidden, r.us_per_step});
              }
            }
            gp << "set title '" << (cell == bench::kGru ? "GRU" : "LSTM") << ", " << mode << ", " << threads
               << " thread(s), B = " << B << "'\n";
            if (series.empty()) {
              gp << "set label 1 'no results' at graph 0.5,0.5 center\nplot 1/0 notitle\nunset label 1\n";
              continue;
            }
            gp << "plot ";
            bool first = true;
            for (const auto& [name, points] : series) {
              gp << (first ? "" : ", ") << "'-' using 1:2 with linespoints lt " << style[name] << " pt " << style[name]
                 << " title " << Quote(name);
              first = false;
            }
            gp << "\n";
            for (auto& [name, points] : series) {
              std::sort(points.begin(), points.end());
              for (const auto& [h, us] : points) gp << h << " " << us << "\n";
              gp << "e\n";
            }
          }
        }
      }
    }
    gp << "unset multiplot\n";
  }
  std::vector<std::string> out;
  const int rc = RunCommand("gnuplot " + ShellQuote(script) + " 2>&1", &out);
  std::remove(script.c_str());
  if (rc != 0) {
    return Fail("gnuplot failed (is it installed? apt-get install gnuplot-nox); no plot written" +
                (out.empty() ? std::string() : ": " + out[0]));
  }
  return 0;
}

// Checks every value of a list option against [1, max]; fills `to`.
bool CheckList(const char* name, const std::vector<int64_t>& from, int64_t max, std::vector<int>* to, std::string* why) {
  if (from.empty()) {
    *why = std::string(name) + " is empty but must list at least one value";
    return false;
  }
  for (int64_t v : from) {
    if (v < 1 || v > max) {
      *why = std::string(name) + " has " + std::to_string(v) + " but every value must be in [1, " + std::to_string(max) + "]";
      return false;
    }
    if (std::find(to->begin(), to->end(), static_cast<int>(v)) == to->end()) to->push_back(static_cast<int>(v));
  }
  return true;
}

}  // namespace

CLI::App* AddBenchCommand(CLI::App* app, BenchOptions* o) {
  CLI::App* cmd = app->add_subcommand(
      "bench", "Time one LSTM layer and one GRU layer on irnn (int8, fp32) and their peers (oneDNN, libtorch, "
               "ONNX Runtime), with the machine's limits");
  cmd->add_flag("--json", o->json, "Print one JSON object with every number instead of tables");
  cmd->add_option("--plot", o->plot,
                  "Draw latency vs H per runtime to this PNG (gnuplot): one panel per cell, mode, thread count and "
                  "batch, the LSTM's rows of panels above the GRU's");
  cmd->add_option_function<std::vector<int64_t>>(
         "--hidden",
         [o](const std::vector<int64_t>& v) {
           o->hidden = v;
           o->hidden_given = true;
         },
         "Hidden sizes H (input = hidden), comma-separated [default: 128,256,512,1024]")
      ->delimiter(',');
  cmd->add_option("--batch", o->batch, "Batch sizes B, comma-separated")->delimiter(',')->capture_default_str();
  cmd->add_option("--threads", o->threads, "Thread counts, comma-separated")->delimiter(',')->capture_default_str();
  cmd->add_option("--steps", o->steps, "Time steps T per run")->capture_default_str();
  cmd->add_option_function<int64_t>(
      "--repeats",
      [o](const int64_t& v) {
        o->repeats = v;
        o->repeats_given = true;
      },
      "Timed runs after the warm-up; the median is reported [default: 7]");
  cmd->add_option("--seed", o->seed, "Seed of the random weights and inputs")->capture_default_str();
  cmd->add_flag("--quick", o->quick, "H = 128,256 and 3 repeats (unless given), shorter limit measurements");
  cmd->add_option("--ptb-model", o->ptb_model,
                  "Folder of 'irnn recipe ptb-small' (float.pt, qat_irnn.irnn): end-to-end tokens/s and sizes");
  cmd->add_flag("--no-peers", o->no_peers, "Time irnn only (oneDNN, libtorch, ONNX Runtime reported as skipped)");
  cmd->add_flag("--no-limits", o->no_limits, "Skip the machine-limit microbenchmarks");
  cmd->add_option("--ort-script", o->ort_script, "The ONNX Runtime script [default: bench/ort_lstm.js of the source]");
  cmd->add_option("--node", o->node, "The Node.js executable")->capture_default_str();
  cmd->add_option("--paths", o->paths, "irnn int8 kernel paths to time, comma-separated [default: every available]")
      ->delimiter(',');
  cmd->add_option("--cells", o->cells,
                  "Recurrent cells to time, comma-separated: lstm, gru (PyTorch's linear-before-reset GRU) "
                  "[default: lstm,gru]")
      ->delimiter(',');
  cmd->add_option("--lstm-scales", o->lstm_scales,
                  "The irnn int8 LSTM's scales, comma-separated: tflite (TFLite's arithmetic, per-tensor scales), pot "
                  "(intended mode, per-row power-of-two scales, single rounding), tflite7 (tflite with 7-bit weights "
                  "in [-63, 63], the reduced range ONNX Runtime's AVX2 int8 kernels need: like for like with them) "
                  "[default: tflite,pot,tflite7]")
      ->delimiter(',');
  return cmd;
}

int RunBench(const BenchOptions& options) {
  BenchOptions o = options;
  if (o.quick) {
    if (!o.hidden_given) o.hidden = {128, 256};
    if (!o.repeats_given) o.repeats = 3;
  }
  Grid grid;
  std::string why;
  if (!CheckList("--hidden", o.hidden, kMaxHidden, &grid.hidden, &why) ||
      !CheckList("--batch", o.batch, kMaxBatch, &grid.batch, &why) ||
      !CheckList("--threads", o.threads, kMaxThreads, &grid.threads, &why)) {
    return UsageError(why);
  }
  if (o.steps < 1 || o.steps > kMaxSteps) {
    return UsageError("--steps is " + std::to_string(o.steps) + " but must be in [1, " + std::to_string(kMaxSteps) + "]");
  }
  if (o.repeats < 1 || o.repeats > kMaxRepeats) {
    return UsageError("--repeats is " + std::to_string(o.repeats) + " but must be in [1, " +
                      std::to_string(kMaxRepeats) + "]");
  }
  const int max_h = *std::max_element(grid.hidden.begin(), grid.hidden.end());
  const int max_b = *std::max_element(grid.batch.begin(), grid.batch.end());
  // fp32 input, output and projected gates of the largest sequence: 4 + 4 + 16 bytes per unit and frame.
  const double sequence_bytes = 24.0 * static_cast<double>(o.steps) * max_b * max_h;
  if (sequence_bytes > kMaxSequenceBytes) {
    return UsageError("the largest sequence would take " + std::to_string(static_cast<int64_t>(sequence_bytes)) +
                      " bytes but must take at most " + std::to_string(static_cast<int64_t>(kMaxSequenceBytes)) +
                      " (reduce --steps, --batch or --hidden)");
  }
  if (!o.plot.empty() && o.plot.find('\'') != std::string::npos) {
    return UsageError("--plot '" + o.plot + "' must not contain a single quote");
  }
  grid.steps = static_cast<int>(o.steps);
  grid.repeats = static_cast<int>(o.repeats);
  grid.seed = o.seed;
  for (const std::string& name : o.paths) {
    KernelPath path = KernelPath::kAuto;
    if (!ParseKernelPath(name, &path).ok() || path == KernelPath::kAuto) {
      return UsageError("--paths: '" + name + "' is not one of scalar, avx2, avxvnni, avx512vnni, amx");
    }
  }
  grid.paths = o.paths;
  grid.lstm_scales.clear();
  for (const std::string& scales : o.lstm_scales) {
    if (scales != "tflite" && scales != "pot" && scales != "tflite7") {
      return UsageError("--lstm-scales: '" + scales + "' is not one of tflite, pot, tflite7");
    }
    if (std::find(grid.lstm_scales.begin(), grid.lstm_scales.end(), scales) == grid.lstm_scales.end()) {
      grid.lstm_scales.push_back(scales);
    }
  }
  if (grid.lstm_scales.empty()) return UsageError("--lstm-scales must name at least one of tflite, pot, tflite7");
  grid.cells.clear();
  for (const std::string& cell : o.cells) {
    if (cell != bench::kLstm && cell != bench::kGru) return UsageError("--cells: '" + cell + "' is not one of lstm, gru");
    if (std::find(grid.cells.begin(), grid.cells.end(), cell) == grid.cells.end()) grid.cells.push_back(cell);
  }
  if (grid.cells.empty()) return UsageError("--cells is empty but must list lstm, gru or both");

  Report report;
  Machine machine;
  DescribeMachine(&machine);
  if (o.no_limits) {
    machine.limits_skipped = "not measured (--no-limits)";
  } else {
    MeasureLimits(grid, o.quick, &machine, report);
  }
  const std::vector<KernelPath> paths = IrnnInt8Paths(grid, &report);
  RunIrnnInt8(grid, paths, &report);
  RunIrnnFp32(grid, &report);
  bench::RunIrnnGru(grid, paths, &report);
  if (o.no_peers) {
    for (const std::string& cell : grid.cells) {
      for (const char* peer : {"onednn fp32", "onednn int8", "libtorch fp32", "onnxruntime fp32", "onnxruntime int8"}) {
        const std::string s(peer);
        report.skips.push_back({s.substr(0, s.find(' ')), s.substr(s.find(' ') + 1), "not run (--no-peers)", 0, cell});
      }
    }
  } else {
    bench::RunOneDnn(grid, &report);
    bench::RunLibtorch(grid, &report);
    RunOnnxRuntime(grid, o, &report);
  }
  PtbReport ptb;
  RunPtb(o, grid, &report, &ptb);
  if (machine.limits_skipped.empty()) {  // the limits again, after the timings: the higher of the two
    Machine again;
    again.avx2_fma = machine.avx2_fma;
    MeasureLimits(grid, o.quick, &again, report);
    KeepHigherLimits(again, &machine);
  }

  if (o.json) {
    PrintJson(o, grid, machine, report, ptb);
  } else {
    PrintTables(grid, machine, report, ptb);
  }
  std::fflush(stdout);
  if (!o.plot.empty()) {
    if (const int rc = Plot(o.plot, grid, report); rc != 0) return rc;
    if (!o.json) std::printf("wrote %s\n", o.plot.c_str());
  }
  return 0;
}

}  // namespace irnn::cli
