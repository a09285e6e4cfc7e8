// `irnn inspect`: see inspect_cmd.h.

#include "inspect_cmd.h"

#include <sys/stat.h>

#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>

#include "irnn/model.h"

namespace irnn::cli {
namespace {

int64_t LstmWeightBytes(const TfliteLstmParams& p) {
  int64_t n = 0;
  for (int g = 0; g < 4; ++g) {
    n += static_cast<int64_t>(p.weights.input_to_gate[g].size() + p.weights.recurrent_to_gate[g].size());
    n += 2 * static_cast<int64_t>(p.weights.cell_to_gate[g].size() + p.weights.layer_norm[g].size());
    n += 4 * static_cast<int64_t>(p.input_to_gate_effective_bias[g].size() + p.recurrent_to_gate_effective_bias[g].size());
  }
  n += static_cast<int64_t>(p.weights.projection.size()) + 4 * static_cast<int64_t>(p.projection_effective_bias.size());
  return n;
}

const char* Yes(bool b) { return b ? "yes" : "no"; }

}  // namespace

CLI::App* AddInspectCommand(CLI::App* app, InspectOptions* o) {
  CLI::App* cmd = app->add_subcommand("inspect", "Show the layers, shapes, bit widths and sizes of a .irnn model");
  cmd->add_option("model", o->model, "Model file (.irnn)")->required();
  cmd->add_flag("--json", o->json, "Print one JSON object");
  return cmd;
}

int RunInspect(const InspectOptions& o) {
  Model m;
  const Status s = ReadModel(o.model, &m);
  if (!s.ok()) {
    std::fprintf(stderr, "irnn inspect: error: %s\n", s.message().c_str());
    return 1;
  }
  struct stat st;
  const long long bytes = stat(o.model.c_str(), &st) == 0 ? static_cast<long long>(st.st_size) : -1;
  if (o.json) {
    std::printf("{\"model\": \"%s\", \"bytes\": %lld, \"layers\": [", o.model.c_str(), bytes);
  } else {
    std::printf("%s: %lld bytes, %zu layers, valid\n", o.model.c_str(), bytes, m.layers.size());
    std::printf("%-12s %-11s %-34s %s\n", "layer", "kind", "shape", "details");
  }
  for (size_t i = 0; i < m.layers.size(); ++i) {
    const ModelLayer& l = m.layers[i];
    char shape[128], details[256];
    const char* kind = "";
    if (l.kind == LayerKind::kEmbedding) {
      kind = "embedding";
      std::snprintf(shape, sizeof shape, "[%d vocab][%d]", l.embedding.vocab, l.embedding.dim);
      std::snprintf(details, sizeof details, "int8 table, zero point %d, %lld bytes", l.embedding.zero_point,
                    static_cast<long long>(l.embedding.table.size()));
    } else if (l.kind == LayerKind::kLinear) {
      kind = "linear";
      std::snprintf(shape, sizeof shape, "[%d out][%d in]", l.linear.n_out, l.linear.n_in);
      std::snprintf(details, sizeof details, "int8 weights per-channel, int32 logits, %s rounding, %lld bytes",
                    l.linear.rounding == Rounding::kSingle ? "single" : "double",
                    static_cast<long long>(l.linear.weights.size() + 4 * l.linear.effective_bias.size() +
                                           8 * l.linear.channel_scale.size()));
    } else if (l.kind == LayerKind::kAttention) {
      kind = "attention";
      const AttentionConfig& c = l.attention.config;
      std::snprintf(shape, sizeof shape, "key %d, query %d, attn %d", c.n_key, c.n_query, c.n_attn);
      std::snprintf(details, sizeof details, "%s attention%s, int8 keys (zero point %d), Q0.15 softmax, %s rounding",
                    c.mode == AttentionMode::kDot ? "dot" : "additive", c.n_query == 0 ? " pooling" : "",
                    l.attention.key_zp, c.rounding == Rounding::kSingle ? "single" : "double");
    } else {
      kind = "tflite_lstm";
      const TfliteLstmConfig& c = l.lstm.config;
      std::snprintf(shape, sizeof shape, "in %d, cell %d, out %d", c.n_input, c.n_cell, c.n_output);
      std::snprintf(details, sizeof details,
                    "int8 weights (%s), int16 gates/cell 2^%d, %s activations, LN %s, CIFG %s, peephole %s, "
                    "projection %s, %s rounding, tflite_compat %s, %lld bytes",
                    l.lstm.input_to_gate_channel_scale[1].empty() ? "per-tensor" : "per-channel", l.lstm.cell_scale,
                    c.activation == LstmActivation::kPwl ? "PWL" : "fixed-point", Yes(c.use_layer_norm),
                    Yes(c.use_cifg), Yes(c.use_peephole), Yes(c.use_projection),
                    c.rounding == Rounding::kSingle ? "single" : "double", Yes(c.tflite_compat),
                    static_cast<long long>(LstmWeightBytes(l.lstm)));
    }
    if (o.json) {
      std::printf("%s{\"name\": \"%s\", \"kind\": \"%s\", \"shape\": \"%s\", \"details\": \"%s\"}", i ? ", " : "",
                  l.name.c_str(), kind, shape, details);
    } else {
      std::printf("%-12s %-11s %-34s %s\n", l.name.c_str(), kind, shape, details);
    }
  }
  if (o.json) {
    std::printf("], \"metadata\": [");
    bool first = true;
    for (const auto& kv : m.metadata) {
      std::printf("%s\"%s\"", first ? "" : ", ", kv.first.c_str());
      first = false;
    }
    std::printf("]}\n");
  } else {
    for (const auto& kv : m.metadata) {
      const std::string v = kv.second.size() > 60 ? kv.second.substr(0, 0) + "(" + std::to_string(kv.second.size()) + " bytes)" : kv.second;
      std::printf("metadata %-14s %s\n", kv.first.c_str(), v.c_str());
    }
  }
  return 0;
}

}  // namespace irnn::cli
