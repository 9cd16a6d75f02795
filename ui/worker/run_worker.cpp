// SPDX-License-Identifier: GPL-3.0-or-later
// ui/worker: the one part of ui/ built against the engine (LibTorch); everything else in ui/ stays
// torch-free (its library has no torch include path) and talks to it through signals and run_worker.h.
#include "run_worker.h"

#include <chrono>

#include "project/project.h"
#include "run/executor.h"
#include "util/error.h"
#include "util/torch_runtime.h"

namespace peft::ui {

namespace {

/// Collects progress and metric points on the training thread and hands them to the GUI in batches.
class BatchingObserver : public TrainObserver {
public:
    BatchingObserver(RunWorker* w, qint64 run) : w_(w), run_(run) {}
    ~BatchingObserver() override { flush(); }

    void onProgress(int64_t step, int64_t total, double rate, double eta) override {
        step_ = step, total_ = total, rate_ = rate, eta_ = eta;
        const auto now = std::chrono::steady_clock::now();
        if (step == total || now - last_ >= std::chrono::milliseconds(40)) flush();
    }
    void onMetric(const MetricPoint& p) override {
        buffer_.push_back(
            {p.step, p.wall_time, QString::fromStdString(p.split), QString::fromStdString(p.name), p.value});
    }
    void onStatus(RunStatus s, const std::string& message) override {
        flush();
        Q_EMIT w_->statusChanged(run_, QString::fromUtf8(toString(s)), QString::fromStdString(message));
    }
    void flush() {
        last_ = std::chrono::steady_clock::now();
        if (!buffer_.isEmpty()) {
            Q_EMIT w_->metrics(run_, buffer_);
            buffer_.clear();
        }
        if (total_ > 0) Q_EMIT w_->progress(run_, step_, total_, rate_, eta_);
    }

private:
    RunWorker* w_;
    qint64 run_;
    QVector<MetricSample> buffer_;
    int64_t step_ = 0, total_ = 0;
    double rate_ = 0, eta_ = 0;
    std::chrono::steady_clock::time_point last_{};
};

}  // namespace

RunWorker::RunWorker(QObject* parent) : QObject(parent) {
    qRegisterMetaType<peft::ui::MetricSample>();
    qRegisterMetaType<QVector<peft::ui::MetricSample>>();
    qRegisterMetaType<peft::ui::LambdaData>();
}

void RunWorker::pause() {
    std::lock_guard<std::mutex> lock(mutex_);
    pauseRequested_ = true;  // also for a run whose trainer does not exist yet (loading, or between runs)
    if (trainer_) trainer_->pause();
}

void RunWorker::resume() {
    std::lock_guard<std::mutex> lock(mutex_);
    pauseRequested_ = false;
    if (trainer_) trainer_->resume();
}

void RunWorker::cancel() {
    cancelRequested_ = true;
    std::lock_guard<std::mutex> lock(mutex_);
    if (trainer_) trainer_->cancel();
}

void RunWorker::execute(const QString& project, qint64 run, bool resumeRun) {
    busy_ = true;
    // A cancel requested since this run was handed over (queued, not yet started) applies to it: the flag is
    // cleared when a run ends, not when one starts.
    Q_EMIT started(run);
    bool ok = true;
    QString message;
    try {
        BatchingObserver obs(this, run);
        ExecuteOptions opts;
        opts.observer = &obs;
        opts.resume = resumeRun;
        opts.onTrainer = [this](Trainer* t) {
            std::lock_guard<std::mutex> lock(mutex_);
            trainer_ = t;
            if (t && cancelRequested_) t->cancel();  // stop pressed while the backbone was loading
            if (t && pauseRequested_) t->pause();    // pause pressed before this run's trainer existed
        };
        const TrainResult r = executeRun(project.toStdString(), run, opts);
        message = QString::fromStdString(r.message);
        ok = r.status != RunStatus::Failed;
    } catch (const std::exception& e) {
        ok = false;
        message = QString::fromUtf8(e.what());
    }
    {
        std::lock_guard<std::mutex> lock(mutex_);
        trainer_ = nullptr;
        cancelRequested_ = false;
    }
    busy_ = false;
    Q_EMIT finished(run, ok, message);
}

void LambdaWorker::compute(const QString& project, qint64 run, const QString& text, const QString& stack) {
    try {
        const Stack s = stack == QStringLiteral("decoder") ? Stack::Decoder
                        : stack == QStringLiteral("cross") ? Stack::Cross
                                                           : Stack::Encoder;
        const LambdaMap m = lambdaOfRun(project.toStdString(), run, text.toStdString(), s);
        LambdaData d;
        for (const auto& t : m.tokens)
            d.tokens << QString::fromStdString(t);
        d.layers = int(m.layers);
        d.heads = int(m.heads);
        d.values = QVector<double>(m.values.begin(), m.values.end());
        d.reason = QString::fromStdString(m.reason);
        d.weights = QString::fromStdString(m.weights);
        d.encoderDecoder = m.encoder_decoder;
        Q_EMIT ready(run, text, d);
    } catch (const std::exception& e) {
        Q_EMIT failed(run, QString::fromUtf8(e.what()));
    }
}

QString engineVersion() {
    return QString::fromStdString(torchVersion());
}

QList<QPair<QString, QString>> engineDevices() {
    QList<QPair<QString, QString>> out;
    for (const auto& d : availableDevices())
        out.append({QString::fromStdString(d.id), QString::fromStdString(d.label())});
    return out;
}

QString cudaUnavailableReason() {
    return QString::fromStdString(peft::cudaUnavailableReason());
}

qint64 queueAdapterRun(const std::string& projectPath, const std::string& adapterDir,
                       const std::string& taskOrDataset, const peft::TrainConfig& tc) {
    auto p = Project::open(projectPath);  // its own connection, on the calling thread
    return peft::queueAdapterRun(*p, "", adapterDir, taskDataRef(*p, taskOrDataset), tc);
}

QString exportRunAdapter(const std::string& projectPath, qint64 run, const std::string& format,
                         const std::string& outDir) {
    return QString::fromStdString(peft::exportRunAdapter(projectPath, run, format, outDir).dump());
}

}  // namespace peft::ui
