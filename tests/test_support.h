// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Small helpers shared by the test suites.
#include <functional>
#include <string>

#include "model/config.h"
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
