// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Numbers read out of names in users' files (layer indices in tensor and module names).
#include <cstdint>
#include <string>

#include "util/error.h"

namespace peft {

/// A layer index from its decimal digits (already matched as digits); one too long for any model is
/// refused with a message naming `where`, where std::stoll would throw out_of_range.
inline int64_t layerIndex(const std::string& digits, const std::string& where) {
    if (digits.empty() || digits.size() > 9)
        throw Error(where, "layer index '" + digits + "' is not a layer of any model");
    return std::stoll(digits);
}

}  // namespace peft
