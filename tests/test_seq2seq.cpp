// SPDX-License-Identifier: GPL-3.0-or-later
// Encoder–decoder backbones (BART, mBART). The test writes small bart / mbart folders with random weights in
// Hugging Face's naming and compares the workbench with a reference forward written here from the Hugging
// Face modelling files' math (plain float64 tensor code over the Hugging Face names, none of the core's
// classes): the encoder's output, the decoder's logits for a given decoder input, with and without the
// decoder's key/value cache, post-LN BART (F32) and pre-LN mBART (F16, scaled embeddings). Then the design
// space on an encoder–decoder (stacks, counts, every preset training by teacher forcing, decoding with the
// cache = without) and bad folders.
#include <QtTest>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>
#include <set>
#include <sstream>

#include <torch/torch.h>

#include "cli/cli.h"
#include "data/file_data.h"
#include "data/world.h"
#include "hf_fixture.h"
#include "io/adapter.h"
#include "io/hf_model.h"
#include "io/safetensors.h"
#include "peft/accounting.h"
#include "peft/presets.h"
#include "run/executor.h"
#include "test_support.h"
#include "train/generate.h"
#include "train/trainer.h"
#include "util/error.h"

using namespace peft;
namespace fs = std::filesystem;
using json = nlohmann::json;
using T = torch::Tensor;
using Weights = std::map<std::string, T>;
using namespace hf_fixture;

namespace {

// ----- the reference forward (Hugging Face's BartModel / MBartModel math over Hugging Face's names) --------

struct BartRef {
    Weights w;  // float64 copies
    std::string prefix;
    bool preLn = false;
    double scale = 1.0;  // √d with scale_embedding

    T g(const std::string& name) const { return w.at(prefix + name); }
    T top(const std::string& name) const { return w.at(name); }  // outside the prefix (heads)
    T lin(const T& x, const std::string& m) const { return x.matmul(g(m + ".weight").t()) + g(m + ".bias"); }
    T ln(const T& x, const std::string& m) const {
        return layerNorm(x, g(m + ".weight"), g(m + ".bias"), 1e-5);
    }
    /// A residual sublayer: post-LN (BART) or pre-LN (mBART).
    T sublayer(const T& x, const std::string& norm, const std::function<T(const T&)>& f) const {
        return preLn ? x + f(ln(x, norm)) : ln(x + f(x), norm);
    }
    /// Decoder self-attention past keys / values per layer ([P, d] each): what PEFT's prefix tuning passes
    /// as past_key_values; the decoder's positions then start after them.
    std::vector<std::pair<T, T>> past;

    T embed(const std::string& stack, const std::vector<int64_t>& ids, int64_t start = 0) const {
        const int64_t n = int64_t(ids.size());
        const T x = g("shared.weight").index_select(0, torch::tensor(ids, torch::kLong)) * scale +
                    g(stack + ".embed_positions.weight")
                        .index_select(0, torch::arange(start + 2, start + n + 2, torch::kLong));
        return ln(x, stack + ".layernorm_embedding");
    }
    T attn(const T& q, const T& kv, const std::string& m, bool causal) const {
        return lin(attention(lin(q, m + ".q_proj"), lin(kv, m + ".k_proj"), lin(kv, m + ".v_proj"), causal),
                   m + ".out_proj");
    }
    T ffn(const T& x, const std::string& p) const { return lin(geluErf(lin(x, p + "fc1")), p + "fc2"); }

    /// The encoder's last hidden states [S, d].
    T encode(const std::vector<int64_t>& ids) const {
        T x = embed("encoder", ids);
        for (int l = 0; l < kL; ++l) {
            const std::string p = "encoder.layers." + std::to_string(l) + ".";
            x = sublayer(x, p + "self_attn_layer_norm",
                         [&](const T& a) { return attn(a, a, p + "self_attn", false); });
            x = sublayer(x, p + "final_layer_norm", [&](const T& a) { return ffn(a, p); });
        }
        return preLn ? ln(x, "encoder.layer_norm") : x;
    }
    /// The decoder's last hidden states [T, d] for its input `ids` over the encoder's output.
    T decode(const std::vector<int64_t>& ids, const T& memory) const {
        const int64_t P = past.empty() ? 0 : past[0].first.size(0);
        T x = embed("decoder", ids, P);
        for (int l = 0; l < kL; ++l) {
            const std::string p = "decoder.layers." + std::to_string(l) + ".";
            x = sublayer(x, p + "self_attn_layer_norm", [&](const T& a) {
                if (!P) return attn(a, a, p + "self_attn", true);
                const std::string m = p + "self_attn";
                const auto& [pk, pv] = past[size_t(l)];
                return lin(attention(lin(a, m + ".q_proj"), torch::cat({pk, lin(a, m + ".k_proj")}),
                                     torch::cat({pv, lin(a, m + ".v_proj")}), true, P),
                           m + ".out_proj");
            });
            x = sublayer(x, p + "encoder_attn_layer_norm",
                         [&](const T& a) { return attn(a, memory, p + "encoder_attn", false); });
            x = sublayer(x, p + "final_layer_norm", [&](const T& a) { return ffn(a, p); });
        }
        return preLn ? ln(x, "decoder.layer_norm") : x;
    }
    /// BartForConditionalGeneration's logits [T, V].
    T logits(const std::vector<int64_t>& dec, const std::vector<int64_t>& enc) const {
        return decode(dec, encode(enc)).matmul(g("shared.weight").t()) +
               w.at("final_logits_bias").reshape({-1});
    }
};

BartRef reference(const Weights& w, const std::string& prefix, bool preLn, const std::string& dtype) {
    BartRef r;
    for (const auto& [k, t] : asStored(w, dtype))
        r.w[k] = t.to(torch::kDouble);
    r.prefix = prefix;
    r.preLn = preLn;
    r.scale = preLn ? std::sqrt(double(kD)) : 1.0;
    return r;
}

std::vector<int64_t> ints(const T& t) {
    const T c = t.to(torch::kLong).contiguous();
    return {c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel()};
}

T row(const std::vector<int64_t>& ids) {
    return torch::tensor(ids, torch::kLong).unsqueeze(0);
}

void expectClose(const T& got, const T& want, const std::string& what, double rel = 2e-5) {
    QVERIFY2(got.sizes() == want.sizes(), (what + ": shapes differ").c_str());
    const double err = (got.to(torch::kDouble) - want).abs().max().item<double>();
    const double scale = want.abs().max().item<double>();
    qInfo("%s: max |ours − reference| = %.3g (largest |value| %.3g)", what.c_str(), err, scale);
    QVERIFY2(err <= rel * scale + 1e-7, (what + ": max |ours − reference| = " + std::to_string(err)).c_str());
}

fs::path freshDir(const std::string& name) {
    const fs::path d = fs::temp_directory_path() / ("peft-test-s2s-" + name);
    fs::remove_all(d);
    fs::create_directories(d);
    return d;
}

/// The workbench's decoder logits [T, V] for one source and decoder input, whole; then step by step with
/// the cache (the encoder run once, each step feeding one token), which must give the same rows.
void checkCacheEqualsWhole(Transformer& m, const std::vector<int64_t>& src, const std::vector<int64_t>& dec,
                           const T& whole, const std::string& what) {
    torch::NoGradGuard ng;
    DecodeCache cache;
    ForwardOptions fo;
    fo.cache = &cache;
    for (size_t t = 0; t < dec.size(); ++t) {
        fo.decoder_ids = row({dec[t]});
        const ForwardResult r = m->forward(t == 0 ? row(src) : T(), {}, {}, fo);
        QCOMPARE(r.encoder_hidden.defined(), t == 0);  // the encoder runs once
        expectClose(r.lm_logits[0][0], whole[int64_t(t)].to(torch::kDouble),
                    what + " step " + std::to_string(t), 1e-5);
    }
    QCOMPARE(int64_t(cache.cross.size()), m->config().decoder_layers);
}

/// The workbench's encoder output and decoder logits for one source and decoder input against the
/// reference's, then the same logits step by step with the cache.
void expectMatchesReference(Transformer& m, const BartRef& ref, const std::vector<int64_t>& src,
                            const std::vector<int64_t>& dec, const std::string& what) {
    torch::NoGradGuard ng;
    m->eval();
    ForwardOptions fo;
    fo.decoder_ids = row(dec);
    const ForwardResult r = m->forward(row(src), {}, {}, fo);
    expectClose(r.encoder_hidden[0], ref.encode(src), what + ": encoder output");
    expectClose(r.lm_logits[0], ref.logits(dec, src), what + ": decoder logits");
    checkCacheEqualsWhole(m, src, dec, r.lm_logits[0], what + ": cache");
}

/// A copy task: the target is the source's tokens reversed.
Dataset copyTask() {
    Dataset d;
    d.name = "reverse";
    d.kind = TaskKind::Generation;
    d.metric = "rougeL";
    std::mt19937 rng(5);
    for (int i = 0; i < 24; ++i) {
        Example e;
        for (int k = 0; k < 4 + i % 4; ++k)
            e.ids.push_back(4 + int64_t(rng() % 40));
        e.target.assign(e.ids.rbegin(), e.ids.rend());
        e.reference = "x";
        (i < 16 ? d.train : d.dev).push_back(e);
    }
    return d;
}

}  // namespace

class TestSeq2seq : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() { torch::manual_seed(11); }

    // BartForConditionalGeneration ("model." prefix, tied embeddings saved twice, final_logits_bias,
    // post-LN), F32: encoder output, decoder logits, the cache, padding in a batch, the tokenizer's layout.
    void bartMatchesReference() {
        const fs::path dir = freshDir("bart");
        const Weights w = bartWeights("model.", kVocab, 34, false);
        writeSafetensors(dir / "model.safetensors", w, "F32");
        writeJson(dir / "config.json", bartConfig("bart", kVocab, 32));
        writeBpeTokenizer(dir, true);

        HfModel h = loadHfModel(dir.string());
        QCOMPARE(h.model_type, std::string("bart"));
        QVERIFY(h.causal_lm);  // no classification head: the LM head
        QCOMPARE(h.config.decoder_layers, int64_t(kL));
        QCOMPARE(h.config.position_offset, int64_t(2));
        QCOMPARE(h.config.forced_bos_id, int64_t(0));
        QVERIFY(!h.config.pre_ln);
        const std::vector<int64_t> src = h.tokenizer->encode("the movie").ids;
        QCOMPARE(src.front(), int64_t(0));  // <s> … </s>
        QCOMPARE(src.back(), int64_t(2));
        const std::vector<int64_t> dec = {2, 0, 9, 17, 5, 30};

        const BartRef ref = reference(w, "model.", false, "F32");
        expectMatchesReference(h.model, ref, src, dec, "bart");
        torch::NoGradGuard ng;

        // Right padding of the source and of the decoder input in a batch changes nothing for the short row.
        const std::vector<int64_t> shortSrc = {0, 12, 2}, shortDec = {2, 0, 9};
        auto padTo = [](std::vector<int64_t> v, size_t n) {
            v.resize(n, 1);
            return v;
        };
        auto maskOf = [](size_t real, size_t n) {
            std::vector<int64_t> m(n, 0);
            std::fill(m.begin(), m.begin() + std::ptrdiff_t(real), 1);
            return torch::tensor(m, torch::kLong);
        };
        ForwardOptions fb;
        fb.decoder_ids = torch::stack({torch::tensor(dec), torch::tensor(padTo(shortDec, dec.size()))});
        fb.decoder_mask = torch::stack({maskOf(dec.size(), dec.size()), maskOf(3, dec.size())});
        const ForwardResult b =
            h.model->forward(torch::stack({torch::tensor(src), torch::tensor(padTo(shortSrc, src.size()))}),
                             torch::stack({maskOf(src.size(), src.size()), maskOf(3, src.size())}), {}, fb);
        expectClose(b.lm_logits[1].narrow(0, 0, 3), ref.logits(shortDec, shortSrc), "bart padded row");
        expectClose(b.lm_logits[0], ref.logits(dec, src), "bart long row");
    }

    // mBART saved as MBartModel's state dict alone (no prefix), F16: pre-LN with the final encoder and
    // decoder LayerNorms, scaled embeddings; its SentencePiece tokenizer in fairseq's layout.
    void mbartF16MatchesReference() {
        const fs::path dir = freshDir("mbart");
        fs::copy_file(std::string(PEFT_TEST_DATA) + "/sentencepiece/bpe-150.model",
                      dir / "sentencepiece.bpe.model");
        const int64_t vocab = 150 + 1 + 25 + 1;  // pieces (<unk> moved to 3), language codes, <mask>
        Weights w = bartWeights("", vocab, 34, true);
        w.erase("lm_head.weight");
        writeSafetensors(dir / "model.safetensors", w, "F16");
        writeJson(dir / "config.json", bartConfig("mbart", vocab, 32));

        HfModel h = loadHfModel(dir.string());
        QVERIFY(h.config.pre_ln && h.config.scale_embedding);
        QCOMPARE(h.config.forced_bos_id, int64_t(-1));
        const std::vector<int64_t> src = h.tokenizer->encode("the movie was great").ids;
        QCOMPARE(src.back(), h.tokenizer->tokenId("en_XX"));  // … </s> en_XX
        const int64_t ro = h.tokenizer->tokenId("ro_RO");
        const std::vector<int64_t> dec = {ro, 40, 77, 2, 101};

        expectMatchesReference(h.model, reference(w, "", true, "F16"), src, dec, "mbart");
    }

    // BartForSequenceClassification: the decoder reads the input shifted right after decoder_start; the
    // head reads the decoder's state at the last </s>, then dense → tanh → out_proj.
    void bartClassifierPoolsTheLastEos() {
        const fs::path dir = freshDir("bart-cls");
        Weights w = bartWeights("model.", kVocab, 34, false);
        w["classification_head.dense.weight"] = rnd({kD, kD});
        w["classification_head.dense.bias"] = rnd({kD}, 0.1);
        w["classification_head.out_proj.weight"] = rnd({3, kD});
        w["classification_head.out_proj.bias"] = rnd({3}, 0.1);
        writeSafetensors(dir / "model.safetensors", w, "F32");
        json cfg = bartConfig("bart", kVocab, 32);
        cfg["architectures"] = {"BartForSequenceClassification"};
        writeJson(dir / "config.json", cfg);
        writeBpeTokenizer(dir, true);

        HfModel h = loadHfModel(dir.string());
        QVERIFY(!h.causal_lm);
        QCOMPARE(h.config.num_labels, int64_t(3));
        const std::vector<int64_t> ids = h.tokenizer->encode("the movie").ids;
        const BartRef ref = reference(w, "model.", false, "F32");
        std::vector<int64_t> shifted = {2};
        shifted.insert(shifted.end(), ids.begin(), ids.end() - 1);
        const T hidden = ref.decode(shifted, ref.encode(ids));
        const T pooled = torch::tanh(
            hidden[int64_t(ids.size()) - 1].matmul(ref.top("classification_head.dense.weight").t()) +
            ref.top("classification_head.dense.bias"));
        const T want = pooled.matmul(ref.top("classification_head.out_proj.weight").t()) +
                       ref.top("classification_head.out_proj.bias");
        torch::NoGradGuard ng;
        h.model->eval();
        ForwardOptions fo;
        fo.lm = false;
        fo.cls = true;
        expectClose(h.model->forward(row(ids), {}, {}, fo).cls_logits[0], want, "bart class logits");
    }

    // `stacks` selects the encoder, the decoder and cross-attention; counts per stack match the modules.
    void stacksSelectSites() {
        const ModelConfig c = tinyBart(false);
        const Spec s = specFromJsonText(
            R"({"modifications":[{"form":"lora","site":"W_q","r":2,"stacks":["cross"]},
                                 {"form":"adapter","site":"ffn","r":3,"stacks":["decoder"],"layers":[1]},
                                 {"form":"prefix","site":"head_attention","l":4}]})",
            "spec");
        Transformer m = makeRandomBackbone(c, 1);
        m->applySpec(s);
        QVERIFY(!m->dec_blocks[0]->cross->q->lora.is_empty());
        QVERIFY(m->dec_blocks[0]->attn->q->lora.is_empty());
        QVERIFY(m->blocks[0]->attn->q->lora.is_empty());
        QVERIFY(!m->dec_blocks[1]->ffn_delta.is_empty() && m->dec_blocks[0]->ffn_delta.is_empty());
        QVERIFY(m->blocks[1]->ffn_delta.is_empty());
        for (size_t i = 0; i < 2; ++i)  // a prefix on every attention of both stacks
            QVERIFY(!m->blocks[i]->attn->head.is_empty() && !m->dec_blocks[i]->attn->head.is_empty() &&
                    !m->dec_blocks[i]->cross->head.is_empty());
        const ParamReport rep = countParams(s, c);
        std::map<std::string, int64_t> byName;
        for (const auto& mc : rep.modules)
            byName[mc.name] += mc.trained;
        const int64_t d = c.d_model;
        QCOMPARE(byName["lora@W_q:cross"], 2 * (2 * d + 2 * d));
        QCOMPARE(byName["adapter@ffn:decoder"], int64_t(d * 3 + 3 + 3 * d + d));
        for (const char* st : {"encoder", "decoder", "cross"})
            QCOMPARE(byName[std::string("prefix@head_attention:") + st], 2 * 2 * 4 * d);
        QCOMPARE(numel(m->trainableParameters()), rep.trained + rep.head);
        std::map<std::pair<std::string, int64_t>, int64_t> records;
        for (const auto& r : m->deltaRecords())
            records[{r.name, r.layer}] += numel(r.params);
        for (const auto& mc : rep.modules) {
            const std::pair<std::string, int64_t> key(mc.name, mc.layer);
            QCOMPARE(records[key], mc.trained);
        }

        // λ of each attention kind.
        torch::NoGradGuard ng;
        m->eval();
        ForwardOptions fo;
        fo.capture_lambda = true;
        fo.decoder_ids = row({2, 5, 6});
        const ForwardResult r = m->forward(row({7, 8, 9, 10}), {}, {}, fo);
        QCOMPARE(r.lambda.sizes().vec(), (std::vector<int64_t>{2, 1, 4, 4}));
        QCOMPARE(r.decoder_lambda.sizes().vec(), (std::vector<int64_t>{2, 1, 4, 3}));
        QCOMPARE(r.cross_lambda.sizes().vec(), (std::vector<int64_t>{2, 1, 4, 3}));
        for (const T& l : {r.lambda, r.decoder_lambda, r.cross_lambda})
            QVERIFY(l.gt(0).all().item<bool>() && l.lt(1).all().item<bool>());

        auto refused = [&](const std::string& spec, const ModelConfig& cfg) {
            return errorOf([&] { validate(specFromJsonText(spec, "spec"), cfg); });
        };
        QVERIFY(
            refused(R"({"modifications":[{"form":"lora","site":"W_1","r":2,"stacks":["cross"]}]})", c)
                .find("modifications[0].stacks[0]: cross-attention has attention sites only, not 'W_1'") !=
            std::string::npos);
        QVERIFY(
            refused(
                R"({"modifications":[{"form":"lora","site":"W_q","r":2,"stacks":["decoder","decoder"]}]})", c)
                .find("'decoder' is listed twice") != std::string::npos);
        QVERIFY(refused(R"({"modifications":[{"form":"lora","site":"W_q","r":2,"stacks":["encoder"]}]})",
                        ModelConfig{})
                    .find("only an encoder–decoder backbone has stacks") != std::string::npos);
        QVERIFY(refused(R"({"modifications":[{"form":"lora","site":"W_q","r":2,"stacks":["cross"]}]})", c) ==
                "(no error)");
        QVERIFY(
            refused(R"({"modifications":[{"form":"prompt","site":"input","l":2,"stacks":["decoder"]}]})", c)
                .find("encoder's input") != std::string::npos);
        ModelConfig shallow = c;
        shallow.decoder_layers = 1;
        QVERIFY(refused(R"({"modifications":[{"form":"lora","site":"W_q","r":2,"layers":[1]}]})", shallow)
                    .find("layers 0..0") != std::string::npos);
        QVERIFY(
            refused(
                R"({"modifications":[{"form":"lora","site":"W_q","r":2,"layers":[1],"stacks":["encoder"]}]})",
                shallow) == "(no error)");
        QVERIFY(refused(R"({"modifications":[{"form":"lora","site":"W_q","r":2,"stacks":["cross"]},
                                             {"form":"lora","site":"W_q","r":4,"stacks":["encoder","decoder"]}]})",
                        c) == "(no error)");
    }

    // A run on an encoder–decoder exports in the native format and imports onto a fresh backbone with the
    // same outputs; Hugging Face PEFT's format, which has no adapters, is refused saying why.
    void nativeAdaptersRoundTrip() {
        const ModelConfig c = tinyBart(true);
        const Spec s = specFromJsonText(
            R"({"name":"mam-cross","modifications":[
                 {"form":"prefix","site":"head_attention","l":3,"stacks":["decoder","cross"]},
                 {"form":"adapter","site":"ffn","r":4,"composition":"scaled","scale":4},
                 {"form":"lora","site":"W_v","r":2,"stacks":["cross"]}]})",
            "spec");
        Transformer a = makeRandomBackbone(c, 4);
        a->applySpec(s);
        {
            torch::NoGradGuard ng;
            for (auto& p : a->trainableParameters())
                p.normal_(0.0, 0.3);
        }
        const fs::path dir = freshDir("adapter");
        exportAdapter(dir.string(), "native", a, "bart", "", true);
        Transformer b = makeRandomBackbone(c, 4);
        const AdapterInfo info = importAdapter(dir.string(), b, "bart");
        QCOMPARE(json(info.spec), json(s));
        torch::NoGradGuard ng;
        a->eval();
        b->eval();
        ForwardOptions fo;
        fo.cls = true;
        fo.decoder_ids = row({2, 9, 10});
        const ForwardResult ra = a->forward(row({5, 6, 7, 8}), {}, {}, fo),
                            rb = b->forward(row({5, 6, 7, 8}), {}, {}, fo);
        QVERIFY(torch::equal(ra.lm_logits, rb.lm_logits));
        QVERIFY(torch::equal(ra.cls_logits, rb.cls_logits));
        const std::string refused =
            errorOf([&] { exportAdapter((dir / "hf").string(), "hf-peft", a, "bart", "", false); });
        QVERIFY2(refused.find("neither LoRA nor prefix tuning") != std::string::npos, refused.c_str());
        QVERIFY(!fs::exists(dir / "hf"));
    }

    // Hugging Face PEFT LoRA on BART and mBART, written here in PEFT's layout
    // (base_model.model.model.<module>, target_modules as suffixes, rank_pattern): imported, the logits are
    // the reference's with W + (lora_alpha / r)·B·A merged into the Hugging Face weights; exported again, the
    // same tensors under the same keys, the same target_modules and rank_pattern.
    void peftLoraOnBartMatchesMergedWeights_data() {
        QTest::addColumn<QString>("type");
        QTest::newRow("bart, F32, post-LN") << QStringLiteral("bart");
        QTest::newRow("mbart, F16, pre-LN") << QStringLiteral("mbart");
    }
    void peftLoraOnBartMatchesMergedWeights() {
        QFETCH(QString, type);
        const bool mbart = type == QStringLiteral("mbart");
        const std::string family = type.toStdString(), dtype = mbart ? "F16" : "F32";
        const fs::path dir = freshDir("peft-lora-" + family);
        const int64_t vocab = mbart ? 150 + 1 + 25 + 1 : kVocab;  // mBART: its SentencePiece layout
        const Weights w = bartWeights("model.", vocab, 34, mbart);
        writeSafetensors(dir / "model.safetensors", w, dtype);
        writeJson(dir / "config.json", bartConfig(family, vocab, 32));
        if (mbart)
            fs::copy_file(std::string(PEFT_TEST_DATA) + "/sentencepiece/bpe-150.model",
                          dir / "sentencepiece.bpe.model");
        else
            writeBpeTokenizer(dir, true);
        HfModel h = loadHfModel(dir.string());

        BartRef ref = reference(w, "model.", mbart, dtype);
        Weights lora;
        const std::vector<std::string> attentions = {
            "encoder.layers.N.self_attn", "decoder.layers.N.self_attn", "decoder.layers.N.encoder_attn"};
        for (int l = 0; l < kL; ++l)
            for (const std::string& pattern : attentions)
                for (const std::string proj : {"q_proj", "v_proj"}) {
                    const std::string a =
                        std::string(pattern).replace(pattern.find('N'), 1, std::to_string(l));
                    const std::string module = a + "." + proj;
                    const int64_t r = a.find("encoder_attn") != std::string::npos && proj == "v_proj" ? 2 : 4;
                    const T A = rnd({r, kD}, 0.3), B = rnd({kD, r}, 0.3);
                    lora["base_model.model.model." + module + ".lora_A.weight"] = A;
                    lora["base_model.model.model." + module + ".lora_B.weight"] = B;
                    T& W = ref.w.at("model." + module + ".weight");
                    W = W + (8.0 / double(r)) * B.to(torch::kDouble).matmul(A.to(torch::kDouble));
                }
        const fs::path ad = freshDir("peft-lora-" + family + "-in");
        writeSafetensors(ad / "adapter_model.safetensors", lora, "F32");
        writeJson(ad / "adapter_config.json", {{"peft_type", "LORA"},
                                               {"task_type", "SEQ_2_SEQ_LM"},
                                               {"r", 4},
                                               {"lora_alpha", 8},
                                               {"lora_dropout", 0.0},
                                               {"target_modules", {"q_proj", "v_proj"}},
                                               {"rank_pattern", {{"encoder_attn.v_proj", 2}}},
                                               {"alpha_pattern", json::object()},
                                               {"bias", "none"}});
        const AdapterInfo info = importAdapter(ad.string(), h.model, family);
        // W_q everywhere at r 4; W_v in both self-attentions at r 4, in cross-attention at r 2 (scale 8 / 2).
        QCOMPARE(info.spec.modifications.size(), size_t(3));
        for (const Modification& m : info.spec.modifications) {
            QCOMPARE(m.form, Form::LoRA);
            const std::vector<Stack> stacks = stacksOf(m, h.model->config());
            if (m.site == Site::Wq) QCOMPARE(stacks.size(), size_t(3));
            if (m.site == Site::Wv && m.r == 4)
                QVERIFY((stacks == std::vector<Stack>{Stack::Encoder, Stack::Decoder}));
            if (m.site == Site::Wv && m.r == 2) {
                QVERIFY((stacks == std::vector<Stack>{Stack::Cross}));
                QCOMPARE(m.scale, 4.0);
            }
        }
        expectMatchesReference(h.model, ref, {0, 9, 17, 5, 2}, {2, 0, 9, 17, 5},
                               family + " + PEFT LoRA vs the merged reference");

        const fs::path out = fs::temp_directory_path() / ("peft-test-s2s-peft-lora-" + family + "-out");
        fs::remove_all(out);
        exportAdapter(out.string(), "hf-peft", h.model, family, dir.string(), false);
        const auto back = readSafetensors((out / "adapter_model.safetensors").string()).tensors;
        QCOMPARE(back.size(), lora.size());
        for (const auto& [k, t] : lora) {
            QVERIFY2(back.count(k), k.c_str());
            QVERIFY2(torch::equal(back.at(k), t), k.c_str());
        }
        const json cfg = json::parse(std::ifstream(out / "adapter_config.json"));
        QCOMPARE(cfg["task_type"], json("SEQ_2_SEQ_LM"));
        QCOMPARE(cfg["target_modules"], json({"q_proj", "v_proj"}));
        QCOMPARE(cfg["layers_to_transform"], json(nullptr));
        QCOMPARE(cfg["r"], json(4));
        QCOMPARE(cfg["lora_alpha"].get<double>(), 8.0);
        QCOMPARE(cfg["rank_pattern"], json({{"encoder_attn.v_proj", 2}}));
        QCOMPARE(cfg["alpha_pattern"], json::object());
    }

    // LoRAs on some stacks or layers only: PEFT must pick exactly the trained modules. The test applies
    // PEFT's two rules to every module name of a BART (a string target_modules full-matches as a regular
    // expression; a list matches as name suffixes, then keeps layers_to_transform, the layer being the number
    // after the last "<name>."), then imports the folder onto a fresh backbone: the same spec, the same
    // logits.
    void peftLoraTargetsPickExactlyTheTrainedModules() {
        ModelConfig c = tinyBart(false);
        c.n_layers = c.decoder_layers = 3;
        std::vector<std::string> all;  // every module PEFT could put a LoRA on, as named in the task model
        for (int l = 0; l < 3; ++l)
            for (const std::string stack : {"encoder", "decoder"}) {
                const std::string p = "model." + stack + ".layers." + std::to_string(l) + ".";
                for (const std::string a : {"self_attn", "encoder_attn"}) {
                    if (stack == "encoder" && a == "encoder_attn") continue;
                    for (const char* proj : {".q_proj", ".k_proj", ".v_proj", ".out_proj"})
                        all.push_back(p + a + proj);
                }
                all.push_back(p + "fc1");
                all.push_back(p + "fc2");
            }
        const std::vector<std::pair<std::string, std::string>> cases = {
            {R"({"name":"enc-q-cross-o","modifications":[
                 {"form":"lora","site":"W_q","r":2,"stacks":["encoder"],"layers":[1]},
                 {"form":"lora","site":"W_o","r":2,"stacks":["cross"]}]})",
             "regex"},
            {R"({"name":"v-w2-layers-0-2","modifications":[{"form":"lora","site":"W_v","r":2,"layers":[0,2]},
                 {"form":"lora","site":"W_2","r":4,"layers":[0,2]}]})",
             "list"},
            {R"({"name":"decoder-w2","modifications":[{"form":"lora","site":"W_v","r":2},
                 {"form":"lora","site":"W_2","r":2,"stacks":["decoder"]}]})",
             "regex"}};
        for (const auto& [text, form] : cases) {
            const Spec s = specFromJsonText(text, "spec");
            Transformer a = makeRandomBackbone(c, 4);
            a->applySpec(s);
            {
                torch::NoGradGuard ng;
                for (auto& p : a->trainableParameters())
                    p.normal_(0.0, 0.3);
            }
            const fs::path out = fs::temp_directory_path() / ("peft-test-s2s-targets-" + form);
            fs::remove_all(out);
            exportAdapter(out.string(), "hf-peft", a, "bart", "", false);
            const json cfg = json::parse(std::ifstream(out / "adapter_config.json"));
            std::set<std::string> trained;
            for (const auto& kv : readSafetensors((out / "adapter_model.safetensors").string()).tensors) {
                const std::string k = kv.first.substr(std::string("base_model.model.").size());
                trained.insert(k.substr(0, k.size() - std::string(".lora_A.weight").size()));
            }
            std::set<std::string> picked;
            if (cfg["target_modules"].is_string()) {
                QCOMPARE(form, std::string("regex"));
                const std::regex re(cfg["target_modules"].get<std::string>());
                for (const auto& name : all)
                    if (std::regex_match(name, re)) picked.insert(name);
            } else {
                QCOMPARE(form, std::string("list"));
                std::set<int64_t> layers;
                for (const auto& l : cfg["layers_to_transform"])
                    layers.insert(l.get<int64_t>());
                const std::regex layerOf(R"(.*\.[^.]*\.(\d+)\..*)");
                for (const auto& name : all)
                    for (const auto& t : cfg["target_modules"]) {
                        const std::string suffix = "." + t.get<std::string>();
                        std::smatch m;
                        if (name.size() > suffix.size() &&
                            name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0 &&
                            std::regex_match(name, m, layerOf) && layers.count(std::stoll(m[1])))
                            picked.insert(name);
                    }
            }
            qInfo("%s: target_modules %s, layers_to_transform %s", form.c_str(),
                  cfg["target_modules"].dump().c_str(), cfg["layers_to_transform"].dump().c_str());
            QVERIFY2(picked == trained, cfg["target_modules"].dump().c_str());

            Transformer b = makeRandomBackbone(c, 4);
            const AdapterInfo info = importAdapter(out.string(), b, "bart");
            auto where = [&](const Spec& sp) {  // each LoRA's site, rank, stacks and layers
                std::set<std::string> sites;
                for (const Modification& m : sp.modifications) {
                    std::string k = std::string(toString(m.site)) + " r" + std::to_string(m.r);
                    for (Stack st : stacksOf(m, c))
                        k += std::string(" ") + toString(st);
                    for (int64_t l : m.layers)
                        k += " " + std::to_string(l);
                    sites.insert(k);
                }
                return sites;
            };
            QVERIFY(where(info.spec) == where(s));
            torch::NoGradGuard ng;
            a->eval();
            b->eval();
            ForwardOptions fo;
            fo.decoder_ids = row({2, 9, 10});
            QVERIFY(torch::allclose(a->forward(row({5, 6, 7, 8}), {}, {}, fo).lm_logits,
                                    b->forward(row({5, 6, 7, 8}), {}, {}, fo).lm_logits, 1e-5, 1e-6));
        }
    }

    // PEFT's prefix tuning of BART (SEQ_2_SEQ_LM), prompt_embeddings written here: the test runs PEFT's
    // get_prompt itself (view [1, l, 2L, H, d_h], doubled along the rows, permuted to [4L, 1, H, l, d_h],
    // split in fours; transformers keeps each four's self-attention pair and drops the cross pair) and feeds
    // the result to the reference as the decoder's past keys / values. The workbench's logits match, with
    // the cache too; the encoder and cross-attention get no prefix; export writes the rows back; a prefix
    // that the layout cannot hold (tied layers apart, a prefix on the encoder) is refused naming why.
    void peftPrefixOnBartReachesTheDecoder() {
        const fs::path dir = freshDir("peft-prefix-bart");
        const Weights w = bartWeights("model.", kVocab, 34, false);
        writeSafetensors(dir / "model.safetensors", w, "F32");
        writeJson(dir / "config.json", bartConfig("bart", kVocab, 32));
        writeBpeTokenizer(dir, true);
        HfModel h = loadHfModel(dir.string());

        const int64_t l = 3, dh = kD / kH;
        const T E = rnd({l, 2 * kL * kD}, 0.5);
        const fs::path ad = freshDir("peft-prefix-bart-in");
        writeSafetensors(ad / "adapter_model.safetensors", {{"prompt_embeddings", E}}, "F32");
        writeJson(ad / "adapter_config.json", {{"peft_type", "PREFIX_TUNING"},
                                               {"task_type", "SEQ_2_SEQ_LM"},
                                               {"num_virtual_tokens", l},
                                               {"num_layers", kL},
                                               {"token_dim", kD},
                                               {"num_attention_heads", kH},
                                               {"num_transformer_submodules", 2},
                                               {"encoder_hidden_size", kD},
                                               {"prefix_projection", false}});
        const AdapterInfo info = importAdapter(ad.string(), h.model, "bart");
        QCOMPARE(info.spec.modifications.size(), size_t(1));
        QVERIFY(
            (stacksOf(info.spec.modifications[0], h.model->config()) == std::vector<Stack>{Stack::Decoder}));

        T pkv = E.reshape({1, l, 2 * kL, kH, dh});
        const std::vector<T> fours = torch::cat({pkv, pkv}, 2).permute({2, 0, 3, 1, 4}).split(4);
        BartRef ref = reference(w, "model.", false, "F32");
        auto asRows = [&](const T& t) { return t[0].permute({1, 0, 2}).reshape({l, kD}).to(torch::kDouble); };
        for (int j = 0; j < kL; ++j)
            ref.past.push_back({asRows(fours[size_t(j)][0]), asRows(fours[size_t(j)][1])});
        // (the encoder's output is the reference's without a prefix)
        expectMatchesReference(h.model, ref, {0, 9, 17, 5, 2}, {2, 0, 9, 17, 5}, "bart + PEFT prefix");

        const fs::path out = fs::temp_directory_path() / "peft-test-s2s-peft-prefix-out";
        fs::remove_all(out);
        exportAdapter(out.string(), "hf-peft", h.model, "bart", dir.string(), false);
        const json cfg = json::parse(std::ifstream(out / "adapter_config.json"));
        QCOMPARE(cfg["num_transformer_submodules"], json(2));
        QCOMPARE(cfg["task_type"], json("SEQ_2_SEQ_LM"));
        const T back = readSafetensors((out / "adapter_model.safetensors").string())
                           .tensors.at("prompt_embeddings")
                           .reshape({l, 2 * kL, kD});
        const T rows = E.reshape({l, 2 * kL, kD});
        // With two layers, both read rows 0 (keys) and 1 (values); rows 2, 3 (the dropped cross pair) are 0.
        QVERIFY(torch::equal(back.narrow(1, 0, 2), rows.narrow(1, 0, 2)));
        QVERIFY(torch::equal(back.narrow(1, 2, 2), torch::zeros({l, 2, kD})));

        {  // layers 0 and 1 share rows in PEFT's layout: once they differ, the export refuses
            torch::NoGradGuard ng;
            h.model->stackBlocks(Stack::Decoder)[1]->attn->head->pk.add_(0.01);
        }
        const std::string apart = errorOf([&] {
            exportAdapter((out / "again").string(), "hf-peft", h.model, "bart", dir.string(), false);
        });
        QVERIFY2(apart.find("decoder layers 0 and 1 one prefix") != std::string::npos, apart.c_str());
        QVERIFY(!fs::exists(out / "again"));

        // Three layers: every row is some layer's, so a trained prefix goes out and back unchanged.
        ModelConfig c = tinyBart(true);
        c.n_layers = c.decoder_layers = 3;
        Transformer a = makeRandomBackbone(c, 6);
        a->applySpec(specFromJsonText(R"({"name":"dec-prefix","modifications":[
            {"form":"prefix","site":"head_attention","l":4,"stacks":["decoder"]}]})",
                                      "spec"));
        {
            torch::NoGradGuard ng;
            for (auto& p : a->trainableParameters())
                p.normal_(0.0, 0.5);
        }
        fs::remove_all(out);
        exportAdapter(out.string(), "hf-peft", a, "bart", "", false);
        Transformer b = makeRandomBackbone(c, 6);
        importAdapter(out.string(), b, "bart");
        for (size_t j = 0; j < 3; ++j) {
            QVERIFY(torch::equal(a->dec_blocks[j]->attn->head->pk, b->dec_blocks[j]->attn->head->pk));
            QVERIFY(torch::equal(a->dec_blocks[j]->attn->head->pv, b->dec_blocks[j]->attn->head->pv));
        }

        // The paper's prefix on all three attentions has no PEFT counterpart.
        Transformer all3 = makeRandomBackbone(c, 6);
        all3->applySpec(specFromJsonText(
            R"({"name":"p","modifications":[{"form":"prefix","site":"head_attention","l":4}]})", "spec"));
        const std::string everywhere =
            errorOf([&] { exportAdapter((out / "all3").string(), "hf-peft", all3, "bart", "", false); });
        QVERIFY2(everywhere.find("decoder's self-attention only") != std::string::npos, everywhere.c_str());

        // A one-stack prefix layout on BART, a LoRA key past the decoder's layers: refused, named.
        writeJson(ad / "adapter_config.json", {{"peft_type", "PREFIX_TUNING"},
                                               {"num_virtual_tokens", l},
                                               {"num_layers", kL},
                                               {"token_dim", kD},
                                               {"num_attention_heads", kH},
                                               {"num_transformer_submodules", 1}});
        HfModel fresh = loadHfModel(dir.string());
        const std::string one = errorOf([&] { importAdapter(ad.string(), fresh.model, "bart"); });
        QVERIFY2(one.find("num_transformer_submodules") != std::string::npos, one.c_str());
        writeSafetensors(
            ad / "adapter_model.safetensors",
            {{"base_model.model.model.decoder.layers.7.self_attn.q_proj.lora_A.weight", rnd({2, kD})},
             {"base_model.model.model.decoder.layers.7.self_attn.q_proj.lora_B.weight", rnd({kD, 2})}},
            "F32");
        writeJson(ad / "adapter_config.json", {{"peft_type", "LORA"}, {"r", 2}, {"lora_alpha", 4}});
        const std::string past = errorOf([&] { importAdapter(ad.string(), fresh.model, "bart"); });
        QVERIFY2(past.find("decoder.layers.7.self_attn.q_proj") != std::string::npos, past.c_str());
        QVERIFY(!fresh.model->hasSpec());
    }

    // Every preset builds, counts and trains a few steps on a tiny random BART (post-LN) and mBART (pre-LN)
    // by teacher forcing; greedy and beam decoding give the same tokens with the cache as without.
    void everyPresetTrainsAndDecodes() {
        const Dataset data = copyTask();
        for (bool preLn : {false, true}) {
            ModelConfig c = tinyBart(preLn);
            c.forced_bos_id = preLn ? 7 : -1;
            for (const auto& p : presets()) {
                const std::string what = p.id + (preLn ? " (pre-LN)" : " (post-LN)");
                Transformer m = makeRandomBackbone(c, 3);
                const Spec s = resolvePreset(p, c);
                m->applySpec(s);
                const ParamReport rep = countParams(s, c);
                QVERIFY2(numel(m->trainableParameters()) == rep.trained + rep.head, what.c_str());
                std::vector<T> before;
                for (const T& t : m->trainableParameters())
                    before.push_back(t.detach().clone());

                TrainConfig tc;
                tc.steps = 3;
                tc.batch_size = 4;
                tc.eval_every = 3;
                tc.max_eval_examples = 4;
                tc.lr = 1e-2;
                tc.threads = 1;
                tc.decode_eval = false;
                tc.eos_id = 2;
                tc.pad_id = 1;
                const TrainResult r = Trainer(m, data, tc).run();
                QVERIFY2(r.status == RunStatus::Finished, (what + ": " + r.message).c_str());
                bool changed = false;
                const auto after = m->trainableParameters();
                for (size_t i = 0; i < after.size(); ++i)
                    changed = changed || !torch::equal(after[i], before[i]);
                QVERIFY2(changed, what.c_str());
                for (const auto& pt : r.history)
                    QVERIFY2(std::isfinite(pt.value), what.c_str());

                m->eval();
                for (int beam : {1, 3}) {
                    GenerateOptions go;
                    go.beam_size = beam;
                    go.max_new_tokens = 6;
                    go.no_repeat_ngram = 2;
                    go.eos_id = 2;
                    go.min_new_tokens = 2;
                    go.kv_cache = true;
                    const auto cached = generate(m, data.dev[0].ids, go, 1);
                    go.kv_cache = false;
                    const auto whole = generate(m, data.dev[0].ids, go, 1);
                    QVERIFY2(cached == whole, (what + " beam " + std::to_string(beam)).c_str());
                    QVERIFY2(cached.size() >= 2, what.c_str());
                    if (preLn) QVERIFY2(cached.front() == 7, what.c_str());  // forced BOS
                }
            }
        }
    }

    // Teacher forcing computes the loss a hand-built batch gives: sources to the encoder, [start] + target to
    // the decoder, target + </s> as labels.
    void teacherForcingBatch() {
        Example a, b;
        a.ids = {5, 6, 7};
        a.target = {8, 9};
        b.ids = {5};
        b.target = {10, 11, 12};
        const Batch batch = makeBatch({&a, &b}, TaskKind::Generation, 1, 2, 128, 2, -1);
        QCOMPARE(batch.ids.sizes().vec(), (std::vector<int64_t>{2, 3}));
        QCOMPARE(ints(batch.dec_ids[0]), (std::vector<int64_t>{2, 8, 9, 1}));
        QCOMPARE(ints(batch.dec_ids[1]), (std::vector<int64_t>{2, 10, 11, 12}));
        QCOMPARE(ints(batch.labels[0]), (std::vector<int64_t>{8, 9, 2, -100}));
        QCOMPARE(ints(batch.labels[1]), (std::vector<int64_t>{10, 11, 12, 2}));
        QCOMPARE(ints(batch.dec_mask[0]), (std::vector<int64_t>{1, 1, 1, 0}));
        const Batch forced = makeBatch({&a}, TaskKind::Generation, 1, 2, 128, 2, 7);
        QCOMPARE(ints(forced.dec_ids[0]), (std::vector<int64_t>{2, 7, 8, 9}));
        QCOMPARE(ints(forced.labels[0]), (std::vector<int64_t>{7, 8, 9, 2}));
    }

    // An encoder–decoder reads source and target as two sequences of max_length each: a long source keeps its
    // template's ends (BART: <s> … </s>), a long target is cut to leave room for the start token and </s>.
    void longFileRowsAreCutPerSequence() {
        const fs::path dir = freshDir("bart-cut");
        writeBpeTokenizer(dir, true);
        const std::shared_ptr<const TextTokenizer> tok = loadHfTokenizer(dir.string(), "bart");
        FileData data;
        data.seq2seq = true;
        data.strain = {{std::string(40, 'a'), std::string(40, 'b'), 1}, {"abc", "de", 2}};
        const Dataset d = encodeFileData(data, hfEncoder(tok, false, true), 16);
        QCOMPARE(d.train[0].ids.size(), size_t(16));
        QCOMPARE(d.train[0].ids.front(), tok->tokenId("<s>"));
        QCOMPARE(d.train[0].ids.back(), tok->tokenId("</s>"));
        QCOMPARE(d.train[0].target.size(), size_t(14));
        QCOMPARE(generationLength(d.train[0], true), int64_t(16));
        QCOMPARE(d.train[1].ids, tok->encode("abc", std::nullopt).ids);  // short rows untouched
        QCOMPARE(d.train[1].target, tok->encodeIds("de"));
    }

    // peftwb train --model BART --data translation.jsonl --source-lang en --target-lang ro: teacher forcing,
    // decoding and ROUGE / BLEU on the dev split.
    void cliTrainsTranslation() {
        const fs::path dir = freshDir("bart-cli");
        writeSafetensors(dir / "model.safetensors", bartWeights("model.", kVocab, 258, false), "F32");
        writeJson(dir / "config.json", bartConfig("bart", kVocab, 256));
        writeBpeTokenizer(dir, true);
        const fs::path data = dir / "wmt.jsonl";
        {
            std::ofstream out(data);
            const char* pairs[][2] = {{"the movie", "filmul"},
                                      {"the actor", "actorul"},
                                      {"a story", "o poveste"},
                                      {"the end", "sfarsitul"}};
            for (int i = 0; i < 40; ++i)
                out << json{{"translation", {{"en", pairs[i % 4][0]}, {"ro", pairs[i % 4][1]}}}}.dump()
                    << "\n";
        }
        for (const std::string preset : {"lora", "prefix", "mam"}) {
            std::ostringstream out, err;
            const int rc = runCli(
                {"train", "--model",       dir.string(), "--data",       data.string(), "--source-lang",
                 "en",    "--target-lang", "ro",         "--preset",     preset,        "--steps",
                 "3",     "--batch-size",  "4",          "--eval-every", "3",           "--max-eval",
                 "4",     "--threads",     "1",          "--json",       "--quiet"},
                out, err);
            QVERIFY2(rc == 0, (preset + ": " + err.str()).c_str());
            const json j = json::parse(out.str());
            QCOMPARE(j["status"].get<std::string>(), std::string("finished"));
            QVERIFY2(j.dump().find("rougeL") != std::string::npos, j.dump().c_str());
        }

        // Classification on an encoder–decoder: the head reads the decoder's state at the input's </s>.
        {
            std::ostringstream out, err;
            const int rc =
                runCli({"train", "--model",      dir.string(), "--task",       "sentiment", "--preset",
                        "lora",  "--steps",      "3",          "--train-size", "32",        "--batch-size",
                        "8",     "--eval-every", "3",          "--max-eval",   "16",        "--threads",
                        "1",     "--json",       "--quiet"},
                       out, err);
            QVERIFY2(rc == 0, err.str().c_str());
            const json j = json::parse(out.str());
            QCOMPARE(j["status"].get<std::string>(), std::string("finished"));
            const double acc = j["best_dev_metric"].get<double>();
            QVERIFY(acc >= 0.0 && acc <= 1.0);
        }

        // The same through a project (record, queue, run), then λ of each attention kind of the run.
        const fs::path project = dir / "wmt.peftproj";
        auto cli = [](std::vector<std::string> args) {
            std::ostringstream out, err;
            const int rc = runCli(args, out, err);
            if (rc != 0) qWarning("%s", err.str().c_str());
            return rc;
        };
        QCOMPARE(cli({"project", "new", project.string(), "--model", dir.string()}), 0);
        QCOMPARE(cli({"project", "import", project.string(), "--data", data.string(), "--source-lang", "en",
                      "--target-lang", "ro"}),
                 0);
        QCOMPARE(cli({"project", "queue", project.string(), "--preset", "prefix", "--dataset", "1", "--steps",
                      "2"}),
                 0);
        QCOMPARE(cli({"project", "run", project.string()}), 0);
        const LambdaMap enc = lambdaOfRun(project.string(), 1, "the movie");
        QVERIFY(enc.reason.empty() && enc.encoder_decoder);
        QCOMPARE(enc.layers, int64_t(kL));
        QCOMPARE(enc.tokens.front(), std::string("<s>"));
        for (Stack st : {Stack::Decoder, Stack::Cross}) {
            const LambdaMap lam = lambdaOfRun(project.string(), 1, "the movie", st);
            QVERIFY2(lam.reason.empty(), lam.reason.c_str());
            QCOMPARE(lam.tokens.front(), std::string("</s>"));  // decoder_start, then the input shifted right
            QCOMPARE(lam.tokens.size(), enc.tokens.size());
            QCOMPARE(int64_t(lam.values.size()), lam.layers * lam.heads * int64_t(lam.tokens.size()));
            QVERIFY(lam.values != enc.values);
        }

        // A LoRA run of the project goes out as a PEFT SEQ_2_SEQ_LM adapter and comes back in through
        // `forward --adapter`; the paper's prefix (all three attentions) is refused for PEFT, saying why.
        QCOMPARE(
            cli({"project", "queue", project.string(), "--preset", "lora", "--dataset", "1", "--steps", "2"}),
            0);
        QCOMPARE(cli({"project", "run", project.string()}), 0);
        const fs::path peftDir = dir / "lora-peft";
        QCOMPARE(cli({"export", "--project", project.string(), "--run", "2", "--format", "hf-peft", "--out",
                      peftDir.string()}),
                 0);
        const json ac = json::parse(std::ifstream(peftDir / "adapter_config.json"));
        QCOMPARE(ac["task_type"], json("SEQ_2_SEQ_LM"));
        QCOMPARE(ac["peft_type"], json("LORA"));
        const auto keys = readSafetensors((peftDir / "adapter_model.safetensors").string()).tensors;
        QVERIFY(keys.count("base_model.model.model.decoder.layers.0.encoder_attn.q_proj.lora_A.weight"));
        std::ostringstream fout, ferr;
        QVERIFY2(runCli({"forward", "--model", dir.string(), "--adapter", peftDir.string(), "--text",
                         "the movie", "--json"},
                        fout, ferr) == 0,
                 ferr.str().c_str());
        std::ostringstream eout, eerr;
        QCOMPARE(runCli({"export", "--project", project.string(), "--run", "1", "--format", "hf-peft",
                         "--out", (dir / "prefix-peft").string()},
                        eout, eerr),
                 1);
        QVERIFY2(eerr.str().find("decoder's self-attention only") != std::string::npos, eerr.str().c_str());
    }

    void badFoldersNameTheProblem() {
        const fs::path dir = freshDir("bad");
        const Weights w = bartWeights("model.", kVocab, 34, false);
        writeSafetensors(dir / "model.safetensors", w, "F32");
        writeBpeTokenizer(dir, true);
        auto err = [&](const json& cfg) {
            writeJson(dir / "config.json", cfg);
            return errorOf([&] { loadHfModel(dir.string()); });
        };
        json c = bartConfig("bart", kVocab, 32);
        c["encoder_attention_heads"] = 5;
        c["decoder_attention_heads"] = 5;
        QVERIFY2(err(c).find("config.json: encoder_attention_heads: 5 does not divide d_model 32") !=
                     std::string::npos,
                 err(c).c_str());
        c = bartConfig("bart", kVocab, 32);
        c["decoder_attention_heads"] = 8;
        QVERIFY2(err(c).find("decoder_attention_heads: 8 differs from encoder_attention_heads 4") !=
                     std::string::npos,
                 err(c).c_str());
        c = bartConfig("bart", kVocab, 32);
        c["decoder_layers"] = 3;
        QVERIFY2(err(c).find("config.json: decoder_layers: 3, but") != std::string::npos, err(c).c_str());
        c["decoder_layers"] = 0;
        QVERIFY2(err(c).find("decoder_layers: must be positive") != std::string::npos, err(c).c_str());

        // Decoder layers missing from the weights: listed by name.
        Weights noDecoder;
        for (const auto& [k, t] : w)
            if (k.rfind("model.decoder.layers.", 0) != 0) noDecoder[k] = t;
        writeSafetensors(dir / "model.safetensors", noDecoder, "F32");
        const std::string missing = err(bartConfig("bart", kVocab, 32));
        QVERIFY2(missing.find("missing: dec_blocks.0.") != std::string::npos, missing.c_str());

        // An mBART folder without its SentencePiece model, and with a file that is not one.
        const fs::path mb = freshDir("bad-mbart");
        writeSafetensors(mb / "model.safetensors", bartWeights("model.", 177, 34, true), "F32");
        writeJson(mb / "config.json", bartConfig("mbart", 177, 32));
        const std::string noSp = errorOf([&] { loadHfModel(mb.string()); });
        QVERIFY2(noSp.find("sentencepiece.bpe.model") != std::string::npos, noSp.c_str());
        std::ofstream(mb / "sentencepiece.bpe.model", std::ios::binary) << "not a model at all";
        const std::string notSp = errorOf([&] { loadHfModel(mb.string()); });
        QVERIFY2(notSp.find("sentencepiece.bpe.model: not a SentencePiece model") != std::string::npos,
                 notSp.c_str());
    }
};

QTEST_GUILESS_MAIN(TestSeq2seq)
#include "test_seq2seq.moc"
