// SPDX-License-Identifier: GPL-3.0-or-later
#include "util/precision.h"

#include <ATen/Context.h>
#include <ATen/autocast_mode.h>
#include <torch/version.h>

#include <algorithm>
#include <map>
#include <mutex>

#include "util/error.h"

// LibTorch 2.4 replaced the per-backend autocast switches (is_enabled / is_cpu_enabled, …) by ones that take
// the device type, and deprecated the old names.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define PEFT_AUTOCAST_BY_DEVICE_TYPE 1
#endif

namespace peft {

namespace {

bool autocastEnabled(c10::DeviceType t) {
#ifdef PEFT_AUTOCAST_BY_DEVICE_TYPE
    return at::autocast::is_autocast_enabled(t);
#else
    return t == c10::DeviceType::CPU ? at::autocast::is_cpu_enabled() : at::autocast::is_enabled();
#endif
}

void setAutocastEnabled(c10::DeviceType t, bool on) {
#ifdef PEFT_AUTOCAST_BY_DEVICE_TYPE
    at::autocast::set_autocast_enabled(t, on);
#else
    if (t == c10::DeviceType::CPU)
        at::autocast::set_cpu_enabled(on);
    else
        at::autocast::set_enabled(on);
#endif
}

at::ScalarType autocastDtype(c10::DeviceType t) {
#ifdef PEFT_AUTOCAST_BY_DEVICE_TYPE
    return at::autocast::get_autocast_dtype(t);
#else
    return t == c10::DeviceType::CPU ? at::autocast::get_autocast_cpu_dtype()
                                     : at::autocast::get_autocast_gpu_dtype();
#endif
}

void setAutocastDtype(c10::DeviceType t, at::ScalarType dtype) {
#ifdef PEFT_AUTOCAST_BY_DEVICE_TYPE
    at::autocast::set_autocast_dtype(t, dtype);
#else
    if (t == c10::DeviceType::CPU)
        at::autocast::set_autocast_cpu_dtype(dtype);
    else
        at::autocast::set_autocast_gpu_dtype(dtype);
#endif
}

/// Whether a bfloat16 matrix product (and its autocast) runs on `device`: tried once per device.
bool bf16Works(const torch::Device& device) {
    static std::mutex mutex;
    static std::map<std::string, bool> known;
    std::lock_guard<std::mutex> lock(mutex);
    const std::string key = device.str();
    if (auto it = known.find(key); it != known.end()) return it->second;
    bool ok = true;
    try {
        torch::NoGradGuard ng;
        const torch::Tensor a =
            torch::ones({16, 16}, torch::TensorOptions().dtype(torch::kBFloat16).device(device));
        ok = torch::mm(a, a).sum().item<float>() == 16.0f * 16 * 16;
    } catch (const c10::Error&) {
        ok = false;
    }
    return known[key] = ok;
}

std::mutex tf32Mutex;
int tf32Scopes = 0;
bool tf32CublasBefore = false, tf32CudnnBefore = false;

}  // namespace

Precision parsePrecision(const std::string& name) {
    checkPrecisionName(name);
    return name == "tf32" ? Precision::TF32 : name == "bf16" ? Precision::BF16 : Precision::FP32;
}

std::vector<std::string> availablePrecisions(const torch::Device& device) {
    std::vector<std::string> out{"fp32"};
    if (device.is_cuda()) out.push_back("tf32");
    if ((device.is_cpu() || device.is_cuda()) && bf16Works(device)) out.push_back("bf16");
    return out;
}

Precision checkPrecision(const std::string& name, const torch::Device& device) {
    const Precision p = parsePrecision(name);
    if (p == Precision::FP32) return p;
    const auto can = availablePrecisions(device);
    if (std::find(can.begin(), can.end(), name) != can.end()) return p;
    std::string list;
    for (const auto& c : can)
        list += (list.empty() ? "" : ", ") + c;
    const std::string why =
        p == Precision::TF32
            ? "tf32 is a CUDA matrix-product mode (TensorFloat-32 tensor cores)"
            : "a bfloat16 matrix product does not run on " + device.str() + " with LibTorch " + TORCH_VERSION;
    throw Error("precision", why + "; " + device.str() + " trains in " + list);
}

PrecisionScope::PrecisionScope(Precision p, const torch::Device& device)
    : precision_(p), type_(device.type()) {
    if (p == Precision::BF16) {
        wasEnabled_ = autocastEnabled(type_);
        wasDtype_ = autocastDtype(type_);
        setAutocastDtype(type_, at::kBFloat16);
        setAutocastEnabled(type_, true);
        at::autocast::increment_nesting();
    } else if (p == Precision::TF32) {
        std::lock_guard<std::mutex> lock(tf32Mutex);
        if (tf32Scopes++ == 0) {
            tf32CublasBefore = at::globalContext().allowTF32CuBLAS();
            tf32CudnnBefore = at::globalContext().allowTF32CuDNN();
            at::globalContext().setAllowTF32CuBLAS(true);
            at::globalContext().setAllowTF32CuDNN(true);
        }
    }
}

PrecisionScope::~PrecisionScope() {
    if (precision_ == Precision::BF16) {
        // The weights autocast cast to bfloat16 are cached until the outermost scope ends (they change
        // with every optimizer step).
        if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
        setAutocastEnabled(type_, wasEnabled_);
        setAutocastDtype(type_, wasDtype_);
    } else if (precision_ == Precision::TF32) {
        std::lock_guard<std::mutex> lock(tf32Mutex);
        if (--tf32Scopes == 0) {
            at::globalContext().setAllowTF32CuBLAS(tf32CublasBefore);
            at::globalContext().setAllowTF32CuDNN(tf32CudnnBefore);
        }
    }
}

}  // namespace peft
