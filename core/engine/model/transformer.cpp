// SPDX-License-Identifier: GPL-3.0-or-later
#include "model/transformer.h"

#include <torch/version.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "peft/accounting.h"
#include "train/train_config.h"
#include "util/error.h"

// LibTorch 2.x has fused scaled-dot-product attention (flash / memory-efficient kernels on GPUs, a fused
// kernel on CPUs); Debian's 1.13 does not.
#if TORCH_VERSION_MAJOR >= 2
#define PEFT_HAVE_SDPA 1
#endif

namespace peft {

namespace F = torch::nn::functional;

namespace {

torch::Tensor maybeDropout(const torch::Tensor& x, double p, bool training) {
    if (p <= 0.0 || !training) return x;
    return F::dropout(x, F::DropoutFuncOptions().p(p).training(true));
}

torch::nn::LayerNorm layerNorm(int64_t d, double eps) {
    return torch::nn::LayerNorm(torch::nn::LayerNormOptions({d}).eps(eps));
}

/// A 2-D slice BLAS can read in place: one of its two innermost strides is 1.
torch::Tensor blasReady(const torch::Tensor& t) {
    return t.stride(-1) == 1 || t.stride(-2) == 1 ? t : t.contiguous();
}

/// [B, H, M, K] × [B, H, K, P] → [B, H, M, P] as one BLAS product per (batch, head), reading the strided
/// head slices in place (no transpose copies). With `headsInner` the result lives in [B, M, H, P] memory,
/// so `.transpose(1, 2)` of it is contiguous (the attention output before W_o). On CPU, LibTorch 1.13's
/// bmm runs these small products several times slower than one mm per matrix (measured: 4.2 ms vs
/// 1.5 ms for 128 × [128, 64] × [64, 128] on 2 cores), and matmul would also copy the transposed heads.
torch::Tensor headMatmul(const torch::Tensor& a, const torch::Tensor& b, bool headsInner) {
    const torch::Tensor A = blasReady(a), Bm = blasReady(b);
    const int64_t nb = A.size(0), nh = A.size(1), M = A.size(2), P = Bm.size(3);
    torch::Tensor out = headsInner ? torch::empty({nb, M, nh, P}, A.options()).transpose(1, 2)
                                   : torch::empty({nb, nh, M, P}, A.options());
    for (int64_t i = 0; i < nb; ++i)
        for (int64_t h = 0; h < nh; ++h) {
            torch::Tensor o = out[i][h];
            at::mm_out(o, A[i][h], Bm[i][h]);
        }
    return out;
}

class HeadMatmulFunction : public torch::autograd::Function<HeadMatmulFunction> {
public:
    static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& a,
                                 const torch::Tensor& b, bool headsInner) {
        ctx->save_for_backward({a, b});
        return headMatmul(a, b, headsInner);
    }
    static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::tensor_list grads) {
        const auto saved = ctx->get_saved_variables();
        torch::Tensor ga, gb;
        if (ctx->needs_input_grad(0))
            ga = headMatmul(grads[0], saved[1].transpose(-2, -1), false);  // dA = dC Bᵀ
        if (ctx->needs_input_grad(1))
            gb = headMatmul(saved[0].transpose(-2, -1), grads[0], false);  // dB = Aᵀ dC
        return {ga, gb, torch::Tensor()};
    }
};

/// Per-head attention products [B, H, M, K] × [B, H, K, P].
torch::Tensor attnMatmul(const torch::Tensor& a, const torch::Tensor& b, bool headsInner = false) {
    if (!a.device().is_cpu()) return torch::matmul(a, b);
    // Under autocast one operand may already be in the lower precision (bfloat16) and the other in float32
    // (e.g. float32 softmax weights × bfloat16 values): both go to the lower one, as autocast's matmul does.
    if (a.scalar_type() != b.scalar_type()) {
        const auto t = a.scalar_type() == torch::kFloat ? b.scalar_type() : a.scalar_type();
        return HeadMatmulFunction::apply(a.to(t), b.to(t), headsInner);
    }
    return HeadMatmulFunction::apply(a, b, headsInner);
}

}  // namespace

int64_t numel(const std::vector<torch::Tensor>& ts) {
    int64_t n = 0;
    for (const auto& t : ts)
        n += t.numel();
    return n;
}

// ----- Attention -------------------------------------------------------------------------------------

AttentionImpl::AttentionImpl(const ModelConfig& cfg)
    : fused(fusedAttentionAvailable()),
      heads_(cfg.n_heads),
      headDim_(cfg.headDim()),
      attnDropout_(cfg.attn_dropout) {
    const int64_t d = cfg.d_model;
    q = register_module("q", DeltaLinear(d, d));
    k = register_module("k", DeltaLinear(d, d));
    v = register_module("v", DeltaLinear(d, d));
    o = register_module("o", DeltaLinear(d, d));
}

#ifdef PEFT_HAVE_SDPA
torch::Tensor AttentionImpl::fusedAttention(const torch::Tensor& x, const torch::Tensor& bias,
                                            const torch::Tensor& pk, const torch::Tensor& pv,
                                            const torch::Tensor& kh, const torch::Tensor& vh) {
    const int64_t B = x.size(0), T = x.size(1), H = heads_, dh = headDim_;
    // Unscaled queries: the fused call divides by √d_h itself.
    const torch::Tensor qh = q->forward(x).view({B, T, H, dh}).transpose(1, 2);  // [B, H, T, d_h]
    const double p = is_training() ? attnDropout_ : 0.0;
    const bool hasHead = !head.is_empty() && pk.defined();
    torch::Tensor out;
    if (hasHead) {
        const int64_t l = pk.size(0);
        const torch::Tensor pkh = pk.view({l, H, dh}).transpose(0, 1).unsqueeze(0).expand({B, H, l, dh});
        const torch::Tensor pvh = pv.view({l, H, dh}).transpose(0, 1).unsqueeze(0).expand({B, H, l, dh});
        if (head->gated()) {
            // One softmax over [P_k ; C W_k] (the prefix never masked) is (1−λ)·Attn(C) + λ·Attn(P) exactly,
            // λ included, so the fused kernel's own backward gives the exact gradients.
            const torch::Tensor mask =
                torch::cat({torch::zeros({B, 1, T, l}, bias.options()), bias}, -1).to(qh.scalar_type());
            out = at::scaled_dot_product_attention(qh, torch::cat({pkh.to(kh.scalar_type()), kh}, 2),
                                                   torch::cat({pvh.to(vh.scalar_type()), vh}, 2), mask, p,
                                                   false);
        } else {
            const torch::Tensor h =
                at::scaled_dot_product_attention(qh, kh, vh, bias.to(qh.scalar_type()), p, false);
            const double scale = 1.0 / std::sqrt(static_cast<double>(dh));
            const torch::Tensor plogits = torch::matmul(qh * scale, pkh.transpose(-2, -1));  // [B, H, T, l]
            torch::Tensor w =
                head->form() == Form::Prefix ? torch::softmax(plogits, -1) : torch::relu(plogits);
            w = maybeDropout(w, attnDropout_, is_training());
            out = head->composer->compose(h, torch::matmul(w, pvh), h);
        }
    } else {
        out = at::scaled_dot_product_attention(qh, kh, vh, bias.to(qh.scalar_type()), p, false);
    }
    return out.transpose(1, 2).reshape({B, T, H * dh});
}
#endif

bool fusedAttentionAvailable() {
#ifdef PEFT_HAVE_SDPA
    return true;
#else
    return false;
#endif
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& bias,
                                     const torch::Tensor& pk, const torch::Tensor& pv, torch::Tensor* lambda,
                                     LayerKv* kv, const torch::Tensor* memory) {
    const int64_t B = x.size(0), T = x.size(1), H = heads_, dh = headDim_;
    auto split = [&](const torch::Tensor& t) {
        return t.view({B, -1, H, dh}).transpose(1, 2);
    };  // [B, H, T, d_h]
    torch::Tensor kx, vx;
    if (memory && kv && kv->k.defined()) {  // cross-attention: the memory's keys and values, computed once
        kx = kv->k;
        vx = kv->v;
    } else {
        const torch::Tensor& source = memory ? *memory : x;
        kx = k->forward(source);
        vx = v->forward(source);
        if (ia3_k.defined()) kx = kx * ia3_k;
        if (ia3_v.defined()) vx = vx * ia3_v;
        if (kv) {
            if (!memory && kv->k.defined()) {
                kx = torch::cat({kv->k, kx}, 1);  // [B, t + T, d]
                vx = torch::cat({kv->v, vx}, 1);
            }
            kv->k = kx;
            kv->v = vx;
        }
    }
    const int64_t S = kx.size(1);  // keys: cached and new
    const double scale = 1.0 / std::sqrt(static_cast<double>(dh));
    const bool hasHead = !head.is_empty() && pk.defined();
#ifdef PEFT_HAVE_SDPA
    if (fused && !lambda) return o->forward(fusedAttention(x, bias, pk, pv, split(kx), split(vx)));
#endif
    const torch::Tensor qh = split(q->forward(x) * scale), kh = split(kx),
                        vh = split(vx);  // q already / √d_h

    // `bias` is 0 where a query may see a key and −inf elsewhere, broadcast over heads.
    const torch::Tensor logits = attnMatmul(qh, kh.transpose(-2, -1)) + bias;  // [B, H, T, S]

    torch::Tensor out;
    if (hasHead) {
        const int64_t l = pk.size(0);
        const torch::Tensor pkh = pk.view({l, H, dh}).transpose(0, 1);           // [H, l, d_h]
        const torch::Tensor pvh = pv.view({l, H, dh}).transpose(0, 1);           // [H, l, d_h]
        const torch::Tensor plogits = torch::matmul(qh, pkh.transpose(-2, -1));  // [B, H, T, l], never masked
        if (head->gated()) {
            // Prefix tuning: one softmax over [P_k ; C W_k]. Its prefix share is λ(x), so
            // out = (1−λ)·Attn(x W_q, C W_k, C W_v) + λ·Attn(x W_q, P_k, P_v) exactly.
            torch::Tensor probs = torch::softmax(torch::cat({plogits, logits}, -1), -1);  // [B, H, T, l+S]
            if (lambda) *lambda = probs.narrow(-1, 0, l).sum(-1);                         // [B, H, T]
            probs = maybeDropout(probs, attnDropout_, is_training());
            out = torch::matmul(probs.narrow(-1, 0, l), pvh) + attnMatmul(probs.narrow(-1, l, S), vh);
        } else {
            torch::Tensor probs = maybeDropout(torch::softmax(logits, -1), attnDropout_, is_training());
            const torch::Tensor h = attnMatmul(probs, vh, true);  // [B, H, T, d_h]
            torch::Tensor w =
                head->form() == Form::Prefix ? torch::softmax(plogits, -1) : torch::relu(plogits);
            w = maybeDropout(w, attnDropout_, is_training());
            out = head->composer->compose(h, torch::matmul(w, pvh), h);  // per head, before W_o
        }
    } else {
        const torch::Tensor probs = maybeDropout(torch::softmax(logits, -1), attnDropout_, is_training());
        out = attnMatmul(probs, vh, true);  // [B, H, T, d_h]
    }
    out = out.transpose(1, 2).reshape({B, T, H * dh});  // [B, T, d]; no copy when laid out heads-inner
    return o->forward(out);
}

// ----- DecodeCache -----------------------------------------------------------------------------------

void DecodeCache::reorder(const torch::Tensor& index) {
    if (length == 0) return;
    const torch::Tensor idx = index.to(key_valid.device(), torch::kLong);
    for (std::vector<LayerKv>* kvs : {&layers, &cross})
        for (LayerKv& l : *kvs) {
            l.k = l.k.index_select(0, idx);
            l.v = l.v.index_select(0, idx);
        }
    key_valid = key_valid.index_select(0, idx);
    if (memory_valid.defined()) memory_valid = memory_valid.index_select(0, idx);
}

// ----- Block -----------------------------------------------------------------------------------------

BlockImpl::BlockImpl(const ModelConfig& cfg, bool decoder)
    : preLn_(cfg.pre_ln), act_(cfg.activation), dropout_(cfg.dropout) {
    ln1 = register_module("ln1", layerNorm(cfg.d_model, cfg.ln_eps));
    attn = register_module("attn", Attention(cfg));
    if (decoder) {
        ln_cross = register_module("ln_cross", layerNorm(cfg.d_model, cfg.ln_eps));
        cross = register_module("cross", Attention(cfg));
    }
    ln2 = register_module("ln2", layerNorm(cfg.d_model, cfg.ln_eps));
    w1 = register_module("w1", DeltaLinear(cfg.d_model, cfg.d_ff));
    w2 = register_module("w2", DeltaLinear(cfg.d_ff, cfg.d_model));
}

torch::Tensor BlockImpl::forward(const torch::Tensor& x, const torch::Tensor& bias, const torch::Tensor& pk,
                                 const torch::Tensor& pv, torch::Tensor* lambda, LayerKv* kv,
                                 const CrossInput* in) {
    const bool train = is_training();
    // Attention sublayer. `a` is the input as the sublayer reads it (after the pre-LN in pre-LN layouts).
    torch::Tensor a = preLn_ ? ln1->forward(x) : x;
    torch::Tensor h = maybeDropout(attn->forward(a, bias, pk, pv, lambda, kv), dropout_, train);
    if (!attn_delta.is_empty()) h = attn_delta->apply(a, h);
    torch::Tensor y = preLn_ ? x + h : ln1->forward(x + h);

    // Cross-attention sublayer (decoder layers): queries from y, keys and values from the encoder.
    if (in) {
        const torch::Tensor c = preLn_ ? ln_cross->forward(y) : y;
        h = maybeDropout(cross->forward(c, in->bias, in->pk, in->pv, in->lambda, in->kv, in->memory),
                         dropout_, train);
        if (!cross_delta.is_empty()) h = cross_delta->apply(c, h);
        y = preLn_ ? y + h : ln_cross->forward(y + h);
    }

    // FFN sublayer.
    torch::Tensor f = preLn_ ? ln2->forward(y) : y;
    torch::Tensor act = activate(w1->forward(f), act_);  // [B, T, d_m]
    if (ia3_ff.defined()) act = act * ia3_ff;
    h = maybeDropout(w2->forward(act), dropout_, train);
    if (!ffn_delta.is_empty()) h = ffn_delta->apply(f, h);
    return preLn_ ? y + h : ln2->forward(y + h);
}

// ----- Transformer -----------------------------------------------------------------------------------

TransformerImpl::TransformerImpl(const ModelConfig& cfg) : cfg_(cfg) {
    cfg_.validate();
    const int64_t d = cfg_.d_model;
    const bool encDec = cfg_.encoderDecoder();
    tok = register_module("tok", torch::nn::Embedding(cfg_.vocab_size, d));
    pos = register_module("pos", torch::nn::Embedding(cfg_.max_positions + cfg_.position_offset, d));
    if (cfg_.type_vocab_size > 0)
        type = register_module("type", torch::nn::Embedding(cfg_.type_vocab_size, d));
    if (!cfg_.pre_ln || encDec) emb_ln = register_module("emb_ln", layerNorm(d, cfg_.ln_eps));
    blockList_ = register_module("blocks", torch::nn::ModuleList());
    for (int64_t i = 0; i < cfg_.n_layers; ++i) {
        blocks.push_back(Block(cfg_));
        blockList_->push_back(blocks.back());
    }
    if (cfg_.pre_ln) ln_f = register_module("ln_f", layerNorm(d, cfg_.ln_eps));
    if (encDec) {
        dec_pos =
            register_module("dec_pos", torch::nn::Embedding(cfg_.max_positions + cfg_.position_offset, d));
        dec_emb_ln = register_module("dec_emb_ln", layerNorm(d, cfg_.ln_eps));
        decBlockList_ = register_module("dec_blocks", torch::nn::ModuleList());
        for (int64_t i = 0; i < cfg_.decoder_layers; ++i) {
            dec_blocks.push_back(Block(cfg_, true));
            decBlockList_->push_back(dec_blocks.back());
        }
        if (cfg_.pre_ln) dec_ln_f = register_module("dec_ln_f", layerNorm(d, cfg_.ln_eps));
        final_logits_bias = register_buffer("final_logits_bias", torch::zeros({cfg_.vocab_size}));
    }
    if (!cfg_.tie_embeddings)
        lm_head = register_module(
            "lm_head", torch::nn::Linear(torch::nn::LinearOptions(d, cfg_.vocab_size).bias(false)));
    if (cfg_.cls_dense) cls_dense = register_module("cls_dense", torch::nn::Linear(d, d));
    classifier = register_module(
        "classifier", torch::nn::Linear(torch::nn::LinearOptions(d, cfg_.num_labels).bias(cfg_.cls_bias)));
}

Attention& TransformerImpl::attention(Stack s, size_t layer) {
    Block& b = stackBlocks(s).at(layer);
    return s == Stack::Cross ? b->cross : b->attn;
}

PrefixMlp& TransformerImpl::prefixMlp(Stack s) {
    return s == Stack::Encoder ? prefix_mlp : s == Stack::Decoder ? dec_prefix_mlp : cross_prefix_mlp;
}

int64_t TransformerImpl::maxInputTokens() const {
    int64_t prompt = 0, shift = 0;
    for (const Modification& m : spec_.modifications) {
        if (m.form == Form::Prompt) prompt += m.l;
        // An encoder reads no past, so no prefix moves its positions.
        if (cfg_.prefix_shifts_positions && !cfg_.encoderDecoder() && m.form == Form::Prefix &&
            m.composition == Composition::Gated)
            shift = std::max(shift, m.l);
    }
    return cfg_.max_positions - prompt - shift;
}

int64_t TransformerImpl::maxDecoderTokens() const {
    int64_t shift = 0;
    for (const Modification& m : spec_.modifications) {
        const auto stacks = stacksOf(m, cfg_);
        if (cfg_.prefix_shifts_positions && m.form == Form::Prefix && m.composition == Composition::Gated &&
            std::find(stacks.begin(), stacks.end(), Stack::Decoder) != stacks.end())
            shift = std::max(shift, m.l);
    }
    return cfg_.max_positions - shift;
}

std::vector<std::pair<torch::Tensor, torch::Tensor>> TransformerImpl::layerPrefixes(Stack stack) {
    const size_t n = stackBlocks(stack).size();
    std::vector<std::pair<torch::Tensor, torch::Tensor>> out(n);
    PrefixMlp& mlp = prefixMlp(stack);
    if (!mlp.is_empty()) {
        const std::vector<int64_t>& layers = mlpLayers_[static_cast<int>(stack)];
        const torch::Tensor p = mlp->forward();  // [L_sel, 2, l, d]
        for (size_t i = 0; i < layers.size(); ++i)
            out[static_cast<size_t>(layers[i])] = {p[static_cast<int64_t>(i)][0],
                                                   p[static_cast<int64_t>(i)][1]};
    }
    for (size_t i = 0; i < n; ++i) {
        const auto& head = attention(stack, i)->head;
        if (!head.is_empty() && head->pk.defined()) out[i] = {head->pk, head->pv};
    }
    return out;
}

int64_t TransformerImpl::positionShift(Stack s,
                                       const std::vector<std::pair<torch::Tensor, torch::Tensor>>& prefixes) {
    // Hugging Face's prefix tuning hands the prefix to the model as a cache of length l, so the tokens'
    // positions continue after it (an encoder–decoder's decoder only: its encoder reads no past).
    if (!cfg_.prefix_shifts_positions || (cfg_.encoderDecoder() && s != Stack::Decoder)) return 0;
    int64_t shift = 0;
    for (size_t i = 0; i < prefixes.size(); ++i) {
        const auto& head = attention(s, i)->head;
        if (prefixes[i].first.defined() && !head.is_empty() && head->gated())
            shift = std::max(shift, prefixes[i].first.size(0));
    }
    return shift;
}

TransformerImpl::StackOut TransformerImpl::runStack(Stack stack, const torch::Tensor& ids,
                                                    const torch::Tensor& mask, const torch::Tensor& types,
                                                    bool captureLambda, DecodeCache* cache,
                                                    const torch::Tensor* memory,
                                                    const torch::Tensor& memoryValid) {
    TORCH_CHECK(ids.defined() && ids.dim() == 2, "ids must be [B, T]");
    const bool decoder = stack == Stack::Decoder;
    std::vector<Block>& blks = stackBlocks(stack);
    const int64_t past = cache ? cache->length : 0;  // positions already read (in the cache)
    if (cache && past > 0 && cache->key_valid.size(0) != ids.size(0))
        throw Error("decode", "the cache holds " + std::to_string(cache->key_valid.size(0)) +
                                  " sequences, the input " + std::to_string(ids.size(0)));
    const int64_t B = ids.size(0), T = ids.size(1), d = cfg_.d_model;
    // Prompt-tuning tokens prepended to the (encoder's) input (once: a cache already holds them).
    const int64_t P = !decoder && prompt.defined() && past == 0 ? prompt.size(0) : 0;
    const int64_t total = P + T;
    if (cache && past == 0) {
        cache->prefixes = layerPrefixes(stack);
        cache->layers.assign(blks.size(), LayerKv{});
        if (decoder) {
            cache->cross_prefixes = layerPrefixes(Stack::Cross);
            cache->cross.assign(blks.size(), LayerKv{});
            cache->memory_valid = memoryValid;
        }
    }
    const auto prefixes = cache ? cache->prefixes : layerPrefixes(stack);
    const int64_t shift = positionShift(stack, prefixes);
    if (past + total + shift > cfg_.max_positions)
        throw Error("input", std::to_string(past + T) + (decoder ? " decoder" : "") + " tokens" +
                                 (P ? " + " + std::to_string(P) + " prompt tokens" : "") +
                                 (shift ? " after a prefix of " + std::to_string(shift) : "") +
                                 " exceed max_positions " + std::to_string(cfg_.max_positions));
    const auto dev = ids.device();

    torch::Tensor x = tok->forward(ids);  // [B, T, d]
    if (cfg_.scale_embedding) x = x * std::sqrt(static_cast<double>(d));
    if (P) x = torch::cat({prompt.unsqueeze(0).expand({B, P, d}), x}, 1);  // [B, P+T, d]
    const int64_t first = cfg_.position_offset + shift + past;
    const auto longs = torch::TensorOptions().dtype(torch::kLong).device(dev);
    const torch::Tensor positions = torch::arange(first, first + total, longs);
    x = x + (decoder ? dec_pos : pos)->forward(positions).unsqueeze(0);
    if (!decoder && !type.is_empty()) {
        torch::Tensor t = types.defined() ? types : torch::zeros_like(ids);
        if (P) t = torch::cat({torch::zeros({B, P}, t.options()), t}, 1);
        x = x + type->forward(t);
    }
    torch::nn::LayerNorm& embLn = decoder ? dec_emb_ln : emb_ln;
    if (!embLn.is_empty()) x = embLn->forward(x);
    x = maybeDropout(x, cfg_.dropout, is_training());

    // allowed[b, 0, i, j]: query i (position past + i) may attend to key j (cached keys first).
    torch::Tensor keyValid =
        mask.defined() ? mask.to(torch::kBool)
                       : torch::ones({B, T}, torch::TensorOptions().dtype(torch::kBool).device(dev));
    if (P) keyValid = torch::cat({torch::ones({B, P}, keyValid.options()), keyValid}, 1);  // [B, P+T]
    StackOut out;
    out.valid = keyValid;
    if (cache) {
        if (past > 0) keyValid = torch::cat({cache->key_valid, keyValid}, 1);  // [B, past + P + T]
        cache->key_valid = keyValid;
    }
    const int64_t keys = past + total;
    torch::Tensor allowed = keyValid.view({B, 1, 1, keys});
    if (decoder || cfg_.causal)
        allowed = allowed.logical_and(
            (torch::arange(past, keys, longs).view({total, 1}) >= torch::arange(keys, longs).view({1, keys}))
                .view({1, 1, total, keys}));  // [B, 1, T, past + T]
    else
        allowed = allowed.expand({B, 1, total, keys});
    const double ninf = -std::numeric_limits<float>::infinity();
    const torch::Tensor bias =
        torch::zeros({B, 1, total, keys}, x.options()).masked_fill(allowed.logical_not(), ninf);

    // Cross-attention reads every real token of the encoder's output.
    const torch::Tensor noMemory;
    CrossInput in;
    std::vector<std::pair<torch::Tensor, torch::Tensor>> crossPrefixes;
    if (decoder) {
        const torch::Tensor valid = cache ? cache->memory_valid : memoryValid;  // [B, S]
        const int64_t S = valid.size(1);
        in.memory = memory ? memory : &noMemory;
        in.bias = torch::zeros({B, 1, 1, S}, x.options())
                      .masked_fill(valid.view({B, 1, 1, S}).logical_not(), ninf)
                      .expand({B, 1, total, S});
        crossPrefixes = cache ? cache->cross_prefixes : layerPrefixes(Stack::Cross);
    }

    std::vector<torch::Tensor> lambdas, crossLambdas;
    auto lambdaOrZero = [&](const torch::Tensor& lam) {
        return lam.defined() ? lam : torch::zeros({B, cfg_.n_heads, total}, x.options());
    };
    for (size_t i = 0; i < blks.size(); ++i) {
        torch::Tensor lam, crossLam;
        if (decoder) {
            in.pk = crossPrefixes[i].first;
            in.pv = crossPrefixes[i].second;
            in.lambda = captureLambda ? &crossLam : nullptr;
            in.kv = cache ? &cache->cross[i] : nullptr;
        }
        x = blks[i]->forward(x, bias, prefixes[i].first, prefixes[i].second, captureLambda ? &lam : nullptr,
                             cache ? &cache->layers[i] : nullptr, decoder ? &in : nullptr);
        if (captureLambda) {
            lambdas.push_back(lambdaOrZero(lam));
            if (decoder) crossLambdas.push_back(lambdaOrZero(crossLam));
        }
    }
    torch::nn::LayerNorm& finalLn = decoder ? dec_ln_f : ln_f;
    if (!finalLn.is_empty()) x = finalLn->forward(x);
    if (cache) cache->length = keys;

    out.full = x;
    out.hidden = P ? x.narrow(1, P, T) : x;  // [B, T, d]
    if (captureLambda) {
        out.lambda = torch::stack(lambdas);  // [L, B, H, P+T]
        if (P) out.lambda = out.lambda.narrow(-1, P, T);
        if (decoder) out.cross_lambda = torch::stack(crossLambdas);
    }
    return out;
}

ForwardResult TransformerImpl::forward(const torch::Tensor& ids, const torch::Tensor& mask,
                                       const torch::Tensor& types, const ForwardOptions& opts) {
    DecodeCache* cache = opts.cache;
    if (cache && !cfg_.causal && !cfg_.encoderDecoder())
        throw Error("decode", "a key/value cache needs a causal model or an encoder–decoder");
    ForwardResult r;
    torch::Tensor poolMask = mask;  // which tokens the classification head may pool
    if (!cfg_.encoderDecoder()) {
        StackOut s = runStack(Stack::Encoder, ids, mask, types, opts.capture_lambda, cache, nullptr, {});
        r.hidden = s.hidden;
        r.lambda = s.lambda;
    } else {
        torch::Tensor dids = opts.decoder_ids, dmask = opts.decoder_mask;
        if (dids.defined()) {
            poolMask = dmask;
        } else {  // BART's default: the input shifted right after decoder_start_id
            TORCH_CHECK(ids.defined() && ids.dim() == 2, "ids must be [B, T]");
            const int64_t B = ids.size(0), T = ids.size(1);
            dids = torch::cat(
                {torch::full({B, 1}, cfg_.decoder_start_id, ids.options()), ids.narrow(1, 0, T - 1)}, 1);
            if (mask.defined())
                dmask = torch::cat({torch::ones({B, 1}, mask.options()), mask.narrow(1, 0, T - 1)}, 1);
        }
        torch::Tensor memory, memoryValid;
        if (!cache || cache->length == 0) {  // the encoder, once per sequence
            StackOut e = runStack(Stack::Encoder, ids, mask, {}, opts.capture_lambda, nullptr, nullptr, {});
            memory = e.full;
            memoryValid = e.valid;
            r.encoder_hidden = e.hidden;
            r.lambda = e.lambda;
        }
        StackOut s = runStack(Stack::Decoder, dids, dmask, {}, opts.capture_lambda, cache,
                              memory.defined() ? &memory : nullptr, memoryValid);
        r.hidden = s.hidden;
        r.decoder_lambda = s.lambda;
        r.cross_lambda = s.cross_lambda;
    }
    const int64_t B = r.hidden.size(0), T = r.hidden.size(1);
    const auto dev = r.hidden.device();
    if (opts.lm) {
        r.lm_logits =
            lm_head.is_empty() ? torch::matmul(r.hidden, tok->weight.t()) : lm_head->forward(r.hidden);
        if (final_logits_bias.defined()) r.lm_logits = r.lm_logits + final_logits_bias;
    }
    if (opts.cls) {
        // BERT/RoBERTa read the first token; GPT-2 style models the last real token (right padding); BART
        // the decoder's state at the input's last token (its </s>).
        torch::Tensor index;
        if (cfg_.pooling == Pooling::First) {
            index = torch::zeros({B}, torch::TensorOptions().dtype(torch::kLong).device(dev));
        } else {
            index = poolMask.defined()
                        ? poolMask.to(torch::kLong).sum(1) - 1
                        : torch::full({B}, T - 1, torch::TensorOptions().dtype(torch::kLong).device(dev));
        }
        torch::Tensor pooled = r.hidden.index({torch::arange(B, index.options()), index});  // [B, d]
        if (!cls_dense.is_empty()) {
            pooled = maybeDropout(pooled, cfg_.dropout, is_training());
            pooled = torch::tanh(cls_dense->forward(pooled));
        }
        pooled = maybeDropout(pooled, cfg_.dropout, is_training());
        r.cls_logits = classifier->forward(pooled);  // [B, C]
    }
    return r;
}

void TransformerImpl::applySpec(const Spec& spec) {
    if (specApplied_) throw Error("spec", "a spec is already applied to this model");
    validate(spec, cfg_);
    const int64_t d = cfg_.d_model;

    // Freeze the backbone, then unfreeze what the spec trains from it.
    std::vector<torch::Tensor> base;
    for (auto& p : named_parameters()) {
        const bool isHead = p.key().rfind("classifier.", 0) == 0 || p.key().rfind("cls_dense.", 0) == 0;
        if (isHead) continue;  // the task head always trains
        bool train = spec.train_base == TrainBase::All;
        if (spec.train_base == TrainBase::Biases) {
            const std::string& k = p.key();
            train = k.size() >= 5 && k.compare(k.size() - 5, 5, ".bias") == 0;
        }
        p.value().set_requires_grad(train);
        if (train) base.push_back(p.value());
    }
    if (spec.train_base == TrainBase::All) records_.push_back({"backbone", -1, base});
    if (spec.train_base == TrainBase::Biases) records_.push_back({"backbone.biases", -1, base});

    for (const Modification& m : spec.modifications) {
        if (m.form == Form::Prompt) {
            prompt = register_parameter("prompt", torch::randn({m.l, d}) * 0.02);
            records_.push_back({m.label(), -1, {prompt}});
            continue;
        }
        for (Stack st : stacksOf(m, cfg_)) {
            const std::string name = moduleName(m, st, cfg_);
            for (int64_t i = 0; i < stackLayers(st, cfg_); ++i) {
                if (!m.appliesTo(i)) continue;
                Block& blk = stackBlocks(st)[static_cast<size_t>(i)];
                Attention& att = attention(st, static_cast<size_t>(i));
                torch::nn::Module* added = nullptr;
                std::vector<torch::Tensor> extra;
                switch (m.form) {
                    case Form::Adapter: {
                        SublayerDelta sd(m, d);
                        if (m.site == Site::FFN)
                            blk->ffn_delta = blk->register_module("ffn_delta", sd);
                        else if (st == Stack::Cross)
                            blk->cross_delta = blk->register_module("cross_delta", sd);
                        else
                            blk->attn_delta = blk->register_module("attn_delta", sd);
                        added = sd.ptr().get();
                        break;
                    }
                    case Form::LoRA: {
                        DeltaLinear target = m.site == Site::Wq   ? att->q
                                             : m.site == Site::Wk ? att->k
                                             : m.site == Site::Wv ? att->v
                                             : m.site == Site::Wo ? att->o
                                             : m.site == Site::W1 ? blk->w1
                                                                  : blk->w2;
                        target->attachLora(m);
                        extra = target->lora->parameters();
                        for (auto& p : target->composer->parameters())
                            extra.push_back(p);
                        break;
                    }
                    case Form::Prefix:
                    case Form::MultiHeadRelu: {
                        HeadDelta hd(m, d, !m.prefix_mlp);
                        att->head = att->register_module("head", hd);
                        added = hd.ptr().get();
                        break;
                    }
                    case Form::IA3: {
                        if (m.site == Site::Attention) {
                            att->ia3_k = att->register_parameter("ia3_k", torch::ones({d}));
                            att->ia3_v = att->register_parameter("ia3_v", torch::ones({d}));
                            extra = {att->ia3_k, att->ia3_v};
                        } else {
                            blk->ia3_ff = blk->register_parameter("ia3_ff", torch::ones({cfg_.d_ff}));
                            extra = {blk->ia3_ff};
                        }
                        break;
                    }
                    case Form::Prompt:
                        break;
                }
                if (added) extra = added->parameters();
                records_.push_back({name, i, extra});
            }
            if (m.form == Form::Prefix && m.prefix_mlp) {
                std::vector<int64_t>& layers = mlpLayers_[static_cast<int>(st)];
                layers.clear();
                for (int64_t i = 0; i < stackLayers(st, cfg_); ++i)
                    if (m.appliesTo(i)) layers.push_back(i);
                static const char* const kMlpNames[] = {"prefix_mlp", "dec_prefix_mlp", "cross_prefix_mlp"};
                prefixMlp(st) = register_module(
                    kMlpNames[static_cast<int>(st)],
                    PrefixMlp(m.l, d, prefixMlpWidth(m, cfg_), static_cast<int64_t>(layers.size())));
                records_.push_back({name + ".mlp", -1, prefixMlp(st)->parameters()});
            }
        }
    }
    spec_ = spec;
    specApplied_ = true;
}

std::vector<torch::Tensor> TransformerImpl::trainableParameters() const {
    std::vector<torch::Tensor> out;
    for (const auto& p : parameters())
        if (p.requires_grad()) out.push_back(p);
    return out;
}

void TransformerImpl::mergeLora() {
    for (std::vector<Block>* stack : {&blocks, &dec_blocks})
        for (auto& blk : *stack) {
            for (DeltaLinear* lin : {&blk->w1, &blk->w2})
                (*lin)->mergeLora();
            for (Attention* att : {&blk->attn, &blk->cross})
                if (!att->is_empty())
                    for (DeltaLinear* lin : {&(*att)->q, &(*att)->k, &(*att)->v, &(*att)->o})
                        (*lin)->mergeLora();
        }
    // Drop the records of the LoRAs that no longer exist as parameters of the model.
    std::set<const void*> live;
    for (const auto& p : parameters())
        live.insert(p.unsafeGetTensorImpl());
    std::vector<DeltaRecord> kept;
    for (auto& r : records_)
        if (!r.params.empty() && live.count(r.params.front().unsafeGetTensorImpl())) kept.push_back(r);
    records_ = kept;
}

void TransformerImpl::setAttentionPath(const std::string& path) {
    checkAttentionPathName(path);
    if (path == "fused" && !fusedAttentionAvailable())
        throw Error("attention", "fused attention needs LibTorch 2.x; this LibTorch " +
                                     std::string(TORCH_VERSION) +
                                     " has the explicit path only (auto or explicit)");
    const bool on = path == "fused" || (path == "auto" && fusedAttentionAvailable());
    for (std::vector<Block>* stack : {&blocks, &dec_blocks})
        for (auto& b : *stack) {
            b->attn->fused = on;
            if (!b->cross.is_empty()) b->cross->fused = on;
        }
}

void TransformerImpl::setDropout(double p) {
    cfg_.dropout = cfg_.attn_dropout = p;
    for (std::vector<Block>* stack : {&blocks, &dec_blocks})
        for (auto& b : *stack)
            b->setDropout(p);
}

Transformer makeRandomBackbone(const ModelConfig& cfg, uint64_t seed) {
    torch::manual_seed(seed);
    Transformer m(cfg);
    torch::NoGradGuard ng;
    // GPT-2/BERT initialisation: N(0, 0.02) weights, zero biases, LayerNorm γ = 1, β = 0.
    for (auto& p : m->named_parameters()) {
        const std::string& k = p.key();
        const bool isLn = k.find("ln") != std::string::npos;
        if (k.size() >= 5 && k.compare(k.size() - 5, 5, ".bias") == 0)
            p.value().zero_();
        else if (isLn)
            p.value().fill_(1.0);
        else
            p.value().normal_(0.0, 0.02);
    }
    return m;
}

}  // namespace peft
