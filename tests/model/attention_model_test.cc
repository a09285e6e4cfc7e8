// The attention layer in .irnn files (docs/model_format.md §8; src/model/attention_codec.cc): round
// trips of every mode (additive with fixed-point and PWL tanh, dot, pooling) and malformed files, each
// refused with a message naming the field: unknown mode, fields the mode rules out, missing, extra or
// misshapen tensors, out-of-range values, truncation.

#include <gtest/gtest.h>

#include <random>

#include "irnn/model.h"
#include "support/file_parts.h"
#include "support/random_attention.h"

namespace irnn {
namespace {

using testing::ojson;

AttentionParams Params(AttentionMode mode, int n_query, bool pwl) {
  std::mt19937 rng(31);
  AttentionParams p = testing::RandomAttentionParams(rng, mode, 6, n_query, 5, Rounding::kSingle);
  if (pwl) {
    AttentionConfig c = p.config;
    c.activation = LstmActivation::kPwl;
    AttentionWeights w;
    w.query_weights = p.query_weights;
    w.key_weights = p.key_weights;
    w.score_weights = p.score_weights;
    AttentionQuantization q;
    q.key = {0.05f, 1};
    q.query = {0.05f, 2};
    q.query_weight_scale = q.key_weight_scale = q.score_weight_scale = 0.01f;
    AttentionParams d;
    EXPECT_TRUE(DeriveAttentionParams(c, w, q, &d).ok());
    p.config.activation = LstmActivation::kPwl;
    p.pwl_tanh = d.pwl_tanh;
  }
  return p;
}

Model OneLayer(const AttentionParams& p) {
  Model m;
  m.layers.emplace_back("attn", p);
  return m;
}

void ExpectSame(const AttentionParams& a, const AttentionParams& b) {
  EXPECT_EQ(a.config.mode, b.config.mode);
  EXPECT_EQ(a.config.n_key, b.config.n_key);
  EXPECT_EQ(a.config.n_query, b.config.n_query);
  EXPECT_EQ(a.config.n_attn, b.config.n_attn);
  EXPECT_EQ(a.config.rounding, b.config.rounding);
  EXPECT_EQ(a.config.activation, b.config.activation);
  EXPECT_EQ(a.key_zp, b.key_zp);
  EXPECT_EQ(a.query_zp, b.query_zp);
  EXPECT_EQ(a.query_weights, b.query_weights);
  EXPECT_EQ(a.query_bias, b.query_bias);
  EXPECT_EQ(a.query_scale, b.query_scale);
  EXPECT_EQ(a.key_weights, b.key_weights);
  EXPECT_EQ(a.key_bias, b.key_bias);
  EXPECT_EQ(a.key_scale, b.key_scale);
  EXPECT_EQ(a.score_weights, b.score_weights);
  EXPECT_EQ(a.softmax_scale, b.softmax_scale);
  EXPECT_EQ(a.pwl_tanh.knot, b.pwl_tanh.knot);
  EXPECT_EQ(a.pwl_tanh.slope, b.pwl_tanh.slope);
  EXPECT_EQ(a.pwl_tanh.intercept, b.pwl_tanh.intercept);
  EXPECT_EQ(a.pwl_tanh.shift, b.pwl_tanh.shift);
  EXPECT_EQ(a.pwl_tanh.odd, b.pwl_tanh.odd);
}

TEST(AttentionModelFile, RoundTrips) {
  const AttentionParams cases[] = {Params(AttentionMode::kAdditive, 4, false), Params(AttentionMode::kAdditive, 4, true),
                                   Params(AttentionMode::kDot, 3, false), Params(AttentionMode::kAdditive, 0, false),
                                   Params(AttentionMode::kDot, 0, false)};
  for (const AttentionParams& p : cases) {
    Model back;
    const Status s = testing::Parse(testing::Serialize(OneLayer(p)), &back);
    ASSERT_TRUE(s.ok()) << s.message();
    ASSERT_EQ(back.layers.size(), 1u);
    EXPECT_EQ(back.layers[0].kind, LayerKind::kAttention);
    EXPECT_STREQ(LayerKindName(back.layers[0].kind), "attention");
    ExpectSame(p, back.layers[0].attention);
  }
}

// Edits the layer's graph object and expects the parse to fail with `part` in the message.
template <typename Edit>
void ExpectGraphError(const AttentionParams& p, Edit edit, const std::string& part) {
  testing::FileParts f = testing::SplitFile(testing::Serialize(OneLayer(p)));
  ojson g = testing::GraphOf(f);
  edit(&g["layers"][0]);
  testing::SetGraphOf(&f, g);
  Model m;
  const Status s = testing::Parse(testing::JoinFile(f), &m);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find(part), std::string::npos) << s.message();
}

TEST(AttentionModelFile, MalformedGraph) {
  const AttentionParams add = Params(AttentionMode::kAdditive, 4, false);
  const AttentionParams dot = Params(AttentionMode::kDot, 3, false);
  ExpectGraphError(add, [](ojson* l) { (*l)["config"]["mode"] = "multihead"; },
                   "config.mode is \"multihead\" but must be one of");
  ExpectGraphError(dot, [](ojson* l) { (*l)["config"]["n_attn"] = 4; }, "config.n_attn is 4");
  ExpectGraphError(add, [](ojson* l) { (*l)["config"]["n_attn"] = 257; }, "config.n_attn is 257");
  ExpectGraphError(dot, [](ojson* l) { (*l)["params"]["key_scale"] = {{"multiplier", 1 << 30}, {"shift", 0}}; },
                   "params.key_scale is present but must be absent");
  ExpectGraphError(add, [](ojson* l) { (*l)["params"]["pwl_tanh"] = ojson::object(); },
                   "params.pwl_tanh is present but must be absent");
  ExpectGraphError(add, [](ojson* l) { (*l)["params"].erase("softmax_scale"); }, "softmax_scale");
  ExpectGraphError(add, [](ojson* l) { (*l)["params"]["key_zp"] = 128; }, "params.key_zp is 128");
  ExpectGraphError(add, [](ojson* l) { (*l)["params"]["softmax_scale"]["multiplier"] = 12; },
                   "softmax_scale.multiplier is 12");
  ExpectGraphError(add, [](ojson* l) { (*l)["config"]["colour"] = 1; }, "colour");
  // A different n_key than the tensors have.
  ExpectGraphError(add, [](ojson* l) { (*l)["config"]["n_key"] = 7; }, "attn.key_weights");
}

TEST(AttentionModelFile, MalformedTensors) {
  const AttentionParams add = Params(AttentionMode::kAdditive, 4, false);
  {
    testing::FileParts f = testing::SplitFile(testing::Serialize(OneLayer(add)));
    testing::RemoveTensorFrom(&f, "attn.score_weights");
    Model m;
    const Status s = testing::Parse(testing::JoinFile(f), &m);
    EXPECT_FALSE(s.ok());
    EXPECT_NE(s.message().find("attn.score_weights"), std::string::npos) << s.message();
  }
  {
    testing::FileParts f = testing::SplitFile(testing::Serialize(OneLayer(add)));
    testing::AppendTensorTo(&f, "attn.extra", "I32", {1}, testing::I32Bytes({1}));
    Model m;
    const Status s = testing::Parse(testing::JoinFile(f), &m);
    EXPECT_FALSE(s.ok());
    EXPECT_NE(s.message().find("attn.extra"), std::string::npos) << s.message();
  }
  {
    // Pooling has no query weights: a file that carries them is refused.
    const AttentionParams pool = Params(AttentionMode::kAdditive, 0, false);
    testing::FileParts f = testing::SplitFile(testing::Serialize(OneLayer(pool)));
    testing::AppendTensorTo(&f, "attn.query_weights", "I32", {1}, testing::I32Bytes({1}));
    Model m;
    const Status s = testing::Parse(testing::JoinFile(f), &m);
    EXPECT_FALSE(s.ok());
    EXPECT_NE(s.message().find("attn.query_weights"), std::string::npos) << s.message();
  }
  {
    const std::string bytes = testing::Serialize(OneLayer(add));
    for (const size_t cut : {size_t{4}, size_t{20}, bytes.size() - 1}) {
      Model m;
      EXPECT_FALSE(testing::Parse(bytes.substr(0, cut), &m).ok()) << cut;
    }
  }
  {
    // A PWL table that breaks its rules (knots not ascending) is refused by validation.
    const AttentionParams pwl = Params(AttentionMode::kAdditive, 4, true);
    testing::FileParts f = testing::SplitFile(testing::Serialize(OneLayer(pwl)));
    testing::SetI32(&f, "attn.pwl_tanh.knot", 1, -40000);
    Model m;
    const Status s = testing::Parse(testing::JoinFile(f), &m);
    EXPECT_FALSE(s.ok());
    EXPECT_NE(s.message().find("pwl_tanh"), std::string::npos) << s.message();
  }
}

TEST(AttentionModelFile, WriterRefusesInvalidParams) {
  AttentionParams p = Params(AttentionMode::kDot, 3, false);
  p.query_bias.pop_back();
  std::string bytes;
  const Status s = SerializeModel(OneLayer(p), &bytes);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("query_bias"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace irnn
