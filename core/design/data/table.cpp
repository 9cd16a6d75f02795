// SPDX-License-Identifier: GPL-3.0-or-later
#include "data/table.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "util/error.h"
#include "util/files.h"
#include "util/json_read.h"

namespace peft {

namespace fs = std::filesystem;

namespace {

std::string lower(std::string s) {
    for (char& c : s)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

bool endsWith(const std::string& s, const std::string& p) {
    return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

std::vector<std::string> splitTabs(const std::string& line) {
    std::vector<std::string> out;
    size_t start = 0;
    for (;;) {
        const size_t tab = line.find('\t', start);
        out.push_back(line.substr(start, tab == std::string::npos ? std::string::npos : tab - start));
        if (tab == std::string::npos) break;
        start = tab + 1;
    }
    return out;
}

/// Whether a CSV record is complete (no quoted field left open). Incremental: a record that grows line by
/// line is scanned once, not once per line (a quoted field over a million lines stays linear).
struct CsvScan {
    size_t pos = 0;
    bool inQuotes = false, fieldStart = true;

    bool complete(const std::string& record) {
        for (; pos < record.size(); ++pos) {
            const char c = record[pos];
            if (inQuotes) {
                if (c == '"') {
                    if (pos + 1 < record.size() && record[pos + 1] == '"')
                        ++pos;
                    else
                        inQuotes = false;
                }
            } else if (c == '"' && fieldStart) {
                inQuotes = true;
                fieldStart = false;
            } else {
                fieldStart = c == ',';
            }
        }
        return !inQuotes;
    }
};

/// RFC 4180 fields of one complete record; an error message for a character after a closing quote.
std::vector<std::string> splitCsv(const std::string& record, std::string& error) {
    std::vector<std::string> out;
    std::string cell;
    size_t i = 0;
    const size_t n = record.size();
    for (;;) {
        cell.clear();
        if (i < n && record[i] == '"') {
            ++i;
            for (;;) {
                if (i >= n) break;  // csvComplete() guarantees the closing quote
                if (record[i] == '"') {
                    if (i + 1 < n && record[i + 1] == '"') {
                        cell += '"';
                        i += 2;
                        continue;
                    }
                    ++i;
                    break;
                }
                cell += record[i++];
            }
            if (i < n && record[i] != ',') {
                error = "unexpected '" + std::string(1, record[i]) + "' after the closing quote of field " +
                        std::to_string(out.size() + 1);
                return out;
            }
        } else {
            const size_t comma = record.find(',', i);
            cell = record.substr(i, comma == std::string::npos ? std::string::npos : comma - i);
            i = comma == std::string::npos ? n : comma;
        }
        out.push_back(cell);
        if (i >= n) break;
        ++i;  // the comma
        if (i == n) {
            out.emplace_back();  // a trailing comma ends with an empty field
            break;
        }
    }
    return out;
}

/// One line (without its '\n') of at most kMaxRowBytes; false at the end of the input. A longer line is
/// an error naming `where` and the line: reading it whole would take memory in proportion to the file.
bool readLine(std::istream& in, std::string& line, const std::string& where, int64_t lineNo) {
    line.clear();
    char buf[1 << 16];
    for (;;) {
        in.getline(buf, sizeof buf);
        const auto got = static_cast<size_t>(in.gcount());
        if (in.bad()) throw Error(where, "read error");
        if (!in.fail()) {  // a whole line, its '\n' extracted (or the last line, without one)
            line.append(buf, in.eof() ? got : got - 1);
            return true;
        }
        if (in.eof()) return !line.empty() || got > 0;  // the end, after what this call already read
        line.append(buf, got);                          // the buffer filled before the line ended
        in.clear();
        if (line.size() > kMaxRowBytes)
            throw Error(where + ":" + std::to_string(lineNo), "a line longer than " +
                                                                  std::to_string(kMaxRowBytes >> 20) +
                                                                  " MiB (is this a text data file?)");
    }
}

std::string cellOf(const nlohmann::json& v) {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_null()) return {};
    if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
    return v.dump();
}

bool isInteger(const std::string& s) {
    if (s.empty()) return false;
    size_t i = s[0] == '-' ? 1 : 0;
    return i < s.size() && std::all_of(s.begin() + static_cast<std::ptrdiff_t>(i), s.end(),
                                       [](char c) { return c >= '0' && c <= '9'; });
}

/// a < b for two isInteger strings by value, at any length (no conversion that could overflow); equal
/// values written differently ("01", "1") fall back to their text, so the order stays strict.
bool integerLess(const std::string& a, const std::string& b) {
    const bool negA = a[0] == '-', negB = b[0] == '-';
    if (negA != negB) return negA;
    auto magnitude = [](const std::string& s) {
        const size_t digits = s[0] == '-' ? 1 : 0;
        const size_t first = s.find_first_not_of('0', digits);
        return first == std::string::npos ? std::string("0") : s.substr(first);
    };
    const std::string ma = magnitude(a), mb = magnitude(b);
    if (ma != mb) {
        const bool smaller = ma.size() != mb.size() ? ma.size() < mb.size() : ma < mb;
        return negA ? !smaller : smaller;
    }
    return a < b;
}

/// "a, b, c" — the first 20 names (each cut at 60 bytes) and how many there are in all.
std::string columnList(const std::vector<std::string>& header) {
    std::string s;
    for (size_t i = 0; i < header.size() && i < 20; ++i)
        s += (s.empty() ? "" : ", ") + header[i].substr(0, 60);
    if (header.size() > 20) s += ", … (" + std::to_string(header.size()) + " in all)";
    return s;
}

}  // namespace

std::string csvField(const std::string& s) {
    if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
    std::string q = "\"";
    for (char c : s)
        q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
}

const char* toString(TableFormat f) {
    switch (f) {
        case TableFormat::Tsv:
            return "tsv";
        case TableFormat::Csv:
            return "csv";
        default:
            return "jsonl";
    }
}

int64_t invalidUtf8Offset(const std::string& s) {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const size_t n = s.size();
    size_t i = 0;
    while (i < n) {
        const unsigned char c = p[i];
        if (c < 0x80) {
            ++i;
            continue;
        }
        size_t len = 0;
        uint32_t cp = 0;
        if ((c & 0xE0) == 0xC0) {
            len = 2;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4;
            cp = c & 0x07;
        } else {
            return int64_t(i);
        }
        if (i + len > n) return int64_t(i);
        for (size_t k = 1; k < len; ++k) {
            if ((p[i + k] & 0xC0) != 0x80) return int64_t(i);
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        // Overlong forms, surrogates and code points past U+10FFFF are not UTF-8.
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return int64_t(i);
        i += len;
    }
    return -1;
}

TableFormat tableFormatOf(const std::string& path) {
    const std::string p = lower(path);
    if (endsWith(p, ".tsv") || endsWith(p, ".txt")) return TableFormat::Tsv;
    if (endsWith(p, ".csv")) return TableFormat::Csv;
    if (endsWith(p, ".jsonl") || endsWith(p, ".json") || endsWith(p, ".ndjson"))
        return TableFormat::JsonLines;
    requireRegularFile(path, "a data file");
    std::ifstream in(path, std::ios::binary);
    std::string first;
    readLine(in, first, path, 1);
    const size_t c = first.find_first_not_of(" \t\xEF\xBB\xBF");
    if (c != std::string::npos && first[c] == '{') return TableFormat::JsonLines;
    return first.find('\t') != std::string::npos ? TableFormat::Tsv : TableFormat::Csv;
}

// ----- TableReader ---------------------------------------------------------------------------------------

struct TableReader::Impl {
    std::ifstream in;
    int64_t lineNo = 0;  // lines consumed
    bool pending = false;
    TableRow pendingRow;  // JSON Lines: the first object is the header and the first row
};

TableReader::TableReader(const std::string& path, std::optional<TableFormat> format, bool skipBadRows)
    : path_(path),
      format_(format.value_or(tableFormatOf(path))),
      skip_(skipBadRows),
      impl_(std::make_unique<Impl>()) {
    requireRegularFile(path, "a data file");
    impl_->in.open(path, std::ios::binary);
    if (!impl_->in) throw Error(path, "cannot open the data file");
    std::string record;
    int64_t line = 0;
    if (format_ == TableFormat::JsonLines) {
        while (readRecord(record, line)) {
            if (record.find_first_not_of(" \t") == std::string::npos) continue;
            nlohmann::ordered_json j;
            try {
                j = parseOrderedJson(record, "row");
            } catch (const Error& e) {
                throw Error(path + ":" + std::to_string(line), "not a JSON object: " + e.reason());
            }
            if (!j.is_object())
                throw Error(path + ":" + std::to_string(line), "each line must be a JSON object");
            TableRow row;
            row.line = line;
            for (auto it = j.begin(); it != j.end(); ++it) {
                // An object is a column per member, "key.sub" (one level): the translation layout
                // {"translation": {"en": …, "ro": …}} gives translation.en and translation.ro.
                if (it.value().is_object() && !it.value().empty()) {
                    for (auto sub = it.value().begin(); sub != it.value().end(); ++sub) {
                        header_.push_back(it.key() + "." + sub.key());
                        row.cells.push_back(cellOf(sub.value()));
                    }
                    continue;
                }
                header_.push_back(it.key());
                row.cells.push_back(cellOf(it.value()));
            }
            impl_->pending = true;
            impl_->pendingRow = std::move(row);
            return;
        }
        throw Error(path, "the file is empty (expected one JSON object per line)");
    }
    if (!readRecord(record, line)) throw Error(path, "the file is empty (expected a header row)");
    if (record.rfind("\xEF\xBB\xBF", 0) == 0) record.erase(0, 3);  // a byte-order mark
    if (const int64_t bad = invalidUtf8Offset(record); bad >= 0)
        throw Error(path + ":1", "invalid UTF-8 at byte " + std::to_string(bad) + " of the header");
    std::string error;
    header_ = format_ == TableFormat::Tsv ? splitTabs(record) : splitCsv(record, error);
    if (!error.empty()) throw Error(path + ":1", error);
}

TableReader::~TableReader() = default;

bool TableReader::readRecord(std::string& record, int64_t& firstLine) {
    std::string line;
    if (!readLine(impl_->in, line, path_, impl_->lineNo + 1)) return false;
    firstLine = ++impl_->lineNo;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    record = std::move(line);
    if (format_ != TableFormat::Csv) return true;
    CsvScan scan;
    while (!scan.complete(record)) {  // a quoted field runs over the line break
        if (!readLine(impl_->in, line, path_, impl_->lineNo + 1))
            throw Error(path_ + ":" + std::to_string(firstLine),
                        "a quoted field opened on this line is never closed");
        ++impl_->lineNo;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        record += '\n';
        record += line;
        if (record.size() > kMaxRowBytes)
            throw Error(path_ + ":" + std::to_string(firstLine),
                        "a quoted field opened on this line runs past " + std::to_string(kMaxRowBytes >> 20) +
                            " MiB");
    }
    return true;
}

void TableReader::skipOrThrow(const std::string& where, const std::string& what) {
    if (!skip_) throw Error(where, what);
    ++skipped_;
    if (skippedMessages_.size() < 5) skippedMessages_.push_back(where + ": " + what);
}

bool TableReader::next(TableRow& row) {
    if (impl_->pending) {
        impl_->pending = false;
        row = std::move(impl_->pendingRow);
        return true;
    }
    std::string record;
    int64_t line = 0;
    while (readRecord(record, line)) {
        if (record.empty() ||
            (format_ == TableFormat::JsonLines && record.find_first_not_of(" \t") == std::string::npos))
            continue;
        const std::string where = path_ + ":" + std::to_string(line);
        if (const int64_t bad = invalidUtf8Offset(record); bad >= 0) {
            skipOrThrow(where, "invalid UTF-8 at byte " + std::to_string(bad) + " of the row");
            continue;
        }
        row.line = line;
        if (format_ == TableFormat::JsonLines) {
            nlohmann::json j;
            try {
                j = parseJson(record, "row");
            } catch (const Error& e) {
                skipOrThrow(where, "not valid JSON (" + e.reason() + ")");
                continue;
            }
            if (!j.is_object()) {
                skipOrThrow(where, "not a JSON object");
                continue;
            }
            row.cells.assign(header_.size(), std::string());
            for (size_t k = 0; k < header_.size(); ++k) {
                const std::string& name = header_[k];
                if (j.contains(name)) {
                    row.cells[k] = cellOf(j[name]);
                } else if (const size_t dot = name.find('.'); dot != std::string::npos) {  // "key.sub"
                    const auto outer = j.find(name.substr(0, dot));
                    if (outer != j.end() && outer->is_object()) {
                        const auto inner = outer->find(name.substr(dot + 1));
                        if (inner != outer->end()) row.cells[k] = cellOf(*inner);
                    }
                }
            }
            return true;
        }
        std::string error;
        row.cells = format_ == TableFormat::Tsv ? splitTabs(record) : splitCsv(record, error);
        if (!error.empty()) {
            skipOrThrow(where, error);
            continue;
        }
        if (row.cells.size() != header_.size()) {
            skipOrThrow(where, std::to_string(row.cells.size()) + " columns, but the header has " +
                                   std::to_string(header_.size()));
            continue;
        }
        return true;
    }
    return false;
}

// ----- classification ------------------------------------------------------------------------------------

ColumnMapping inferMapping(const std::vector<std::string>& header, const ColumnMapping& given,
                           const std::string& source) {
    auto has = [&](const std::string& name) {
        return std::find(header.begin(), header.end(), name) != header.end();
    };
    auto require = [&](const std::string& name, const char* what) {
        if (!has(name))
            throw Error(source + ":1", "no " + std::string(what) + " column '" + name +
                                           "' (columns: " + columnList(header) + ")");
        return name;
    };
    auto first = [&](std::initializer_list<const char*> names) {
        for (const char* n : names)
            if (has(n)) return std::string(n);
        return std::string();
    };
    ColumnMapping m;
    m.text = !given.text.empty()
                 ? require(given.text, "text")
                 : first({"sentence", "sentence1", "question", "question1", "premise", "text"});
    if (m.text.empty())
        throw Error(source + ":1",
                    "no text column: name it with --text-column (columns: " + columnList(header) + ")");
    if (!given.pair.empty()) {
        m.pair = require(given.pair, "second text");
    } else {
        static const std::vector<std::pair<std::string, std::string>> pairs = {{"sentence1", "sentence2"},
                                                                               {"question", "sentence"},
                                                                               {"question1", "question2"},
                                                                               {"premise", "hypothesis"}};
        for (const auto& [t, p] : pairs)
            if (m.text == t && has(p)) m.pair = p;
    }
    m.label = !given.label.empty() ? require(given.label, "label")
                                   : first({"label", "gold_label", "is_duplicate", "labels"});
    if (m.label.empty())
        throw Error(source + ":1",
                    "no label column: name it with --label-column (columns: " + columnList(header) + ")");
    return m;
}

ClassificationTable importClassification(const std::string& path, const ImportOptions& opts) {
    TableReader reader(path, std::nullopt, opts.skip_bad_rows);
    ClassificationTable t;
    t.path = path;
    t.format = reader.format();
    t.header = reader.header();
    t.mapping = inferMapping(t.header, opts.columns, path);
    auto index = [&](const std::string& name) {
        return static_cast<size_t>(std::find(t.header.begin(), t.header.end(), name) - t.header.begin());
    };
    const size_t ti = index(t.mapping.text), li = index(t.mapping.label);
    const bool hasPair = !t.mapping.pair.empty();
    const size_t pi = hasPair ? index(t.mapping.pair) : 0;
    TableRow row;
    int64_t emptyRows = 0;
    std::vector<std::string> emptyMessages;
    while (reader.next(row)) {
        LabeledRow r;
        r.line = row.line;
        r.text = std::move(row.cells[ti]);
        r.label = std::move(row.cells[li]);
        if (hasPair) r.pair = std::move(row.cells[pi]);
        const std::string where = path + ":" + std::to_string(row.line);
        const std::string empty = r.text.empty()              ? t.mapping.text
                                  : r.label.empty()           ? t.mapping.label
                                  : hasPair && r.pair.empty() ? t.mapping.pair
                                                              : std::string();
        if (!empty.empty()) {
            if (!opts.skip_bad_rows) throw Error(where, "empty '" + empty + "'");
            ++emptyRows;
            if (emptyMessages.size() < 5) emptyMessages.push_back(where + ": empty '" + empty + "'");
            continue;
        }
        t.rows.push_back(std::move(r));
        if (opts.limit > 0 && int64_t(t.rows.size()) >= opts.limit) break;
    }
    t.skipped = reader.skipped() + emptyRows;
    t.skipped_messages = reader.skippedMessages();
    for (auto& m : emptyMessages)
        if (t.skipped_messages.size() < 5) t.skipped_messages.push_back(std::move(m));
    if (t.rows.empty())
        throw Error(path, "no data rows" + std::string(t.skipped ? " (every row was bad)" : ""));
    return t;
}

std::vector<std::string> inferLabels(const std::vector<LabeledRow>& rows, const std::string& source) {
    std::unordered_set<std::string> set;
    for (const auto& r : rows) {
        if (set.insert(r.label).second && set.size() > size_t(kMaxLabels))
            throw Error(source + ":" + std::to_string(r.line),
                        "more than " + std::to_string(kMaxLabels) + " distinct labels ('" +
                            r.label.substr(0, 40) +
                            "' and the rest): is the label column right? A classification head needs a "
                            "small, fixed label set");
    }
    std::vector<std::string> labels(set.begin(), set.end());
    std::sort(labels.begin(), labels.end());
    if (std::all_of(labels.begin(), labels.end(), isInteger))
        std::sort(labels.begin(), labels.end(), integerLess);
    return labels;
}

std::vector<int64_t> labelIndices(const ClassificationTable& t, const std::vector<std::string>& labels) {
    std::unordered_map<std::string, int64_t> index;
    index.reserve(labels.size());
    for (size_t i = 0; i < labels.size(); ++i)
        index.emplace(labels[i], int64_t(i));
    std::vector<int64_t> out;
    out.reserve(t.rows.size());
    for (const auto& r : t.rows) {
        const auto it = index.find(r.label);
        if (it == index.end())
            throw Error(t.path + ":" + std::to_string(r.line),
                        "label '" + r.label.substr(0, 200) +
                            "' does not occur in the training data (labels: " + columnList(labels) + ")");
        out.push_back(it->second);
    }
    return out;
}

// ----- sequence to sequence ------------------------------------------------------------------------------

std::vector<Seq2SeqRow> importSeq2Seq(const std::string& path, const std::string& sourceField,
                                      const std::string& targetField, bool skipBadRows, int64_t* skipped) {
    std::vector<Seq2SeqRow> out;
    int64_t bad = 0;
    std::string sourcePath = path, targetPath;
    if (endsWith(path, ".source")) {
        targetPath = path.substr(0, path.size() - 7) + ".target";
    } else if (endsWith(path, ".target")) {
        targetPath = path;
        sourcePath = path.substr(0, path.size() - 7) + ".source";
    }
    if (!targetPath.empty()) {  // parallel line files
        requireRegularFile(sourcePath, "a data file");
        requireRegularFile(targetPath, "a data file (the target lines of " + sourcePath + ")");
        std::ifstream src(sourcePath, std::ios::binary), tgt(targetPath, std::ios::binary);
        if (!src) throw Error(sourcePath, "cannot open");
        if (!tgt) throw Error(targetPath, "cannot open (the target lines of " + sourcePath + ")");
        std::string s, t;
        int64_t line = 0;
        for (;;) {
            const bool hs = readLine(src, s, sourcePath, line + 1),
                       ht = readLine(tgt, t, targetPath, line + 1);
            if (!hs && !ht) break;
            ++line;
            if (hs != ht)
                throw Error(hs ? targetPath : sourcePath,
                            "ends at line " + std::to_string(line - 1) + " but " +
                                (hs ? sourcePath : targetPath) +
                                " goes on: the files must have one line per example each");
            for (std::string* x : {&s, &t})
                if (!x->empty() && x->back() == '\r') x->pop_back();
            const std::string& f = invalidUtf8Offset(s) >= 0 ? sourcePath : targetPath;
            const bool utf8Bad = invalidUtf8Offset(s) >= 0 || invalidUtf8Offset(t) >= 0;
            if (utf8Bad || s.empty() || t.empty()) {
                const std::string what = utf8Bad ? "invalid UTF-8" : "an empty line";
                if (!skipBadRows) throw Error(f + ":" + std::to_string(line), what);
                ++bad;
                continue;
            }
            out.push_back({s, t, line});
        }
    } else {
        TableReader reader(path, TableFormat::JsonLines, skipBadRows);
        const auto& h = reader.header();
        auto col = [&](const std::string& name) {
            const auto it = std::find(h.begin(), h.end(), name);
            if (it != h.end()) return size_t(it - h.begin());
            // The translation layout names its languages: say which ones this file has.
            std::vector<std::string> langs;
            for (const auto& c : h)
                if (c.rfind("translation.", 0) == 0) langs.push_back(c.substr(12));
            throw Error(path + ":1", "no field '" + name + "' (fields: " + columnList(h) + ")" +
                                         (langs.empty() ? std::string()
                                                        : "; a translation file: choose the languages with "
                                                          "--source-lang and --target-lang (here: " +
                                                              columnList(langs) + ")"));
        };
        const size_t si = col(sourceField), ti = col(targetField);
        TableRow row;
        while (reader.next(row)) {
            if (row.cells[si].empty() || row.cells[ti].empty()) {
                if (!skipBadRows)
                    throw Error(path + ":" + std::to_string(row.line),
                                "empty '" + (row.cells[si].empty() ? sourceField : targetField) + "'");
                ++bad;
                continue;
            }
            out.push_back({row.cells[si], row.cells[ti], row.line});
        }
        bad += reader.skipped();
    }
    if (skipped) *skipped = bad;
    if (out.empty()) throw Error(path, "no examples");
    return out;
}

std::pair<std::vector<std::string>, std::vector<TableRow>> previewTable(const std::string& path, int n) {
    TableReader reader(path, std::nullopt, true);
    std::vector<TableRow> rows;
    TableRow row;
    while (int(rows.size()) < n && reader.next(row))
        rows.push_back(row);
    return {reader.header(), rows};
}

}  // namespace peft
