// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The GUI's training queue, without widgets (tests drive it headless): it owns the training thread and its
// RunWorker, picks the project's next queued or interrupted run (interrupted ones resume from their
// checkpoint), and offers start / pause / stop / next. A pause holds across the hand-over between two runs.
#include <QObject>
#include <QSet>
#include <QString>
#include <QThread>
#include <QVector>

#include "run_worker.h"

namespace peft::ui {

class RunQueue : public QObject {
    Q_OBJECT

public:
    explicit RunQueue(QObject* parent = nullptr);
    /// Cancels the run in progress (it stays in the project, resumable) and joins the training thread.
    ~RunQueue() override;

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
    /// The run being trained (0 when none).
    qint64 currentRun() const { return current_; }
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
    void launch(qint64 run, bool resume);

    QString project_;
    QThread thread_;
    RunWorker* worker_ = nullptr;
    qint64 current_ = 0;
    bool active_ = false, paused_ = false, skip_ = false;
    int position_ = 0, total_ = 0;
    QSet<qint64> tried_;  // runs started in this pass of the queue
};

}  // namespace peft::ui
