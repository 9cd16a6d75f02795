// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The backbone's shape. One struct, commented defaults, fail-fast validation. No torch here, so the
// design-space engine (spec, presets, budgets, counts) can reason about a backbone without building it.
#include <cstdint>
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace peft {

enum class Activation { ReLU, GELU, GELUTanh, SiLU, Tanh, Identity };
const char* toString(Activation a);
Activation activationFromString(const std::string& s, const std::string& where);

enum class Pooling { First, Last };  // which token the classification head reads

struct ModelConfig {
    std::string name = "tiny-random";  // a label shown to the user
    int64_t vocab_size = 260;          // byte tokenizer: 256 bytes + 4 specials
    int64_t d_model = 128;             // width d
    int64_t n_heads = 4;               // N_h; d_h = d / N_h
    int64_t n_layers = 4;              // L
    int64_t d_ff = 512;                // FFN width d_m (4d by default)
    int64_t max_positions = 256;       // learned absolute positions
    int64_t type_vocab_size = 0;       // BERT token types; 0 = none
    int64_t position_offset = 0;       // RoBERTa starts positions at padding_idx + 1
    bool causal = true;                // GPT-2: causal; BERT/RoBERTa: bidirectional
    bool pre_ln = true;                // GPT-2: pre-LN (+ final LN); BERT: post-LN (+ embedding LN)
    Activation activation = Activation::GELU;
    double dropout = 0.1;       // embeddings and residual branches
    double attn_dropout = 0.1;  // attention probabilities
    double ln_eps = 1e-5;
    bool tie_embeddings = true;  // LM head shares the token embedding
    int64_t num_labels = 2;      // sequence classification head
    bool cls_dense = false;      // BERT/RoBERTa: dense + tanh before the classifier
    bool cls_bias = true;        // GPT-2's `score` layer has no bias
    Pooling pooling = Pooling::Last;
    int64_t pad_id = 256;
    /// Hugging Face semantics of a prefix (past_key_values of length l): the tokens' positions start at l.
    /// On for the families loaded from Hugging Face folders, so their prefix tuning computes what PEFT does.
    bool prefix_shifts_positions = false;
    /// Encoder–decoder backbones (BART, mBART): the decoder's layers, 0 for one stack. With a decoder,
    /// n_layers is the encoder's; `causal` is false (the encoder reads both ways, the decoder is always
    /// causal); each stack has its own learned positions and embedding LayerNorm, and with `pre_ln` its
    /// final LayerNorm (mBART); decoder layers add cross-attention over the encoder's output.
    int64_t decoder_layers = 0;
    bool scale_embedding = false;   // token embeddings × √d (BART's scale_embedding, mBART-large)
    int64_t decoder_start_id = -1;  // the decoder's first input (BART: </s>); encoder–decoder only
    int64_t forced_bos_id = -1;  // the first generated token, forced (mBART: the target language); −1 none

    bool encoderDecoder() const { return decoder_layers > 0; }

    int64_t headDim() const { return d_model / n_heads; }
    /// The backbone's parameters (embeddings, blocks, final LayerNorm, classification head), computed in
    /// floating point so that no size overflows; for the memory check before anything is allocated.
    double approxParameters() const;
    /// Throws peft::Error naming the offending field (e.g. "n_heads: 5 does not divide d_model 128"): sizes
    /// out of their range, and a model whose float32 weights would not fit in this machine's memory.
    void validate() const;
};

void to_json(nlohmann::json& j, const ModelConfig& c);
void from_json(const nlohmann::json& j, ModelConfig& c);

/// The built-in random byte-level backbone ("tiny-random").
ModelConfig defaultModelConfig();

/// Reads a config JSON file (a backbone folder's config.json; its provenance block is skipped). Errors name
/// the file and the field.
ModelConfig readModelConfig(const std::string& path);

/// The config of the backbone the workbench opens with: the shipped pretrained backbone when it is there
/// (<resources>/backbones/default), else defaultModelConfig().
ModelConfig workbenchDefaultConfig(const std::string& resourcesDir);

}  // namespace peft
