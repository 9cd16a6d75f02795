// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Byte-level tokenizer of the random default backbone: ids 0–255 are the UTF-8 bytes, then
// <pad> 256, <bos> 257, <eos> 258, <unk> 259. Lossless for any text.
#include <cstdint>
#include <string>
#include <vector>

#include "data/tokenizer.h"

namespace peft {

class ByteTokenizer : public Tokenizer {
public:
    static constexpr int64_t kPad = 256, kBos = 257, kEos = 258, kUnk = 259, kVocab = 260;

    /// <bos> followed by the bytes of `text`.
    std::vector<int64_t> encode(const std::string& text) const {
        std::vector<int64_t> ids{kBos};
        for (unsigned char c : text)
            ids.push_back(c);
        return ids;
    }
    std::vector<int64_t> encodeIds(const std::string& text) const override {
        return std::vector<int64_t>(reinterpret_cast<const unsigned char*>(text.data()),
                                    reinterpret_cast<const unsigned char*>(text.data()) + text.size());
    }
    /// The bytes of the ids below 256 (specials left out).
    std::string decode(const std::vector<int64_t>& ids) const override {
        std::string s;
        for (int64_t id : ids)
            if (id >= 0 && id < 256) s += static_cast<char>(id);
        return s;
    }
    int64_t vocabSize() const override { return kVocab; }
    SpecialIds specialIds() const override { return {kBos, kEos, kEos, kPad, kUnk}; }
    /// A readable form of one token: the character for printable ASCII, "<0xE2>" for other bytes.
    std::string tokenText(int64_t id) const override {
        switch (id) {
            case kPad:
                return "<pad>";
            case kBos:
                return "<bos>";
            case kEos:
                return "<eos>";
            case kUnk:
                return "<unk>";
            default:
                break;
        }
        if (id >= 0x20 && id < 0x7f) return std::string(1, static_cast<char>(id));
        static const char* hex = "0123456789ABCDEF";
        return std::string("<0x") + hex[(id >> 4) & 15] + hex[id & 15] + ">";
    }
};

}  // namespace peft
