// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The tokenizers of Hugging Face checkpoints, computing the same ids as Hugging Face's `tokenizers`:
//   - BERT WordPiece (vocab.txt): the BertNormalizer (clean text, CJK characters split, accents stripped by
//     Unicode NFD, lower case), the BertPreTokenizer (whitespace, punctuation), greedy longest-match
//     WordPiece with "##" continuations and [UNK] for words over 100 characters;
//   - GPT-2 / RoBERTa byte-level BPE (vocab.json + merges.txt): GPT-2's pre-tokenisation pattern, the
//     byte-to-unicode mapping, merges by rank.
// Unicode categories and normalisation come from utf8proc. No torch.
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "data/tokenizer.h"

namespace peft {

/// One encoded input as the model reads it.
struct Encoding {
    std::vector<std::string> tokens;  // as Hugging Face shows them ("##ing", "Ġworld")
    std::vector<int64_t> ids;
    std::vector<int64_t> type_ids;  // token types (BERT pairs: 0 for the first segment, 1 for the second)
};

/// How special tokens frame an input (Hugging Face's post-processors).
enum class SpecialTemplate {
    None,     // GPT-2: the tokens alone; a pair is concatenated
    Bert,     // [CLS] a [SEP] b [SEP], types 0 … 0 1 … 1
    Roberta,  // <s> a </s></s> b </s>, types all 0
    MBart,    // a </s> lang (a b </s> lang for a pair), lang the source language code, types all 0
};

class TextTokenizer : public Tokenizer {
public:
    virtual ~TextTokenizer() = default;

    /// The tokens of `text` without special tokens. Special tokens written in the text ("[SEP]",
    /// "<|endoftext|>") stay whole, as Hugging Face's added tokens do. Throws peft::Error on invalid UTF-8.
    std::vector<std::string> tokenize(const std::string& text) const;
    /// Token ids of `text` without special tokens.
    std::vector<int64_t> encodeIds(const std::string& text) const override;
    /// `text` (and `pair`) framed by the family's special tokens.
    Encoding encode(const std::string& text, const std::optional<std::string>& pair = std::nullopt) const;

    /// Id of a token, or −1.
    int64_t tokenId(const std::string& token) const;
    /// The token of an id ("" when out of range).
    const std::string& idToken(int64_t id) const;
    int64_t vocabSize() const override { return static_cast<int64_t>(idToToken_.size()); }
    std::string tokenText(int64_t id) const override { return idToken(id); }
    /// [CLS] / <s> as bos (else the separator), the separator as eos and sep, [PAD] (else the separator).
    SpecialIds specialIds() const override {
        return {cls_ >= 0 ? cls_ : sep_, sep_, sep_, pad_ >= 0 ? pad_ : sep_, unk_};
    }
    /// Readable text of ids (byte-level tokens are mapped back to their bytes, "##" pieces joined).
    std::string decode(const std::vector<int64_t>& ids) const override = 0;

    SpecialTemplate specialTemplate() const { return template_; }
    int64_t clsId() const { return cls_; }  // [CLS] / <s>; −1 when the family has none
    int64_t sepId() const { return sep_; }  // [SEP] / </s> / <|endoftext|>
    int64_t padId() const { return pad_; }  // [PAD] / <pad> / (GPT-2: <|endoftext|>)
    int64_t unkId() const { return unk_; }
    const std::string& kind() const { return kind_; }  // "wordpiece" | "byte-level-bpe"

    /// Hugging Face's added tokens (tokenizer.json "added_tokens", added_tokens.json): placed at their ids
    /// and matched whole in text before tokenisation. `source` names the file in errors.
    void addTokens(const std::vector<std::pair<std::string, int64_t>>& tokens, const std::string& source);

protected:
    /// Tokens of a stretch of text holding no special token.
    virtual void tokenizePlain(const std::string& text, std::vector<std::string>& out) const = 0;
    void setVocabulary(std::vector<std::string> idToToken, const std::string& source);
    /// Special tokens recognised in text and framing inputs; absent ones are ignored.
    void setSpecials(SpecialTemplate t, const std::vector<std::string>& recognised, const std::string& cls,
                     const std::string& sep, const std::string& pad, const std::string& unk);

    std::string kind_;
    std::unordered_map<std::string, int64_t> tokenToId_;
    std::vector<std::string> idToToken_;
    std::vector<std::string> specials_;  // recognised in text, longest first
    SpecialTemplate template_ = SpecialTemplate::None;
    int64_t cls_ = -1, sep_ = -1, pad_ = -1, unk_ = -1;
    int64_t lang_ = -1;  // MBart: the language code that ends every input
    std::string clsName_, sepName_, padName_, unkName_;
};

struct WordPieceOptions {
    bool lowercase = true;                   // do_lower_case
    std::optional<bool> strip_accents;       // unset: follows lowercase (as BertNormalizer)
    bool tokenize_chinese_chars = true;      // split CJK ideographs into single-character words
    bool clean_text = true;                  // drop controls, map whitespace to ' '
    int64_t max_input_chars_per_word = 100;  // longer words become [UNK]
    std::string continuing_prefix = "##";
};

class WordPieceTokenizer : public TextTokenizer {
public:
    /// vocab.txt: one token per line, the id is the line number.
    static std::unique_ptr<WordPieceTokenizer> fromVocabFile(const std::string& path,
                                                             const WordPieceOptions& opts = {});
    WordPieceTokenizer(std::vector<std::string> vocab, const WordPieceOptions& opts,
                       const std::string& source);
    std::string decode(const std::vector<int64_t>& ids) const override;
    /// The BertNormalizer's output for `text` (exposed for tests).
    std::string normalize(const std::string& text) const;

protected:
    void tokenizePlain(const std::string& text, std::vector<std::string>& out) const override;

private:
    WordPieceOptions opts_;
    size_t maxPieceChars_ = 1;  // code points of the vocabulary's longest token
};

struct BpeOptions {
    bool add_prefix_space = false;  // RoBERTa/GPT-2 default: no leading space added
    SpecialTemplate special_template = SpecialTemplate::None;
};

class ByteLevelBpeTokenizer : public TextTokenizer {
public:
    /// vocab.json ({token: id}) + merges.txt ("#version" line, then "a b" per line, rank = order).
    static std::unique_ptr<ByteLevelBpeTokenizer> fromFiles(const std::string& vocabJson,
                                                            const std::string& mergesTxt,
                                                            const BpeOptions& opts = {});
    ByteLevelBpeTokenizer(std::vector<std::string> vocab,
                          const std::vector<std::pair<std::string, std::string>>& merges,
                          const BpeOptions& opts, const std::string& source);
    std::string decode(const std::vector<int64_t>& ids) const override;
    /// GPT-2's pre-tokenisation of `text` (exposed for tests).
    static std::vector<std::string> preTokenize(const std::string& text);

protected:
    void tokenizePlain(const std::string& text, std::vector<std::string>& out) const override;

private:
    void bpe(const std::string& word, std::vector<std::string>& out) const;

    BpeOptions opts_;
    std::unordered_map<std::string, int64_t> ranks_;  // "a\xffb" → rank of the merge (a, b)
    std::string byteToChar_[256];                     // the UTF-8 of each byte's stand-in character
    std::unordered_map<std::string, unsigned char> charToByte_;
    // Words repeat (a data file's vocabulary is far smaller than its word count): each pre-token's merged
    // pieces, kept until kCacheWords distinct words, then started afresh. Shared by the threads that
    // tokenise through this object.
    static constexpr size_t kCacheWords = 100000;
    static constexpr size_t kCacheWordBytes = 256;  // longer words are tokenised but not cached
    mutable std::unordered_map<std::string, std::vector<std::string>> cache_;
    mutable std::mutex cacheMutex_;
};

/// mBART's tokenizer: a SentencePiece model (sentencepiece.bpe.model, through libsentencepiece) under
/// fairseq's id layout, as Hugging Face's MBartTokenizer computes it: <s> 0, <pad> 1, </s> 2, <unk> 3, then
/// the SentencePiece pieces shifted by one (piece 3 → id 4; the piece model's own <unk>, <s>, </s> at 0–2
/// are not repeated), then the 25 language codes (ar_AR … zh_CN), then <mask>. Inputs end `</s> src_lang`.
class SentencePieceTokenizer : public TextTokenizer {
public:
    /// mBART's language codes, in fairseq's order (their ids follow the pieces).
    static const std::vector<std::string>& languageCodes();
    /// Reads a SentencePiece model file (at most 64 MiB) and checks fairseq's assumptions about it: pieces
    /// 0, 1, 2 are <unk>, <s>, </s>. `srcLang` is the code appended to inputs ("en_XX").
    static std::unique_ptr<SentencePieceTokenizer> fromModelFile(const std::string& path,
                                                                 const std::string& srcLang = "en_XX");
    ~SentencePieceTokenizer() override;
    std::string decode(const std::vector<int64_t>& ids) const override;
    /// The id of a language code; peft::Error naming the code and the valid ones otherwise.
    int64_t languageId(const std::string& code) const;
    /// The code appended to inputs (Hugging Face's src_lang); peft::Error for an unknown code.
    void setSourceLanguage(const std::string& code);
    const std::string& sourceLanguage() const { return srcLang_; }
    int64_t sourceLanguageId() const { return lang_; }
    /// The number of pieces of the SentencePiece model itself.
    int64_t pieceCount() const { return pieces_; }

protected:
    void tokenizePlain(const std::string& text, std::vector<std::string>& out) const override;

private:
    SentencePieceTokenizer() = default;
    struct Model;
    std::unique_ptr<Model> sp_;
    std::string source_, srcLang_;
    int64_t pieces_ = 0;
};

/// The tokenizer of a Hugging Face model folder for `modelType` (bert, roberta, gpt2, bart, mbart): vocab.txt
/// or vocab.json + merges.txt, else the model section of tokenizer.json; mBART's sentencepiece.bpe.model
/// (its source language from tokenizer_config.json's src_lang); options from tokenizer_config.json.
/// Errors name the folder and the missing file.
std::unique_ptr<TextTokenizer> loadHfTokenizer(const std::string& dir, const std::string& modelType);

}  // namespace peft
