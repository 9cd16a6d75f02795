// SPDX-License-Identifier: GPL-3.0-or-later
#include "project/executor.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>

#include "data/file_data.h"
#include "data/world.h"
#include "io/adapter.h"
#include "io/backbone.h"
#include "io/hf_model.h"
#include "io/safetensors.h"
#include "peft/accounting.h"
#include "peft/spec.h"
#include "project/project.h"
#include "project/recorder.h"
#include "util/error.h"
#include "util/json_read.h"
#include "util/system.h"

namespace peft {

using json = nlohmann::json;

json trainConfigToJson(const TrainConfig& tc) {
    return {{"steps", tc.steps},
            {"batch_size", tc.batch_size},
            {"lr", tc.lr},
            {"weight_decay", tc.weight_decay},
            {"warmup_ratio", tc.warmup_ratio},
            {"schedule", toString(tc.schedule)},
            {"grad_clip", tc.grad_clip},
            {"grad_accum", tc.grad_accum},
            {"dropout", tc.dropout},
            {"eval_every", tc.eval_every},
            {"log_every", tc.log_every},
            {"early_stopping", tc.early_stopping},
            {"max_eval_examples", tc.max_eval_examples},
            {"max_length", tc.max_length},
            {"seed", tc.seed},
            {"device", tc.device},
            {"threads", tc.threads},
            {"beam_size", tc.beam_size},
            {"max_new_tokens", tc.max_new_tokens}};
}

TrainConfig trainConfigFromJson(const json& j, const std::string& where) {
    if (!j.is_object()) throw Error(where, "the training config is not a JSON object");
    TrainConfig tc;
    auto num = [&](const char* key, auto& field) {
        auto it = j.find(key);
        if (it == j.end()) return;
        if (!it->is_number()) throw Error(where, std::string("'") + key + "' must be a number");
        field = it->template get<std::decay_t<decltype(field)>>();
    };
    num("steps", tc.steps);
    num("batch_size", tc.batch_size);
    num("lr", tc.lr);
    num("weight_decay", tc.weight_decay);
    num("warmup_ratio", tc.warmup_ratio);
    num("grad_clip", tc.grad_clip);
    num("grad_accum", tc.grad_accum);
    num("dropout", tc.dropout);
    num("eval_every", tc.eval_every);
    num("log_every", tc.log_every);
    num("early_stopping", tc.early_stopping);
    num("max_eval_examples", tc.max_eval_examples);
    num("max_length", tc.max_length);
    num("seed", tc.seed);
    num("threads", tc.threads);
    num("beam_size", tc.beam_size);
    num("max_new_tokens", tc.max_new_tokens);
    if (auto it = j.find("schedule"); it != j.end()) {
        if (!it->is_string()) throw Error(where, "'schedule' must be a string");
        try {
            tc.schedule = scheduleFromString(it->get<std::string>());
        } catch (const Error& e) {
            throw Error(where, e.reason());
        }
    }
    if (auto it = j.find("device"); it != j.end()) {
        if (!it->is_string()) throw Error(where, "'device' must be a string");
        tc.device = it->get<std::string>();
    }
    return tc;
}

std::string projectBackboneDir(const json& ref, const std::string& where) {
    if (ref.contains("path") && ref["path"].is_string()) return ref["path"].get<std::string>();
    const std::string id = ref.contains("id") && ref["id"].is_string() ? ref["id"].get<std::string>() : "";
    if (id == "default") {
        const std::string dir = defaultBackboneDir();
        if (dir.empty()) throw Error(where, "the shipped default backbone is not installed");
        return dir;
    }
    throw Error(where,
                "backbone '" + ref.dump() + "' cannot train built-in tasks (use the default backbone)");
}

ModelConfig projectBackboneConfig(const json& ref, const std::string& where) {
    return folderModelConfig(projectBackboneDir(ref, where));
}

json backboneReference(const std::string& dir0) {
    std::error_code ec;
    const std::string dir = std::filesystem::absolute(dir0, ec).lexically_normal().string();
    if (!std::filesystem::is_directory(dir)) throw Error(dir0, "not a folder");
    json ref = {{"path", dir}};
    const ModelConfig cfg = projectBackboneConfig(ref, dir);
    ref["name"] = cfg.name;
    std::string weights = "model.safetensors";
    if (isHfModelDir(dir)) {
        ref["model_type"] =
            JsonFields(readJsonFile(dir + "/config.json"), dir + "/config.json").text("model_type");
        loadHfTokenizer(dir, ref["model_type"].get<std::string>());  // fails here, not at the first run
        if (!std::filesystem::exists(dir + "/" + weights)) weights = "model.safetensors.index.json";
    }
    const std::string path = dir + "/" + weights;
    if (!std::filesystem::exists(path))
        throw Error(dir, "no weights: expected model.safetensors or model.safetensors.index.json");
    ref["weights"] = weights;
    if (std::filesystem::file_size(path, ec) < (uint64_t(1) << 30)) ref["hash"] = sha256File(path);
    return ref;
}

int64_t addFileDataset(Project& project, const FileDatasetSpec& spec0) {
    FileDatasetSpec spec = spec0;
    std::error_code ec;
    for (std::string* p : {&spec.train, &spec.dev, &spec.test})
        if (!p->empty()) *p = std::filesystem::absolute(*p, ec).lexically_normal().string();
    const FileData data = readFileData(spec);  // fails here, with file and line, not at the first run
    DatasetRecord d;
    d.name = std::filesystem::path(spec.train).filename().string();
    d.source = "file";
    d.path = spec.train;
    d.content_hash = sha256File(spec.train);
    d.labels = data.labels;
    d.mapping = {{"files", data.spec},
                 {"train_examples", data.seq2seq ? data.strain.size() : data.train.size()},
                 {"dev_examples", data.seq2seq ? data.sdev.size() : data.dev.size()},
                 {"skipped_rows", data.skipped}};
    if (!spec.dev.empty()) d.mapping["dev_hash"] = sha256File(spec.dev);
    return project.addDataset(d);
}

FileData readRecordedFiles(const DatasetRecord& d, const std::string& where) {
    const std::string what = where + ": dataset '" + d.name + "'";
    if (!d.mapping.contains("files")) throw Error(what, "no file mapping recorded");
    const FileDatasetSpec spec = fileDatasetSpecFromJson(d.mapping["files"], what + " mapping");
    for (const std::string* p : {&spec.train, &spec.dev, &spec.test})
        if (!p->empty() && !std::filesystem::exists(*p))
            throw Error(what, "'" + *p + "' is not there any more (moved or deleted since it was imported)");
    if (!d.content_hash.empty() && sha256File(spec.train) != d.content_hash)
        throw Error(what, "'" + spec.train +
                              "' changed since it was imported (its SHA-256 differs): import it "
                              "again to train on the new contents");
    return readFileData(spec);
}

int64_t queueFileRun(Project& project, const std::string& name, const std::string& preset, const Spec& spec,
                     int64_t datasetId, const TrainConfig& tc) {
    bool found = false;
    for (const auto& d : project.datasets())
        found = found || (d.id == datasetId && d.source == "file");
    if (!found)
        throw Error("dataset", "no imported dataset " + std::to_string(datasetId) + " in the project");
    RunRecord r;
    r.name = name;
    r.preset = preset;
    r.spec = spec;
    r.train_config = trainConfigToJson(tc);
    r.dataset_id = datasetId;
    r.seed = tc.seed;
    r.device = tc.device;
    r.steps_total = tc.steps;
    return project.addRun(r);
}

int64_t queueBuiltinRun(Project& project, const std::string& name, const std::string& preset,
                        const Spec& spec, const std::string& task, const TrainConfig& tc) {
    const auto labels = builtinTaskLabels(task);
    std::optional<int64_t> dataset;
    for (const auto& d : project.datasets())
        if (d.source == "builtin" && d.name == task) dataset = d.id;
    if (!dataset) {
        DatasetRecord d;
        d.name = task;
        d.source = "builtin";
        d.labels = labels;
        d.mapping = {{"train_examples", TaskSizes{}.train}, {"dev_examples", TaskSizes{}.dev}};
        dataset = project.addDataset(d);
    }
    RunRecord r;
    r.name = name;
    r.preset = preset;
    r.spec = spec;
    r.train_config = trainConfigToJson(tc);
    r.train_config["task"] = task;
    r.dataset_id = dataset;
    r.seed = tc.seed;
    r.device = tc.device;
    r.steps_total = tc.steps;
    return project.addRun(r);
}

namespace {

/// The label names a run trains for: its built-in task's, or its imported dataset's (empty: generation).
std::vector<std::string> labelsOfRun(const Project& project, const RunRecord& run, std::string& task) {
    task.clear();
    if (auto it = run.train_config.find("task"); it != run.train_config.end() && it->is_string())
        task = it->get<std::string>();
    if (task.empty() && run.dataset_id)
        for (const auto& d : project.datasets())
            if (d.id == *run.dataset_id) {
                if (d.source == "builtin") task = d.name;
                if (d.source == "file") return d.labels;
            }
    return builtinTaskLabels(task.empty() ? "sentiment" : task);
}

/// A project's backbone folder loaded for `numLabels` classes: a Hugging Face folder (with its tokenizer) or
/// one of the workbench's own (with its vocabulary and provenance).
struct ProjectBackbone {
    Transformer model{nullptr};
    std::string modelType;                    // bert | roberta | gpt2, or empty
    std::shared_ptr<const TextTokenizer> hf;  // Hugging Face folders
    std::vector<std::string> vocab;           // the workbench's own
    json info;                                // the workbench's own: provenance (world seed, …)
};

ProjectBackbone loadProjectBackbone(const std::string& dir, int64_t numLabels, uint64_t seed) {
    ProjectBackbone pb;
    if (isHfModelDir(dir)) {
        HfModel h = loadHfModel(dir, numLabels, seed);
        pb.model = h.model;
        pb.modelType = h.model_type;
        pb.hf = std::move(h.tokenizer);
    } else {
        Backbone b = loadBackbone(dir, numLabels, seed);
        pb.model = b.model;
        pb.vocab = std::move(b.vocab);
        pb.info = std::move(b.info);
    }
    return pb;
}

/// The run's spec on `model`: from the adapter it was queued from (its weights as the start), else fresh.
void applyRunSpec(Transformer& model, const RunRecord& run, const std::string& modelType,
                  const std::string& where) {
    if (auto it = run.train_config.find("init_adapter"); it != run.train_config.end() && it->is_string()) {
        const AdapterInfo info = importAdapter(it->get<std::string>(), model, modelType);
        if (json(info.spec) != run.spec)
            throw Error(where,
                        "the adapter at '" + it->get<std::string>() + "' no longer matches the run's spec");
        return;
    }
    model->applySpec(specFromJson(run.spec));
}

}  // namespace

int64_t queueAdapterRun(Project& project, const std::string& name, const std::string& adapterDir,
                        const std::string& task, std::optional<int64_t> datasetId, const TrainConfig& tc) {
    std::error_code ec;
    const std::string dir = std::filesystem::absolute(adapterDir, ec).lexically_normal().string();
    std::vector<std::string> labels;
    if (datasetId) {
        for (const auto& d : project.datasets())
            if (d.id == *datasetId) labels = d.labels;
    } else {
        labels = builtinTaskLabels(task);
    }
    const std::string where = project.path() + ": adapter " + dir;
    const std::string backboneDir = projectBackboneDir(project.backbone(), where);
    ProjectBackbone pb = loadProjectBackbone(backboneDir, int64_t(labels.size()), tc.seed);
    const AdapterInfo info = importAdapter(dir, pb.model, pb.modelType);  // checks it fits this backbone, now
    RunRecord r;
    r.name = name.empty() ? info.spec.name + " from " + std::filesystem::path(dir).filename().string() : name;
    r.preset = "adapter";
    r.spec = info.spec;
    r.train_config = trainConfigToJson(tc);
    r.train_config["init_adapter"] = dir;
    if (!datasetId) r.train_config["task"] = task;
    r.dataset_id = datasetId;
    r.seed = tc.seed;
    r.device = tc.device;
    r.steps_total = tc.steps;
    if (!datasetId) {  // the built-in task's dataset row, shared with its other runs
        for (const auto& d : project.datasets())
            if (d.source == "builtin" && d.name == task) r.dataset_id = d.id;
    }
    return project.addRun(r);
}

json exportRunAdapter(const std::string& projectPath, int64_t run, const std::string& format,
                      const std::string& outDir) {
    RunModel rm = loadRunModel(projectPath, run);
    const AdapterInfo info =
        exportAdapter(outDir, format, rm.model, rm.modelType, rm.backboneDir, rm.classification);
    return {{"format", info.format}, {"peft_type", info.peft_type}, {"dir", outDir},
            {"weights", rm.weights}, {"spec", info.spec.name},      {"has_head", info.has_head},
            {"config", info.config}};
}

TrainResult executeRun(const std::string& projectPath, int64_t runId, const ExecuteOptions& opts) {
    auto project = Project::open(projectPath);
    if (project->readOnly()) throw Error(projectPath, "cannot train: the project is open read-only");
    const RunRecord run = project->run(runId);
    const std::string where = projectPath + ": run " + std::to_string(runId);

    TrainConfig tc;
    Dataset data;
    Transformer model{nullptr};
    Detokenizer detok;
    TrainCheckpoint resumeState;
    Spec spec;
    if (run.state == RunState::Finished) throw Error(where, "already finished");  // and stays so
    try {
        tc = trainConfigFromJson(run.train_config, where + " train_config");
        tc.seed = run.seed;
        tc.device = run.device;
        spec = specFromJson(run.spec);
        std::string task;
        int64_t trainSize = TaskSizes{}.train;
        if (auto it = run.train_config.find("task"); it != run.train_config.end() && it->is_string())
            task = it->get<std::string>();
        if (auto it = run.train_config.find("train_size"); it != run.train_config.end() && it->is_number())
            trainSize = it->get<int64_t>();
        std::optional<FileData> files;
        if (task.empty() && run.dataset_id)
            for (const auto& d : project->datasets()) {
                if (d.id != *run.dataset_id) continue;
                if (d.source == "builtin") task = d.name;
                if (d.source == "file") files = readRecordedFiles(d, where);
            }
        if (task.empty() && !files)
            throw Error(where, "no dataset recorded: neither a built-in task nor an imported file");
        const auto labels = files ? files->labels : builtinTaskLabels(task);

        const std::string dir = projectBackboneDir(project->backbone(), where);
        TaskSizes sizes;
        sizes.train = trainSize;
        // The spec first: inputs are cut to what fits beside its prompt / prefix tokens.
        ProjectBackbone pb = loadProjectBackbone(dir, int64_t(labels.size()), run.seed);
        model = pb.model;
        applyRunSpec(model, run, pb.modelType, where);
        tc.max_length = std::min(tc.max_length, model->maxInputTokens());
        if (pb.hf) {  // an imported Hugging Face backbone reads the tasks through its tokenizer
            std::shared_ptr<const TextTokenizer> tok = pb.hf;
            const TaskEncoder enc = hfEncoder(tok, model->config().type_vocab_size > 0);
            data = files ? encodeFileData(*files, enc, tc.max_length)
                         : builtinTask(task, World(1), enc, sizes, 7);
            tc.pad_id = tok->padId() >= 0 ? tok->padId() : tok->sepId();
            tc.eos_id = tok->sepId();
            detok = [tok](const std::vector<int64_t>& ids) { return tok->decode(ids); };
        } else {
            const World world(pb.info.value("world_seed", uint64_t{1}));
            const WordTokenizer tok = WordTokenizer::fromVocabulary(pb.vocab, where + " vocabulary");
            data = files ? encodeFileData(*files, plainWordEncoder(tok), tc.max_length)
                         : builtinTask(task, world, tok, sizes, 7);
            tc.pad_id = WordTokenizer::kPad;
            tc.eos_id = WordTokenizer::kEos;
            detok = [tok](const std::vector<int64_t>& ids) { return tok.decode(ids); };
        }
    } catch (const Error& e) {
        project->setRunState(runId, RunState::Failed, e.what());
        throw;
    }

    // A resume that cannot load its state changes nothing: the run keeps its status, steps and metrics
    // (the recorder drops the metrics after the checkpoint only once the trainer has loaded it whole).
    std::unique_ptr<Trainer> trainerOwner;
    try {
        if (opts.resume) resumeState = resumeCheckpoint(*project, runId);
        trainerOwner = std::make_unique<Trainer>(model, data, tc, detok);  // checks the settings
        if (opts.resume) trainerOwner->resumeFrom(std::move(resumeState));
    } catch (const Error& e) {
        if (!opts.resume) project->setRunState(runId, RunState::Failed, e.what());
        throw;
    }
    Trainer& trainer = *trainerOwner;
    if (opts.onTrainer) opts.onTrainer(&trainer);
    ProjectRecorder recorder(*project, runId, opts.flush_seconds);
    recorder.chain(opts.observer);
    TrainResult r;
    try {
        r = trainer.run(&recorder);
    } catch (const std::exception& e) {
        if (opts.onTrainer) opts.onTrainer(nullptr);
        recorder.recordFailure(e);
        throw;
    } catch (...) {
        if (opts.onTrainer) opts.onTrainer(nullptr);
        throw;
    }
    if (opts.onTrainer) opts.onTrainer(nullptr);
    recorder.flush();
    const ParamReport rep = countParams(spec, model->config());
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

RunModel loadRunModel(const std::string& projectPath, int64_t runId) {
    auto project = Project::open(projectPath, Project::Mode::ReadOnly);
    const RunRecord run = project->run(runId);
    const std::string where = projectPath + ": run " + std::to_string(runId);
    RunModel rm;
    const auto labels = labelsOfRun(*project, run, rm.task);
    rm.classification = !labels.empty();
    rm.backboneDir = projectBackboneDir(project->backbone(), where);
    ProjectBackbone pb = loadProjectBackbone(rm.backboneDir, int64_t(labels.size()), run.seed);
    rm.model = pb.model;
    rm.modelType = pb.modelType;
    rm.hfTokenizer = pb.hf;
    rm.worldVocab = std::move(pb.vocab);
    applyRunSpec(rm.model, run, rm.modelType, where);
    rm.weights = run.train_config.contains("init_adapter") ? "the imported adapter" : "initial";
    for (const char* kind : {"best", "eval"})
        if (const auto c = project->checkpoint(runId, kind)) {
            loadTrainableInto(rm.model, parseSafetensors(c->tensors, where + " checkpoint").tensors,
                              where + " " + kind + " checkpoint");
            rm.weights = std::string(kind == std::string("best") ? "best" : "last") + " checkpoint (step " +
                         std::to_string(c->step) + ")";
            break;
        }
    rm.model->eval();
    return rm;
}

LambdaMap lambdaOfRun(const std::string& projectPath, int64_t runId, const std::string& text) {
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
    out.weights = rm.weights;
    std::vector<int64_t> ids;
    std::function<std::string(int64_t)> tokenText;
    if (rm.hfTokenizer) {
        std::shared_ptr<const TextTokenizer> tok = rm.hfTokenizer;
        ids = hfEncoder(tok, false).classify(text, std::nullopt).ids;
        tokenText = [tok](int64_t id) { return tok->idToken(id); };
    } else {
        const WordTokenizer tok = WordTokenizer::fromVocabulary(
            rm.worldVocab, projectPath + ": run " + std::to_string(runId) + " vocabulary");
        ids = tok.encode(text);
        if (!ids.empty() && !(rm.task == "sentiment")) ids.push_back(WordTokenizer::kEos);
        tokenText = [tok](int64_t id) { return tok.token(id); };
    }
    const int64_t maxPositions = rm.model->config().max_positions;
    if (ids.empty()) throw Error("text", "empty input");
    if (int64_t(ids.size()) > maxPositions)
        throw Error("text", std::to_string(ids.size()) + " tokens exceed the backbone's " +
                                std::to_string(maxPositions));
    torch::NoGradGuard ng;
    ForwardOptions fo;
    fo.capture_lambda = true;
    const ForwardResult r = rm.model->forward(torch::tensor(ids, torch::kLong).unsqueeze(0), {}, {}, fo);
    const torch::Tensor lam = r.lambda.select(1, 0).to(torch::kDouble).contiguous();  // [L, H, T]
    out.layers = lam.size(0);
    out.heads = lam.size(1);
    out.values.assign(lam.data_ptr<double>(), lam.data_ptr<double>() + lam.numel());
    for (int64_t id : ids)
        out.tokens.push_back(tokenText(id));
    return out;
}

}  // namespace peft
