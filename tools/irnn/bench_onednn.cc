// The oneDNN peer of `irnn bench` (oneDNN 2.x C++ API, Debian's libdnnl-dev; built only when CMake
// finds it, else bench_onednn_none.cc): one LSTM layer as dnnl::lstm_forward, fp32 and int8.
//   fp32: f32 everywhere, weights reordered once to the layout the primitive prefers.
//   int8: u8 src/dst layer and iter (h), f32 cell state, s8 weights, f32 bias, as oneDNN's int8 RNN
//         requires; activations quantized as u8 = 127 * x + 128 (set_rnn_data_qparams), weights with
//         one scale per gate and output channel, 127 / max|w| (set_rnn_weights_qparams, mask
//         (1 << 3) | (1 << 4) over the ldigo dimensions); the f32 weights are quantized by a reorder
//         that carries the same attributes.
// Sequence mode: one primitive over the T steps. Streaming mode: a T = 1 primitive called T times,
// its states carried (src_iter, src_iter_c <- the previous call's dst_iter, dst_iter_c, two buffers
// used in turn). Threads: oneDNN in Debian runs on OpenMP, so omp_set_num_threads.

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <exception>
#include <string>
#include <unordered_map>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "bench_common.h"
#include "random_tflite_lstm.h"

namespace irnn::cli::bench {
namespace {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

struct Layer {
  dnnl::lstm_forward prim;
  memory src_layer, dst_layer, weights_layer, weights_iter, bias;
  memory iter[2], iter_c[2];  // states: [0] in and [1] out, swapped by streaming
};

// Builds a primitive for `steps` time steps and its memories; weights from the user's f32 ldigo.
Layer MakeLayer(const dnnl::engine& eng, dnnl::stream& s, int steps, int B, int H, bool int8,
                const std::vector<float>& w_layer, const std::vector<float>& w_iter, const std::vector<float>& bias) {
  const memory::dim T = steps, N = B, C = H;
  const dt data = int8 ? dt::u8 : dt::f32;
  const dt weights = int8 ? dt::s8 : dt::f32;
  const memory::desc src_layer_md({T, N, C}, data, tag::tnc);
  const memory::desc iter_md({1, 1, N, C}, data, tag::ldnc);
  const memory::desc iter_c_md({1, 1, N, C}, dt::f32, tag::ldnc);
  const memory::desc weights_md({1, 1, C, 4, C}, weights, tag::any);
  const memory::desc bias_md({1, 1, 4, C}, dt::f32, tag::ldgo);
  const memory::desc dst_layer_md({T, N, C}, data, tag::tnc);
  dnnl::primitive_attr attr;
  if (int8) {
    attr.set_rnn_data_qparams(127.0f, 128.0f);
    // One scale per (gate, output channel): the maximum over both matrices' input rows.
    std::vector<float> scales(4 * static_cast<size_t>(H), 0.0f);
    for (const std::vector<float>* w : {&w_layer, &w_iter}) {
      for (size_t i = 0; i < w->size(); ++i) {
        float& m = scales[i % scales.size()];
        m = std::max(m, std::fabs((*w)[i]));
      }
    }
    for (float& v : scales) v = v > 0 ? 127.0f / v : 1.0f;
    attr.set_rnn_weights_qparams((1 << 3) | (1 << 4), scales);
  }
  const dnnl::lstm_forward::desc desc(dnnl::prop_kind::forward_inference, dnnl::rnn_direction::unidirectional_left2right,
                                      src_layer_md, iter_md, iter_c_md, weights_md, weights_md, bias_md, dst_layer_md,
                                      iter_md, iter_c_md);
  const dnnl::lstm_forward::primitive_desc pd(desc, attr, eng);
  Layer l;
  l.prim = dnnl::lstm_forward(pd);
  l.src_layer = memory(pd.src_layer_desc(), eng);
  l.dst_layer = memory(pd.dst_layer_desc(), eng);
  for (int i = 0; i < 2; ++i) {
    l.iter[i] = memory(pd.src_iter_desc(), eng);
    l.iter_c[i] = memory(pd.src_iter_c_desc(), eng);
  }
  const memory::desc user_w_md({1, 1, C, 4, C}, dt::f32, tag::ldigo);
  memory user_layer(user_w_md, eng, const_cast<float*>(w_layer.data()));
  memory user_iter(user_w_md, eng, const_cast<float*>(w_iter.data()));
  l.weights_layer = memory(pd.weights_layer_desc(), eng);
  l.weights_iter = memory(pd.weights_iter_desc(), eng);
  dnnl::reorder(dnnl::reorder::primitive_desc(user_layer, l.weights_layer, attr)).execute(s, user_layer, l.weights_layer);
  dnnl::reorder(dnnl::reorder::primitive_desc(user_iter, l.weights_iter, attr)).execute(s, user_iter, l.weights_iter);
  l.bias = memory(bias_md, eng);
  std::memcpy(l.bias.get_data_handle(), bias.data(), bias.size() * sizeof(float));
  s.wait();
  return l;
}

// Random contents: u8 around the zero point 128 (|x| < 1 after dequantization), or f32 in [-1, 1).
void Fill(const memory& m, bool u8, Random* rng) {
  const size_t bytes = m.get_desc().get_size();
  if (u8) {
    auto* p = static_cast<uint8_t*>(m.get_data_handle());
    for (size_t i = 0; i < bytes; ++i) p[i] = static_cast<uint8_t>(static_cast<int>(rng->Int8()) / 2 + 128);
  } else {
    auto* p = static_cast<float*>(m.get_data_handle());
    for (size_t i = 0; i < bytes / sizeof(float); ++i) p[i] = rng->Uniform(-1.0f, 1.0f);
  }
}

void ZeroStates(const Layer& l, bool int8) {
  for (int i = 0; i < 2; ++i) {
    // h = 0 is the zero point 128 in u8.
    std::memset(l.iter[i].get_data_handle(), int8 ? 128 : 0, l.iter[i].get_desc().get_size());
    std::memset(l.iter_c[i].get_data_handle(), 0, l.iter_c[i].get_desc().get_size());
  }
}

void BenchShape(const Grid& grid, int H, int B, int threads, bool int8, Report* report) {
  const dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream s(eng);
  Random rng(grid.seed + static_cast<uint32_t>(H));
  const float a = 1.0f / std::sqrt(static_cast<float>(H));
  std::vector<float> w_layer(4 * static_cast<size_t>(H) * H), w_iter(w_layer.size()), bias(4 * static_cast<size_t>(H));
  for (float& v : w_layer) v = rng.Uniform(-a, a);
  for (float& v : w_iter) v = rng.Uniform(-a, a);
  for (float& v : bias) v = rng.Uniform(-a, a);
  const char* precision = int8 ? "int8" : "fp32";
  const int T = grid.steps;

  // Sequence: one primitive call for T steps.
  Layer seq = MakeLayer(eng, s, T, B, H, int8, w_layer, w_iter, bias);
  Fill(seq.src_layer, int8, &rng);
  const std::unordered_map<int, memory> seq_args = {
      {DNNL_ARG_SRC_LAYER, seq.src_layer},         {DNNL_ARG_SRC_ITER, seq.iter[0]},
      {DNNL_ARG_SRC_ITER_C, seq.iter_c[0]},        {DNNL_ARG_WEIGHTS_LAYER, seq.weights_layer},
      {DNNL_ARG_WEIGHTS_ITER, seq.weights_iter},   {DNNL_ARG_BIAS, seq.bias},
      {DNNL_ARG_DST_LAYER, seq.dst_layer},         {DNNL_ARG_DST_ITER, seq.iter[1]},
      {DNNL_ARG_DST_ITER_C, seq.iter_c[1]}};
  Timing t;
  TimeSteps(
      T, grid.repeats, [&] { ZeroStates(seq, int8); },
      [&] {
        seq.prim.execute(s, seq_args);
        s.wait();
        return true;
      },
      &t);
  report->results.push_back(MakeResult("onednn", precision, "lstm_forward", kSequence, H, B, threads, grid, t));

  // Streaming: a T = 1 primitive per frame, states carried through two buffers in turn.
  Layer one = MakeLayer(eng, s, 1, B, H, int8, w_layer, w_iter, bias);
  const size_t frame_bytes = one.src_layer.get_desc().get_size();
  std::vector<uint8_t> frames(frame_bytes * T);
  const auto* seq_src = static_cast<const uint8_t*>(seq.src_layer.get_data_handle());
  std::memcpy(frames.data(), seq_src, std::min(frames.size(), seq.src_layer.get_desc().get_size()));
  std::vector<std::unordered_map<int, memory>> step_args(2);
  for (int k = 0; k < 2; ++k) {
    step_args[k] = {{DNNL_ARG_SRC_LAYER, one.src_layer},       {DNNL_ARG_SRC_ITER, one.iter[k]},
                    {DNNL_ARG_SRC_ITER_C, one.iter_c[k]},      {DNNL_ARG_WEIGHTS_LAYER, one.weights_layer},
                    {DNNL_ARG_WEIGHTS_ITER, one.weights_iter}, {DNNL_ARG_BIAS, one.bias},
                    {DNNL_ARG_DST_LAYER, one.dst_layer},       {DNNL_ARG_DST_ITER, one.iter[1 - k]},
                    {DNNL_ARG_DST_ITER_C, one.iter_c[1 - k]}};
  }
  void* frame_in = one.src_layer.get_data_handle();
  TimeSteps(
      T, grid.repeats, [&] { ZeroStates(one, int8); },
      [&] {
        for (int step = 0; step < T; ++step) {
          // The next frame arrives: copied into the primitive's input (part of a streaming call's cost).
          std::memcpy(frame_in, frames.data() + frame_bytes * step, frame_bytes);
          one.prim.execute(s, step_args[step % 2]);
          s.wait();
        }
        return true;
      },
      &t);
  report->results.push_back(MakeResult("onednn", precision, "lstm_forward", kStreaming, H, B, threads, grid, t));
}

}  // namespace

void RunOneDnn(const Grid& grid, Report* report) {
  const dnnl::version_t* v = dnnl::version();
  Progress(*report, "oneDNN %d.%d.%d (%s)", v->major, v->minor, v->patch, v->cpu_runtime == DNNL_RUNTIME_OMP ? "OpenMP" : "other runtime");
  for (bool int8 : {false, true}) {
    bool failed = false;
    for (int threads : grid.threads) {
      omp_set_num_threads(threads);
      for (int H : grid.hidden) {
        for (int B : grid.batch) {
          if (failed) continue;
          Progress(*report, "onednn %s H=%d B=%d threads=%d", int8 ? "int8" : "fp32", H, B, threads);
          try {
            BenchShape(grid, H, B, threads, int8, report);
          } catch (const std::exception& e) {
            // An unsupported configuration (for example int8 RNN on a CPU without the needed ISA).
            report->skips.push_back({"onednn", int8 ? "int8" : "fp32", std::string("oneDNN error: ") + e.what()});
            failed = true;
          }
        }
      }
    }
  }
}

}  // namespace irnn::cli::bench
