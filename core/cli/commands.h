// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Internal to the CLI: the subcommands implemented outside cli.cpp and the helpers they share.
#include <ostream>
#include <string>

#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/file_data.h"
#include "data/hf_tokenizer.h"
#include "data/world.h"
#include "model/config.h"
#include "model/transformer.h"
#include "peft/spec.h"
#include "util/args.h"

namespace peft {

/// The backbone config: --config FILE, else --model DIR's, else the shipped default's, else the built-in
/// random one. Reads no weights.
ModelConfig backboneConfig(const Args& a);

/// A backbone with its tokenizer, ready to run.
struct LoadedBackbone {
    ModelConfig config;
    Transformer model{nullptr};
    std::string name;
    bool world = false;  // a backbone of the built-in world (word tokenizer; built-in tasks)
    std::vector<std::string> vocab;
    std::function<std::vector<int64_t>(const std::string&)> encode;  // text → ids, no special tokens
    std::function<std::string(int64_t)> tokenText;
    std::function<std::string(const std::vector<int64_t>&)> decode;
    int64_t bos = 0, eos = 0, sep = 0, pad = 0;
    nlohmann::json info;
    bool causalLm = true;                     // forward's default head: next-token logits, else classes
    std::shared_ptr<const TextTokenizer> hf;  // a Hugging Face backbone's tokenizer
    std::vector<std::string> notes;           // what loading decided for the user (head initialised, …)
};

/// One input as the backbone reads it (ids, and token types when the backbone has them). A Hugging Face
/// backbone: exactly its tokenizer's template ([CLS] a [SEP] b [SEP], <s> a </s></s> b </s>, GPT-2's tokens
/// alone). Others: <bos> text for a language model, text [<sep> pair] <eos> for a classifier.
Example frameInput(const LoadedBackbone& lb, const std::string& text, const std::optional<std::string>& pair,
                   bool lm);
/// How `lb` reads the built-in tasks (the world's own layout for a world backbone).
TaskEncoder taskEncoder(const LoadedBackbone& lb);
/// The files of --data / --dev / --test with their mapping options (--text-column, --pair-column,
/// --label-column, --source-field, --target-field, --data-kind, --dev-fraction, --seed, --skip-bad-rows,
/// --limit), checked.
FileDatasetSpec fileSpecFromArgs(const Args& a);
/// How `lb` reads users' text: its Hugging Face tokenizer's template, else frameInput's layout.
TaskEncoder dataEncoder(const LoadedBackbone& lb);
/// --model DIR, else the shipped default backbone, else the built-in random byte-level one.
/// `num_labels` > 0 resizes the classification head (re-initialised, seeded).
LoadedBackbone chosenBackbone(const Args& a, int64_t num_labels, uint64_t seed);
/// --spec FILE, or --preset ID sized by --r / --l / --budget; validated against `cfg`.
Spec chosenSpec(const Args& a, const ModelConfig& cfg);

int cmdTrain(const Args& a, std::ostream& out, std::ostream& err);
int cmdScore(const Args& a, std::ostream& out, std::ostream& err);
int cmdBench(const Args& a, std::ostream& out, std::ostream& err);
int cmdPretrain(const Args& a, std::ostream& out, std::ostream& err);
int cmdEval(const Args& a, std::ostream& out, std::ostream& err);
int cmdProject(const Args& a, std::ostream& out, std::ostream& err);
int cmdLmProbe(const Args& a, std::ostream& out, std::ostream& err);
int cmdExport(const Args& a, std::ostream& out, std::ostream& err);
int cmdData(const Args& a, std::ostream& out, std::ostream& err);

}  // namespace peft
