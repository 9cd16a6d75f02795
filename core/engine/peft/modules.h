// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The delta modules of the unified view, in LibTorch. Each computes Δh; a Composer combines it with h.
// Shapes: B batch, T tokens, d width, H heads, d_h = d / H, r bottleneck, l prefix length.
#include <torch/torch.h>

#include "model/config.h"
#include "peft/spec.h"

namespace peft {

torch::Tensor activate(const torch::Tensor& x, Activation a);

/// h ← h + Δh, h + s·Δh (s fixed or learned), h + σ(x W_g + b_g)·Δh. Gated prefix composition
/// happens inside the attention's joint softmax, not here.
class ComposerImpl : public torch::nn::Module {
public:
    ComposerImpl(const Modification& m, int64_t d_in);
    /// h, delta: [..., d_out]; x: [..., d_in] (read by a learned gate only).
    torch::Tensor compose(const torch::Tensor& h, const torch::Tensor& delta, const torch::Tensor& x);
    /// The current scalar s (1 for add); throws for a learned gate, which has no single s.
    double scalar() const;
    Composition kind() const { return kind_; }

private:
    Composition kind_;
    double s_ = 1.0;
    torch::Tensor learned_s_;
    torch::nn::Linear gate_{nullptr};
};
TORCH_MODULE(Composer);

/// Bottleneck adapter: Δ = LN_out(W_up · drop(f(W_down · LN_in(z) + b_d)) + b_u).
class AdapterImpl : public torch::nn::Module {
public:
    AdapterImpl(const Modification& m, int64_t d);
    torch::Tensor delta(const torch::Tensor& z);  // [B, T, d] → [B, T, d]
    torch::nn::Linear down{nullptr}, up{nullptr};

private:
    Activation act_;
    AdapterNorm norm_;
    double dropout_;
    torch::nn::LayerNorm ln_{nullptr};
};
TORCH_MODULE(Adapter);

/// An adapter at a sublayer (attention or FFN) with its insertion form and composition.
class SublayerDeltaImpl : public torch::nn::Module {
public:
    SublayerDeltaImpl(const Modification& m, int64_t d);
    /// x: the sublayer's input as the sublayer reads it; h: the sublayer's output. Sequential reads h,
    /// parallel reads x.
    torch::Tensor apply(const torch::Tensor& x, const torch::Tensor& h);
    Insertion insertion() const { return insertion_; }
    Adapter adapter{nullptr};
    Composer composer{nullptr};

private:
    Insertion insertion_;
};
TORCH_MODULE(SublayerDelta);

/// LoRA: Δ = drop(x) Aᵀ Bᵀ with A [r, in] (kaiming-uniform a=√5 for init "lora"), B [out, r] (zeros).
class LoraImpl : public torch::nn::Module {
public:
    LoraImpl(const Modification& m, int64_t in, int64_t out);
    torch::Tensor delta(const torch::Tensor& x);
    torch::Tensor dropped(const torch::Tensor& x);  // LoRA's input dropout (training only)
    torch::Tensor A, B;

private:
    double dropout_;
};
TORCH_MODULE(Lora);

/// A frozen (or trainable) linear with an optional LoRA beside it: y = x Wᵀ + b (+ composed Δ).
class DeltaLinearImpl : public torch::nn::Module {
public:
    DeltaLinearImpl(int64_t in, int64_t out);
    torch::Tensor forward(const torch::Tensor& x);
    void attachLora(const Modification& m);
    /// Folds s·B·A into W and removes the LoRA (fixed or learned scale, or add; not a learned gate).
    void mergeLora();
    bool hasLora() const { return !lora.is_empty(); }
    torch::nn::Linear base{nullptr};
    Lora lora{nullptr};
    Composer composer{nullptr};
};
TORCH_MODULE(DeltaLinear);

/// Learned prefixes (or multi-head PA's P_k, P_v) held directly: P_k, P_v [l, d].
class HeadDeltaImpl : public torch::nn::Module {
public:
    HeadDeltaImpl(const Modification& m, int64_t d, bool own_params);
    Form form() const { return form_; }
    bool gated() const { return gated_; }
    int64_t length() const { return l_; }
    torch::Tensor pk, pv;        // undefined when a shared prefix MLP provides them
    Composer composer{nullptr};  // for the non-gated compositions

private:
    Form form_;
    bool gated_;
    int64_t l_;
};
TORCH_MODULE(HeadDelta);

/// Li & Liang's reparameterisation, shared across layers:
/// Embedding(l, d) → Linear(d, m) → tanh → Linear(m, L·2·d), reshaped to [L, 2, l, d].
class PrefixMlpImpl : public torch::nn::Module {
public:
    PrefixMlpImpl(int64_t l, int64_t d, int64_t width, int64_t layers);
    torch::Tensor forward();  // [L, 2, l, d]

private:
    int64_t l_, d_, layers_;
    torch::nn::Embedding embedding_{nullptr};
    torch::nn::Linear in_{nullptr}, out_{nullptr};
};
TORCH_MODULE(PrefixMlp);

}  // namespace peft
