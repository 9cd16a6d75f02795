// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// LibTorch's facts about this process: its version, the devices it can train on, its intra-op thread setting.
#include <cstdint>
#include <string>
#include <vector>

namespace peft {

std::string torchVersion();
struct DeviceInfo {
    std::string id;            // "cpu", "cuda:0", …: what a run record's device names
    std::string name;          // "NVIDIA H200"; for the CPU its model name (from /proc/cpuinfo) when known
    int64_t memory_bytes = 0;  // the device's memory (the machine's for the CPU); 0 when unknown
    /// "cuda:0 — NVIDIA H200, 139.8 GiB"
    std::string label() const;
};
/// The CPU, then each CUDA device LibTorch sees (when the build has CUDA and a GPU is present), with names
/// and memory from the CUDA driver (libcuda, opened at run time; without it the name says so).
std::vector<DeviceInfo> availableDevices();
/// Why no CUDA device can be used ("" when one can): a LibTorch built without CUDA, or no GPU found.
std::string cudaUnavailableReason();
/// Applies the intra-op thread count (checked as checkThreadCount does). LibTorch's setting is per OpenMP
/// thread: call it on the thread that runs the torch ops (the training thread).
void applyThreadCount(int64_t threads);
int currentThreadCount();

}  // namespace peft
