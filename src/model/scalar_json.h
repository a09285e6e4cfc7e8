// The scalar parameter objects of a .irnn file's graph JSON that several layer codecs share
// (docs/model_format.md): a QuantizedMultiplier as {"multiplier", "shift"} and a PWL table's scalars
// {"pieces", "input_min", "input_max", "output_min", "output_max", "shift", "odd", "center_in",
// "center2_out"} (its knot/slope/intercept arrays are tensors, written by each codec). Reading bounds a
// shift to [-64, 64] only, so that no later arithmetic on it can overflow; each layer's own validation
// applies the exact ranges. Integer only: part of the no-float check. Not the per-channel multiplier
// tensors (channel_scale_tensor.h).
#pragma once

#include <cstdint>
#include <string>

#include "irnn/pwl.h"
#include "irnn/quantization.h"
#include "irnn/status.h"
#include "model/graph_reader.h"
#include "model/json.h"

namespace irnn::model {

inline constexpr int64_t kMaxJsonShiftMagnitude = 64;

inline json::Value MultiplierJson(QuantizedMultiplier m) {
  json::Value v = json::Value::Object();
  v.Add("multiplier", json::Value::Int(m.multiplier));
  v.Add("shift", json::Value::Int(m.shift));
  return v;
}

inline Status ReadMultiplier(ObjectReader* parent, const std::string& key, QuantizedMultiplier* m) {
  ObjectReader r;
  IRNN_RETURN_IF_ERROR(parent->Object(key, &r));
  IRNN_RETURN_IF_ERROR(r.Int("multiplier", &m->multiplier));
  IRNN_RETURN_IF_ERROR(r.Int("shift", -kMaxJsonShiftMagnitude, kMaxJsonShiftMagnitude, &m->shift));
  return r.Finish();
}

inline json::Value PwlJson(const PwlTable& t) {
  json::Value v = json::Value::Object();
  v.Add("pieces", json::Value::Int(static_cast<int64_t>(t.knot.size())));
  v.Add("input_min", json::Value::Int(t.input_min));
  v.Add("input_max", json::Value::Int(t.input_max));
  v.Add("output_min", json::Value::Int(t.output_min));
  v.Add("output_max", json::Value::Int(t.output_max));
  v.Add("shift", json::Value::Int(t.shift));
  v.Add("odd", json::Value::Bool(t.odd));
  v.Add("center_in", json::Value::Int(t.center_in));
  v.Add("center2_out", json::Value::Int(t.center2_out));
  return v;
}

// The scalars of `params`.`key` into `t`, and its piece count (1..kMaxPwlPieces) into `pieces`: the
// length of the knot/slope/intercept tensors the caller reads next.
inline Status ReadPwlScalars(ObjectReader* params, const char* key, int64_t* pieces, PwlTable* t) {
  ObjectReader r;
  IRNN_RETURN_IF_ERROR(params->Object(key, &r));
  IRNN_RETURN_IF_ERROR(r.Int("pieces", 1, kMaxPwlPieces, pieces));
  IRNN_RETURN_IF_ERROR(r.Int("input_min", &t->input_min));
  IRNN_RETURN_IF_ERROR(r.Int("input_max", &t->input_max));
  IRNN_RETURN_IF_ERROR(r.Int("output_min", &t->output_min));
  IRNN_RETURN_IF_ERROR(r.Int("output_max", &t->output_max));
  IRNN_RETURN_IF_ERROR(r.Int("shift", &t->shift));
  IRNN_RETURN_IF_ERROR(r.Bool("odd", &t->odd));
  IRNN_RETURN_IF_ERROR(r.Int("center_in", &t->center_in));
  IRNN_RETURN_IF_ERROR(r.Int("center2_out", &t->center2_out));
  return r.Finish();
}

}  // namespace irnn::model
