// SPDX-License-Identifier: GPL-3.0-or-later
#include "peft/accounting.h"

#include <cstdio>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

namespace peft {

int64_t backboneParamCount(const ModelConfig& c) {
    const int64_t d = c.d_model, f = c.d_ff;
    const int64_t positions = (c.max_positions + c.position_offset) * d;
    int64_t n = c.vocab_size * d + positions + c.type_vocab_size * d;
    const int64_t attention = 4 * (d * d + d);        // W_q, W_k, W_v, W_o with biases
    const int64_t perLayer = attention + 2 * d        // LayerNorm after/before attention
                             + d * f + f + f * d + d  // W_1, W_2 with biases
                             + 2 * d;                 // LayerNorm after/before FFN
    n += c.n_layers * perLayer;
    if (c.encoderDecoder()) {
        // Each stack: positions, embedding LayerNorm, final LayerNorm when pre-LN; decoder layers add
        // cross-attention and its LayerNorm. The token embedding is shared.
        n += positions + 2 * 2 * d + (c.pre_ln ? 2 * 2 * d : 0);
        n += c.decoder_layers * (perLayer + attention + 2 * d);
    } else {
        n += 2 * d;  // embedding LayerNorm (post-LN) or final LayerNorm (pre-LN)
    }
    if (!c.tie_embeddings) n += c.vocab_size * d;
    return n;
}

int64_t backboneBiasCount(const ModelConfig& c) {
    const int64_t d = c.d_model, f = c.d_ff;
    int64_t n = c.n_layers * (4 * d + 2 * d + f + d);
    if (c.encoderDecoder())
        n += c.decoder_layers * (4 * d + 2 * d + f + d + 4 * d + d) + 2 * d + (c.pre_ln ? 2 * d : 0);
    else
        n += d;  // embedding LN (post-LN) or final LN (pre-LN) bias
    return n;
}

int64_t headParamCount(const ModelConfig& c) {
    const int64_t d = c.d_model;
    return (c.cls_dense ? d * d + d : 0) + d * c.num_labels + (c.cls_bias ? c.num_labels : 0);
}

int64_t prefixMlpWidth(const Modification& m, const ModelConfig& cfg) {
    return m.mlp_width > 0 ? m.mlp_width : std::max<int64_t>(1, cfg.d_model / 2);
}

int64_t layerCount(const Modification& m, const ModelConfig& cfg, Stack s) {
    return m.layers.empty() ? stackLayers(s, cfg) : static_cast<int64_t>(m.layers.size());
}

namespace {

int64_t compositionExtra(const Modification& m, int64_t dIn) {
    if (m.composition == Composition::LearnedScale) return 1;
    if (m.composition == Composition::LearnedGate) return dIn + 1;
    return 0;
}

int64_t weightIn(Site s, const ModelConfig& c) {
    return s == Site::W2 ? c.d_ff : c.d_model;
}
int64_t weightOut(Site s, const ModelConfig& c) {
    return s == Site::W1 ? c.d_ff : c.d_model;
}

}  // namespace

ParamReport countParams(const Spec& spec, const ModelConfig& cfg) {
    ParamReport rep;
    rep.backbone = backboneParamCount(cfg);
    rep.head = headParamCount(cfg);
    const int64_t d = cfg.d_model;
    auto add = [&](std::string name, int64_t layer, int64_t trained, int64_t stored,
                   Stack stack = Stack::Encoder) {
        rep.modules.push_back({std::move(name), layer, trained, stored, stack});
        rep.trained += trained;
        rep.stored += stored;
    };
    if (spec.train_base == TrainBase::All) add("backbone", -1, rep.backbone, rep.backbone);
    if (spec.train_base == TrainBase::Biases) {
        int64_t b = backboneBiasCount(cfg);
        add("backbone.biases", -1, b, b);
    }
    for (const Modification& m : spec.modifications) {
        if (m.form == Form::Prompt) {
            add(m.label(), -1, m.l * d, m.l * d);
            continue;
        }
        for (Stack st : stacksOf(m, cfg)) {
            const std::string name = moduleName(m, st, cfg);
            for (int64_t layer = 0; layer < stackLayers(st, cfg); ++layer) {
                if (!m.appliesTo(layer)) continue;
                int64_t n = 0;
                switch (m.form) {
                    case Form::Adapter: {
                        n = d * m.r + m.r + m.r * d + d;
                        if (m.layernorm != AdapterNorm::None) n += 2 * d;
                        n += compositionExtra(m, d);
                        add(name, layer, n, n, st);
                        break;
                    }
                    case Form::LoRA: {
                        const int64_t in = weightIn(m.site, cfg), out = weightOut(m.site, cfg);
                        n = in * m.r + m.r * out + compositionExtra(m, in);
                        add(name, layer, n, n, st);
                        break;
                    }
                    case Form::Prefix:
                    case Form::MultiHeadRelu: {
                        const int64_t prefix = 2 * m.l * d;
                        const int64_t extra = compositionExtra(m, d);
                        add(name, layer, (m.prefix_mlp ? 0 : prefix) + extra, prefix + extra, st);
                        break;
                    }
                    case Form::IA3: {
                        n = m.site == Site::Attention ? 2 * d : cfg.d_ff;
                        add(name, layer, n, n, st);
                        break;
                    }
                    case Form::Prompt:
                        break;
                }
            }
            if (m.form == Form::Prefix && m.prefix_mlp) {
                const int64_t w = prefixMlpWidth(m, cfg), out = layerCount(m, cfg, st) * 2 * d;
                add(name + ".mlp", -1, m.l * d + d * w + w + w * out + out, 0, st);
            }
        }
    }
    return rep;
}

std::string ParamReport::summaryLine() const {
    // "all params" as PEFT prints it: everything in the model, the backbone plus the delta modules.
    int64_t all = backbone;
    for (const auto& m : modules)
        if (m.name.rfind("backbone", 0) != 0) all += m.trained;
    char buf[160];
    std::snprintf(buf, sizeof buf, "trainable params: %lld || all params: %lld || trainable%%: %.4f",
                  static_cast<long long>(trained), static_cast<long long>(all),
                  all ? 100.0 * double(trained) / double(all) : 0.0);
    return buf;
}

std::vector<ParamReport::Row> ParamReport::foldedRows() const {
    std::vector<Row> rows;
    std::map<std::string, size_t> index;
    for (const auto& m : modules) {
        auto [it, fresh] = index.emplace(m.name, rows.size());
        if (fresh) rows.push_back({m.name, 0, 0, 0});
        Row& r = rows[it->second];
        r.layers += m.layer >= 0 ? 1 : 0;
        r.trained += m.trained;
        r.stored += m.stored;
    }
    return rows;
}

std::string ParamReport::table() const {
    std::ostringstream out;
    char buf[256];
    std::snprintf(buf, sizeof buf, "%-28s %7s %14s %10s %14s %10s\n", "module", "layers", "trained",
                  "% backbone", "stored", "% backbone");
    out << buf << std::string(88, '-') << "\n";
    auto pct = [&](int64_t n) { return backbone ? 100.0 * double(n) / double(backbone) : 0.0; };
    for (const Row& r : foldedRows()) {
        std::snprintf(buf, sizeof buf, "%-28s %7s %14lld %9.4f%% %14lld %9.4f%%\n", r.name.c_str(),
                      r.layers ? std::to_string(r.layers).c_str() : "-", static_cast<long long>(r.trained),
                      pct(r.trained), static_cast<long long>(r.stored), pct(r.stored));
        out << buf;
    }
    out << std::string(88, '-') << "\n";
    std::snprintf(buf, sizeof buf, "%-28s %7s %14lld %9.4f%% %14lld %9.4f%%\n", "total (delta)", "",
                  static_cast<long long>(trained), trainedPct(), static_cast<long long>(stored), storedPct());
    out << buf;
    std::snprintf(buf, sizeof buf,
                  "%-28s %7s %14lld\n%-28s %7s %14lld  (trained always, not counted above)\n", "backbone", "",
                  static_cast<long long>(backbone), "task head", "", static_cast<long long>(head));
    out << buf;
    return out.str();
}

void to_json(nlohmann::json& j, const ParamReport& r) {
    j = nlohmann::json{{"backbone", r.backbone},        {"head", r.head},
                       {"trained", r.trained},          {"stored", r.stored},
                       {"trained_pct", r.trainedPct()}, {"stored_pct", r.storedPct()}};
    j["modules"] = nlohmann::json::array();
    for (const auto& m : r.modules)
        j["modules"].push_back(
            {{"name", m.name}, {"layer", m.layer}, {"trained", m.trained}, {"stored", m.stored}});
}

}  // namespace peft
