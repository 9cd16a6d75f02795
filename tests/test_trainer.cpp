// SPDX-License-Identifier: GPL-3.0-or-later
// The training engine: determinism, learning, divergence, cancel, pause/resume, checkpoints, optimizer
// state, batching, and the greedy / beam search against exhaustive search.
#include <QtTest>

#include <atomic>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "model/transformer.h"
#include "peft/accounting.h"
#include "peft/presets.h"
#include "train/generate.h"
#include "train/trainer.h"
#include "util/error.h"

#include "test_support.h"

using namespace peft;

namespace {

/// Label 1 when token 7 occurs: attention has to find it.
Dataset containsSeven(uint64_t seed, int n) {
    std::mt19937_64 rng(seed);
    Dataset d;
    d.name = "contains-7";
    d.label_names = {"no", "yes"};
    auto make = [&](std::vector<Example>& out, int count) {
        for (int i = 0; i < count; ++i) {
            Example e;
            const int len = 4 + int(rng() % 6);
            for (int t = 0; t < len; ++t)
                e.ids.push_back(1 + int64_t(rng() % 20));
            std::replace(e.ids.begin(), e.ids.end(), int64_t(7), int64_t(8));
            e.label = int64_t(rng() % 2);
            if (e.label) e.ids[rng() % e.ids.size()] = 7;
            out.push_back(e);
        }
    };
    make(d.train, n);
    make(d.dev, 64);
    return d;
}

TrainConfig quickConfig() {
    TrainConfig tc;
    tc.steps = 40;
    tc.batch_size = 16;
    tc.lr = 3e-3;
    tc.eval_every = 20;
    tc.threads = 1;
    tc.seed = 5;
    return tc;
}

Transformer modelFor(const std::string& preset, uint64_t seed = 3) {
    const ModelConfig c = tinyConfig(0.0);
    Transformer m = makeRandomBackbone(c, seed);
    m->applySpec(resolvePreset(presetById(preset), c));
    return m;
}

std::vector<double> trainLosses(const TrainResult& r) {
    std::vector<double> out;
    for (const auto& p : r.history)
        if (p.split == "train" && p.name == "loss") out.push_back(p.value);
    return out;
}

struct CallbackObserver : TrainObserver {
    std::function<void(int64_t)> onStep;
    std::vector<RunStatus> statuses;
    void onProgress(int64_t step, int64_t, double, double) override {
        if (onStep) onStep(step);
    }
    void onStatus(RunStatus s, const std::string&) override { statuses.push_back(s); }
};

}  // namespace

class TestTrainer : public QObject {
    Q_OBJECT

private Q_SLOTS:
    // Same seed, threads and device: the identical loss curve, value by value.
    void sameSeedSameCurve() {
        const Dataset d = containsSeven(1, 256);
        TrainConfig tc = quickConfig();
        tc.log_every = 1;
        const TrainResult a = Trainer(modelFor("lora"), d, tc).run();
        const TrainResult b = Trainer(modelFor("lora"), d, tc).run();
        const auto la = trainLosses(a), lb = trainLosses(b);
        QCOMPARE(la.size(), size_t(40));
        QCOMPARE(la, lb);
        tc.seed = 6;
        QVERIFY(trainLosses(Trainer(modelFor("lora"), d, tc).run()) != la);
    }

    // TrainConfig::dropout replaces the backbone's rates at every site (embeddings, residual branches,
    // attention): with 0 two training-mode forwards agree; the setting survives the project's JSON.
    void dropoutSettingReachesTheModel() {
        const ModelConfig c = tinyConfig(0.3);
        Transformer m = makeRandomBackbone(c, 4);
        m->applySpec(resolvePreset(presetById("full"), c));
        m->train();
        const torch::Tensor ids = torch::randint(3, c.vocab_size, {2, 9}, torch::kLong);
        QVERIFY(!torch::equal(m->forward(ids).lm_logits, m->forward(ids).lm_logits));
        TrainConfig tc = quickConfig();
        tc.dropout = 0;
        const Dataset d = containsSeven(1, 64);
        Trainer t(m, d, tc);
        QCOMPARE(m->config().dropout, 0.0);
        QCOMPARE(m->config().attn_dropout, 0.0);
        m->train();
        QVERIFY(torch::equal(m->forward(ids).lm_logits, m->forward(ids).lm_logits));
        tc.dropout = 1.0;
        QVERIFY_THROWS_EXCEPTION(Error, Trainer(modelFor("full"), d, tc));
        tc.dropout = 0.25;
        QCOMPARE(trainConfigFromJson(trainConfigToJson(tc), "test").dropout, 0.25);
        QCOMPARE(trainConfigFromJson(nlohmann::json::object(), "test").dropout, -1.0);  // the backbone's own
    }

    void fullFineTuningLearnsTheTask() {
        const Dataset d = containsSeven(2, 512);
        TrainConfig tc = quickConfig();
        tc.steps = 150;
        tc.eval_every = 50;
        const TrainResult r = Trainer(modelFor("full"), d, tc).run();
        QCOMPARE(r.status, RunStatus::Finished);
        QCOMPARE(r.metric_name, std::string("accuracy"));
        QVERIFY2(r.best_dev_metric >= 0.85, std::to_string(r.best_dev_metric).c_str());
        QVERIFY(r.best_step > 0);
    }

    void divergenceStopsWithAMessage() {
        const Dataset d = containsSeven(3, 64);
        TrainConfig tc = quickConfig();
        tc.lr = 1e30;
        tc.grad_clip = 0;
        tc.warmup_ratio = 0;
        const TrainResult r = Trainer(modelFor("full"), d, tc).run();
        QCOMPARE(r.status, RunStatus::Diverged);
        QVERIFY2(QString::fromStdString(r.message).contains(QStringLiteral("at step")), r.message.c_str());
        QVERIFY(QString::fromStdString(r.message).contains(QStringLiteral("learning rate")));
        QVERIFY(r.steps_done < tc.steps);
    }

    void cancelTakesEffectBeforeTheNextStep() {
        const Dataset d = containsSeven(4, 64);
        Trainer t(modelFor("bitfit"), d, quickConfig());
        CallbackObserver obs;
        obs.onStep = [&](int64_t step) {
            if (step == 3) t.cancel();
        };
        const TrainResult r = t.run(&obs);
        QCOMPARE(r.status, RunStatus::Cancelled);
        QCOMPARE(r.steps_done, int64_t(3));
    }

    void pauseAndResumeFromAnotherThread() {
        const Dataset d = containsSeven(5, 64);
        TrainConfig tc = quickConfig();
        tc.steps = 12;
        Trainer t(modelFor("lora"), d, tc);
        std::atomic<int64_t> lastStep{0};
        CallbackObserver obs;
        obs.onStep = [&](int64_t step) {
            lastStep = step;
            if (step == 2) t.pause();
        };
        TrainResult r;
        std::thread worker([&] { r = t.run(&obs); });
        QTRY_VERIFY_WITH_TIMEOUT(t.isPaused() && lastStep == 2, 5000);
        QTest::qWait(300);
        QCOMPARE(lastStep.load(), int64_t(2));  // nothing runs while paused
        t.resume();
        worker.join();
        QCOMPARE(r.status, RunStatus::Finished);
        QCOMPARE(r.steps_done, int64_t(12));
        QVERIFY(std::find(obs.statuses.begin(), obs.statuses.end(), RunStatus::Paused) != obs.statuses.end());
    }

    void bestCheckpointHoldsTrainableOnlyAndOptimizerStateIsTwoMoments() {
        const Dataset d = containsSeven(6, 64);
        Transformer m = modelFor("lora");
        Trainer t(m, d, quickConfig());
        const TrainResult r = t.run();
        int64_t trainable = 0;
        std::set<std::string> names;
        for (const auto& p : m->named_parameters())
            if (p.value().requires_grad()) {
                trainable += p.value().numel();
                names.insert(p.key());
            }
        std::set<std::string> saved;
        for (const auto& kv : r.best_state)
            saved.insert(kv.first);
        QCOMPARE(saved, names);
        QCOMPARE(t.optimizerStateBytes(), 2 * 4 * trainable);  // AdamW fp32: exp_avg + exp_avg_sq
    }

    void earlyStoppingStopsAfterPatience() {
        const Dataset d = containsSeven(7, 64);
        TrainConfig tc = quickConfig();
        tc.lr = 1e-9;  // nothing improves after the first evaluation
        tc.steps = 100;
        tc.eval_every = 5;
        tc.early_stopping = 2;
        const TrainResult r = Trainer(modelFor("bitfit"), d, tc).run();
        QCOMPARE(r.status, RunStatus::Finished);
        QVERIFY2(r.steps_done <= 15, std::to_string(r.steps_done).c_str());
        QVERIFY(QString::fromStdString(r.message).contains(QStringLiteral("early stopping")));
    }

    void invalidConfigurationIsRejected() {
        const Dataset d = containsSeven(8, 8);
        TrainConfig tc = quickConfig();
        tc.device = "tpu";
        QVERIFY_THROWS_EXCEPTION(Error, Trainer(modelFor("lora"), d, tc));
        tc = quickConfig();
        tc.lr = -1;
        QVERIFY_THROWS_EXCEPTION(Error, Trainer(modelFor("lora"), d, tc));
    }

    // Generation batches: inputs are source + target, and only target (and <eos>) positions carry labels.
    void generationBatchMasksTheSource() {
        Example e;
        e.ids = std::vector<int64_t>{5, 6, 7};  // (not `= {…}`: GCC 12 warns falsely on it)
        e.target = std::vector<int64_t>{8, 9};
        const Batch b = makeBatch({&e}, TaskKind::Generation, 0, 2, 64);
        QCOMPARE(b.ids.sizes().vec(), (std::vector<int64_t>{1, 5}));  // 5 6 7 8 9 (<eos> is only a target)
        const std::vector<int64_t> labels(b.labels.data_ptr<int64_t>(), b.labels.data_ptr<int64_t>() + 5);
        QCOMPARE(labels, (std::vector<int64_t>{-100, -100, 8, 9, 2}));
    }

    void generationTaskTrainsAndScores() {
        Dataset d;
        d.name = "copy";
        d.kind = TaskKind::Generation;
        d.metric = "rougeL";
        for (int i = 0; i < 32; ++i) {
            Example e;
            e.ids = std::vector<int64_t>{3, int64_t(4 + i % 5), 1};
            e.target = std::vector<int64_t>{int64_t(4 + i % 5)};
            e.reference = std::to_string(4 + i % 5);
            (i < 24 ? d.train : d.dev).push_back(e);
        }
        TrainConfig tc = quickConfig();
        tc.steps = 10;
        tc.eos_id = 2;
        tc.max_new_tokens = 4;
        Trainer t(modelFor("pa-ffn"), d, tc, [](const std::vector<int64_t>& ids) {
            std::string s;
            for (int64_t id : ids)
                s += (s.empty() ? "" : " ") + std::to_string(id);
            return s;
        });
        const TrainResult r = t.run();
        QCOMPARE(r.status, RunStatus::Finished);
        const EvalResult ev = t.evaluate(d.dev);
        for (const char* k : {"loss", "perplexity", "rouge1", "rouge2", "rougeL", "bleu"})
            QVERIFY2(ev.metrics.count(k), k);
        QCOMPARE(ev.predictions.size(), d.dev.size());
    }

    // Beam search without length normalisation finds the exhaustive optimum when the beam is wide enough;
    // greedy follows the argmax chain; no-repeat-n-gram bans repeats.
    void beamSearchMatchesExhaustiveSearch() {
        const int64_t V = 3, eos = 0, maxNew = 4;
        std::map<std::vector<int64_t>, std::vector<double>> table;
        std::mt19937_64 rng(42);
        auto logprobs = [&](const std::vector<int64_t>& seq) {
            auto it = table.find(seq);
            if (it != table.end()) return it->second;
            std::vector<double> raw(V);
            double z = 0;
            for (auto& v : raw)
                z += (v = std::exp(double(rng() % 1000) / 200.0));
            for (auto& v : raw)
                v = std::log(v / z);
            return table[seq] = raw;
        };
        NextTokenFn next = [&](const std::vector<std::vector<int64_t>>& seqs) {
            torch::Tensor out = torch::empty({int64_t(seqs.size()), V}, torch::kDouble);
            for (size_t i = 0; i < seqs.size(); ++i) {
                const auto lp = logprobs(seqs[i]);
                for (int64_t v = 0; v < V; ++v)
                    out[int64_t(i)][v] = lp[size_t(v)];
            }
            return out;
        };
        const std::vector<int64_t> prompt{9};
        // Exhaustive: every sequence that ends with <eos> within maxNew tokens, or stops at maxNew.
        double best = -1e300;
        std::vector<int64_t> bestSeq;
        std::function<void(std::vector<int64_t>, double)> search = [&](std::vector<int64_t> seq,
                                                                       double score) {
            const size_t generated = seq.size() - prompt.size();
            if (int64_t(generated) == maxNew) {
                if (score > best) best = score, bestSeq.assign(seq.begin() + 1, seq.end());
                return;
            }
            const auto lp = logprobs(seq);
            for (int64_t v = 0; v < V; ++v) {
                if (v == eos) {
                    if (score + lp[size_t(v)] > best)
                        best = score + lp[size_t(v)], bestSeq.assign(seq.begin() + 1, seq.end());
                    continue;
                }
                auto s = seq;
                s.push_back(v);
                search(s, score + lp[size_t(v)]);
            }
        };
        search(prompt, 0.0);
        GenerateOptions go;
        go.eos_id = eos;
        go.max_new_tokens = maxNew;
        go.length_penalty = 0.0;
        go.beam_size = 81;
        QCOMPARE(decode(prompt, next, go), bestSeq);

        go.beam_size = 1;  // greedy: follow the argmax
        std::vector<int64_t> seq = prompt, greedy;
        for (int64_t t = 0; t < maxNew; ++t) {
            const auto lp = logprobs(seq);
            const int64_t tok = std::max_element(lp.begin(), lp.end()) - lp.begin();
            if (tok == eos) break;
            seq.push_back(tok);
            greedy.push_back(tok);
        }
        QCOMPARE(decode(prompt, next, go), greedy);

        // A model that always prefers token 1, then 2: without the ban it repeats "1 2 1 2".
        NextTokenFn loop = [&](const std::vector<std::vector<int64_t>>& seqs) {
            torch::Tensor out = torch::full({int64_t(seqs.size()), 4}, -10.0, torch::kDouble);
            for (size_t i = 0; i < seqs.size(); ++i) {
                out[int64_t(i)][seqs[i].back() == 1 ? 2 : 1] = -0.1;
                out[int64_t(i)][3] = -1.0;
            }
            return out;
        };
        GenerateOptions g2;
        g2.eos_id = 0;
        g2.max_new_tokens = 6;
        const auto repeated = decode({9}, loop, g2);
        QCOMPARE(repeated, (std::vector<int64_t>{1, 2, 1, 2, 1, 2}));
        g2.no_repeat_ngram = 2;
        for (int beams : {1, 3}) {
            g2.beam_size = beams;
            const auto out = decode({9}, loop, g2);
            std::set<std::pair<int64_t, int64_t>> bigrams;
            for (size_t i = 0; i + 1 < out.size(); ++i)
                QVERIFY(bigrams.insert({out[i], out[i + 1]}).second);
        }
    }
};

QTEST_GUILESS_MAIN(TestTrainer)
#include "test_trainer.moc"
