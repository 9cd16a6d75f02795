// SPDX-License-Identifier: GPL-3.0-or-later
#include "peft/presets.h"

#include <cmath>
#include <limits>
#include <map>

#include <nlohmann/json.hpp>

#include "peft/accounting.h"
#include "util/error.h"

namespace peft {

namespace {

Modification adapter(Site site, Insertion ins, int64_t r, Composition c = Composition::Add, double s = 1.0,
                     Init init = Init::Bert) {
    Modification m;
    m.form = Form::Adapter;
    m.site = site;
    m.insertion = ins;
    m.r = r;
    m.composition = c;
    m.scale = s;
    m.init = init;
    m.activation = Activation::ReLU;
    return m;
}

Modification lora(Site site, int64_t r, double s, Composition c = Composition::Scaled) {
    Modification m;
    m.form = Form::LoRA;
    m.site = site;
    m.r = r;
    m.scale = s;
    m.composition = c;
    m.init = Init::Lora;
    return m;
}

Modification prefix(int64_t l, Composition c, bool mlp) {
    Modification m;
    m.form = Form::Prefix;
    m.site = Site::HeadAttention;
    m.l = l;
    m.composition = c;
    m.prefix_mlp = mlp;
    return m;
}

Spec makeSpec(const std::string& name, std::vector<Modification> mods, TrainBase tb = TrainBase::None) {
    Spec s;
    s.name = name;
    s.train_base = tb;
    s.modifications = std::move(mods);
    return s;
}

std::vector<Preset> buildPresets() {
    using C = Composition;
    std::vector<Preset> p;
    p.push_back({"full", "Full fine-tuning", "W ← W + ΔW for every weight",
                 "Full-FT baseline (Tables 1–2, Figure 1)", makeSpec("full", {}, TrainBase::All), 0.0});
    p.push_back({"bitfit", "BitFit", "b ← b + Δb for every bias (incl. LayerNorm)",
                 "BitFit (Ben Zaken et al., 2021), compared in Figure 1",
                 makeSpec("bitfit", {}, TrainBase::Biases), 0.0});
    {
        Modification m;
        m.form = Form::Prompt;
        m.site = Site::Input;
        m.l = 100;
        p.push_back({"prompt", "Prompt tuning", "X ← [P; X], P ∈ R^{l×d} trained",
                     "Prompt tuning (Lester et al., 2021), Figure 1", makeSpec("prompt", {m}), 0.1});
    }
    p.push_back({"prefix", "Prefix tuning", "head attn: h ← (1−λ(x))h + λ(x)·softmax(x W_q P_kᵀ) P_v",
                 "Prefix tuning (Li & Liang, 2021), Table 1 / Figure 1",
                 makeSpec("prefix", {prefix(200, C::Gated, true)}), 0.5});
    p.push_back({"prefix-nogate", "Prefix tuning without gating",
                 "head attn: h ← h + softmax(x W_q P_kᵀ) P_v",
                 "Ablation of the gating λ (Section 3.1's decomposition)",
                 makeSpec("prefix-nogate", {prefix(200, C::Add, true)}), 0.5});
    p.push_back({"houlsby", "Houlsby adapter", "attn & FFN: h ← h + ReLU(h W_down) W_up — sequential",
                 "Adapter (Houlsby et al., 2019), Table 1 / Figure 1",
                 makeSpec("houlsby", {adapter(Site::Attention, Insertion::Sequential, 200),
                                      adapter(Site::FFN, Insertion::Sequential, 200)}),
                 0.5});
    p.push_back({"pfeiffer", "Pfeiffer adapter", "FFN: h ← h + ReLU(h W_down) W_up — sequential",
                 "Adapter (Pfeiffer et al., 2021); SA (ffn) of Table 4",
                 makeSpec("pfeiffer", {adapter(Site::FFN, Insertion::Sequential, 200)}), 0.5});
    p.push_back({"lora", "LoRA (W_q, W_v)", "W_q, W_v: h ← h + s·x W_down W_up, s = α/r",
                 "LoRA (Hu et al., 2021) on W_q and W_v, Table 1 / Figure 1",
                 makeSpec("lora", {lora(Site::Wq, 200, 4.0), lora(Site::Wv, 200, 4.0)}), 0.5});
    p.push_back({"pa-attn", "Parallel adapter (attention)", "attn: h ← h + ReLU(x W_down) W_up — parallel",
                 "PA (attn) of Table 4",
                 makeSpec("pa-attn", {adapter(Site::Attention, Insertion::Parallel, 200)}), 0.5});
    p.push_back({"pa-ffn", "Parallel adapter (FFN)", "FFN: h ← h + ReLU(x W_down) W_up — parallel",
                 "PA (ffn) of Table 4 (beats SA (ffn))",
                 makeSpec("pa-ffn", {adapter(Site::FFN, Insertion::Parallel, 200)}), 0.5});
    {
        Modification m;
        m.form = Form::MultiHeadRelu;
        m.site = Site::HeadAttention;
        m.l = 200;
        p.push_back({"mh-pa", "Multi-head parallel adapter", "head attn: h ← h + ReLU(x W_q P_kᵀ) P_v",
                     "MH PA (attn) of Table 4 / Figure 5", makeSpec("mh-pa", {m}), 0.5});
    }
    p.push_back(
        {"scaled-pa", "Scaled parallel adapter (s = 4)", "FFN: h ← h + 4·ReLU(x W_down) W_up — parallel",
         "Scaled PA of Table 5 (s = 4 beats s = 1)",
         makeSpec("scaled-pa", {adapter(Site::FFN, Insertion::Parallel, 200, C::Scaled, 4.0, Init::Lora)}),
         0.5});
    p.push_back({"scaled-pa-learned", "Scaled parallel adapter (learned s)",
                 "FFN: h ← h + s·ReLU(x W_down) W_up, s learned",
                 "Learned-scalar row of Table 5 (not better than s = 4)",
                 makeSpec("scaled-pa-learned",
                          {adapter(Site::FFN, Insertion::Parallel, 200, C::LearnedScale, 1.0, Init::Lora)}),
                 0.5});
    p.push_back(
        {"mam", "MAM adapter",
         "head attn: prefix (1−λ)h + λ·softmax(x W_q P_kᵀ) P_v, l = 30; FFN: h ← h + 4·ReLU(x W_down) W_up, "
         "r = 512",
         "MAM Adapter, Table 6 (XSum 21.90 R-2 / en-ro 37.5 BLEU at 6.7%)",
         makeSpec("mam", {prefix(30, C::Gated, true),
                          adapter(Site::FFN, Insertion::Parallel, 512, C::Scaled, 4.0, Init::Lora)}),
         6.7});
    {
        Modification a = adapter(Site::FFN, Insertion::Sequential, 48, C::LearnedGate);
        Modification q = lora(Site::Wq, 8, 2.0, C::LearnedGate);
        Modification v = lora(Site::Wv, 8, 2.0, C::LearnedGate);
        p.push_back({"unipelt", "UniPELT",
                     "gated prefix (l = 10) + σ-gated adapter (r = 48) + σ-gated LoRA (r = 8)",
                     "UniPELT (Mao et al., 2022), a neighbour of MAM",
                     makeSpec("unipelt", {prefix(10, C::Gated, true), a, q, v}), 1.0});
    }
    {
        Modification k;
        k.form = Form::IA3;
        k.site = Site::Attention;
        k.composition = C::Rescale;
        Modification f = k;
        f.site = Site::FFN;
        p.push_back({"ia3", "IA3", "k ← l_k ⊙ k, v ← l_v ⊙ v, f(x W_1) ← l_ff ⊙ f(x W_1)",
                     "(IA)³ (Liu et al., 2022), a rescaling neighbour", makeSpec("ia3", {k, f}), 0.0});
    }
    // Full fine-tuning moves every weight and wants a small step; the few scalars of BitFit, IA3 and prompts
    // want large ones; adapters, LoRA and prefixes sit between.
    const std::map<std::string, double> lr = {
        {"full", 1e-3}, {"bitfit", 5e-3}, {"prompt", 1e-2}, {"ia3", 1e-2}};
    for (auto& preset : p)
        preset.default_lr = lr.count(preset.id) ? lr.at(preset.id) : 3e-3;
    return p;
}

double storedPct(const Spec& s, const ModelConfig& cfg) {
    return countParams(s, cfg).storedPct();
}

}  // namespace

const std::vector<Preset>& presets() {
    static const std::vector<Preset> all = buildPresets();
    return all;
}

const Preset& presetById(const std::string& id) {
    for (const auto& p : presets())
        if (p.id == id) return p;
    std::string ids;
    for (const auto& p : presets())
        ids += (ids.empty() ? "" : ", ") + p.id;
    throw Error("preset", "unknown preset '" + id + "' (known: " + ids + ")");
}

BudgetResult solveBudget(const Spec& spec, const ModelConfig& cfg, double target_pct) {
    if (!(target_pct > 0.0) || !std::isfinite(target_pct))
        throw Error("budget", "the target must be a positive percentage");
    // The primary size is the largest paper-scale size; the others keep their ratio to it.
    int64_t primary = 0;
    for (const auto& m : spec.modifications)
        primary = std::max(primary, m.size());
    if (primary == 0)
        throw Error("budget", "'" + spec.name + "' has no r or l to size (its budget is fixed)");
    auto scaled = [&](int64_t k) {
        Spec s = spec;
        for (auto& m : s.modifications) {
            if (m.size() == 0) continue;
            double v = std::round(double(m.size()) * double(k) / double(primary));
            m.setSize(std::max<int64_t>(1, static_cast<int64_t>(v)));
        }
        return s;
    };
    auto fits = [&](const Spec& s) {
        for (const auto& m : s.modifications) {
            if (m.usesL() && m.l > (m.form == Form::Prompt ? cfg.max_positions - 1 : cfg.max_positions))
                return false;
            if (m.usesR() && m.r > std::max(cfg.d_model, cfg.d_ff) * 4) return false;
        }
        return true;
    };
    BudgetResult best;
    double bestErr = std::numeric_limits<double>::infinity();
    // The stored count grows with k, so the search can stop once it overshoots and gets worse.
    for (int64_t k = 1;; ++k) {
        Spec s = scaled(k);
        if (!fits(s)) break;
        double pct = storedPct(s, cfg);
        double err = std::fabs(pct - target_pct);
        if (err < bestErr) {
            bestErr = err;
            best = {s, target_pct, pct};
        }
        if (pct > target_pct) break;
    }
    if (!std::isfinite(bestErr)) throw Error("budget", "no size of '" + spec.name + "' fits this backbone");
    return best;
}

Spec resolvePreset(const Preset& preset, const ModelConfig& cfg, const PresetOptions& opts) {
    Spec spec = preset.spec;
    for (auto& m : spec.modifications)
        if (m.prefix_mlp && m.mlp_width == 0) m.mlp_width = std::max<int64_t>(1, cfg.d_model / 2);
    const bool sized = preset.default_budget_pct > 0.0;
    if (opts.budget) {
        if (!sized) throw Error("budget", "'" + preset.id + "' has a fixed size; a budget does not apply");
        spec = solveBudget(spec, cfg, *opts.budget).spec;
    } else if (sized) {
        spec = solveBudget(spec, cfg, preset.default_budget_pct).spec;
    }
    bool usedR = false, usedL = false;
    for (auto& m : spec.modifications) {
        if (opts.r && m.usesR()) m.r = *opts.r, usedR = true;
        if (opts.l && m.usesL()) m.l = *opts.l, usedL = true;
    }
    if (opts.r && !usedR) throw Error("r", "'" + preset.id + "' has no adapter or LoRA part to size with r");
    if (opts.l && !usedL) throw Error("l", "'" + preset.id + "' has no prefix or prompt part to size with l");
    validate(spec, cfg);
    return spec;
}

void to_json(nlohmann::json& j, const Preset& p) {
    j = nlohmann::json{{"id", p.id},
                       {"name", p.name},
                       {"formula", p.formula},
                       {"paper_row", p.paper_row},
                       {"default_budget_pct", p.default_budget_pct},
                       {"default_lr", p.default_lr}};
}

}  // namespace peft
