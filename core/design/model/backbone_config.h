// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The shape of a backbone folder, read from its config.json without loading any weights: the workbench's own
// (a peft_workbench block) or a Hugging Face one (model_type bert, roberta, gpt2, bart, mbart). No torch: the
// GUI and the project use it to size specs before anything is built.
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "model/config.h"
#include "util/error.h"

namespace peft {

/// The Hugging Face model families that load; anything else is refused with this list.
const std::vector<std::string>& supportedHfModelTypes();
/// Whether `dir` holds a Hugging Face model folder (a config.json with "model_type").
bool isHfModelDir(const std::string& dir);
/// The weights file of a Hugging Face folder, by Hugging Face's own order of preference: model.safetensors,
/// model.safetensors.index.json (shards), pytorch_model.bin, pytorch_model.bin.index.json (shards of
/// PyTorch checkpoints). A folder with none of them is refused naming all four.
std::string hfWeightsFile(const std::string& dir);
/// The core's config of a Hugging Face config.json object. `source` names the file in errors.
ModelConfig hfModelConfig(const nlohmann::json& config, const std::string& source);
/// The config of a backbone folder, a Hugging Face one (model_type) or the workbench's own
/// (peft_workbench); anything else is refused naming config.json and what it lacks.
ModelConfig folderModelConfig(const std::string& dir);
/// The config.json key of a core config field in a family (GPT-2 and BERT name them differently).
std::string hfFieldName(const std::string& type, const std::string& field);
/// The error for a folder's config.json that is neither a Hugging Face config (model_type) nor a workbench
/// backbone's (a peft_workbench block).
Error unknownConfigError(const std::string& cfgPath);
/// The shipped default backbone: <resources>/backbones/default, or empty when it is not there.
std::string defaultBackboneDir();

}  // namespace peft
