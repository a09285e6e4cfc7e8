// CMUdict reader, split and G2P metrics: small synthetic dictionaries (parsing rules, errors with line
// numbers, alternates grouped, split properties, PER/WER by hand) and the real file's published counts.

#include <fstream>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "irnn/cmudict.h"
#include "support/golden.h"

namespace irnn {
namespace {

TEST(Cmudict, ParsesAlternatesGroupedByWord) {
  // As in the real file, "a's" lies between "a" and "a(2)": grouping must not rely on adjacency.
  const std::string text = "a AH\na's EY Z\na(2) EY\nabc\tEY1 B IY0 S IY2\n\n;;; comment\nb(3) B IY\nb B IY\n";
  Cmudict d;
  const Status s = ParseCmudict(text, "t", &d);
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_EQ(d.words.size(), 4u);
  EXPECT_EQ(d.lines, 6);
  EXPECT_EQ(d.words[0].word, "a");
  ASSERT_EQ(d.words[0].prons.size(), 2u);
  EXPECT_EQ(d.words[0].prons[1], std::vector<std::string>({"EY"}));
  EXPECT_EQ(d.words[1].word, "a's");
  EXPECT_EQ(d.words[2].word, "abc");
  EXPECT_EQ(d.words[2].prons[0], std::vector<std::string>({"EY", "B", "IY", "S", "IY"}));  // stress removed
  EXPECT_EQ(d.words[3].word, "b");
  EXPECT_EQ(d.words[3].prons.size(), 1u);  // the duplicate pronunciation is kept once
}

TEST(Cmudict, RejectsBadLinesWithTheirLineNumber) {
  const std::pair<const char*, const char*> cases[] = {
      {"a AH\nb\n", "t:2: 'b' has no phones"},
      {"a AH\nb(x) B\n", "t:2: word 'b(x)' has the suffix (x)"},
      {"a(1) AH\n", "t:1: word 'a(1)' has the suffix (1) but N must be in [2, 99]"},
      {"a(2 AH\n", "t:1: word 'a(2' has a '(' but not a suffix"},
      {"(2) AH\n", "t:1: the word before the suffix is empty"},
      {"a ah\n", "t:1: phone 'ah' must be"},
      {"a AH5\n", "t:1: phone 'AH5' must be"},
      {"a\xff AH\n", "t:1: word 'a\\xff' contains a character"},
      {"", "t: holds no pronunciation"},
      {";;; only a comment\n\n", "t: holds no pronunciation"},
  };
  for (const auto& c : cases) {
    Cmudict d;
    const Status s = ParseCmudict(c.first, "t", &d);
    ASSERT_FALSE(s.ok()) << c.first;
    EXPECT_EQ(s.message().rfind(c.second, 0), 0u) << s.message();
  }
  Cmudict d;
  Status s = ParseCmudict(std::string("a AH\n\0", 6), "t", &d);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("NUL"), std::string::npos);
  s = ParseCmudict("a" + std::string(65, 'x') + " AH\n", "t", &d);
  EXPECT_NE(s.message().find("at most 64"), std::string::npos) << s.message();
  std::string many = "a";
  for (int i = 0; i < 65; ++i) many += " AH";
  s = ParseCmudict(many, "t", &d);
  EXPECT_NE(s.message().find("65 phones"), std::string::npos) << s.message();
  s = ReadCmudict("/nonexistent/cmudict", &d);
  EXPECT_EQ(s.message(), "/nonexistent/cmudict: cannot open the file (no such file)");
  s = ReadCmudict(::testing::TempDir(), &d);
  EXPECT_NE(s.message().find("is a folder"), std::string::npos);
}

TEST(Cmudict, SplitIsAFixedHashOfTheWord) {
  EXPECT_EQ(Fnv1a64(""), 14695981039346656037ull);
  EXPECT_EQ(Fnv1a64("a"), 0xaf63dc4c8601ec8cull);  // the published FNV-1a 64 test vector
  EXPECT_EQ(Fnv1a64("foobar"), 0x85944171f73967e8ull);
  int counts[3] = {0, 0, 0};
  for (int i = 0; i < 20000; ++i) ++counts[static_cast<int>(SplitOfWord("w" + std::to_string(i)))];
  EXPECT_NEAR(counts[0], 18000, 400);
  EXPECT_NEAR(counts[1], 1000, 150);
  EXPECT_NEAR(counts[2], 1000, 150);
}

TEST(Cmudict, VocabulariesAndExamples) {
  Cmudict d;
  ASSERT_TRUE(ParseCmudict("ab AE B\nba B AA\nba(2) B AH\n", "t", &d).ok());
  G2pData g;
  const Status s = MakeG2pData(d, &g);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(g.chars.symbols(), std::vector<std::string>({"a", "b"}));
  EXPECT_EQ(g.phones.symbols(), std::vector<std::string>({"</s>", "<s>", "AA", "AE", "AH", "B"}));
  EXPECT_EQ(g.phones.Find("</s>"), kPhoneEnd);
  EXPECT_EQ(g.phones.Find("<s>"), kPhoneStart);
  EXPECT_EQ(g.train.size() + g.valid.size() + g.test.size(), 2u);
  std::vector<int32_t> ids;
  ASSERT_TRUE(EncodeWord(g.chars, "abba", &ids).ok());
  EXPECT_EQ(ids, std::vector<int32_t>({0, 1, 1, 0}));
  const Status bad = EncodeWord(g.chars, "abc", &ids);
  EXPECT_EQ(bad.message(), "word 'abc': character 'c' at position 3 is not in the model's alphabet \"ab\"");
  EXPECT_FALSE(EncodeWord(g.chars, "", &ids).ok());
}

TEST(Cmudict, EditDistanceAndScores) {
  using V = std::vector<int32_t>;
  EXPECT_EQ(EditDistance(V{}, V{}), 0);
  EXPECT_EQ(EditDistance(V{1, 2, 3}, V{}), 3);
  EXPECT_EQ(EditDistance(V{}, V{4, 5}), 2);
  EXPECT_EQ(EditDistance(V{1, 2, 3}, V{1, 3}), 1);
  EXPECT_EQ(EditDistance(V{1, 2, 3}, V{3, 2, 1}), 2);
  EXPECT_EQ(EditDistance(V{1, 2, 3, 4}, V{2, 3, 4, 5}), 2);
  G2pScore s;
  s.Add(V{1, 2, 3}, {V{1, 2, 3}});               // exact
  s.Add(V{1, 2}, {V{7, 7, 7, 7}, V{1, 2, 3}});   // closest is the second: 1 error over 3 phones
  s.Add(V{5}, {V{6, 6}});                        // 2 errors over 2 phones
  EXPECT_EQ(s.words, 3);
  EXPECT_EQ(s.word_errors, 2);
  EXPECT_EQ(s.phone_errors, 3);
  EXPECT_EQ(s.ref_phones, 8);
  EXPECT_DOUBLE_EQ(s.per(), 3.0 / 8);
  EXPECT_DOUBLE_EQ(s.wer(), 2.0 / 3);
}

TEST(Cmudict, RealFileHasItsPublishedCounts) {
  Cmudict d;
  const Status s = ReadCmudictPath(testing::SharedDir() + "/data/cmudict", &d);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(d.lines, 134723);
  EXPECT_EQ(d.words.size(), 125945u);
  G2pData g;
  ASSERT_TRUE(MakeG2pData(d, &g).ok());
  EXPECT_EQ(g.phones.size(), 41);  // 39 phones + </s>, <s>
  int64_t prons = 0, phones = 0;
  std::set<std::string> seen;
  for (const auto* split : {&g.train, &g.valid, &g.test}) {
    for (const auto& e : *split) {
      EXPECT_TRUE(seen.insert(e.word).second) << e.word;  // no word in two splits
      prons += static_cast<int64_t>(e.prons.size());
      for (const auto& p : e.prons) phones += static_cast<int64_t>(p.size());
    }
  }
  EXPECT_EQ(prons, 134723);
  EXPECT_EQ(phones, 860134);
  std::printf("[ INFO     ] split: train %zu, valid %zu, test %zu words; %d characters\n", g.train.size(),
              g.valid.size(), g.test.size(), g.chars.size());
  EXPECT_NEAR(static_cast<double>(g.test.size()) / d.words.size(), 0.05, 0.005);
  EXPECT_NEAR(static_cast<double>(g.valid.size()) / d.words.size(), 0.05, 0.005);
}

}  // namespace
}  // namespace irnn
