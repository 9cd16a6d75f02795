// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The transformer backbone (GPT-2: pre-LN, causal; BERT/RoBERTa: post-LN, bidirectional; BART / mBART: an
// encoder and a decoder with cross-attention, post-LN / pre-LN) with the unified view's delta modules
// attached by applySpec(). The attention path is explicit so λ(x) is read from the very logits the forward
// uses.
#include <string>
#include <vector>

#include <torch/torch.h>

#include "model/config.h"
#include "peft/modules.h"
#include "peft/spec.h"

namespace peft {

/// One layer's keys and values of the tokens already read, [B, t, d] after W_k / W_v (and IA3).
struct LayerKv {
    torch::Tensor k, v;
};

class AttentionImpl : public torch::nn::Module {
public:
    AttentionImpl(const ModelConfig& cfg);
    /// x: [B, T, d]; bias: [B, 1, T, t + T], 0 where a query may see a key and −inf elsewhere (t: the tokens
    /// in `kv`, 0 without); pk, pv: [l, d] or undefined. When `lambda` is given and the prefix is gated, it
    /// receives λ [B, H, T]. With `kv`, the new tokens' keys and values are appended to it and attention
    /// reads all of them. Cross-attention (`memory` given, [B, S, d]): keys and values come from the
    /// memory, or from `kv` when an earlier call put them there (computed once per sequence); `bias` is then
    /// [B, 1, T, S].
    torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& bias, const torch::Tensor& pk,
                          const torch::Tensor& pv, torch::Tensor* lambda, LayerKv* kv = nullptr,
                          const torch::Tensor* memory = nullptr);
    void setDropout(double p) { attnDropout_ = p; }
    /// LibTorch's fused scaled-dot-product attention instead of the explicit logits (where it exists; a
    /// forward that captures λ always takes the explicit path, which λ is read from).
    bool fused;
    DeltaLinear q{nullptr}, k{nullptr}, v{nullptr}, o{nullptr};
    HeadDelta head{nullptr};     // prefix / multi-head PA at head attention
    torch::Tensor ia3_k, ia3_v;  // IA3 rescaling vectors [d]

private:
    /// The attention output [B, T, d] before W_o, by fused calls (LibTorch 2.x only).
    torch::Tensor fusedAttention(const torch::Tensor& x, const torch::Tensor& bias, const torch::Tensor& pk,
                                 const torch::Tensor& pv, const torch::Tensor& kh, const torch::Tensor& vh);
    int64_t heads_, headDim_;
    double attnDropout_;
};
TORCH_MODULE(Attention);

/// Whether this LibTorch has fused scaled-dot-product attention (2.x; Debian's 1.13 has not).
bool fusedAttentionAvailable();

/// A decoder layer's cross-attention: the encoder's output [B, S, d] (unread when `kv` already holds its
/// keys and values), the encoder's padding as a bias [B, 1, T, S], the layer's prefix and where λ goes.
struct CrossInput {
    const torch::Tensor* memory = nullptr;
    torch::Tensor bias, pk, pv;
    torch::Tensor* lambda = nullptr;
    LayerKv* kv = nullptr;
};

class BlockImpl : public torch::nn::Module {
public:
    /// `decoder`: a decoder layer of an encoder–decoder (cross-attention between self-attention and FFN).
    BlockImpl(const ModelConfig& cfg, bool decoder = false);
    torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& bias, const torch::Tensor& pk,
                          const torch::Tensor& pv, torch::Tensor* lambda, LayerKv* kv = nullptr,
                          const CrossInput* cross = nullptr);
    void setDropout(double p) {
        dropout_ = p;
        attn->setDropout(p);
        if (!this->cross.is_empty()) this->cross->setDropout(p);
    }
    torch::nn::LayerNorm ln1{nullptr}, ln2{nullptr}, ln_cross{nullptr};
    Attention attn{nullptr}, cross{nullptr};  // cross: decoder layers only
    DeltaLinear w1{nullptr}, w2{nullptr};
    torch::Tensor ia3_ff;  // IA3 on the FFN activation [d_ff]
    SublayerDelta attn_delta{nullptr}, cross_delta{nullptr}, ffn_delta{nullptr};  // adapters at the sublayers

private:
    bool preLn_;
    Activation act_;
    double dropout_;
};
TORCH_MODULE(Block);

/// What a causal model has read so far, so that decoding feeds only each step's new token: every layer's
/// keys and values, which of them are real tokens, and the prefix keys/values (computed once, by the first
/// forward). Empty until the first forward that uses it.
/// An encoder–decoder's cache is its decoder's, plus each layer's cross-attention keys and values of the
/// encoder's output (computed by the first forward, read by every later one without the encoder).
struct DecodeCache {
    std::vector<LayerKv> layers;
    std::vector<std::pair<torch::Tensor, torch::Tensor>> prefixes;  // per layer (P_k, P_v) or undefined
    torch::Tensor key_valid;                                        // [B, t] bool: token (1) or padding (0)
    int64_t length = 0;          // t: positions read, prompt-tuning tokens included
    std::vector<LayerKv> cross;  // encoder–decoder: per decoder layer
    std::vector<std::pair<torch::Tensor, torch::Tensor>> cross_prefixes;  // per decoder layer
    torch::Tensor memory_valid;  // [B, S] bool: the encoder's tokens (1) or padding (0)
    /// Row i becomes the old row index[i] (beam search: each hypothesis continues its parent's cache).
    void reorder(const torch::Tensor& index);
};

struct ForwardOptions {
    bool lm = true;               // compute LM logits [B, T, V]
    bool cls = false;             // compute classification logits [B, C]
    bool capture_lambda = false;  // fill ForwardResult::lambda
    /// Causal models and encoder–decoders only: `ids` (an encoder–decoder's `decoder_ids`) continue the
    /// sequences in the cache (positions, keys and values), which then holds them too. Prompt-tuning tokens
    /// are prepended on the first forward only; an encoder–decoder runs its encoder on the first forward
    /// only (later ones may pass undefined `ids`).
    DecodeCache* cache = nullptr;
    /// Encoder–decoders: the decoder's input [B, T'] and mask (`ids` and `mask` are the encoder's). When
    /// undefined, `ids` shifted right after decoder_start_id (BART's classification reads this).
    torch::Tensor decoder_ids, decoder_mask;
};

struct ForwardResult {
    torch::Tensor hidden;      // [B, T, d], final hidden states of the real tokens (the decoder's)
    torch::Tensor lm_logits;   // [B, T, V]
    torch::Tensor cls_logits;  // [B, C]
    torch::Tensor lambda;      // [L, B, H, T]; 0 in layers without a gated prefix (the encoder's)
    /// Encoder–decoders: the encoder's output [B, S, d] (undefined when a cache already held it), and λ of
    /// the decoder's self- and cross-attention [L_dec, B, H, T'].
    torch::Tensor encoder_hidden, decoder_lambda, cross_lambda;
};

/// One trainable group of the model for accounting: a delta module (per layer) or a backbone part.
struct DeltaRecord {
    std::string name;
    int64_t layer = -1;
    std::vector<torch::Tensor> params;
};

class TransformerImpl : public torch::nn::Module {
public:
    explicit TransformerImpl(const ModelConfig& cfg);

    /// ids: [B, T] int64; mask: [B, T] (1 = token, 0 = right padding) or undefined; types: [B, T] or
    /// undefined.
    ForwardResult forward(const torch::Tensor& ids, const torch::Tensor& mask = {},
                          const torch::Tensor& types = {}, const ForwardOptions& opts = {});

    /// Freezes the backbone, attaches the spec's delta modules and unfreezes what the spec trains
    /// (the task head always trains). Validates the spec first; may be called once.
    void applySpec(const Spec& spec);
    bool hasSpec() const { return specApplied_; }
    const Spec& spec() const { return spec_; }
    const ModelConfig& config() const { return cfg_; }
    /// One dropout rate for the embeddings, residual branches, pooled output and attention probabilities
    /// from now on (fine-tuning's choice; config().dropout / attn_dropout report it).
    void setDropout(double p);
    /// kAttentionPaths: "auto" (the default: fused where available), "fused" (refused without it, naming
    /// this LibTorch) or "explicit".
    void setAttentionPath(const std::string& path);

    /// How many input tokens fit: max_positions less prompt-tuning tokens and, where a prefix shifts the
    /// positions (Hugging Face semantics), less the longest gated prefix. An encoder–decoder's encoder input.
    int64_t maxInputTokens() const;
    /// The decoder's positions an encoder–decoder has (less a shifting decoder self-attention prefix).
    int64_t maxDecoderTokens() const;
    /// What trains, grouped like countParams(): one record per delta module and layer.
    const std::vector<DeltaRecord>& deltaRecords() const { return records_; }
    std::vector<torch::Tensor> trainableParameters() const;
    /// Folds every LoRA into its weight (see DeltaLinearImpl::mergeLora).
    void mergeLora();

    /// The only stack's or the encoder's modules, then an encoder–decoder's decoder (dec_*, its own
    /// positions and LayerNorms; the token embedding is shared).
    torch::nn::Embedding tok{nullptr}, pos{nullptr}, type{nullptr}, dec_pos{nullptr};
    torch::nn::LayerNorm emb_ln{nullptr}, ln_f{nullptr}, dec_emb_ln{nullptr}, dec_ln_f{nullptr};
    std::vector<Block> blocks, dec_blocks;
    torch::Tensor final_logits_bias;     // encoder–decoder: a buffer [V] added to the LM logits (BART)
    torch::nn::Linear lm_head{nullptr};  // untied only
    torch::nn::Linear cls_dense{nullptr}, classifier{nullptr};
    torch::Tensor prompt;  // prompt tuning [l, d]
    PrefixMlp prefix_mlp{nullptr}, dec_prefix_mlp{nullptr}, cross_prefix_mlp{nullptr};  // per stack

    /// Per-layer (P_k, P_v) [l, d] of a stack's attention for this forward (from the stack's shared MLP or
    /// each layer's own parameters); undefined in layers without a prefix.
    std::vector<std::pair<torch::Tensor, torch::Tensor>> layerPrefixes(Stack stack = Stack::Encoder);
    /// A stack's blocks (cross: the decoder's), a layer's attention of a stack, a stack's prefix MLP.
    std::vector<Block>& stackBlocks(Stack s) { return s == Stack::Encoder ? blocks : dec_blocks; }
    Attention& attention(Stack s, size_t layer);
    PrefixMlp& prefixMlp(Stack s);

private:
    struct StackOut {
        torch::Tensor full, hidden;          // [B, P+T, d] with prompt-tuning tokens, [B, T, d] without
        torch::Tensor lambda, cross_lambda;  // [L, B, H, T]
        torch::Tensor valid;                 // [B, P+T]: which of `full` are tokens
    };
    /// One stack over `ids` (the encoder's or only stack's, or the decoder's reading `memory`).
    StackOut runStack(Stack stack, const torch::Tensor& ids, const torch::Tensor& mask,
                      const torch::Tensor& types, bool captureLambda, DecodeCache* cache,
                      const torch::Tensor* memory, const torch::Tensor& memoryValid);
    /// The longest gated prefix of a stack's self-attention that shifts its positions (Hugging Face).
    int64_t positionShift(Stack s, const std::vector<std::pair<torch::Tensor, torch::Tensor>>& prefixes);
    torch::nn::ModuleList blockList_{nullptr}, decBlockList_{nullptr};  // blocks.0, …, dec_blocks.0, …
    ModelConfig cfg_;
    Spec spec_;
    bool specApplied_ = false;
    std::vector<int64_t> mlpLayers_[3];  // per stack: the layers fed by its prefix MLP, in its output order
    std::vector<DeltaRecord> records_;
};
TORCH_MODULE(Transformer);

/// A backbone with deterministic random weights (seeded), e.g. the default until a pretrained one loads.
Transformer makeRandomBackbone(const ModelConfig& cfg, uint64_t seed);

/// Total number of elements of tensors.
int64_t numel(const std::vector<torch::Tensor>& ts);

}  // namespace peft
