// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Facts about the running process: versions, devices, threads, where resources live.
#include <string>
#include <vector>

namespace peft {

std::string appVersion();
std::string torchVersion();
/// "cpu", then "cuda:0", "cuda:1", … when the LibTorch build has CUDA and a GPU is present.
std::vector<std::string> availableDevices();
/// Cores available to this process (the default for the thread setting).
int defaultThreadCount();
/// Applies the intra-op thread count. LibTorch's setting is per OpenMP thread: call it on the thread
/// that runs the torch ops (the training thread).
void applyThreadCount(int threads);
int currentThreadCount();

/// The resources folder: $PEFT_RESOURCES, else <exe>/../share/peft-workbench (installed), else the source
/// tree's resources/ (build tree). Empty when none exists.
std::string resourcesDir();

}  // namespace peft
