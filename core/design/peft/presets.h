// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Named points of the design space, each an exact spec, with the paper row it corresponds to. Sizes are
// given at paper scale (d = 1024) and scaled to the backbone by budget: a preset's default budget is the
// percentage of backbone parameters its paper setting spends, and r / l are solved for that percentage.
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "model/config.h"
#include "peft/spec.h"

namespace peft {

struct Preset {
    std::string id;                   // stable id for scripts: full, bitfit, prompt, prefix, …
    std::string name;                 // "Scaled parallel adapter (s = 4)"
    std::string formula;              // one line in the paper's notation
    std::string paper_row;            // where the paper reports it
    Spec spec;                        // sizes at paper scale (r, l for d = 1024)
    double default_budget_pct = 0.0;  // 0: fixed size (full, BitFit, IA3)
    double default_lr = 3e-3;         // AdamW learning rate that suits the method on the built-in tasks
};

const std::vector<Preset>& presets();
/// Throws peft::Error listing the known ids when `id` is unknown.
const Preset& presetById(const std::string& id);

struct BudgetResult {
    Spec spec;
    double target_pct = 0.0;
    double achieved_pct = 0.0;  // stored parameters as % of the backbone
};

/// Scales every sized modification of `spec` together (keeping their paper ratios) to the size whose
/// stored-parameter percentage is closest to `target_pct`. Throws when the spec has nothing to size.
BudgetResult solveBudget(const Spec& spec, const ModelConfig& cfg, double target_pct);

struct PresetOptions {
    std::optional<int64_t> r;      // every adapter / LoRA part
    std::optional<int64_t> l;      // every prefix / prompt part
    std::optional<double> budget;  // % of backbone parameters
};

/// The preset's spec on this backbone: the default budget (or `budget`) solved, then r / l overrides.
/// The result is validated.
Spec resolvePreset(const Preset& preset, const ModelConfig& cfg, const PresetOptions& opts = {});

void to_json(nlohmann::json& j, const Preset& p);

}  // namespace peft
