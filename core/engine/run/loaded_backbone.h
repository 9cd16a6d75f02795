// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The one backbone loader: a backbone reference (the shipped default, a Hugging Face or workbench folder, the
// built-in random byte-level backbone, a config with random weights) opened into a model, its tokenizer and
// its special ids. Every command, the run pipeline and the GUI's worker load backbones through it.
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/hf_tokenizer.h"
#include "data/tokenizer.h"
#include "data/world.h"
#include "model/transformer.h"
#include "project/run_record.h"

namespace peft {

/// A backbone with its tokenizer, ready to run.
struct LoadedBackbone {
    BackboneRef ref;
    ModelConfig config;
    Transformer model{nullptr};
    std::string name;
    std::shared_ptr<const Tokenizer> tokenizer;  // byte, word or Hugging Face
    SpecialIds special;                          // the tokenizer's
    bool world = false;                          // the built-in world's (word tokenizer; built-in tasks)
    std::shared_ptr<const TextTokenizer> hf;     // a Hugging Face backbone's tokenizer (its framing)
    std::shared_ptr<const WordTokenizer> words;  // a world backbone's
    nlohmann::json info;
    bool causalLm = true;            // forward's default head: next-token logits, else classes
    std::vector<std::string> notes;  // what loading decided for the user (head initialised, …)

    /// The trainer's detokenizer: the tokenizer's decode.
    std::function<std::string(const std::vector<int64_t>&)> detokenizer() const;
};

/// One input as the backbone reads it (ids, and token types when the backbone has them). A Hugging Face
/// backbone: exactly its tokenizer's template ([CLS] a [SEP] b [SEP], <s> a </s></s> b </s>, GPT-2's tokens
/// alone). Others: <bos> text for a language model, text [<sep> pair] <eos> for a classifier.
Example frameInput(const LoadedBackbone& lb, const std::string& text, const std::optional<std::string>& pair,
                   bool lm);
/// How `lb` reads the built-in tasks (the world's own layout for a world backbone).
TaskEncoder taskEncoder(const LoadedBackbone& lb);
/// Opens `ref`. `num_labels` > 0 sizes the classification head (a stored head of another size, or none, is
/// initialised, seeded by `seed`, and a note says so).
LoadedBackbone openBackbone(const BackboneRef& ref, int64_t num_labels, uint64_t seed);

/// How `lb` reads users' text: its Hugging Face tokenizer's template, else frameInput's layout.
TaskEncoder dataEncoder(const LoadedBackbone& lb);

}  // namespace peft
