// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Facts about the running process: versions, devices, threads, where resources live.
#include <cstdint>
#include <string>
#include <vector>

namespace peft {

std::string appVersion();
/// Peak resident memory of this process so far (VmHWM), bytes; 0 where unknown.
int64_t peakRssBytes();
/// The machine's physical memory, bytes; 0 where unknown.
int64_t physicalMemoryBytes();
std::string torchVersion();
/// "cpu", then "cuda:0", "cuda:1", … when the LibTorch build has CUDA and a GPU is present.
std::vector<std::string> availableDevices();
/// Cores available to this process (the default for the thread setting).
int defaultThreadCount();
/// The most threads a run may ask for: 4× the cores, at least 64 (a record made on a bigger machine still
/// runs here). More starts nothing useful and makes OpenMP fail or hang.
int maxThreadCount();
/// Refuses a thread setting below 0 (0 = the core count) or above maxThreadCount(), naming `where`.
void checkThreadCount(int64_t threads, const std::string& where = "threads");
/// Applies the intra-op thread count (checked as checkThreadCount does). LibTorch's setting is per OpenMP
/// thread: call it on the thread that runs the torch ops (the training thread).
void applyThreadCount(int64_t threads);
int currentThreadCount();

/// LibTorch's OpenMP threads spin-wait between parallel regions by default; on a machine with few cores they
/// then compete with OpenBLAS's own threads for the same cores (measured here on 2 cores: a training step of
/// the d = 512 benchmark model 2019 ms → 1215 ms, of the small default model 3.4× faster, with passive
/// waiting). libgomp reads OMP_WAIT_POLICY when it loads, before main(), so when the variable is unset this
/// sets it to PASSIVE and re-executes the program (argv unchanged). A user's own OMP_WAIT_POLICY is
/// respected.
void preferPassiveOpenMpWait(char** argv);

/// The resources folder: $PEFT_RESOURCES, else <exe>/../share/peft-workbench (installed), else the source
/// tree's resources/ (build tree). Empty when none exists.
std::string resourcesDir();

}  // namespace peft
