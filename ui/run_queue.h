// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The GUI's training queue, without widgets (tests drive it headless): it owns the training thread and its
// RunWorker, picks the project's next queued or interrupted run (interrupted ones resume from their
// checkpoint), and offers start / pause / stop / next. A pause holds across the hand-over between two runs.
// With more than one run at once, the queue trains each in a child process (RunProcess: its own random
// generators and thread pools, an equal share of the cores), so that a run's curve does not depend on what
// trains beside it; a single run (startRun) always trains on the worker thread.
#include <QHash>
#include <QObject>
#include <QStringList>

#include <QSet>
#include <QString>
#include <QThread>
#include <QVector>
#include <optional>

#include "run_process.h"
#include "run_worker.h"
#include "train/device_placement.h"

namespace peft::ui {

class RunQueue : public QObject {
    Q_OBJECT

public:
    explicit RunQueue(QObject* parent = nullptr);
    /// Cancels the runs in progress (they stay in the project, resumable) and joins the training thread.
    ~RunQueue() override;

    /// How many runs the queue trains at once (1 … 64; takes effect at the next start). Above 1 each trains
    /// in a peftwb process of its own with max(1, cores / runs) threads; without a peftwb binary beside this
    /// one, the queue trains one run at a time.
    void setParallel(int runs) { parallel_ = std::clamp(runs, 1, 64); }
    int parallel() const { return parallel_; }
    /// The GPUs runs side by side are spread over ("cuda:0", …; at the next start): a run whose record asks
    /// for "cuda" trains on the least busy of them, at most `perGpu` on each, and waits while all are full
    /// (CPU runs go ahead of it). By default every CUDA device present.
    void setGpus(const QStringList& gpus, int perGpu);
    /// The device each run in progress trains on.
    QString deviceOf(qint64 run) const { return placed_.value(run); }

    /// The project file the queue trains (its own connections; the window keeps its own).
    void setProject(const QString& path) { project_ = path; }
    const QString& project() const { return project_; }

    /// Trains the queued and interrupted runs one after another, in id order, until none is left.
    void start();
    /// Trains one run now (resuming it from its checkpoint when it was interrupted or cancelled), then stops.
    void startRun(qint64 run);
    /// Cancels the run in progress and ends the queue; the run stays in the project, resumable.
    void stop();
    /// Pauses or resumes the run in progress; a pause also holds the next run of the queue.
    void setPaused(bool paused);
    /// After the run in progress stops (cancelled, resumable), goes on with the next one.
    void skipToNext();

    bool isActive() const { return active_; }
    bool isPaused() const { return paused_; }
    /// The run being trained (0 when none; with several at once, the one started first).
    qint64 currentRun() const { return current_; }
    /// Every run being trained.
    QList<qint64> runningRuns() const;
    /// 1-based position of the current run in this queue pass, and the runs the pass counted at its start.
    int position() const { return position_; }
    int total() const { return std::max(total_, position_); }

Q_SIGNALS:
    /// A run is about to start (the window shows its name and earlier points of a resumed run).
    void runStarting(qint64 run, bool resume);
    void progress(qint64 run, qint64 step, qint64 total, double stepsPerSecond, double etaSeconds);
    void metrics(qint64 run, const QVector<peft::ui::MetricSample>& samples);
    void statusChanged(qint64 run, const QString& status, const QString& message);
    /// `ok` false: it failed (the message says why; the run is recorded as failed) — the queue goes on.
    void runFinished(qint64 run, bool ok, const QString& message);
    /// No queued or interrupted run is left (or the queue was stopped).
    void drained();
    /// Active, paused or current run changed.
    void stateChanged();

private:
    void startNext();
    void launch(qint64 run, bool resume, const QString& device = {});
    void runEnded(qint64 run, bool ok, const QString& message);

    QString project_;
    QThread thread_;
    RunWorker* worker_ = nullptr;
    qint64 current_ = 0;
    bool active_ = false, paused_ = false, skip_ = false;
    int position_ = 0, total_ = 0;
    QSet<qint64> tried_;  // runs started in this pass of the queue
    int parallel_ = 1;
    bool processes_ = false;           // this pass trains in child processes
    QList<RunProcess*> running_;       // their runs in progress, oldest first
    std::optional<QStringList> gpus_;  // set by setGpus; else every CUDA device present
    int perGpu_ = 1;
    DevicePlacer placer_;
    QHash<qint64, QString> placed_;  // run → the device it trains on (runs side by side)
};

}  // namespace peft::ui
