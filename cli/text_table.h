// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// A plain-text table for the terminal: columns as wide as their widest cell (counted in characters, not UTF-8
// bytes, so "Δ" and "λ" keep the columns straight), cells over a column's limit shortened in the middle
// with "…". Used wherever peftwb prints rows of runs.
#include <ostream>
#include <string>
#include <vector>

namespace peft {

class TextTable {
public:
    struct Column {
        std::string header;
        bool right = false;  // numbers align right
        size_t max = 0;      // 0: no limit
    };
    explicit TextTable(std::vector<Column> columns);
    void add(std::vector<std::string> cells);
    /// The header, a rule under it, then the rows; two spaces between columns, no trailing blanks.
    void print(std::ostream& out) const;

    /// Characters in UTF-8 text (code points).
    static size_t width(const std::string& s);
    /// `s` cut to `max` characters with "…" in the middle (unchanged when it fits).
    static std::string shorten(const std::string& s, size_t max);

private:
    std::vector<Column> columns_;
    std::vector<std::vector<std::string>> rows_;
};

}  // namespace peft
