// SPDX-License-Identifier: GPL-3.0-or-later
#include "data/sentencepiece.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <queue>

#include "util/error.h"

namespace peft {

namespace {

constexpr const char* kSpace = "\xe2\x96\x81";  // U+2581 "▁", SentencePiece's whitespace

/// Protobuf wire format over a byte range: every length checked against what is left.
struct Wire {
    const char* p;
    size_t n;
    const std::string& source;

    bool done() const { return n == 0; }
    uint64_t varint() {
        uint64_t v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (n == 0) throw Error(source, "not a SentencePiece model (a number runs past the end)");
            const uint8_t b = uint8_t(*p++);
            --n;
            v |= uint64_t(b & 0x7f) << shift;
            if (!(b & 0x80)) return v;
        }
        throw Error(source, "not a SentencePiece model (a number longer than 10 bytes)");
    }
    std::string bytes() {
        const uint64_t len = varint();
        if (len > n) throw Error(source, "not a SentencePiece model (a field runs past the end)");
        std::string s(p, size_t(len));
        p += len;
        n -= size_t(len);
        return s;
    }
    uint32_t fixed32() {
        if (n < 4) throw Error(source, "not a SentencePiece model (a number runs past the end)");
        uint32_t v = 0;
        for (int i = 3; i >= 0; --i)
            v = v << 8 | uint8_t(p[i]);
        p += 4;
        n -= 4;
        return v;
    }
    /// Reads one field's key; the callback reads (or skips) its value.
    void fields(const std::function<bool(uint32_t field, uint32_t wire)>& read) {
        while (!done()) {
            const uint64_t key = varint();
            const auto field = uint32_t(key >> 3), wire = uint32_t(key & 7);
            if (read(field, wire)) continue;
            switch (wire) {  // a field this reader does not need
                case 0:
                    varint();
                    break;
                case 1:
                    fixed32();
                    fixed32();
                    break;
                case 2:
                    bytes();
                    break;
                case 5:
                    fixed32();
                    break;
                default:
                    throw Error(source, "not a SentencePiece model (field " + std::to_string(field) +
                                            " has wire type " + std::to_string(wire) + ")");
            }
        }
    }
};

/// The length of the valid UTF-8 character at `s` (1–4), or 0 when it is malformed.
size_t utf8Length(const char* s, size_t n) {
    const auto b = uint8_t(s[0]);
    const size_t len = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
    if (len == 0 || len > n) return 0;
    for (size_t i = 1; i < len; ++i)
        if ((uint8_t(s[i]) & 0xc0) != 0x80) return 0;
    uint32_t c = len == 1 ? b : b & (0x7f >> len);
    for (size_t i = 1; i < len; ++i)
        c = c << 6 | (uint8_t(s[i]) & 0x3f);
    static const uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < least[len] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) return 0;  // overlong, surrogates
    return len;
}

}  // namespace

SentencePieceModel::SentencePieceModel(const std::string& bytes, const std::string& source)
    : source_(source) {
    bool bpe = false, suffix = false;
    std::string charsmap;
    Wire model{bytes.data(), bytes.size(), source};
    model.fields([&](uint32_t field, uint32_t wire) {
        if (wire != 2) return false;
        if (field == 1) {  // SentencePiece {piece 1, score 2, type 3}
            const std::string b = model.bytes();
            Wire w{b.data(), b.size(), source};
            Piece pc;
            w.fields([&](uint32_t f, uint32_t t) {
                if (f == 1 && t == 2)
                    pc.text = w.bytes();
                else if (f == 2 && t == 5) {
                    const uint32_t u = w.fixed32();
                    std::memcpy(&pc.score, &u, 4);
                } else if (f == 3 && t == 0) {
                    const uint64_t type = w.varint();
                    if (type < 1 || type > 6)
                        throw Error(source, "piece " + std::to_string(pieces_.size()) +
                                                " has an unknown type " + std::to_string(type));
                    pc.type = Type(type);
                } else {
                    return false;
                }
                return true;
            });
            pieces_.push_back(std::move(pc));
            return true;
        }
        if (field == 2) {  // TrainerSpec {model_type 3, treat_whitespace_as_suffix 24, byte_fallback 35}
            const std::string b = model.bytes();
            Wire w{b.data(), b.size(), source};
            bool typeSeen = false;
            w.fields([&](uint32_t f, uint32_t t) {
                if (t != 0 || (f != 3 && f != 24 && f != 35)) return false;
                const uint64_t v = w.varint();
                if (f == 3) {
                    typeSeen = true;
                    bpe = v == 2;
                } else if (f == 24) {
                    suffix = v != 0;
                } else {
                    byteFallback_ = v != 0;
                }
                return true;
            });
            if (!typeSeen) bpe = false;  // the default model type is unigram
            return true;
        }
        if (field == 3) {  // NormalizerSpec {charsmap 2, add_dummy_prefix 3, remove_extra_ws 4, escape_ws 5}
            const std::string b = model.bytes();
            Wire w{b.data(), b.size(), source};
            w.fields([&](uint32_t f, uint32_t t) {
                if (f == 2 && t == 2)
                    charsmap = w.bytes();
                else if (f >= 3 && f <= 5 && t == 0) {
                    const bool v = w.varint() != 0;
                    (f == 3 ? addDummyPrefix_ : f == 4 ? removeExtraWhitespaces_ : escapeWhitespaces_) = v;
                } else {
                    return false;
                }
                return true;
            });
            return true;
        }
        return false;
    });
    if (pieces_.empty()) throw Error(source, "not a SentencePiece model (no pieces)");
    if (!bpe)
        throw Error(source,
                    "a SentencePiece model that is not BPE (unigram, word or char): mBART's "
                    "sentencepiece.bpe.model is BPE, and only BPE models are read");
    if (suffix)
        throw Error(source, "a SentencePiece model with treat_whitespace_as_suffix, which is not read");
    for (size_t i = 0; i < pieces_.size(); ++i) {
        const Piece& pc = pieces_[i];
        if (pc.text.empty()) throw Error(source, "piece " + std::to_string(i) + " is empty");
        const bool normal =
            pc.type == Type::Normal || pc.type == Type::UserDefined || pc.type == Type::Unused;
        if (!(normal ? normal_ : reserved_).emplace(pc.text, int(i)).second)
            throw Error(source, "piece '" + pc.text.substr(0, 40) + "' is defined twice");
        if (pc.type == Type::UserDefined) maxUserDefined_ = std::max(maxUserDefined_, pc.text.size());
        if (pc.type == Type::Unknown) {
            if (unk_ >= 0) throw Error(source, "two unknown pieces");
            unk_ = int(i);
        }
    }
    if (unk_ < 0) throw Error(source, "a SentencePiece model without an unknown piece");
    if (!charsmap.empty()) {  // uint32 trie size, the trie's units, then the replacement strings
        Wire w{charsmap.data(), charsmap.size(), source};
        const uint32_t trieBytes = w.fixed32();
        if (trieBytes % 4 || trieBytes > w.n || trieBytes == 0)
            throw Error(source, "the normaliser's character map is damaged (trie of " +
                                    std::to_string(trieBytes) + " bytes in " +
                                    std::to_string(charsmap.size()) + ")");
        for (uint32_t i = 0; i < trieBytes / 4; ++i)
            trie_.push_back(w.fixed32());
        replacements_.assign(w.p, w.n);
    }
}

int SentencePieceModel::pieceId(const std::string& text) const {
    if (const auto it = reserved_.find(text); it != reserved_.end()) return it->second;
    if (const auto it = normal_.find(text); it != normal_.end()) return it->second;
    return -1;
}

size_t SentencePieceModel::userDefinedPrefix(const char* s, size_t n) const {
    for (size_t len = std::min(n, maxUserDefined_); len > 0; --len)
        if (const auto it = normal_.find(std::string(s, len));
            it != normal_.end() && pieces_[size_t(it->second)].type == Type::UserDefined)
            return len;
    return 0;
}

/// SentencePiece's Normalizer::NormalizePrefix: a user-defined piece whole, else the longest rule of the
/// character map (among its first 32 matches), else one UTF-8 character (U+FFFD for one malformed byte).
std::pair<std::string, size_t> SentencePieceModel::normalizePrefix(const char* s, size_t n) const {
    if (const size_t ud = userDefinedPrefix(s, n)) return {std::string(s, ud), ud};
    size_t longest = 0;
    uint32_t value = 0;
    if (!trie_.empty()) {
        // darts-clone: offset(u) = (u >> 10) << ((u & 1 << 9) >> 6); label(u) = u & (1 << 31 | 0xff);
        // has_leaf(u) = u >> 8 & 1; value(u) = u & 0x7fffffff.
        auto offset = [](uint32_t u) { return (u >> 10) << ((u & (1u << 9)) >> 6); };
        size_t pos = offset(trie_[0]);
        int found = 0;
        for (size_t i = 0; i < n && found < 32; ++i) {
            pos ^= uint8_t(s[i]);
            if (pos >= trie_.size()) break;
            const uint32_t u = trie_[pos];
            if ((u & ((1u << 31) | 0xffu)) != uint8_t(s[i])) break;
            pos ^= offset(u);
            if (pos >= trie_.size()) break;
            if ((u >> 8) & 1) {
                longest = i + 1;
                value = trie_[pos] & 0x7fffffffu;
                ++found;
            }
        }
    }
    if (longest > 0) {
        if (value >= replacements_.size()) throw Error(source_, "the normaliser's character map is damaged");
        const char* r = replacements_.data() + value;
        const size_t len = strnlen(r, replacements_.size() - value);
        return {std::string(r, len), longest};
    }
    const size_t len = utf8Length(s, n);
    if (len == 0) return {"\xef\xbf\xbd", 1};
    return {std::string(s, len), len};
}

std::string SentencePieceModel::normalize(const std::string& text) const {
    const char* s = text.data();
    size_t n = text.size();
    if (removeExtraWhitespaces_)
        while (n > 0) {
            const auto p = normalizePrefix(s, n);
            if (p.first != " ") break;
            s += p.second;
            n -= p.second;
        }
    std::string out;
    if (n == 0) return out;
    const std::string space = escapeWhitespaces_ ? kSpace : " ";
    if (addDummyPrefix_) out += space;
    bool prevSpace = removeExtraWhitespaces_;
    while (n > 0) {
        auto [piece, used] = normalizePrefix(s, n);
        size_t from = 0;
        if (prevSpace)
            while (from < piece.size() && piece[from] == ' ')
                ++from;
        if (from < piece.size()) {
            for (size_t k = from; k < piece.size(); ++k)
                if (escapeWhitespaces_ && piece[k] == ' ')
                    out += kSpace;
                else
                    out += piece[k];
            prevSpace = piece.back() == ' ';
        }
        s += used;
        n -= used;
        if (!removeExtraWhitespaces_) prevSpace = false;
    }
    if (removeExtraWhitespaces_)
        while (out.size() >= space.size() && out.compare(out.size() - space.size(), space.size(), space) == 0)
            out.resize(out.size() - space.size());
    return out;
}

void SentencePieceModel::encode(const std::string& text, std::vector<std::string>& pieces,
                                std::vector<int>& ids) const {
    const std::string norm = normalize(text);
    // The characters (user-defined pieces whole and frozen), linked as a list.
    struct Symbol {
        size_t begin, len;
        int prev, next;
        bool freeze;
    };
    std::vector<Symbol> sym;
    for (size_t at = 0; at < norm.size();) {
        size_t len = userDefinedPrefix(norm.data() + at, norm.size() - at);
        const bool freeze = len > 0;
        if (!len) len = std::max<size_t>(1, utf8Length(norm.data() + at, norm.size() - at));
        sym.push_back({at, len, int(sym.size()) - 1, -1, freeze});
        at += len;
    }
    for (size_t i = 0; i + 1 < sym.size(); ++i)
        sym[i].next = int(i + 1);
    struct Pair {
        int left, right;
        float score;
        size_t len;
    };
    auto worse = [](const Pair& a, const Pair& b) {
        return a.score < b.score || (a.score == b.score && a.left > b.left);
    };
    std::priority_queue<Pair, std::vector<Pair>, decltype(worse)> agenda(worse);
    std::unordered_map<std::string, std::pair<std::string, std::string>> unmerge;  // unused pieces
    auto consider = [&](int l, int r) {
        if (l < 0 || r < 0 || sym[size_t(l)].freeze || sym[size_t(r)].freeze) return;
        const std::string merged = norm.substr(sym[size_t(l)].begin, sym[size_t(l)].len + sym[size_t(r)].len);
        const auto it = normal_.find(merged);
        if (it == normal_.end()) return;
        const Piece& pc = pieces_[size_t(it->second)];
        agenda.push({l, r, pc.score, merged.size()});
        if (pc.type == Type::Unused)
            unmerge[merged] = {norm.substr(sym[size_t(l)].begin, sym[size_t(l)].len),
                               norm.substr(sym[size_t(r)].begin, sym[size_t(r)].len)};
    };
    for (size_t i = 1; i < sym.size(); ++i)
        consider(int(i - 1), int(i));
    while (!agenda.empty()) {
        const Pair top = agenda.top();
        agenda.pop();
        Symbol &l = sym[size_t(top.left)], &r = sym[size_t(top.right)];
        if (l.len == 0 || r.len == 0 || l.len + r.len != top.len) continue;  // stale
        l.len += r.len;
        l.next = r.next;
        if (r.next >= 0) sym[size_t(r.next)].prev = top.left;
        r.len = 0;
        consider(l.prev, top.left);
        consider(top.left, l.next);
    }
    // Unused pieces are split back into what they were merged from; unknown stretches are the unknown
    // piece, or their bytes where the model falls back to bytes.
    bool prevUnknown = false;
    auto emit = [&](const std::string& piece) {
        std::vector<std::string> todo{
            piece};  // a stack, not recursion: a piece's split is bounded by its size
        while (!todo.empty()) {
            const std::string w = std::move(todo.back());
            todo.pop_back();
            const int id = pieceId(w);
            if (id >= 0 && pieces_[size_t(id)].type == Type::Unused) {
                if (const auto it = unmerge.find(w); it != unmerge.end()) {
                    todo.push_back(it->second.second);
                    todo.push_back(it->second.first);
                    continue;
                }
            }
            if (id < 0 && byteFallback_) {
                for (unsigned char c : w) {
                    static const char* hex = "0123456789ABCDEF";
                    const std::string b = std::string("<0x") + hex[c >> 4] + hex[c & 15] + ">";
                    const int bid = pieceId(b);
                    pieces.push_back(bid >= 0 ? b : w);
                    ids.push_back(bid >= 0 ? bid : unk_);
                }
                prevUnknown = true;
                continue;
            }
            // A run of unknown pieces is one piece (as libsentencepiece returns it).
            const bool unknown = id < 0 || id == unk_;
            if (unknown && prevUnknown) {
                pieces.back() += w;
            } else {
                pieces.push_back(w);
                ids.push_back(unknown ? unk_ : id);
            }
            prevUnknown = unknown;
        }
    };
    for (int i = sym.empty() ? -1 : 0; i >= 0; i = sym[size_t(i)].next)
        emit(norm.substr(sym[size_t(i)].begin, sym[size_t(i)].len));
}

}  // namespace peft
