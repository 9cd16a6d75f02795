// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Errors that reach the user. Every message says what is wrong and where (file, line, field).
#include <stdexcept>
#include <string>

namespace peft {

/// An error caused by user input (a spec, a config, a file, a command line). `where` names the field
/// path ("modifications[1].r"), a file position ("spec.json:3") or is empty; `what()` is the full
/// message "where: reason".
class Error : public std::runtime_error {
public:
    explicit Error(std::string reason) : std::runtime_error(reason), reason_(std::move(reason)) {}
    Error(std::string where, std::string reason)
        : std::runtime_error(where.empty() ? reason : where + ": " + reason),
          where_(std::move(where)),
          reason_(std::move(reason)) {}
    const std::string& where() const noexcept { return where_; }
    const std::string& reason() const noexcept { return reason_; }

private:
    std::string where_;
    std::string reason_;
};

}  // namespace peft
