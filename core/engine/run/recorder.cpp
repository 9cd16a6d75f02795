// SPDX-License-Identifier: GPL-3.0-or-later
#include "run/recorder.h"

#include <chrono>

#include "io/safetensors.h"
#include "util/error.h"

namespace peft {

TrainCheckpoint resumeCheckpoint(const Project& project, int64_t run) {
    const std::string& path_ = project.path();
    const auto ck = project.checkpoint(run, "eval");
    if (!ck || ck->resume.empty())
        throw Error(path_, "run " + std::to_string(run) +
                               " has no checkpoint to resume from (it stopped before its first evaluation): "
                               "start it again");
    const std::string where = path_ + ": run " + std::to_string(run) + " checkpoint";
    TrainCheckpoint c = TrainCheckpoint::parseState(ck->resume, where);
    c.params = parseSafetensors(ck->tensors, where).tensors;
    if (const auto best = project.checkpoint(run, "best"))
        c.best_params = parseSafetensors(best->tensors, where + " (best)").tensors;
    return c;
}

ProjectRecorder::ProjectRecorder(Project& project, int64_t run, double flush_seconds)
    : project_(project),
      run_(run),
      flushSeconds_(flush_seconds),
      lastFlush_(std::chrono::steady_clock::now()) {}

ProjectRecorder::~ProjectRecorder() {
    try {
        if (started_) flush();
    } catch (...) {  // a destructor must not throw; the last flush was best effort
    }
}

void ProjectRecorder::flush() {
    project_.appendMetrics(run_, buffer_);
    buffer_.clear();
    if (lastStep_ >= 0) project_.setStepsDone(run_, lastStep_);
    project_.heartbeat(run_);
    lastFlush_ = std::chrono::steady_clock::now();
}

void ProjectRecorder::onProgress(int64_t step, int64_t total, double rate, double eta) {
    lastStep_ = step;
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - lastFlush_).count() >= flushSeconds_)
        flush();
    if (next_) next_->onProgress(step, total, rate, eta);
}

void ProjectRecorder::onMetric(const MetricPoint& p) {
    buffer_.push_back(p);
    if (next_) next_->onMetric(p);
}

void ProjectRecorder::recordFailure(const std::exception& e) noexcept {
    if (!started_) return;
    try {
        const auto* c10e = dynamic_cast<const c10::Error*>(&e);
        const std::string why = c10e ? c10e->what_without_backtrace() : e.what();
        project_.setRunState(run_, RunState::Failed, why.substr(0, 2000));
    } catch (...) {
    }
}

void ProjectRecorder::onResumed(int64_t step) {
    project_.truncateMetricsAfter(run_, step);
    lastStep_ = step;
}

void ProjectRecorder::onStatus(RunStatus status, const std::string& message) {
    started_ = true;
    flush();
    project_.setRunState(run_, toRunState(status), message);
    if (next_) next_->onStatus(status, message);
}

void ProjectRecorder::onCheckpoint(const TrainCheckpoint& c, bool best) {
    flush();  // metrics up to the checkpoint first: a resumed curve continues from there
    CheckpointRecord r;
    r.run_id = run_;
    r.step = c.step;
    r.tensors = serializeSafetensors(c.params, {{"step", std::to_string(c.step)}});
    if (c.have_best) r.metric = c.best_dev_metric;
    r.kind = "eval";
    r.resume = c.serializeState();
    project_.saveCheckpoint(r);
    if (best) {
        r.kind = "best";
        r.resume.clear();
        project_.saveCheckpoint(r);
    }
    if (next_) next_->onCheckpoint(c, best);
}

}  // namespace peft
