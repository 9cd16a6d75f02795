// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// PyTorch checkpoints (`pytorch_model.bin`, torch.save's zip format since PyTorch 1.6) read without running
// anything: the zip's central directory is validated against the file (stored entries only, ZIP64, CRC-32
// of every record read), and data.pkl is interpreted by a pickle machine that knows plain values (numbers,
// strings, tuples, lists, dicts) and exactly the few PyTorch names a tensor state dict needs
// (collections.OrderedDict, torch._utils._rebuild_tensor_v2 / _rebuild_parameter, torch.*Storage). Any other
// Python name (os.system, a class of the checkpoint's author, …) is refused before anything else happens;
// so are PyTorch's legacy (pre-1.6) format, TorchScript archives, values that are not tensors, views
// that reach past their storage, and views that would copy their storages into more than 8 times the file.
// Floating-point tensors arrive as float32, integer and bool tensors as int64, like readSafetensors. Errors
// are peft::Error naming the file (and data.pkl's byte, the tensor or the record).
#include <map>
#include <string>

#include <torch/torch.h>

namespace peft {

/// The tensors of a PyTorch checkpoint file holding a state dict {name: tensor}.
std::map<std::string, torch::Tensor> readTorchCheckpoint(const std::string& path);
/// The same for bytes already in memory; `source` names them in messages.
std::map<std::string, torch::Tensor> parseTorchCheckpoint(const char* bytes, size_t size,
                                                          const std::string& source);

/// The tensors of a weights file: `*.safetensors` through readSafetensors, anything else (`*.bin`, `*.pt`,
/// `*.pth`) as a PyTorch checkpoint.
std::map<std::string, torch::Tensor> readTensorFile(const std::string& path);

}  // namespace peft
