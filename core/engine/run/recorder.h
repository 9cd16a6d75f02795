// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The bridge between the trainer and a project file: a TrainObserver that records a run as it happens, and
// the resume state read back from a run's checkpoint.
#include <chrono>
#include <cstdint>
#include <vector>

#include "project/project.h"
#include "train/trainer.h"

namespace peft {

/// What resuming the run needs: its "eval" checkpoint's parameters and state, and the best parameters.
/// Throws, saying why, when the run has none (it stopped before its first evaluation) or it is damaged.
TrainCheckpoint resumeCheckpoint(const Project& project, int64_t run);

/// Records a training run into a project as it happens: metric points buffered and written in one
/// transaction at most every `flush_seconds` (so a crash loses at most that much), the run's status and
/// steps, the evaluation checkpoint (with resume state) and the best checkpoint.
class ProjectRecorder : public TrainObserver {
public:
    ProjectRecorder(Project& project, int64_t run, double flush_seconds = 1.0);
    ~ProjectRecorder() override;
    void onProgress(int64_t step, int64_t total, double steps_per_s, double eta_s) override;
    void onMetric(const MetricPoint& point) override;
    void onStatus(RunStatus status, const std::string& message) override;
    bool wantsCheckpoints() const override { return true; }
    void onCheckpoint(const TrainCheckpoint& c, bool best) override;
    /// Drops the metrics the interrupted process wrote after `step`: the resumed curve continues there.
    void onResumed(int64_t step) override;
    /// Records that training stopped with `e` (a full disk, a damaged file, an allocation): the run becomes
    /// failed with the reason, where the disk still takes the update (else its dead owner process makes it
    /// read as interrupted). Before the trainer started nothing is written: the record stays as it was.
    void recordFailure(const std::exception& e) noexcept;
    /// Writes what is buffered now.
    void flush();
    /// Forward progress to another observer too (the CLI's progress line, the GUI).
    void chain(TrainObserver* next) { next_ = next; }

private:
    Project& project_;
    int64_t run_;
    double flushSeconds_;
    std::vector<MetricPoint> buffer_;
    std::chrono::steady_clock::time_point lastFlush_;
    int64_t lastStep_ = -1;  // no progress yet: steps_done is left as it is
    bool started_ = false;
    TrainObserver* next_ = nullptr;
};

}  // namespace peft
