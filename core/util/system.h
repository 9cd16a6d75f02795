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
std::string torchVersion();
/// "cpu", then "cuda:0", "cuda:1", … when the LibTorch build has CUDA and a GPU is present.
std::vector<std::string> availableDevices();
/// Cores available to this process (the default for the thread setting).
int defaultThreadCount();
/// Applies the intra-op thread count. LibTorch's setting is per OpenMP thread: call it on the thread
/// that runs the torch ops (the training thread).
void applyThreadCount(int threads);
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
