// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The built-in world: a small synthetic language a person can read, a second language to translate into,
// and four tasks shaped like the paper's benchmarks. Everything is generated from a seed, deterministically.
//   sentiment      (like SST-2)  binary; negation flips, intensifiers do not, "but"/"although" pick a clause
//   entailment     (like MNLI)   premise / hypothesis from a generated world state: entail, neutral,
//   contradict summarization  (like XSum)   a multi-sentence story → its one-sentence gist (ROUGE)
//   translation    (like en-ro)  into a language with its own words, suffixes and SOV order (BLEU)
// No torch here.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "data/hf_tokenizer.h"
#include "data/tokenizer.h"
#include "train/dataset.h"

namespace peft {

/// A vocabulary file: one token per line, the id is the line number (read whole, size-checked).
std::vector<std::string> readVocabularyFile(const std::string& path);

/// Word-level tokenizer over the world's vocabulary: <pad> 0, <bos> 1, <eos> 2, <unk> 3, <sep> 4, then words.
class WordTokenizer : public Tokenizer {
public:
    static constexpr int64_t kPad = 0, kBos = 1, kEos = 2, kUnk = 3, kSep = 4;

    explicit WordTokenizer(std::vector<std::string> words);  // words without the specials
    /// From a backbone's full vocabulary (vocab.txt: the five specials, then unique words); anything else is
    /// refused with a message naming `source`.
    static WordTokenizer fromVocabulary(const std::vector<std::string>& tokens, const std::string& source);
    int64_t vocabSize() const override { return static_cast<int64_t>(tokens_.size()); }
    int64_t id(const std::string& word) const;
    const std::string& token(int64_t id) const;
    /// Splits on spaces; unknown words become <unk>.
    std::vector<int64_t> encode(const std::string& text) const;
    /// Space-joined words, specials dropped.
    std::string decode(const std::vector<int64_t>& ids) const override;
    std::vector<int64_t> encodeIds(const std::string& text) const override { return encode(text); }
    std::string tokenText(int64_t id) const override { return token(id); }
    SpecialIds specialIds() const override { return {kBos, kEos, kSep, kPad, kUnk}; }
    const std::vector<std::string>& tokens() const { return tokens_; }

private:
    std::vector<std::string> tokens_;
    std::map<std::string, int64_t> index_;
};

struct Sentence {
    std::string text;
    std::string target;  // second text: hypothesis, gist or translation
    int64_t label = -1;
};

/// Which pretraining text: the first corpus (Standard), one that also makes places and colours predictable
/// from context (one-person facts, scenes that recall their place and colour), or that one with some
/// sentences beside their translation (Parallel: what the shipped backbone learnt from).
enum class CorpusMix { Standard, Recall, Parallel };
/// "standard", "recall" or "parallel"; anything else raises peft::Error naming --corpus.
CorpusMix corpusMixFromName(const std::string& name);

class World {
public:
    explicit World(uint64_t seed = 1);

    const std::vector<std::string>& vocabulary() const { return vocab_; }  // English then foreign words

    Sentence sentiment(std::mt19937_64& rng) const;
    /// A premise about `people` persons (0: two or three, the task's mix) and a hypothesis about one of them.
    Sentence entailment(std::mt19937_64& rng, int people = 0) const;
    Sentence story(std::mt19937_64& rng) const;
    Sentence translationPair(std::mt19937_64& rng) const;
    /// Unlabelled text of the same world (both languages), for pretraining.
    std::string corpusLine(std::mt19937_64& rng, CorpusMix mix = CorpusMix::Standard) const;
    /// A longer review for the corpus: 2–4 clauses whose opinion holds across "and" and turns at "but" /
    /// "although …,", then the verdict on the final opinion ("i liked it ." / "i did not like it .").
    std::string reviewWithVerdict(std::mt19937_64& rng) const;
    const std::vector<std::string>& places() const { return places_; }
    const std::vector<std::string>& objects() const { return objects_; }
    /// The foreign rendering of an English sentence of the translation grammar.
    const std::map<std::string, std::string>& lexicon() const { return lexicon_; }

private:
    std::string clause(std::mt19937_64& rng, bool positive, double negation = 0.35) const;

    std::vector<std::string> names_, places_, objects_, colors_, reviewNouns_, positive_, negative_,
        intensifiers_, verbs_, fillers_;
    std::map<std::string, std::string> lexicon_;  // English word → foreign word
    std::vector<std::string> vocab_;
};

struct TaskSizes {
    int64_t train = 8000, dev = 500, test = 500;
};

/// The built-in tasks: sentiment, entailment, summarization, translation.
const std::vector<std::string>& builtinTaskNames();
/// The label names of a built-in classification task, empty for a generation task; throws peft::Error listing
/// the tasks for an unknown name.
std::vector<std::string> builtinTaskLabels(const std::string& name);
/// The world's own layout: a review then the verdict cue "i"; premise <sep> hypothesis <eos>; source <sep>
/// (an encoder–decoder's, `seq2seq`: source <eos> as the encoder's whole input).
TaskEncoder worldEncoder(const WordTokenizer& tok, bool seq2seq = false);

/// BART's text infilling, the denoising objective `peftwb pretrain --layout encoder-decoder` trains on:
/// spans of Poisson(`meanSpan`) tokens (at least one) at uniform starts are masked until round(`ratio`·n)
/// tokens are, and each maximal masked run becomes one `mask` token. The other tokens keep their order.
std::vector<int64_t> infillNoise(const std::vector<int64_t>& ids, int64_t mask, std::mt19937_64& rng,
                                 double ratio = 0.3, double meanSpan = 3.0);
/// The world's words for other text (users' files): text [<sep> pair] <eos>, no verdict cue.
TaskEncoder plainWordEncoder(const WordTokenizer& tok);
/// Any other tokenizer's layout: its template ([CLS] a [SEP] b [SEP], …; token types when `types`), the
/// source then `sep` as the prompt.
TaskEncoder textEncoder(std::function<Example(const std::string&, const std::optional<std::string>&)> frame,
                        std::function<std::vector<int64_t>(const std::string&)> encode, int64_t sep);

/// A Hugging Face tokenizer's layout: textEncoder over its template and its separator ([SEP], </s>,
/// <|endoftext|>). For an encoder–decoder (`seq2seq`) the source is the encoder's whole input with the
/// template's special tokens (BART: <s> … </s>; mBART: … </s> en_XX) and the target its plain tokens.
TaskEncoder hfEncoder(std::shared_ptr<const TextTokenizer> tok, bool types, bool seq2seq = false);

/// Splits of a built-in task, read through `enc` (throws peft::Error listing the tasks for an unknown name).
/// The same seed gives the same sentences whatever the encoder.
Dataset builtinTask(const std::string& name, const World& world, const TaskEncoder& enc,
                    const TaskSizes& sizes, uint64_t seed);
/// builtinTask(name, world, worldEncoder(tok), sizes, seed).
Dataset builtinTask(const std::string& name, const World& world, const WordTokenizer& tok,
                    const TaskSizes& sizes, uint64_t seed);

}  // namespace peft
