// SPDX-License-Identifier: GPL-3.0-or-later
// The unified view's math on the built model, checked against independent computations:
// prefix attention = λ-gated mixture, merged LoRA = unmerged LoRA, zero-initialised deltas leave the
// backbone unchanged, frozen parameters get no gradient, counts equal the model's own parameters, and
// sequential vs parallel insertion differ exactly in the tensor the adapter reads.
#include <QtTest>

#include <torch/torch.h>
#include <map>
#include <nlohmann/json.hpp>

#include "model/transformer.h"
#include "peft/accounting.h"
#include "peft/presets.h"
#include "util/error.h"

using namespace peft;

namespace {

ModelConfig smallConfig(bool causal, bool preLn = true) {
    ModelConfig c;
    c.vocab_size = 50;
    c.d_model = 16;
    c.n_heads = 4;
    c.n_layers = 2;
    c.d_ff = 64;
    c.max_positions = 32;
    c.causal = causal;
    c.pre_ln = preLn;
    c.dropout = 0.0;
    c.attn_dropout = 0.0;
    c.num_labels = 3;
    c.pad_id = 0;
    c.pooling = causal ? Pooling::Last : Pooling::First;
    c.cls_dense = !causal;
    c.type_vocab_size = causal ? 0 : 2;
    return c;
}

Spec parseSpec(const char* text) {
    return specFromJson(nlohmann::json::parse(text));
}

torch::Tensor allowedMask(const torch::Tensor& valid, bool causal) {
    const int64_t B = valid.size(0), T = valid.size(1);
    torch::Tensor a = valid.to(torch::kBool).view({B, 1, 1, T}).expand({B, 1, T, T});
    if (causal) a = a.logical_and(torch::ones({T, T}, torch::kBool).tril().view({1, 1, T, T}));
    return a;
}

/// The additive attention bias the model uses: 0 where allowed, −inf elsewhere.
torch::Tensor toBias(const torch::Tensor& allowed, torch::Dtype dtype) {
    return torch::zeros(allowed.sizes(), dtype).masked_fill(allowed.logical_not(), -INFINITY);
}

double maxAbsDiff(const torch::Tensor& a, const torch::Tensor& b) {
    return (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>();
}

/// Attention of one query over keys/values with a boolean key mask, written out directly.
torch::Tensor attend(const torch::Tensor& q, const torch::Tensor& K, const torch::Tensor& V,
                     const torch::Tensor& keep, double scale) {
    torch::Tensor w = (K.matmul(q) * scale).exp() * keep.to(q.dtype());  // [n]
    return (w / w.sum()).matmul(V);                                      // [d_h]
}

struct Inputs {
    torch::Tensor ids, mask;
};

Inputs sampleInputs(const ModelConfig& c, int64_t B, int64_t T, uint64_t seed) {
    torch::manual_seed(seed);
    torch::Tensor ids = torch::randint(1, c.vocab_size, {B, T}, torch::kLong);
    torch::Tensor mask = torch::ones({B, T}, torch::kLong);
    if (B > 1) mask[1].narrow(0, T - 2, 2).zero_();  // right padding in the second sequence
    return {ids, mask};
}

}  // namespace

class TestPeftModel : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() { torch::set_num_threads(1); }

    // 1. Prefix attention equals (1−λ)·Attn(x W_q, C W_k, C W_v) + λ·Attn(x W_q, P_k, P_v), with
    //    λ = Σ exp(q P_kᵀ) / (Σ exp(q P_kᵀ) + Σ exp(q K_Cᵀ)) under the same mask and 1/√d_h.
    void prefixEqualsGatedMixture_data() {
        QTest::addColumn<bool>("causal");
        QTest::addColumn<bool>("fp64");
        QTest::newRow("causal fp64") << true << true;
        QTest::newRow("bidirectional fp64") << false << true;
        QTest::newRow("causal fp32") << true << false;
        QTest::newRow("bidirectional fp32") << false << false;
    }
    void prefixEqualsGatedMixture() {
        QFETCH(bool, causal);
        QFETCH(bool, fp64);
        const ModelConfig c = smallConfig(causal);
        Transformer m = makeRandomBackbone(c, 11);
        m->applySpec(parseSpec(R"({"modifications":[{"form":"prefix","site":"head_attention","l":5}]})"));
        const auto dtype = fp64 ? torch::kDouble : torch::kFloat;
        m->to(dtype);
        m->eval();
        torch::NoGradGuard ng;

        const int64_t B = 2, T = 6, H = c.n_heads, dh = c.headDim(), l = 5;
        torch::manual_seed(3);
        const torch::Tensor x = torch::randn({B, T, c.d_model}, dtype);
        torch::Tensor valid = torch::ones({B, T}, torch::kLong);
        valid[1][T - 1] = 0;
        valid[1][T - 2] = 0;
        const torch::Tensor allowed = allowedMask(valid, causal);
        Attention& attn = m->blocks[0]->attn;
        const torch::Tensor pk = attn->head->pk, pv = attn->head->pv;
        torch::Tensor lambda;
        const torch::Tensor got = attn->forward(x, toBias(allowed, dtype), pk, pv, &lambda);  // [B, T, d]

        // Independent computation, one batch row, head and query at a time.
        auto lin = [](const torch::Tensor& t, DeltaLinear& L) {
            return t.matmul(L->base->weight.t()) + L->base->bias;
        };
        const torch::Tensor Q = lin(x, attn->q), K = lin(x, attn->k), V = lin(x, attn->v);
        const double scale = 1.0 / std::sqrt(double(dh));
        torch::Tensor heads = torch::zeros({B, T, c.d_model}, dtype);
        torch::Tensor lam = torch::zeros({B, H, T}, dtype);
        for (int64_t b = 0; b < B; ++b)
            for (int64_t h = 0; h < H; ++h) {
                const auto cols = torch::indexing::Slice(h * dh, (h + 1) * dh);
                const torch::Tensor Kh = K[b].index({torch::indexing::Slice(), cols});
                const torch::Tensor Vh = V[b].index({torch::indexing::Slice(), cols});
                const torch::Tensor Pk = pk.index({torch::indexing::Slice(), cols});
                const torch::Tensor Pv = pv.index({torch::indexing::Slice(), cols});
                for (int64_t t = 0; t < T; ++t) {
                    const torch::Tensor q = Q[b][t].index({cols});
                    const torch::Tensor keep = allowed[b][0][t];
                    const double sumP = (Pk.matmul(q) * scale).exp().sum().item<double>();
                    const double sumC = ((Kh.matmul(q) * scale).exp() * keep.to(dtype)).sum().item<double>();
                    const double lmb = sumP / (sumP + sumC);
                    lam[b][h][t] = lmb;
                    const torch::Tensor mix = (1 - lmb) * attend(q, Kh, Vh, keep, scale) +
                                              lmb * attend(q, Pk, Pv, torch::ones({l}, torch::kBool), scale);
                    heads[b][t].index_put_({cols}, mix);
                }
            }
        const torch::Tensor expected = lin(heads, attn->o);
        const double tol = fp64 ? 1e-10 : 1e-5;
        QVERIFY2(maxAbsDiff(got, expected) < tol, std::to_string(maxAbsDiff(got, expected)).c_str());
        QVERIFY2(maxAbsDiff(lambda, lam) < tol, std::to_string(maxAbsDiff(lambda, lam)).c_str());

        // The whole model reports the same λ per layer from its forward.
        const Inputs in = sampleInputs(c, 2, 6, 5);
        ForwardOptions fo;
        fo.capture_lambda = true;
        const ForwardResult r = m->forward(in.ids, in.mask, {}, fo);
        QCOMPARE(r.lambda.sizes().vec(), (std::vector<int64_t>{c.n_layers, 2, H, 6}));
        QVERIFY(r.lambda.gt(0).all().item<bool>());
        QVERIFY(r.lambda.lt(1).all().item<bool>());
    }

    // Prefix without gating and multi-head PA: Δh added per head before W_o.
    void ungatedHeadDeltasAddToHeadOutput_data() {
        QTest::addColumn<QString>("spec");
        QTest::addColumn<bool>("relu");
        QTest::addColumn<double>("s");
        QTest::newRow("prefix, add")
            << R"({"modifications":[{"form":"prefix","site":"head_attention","l":4,"composition":"add"}]})"
            << false << 1.0;
        QTest::newRow("mh_relu, scaled 3")
            << R"({"modifications":[{"form":"mh_relu","site":"head_attention","l":4,"composition":"scaled","scale":3}]})"
            << true << 3.0;
    }
    void ungatedHeadDeltasAddToHeadOutput() {
        QFETCH(QString, spec);
        QFETCH(bool, relu);
        QFETCH(double, s);
        const ModelConfig c = smallConfig(true);
        Transformer m = makeRandomBackbone(c, 2);
        m->applySpec(specFromJson(nlohmann::json::parse(spec.toStdString())));
        m->to(torch::kDouble);
        m->eval();
        torch::NoGradGuard ng;
        const int64_t B = 1, T = 5, dh = c.headDim();
        const torch::Tensor x = torch::randn({B, T, c.d_model}, torch::kDouble);
        const torch::Tensor allowed = allowedMask(torch::ones({B, T}), true);
        Attention& attn = m->blocks[1]->attn;
        const torch::Tensor got =
            attn->forward(x, toBias(allowed, torch::kDouble), attn->head->pk, attn->head->pv, nullptr);

        auto lin = [](const torch::Tensor& t, DeltaLinear& L) {
            return t.matmul(L->base->weight.t()) + L->base->bias;
        };
        const torch::Tensor Q = lin(x, attn->q)[0], K = lin(x, attn->k)[0], V = lin(x, attn->v)[0];
        const double scale = 1.0 / std::sqrt(double(dh));
        torch::Tensor heads = torch::zeros({T, c.d_model}, torch::kDouble);
        for (int64_t h = 0; h < c.n_heads; ++h) {
            const auto cols = torch::indexing::Slice(h * dh, (h + 1) * dh);
            for (int64_t t = 0; t < T; ++t) {
                const torch::Tensor q = Q[t].index({cols});
                const torch::Tensor keep = torch::arange(T).le(t);
                const torch::Tensor base = attend(q, K.index({torch::indexing::Slice(), cols}),
                                                  V.index({torch::indexing::Slice(), cols}), keep, scale);
                const torch::Tensor Pk = attn->head->pk.index({torch::indexing::Slice(), cols});
                const torch::Tensor Pv = attn->head->pv.index({torch::indexing::Slice(), cols});
                const torch::Tensor logits = Pk.matmul(q) * scale;
                const torch::Tensor w = relu ? logits.relu() : logits.softmax(0);
                heads[t].index_put_({cols}, base + s * w.matmul(Pv));
            }
        }
        const torch::Tensor expected = lin(heads.unsqueeze(0), attn->o);
        QVERIFY2(maxAbsDiff(got, expected) < 1e-10, std::to_string(maxAbsDiff(got, expected)).c_str());
    }

    // The attention's hand-written backward (per-head BLAS products) against autograd through plain
    // torch::matmul attention: gradients of the input and of W_q agree in fp64.
    void attentionGradientsMatchReference() {
        const ModelConfig c = smallConfig(true);
        Transformer m = makeRandomBackbone(c, 12);
        m->applySpec(resolvePreset(presetById("full"), c));
        m->to(torch::kDouble);
        m->eval();
        Attention& attn = m->blocks[0]->attn;
        const int64_t B = 2, T = 5, H = c.n_heads, dh = c.headDim();
        torch::manual_seed(4);
        const torch::Tensor x0 = torch::randn({B, T, c.d_model}, torch::kDouble);
        const torch::Tensor w = torch::randn({B, T, c.d_model}, torch::kDouble);
        const torch::Tensor allowed = allowedMask(torch::ones({B, T}), true);

        torch::Tensor x = x0.clone().requires_grad_(true);
        (attn->forward(x, toBias(allowed, torch::kDouble), {}, {}, nullptr) * w).sum().backward();
        const torch::Tensor gx = x.grad().clone(), gq = attn->q->base->weight.grad().clone();
        attn->q->base->weight.mutable_grad() = torch::Tensor();

        torch::Tensor xr = x0.clone().requires_grad_(true);
        auto lin = [](const torch::Tensor& t, DeltaLinear& L) {
            return t.matmul(L->base->weight.t()) + L->base->bias;
        };
        auto heads = [&](const torch::Tensor& t) { return t.view({B, T, H, dh}).permute({0, 2, 1, 3}); };
        const torch::Tensor q = heads(lin(xr, attn->q)), k = heads(lin(xr, attn->k)),
                            v = heads(lin(xr, attn->v));
        torch::Tensor logits = torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(double(dh));
        logits = logits.masked_fill(allowed.logical_not(), -INFINITY);
        const torch::Tensor o =
            torch::matmul(torch::softmax(logits, -1), v).permute({0, 2, 1, 3}).reshape({B, T, -1});
        (lin(o, attn->o) * w).sum().backward();
        QVERIFY2(maxAbsDiff(gx, xr.grad()) < 1e-10, std::to_string(maxAbsDiff(gx, xr.grad())).c_str());
        QVERIFY2(maxAbsDiff(gq, attn->q->base->weight.grad()) < 1e-10, "dL/dW_q");
    }

    // 2. A LoRA merged into its weight equals the unmerged forward.
    void mergedLoraEqualsUnmerged() {
        const ModelConfig c = smallConfig(true);
        Transformer m = makeRandomBackbone(c, 4);
        m->applySpec(parseSpec(R"({"modifications":[
            {"form":"lora","site":"W_q","r":3,"alpha":6,"init":"bert"},
            {"form":"lora","site":"W_v","r":3,"composition":"learned_scale","scale":0.7,"init":"bert"},
            {"form":"lora","site":"W_o","r":2,"composition":"add","init":"bert"},
            {"form":"lora","site":"W_1","r":4,"alpha":8,"init":"bert"},
            {"form":"lora","site":"W_2","r":4,"alpha":2,"init":"bert"}]})"));
        m->eval();
        torch::NoGradGuard ng;
        for (auto& blk : m->blocks)
            blk->w2->lora->B.normal_(0.0, 0.3);  // make every Δ visibly non-zero
        const Inputs in = sampleInputs(c, 2, 7, 9);
        const torch::Tensor before = m->forward(in.ids, in.mask).lm_logits;
        const int64_t trainableBefore = numel(m->trainableParameters());
        m->mergeLora();
        const torch::Tensor after = m->forward(in.ids, in.mask).lm_logits;
        QVERIFY2(maxAbsDiff(before, after) < 1e-5, std::to_string(maxAbsDiff(before, after)).c_str());
        QVERIFY(maxAbsDiff(before, makeRandomBackbone(c, 4)->forward(in.ids, in.mask).lm_logits) > 1e-3);
        for (auto& blk : m->blocks)
            QVERIFY(!blk->attn->q->hasLora());
        QVERIFY(trainableBefore > headParamCount(c));
        QCOMPARE(numel(m->trainableParameters()), headParamCount(c));  // only the task head is left to train
        QVERIFY(m->deltaRecords().empty());
    }

    // 3. Every zero-initialised delta leaves the model's output equal to the backbone's at step 0.
    void zeroInitDeltasKeepBackboneOutput_data() {
        QTest::addColumn<QString>("spec");
        QTest::addColumn<bool>("causal");
        const char* specs[] = {
            R"({"modifications":[{"form":"lora","site":"W_q","r":4},{"form":"lora","site":"W_v","r":4}]})",
            R"({"modifications":[{"form":"lora","site":"W_k","r":2},{"form":"lora","site":"W_o","r":2},
                                 {"form":"lora","site":"W_1","r":2},{"form":"lora","site":"W_2","r":2}]})",
            R"({"modifications":[{"form":"lora","site":"W_q","r":2,"composition":"learned_gate"}]})",
            R"({"modifications":[{"form":"adapter","site":"ffn","r":4,"init":"lora","composition":"scaled","scale":4}]})",
            R"({"modifications":[{"form":"adapter","site":"ffn","r":4,"init":"lora","insertion":"sequential",
                                  "layernorm":"in"}]})",
            R"({"modifications":[{"form":"adapter","site":"attention","r":4,"init":"lora","layernorm":"out",
                                  "activation":"gelu","composition":"learned_scale","scale":2}]})",
            R"({"modifications":[{"form":"adapter","site":"attention","r":3,"init":"lora","insertion":"sequential",
                                  "activation":"tanh","composition":"learned_gate","layers":[1]}]})",
            R"({"modifications":[{"form":"ia3","site":"attention"},{"form":"ia3","site":"ffn"}]})",
            R"({"train_base":"biases"})",
            R"({"train_base":"all"})",
        };
        for (bool causal : {true, false})
            for (size_t i = 0; i < std::size(specs); ++i)
                QTest::addRow("%s spec %zu", causal ? "causal" : "bidirectional", i)
                    << QString(specs[i]) << causal;
    }
    void zeroInitDeltasKeepBackboneOutput() {
        QFETCH(QString, spec);
        QFETCH(bool, causal);
        const ModelConfig c = smallConfig(causal, causal);
        Transformer base = makeRandomBackbone(c, 21);
        Transformer m = makeRandomBackbone(c, 21);
        m->applySpec(specFromJson(nlohmann::json::parse(spec.toStdString())));
        base->eval();
        m->eval();
        torch::NoGradGuard ng;
        const Inputs in = sampleInputs(c, 2, 8, 1);
        ForwardOptions fo;
        fo.cls = true;
        const ForwardResult a = base->forward(in.ids, in.mask, {}, fo),
                            b = m->forward(in.ids, in.mask, {}, fo);
        QVERIFY2(maxAbsDiff(a.lm_logits, b.lm_logits) < 1e-6,
                 std::to_string(maxAbsDiff(a.lm_logits, b.lm_logits)).c_str());
        QVERIFY(maxAbsDiff(a.cls_logits, b.cls_logits) < 1e-6);
    }

    // 4. After backward, frozen parameters have no gradient; after an optimizer step only trainable ones
    // changed.
    void frozenParametersGetNoGradient_data() {
        QTest::addColumn<QString>("id");
        for (const auto& p : presets())
            QTest::newRow(p.id.c_str()) << QString::fromStdString(p.id);
    }
    void frozenParametersGetNoGradient() {
        QFETCH(QString, id);
        const ModelConfig c = smallConfig(true);
        Transformer m = makeRandomBackbone(c, 5);
        m->applySpec(resolvePreset(presetById(id.toStdString()), c));
        m->train();
        const Inputs in = sampleInputs(c, 2, 6, 2);
        ForwardOptions fo;
        fo.cls = true;
        const ForwardResult r = m->forward(in.ids, in.mask, {}, fo);
        (r.lm_logits.pow(2).mean() + r.cls_logits.pow(2).mean()).backward();

        std::map<std::string, torch::Tensor> before;
        int64_t trainable = 0;
        for (const auto& p : m->named_parameters()) {
            before[p.key()] = p.value().detach().clone();
            if (p.value().requires_grad()) {
                trainable += p.value().numel();
                QVERIFY2(p.value().grad().defined(), p.key().c_str());
            } else {
                QVERIFY2(!p.value().grad().defined(),
                         ("frozen parameter has a gradient: " + p.key()).c_str());
            }
        }
        const ParamReport rep = countParams(m->spec(), c);
        QCOMPARE(trainable, rep.trained + rep.head);

        torch::optim::AdamW opt(m->trainableParameters(), torch::optim::AdamWOptions(0.05).weight_decay(0.1));
        opt.step();
        int changed = 0;
        for (const auto& p : m->named_parameters()) {
            const bool same = torch::equal(before[p.key()], p.value().detach());
            if (!p.value().requires_grad()) QVERIFY2(same, ("frozen parameter changed: " + p.key()).c_str());
            changed += same ? 0 : 1;
        }
        QVERIFY(changed > 0);
    }

    // 5. The analytic counts equal the built model's own parameters, module by module and layer by layer.
    void countsEqualBuiltModel_data() {
        QTest::addColumn<QString>("id");
        for (const auto& p : presets())
            QTest::newRow(p.id.c_str()) << QString::fromStdString(p.id);
    }
    void countsEqualBuiltModel() {
        QFETCH(QString, id);
        for (bool causal : {true, false}) {
            const ModelConfig c = smallConfig(causal, causal);
            Transformer m = makeRandomBackbone(c, 1);
            QCOMPARE(numel(m->parameters()), backboneParamCount(c) + headParamCount(c));
            m->applySpec(resolvePreset(presetById(id.toStdString()), c));
            const ParamReport rep = countParams(m->spec(), c);
            std::map<std::pair<std::string, int64_t>, int64_t> analytic, built;
            for (const auto& mc : rep.modules)
                analytic[{mc.name, mc.layer}] += mc.trained;
            for (const auto& rec : m->deltaRecords())
                built[{rec.name, rec.layer}] += numel(rec.params);
            QCOMPARE(built.size(), analytic.size());
            for (const auto& [key, n] : analytic)
                QVERIFY2(built[key] == n, (key.first + " layer " + std::to_string(key.second) + ": built " +
                                           std::to_string(built[key]) + " vs counted " + std::to_string(n))
                                              .c_str());
            QCOMPARE(numel(m->trainableParameters()), rep.trained + rep.head);
        }
    }

    // 6a. A hand-computed adapter: d = 2, r = 1, ReLU.
    //     W_down = [1, −1], b_d = 0.5; W_up = [2, 3]ᵀ, b_u = [0, 1]; x = [1, 2], h = [3, −1].
    //     Sequential reads h: ReLU(3 + 1 + 0.5) = 4.5 → Δ = [9, 14.5] → h + Δ = [12, 13.5].
    //     Parallel reads x:   ReLU(1 − 2 + 0.5) = 0   → Δ = [0, 1]    → h + Δ = [3, 0].
    void handComputedAdapter() {
        for (bool sequential : {true, false}) {
            Modification md;
            md.form = Form::Adapter;
            md.site = Site::FFN;
            md.r = 1;
            md.insertion = sequential ? Insertion::Sequential : Insertion::Parallel;
            SublayerDelta sd(md, 2);
            torch::NoGradGuard ng;
            sd->adapter->down->weight.copy_(torch::tensor({{1.0f, -1.0f}}));
            sd->adapter->down->bias.copy_(torch::tensor({0.5f}));
            sd->adapter->up->weight.copy_(torch::tensor({{2.0f}, {3.0f}}));
            sd->adapter->up->bias.copy_(torch::tensor({0.0f, 1.0f}));
            const torch::Tensor out = sd->apply(torch::tensor({1.0f, 2.0f}), torch::tensor({3.0f, -1.0f}));
            const torch::Tensor expected =
                sequential ? torch::tensor({12.0f, 13.5f}) : torch::tensor({3.0f, 0.0f});
            QVERIFY2(torch::allclose(out, expected), sequential ? "sequential" : "parallel");
        }
    }

    // 6b. In the block, sequential and parallel insertion of the same adapter differ exactly in what it
    // reads:
    //     the sublayer's output h, or the sublayer's input x as the sublayer reads it.
    void insertionFormsReadTheRightTensor_data() {
        QTest::addColumn<bool>("preLn");
        QTest::addColumn<QString>("site");
        for (bool pre : {true, false})
            for (const char* s : {"attention", "ffn"})
                QTest::newRow((std::string(pre ? "pre-LN " : "post-LN ") + s).c_str()) << pre << QString(s);
    }
    void insertionFormsReadTheRightTensor() {
        QFETCH(bool, preLn);
        QFETCH(QString, site);
        const ModelConfig c = smallConfig(true, preLn);
        torch::manual_seed(8);
        const torch::Tensor x = torch::randn({1, 5, c.d_model}, torch::kDouble);
        const torch::Tensor allowed = allowedMask(torch::ones({1, 5}), true);
        torch::Tensor outputs[2];
        for (int seq = 0; seq < 2; ++seq) {
            Transformer m = makeRandomBackbone(c, 3);
            nlohmann::json mod = {{"form", "adapter"},
                                  {"site", site.toStdString()},
                                  {"r", 3},
                                  {"insertion", seq ? "sequential" : "parallel"}};
            m->applySpec(specFromJson(nlohmann::json{{"modifications", {mod}}}));
            m->to(torch::kDouble);
            m->eval();
            torch::NoGradGuard ng;
            Block& blk = m->blocks[0];
            Adapter ad = site == "ffn" ? blk->ffn_delta->adapter : blk->attn_delta->adapter;
            auto delta = [&](const torch::Tensor& z) {
                return torch::relu(z.matmul(ad->down->weight.t()) + ad->down->bias)
                           .matmul(ad->up->weight.t()) +
                       ad->up->bias;
            };
            // The block written out by hand.
            const torch::Tensor a = preLn ? blk->ln1->forward(x) : x;
            torch::Tensor h = blk->attn->forward(a, toBias(allowed, torch::kDouble), {}, {}, nullptr);
            if (site == "attention") h = h + delta(seq ? h : a);
            const torch::Tensor y = preLn ? x + h : blk->ln1->forward(x + h);
            const torch::Tensor f = preLn ? blk->ln2->forward(y) : y;
            torch::Tensor g = blk->w2->forward(torch::gelu(blk->w1->forward(f)));
            if (site == "ffn") g = g + delta(seq ? g : f);
            const torch::Tensor expected = preLn ? y + g : blk->ln2->forward(y + g);
            outputs[seq] = blk->forward(x, toBias(allowed, torch::kDouble), {}, {}, nullptr);
            QVERIFY2(maxAbsDiff(outputs[seq], expected) < 1e-12, seq ? "sequential" : "parallel");
        }
        QVERIFY(maxAbsDiff(outputs[0], outputs[1]) > 1e-6);  // the two insertion forms really differ
    }

    void prefixMlpProvidesEveryLayersPrefix() {
        const ModelConfig c = smallConfig(true);
        Transformer m = makeRandomBackbone(c, 6);
        m->applySpec(parseSpec(
            R"({"modifications":[{"form":"prefix","site":"head_attention","l":3,"prefix_mlp":true,"mlp_width":8,"layers":[1]}]})"));
        m->eval();
        torch::NoGradGuard ng;
        QCOMPARE(m->prefix_mlp->forward().sizes().vec(), (std::vector<int64_t>{1, 2, 3, c.d_model}));
        const Inputs in = sampleInputs(c, 1, 4, 3);
        ForwardOptions fo;
        fo.capture_lambda = true;
        const ForwardResult r = m->forward(in.ids, in.mask, {}, fo);
        QVERIFY(r.lambda[0].eq(0).all().item<bool>());  // layer 0 has no prefix: λ = 0
        QVERIFY(r.lambda[1].gt(0).all().item<bool>());
    }

    void promptTuningPrependsTrainableTokens() {
        const ModelConfig c = smallConfig(true);
        Transformer m = makeRandomBackbone(c, 6);
        m->applySpec(parseSpec(R"({"modifications":[{"form":"prompt","site":"input","l":4}]})"));
        m->eval();
        torch::NoGradGuard ng;
        const Inputs in = sampleInputs(c, 2, 5, 3);
        ForwardOptions fo;
        fo.cls = true;
        const ForwardResult r = m->forward(in.ids, in.mask, {}, fo);
        QCOMPARE(r.lm_logits.sizes().vec(), (std::vector<int64_t>{2, 5, c.vocab_size}));
        const torch::Tensor before = r.lm_logits.clone();
        m->prompt.add_(torch::randn_like(m->prompt));  // a constant shift would vanish in the LayerNorm
        QVERIFY(maxAbsDiff(m->forward(in.ids, in.mask).lm_logits, before) > 1e-4);
        const Inputs tooLong = sampleInputs(c, 1, c.max_positions - 3, 3);
        QVERIFY_THROWS_EXCEPTION(Error, m->forward(tooLong.ids));
    }

    void paddingDoesNotLeakIntoRealTokens() {
        for (bool causal : {true, false}) {
            const ModelConfig c = smallConfig(causal, causal);
            Transformer m = makeRandomBackbone(c, 9);
            m->applySpec(resolvePreset(presetById("mam"), c));
            m->eval();
            torch::NoGradGuard ng;
            torch::Tensor ids = torch::randint(1, c.vocab_size, {1, 6}, torch::kLong);
            torch::Tensor padded = torch::cat({ids, torch::zeros({1, 3}, torch::kLong)}, 1);
            torch::Tensor mask =
                torch::cat({torch::ones({1, 6}, torch::kLong), torch::zeros({1, 3}, torch::kLong)}, 1);
            ForwardOptions fo;
            fo.cls = true;
            const ForwardResult a = m->forward(ids, {}, {}, fo), b = m->forward(padded, mask, {}, fo);
            QVERIFY(maxAbsDiff(a.lm_logits, b.lm_logits.narrow(1, 0, 6)) < 1e-5);
            QVERIFY(maxAbsDiff(a.cls_logits, b.cls_logits) < 1e-5);
        }
    }
};

QTEST_APPLESS_MAIN(TestPeftModel)
#include "test_peft_model.moc"
