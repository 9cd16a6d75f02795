// SPDX-License-Identifier: GPL-3.0-or-later
// Hugging Face model folders: the test writes small bert / roberta / gpt2 folders with random weights in the
// exact Hugging Face naming (its own safetensors writer, F32 / F16 / BF16, sharded), and compares the
// workbench's logits with a reference forward written here from the Hugging Face modelling files' math
// (plain tensor code over the Hugging Face tensor names, float64, none of the core's classes).
#include <QtTest>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include <torch/torch.h>

#include "cli/cli.h"
#include "hf_fixture.h"
#include "io/hf_model.h"
#include "peft/accounting.h"
#include "peft/presets.h"
#include "test_support.h"
#include "torch_save_fixture.h"
#include "util/error.h"

using namespace peft;
namespace fs = std::filesystem;
using json = nlohmann::json;
using T = torch::Tensor;
using Weights = std::map<std::string, T>;
using namespace hf_fixture;

namespace {

// ----- the reference forward (Hugging Face's math over Hugging Face's names) ------------------------

T geluNew(const T& x) {
    return 0.5 * x * (1 + torch::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x.pow(3))));
}

struct Ref {
    const Weights& w;
    std::string prefix;
    T g(const std::string& name) const { return w.at(prefix + name).to(torch::kDouble); }
    T top(const std::string& name) const { return w.at(name).to(torch::kDouble); }  // outside the prefix
};

/// BertModel / RobertaModel's last hidden states [T, d].
T bertLikeHidden(const Ref& r, const std::vector<int64_t>& ids, const std::vector<int64_t>& types,
                 int64_t positionStart, double eps, bool oldNames) {
    const T idx = torch::tensor(ids, torch::kLong), ty = torch::tensor(types, torch::kLong);
    const T pos = torch::arange(positionStart, positionStart + int64_t(ids.size()), torch::kLong);
    T x = r.g("embeddings.word_embeddings.weight").index_select(0, idx) +
          r.g("embeddings.position_embeddings.weight").index_select(0, pos) +
          r.g("embeddings.token_type_embeddings.weight").index_select(0, ty);
    x = layerNorm(x, r.g(oldNames ? "embeddings.LayerNorm.gamma" : "embeddings.LayerNorm.weight"),
                  r.g(oldNames ? "embeddings.LayerNorm.beta" : "embeddings.LayerNorm.bias"), eps);
    for (int l = 0; l < kL; ++l) {
        const std::string p = "encoder.layer." + std::to_string(l) + ".";
        auto lin = [&](const T& in, const std::string& m) {
            return in.matmul(r.g(p + m + ".weight").t()) + r.g(p + m + ".bias");
        };
        const T a = lin(attention(lin(x, "attention.self.query"), lin(x, "attention.self.key"),
                                  lin(x, "attention.self.value"), false),
                        "attention.output.dense");
        x = layerNorm(a + x, r.g(p + "attention.output.LayerNorm.weight"),
                      r.g(p + "attention.output.LayerNorm.bias"), eps);
        const T f = lin(geluErf(lin(x, "intermediate.dense")), "output.dense");
        x = layerNorm(f + x, r.g(p + "output.LayerNorm.weight"), r.g(p + "output.LayerNorm.bias"), eps);
    }
    return x;
}

/// GPT2Model's last hidden states [T, d] (after ln_f).
T gpt2Hidden(const Ref& r, const std::vector<int64_t>& ids) {
    const T idx = torch::tensor(ids, torch::kLong);
    T x = r.g("wte.weight").index_select(0, idx) +
          r.g("wpe.weight").index_select(0, torch::arange(int64_t(ids.size()), torch::kLong));
    for (int l = 0; l < kL; ++l) {
        const std::string p = "h." + std::to_string(l) + ".";
        auto conv1d = [&](const T& in, const std::string& m) {  // x W + b, W stored [in, out]
            return in.matmul(r.g(p + m + ".weight")) + r.g(p + m + ".bias");
        };
        const T a = layerNorm(x, r.g(p + "ln_1.weight"), r.g(p + "ln_1.bias"), 1e-5);
        const auto qkv = conv1d(a, "attn.c_attn").split(kD, -1);
        x = x + conv1d(attention(qkv[0], qkv[1], qkv[2], true), "attn.c_proj");
        const T m = layerNorm(x, r.g(p + "ln_2.weight"), r.g(p + "ln_2.bias"), 1e-5);
        x = x + conv1d(geluNew(conv1d(m, "mlp.c_fc")), "mlp.c_proj");
    }
    return layerNorm(x, r.g("ln_f.weight"), r.g("ln_f.bias"), 1e-5);
}

/// The workbench's logits for one input: next-token logits of the last position, or class logits.
T ours(HfModel& h, const std::vector<int64_t>& ids, const std::vector<int64_t>& types, bool lm) {
    torch::NoGradGuard ng;
    h.model->eval();
    ForwardOptions fo;
    fo.lm = lm;
    fo.cls = !lm;
    const T t = types.empty() ? T() : torch::tensor(types, torch::kLong).unsqueeze(0);
    const ForwardResult r = h.model->forward(torch::tensor(ids, torch::kLong).unsqueeze(0), {}, t, fo);
    return (lm ? r.lm_logits[0][-1] : r.cls_logits[0]).to(torch::kDouble);
}

void expectClose(const T& got, const T& want, const char* what) {
    const double err = (got - want).abs().max().item<double>();
    const double scale = want.abs().max().item<double>();
    QVERIFY2(got.sizes() == want.sizes(), what);
    qInfo("%s: max |ours − reference| = %.3g (largest |logit| %.3g)", what, err, scale);
    QVERIFY2(err <= 2e-5 * scale + 1e-7,  // float32 against float64: measured errors are ~1e-7 relative
             (std::string(what) + ": max |ours − reference| = " + std::to_string(err)).c_str());
}

fs::path freshDir(const std::string& name) {
    const fs::path d = fs::temp_directory_path() / ("peft-test-hf-" + name);
    fs::remove_all(d);
    fs::create_directories(d);
    return d;
}

/// Two shards of GPT-2 weights: layer 1 in `b`, the rest in `a`; the index's weight_map, the shards named by
/// `pattern` with %d their number (1, 2).
json splitLayer1(const Weights& w, Weights& a, Weights& b, const char* pattern) {
    json map = json::object();
    for (const auto& [k, t] : w) {
        const bool first = k.find(".h.1.") == std::string::npos;
        (first ? a : b)[k] = t;
        map[k] = QString::asprintf(pattern, first ? 1 : 2).toStdString();
    }
    return map;
}

}  // namespace

class TestHfModels : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() { torch::manual_seed(3); }

    // BertForSequenceClassification: "bert." prefix, old gamma/beta names, position_ids, an MLM head to skip.
    void bertClassifierMatchesReference() {
        const fs::path dir = freshDir("bert");
        Weights w = bertLikeWeights("bert.", 24, 2, true);
        w["bert.pooler.dense.weight"] = rnd({kD, kD});
        w["bert.pooler.dense.bias"] = rnd({kD}, 0.1);
        w["classifier.weight"] = rnd({3, kD});
        w["classifier.bias"] = rnd({3}, 0.1);
        w["cls.predictions.bias"] = rnd({kVocab});
        writeSafetensors(dir / "model.safetensors", w, "F32");
        writeJson(dir / "config.json", bertConfig("bert", "BertForSequenceClassification"));
        writeBertTokenizer(dir);

        HfModel h = loadHfModel(dir.string());
        QCOMPARE(h.model_type, std::string("bert"));
        QVERIFY(!h.causal_lm);
        QCOMPARE(h.config.num_labels, int64_t(3));
        QCOMPARE(h.ignored, std::vector<std::string>{"cls.predictions.bias"});
        const Encoding e = h.tokenizer->encode("The movie was not bad!", std::string("It is great."));
        QCOMPARE(e.ids, (std::vector<int64_t>{2, 5, 6, 7, 8, 9, 14, 3, 19, 20, 12, 39, 3}));
        QCOMPARE(e.type_ids, (std::vector<int64_t>{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1}));

        const Ref r{w, "bert."};
        const T x = bertLikeHidden(r, e.ids, e.type_ids, 0, 1e-12, true);
        const T pooled = torch::tanh(x[0].matmul(r.g("pooler.dense.weight").t()) + r.g("pooler.dense.bias"));
        const T want = pooled.matmul(r.top("classifier.weight").t()) + r.top("classifier.bias");
        expectClose(ours(h, e.ids, e.type_ids, false), want, "bert class logits");

        // Right padding in a batch changes nothing for the shorter input.
        torch::NoGradGuard ng;
        const std::vector<int64_t> shortIds = {2, 5, 6, 3};
        std::vector<int64_t> padded = shortIds;
        padded.resize(e.ids.size(), 0);
        std::vector<int64_t> mask(e.ids.size(), 0);
        std::fill(mask.begin(), mask.begin() + 4, 1);
        ForwardOptions fo;
        fo.lm = false;
        fo.cls = true;
        const T batch = torch::stack({torch::tensor(e.ids), torch::tensor(padded)});
        const T masks =
            torch::stack({torch::ones({int64_t(e.ids.size())}, torch::kLong), torch::tensor(mask)});
        const T types =
            torch::stack({torch::tensor(e.type_ids), torch::zeros({int64_t(e.ids.size())}, torch::kLong)});
        const T both = h.model->forward(batch, masks, types, fo).cls_logits.to(torch::kDouble);
        expectClose(both[1], ours(h, shortIds, {0, 0, 0, 0}, false), "padded batch row");
    }

    // RobertaModel saved alone (no prefix), BF16 weights, no classification head: positions start at
    // padding_idx + 1; the head is initialised and the note says so.
    void robertaBaseBf16MatchesReference() {
        const fs::path dir = freshDir("roberta");
        const Weights w = bertLikeWeights("", 26, 1, false);
        Weights stored = w;
        stored["pooler.dense.weight"] = rnd({kD, kD});
        stored["pooler.dense.bias"] = rnd({kD});
        writeSafetensors(dir / "model.safetensors", stored, "BF16");
        writeJson(dir / "config.json", bertConfig("roberta", "RobertaModel"));
        writeBpeTokenizer(dir, true);

        HfModel h = loadHfModel(dir.string(), 2, 5);
        QCOMPARE(h.config.position_offset, int64_t(2));
        QCOMPARE(h.config.num_labels, int64_t(2));
        bool noted = false;
        for (const auto& n : h.notes)
            noted = noted || n.find("no trained classification head") != std::string::npos;
        QVERIFY2(noted, "the initialised head is not reported");
        const Encoding e = h.tokenizer->encode("the movie", std::string("the end"));
        QCOMPARE(e.ids.front(), int64_t(0));  // <s>
        QCOMPARE(e.ids.back(), int64_t(2));   // </s>

        const Weights bf = asStored(w, "BF16");
        const T x = bertLikeHidden(Ref{bf, ""}, e.ids, e.type_ids, 2, 1e-5, false);
        // RobertaClassificationHead: dense → tanh → out_proj, here the initialised head's weights.
        const T dense = torch::tanh(x[0].matmul(h.model->cls_dense->weight.to(torch::kDouble).t()) +
                                    h.model->cls_dense->bias.to(torch::kDouble));
        const T want = dense.matmul(h.model->classifier->weight.to(torch::kDouble).t()) +
                       h.model->classifier->bias.to(torch::kDouble);
        expectClose(ours(h, e.ids, e.type_ids, false), want, "roberta class logits");
    }

    // GPT2LMHeadModel: "transformer." prefix, causal-mask buffers, F16, sharded, tied LM head.
    void gpt2ShardedF16MatchesReference() {
        const fs::path dir = freshDir("gpt2");
        const Weights w = gpt2Weights("transformer.", 24);
        Weights a, b;
        const json map = splitLayer1(w, a, b, "model-0000%d-of-00002.safetensors");
        writeSafetensors(dir / "model-00001-of-00002.safetensors", a, "F16");
        writeSafetensors(dir / "model-00002-of-00002.safetensors", b, "F16");
        writeJson(dir / "model.safetensors.index.json",
                  {{"metadata", {{"total_size", 0}}}, {"weight_map", map}});
        writeJson(dir / "config.json", gpt2Config(true));
        writeBpeTokenizer(dir, false);

        HfModel h = loadHfModel(dir.string());
        QVERIFY(h.causal_lm);
        const std::vector<int64_t> ids = h.tokenizer->encodeIds("the movie");
        QCOMPARE(h.tokenizer->tokenize("the movie"), (std::vector<std::string>{"the", "Ġm", "ov", "i", "e"}));
        const Weights f16 = asStored(w, "F16");
        const Ref r{f16, "transformer."};
        const T want = gpt2Hidden(r, ids)[-1].matmul(r.g("wte.weight").t());
        expectClose(ours(h, ids, {}, true), want, "gpt2 next-token logits");
    }

    // GPT2ForSequenceClassification with an untied lm_head: `score` (no bias) on the last token.
    void gpt2ScoreHeadMatchesReference() {
        const fs::path dir = freshDir("gpt2-cls");
        Weights w = gpt2Weights("transformer.", 24);
        w["lm_head.weight"] = rnd({kVocab, kD});
        w["score.weight"] = rnd({2, kD});
        writeSafetensors(dir / "model.safetensors", w, "F32");
        json cfg = gpt2Config(false);
        cfg["architectures"] = {"GPT2ForSequenceClassification"};
        writeJson(dir / "config.json", cfg);
        writeBpeTokenizer(dir, false);

        HfModel h = loadHfModel(dir.string());
        QVERIFY(!h.causal_lm);
        QCOMPARE(h.config.num_labels, int64_t(2));
        const std::vector<int64_t> ids = h.tokenizer->encodeIds("the movie the end");
        const Ref r{w, "transformer."};
        const T hidden = gpt2Hidden(r, ids);
        expectClose(ours(h, ids, {}, false), hidden[-1].matmul(r.top("score.weight").t()),
                    "gpt2 score logits");
        expectClose(ours(h, ids, {}, true), hidden[-1].matmul(r.top("lm_head.weight").t()), "untied lm_head");
    }

    // pytorch_model.bin (torch.save's zip format, from this test's own writer) for every family: F32 single
    // file, F16 shards (pytorch_model.bin.index.json), BF16; the reference forward's numbers.
    void pytorchCheckpointsLoadForEveryFamily() {
        auto writeBin = [](const fs::path& path, const Weights& w, torch::ScalarType dt) {
            std::ofstream(path, std::ios::binary) << torch_save_fixture::checkpointOf(w, dt);
        };
        {
            const fs::path dir = freshDir("bert-bin");
            Weights w = bertLikeWeights("bert.", 24, 2, false);
            w["bert.pooler.dense.weight"] = rnd({kD, kD});
            w["bert.pooler.dense.bias"] = rnd({kD}, 0.1);
            w["classifier.weight"] = rnd({3, kD});
            w["classifier.bias"] = rnd({3}, 0.1);
            writeBin(dir / "pytorch_model.bin", w, torch::kFloat);
            writeJson(dir / "config.json", bertConfig("bert", "BertForSequenceClassification"));
            writeBertTokenizer(dir);
            HfModel h = loadHfModel(dir.string());
            QCOMPARE(h.config.num_labels, int64_t(3));
            const Encoding e = h.tokenizer->encode("the plot is dull", std::string("so it was bad"));
            const Ref r{w, "bert."};
            const T x = bertLikeHidden(r, e.ids, e.type_ids, 0, 1e-12, false);
            const T pooled =
                torch::tanh(x[0].matmul(r.g("pooler.dense.weight").t()) + r.g("pooler.dense.bias"));
            expectClose(ours(h, e.ids, e.type_ids, false),
                        pooled.matmul(r.top("classifier.weight").t()) + r.top("classifier.bias"),
                        "bert logits from pytorch_model.bin");
        }
        {
            const fs::path dir = freshDir("gpt2-bin");
            const Weights w = gpt2Weights("transformer.", 24);
            Weights a, b;
            const json map = splitLayer1(w, a, b, "pytorch_model-0000%d-of-00002.bin");
            writeBin(dir / "pytorch_model-00001-of-00002.bin", a, torch::kHalf);
            writeBin(dir / "pytorch_model-00002-of-00002.bin", b, torch::kHalf);
            writeJson(dir / "pytorch_model.bin.index.json", {{"weight_map", map}});
            writeJson(dir / "config.json", gpt2Config(true));
            writeBpeTokenizer(dir, false);
            HfModel h = loadHfModel(dir.string());
            const std::vector<int64_t> ids = h.tokenizer->encodeIds("the movie");
            const Weights f16 = asStored(w, "F16");
            const Ref r{f16, "transformer."};
            expectClose(ours(h, ids, {}, true), gpt2Hidden(r, ids)[-1].matmul(r.g("wte.weight").t()),
                        "gpt2 logits from F16 pytorch_model shards");
            // A shard that lacks what the index places in it is named.
            fs::remove(dir / "pytorch_model-00002-of-00002.bin");
            writeBin(dir / "pytorch_model-00002-of-00002.bin", a, torch::kHalf);
            const std::string msg = errorOf([&] { loadHfModel(dir.string()); });
            QVERIFY2(msg.find("pytorch_model-00002-of-00002.bin: the index places these tensors here but the "
                              "shard lacks them") != std::string::npos,
                     msg.c_str());
        }
        {
            const fs::path dir = freshDir("roberta-bin");
            const Weights w = bertLikeWeights("roberta.", 26, 1, false);
            writeBin(dir / "pytorch_model.bin", w, torch::kBFloat16);
            writeJson(dir / "config.json", bertConfig("roberta", "RobertaModel"));
            writeBpeTokenizer(dir, true);
            HfModel h = loadHfModel(dir.string(), 2, 5);
            const Encoding e = h.tokenizer->encode("the movie", std::string("the end"));
            const T x =
                bertLikeHidden(Ref{asStored(w, "BF16"), "roberta."}, e.ids, e.type_ids, 2, 1e-5, false);
            const T dense = torch::tanh(x[0].matmul(h.model->cls_dense->weight.to(torch::kDouble).t()) +
                                        h.model->cls_dense->bias.to(torch::kDouble));
            expectClose(ours(h, e.ids, e.type_ids, false),
                        dense.matmul(h.model->classifier->weight.to(torch::kDouble).t()) +
                            h.model->classifier->bias.to(torch::kDouble),
                        "roberta logits from BF16 pytorch_model.bin");
            // model.safetensors wins when both are present, as in Hugging Face.
            QCOMPARE(hfWeightsFile(dir.string()), std::string("pytorch_model.bin"));
            writeSafetensors(dir / "model.safetensors", w, "F32");
            QCOMPARE(hfWeightsFile(dir.string()), std::string("model.safetensors"));
        }
    }

    // peftwb forward --model DIR --text … --pair … --json prints the reference's numbers.
    void cliForwardJson() {
        const fs::path dir = freshDir("bert-cli");
        Weights w = bertLikeWeights("bert.", 24, 2, false);
        w["bert.pooler.dense.weight"] = rnd({kD, kD});
        w["bert.pooler.dense.bias"] = rnd({kD}, 0.1);
        w["classifier.weight"] = rnd({3, kD});
        w["classifier.bias"] = rnd({3}, 0.1);
        writeSafetensors(dir / "model.safetensors", w, "F32");
        writeJson(dir / "config.json", bertConfig("bert", "BertForSequenceClassification"));
        writeBertTokenizer(dir);
        std::ostringstream out, err;
        const int rc = runCli({"forward", "--model", dir.string(), "--preset", "full", "--text",
                               "the plot is dull", "--pair", "so it was bad", "--json"},
                              out, err);
        QVERIFY2(rc == 0, err.str().c_str());
        const json j = json::parse(out.str());
        const auto ids = j["ids"].get<std::vector<int64_t>>();
        const auto types = j["type_ids"].get<std::vector<int64_t>>();
        QCOMPARE(j["tokens"][0].get<std::string>(), std::string("[CLS]"));
        const Ref r{w, "bert."};
        const T x = bertLikeHidden(r, ids, types, 0, 1e-12, false);
        const T pooled = torch::tanh(x[0].matmul(r.g("pooler.dense.weight").t()) + r.g("pooler.dense.bias"));
        const T want = pooled.matmul(r.top("classifier.weight").t()) + r.top("classifier.bias");
        expectClose(torch::tensor(j["logits"].get<std::vector<double>>(), torch::kDouble), want,
                    "CLI logits");

        std::ostringstream tout, terr;
        QCOMPARE(runCli({"tokenize", "--model", dir.string(), "--text", "The movie!", "--json"}, tout, terr),
                 0);
        QCOMPARE(json::parse(tout.str())["ids"].get<std::vector<int64_t>>(),
                 (std::vector<int64_t>{2, 5, 6, 14, 3}));
    }

    // The design space applies unchanged: every preset builds, counts and runs on an imported backbone.
    void everyPresetOnImportedBackbone() {
        const fs::path dir = freshDir("gpt2-presets");
        writeSafetensors(dir / "model.safetensors", gpt2Weights("", 24), "F32");
        writeJson(dir / "config.json", gpt2Config(true));
        writeBpeTokenizer(dir, false);
        for (const auto& p : presets()) {
            HfModel h = loadHfModel(dir.string(), 2);
            const Spec s = resolvePreset(p, h.config);
            h.model->applySpec(s);
            const ParamReport rep = countParams(s, h.config);
            QVERIFY2(numel(h.model->trainableParameters()) == rep.trained + rep.head, p.id.c_str());
            const T logits = ours(h, h.tokenizer->encodeIds("the movie"), {}, false);
            QVERIFY2(torch::isfinite(logits).all().item<bool>(), p.id.c_str());
        }
    }

    // peftwb train --model DIR: every preset trains the built-in tasks through the folder's own tokenizer
    // (BERT WordPiece with bert-base-uncased's vocabulary; entailment as a [CLS] a [SEP] b [SEP] pair).
    void everyPresetTrainsThroughTheCli() {
        const fs::path dir = freshDir("bert-train");
        writeSafetensors(dir / "model.safetensors", bertLikeWeights("bert.", 128, 2, false, 30522), "F32");
        writeJson(dir / "config.json", bertConfig("bert", "BertModel", 30522, 128));
        fs::copy_file(std::string(PEFT_TEST_DATA) + "/tokenizers/bert-base-uncased/vocab.txt",
                      dir / "vocab.txt");
        for (const auto& p : presets()) {
            const std::string task = p.id == "lora" ? "entailment" : "sentiment";
            std::ostringstream out, err;
            const int rc =
                runCli({"train", "--model",      dir.string(), "--task",       task, "--preset",
                        p.id,    "--steps",      "4",          "--train-size", "32", "--batch-size",
                        "8",     "--eval-every", "4",          "--max-eval",   "16", "--threads",
                        "1",     "--json",       "--quiet"},
                       out, err);
            QVERIFY2(rc == 0, (p.id + ": " + err.str()).c_str());
            const json j = json::parse(out.str());
            QCOMPARE(j["status"].get<std::string>(), std::string("finished"));
            QCOMPARE(j["steps"].get<int64_t>(), int64_t(4));
            QCOMPARE(j["backbone"].get<std::string>(), dir.filename().string());  // no _name_or_path
            const double acc = j["best_dev_metric"].get<double>();
            QVERIFY2(acc >= 0.0 && acc <= 1.0, p.id.c_str());
        }
    }

    void badFoldersNameTheProblem() {
        const fs::path dir = freshDir("bad");
        Weights w = gpt2Weights("transformer.", 24);
        writeBpeTokenizer(dir, false);
        json cfg = gpt2Config(true);

        cfg["model_type"] = "t5";
        writeJson(dir / "config.json", cfg);
        QVERIFY(errorOf([&] {
                    loadHfModel(dir.string());
                }).find("'t5' is not supported (supported: bert, roberta, gpt2, bart, mbart)") !=
                std::string::npos);
        writeJson(dir / "config.json", gpt2Config(true));
        QVERIFY(errorOf([&] { loadHfModel(dir.string()); }).find("no weights") != std::string::npos);

        Weights missing = w;
        missing.erase("transformer.h.1.mlp.c_fc.bias");
        missing["transformer.h.0.attn.extra.weight"] = rnd({2});
        missing["transformer.wpe.weight"] = rnd({30, kD});
        writeSafetensors(dir / "model.safetensors", missing, "F32");
        const std::string msg = errorOf([&] { loadHfModel(dir.string()); });
        QVERIFY2(msg.find("unexpected tensors for a gpt2 model: transformer.h.0.attn.extra.weight") !=
                     std::string::npos,
                 msg.c_str());
        missing.erase("transformer.h.0.attn.extra.weight");
        {  // a layer number no model has (std::stoll would throw out_of_range): named, not a crash
            Weights huge = missing;
            huge["transformer.h.99999999999999999999.attn.c_attn.weight"] = rnd({2});
            writeSafetensors(dir / "model.safetensors", huge, "F32");
            const std::string hugeMsg = errorOf([&] { loadHfModel(dir.string()); });
            QVERIFY2(hugeMsg.find("layer index '99999999999999999999' is not a layer of any model") !=
                         std::string::npos,
                     hugeMsg.c_str());
        }
        writeSafetensors(dir / "model.safetensors", missing, "F32");
        const std::string msg2 = errorOf([&] { loadHfModel(dir.string()); });
        QVERIFY2(msg2.find("missing: blocks.1.w1.base.bias") != std::string::npos, msg2.c_str());
        QVERIFY2(msg2.find("shape mismatch: pos.weight [30, 32] (model: [24, 32])") != std::string::npos,
                 msg2.c_str());

        fs::remove(dir / "model.safetensors");
        writeJson(dir / "model.safetensors.index.json",
                  {{"weight_map", {{"transformer.wte.weight", "a.safetensors"}}}});
        writeSafetensors(dir / "a.safetensors", {{"transformer.wpe.weight", rnd({24, kD})}}, "F32");
        const std::string msg3 = errorOf([&] { loadHfModel(dir.string()); });
        QVERIFY2(msg3.find("a.safetensors: the index places these tensors here but the shard lacks them: "
                           "transformer.wte.weight") != std::string::npos,
                 msg3.c_str());
        fs::remove(dir / "model.safetensors.index.json");
        std::ofstream(dir / "pytorch_model.bin") << "pickle";
        const std::string binMsg = errorOf([&] { loadHfModel(dir.string()); });
        QVERIFY2(binMsg.find("pytorch_model.bin: not a PyTorch checkpoint") != std::string::npos,
                 binMsg.c_str());

        json noHeads = gpt2Config(true);
        noHeads["n_head"] = 5;
        writeJson(dir / "config.json", noHeads);
        const std::string msg4 = errorOf([&] { loadHfModel(dir.string()); });
        // The field as the file names it (GPT-2's n_head), not the core's name.
        QVERIFY2(msg4.find("config.json: n_head: 5 does not divide") != std::string::npos, msg4.c_str());
    }
};

QTEST_GUILESS_MAIN(TestHfModels)
#include "test_hf_models.moc"
