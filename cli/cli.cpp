// SPDX-License-Identifier: GPL-3.0-or-later
// The headless CLI `peftwb`. app/peftwb.cpp only calls runCli(); every subcommand lives here.
#include "cli/cli.h"
#include "cli/commands.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <sstream>

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "data/byte_tokenizer.h"
#include "data/world.h"
#include "io/adapter.h"
#include "io/backbone.h"
#include "io/hf_model.h"
#include "model/transformer.h"
#include "peft/accounting.h"
#include "peft/presets.h"
#include "util/args.h"
#include "util/error.h"
#include "util/files.h"
#include "util/json_read.h"
#include "util/system.h"
#include "util/torch_runtime.h"

namespace peft {

namespace {

using json = nlohmann::json;

struct Command {
    const char* name;
    const char* summary;
    const char* usage;  // the full --help text
    std::vector<OptionSpec> options;
    std::function<int(const Args&, std::ostream&, std::ostream&)> run;
    bool subcommands = false;  // takes positional words: "project runs FILE", "study show ID"
};

// ----- presets ------------------------------------------------------------------------------------

int cmdPresets(const Args& a, std::ostream& out, std::ostream&) {
    if (a.flag("json")) {
        out << json(presets()).dump(2) << "\n";
        return 0;
    }
    for (const auto& p : presets()) {
        out << p.id << std::string(p.id.size() < 18 ? 18 - p.id.size() : 1, ' ') << p.name << "\n"
            << std::string(18, ' ') << p.formula << "\n"
            << std::string(18, ' ') << "paper: " << p.paper_row << "\n";
    }
    return 0;
}

// ----- params -------------------------------------------------------------------------------------

int cmdParams(const Args& a, std::ostream& out, std::ostream&) {
    const ModelConfig cfg = backboneConfig(a);
    const Spec spec = chosenSpec(a, cfg);
    const ParamReport rep = countParams(spec, cfg);
    if (a.flag("json")) {
        json j = rep;
        j["spec"] = spec;
        j["backbone_name"] = cfg.name;
        out << j.dump(2) << "\n";
        return 0;
    }
    out << "backbone: " << cfg.name << " (d = " << cfg.d_model << ", " << cfg.n_layers << " layers, "
        << cfg.n_heads << " heads, d_m = " << cfg.d_ff << ")\n";
    out << "spec: " << spec.name << "\n" << formula(spec) << "\n\n";
    out << rep.table() << "\n" << rep.summaryLine() << "\n";
    return 0;
}

// ----- forward ------------------------------------------------------------------------------------

json tensorToJson(const torch::Tensor& t) {
    torch::Tensor c = t.to(torch::kCPU, torch::kDouble).contiguous();
    if (c.dim() == 0) return c.item<double>();
    json arr = json::array();
    for (int64_t i = 0; i < c.size(0); ++i)
        arr.push_back(tensorToJson(c[i]));
    return arr;
}

int cmdForward(const Args& a, std::ostream& out, std::ostream&) {
    const uint64_t seed = static_cast<uint64_t>(a.getInt("seed").value_or(0));
    LoadedBackbone lb = chosenBackbone(a, 0, seed);
    const ModelConfig& cfg = lb.config;
    const auto adapter = a.get("adapter");
    if (adapter && (a.get("preset") || a.get("spec")))
        throw Error("--adapter",
                    "the adapter brings its own spec: give --adapter or --preset / --spec, not both");
    Transformer model = lb.model;
    if (adapter)
        importAdapter(*adapter, model, lb.info.is_object() ? lb.info.value("model_type", "") : std::string());
    else if (a.get("preset") || a.get("spec"))
        model->applySpec(chosenSpec(a, cfg));
    // Without --preset / --spec / --adapter: the unmodified backbone.
    const Spec spec = model->spec();
    const std::string specName = model->hasSpec() ? spec.name : std::string("none (the unmodified backbone)");
    const std::string head = a.get("head").value_or(lb.causalLm ? "lm" : "cls");
    if (head != "lm" && head != "cls") throw Error("--head", "expected 'lm' or 'cls', got '" + head + "'");
    const std::string text =
        a.get("text").value_or(lb.world ? "the plot was not bad ." : "the movie was not bad at all");
    model->eval();

    const Example in = frameInput(lb, text, a.get("pair"), head == "lm");
    const std::vector<int64_t>& ids = in.ids;
    if (static_cast<int64_t>(ids.size()) > cfg.max_positions)
        throw Error("--text", std::to_string(ids.size()) + " tokens exceed max_positions " +
                                  std::to_string(cfg.max_positions));
    torch::NoGradGuard ng;
    const torch::Tensor input = torch::tensor(ids, torch::kLong).unsqueeze(0);  // [1, T]
    ForwardOptions fo;
    fo.lm = head == "lm";
    fo.cls = head == "cls";
    fo.capture_lambda = spec.hasGating();
    const torch::Tensor types =
        in.types.empty() ? torch::Tensor() : torch::tensor(in.types, torch::kLong).unsqueeze(0);
    const ForwardResult r = model->forward(input, {}, types, fo);
    const torch::Tensor logits = head == "lm" ? r.lm_logits[0][-1] : r.cls_logits[0];  // [V] or [C]

    json j;
    j["backbone"] = cfg.name;
    j["spec"] = specName;
    j["head"] = head;
    j["tokens"] = json::array();
    for (int64_t id : ids)
        j["tokens"].push_back(lb.tokenizer->tokenText(id));
    j["ids"] = ids;
    if (!in.types.empty()) j["type_ids"] = in.types;
    j["logits"] = tensorToJson(logits);
    if (!lb.notes.empty()) j["notes"] = lb.notes;
    if (fo.capture_lambda) {
        j["lambda"] = tensorToJson(r.lambda.select(1, 0));  // [L, H, T]
        if (cfg.encoderDecoder()) {  // the decoder reads the input shifted right: [L_dec, H, T]
            j["decoder_lambda"] = tensorToJson(r.decoder_lambda.select(1, 0));
            j["cross_lambda"] = tensorToJson(r.cross_lambda.select(1, 0));
        }
    } else {
        j["lambda_reason"] = "no gated prefix in '" + specName +
                             "': λ(x) is the prefix's share of the joint attention softmax, defined only for "
                             "prefix tuning with gated composition at head attention";
    }
    if (a.flag("json")) {
        out << j.dump() << "\n";
        return 0;
    }
    for (const auto& n : lb.notes)
        out << "note: " << n << "\n";
    out << "tokens: ";
    for (const auto& t : j["tokens"])
        out << "[" << t.get<std::string>() << "] ";
    out << "\n" << (head == "lm" ? "next-token logits (top 5): " : "class logits: ");
    const auto top = logits.topk(std::min<int64_t>(5, logits.size(0)));
    for (int64_t i = 0; i < std::get<0>(top).size(0); ++i) {
        const int64_t id = std::get<1>(top)[i].item<int64_t>();
        out << (head == "lm" ? lb.tokenizer->tokenText(id) : std::to_string(id)) << "="
            << std::get<0>(top)[i].item<double>() << " ";
    }
    out << "\n";
    if (fo.capture_lambda) {
        out << "mean λ(x) per layer:";
        const torch::Tensor means = r.lambda.mean({1, 2, 3});
        for (int64_t i = 0; i < means.size(0); ++i)
            out << " " << means[i].item<double>();
        out << "\n";
    } else {
        out << j["lambda_reason"].get<std::string>() << "\n";
    }
    return 0;
}

// ----- tokenize -----------------------------------------------------------------------------------

int cmdTokenize(const Args& a, std::ostream& out, std::ostream&) {
    const auto text = a.get("text");
    if (!text) throw Error("--text", "missing: give the text to tokenize");
    const LoadedBackbone lb = chosenBackbone(a, 0, 0);
    const Example in = frameInput(lb, *text, a.get("pair"), lb.causalLm);
    json j;
    j["tokens"] = json::array();
    for (int64_t id : in.ids)
        j["tokens"].push_back(lb.tokenizer->tokenText(id));
    j["ids"] = in.ids;
    if (!in.types.empty()) j["type_ids"] = in.types;
    if (a.flag("json")) {
        out << j.dump() << "\n";
        return 0;
    }
    for (size_t i = 0; i < in.ids.size(); ++i)
        out << in.ids[i] << "\t" << lb.tokenizer->tokenText(in.ids[i])
            << (in.types.empty() ? "" : "\t" + std::to_string(in.types[i])) << "\n";
    return 0;
}

// ----- demo (headless stand-in for the GUI) -------------------------------------------------------

const std::vector<OptionSpec> kSpecOptions = {{"preset"}, {"spec"},   {"r"},     {"l"},
                                              {"budget"}, {"config"}, {"model"}, {"random-init", false}};

/// The options that describe a data file, as fileSpecFromArgs reads them (train, eval, data, project import,
/// study run): one list.
const std::vector<OptionSpec> kDataFileOptions = {{"data"},
                                                  {"dev"},
                                                  {"test"},
                                                  {"text-column"},
                                                  {"pair-column"},
                                                  {"label-column"},
                                                  {"source-field"},
                                                  {"target-field"},
                                                  {"source-lang"},
                                                  {"target-lang"},
                                                  {"data-kind"},
                                                  {"dev-fraction"},
                                                  {"skip-bad-rows", false}};

std::vector<OptionSpec> withDataFileOptions(std::vector<OptionSpec> extra) {
    extra.insert(extra.end(), kDataFileOptions.begin(), kDataFileOptions.end());
    return extra;
}

std::vector<OptionSpec> withSpecOptions(std::vector<OptionSpec> extra) {
    extra.insert(extra.end(), kSpecOptions.begin(), kSpecOptions.end());
    extra.push_back({"json", false});
    return extra;
}

/// `peftwb train`'s options: the data's and the run's, and one per training setting (the TrainConfig table).
std::vector<OptionSpec> trainOptions() {
    std::vector<OptionSpec> o = withDataFileOptions({{"limit"},
                                                     {"metrics"},
                                                     {"quiet", false},
                                                     {"task"},
                                                     {"train-size"},
                                                     {"save"},
                                                     {"project"},
                                                     {"resume"},
                                                     {"name"},
                                                     {"notes"},
                                                     {"adapter"}});
    for (const TrainConfigField& f : trainConfigFields())
        o.push_back({f.flag});
    return o;
}

const char* kSpecHelp =
    "  --preset ID        a preset (see 'peftwb presets'), sized by its default budget\n"
    "  --spec FILE        a design-space spec (JSON) instead of a preset\n"
    "  --r N              bottleneck of every adapter / LoRA part of the preset\n"
    "  --l N              length of every prefix / prompt part of the preset\n"
    "  --budget PCT       size the preset to PCT % of backbone parameters (stored count)\n"
    "  --model DIR        a backbone folder (default: the shipped pretrained backbone; 'tiny-random' for "
    "the\n"
    "                     built-in random byte-level one)\n"
    "  --random-init      the backbone's shape and vocabulary with random weights (the baseline to beat)\n"
    "  --config FILE      a backbone config JSON with random weights (byte tokenizer)\n"
    "  --json             machine-readable output\n";

const std::vector<Command>& commands() {
    static const std::vector<Command> cmds = {
        {"presets",
         "list the design-space presets",
         "usage: peftwb presets [--json]\n\nLists every preset: id, name, formula, paper row.\n"
         "  --json             [{\"id\", \"name\", \"formula\", \"paper_row\", \"default_budget_pct\"}]\n",
         {{"json", false}},
         cmdPresets},
        {"params", "parameter counts of a preset or spec (trained / stored, per module)", nullptr,
         withSpecOptions({}), cmdParams},
        {"forward", "run one forward pass; print tokens, logits and λ(x)", nullptr,
         withSpecOptions({{"text"}, {"pair"}, {"head"}, {"seed"}, {"adapter"}}), cmdForward},
        {"export",
         "export a run's trained adapter: Hugging Face PEFT (LoRA, prefix tuning) or the workbench's own "
         "format",
         "usage: peftwb export --project FILE --run ID --out DIR [--format hf-peft|native] [--json]\n\n"
         "hf-peft  adapter_config.json + adapter_model.safetensors as PEFT writes them, for LoRA and prefix "
         "tuning\n"
         "         on a Hugging Face bert / roberta / gpt2 / bart / mbart backbone "
         "(PeftModel.from_pretrained\n"
         "         loads it; BART's prefix tuning is PEFT's SEQ_2_SEQ_LM prefix: the decoder's "
         "self-attention)\n"
         "native   every method of the design space: the spec and the trained tensors under the workbench's "
         "names\n"
         "The run's best checkpoint (else its latest) is exported, with the classification head for a\n"
         "classification task. 'peftwb forward --model DIR --adapter OUT' reads either back.\n",
         {{"project"}, {"run"}, {"out"}, {"format"}, {"json", false}},
         cmdExport},
        {"data",
         "inspect a data file as train --data reads it: format, columns, labels with counts, bad rows, read "
         "time",
         "usage: peftwb data --data FILE [--dev FILE] [--text-column C] [--pair-column C] [--label-column "
         "C]\n"
         "                   [--source-field F] [--target-field F] [--source-lang L --target-lang L]\n"
         "                   [--data-kind classification|seq2seq]\n"
         "                   [--skip-bad-rows] [--model DIR] [--json]\n\n"
         "With --model (a backbone folder; 'default' is the built-in world's): the share of the training "
         "text's tokens that its tokenizer maps to <unk>, with a warning from 20 %.\n",
         withDataFileOptions({{"model"}, {"json", false}}), cmdData},
        {"tokenize",
         "print a backbone's tokens and ids of a text (Hugging Face folders: exactly its tokenizer's)",
         "usage: peftwb tokenize --text \"…\" [--pair \"…\"] [--model DIR] [--json]\n\n"
         "Prints the tokens and ids of a text as the backbone reads it (special tokens included).\n"
         "  --text \"…\"         the text\n"
         "  --pair \"…\"         a second segment, framed as the family frames pairs\n"
         "  --model DIR        a backbone folder (default: the shipped one; 'tiny-random' for bytes)\n"
         "  --json             {\"tokens\", \"ids\", \"type_ids\"}\n",
         {{"model"}, {"text"}, {"pair"}, {"json", false}},
         cmdTokenize},
        {"train", "train a preset or spec on a dataset; progress on stderr, summary on stdout", nullptr,
         withSpecOptions(trainOptions()), cmdTrain},
        {"score",
         "score outputs against references: BLEU (sacreBLEU), ROUGE (rouge-score), accuracy",
         "usage: peftwb score --metric bleu|rouge|accuracy --hyp FILE --ref FILE [--ref FILE2 …] [--json]\n\n"
         "One segment per line. Several --ref files give several references per segment.\n"
         "  bleu      corpus BLEU as sacreBLEU computes it (13a tokenisation, exp smoothing), 0–100\n"
         "  rouge     ROUGE-1/2/L precision, recall, F as rouge-score computes them (no stemming), mean over "
         "lines\n"
         "  accuracy  exact line matches\n",
         {{"metric"}, {"hyp"}, {"ref", true, true}, {"json", false}},
         cmdScore},
        {"bench",
         "training-step and decoding benchmark of every preset against the measured matmul peak",
         "usage: peftwb bench [--json] [--threads N] [--steps N] [--batch N] [--presets a,b] [--backbones "
         "small,d512,bart-d512,gpt2-small,gpt2-medium]\n"
         "                    [--device cpu|cuda[:N]] [--precision fp32|tf32|bf16] [--no-decode]\n\n"
         "For each backbone (small: the default; d512: d = 512, 6 layers, 8 heads, sequence 128; bart-d512: "
         "d512's shape as an\n"
         "encoder–decoder, 6 + 6 layers; gpt2-small: d 768, 12 layers, 12 heads, vocabulary 50257, sequence "
         "512; gpt2-medium:\n"
         "d 1024, 24 layers, 16 heads, sequence 512 — bart-d512 and the GPT-2 shapes are benchmarked by "
         "default "
         "on a GPU only)\n"
         "and each preset: fastest step time of --steps (median in "
         "--json), tokens/s,\n"
         "GFLOP/s from an analytic FLOP count, its fraction of the matmul peak of the run's precision (fp32 "
         "or tf32: float32\n"
         "products, bf16: bfloat16 ones) measured in the same run on the same device (n = 1024 on CPU, 8192 "
         "on "
         "a GPU), step time\n"
         "relative to full fine-tuning, peak RSS and, on a GPU, the device memory the row's process holds "
         "(each row runs in its\n"
         "own process), trainable and AdamW state bytes. Then greedy and beam-4 decoding of each backbone "
         "(prompt 32, 64 new\n"
         "tokens): tokens/s with the key/value cache and re-reading the sequence each step, and their "
         "ratio.\n",
         {{"json", false},
          {"threads"},
          {"steps"},
          {"batch"},
          {"presets"},
          {"backbones"},
          {"row"},
          {"precision"},
          {"no-decode", false},
          {"device"}},
         cmdBench},
        {"pretrain",
         "pretrain a backbone on the built-in world's corpus and save it as a backbone folder",
         "usage: peftwb pretrain --out DIR [--steps N] [--batch-size N] [--lr X] [--seed N] [--threads N]\n"
         "                       [--d N] [--layers N] [--heads N] [--lines N]\n"
         "                       [--layout decoder|encoder-decoder] [--decoder-layers N]\n"
         "                       [--corpus standard|recall|parallel]\n"
         "                       [--device cpu|cuda] [--json]\n\n"
         "Builds the world from --seed, its word tokenizer, a causal pre-LN transformer (d 128, 4 layers, 4 "
         "heads,\n"
         "d_m = 4d by default), trains it as a language model on --lines corpus lines (full fine-tuning,\n"
         "AdamW, cosine schedule) and writes DIR/config.json, DIR/model.safetensors, DIR/vocab.txt. Reports "
         "the\n"
         "held-out perplexity. The same command, seed and thread count rebuild the same backbone.\n"
         "--corpus standard: reviews with verdicts, facts with a consequence, stories, gists, both "
         "languages\n"
         "(the backbone shipped until 2026-11-30); recall: that plus facts about one person and scenes that\n"
         "recall their place and colour, so facts can be looked up by name; parallel (default, the shipped\n"
         "backbone): recall plus, one line in ten, an English sentence followed by its translation.\n"
         "--layout encoder-decoder: a pre-LN encoder–decoder (--layers encoder and --decoder-layers decoder\n"
         "layers, the decoder cross-attending to the encoder, tied embeddings) trained as a denoising\n"
         "autoencoder with BART's text infilling: each corpus line with 30 % of its tokens masked in spans "
         "of\n"
         "Poisson(3) tokens, each span one <unk> (the world never writes <unk>), is the encoder's input and "
         "the\n"
         "whole line the decoder's target. It reads the same corpus as the decoder layout and never the "
         "tasks'\n"
         "own source → target pairs, so summarization and translation runs on it start from what the corpus\n"
         "taught (copying and completing text through cross-attention), as BART's do.\n",
         {{"out"},
          {"corpus"},
          {"layout"},
          {"decoder-layers"},
          {"steps"},
          {"batch-size"},
          {"lr"},
          {"seed"},
          {"threads"},
          {"d"},
          {"layers"},
          {"heads"},
          {"lines"},
          {"device"},
          {"json", false},
          {"quiet", false}},
         cmdPretrain},
        {"eval", "evaluate a saved checkpoint (train --save) or an adapter folder on a task or dataset split",
         "usage: peftwb eval (--checkpoint FILE | --adapter DIR) (--task NAME | --data FILE [--dev FILE] "
         "[--test "
         "FILE])\n"
         "                   [--split dev|test] [--model DIR] [--max-eval N] [--predictions FILE]\n"
         "                   [--beam N] [--max-new-tokens N] [--json]\n"
         "\n"
         "Prints the split's metrics; for classification also the confusion matrix (rows: gold label,\n"
         "columns: predicted). Generation tasks decode greedily (--beam N: beam search; --max-new-tokens,\n"
         "default 24). --predictions FILE writes one TSV row per example scored: index, gold and predicted\n"
         "label (or reference and output of a generation task), and the input as the model read it.\n",
         withDataFileOptions({{"checkpoint"},
                              {"predictions"},
                              {"adapter"},
                              {"task"},
                              {"split"},
                              {"model"},
                              {"config"},
                              {"seed"},
                              {"max-eval"},
                              {"threads"},
                              {"beam"},
                              {"max-new-tokens"},
                              {"json", false}}),
         cmdEval},
        {"project",
         "experiment projects: new, info, runs, show, metrics, export-csv, queue, run, resume, notes, merge",
         "usage: peftwb project new FILE [--model DIR|default|tiny-random | --config FILE]\n"
         "       peftwb project info FILE [--json]\n"
         "       peftwb project runs FILE [--json]\n"
         "       peftwb project show FILE --run ID [--json]   (the run's complete record)\n"
         "       peftwb project metrics FILE --run ID [--name NAME] [--json]\n"
         "       peftwb project export-csv FILE --run ID [--out CSV]\n"
         "       peftwb project import FILE --data TRAIN [--dev DEV] [--test TEST] [--text-column C] …\n"
         "                    (checks the files and records them: path, SHA-256, column mapping, labels)\n"
         "       peftwb project queue FILE [--preset ID,ID,…|all] [--task NAME | --dataset ID] [--steps N] "
         "[--seed "
         "N]\n"
         "       peftwb project queue FILE --adapter DIR [--task NAME | --dataset ID] [--steps N] [--lr X]\n"
         "                    (a run that starts from an adapter folder: PEFT LoRA / prefix tuning, or "
         "native)\n"
         "       peftwb project run FILE [--run ID] [--threads N] [--parallel N] [--device D]\n"
         "                    [--gpus all|0,2,…] [--runs-per-gpu K]   (the run, or every queued run: in "
         "order,\n"
         "                    or N at a time in processes of their own sharing the threads; runs asking for\n"
         "                    cuda each get one of --gpus, at most K on each; --device: where this run "
         "trains\n"
         "                    instead of the record's device, recorded in the run)\n"
         "       peftwb project resume FILE --run ID [--threads N] [--device D] [--quiet]\n"
         "                    (run and resume take --events: one JSON line per progress report, metric "
         "point\n"
         "                    and status on stdout, and pause / resume / cancel lines on stdin — how the\n"
         "                    workbench trains runs side by side)\n"
         "       peftwb project notes FILE --run ID --text TEXT\n"
         "       peftwb project compact FILE [--drop-checkpoints]   (give deleted runs' space back; first "
         "delete\n"
         "                    every checkpoint, keeping metrics and summaries)\n"
         "       peftwb project bench FILE [--points N]   (metric append throughput into a new FILE)\n"
         "       peftwb project merge FILE [SHARD…] [--shards DIR] [--no-slurm]   (cluster tasks' shards "
         "into\n"
         "                    the project, each in one transaction; again and again is harmless; then runs\n"
         "                    whose Slurm task ended without them are marked, with the task's log)\n\n"
         "A project is one SQLite file (.peftproj, documented in docs/project-format.md). Record runs into "
         "it\n"
         "with 'peftwb train --project FILE …'. 'resume' continues an interrupted run from its last\n"
         "checkpoint, from the run's record alone, wherever the run was created (train, queue, the GUI).\n"
         "Queued presets train with the preset's learning rate and an evaluation every tenth of the steps.\n"
         "  --json  runs: [{\"id\", \"name\", \"preset\", \"spec\", \"status\", \"steps_done\", "
         "\"steps_total\",\n"
         "                  \"best_metric\", \"metric_name\", \"record\": {\"spec\", \"train\", \"data\", "
         "\"backbone\", \"init_adapter\"}}]\n",
         withDataFileOptions({{"run"},
                              {"name"},
                              {"json", false},
                              {"out"},
                              {"model"},
                              {"config"},
                              {"text"},
                              {"threads"},
                              {"quiet", false},
                              {"points"},
                              {"preset"},
                              {"task"},
                              {"steps"},
                              {"seed"},
                              {"dataset"},
                              {"adapter"},
                              {"lr"},
                              {"parallel"},
                              {"events", false},
                              {"drop-checkpoints", false},
                              {"shards"},
                              {"no-slurm", false},
                              {"device"},
                              {"gpus"},
                              {"runs-per-gpu"}}),
         cmdProject, true},
        {"slurm",
         "runs of a project as one Slurm job array; each task writes its own shard, merged back after",
         "usage: peftwb slurm submit --project P --shards DIR [--runs IDS | --queued] [--partition X]\n"
         "                  [--gpus-per-task N] [--cpus-per-task N] [--time HH:MM:SS] [--mem M]\n"
         "                  [--max-parallel K] [--runs-per-task N] [--extra '--OPTION=VALUE']… [--dry-run]\n"
         "       peftwb slurm status --project P [--json]\n"
         "       peftwb slurm task --shards DIR [--index N] [--threads N]   (what each array task runs)\n\n"
         "'submit' writes DIR/submit.sbatch (commented: which task trains which runs) and one shard per\n"
         "task, DIR/task-<i>.peftproj (a small project holding its runs), submits them with sbatch as one\n"
         "job array (--requeue, logs in DIR/logs/, appended when a task is requeued) and records the job\n"
         "and each run's array index in the project: the runs become 'submitted'. --dry-run prints the\n"
         "script and writes nothing. DIR must be on a file system the nodes see (the shards use a rollback\n"
         "journal, never WAL, so NFS is fine); no task writes the project. A task stopped by SIGTERM\n"
         "(preemption, requeue, the time limit) writes a checkpoint first: the requeued task resumes there.\n"
         "'status' lists per run Slurm's state (squeue, scontrol, sacct), what its shard holds, and what "
         "the\n"
         "project holds. Bring results home with 'peftwb project merge P --shards DIR' (the workbench does\n"
         "it on its own while the project is open). Runs: IDS like 3,5,7-9; default every queued run.\n"
         "--cpus-per-task N also sets the task's threads. PEFTWB_SBATCH names another sbatch.\n",
         {{"project"},
          {"shards"},
          {"runs"},
          {"queued", false},
          {"partition"},
          {"gpus-per-task"},
          {"cpus-per-task"},
          {"time"},
          {"mem"},
          {"max-parallel"},
          {"runs-per-task"},
          {"extra", true, true},
          {"dry-run", false},
          {"json", false},
          {"index"},
          {"threads"}},
         cmdSlurm,
         true},
        {"study",
         "the paper's experiments as studies: arms × budgets × tasks × seeds, paired verdicts with intervals",
         "usage: peftwb study list [--json]\n"
         "       peftwb study show ID|FILE [--seeds N] [--task T,…] [--json]\n"
         "       peftwb study run ID|FILE --project P [--seeds N] [--task T,…] [--steps N] [--threads N]\n"
         "                  [--parallel N [--gpus all|0,2,…] [--runs-per-gpu K]] [--model DIR | --data FILE "
         "…]\n"
         "                  [--queue-only]\n"
         "       peftwb study report ID|FILE --project P [--out DIR] [--seeds N] [--task T,…] [--json]\n\n"
         "A study (built in: resources/studies/, or a JSON file of your own; docs/studies.md) is a claim\n"
         "of the paper, arms (presets or specs at budgets), tasks, seeds and comparisons. 'run' queues one "
         "run\n"
         "per arm × budget × task × seed in the project (created on --model's backbone when new; --data "
         "trains\n"
         "on your file instead of the study's tasks) and trains those not finished: run it again to resume,\n"
         "or with more --seeds to add only the new runs. 'report' gives per cell the mean over seeds with\n"
         "its 95 % Student-t interval and n, and per comparison the paired difference, its interval and the\n"
         "verdict (agrees / disagrees / inconclusive, with the seeds an inconclusive one would need); --out\n"
         "writes report.md, runs.csv (one row per run), table.tex and plot.svg. --parallel N trains N runs "
         "at\n"
         "a time, each in its own process with threads / N threads (two 1-thread runs on 2 cores finish a\n"
         "study of the built-in backbone sooner than 2-thread runs one at a time; docs/benchmarks.md); runs\n"
         "on cuda are spread over the GPUs (--gpus, default all present), at most --runs-per-gpu on each.\n",
         withDataFileOptions({{"project"},
                              {"parallel"},
                              {"gpus"},
                              {"runs-per-gpu"},
                              {"seeds"},
                              {"task"},
                              {"steps"},
                              {"threads"},
                              {"model"},
                              {"config"},
                              {"queue-only", false},
                              {"out"},
                              {"json", false}}),
         cmdStudy, true},
        {"lm-probe",
         "what a built-in-world backbone's language model knows: review verdicts, looking facts up",
         "usage: peftwb lm-probe [--model DIR] [--n N] [--json]\n\n"
         "On N fresh examples (default 500): how often the LM continues a sentiment review with the right\n"
         "verdict (\"… . i\" → liked / did), and after \"<premise> so NAME is in the\" whether its top place "
         "is\n"
         "NAME's (lookup) or any place of the premise; and after a story's \"… NAME VERB the\" whether its "
         "top\n"
         "object is the story's, the only one in its context (copy). What a frozen backbone offers the "
         "tasks.\n",
         {{"model"}, {"n"}, {"json", false}},
         cmdLmProbe},
        {"demo",
         "headless demo: trains presets on the sentiment task, compares them with full fine-tuning, shows "
         "λ(x)",
         "usage: peftwb demo [--presets a,b,…] [--steps N] [--train-size N] [--seed N] [--threads N]\n"
         "                   [--model DIR | --config FILE] [--project FILE] [--quiet]\n\n"
         "What the workbench does, without a display: queues the presets (default full, bitfit, lora, "
         "pa-ffn,\n"
         "mam) on the built-in sentiment task in a project (a temporary one unless --project), trains them "
         "one\n"
         "after another through the same pipeline as the GUI (200 steps each on 2,000 examples by default;\n"
         "about a minute on 2 cores), then prints each one's trained share of the backbone, dev accuracy "
         "with\n"
         "its 95 % Wilson interval over the dev examples, the difference from full fine-tuning and the "
         "time,\n"
         "and λ(x) of the trained MAM's gated prefix for one sentence.\n",
         {{"config"},
          {"model"},
          {"presets"},
          {"steps"},
          {"train-size"},
          {"seed"},
          {"threads"},
          {"project"},
          {"quiet", false}},
         cmdDemo},
    };
    return cmds;
}

std::string commandHelp(const Command& c) {
    if (c.usage) return c.usage;
    const bool forward = std::string(c.name) == "forward";
    std::string s = std::string("usage: peftwb ") + c.name +
                    (forward ? " [--preset ID | --spec FILE | --adapter DIR] [options]\n\n"
                             : " (--preset ID | --spec FILE) [options]\n\n") +
                    c.summary + (forward ? " (without a spec: the unmodified backbone)" : "") + "\n\n" +
                    kSpecHelp;
    if (std::string(c.name) == "forward")
        s += "  --text \"…\"         input text (words of the built-in world, or bytes for tiny-random)\n"
             "  --pair \"…\"         a second segment (BERT: [CLS] text [SEP] pair [SEP], token types 0/1)\n"
             "  --model DIR        a backbone folder: the built-in world's, or a Hugging Face bert / roberta "
             "/ gpt2 folder (model.safetensors or pytorch_model.bin)\n"
             "  --adapter DIR      an adapter folder (Hugging Face PEFT LoRA / prefix tuning, or native) "
             "instead "
             "of --preset\n"
             "  --head lm|cls      LM head (last position's logits) or classification head\n"
             "  --seed N           seed of the random backbone and delta initialisation (default 0)\n"
             "\nJSON: {\"tokens\", \"ids\", \"logits\", \"lambda\": [layers][heads][tokens]} or "
             "\"lambda_reason\"\n";
    if (std::string(c.name) == "train")
        s +=
            "  --task NAME        a built-in task: sentiment, entailment, summarization, translation\n"
            "  --train-size N     training examples of the built-in task (default 8000; dev 500)\n"
            "  --data FILE        or your data: a TSV / CSV / JSON Lines table with a header (text, optional "
            "second text, label;\n"
            "                     GLUE's SST-2, RTE, MNLI, QNLI, QQP columns are recognised), or "
            "sequence-to-sequence pairs\n"
            "                     (JSON Lines with source / target or translation.L, or FILE.source + "
            "FILE.target)\n"
            "  --dev FILE, --test FILE   same layout; without --dev, --dev-fraction F (0.1) of the training "
            "rows,\n"
            "                     split with --seed\n"
            "  --text-column C, --pair-column C, --label-column C, --source-field F, --target-field F\n"
            "  --source-lang L, --target-lang L   the translation layout {\"translation\": {\"en\": …, "
            "\"ro\": …}}\n"
            "  --data-kind classification|seq2seq   (default: from the file)\n"
            "  --skip-bad-rows    skip malformed rows (counted and reported) instead of stopping at the "
            "first\n"
            "  --limit N          use the first N training rows\n"
            "  --metrics FILE     JSON Lines: {\"step\", \"split\", \"name\", \"value\", \"wall_time\"}\n"
            "  --quiet            no progress line\n"
            "  --adapter DIR      start from an adapter folder (Hugging Face PEFT LoRA / prefix tuning, or "
            "native) instead of --preset\n"
            "  --save FILE        write the best checkpoint's trainable parameters (safetensors, spec in "
            "metadata)\n"
            "  --project FILE     record the run into a project (.peftproj; created when missing): config,\n"
            "                     metrics as they come, checkpoints at evaluations, summary\n"
            "  --name TEXT  --notes TEXT   the recorded run's name and notes\n"
            "  --resume ID        with --project: continue run ID (created anywhere) from its last "
            "checkpoint, as\n"
            "                     recorded (only --threads may differ)\n"
            "\nTraining settings (every one is recorded with the run):\n" +
            trainSettingsHelp() +
            "  (this command's defaults: --lr the preset's, --max-length the backbone's, --max-eval 200 and\n"
            "   --max-new-tokens 24 for generation)\n"
            "\nExit code 0 finished, 1 error, 3 diverged (NaN/Inf loss; the message names the step).\n"
            "JSON: {\"status\", \"best_dev_metric\", \"metric_name\", \"best_step\", \"steps\", "
            "\"seconds\", …}\n";
    if (std::string(c.name) == "params")
        s += "\nJSON: {\"backbone\", \"head\", \"trained\", \"stored\", \"modules\": [{\"name\", \"layer\", "
             "\"trained\", \"stored\"}], \"spec\"}\n";
    return s;
}

std::string mainHelp() {
    std::string s =
        "usage: peftwb [--version] [--help] <command> [options]\n\n"
        "PEFT Workbench, headless. Commands:\n";
    for (const auto& c : commands()) {
        std::string name = c.name;
        s += "  " + name + std::string(12 - name.size(), ' ') + c.summary + "\n";
    }
    s += "\n'peftwb <command> --help' describes a command's options.\n";
    return s;
}

std::string versionText() {
    std::string devices;
    for (const auto& d : availableDevices())
        devices += "\n  " + d.label();
    return "peftwb " + appVersion() + "\nLibTorch " + torchVersion() + "\ndevices:" + devices +
           "\nthreads: " + std::to_string(currentThreadCount()) +
           " (default setting: " + std::to_string(defaultThreadCount()) + ")\n";
}

}  // namespace

BackboneRef backboneRefFromArgs(const Args& a) {
    BackboneRef ref;
    if (auto path = a.get("config")) {
        if (a.get("model")) throw Error("--config", "give --config or --model, not both");
        ref.kind = BackboneRef::Kind::Config;
        std::error_code ec;
        ref.path = std::filesystem::absolute(*path, ec).lexically_normal().string();
        ref.config = readModelConfig(*path);
        ref.name = ref.config->name;
    } else if (const auto model = a.get("model"); model && *model != "default") {
        if (*model == "tiny-random") {
            ref.kind = BackboneRef::Kind::TinyRandom;
            ref.name = defaultModelConfig().name;
        } else {
            ref = folderBackboneRef(*model, false);
        }
    } else {
        ref = defaultBackboneRef();
    }
    ref.random_init = a.flag("random-init");
    return ref;
}

ModelConfig backboneConfig(const Args& a) {
    return backboneRefConfig(backboneRefFromArgs(a), "backbone");
}

LoadedBackbone chosenBackbone(const Args& a, int64_t num_labels, uint64_t seed) {
    return openBackbone(backboneRefFromArgs(a), num_labels, seed);
}

FileDatasetSpec fileSpecFromArgs(const Args& a) {
    FileDatasetSpec spec;
    const auto data = a.get("data");
    if (!data) throw Error("--data", "missing: the training file");
    spec.train = *data;
    spec.dev = a.get("dev").value_or("");
    spec.test = a.get("test").value_or("");
    spec.kind = a.get("data-kind").value_or("auto");
    spec.columns.text = a.get("text-column").value_or("");
    spec.columns.pair = a.get("pair-column").value_or("");
    spec.columns.label = a.get("label-column").value_or("");
    spec.source_field = a.get("source-field").value_or(spec.source_field);
    spec.target_field = a.get("target-field").value_or(spec.target_field);
    // The translation layout {"translation": {"en": …, "ro": …}}: --source-lang en --target-lang ro.
    for (const auto& [opt, field] : {std::pair<const char*, std::string*>{"source-lang", &spec.source_field},
                                     {"target-lang", &spec.target_field}})
        if (const auto lang = a.get(opt)) {
            if (a.get(opt == std::string("source-lang") ? "source-field" : "target-field"))
                throw Error(std::string("--") + opt, "give a field or a language, not both");
            if (lang->empty() || lang->find('.') != std::string::npos)
                throw Error(std::string("--") + opt, "'" + lang->substr(0, 40) + "' is not a language key");
            *field = "translation." + *lang;
        }
    spec.dev_fraction = a.getDouble("dev-fraction").value_or(spec.dev_fraction);
    spec.split_seed = static_cast<uint64_t>(a.getInt("seed").value_or(0));
    spec.skip_bad_rows = a.flag("skip-bad-rows");
    spec.limit = a.getInt("limit").value_or(0);
    return fileDatasetSpecFromJson(json(spec), "--data");
}

/// The spec from --spec FILE or --preset ID (with --r / --l / --budget).
Spec chosenSpec(const Args& a, const ModelConfig& cfg) {
    const auto preset = a.get("preset");
    const auto specFile = a.get("spec");
    if (preset && specFile) throw Error("--spec", "give --preset or --spec, not both");
    if (!preset && !specFile)
        throw Error("--preset", "missing: give --preset ID (see 'peftwb presets') or --spec FILE");
    PresetOptions opts;
    opts.r = a.getInt("r");
    opts.l = a.getInt("l");
    opts.budget = a.getDouble("budget");
    if (specFile) {
        if (opts.r || opts.l || opts.budget)
            throw Error("--spec", "--r, --l and --budget size a preset; edit the spec file instead");
        Spec s = specFromJsonText(readFileBytes(*specFile, "a spec file", kMaxJsonFileBytes), *specFile);
        try {
            validate(s, cfg);
        } catch (const Error& e) {
            throw Error(*specFile + ": " + e.where(), e.reason());
        }
        return s;
    }
    if (opts.budget && (opts.r || opts.l)) throw Error("--budget", "give --budget or --r / --l, not both");
    return resolvePreset(presetById(*preset), cfg, opts);
}

int runCli(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
    try {
        if (argv.empty() || argv[0] == "--help" || argv[0] == "-h" || argv[0] == "help") {
            if (argv.size() > 1 && argv[0] == "help") return runCli({argv[1], "--help"}, out, err);
            out << mainHelp();
            return argv.empty() ? 2 : 0;
        }
        if (argv[0] == "--version" || argv[0] == "version") {
            out << versionText();
            return 0;
        }
        for (const auto& c : commands()) {
            if (argv[0] != c.name) continue;
            std::vector<std::string> rest(argv.begin() + 1, argv.end());
            for (const auto& r : rest)
                if (r == "--help" || r == "-h") {
                    out << commandHelp(c);
                    return 0;
                }
            const Args args(rest, c.options, std::string("peftwb ") + c.name);
            if (!args.positional().empty() && !c.subcommands)
                throw Error(args.positional().front(),
                            std::string("unexpected argument for 'peftwb ") + c.name + "'");
            return c.run(args, out, err);
        }
        err << "peftwb: unknown command '" << argv[0] << "'\n\n" << mainHelp();
        return 2;
    } catch (const Error& e) {
        err << "peftwb: error: " << e.what() << "\n";
        return 1;
    } catch (const c10::Error& e) {
        err << "peftwb: error: " << e.what_without_backtrace() << "\n";
        return 1;
    } catch (const std::exception& e) {
        err << "peftwb: error: " << e.what() << "\n";
        return 1;
    }
}

}  // namespace peft
