// SPDX-License-Identifier: GPL-3.0-or-later
// Adapter folders: every exportable method round-trips (export, import, identical outputs); the exported
// files have PEFT's names, shapes and config fields; PEFT-format adapters written here by hand import to
// exactly the math PEFT defines (LoRA on GPT-2's fused c_attn and on both c_proj; prefix tuning as past keys
// / values with positions after the prefix), checked against a reference forward over the Hugging Face
// tensors.
#include <QtTest>

#include <cmath>
#include <filesystem>
#include <sstream>

#include "cli/cli.h"
#include "hf_fixture.h"
#include "io/adapter.h"
#include "io/hf_model.h"
#include "io/safetensors.h"
#include "peft/presets.h"
#include "test_support.h"
#include "torch_save_fixture.h"
#include "util/error.h"

using namespace peft;
using namespace hf_fixture;

namespace {

fs::path freshDir(const std::string& name) {
    const fs::path d = fs::temp_directory_path() / ("peft-test-adapter-" + name);
    fs::remove_all(d);
    fs::create_directories(d);
    return d;
}

/// A Hugging Face folder of `type` with 64 positions, written once per test run.
std::string baseFolder(const std::string& type) {
    const fs::path d = fs::temp_directory_path() / ("peft-test-adapter-base-" + type);
    if (fs::exists(d / "config.json")) return d.string();
    fs::create_directories(d);
    torch::manual_seed(7);
    if (type == "gpt2") {
        writeSafetensors(d / "model.safetensors", gpt2Weights("transformer.", 64), "F32");
        json cfg = gpt2Config(true);
        cfg["n_positions"] = 64;
        writeJson(d / "config.json", cfg);
        writeBpeTokenizer(d, false);
    } else {
        const bool roberta = type == "roberta";
        Weights w =
            bertLikeWeights(roberta ? "roberta." : "bert.", roberta ? 66 : 64, roberta ? 1 : 2, false);
        if (!roberta) {
            w["bert.pooler.dense.weight"] = rnd({kD, kD});
            w["bert.pooler.dense.bias"] = rnd({kD}, 0.1);
        }
        writeSafetensors(d / "model.safetensors", w, "F32");
        writeJson(d / "config.json", bertConfig(type, "Model", kVocab, 64));
        if (roberta)
            writeBpeTokenizer(d, true);
        else
            writeBertTokenizer(d);
    }
    return d.string();
}

HfModel load(const std::string& type) {
    return loadHfModel(baseFolder(type), type == "gpt2" ? 0 : 3, 1);
}

/// Moves every trainable parameter away from its initialisation (LoRA's B starts at zero).
void perturb(Transformer& m) {
    torch::NoGradGuard ng;
    torch::manual_seed(11);
    for (auto& p : m->parameters())
        if (p.requires_grad()) p.add_(torch::randn_like(p) * 0.3);
}

T logitsOf(Transformer m, bool lm) {
    torch::NoGradGuard ng;
    m->eval();
    ForwardOptions fo;
    fo.lm = lm;
    fo.cls = !lm;
    const T ids = torch::tensor(std::vector<int64_t>{5, 6, 7, 8, 9, 10, 11, 12}).unsqueeze(0);
    const ForwardResult r = m->forward(ids, {}, {}, fo);
    return (lm ? r.lm_logits[0][-1] : r.cls_logits[0]).to(torch::kDouble);
}

T layerNorm(const T& x, const T& w, const T& b) {
    const T mu = x.mean(-1, true);
    const T var = (x - mu).pow(2).mean(-1, true);
    return (x - mu) / (var + 1e-5).sqrt() * w + b;
}

/// GPT-2's forward (Hugging Face's math over its tensor names) with optional per-layer past keys / values
/// [l, d] and positions starting at `firstPosition`; next-token logits of the last token.
T gpt2Reference(const Weights& w, const std::vector<int64_t>& ids, const std::vector<std::pair<T, T>>& past,
                int64_t firstPosition) {
    auto g = [&](const std::string& n) { return w.at("transformer." + n).to(torch::kDouble); };
    const int64_t n = int64_t(ids.size()), dh = kD / kH;
    T x = g("wte.weight").index_select(0, torch::tensor(ids)) +
          g("wpe.weight").index_select(0, torch::arange(firstPosition, firstPosition + n));
    for (int l = 0; l < kL; ++l) {
        const std::string p = "h." + std::to_string(l) + ".";
        auto conv = [&](const T& in, const std::string& m) {
            return in.matmul(g(p + m + ".weight")) + g(p + m + ".bias");
        };
        const auto qkv =
            conv(layerNorm(x, g(p + "ln_1.weight"), g(p + "ln_1.bias")), "attn.c_attn").split(kD, -1);
        T k = qkv[1], v = qkv[2];
        int64_t P = 0;
        if (!past.empty()) {
            P = past[size_t(l)].first.size(0);
            k = torch::cat({past[size_t(l)].first.to(torch::kDouble), k});
            v = torch::cat({past[size_t(l)].second.to(torch::kDouble), v});
        }
        auto heads = [&](const T& t) { return t.reshape({t.size(0), kH, dh}).transpose(0, 1); };
        T s = torch::matmul(heads(qkv[0]), heads(k).transpose(1, 2)) / std::sqrt(double(dh));  // [H, n, P+n]
        const T future = torch::ones({n, n}, torch::kBool).triu(1);
        s.narrow(2, P, n).masked_fill_(future, -std::numeric_limits<double>::infinity());
        const T a = torch::matmul(torch::softmax(s, -1), heads(v)).transpose(0, 1).reshape({n, kD});
        x = x + conv(a, "attn.c_proj");
        const T m = layerNorm(x, g(p + "ln_2.weight"), g(p + "ln_2.bias"));
        const T h = conv(m, "mlp.c_fc");
        x = x + conv(0.5 * h * (1 + torch::tanh(std::sqrt(2.0 / M_PI) * (h + 0.044715 * h.pow(3)))),
                     "mlp.c_proj");
    }
    x = layerNorm(x, g("ln_f.weight"), g("ln_f.bias"));
    return x[-1].matmul(g("wte.weight").t());
}

}  // namespace

class TestAdapters : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void hfPeftRoundTrip_data() {
        QTest::addColumn<QString>("type");
        QTest::addColumn<QString>("preset");
        for (const char* t : {"bert", "roberta", "gpt2"})
            for (const char* p : {"lora", "prefix"})
                QTest::newRow((std::string(t) + " " + p).c_str()) << QString(t) << QString(p);
    }
    void hfPeftRoundTrip() {
        QFETCH(QString, type);
        QFETCH(QString, preset);
        const std::string t = type.toStdString();
        const bool lm = t == "gpt2";
        HfModel a = load(t);
        a.model->applySpec(resolvePreset(presetById(preset.toStdString()), a.config));
        perturb(a.model);
        const T before = logitsOf(a.model, lm);
        const fs::path dir = freshDir(t + "-" + preset.toStdString());
        const AdapterInfo out = exportAdapter(dir.string(), "hf-peft", a.model, t, baseFolder(t), !lm);
        QCOMPARE(out.has_head, !lm);
        HfModel b = load(t);
        const AdapterInfo in = importAdapter(dir.string(), b.model, t);
        QCOMPARE(in.peft_type, out.peft_type);
        const T after = logitsOf(b.model, lm);
        QVERIFY2(torch::allclose(before, after, 1e-5, 1e-6),
                 ("max diff " + std::to_string((before - after).abs().max().item<double>())).c_str());
        QVERIFY((before - logitsOf(load(t).model, lm)).abs().max().item<double>() >
                1e-4);  // the adapter matters
    }

    void nativeRoundTripsEveryPreset() {
        for (const auto& p : presets()) {
            HfModel a = load("bert");
            a.model->applySpec(resolvePreset(p, a.config));
            perturb(a.model);
            const T before = logitsOf(a.model, false);
            const fs::path dir = freshDir("native-" + p.id);
            exportAdapter(dir.string(), "native", a.model, "bert", baseFolder("bert"), true);
            HfModel b = load("bert");
            importAdapter(dir.string(), b.model, "bert");
            QVERIFY2(torch::allclose(before, logitsOf(b.model, false), 1e-6, 1e-7), p.id.c_str());
            QCOMPARE(b.model->spec().name, p.id);
        }
    }

    void exportedFilesHavePeftNamesShapesAndFields() {
        HfModel g = load("gpt2");
        Spec lora = resolvePreset(presetById("lora"), g.config, {4, std::nullopt, std::nullopt});
        g.model->applySpec(lora);
        const fs::path dir = freshDir("fields-lora");
        exportAdapter(dir.string(), "hf-peft", g.model, "gpt2", baseFolder("gpt2"), false);
        const json cfg = json::parse(std::ifstream(dir / "adapter_config.json"));
        QCOMPARE(cfg["peft_type"].get<std::string>(), std::string("LORA"));
        QCOMPARE(cfg["r"].get<int64_t>(), int64_t(8));  // q and v (rank 4 each) stacked into c_attn
        QCOMPARE(cfg["lora_alpha"].get<double>(), lora.modifications[0].scale * 8);
        QCOMPARE(cfg["target_modules"], json({"c_attn"}));
        QVERIFY(cfg["fan_in_fan_out"].get<bool>());
        QCOMPARE(cfg["task_type"].get<std::string>(), std::string("CAUSAL_LM"));
        QCOMPARE(cfg["bias"].get<std::string>(), std::string("none"));
        const auto st = readSafetensors((dir / "adapter_model.safetensors").string()).tensors;
        QCOMPARE(int(st.size()), 2 * kL);
        const T A = st.at("base_model.model.transformer.h.0.attn.c_attn.lora_A.weight");
        const T B = st.at("base_model.model.transformer.h.1.attn.c_attn.lora_B.weight");
        QCOMPARE(A.sizes().vec(), (std::vector<int64_t>{8, kD}));
        QCOMPARE(B.sizes().vec(), (std::vector<int64_t>{3 * kD, 8}));
        QCOMPARE(B.narrow(0, kD, kD).abs().max().item<double>(), 0.0);  // k is untouched: its block is zero

        HfModel b = load("bert");
        b.model->applySpec(resolvePreset(presetById("prefix"), b.config, {std::nullopt, 6, std::nullopt}));
        const fs::path pdir = freshDir("fields-prefix");
        exportAdapter(pdir.string(), "hf-peft", b.model, "bert", baseFolder("bert"), true);
        const json pc = json::parse(std::ifstream(pdir / "adapter_config.json"));
        QCOMPARE(pc["peft_type"].get<std::string>(), std::string("PREFIX_TUNING"));
        QCOMPARE(pc["num_virtual_tokens"].get<int64_t>(), int64_t(6));
        QCOMPARE(pc["num_layers"].get<int64_t>(), kL);
        QCOMPARE(pc["token_dim"].get<int64_t>(), kD);
        QCOMPARE(pc["num_attention_heads"].get<int64_t>(), kH);
        QVERIFY(!pc["prefix_projection"].get<bool>());
        QCOMPARE(pc["task_type"].get<std::string>(), std::string("SEQ_CLS"));
        const auto pst = readSafetensors((pdir / "adapter_model.safetensors").string()).tensors;
        QCOMPARE(pst.at("prompt_embeddings").sizes().vec(), (std::vector<int64_t>{6, kL * 2 * kD}));
        QVERIFY(pst.count("base_model.model.classifier.weight") &&
                pst.count("base_model.model.bert.pooler.dense.weight"));

        // What PEFT cannot hold is refused by name, and nothing is left behind.
        HfModel m = load("bert");
        m.model->applySpec(resolvePreset(presetById("mam"), m.config));
        const fs::path mdir = fs::temp_directory_path() / "peft-test-adapter-refused";
        fs::remove_all(mdir);
        QVERIFY(errorOf([&] {
                    exportAdapter(mdir.string(), "hf-peft", m.model, "bert", "", true);
                }).find("export it in the native format") != std::string::npos);
        QVERIFY(!fs::exists(mdir));
    }

    // A PEFT LoRA adapter written by hand: target_modules ["c_attn", "c_proj"] means attn.c_attn, attn.c_proj
    // and mlp.c_proj; the result must be GPT-2 with W += (α/r)·(B A)ᵀ in Conv1D layout.
    void importedGpt2LoraIsPeftsMath() {
        const fs::path dir = freshDir("hand-lora");
        const int64_t r = 3;
        const double alpha = 6.0;
        torch::manual_seed(5);
        Weights ad;
        std::map<std::string, std::pair<T, T>> parts;
        for (int l = 0; l < kL; ++l)
            for (const auto& [m, out] : std::vector<std::pair<std::string, int64_t>>{
                     {"attn.c_attn", 3 * kD}, {"attn.c_proj", kD}, {"mlp.c_proj", kD}}) {
                const int64_t in = m == "mlp.c_proj" ? kFf : kD;
                const std::string path = "h." + std::to_string(l) + "." + m;
                parts[path] = {rnd({r, in}, 0.3), rnd({out, r}, 0.3)};
                ad["base_model.model.transformer." + path + ".lora_A.weight"] = parts[path].first;
                ad["base_model.model.transformer." + path + ".lora_B.weight"] = parts[path].second;
            }
        writeSafetensors(dir / "adapter_model.safetensors", ad, "F32");
        writeJson(dir / "adapter_config.json", {{"peft_type", "LORA"},
                                                {"r", r},
                                                {"lora_alpha", alpha},
                                                {"target_modules", {"c_attn", "c_proj"}},
                                                {"fan_in_fan_out", true}});
        HfModel h = load("gpt2");
        importAdapter(dir.string(), h.model, "gpt2");
        const std::vector<int64_t> ids = {5, 6, 7, 8, 9, 10, 11, 12};
        Weights w = readSafetensors(baseFolder("gpt2") + "/model.safetensors").tensors;
        for (const auto& [path, ab] : parts) {
            const std::string k = "transformer." + path + ".weight";
            w[k] = w[k] + (alpha / double(r)) * torch::matmul(ab.second, ab.first).t();  // Conv1D: [in, out]
        }
        const T want = gpt2Reference(w, ids, {}, 0);
        const T got = logitsOf(h.model, true);
        QVERIFY2(torch::allclose(got, want, 1e-5, 1e-5),
                 ("max diff " + std::to_string((got - want).abs().max().item<double>())).c_str());

        // Older PEFT versions wrote adapter_model.bin (a PyTorch checkpoint): the same adapter, the same
        // model.
        fs::remove(dir / "adapter_model.safetensors");
        std::ofstream(dir / "adapter_model.bin", std::ios::binary) << torch_save_fixture::checkpointOf(ad);
        HfModel hb = load("gpt2");
        importAdapter(dir.string(), hb.model, "gpt2");
        QVERIFY(torch::equal(logitsOf(hb.model, true), got));
    }

    // PEFT prefix tuning: prompt_embeddings viewed [l, 2·layers, heads, d_h], layer i's keys at 2i and values
    // at 2i+1, never masked, and the tokens' positions continuing after the l virtual tokens.
    void importedGpt2PrefixIsPeftsMath() {
        const fs::path dir = freshDir("hand-prefix");
        const int64_t l = 4;
        torch::manual_seed(6);
        const T e = rnd({l, kL * 2 * kD}, 0.5);
        writeSafetensors(dir / "adapter_model.safetensors", {{"prompt_embeddings", e}}, "F32");
        writeJson(dir / "adapter_config.json", {{"peft_type", "PREFIX_TUNING"},
                                                {"num_virtual_tokens", l},
                                                {"num_layers", kL},
                                                {"token_dim", kD},
                                                {"num_attention_heads", kH},
                                                {"prefix_projection", false},
                                                {"task_type", "CAUSAL_LM"}});
        HfModel h = load("gpt2");
        importAdapter(dir.string(), h.model, "gpt2");
        const T v = e.reshape({l, 2 * kL, kD});
        std::vector<std::pair<T, T>> past;
        for (int64_t i = 0; i < kL; ++i)
            past.push_back({v.select(1, 2 * i), v.select(1, 2 * i + 1)});
        const std::vector<int64_t> ids = {5, 6, 7, 8, 9, 10, 11, 12};
        const Weights w = readSafetensors(baseFolder("gpt2") + "/model.safetensors").tensors;
        const T want = gpt2Reference(w, ids, past, l);
        const T got = logitsOf(h.model, true);
        QVERIFY2(torch::allclose(got, want, 1e-5, 1e-5),
                 ("max diff " + std::to_string((got - want).abs().max().item<double>())).c_str());
        QCOMPARE(h.model->maxInputTokens(), int64_t(64) - l);  // the prefix takes positions from the input
        // Without the position shift the numbers differ: the test can tell.
        QVERIFY((gpt2Reference(w, ids, past, 0) - want).abs().max().item<double>() > 1e-3);
    }

    // An imported adapter trains further and evaluates through the CLI (train / eval --adapter).
    void adapterTrainsFurtherAndEvaluates() {
        HfModel a = load("bert");
        a.model->applySpec(resolvePreset(presetById("lora"), a.config, {2, std::nullopt, std::nullopt}));
        perturb(a.model);
        const fs::path dir = freshDir("cli-lora");
        exportAdapter(dir.string(), "hf-peft", a.model, "bert", baseFolder("bert"), true);
        for (const char* cmd : {"train", "eval"}) {
            std::ostringstream out, err;
            std::vector<std::string> args = {cmd,          "--model", baseFolder("bert"), "--adapter",
                                             dir.string(), "--task",  "entailment",       "--json"};
            if (std::string(cmd) == "train")
                args.insert(args.end(), {"--steps", "3", "--train-size", "24", "--batch-size", "8",
                                         "--max-eval", "8", "--eval-every", "3", "--quiet"});
            const int rc = runCli(args, out, err);
            QVERIFY2(rc == 0, (std::string(cmd) + ": " + err.str()).c_str());
            QVERIFY2(out.str().find("accuracy") != std::string::npos, out.str().c_str());
        }
        std::ostringstream out, err;
        QCOMPARE(runCli({"train", "--model", baseFolder("bert"), "--adapter", dir.string(), "--preset",
                         "lora", "--task", "sentiment"},
                        out, err),
                 1);
        QVERIFY2(err.str().find("the adapter brings its own spec") != std::string::npos, err.str().c_str());
    }

    void badAdaptersNameTheProblem() {
        const fs::path dir = freshDir("bad");
        HfModel h = load("bert");
        QVERIFY(errorOf([&] {
                    importAdapter(dir.string(), h.model, "bert");
                }).find("no adapter_config.json") != std::string::npos);
        writeJson(dir / "adapter_config.json", {{"peft_type", "IA3"}});
        QVERIFY(errorOf([&] {
                    importAdapter(dir.string(), h.model, "bert");
                }).find("'IA3' is not supported (supported: LORA, PREFIX_TUNING)") != std::string::npos);
        writeJson(dir / "adapter_config.json", {{"peft_type", "LORA"}, {"r", 2}, {"lora_alpha", 4}});
        QVERIFY(errorOf([&] {
                    importAdapter(dir.string(), h.model, "bert");
                }).find("no adapter_model.safetensors") != std::string::npos);
        writeSafetensors(
            dir / "adapter_model.safetensors",
            {{"base_model.model.bert.encoder.layer.0.attention.self.query.lora_A.weight", rnd({2, kD})},
             {"base_model.model.bert.encoder.layer.0.attention.self.query.lora_B.weight", rnd({kD + 1, 2})}},
            "F32");
        const std::string msg = errorOf([&] { importAdapter(dir.string(), h.model, "bert"); });
        QVERIFY2(msg.find("lora_B has 33 rows, the module 32 outputs") != std::string::npos, msg.c_str());
        writeSafetensors(
            dir / "adapter_model.safetensors",
            {{"base_model.model.bert.encoder.layer.0.attention.self.query.lora_A.weight", rnd({2, kD})},
             {"base_model.model.bert.encoder.layer.0.attention.self.query.lora_B.weight", rnd({kD, 2})},
             {"base_model.model.bert.embeddings.lora_embedding_A", rnd({2, kD})}},
            "F32");
        const std::string msg2 = errorOf([&] { importAdapter(dir.string(), h.model, "bert"); });
        QVERIFY2(msg2.find("does not know for a bert model: bert.embeddings.lora_embedding_A") !=
                     std::string::npos,
                 msg2.c_str());
    }
};

QTEST_GUILESS_MAIN(TestAdapters)
#include "test_adapters.moc"
