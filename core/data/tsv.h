// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Classification data from a TSV file with a header row (GLUE's SST-2 layout: sentence<TAB>label).
// Errors name the file, the line and the problem. No torch.
#include <map>
#include <string>
#include <vector>

namespace peft {

struct TextExample {
    std::string text;
    std::string label;
};

struct TsvColumns {
    std::string text = "sentence";
    std::string label = "label";
};

/// Reads every row; a row with a different column count, an empty text or an empty label is an error
/// "FILE:LINE: …". A file without the named columns is an error listing the header.
std::vector<TextExample> readClassificationTsv(const std::string& path, const TsvColumns& columns = {});

/// The label set in a stable order: integers numerically, otherwise lexicographically.
std::vector<std::string> inferLabels(const std::vector<TextExample>& rows);

}  // namespace peft
