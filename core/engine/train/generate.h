// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Greedy and beam-search decoding over a next-token function, so the search is testable on its own
// and runs on any causal model (the source is the prompt) or encoder–decoder (the source is the encoder's
// input; the decoder starts from decoder_start_id).
#include <cstdint>
#include <functional>
#include <vector>

#include <torch/torch.h>

#include "model/transformer.h"

namespace peft {

struct GenerateOptions {
    int beam_size = 1;            // 1 = greedy
    double length_penalty = 1.0;  // score = Σ log p / (generated length)^length_penalty
    int64_t max_new_tokens = 32;
    int no_repeat_ngram = 0;  // forbid repeating any n-gram of this size (0 = off)
    int64_t eos_id = 0;
    int64_t min_new_tokens = 0;  // <eos> is not chosen before this many tokens
    int64_t forced_first = -1;   // the first generated token, when ≥ 0 (mBART's target language code)
    /// Keep every layer's keys and values (and the prefix's; an encoder–decoder's encoder output as each
    /// layer's cross-attention keys and values) between steps and feed only the new token; off: re-read
    /// the whole sequence (and re-run the encoder) each step. Both give the same tokens.
    bool kv_cache = true;
};

/// Log-probabilities of the next token [N, V] for N full sequences (prompt + generated so far). `parents[i]`
/// is the row of the previous call that seqs[i] extends by one token (empty on the first call), so a model
/// with a cache can keep it.
using NextTokenFn = std::function<torch::Tensor(const std::vector<std::vector<int64_t>>& seqs,
                                                const std::vector<size_t>& parents)>;

/// The generated tokens (without the prompt, without <eos>).
std::vector<int64_t> decode(const std::vector<int64_t>& prompt, const NextTokenFn& next,
                            const GenerateOptions& opts);

/// decode() with a causal model's LM head, or an encoder–decoder's reading `prompt` as its source (eval
/// mode, no gradients; the config's forced_bos_id is forced first unless opts say otherwise).
std::vector<int64_t> generate(Transformer& model, const std::vector<int64_t>& prompt,
                              const GenerateOptions& opts, int64_t pad_id);

}  // namespace peft
