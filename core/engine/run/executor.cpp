// SPDX-License-Identifier: GPL-3.0-or-later
#include "run/executor.h"

#include <algorithm>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>

#include "data/file_data.h"
#include "data/world.h"
#include "io/adapter.h"
#include "io/backbone.h"
#include "io/safetensors.h"
#include "peft/accounting.h"
#include "peft/spec.h"
#include "project/project.h"
#include "run/recorder.h"
#include "util/error.h"
#include "util/system.h"

namespace peft {

using json = nlohmann::json;

namespace {

std::string modelTypeOf(const LoadedBackbone& lb) {
    return lb.info.is_object() ? lb.info.value("model_type", "") : std::string();
}

/// The run's spec on the backbone's model: from the adapter it starts from (its weights as the start), else
/// fresh.
void applyRecipeSpec(LoadedBackbone& lb, const RunRecipe& r, const std::string& where) {
    if (!r.init_adapter.empty()) {
        const AdapterInfo info = importAdapter(r.init_adapter, lb.model, modelTypeOf(lb));
        if (json(info.spec) != json(r.spec))
            throw Error(where, "the adapter at '" + r.init_adapter + "' no longer matches the run's spec");
        return;
    }
    try {
        validate(r.spec, lb.config);
    } catch (const Error& e) {
        throw Error(where + ": spec: " + e.where(), e.reason());
    }
    lb.model->applySpec(r.spec);
}

}  // namespace

Dataset buildRunData(const LoadedBackbone& lb, const DataRef& d, const std::optional<FileData>& files,
                     int64_t maxLength) {
    if (files) return encodeFileData(*files, dataEncoder(lb), maxLength);
    TaskSizes sizes;
    if (d.train_size > 0) sizes.train = d.train_size;
    // A world backbone reads the built-in tasks in its own words; any other through its tokenizer.
    const World world(lb.world ? lb.info.value("world_seed", uint64_t{1}) : uint64_t{1});
    const TaskEncoder enc = taskEncoder(lb);
    Dataset ds = builtinTask(d.task, world, enc, sizes, 7);
    for (auto* split : {&ds.train, &ds.dev, &ds.test})
        for (auto& e : *split)
            if (generationLength(e, enc.seq2seq) > maxLength)
                throw Error("max_length", std::to_string(maxLength) + " tokens, but a '" + d.task +
                                              "' example needs " +
                                              std::to_string(generationLength(e, enc.seq2seq)));
    return ds;
}

PreparedRun prepareRun(const RunRecipe& recipe, const std::string& where) {
    PreparedRun p;
    p.recipe = recipe;
    TrainConfig& tc = p.recipe.train;
    std::optional<FileData> files;
    if (recipe.data.files) files = readRecordedFiles(recipe.data, where);
    const std::vector<std::string> labels = files ? files->labels : builtinTaskLabels(recipe.data.task);
    checkBackboneWeights(recipe.backbone, where);
    p.backbone = openBackbone(recipe.backbone, int64_t(labels.size()), tc.seed);
    p.notes = p.backbone.notes;
    if (files && files->skipped > 0) {
        std::string n = "skipped " + std::to_string(files->skipped) + " bad rows";
        for (const auto& m : files->skipped_messages)
            n += "\n  " + m;
        p.notes.push_back(n);
    }
    // The spec first: inputs are cut to what fits beside its prompt / prefix tokens.
    applyRecipeSpec(p.backbone, recipe, where);
    p.recipe.spec = p.backbone.model->spec();
    tc.max_length = std::min(tc.max_length, p.backbone.model->maxInputTokens());
    p.data = buildRunData(p.backbone, recipe.data, files, tc.max_length);
    if (tc.pad_id < 0) tc.pad_id = p.backbone.special.pad;
    if (tc.eos_id < 0) tc.eos_id = p.backbone.special.eos;
    if (tc.batch_size > int64_t(p.data.train.size())) {  // as the trainer does; the record says what ran
        p.notes.push_back("batch size " + std::to_string(tc.batch_size) + " is more than the " +
                          std::to_string(p.data.train.size()) + " training examples: each batch holds all " +
                          std::to_string(p.data.train.size()));
        tc.batch_size = int64_t(p.data.train.size());
    }
    return p;
}

TrainResult executeRun(PreparedRun& run, Project* project, int64_t runId, const ExecuteOptions& opts) {
    // A resume that cannot load its state changes nothing: the run keeps its status, steps and metrics
    // (the recorder drops the metrics after the checkpoint only once the trainer has loaded it whole).
    if (opts.threads) {
        checkThreadCount(*opts.threads, "threads");
        run.recipe.train.threads = int(*opts.threads);
    }
    if (opts.device) run.recipe.train.device = *opts.device;
    std::unique_ptr<Trainer> trainerOwner;
    try {
        TrainCheckpoint resumeState;
        if (opts.resume) {
            if (!project) throw Error("resume", "needs the run's project");
            resumeState = resumeCheckpoint(*project, runId);
        }
        trainerOwner = std::make_unique<Trainer>(run.backbone.model, run.data, run.recipe.train,
                                                 run.backbone.detokenizer());  // checks the settings
        if (opts.resume) trainerOwner->resumeFrom(std::move(resumeState));
    } catch (const Error& e) {
        if (project && !opts.resume) project->setRunState(runId, RunState::Failed, e.what());
        throw;
    }
    if (opts.onPrepared) opts.onPrepared(run);
    Trainer& trainer = *trainerOwner;
    if (opts.onTrainer) opts.onTrainer(&trainer);
    std::optional<ProjectRecorder> recorder;
    if (project) {
        recorder.emplace(*project, runId, opts.flush_seconds);
        recorder->chain(opts.observer);
    }
    TrainObserver* observer = recorder ? &*recorder : opts.observer;
    TrainResult r;
    try {
        r = trainer.run(observer);
    } catch (const std::exception& e) {
        if (opts.onTrainer) opts.onTrainer(nullptr);
        if (recorder) recorder->recordFailure(e);
        throw;
    } catch (...) {
        if (opts.onTrainer) opts.onTrainer(nullptr);
        throw;
    }
    if (opts.onTrainer) opts.onTrainer(nullptr);
    if (!project) return r;
    recorder->flush();
    const ParamReport rep = countParams(run.recipe.spec, run.backbone.model->config());
    RunSummary m;
    m.metric_name = r.metric_name;
    m.best_dev_metric = r.best_dev_metric;
    m.best_step = r.best_step;
    m.seconds = r.seconds;
    m.peak_memory_bytes = peakRssBytes();  // of this process: the whole app when run from the GUI
    m.trained_params = rep.trained;
    m.stored_params = rep.stored;
    m.backbone_params = rep.backbone;
    project->setSummary(runId, m);
    return r;
}

TrainResult executeRun(const std::string& projectPath, int64_t runId, const ExecuteOptions& opts) {
    auto project = Project::open(projectPath);
    if (project->readOnly()) throw Error(projectPath, "cannot train: the project is open read-only");
    const RunRecord record = project->run(runId);
    const std::string where = projectPath + ": run " + std::to_string(runId);
    if (record.state == RunState::Finished) throw Error(where, "already finished");  // and stays so
    if (opts.device && *opts.device != record.device) project->setRunDevice(runId, *opts.device);
    PreparedRun run;
    try {
        run = prepareRun(runRecipe(*project, project->run(runId)), where);
    } catch (const Error& e) {
        project->setRunState(runId, RunState::Failed, e.what());
        throw;
    }
    return executeRun(run, project.get(), runId, opts);
}

int64_t queueAdapterRun(Project& project, const std::string& name, const std::string& adapterDir,
                        const DataRef& data, const TrainConfig& tc) {
    std::error_code ec;
    RunRecipe r;
    r.init_adapter = std::filesystem::absolute(adapterDir, ec).lexically_normal().string();
    r.train = tc;
    r.data = data;
    r.backbone = backboneRefFromJson(project.backbone(), project.path() + ": backbone");
    const std::vector<std::string> labels = dataLabels(data, project.datasets());
    LoadedBackbone lb = openBackbone(r.backbone, int64_t(labels.size()), tc.seed);
    // Checks that it fits this backbone, now.
    const AdapterInfo info = importAdapter(r.init_adapter, lb.model, modelTypeOf(lb));
    r.spec = info.spec;
    const std::string runName =
        name.empty() ? info.spec.name + " from " + std::filesystem::path(r.init_adapter).filename().string()
                     : name;
    return addRun(project, runName, "adapter", r);
}

json exportRunAdapter(const std::string& projectPath, int64_t run, const std::string& format,
                      const std::string& outDir) {
    RunModel rm = loadRunModel(projectPath, run);
    const AdapterInfo info = exportAdapter(outDir, format, rm.backbone.model, modelTypeOf(rm.backbone),
                                           rm.backboneDir, rm.classification);
    return {{"format", info.format}, {"peft_type", info.peft_type}, {"dir", outDir},
            {"weights", rm.weights}, {"spec", info.spec.name},      {"has_head", info.has_head},
            {"config", info.config}};
}

RunModel loadRunModel(const std::string& projectPath, int64_t runId) {
    auto project = Project::open(projectPath, Project::Mode::ReadOnly);
    const RunRecord run = project->run(runId);
    const std::string where = projectPath + ": run " + std::to_string(runId);
    const RunRecipe recipe = runRecipe(*project, run);
    RunModel rm;
    rm.task = recipe.data.task;
    const auto labels = dataLabels(recipe.data, project->datasets());
    rm.classification = !labels.empty();
    rm.backboneDir = backboneRefDir(recipe.backbone, where);
    rm.backbone = openBackbone(recipe.backbone, int64_t(labels.size()), run.seed);
    applyRecipeSpec(rm.backbone, recipe, where);
    rm.weights = recipe.init_adapter.empty() ? "initial" : "the imported adapter";
    for (const char* kind : {"best", "eval"})
        if (const auto c = project->checkpoint(runId, kind)) {
            loadTrainableInto(rm.backbone.model, parseSafetensors(c->tensors, where + " checkpoint").tensors,
                              where + " " + kind + " checkpoint");
            rm.weights = std::string(kind == std::string("best") ? "best" : "last") + " checkpoint (step " +
                         std::to_string(c->step) + ")";
            break;
        }
    rm.backbone.model->eval();
    return rm;
}

LambdaMap lambdaOfRun(const std::string& projectPath, int64_t runId, const std::string& text, Stack stack) {
    LambdaMap out;
    {
        const RunRecord run = Project::open(projectPath, Project::Mode::ReadOnly)->run(runId);
        const Spec spec = specFromJson(run.spec);
        if (!spec.hasGating()) {
            out.reason =
                "'" + spec.name +
                "' has no gated prefix: λ(x) is the prefix's share of the joint attention softmax, defined "
                "only for prefix tuning with gated composition at head attention (prefix, MAM, UniPELT)";
            return out;
        }
    }
    RunModel rm = loadRunModel(projectPath, runId);
    const ModelConfig& cfg = rm.backbone.model->config();
    out.encoder_decoder = cfg.encoderDecoder();
    if (!out.encoder_decoder) stack = Stack::Encoder;
    const Spec& spec = rm.backbone.model->spec();
    const bool gatedHere =
        std::any_of(spec.modifications.begin(), spec.modifications.end(), [&](const Modification& m) {
            const auto stacks = stacksOf(m, cfg);
            return m.form == Form::Prefix && m.composition == Composition::Gated &&
                   std::find(stacks.begin(), stacks.end(), stack) != stacks.end();
        });
    if (!gatedHere) {
        out.reason = "'" + spec.name + "' has no gated prefix in the " + toString(stack) +
                     " attention; choose another attention kind";
        return out;
    }
    out.weights = rm.weights;
    std::vector<int64_t> ids;
    const LoadedBackbone& lb = rm.backbone;
    if (lb.hf) {
        ids = hfEncoder(lb.hf, false).classify(text, std::nullopt).ids;
    } else if (lb.world) {
        ids = lb.tokenizer->encodeIds(text);
        if (!ids.empty() && rm.task != "sentiment") ids.push_back(lb.special.eos);
    } else {
        ids = frameInput(lb, text, std::nullopt, false).ids;
    }
    const int64_t maxPositions = rm.backbone.model->config().max_positions;
    if (ids.empty()) throw Error("text", "empty input");
    if (int64_t(ids.size()) > maxPositions)
        throw Error("text", std::to_string(ids.size()) + " tokens exceed the backbone's " +
                                std::to_string(maxPositions));
    torch::NoGradGuard ng;
    ForwardOptions fo;
    fo.capture_lambda = true;
    const ForwardResult r =
        rm.backbone.model->forward(torch::tensor(ids, torch::kLong).unsqueeze(0), {}, {}, fo);
    const torch::Tensor& chosen = stack == Stack::Encoder   ? r.lambda
                                  : stack == Stack::Decoder ? r.decoder_lambda
                                                            : r.cross_lambda;
    const torch::Tensor lam = chosen.select(1, 0).to(torch::kDouble).contiguous();  // [L, H, T]
    out.layers = lam.size(0);
    out.heads = lam.size(1);
    out.values.assign(lam.data_ptr<double>(), lam.data_ptr<double>() + lam.numel());
    if (stack != Stack::Encoder) {  // the decoder's queries: the input shifted right after decoder_start
        ids.insert(ids.begin(), cfg.decoder_start_id);
        ids.pop_back();
    }
    for (int64_t id : ids)
        out.tokens.push_back(lb.tokenizer->tokenText(id));
    return out;
}

}  // namespace peft
