// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Tokenised examples of a task, as the trainer consumes them. No torch.
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
};

struct Dataset {
    std::string name;
    TaskKind kind = TaskKind::Classification;
    std::vector<std::string> label_names;  // classification
    std::string metric = "accuracy";       // accuracy | rougeL | bleu
    std::vector<Example> train, dev, test;
};

}  // namespace peft
