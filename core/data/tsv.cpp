// SPDX-License-Identifier: GPL-3.0-or-later
#include "data/tsv.h"

#include <algorithm>
#include <fstream>
#include <set>

#include "util/error.h"

namespace peft {

namespace {

std::vector<std::string> splitTabs(const std::string& line) {
    std::vector<std::string> out;
    size_t start = 0;
    for (;;) {
        size_t tab = line.find('\t', start);
        out.push_back(line.substr(start, tab == std::string::npos ? std::string::npos : tab - start));
        if (tab == std::string::npos) break;
        start = tab + 1;
    }
    return out;
}

bool isInteger(const std::string& s) {
    if (s.empty()) return false;
    size_t i = s[0] == '-' ? 1 : 0;
    return i < s.size() && std::all_of(s.begin() + static_cast<std::ptrdiff_t>(i), s.end(),
                                       [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

std::vector<TextExample> readClassificationTsv(const std::string& path, const TsvColumns& columns) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path, "cannot open the data file");
    std::string line;
    if (!std::getline(in, line)) throw Error(path + ":1", "the file is empty (expected a header row)");
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const std::vector<std::string> header = splitTabs(line);
    auto column = [&](const std::string& name) {
        auto it = std::find(header.begin(), header.end(), name);
        if (it == header.end()) {
            std::string cols;
            for (const auto& h : header)
                cols += (cols.empty() ? "" : ", ") + h;
            throw Error(path + ":1", "no column '" + name + "' in the header (columns: " + cols + ")");
        }
        return static_cast<size_t>(it - header.begin());
    };
    const size_t textCol = column(columns.text), labelCol = column(columns.label);
    std::vector<TextExample> rows;
    int64_t lineNo = 1;
    while (std::getline(in, line)) {
        ++lineNo;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.empty()) continue;
        const std::vector<std::string> cells = splitTabs(line);
        const std::string where = path + ":" + std::to_string(lineNo);
        if (cells.size() != header.size())
            throw Error(where, std::to_string(cells.size()) + " columns, but the header has " +
                                   std::to_string(header.size()));
        if (cells[textCol].empty()) throw Error(where, "empty '" + columns.text + "'");
        if (cells[labelCol].empty()) throw Error(where, "empty '" + columns.label + "'");
        rows.push_back({cells[textCol], cells[labelCol]});
    }
    if (rows.empty()) throw Error(path, "no data rows after the header");
    return rows;
}

std::vector<std::string> inferLabels(const std::vector<TextExample>& rows) {
    std::set<std::string> set;
    for (const auto& r : rows)
        set.insert(r.label);
    std::vector<std::string> labels(set.begin(), set.end());
    if (std::all_of(labels.begin(), labels.end(), isInteger))
        std::sort(labels.begin(), labels.end(),
                  [](const std::string& a, const std::string& b) { return std::stoll(a) < std::stoll(b); });
    return labels;
}

}  // namespace peft
