// The issue-7 layer types in a .irnn file (docs/model_format.md §14): "mogrifier_lstm",
// "bidirectional" and "residual_add". Round trips (field by field and by running the layers), and
// malformed files, each refused with a message naming the problem (never a crash; runs under ASan too):
// round counts out of range or disagreeing with the tensors, wrong shapes, bad zero points and sigmoid
// tables, directions that do not share the output quantization, bad residual multipliers, every
// truncation.

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "irnn/model.h"
#include "support/file_parts.h"
#include "support/random_lstm.h"
#include "support/random_mogrifier.h"

namespace irnn {
namespace {

using testing::FileParts;
using testing::ojson;
using testing::Parse;
using testing::Serialize;

BidirectionalParams MakeBidirectional(uint64_t seed, int dim) {
  BidirectionalParams p;
  p.forward = testing::MakeRandomLstmOfShape(seed, {dim, 1, 1}).params;
  p.backward = testing::MakeRandomLstmOfShape(seed + 1, {dim, 1, 1}).params;
  p.backward.output_zp = p.forward.output_zp;
  p.backward.hidden_zp = p.forward.output_zp;
  return p;
}

ResidualAddParams MakeResidual() {
  ResidualAddParams p;
  EXPECT_TRUE(DeriveResidualAddParams(0.02f, 3, 0.05f, -7, 0.04f, 9, Rounding::kSingle, &p).ok());
  return p;
}

Model ThreeLayers(const testing::RandomMogrifier& r) {
  Model m;
  m.layers.emplace_back("mog", r.params);
  m.layers.emplace_back("bi", MakeBidirectional(11, 6));
  m.layers.emplace_back("res", MakeResidual());
  return m;
}

std::vector<int8_t> RunMogrifier(const MogrifierLstmParams& p, const testing::RandomMogrifier& r) {
  std::unique_ptr<MogrifierLstm> m;
  EXPECT_TRUE(MogrifierLstm::Create(p, KernelPath::kScalar, &m).ok());
  if (m == nullptr) return {};
  MogrifierLstmState s;
  EXPECT_TRUE(m->NewState(r.batch, &s).ok());
  std::vector<int8_t> out(static_cast<size_t>(r.steps) * r.batch * p.lstm.config.n_output);
  EXPECT_TRUE(m->Run(r.input.data(), r.steps, &s, out.data()).ok());
  return out;
}

std::vector<int8_t> RunBidirectional(const BidirectionalParams& p) {
  std::unique_ptr<BidirectionalLstm> b;
  EXPECT_TRUE(BidirectionalLstm::Create(p, KernelPath::kScalar, &b).ok());
  if (b == nullptr) return {};
  std::vector<int8_t> x(5 * 2 * b->n_input());
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<int8_t>(i * 29 + 3);
  std::vector<int8_t> out(5 * 2 * b->n_output());
  BidirectionalState s;
  EXPECT_TRUE(b->Run(x.data(), 5, 2, nullptr, &s, out.data()).ok());
  return out;
}

TEST(SeqLayersModelFile, RoundTripsAndRunsIdentically) {
  for (uint64_t seed = 0; seed < 8; ++seed) {
    const testing::RandomMogrifier r = testing::MakeRandomMogrifier(seed, seed % 2 == 0);
    const Model m = ThreeLayers(r);
    const std::string bytes = Serialize(m);
    ASSERT_FALSE(bytes.empty());
    Model back;
    const Status s = Parse(bytes, &back);
    ASSERT_TRUE(s.ok()) << s.message();
    ASSERT_EQ(back.layers.size(), 3u);
    EXPECT_EQ(back.layers[0].kind, LayerKind::kMogrifierLstm);
    EXPECT_EQ(back.layers[1].kind, LayerKind::kBidirectional);
    EXPECT_EQ(back.layers[2].kind, LayerKind::kResidualAdd);
    EXPECT_STREQ(LayerKindName(LayerKind::kMogrifierLstm), "mogrifier_lstm");
    const MogrifierLstmParams& a = r.params;
    const MogrifierLstmParams& b = back.layers[0].mogrifier;
    EXPECT_EQ(a.input_zp, b.input_zp);
    ASSERT_EQ(a.rounds.size(), b.rounds.size());
    for (size_t i = 0; i < a.rounds.size(); ++i) {
      EXPECT_EQ(a.rounds[i].weight, b.rounds[i].weight);
      EXPECT_EQ(a.rounds[i].effective_bias, b.rounds[i].effective_bias);
      ASSERT_EQ(a.rounds[i].scale.size(), b.rounds[i].scale.size());
      for (size_t k = 0; k < a.rounds[i].scale.size(); ++k) EXPECT_TRUE(a.rounds[i].scale[k] == b.rounds[i].scale[k]);
    }
    EXPECT_EQ(a.sigmoid.knot, b.sigmoid.knot);
    EXPECT_EQ(a.sigmoid.slope, b.sigmoid.slope);
    EXPECT_EQ(a.sigmoid.intercept, b.sigmoid.intercept);
    EXPECT_EQ(RunMogrifier(a, r), RunMogrifier(b, r)) << r.description;
    EXPECT_EQ(RunBidirectional(m.layers[1].bidirectional), RunBidirectional(back.layers[1].bidirectional));
    const ResidualAddParams& ra = m.layers[2].residual;
    const ResidualAddParams& rb = back.layers[2].residual;
    EXPECT_TRUE(ra.a_zp == rb.a_zp && ra.b_zp == rb.b_zp && ra.output_zp == rb.output_zp && ra.a_scale == rb.a_scale &&
                ra.b_scale == rb.b_scale && ra.output_scale == rb.output_scale && ra.rounding == rb.rounding);
    // The writer refuses what the reader would refuse.
    Model bad = m;
    bad.layers[0].mogrifier.rounds.clear();
    std::string out;
    EXPECT_FALSE(SerializeModel(bad, &out).ok());
  }
}

struct BadCase {
  std::string what;
  std::function<void(FileParts*)> edit;
  std::string expect;
};

TEST(SeqLayersModelFile, MalformedLayersRefusedWithAMessageNamingTheProblem) {
  const testing::RandomMogrifier r = testing::MakeRandomMogrifier(3, true);
  const size_t rounds = r.params.rounds.size();
  ASSERT_GE(rounds, 1u);
  const std::string valid = Serialize(ThreeLayers(r));
  auto graph_edit = [](std::function<void(ojson&)> f) {
    return [f](FileParts* p) {
      ojson g = testing::GraphOf(*p);
      f(g["layers"]);
      testing::SetGraphOf(p, g);
    };
  };
  const std::string last = "mog.mogrifier." + std::to_string(rounds) + ".weight";
  const std::vector<BadCase> cases = {
      {"zero rounds", graph_edit([](ojson& l) { l[0]["mogrifier"]["rounds"] = 0; }), "mogrifier.rounds is 0"},
      {"17 rounds", graph_edit([](ojson& l) { l[0]["mogrifier"]["rounds"] = 17; }), "mogrifier.rounds is 17"},
      {"one round more than the tensors",
       graph_edit([&](ojson& l) { l[0]["mogrifier"]["rounds"] = rounds + 1; }),
       "mog.mogrifier." + std::to_string(rounds + 1) + ".weight"},
      {"a round's tensors left unused", [&](FileParts* p) {
         ojson g = testing::GraphOf(*p);
         if (rounds == 1) {
           testing::AppendTensorTo(p, "mog.mogrifier.2.weight", "I8", {1}, std::string(1, '\0'));
         } else {
           g["layers"][0]["mogrifier"]["rounds"] = rounds - 1;
         }
         testing::SetGraphOf(p, g);
       },
       "mog.mogrifier."},
      {"input_zp out of int8", graph_edit([](ojson& l) { l[0]["mogrifier"]["input_zp"] = 200; }),
       "mogrifier.input_zp is 200"},
      {"no mogrifier object", graph_edit([](ojson& l) { l[0].erase("mogrifier"); }), "mogrifier"},
      {"unknown member", graph_edit([](ojson& l) { l[0]["mogrifier"]["extra"] = 1; }), "extra"},
      {"sigmoid with negative outputs", graph_edit([](ojson& l) { l[0]["mogrifier"]["sigmoid"]["output_min"] = -5; }),
       "sigmoid outputs are [-5"},
      {"sigmoid pieces disagree with its tensors",
       graph_edit([](ojson& l) {
         l[0]["mogrifier"]["sigmoid"]["pieces"] = l[0]["mogrifier"]["sigmoid"]["pieces"].get<int>() + 1;
       }),
       "mog.mogrifier.sigmoid.knot"},
      {"round weight of the wrong shape",
       [&](FileParts* p) {
         auto& shape = p->header[last]["shape"];
         std::swap(shape[0], shape[1]);
         if (shape[0] == shape[1]) shape[0] = shape[0].get<int>() + 1;
       },
       last},
      {"bidirectional without backward", graph_edit([](ojson& l) { l[1].erase("backward"); }), "backward"},
      {"directions with different output zero points",
       graph_edit([](ojson& l) {
         const int zp = l[1]["forward"]["params"]["output_zp"].get<int>();
         l[1]["backward"]["params"]["output_zp"] = zp == 0 ? 1 : 0;
       }),
       "backward.output_zp is"},
      {"residual input shift above 0", graph_edit([](ojson& l) { l[2]["params"]["a_scale"]["shift"] = 1; }),
       "ResidualAddParams: a_scale.shift is 1 but must be in [-31, 0]"},
      {"residual rounding unknown", graph_edit([](ojson& l) { l[2]["params"]["rounding"] = "triple"; }), "rounding"},
      {"residual zero point out of int8", graph_edit([](ojson& l) { l[2]["params"]["b_zp"] = -129; }), "b_zp"},
  };
  for (const BadCase& c : cases) {
    FileParts p = testing::SplitFile(valid);
    c.edit(&p);
    const std::string bytes = testing::JoinFile(p);
    Model out;
    const Status s = Parse(bytes, &out);
    ASSERT_FALSE(s.ok()) << c.what << ": accepted";
    EXPECT_NE(s.message().find(c.expect), std::string::npos) << c.what << ": " << s.message();
    std::cout << "[ refused  ] " << c.what << ": " << s.message().substr(0, 240) << "\n";
  }
  // Every truncation of the file is refused cleanly.
  for (size_t n = 0; n < valid.size(); n += 1 + n / 64) {
    Model out;
    EXPECT_FALSE(Parse(valid.substr(0, n), &out).ok()) << n;
  }
}

}  // namespace
}  // namespace irnn
