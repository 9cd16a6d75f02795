// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// LibTorch's facts about this process: its version, the devices it can train on, its intra-op thread setting.
#include <cstdint>
#include <string>
#include <vector>

namespace peft {

std::string torchVersion();
/// "cpu", then "cuda:0", "cuda:1", … when the LibTorch build has CUDA and a GPU is present.
std::vector<std::string> availableDevices();
/// Why no CUDA device can be used ("" when one can): a LibTorch built without CUDA, or no GPU found.
std::string cudaUnavailableReason();
/// Applies the intra-op thread count (checked as checkThreadCount does). LibTorch's setting is per OpenMP
/// thread: call it on the thread that runs the torch ops (the training thread).
void applyThreadCount(int64_t threads);
int currentThreadCount();

}  // namespace peft
