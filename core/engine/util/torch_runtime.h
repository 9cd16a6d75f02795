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
/// Bytes of device memory in use on the calling thread's current CUDA device (total − free, from the driver:
/// every process's allocations and CUDA contexts); −1 without a CUDA driver or context.
int64_t cudaMemoryInUse();
/// Why no CUDA device can be used ("" when one can): a LibTorch built without CUDA, or no GPU found.
std::string cudaUnavailableReason();
/// Applies a thread count (checked as checkThreadCount does; 0: one per core) to every pool a run's ops use:
/// LibTorch's intra-op (OpenMP) threads and the BLAS library's (OpenBLAS's own pthreads, whose idle workers
/// otherwise spin on the other cores). LibTorch's setting is per OpenMP thread: call it on the thread that
/// runs the torch ops (the training thread). OpenBLAS's is per process.
void applyThreadCount(int64_t threads);
/// The threads a run uses when its setting is 0 ("auto"): one for backbones whose matmuls are too small to
/// split (d_model below 256), else one per core. Measured on 2 cores: full fine-tuning of the d 128
/// built-in backbone takes the same wall time on 1 and 2 threads (the second core only spins), the d 512
/// one is faster on 2 (`peftwb bench --threads N` prints both, with CPU time per step).
int autoThreadCount(int64_t d_model);
/// CPU seconds the process has used, all threads together (user + system).
double processCpuSeconds();
int currentThreadCount();

}  // namespace peft
