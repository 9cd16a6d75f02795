// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Child processes: start one with this environment (plus changes), wait for it, or run a command to its
// end with its output captured, in bounded time and memory. POSIX (posix_spawn), no shell.
#include <cstddef>
#include <string>
#include <vector>

namespace peft {

/// Starts `argv` (argv[0]: a path, or a name looked up on PATH) with this process's environment, `env`
/// ("NAME=value") added or replacing; returns its pid, or −1 when it cannot start.
int spawnChild(const std::vector<std::string>& argv, const std::vector<std::string>& env = {});
/// Waits for a child; its exit status, or −1 when it did not exit normally.
int waitChild(int pid);

struct CommandResult {
    bool started = false;    // false: the program could not be started (not found, not executable)
    bool timed_out = false;  // killed after the time limit
    int exit_code = -1;      // −1 when it did not exit normally
    std::string out, err;    // each cut at the byte limit
};
/// Runs `argv` to its end (argv[0] looked up on PATH), stdin empty, stdout and stderr captured up to
/// `maxBytes` each; killed (SIGKILL) after `timeoutSeconds`.
CommandResult runCommand(const std::vector<std::string>& argv, double timeoutSeconds,
                         std::size_t maxBytes = 1 << 20);
/// The full path of `program` on PATH, or empty.
std::string findOnPath(const std::string& program);

}  // namespace peft
