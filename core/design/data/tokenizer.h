// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// What every tokenizer of the workbench offers — the byte-level one of the random backbones, the built-in
// world's word tokenizer and the Hugging Face WordPiece / byte-level BPE ones — so that a loaded backbone
// carries one Tokenizer, whatever its family. No torch.
#include <cstdint>
#include <string>
#include <vector>

namespace peft {

/// A tokenizer's special tokens; −1 where it has none.
struct SpecialIds {
    int64_t bos = -1;  // start of a language-model input ([CLS] / <s> for Hugging Face encoders)
    int64_t eos = -1;  // end of an input / of a generated sequence
    int64_t sep = -1;  // between the two segments of a pair
    int64_t pad = -1;
    int64_t unk = -1;
};

class Tokenizer {
public:
    virtual ~Tokenizer() = default;
    /// Token ids of `text`, without special tokens.
    virtual std::vector<int64_t> encodeIds(const std::string& text) const = 0;
    /// A readable form of one token.
    virtual std::string tokenText(int64_t id) const = 0;
    /// Readable text of ids, special tokens left out.
    virtual std::string decode(const std::vector<int64_t>& ids) const = 0;
    virtual int64_t vocabSize() const = 0;
    virtual SpecialIds specialIds() const = 0;
};

}  // namespace peft
