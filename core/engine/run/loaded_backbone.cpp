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
        lb.tokenizer = std::make_shared<ByteTokenizer>();
    } else if (isHfModelDir(dir)) {
        if (ref.random_init) throw Error("--random-init", "applies to the built-in world's backbones only");
        HfModel h = loadHfModel(dir, num_labels, seed);
        lb.config = h.config;
        lb.model = h.model;
        lb.causalLm = h.causal_lm;
        lb.notes = h.notes;
        lb.info = {{"model_type", h.model_type}, {"tokenizer", h.tokenizer->kind()}};
        lb.hf = std::move(h.tokenizer);
        lb.tokenizer = lb.hf;
    } else {
        Backbone b = loadBackbone(dir, num_labels, seed, ref.random_init);
        lb.config = b.config;
        lb.model = b.model;
        lb.info = b.info;
        lb.world = b.info.is_object() && b.info.value("tokenizer", "") == "world-words";
        if (!lb.world) throw Error(dir, "only backbones of the built-in world (word tokenizer) load for now");
        lb.words =
            std::make_shared<WordTokenizer>(WordTokenizer::fromVocabulary(b.vocab, dir + "/vocab.txt"));
        lb.tokenizer = lb.words;
        lb.causalLm = lb.config.causal;
    }
    lb.name = lb.config.name;
    lb.special = lb.tokenizer->specialIds();
    return lb;
}

std::function<std::string(const std::vector<int64_t>&)> LoadedBackbone::detokenizer() const {
    return [tok = tokenizer](const std::vector<int64_t>& ids) { return tok->decode(ids); };
}

Example frameInput(const LoadedBackbone& lb, const std::string& text, const std::optional<std::string>& pair,
                   bool lm) {
    if (lb.hf) return hfEncoder(lb.hf, lb.config.type_vocab_size > 0).classify(text, pair);
    Example f;
    f.ids = lb.tokenizer->encodeIds(text);
    if (lm) {
        f.ids.insert(f.ids.begin(), lb.special.bos);
        if (pair) {
            const auto more = lb.tokenizer->encodeIds(*pair);
            f.ids.insert(f.ids.end(), more.begin(), more.end());
        }
        return f;
    }
    if (pair) {
        f.ids.push_back(lb.special.sep);
        const auto more = lb.tokenizer->encodeIds(*pair);
        f.ids.insert(f.ids.end(), more.begin(), more.end());
    }
    f.ids.push_back(lb.special.eos);
    return f;
}

TaskEncoder taskEncoder(const LoadedBackbone& lb) {
    if (lb.words) return worldEncoder(*lb.words, lb.config.encoderDecoder());
    return dataEncoder(lb);
}

TaskEncoder dataEncoder(const LoadedBackbone& lb) {
    if (lb.hf) return hfEncoder(lb.hf, lb.config.type_vocab_size > 0, lb.config.encoderDecoder());
    TaskEncoder e = textEncoder(
        [lb](const std::string& text, const std::optional<std::string>& pair) {
            return frameInput(lb, text, pair, false);
        },
        [tok = lb.tokenizer](const std::string& t) { return tok->encodeIds(t); }, lb.special.sep);
    if (lb.config.encoderDecoder()) {  // the source, closed by <eos>, is the encoder's whole input
        e.prompt = [lb](const std::string& source) {
            return frameInput(lb, source, std::nullopt, false).ids;
        };
        e.seq2seq = true;
    }
    return e;
}

}  // namespace peft
