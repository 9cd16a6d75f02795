// SPDX-License-Identifier: GPL-3.0-or-later
#include "data/coverage.h"

#include <cmath>

#include "data/byte_tokenizer.h"
#include "data/hf_tokenizer.h"
#include "data/world.h"
#include "model/backbone_config.h"
#include "util/json_read.h"

namespace peft {

std::shared_ptr<const Tokenizer> openFolderTokenizer(const std::string& dir) {
    if (dir.empty()) return std::make_shared<ByteTokenizer>();
    if (isHfModelDir(dir)) {
        const std::string type =
            JsonFields(readJsonFile(dir + "/config.json"), dir + "/config.json").text("model_type", "");
        return std::shared_ptr<const Tokenizer>(loadHfTokenizer(dir, type));
    }
    folderModelConfig(dir);  // a workbench backbone's config, or the error saying what the folder lacks
    return std::make_shared<WordTokenizer>(
        WordTokenizer::fromVocabulary(readVocabularyFile(dir + "/vocab.txt"), dir + "/vocab.txt"));
}

VocabularyCoverage vocabularyCoverage(const Tokenizer& tokenizer, const std::vector<std::string>& texts,
                                      size_t limit) {
    VocabularyCoverage c;
    const int64_t unk = tokenizer.specialIds().unk;
    for (size_t i = 0; i < texts.size() && i < limit; ++i) {
        const std::vector<int64_t> ids = tokenizer.encodeIds(texts[i]);
        ++c.texts;
        c.tokens += static_cast<int64_t>(ids.size());
        if (unk >= 0)
            for (int64_t id : ids)
                c.unknown += id == unk;
    }
    return c;
}

VocabularyCoverage dataCoverage(const Tokenizer& tokenizer, const FileData& data, size_t rows) {
    std::vector<std::string> texts;
    for (size_t i = 0; i < data.train.size() && i < rows; ++i) {
        texts.push_back(data.train[i].text);
        if (!data.train[i].pair.empty()) texts.push_back(data.train[i].pair);
    }
    for (size_t i = 0; i < data.strain.size() && i < rows; ++i)
        texts.push_back(data.strain[i].source);
    return vocabularyCoverage(tokenizer, texts, texts.size());
}

std::string coverageWarning(const VocabularyCoverage& c, const std::string& backboneName) {
    if (c.tokens == 0 || c.unknownShare() < kUnknownShareWarning) return {};
    return std::to_string(static_cast<int>(std::lround(100 * c.unknownShare()))) +
           " % of the tokens are <unk> for " + backboneName + "'s tokenizer (first " +
           std::to_string(c.texts) +
           " texts): the model sees mostly unknown words and will train to chance. Use a backbone whose "
           "tokenizer covers this text (a Hugging Face BERT, RoBERTa or GPT-2 folder).";
}

}  // namespace peft
