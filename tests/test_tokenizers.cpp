// SPDX-License-Identifier: GPL-3.0-or-later
// The Hugging Face tokenizers checked against ids that Hugging Face's own `tokenizers` produced (46 BERT and
// 46 GPT-2 test vectors, tests/data/tokenizer-tests), hand-derived pair templates, and the folder loader.
#include <QtTest>
#include <atomic>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "data/hf_tokenizer.h"
#include "util/error.h"

using namespace peft;
namespace fs = std::filesystem;

namespace {

const std::string kData = PEFT_TEST_DATA;
const std::string kBert = kData + "/tokenizers/bert-base-uncased";
const std::string kGpt2 = kData + "/tokenizers/gpt2";

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

struct Vector {
    std::string text;
    std::vector<int64_t> ids;
};

/// llama.cpp's test-vector layout: inputs separated by "\n__ggml_vocab_test__\n", one line of ids per input.
std::vector<Vector> readVectors(const std::string& stem) {
    const std::string inp = slurp(stem + ".inp"), sep = "\n__ggml_vocab_test__\n";
    std::vector<Vector> out;
    for (size_t pos = 0, at; (at = inp.find(sep, pos)) != std::string::npos; pos = at + sep.size())
        out.push_back({inp.substr(pos, at - pos), {}});
    std::istringstream lines(slurp(stem + ".out"));
    size_t i = 0;
    for (std::string line; std::getline(lines, line); ++i) {
        if (i >= out.size()) break;
        std::istringstream ids(line);
        for (int64_t id; ids >> id;)
            out[i].ids.push_back(id);
    }
    if (i != out.size()) out.clear();  // the two files disagree: the test fails on the count
    return out;
}

QString show(const std::vector<int64_t>& ids) {
    QStringList s;
    for (int64_t id : ids)
        s << QString::number(id);
    return s.join(' ');
}

void checkVectors(const TextTokenizer& tok, const std::string& stem) {
    const auto vectors = readVectors(stem);
    QCOMPARE(int(vectors.size()), 46);
    int passed = 0;
    for (const auto& v : vectors) {
        const auto ids = tok.encodeIds(v.text);
        if (ids == v.ids)
            ++passed;
        else
            qWarning().noquote() << "text" << QString::fromStdString(v.text).toHtmlEscaped() << "\n  got     "
                                 << show(ids) << "\n  expected" << show(v.ids);
    }
    QCOMPARE(passed, 46);
}

}  // namespace

class TestTokenizers : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void bertVectors() {
        auto tok = WordPieceTokenizer::fromVocabFile(kBert + "/vocab.txt");
        QCOMPARE(tok->vocabSize(), int64_t(30522));
        checkVectors(*tok, kData + "/tokenizer-tests/ggml-vocab-bert-bge.gguf");
    }

    void gpt2Vectors() {
        auto tok = ByteLevelBpeTokenizer::fromFiles(kGpt2 + "/vocab.json", kGpt2 + "/merges.txt");
        QCOMPARE(tok->vocabSize(), int64_t(50257));
        checkVectors(*tok, kData + "/tokenizer-tests/ggml-vocab-gpt-2.gguf");
        // Again, now from the word cache, and from four threads at once: the same ids.
        checkVectors(*tok, kData + "/tokenizer-tests/ggml-vocab-gpt-2.gguf");
        const auto vectors = readVectors(kData + "/tokenizer-tests/ggml-vocab-gpt-2.gguf");
        std::atomic<int> wrong{0};
        std::vector<std::thread> threads;
        for (int t = 0; t < 4; ++t)
            threads.emplace_back([&] {
                for (int round = 0; round < 20; ++round)
                    for (const auto& v : vectors)
                        wrong += tok->encodeIds(v.text) != v.ids;
            });
        for (auto& t : threads)
            t.join();
        QCOMPARE(wrong.load(), 0);
    }

    void bertPairTemplate() {
        // [CLS] hello , world ! [SEP] how are you ? [SEP]; ids from bert-base-uncased's vocab.txt line
        // numbers.
        auto tok = WordPieceTokenizer::fromVocabFile(kBert + "/vocab.txt");
        const Encoding e = tok->encode("Hello, world!", std::string("How are you?"));
        QCOMPARE(e.ids, (std::vector<int64_t>{101, 7592, 1010, 2088, 999, 102, 2129, 2024, 2017, 1029, 102}));
        QCOMPARE(e.type_ids, (std::vector<int64_t>{0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1}));
        QCOMPARE(e.tokens.front(), std::string("[CLS]"));
        QCOMPARE(e.tokens[1], std::string("hello"));
        // Special tokens written in the text stay whole; accents go; a word over 100 characters is [UNK].
        QCOMPARE(tok->encodeIds("a [SEP] b"), (std::vector<int64_t>{1037, 102, 1038}));
        QCOMPARE(tok->tokenize("Café"), (std::vector<std::string>{"cafe"}));
        QCOMPARE(tok->encodeIds(std::string(101, 'a')), (std::vector<int64_t>{100}));
        QVERIFY(tok->encodeIds(std::string(100, 'a')) != (std::vector<int64_t>{100}));
        QCOMPARE(tok->decode(tok->encode("unaffable words").ids), std::string("unaffable words"));
    }

    void gpt2PreTokenization() {
        // The pattern's alternatives: contractions, " ?letters", " ?numbers", " ?other", spaces before a word
        // leave their last one to it.
        QCOMPARE(ByteLevelBpeTokenizer::preTokenize("Hello  world's 42!!\n\n x"),
                 (std::vector<std::string>{"Hello", " ", " world", "'s", " 42", "!!", "\n\n", " x"}));
        QCOMPARE(ByteLevelBpeTokenizer::preTokenize("   "), (std::vector<std::string>{"   "}));
        auto tok = ByteLevelBpeTokenizer::fromFiles(kGpt2 + "/vocab.json", kGpt2 + "/merges.txt");
        QCOMPARE(tok->tokenize(" Hello world"), (std::vector<std::string>{"ĠHello", "Ġworld"}));
        QCOMPARE(tok->encodeIds("Hello<|endoftext|>"), (std::vector<int64_t>{15496, 50256}));
        const std::string text = "naïve café — 日本語 ok";
        QCOMPARE(tok->decode(tok->encodeIds(text)), text);  // byte-level BPE is lossless
    }

    void robertaTemplateAndTokenizerJson() {
        // A RoBERTa-style folder: the GPT-2 vocabulary and merges inside tokenizer.json only, with RoBERTa's
        // specials; the ids match the files' ids and the pair template is <s> a </s></s> b </s>.
        auto files = ByteLevelBpeTokenizer::fromFiles(kGpt2 + "/vocab.json", kGpt2 + "/merges.txt");
        nlohmann::json vocab = nlohmann::json::parse(slurp(kGpt2 + "/vocab.json"));
        vocab["<s>"] = 50257;
        vocab["</s>"] = 50258;
        vocab["<pad>"] = 50259;
        vocab["<unk>"] = 50260;
        nlohmann::json merges = nlohmann::json::array();
        std::istringstream in(slurp(kGpt2 + "/merges.txt"));
        std::string line;
        std::getline(in, line);  // #version
        while (std::getline(in, line))
            if (!line.empty())
                merges.push_back(
                    nlohmann::json::array({line.substr(0, line.find(' ')), line.substr(line.find(' ') + 1)}));
        const fs::path dir = fs::temp_directory_path() / "peft-test-roberta-tok";
        fs::create_directories(dir);
        const nlohmann::json added =
            nlohmann::json::array({{{"id", 50261}, {"content", "<mask>"}, {"special", true}}});
        std::ofstream(dir / "tokenizer.json") << nlohmann::json{
            {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}}},
            {"added_tokens", added}}.dump();
        auto tok = loadHfTokenizer(dir.string(), "roberta");
        const Encoding e = tok->encode("Hello world", std::string("Bye"));
        std::vector<int64_t> expected = {50257};
        for (int64_t id : files->encodeIds("Hello world"))
            expected.push_back(id);
        expected.insert(expected.end(), {50258, 50258});
        for (int64_t id : files->encodeIds("Bye"))
            expected.push_back(id);
        expected.push_back(50258);
        QCOMPARE(e.ids, expected);
        QCOMPARE(e.type_ids, std::vector<int64_t>(expected.size(), 0));
        QCOMPARE(tok->padId(), int64_t(50259));
        // An added token sits at its id and is matched whole in text.
        QCOMPARE(tok->vocabSize(), int64_t(50262));
        QCOMPARE(tok->encodeIds("Hello<mask>").back(), int64_t(50261));
        fs::remove_all(dir);
    }

    void badInput() {
        auto tok = WordPieceTokenizer::fromVocabFile(kBert + "/vocab.txt");
        try {
            tok->encodeIds("ok \xff\xfe bad");
            QFAIL("invalid UTF-8 accepted");
        } catch (const Error& e) {
            QVERIFY2(std::string(e.what()).find("invalid UTF-8 at byte 3") != std::string::npos, e.what());
        }
        const fs::path dir = fs::temp_directory_path() / "peft-test-empty-tok";
        fs::create_directories(dir);
        try {
            loadHfTokenizer(dir.string(), "gpt2");
            QFAIL("a folder without vocabulary files loaded");
        } catch (const Error& e) {
            QVERIFY2(std::string(e.what()).find("vocab.json and merges.txt") != std::string::npos, e.what());
        }
        try {
            loadHfTokenizer(dir.string(), "t5");
            QFAIL("unsupported model type accepted");
        } catch (const Error& e) {
            QVERIFY2(std::string(e.what()).find("supported: bert, roberta, gpt2, bart, mbart") !=
                         std::string::npos,
                     e.what());
        }
        std::ofstream(dir / "vocab.json") << "{\"a\": 0}";
        std::ofstream(dir / "merges.txt") << "#version: 0.2\na b c\n";
        try {
            loadHfTokenizer(dir.string(), "gpt2");
            QFAIL("a malformed merges.txt loaded");
        } catch (const Error& e) {
            QVERIFY2(std::string(e.what()).find("merges.txt:2") != std::string::npos, e.what());
        }
        fs::remove_all(dir);
    }
};

QTEST_GUILESS_MAIN(TestTokenizers)
#include "test_tokenizers.moc"
