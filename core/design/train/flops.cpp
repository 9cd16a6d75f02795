// SPDX-License-Identifier: GPL-3.0-or-later
#include "train/flops.h"

#include "peft/accounting.h"

namespace peft {

StepFlops trainStepFlops(const ModelConfig& c, const Spec& spec, int64_t batch, int64_t seq) {
    const double N = double(batch) * double(seq), d = double(c.d_model), m = double(c.d_ff),
                 V = double(c.vocab_size);
    // An encoder–decoder reads `seq` tokens in each stack; its decoder layers add cross-attention.
    const double L = double(c.n_layers + c.decoder_layers), T = double(seq);
    const double layerMatmul = 2.0 * (4.0 * d * d + 2.0 * d * m);  // per token
    const double attention = 4.0 * T * d;                          // per token
    const double cross = double(c.decoder_layers) * (2.0 * 4.0 * d * d + attention);
    StepFlops f;
    f.forward = N * (L * (layerMatmul + attention) + cross + 2.0 * d * V);
    f.backward_input = f.forward;
    if (spec.train_base == TrainBase::All) f.backward_weights = N * (L * layerMatmul + 2.0 * d * V);
    const ParamReport rep = countParams(spec, c);
    for (const Modification& mod : spec.modifications) {
        for (Stack st : stacksOf(mod, c)) {
            if (mod.form == Form::Prefix || mod.form == Form::MultiHeadRelu)
                f.deltas += 12.0 * N * double(mod.l) * d * double(layerCount(mod, c, st));
            if (mod.form == Form::Adapter || mod.form == Form::LoRA)  // ~6 FLOPs per parameter per token
                for (const ModuleCount& mc : rep.modules)
                    if (mc.name == moduleName(mod, st, c)) f.deltas += 6.0 * N * double(mc.trained);
        }
    }
    return f;
}

}  // namespace peft
