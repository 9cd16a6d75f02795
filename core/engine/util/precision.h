// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// A run's arithmetic (TrainConfig::precision, named in kPrecisions): what a device and this LibTorch can do,
// and the scope that switches a thread's forwards to it.
#include <string>
#include <vector>

#include <torch/torch.h>

#include "train/train_config.h"

namespace peft {

enum class Precision { FP32, TF32, BF16 };

/// kPrecisions' name → the enum (unknown names are refused as checkPrecisionName does).
Precision parsePrecision(const std::string& name);
/// The precisions `device` trains in with this LibTorch: fp32 always, tf32 on CUDA, bf16 where a bfloat16
/// matrix product runs there (probed once per device).
std::vector<std::string> availablePrecisions(const torch::Device& device);
/// Refuses, before anything runs, a precision `device` cannot do: peft::Error("precision", …) saying what it
/// can ("tf32 is a CUDA matmul mode; cpu trains in fp32 or bf16").
Precision checkPrecision(const std::string& name, const torch::Device& device);

/// While alive, the forwards this thread runs on `device` use the precision (the trainer holds a tf32 scope
/// for the whole run and a bf16 one around each forward and loss). bf16: autocast to bfloat16 for the
/// device's type, as torch.autocast does (matrix products in bfloat16; parameters stay float32, so gradients
/// and optimizer state are float32; cast weights are dropped on exit). Run the backward after the scope ends,
/// as with torch.autocast. tf32: TensorFloat-32 matrix products and convolutions on CUDA — a process-wide
/// LibTorch switch, on while any tf32 scope lives (an fp32 CUDA run of the same process meanwhile gets it
/// too). fp32: nothing changes.
class PrecisionScope {
public:
    PrecisionScope(Precision p, const torch::Device& device);
    ~PrecisionScope();
    PrecisionScope(const PrecisionScope&) = delete;
    PrecisionScope& operator=(const PrecisionScope&) = delete;

private:
    Precision precision_;
    c10::DeviceType type_;
    bool wasEnabled_ = false;
    at::ScalarType wasDtype_ = at::kFloat;
};

}  // namespace peft
