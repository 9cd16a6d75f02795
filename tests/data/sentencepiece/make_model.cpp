#include <sentencepiece_trainer.h>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <vector>
const std::vector<std::string> kWords = {"the",  "movie",  "was",     "great",     "filmul",   "a",
                                         "fost", "grozav", "țară",    "București", "and",      "și",
                                         "not",  "bad",    "Ünïcödé", "naïve",     "ＦＵＬＬ", "ﬁne",
                                         "①②",   "東京",   "123",     "4.5",       "e\u0301",  "café"};

int main() {
    {
        std::ofstream corpus("corpus.txt");
        std::mt19937 rng(1);
        for (int line = 0; line < 400; ++line) {
            for (int w = 0; w < 8; ++w)
                corpus << (w ? " " : "") << kWords[rng() % kWords.size()];
            corpus << "\n";
        }
    }
    auto st = sentencepiece::SentencePieceTrainer::Train(
        "--input=corpus.txt --model_prefix=bpe-150 --vocab_size=150 --character_coverage=1.0 --minloglevel=2 "
        "--model_type=bpe --normalization_rule_name=identity");
    std::printf("%s\n", st.ToString().c_str());
    return st.ok() ? 0 : 1;
}
