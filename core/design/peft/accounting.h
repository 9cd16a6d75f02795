// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Parameter accounting computed from the spec and the backbone's shape (no torch). The counts follow the
// modules exactly; a test checks them against the built model's own parameters and against the paper's
// App. B formulas.
//   trained: parameters the optimizer updates.
//   stored:  parameters that must be kept after training (a prefix MLP collapses to its output P_k, P_v).
// The task head (classifier) always trains and is reported apart, as the paper does not count it.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "model/config.h"
#include "peft/spec.h"

namespace peft {

struct ModuleCount {
    std::string name;    // modification label, "<label>.mlp", "backbone", "backbone.biases"
    int64_t layer = -1;  // -1: not per layer
    int64_t trained = 0;
    int64_t stored = 0;
    Stack stack = Stack::Encoder;  // whose layer `layer` is (an encoder–decoder's decoder or cross-attention)
};

struct ParamReport {
    int64_t backbone = 0;  // every backbone parameter (embeddings, blocks, tied LM head once)
    int64_t head = 0;      // classification head, trained always, not counted in trained/stored
    int64_t trained = 0;
    int64_t stored = 0;
    std::vector<ModuleCount> modules;

    double trainedPct() const { return backbone ? 100.0 * double(trained) / double(backbone) : 0.0; }
    double storedPct() const { return backbone ? 100.0 * double(stored) / double(backbone) : 0.0; }
    /// One row per module name with its layers folded together, in first-seen order.
    struct Row {
        std::string name;
        int64_t layers = 0;  // how many per-layer entries were folded (0: not per layer)
        int64_t trained = 0, stored = 0;
    };
    std::vector<Row> foldedRows() const;
    /// "trainable params: N || all params: M || trainable%: x"
    std::string summaryLine() const;
    /// An adapter_summary-style table: one row per module (layers folded), then totals.
    std::string table() const;
};

void to_json(nlohmann::json& j, const ParamReport& r);

int64_t backboneParamCount(const ModelConfig& cfg);
int64_t backboneBiasCount(const ModelConfig& cfg);
int64_t headParamCount(const ModelConfig& cfg);
int64_t prefixMlpWidth(const Modification& m, const ModelConfig& cfg);
/// Number of layers a modification applies to in a stack.
int64_t layerCount(const Modification& m, const ModelConfig& cfg, Stack s = Stack::Encoder);

ParamReport countParams(const Spec& spec, const ModelConfig& cfg);

}  // namespace peft
