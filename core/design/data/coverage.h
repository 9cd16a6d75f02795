// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// How well a backbone's tokenizer covers the user's text: the share of tokens that come out as <unk>. Data
// mapped mostly to <unk> trains to chance without a word; the GUI's import and `peftwb data` say so first.
// No torch: the tokenizer of a backbone folder is opened without its weights.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/file_data.h"
#include "data/tokenizer.h"

namespace peft {

/// The tokenizer of a backbone folder without loading its weights: a Hugging Face folder's (vocab.txt,
/// vocab.json + merges.txt or tokenizer.json), a workbench backbone's word vocabulary (vocab.txt); an empty
/// `dir` is the random byte-level backbone's bytes.
std::shared_ptr<const Tokenizer> openFolderTokenizer(const std::string& dir);

struct VocabularyCoverage {
    int64_t texts = 0;    // texts tokenized (at most the limit given)
    int64_t tokens = 0;   // tokens they gave
    int64_t unknown = 0;  // of which the tokenizer's <unk>
    double unknownShare() const { return tokens > 0 ? double(unknown) / double(tokens) : 0.0; }
};

/// The <unk> share of the first `limit` texts (a tokenizer without <unk>, as byte-level ones, covers all).
VocabularyCoverage vocabularyCoverage(const Tokenizer& tokenizer, const std::vector<std::string>& texts,
                                      size_t limit = 5000);

/// The coverage of a dataset's training text (texts and second texts, or sources) over its first `rows` rows.
VocabularyCoverage dataCoverage(const Tokenizer& tokenizer, const FileData& data, size_t rows = 5000);

/// The unknown share from which a warning is given.
constexpr double kUnknownShareWarning = 0.2;
/// "62 % of the tokens are <unk> for world-lm's tokenizer: …" when the share reaches the threshold, else
/// empty.
std::string coverageWarning(const VocabularyCoverage& c, const std::string& backboneName);

}  // namespace peft
