// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Users' data: classification and pair-classification tables from TSV (GLUE's layout: tab-separated, no
// quoting, a header row), CSV (RFC 4180: quoted fields with embedded separators, newlines and "" quotes) and
// JSON Lines, with a column mapping (text, optional second text, label) inferred for GLUE's layouts (SST-2,
// RTE / MNLI / QNLI / QQP); sequence-to-sequence pairs from JSON Lines or parallel *.source / *.target files.
// Files are read as a stream, row by row. Every problem names the file, the line and what is wrong; bad rows
// can be skipped instead, and are counted. No torch.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace peft {

enum class TableFormat { Tsv, Csv, JsonLines };
const char* toString(TableFormat f);
/// By extension (.tsv / .txt, .csv, .jsonl / .json / .ndjson); else by the first line (a '{' → JSON Lines,
/// a tab → TSV, else CSV).
TableFormat tableFormatOf(const std::string& path);
/// One field as written to CSV (RFC 4180, what TableReader reads back): as it is, or quoted with its quotes
/// doubled when it holds a comma, a quote or a line break.
std::string csvField(const std::string& s);

/// One data row: its cells in header order and the line it starts on (1 = the header line).
struct TableRow {
    int64_t line = 0;
    std::vector<std::string> cells;
};

/// A streaming reader of one table file. The header (TSV / CSV: the first row; JSON Lines: the keys of the
/// first object) is read on construction. next() throws peft::Error "FILE:LINE: …" for a malformed row, or
/// (with skip) counts and skips it.
class TableReader {
public:
    TableReader(const std::string& path, std::optional<TableFormat> format = std::nullopt,
                bool skipBadRows = false);
    ~TableReader();
    TableReader(const TableReader&) = delete;
    TableReader& operator=(const TableReader&) = delete;

    const std::vector<std::string>& header() const { return header_; }
    TableFormat format() const { return format_; }
    /// The next data row; false at the end of the file.
    bool next(TableRow& row);
    int64_t skipped() const { return skipped_; }
    /// The first few skipped rows' messages.
    const std::vector<std::string>& skippedMessages() const { return skippedMessages_; }

private:
    struct Impl;
    bool readRecord(std::string& record, int64_t& firstLine);
    void skipOrThrow(const std::string& where, const std::string& what);

    std::string path_;
    TableFormat format_;
    bool skip_;
    std::vector<std::string> header_;
    int64_t skipped_ = 0;
    std::vector<std::string> skippedMessages_;
    std::unique_ptr<Impl> impl_;  // released by the members' destructors even when the constructor throws
};

/// Which columns hold the text, the optional second text and the label (names from the header).
struct ColumnMapping {
    std::string text, pair, label;
};
/// Fills what `given` leaves empty from GLUE's column names (sentence / sentence1 / question / question1 /
/// premise / text; sentence2 / question2 / hypothesis; label / gold_label / is_duplicate); a named column
/// that is not in the header is an error listing the header.
ColumnMapping inferMapping(const std::vector<std::string>& header, const ColumnMapping& given,
                           const std::string& source);

struct LabeledRow {
    std::string text, pair, label;
    int64_t line = 0;
};

struct ClassificationTable {
    std::string path;
    TableFormat format = TableFormat::Tsv;
    std::vector<std::string> header;
    ColumnMapping mapping;
    std::vector<LabeledRow> rows;
    int64_t skipped = 0;
    std::vector<std::string> skipped_messages;
};

struct ImportOptions {
    ColumnMapping columns;  // empty names: inferred
    bool skip_bad_rows = false;
    int64_t limit = 0;  // the first N data rows; 0 = all
};

/// Reads a classification table. Rows with an empty text or label are bad rows.
ClassificationTable importClassification(const std::string& path, const ImportOptions& opts = {});

/// The most labels a classification table may have (a label column with more is almost surely the wrong
/// column, and the head would be larger than the model).
constexpr int64_t kMaxLabels = 10000;
/// The longest line (or CSV record) of a data file: 32 MiB.
constexpr size_t kMaxRowBytes = size_t(32) << 20;

/// The label set in a stable order: integers numerically, otherwise lexicographically. More than
/// kMaxLabels distinct labels is an error naming `source` and the row.
std::vector<std::string> inferLabels(const std::vector<LabeledRow>& rows,
                                     const std::string& source = "labels");
/// Index of each row's label in `labels`; a label outside the set is an error "FILE:LINE: label 'x' does not
/// occur in the training data (labels: …)".
std::vector<int64_t> labelIndices(const ClassificationTable& t, const std::vector<std::string>& labels);

struct Seq2SeqRow {
    std::string source, target;
    int64_t line = 0;
};
/// JSON Lines with `sourceField` / `targetField` (default "source" / "target"), or — when `path` ends in
/// .source or has a sibling .target — parallel line files.
std::vector<Seq2SeqRow> importSeq2Seq(const std::string& path, const std::string& sourceField = "source",
                                      const std::string& targetField = "target", bool skipBadRows = false,
                                      int64_t* skipped = nullptr);

/// A seeded split: `fraction` of the rows (at least one, and one is left) go to the second vector; the same
/// seed gives the same split.
template <typename Row>
std::pair<std::vector<Row>, std::vector<Row>> seededSplit(std::vector<Row> rows, double fraction,
                                                          uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::shuffle(rows.begin(), rows.end(), rng);
    const size_t n = rows.size();
    size_t k = static_cast<size_t>(std::llround(fraction * double(n)));
    k = std::min(std::max<size_t>(k, 1), n > 1 ? n - 1 : 0);
    std::vector<Row> second(std::make_move_iterator(rows.end() - static_cast<std::ptrdiff_t>(k)),
                            std::make_move_iterator(rows.end()));
    rows.resize(n - k);
    return {std::move(rows), std::move(second)};
}

/// The header and the first `n` data rows, for a preview (bad rows skipped).
std::pair<std::vector<std::string>, std::vector<TableRow>> previewTable(const std::string& path, int n);

/// Checks a whole buffer for valid UTF-8; returns the offset of the first bad byte, or −1.
int64_t invalidUtf8Offset(const std::string& s);

}  // namespace peft
