// SPDX-License-Identifier: GPL-3.0-or-later
#include "data/file_data.h"

#include <algorithm>

#include "util/error.h"
#include "util/json_read.h"

namespace peft {

namespace {

bool endsWith(const std::string& s, const std::string& p) {
    return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

/// Whether the training file holds sequence-to-sequence pairs.
bool looksSeq2Seq(const FileDatasetSpec& s) {
    if (endsWith(s.train, ".source") || endsWith(s.train, ".target")) return true;
    if (tableFormatOf(s.train) != TableFormat::JsonLines) return false;
    TableReader r(s.train, TableFormat::JsonLines, true);
    const auto& h = r.header();
    auto has = [&](const std::string& n) { return std::find(h.begin(), h.end(), n) != h.end(); };
    if (has(s.source_field) && has(s.target_field) && !has("label") && !has("gold_label")) return true;
    // The translation layout ({"translation": {"en": …, "ro": …}}) before its languages are chosen: seq2seq,
    // so that the error names the languages the file has.
    return std::count_if(h.begin(), h.end(),
                         [](const std::string& c) { return c.rfind("translation.", 0) == 0; }) >= 2;
}

/// The tokens of one input cut to `maxLength`, keeping the closing token.
void cut(Example& e, int64_t maxLength) {
    if (static_cast<int64_t>(e.ids.size()) <= maxLength) return;
    const int64_t last = e.ids.back();
    e.ids.resize(static_cast<size_t>(maxLength - 1));
    e.ids.push_back(last);
    if (!e.types.empty()) e.types.resize(static_cast<size_t>(maxLength));
}

}  // namespace

void to_json(nlohmann::json& j, const FileDatasetSpec& s) {
    j = {{"kind", s.kind},
         {"train", s.train},
         {"dev", s.dev},
         {"test", s.test},
         {"text_column", s.columns.text},
         {"pair_column", s.columns.pair},
         {"label_column", s.columns.label},
         {"source_field", s.source_field},
         {"target_field", s.target_field},
         {"dev_fraction", s.dev_fraction},
         {"split_seed", s.split_seed},
         {"skip_bad_rows", s.skip_bad_rows},
         {"limit", s.limit}};
}

FileDatasetSpec fileDatasetSpecFromJson(const nlohmann::json& j, const std::string& source) {
    FileDatasetSpec s;
    try {
        JsonReader r(j, "");
        r.get("kind", s.kind);
        r.get("train", s.train);
        r.get("dev", s.dev);
        r.get("test", s.test);
        r.get("text_column", s.columns.text);
        r.get("pair_column", s.columns.pair);
        r.get("label_column", s.columns.label);
        r.get("source_field", s.source_field);
        r.get("target_field", s.target_field);
        r.get("dev_fraction", s.dev_fraction);
        int64_t seed = 0;
        r.get("split_seed", seed);
        s.split_seed = static_cast<uint64_t>(seed);
        r.get("skip_bad_rows", s.skip_bad_rows);
        r.get("limit", s.limit);
        r.finish();
    } catch (const Error& e) {
        throw Error(source + ": " + e.where(), e.reason());
    }
    if (s.kind != "auto" && s.kind != "classification" && s.kind != "seq2seq")
        throw Error(source + ": kind", "expected classification, seq2seq or auto, got '" + s.kind + "'");
    if (s.train.empty()) throw Error(source + ": train", "missing: the training file");
    if (s.dev_fraction < 0 || s.dev_fraction >= 1)
        throw Error(source + ": dev_fraction", "must be in [0, 1), got " + std::to_string(s.dev_fraction));
    return s;
}

FileData readFileData(const FileDatasetSpec& spec) {
    FileData d;
    d.spec = spec;
    d.seq2seq = spec.kind == "seq2seq" || (spec.kind == "auto" && looksSeq2Seq(spec));
    d.spec.kind = d.seq2seq ? "seq2seq" : "classification";
    auto note = [&](int64_t skipped, const std::vector<std::string>& messages) {
        d.skipped += skipped;
        for (const auto& m : messages)
            if (d.skipped_messages.size() < 5) d.skipped_messages.push_back(m);
    };
    if (d.seq2seq) {
        auto read = [&](const std::string& path) {
            int64_t skipped = 0;
            auto rows =
                importSeq2Seq(path, spec.source_field, spec.target_field, spec.skip_bad_rows, &skipped);
            note(skipped, {});
            return rows;
        };
        d.strain = read(spec.train);
        if (spec.limit > 0 && int64_t(d.strain.size()) > spec.limit) d.strain.resize(size_t(spec.limit));
        if (!spec.dev.empty())
            d.sdev = read(spec.dev);
        else if (spec.dev_fraction > 0)
            std::tie(d.strain, d.sdev) = seededSplit(std::move(d.strain), spec.dev_fraction, spec.split_seed);
        if (!spec.test.empty()) d.stest = read(spec.test);
        return d;
    }
    ImportOptions opts;
    opts.columns = spec.columns;
    opts.skip_bad_rows = spec.skip_bad_rows;
    opts.limit = spec.limit;
    ClassificationTable train = importClassification(spec.train, opts);
    note(train.skipped, train.skipped_messages);
    d.spec.columns = train.mapping;
    d.labels = inferLabels(train.rows, spec.train);
    opts.columns = train.mapping;  // dev and test use the training file's columns
    opts.limit = 0;
    auto other = [&](const std::string& path) {
        ClassificationTable t = importClassification(path, opts);
        note(t.skipped, t.skipped_messages);
        labelIndices(t, d.labels);  // an unknown label is an error naming its line
        return std::move(t.rows);
    };
    d.train = std::move(train.rows);
    if (!spec.dev.empty())
        d.dev = other(spec.dev);
    else if (spec.dev_fraction > 0)
        std::tie(d.train, d.dev) = seededSplit(std::move(d.train), spec.dev_fraction, spec.split_seed);
    if (!spec.test.empty()) d.test = other(spec.test);
    return d;
}

Dataset encodeFileData(const FileData& data, const TaskEncoder& enc, int64_t maxLength) {
    Dataset ds;
    ds.name = data.spec.train;
    if (data.seq2seq) {
        ds.kind = TaskKind::Generation;
        ds.metric = "rougeL";
        auto convert = [&](const std::vector<Seq2SeqRow>& rows, std::vector<Example>& out) {
            for (const auto& r : rows) {
                Example e;
                e.target = enc.target(r.target);
                e.reference = r.target;
                e.ids = enc.prompt(r.source);
                if (enc.seq2seq) {  // two sequences of maxLength each; the source keeps its template's ends
                    const int64_t keep = std::max<int64_t>(maxLength, 4);
                    if (int64_t(e.target.size()) > keep - 2) e.target.resize(size_t(keep - 2));
                    if (int64_t(e.ids.size()) > keep)
                        e.ids.erase(e.ids.begin() + (keep - 2), e.ids.end() - 2);
                    out.push_back(std::move(e));
                    continue;
                }
                // The target and its <eos> keep their room; the source gives way (from its start).
                const int64_t room =
                    maxLength - int64_t(std::min<size_t>(e.target.size(), size_t(maxLength / 2))) - 1;
                if (int64_t(e.target.size()) > maxLength / 2) e.target.resize(size_t(maxLength / 2));
                if (int64_t(e.ids.size()) > room) e.ids.erase(e.ids.begin(), e.ids.end() - room);
                out.push_back(std::move(e));
            }
        };
        convert(data.strain, ds.train);
        convert(data.sdev, ds.dev);
        convert(data.stest, ds.test);
        return ds;
    }
    ds.kind = TaskKind::Classification;
    ds.metric = "accuracy";
    ds.label_names = data.labels;
    auto convert = [&](const std::vector<LabeledRow>& rows, std::vector<Example>& out) {
        out.reserve(rows.size());
        for (const auto& r : rows) {
            Example e =
                enc.classify(r.text, r.pair.empty() ? std::nullopt : std::optional<std::string>(r.pair));
            cut(e, maxLength);
            e.label = std::find(data.labels.begin(), data.labels.end(), r.label) - data.labels.begin();
            out.push_back(std::move(e));
        }
    };
    convert(data.train, ds.train);
    convert(data.dev, ds.dev);
    convert(data.test, ds.test);
    return ds;
}

}  // namespace peft
