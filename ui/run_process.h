// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// One run trained by a child process, for the queue's runs side by side: `peftwb project run|resume FILE
// --run ID --threads N --events`. Each process has its own random generators and thread pools, so a run's
// curve does not depend on what trains beside it (runs on threads of one process would share LibTorch's
// generator). It reports as RunWorker does, from the JSON lines the child writes; pause, resume and cancel
// are lines written to its stdin. No torch here: the child is the engine.
#include <QByteArray>
#include <QObject>
#include <QProcess>
#include <QString>
#include <QVector>

#include "run_worker.h"

namespace peft::ui {

class RunProcess : public QObject {
    Q_OBJECT

public:
    /// `exe`: the peftwb binary (peftwbPath()).
    RunProcess(const QString& exe, QObject* parent = nullptr);
    /// Cancels the run (resumable) and waits for the child, then kills what is left.
    ~RunProcess() override;

    /// `device`: where the run trains instead of its record's device (a queue's GPU placement); "" keeps it.
    void start(const QString& project, qint64 run, bool resume, int threads, const QString& device = {});
    void pause();
    void resume();
    void cancel();
    qint64 run() const { return run_; }
    bool isRunning() const { return process_.state() != QProcess::NotRunning; }

Q_SIGNALS:
    void progress(qint64 run, qint64 step, qint64 total, double stepsPerSecond, double etaSeconds);
    void metrics(qint64 run, const QVector<peft::ui::MetricSample>& samples);
    void statusChanged(qint64 run, const QString& status, const QString& message);
    /// When the child has ended: `ok` false when it failed (its last message, or how it ended).
    void finished(qint64 run, bool ok, const QString& message);

private:
    void readLines();
    void command(const char* line);

    QProcess process_;
    QString exe_;
    qint64 run_ = 0;
    QByteArray pending_;  // a line not complete yet
    QByteArray early_;    // commands given while the child was starting
    QString lastStatus_, lastMessage_, errors_;
};

/// The peftwb binary beside the running executable ("" when there is none).
QString peftwbPath();

}  // namespace peft::ui
