// SPDX-License-Identifier: GPL-3.0-or-later
#include "util/system.h"

#include <ctime>

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "util/error.h"

#ifndef PEFT_VERSION
#define PEFT_VERSION "0.0.0"
#endif

namespace peft {

namespace fs = std::filesystem;

int64_t peakRssBytes() {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6)) * 1024;
    return 0;
}

std::string appVersion() {
    return PEFT_VERSION;
}

int defaultThreadCount() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
    unsigned hc = std::thread::hardware_concurrency();
    return hc > 0 ? static_cast<int>(hc) : 1;
}

int maxThreadCount() {
    return std::max(64, 4 * defaultThreadCount());
}

void checkThreadCount(int64_t threads, const std::string& where) {
    if (threads < 0 || threads > maxThreadCount())
        throw Error(where, std::to_string(threads) + ": expected 1 to " + std::to_string(maxThreadCount()) +
                               " threads (this machine has " + std::to_string(defaultThreadCount()) +
                               " cores), or 0 for one per core");
}

int64_t physicalMemoryBytes() {
    const long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    return pages > 0 && size > 0 ? int64_t(pages) * int64_t(size) : 0;
}

void preferPassiveOpenMpWait(char** argv) {
    if (std::getenv("OMP_WAIT_POLICY") || std::getenv("PEFT_NO_REEXEC")) return;
    setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    setenv("PEFT_NO_REEXEC", "1", 1);  // never loop, whatever happens to the variable
    execv("/proc/self/exe", argv);
    // exec failed: carry on with the default policy.
}

std::string resourcesDir() {
    if (const char* env = std::getenv("PEFT_RESOURCES"); env && *env && fs::is_directory(env)) return env;
    std::error_code ec;
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) {
        const fs::path installed = exe.parent_path().parent_path() / "share" / "peft-workbench";
        if (fs::is_directory(installed)) return installed.string();
    }
#ifdef PEFT_SOURCE_RESOURCES
    if (fs::is_directory(PEFT_SOURCE_RESOURCES)) return PEFT_SOURCE_RESOURCES;
#endif
    return {};
}

std::string utcNowIso() {
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

}  // namespace peft
