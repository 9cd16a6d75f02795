// SPDX-License-Identifier: GPL-3.0-or-later
#include "peft/modules.h"

#include <cmath>

#include "util/error.h"

namespace peft {

namespace F = torch::nn::functional;

torch::Tensor activate(const torch::Tensor& x, Activation a) {
    switch (a) {
        case Activation::ReLU:
            return torch::relu(x);
        case Activation::GELU:
            return torch::gelu(x);
        case Activation::GELUTanh:
            return torch::gelu(x, "tanh");
        case Activation::SiLU:
            return torch::silu(x);
        case Activation::Tanh:
            return torch::tanh(x);
        case Activation::Identity:
            return x;
    }
    return x;
}

// ----- Composer ------------------------------------------------------------------------------------

ComposerImpl::ComposerImpl(const Modification& m, int64_t d_in) : kind_(m.composition) {
    switch (kind_) {
        case Composition::Scaled:
            s_ = m.scale;
            break;
        case Composition::LearnedScale:
            learned_s_ = register_parameter("s", torch::full({1}, m.scale));
            break;
        case Composition::LearnedGate:
            gate_ = register_module("gate", torch::nn::Linear(d_in, 1));
            break;
        default:
            break;
    }
}

torch::Tensor ComposerImpl::compose(const torch::Tensor& h, const torch::Tensor& delta,
                                    const torch::Tensor& x) {
    switch (kind_) {
        case Composition::Add:
            return h + delta;
        case Composition::Scaled:
            return torch::add(h, delta, s_);  // one pass: h + s·Δ
        case Composition::LearnedScale:
            return h + learned_s_ * delta;
        case Composition::LearnedGate:
            return h + torch::sigmoid(gate_->forward(x)) * delta;  // [.., 1] gate
        default:
            throw Error("composition",
                        std::string("'") + toString(kind_) + "' is not an additive composition");
    }
}

double ComposerImpl::scalar() const {
    switch (kind_) {
        case Composition::Add:
            return 1.0;
        case Composition::Scaled:
            return s_;
        case Composition::LearnedScale:
            return learned_s_.item<double>();
        default:
            throw Error("composition", std::string("'") + toString(kind_) + "' has no single scalar s");
    }
}

// ----- Adapter -------------------------------------------------------------------------------------

AdapterImpl::AdapterImpl(const Modification& m, int64_t d)
    : act_(m.activation), norm_(m.layernorm), dropout_(m.dropout) {
    down = register_module("down", torch::nn::Linear(d, m.r));
    up = register_module("up", torch::nn::Linear(m.r, d));
    if (norm_ != AdapterNorm::None)
        ln_ = register_module("ln", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d})));
    torch::NoGradGuard ng;
    if (m.init == Init::Bert) {  // N(0, 0.02), biases 0
        down->weight.normal_(0.0, 0.02);
        up->weight.normal_(0.0, 0.02);
    } else {  // "lora": kaiming-uniform(a=√5) on W_down, zeros on W_up — the variant starts as the identity
        torch::nn::init::kaiming_uniform_(down->weight, std::sqrt(5.0));
        up->weight.zero_();
    }
    down->bias.zero_();
    up->bias.zero_();
}

torch::Tensor AdapterImpl::delta(const torch::Tensor& z) {
    torch::Tensor t = norm_ == AdapterNorm::In ? ln_->forward(z) : z;
    t = activate(down->forward(t), act_);  // [B, T, r]
    if (dropout_ > 0) t = F::dropout(t, F::DropoutFuncOptions().p(dropout_).training(is_training()));
    t = up->forward(t);  // [B, T, d]
    return norm_ == AdapterNorm::Out ? ln_->forward(t) : t;
}

SublayerDeltaImpl::SublayerDeltaImpl(const Modification& m, int64_t d) : insertion_(m.insertion) {
    adapter = register_module("adapter", Adapter(m, d));
    composer = register_module("composer", Composer(m, d));
}

torch::Tensor SublayerDeltaImpl::apply(const torch::Tensor& x, const torch::Tensor& h) {
    const torch::Tensor& in = insertion_ == Insertion::Sequential ? h : x;
    return composer->compose(h, adapter->delta(in), in);
}

// ----- LoRA ----------------------------------------------------------------------------------------

LoraImpl::LoraImpl(const Modification& m, int64_t in, int64_t out) : dropout_(m.dropout) {
    A = register_parameter("A", torch::empty({m.r, in}));
    B = register_parameter("B", torch::empty({out, m.r}));
    torch::NoGradGuard ng;
    if (m.init == Init::Lora) {
        torch::nn::init::kaiming_uniform_(A, std::sqrt(5.0));
        B.zero_();
    } else {
        A.normal_(0.0, 0.02);
        B.normal_(0.0, 0.02);
    }
}

torch::Tensor LoraImpl::dropped(const torch::Tensor& x) {
    return dropout_ > 0 ? F::dropout(x, F::DropoutFuncOptions().p(dropout_).training(is_training())) : x;
}

torch::Tensor LoraImpl::delta(const torch::Tensor& x) {
    return torch::matmul(torch::matmul(dropped(x), A.t()), B.t());  // [.., in] → [.., r] → [.., out]
}

DeltaLinearImpl::DeltaLinearImpl(int64_t in, int64_t out) {
    base = register_module("base", torch::nn::Linear(in, out));
}

torch::Tensor DeltaLinearImpl::forward(const torch::Tensor& x) {
    // Work on [N, in] so the frozen product, the LoRA path and the composition are plain GEMMs.
    std::vector<int64_t> shape = x.sizes().vec();
    const torch::Tensor x2 = x.reshape({-1, shape.back()});
    torch::Tensor y = torch::addmm(base->bias, x2, base->weight.t());  // [N, out]
    if (!lora.is_empty()) {
        const torch::Tensor xa = torch::mm(lora->dropped(x2), lora->A.t());  // [N, r]
        const Composition c = composer->kind();
        if (c == Composition::Add || c == Composition::Scaled)
            // y += s·(x A) Bᵀ in the same buffer. In-place ops are not autocast: under bf16 autocast y and x
            // A are bfloat16 and B float32, so B is cast as the out-of-place product would (a no-op
            // otherwise).
            y.addmm_(xa, lora->B.t().to(xa.scalar_type()), 1.0, composer->scalar());
        else
            y = composer->compose(y, torch::mm(xa, lora->B.t()), x2);
    }
    shape.back() = y.size(1);
    return y.view(shape);
}

void DeltaLinearImpl::attachLora(const Modification& m) {
    const int64_t in = base->weight.size(1), out = base->weight.size(0);
    lora = register_module("lora", Lora(m, in, out));
    composer = register_module("lora_composer", Composer(m, in));
}

void DeltaLinearImpl::mergeLora() {
    if (lora.is_empty()) return;
    const double s = composer->scalar();
    {
        torch::NoGradGuard ng;
        base->weight.add_(torch::matmul(lora->B, lora->A), s);  // W [out, in] += s · B A
    }
    unregister_module("lora");
    unregister_module("lora_composer");
    lora = nullptr;
    composer = nullptr;
}

// ----- Prefix / multi-head PA ------------------------------------------------------------------------

HeadDeltaImpl::HeadDeltaImpl(const Modification& m, int64_t d, bool own_params)
    : form_(m.form), gated_(m.form == Form::Prefix && m.composition == Composition::Gated), l_(m.l) {
    if (own_params) {
        pk = register_parameter("P_k", torch::randn({m.l, d}) * 0.02);
        pv = register_parameter("P_v", torch::randn({m.l, d}) * 0.02);
    }
    if (!gated_) composer = register_module("composer", Composer(m, d));
}

PrefixMlpImpl::PrefixMlpImpl(int64_t l, int64_t d, int64_t width, int64_t layers)
    : l_(l), d_(d), layers_(layers) {
    embedding_ = register_module("embedding", torch::nn::Embedding(l, d));
    in_ = register_module("in", torch::nn::Linear(d, width));
    out_ = register_module("out", torch::nn::Linear(width, layers * 2 * d));
}

torch::Tensor PrefixMlpImpl::forward() {
    torch::Tensor t = embedding_->weight;                       // [l, d]
    t = out_->forward(torch::tanh(in_->forward(t)));            // [l, L·2·d]
    return t.view({l_, layers_, 2, d_}).permute({1, 2, 0, 3});  // [L, 2, l, d]
}

}  // namespace peft
