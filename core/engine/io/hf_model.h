// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Hugging Face model folders: config.json + model.safetensors (or a sharded model.safetensors.index.json,
// or PyTorch's pytorch_model.bin / pytorch_model.bin.index.json, read without running any of it) for the
// families bert, roberta, gpt2, bart and mbart, mapped onto the core Transformer, with its tokenizer.
// Names and layouts: GPT-2's Conv1D weights are stored [in, out] and q/k/v fused in c_attn; keys may carry
// the base-model prefix (bert., roberta., transformer., model.) or not; old BERT LayerNorm.gamma/beta; BART's
// shared / embed_tokens / tied lm_head are one tensor and final_logits_bias a buffer; buffers (position_ids,
// attn.bias, attn.masked_bias) are skipped; an absent task head is initialised and reported.
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "data/hf_tokenizer.h"
#include "model/backbone_config.h"
#include "model/transformer.h"

namespace peft {

struct HfModel {
    std::string dir;
    std::string model_type;  // bert | roberta | gpt2 | bart | mbart
    bool causal_lm = false;  // gpt2 / bart / mbart without a sequence-classification head: next-token logits
    ModelConfig config;
    Transformer model{nullptr};
    std::unique_ptr<TextTokenizer> tokenizer;
    std::vector<std::string> notes;    // what the user should know (head initialised, tensors ignored, …)
    std::vector<std::string> ignored;  // tensors in the file that the workbench does not use (MLM heads, …)
};

/// Loads a folder. `num_labels` > 0 sets the classification head's size (a stored head of another size is
/// re-initialised, and a note says so). Missing backbone tensors and shape mismatches are errors listing the
/// names; tensors of heads the workbench does not use are listed in `ignored`; tensors no rule knows are an
/// error too ("unexpected").
HfModel loadHfModel(const std::string& dir, int64_t num_labels = 0, uint64_t seed = 0);

}  // namespace peft
