// SPDX-License-Identifier: GPL-3.0-or-later
#include "util/torch_runtime.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <dlfcn.h>
#include <sys/resource.h>

#include <cstdio>
#include <fstream>

#include "util/system.h"

namespace peft {

std::string torchVersion() {
    return TORCH_VERSION;
}

namespace {

std::string cpuModelName() {
    std::ifstream in("/proc/cpuinfo");
    for (std::string line; std::getline(in, line);)
        if (line.rfind("model name", 0) == 0) {
            const size_t colon = line.find(':');
            if (colon != std::string::npos) return line.substr(line.find_first_not_of(" \t", colon + 1));
        }
    return "CPU";
}

/// Name and memory of CUDA device `index` from the driver API (libcuda.so.1, present wherever a GPU driver
/// is): no CUDA headers at build time, so the same code builds against CPU and CUDA LibTorch.
DeviceInfo cudaDeviceInfo(int index) {
    DeviceInfo d;
    d.id = "cuda:" + std::to_string(index);
    d.name = "CUDA device " + std::to_string(index);
    static void* lib = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
    if (!lib) return d;
    using Init = int (*)(unsigned);
    using Get = int (*)(int*, int);
    using Name = int (*)(char*, int, int);
    using Mem = int (*)(size_t*, int);
    auto init = reinterpret_cast<Init>(dlsym(lib, "cuInit"));
    auto get = reinterpret_cast<Get>(dlsym(lib, "cuDeviceGet"));
    auto name = reinterpret_cast<Name>(dlsym(lib, "cuDeviceGetName"));
    auto mem = reinterpret_cast<Mem>(dlsym(lib, "cuDeviceTotalMem_v2"));
    int dev = 0;
    if (!init || !get || init(0) != 0 || get(&dev, index) != 0) return d;
    char buf[256] = {};
    if (name && name(buf, int(sizeof buf) - 1, dev) == 0 && buf[0]) d.name = buf;
    size_t bytes = 0;
    if (mem && mem(&bytes, dev) == 0) d.memory_bytes = int64_t(bytes);
    return d;
}

}  // namespace

int64_t cudaMemoryInUse() {
    static void* lib = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
    if (!lib) return -1;
    using MemInfo = int (*)(size_t*, size_t*);
    static const auto info = reinterpret_cast<MemInfo>(dlsym(lib, "cuMemGetInfo_v2"));
    size_t free = 0, total = 0;
    if (!info || info(&free, &total) != 0) return -1;
    return int64_t(total - free);
}

std::string DeviceInfo::label() const {
    std::string s = id + " — " + name;
    if (memory_bytes > 0) {
        char gib[32];
        std::snprintf(gib, sizeof gib, ", %.1f GiB", double(memory_bytes) / double(1ull << 30));
        s += gib;
    }
    return s;
}

std::vector<DeviceInfo> availableDevices() {
    std::vector<DeviceInfo> out{{"cpu", cpuModelName(), physicalMemoryBytes()}};
    if (torch::cuda::is_available())
        for (size_t i = 0; i < torch::cuda::device_count(); ++i)
            out.push_back(cudaDeviceInfo(int(i)));
    return out;
}

std::string cudaUnavailableReason() {
    if (!at::hasCUDA()) return "this LibTorch " + torchVersion() + " was built without CUDA";
    if (!torch::cuda::is_available() || torch::cuda::device_count() == 0) return "no CUDA device was found";
    return {};
}

void applyThreadCount(int64_t threads) {
    checkThreadCount(threads);
    const int n = threads > 0 ? static_cast<int>(threads) : defaultThreadCount();
    at::set_num_threads(n);
    // OpenBLAS (Debian's LibTorch calls it for matmuls) keeps a pool of its own; found at run time, so
    // the code builds against any BLAS and any LibTorch.
    using SetThreads = void (*)(int);
    static const auto openblas =
        reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
    if (openblas) openblas(n);
}

int autoThreadCount(int64_t d_model) {
    return d_model < 256 ? 1 : defaultThreadCount();
}

double processCpuSeconds() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           1e-6 * double(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

int currentThreadCount() {
    return at::get_num_threads();
}

}  // namespace peft
