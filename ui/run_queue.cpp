// SPDX-License-Identifier: GPL-3.0-or-later
#include "run_queue.h"

#include <algorithm>

#include "project/project.h"

namespace peft::ui {

namespace {

struct NextRun {
    qint64 run = 0;
    bool resume = false;  // from its checkpoint
    QString device;       // where it trains ("" = as its record says)
};

/// The next run to train: the first queued or interrupted one not tried yet in this pass (and whether it
/// resumes from a checkpoint) that `placer` has a device for. A run that failed without its record changing
/// (a resume whose state cannot be read leaves the run as it was) is not tried twice.
NextRun nextRun(const QString& path, const QSet<qint64>& tried, DevicePlacer* placer) {
    auto p = Project::open(path.toStdString(), Project::Mode::ReadOnly);
    NextRun next;
    for (const auto& r : p->runs()) {
        if ((r.state != RunState::Queued && r.state != RunState::Interrupted) || tried.contains(r.id))
            continue;
        std::optional<std::string> device = r.device;
        if (placer) device = placer->place(r.device);
        if (!device) continue;  // the GPUs it may use are full: it waits, a later run may go ahead
        next.run = r.id;
        next.resume = r.state == RunState::Interrupted && p->checkpoint(r.id, "eval").has_value();
        next.device = placer ? QString::fromStdString(*device) : QString();
        return next;
    }
    return next;
}

int pendingRuns(const QString& path) {
    int n = 0;
    for (const auto& r : Project::open(path.toStdString(), Project::Mode::ReadOnly)->runs())
        n += r.state == RunState::Queued || r.state == RunState::Interrupted;
    return n;
}

}  // namespace

RunQueue::RunQueue(QObject* parent) : QObject(parent) {
    // The worker lives on its own thread; every call into it is a queued invocation.
    worker_ = new RunWorker;
    worker_->moveToThread(&thread_);
    connect(&thread_, &QThread::finished, worker_, &QObject::deleteLater);
    connect(worker_, &RunWorker::progress, this, &RunQueue::progress);
    connect(worker_, &RunWorker::metrics, this, &RunQueue::metrics);
    connect(worker_, &RunWorker::statusChanged, this, &RunQueue::statusChanged);
    connect(worker_, &RunWorker::finished, this, &RunQueue::runEnded);
    thread_.setObjectName(QStringLiteral("training"));
    thread_.start();
}

RunQueue::~RunQueue() {
    active_ = false;
    for (RunProcess* p : running_)
        p->cancel();  // all at once; each process's destructor then waits for its child
    qDeleteAll(running_);
    worker_->cancel();
    thread_.quit();
    thread_.wait();
}

QList<qint64> RunQueue::runningRuns() const {
    QList<qint64> runs;
    if (processes_)
        for (const RunProcess* p : running_)
            runs << p->run();
    else if (current_)
        runs << current_;
    return runs;
}

void RunQueue::setGpus(const QStringList& gpus, int perGpu) {
    gpus_ = gpus;
    perGpu_ = std::max(1, perGpu);
}

void RunQueue::runEnded(qint64 run, bool ok, const QString& message) {
    if (placed_.contains(run)) placer_.release(placed_.take(run).toStdString());
    if (processes_) {
        for (int i = 0; i < running_.size(); ++i)
            if (running_[i]->run() == run) {
                running_.takeAt(i)->deleteLater();
                break;
            }
        current_ = running_.isEmpty() ? 0 : running_.front()->run();
    } else {
        current_ = 0;
    }
    // A failed run is recorded as failed and the queue goes on: it is not picked again.
    Q_EMIT runFinished(run, ok, message);
    Q_EMIT stateChanged();
    if (skip_) {
        skip_ = false;
        active_ = true;
    }
    if (active_)
        startNext();
    else if (processes_ && running_.isEmpty())
        processes_ = false;
}

void RunQueue::start() {
    if (current_ || project_.isEmpty()) return;
    processes_ = parallel_ > 1 && !peftwbPath().isEmpty();
    std::vector<std::string> gpus;
    if (gpus_) {
        for (const QString& g : *gpus_)
            gpus.push_back(g.toStdString());
    } else {
        for (const auto& d : engineDevices())
            if (d.first.startsWith(QLatin1String("cuda:"))) gpus.push_back(d.first.toStdString());
    }
    placer_ = DevicePlacer(gpus, perGpu_);
    placed_.clear();
    active_ = true;
    position_ = 0;
    tried_.clear();
    try {
        total_ = pendingRuns(project_);
    } catch (const std::exception&) {
        total_ = 0;
    }
    startNext();
}

void RunQueue::startRun(qint64 run) {
    if (current_ || project_.isEmpty()) return;
    processes_ = false;
    active_ = false;
    position_ = 1;
    total_ = 1;
    bool resume = false;
    try {
        auto p = Project::open(project_.toStdString(), Project::Mode::ReadOnly);
        const RunState state = p->run(run).state;
        resume = (state == RunState::Interrupted || state == RunState::Cancelled) &&
                 p->checkpoint(run, "eval").has_value();
    } catch (const std::exception& e) {
        Q_EMIT runFinished(run, false, QString::fromUtf8(e.what()));
        return;
    }
    launch(run, resume);
}

void RunQueue::startNext() {
    // One run on the worker thread; with processes, as many as there are free places.
    do {
        NextRun next;
        try {
            next = nextRun(project_, tried_, processes_ ? &placer_ : nullptr);
        } catch (const std::exception& e) {
            active_ = false;
            Q_EMIT runFinished(0, false, QString::fromUtf8(e.what()));
        }
        if (!next.run) {
            if (!running_.isEmpty()) return;  // the others are still training (or hold the GPUs it waits for)
            active_ = false;
            processes_ = false;
            Q_EMIT stateChanged();
            Q_EMIT drained();
            return;
        }
        ++position_;
        tried_.insert(next.run);
        launch(next.run, next.resume, next.device);
    } while (processes_ && active_ && running_.size() < parallel_);
}

void RunQueue::launch(qint64 run, bool resume, const QString& device) {
    if (processes_) {
        if (!device.isEmpty()) placed_.insert(run, device);
        auto* p = new RunProcess(peftwbPath());
        connect(p, &RunProcess::progress, this, &RunQueue::progress);
        connect(p, &RunProcess::metrics, this, &RunQueue::metrics);
        connect(p, &RunProcess::statusChanged, this, &RunQueue::statusChanged);
        connect(p, &RunProcess::finished, this, &RunQueue::runEnded, Qt::QueuedConnection);
        running_ << p;
        p->start(project_, run, resume, std::max(1, QThread::idealThreadCount() / parallel_), device);
        if (paused_) p->pause();  // a pause holds for the runs the queue starts while it lasts
        current_ = running_.front()->run();
        Q_EMIT runStarting(run, resume);
        Q_EMIT stateChanged();
        return;
    }
    current_ = run;  // until the worker reports back
    Q_EMIT runStarting(run, resume);
    Q_EMIT stateChanged();
    QMetaObject::invokeMethod(worker_, "execute", Qt::QueuedConnection, Q_ARG(QString, project_),
                              Q_ARG(qint64, run), Q_ARG(bool, resume));
}

void RunQueue::stop() {
    active_ = false;
    skip_ = false;
    for (RunProcess* p : running_)
        p->cancel();
    if (current_ && !processes_) worker_->cancel();  // the run in flight, or handed over and not started yet
    Q_EMIT stateChanged();
}

void RunQueue::skipToNext() {
    if (!current_) return;
    skip_ = true;
    if (processes_)
        running_.front()->cancel();  // the oldest; the others go on
    else
        worker_->cancel();
}

void RunQueue::setPaused(bool paused) {
    if (paused_ == paused) return;
    paused_ = paused;
    for (RunProcess* p : running_)
        paused ? p->pause() : p->resume();
    if (paused)
        worker_->pause();
    else
        worker_->resume();
    Q_EMIT stateChanged();
}

}  // namespace peft::ui
