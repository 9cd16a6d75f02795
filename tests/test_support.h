// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Small helpers shared by the test suites.
#include <functional>
#include <string>
#include <type_traits>
#include <variant>

#include "model/config.h"
#include "train/train_config.h"
#include "util/error.h"

/// Slow checks (a real process killed and resumed, the BLEU gate) run as their suite's own ctest entry
/// NAME_slow, labelled `slow`; the suite's main entry sets PEFT_SKIP_SLOW and skips them here.
#define PEFT_SLOW_TEST()                                                           \
    do {                                                                           \
        if (qEnvironmentVariableIsSet("PEFT_SKIP_SLOW"))                           \
            QSKIP("slow: runs as this suite's _slow ctest entry (ctest -L slow)"); \
    } while (false)

/// The message of the peft::Error `f` throws, or "(no error)".
inline std::string errorOf(const std::function<void()>& f) {
    try {
        f();
    } catch (const peft::Error& e) {
        return e.what();
    }
    return "(no error)";
}

/// A two-layer d = 32 causal backbone over 24 tokens, for fast training tests.
inline peft::ModelConfig tinyConfig(double attnDropout) {
    peft::ModelConfig c;
    c.vocab_size = 24;
    c.d_model = 32;
    c.n_heads = 4;
    c.n_layers = 2;
    c.d_ff = 64;
    c.max_positions = 32;
    c.dropout = 0.1;
    c.attn_dropout = attnDropout;
    c.pad_id = 0;
    return c;
}

/// A BART-shaped encoder–decoder (2 + 2 layers, d = 32; pre-LN and scaled embeddings as mBART with `preLn`).
inline peft::ModelConfig tinyBart(bool preLn) {
    peft::ModelConfig c;
    c.name = "tiny-bart";
    c.vocab_size = 48;
    c.d_model = 32;
    c.n_heads = 4;
    c.n_layers = 2;
    c.decoder_layers = 2;
    c.d_ff = 64;
    c.max_positions = 64;
    c.position_offset = 2;
    c.causal = false;
    c.pre_ln = preLn;
    c.scale_embedding = preLn;
    c.pad_id = 1;
    c.decoder_start_id = 2;
    c.cls_dense = true;
    c.pooling = peft::Pooling::Last;
    c.prefix_shifts_positions = true;
    c.dropout = c.attn_dropout = 0.0;
    return c;
}

/// The member type of a pointer to member.
template <class M>
struct MemberType;
template <class C, class T>
struct MemberType<T C::*> {
    using type = T;
};

/// `tc` with field `f` set to a value other than its default (and other than the same field of a default
/// TrainConfig), so that a table row that reads or writes the wrong member shows.
inline peft::TrainConfig withFieldChanged(peft::TrainConfig tc, const peft::TrainConfigField& f) {
    std::visit(
        [&](auto m) {
            using T = typename MemberType<decltype(m)>::type;
            if constexpr (std::is_same_v<T, bool>)
                tc.*m = !(tc.*m);
            else if constexpr (std::is_same_v<T, std::string>)
                tc.*m = std::string(f.key) == "precision"   ? "bf16"
                        : std::string(f.key) == "attention" ? "explicit"
                                                            : "cuda:1";
            else if constexpr (std::is_same_v<T, peft::Schedule>)
                tc.*m = tc.*m == peft::Schedule::Cosine ? peft::Schedule::Constant : peft::Schedule::Cosine;
            else if constexpr (std::is_same_v<T, double>)
                tc.*m = tc.*m + 0.375;
            else
                tc.*m = tc.*m + 7;
        },
        f.member);
    return tc;
}
