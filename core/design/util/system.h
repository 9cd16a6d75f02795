// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Facts about the running process and machine: versions, memory, cores, where resources live. No torch
// (LibTorch's own facts, devices and thread setting: engine/util/torch_runtime.h).
#include <cstdint>
#include <string>
#include <vector>

namespace peft {

std::string appVersion();
/// Now, UTC, as ISO 8601 text: 2026-11-29T16:58:28Z.
std::string utcNowIso();
/// Peak resident memory of this process so far (VmHWM), bytes; 0 where unknown.
int64_t peakRssBytes();
/// The machine's physical memory, bytes; 0 where unknown.
int64_t physicalMemoryBytes();
/// Cores available to this process (the default for the thread setting).
int defaultThreadCount();
/// The most threads a run may ask for: 4× the cores, at least 64 (a record made on a bigger machine still
/// runs here). More starts nothing useful and makes OpenMP fail or hang.
int maxThreadCount();
/// Refuses a thread setting below 0 (0 = the core count) or above maxThreadCount(), naming `where`.
void checkThreadCount(int64_t threads, const std::string& where = "threads");

/// LibTorch's OpenMP threads spin-wait between parallel regions by default; on a machine with few cores they
/// then compete with OpenBLAS's own threads for the same cores (measured here on 2 cores: a training step of
/// the d = 512 benchmark model 2019 ms → 1215 ms, of the small default model 3.4× faster, with passive
/// waiting). libgomp reads OMP_WAIT_POLICY when it loads, before main(), so when the variable is unset this
/// sets it to PASSIVE and re-executes the program (argv unchanged). A user's own OMP_WAIT_POLICY is
/// respected.
void preferPassiveOpenMpWait(char** argv);

/// The resources folder: $PEFT_RESOURCES, else <exe>/../share/peft-workbench (installed), else the source
/// tree's resources/ (build tree). Empty when none exists.
std::string resourcesDir();

}  // namespace peft
