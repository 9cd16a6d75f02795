// SPDX-License-Identifier: GPL-3.0-or-later
#include "util/torch_runtime.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include "util/system.h"

namespace peft {

std::string torchVersion() {
    return TORCH_VERSION;
}

std::vector<std::string> availableDevices() {
    std::vector<std::string> out{"cpu"};
    if (torch::cuda::is_available())
        for (size_t i = 0; i < torch::cuda::device_count(); ++i)
            out.push_back("cuda:" + std::to_string(i));
    return out;
}

std::string cudaUnavailableReason() {
    if (!at::hasCUDA()) return "this LibTorch " + torchVersion() + " was built without CUDA";
    if (!torch::cuda::is_available() || torch::cuda::device_count() == 0) return "no CUDA device was found";
    return {};
}

void applyThreadCount(int64_t threads) {
    checkThreadCount(threads);
    at::set_num_threads(threads > 0 ? static_cast<int>(threads) : defaultThreadCount());
}

int currentThreadCount() {
    return at::get_num_threads();
}

}  // namespace peft
