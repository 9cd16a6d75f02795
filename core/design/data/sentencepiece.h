// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// SentencePiece BPE models (`*.model`, a serialized ModelProto), read and applied by the workbench itself.
// Debian's libsentencepiece cannot share a process with LibTorch: it exports its bundled protobuf-lite's
// symbols, which LibTorch's libprotobuf then binds to at start-up and crashes. So the model file is parsed
// here (protobuf wire format, bounded), normalised as SentencePiece does (the precompiled character map — a
// darts-clone double-array trie of NFKC rules — longest match, whitespace collapsed, "▁" for spaces, the
// dummy prefix) and encoded by BPE merges in score order (ties: leftmost), user-defined pieces kept whole,
// unused pieces re-split, byte fallback. The test compares pieces and ids with libsentencepiece itself in a
// process without LibTorch. No torch.
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace peft {

class SentencePieceModel {
public:
    enum class Type : uint8_t { Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6 };
    struct Piece {
        std::string text;
        float score = 0;
        Type type = Type::Normal;
    };

    /// Parses a serialized ModelProto; peft::Error naming `source` for anything malformed, a model type other
    /// than BPE, or a model without an unknown piece.
    SentencePieceModel(const std::string& bytes, const std::string& source);

    /// SentencePiece's normalised form of `text` (spaces as "▁", with the dummy prefix).
    std::string normalize(const std::string& text) const;
    /// The pieces of `text` and their ids (an unknown stretch has the unknown piece's id).
    void encode(const std::string& text, std::vector<std::string>& pieces, std::vector<int>& ids) const;

    int size() const { return int(pieces_.size()); }
    const Piece& piece(int id) const { return pieces_.at(size_t(id)); }
    int unknownId() const { return unk_; }
    /// The id of a piece (control and unknown pieces included), or −1.
    int pieceId(const std::string& text) const;

private:
    std::pair<std::string, size_t> normalizePrefix(const char* s, size_t n) const;
    size_t userDefinedPrefix(const char* s, size_t n) const;
    std::string source_;
    std::vector<Piece> pieces_;
    std::unordered_map<std::string, int> normal_, reserved_;  // NORMAL / USER_DEFINED / UNUSED; the others
    size_t maxUserDefined_ = 0;
    int unk_ = -1;
    bool byteFallback_ = false;
    bool addDummyPrefix_ = true, removeExtraWhitespaces_ = true, escapeWhitespaces_ = true;
    std::vector<uint32_t> trie_;  // the double array of the precompiled character map
    std::string replacements_;    // NUL-terminated normalised strings the trie's values point into
};

}  // namespace peft
