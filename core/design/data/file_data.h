// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// A dataset of the user's files, as a project records it and a run reads it: classification tables (text,
// optional second text, label) or sequence-to-sequence pairs, with train / dev / test from separate files or
// a seeded split of the training file. Read first (labels are known before the backbone is built), then
// encoded for a backbone. No torch.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/table.h"
#include "train/dataset.h"

namespace peft {

struct FileDatasetSpec {
    std::string kind = "auto";     // classification | seq2seq | auto (seq2seq for .source/.target files and
                                   // JSON Lines with source and target fields but no label)
    std::string train, dev, test;  // paths; dev / test may be empty
    ColumnMapping columns;         // classification; empty names are inferred
    std::string source_field = "source", target_field = "target";  // seq2seq JSON Lines
    double dev_fraction = 0.1;  // without a dev file: this share of the training rows, split with split_seed
    uint64_t split_seed = 0;
    bool skip_bad_rows = false;
    int64_t limit = 0;  // the first N training rows; 0 = all
};
void to_json(nlohmann::json& j, const FileDatasetSpec& s);
/// Strict: unknown fields and wrong types are errors naming the field.
FileDatasetSpec fileDatasetSpecFromJson(const nlohmann::json& j, const std::string& source);

struct FileData {
    FileDatasetSpec spec;  // kind resolved, columns filled in
    bool seq2seq = false;
    std::vector<LabeledRow> train, dev, test;     // classification
    std::vector<Seq2SeqRow> strain, sdev, stest;  // seq2seq
    std::vector<std::string> labels;              // from the training rows
    int64_t skipped = 0;                          // bad rows skipped (with skip_bad_rows)
    std::vector<std::string> skipped_messages;
};

/// Reads every file of `spec`. A dev or test label absent from the training labels is an error naming the
/// file and line.
FileData readFileData(const FileDatasetSpec& spec);
/// Tokenised splits; inputs longer than `maxLength` are cut, keeping their last (closing) token.
Dataset encodeFileData(const FileData& data, const TaskEncoder& enc, int64_t maxLength);

}  // namespace peft
