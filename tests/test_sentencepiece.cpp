// SPDX-License-Identifier: GPL-3.0-or-later
// SentencePiece: the workbench's own reader of BPE models (core/design/data/sentencepiece) against
// libsentencepiece itself — models trained here with its trainer (NFKC and identity normalisation, extra
// whitespace kept, user-defined pieces, byte fallback), pieces and ids compared on hand-picked and random
// text — and mBART's tokenizer with fairseq's id layout computed here from the library's piece ids. This
// binary links the torch-free layer only: libsentencepiece and LibTorch cannot share a process.
#include <QtTest>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include "data/hf_tokenizer.h"
#include "data/sentencepiece.h"
#include "util/error.h"

using namespace peft;
namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

fs::path scratch(const std::string& name) {
    const fs::path dir = fs::temp_directory_path() / ("peft-test-spm-" + name);
    fs::remove_all(dir);
    fs::create_directories(dir);
    return dir;
}

const std::vector<std::string> kWords = {"the",  "movie",  "was",     "great",     "filmul",   "a",
                                         "fost", "grozav", "țară",    "București", "and",      "și",
                                         "not",  "bad",    "Ünïcödé", "naïve",     "ＦＵＬＬ", "ﬁne",
                                         "①②",   "東京",   "123",     "4.5",       "e\u0301",  "café"};

/// A corpus of the words above in random lines; the trainer's model under dir/prefix.model.
bool train(const fs::path& dir, const std::string& prefix, const std::string& extra, int vocab = 150) {
    if (!fs::exists(dir / "corpus.txt")) {
        std::ofstream corpus(dir / "corpus.txt");
        std::mt19937 rng(1);
        for (int line = 0; line < 400; ++line) {
            for (int w = 0; w < 8; ++w)
                corpus << (w ? " " : "") << kWords[rng() % kWords.size()];
            corpus << "\n";
        }
    }
    const auto st = sentencepiece::SentencePieceTrainer::Train(
        "--input=" + (dir / "corpus.txt").string() + " --model_prefix=" + (dir / prefix).string() +
        " --vocab_size=" + std::to_string(vocab) + " --character_coverage=1.0 --minloglevel=2" + extra);
    if (!st.ok()) qWarning("training failed: %s", st.ToString().c_str());
    return st.ok();
}

std::string show(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v)
        s += "[" + x + "]";
    return s;
}

}  // namespace

class TestSentencePiece : public QObject {
    Q_OBJECT

private Q_SLOTS:
    // The same pieces and ids as libsentencepiece, model by model, on hand-picked and random text.
    void piecesEqualLibsentencepiece() {
        const fs::path dir = scratch("models");
        struct Case {
            const char* name;
            std::string options;
            int vocab = 150;
        };
        const std::vector<Case> cases = {
            {"nfkc", " --model_type=bpe"},
            {"identity",
             " --model_type=bpe --normalization_rule_name=identity --remove_extra_whitespaces=false"},
            {"no-prefix", " --model_type=bpe --add_dummy_prefix=false"},
            {"user", " --model_type=bpe --user_defined_symbols=<sep>,née --byte_fallback=true", 420},
        };
        std::vector<std::string> texts = {"the movie was great",
                                          "  the   movie\twas\n great  ",
                                          "",
                                          "   ",
                                          "ＦＵＬＬ ﬁne ①② café e\u0301",
                                          "東京 123 4.5",
                                          "😀 unseen ŋ",
                                          "x\xffy",
                                          "née<sep>a",
                                          "Ünïcödé naïve",
                                          "\xe2\x96\x81 literal",
                                          "ab\u00a0cd"};
        std::mt19937 rng(11);
        const std::vector<std::string> bits = {"the", " ", "  ",      "\t",     "a",    "ﬁ",
                                               "Ｆ",  "é", "e\u0301", "😀",      "\xff", "<sep>",
                                               "née", "1", "東",      "\u3000", "ș"};
        for (int i = 0; i < 400; ++i) {
            std::string t;
            for (int k = int(rng() % 12); k > 0; --k)
                t += bits[rng() % bits.size()];
            texts.push_back(t);
        }
        for (const auto& c : cases) {
            QVERIFY(train(dir, c.name, c.options, c.vocab));
            const fs::path model = dir / (std::string(c.name) + ".model");
            sentencepiece::SentencePieceProcessor ref;
            QVERIFY(ref.Load(model.string()).ok());
            const SentencePieceModel ours(slurp(model), model.string());
            QCOMPARE(ours.size(), ref.GetPieceSize());
            int same = 0;
            for (const auto& t : texts) {
                std::vector<std::string> wantPieces, gotPieces;
                std::vector<int> wantIds, gotIds;
                QVERIFY(ref.Encode(t, &wantPieces).ok());
                QVERIFY(ref.Encode(t, &wantIds).ok());
                ours.encode(t, gotPieces, gotIds);
                if (gotPieces == wantPieces && gotIds == wantIds)
                    ++same;
                else
                    qWarning("%s: '%s'\n  libsentencepiece %s\n  ours             %s", c.name, t.c_str(),
                             show(wantPieces).c_str(), show(gotPieces).c_str());
            }
            QCOMPARE(same, int(texts.size()));
        }
        // Models this reader does not apply are named as such.
        QVERIFY(train(dir, "unigram", " --model_type=unigram", 60));
        try {
            SentencePieceModel(slurp(dir / "unigram.model"), "unigram.model");
            QFAIL("a unigram model was accepted");
        } catch (const Error& e) {
            QVERIFY2(std::string(e.what()).find("unigram.model: a SentencePiece model that is not BPE") !=
                         std::string::npos,
                     e.what());
        }
    }

    // mBART: a SentencePiece model trained here; the ids fairseq's layout gives (computed from the library's
    // own piece ids: 0 → <unk> 3, piece k → k + 1; then </s> 2 and the language code at pieces + 1 + its
    // index), the vocabulary's size and places, decoding, the source language, and bad model files.
    void mbartSentencePieceFairseqLayout() {
        const fs::path dir = scratch("mbart");
        QVERIFY(train(dir, "spm", " --model_type=bpe"));
        fs::copy_file(dir / "spm.model", dir / "sentencepiece.bpe.model");
        sentencepiece::SentencePieceProcessor ref;
        QVERIFY(ref.Load((dir / "spm.model").string()).ok());
        const int64_t n = ref.GetPieceSize();

        auto tok = loadHfTokenizer(dir.string(), "mbart");
        const auto* sp = dynamic_cast<const SentencePieceTokenizer*>(tok.get());
        QVERIFY(sp);
        QCOMPARE(tok->vocabSize(), n + 1 + 25 + 1);
        QCOMPARE(tok->tokenId("<s>"), int64_t(0));
        QCOMPARE(tok->tokenId("<pad>"), int64_t(1));
        QCOMPARE(tok->tokenId("</s>"), int64_t(2));
        QCOMPARE(tok->tokenId("<unk>"), int64_t(3));
        QCOMPARE(tok->tokenId("ar_AR"), n + 1);
        QCOMPARE(tok->tokenId("en_XX"), n + 1 + 3);
        QCOMPARE(tok->tokenId("ro_RO"), n + 1 + 19);
        QCOMPARE(tok->tokenId("<mask>"), n + 1 + 25);
        QCOMPARE(tok->encodeIds("<mask>"), std::vector<int64_t>{n + 26});

        auto fairseq = [&](const std::string& text, int64_t lang) {
            std::vector<int> ids;
            ref.Encode(text, &ids);
            std::vector<int64_t> out;
            for (int id : ids)
                out.push_back(id == 0 ? 3 : id + 1);
            out.push_back(2);
            out.push_back(lang);
            return out;
        };
        for (const std::string text : {"the movie was great", "filmul a fost grozav în București",
                                       "țară și 😀 bad", "  spaces   and\ttabs ", ""}) {
            const Encoding e = tok->encode(text);
            QCOMPARE(e.ids, fairseq(text, n + 4));
            QCOMPARE(int(e.tokens.size()), int(e.ids.size()));
        }
        const std::string plain = "filmul a fost grozav";
        QCOMPARE(tok->decode(tok->encode(plain).ids), plain);

        // The source language from tokenizer_config.json, and a code mBART does not have.
        std::ofstream(dir / "tokenizer_config.json") << R"({"src_lang": "ro_RO"})";
        QCOMPARE(loadHfTokenizer(dir.string(), "mbart")->encode("the movie").ids,
                 fairseq("the movie", n + 20));
        std::ofstream(dir / "tokenizer_config.json") << R"({"src_lang": "xx_YY"})";
        auto err = [&] {
            try {
                loadHfTokenizer(dir.string(), "mbart");
            } catch (const Error& e) {
                return std::string(e.what());
            }
            return std::string();
        };
        QVERIFY2(err().find("'xx_YY' is not an mBART language code (ar_AR, cs_CZ") != std::string::npos,
                 err().c_str());
        std::ofstream(dir / "tokenizer_config.json") << R"({"tokenizer_class": "MBart50Tokenizer"})";
        QVERIFY2(err().find("tokenizer_config.json: tokenizer_class: 'MBart50Tokenizer' (mBART-50") !=
                     std::string::npos,
                 err().c_str());
        fs::remove(dir / "tokenizer_config.json");

        // Bad model files: named, with the reason; a corrupted model loads or is refused, never crashes.
        const std::string good = slurp(dir / "spm.model");
        std::ofstream(dir / "sentencepiece.bpe.model", std::ios::binary) << "not a model at all";
        QVERIFY2(err().find("sentencepiece.bpe.model: not a SentencePiece model") != std::string::npos,
                 err().c_str());
        QVERIFY(train(dir, "shifted", " --model_type=bpe --unk_id=3 --bos_id=0 --eos_id=1 --pad_id=2"));
        fs::copy_file(dir / "shifted.model", dir / "sentencepiece.bpe.model",
                      fs::copy_options::overwrite_existing);
        QVERIFY2(err().find("without fairseq's layout: mBART needs <unk>, <s>, </s> as pieces 0, 1, 2") !=
                     std::string::npos,
                 err().c_str());
        std::mt19937 rng(3);
        int refused = 0;
        for (int i = 0; i < 300; ++i) {
            std::string bad = good;
            for (int k = 0; k < 3; ++k)
                bad[rng() % bad.size()] = char(rng() & 0xff);
            std::ofstream(dir / "sentencepiece.bpe.model", std::ios::binary | std::ios::trunc) << bad;
            try {
                loadHfTokenizer(dir.string(), "mbart")->encode("the movie was great");
            } catch (const Error& e) {
                ++refused;
                QVERIFY2(std::string(e.what()).find("sentencepiece.bpe.model") != std::string::npos,
                         e.what());
            }
        }
        qInfo("300 corrupted models: %d refused", refused);
        for (size_t cut = 0; cut < good.size(); cut += 5) {  // every fifth truncation: loads or is refused
            try {
                SentencePieceModel(good.substr(0, cut), "cut.model");
            } catch (const Error& e) {
                QVERIFY2(std::string(e.what()).rfind("cut.model", 0) == 0, e.what());
            }
        }
        fs::remove(dir / "sentencepiece.bpe.model");
        QVERIFY2(err().find("an mBART folder needs sentencepiece.bpe.model") != std::string::npos,
                 err().c_str());
        fs::remove_all(dir);
    }
};

QTEST_GUILESS_MAIN(TestSentencePiece)
#include "test_sentencepiece.moc"
