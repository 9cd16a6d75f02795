// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Test fixture: small Hugging Face model folders (bert / roberta / gpt2 / bart / mbart) with random weights
// in the exact Hugging Face naming, written independently of the core's own writer (F32 / F16 / BF16).
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace hf_fixture {

namespace fs = std::filesystem;
using json = nlohmann::json;
using T = torch::Tensor;
using Weights = std::map<std::string, T>;

/// safetensors written independently of the core's writer: tensors in `dtype` ("F32", "F16", "BF16";
/// int64 tensors as "I64").
inline void writeSafetensors(const fs::path& path, const Weights& w, const std::string& dtype) {
    json header = json::object();
    std::string data;
    for (const auto& [name, t0] : w) {
        T t = t0.scalar_type() == torch::kLong ? t0.contiguous()
              : dtype == "F16"                 ? t0.to(torch::kHalf).contiguous()
              : dtype == "BF16"                ? t0.to(torch::kBFloat16).contiguous()
                                               : t0.to(torch::kFloat).contiguous();
        const std::string dt = t0.scalar_type() == torch::kLong ? "I64" : dtype;
        const size_t n = size_t(t.numel() * t.element_size());
        header[name] = {
            {"dtype", dt}, {"shape", t.sizes().vec()}, {"data_offsets", {data.size(), data.size() + n}}};
        data.append(static_cast<const char*>(t.data_ptr()), n);
    }
    const std::string h = header.dump();
    std::string bytes(8, '\0');
    for (int i = 0; i < 8; ++i)
        bytes[size_t(i)] = char((uint64_t(h.size()) >> (8 * i)) & 0xff);
    std::ofstream(path, std::ios::binary) << bytes << h << data;
}

/// Rounds weights as the stored dtype does, so the reference sees the values the file holds.
inline Weights asStored(const Weights& w, const std::string& dtype) {
    Weights out;
    for (const auto& [k, t] : w)
        out[k] = t.scalar_type() == torch::kLong ? t
                 : dtype == "F16"                ? t.to(torch::kHalf).to(torch::kFloat)
                 : dtype == "BF16"               ? t.to(torch::kBFloat16).to(torch::kFloat)
                                                 : t;
    return out;
}

inline T rnd(std::vector<int64_t> shape, double std = 0.2) {
    return torch::randn(shape) * std;
}
inline T lnWeight(int64_t d) {
    return 1.0 + rnd({d}, 0.1);
}

constexpr int64_t kD = 32, kH = 4, kL = 2, kFf = 64, kVocab = 40;  // kVocab: the small test vocabularies

/// The reference forwards' math in float64 (Hugging Face's formulas), shared by the model tests.
inline T layerNorm(const T& x, const T& w, const T& b, double eps) {
    const T mu = x.mean(-1, true);
    const T var = (x - mu).pow(2).mean(-1, true);
    return (x - mu) / (var + eps).sqrt() * w + b;
}
inline T geluErf(const T& x) {
    return 0.5 * x * (1 + torch::erf(x / std::sqrt(2.0)));
}

/// Multi-head attention (kH heads of width kD / kH) of one sequence: q [T, d], k and v [S, d] → [T, d];
/// `causal` masks key j > query i.
inline T attention(const T& q, const T& k, const T& v, bool causal, int64_t past = 0) {
    const int64_t n = q.size(0), s = k.size(0), dh = kD / kH;
    auto heads = [&](const T& t) { return t.reshape({t.size(0), kH, dh}).transpose(0, 1); };  // [H, ·, dh]
    T logits = torch::matmul(heads(q), heads(k).transpose(1, 2)) / std::sqrt(double(dh));     // [H, T, S]
    if (causal)  // query t sees the `past` keys in front and the tokens up to t
        logits = logits.masked_fill(torch::ones({n, s}, torch::kBool).triu(1 + past),
                                    -std::numeric_limits<double>::infinity());
    return torch::matmul(torch::softmax(logits, -1), heads(v)).transpose(0, 1).reshape({n, kD});
}

/// BERT / RoBERTa encoder tensors under `prefix` ("bert.", "roberta." or ""), optionally with old
/// LayerNorm.gamma / beta names in the embeddings.
inline Weights bertLikeWeights(const std::string& prefix, int64_t positions, int64_t types, bool oldNames,
                               int64_t vocab = kVocab) {
    Weights w;
    const std::string e = prefix + "embeddings.";
    w[e + "word_embeddings.weight"] = rnd({vocab, kD}, 0.5);
    w[e + "position_embeddings.weight"] = rnd({positions, kD}, 0.5);
    w[e + "token_type_embeddings.weight"] = rnd({types, kD}, 0.5);
    w[e + (oldNames ? "LayerNorm.gamma" : "LayerNorm.weight")] = lnWeight(kD);
    w[e + (oldNames ? "LayerNorm.beta" : "LayerNorm.bias")] = rnd({kD}, 0.1);
    w[e + "position_ids"] = torch::arange(positions, torch::kLong).unsqueeze(0);
    for (int l = 0; l < kL; ++l) {
        const std::string p = prefix + "encoder.layer." + std::to_string(l) + ".";
        for (const char* m : {"attention.self.query", "attention.self.key", "attention.self.value",
                              "attention.output.dense"}) {
            w[p + m + ".weight"] = rnd({kD, kD});
            w[p + m + ".bias"] = rnd({kD}, 0.1);
        }
        w[p + "intermediate.dense.weight"] = rnd({kFf, kD});
        w[p + "intermediate.dense.bias"] = rnd({kFf}, 0.1);
        w[p + "output.dense.weight"] = rnd({kD, kFf});
        w[p + "output.dense.bias"] = rnd({kD}, 0.1);
        for (const char* n : {"attention.output.LayerNorm", "output.LayerNorm"}) {
            w[p + n + ".weight"] = lnWeight(kD);
            w[p + n + ".bias"] = rnd({kD}, 0.1);
        }
    }
    return w;
}

inline Weights gpt2Weights(const std::string& prefix, int64_t positions) {
    Weights w;
    w[prefix + "wte.weight"] = rnd({kVocab, kD}, 0.5);
    w[prefix + "wpe.weight"] = rnd({positions, kD}, 0.5);
    for (int l = 0; l < kL; ++l) {
        const std::string p = prefix + "h." + std::to_string(l) + ".";
        w[p + "ln_1.weight"] = lnWeight(kD);
        w[p + "ln_1.bias"] = rnd({kD}, 0.1);
        w[p + "attn.c_attn.weight"] = rnd({kD, 3 * kD});  // Conv1D: [in, out]
        w[p + "attn.c_attn.bias"] = rnd({3 * kD}, 0.1);
        w[p + "attn.c_proj.weight"] = rnd({kD, kD});
        w[p + "attn.c_proj.bias"] = rnd({kD}, 0.1);
        w[p + "attn.bias"] = torch::ones({1, 1, positions, positions}).tril();  // old checkpoints' buffers
        w[p + "attn.masked_bias"] = torch::tensor(-1e4);
        w[p + "ln_2.weight"] = lnWeight(kD);
        w[p + "ln_2.bias"] = rnd({kD}, 0.1);
        w[p + "mlp.c_fc.weight"] = rnd({kD, kFf});
        w[p + "mlp.c_fc.bias"] = rnd({kFf}, 0.1);
        w[p + "mlp.c_proj.weight"] = rnd({kFf, kD});
        w[p + "mlp.c_proj.bias"] = rnd({kD}, 0.1);
    }
    w[prefix + "ln_f.weight"] = lnWeight(kD);
    w[prefix + "ln_f.bias"] = rnd({kD}, 0.1);
    return w;
}

/// BART / mBART tensors in Hugging Face's naming under `prefix` ("model." or ""); `positions` rows in each
/// position table (max_position_embeddings + 2).
inline Weights bartWeights(const std::string& prefix, int64_t vocab, int64_t positions, bool preLn) {
    Weights w;
    w[prefix + "shared.weight"] = rnd({vocab, kD}, 0.5);
    w[prefix + "encoder.embed_tokens.weight"] = w[prefix + "shared.weight"].clone();  // tied, saved twice
    for (const std::string stack : {"encoder", "decoder"}) {
        const std::string s = prefix + stack + ".";
        w[s + "embed_positions.weight"] = rnd({positions, kD}, 0.5);
        w[s + "layernorm_embedding.weight"] = lnWeight(kD);
        w[s + "layernorm_embedding.bias"] = rnd({kD}, 0.1);
        if (preLn) {
            w[s + "layer_norm.weight"] = lnWeight(kD);
            w[s + "layer_norm.bias"] = rnd({kD}, 0.1);
        }
        for (int l = 0; l < kL; ++l) {
            const std::string p = s + "layers." + std::to_string(l) + ".";
            std::vector<std::string> attns = {"self_attn"};
            if (stack == "decoder") attns.push_back("encoder_attn");
            for (const auto& a : attns) {
                for (const char* m : {".q_proj", ".k_proj", ".v_proj", ".out_proj"}) {
                    w[p + a + m + ".weight"] = rnd({kD, kD});
                    w[p + a + m + ".bias"] = rnd({kD}, 0.1);
                }
                w[p + a + "_layer_norm.weight"] = lnWeight(kD);
                w[p + a + "_layer_norm.bias"] = rnd({kD}, 0.1);
            }
            w[p + "fc1.weight"] = rnd({kFf, kD});
            w[p + "fc1.bias"] = rnd({kFf}, 0.1);
            w[p + "fc2.weight"] = rnd({kD, kFf});
            w[p + "fc2.bias"] = rnd({kD}, 0.1);
            w[p + "final_layer_norm.weight"] = lnWeight(kD);
            w[p + "final_layer_norm.bias"] = rnd({kD}, 0.1);
        }
    }
    w["final_logits_bias"] = rnd({1, vocab}, 0.5);
    w["lm_head.weight"] = w[prefix + "shared.weight"].clone();
    return w;
}

inline json bartConfig(const std::string& type, int64_t vocab, int64_t maxPositions) {
    return {{"model_type", type},
            {"architectures",
             {type == "bart" ? "BartForConditionalGeneration" : "MBartForConditionalGeneration"}},
            {"vocab_size", vocab},
            {"d_model", kD},
            {"encoder_layers", kL},
            {"decoder_layers", kL},
            {"encoder_attention_heads", kH},
            {"decoder_attention_heads", kH},
            {"encoder_ffn_dim", kFf},
            {"decoder_ffn_dim", kFf},
            {"max_position_embeddings", maxPositions},
            {"activation_function", "gelu"},
            {"scale_embedding", type == "mbart"},
            {"pad_token_id", 1},
            {"bos_token_id", 0},
            {"eos_token_id", 2},
            {"decoder_start_token_id", 2},
            {"forced_bos_token_id", type == "bart" ? json(0) : json(nullptr)}};
}

inline void writeJson(const fs::path& path, const json& j) {
    std::ofstream(path) << j.dump(2);
}

/// A WordPiece vocabulary of 40 tokens (ids = line numbers).
inline const std::vector<std::string> kBertVocab = {
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the",   "movie", "was",   "not",  "bad",
    "at",    "all",   "great", ",",     "!",      "?",     "##s",   "good",  "plot", "it",
    "is",    "a",     "film",  "and",   "but",    "fun",   "dull",  "story", "##ly", "very",
    "quite", "so",    "too",   "long",  "short",  "actor", "##ing", "play",  "end",  "."};

inline void writeBertTokenizer(const fs::path& dir) {
    std::ofstream voc(dir / "vocab.txt");
    for (const auto& t : kBertVocab)
        voc << t << "\n";
}

/// A byte-level BPE vocabulary of letters, "Ġ" and a few merges, plus the family's specials.
inline void writeBpeTokenizer(const fs::path& dir, bool roberta) {
    json vocab = json::object();
    int64_t id = 0;
    if (roberta)
        for (const char* s : {"<s>", "<pad>", "</s>", "<unk>"})
            vocab[s] = id++;
    for (char c = 'a'; c <= 'z'; ++c)
        vocab[std::string(1, c)] = id++;
    vocab["Ġ"] = id++;
    for (const char* s : {"th", "he", "the", "Ġm", "Ġthe", "ov"})
        vocab[s] = id++;
    if (!roberta) vocab["<|endoftext|>"] = id++;
    writeJson(dir / "vocab.json", vocab);
    std::ofstream(dir / "merges.txt") << "#version: 0.2\nt h\nh e\nth e\nĠ m\nĠ the\no v\n";
}

inline json bertConfig(const std::string& type, const std::string& arch, int64_t vocab = kVocab,
                       int64_t positions = 24) {
    const bool roberta = type == "roberta";
    return {{"model_type", type},
            {"architectures", {arch}},
            {"vocab_size", vocab},
            {"hidden_size", kD},
            {"num_attention_heads", kH},
            {"num_hidden_layers", kL},
            {"intermediate_size", kFf},
            {"max_position_embeddings", roberta ? positions + 2 : positions},
            {"type_vocab_size", roberta ? 1 : 2},
            {"hidden_act", "gelu"},
            {"layer_norm_eps", roberta ? 1e-5 : 1e-12},
            {"hidden_dropout_prob", 0.1},
            {"attention_probs_dropout_prob", 0.1},
            {"pad_token_id", roberta ? 1 : 0},
            {"id2label", {{"0", "NEGATIVE"}, {"1", "NEUTRAL"}, {"2", "POSITIVE"}}}};
}

inline json gpt2Config(bool tied) {
    return {{"model_type", "gpt2"},
            {"architectures", {"GPT2LMHeadModel"}},
            {"vocab_size", kVocab},
            {"n_embd", kD},
            {"n_head", kH},
            {"n_layer", kL},
            {"n_positions", 24},
            {"n_inner", kFf},
            {"activation_function", "gelu_new"},
            {"layer_norm_epsilon", 1e-5},
            {"tie_word_embeddings", tied},
            {"eos_token_id", kVocab - 1}};
}

}  // namespace hf_fixture
