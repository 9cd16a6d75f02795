// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// What a training run reports, without torch: its status and its metric points. Shared by the trainer, the
// project file and the GUI.
#include <cstdint>
#include <string>

namespace peft {

/// `Interrupted`: stopped on request (a signal: preemption, a time limit) after writing a checkpoint to
/// resume from.
enum class RunStatus { Running, Paused, Finished, Cancelled, Diverged, Failed, Interrupted };
const char* toString(RunStatus s);  // in project.cpp, beside the run states it maps onto

struct MetricPoint {
    int64_t step = 0;
    std::string split;  // train | dev | test
    std::string name;   // loss, lr, accuracy, macro_f1, perplexity, rouge1, rouge2, rougeL, bleu
    double value = 0;
    double wall_time = 0;  // seconds since the run started
};

}  // namespace peft
