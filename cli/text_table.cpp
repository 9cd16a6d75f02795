// SPDX-License-Identifier: GPL-3.0-or-later
#include "cli/text_table.h"

#include <algorithm>

namespace peft {

namespace {

/// The byte offset at which code point `n` of `s` starts (s.size() past the end).
size_t offsetOf(const std::string& s, size_t n) {
    size_t count = 0;
    for (size_t i = 0; i < s.size(); ++i)
        if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) {
            if (count == n) return i;
            ++count;
        }
    return s.size();
}

}  // namespace

TextTable::TextTable(std::vector<Column> columns) : columns_(std::move(columns)) {}

void TextTable::add(std::vector<std::string> cells) {
    cells.resize(columns_.size());
    for (size_t c = 0; c < cells.size(); ++c)
        if (columns_[c].max > 0) cells[c] = shorten(cells[c], columns_[c].max);
    rows_.push_back(std::move(cells));
}

size_t TextTable::width(const std::string& s) {
    return static_cast<size_t>(std::count_if(
        s.begin(), s.end(), [](char ch) { return (static_cast<unsigned char>(ch) & 0xC0) != 0x80; }));
}

std::string TextTable::shorten(const std::string& s, size_t max) {
    const size_t n = width(s);
    if (n <= max || max < 3) return s;
    const size_t head = (max - 1) / 2 + (max - 1) % 2, tail = (max - 1) / 2;
    return s.substr(0, offsetOf(s, head)) + "…" + s.substr(offsetOf(s, n - tail));
}

void TextTable::print(std::ostream& out) const {
    std::vector<size_t> w(columns_.size());
    for (size_t c = 0; c < columns_.size(); ++c) {
        w[c] = width(columns_[c].header);
        for (const auto& r : rows_)
            w[c] = std::max(w[c], width(r[c]));
    }
    auto line = [&](const std::vector<std::string>& cells) {
        std::string s;
        for (size_t c = 0; c < cells.size(); ++c) {
            const std::string pad(w[c] - width(cells[c]), ' ');
            s += (c ? "  " : "") + (columns_[c].right ? pad + cells[c] : cells[c] + pad);
        }
        s.erase(s.find_last_not_of(' ') + 1);
        out << s << "\n";
    };
    std::vector<std::string> headers;
    size_t total = 0;
    for (size_t c = 0; c < columns_.size(); ++c) {
        headers.push_back(columns_[c].header);
        total += w[c] + (c ? 2 : 0);
    }
    line(headers);
    out << std::string(total, '-') << "\n";
    for (const auto& r : rows_)
        line(r);
}

}  // namespace peft
