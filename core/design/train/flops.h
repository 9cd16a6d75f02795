// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Analytic FLOP count of one training step (multiply-add = 2 FLOPs), for the benchmark's GFLOP/s.
//   forward F: per layer 2·(4d² + 2·d·d_m) per token for the projections and the FFN, 4·T·d per token for
//              attention (scores and weighted sum over T keys), 2·d·V per token for the LM head;
//   backward:  the gradient w.r.t. activations costs about F again (it flows down to the first trainable
//              parameter, which is in layer 0 or the input for every preset); weight gradients cost 2·in·out
//              per token for each trainable matrix only — frozen weights compute none;
//   deltas:    adapters / LoRA about 6 FLOPs per parameter per token (forward, input and weight gradient);
//              a prefix adds attention over l keys: 12·l·d per token per layer.
#include <cstdint>

#include "model/config.h"
#include "peft/spec.h"

namespace peft {

struct StepFlops {
    double forward = 0, backward_input = 0, backward_weights = 0, deltas = 0;
    double total() const { return forward + backward_input + backward_weights + deltas; }
};

StepFlops trainStepFlops(const ModelConfig& cfg, const Spec& spec, int64_t batch, int64_t seq);

}  // namespace peft
