// Text corpora: the published PTB and WikiText-2 statistics, plain-text splitting, batching, and clear
// errors on missing, empty or binary files.

#include <cstdio>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "irnn/text_data.h"
#include "support/golden.h"

namespace irnn {
namespace {

TEST(TextData, PennTreebankHasItsPublishedSizes) {
  TextCorpus c;
  const Status s = LoadPtb(testing::SharedDir() + "/data/ptb", &c);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(c.vocab.size(), 10000);  // 9,999 words incl. <unk>, plus <eos>
  EXPECT_EQ(c.train.size(), 929589u);
  EXPECT_EQ(c.valid.size(), 73760u);
  EXPECT_EQ(c.test.size(), 82430u);
  EXPECT_EQ(c.vocab.word(c.train.back()), "<eos>");
}

TEST(TextData, WikiText2HasItsPublishedSizes) {
  TextCorpus c;
  const Status s = LoadWikiText2(testing::SharedDir() + "/data/wikitext-2", &c);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(c.vocab.size(), 33278);
  EXPECT_EQ(c.train.size(), 2088628u);
  EXPECT_EQ(c.valid.size(), 217646u);
  EXPECT_EQ(c.test.size(), 245569u);
}

std::string WriteTemp(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + name;
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

TEST(TextData, PlainTextIsLowercasedSplitAndDealt) {
  std::string text;
  for (int i = 0; i < 40; ++i) text += "In the beginning, God created " + std::to_string(i % 3) + ".\n";
  const std::string path = WriteTemp("plain.txt", text);
  TextCorpus c;
  ASSERT_TRUE(LoadPlainText(path, 5, &c).ok());
  EXPECT_EQ(c.vocab.size(), 7);  // <eos>, <unk> and the 5 most frequent words
  EXPECT_GE(c.vocab.Find("the"), 0);
  EXPECT_GE(c.vocab.Find(","), 0);
  EXPECT_EQ(c.vocab.Find("In"), -1);  // lower-cased
  // "in the beginning , god created N ." + <eos> = 9 tokens a line
  EXPECT_EQ(c.train.size() + c.valid.size() + c.test.size(), 40u * 9u);
  EXPECT_EQ(c.valid.size(), 2u * 9u);  // 2 of 40 lines
  std::remove(path.c_str());
}

TEST(TextData, BatchifyIsTimeMajorAndDropsTheRemainder) {
  std::vector<int32_t> ids = {0, 1, 2, 3, 4, 5, 6};
  std::vector<int32_t> out;
  int steps = 0;
  ASSERT_TRUE(BatchifyTimeMajor(ids, 2, &out, &steps).ok());
  EXPECT_EQ(steps, 3);
  EXPECT_EQ(out, (std::vector<int32_t>{0, 3, 1, 4, 2, 5}));
  EXPECT_FALSE(BatchifyTimeMajor(ids, 8, &out, &steps).ok());
  EXPECT_FALSE(BatchifyTimeMajor(ids, 0, &out, &steps).ok());
}

TEST(TextData, BadFilesGetClearErrors) {
  TextCorpus c;
  Status s = LoadPtb("/nonexistent/dir", &c);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("cannot open"), std::string::npos) << s.message();
  const std::string empty = WriteTemp("empty.txt", "\n\n  \n");
  s = LoadPlainText(empty, 100, &c);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("no words"), std::string::npos) << s.message();
  const std::string binary = WriteTemp("binary.txt", std::string("abc\0def\n", 8));
  s = LoadPlainText(binary, 100, &c);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("NUL"), std::string::npos) << s.message();
  const std::string few = WriteTemp("few.txt", "one line only\n");
  s = LoadPlainText(few, 100, &c);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("too few lines"), std::string::npos) << s.message();
  Vocabulary v;
  EXPECT_FALSE(Vocabulary::FromWords({"a", "b", "a"}, &v).ok());
  ASSERT_TRUE(Vocabulary::FromWords({"a", "b"}, &v).ok());
  std::vector<int32_t> ids;
  s = EncodeWords({"a", "zzz"}, v, &ids);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("zzz"), std::string::npos);
}

}  // namespace
}  // namespace irnn
