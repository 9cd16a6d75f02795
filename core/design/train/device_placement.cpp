// SPDX-License-Identifier: GPL-3.0-or-later
#include "train/device_placement.h"

#include <algorithm>
#include <sstream>

#include "util/error.h"

namespace peft {

DevicePlacer::DevicePlacer(std::vector<std::string> gpus, int perGpu)
    : gpus_(std::move(gpus)), perGpu_(std::max(1, perGpu)) {}

std::optional<std::string> DevicePlacer::place(const std::string& requested) {
    const bool inUse = std::find(gpus_.begin(), gpus_.end(), requested) != gpus_.end();
    if (requested == "cuda" && !gpus_.empty()) {
        const std::string* best = nullptr;
        for (const auto& g : gpus_)
            if (busy(g) < perGpu_ && (!best || busy(g) < busy(*best))) best = &g;
        if (!best) return std::nullopt;
        ++busy_[*best];
        return *best;
    }
    if (inUse) {
        if (busy(requested) >= perGpu_) return std::nullopt;
        ++busy_[requested];
    }
    return requested;
}

void DevicePlacer::release(const std::string& device) {
    auto it = busy_.find(device);
    if (it != busy_.end() && --it->second <= 0) busy_.erase(it);
}

int DevicePlacer::busy(const std::string& device) const {
    auto it = busy_.find(device);
    return it == busy_.end() ? 0 : it->second;
}

std::vector<std::string> parseGpuList(const std::string& text, int present) {
    std::vector<std::string> out;
    if (text.empty() || text == "all") {
        for (int i = 0; i < present; ++i)
            out.push_back("cuda:" + std::to_string(i));
        return out;
    }
    std::stringstream ss(text);
    for (std::string item; std::getline(ss, item, ',');) {
        const std::string digits = item.rfind("cuda:", 0) == 0 ? item.substr(5) : item;
        const bool number =
            !digits.empty() && digits.size() <= 4 &&
            std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; });
        const std::string there = present == 0 ? "this machine has no CUDA device"
                                  : present == 1
                                      ? "this machine has cuda:0 only"
                                      : "this machine has cuda:0 to cuda:" + std::to_string(present - 1);
        if (!number)
            throw Error("--gpus", "'" + item + "' is not a GPU (expected all, or indices such as 0,2)");
        const int index = std::stoi(digits);
        if (index >= present)
            throw Error("--gpus", "cuda:" + std::to_string(index) + " is not present: " + there);
        const std::string name = "cuda:" + std::to_string(index);
        if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(name);
    }
    return out;
}

}  // namespace peft
