// SPDX-License-Identifier: GPL-3.0-or-later
#include "run/loaded_backbone.h"

#include "data/byte_tokenizer.h"
#include "io/backbone.h"
#include "io/hf_model.h"
#include "util/error.h"

namespace peft {

LoadedBackbone openBackbone(const BackboneRef& ref, int64_t num_labels, uint64_t seed) {
    LoadedBackbone lb;
    lb.ref = ref;
    const std::string where = "backbone";
    const std::string dir = backboneRefDir(ref, where);
    if (dir.empty()) {  // the built-in random byte-level backbone
        if (ref.random_init) throw Error("--random-init", "applies to the built-in world's backbones only");
        lb.config = backboneRefConfig(ref, where);
        if (num_labels > 0) lb.config.num_labels = num_labels;
        if (lb.config.vocab_size < ByteTokenizer::kVocab)
            throw Error(ref.path.empty() ? std::string("--config") : ref.path + ": vocab_size",
                        "the byte tokenizer needs vocab_size >= 260");
        lb.model = makeRandomBackbone(lb.config, seed);
        lb.name = lb.config.name;
        auto tok = std::make_shared<ByteTokenizer>();
        lb.encode = [tok](const std::string& t) {
            auto ids = tok->encode(t);
            ids.erase(ids.begin());  // drop <bos>
            return ids;
        };
        lb.tokenText = [tok](int64_t id) { return tok->tokenText(id); };
        lb.decode = [tok](const std::vector<int64_t>& ids) {
            std::string s;
            for (int64_t id : ids)
                if (id < 256) s += static_cast<char>(id);
            return s;
        };
        lb.bos = ByteTokenizer::kBos;
        lb.eos = lb.sep = ByteTokenizer::kEos;
        lb.pad = ByteTokenizer::kPad;
        return lb;
    }
    if (isHfModelDir(dir)) {
        if (ref.random_init) throw Error("--random-init", "applies to the built-in world's backbones only");
        HfModel h = loadHfModel(dir, num_labels, seed);
        lb.config = h.config;
        lb.model = h.model;
        lb.name = h.config.name;
        lb.causalLm = h.causal_lm;
        lb.notes = h.notes;
        lb.info = {{"model_type", h.model_type}, {"tokenizer", h.tokenizer->kind()}};
        std::shared_ptr<const TextTokenizer> tok = std::move(h.tokenizer);
        lb.hf = tok;
        lb.encode = [tok](const std::string& t) { return tok->encodeIds(t); };
        lb.tokenText = [tok](int64_t id) { return tok->idToken(id); };
        lb.decode = [tok](const std::vector<int64_t>& ids) { return tok->decode(ids); };
        lb.eos = lb.sep = tok->sepId();
        lb.bos = tok->clsId() >= 0 ? tok->clsId() : tok->sepId();
        lb.pad = tok->padId() >= 0 ? tok->padId() : tok->sepId();
        return lb;
    }
    Backbone b = loadBackbone(dir, num_labels, seed, ref.random_init);
    lb.config = b.config;
    lb.model = b.model;
    lb.name = b.config.name;
    lb.info = b.info;
    lb.vocab = b.vocab;
    lb.world = b.info.is_object() && b.info.value("tokenizer", "") == "world-words";
    if (!lb.world) throw Error(dir, "only backbones of the built-in world (word tokenizer) load for now");
    auto tok = std::make_shared<WordTokenizer>(WordTokenizer::fromVocabulary(b.vocab, dir + "/vocab.txt"));
    lb.encode = [tok](const std::string& t) { return tok->encode(t); };
    lb.tokenText = [tok](int64_t id) { return tok->token(id); };
    lb.decode = [tok](const std::vector<int64_t>& ids) { return tok->decode(ids); };
    lb.bos = WordTokenizer::kBos;
    lb.eos = WordTokenizer::kEos;
    lb.sep = WordTokenizer::kSep;
    lb.pad = WordTokenizer::kPad;
    lb.causalLm = lb.config.causal;
    return lb;
}

Example frameInput(const LoadedBackbone& lb, const std::string& text, const std::optional<std::string>& pair,
                   bool lm) {
    if (lb.hf) return hfEncoder(lb.hf, lb.config.type_vocab_size > 0).classify(text, pair);
    Example f;
    f.ids = lb.encode(text);
    if (lm) {
        f.ids.insert(f.ids.begin(), lb.bos);
        if (pair) {
            const auto more = lb.encode(*pair);
            f.ids.insert(f.ids.end(), more.begin(), more.end());
        }
        return f;
    }
    if (pair) {
        f.ids.push_back(lb.sep);
        const auto more = lb.encode(*pair);
        f.ids.insert(f.ids.end(), more.begin(), more.end());
    }
    f.ids.push_back(lb.eos);
    return f;
}

TaskEncoder taskEncoder(const LoadedBackbone& lb) {
    if (lb.world) return worldEncoder(WordTokenizer::fromVocabulary(lb.vocab, "vocab.txt of " + lb.name));
    return dataEncoder(lb);
}

TaskEncoder dataEncoder(const LoadedBackbone& lb) {
    if (lb.hf) return hfEncoder(lb.hf, lb.config.type_vocab_size > 0);
    return textEncoder(
        [lb](const std::string& text, const std::optional<std::string>& pair) {
            return frameInput(lb, text, pair, false);
        },
        lb.encode, lb.sep);
}

}  // namespace peft
