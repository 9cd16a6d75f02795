// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Small helpers shared by the test suites.
#include <functional>
#include <string>

#include "util/error.h"

/// The message of the peft::Error `f` throws, or "(no error)".
inline std::string errorOf(const std::function<void()>& f) {
    try {
        f();
    } catch (const peft::Error& e) {
        return e.what();
    }
    return "(no error)";
}
