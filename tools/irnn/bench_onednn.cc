// The oneDNN peer of `irnn bench` (oneDNN 2.x C++ API, Debian's libdnnl-dev; built only when CMake
// finds it, else bench_onednn_none.cc): one LSTM layer as dnnl::lstm_forward and one GRU layer as
// dnnl::lbr_gru_forward (the linear-before-reset GRU, PyTorch's; oneDNN's gate order is u, r, o and its
// bias has a 4th gate, b_hn: random weights, so the order changes nothing timed), fp32 and int8.
//   fp32: f32 everywhere, weights reordered once to the layout the primitive prefers.
//   int8: u8 src/dst layer and iter (h), f32 cell state, s8 weights, f32 bias, as oneDNN's int8 RNN
//         requires; activations quantized as u8 = 127 * x + 128 (set_rnn_data_qparams), weights with
//         one scale per gate and output channel, 127 / max|w| (set_rnn_weights_qparams, mask
//         (1 << 3) | (1 << 4) over the ldigo dimensions); the f32 weights are quantized by a reorder
//         that carries the same attributes.
// Sequence mode: one primitive over the T steps. Streaming mode: a T = 1 primitive called T times,
// its states carried (src_iter, src_iter_c <- the previous call's dst_iter, dst_iter_c, two buffers
// used in turn; the GRU has no cell state). Threads: oneDNN in Debian runs on OpenMP, so
// omp_set_num_threads. The int8 GRU takes the LSTM's data and weight attributes; where the library
// refuses it (oneDNN 2.6 implements int8 for LSTM and vanilla GRU only), it is reported as skipped.

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
  dnnl::primitive prim;
  memory src_layer, dst_layer, weights_layer, weights_iter, bias;
  memory iter[2], iter_c[2];  // states: [0] in and [1] out, swapped by streaming (iter_c: LSTM only)
  bool gru = false;
};

// Builds a primitive for `steps` time steps and its memories; weights from the user's f32 ldigo (G = 4
// gates for the LSTM, 3 for the GRU; the GRU's bias has 4 gates).
Layer MakeLayer(const dnnl::engine& eng, dnnl::stream& s, int steps, int B, int H, bool int8, bool gru,
                const std::vector<float>& w_layer, const std::vector<float>& w_iter, const std::vector<float>& bias) {
  const memory::dim T = steps, N = B, C = H, G = gru ? 3 : 4;
  const dt data = int8 ? dt::u8 : dt::f32;
  const dt weights = int8 ? dt::s8 : dt::f32;
  const memory::desc src_layer_md({T, N, C}, data, tag::tnc);
  const memory::desc iter_md({1, 1, N, C}, data, tag::ldnc);
  const memory::desc iter_c_md({1, 1, N, C}, dt::f32, tag::ldnc);
  const memory::desc weights_md({1, 1, C, G, C}, weights, tag::any);
  const memory::desc bias_md({1, 1, 4, C}, dt::f32, tag::ldgo);  // GRU: G + 1 = 4 (linear before reset)
  const memory::desc dst_layer_md({T, N, C}, data, tag::tnc);
  dnnl::primitive_attr attr;
  if (int8) {
    attr.set_rnn_data_qparams(127.0f, 128.0f);
    // One scale per (gate, output channel): the maximum over both matrices' input rows.
    std::vector<float> scales(G * static_cast<size_t>(H), 0.0f);
    for (const std::vector<float>* w : {&w_layer, &w_iter}) {
      for (size_t i = 0; i < w->size(); ++i) {
        float& m = scales[i % scales.size()];
        m = std::max(m, std::fabs((*w)[i]));
      }
    }
    for (float& v : scales) v = v > 0 ? 127.0f / v : 1.0f;
    attr.set_rnn_weights_qparams((1 << 3) | (1 << 4), scales);
  }
  Layer l;
  l.gru = gru;
  memory::desc weights_layer_md, weights_iter_md;
  if (gru) {
    const dnnl::lbr_gru_forward::desc desc(dnnl::prop_kind::forward_inference,
                                           dnnl::rnn_direction::unidirectional_left2right, src_layer_md, iter_md,
                                           weights_md, weights_md, bias_md, dst_layer_md, iter_md);
    const dnnl::lbr_gru_forward::primitive_desc pd(desc, attr, eng);
    l.prim = dnnl::lbr_gru_forward(pd);
    l.src_layer = memory(pd.src_layer_desc(), eng);
    l.dst_layer = memory(pd.dst_layer_desc(), eng);
    for (int i = 0; i < 2; ++i) l.iter[i] = memory(pd.src_iter_desc(), eng);
    weights_layer_md = pd.weights_layer_desc();
    weights_iter_md = pd.weights_iter_desc();
  } else {
    const dnnl::lstm_forward::desc desc(dnnl::prop_kind::forward_inference,
                                        dnnl::rnn_direction::unidirectional_left2right, src_layer_md, iter_md, iter_c_md,
                                        weights_md, weights_md, bias_md, dst_layer_md, iter_md, iter_c_md);
    const dnnl::lstm_forward::primitive_desc pd(desc, attr, eng);
    l.prim = dnnl::lstm_forward(pd);
    l.src_layer = memory(pd.src_layer_desc(), eng);
    l.dst_layer = memory(pd.dst_layer_desc(), eng);
    for (int i = 0; i < 2; ++i) {
      l.iter[i] = memory(pd.src_iter_desc(), eng);
      l.iter_c[i] = memory(pd.src_iter_c_desc(), eng);
    }
    weights_layer_md = pd.weights_layer_desc();
    weights_iter_md = pd.weights_iter_desc();
  }
  const memory::desc user_w_md({1, 1, C, G, C}, dt::f32, tag::ldigo);
  memory user_layer(user_w_md, eng, const_cast<float*>(w_layer.data()));
  memory user_iter(user_w_md, eng, const_cast<float*>(w_iter.data()));
  l.weights_layer = memory(weights_layer_md, eng);
  l.weights_iter = memory(weights_iter_md, eng);
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
    if (!l.gru) std::memset(l.iter_c[i].get_data_handle(), 0, l.iter_c[i].get_desc().get_size());
  }
}

// The arguments of one execution: states in from buffer `in`, out to the other.
std::unordered_map<int, memory> Args(const Layer& l, int in) {
  std::unordered_map<int, memory> args = {
      {DNNL_ARG_SRC_LAYER, l.src_layer},         {DNNL_ARG_SRC_ITER, l.iter[in]},
      {DNNL_ARG_WEIGHTS_LAYER, l.weights_layer}, {DNNL_ARG_WEIGHTS_ITER, l.weights_iter},
      {DNNL_ARG_BIAS, l.bias},                   {DNNL_ARG_DST_LAYER, l.dst_layer},
      {DNNL_ARG_DST_ITER, l.iter[1 - in]}};
  if (!l.gru) {
    args[DNNL_ARG_SRC_ITER_C] = l.iter_c[in];
    args[DNNL_ARG_DST_ITER_C] = l.iter_c[1 - in];
  }
  return args;
}

void BenchShape(const Grid& grid, int H, int B, int threads, bool int8, bool gru, Report* report) {
  const dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream s(eng);
  Random rng(grid.seed + static_cast<uint32_t>(H));
  const float a = 1.0f / std::sqrt(static_cast<float>(H));
  const size_t G = gru ? 3 : 4;
  std::vector<float> w_layer(G * H * H), w_iter(w_layer.size()), bias(4 * static_cast<size_t>(H));
  for (float& v : w_layer) v = rng.Uniform(-a, a);
  for (float& v : w_iter) v = rng.Uniform(-a, a);
  for (float& v : bias) v = rng.Uniform(-a, a);
  const char* precision = int8 ? "int8" : "fp32";
  const char* variant = gru ? "lbr_gru_forward" : "lstm_forward";
  const char* cell = gru ? kGru : kLstm;
  const int T = grid.steps;

  // Sequence: one primitive call for T steps.
  Layer seq = MakeLayer(eng, s, T, B, H, int8, gru, w_layer, w_iter, bias);
  Fill(seq.src_layer, int8, &rng);
  const std::unordered_map<int, memory> seq_args = Args(seq, 0);
  Timing t;
  TimeSteps(
      T, grid.repeats, [&] { ZeroStates(seq, int8); },
      [&] {
        seq.prim.execute(s, seq_args);
        s.wait();
        return true;
      },
      &t);
  report->results.push_back(MakeResult("onednn", precision, variant, kSequence, H, B, threads, grid, t, cell));

  // Streaming: a T = 1 primitive per frame, states carried through two buffers in turn.
  Layer one = MakeLayer(eng, s, 1, B, H, int8, gru, w_layer, w_iter, bias);
  const size_t frame_bytes = one.src_layer.get_desc().get_size();
  std::vector<uint8_t> frames(frame_bytes * T);
  const auto* seq_src = static_cast<const uint8_t*>(seq.src_layer.get_data_handle());
  std::memcpy(frames.data(), seq_src, std::min(frames.size(), seq.src_layer.get_desc().get_size()));
  const std::vector<std::unordered_map<int, memory>> step_args = {Args(one, 0), Args(one, 1)};
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
  report->results.push_back(MakeResult("onednn", precision, variant, kStreaming, H, B, threads, grid, t, cell));
}

}  // namespace

void RunOneDnn(const Grid& grid, Report* report) {
  const dnnl::version_t* v = dnnl::version();
  Progress(*report, "oneDNN %d.%d.%d (%s)", v->major, v->minor, v->patch, v->cpu_runtime == DNNL_RUNTIME_OMP ? "OpenMP" : "other runtime");
  for (bool gru : {false, true}) {
    const char* cell = gru ? kGru : kLstm;
    if (!WantsCell(grid, cell)) continue;
    for (bool int8 : {false, true}) {
      bool failed = false;
      for (int threads : grid.threads) {
        omp_set_num_threads(threads);
        for (int H : grid.hidden) {
          for (int B : grid.batch) {
            if (failed) continue;
            Progress(*report, "onednn %s %s H=%d B=%d threads=%d", cell, int8 ? "int8" : "fp32", H, B, threads);
            try {
              BenchShape(grid, H, B, threads, int8, gru, report);
            } catch (const std::exception& e) {
              // An unsupported configuration (int8 RNN on a CPU without the needed ISA; int8 LBR GRU,
              // which oneDNN 2.6 does not implement).
              std::string why = std::string("oneDNN error: ") + e.what();
              if (gru && int8) {
                why = "oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
                      std::to_string(v->patch) + " has no int8 LBR GRU (" + why + ")";
              }
              report->skips.push_back({"onednn", int8 ? "int8" : "fp32", why, 0, cell});
              failed = true;
            }
          }
        }
      }
    }
  }
}

}  // namespace irnn::cli::bench
