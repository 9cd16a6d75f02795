// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Where the runs a queue trains side by side go (the GUI's queue, `peftwb project run --parallel`): each run
// asks for a device as its record says — "cpu", "cuda" (any GPU) or "cuda:N" — and GPU runs are spread over
// the GPUs in use, at most `perGpu` on each.
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace peft {

class DevicePlacer {
public:
    /// `gpus`: "cuda:0", "cuda:1", … (none on a machine without); `perGpu` ≥ 1 runs on each at once.
    explicit DevicePlacer(std::vector<std::string> gpus = {}, int perGpu = 1);

    /// The device a run asking for `requested` trains on now, or nothing while the GPUs it may use are full
    /// (it waits for one to be released). "cuda" takes the least busy GPU in use (the first of equals);
    /// "cuda:N" of the GPUs in use waits for a place on N; any other request (cpu, a GPU not in use) goes
    /// as asked — the trainer says what is wrong with a device that does not exist.
    std::optional<std::string> place(const std::string& requested);
    /// A run placed on `device` has ended.
    void release(const std::string& device);
    int busy(const std::string& device) const;
    const std::vector<std::string>& gpus() const { return gpus_; }

private:
    std::vector<std::string> gpus_;
    int perGpu_;
    std::map<std::string, int> busy_;
};

/// The GPUs a queue uses, from the user's text and the number of CUDA devices present: "all" (or empty)
/// means every one; otherwise a comma list of indices or names ("0,2", "cuda:0,cuda:2"). An entry that
/// is not a device present is refused naming it and what there is (peft::Error "--gpus").
std::vector<std::string> parseGpuList(const std::string& text, int present);

}  // namespace peft
