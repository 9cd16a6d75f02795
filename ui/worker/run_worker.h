// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The GUI's only door to the engine (ui/worker/ is the one part of ui/ linked with LibTorch; the rest of
// ui/ cannot include a torch header: the build gives it none). Trains a project's runs on a worker thread.
// The GUI thread never touches torch: it asks the worker (queued slot calls) to run a run of the project
// file; the worker executes it with core's trainer and its own connection to the file, and reports back
// through queued signals — progress and metric points in batches, at most 25 times a second, so a fast run
// cannot flood the event loop.
#include <QObject>
#include <QString>
#include <QStringList>
#include <QVector>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>

#include "train/train_config.h"

namespace peft {
class Trainer;
}

namespace peft::ui {

struct MetricSample {
    qint64 step = 0;
    double wallTime = 0;
    QString split, name;
    double value = 0;
};

class RunWorker : public QObject {
    Q_OBJECT

public:
    explicit RunWorker(QObject* parent = nullptr);

    /// Thread-safe: act on the run in progress. A pause holds until resume(): a run that starts while paused
    /// (the next one of a queue) starts paused. Cancel applies to the run in progress or about to start.
    void pause();
    void resume();
    void cancel();
    bool isBusy() const { return busy_.load(); }

public Q_SLOTS:
    /// Runs `run` of the project file to its end (on the worker's thread).
    void execute(const QString& project, qint64 run, bool resume);

Q_SIGNALS:
    void started(qint64 run);
    void progress(qint64 run, qint64 step, qint64 total, double stepsPerSecond, double etaSeconds);
    void metrics(qint64 run, const QVector<peft::ui::MetricSample>& samples);
    void statusChanged(qint64 run, const QString& status, const QString& message);
    /// `ok` false: it failed before or while training (the message says why). Cancelled runs are ok.
    void finished(qint64 run, bool ok, const QString& message);

private:
    std::mutex mutex_;
    peft::Trainer* trainer_ = nullptr;  // the run in progress, guarded by mutex_
    bool pauseRequested_ = false;       // guarded by mutex_
    std::atomic<bool> busy_{false}, cancelRequested_{false};
};

/// λ(x) of one run for one input, as the λ view shows it.
struct LambdaData {
    QStringList tokens;
    int layers = 0, heads = 0;
    QVector<double> values;       // [layers][heads][tokens]
    QString reason;               // why there is none
    QString weights;              // which checkpoint
    bool encoderDecoder = false;  // three attention kinds: the view offers the choice
    double at(int layer, int head, int token) const {
        return values[(layer * heads + head) * int(tokens.size()) + token];
    }
};

/// Computes λ(x) on its own thread (one forward pass), so it answers while a run trains.
class LambdaWorker : public QObject {
    Q_OBJECT

public Q_SLOTS:
    /// `stack`: encoder, decoder or cross (an encoder–decoder's attention kinds; others ignore it).
    void compute(const QString& project, qint64 run, const QString& text, const QString& stack);

Q_SIGNALS:
    void ready(qint64 run, const QString& text, const peft::ui::LambdaData& data);
    void failed(qint64 run, const QString& message);
};

/// The engine's calls the window makes (each runs torch, so the window calls them off its thread): the
/// LibTorch version; queueing a run that starts from an adapter folder (checked against the backbone);
/// exporting a run's weights as an adapter folder (returns the export's JSON description).
QString engineVersion();
/// The devices a run may ask for: (id, label) of the CPU, then of every CUDA device LibTorch reports
/// ("cuda:0", "cuda:0 — NVIDIA H200, 139.8 GiB").
QList<QPair<QString, QString>> engineDevices();
/// Why there is no CUDA device ("" when there is one), for the device list's disabled entry.
QString cudaUnavailableReason();
qint64 queueAdapterRun(const std::string& projectPath, const std::string& adapterDir,
                       const std::string& taskOrDataset, const peft::TrainConfig& tc);
QString exportRunAdapter(const std::string& projectPath, qint64 run, const std::string& format,
                         const std::string& outDir);

}  // namespace peft::ui

Q_DECLARE_METATYPE(peft::ui::MetricSample)
Q_DECLARE_METATYPE(peft::ui::LambdaData)
