// SPDX-License-Identifier: GPL-3.0-or-later
#include "train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <random>
#include <sstream>
#include <tuple>
#include <utility>

#include <nlohmann/json.hpp>

#include "io/backbone.h"
#include "train/generate.h"
#include "train/metrics.h"
#include "util/error.h"
#include "util/system.h"
#include "util/torch_runtime.h"

namespace peft {

namespace F = torch::nn::functional;

torch::Device parseDevice(const std::string& name) {
    if (name == "cpu") return torch::Device(torch::kCPU);
    if (name == "cuda" || name.rfind("cuda:", 0) == 0) {
        if (!torch::cuda::is_available())
            throw Error("device", "'" + name +
                                      "' requested, but this LibTorch build has no CUDA or no GPU is visible "
                                      "(available: cpu)");
        int index = 0;
        if (name.size() > 5) {
            try {
                index = std::stoi(name.substr(5));
            } catch (const std::exception&) {
                throw Error("device", "expected cuda:N, got '" + name + "'");
            }
        }
        if (index < 0 || index >= static_cast<int>(torch::cuda::device_count()))
            throw Error("device", "'" + name + "' does not exist (" +
                                      std::to_string(torch::cuda::device_count()) + " CUDA devices)");
        return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
    }
    throw Error("device", "unknown device '" + name + "' (expected cpu, cuda or cuda:N)");
}

bool lowerIsBetter(const std::string& metric) {
    return metric == "loss" || metric == "perplexity";
}

int64_t adamwStateBytes(const torch::optim::AdamW& opt) {
    int64_t bytes = 0;
    for (const auto& kv : opt.state()) {
        const auto& st = static_cast<const torch::optim::AdamWParamState&>(*kv.second);
        for (const torch::Tensor* t : {&st.exp_avg(), &st.exp_avg_sq(), &st.max_exp_avg_sq()})
            if (t->defined()) bytes += t->numel() * static_cast<int64_t>(t->element_size());
    }
    return bytes;
}

namespace {

/// Rows right-padded into [B, T] (T: the longest, at most max_length) with `pad`, and their mask.
std::pair<torch::Tensor, torch::Tensor> padRows(const std::vector<std::vector<int64_t>>& rows, int64_t pad,
                                                int64_t max_length) {
    int64_t T = 0;
    for (const auto& r : rows)
        T = std::max<int64_t>(T, static_cast<int64_t>(r.size()));
    T = std::min(T, max_length);
    const int64_t B = static_cast<int64_t>(rows.size());
    torch::Tensor ids = torch::full({B, T}, pad, torch::kLong), mask = torch::zeros({B, T}, torch::kLong);
    auto id = ids.accessor<int64_t, 2>();
    auto m = mask.accessor<int64_t, 2>();
    for (int64_t i = 0; i < B; ++i) {
        const auto& r = rows[static_cast<size_t>(i)];
        for (int64_t t = 0; t < std::min<int64_t>(static_cast<int64_t>(r.size()), T); ++t)
            id[i][t] = r[static_cast<size_t>(t)], m[i][t] = 1;
    }
    return {ids, mask};
}

}  // namespace

Batch makeBatch(const std::vector<const Example*>& examples, TaskKind kind, int64_t pad_id, int64_t eos_id,
                int64_t max_length, int64_t decoder_start, int64_t forced_bos) {
    const int64_t B = static_cast<int64_t>(examples.size());
    if (kind == TaskKind::Generation && decoder_start >= 0) {
        std::vector<std::vector<int64_t>> sources, inputs, targets;
        for (const Example* e : examples) {
            sources.push_back(e->ids);
            std::vector<int64_t> out;
            if (forced_bos >= 0) out.push_back(forced_bos);
            out.insert(out.end(), e->target.begin(), e->target.end());
            out.push_back(eos_id);
            std::vector<int64_t> in{decoder_start};
            in.insert(in.end(), out.begin(), out.end() - 1);
            inputs.push_back(std::move(in));
            targets.push_back(std::move(out));
        }
        Batch b;
        std::tie(b.ids, b.mask) = padRows(sources, pad_id, max_length);
        std::tie(b.dec_ids, b.dec_mask) = padRows(inputs, pad_id, max_length);
        b.labels = padRows(targets, -100, max_length).first;
        return b;
    }
    std::vector<std::vector<int64_t>> seqs;
    seqs.reserve(examples.size());
    for (const Example* e : examples) {
        std::vector<int64_t> s = e->ids;
        if (kind == TaskKind::Generation) {
            s.insert(s.end(), e->target.begin(), e->target.end());
            s.push_back(eos_id);
        }
        seqs.push_back(std::move(s));
    }
    int64_t T = 0;
    for (const auto& s : seqs)
        T = std::max<int64_t>(T, static_cast<int64_t>(s.size()));
    if (kind == TaskKind::Generation) T -= 1;  // inputs are seq[:-1], targets seq[1:]
    T = std::min(T, max_length);
    Batch b;
    b.ids = torch::full({B, T}, pad_id, torch::kLong);
    b.mask = torch::zeros({B, T}, torch::kLong);
    auto ids = b.ids.accessor<int64_t, 2>();
    auto mask = b.mask.accessor<int64_t, 2>();
    const bool hasTypes =
        kind == TaskKind::Classification && !examples.empty() && !examples[0]->types.empty();
    if (hasTypes) b.types = torch::zeros({B, T}, torch::kLong);
    if (kind == TaskKind::Classification) {
        b.labels = torch::empty({B}, torch::kLong);
        for (int64_t i = 0; i < B; ++i) {
            const auto& s = seqs[static_cast<size_t>(i)];
            const int64_t n = std::min<int64_t>(static_cast<int64_t>(s.size()), T);
            for (int64_t t = 0; t < n; ++t)
                ids[i][t] = s[static_cast<size_t>(t)], mask[i][t] = 1;
            if (hasTypes)
                for (int64_t t = 0; t < n; ++t)
                    b.types[i][t] = examples[static_cast<size_t>(i)]->types[static_cast<size_t>(t)];
            b.labels[i] = examples[static_cast<size_t>(i)]->label;
        }
        return b;
    }
    b.labels = torch::full({B, T}, -100, torch::kLong);
    auto labels = b.labels.accessor<int64_t, 2>();
    for (int64_t i = 0; i < B; ++i) {
        const auto& s = seqs[static_cast<size_t>(i)];
        const int64_t src = static_cast<int64_t>(examples[static_cast<size_t>(i)]->ids.size());
        const int64_t n = std::min<int64_t>(static_cast<int64_t>(s.size()) - 1, T);
        for (int64_t t = 0; t < n; ++t) {
            ids[i][t] = s[static_cast<size_t>(t)];
            mask[i][t] = 1;
            if (t + 1 >= src) labels[i][t] = s[static_cast<size_t>(t + 1)];  // predict the target and <eos>
        }
    }
    return b;
}

Trainer::Trainer(Transformer model, const Dataset& data, TrainConfig cfg, Detokenizer detok)
    : model_(std::move(model)),
      data_(data),
      cfg_(std::move(cfg)),
      detok_(std::move(detok)),
      device_(parseDevice(cfg_.device)),
      precision_(checkPrecision(cfg_.precision, device_)) {
    if (cfg_.steps <= 0) throw Error("steps", "must be positive");
    if (cfg_.batch_size <= 0) throw Error("batch_size", "must be positive");
    if (cfg_.grad_accum <= 0) throw Error("grad_accum", "must be positive");
    if (!(cfg_.lr > 0) || !std::isfinite(cfg_.lr)) throw Error("lr", "must be a positive number");
    if (!(cfg_.dropout < 1)) throw Error("dropout", "must be below 1 (negative: the backbone's own)");
    if (data_.train.empty()) throw Error("data", "the training split of '" + data_.name + "' is empty");
    // A batch holds each training example at most once: a larger one would repeat examples within a step
    // and only cost memory (a batch of 100,000 from 8,000 examples took 5 GB). The CLI says so.
    cfg_.batch_size = std::min<int64_t>(cfg_.batch_size, int64_t(data_.train.size()));
    checkThreadCount(cfg_.threads);
    const int64_t vocab = model_->config().vocab_size;
    if (cfg_.pad_id < 0) cfg_.pad_id = model_->config().pad_id;
    if (cfg_.eos_id < 0 && data_.kind == TaskKind::Generation)
        throw Error("eos_id",
                    "not set: generation needs the end-of-sequence token of the backbone's tokenizer");
    if (cfg_.eos_id < 0) cfg_.eos_id = cfg_.pad_id;  // unused by classification
    for (auto [name, id] : {std::pair<const char*, int64_t>{"pad_id", cfg_.pad_id}, {"eos_id", cfg_.eos_id}})
        if (id < 0 || id >= vocab)
            throw Error(name, std::to_string(id) + " is not a token id of the backbone (0 to " +
                                  std::to_string(vocab - 1) + ")");
    if (!model_->hasSpec()) throw Error("spec", "apply a design-space spec to the model before training");
    if (cfg_.dropout >= 0) model_->setDropout(cfg_.dropout);
    model_->setAttentionPath(cfg_.attention);
}

void Trainer::resumeFrom(TrainCheckpoint c) {
    if (c.step < 0 || c.step >= cfg_.steps)
        throw Error("resume", "checkpoint step " + std::to_string(c.step) + " is outside the run's " +
                                  std::to_string(cfg_.steps) + " steps");
    resume_ = std::move(c);
}

void Trainer::pause() {
    paused_ = true;
}

void Trainer::resume() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        paused_ = false;
    }
    cv_.notify_all();
}

void Trainer::interrupt() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        interrupt_ = true;
    }
    cv_.notify_all();
}

void Trainer::cancel() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        cancel_ = true;
    }
    cv_.notify_all();
}

Batch Trainer::batchOf(const std::vector<const Example*>& batch) const {
    const ModelConfig& mc = model_->config();
    return mc.encoderDecoder() ? makeBatch(batch, data_.kind, cfg_.pad_id, cfg_.eos_id, cfg_.max_length,
                                           mc.decoder_start_id, mc.forced_bos_id)
                               : makeBatch(batch, data_.kind, cfg_.pad_id, cfg_.eos_id, cfg_.max_length);
}

ForwardResult Trainer::forwardOn(const Batch& b) {
    ForwardOptions fo;
    fo.lm = data_.kind == TaskKind::Generation;
    fo.cls = data_.kind == TaskKind::Classification;
    if (b.dec_ids.defined()) {
        fo.decoder_ids = b.dec_ids.to(device_);
        fo.decoder_mask = b.dec_mask.to(device_);
    }
    return model_->forward(b.ids.to(device_), b.mask.to(device_),
                           b.types.defined() ? b.types.to(device_) : torch::Tensor(), fo);
}

torch::Tensor Trainer::lossOn(const std::vector<const Example*>& batch) {
    const Batch b = batchOf(batch);
    PrecisionScope scope(precision_, device_);  // the forward and the loss; the caller's backward is outside
    const ForwardResult r = forwardOn(b);
    // The loss in float32 whatever the forward's precision.
    if (data_.kind == TaskKind::Classification)
        return F::cross_entropy(r.cls_logits.to(torch::kFloat), b.labels.to(device_));
    const int64_t V = r.lm_logits.size(-1);
    return F::cross_entropy(
        r.lm_logits.to(torch::kFloat).reshape({-1, V}), b.labels.to(device_).reshape({-1}),
        F::CrossEntropyFuncOptions().ignore_index(-100).label_smoothing(cfg_.label_smoothing));
}

EvalResult Trainer::evaluate(const std::vector<Example>& split) {
    EvalResult res;
    if (split.empty()) return res;
    const bool wasTraining = model_->is_training();
    model_->eval();
    torch::NoGradGuard ng;
    PrecisionScope scope(precision_, device_);
    const size_t n = cfg_.max_eval_examples > 0
                         ? std::min<size_t>(split.size(), static_cast<size_t>(cfg_.max_eval_examples))
                         : split.size();
    res.examples = n;
    const size_t bs = static_cast<size_t>(std::max<int64_t>(cfg_.batch_size, 1));
    double lossSum = 0;
    int64_t lossCount = 0, tokens = 0;
    std::vector<int64_t> predicted, gold;
    for (size_t i = 0; i < n; i += bs) {
        std::vector<const Example*> batch;
        for (size_t k = i; k < std::min(n, i + bs); ++k)
            batch.push_back(&split[k]);
        const Batch b = batchOf(batch);
        const ForwardResult r = forwardOn(b);
        if (data_.kind == TaskKind::Classification) {
            lossSum += F::cross_entropy(r.cls_logits.to(torch::kFloat), b.labels.to(device_),
                                        F::CrossEntropyFuncOptions().reduction(torch::kSum))
                           .item<double>();
            lossCount += static_cast<int64_t>(batch.size());
            const torch::Tensor p = r.cls_logits.argmax(-1).cpu();
            for (int64_t k = 0; k < p.size(0); ++k) {
                predicted.push_back(p[k].item<int64_t>());
                gold.push_back(batch[static_cast<size_t>(k)]->label);
            }
        } else {
            const int64_t V = r.lm_logits.size(-1);
            const torch::Tensor labels = b.labels.to(device_).reshape({-1});
            lossSum +=
                F::cross_entropy(r.lm_logits.to(torch::kFloat).reshape({-1, V}), labels,
                                 F::CrossEntropyFuncOptions().ignore_index(-100).reduction(torch::kSum))
                    .item<double>();
            const int64_t count = labels.ne(-100).sum().item<int64_t>();
            tokens += count;
            lossCount += count;
        }
    }
    res.metrics["loss"] = lossCount ? lossSum / double(lossCount) : 0.0;
    if (data_.kind == TaskKind::Classification) {
        res.metrics["accuracy"] = accuracy(predicted, gold);
        res.metrics["macro_f1"] = macroF1(predicted, gold);
        res.predicted_labels = std::move(predicted);
    } else {
        res.metrics["perplexity"] = perplexity(lossSum, tokens);
    }
    if (data_.kind == TaskKind::Generation && cfg_.decode_eval) {
        GenerateOptions go;
        go.beam_size = cfg_.beam_size;
        go.length_penalty = cfg_.length_penalty;
        go.max_new_tokens = cfg_.max_new_tokens;
        go.no_repeat_ngram = cfg_.no_repeat_ngram;
        go.eos_id = cfg_.eos_id;
        std::vector<std::string> refs;
        for (size_t i = 0; i < n; ++i) {
            const std::vector<int64_t> out = generate(model_, split[i].ids, go, cfg_.pad_id);
            res.predictions.push_back(detok_ ? detok_(out) : std::string());
            refs.push_back(split[i].reference);
        }
        const Rouge rouge = corpusRouge(res.predictions, {refs});
        res.metrics["rouge1"] = rouge.rouge1.fmeasure;
        res.metrics["rouge2"] = rouge.rouge2.fmeasure;
        res.metrics["rougeL"] = rouge.rougeL.fmeasure;
        res.metrics["bleu"] = corpusBleu(res.predictions, {refs}).score;
    }
    if (wasTraining) model_->train();
    return res;
}

TrainResult Trainer::run(TrainObserver* observer) {
    using Clock = std::chrono::steady_clock;
    const auto t0 = Clock::now();
    const double wallBefore = resume_ ? resume_->wall_time : 0.0;  // a resumed run continues its clock
    auto wall = [&] { return wallBefore + std::chrono::duration<double>(Clock::now() - t0).count(); };
    TrainResult result;
    result.metric_name = data_.metric;
    auto emit = [&](int64_t step, const char* split, const std::string& name, double value) {
        MetricPoint p{step, split, name, value, wall()};
        result.history.push_back(p);
        if (observer) observer->onMetric(p);
    };
    auto setStatus = [&](RunStatus s, const std::string& msg) {
        result.status = s;
        result.message = msg;
        if (observer) observer->onStatus(s, msg);
    };

    // Per thread in LibTorch: set it on the thread that trains. 0 ("auto") chooses by the model's width.
    applyThreadCount(cfg_.threads > 0 ? cfg_.threads : autoThreadCount(model_->config().d_model));
    // TF32 holds for the whole run, backward passes included (bf16 autocast is per forward: lossOn).
    PrecisionScope tf32(precision_ == Precision::TF32 ? Precision::TF32 : Precision::FP32, device_);
    torch::manual_seed(cfg_.seed);
    std::mt19937_64 rng(cfg_.seed);
    model_->to(device_);
    model_->train();

    // AdamW with decay on matrices only: no decay on biases, LayerNorm, scalars and IA3 vectors.
    std::vector<torch::Tensor> decay, noDecay;
    std::vector<std::string> trainableNames;
    std::vector<torch::Tensor> trainable;
    for (const auto& p : model_->named_parameters()) {
        if (!p.value().requires_grad()) continue;
        (p.value().dim() >= 2 ? decay : noDecay).push_back(p.value());
        trainableNames.push_back(p.key());
        trainable.push_back(p.value());
    }
    std::vector<torch::optim::OptimizerParamGroup> groups;
    groups.emplace_back(decay, std::make_unique<torch::optim::AdamWOptions>(
                                   torch::optim::AdamWOptions(cfg_.lr).weight_decay(cfg_.weight_decay)));
    groups.emplace_back(noDecay, std::make_unique<torch::optim::AdamWOptions>(
                                     torch::optim::AdamWOptions(cfg_.lr).weight_decay(0.0)));
    torch::optim::AdamW opt(groups, torch::optim::AdamWOptions(cfg_.lr));

    const int64_t warmup = static_cast<int64_t>(std::llround(cfg_.warmup_ratio * double(cfg_.steps)));
    std::vector<size_t> order(data_.train.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::shuffle(order.begin(), order.end(), rng);
    size_t cursor = 0;
    auto nextBatch = [&] {
        std::vector<const Example*> batch;
        for (int64_t k = 0; k < cfg_.batch_size; ++k) {
            if (cursor == order.size()) {
                std::shuffle(order.begin(), order.end(), rng);
                cursor = 0;
            }
            batch.push_back(&data_.train[order[cursor++]]);
        }
        return batch;
    };

    bool haveBest = false;
    int64_t evalsWithoutGain = 0;
    int64_t firstStep = 1;
    const bool wantCheckpoints = observer && observer->wantsCheckpoints();
    auto generatorOfDevice = [&] { return at::globalContext().defaultGenerator(device_); };
    if (resume_) {
        TrainCheckpoint c = std::move(*resume_);
        resume_.reset();
        const std::string source = "the checkpoint of step " + std::to_string(c.step);
        loadTrainableInto(model_, c.params, source);
        // A library's own words ("PytorchStreamReader failed …") name neither the run nor the part.
        try {
            if (!c.optimizer.empty()) {
                std::istringstream in(c.optimizer);
                torch::load(opt, in);
            }
        } catch (const std::exception& e) {
            throw Error(source, "its optimizer state is damaged and cannot be loaded (" +
                                    std::string(e.what()).substr(0, 200) + ")");
        }
        try {
            if (!c.rng.empty()) {
                auto gen = generatorOfDevice();
                std::lock_guard<std::mutex> lock(gen.mutex());
                gen.set_state(torch::from_blob(c.rng.data(), {int64_t(c.rng.size())}, torch::kUInt8).clone());
            }
        } catch (const std::exception& e) {
            throw Error(source, "its random-generator state is damaged and cannot be loaded (" +
                                    std::string(e.what()).substr(0, 200) + ")");
        }
        for (int64_t k = 0; k < c.step * cfg_.grad_accum; ++k)
            nextBatch();  // the same data order as the run that wrote the checkpoint
        haveBest = c.have_best;
        result.best_dev_metric = c.best_dev_metric;
        result.best_step = c.best_step;
        result.best_state = std::move(c.best_params);
        evalsWithoutGain = c.evals_without_gain;
        result.steps_done = c.step;
        firstStep = c.step + 1;
        if (observer) observer->onResumed(c.step);
    }
    int64_t lastCheckpointStep = firstStep - 1;  // 0: none yet (a resumed run has the one it resumed from)
    auto checkpointNow = [&](int64_t step, bool best) {
        lastCheckpointStep = step;
        TrainCheckpoint c;
        c.step = step;
        c.wall_time = wall();
        for (size_t i = 0; i < trainable.size(); ++i)
            c.params[trainableNames[i]] = trainable[i].detach().to(torch::kCPU).clone();
        std::ostringstream os;
        torch::save(opt, os);
        c.optimizer = os.str();
        {
            auto gen = generatorOfDevice();
            std::lock_guard<std::mutex> lock(gen.mutex());
            const torch::Tensor st = gen.get_state().contiguous();
            c.rng.assign(static_cast<const char*>(st.data_ptr()), size_t(st.numel()));
        }
        c.have_best = haveBest;
        c.best_dev_metric = result.best_dev_metric;
        c.best_step = result.best_step;
        c.evals_without_gain = evalsWithoutGain;
        observer->onCheckpoint(c, best);
    };
    auto evaluateDev = [&](int64_t step) {
        const EvalResult ev = evaluate(data_.dev);
        for (const auto& [name, value] : ev.metrics)
            emit(step, "dev", name, value);
        auto it = ev.metrics.find(data_.metric);
        if (it == ev.metrics.end()) return false;
        const bool better = lowerIsBetter(data_.metric) ? it->second < result.best_dev_metric
                                                        : it->second > result.best_dev_metric;
        if (!haveBest || better) {
            haveBest = true;
            result.best_dev_metric = it->second;
            result.best_step = step;
            evalsWithoutGain = 0;
            result.best_state.clear();
            for (size_t i = 0; i < trainable.size(); ++i)
                result.best_state[trainableNames[i]] = trainable[i].detach().to(torch::kCPU).clone();
        } else {
            ++evalsWithoutGain;
        }
        if (wantCheckpoints) checkpointNow(step, evalsWithoutGain == 0);
        return cfg_.early_stopping > 0 && evalsWithoutGain >= cfg_.early_stopping;
    };

    setStatus(RunStatus::Running, "");
    const auto loopStart = Clock::now();
    int64_t step = 0;
    bool stoppedEarly = false;
    for (step = firstStep; step <= cfg_.steps; ++step) {
        if (paused_) {
            setStatus(RunStatus::Paused, "paused at step " + std::to_string(step - 1));
            std::unique_lock<std::mutex> lock(mutex_);
            cv_.wait(lock, [&] { return !paused_ || cancel_ || interrupt_; });
            if (!cancel_ && !interrupt_) setStatus(RunStatus::Running, "");
        }
        if (interrupt_) {
            const int64_t done = step - 1;
            if (wantCheckpoints && done > lastCheckpointStep) checkpointNow(done, false);
            setStatus(
                RunStatus::Interrupted,
                "stopped on request after step " + std::to_string(done) +
                    (lastCheckpointStep > 0
                         ? "; it resumes from its checkpoint of step " + std::to_string(lastCheckpointStep)
                         : "; it had no checkpoint yet, so it starts again from step 0"));
            break;
        }
        if (cancel_) {
            setStatus(RunStatus::Cancelled, "cancelled before step " + std::to_string(step));
            break;
        }
        const double lr = cfg_.lr * lrFactor(cfg_.schedule, step, warmup, cfg_.steps);
        for (auto& g : opt.param_groups())
            static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);

        double stepLoss = 0;
        for (int64_t micro = 0; micro < cfg_.grad_accum; ++micro) {
            torch::Tensor loss = lossOn(nextBatch()) / double(cfg_.grad_accum);
            loss.backward();
            stepLoss += loss.item<double>();
        }
        if (!std::isfinite(stepLoss)) {
            char buf[300];
            std::snprintf(buf, sizeof buf,
                          "the loss became %s at step %lld (learning rate %.3g): lower the learning rate, "
                          "keep gradient "
                          "clipping on, or check the data for empty or extreme examples",
                          std::isnan(stepLoss) ? "NaN" : "infinite", static_cast<long long>(step), lr);
            emit(step, "train", "loss", stepLoss);
            setStatus(RunStatus::Diverged, buf);
            break;
        }
        if (cfg_.grad_clip > 0) torch::nn::utils::clip_grad_norm_(trainable, cfg_.grad_clip);
        opt.step();
        for (auto& p : trainable)
            p.mutable_grad() = torch::Tensor();  // set_to_none on LibTorch 1.13 and 2.x
        if (step == firstStep) optimizerBytes_ = adamwStateBytes(opt);
        result.steps_done = step;
        if (step % std::max<int64_t>(cfg_.log_every, 1) == 0 || step == 1 || step == cfg_.steps) {
            emit(step, "train", "loss", stepLoss);
            emit(step, "train", "lr", lr);
        }
        if (observer) {
            const double elapsed = std::chrono::duration<double>(Clock::now() - loopStart).count();
            const double rate = elapsed > 0 ? double(step - firstStep + 1) / elapsed : 0.0;
            observer->onProgress(step, cfg_.steps, rate, rate > 0 ? double(cfg_.steps - step) / rate : 0.0);
        }
        if ((cfg_.eval_every > 0 && step % cfg_.eval_every == 0) || step == cfg_.steps) {
            if (evaluateDev(step)) {
                stoppedEarly = true;
                break;
            }
        }
    }
    if (result.status == RunStatus::Running) {
        if (!haveBest && !data_.dev.empty()) evaluateDev(result.steps_done);
        setStatus(RunStatus::Finished,
                  stoppedEarly ? "early stopping at step " + std::to_string(result.steps_done) +
                                     ": no gain in " + std::to_string(cfg_.early_stopping) + " evaluations"
                               : "");
    }
    result.seconds = wall();
    return result;
}

}  // namespace peft
