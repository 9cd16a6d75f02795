// SPDX-License-Identifier: GPL-3.0-or-later
// Users' data files: GLUE SST-2's dev set against its published counts, RFC 4180 CSV (quotes, embedded
// separators, newlines and doubled quotes), JSON Lines, GLUE's pair layouts (RTE with an index column, MNLI's
// many columns with gold_label), sequence-to-sequence files, seeded splits, and every malformed input named
// with its file and line — or skipped and counted.
#include <QtTest>

#include <filesystem>
#include <fstream>
#include <numeric>

#include "data/coverage.h"
#include "data/file_data.h"
#include "data/hf_tokenizer.h"
#include "data/table.h"
#include "model/backbone_config.h"
#include "test_support.h"
#include "util/error.h"

using namespace peft;
namespace fs = std::filesystem;

namespace {

fs::path dir() {
    static const fs::path d = [] {
        const fs::path p = fs::temp_directory_path() / "peft-test-import";
        fs::remove_all(p);
        fs::create_directories(p);
        return p;
    }();
    return d;
}

std::string write(const std::string& name, const std::string& bytes) {
    const fs::path p = dir() / name;
    std::ofstream(p, std::ios::binary) << bytes;
    return p.string();
}

#define EXPECT_ERROR(call, text)                                                  \
    do {                                                                          \
        const std::string msg_ = errorOf([&] { call; });                          \
        QVERIFY2(msg_.find(text) != std::string::npos, ("got: " + msg_).c_str()); \
    } while (0)

}  // namespace

class TestImport : public QObject {
    Q_OBJECT

private Q_SLOTS:
    // Vocabulary coverage: the <unk> share counted by hand on a small text, then SST-2 through the built-in
    // world's word tokenizer (mostly unknown: warned) and BERT's WordPiece (covered: no warning).
    void vocabularyCoverageCountsUnknownTokens() {
        const std::string world = defaultBackboneDir();
        QVERIFY(!world.empty());
        const auto words = openFolderTokenizer(world);
        // "the" and "was" are words of the world; the two made-up ones are not: 2 of 6 tokens.
        const VocabularyCoverage small = vocabularyCoverage(*words, {"the plot was", "zqxj the vbnm"});
        QCOMPARE(small.texts, int64_t(2));
        QCOMPARE(small.tokens, int64_t(6));
        QCOMPARE(small.unknown, int64_t(2));
        QCOMPARE(vocabularyCoverage(*words, {"a", "b", "c"}, 2).texts, int64_t(2));  // the limit
        // The byte-level tokenizer has no <unk>: everything is covered.
        QCOMPARE(vocabularyCoverage(*openFolderTokenizer(""), {"zqxj ünïcode"}).unknown, int64_t(0));

        FileDatasetSpec s;
        s.train = PEFT_TEST_DATA "/glue/SST-2/dev.tsv";
        s.dev_fraction = 0;
        const FileData sst2 = readFileData(s);
        const VocabularyCoverage onWorld = dataCoverage(*words, sst2);
        QCOMPARE(onWorld.texts, int64_t(872));
        QVERIFY2(onWorld.unknownShare() > 0.5, std::to_string(onWorld.unknownShare()).c_str());
        const std::string warning = coverageWarning(onWorld, "world-lm");
        QVERIFY(warning.find("% of the tokens are <unk> for world-lm") != std::string::npos);
        const auto bert = loadHfTokenizer(PEFT_TEST_DATA "/tokenizers/bert-base-uncased", "bert");
        const VocabularyCoverage onBert = dataCoverage(*bert, sst2);
        QVERIFY2(onBert.unknownShare() < 0.01, std::to_string(onBert.unknownShare()).c_str());
        QVERIFY(coverageWarning(onBert, "bert").empty());
        // The threshold: 19 of 100 is not warned, 20 of 100 is.
        QVERIFY(coverageWarning({1, 100, 19}, "x").empty());
        QVERIFY(!coverageWarning({1, 100, 20}, "x").empty());
    }

    // Integer labels sort by value at any length: the fuzzer's 20-digit label once overflowed stoll.
    void integerLabelsSortByValue() {
        std::vector<LabeledRow> rows;
        for (const char* label :
             {"10", "99999999999999999999", "2", "-3", "-99999999999999999999", "0", "01"}) {
            LabeledRow r;
            r.label = label;
            rows.push_back(r);
        }
        QCOMPARE(inferLabels(rows), (std::vector<std::string>{"-99999999999999999999", "-3", "0", "01", "2",
                                                              "10", "99999999999999999999"}));
    }

    void sst2DevMatchesItsPublishedCounts() {
        const ClassificationTable t =
            importClassification(std::string(PEFT_TEST_DATA) + "/glue/SST-2/dev.tsv");
        QCOMPARE(t.format, TableFormat::Tsv);
        QCOMPARE(t.mapping.text, std::string("sentence"));
        QCOMPARE(t.mapping.label, std::string("label"));
        QVERIFY(t.mapping.pair.empty());
        QCOMPARE(int(t.rows.size()), 872);
        const auto labels = inferLabels(t.rows);
        QCOMPARE(labels, (std::vector<std::string>{"0", "1"}));
        const auto idx = labelIndices(t, labels);
        QCOMPARE(int(std::count(idx.begin(), idx.end(), 1)), 444);
        QCOMPARE(int(std::count(idx.begin(), idx.end(), 0)), 428);
        QCOMPARE(t.rows.front().text, std::string("it 's a charming and often affecting journey . "));
        QCOMPARE(t.rows.front().line, int64_t(2));
    }

    void csvFollowsRfc4180() {
        const std::string path = write("quotes.csv",
                                       "text,label\r\n"
                                       "\"a, b\",pos\r\n"
                                       "\"she said \"\"hi\"\"\",neg\r\n"
                                       "\"two\nlines\tand a tab\",pos\r\n"
                                       "plain,neg\r\n");
        const ClassificationTable t = importClassification(path);
        QCOMPARE(t.format, TableFormat::Csv);
        QCOMPARE(int(t.rows.size()), 4);
        QCOMPARE(t.rows[0].text, std::string("a, b"));
        QCOMPARE(t.rows[1].text, std::string("she said \"hi\""));
        QCOMPARE(t.rows[2].text, std::string("two\nlines\tand a tab"));
        QCOMPARE(t.rows[3].line, int64_t(6));  // the quoted newline took a line
        QCOMPARE(inferLabels(t.rows), (std::vector<std::string>{"neg", "pos"}));
    }

    // What the workbench writes as CSV (exports, study reports) reads back field for field.
    void csvFieldsRoundTrip() {
        const std::vector<std::string> texts = {"plain",    "a, b", "she said \"hi\"", "two\nlines",
                                                "cr\rhere", "\"",   "tab\tinside"};
        std::string csv = "text,label\n";
        for (const auto& t : texts)
            csv += csvField(t) + "," + csvField("l,1") + "\n";
        const ClassificationTable t = importClassification(write("roundtrip.csv", csv));
        QCOMPARE(int(t.rows.size()), int(texts.size()));
        for (size_t i = 0; i < texts.size(); ++i) {
            QCOMPARE(t.rows[i].text, texts[i]);
            QCOMPARE(t.rows[i].label, std::string("l,1"));
        }
    }

    void jsonLinesAndGluePairLayouts() {
        const std::string jl = write("pairs.jsonl",
                                     "{\"premise\": \"a cat sat\", \"hypothesis\": \"a cat\", \"label\": 0}\n"
                                     "\n"
                                     "{\"premise\": \"it rains\", \"hypothesis\": \"dry\", \"label\": 2}\n");
        const ClassificationTable j = importClassification(jl);
        QCOMPARE(j.format, TableFormat::JsonLines);
        QCOMPARE(j.mapping.pair, std::string("hypothesis"));
        QCOMPARE(j.rows[1].label, std::string("2"));
        QCOMPARE(j.rows[1].line, int64_t(3));
        // RTE: index, sentence1, sentence2, label (strings).
        const std::string rte = write("rte.tsv",
                                      "index\tsentence1\tsentence2\tlabel\n"
                                      "0\tNo weapons were found.\tWeapons were found.\tnot_entailment\n"
                                      "1\tThe sun rose.\tIt rose.\tentailment\n");
        const ClassificationTable r = importClassification(rte);
        QCOMPARE(r.mapping.text, std::string("sentence1"));
        QCOMPARE(r.mapping.pair, std::string("sentence2"));
        QCOMPARE(inferLabels(r.rows), (std::vector<std::string>{"entailment", "not_entailment"}));
        // MNLI: many columns, the label in gold_label; quotes are text in GLUE's TSV.
        const std::string mnli =
            write("mnli.tsv",
                  "index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\tsentence2_binary_parse\t"
                  "sentence1_parse\tsentence2_parse\tsentence1\tsentence2\tlabel1\tgold_label\n"
                  "0\t1\t1e\tgov\t( x )\t( y )\t(ROOT x)\t(ROOT y)\t\"Quoted\" premise\tA hypothesis\t"
                  "neutral\tneutral\n");
        const ClassificationTable m = importClassification(mnli);
        QCOMPARE(m.mapping.label, std::string("gold_label"));
        QCOMPARE(m.rows[0].text, std::string("\"Quoted\" premise"));
        QCOMPARE(m.rows[0].pair, std::string("A hypothesis"));
    }

    void malformedInputNamesFileAndLine() {
        EXPECT_ERROR(importClassification(write("empty.tsv", "")), "empty.tsv: the file is empty");
        EXPECT_ERROR(importClassification(write("cols.tsv", "sentence\tlabel\ngood\t1\nbad row\n")),
                     "cols.tsv:3: 1 columns, but the header has 2");
        EXPECT_ERROR(importClassification(write("utf8.tsv", "sentence\tlabel\nok\t1\nbro\xC3\x28ken\t0\n")),
                     "utf8.tsv:3: invalid UTF-8 at byte 3 of the row");
        EXPECT_ERROR(importClassification(write("open.csv", "text,label\n\"never closed,1\nnext,0\n")),
                     "open.csv:2: a quoted field opened on this line is never closed");
        EXPECT_ERROR(importClassification(write("after.csv", "text,label\n\"a\"b,1\n")),
                     "after.csv:2: unexpected 'b' after the closing quote of field 1");
        EXPECT_ERROR(
            importClassification(write("nolabel.tsv", "sentence\tscore\nx\t1\n")),
            "nolabel.tsv:1: no label column: name it with --label-column (columns: sentence, score)");
        EXPECT_ERROR(
            importClassification(write("named.tsv", "sentence\tlabel\nx\t1\n"), {{"review", "", ""}}),
            "named.tsv:1: no text column 'review' (columns: sentence, label)");
        EXPECT_ERROR(importClassification(write("json.jsonl", "{\"text\": \"a\", \"label\": 1}\n{oops\n")),
                     "json.jsonl:2: not valid JSON");
        // A dev label that training never saw.
        FileDatasetSpec spec;
        spec.train = write("train.tsv", "sentence\tlabel\na\tpos\nb\tneg\n");
        spec.dev = write("dev.tsv", "sentence\tlabel\nc\tpos\nd\tmaybe\n");
        EXPECT_ERROR(readFileData(spec),
                     "dev.tsv:3: label 'maybe' does not occur in the training data (labels: neg, pos)");
    }

    void badRowsCanBeSkippedAndCounted() {
        const std::string path =
            write("mixed.tsv", "sentence\tlabel\ngood\t1\nshort\nbad\xFF\t0\n\t1\nfine\t0\n");
        ImportOptions o;
        o.skip_bad_rows = true;
        const ClassificationTable t = importClassification(path, o);
        QCOMPARE(int(t.rows.size()), 2);
        QCOMPARE(t.skipped, int64_t(3));
        QCOMPARE(int(t.skipped_messages.size()), 3);
        QVERIFY(t.skipped_messages[0].find("mixed.tsv:3") != std::string::npos);
    }

    void seq2seqFilesAndSplits() {
        const std::string jl = write("s2s.jsonl",
                                     "{\"source\": \"a long story\", \"target\": \"story\"}\n"
                                     "{\"source\": \"another one\", \"target\": \"one\"}\n");
        FileDatasetSpec spec;
        spec.train = jl;
        spec.dev_fraction = 0.5;
        const FileData d = readFileData(spec);
        QVERIFY(d.seq2seq);
        QCOMPARE(int(d.strain.size() + d.sdev.size()), 2);
        QCOMPARE(int(d.sdev.size()), 1);
        write("par.source", "one\ntwo\nthree\n");
        write("par.target", "1\n2\n");
        EXPECT_ERROR(importSeq2Seq((dir() / "par.source").string()), "par.target: ends at line 2");
        write("par.target", "1\n2\n3\n");
        const auto rows = importSeq2Seq((dir() / "par.source").string());
        QCOMPARE(int(rows.size()), 3);
        QCOMPARE(rows[2].target, std::string("3"));

        // The translation layout (WMT16 en-ro as Hugging Face datasets write it): one column per language;
        // the error names the languages when none is chosen; a row without its target language is named.
        const std::string tr = write("wmt.jsonl",
                                     "{\"translation\": {\"en\": \"the house\", \"ro\": \"casa\"}}\n"
                                     "{\"translation\": {\"ro\": \"cartea\", \"en\": \"the book\"}}\n");
        FileDatasetSpec ts;
        ts.train = tr;
        ts.dev_fraction = 0;
        EXPECT_ERROR(readFileData(ts),
                     "wmt.jsonl:1: no field 'source' (fields: translation.en, "
                     "translation.ro); a translation file: choose the languages with "
                     "--source-lang and --target-lang (here: en, ro)");
        ts.source_field = "translation.en";
        ts.target_field = "translation.ro";
        const FileData td = readFileData(ts);
        QVERIFY(td.seq2seq);
        QCOMPARE(int(td.strain.size()), 2);
        QCOMPARE(td.strain[1].source, std::string("the book"));
        QCOMPARE(td.strain[1].target, std::string("cartea"));
        write("wmt.jsonl",
              "{\"translation\": {\"en\": \"a\", \"ro\": \"b\"}}\n"
              "{\"translation\": {\"en\": \"c\", \"de\": \"d\"}}\n");
        EXPECT_ERROR(readFileData(ts), "wmt.jsonl:2: empty 'translation.ro'");

        // A seeded split is a partition, the same for the same seed and different for another.
        std::vector<int> v(100);
        std::iota(v.begin(), v.end(), 0);
        const auto a = seededSplit(v, 0.2, 7), b = seededSplit(v, 0.2, 7), c = seededSplit(v, 0.2, 8);
        QCOMPARE(int(a.second.size()), 20);
        QCOMPARE(a.second, b.second);
        QVERIFY(a.second != c.second);
        std::vector<int> all = a.first;
        all.insert(all.end(), a.second.begin(), a.second.end());
        std::sort(all.begin(), all.end());
        QCOMPARE(all, v);
    }

    void encodingKeepsTheClosingToken() {
        FileDatasetSpec spec;
        spec.train = write("long.tsv", "sentence\tlabel\none two three four five six\t1\nshort\t0\n");
        spec.dev_fraction = 0;
        const FileData d = readFileData(spec);
        TaskEncoder enc;
        enc.classify = [](const std::string& text, const std::optional<std::string>&) {
            Example e;
            e.ids = {100};
            for (size_t i = 0; i < text.size(); ++i)
                if (text[i] == ' ') e.ids.push_back(1);
            e.ids.push_back(1);
            e.ids.push_back(999);
            return e;
        };
        const Dataset ds = encodeFileData(d, enc, 4);
        QCOMPARE(ds.train[0].ids, (std::vector<int64_t>{100, 1, 1, 999}));
        QCOMPARE(ds.train[0].label, int64_t(1));
        QCOMPARE(ds.label_names, (std::vector<std::string>{"0", "1"}));
    }
};

QTEST_GUILESS_MAIN(TestImport)
#include "test_import.moc"
