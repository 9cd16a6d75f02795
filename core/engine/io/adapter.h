// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Adapter folders: what a run trained, apart from its backbone, so it can travel.
//   hf-peft  Hugging Face PEFT's layout (adapter_config.json + adapter_model.safetensors) for LoRA and prefix
//            tuning on a Hugging Face bert / roberta / gpt2 / bart / mbart backbone. LoRA keys are
//            base_model.model.<module path>.lora_A.weight / lora_B.weight with scaling lora_alpha / r;
//            GPT-2's q/k/v LoRAs become one LoRA on the fused c_attn (A stacked, B block-diagonal: the same
//            ΔW); BART's encoder self-attention, decoder self-attention (self_attn) and cross-attention
//            (encoder_attn) are separate modules, as are both stacks' fc1 / fc2. target_modules is a list of
//            name suffixes (with layers_to_transform) when suffixes pick exactly the trained modules, else
//            one regular expression naming each module kind and its layers. Prefix tuning is
//            prompt_embeddings [l, layers·2·d], viewed as [l, 2·layers, heads, d_h] with layer i's keys at 2i
//            and values at 2i+1; on an encoder–decoder (num_transformer_submodules 2) the prefix reaches the
//            decoder's self-attention only, decoder layer j reading rows (4j, 4j+1) mod 2·layers (PEFT
//            doubles the rows and splits them in fours; transformers drops the cross-attention pair), so with
//            an even layer count layers j and j + layers/2 share one prefix. A classification head travels as
//            modules_to_save.
//   native   every method of the design space (adapters, parallel and scaled adapters, multi-head PA, MAM,
//            UniPELT, IA3, …): adapter_config.json {"format": "peft-workbench-adapter", "spec", …} and
//            adapter_model.safetensors with the workbench's own parameter names.
// Importing either onto a loaded backbone applies the spec and loads the tensors; it can then train further,
// evaluate, and show λ(x).
#include <string>

#include <nlohmann/json.hpp>

#include "model/transformer.h"
#include "peft/spec.h"

namespace peft {

struct AdapterInfo {
    std::string format;     // "hf-peft" | "native"
    std::string peft_type;  // LORA | PREFIX_TUNING (hf-peft)
    Spec spec;              // what was applied
    bool has_head = false;  // a classification head came with it
    nlohmann::json config;  // adapter_config.json as read or written
};

/// Writes `model`'s trainable state (its spec applied) to `dir`. `modelType` (bert, roberta, gpt2, …) and
/// `baseModel` (the backbone folder) describe the backbone; `classifier` exports the task head too. hf-peft
/// refuses, naming the reason, a spec it cannot express (then use native).
AdapterInfo exportAdapter(const std::string& dir, const std::string& format, Transformer& model,
                          const std::string& modelType, const std::string& baseModel, bool classifier);

/// Reads an adapter folder (either format), applies its spec to `model` (a backbone without a spec) and loads
/// its tensors. Errors name the file and the key or field.
AdapterInfo importAdapter(const std::string& dir, Transformer& model, const std::string& modelType);

}  // namespace peft
