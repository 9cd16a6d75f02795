// SPDX-License-Identifier: GPL-3.0-or-later
#include "data/hf_tokenizer.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <queue>
#include <sstream>

#include <utf8proc.h>
#include <nlohmann/json.hpp>

#include "data/sentencepiece.h"
#include "util/error.h"
#include "util/files.h"
#include "util/json_read.h"

namespace peft {

namespace fs = std::filesystem;

namespace {

// ----- Unicode helpers (utf8proc) -------------------------------------------------------------------

/// The code points of UTF-8 `text`; invalid UTF-8 is an error naming the byte offset.
std::vector<int32_t> codepoints(const std::string& text) {
    std::vector<int32_t> out;
    out.reserve(text.size());
    const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
    utf8proc_ssize_t i = 0;
    const auto n = static_cast<utf8proc_ssize_t>(text.size());
    while (i < n) {
        utf8proc_int32_t cp = 0;
        const utf8proc_ssize_t len = utf8proc_iterate(p + i, n - i, &cp);
        if (len <= 0 || cp < 0)
            throw Error("text",
                        "invalid UTF-8 at byte " + std::to_string(i) + " of " + std::to_string(text.size()));
        out.push_back(cp);
        i += len;
    }
    return out;
}

void appendUtf8(std::string& s, int32_t cp) {
    utf8proc_uint8_t buf[4];
    const utf8proc_ssize_t n = utf8proc_encode_char(cp, buf);
    s.append(reinterpret_cast<const char*>(buf), static_cast<size_t>(n));
}

std::string utf8(const std::vector<int32_t>& cps, size_t begin, size_t end) {
    std::string s;
    for (size_t i = begin; i < end; ++i)
        appendUtf8(s, cps[i]);
    return s;
}

utf8proc_category_t category(int32_t cp) {
    return utf8proc_category(cp);
}

/// White space as Rust's char::is_whitespace and Oniguruma's Unicode \s define it: U+0009–U+000D, U+0085
/// and the separators Zs, Zl, Zp.
bool isSpace(int32_t cp) {
    if ((cp >= 0x09 && cp <= 0x0d) || cp == 0x85) return true;
    const auto c = category(cp);
    return c == UTF8PROC_CATEGORY_ZS || c == UTF8PROC_CATEGORY_ZL || c == UTF8PROC_CATEGORY_ZP;
}

bool isLetter(int32_t cp) {
    switch (category(cp)) {
        case UTF8PROC_CATEGORY_LU:
        case UTF8PROC_CATEGORY_LL:
        case UTF8PROC_CATEGORY_LT:
        case UTF8PROC_CATEGORY_LM:
        case UTF8PROC_CATEGORY_LO:
            return true;
        default:
            return false;
    }
}

bool isNumber(int32_t cp) {
    const auto c = category(cp);
    return c == UTF8PROC_CATEGORY_ND || c == UTF8PROC_CATEGORY_NL || c == UTF8PROC_CATEGORY_NO;
}

/// BertNormalizer's controls: the "other" categories, except tab, newline and carriage return.
bool isBertControl(int32_t cp) {
    if (cp == '\t' || cp == '\n' || cp == '\r') return false;
    const auto c = category(cp);
    return c == UTF8PROC_CATEGORY_CC || c == UTF8PROC_CATEGORY_CF || c == UTF8PROC_CATEGORY_CO ||
           c == UTF8PROC_CATEGORY_CS || c == UTF8PROC_CATEGORY_CN;
}

/// BERT's punctuation: any ASCII punctuation (so "$", "+", "^" count) or a Unicode P* category.
bool isBertPunctuation(int32_t cp) {
    if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) ||
        (cp >= 123 && cp <= 126))
        return true;
    switch (category(cp)) {
        case UTF8PROC_CATEGORY_PC:
        case UTF8PROC_CATEGORY_PD:
        case UTF8PROC_CATEGORY_PS:
        case UTF8PROC_CATEGORY_PE:
        case UTF8PROC_CATEGORY_PI:
        case UTF8PROC_CATEGORY_PF:
        case UTF8PROC_CATEGORY_PO:
            return true;
        default:
            return false;
    }
}

/// The CJK ideograph blocks BERT splits into single characters.
bool isChineseChar(int32_t cp) {
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
           (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
           (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B920 && cp <= 0x2CEAF) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

/// Canonical decomposition (NFD) of valid UTF-8.
std::string nfd(const std::string& s) {
    utf8proc_uint8_t* out = nullptr;
    const utf8proc_ssize_t n = utf8proc_map(
        reinterpret_cast<const utf8proc_uint8_t*>(s.data()), static_cast<utf8proc_ssize_t>(s.size()), &out,
        static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE));
    if (n < 0) throw Error("text", std::string("Unicode normalisation failed: ") + utf8proc_errmsg(n));
    std::string r(reinterpret_cast<const char*>(out), static_cast<size_t>(n));
    std::free(out);
    return r;
}

std::string readText(const std::string& path) {
    return readFileBytes(path, "a tokenizer file", kMaxTokenizerFileBytes);
}

nlohmann::json readJson(const std::string& path) {
    return readJsonFile(path, kMaxTokenizerFileBytes);
}

/// id → token of a {token: id} object; ids must be distinct non-negative integers.
std::vector<std::string> vocabFromJson(const nlohmann::json& j, const std::string& source) {
    if (!j.is_object()) throw Error(source, "the vocabulary must be a JSON object {token: id}");
    std::vector<std::string> out;
    for (auto it = j.begin(); it != j.end(); ++it) {
        if (!it->is_number_unsigned() || it->get<uint64_t>() > (1u << 24))
            throw Error(source, "token '" + it.key() + "': the id must be a non-negative integer below 2^24");
        const auto id = it->get<size_t>();
        if (id >= out.size()) out.resize(id + 1);
        if (!out[id].empty())
            throw Error(source, "id " + std::to_string(id) + " is given to '" + out[id] + "' and to '" +
                                    it.key() + "'");
        out[id] = it.key();
    }
    return out;
}

}  // namespace

// ----- TextTokenizer ----------------------------------------------------------------------------------

void TextTokenizer::setVocabulary(std::vector<std::string> idToToken, const std::string& source) {
    if (idToToken.empty()) throw Error(source, "the vocabulary is empty");
    idToToken_ = std::move(idToToken);
    tokenToId_.clear();
    tokenToId_.reserve(idToToken_.size());
    for (size_t i = 0; i < idToToken_.size(); ++i)
        if (!idToToken_[i].empty()) tokenToId_[idToToken_[i]] = static_cast<int64_t>(i);
}

void TextTokenizer::setSpecials(SpecialTemplate t, const std::vector<std::string>& recognised,
                                const std::string& cls, const std::string& sep, const std::string& pad,
                                const std::string& unk) {
    template_ = t;
    specials_.clear();
    for (const auto& s : recognised)
        if (tokenId(s) >= 0) specials_.push_back(s);
    std::sort(specials_.begin(), specials_.end(),
              [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
    clsName_ = cls;
    sepName_ = sep;
    padName_ = pad;
    unkName_ = unk;
    cls_ = tokenId(cls);
    sep_ = tokenId(sep);
    pad_ = tokenId(pad);
    unk_ = tokenId(unk);
}

void TextTokenizer::addTokens(const std::vector<std::pair<std::string, int64_t>>& tokens,
                              const std::string& source) {
    for (const auto& [content, id] : tokens) {
        if (content.empty() || id < 0 || id > (int64_t(1) << 24))
            throw Error(source, "added token '" + content + "' needs text and an id in [0, 2^24)");
        const auto at = static_cast<size_t>(id);
        if (at >= idToToken_.size()) idToToken_.resize(at + 1);
        if (!idToToken_[at].empty() && idToToken_[at] != content)
            throw Error(source, "added token '" + content + "' takes id " + std::to_string(id) + " of '" +
                                    idToToken_[at] + "'");
        idToToken_[at] = content;
        tokenToId_[content] = id;
        if (std::find(specials_.begin(), specials_.end(), content) == specials_.end())
            specials_.push_back(content);
    }
    std::sort(specials_.begin(), specials_.end(),
              [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
    cls_ = tokenId(clsName_);
    sep_ = tokenId(sepName_);
    pad_ = tokenId(padName_);
    unk_ = tokenId(unkName_);
}

int64_t TextTokenizer::tokenId(const std::string& token) const {
    auto it = tokenToId_.find(token);
    return it == tokenToId_.end() ? -1 : it->second;
}

const std::string& TextTokenizer::idToken(int64_t id) const {
    static const std::string none;
    return id >= 0 && id < vocabSize() ? idToToken_[static_cast<size_t>(id)] : none;
}

std::vector<std::string> TextTokenizer::tokenize(const std::string& text) const {
    codepoints(text);  // validates the UTF-8 once, before any splitting
    std::vector<std::string> out;
    size_t pos = 0;
    // Each special token's next occurrence at or after `pos`, found again only once `pos` has passed it:
    // every token's search walks the text once in all (a text full of "[SEP]" stays linear).
    std::vector<size_t> next(specials_.size(), 0);
    std::vector<bool> searched(specials_.size(), false);
    while (pos <= text.size()) {
        // The earliest special token from `pos` (the longest one where two start at the same place).
        size_t best = std::string::npos;
        const std::string* which = nullptr;
        for (size_t k = 0; k < specials_.size(); ++k) {
            if (!searched[k] || (next[k] != std::string::npos && next[k] < pos)) {
                next[k] = text.find(specials_[k], pos);
                searched[k] = true;
            }
            const size_t at = next[k];
            if (at != std::string::npos && at < best) {
                best = at;
                which = &specials_[k];
            }
        }
        const size_t end = which ? best : text.size();
        if (end > pos) tokenizePlain(text.substr(pos, end - pos), out);
        if (!which) break;
        out.push_back(*which);
        pos = best + which->size();
    }
    return out;
}

std::vector<int64_t> TextTokenizer::encodeIds(const std::string& text) const {
    std::vector<int64_t> ids;
    for (const auto& t : tokenize(text)) {
        const int64_t id = tokenId(t);
        if (id < 0 && unk_ < 0)
            throw Error("text", "token '" + t + "' is not in the vocabulary and there is no unknown token");
        ids.push_back(id < 0 ? unk_ : id);
    }
    return ids;
}

Encoding TextTokenizer::encode(const std::string& text, const std::optional<std::string>& pair) const {
    Encoding e;
    auto push = [&](int64_t id, int64_t type) {
        e.ids.push_back(id);
        e.tokens.push_back(idToken(id));
        e.type_ids.push_back(type);
    };
    auto pushText = [&](const std::string& t, int64_t type) {
        for (int64_t id : encodeIds(t))
            push(id, type);
    };
    auto need = [&](int64_t id, const char* what) {
        if (id < 0) throw Error("tokenizer", std::string("the vocabulary has no ") + what + " token");
        return id;
    };
    switch (template_) {
        case SpecialTemplate::None:
            pushText(text, 0);
            if (pair) pushText(*pair, 0);
            break;
        case SpecialTemplate::Bert:
            push(need(cls_, "[CLS]"), 0);
            pushText(text, 0);
            push(need(sep_, "[SEP]"), 0);
            if (pair) {
                pushText(*pair, 1);
                push(sep_, 1);
            }
            break;
        case SpecialTemplate::Roberta:
            push(need(cls_, "<s>"), 0);
            pushText(text, 0);
            push(need(sep_, "</s>"), 0);
            if (pair) {
                push(sep_, 0);
                pushText(*pair, 0);
                push(sep_, 0);
            }
            break;
        case SpecialTemplate::MBart:
            pushText(text, 0);
            if (pair) pushText(*pair, 0);
            push(need(sep_, "</s>"), 0);
            push(need(lang_, "language code"), 0);
            break;
    }
    return e;
}

// ----- WordPiece ---------------------------------------------------------------------------------------

std::unique_ptr<WordPieceTokenizer> WordPieceTokenizer::fromVocabFile(const std::string& path,
                                                                      const WordPieceOptions& opts) {
    std::istringstream in(readText(path));
    std::vector<std::string> vocab;
    for (std::string line; std::getline(in, line);) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        vocab.push_back(line);
    }
    return std::make_unique<WordPieceTokenizer>(std::move(vocab), opts, path);
}

WordPieceTokenizer::WordPieceTokenizer(std::vector<std::string> vocab, const WordPieceOptions& opts,
                                       const std::string& source)
    : opts_(opts) {
    kind_ = "wordpiece";
    if (opts_.max_input_chars_per_word <= 0) throw Error(source, "max_input_chars_per_word must be positive");
    for (const auto& t : vocab) {
        size_t chars = 0;
        for (const unsigned char c : t)
            chars += (c & 0xC0) != 0x80;  // UTF-8 lead bytes: one per code point
        maxPieceChars_ = std::max(maxPieceChars_, chars);
    }
    setVocabulary(std::move(vocab), source);
    setSpecials(SpecialTemplate::Bert, {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}, "[CLS]", "[SEP]",
                "[PAD]", "[UNK]");
    if (unk_ < 0) throw Error(source, "a WordPiece vocabulary needs an [UNK] token");
}

std::string WordPieceTokenizer::normalize(const std::string& text) const {
    std::string s;
    s.reserve(text.size());
    for (int32_t cp : codepoints(text)) {
        if (opts_.clean_text) {
            if (cp == 0 || cp == 0xFFFD || isBertControl(cp)) continue;
            if (isSpace(cp)) cp = ' ';
        }
        if (opts_.tokenize_chinese_chars && isChineseChar(cp)) {
            s += ' ';
            appendUtf8(s, cp);
            s += ' ';
        } else {
            appendUtf8(s, cp);
        }
    }
    if (opts_.strip_accents.value_or(opts_.lowercase)) {
        std::string stripped;
        for (int32_t cp : codepoints(nfd(s)))
            if (category(cp) != UTF8PROC_CATEGORY_MN) appendUtf8(stripped, cp);
        s = std::move(stripped);
    }
    if (opts_.lowercase) {
        std::string lower;
        for (int32_t cp : codepoints(s)) {
            if (cp == 0x130) {  // İ: the one full lower-case mapping longer than one character
                lower += "i\xCC\x87";
                continue;
            }
            appendUtf8(lower, utf8proc_tolower(cp));
        }
        s = std::move(lower);
    }
    return s;
}

void WordPieceTokenizer::tokenizePlain(const std::string& text, std::vector<std::string>& out) const {
    const std::vector<int32_t> cps = codepoints(normalize(text));
    auto wordPieces = [&](size_t begin, size_t end) {
        if (end == begin) return;
        if (static_cast<int64_t>(end - begin) > opts_.max_input_chars_per_word) {
            out.push_back(idToken(unk_));
            return;
        }
        std::vector<std::string> pieces;
        for (size_t start = begin; start < end;) {
            // No piece is longer than the vocabulary's longest token: the search is linear in the word.
            size_t stop = std::min(end, start + maxPieceChars_);
            std::string found;
            for (; stop > start; --stop) {
                std::string piece =
                    (start > begin ? opts_.continuing_prefix : std::string()) + utf8(cps, start, stop);
                if (tokenToId_.count(piece)) {
                    found = std::move(piece);
                    break;
                }
            }
            if (found.empty()) {  // one unknown piece makes the whole word unknown
                out.push_back(idToken(unk_));
                return;
            }
            pieces.push_back(std::move(found));
            start = stop;
        }
        out.insert(out.end(), pieces.begin(), pieces.end());
    };
    size_t word = 0;
    for (size_t i = 0; i < cps.size(); ++i) {
        if (isSpace(cps[i])) {
            wordPieces(word, i);
            word = i + 1;
        } else if (isBertPunctuation(cps[i])) {
            wordPieces(word, i);
            wordPieces(i, i + 1);
            word = i + 1;
        }
    }
    wordPieces(word, cps.size());
}

std::string WordPieceTokenizer::decode(const std::vector<int64_t>& ids) const {
    std::string s;
    for (int64_t id : ids) {
        if (id == cls_ || id == sep_ || id == pad_) continue;
        const std::string& t = idToken(id);
        if (t.rfind(opts_.continuing_prefix, 0) == 0)
            s += t.substr(opts_.continuing_prefix.size());
        else
            s += (s.empty() ? "" : " ") + t;
    }
    return s;
}

// ----- Byte-level BPE ----------------------------------------------------------------------------------

std::unique_ptr<ByteLevelBpeTokenizer> ByteLevelBpeTokenizer::fromFiles(const std::string& vocabJson,
                                                                        const std::string& mergesTxt,
                                                                        const BpeOptions& opts) {
    std::vector<std::string> vocab = vocabFromJson(readJson(vocabJson), vocabJson);
    std::vector<std::pair<std::string, std::string>> merges;
    std::istringstream in(readText(mergesTxt));
    int64_t lineNo = 0;
    for (std::string line; std::getline(in, line);) {
        ++lineNo;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.empty() || (lineNo == 1 && line.rfind("#version", 0) == 0)) continue;
        const size_t sp = line.find(' ');
        if (sp == std::string::npos || sp == 0 || sp + 1 >= line.size() ||
            line.find(' ', sp + 1) != std::string::npos)
            throw Error(mergesTxt + ":" + std::to_string(lineNo),
                        "expected two symbols separated by one space");
        merges.emplace_back(line.substr(0, sp), line.substr(sp + 1));
    }
    return std::make_unique<ByteLevelBpeTokenizer>(std::move(vocab), merges, opts, vocabJson);
}

ByteLevelBpeTokenizer::ByteLevelBpeTokenizer(std::vector<std::string> vocab,
                                             const std::vector<std::pair<std::string, std::string>>& merges,
                                             const BpeOptions& opts, const std::string& source)
    : opts_(opts) {
    kind_ = "byte-level-bpe";
    setVocabulary(std::move(vocab), source);
    // GPT-2's bytes_to_unicode: printable bytes stand for themselves, the others for U+0100 onwards.
    int32_t next = 256;
    for (int b = 0; b < 256; ++b) {
        const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
        std::string s;
        appendUtf8(s, printable ? b : next++);
        byteToChar_[b] = s;
        charToByte_[s] = static_cast<unsigned char>(b);
    }
    ranks_.reserve(merges.size());
    for (size_t i = 0; i < merges.size(); ++i)  // the first occurrence sets the rank
        ranks_.emplace(merges[i].first + '\xff' + merges[i].second, static_cast<int64_t>(i));
    if (opts_.special_template == SpecialTemplate::Roberta)
        setSpecials(SpecialTemplate::Roberta, {"<s>", "</s>", "<pad>", "<unk>", "<mask>"}, "<s>", "</s>",
                    "<pad>", "<unk>");
    else
        setSpecials(SpecialTemplate::None, {"<|endoftext|>"}, "", "<|endoftext|>", "<|endoftext|>",
                    "<|endoftext|>");
}

std::vector<std::string> ByteLevelBpeTokenizer::preTokenize(const std::string& text) {
    // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ — the alternatives tried in
    // order at each position, as the regex engine does.
    const std::vector<int32_t> cps = codepoints(text);
    const size_t n = cps.size();
    std::vector<std::string> out;
    auto other = [&](int32_t c) { return !isSpace(c) && !isLetter(c) && !isNumber(c); };
    auto run = [&](size_t from, auto pred) {
        while (from < n && pred(cps[from]))
            ++from;
        return from;
    };
    size_t i = 0;
    while (i < n) {
        size_t end = i;
        if (cps[i] == '\'' && i + 1 < n) {
            const int32_t a = cps[i + 1], b = i + 2 < n ? cps[i + 2] : 0;
            if (a == 's' || a == 't' || a == 'm' || a == 'd')
                end = i + 2;
            else if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
                end = i + 3;
        }
        if (end == i) {
            const size_t s = cps[i] == ' ' && i + 1 < n ? i + 1 : i;  // the optional leading space
            for (auto pred :
                 {+[](int32_t c) { return isLetter(c); }, +[](int32_t c) { return isNumber(c); }}) {
                if (end == i && pred(cps[s])) end = run(s, pred);
                if (end == i && s != i && pred(cps[i])) end = run(i, pred);
            }
            if (end == i && other(cps[s])) end = run(s, other);
            if (end == i && other(cps[i])) end = run(i, other);
        }
        if (end == i) {  // white space: \s+(?!\S), else \s+
            const size_t stop = run(i, [](int32_t c) { return isSpace(c); });
            end = stop == n || stop - i == 1 ? stop : stop - 1;
        }
        out.push_back(utf8(cps, i, end));
        i = end;
    }
    return out;
}

void ByteLevelBpeTokenizer::bpe(const std::string& word, std::vector<std::string>& out) const {
    // Merges by rank with a priority queue over adjacent pairs (as Hugging Face's tokenizers does):
    // O(n log n) in the word's length, where rescanning the word after each merge is O(n²).
    struct Symbol {
        std::string text;
        int64_t prev, next;  // neighbours in the word; −1 at the ends
    };
    std::vector<Symbol> sym;
    sym.reserve(word.size());
    for (size_t i = 0; i < word.size(); ++i)
        sym.push_back({byteToChar_[static_cast<unsigned char>(word[i])], int64_t(i) - 1,
                       i + 1 < word.size() ? int64_t(i) + 1 : -1});
    struct Candidate {
        int64_t rank, at;  // the pair (sym[at], sym[at].next)
        bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : at > o.at; }
    };
    std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> queue;
    std::string key;
    auto rankOf = [&](int64_t at) -> int64_t {
        const int64_t nx = sym[size_t(at)].next;
        if (nx < 0) return -1;
        key.assign(sym[size_t(at)].text).push_back('\xff');  // never in UTF-8: the pair's separator
        key += sym[size_t(nx)].text;
        const auto it = ranks_.find(key);
        return it == ranks_.end() ? -1 : it->second;
    };
    auto offer = [&](int64_t at) {
        if (at < 0) return;
        if (const int64_t r = rankOf(at); r >= 0) queue.push({r, at});
    };
    for (size_t i = 0; i + 1 < sym.size(); ++i)
        offer(int64_t(i));
    while (!queue.empty()) {
        const Candidate c = queue.top();
        queue.pop();
        Symbol& left = sym[size_t(c.at)];
        // Stale: the left symbol was merged away, or its pair has changed since it was queued.
        if (left.text.empty() || left.next < 0 || rankOf(c.at) != c.rank) continue;
        Symbol& right = sym[size_t(left.next)];
        left.text += right.text;
        right.text.clear();
        left.next = right.next;
        if (left.next >= 0) sym[size_t(left.next)].prev = c.at;
        offer(left.prev);
        offer(c.at);
    }
    for (const Symbol& s : sym)
        if (!s.text.empty()) out.push_back(s.text);
}

void ByteLevelBpeTokenizer::tokenizePlain(const std::string& text, std::vector<std::string>& out) const {
    std::string t = text;
    if (opts_.add_prefix_space && !t.empty() && t[0] != ' ') t = " " + t;
    for (const auto& word : preTokenize(t)) {
        {
            std::lock_guard<std::mutex> lock(cacheMutex_);
            const auto hit = cache_.find(word);
            if (hit != cache_.end()) {
                out.insert(out.end(), hit->second.begin(), hit->second.end());
                continue;
            }
        }
        std::vector<std::string> pieces;
        bpe(word, pieces);
        out.insert(out.end(), pieces.begin(), pieces.end());
        if (word.size() > kCacheWordBytes) continue;  // a long word is rare: caching it only costs memory
        std::lock_guard<std::mutex> lock(cacheMutex_);
        if (cache_.size() >= kCacheWords) cache_.clear();
        cache_.emplace(word, std::move(pieces));
    }
}

std::string ByteLevelBpeTokenizer::decode(const std::vector<int64_t>& ids) const {
    std::string bytes;
    for (int64_t id : ids) {
        // RoBERTa's framing tokens are dropped; GPT-2's one special (<|endoftext|>) is text like any other.
        if (template_ == SpecialTemplate::Roberta && (id == cls_ || id == sep_ || id == pad_)) continue;
        const std::string& t = idToken(id);
        const std::vector<int32_t> cps = codepoints(t);
        for (int32_t cp : cps) {
            std::string c;
            appendUtf8(c, cp);
            auto it = charToByte_.find(c);
            if (it != charToByte_.end())
                bytes += static_cast<char>(it->second);
            else
                bytes += c;
        }
    }
    return bytes;
}

// ----- loading a model folder's tokenizer ---------------------------------------------------------------

namespace {

std::unique_ptr<TextTokenizer> loadBaseTokenizer(const std::string& dir, const std::string& modelType,
                                                 const nlohmann::json& tokJson) {
    const std::string tokJsonPath = dir + "/tokenizer.json", cfgPath = dir + "/tokenizer_config.json";
    const nlohmann::json cfgJson = fs::exists(cfgPath) ? readJson(cfgPath) : nlohmann::json::object();
    const JsonFields cfg(cfgJson, cfgPath);
    const nlohmann::json noObject = nlohmann::json::object();
    const JsonFields tj(tokJson.is_null() ? noObject : tokJson, tokJsonPath);
    const JsonFields model(tj.object("model"), tokJsonPath + ": model");

    if (modelType == "bert") {
        WordPieceOptions o;
        const JsonFields norm(tj.object("normalizer"), tokJsonPath + ": normalizer");
        if (norm.text("type", "") == "BertNormalizer") {
            o.lowercase = norm.flag("lowercase", o.lowercase);
            o.clean_text = norm.flag("clean_text", o.clean_text);
            o.tokenize_chinese_chars = norm.flag("handle_chinese_chars", o.tokenize_chinese_chars);
            if (norm.has("strip_accents")) o.strip_accents = norm.flag("strip_accents");
        }
        o.lowercase = cfg.flag("do_lower_case", o.lowercase);
        o.tokenize_chinese_chars = cfg.flag("tokenize_chinese_chars", o.tokenize_chinese_chars);
        if (cfg.has("strip_accents")) o.strip_accents = cfg.flag("strip_accents");
        if (fs::exists(dir + "/vocab.txt")) return WordPieceTokenizer::fromVocabFile(dir + "/vocab.txt", o);
        if (model.has("vocab")) {
            o.max_input_chars_per_word =
                model.integer("max_input_chars_per_word", o.max_input_chars_per_word);
            return std::make_unique<WordPieceTokenizer>(
                vocabFromJson(model.object("vocab"), tokJsonPath + ": model.vocab"), o, tokJsonPath);
        }
        throw Error(dir, "no tokenizer: a BERT folder needs vocab.txt (or tokenizer.json)");
    }
    if (modelType == "mbart") {
        const std::string spm = dir + "/sentencepiece.bpe.model";
        if (!fs::exists(spm))
            throw Error(dir,
                        "no tokenizer: an mBART folder needs sentencepiece.bpe.model (its SentencePiece "
                        "model; tokenizer.json alone is not read for mBART)");
        // mBART-50's tokenizer puts 52 language codes after the pieces and the code first: other ids.
        const std::string cls = cfg.text("tokenizer_class", "");
        if (cls.find("MBart50") != std::string::npos)
            throw Error(
                cfgPath + ": tokenizer_class",
                "'" + cls +
                    "' (mBART-50: 52 language codes, the code before the text) is not read; "
                    "the mBART tokenizer read here is MBartTokenizer's (mbart-large-cc25, en-ro: 25 codes)");
        return SentencePieceTokenizer::fromModelFile(spm, cfg.text("src_lang", "en_XX"));
    }
    if (modelType == "gpt2" || modelType == "roberta" || modelType == "bart") {
        BpeOptions o;
        o.add_prefix_space = cfg.flag("add_prefix_space", false);
        // BART's tokenizer is RoBERTa's: <s> a </s></s> b </s>.
        o.special_template = modelType == "gpt2" ? SpecialTemplate::None : SpecialTemplate::Roberta;
        if (fs::exists(dir + "/vocab.json") && fs::exists(dir + "/merges.txt"))
            return ByteLevelBpeTokenizer::fromFiles(dir + "/vocab.json", dir + "/merges.txt", o);
        if (model.has("vocab") && model.has("merges")) {
            std::vector<std::pair<std::string, std::string>> merges;
            for (const auto& m : model.array("merges")) {
                if (m.is_string()) {  // "a b" (tokenizers < 0.20)
                    const std::string s = m.get<std::string>();
                    const size_t sp = s.find(' ');
                    if (sp == std::string::npos)
                        throw Error(tokJsonPath + ": model.merges", "bad merge '" + s + "'");
                    merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
                } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
                    merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
                } else {
                    throw Error(tokJsonPath + ": model.merges",
                                "each merge must be \"a b\" or [\"a\", \"b\"]");
                }
            }
            return std::make_unique<ByteLevelBpeTokenizer>(
                vocabFromJson(model.object("vocab"), tokJsonPath + ": model.vocab"), merges, o, tokJsonPath);
        }
        throw Error(dir, "no tokenizer: a " + modelType +
                             " folder needs vocab.json and merges.txt (or tokenizer.json)");
    }
    throw Error(
        dir, "no tokenizer for model_type '" + modelType + "' (supported: bert, roberta, gpt2, bart, mbart)");
}

}  // namespace

std::unique_ptr<TextTokenizer> loadHfTokenizer(const std::string& dir, const std::string& modelType) {
    const std::string tokJsonPath = dir + "/tokenizer.json", addedPath = dir + "/added_tokens.json";
    nlohmann::json tokJson;
    if (fs::exists(tokJsonPath)) tokJson = readJson(tokJsonPath);
    std::unique_ptr<TextTokenizer> tok = loadBaseTokenizer(dir, modelType, tokJson);
    if (tokJson.is_object() && tokJson.contains("added_tokens") && tokJson["added_tokens"].is_array()) {
        std::vector<std::pair<std::string, int64_t>> added;
        for (const auto& t : tokJson["added_tokens"]) {
            if (!t.is_object() || !t.contains("id") || !t.contains("content") || !t["content"].is_string())
                throw Error(tokJsonPath + ": added_tokens",
                            "each entry needs an integer id and a content string");
            added.emplace_back(t["content"].get<std::string>(),
                               JsonFields::integerValue(t["id"], tokJsonPath + ": added_tokens.id"));
        }
        tok->addTokens(added, tokJsonPath);
    }
    if (fs::exists(addedPath)) {
        const nlohmann::json j = readJson(addedPath);
        if (!j.is_object()) throw Error(addedPath, "must be a JSON object {token: id}");
        std::vector<std::pair<std::string, int64_t>> added;
        for (auto it = j.begin(); it != j.end(); ++it) {
            added.emplace_back(it.key(), JsonFields::integerValue(*it, addedPath + ": " + it.key()));
        }
        tok->addTokens(added, addedPath);
    }
    return tok;
}

// ----- SentencePiece (mBART) ------------------------------------------------------------------------------

struct SentencePieceTokenizer::Model : SentencePieceModel {
    using SentencePieceModel::SentencePieceModel;
};

const std::vector<std::string>& SentencePieceTokenizer::languageCodes() {
    static const std::vector<std::string> codes = {
        "ar_AR", "cs_CZ", "de_DE", "en_XX", "es_XX", "et_EE", "fi_FI", "fr_XX", "gu_IN",
        "hi_IN", "it_IT", "ja_XX", "kk_KZ", "ko_KR", "lt_LT", "lv_LV", "my_MM", "ne_NP",
        "nl_XX", "ro_RO", "ru_RU", "si_LK", "tr_TR", "vi_VN", "zh_CN"};
    return codes;
}

SentencePieceTokenizer::~SentencePieceTokenizer() = default;

std::unique_ptr<SentencePieceTokenizer> SentencePieceTokenizer::fromModelFile(const std::string& path,
                                                                              const std::string& srcLang) {
    // Read here (bounded, a FIFO refused) and parsed from memory: the library never opens the path itself.
    const std::string bytes = readFileBytes(path, "a SentencePiece model", uint64_t(64) << 20);
    std::unique_ptr<SentencePieceTokenizer> t(new SentencePieceTokenizer());
    try {
        t->sp_ = std::make_unique<Model>(bytes, path);
    } catch (const Error& e) {
        if (e.reason().rfind("not a SentencePiece model", 0) == 0) throw;
        throw Error(path, "not a usable SentencePiece model: " + e.reason());
    }
    const SentencePieceModel& sp = *t->sp_;
    const int n = sp.size();
    using Type = SentencePieceModel::Type;
    // fairseq's layout shifts every piece by one and puts its own specials at 0–3: it assumes the piece
    // model's <unk>, <s>, </s> are pieces 0, 1, 2 (as in every mBART checkpoint).
    auto is = [&](int id, Type type, const char* text) {
        return sp.piece(id).type == type && (text == nullptr || sp.piece(id).text == text);
    };
    if (n < 4 || !is(0, Type::Unknown, nullptr) || !is(1, Type::Control, "<s>") ||
        !is(2, Type::Control, "</s>"))
        throw Error(path,
                    "a SentencePiece model without fairseq's layout: mBART needs <unk>, <s>, </s> as pieces "
                    "0, 1, 2 (this one has " +
                        std::to_string(n) + " pieces" +
                        (n >= 3 ? ", the first '" + sp.piece(0).text + "', '" + sp.piece(1).text + "', '" +
                                      sp.piece(2).text + "'"
                                : std::string()) +
                        ")");
    t->kind_ = "sentencepiece";
    t->source_ = path;
    t->pieces_ = n;
    std::vector<std::string> vocab = {"<s>", "<pad>", "</s>", "<unk>"};
    for (int i = 3; i < n; ++i)
        vocab.push_back(sp.piece(i).text);
    for (const auto& code : languageCodes())
        vocab.push_back(code);
    vocab.push_back("<mask>");
    t->setVocabulary(std::move(vocab), path);
    std::vector<std::string> recognised = {"<s>", "<pad>", "</s>", "<unk>", "<mask>"};
    recognised.insert(recognised.end(), languageCodes().begin(), languageCodes().end());
    t->setSpecials(SpecialTemplate::MBart, recognised, "<s>", "</s>", "<pad>", "<unk>");
    t->setSourceLanguage(srcLang);
    return t;
}

int64_t SentencePieceTokenizer::languageId(const std::string& code) const {
    const auto& codes = languageCodes();
    const auto it = std::find(codes.begin(), codes.end(), code);
    if (it == codes.end()) {
        std::string all;
        for (const auto& c : codes)
            all += (all.empty() ? "" : ", ") + c;
        throw Error(source_, "'" + code.substr(0, 40) + "' is not an mBART language code (" + all + ")");
    }
    return pieces_ + 1 + int64_t(it - codes.begin());
}

void SentencePieceTokenizer::setSourceLanguage(const std::string& code) {
    lang_ = languageId(code);
    srcLang_ = code;
}

void SentencePieceTokenizer::tokenizePlain(const std::string& text, std::vector<std::string>& out) const {
    std::vector<int> ids;
    sp_->encode(text, out, ids);
}

std::string SentencePieceTokenizer::decode(const std::vector<int64_t>& ids) const {
    // As Hugging Face's MBartTokenizer.decode(skip_special_tokens=True): specials, language codes and <mask>
    // left out, the pieces joined, "▁" back to spaces, the ends stripped.
    std::string s;
    for (int64_t id : ids)
        if (id >= 4 && id <= pieces_) s += idToken(id);
    std::string out;
    for (size_t i = 0; i < s.size();)
        if (s.compare(i, 3, "\xe2\x96\x81") == 0) {
            out += ' ';
            i += 3;
        } else {
            out += s[i++];
        }
    const size_t b = out.find_first_not_of(' '), e = out.find_last_not_of(' ');
    return b == std::string::npos ? std::string() : out.substr(b, e - b + 1);
}

}  // namespace peft
