// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
#include <ostream>
#include <string>
#include <vector>

namespace peft {

/// Runs `peftwb` with its arguments (without the program name). Returns the exit code:
/// 0 success, 1 an error (message on `err`), 2 a usage error.
int runCli(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err);

}  // namespace peft
