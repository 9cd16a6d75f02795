// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Learning-rate schedules: linear warmup, then linear or cosine decay to zero (or constant).
#include <cmath>
#include <cstdint>
#include <string>

#include "util/enum_table.h"
#include "util/error.h"

namespace peft {

enum class Schedule { Linear, Cosine, Constant };

inline constexpr EnumName<Schedule> kScheduleNames[] = {
    {Schedule::Linear, "linear"}, {Schedule::Cosine, "cosine"}, {Schedule::Constant, "constant"}};

inline Schedule scheduleFromString(const std::string& s) {
    return enumFromName(kScheduleNames, s, "schedule", "schedule");
}

inline const char* toString(Schedule s) {
    return enumName(kScheduleNames, s);
}

/// The multiplier of the base learning rate at `step` (1-based) of `total`.
inline double lrFactor(Schedule s, int64_t step, int64_t warmup, int64_t total) {
    if (warmup > 0 && step <= warmup) return double(step) / double(warmup);
    if (s == Schedule::Constant || total <= warmup) return 1.0;
    const double progress = double(step - warmup) / double(total - warmup);  // (0, 1]
    if (s == Schedule::Linear) return std::max(0.0, 1.0 - progress);
    return 0.5 * (1.0 + std::cos(M_PI * progress));
}

}  // namespace peft
