// SPDX-License-Identifier: GPL-3.0-or-later
#include "data/world.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>

#include "util/error.h"
#include "util/files.h"

namespace peft {

// ----- tokenizer -------------------------------------------------------------------------------------

WordTokenizer::WordTokenizer(std::vector<std::string> words) {
    tokens_ = {"<pad>", "<bos>", "<eos>", "<unk>", "<sep>"};
    for (auto& w : words)
        if (!index_.count(w) && std::find(tokens_.begin(), tokens_.end(), w) == tokens_.end())
            tokens_.push_back(w);
    for (size_t i = 0; i < tokens_.size(); ++i)
        index_[tokens_[i]] = static_cast<int64_t>(i);
}

std::vector<std::string> readVocabularyFile(const std::string& path) {
    std::istringstream in(readFileBytes(path, "a vocabulary file"));
    std::vector<std::string> tokens;
    for (std::string line; std::getline(in, line);)
        tokens.push_back(line);
    return tokens;
}

WordTokenizer WordTokenizer::fromVocabulary(const std::vector<std::string>& tokens,
                                            const std::string& source) {
    const size_t specials = static_cast<size_t>(kSep) + 1;
    WordTokenizer tok(tokens.size() > specials
                          ? std::vector<std::string>(tokens.begin() + specials, tokens.end())
                          : std::vector<std::string>{});
    if (tok.tokens() != tokens)
        throw Error(source, "the first five tokens must be <pad> <bos> <eos> <unk> <sep>, then unique words");
    return tok;
}

int64_t WordTokenizer::id(const std::string& word) const {
    auto it = index_.find(word);
    return it == index_.end() ? kUnk : it->second;
}

const std::string& WordTokenizer::token(int64_t id) const {
    static const std::string unk = "<unk>";
    return id >= 0 && id < vocabSize() ? tokens_[static_cast<size_t>(id)] : unk;
}

std::vector<int64_t> WordTokenizer::encode(const std::string& text) const {
    std::vector<int64_t> ids;
    size_t start = 0;
    while (start < text.size()) {
        size_t end = text.find(' ', start);
        if (end == std::string::npos) end = text.size();
        if (end > start) ids.push_back(id(text.substr(start, end - start)));
        start = end + 1;
    }
    return ids;
}

std::string WordTokenizer::decode(const std::vector<int64_t>& ids) const {
    std::string out;
    for (int64_t id : ids) {
        if (id <= kSep) continue;
        if (!out.empty()) out += ' ';
        out += token(id);
    }
    return out;
}

// ----- the world -------------------------------------------------------------------------------------

namespace {

template <typename T>
const T& pick(const std::vector<T>& v, std::mt19937_64& rng) {
    return v[rng() % v.size()];
}

std::string plural(const std::string& w) {
    const bool es = w.back() == 'x' || w.back() == 's' ||
                    (w.size() > 2 && (w.substr(w.size() - 2) == "sh" || w.substr(w.size() - 2) == "ch"));
    return w + (es ? "es" : "s");
}

bool chance(std::mt19937_64& rng, double p) {
    return double(rng() % 1000000) / 1e6 < p;
}

std::vector<std::string> syllableWords(std::mt19937_64& rng, size_t n, int minSyl, int maxSyl,
                                       const std::set<std::string>& taken) {
    static const char* onsets[] = {"b", "d", "f", "g", "k", "l", "m",  "n",
                                   "p", "r", "s", "t", "v", "z", "sh", "ch"};
    static const char* vowels[] = {"a", "e", "i", "o", "u"};
    std::set<std::string> seen(taken);
    std::vector<std::string> out;
    while (out.size() < n) {
        const int syl = minSyl + int(rng() % uint64_t(maxSyl - minSyl + 1));
        std::string w;
        for (int i = 0; i < syl; ++i)
            w += std::string(onsets[rng() % 16]) + vowels[rng() % 5];
        if (seen.insert(w).second) out.push_back(w);
    }
    return out;
}

}  // namespace

World::World(uint64_t seed) {
    std::mt19937_64 rng(seed);
    places_ = {"kitchen", "garden", "market", "school",  "park",   "library", "station",
               "forest",  "beach",  "office", "harbor",  "museum", "bakery",  "river",
               "tower",   "bridge", "farm",   "village", "castle", "shop"};
    objects_ = {"ball",   "book",   "apple",  "cup",    "lamp",   "key",    "hat",    "box",
                "letter", "phone",  "bike",   "coin",   "map",    "chair",  "clock",  "shoe",
                "bag",    "pen",    "plate",  "ring",   "kite",   "drum",   "vase",   "rope",
                "brush",  "candle", "basket", "mirror", "ladder", "jar",    "glove",  "blanket",
                "bottle", "camera", "guitar", "hammer", "pillow", "ticket", "wallet", "whistle"};
    colors_ = {"red", "blue", "green", "yellow", "black", "white", "brown", "pink", "gray", "orange"};
    reviewNouns_ = {"movie",  "film", "story",  "plot",  "acting",   "music",
                    "ending", "cast", "script", "scene", "dialogue", "soundtrack",
                    "show",   "play", "novel",  "album", "series",   "director"};
    positive_ = {"good",      "great",  "wonderful", "brilliant", "charming", "delightful", "excellent",
                 "moving",    "funny",  "clever",    "beautiful", "fresh",    "superb",     "enjoyable",
                 "gripping",  "lovely", "smart",     "warm",      "touching", "stunning",   "fantastic",
                 "memorable", "solid",  "elegant",   "witty",     "powerful", "inspiring",  "pleasant"};
    negative_ = {"bad",      "awful",     "boring",  "dull",   "terrible", "weak",        "clumsy",
                 "messy",    "tedious",   "bland",   "poor",   "silly",    "flat",        "painful",
                 "lazy",     "confusing", "shallow", "stiff",  "dreary",   "cheap",       "forgettable",
                 "annoying", "pointless", "sloppy",  "hollow", "tiresome", "predictable", "lifeless"};
    intensifiers_ = {"very", "really", "quite", "truly", "extremely", "so", "rather", "simply"};
    verbs_ = {"bought", "found", "lost", "sold", "painted", "fixed", "carried", "hid", "cleaned", "dropped"};
    fillers_ = {"the weather was cold", "a dog slept in the sun", "the bells rang twice",
                "it rained a little",   "the streets were quiet", "a bird sang nearby",
                "the wind was strong",  "the sky was clear"};

    std::set<std::string> english;
    for (const auto* list :
         {&places_, &objects_, &colors_, &reviewNouns_, &positive_, &negative_, &intensifiers_, &verbs_})
        english.insert(list->begin(), list->end());
    const std::vector<std::string> function = {
        "the",        "a",      "was",   "is",     "and",    "but",     "although", "not",   "never",
        "in",         "has",    "had",   "then",   "went",   "to",      "home",     "saw",   "at",
        ",",          ".",      "happy", "sad",    "it",     "of",      "dog",      "slept", "sun",
        "bells",      "rang",   "twice", "rained", "little", "streets", "were",     "quiet", "bird",
        "sang",       "nearby", "wind",  "strong", "sky",    "clear",   "weather",  "cold",  "summarize:",
        "translate:", "i",      "liked", "did",    "like",   "so"};
    english.insert(function.begin(), function.end());
    names_ = syllableWords(rng, 400, 2, 2, english);
    english.insert(names_.begin(), names_.end());

    // The second language: every content word gets its own word; names stay; function words that the
    // translation grammar uses get their own too.
    std::vector<std::string> translatable;
    for (const auto* list : {&places_, &objects_, &colors_, &verbs_})
        translatable.insert(translatable.end(), list->begin(), list->end());
    const auto foreign = syllableWords(rng, translatable.size(), 2, 3, english);
    for (size_t i = 0; i < translatable.size(); ++i)
        lexicon_[translatable[i]] = foreign[i];

    for (const auto& o : objects_)
        english.insert(plural(o));
    vocab_.assign(english.begin(), english.end());
    std::set<std::string> foreignWords;
    for (const auto& [en, fo] : lexicon_) {
        foreignWords.insert(fo);
        foreignWords.insert(fo + "en");  // plural
        foreignWords.insert(fo + "ta");  // past tense
        foreignWords.insert(fo + "ko");  // locative
    }
    vocab_.insert(vocab_.end(), foreignWords.begin(), foreignWords.end());
}

std::string World::clause(std::mt19937_64& rng, bool positive, double negation) const {
    // "the plot was very good" (positive) or "the plot was not bad" (negation flips the adjective).
    std::string s = "the " + pick(reviewNouns_, rng) + " was ";
    const bool negate = chance(rng, negation);
    const bool adjPositive = negate ? !positive : positive;
    if (negate) s += chance(rng, 0.7) ? "not " : "never ";
    if (chance(rng, 0.4)) s += pick(intensifiers_, rng) + " ";
    s += pick(adjPositive ? positive_ : negative_, rng);
    return s;
}

Sentence World::sentiment(std::mt19937_64& rng) const {
    const bool label = chance(rng, 0.5);
    const int form = int(rng() % 4);
    std::string text;
    if (form == 0) {
        text = clause(rng, label);
    } else if (form == 1) {  // the clause after "but" decides
        text = clause(rng, !label) + " but " + clause(rng, label);
    } else if (form == 2) {  // "although A , B": B decides
        text = "although " + clause(rng, !label) + " , " + clause(rng, label);
    } else {  // agreeing clauses
        text = clause(rng, label) + " and " + clause(rng, label);
    }
    return {text + " .", "", label ? 1 : 0};
}

Sentence World::entailment(std::mt19937_64& rng, int people) const {
    // A world state: two or three people (or `people`), each in a place and holding a coloured object.
    struct Person {
        std::string name, place, object, color;
    };
    std::vector<std::string> names = names_;
    std::shuffle(names.begin(), names.end(), rng);
    const int n = people > 0 ? people : 2 + int(rng() % 2);
    std::vector<Person> cast;
    for (int i = 0; i < n; ++i)
        cast.push_back({names[size_t(i)], pick(places_, rng), pick(objects_, rng), pick(colors_, rng)});
    // The premise states each person's place or object (one fact each); the rest of the state stays unsaid.
    std::vector<bool> saysPlace;
    std::string premise;
    for (int i = 0; i < n; ++i) {
        const Person& p = cast[size_t(i)];
        saysPlace.push_back(chance(rng, 0.5));
        if (!premise.empty()) premise += " and ";
        premise += saysPlace.back() ? p.name + " is in the " + p.place
                                    : p.name + " has a " + p.color + " " + p.object;
    }
    premise += " .";
    const int label = int(rng() % 3);  // 0 entailment, 1 neutral, 2 contradiction
    const size_t k = rng() % cast.size();
    const Person& p = cast[k];
    std::string hyp;
    auto otherPlace = [&] {
        std::string q;
        do
            q = pick(places_, rng);
        while (q == p.place);
        return q;
    };
    auto otherColor = [&] {
        std::string q;
        do
            q = pick(colors_, rng);
        while (q == p.color);
        return q;
    };
    if (label == 0) {
        if (saysPlace[k])
            hyp = chance(rng, 0.5) ? p.name + " is in the " + p.place
                                   : p.name + " is not in the " + otherPlace();
        else
            hyp = chance(rng, 0.5) ? p.name + " has a " + p.object
                                   : p.name + " has a " + p.color + " " + p.object;
    } else if (label == 1) {  // about what the premise leaves open
        if (chance(rng, 0.5)) {
            hyp = names[size_t(n)] + (chance(rng, 0.5)
                                          ? " is in the " + pick(places_, rng)
                                          : " has a " + pick(colors_, rng) + " " + pick(objects_, rng));
        } else {
            hyp = saysPlace[k] ? p.name + " has a " + pick(colors_, rng) + " " + pick(objects_, rng)
                               : p.name + " is in the " + pick(places_, rng);
        }
    } else {
        if (saysPlace[k])
            hyp = chance(rng, 0.5) ? p.name + " is in the " + otherPlace()
                                   : p.name + " is not in the " + p.place;
        else
            hyp = p.name + " has a " + otherColor() + " " + p.object;
    }
    return {premise, hyp + " .", label};
}

Sentence World::story(std::mt19937_64& rng) const {
    const std::string name = pick(names_, rng), place = pick(places_, rng), object = pick(objects_, rng),
                      color = pick(colors_, rng), verb = pick(verbs_, rng);
    std::vector<std::string> lines = {name + " went to the " + place, name + " saw a " + color + " " + object,
                                      name + " " + verb + " the " + object};
    if (chance(rng, 0.6)) lines.insert(lines.begin() + long(rng() % 3), pick(fillers_, rng));
    if (chance(rng, 0.5)) lines.push_back(pick(fillers_, rng));
    lines.push_back("then " + name + " went home");
    lines.push_back(name + " was " + (chance(rng, 0.5) ? "happy" : "sad"));
    std::string text;
    for (const auto& l : lines)
        text += (text.empty() ? "" : " ") + l + " .";
    return {text, name + " " + verb + " a " + color + " " + object + " at the " + place + " .", -1};
}

Sentence World::translationPair(std::mt19937_64& rng) const {
    // English: NAME VERB the [COLOR] OBJECT[s] in the PLACE .
    // Foreign (SOV, adjective after the noun, suffixes): NAME PLACE-ko OBJECT[-en] [COLOR] VERB-ta .
    const std::string name = pick(names_, rng), verb = pick(verbs_, rng), object = pick(objects_, rng),
                      place = pick(places_, rng);
    const bool many = chance(rng, 0.4), withColor = chance(rng, 0.6);
    const std::string color = withColor ? pick(colors_, rng) : "";
    std::string en = name + " " + verb + " the " + (withColor ? color + " " : "") +
                     (many ? plural(object) : object) + " in the " + place + " .";
    std::string fo = name + " " + lexicon_.at(place) + "ko " + lexicon_.at(object) + (many ? "en" : "") +
                     (withColor ? " " + lexicon_.at(color) : "") + " " + lexicon_.at(verb) + "ta .";
    return {en, fo, -1};
}

std::string World::reviewWithVerdict(std::mt19937_64& rng) const {
    // As in real text, most reviews say what they mean: one clause or agreeing ones, negation now and then,
    // a turn with "but" / "although" sometimes. With the task's own mix (negation in a third of the clauses,
    // a turn in half the reviews) as the only source, the language model never picked up the verdict — its
    // choice after "… . i" stayed at chance through 8000 steps — so the corpus teaches the plain case and
    // leaves the hard one for fine-tuning, as pretraining text does.
    const double negation = 0.1;
    const bool opinion = chance(rng, 0.5);
    std::string text;
    const double form = double(rng() % 1000000) / 1e6;
    if (form < 0.6)
        text = clause(rng, opinion, negation);
    else if (form < 0.85)
        text = clause(rng, opinion, negation) + " and " + clause(rng, opinion, negation);
    else if (form < 0.95)
        text = clause(rng, !opinion, negation) + " but " + clause(rng, opinion, negation);
    else
        text = "although " + clause(rng, !opinion, negation) + " , " + clause(rng, opinion, negation);
    return text + (opinion ? " . i liked it ." : " . i did not like it .");
}

std::string World::corpusLine(std::mt19937_64& rng, CorpusMix mix) const {
    // In the standard mix nothing predicts which place or colour comes next, so the language model gives them
    // one embedding (mean cosine 0.96 among places, 0.98 among colours) and cannot copy one from its context.
    // The recall mix adds facts about one person (a plain copy) beside those about two or three (a copy by
    // name), twice as many fact lines, and scenes that recall their place and colour.
    // The parallel mix is the recall mix plus, in one line of ten, an English sentence followed by its
    // foreign rendering, as bilingual pages and subtitles put them side by side in real text.
    const bool recall = mix != CorpusMix::Standard;
    switch (rng() % (mix == CorpusMix::Parallel ? 10 : recall ? 9 : 7)) {
        case 0:
        case 6:  // reviews twice as often as the other kinds: the verdict is the rarest signal
            return reviewWithVerdict(rng);
        case 1:
        case 7: {  // facts and a consequence that follows from them
            const int people = recall ? 1 + int(rng() % 3) : 0;
            Sentence s = entailment(rng, people);
            while (s.label != 0)
                s = entailment(rng, people);
            return s.text + " so " + s.target;
        }
        case 8: {  // a scene that recalls its colour, object and place
            const std::string name = pick(names_, rng), place = pick(places_, rng),
                              color = pick(colors_, rng), object = pick(objects_, rng);
            std::string text =
                name + " went to the " + place + " . " + name + " saw a " + color + " " + object + " . ";
            if (chance(rng, 0.5)) text += pick(fillers_, rng) + " . ";
            return text + "the " + color + " " + object + " was in the " + place + " .";
        }
        case 9: {
            const Sentence s = translationPair(rng);
            return s.text + " " + s.target;
        }
        case 2:
            return story(rng).text;
        case 3:
            return story(rng).target;
        case 4:
            return translationPair(rng).text;
        default:
            return translationPair(rng).target;
    }
}

CorpusMix corpusMixFromName(const std::string& name) {
    if (name == "standard") return CorpusMix::Standard;
    if (name == "recall") return CorpusMix::Recall;
    if (name == "parallel") return CorpusMix::Parallel;
    throw Error("--corpus", "unknown corpus mix '" + name + "' (standard, recall, parallel)");
}

// ----- tasks -----------------------------------------------------------------------------------------

const std::vector<std::string>& builtinTaskNames() {
    static const std::vector<std::string> names = {"sentiment", "entailment", "summarization", "translation"};
    return names;
}

std::vector<std::string> builtinTaskLabels(const std::string& name) {
    if (std::find(builtinTaskNames().begin(), builtinTaskNames().end(), name) == builtinTaskNames().end())
        throw Error("task", "unknown task '" + name +
                                "' (built-in: sentiment, entailment, summarization, translation)");
    if (name == "sentiment") return {"negative", "positive"};
    if (name == "entailment") return {"entailment", "neutral", "contradiction"};
    return {};
}

std::vector<int64_t> infillNoise(const std::vector<int64_t>& ids, int64_t mask, std::mt19937_64& rng,
                                 double ratio, double meanSpan) {
    const size_t n = ids.size();
    if (n == 0) return {};
    const size_t budget = static_cast<size_t>(std::lround(ratio * static_cast<double>(n)));
    std::vector<char> masked(n, 0);
    size_t count = 0;
    std::poisson_distribution<int> span(meanSpan);
    std::uniform_int_distribution<size_t> start(0, n - 1);
    for (size_t tries = 0; count < budget && tries < 4 * n; ++tries) {  // bounded: spans may overlap
        const size_t len = std::min(static_cast<size_t>(std::max(1, span(rng))), budget - count);
        const size_t at = start(rng);
        for (size_t i = at; i < std::min(n, at + len); ++i)
            if (!masked[i]) {
                masked[i] = 1;
                ++count;
            }
    }
    std::vector<int64_t> out;
    for (size_t i = 0; i < n; ++i) {
        if (!masked[i])
            out.push_back(ids[i]);
        else if (i == 0 || !masked[i - 1])
            out.push_back(mask);
    }
    return out;
}

TaskEncoder worldEncoder(const WordTokenizer& tok, bool seq2seq) {
    TaskEncoder e;
    e.classify = [tok](const std::string& text, const std::optional<std::string>& pair) {
        Example x;
        if (!pair) {
            // The review, then the first word of a verdict ("i liked it" / "i did not like it", as the
            // pretraining corpus continues reviews): the head reads the state that predicts the verdict.
            x.ids = tok.encode(text + " i");
            return x;
        }
        x.ids = tok.encode(text);
        x.ids.push_back(WordTokenizer::kSep);
        const auto h = tok.encode(*pair);
        x.ids.insert(x.ids.end(), h.begin(), h.end());
        x.ids.push_back(WordTokenizer::kEos);
        return x;
    };
    e.prompt = [tok, seq2seq](const std::string& source) {
        auto ids = tok.encode(source);
        ids.push_back(seq2seq ? WordTokenizer::kEos : WordTokenizer::kSep);
        return ids;
    };
    e.target = [tok](const std::string& t) { return tok.encode(t); };
    e.seq2seq = seq2seq;
    return e;
}

TaskEncoder plainWordEncoder(const WordTokenizer& tok) {
    auto frame = [tok](const std::string& text, const std::optional<std::string>& pair) {
        Example e;
        e.ids = tok.encode(text);
        if (pair) {
            e.ids.push_back(WordTokenizer::kSep);
            const auto more = tok.encode(*pair);
            e.ids.insert(e.ids.end(), more.begin(), more.end());
        }
        e.ids.push_back(WordTokenizer::kEos);
        return e;
    };
    return textEncoder(
        frame, [tok](const std::string& t) { return tok.encode(t); }, WordTokenizer::kSep);
}

TaskEncoder textEncoder(std::function<Example(const std::string&, const std::optional<std::string>&)> frame,
                        std::function<std::vector<int64_t>(const std::string&)> encode, int64_t sep) {
    TaskEncoder e;
    e.classify = std::move(frame);
    e.prompt = [encode, sep](const std::string& source) {
        auto ids = encode(source);
        ids.push_back(sep);
        return ids;
    };
    e.target = encode;
    return e;
}

TaskEncoder hfEncoder(std::shared_ptr<const TextTokenizer> tok, bool types, bool seq2seq) {
    auto frame = [tok, types](const std::string& text, const std::optional<std::string>& pair) {
        Encoding enc = tok->encode(text, pair);
        Example e;
        e.ids = std::move(enc.ids);
        if (types) e.types = std::move(enc.type_ids);
        return e;
    };
    TaskEncoder e = textEncoder(
        frame, [tok](const std::string& t) { return tok->encodeIds(t); }, tok->sepId());
    if (seq2seq) {
        e.prompt = [tok](const std::string& source) { return tok->encode(source, std::nullopt).ids; };
        e.seq2seq = true;
    }
    return e;
}

Dataset builtinTask(const std::string& name, const World& world, const WordTokenizer& tok,
                    const TaskSizes& sizes, uint64_t seed) {
    return builtinTask(name, world, worldEncoder(tok), sizes, seed);
}

Dataset builtinTask(const std::string& name, const World& world, const TaskEncoder& enc,
                    const TaskSizes& sizes, uint64_t seed) {
    Dataset d;
    d.label_names = builtinTaskLabels(name);
    d.name = name;
    // Each split has its own stream, so the dev set does not change with the training size.
    auto fill = [&](std::vector<Example>& out, int64_t n, uint64_t stream) {
        std::mt19937_64 rng(seed * 1000003 + stream);
        while (static_cast<int64_t>(out.size()) < n) {
            Example e;
            if (name == "sentiment") {
                const Sentence s = world.sentiment(rng);
                e = enc.classify(s.text, std::nullopt);
                e.label = s.label;
            } else if (name == "entailment") {
                const Sentence s = world.entailment(rng);
                e = enc.classify(s.text, s.target);
                e.label = s.label;
            } else {
                const Sentence s = name == "summarization" ? world.story(rng) : world.translationPair(rng);
                e.ids = enc.prompt((name == "summarization" ? "summarize: " : "translate: ") + s.text);
                e.target = enc.target(s.target);
                e.reference = s.target;
            }
            out.push_back(std::move(e));
        }
    };
    fill(d.train, sizes.train, 1);
    fill(d.dev, sizes.dev, 2);
    fill(d.test, sizes.test, 3);
    if (!d.label_names.empty()) {
        d.kind = TaskKind::Classification;
        d.metric = "accuracy";
    } else {
        d.kind = TaskKind::Generation;
        d.metric = name == "summarization" ? "rougeL" : "bleu";
    }
    return d;
}

}  // namespace peft
