// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// A backbone folder: config.json (the ModelConfig plus provenance), model.safetensors (every backbone
// parameter), vocab.txt (one token per line, the id is the line number). And checkpoints of the trainable
// parameters of a run, with the spec in the safetensors metadata.
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/backbone_config.h"
#include "model/transformer.h"
#include "util/error.h"

namespace peft {

struct Backbone {
    std::string dir;
    ModelConfig config;
    std::vector<std::string> vocab;  // token of each id
    nlohmann::json info;             // provenance: the command that built it, seed, perplexity, …
    Transformer model{nullptr};
};

/// Copies `tensors` into the parameters of `model` of the same names. Names for which `optional` is true
/// may be absent (then listed in `absent` when given); otherwise missing, unexpected and mis-shaped tensors
/// are all listed by name in one peft::Error.
void copyInto(Transformer& model, const std::map<std::string, torch::Tensor>& tensors,
              const std::string& source, const std::function<bool(const std::string&)>& optional,
              std::vector<std::string>* absent);

/// Compares a config with its weights (under the core's names) before any model is built, so that a config
/// larger than its file (n_layers 10^9 beside 12 stored layers) is refused naming the field, not allocated:
/// the token embedding's [vocab_size, d_model], the number of blocks, the FFN width d_ff and the position
/// table. (A config smaller than its weights allocates less; copyInto then lists every tensor that does not
/// fit, by name.) `field` turns a core field name into the file's ("n_layers" → "n_layer"); `cfgPath` and
/// `weightsPath` name the files. Tensors that are absent are left to copyInto to report.
void checkConfigAgainstWeights(const ModelConfig& c, const std::map<std::string, torch::Tensor>& tensors,
                               const std::string& cfgPath, const std::string& weightsPath,
                               const std::function<std::string(const std::string&)>& field);

/// Writes a model without delta modules (call before applySpec) into `dir` (created if needed).
void saveBackbone(const std::string& dir, Transformer& model, const std::vector<std::string>& vocab,
                  const nlohmann::json& info);
/// Loads and checks a backbone folder: missing, unexpected and mis-shaped tensors are listed by name. A
/// classification head absent from the file is initialised (seeded) with `num_labels` classes.
/// `random_init` keeps the shape and vocabulary but not the weights (the baseline a pretrained backbone must
/// beat).
Backbone loadBackbone(const std::string& dir, int64_t num_labels = 0, uint64_t seed = 0,
                      bool random_init = false);

/// The trainable parameters of a run and its spec (in the file's metadata).
void saveTrainable(const std::string& path, const std::map<std::string, torch::Tensor>& state,
                   const Spec& spec, const nlohmann::json& extra = {});
/// Copies a checkpoint's tensors into a model built with the same spec; errors list what does not fit.
void loadTrainableInto(Transformer& model, const std::map<std::string, torch::Tensor>& tensors,
                       const std::string& source);

}  // namespace peft
