// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Tokenised examples of a task, as the trainer consumes them. No torch.
#include <algorithm>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace peft {

enum class TaskKind {
    Classification,  // ids (+ types) → label, through the classification head
    Generation,      // source ids → target ids through the LM head, the source as a prompt
};

struct Example {
    std::vector<int64_t> ids;     // classification input, or the generation source (prompt)
    std::vector<int64_t> types;   // token types (pairs) or empty
    int64_t label = -1;           // classification
    std::vector<int64_t> target;  // generation target (without <eos>)
    std::string reference;        // generation: the target text, for ROUGE / BLEU
};

/// How a backbone reads text: one classification input (text, optional second segment) with its special
/// tokens; a generation source as a prompt ending where the target begins; a target.
struct TaskEncoder {
    std::function<Example(const std::string& text, const std::optional<std::string>& pair)> classify;
    std::function<std::vector<int64_t>(const std::string& source)> prompt;
    std::function<std::vector<int64_t>(const std::string& target)> target;
    /// An encoder–decoder's layout: the source is the encoder's input and the target the decoder's, each with
    /// its own positions (a causal model reads them as one sequence).
    bool seq2seq = false;
};

/// The positions an example of a generation task takes: a causal model's source + target + <eos>; an
/// encoder–decoder's longer of its source and its decoder side (start [+ forced BOS] + target, or target +
/// <eos> as labels).
inline int64_t generationLength(const Example& e, bool seq2seq) {
    const int64_t source = static_cast<int64_t>(e.ids.size()), target = static_cast<int64_t>(e.target.size());
    return seq2seq ? std::max(source, target + 2) : source + target + 1;
}

struct Dataset {
    std::string name;
    TaskKind kind = TaskKind::Classification;
    std::vector<std::string> label_names;  // classification
    std::string metric = "accuracy";       // accuracy | rougeL | bleu
    std::vector<Example> train, dev, test;
};

}  // namespace peft
