// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// safetensors, the project's own reader and writer: an 8-byte little-endian header length, a JSON header
// {name: {dtype, shape, data_offsets}, "__metadata__": {…}}, then the raw little-endian bytes. The reader
// validates every size and offset against the file before touching data; F32, F16, BF16 convert to float32,
// I64 stays int64. Malformed files raise peft::Error naming the file and the problem.
#include <map>
#include <string>

#include <torch/torch.h>

namespace peft {

struct SafetensorsFile {
    std::map<std::string, torch::Tensor> tensors;  // CPU tensors, float32 or int64
    std::map<std::string, std::string> metadata;
};

/// Reads a file through a read-only memory mapping.
SafetensorsFile readSafetensors(const std::string& path);
/// Parses bytes already in memory; `source` names them in messages.
SafetensorsFile parseSafetensors(const std::string& bytes, const std::string& source);
SafetensorsFile parseSafetensors(const char* bytes, size_t size, const std::string& source);
/// The bytes of a safetensors file holding `tensors` (float32 / int64; others are converted to float32).
std::string serializeSafetensors(const std::map<std::string, torch::Tensor>& tensors,
                                 const std::map<std::string, std::string>& metadata = {});
/// Writes float32 / int64 CPU tensors (others are converted to float32), names in sorted order, atomically
/// (a temporary file renamed into place).
void writeSafetensors(const std::string& path, const std::map<std::string, torch::Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

}  // namespace peft
