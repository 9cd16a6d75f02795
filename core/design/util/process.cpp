// SPDX-License-Identifier: GPL-3.0-or-later
#include "util/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>

extern char** environ;

namespace peft {

namespace {

std::vector<char*> pointers(std::vector<std::string>& v) {
    std::vector<char*> p;
    for (auto& s : v)
        p.push_back(s.data());
    p.push_back(nullptr);
    return p;
}

std::vector<std::string> environment(const std::vector<std::string>& changes) {
    std::vector<std::string> vars;
    for (char** e = environ; *e; ++e) {
        const std::string v = *e;
        const bool replaced = std::any_of(changes.begin(), changes.end(), [&](const std::string& x) {
            return v.compare(0, x.find('=') + 1, x, 0, x.find('=') + 1) == 0;
        });
        if (!replaced) vars.push_back(v);
    }
    vars.insert(vars.end(), changes.begin(), changes.end());
    return vars;
}

}  // namespace

int spawnChild(const std::vector<std::string>& argv, const std::vector<std::string>& env) {
    if (argv.empty()) return -1;
    std::vector<std::string> args = argv, vars = environment(env);
    auto cargs = pointers(args), cenv = pointers(vars);
    pid_t pid = 0;
    if (posix_spawnp(&pid, args.front().c_str(), nullptr, nullptr, cargs.data(), cenv.data()) != 0) return -1;
    return pid;
}

int waitChild(int pid) {
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string findOnPath(const std::string& program) {
    if (program.empty()) return {};
    if (program.find('/') != std::string::npos) return access(program.c_str(), X_OK) == 0 ? program : "";
    const char* path = std::getenv("PATH");
    std::string dirs = path ? path : "/usr/bin:/bin";
    size_t start = 0;
    while (start <= dirs.size()) {
        const size_t end = std::min(dirs.find(':', start), dirs.size());
        const std::string dir = end > start ? dirs.substr(start, end - start) : ".";
        const std::string candidate = dir + "/" + program;
        std::error_code ec;
        if (access(candidate.c_str(), X_OK) == 0 && std::filesystem::is_regular_file(candidate, ec))
            return candidate;
        start = end + 1;
    }
    return {};
}

CommandResult runCommand(const std::vector<std::string>& argv, double timeoutSeconds, std::size_t maxBytes) {
    CommandResult r;
    if (argv.empty()) return r;
    int outPipe[2], errPipe[2];
    if (pipe2(outPipe, O_CLOEXEC) != 0) return r;
    if (pipe2(errPipe, O_CLOEXEC) != 0) {
        close(outPipe[0]);
        close(outPipe[1]);
        return r;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, outPipe[1], 1);
    posix_spawn_file_actions_adddup2(&fa, errPipe[1], 2);
    std::vector<std::string> args = argv, vars = environment({});
    auto cargs = pointers(args), cenv = pointers(vars);
    pid_t pid = 0;
    const int rc = posix_spawnp(&pid, args.front().c_str(), &fa, nullptr, cargs.data(), cenv.data());
    posix_spawn_file_actions_destroy(&fa);
    close(outPipe[1]);
    close(errPipe[1]);
    if (rc != 0) {
        close(outPipe[0]);
        close(errPipe[0]);
        return r;
    }
    r.started = true;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeoutSeconds);
    pollfd fds[2] = {{outPipe[0], POLLIN, 0}, {errPipe[0], POLLIN, 0}};
    std::string* sinks[2] = {&r.out, &r.err};
    int open = 2;
    char buf[65536];
    while (open > 0) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            r.timed_out = true;
            kill(pid, SIGKILL);
            break;
        }
        const int n = poll(fds, 2, int(std::min<int64_t>(left.count(), 1000)));
        if (n < 0 && errno != EINTR) break;
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            const ssize_t got = read(fds[i].fd, buf, sizeof buf);
            if (got > 0) {
                const size_t room = maxBytes > sinks[i]->size() ? maxBytes - sinks[i]->size() : 0;
                sinks[i]->append(buf, std::min(size_t(got), room));
            } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
                close(fds[i].fd);
                fds[i].fd = -1;
                --open;
            }
        }
    }
    for (auto& f : fds)
        if (f.fd >= 0) close(f.fd);
    if (r.timed_out) {
        waitChild(pid);
        return r;
    }
    r.exit_code = waitChild(pid);
    return r;
}

}  // namespace peft
