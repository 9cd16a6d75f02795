// SPDX-License-Identifier: GPL-3.0-or-later
#include "main_window.h"

#include <QAction>
#include <QActionGroup>
#include <QApplication>
#include <QCheckBox>
#include <QCloseEvent>
#include <QComboBox>
#include <QDialog>
#include <QDialogButtonBox>
#include <QDir>
#include <QDockWidget>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QInputDialog>
#include <QKeySequence>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QMap>
#include <QMenu>
#include <QMenuBar>
#include <QMessageBox>
#include <QProgressBar>
#include <QSettings>
#include <QSignalBlocker>
#include <QSpinBox>
#include <QSplitter>
#include <QStandardPaths>
#include <QStatusBar>
#include <QTabWidget>
#include <QTableWidget>
#include <QThread>
#include <QTimer>
#include <QToolBar>
#include <QVBoxLayout>

#include <filesystem>
#include <set>

#include "qcp.h"

#include "block_diagram.h"
#include "budget_chart.h"
#include "compare_view.h"
#include "import_dialog.h"
#include "lambda_view.h"
#include "param_view.h"
#include "plot_export.h"
#include "plot_style.h"
#include "run_process.h"
#include "run_queue.h"
#include "run_worker.h"
#include "slurm_dialog.h"
#include "spec_editor.h"
#include "study_view.h"
#include "sweep_dialog.h"
#include "train_settings.h"
#include "training_view.h"

#include "data/world.h"
#include "model/config.h"
#include "peft/accounting.h"
#include "peft/presets.h"
#include "project/project.h"
#include "project/run_record.h"
#include "util/error.h"
#include "util/system.h"

namespace peft::ui {

namespace {
// Run ▸ Runs at Once, as last chosen and within this machine's cores.
int chosenRunsAtOnce() {
    return std::clamp(QSettings().value(QStringLiteral("queue/parallel"), 1).toInt(), 1,
                      std::max(1, QThread::idealThreadCount()));
}

int chosenRunsPerGpu() {
    return std::clamp(QSettings().value(QStringLiteral("queue/perGpu"), 1).toInt(), 1, 64);
}

/// The CUDA devices present ("cuda:0", …): runs side by side on cuda are spread over them.
QStringList gpusPresent() {
    QStringList gpus;
    for (const auto& d : engineDevices())
        if (d.first.startsWith(QLatin1String("cuda:"))) gpus << d.first;
    return gpus;
}

QString qs(const std::string& s) {
    return QString::fromStdString(s);
}

/// "adapter@ffn r=16 + lora@W_q r=8": a custom spec's short name.
std::string formulaShort(const Spec& spec) {
    std::string out;
    if (spec.train_base != TrainBase::None) out = std::string("base:") + toString(spec.train_base);
    for (const auto& m : spec.modifications) {
        if (!out.empty()) out += " + ";
        out += m.label();
        if (m.size()) out += (m.usesL() ? " l=" : " r=") + std::to_string(m.size());
    }
    return out.empty() ? "nothing" : out;
}

QString formatCount(int64_t n) {
    return QLocale::system().toString(static_cast<qlonglong>(n));
}

QString askNewProjectFile(QWidget* parent, const QString& title);  // below, with the other file dialogs

}  // namespace

MainWindow::MainWindow(const QString& project, QWidget* parent)
    : QMainWindow(parent), cfg_(workbenchDefaultConfig(resourcesDir())) {
    setObjectName(QStringLiteral("MainWindow"));
    buildCentral();
    buildPresetDock();
    buildTrainingControls();
    buildSettingsDock();
    buildActions();
    plot_->setBackbone(cfg_);

    runLabel_ = new QLabel(tr("idle"), this);
    progress_ = new QProgressBar(this);
    progress_->setMaximumWidth(220);
    progress_->setTextVisible(true);
    progress_->setFormat(QStringLiteral("%v / %m"));
    progress_->setVisible(false);  // shown while a run trains: an idle bar would read "0 / 1"
    rateLabel_ = new QLabel(this);
    statusBar()->addWidget(runLabel_, 1);
    statusBar()->addPermanentWidget(progress_);
    statusBar()->addPermanentWidget(rateLabel_);
    backboneLabel_ = new QLabel(this);
    statusBar()->addPermanentWidget(backboneLabel_);
    clusterLabel_ = new QLabel(this);
    clusterLabel_->setVisible(false);
    statusBar()->addPermanentWidget(clusterLabel_);
    clusterTimer_ = new QTimer(this);
    clusterTimer_->setInterval(20000);  // modest: each merge reads every shard and asks squeue once
    connect(clusterTimer_, &QTimer::timeout, this, [this] { mergeClusterResults(true); });

    // Training: the queue owns the worker thread; the window only shows what it reports.
    queue_ = new RunQueue(this);
    queue_->setParallel(chosenRunsAtOnce());
    queue_->setGpus(gpusPresent(), chosenRunsPerGpu());
    connect(queue_, &RunQueue::runStarting, this, [this](qint64 run, bool resume) {
        const RunRecord r = project_->run(run);
        const int side = int(queue_->runningRuns().size());
        runLabel_->setText(
            tr("run %1 of %2 in the queue: %3").arg(queue_->position()).arg(queue_->total()).arg(qs(r.name)) +
            (side > 1 ? tr(" (%1 side by side)").arg(side) : QString()));
        training_->addRun(run, qs(r.name));
        live_[run] = {r.steps_done, std::max<int64_t>(1, r.steps_total), 0, 0};
        showLiveProgress();
        runDevice_ = qs(r.device);
        showEngineState();
        if (resume)
            for (const auto& m : project_->metrics(run))
                training_->addSamples(run, {{m.step, m.wall_time, qs(m.split), qs(m.name), m.value}});
        refreshRuns();
    });
    connect(queue_, &RunQueue::progress, this,
            [this](qint64 run, qint64 step, qint64 total, double rate, double eta) {
                compare_->showProgress(run, step, total);
                training_->setRunStatus(run, QStringLiteral("%1/%2").arg(step).arg(total));
                live_[run] = {step, total, rate, eta};
                showLiveProgress();
            });
    connect(queue_, &RunQueue::metrics, this, [this](qint64 run, const QVector<MetricSample>& m) {
        training_->addSamples(run, m);
        for (const MetricSample& sample : m)
            if (sample.split == QLatin1String("dev") && sample.name != QLatin1String("loss"))
                compare_->showLatestMetric(run, sample.name, sample.value);
    });
    connect(queue_, &RunQueue::statusChanged, this,
            [this](qint64 run, const QString& status, const QString& msg) {
                runLabel_->setText(tr("run %1: %2%3")
                                       .arg(run)
                                       .arg(status, msg.isEmpty() ? QString() : QStringLiteral(" — ") + msg));
            });
    connect(queue_, &RunQueue::runFinished, this, [this](qint64 run, bool ok, const QString& msg) {
        live_.remove(run);
        showLiveProgress();
        if (live_.isEmpty()) runDevice_.clear();
        showEngineState();
        if (!ok) {  // said, not a dialog: the queue goes on with the next run (the Compare row keeps the
                    // reason)
            runLabel_->setText(tr("run %1 failed: %2").arg(run).arg(msg));
            runLabel_->setToolTip(msg);
        }
        refreshRuns();
        Q_EMIT runEnded(run);
    });
    connect(queue_, &RunQueue::drained, this, [this] {
        runLabel_->setText(tr("queue done"));
        pauseAct_->setChecked(false);
        refreshRuns();
        Q_EMIT queueDrained();
    });

    lambdaWorker_ = new LambdaWorker;
    lambdaWorker_->moveToThread(&lambdaThread_);
    connect(&lambdaThread_, &QThread::finished, lambdaWorker_, &QObject::deleteLater);
    connect(lambda_, &LambdaView::requested, this,
            [this](qint64 run, const QString& text, const QString& stack) {
                QMetaObject::invokeMethod(lambdaWorker_, "compute", Qt::QueuedConnection,
                                          Q_ARG(QString, projectPath_), Q_ARG(qint64, run),
                                          Q_ARG(QString, text), Q_ARG(QString, stack));
            });
    connect(lambdaWorker_, &LambdaWorker::ready, lambda_, &LambdaView::showLambda);
    connect(lambdaWorker_, &LambdaWorker::failed, lambda_,
            [this](qint64, const QString& m) { lambda_->showError(m); });
    lambdaThread_.setObjectName(QStringLiteral("lambda"));
    lambdaThread_.start();

    QSettings settings;
    restoreGeometry(settings.value(QStringLiteral("window/geometry")).toByteArray());
    restoreState(settings.value(QStringLiteral("window/state")).toByteArray());
    if (!settings.contains(QStringLiteral("window/geometry"))) resize(1280, 800);
    selectPreset(settings.value(QStringLiteral("window/preset"), QStringLiteral("mam")).toString());

    QString path = project;
    if (path.isEmpty()) {
        path = defaultProjectPath();
        if (!QFileInfo::exists(path)) {
            QDir().mkpath(QFileInfo(path).absolutePath());
            try {
                createQueuedProject(path, QStringLiteral("sentiment"), 300);
            } catch (const std::exception& e) {
                QMessageBox::warning(this, tr("Default project"), QString::fromUtf8(e.what()));
            }
        }
    }
    openProject(path);
}

MainWindow::~MainWindow() {
    delete queue_;  // cancels the run in progress and joins the training thread
    queue_ = nullptr;
    // Background work still in flight (an adapter being checked or exported writes files): let it finish.
    for (QThread* t : std::as_const(background_)) {
        t->wait();
        delete t;
    }
    lambdaThread_.quit();
    lambdaThread_.wait();
}

QString MainWindow::defaultProjectPath() {
    return QStandardPaths::writableLocation(QStandardPaths::AppDataLocation) +
           QStringLiteral("/default.peftproj");
}

void MainWindow::createQueuedProject(const QString& path, const QString& task, int steps,
                                     const QString& backboneDir) {
    const BackboneRef ref =
        backboneDir.isEmpty() ? defaultBackboneRef() : folderBackboneRef(backboneDir.toStdString());
    const ModelConfig cfg = backboneRefConfig(ref, backboneDir.toStdString());
    auto p = Project::create(path.toStdString(), backboneRefToJson(ref));
    const DataRef data = taskDataRef(*p, task.toStdString());
    for (const Preset& pr : peft::presets()) {
        Spec spec;
        try {
            spec = resolvePreset(pr, cfg);
        } catch (const Error&) {
            continue;  // a preset that does not fit this backbone (e.g. more prompt tokens than positions)
        }
        queueSpec(*p, pr.name + " on " + task.toStdString(), pr.id, spec, data,
                  presetTrainConfig(pr.id, steps, 0));
    }
}

bool MainWindow::openBackbone(const QString& dir, QString projectFile) {
    if (isTraining()) {
        QMessageBox::information(this, tr("Training"),
                                 tr("Stop the run in progress before opening a backbone."));
        return false;
    }
    try {
        const BackboneRef ref = folderBackboneRef(dir.toStdString());  // fails before any file is made
        if (projectFile.isEmpty()) {
            projectFile = askNewProjectFile(this, tr("New Project for Backbone '%1'").arg(qs(ref.name)));
            if (projectFile.isEmpty()) return false;
        }
        if (!QFileInfo::exists(projectFile))
            createQueuedProject(projectFile,
                                task_->currentData().toString().startsWith(QStringLiteral("dataset:"))
                                    ? QStringLiteral("sentiment")
                                    : task_->currentData().toString(),
                                steps_->value(), dir);
    } catch (const std::exception& e) {
        QMessageBox::warning(this, tr("Cannot open backbone"), QString::fromUtf8(e.what()));
        return false;
    }
    return openProject(projectFile);
}

void MainWindow::openBackboneDialog() {
    const QString dir =
        QFileDialog::getExistingDirectory(this, tr("Open Backbone — a Hugging Face bert / roberta / gpt2 / "
                                                   "bart / mbart folder or a workbench backbone"));
    if (!dir.isEmpty()) openBackbone(dir);
}

void MainWindow::applyBackbone() {
    try {
        cfg_ = backboneRefConfig(
            backboneRefFromJson(project_->backbone(), projectPath_.toStdString() + ": backbone"),
            projectPath_.toStdString());
    } catch (const std::exception& e) {
        cfg_ = workbenchDefaultConfig(resourcesDir());
        QMessageBox::warning(
            this, tr("Backbone"),
            tr("%1\n\nThe design space shows the default backbone instead; runs of this project "
               "cannot start until the backbone is back.")
                .arg(QString::fromUtf8(e.what())));
    }
    editor_->setConfig(cfg_);
    params_->setConfig(cfg_);
    plot_->setBackbone(cfg_);
    showEngineState();
    // The preset in the editor is sized again for this backbone (its budget, not the last backbone's r / l).
    const QString preset = editor_->presetId();
    if (!preset.isEmpty()) {
        try {
            editor_->setSpec(resolvePreset(presetById(preset.toStdString()), cfg_), preset);
        } catch (const Error& e) {
            statusBar()->showMessage(qs(e.what()), 8000);
        }
    }
}

bool MainWindow::openProject(const QString& path, bool readOnly) {
    if (isTraining()) {
        QMessageBox::information(this, tr("Training"),
                                 tr("Stop the run in progress before opening another project."));
        return false;
    }
    try {
        auto p =
            Project::open(path.toStdString(), readOnly ? Project::Mode::ReadOnly : Project::Mode::ReadWrite);
        studies_->showProject(nullptr);  // it reads the project: never the one about to close
        project_ = std::move(p);
    } catch (const std::exception& e) {
        QMessageBox::warning(this, tr("Cannot open project"), QString::fromUtf8(e.what()));
        return false;
    }
    projectPath_ = path;
    for (const auto& m : project_->openMessages())
        statusBar()->showMessage(QString::fromStdString(m), 8000);
    training_->clear();
    shownStep_.clear();
    clusterStates_.clear();
    for (const auto& r : project_->runs()) {
        if (r.state == RunState::Queued) continue;
        showNewMetrics(r.id);
    }
    addRecent(path);
    applyBackbone();
    refreshTasks();
    {
        const QSignalBlocker block(presentAct_);  // applying the project's mode is not a change to store
        presentAct_->setChecked(project_->meta("presentation").value_or("0") == "1");
        setPresentationMode(presentAct_->isChecked());
    }
    setProjectTitle();
    refreshRuns();
    if (clusterTimer_->isActive())
        mergeClusterResults(true);  // where the cluster's runs are now, not in 20 s
    return true;
}

void MainWindow::setPresentationMode(bool on) {
    if (presenting_ == on) return;
    presenting_ = on;
    if (on) normalFont_ = font();
    QFont f = normalFont_;
    if (on) f.setPointSizeF(normalFont_.pointSizeF() * 1.35);
    setFont(f);
    QFont tf = f, ff = f;  // the title and the formula keep their emphasis over the window's type
    tf.setPointSizeF(f.pointSizeF() * 1.4);
    tf.setBold(true);
    ff.setPointSizeF(f.pointSizeF() * (on ? 1.3 : 1.15));
    title_->setFont(tf);
    formula_->setFont(ff);
    const QStringList hidden =
        QSettings()
            .value(QStringLiteral("presentation/hidden"), SpecEditor::advancedControlNames())
            .toStringList();
    editor_->setAdvancedHidden(on, hidden);
    plot_->setVisible(!on);  // the budget chart gives way to the formula and the block diagram
    studies_->setPresentation(on);
    for (QCustomPlot* p : findChildren<QCustomPlot*>())  // plot type, lines and markers grow with the text
        setPlotScale(p, on ? 1.5 : 1.0);
    if (on) tabs_->setCurrentIndex(0);
    if (presentAct_->isChecked() != on) {
        const QSignalBlocker block(presentAct_);  // only the user's toggle is stored in the project
        presentAct_->setChecked(on);
    }
    showSelection();  // the table's columns fit the new type
}

void MainWindow::setProjectTitle() {
    const QString name = QFileInfo(projectPath_).fileName();
    setWindowTitle(tr("%1%2 — PEFT Workbench")
                       .arg(projectPath_ == defaultProjectPath() ? tr("Default project") : name,
                            project_ && project_->readOnly() ? tr(" (read-only)") : QString()));
}

void MainWindow::refreshRuns() {
    if (!project_) return;
    try {
        const auto runs = project_->runs();
        std::vector<QString> groups;
        QSet<qint64> gated;  // runs with a gated prefix: the ones λ(x) exists for
        for (const auto& r : runs) {
            try {
                const RunRecipe recipe = runRecipe(*project_, r);
                groups.push_back(qs(runGroup(recipe)));
                for (const Modification& m : recipe.spec.modifications)
                    if (m.form == Form::Prefix && m.composition == Composition::Gated) gated.insert(r.id);
            } catch (const std::exception&) {
                groups.push_back(tr("unreadable record"));
            }
        }
        compare_->setClusterStates(clusterStates_);
        compare_->setRuns(runs, groups);
        int submitted = 0;
        for (const auto& r : runs)
            submitted += r.state == RunState::Submitted;
        if (submitted > 0 && !project_->readOnly()) {
            if (!clusterTimer_->isActive()) clusterTimer_->start();
        } else {
            clusterTimer_->stop();
        }
        mergeAct_->setEnabled(!project_->readOnly() && !slurmRuns(*project_).empty());
        slurmAct_->setEnabled(!project_->readOnly());
        QMap<QString, int> byState;
        for (auto it = clusterStates_.cbegin(); it != clusterStates_.cend(); ++it)
            ++byState[it.value().section(QLatin1Char(' '), 0, 0).toLower()];
        QStringList parts;
        for (auto it = byState.cbegin(); it != byState.cend(); ++it)
            parts << QStringLiteral("%1 %2").arg(it.value()).arg(it.key());
        clusterLabel_->setVisible(submitted > 0);
        clusterLabel_->setText(parts.isEmpty() ? tr("Slurm: %n run(s) submitted", nullptr, submitted)
                                               : tr("Slurm: %1").arg(parts.join(QStringLiteral(" · "))));
        clusterLabel_->setToolTip(tr("Runs on the cluster; their shards are merged every %1 s while any is "
                                     "submitted (Run ▸ Merge Cluster Results now)")
                                      .arg(clusterTimer_->interval() / 1000));
        for (const auto& r : runs) {
            if (!training_->hasRun(r.id)) continue;
            // Short, beside the name: the best dev metric of a finished run, else the state and step.
            QString state = QString::fromUtf8(toString(r.state)), detail;
            if (r.state == RunState::Finished && r.summary) {
                state = QString::number(r.summary->best_dev_metric, 'f', 3);
                detail = tr("finished: best dev %1 %2").arg(qs(r.summary->metric_name), state);
            } else if (r.state != RunState::Queued && r.state != RunState::Failed) {
                state += QStringLiteral(" %1/%2").arg(r.steps_done).arg(r.steps_total);
            }
            training_->setRunStatus(r.id, state,
                                    detail.isEmpty() && !r.message.empty() ? qs(r.message) : detail);
        }
        QList<QPair<qint64, QString>> choices;
        for (const auto& r : runs)
            choices.append({qint64(r.id), qs(r.name)});
        lambda_->setRuns(choices, gated);
        studies_->showProject(project_.get());
        int queued = 0;
        for (const auto& r : runs)
            queued += r.state == RunState::Queued || r.state == RunState::Interrupted;
        runAct_->setText(queued ? tr("Run Queue (%1)").arg(queued) : tr("Run Queue"));
        runAct_->setEnabled(queued > 0 && !isTraining() && !project_->readOnly());
        stopAct_->setEnabled(isTraining());
        pauseAct_->setEnabled(isTraining());
    } catch (const std::exception& e) {
        statusBar()->showMessage(QString::fromUtf8(e.what()), 8000);
    }
}

qint64 MainWindow::queueSelectedPreset() {
    if (!project_ || project_->readOnly()) return 0;
    try {
        if (!editor_->validationError().isEmpty())
            throw Error("spec", editor_->validationError().toStdString());
        const Spec spec = editor_->spec();
        const std::string presetId = editor_->presetId().toStdString();
        const std::string name =
            presetId.empty() ? "custom: " + formulaShort(spec) : presetById(presetId).name;
        const std::string task = task_->currentText().toStdString();
        const qint64 id = queueSpec(*project_, name + " on " + task, presetId, spec,
                                    taskDataRef(*project_, task_->currentData().toString().toStdString()),
                                    settings_->config());
        refreshRuns();
        statusBar()->showMessage(tr("queued run %1: %2 on %3").arg(id).arg(qs(name), task_->currentText()),
                                 5000);
        return id;
    } catch (const std::exception& e) {
        QMessageBox::warning(this, tr("Cannot queue"), QString::fromUtf8(e.what()));
        return 0;
    }
}

qint64 MainWindow::queueReference(const QString& group) {
    if (!project_ || project_->readOnly()) return 0;
    try {
        for (const RunRecord& r : project_->runs()) {
            RunRecipe recipe;
            try {
                recipe = runRecipe(*project_, r);
            } catch (const std::exception&) {
                continue;  // an unreadable record belongs to no group
            }
            if (qs(runGroup(recipe)) != group) continue;
            const RunRecipe full = fullFineTuningLike(recipe);
            const qint64 id =
                addRun(*project_, presetById("full").name + " on " + dataName(full.data), "full", full,
                       "the reference of " + group.toStdString() + ", like run " + std::to_string(r.id));
            refreshRuns();
            statusBar()->showMessage(tr("queued run %1: full fine-tuning on %2 with run %3's settings")
                                         .arg(id)
                                         .arg(group)
                                         .arg(r.id),
                                     8000);
            return id;
        }
        throw Error("compare", "no run of the group " + group.toStdString());
    } catch (const std::exception& e) {
        QMessageBox::warning(this, tr("Cannot queue"), QString::fromUtf8(e.what()));
        return 0;
    }
}

void MainWindow::runQueue() {
    if (isTraining() || !project_) return;
    queue_->setProject(projectPath_);
    queue_->start();
}

QList<qint64> MainWindow::queueSweep(const QVector<SweepPoint>& points, int steps) {
    QList<qint64> ids;
    if (!project_ || project_->readOnly()) return ids;
    const ModelConfig& cfg = cfg_;
    try {
        for (const SweepPoint& pt : points) {
            const Preset& pr = presetById(pt.preset.toStdString());
            Spec spec = resolvePreset(pr, cfg);
            if (pt.budget > 0) spec = solveBudget(spec, cfg, pt.budget).spec;
            const QString name =
                QStringLiteral("%1%2 on %3%4")
                    .arg(qs(pr.name), pt.budget > 0 ? QStringLiteral(" @ %1 %").arg(pt.budget) : QString(),
                         pt.task, pt.seed ? QStringLiteral(" (seed %1)").arg(pt.seed) : QString());
            // The panel's settings, at the sweep's steps and seed (and its preset's learning rate unless the
            // panel sets one).
            TrainConfig tc = settings_->config();
            const TrainConfig policy = presetTrainConfig(pr.id, steps, uint64_t(pt.seed));
            tc.steps = policy.steps;
            tc.seed = policy.seed;
            if (!settings_->isEdited(QStringLiteral("eval_every"))) tc.eval_every = policy.eval_every;
            if (!settings_->isEdited(QStringLiteral("lr"))) tc.lr = policy.lr;
            ids << queueSpec(*project_, name.toStdString(), pr.id, spec,
                             taskDataRef(*project_, pt.task.toStdString()), tc);
        }
    } catch (const std::exception& e) {
        QMessageBox::warning(this, tr("Cannot queue the sweep"), QString::fromUtf8(e.what()));
    }
    refreshRuns();
    return ids;
}

void MainWindow::stopTraining() {
    queue_->stop();
    pauseAct_->setChecked(false);
}

bool MainWindow::isTraining() const {
    return queue_ && queue_->currentRun() != 0;
}

void MainWindow::refreshTasks() {
    const QString current = task_->currentData().toString();
    task_->clear();
    for (const auto& t : builtinTaskNames())
        task_->addItem(qs(t), qs(t));
    if (!project_) return;
    QStringList moved;
    for (const auto& d : project_->datasets()) {
        if (d.source != "file") continue;
        task_->addItem(tr("data: %1").arg(qs(d.name)), QStringLiteral("dataset:%1").arg(d.id));
        const auto files = d.mapping.value("files", nlohmann::json::object());
        for (const char* key : {"train", "dev", "test"}) {
            const std::string p = files.value(key, "");
            if (!p.empty() && !QFileInfo::exists(qs(p))) moved << qs(p);
        }
    }
    const int i = task_->findData(current);
    task_->setCurrentIndex(std::max(0, i));
    QList<QPair<QString, QString>> choices;
    for (int k = 0; k < task_->count(); ++k)
        choices.append({task_->itemText(k), task_->itemData(k).toString()});
    studies_->setTaskChoices(choices);
    if (!moved.isEmpty())
        statusBar()->showMessage(tr("Dataset files moved or deleted since they were imported: %1")
                                     .arg(moved.join(QStringLiteral(", "))),
                                 15000);
}

qint64 MainWindow::importDataset(const FileDatasetSpec& spec) {
    if (!project_ || project_->readOnly()) return 0;
    try {
        const qint64 id = addFileDataset(*project_, spec);
        refreshTasks();
        task_->setCurrentIndex(task_->findData(QStringLiteral("dataset:%1").arg(id)));
        statusBar()->showMessage(
            tr("imported %1 as dataset %2: queue presets on it with Run ▸ Queue This Spec")
                .arg(qs(spec.train))
                .arg(id),
            8000);
        return id;
    } catch (const std::exception& e) {
        QMessageBox::warning(this, tr("Cannot import"), QString::fromUtf8(e.what()));
        return 0;
    }
}

void MainWindow::importDatasetDialog(const QString& file) {
    if (!project_) return;
    ImportDialog dialog(this, file);
    try {  // the vocabulary check is against the project's backbone
        dialog.setBackbone(
            qs(backboneRefDir(backboneRefFromJson(project_->backbone(), "backbone"), "backbone")),
            qs(cfg_.name));
    } catch (const std::exception& e) {
        statusBar()->showMessage(QString::fromUtf8(e.what()), 8000);
    }
    if (dialog.exec() == QDialog::Accepted) importDataset(dialog.spec());
}

void MainWindow::inBackground(std::function<QString()> work,
                              std::function<void(QString result, QString error)> done) {
    auto result = std::make_shared<QString>();
    auto error = std::make_shared<QString>();
    QThread* t = QThread::create([work = std::move(work), result, error] {
        try {
            *result = work();
        } catch (const std::exception& e) {
            *error = QString::fromUtf8(e.what());
        }
    });
    background_.append(t);
    connect(t, &QThread::finished, this, [this, t, result, error, done = std::move(done)] {
        background_.removeOne(t);
        t->deleteLater();
        done(*result, *error);
    });
    t->start();
}

void MainWindow::importAdapter(const QString& dir, std::function<void(qint64)> done) {
    if (!project_ || project_->readOnly()) return;
    const std::string choice = task_->currentData().toString().toStdString();
    TrainConfig tc = settings_->config();  // the panel's settings (checked before anything runs)
    if (!settings_->isEdited(QStringLiteral("lr"))) tc.lr = 1e-3;
    const std::string path = projectPath_.toStdString(), adapter = dir.toStdString();
    statusBar()->showMessage(tr("checking the adapter %1 against the backbone…").arg(dir));
    inBackground(
        [path, adapter, choice, tc] { return QString::number(queueAdapterRun(path, adapter, choice, tc)); },
        [this, dir, done](const QString& result, const QString& error) {
            if (!error.isEmpty()) {
                statusBar()->clearMessage();
                QMessageBox::warning(this, tr("Cannot import the adapter"), error);
                if (done) done(0);
                return;
            }
            const qint64 id = result.toLongLong();
            refreshRuns();
            lambda_->selectRun(id);
            statusBar()->showMessage(
                tr("run %1 starts from %2: λ(x) shows it now; Run Queue trains it further").arg(id).arg(dir),
                8000);
            if (done) done(id);
        });
}

void MainWindow::importAdapterDialog() {
    const QString dir = QFileDialog::getExistingDirectory(
        this, tr("Import Adapter — a Hugging Face PEFT LoRA / prefix-tuning folder, or a workbench adapter"));
    if (!dir.isEmpty()) importAdapter(dir);
}

void MainWindow::exportAdapter(qint64 run, const QString& format, const QString& dir,
                               std::function<void(QString)> done) {
    const std::string path = projectPath_.toStdString(), out = dir.toStdString(), fmt = format.toStdString();
    statusBar()->showMessage(tr("exporting run %1…").arg(run));
    inBackground([path, run, out, fmt] { return exportRunAdapter(path, run, fmt, out); },
                 [this, run, dir, done](const QString& result, const QString& error) {
                     if (!error.isEmpty()) {
                         statusBar()->clearMessage();
                         QMessageBox::warning(this, tr("Cannot export run %1").arg(run), error);
                         if (done) done({});
                         return;
                     }
                     statusBar()->showMessage(tr("exported run %1 to %2").arg(run).arg(dir), 8000);
                     if (done) done(dir);
                 });
}

void MainWindow::exportAdapterDialog() {
    if (!project_) return;
    if (selectedRuns_.size() != 1) {
        QMessageBox::information(this, tr("Export Adapter"), tr("Select one run in the Compare view first."));
        return;
    }
    const QStringList formats = {tr("Hugging Face PEFT (LoRA, prefix tuning)"),
                                 tr("Workbench native (every method)")};
    bool ok = false;
    const QString f = QInputDialog::getItem(this, tr("Export Adapter"), tr("Format"), formats, 0, false, &ok);
    if (!ok) return;
    const QString parent = QFileDialog::getExistingDirectory(this, tr("Export Adapter — into which folder?"));
    if (parent.isEmpty()) return;
    const qint64 run = selectedRuns_.front();
    exportAdapter(run, f == formats[0] ? QStringLiteral("hf-peft") : QStringLiteral("native"),
                  QDir(parent).filePath(QStringLiteral("run-%1-adapter").arg(run)));
}

void MainWindow::buildTrainingControls() {
    task_ = new QComboBox(this);
    for (const auto& t : builtinTaskNames())
        task_->addItem(qs(t), qs(t));
    task_->setToolTip(tr(
        "What a queued preset trains on: a built-in task — sentiment (SST-2-like), entailment "
        "(MNLI-like), summarization (XSum-like), translation (WMT-like) — or a dataset imported with File ▸ "
        "Import Dataset"));
    steps_ = new QSpinBox(this);
    steps_->setRange(10, 100000);
    steps_->setSingleStep(100);
    steps_->setValue(300);
    steps_->setSuffix(tr(" steps"));
    steps_->setToolTip(tr("Optimizer steps of a queued run (batch 32)"));
}

void MainWindow::addRecent(const QString& path) {
    QSettings settings;
    QStringList recent = settings.value(QStringLiteral("recentProjects")).toStringList();
    if (!path.isEmpty()) {
        recent.removeAll(path);
        recent.prepend(path);
        while (recent.size() > 8)
            recent.removeLast();
        settings.setValue(QStringLiteral("recentProjects"), recent);
    }
    if (!recentMenu_) return;
    recentMenu_->clear();
    for (const QString& p : recent)
        recentMenu_->addAction(p, this, [this, p] { openProject(p); });
}

namespace {

/// Asks where to write a project; adds the extension. Empty when the user cancels.
QString askNewProjectFile(QWidget* parent, const QString& title) {
    const QString path = QFileDialog::getSaveFileName(parent, title, QString(),
                                                      MainWindow::tr("PEFT Workbench projects (*.peftproj)"));
    if (path.isEmpty() || path.endsWith(QLatin1String(".peftproj"))) return path;
    return path + QStringLiteral(".peftproj");
}

}  // namespace

void MainWindow::newProject() {
    const QString file = askNewProjectFile(this, tr("New Project"));
    if (file.isEmpty()) return;
    try {
        Project::create(file.toStdString(), {{"id", "default"}});
    } catch (const std::exception& e) {
        QMessageBox::warning(this, tr("Cannot create project"), QString::fromUtf8(e.what()));
        return;
    }
    openProject(file);
}

void MainWindow::openProjectDialog() {
    const QString path = QFileDialog::getOpenFileName(
        this, tr("Open Project"), QString(), tr("PEFT Workbench projects (*.peftproj);;All files (*)"));
    if (!path.isEmpty()) openProject(path);
}

void MainWindow::saveProjectAs() {
    if (!project_) return;
    const QString file = askNewProjectFile(this, tr("Save Project As"));
    if (file.isEmpty()) return;
    try {
        project_->saveAs(file.toStdString());
    } catch (const std::exception& e) {
        QMessageBox::warning(this, tr("Cannot save project"), QString::fromUtf8(e.what()));
        return;
    }
    openProject(file);
}

void MainWindow::closeEvent(QCloseEvent* event) {
    if (isTraining()) {
        // The run is cancelled and stays in the project; Run Queue resumes it later.
        queue_->stop();
    }
    QSettings settings;
    settings.setValue(QStringLiteral("window/geometry"), saveGeometry());
    settings.setValue(QStringLiteral("window/state"), saveState());
    settings.setValue(QStringLiteral("window/preset"), selectedPresetId());
    QMainWindow::closeEvent(event);
}

void MainWindow::buildActions() {
    QMenu* file = menuBar()->addMenu(tr("&File"));
    file->addAction(tr("&New Project…"), QKeySequence::New, this, &MainWindow::newProject);
    file->addAction(tr("&Open Project…"), QKeySequence::Open, this, &MainWindow::openProjectDialog);
    QAction* importAct = file->addAction(tr("&Import Dataset…"), this, [this] { importDatasetDialog(); });
    importAct->setShortcut(QKeySequence(tr("Ctrl+I")));
    importAct->setToolTip(tr("Your data (TSV, CSV, JSON Lines; GLUE's layouts) as a dataset of the project"));
    QAction* adapterAct = file->addAction(tr("Import Ada&pter…"), this, &MainWindow::importAdapterDialog);
    adapterAct->setToolTip(
        tr("A Hugging Face PEFT LoRA / prefix-tuning adapter (or a workbench one) as a run on "
           "the project's backbone: see its λ(x), evaluate it, train it further"));
    QAction* backboneAct = file->addAction(tr("Open &Backbone…"), this, &MainWindow::openBackboneDialog);
    backboneAct->setShortcut(QKeySequence(tr("Ctrl+B")));
    backboneAct->setToolTip(
        tr("A Hugging Face bert / roberta / gpt2 / bart / mbart folder (config.json, model.safetensors or "
           "pytorch_model.bin, tokenizer files): a new project with every preset queued on it"));
    recentMenu_ = file->addMenu(tr("Open &Recent"));
    file->addAction(tr("Save Project &As…"), QKeySequence::SaveAs, this, &MainWindow::saveProjectAs);
    QAction* compactAct = file->addAction(tr("&Compact Project"), this, [this] {
        if (!project_ || project_->readOnly()) return;
        const std::string path = projectPath_.toStdString();
        statusBar()->showMessage(tr("compacting %1…").arg(projectPath_));
        inBackground(  // its own connection; the window's stays idle meanwhile
            [path] {
                const auto before = std::filesystem::file_size(path);
                Project::open(path)->compact();
                return QString::number(qint64(before) - qint64(std::filesystem::file_size(path)));
            },
            [this](const QString& saved, const QString& error) {
                if (!error.isEmpty())
                    QMessageBox::warning(this, tr("Compact Project"), error);
                else
                    statusBar()->showMessage(
                        tr("compacted: %1 MB given back").arg(saved.toDouble() / 1e6, 0, 'f', 1), 5000);
            });
    });
    compactAct->setToolTip(tr("Give the space of deleted runs back to the file system"));
    file->addSeparator();
    QAction* exportAct = file->addAction(tr("&Export Plot…"), this, &MainWindow::exportPlot);
    exportAct->setShortcut(QKeySequence(tr("Ctrl+E")));
    exportAct->setToolTip(
        tr("Save the chart of the current view as PNG or PDF (training curves also as CSV)"));
    file->addSeparator();
    QAction* quit = file->addAction(tr("&Quit"), this, &QWidget::close);
    quit->setShortcut(QKeySequence::Quit);

    QMenu* run = menuBar()->addMenu(tr("&Run"));
    QAction* queueAct = run->addAction(tr("&Queue This Spec"), this, [this] { queueSelectedPreset(); });
    queueAct->setShortcut(QKeySequence(tr("Ctrl+Shift+Q")));
    queueAct->setToolTip(
        tr("Add the spec in the editor (a preset or your own), on the chosen task and steps, to the "
           "project's queue"));
    QAction* startAct = run->addAction(tr("S&tart"), this, [this] {
        if (!isTraining() && queueSelectedPreset()) runQueue();
    });
    startAct->setShortcut(QKeySequence(tr("Ctrl+Return")));
    startAct->setToolTip(
        tr("Queue the spec in the editor and start training (after any runs already queued)"));
    runAct_ = run->addAction(tr("Run Queue"), this, &MainWindow::runQueue);
    runAct_->setShortcut(QKeySequence(tr("Ctrl+R")));
    runAct_->setToolTip(tr("Train the queued runs one after another (interrupted runs resume)"));
    pauseAct_ = run->addAction(tr("&Pause"));
    pauseAct_->setCheckable(true);
    pauseAct_->setShortcut(QKeySequence(tr("Ctrl+P")));
    connect(pauseAct_, &QAction::toggled, this, [this](bool on) {
        queue_->setPaused(on);  // holds across the hand-over to the queue's next run
        if (isTraining())
            runLabel_->setText(on ? tr("paused") : tr("training run %1 …").arg(queue_->currentRun()));
    });
    QAction* sweepAct = run->addAction(tr("S&weep…"), this, [this] {
        SweepDialog d(this);
        if (d.exec() != QDialog::Accepted) return;
        if (!queueSweep(d.points(), d.steps()).isEmpty()) runQueue();
    });
    sweepAct->setShortcut(QKeySequence(tr("Ctrl+Shift+G")));
    sweepAct->setToolTip(
        tr("A grid over methods, budgets, tasks and seeds, queued and trained one after another"));
    stopAct_ = run->addAction(tr("&Stop"), this, &MainWindow::stopTraining);
    stopAct_->setShortcut(QKeySequence(tr("Ctrl+.")));
    stopAct_->setToolTip(tr("Cancel the run in progress (it keeps its curve and checkpoint) and the queue"));
    // Runs at once: each run of the queue in a peftwb process of its own, sharing the cores.
    QMenu* atOnce = run->addMenu(tr("Runs at &Once"));
    atOnce->setToolTipsVisible(true);
    auto* atOnceGroup = new QActionGroup(this);
    const int cores = std::max(1, QThread::idealThreadCount());
    const int atOnceChosen = chosenRunsAtOnce();
    for (int n : {1, 2, 3, 4, 6, 8}) {
        if (n > 1 && n > cores) break;
        QAction* a = atOnce->addAction(n == 1 ? tr("1 (one after another)") : tr("%1 side by side").arg(n));
        a->setCheckable(true);
        a->setChecked(n == atOnceChosen);
        a->setToolTip(n == 1 ? tr("One run at a time with every core")
                             : tr("%1 runs at a time, each in a process of its own with %2 of the %3 cores: "
                                  "faster on small backbones, and each run's curve is the one it has alone")
                                   .arg(n)
                                   .arg(std::max(1, cores / n))
                                   .arg(cores));
        atOnceGroup->addAction(a);
        connect(a, &QAction::triggered, this, [this, n] {
            QSettings().setValue(QStringLiteral("queue/parallel"), n);
            queue_->setParallel(n);  // from the next start of the queue
        });
    }
    // Runs side by side that ask for "cuda" are spread over the GPUs present, at most K on each.
    atOnce->addSeparator();
    const QStringList gpus = gpusPresent();
    QAction* gpuInfo =
        atOnce->addAction(gpus.isEmpty() ? tr("GPUs: none (%1)").arg(cudaUnavailableReason())
                                         : tr("GPUs: %1").arg(gpus.join(QStringLiteral(", "))));
    gpuInfo->setEnabled(false);
    auto* perGpuGroup = new QActionGroup(this);
    const int perGpuChosen = chosenRunsPerGpu();
    for (int k : {1, 2, 4}) {
        QAction* a = atOnce->addAction(k == 1 ? tr("1 run per GPU") : tr("%1 runs per GPU").arg(k));
        a->setCheckable(true);
        a->setChecked(k == perGpuChosen);
        a->setEnabled(!gpus.isEmpty());
        a->setToolTip(tr("Runs side by side that train on cuda each take the least busy GPU, at most %1 on "
                         "each; the others wait for a place (several small runs fill a large GPU better)")
                          .arg(k));
        perGpuGroup->addAction(a);
        connect(a, &QAction::triggered, this, [this, k, gpus] {
            QSettings().setValue(QStringLiteral("queue/perGpu"), k);
            queue_->setGpus(gpus, k);
        });
    }
    run->addSeparator();
    slurmAct_ = run->addAction(tr("Submit to S&lurm…"), this, &MainWindow::submitToSlurmDialog);
    slurmAct_->setToolTip(
        tr("Queued runs as one Slurm job array: each task trains into its own shard, "
           "merged back into the project while it is open"));
    slurmAct_->setEnabled(false);
    mergeAct_ = run->addAction(tr("&Merge Cluster Results"), this, [this] { mergeClusterResults(false); });
    mergeAct_->setToolTip(
        tr("Bring the cluster tasks' shards into the project now (it also happens on its "
           "own every 20 s while runs are submitted)"));
    mergeAct_->setEnabled(false);
    run->addSeparator();
    QAction* exportAdapterAct =
        run->addAction(tr("E&xport Adapter…"), this, &MainWindow::exportAdapterDialog);
    exportAdapterAct->setToolTip(
        tr("The run selected in the Compare view as an adapter folder: Hugging Face PEFT "
           "(LoRA, prefix tuning on a Hugging Face backbone) or the workbench's own"));

    QMenu* view = menuBar()->addMenu(tr("&View"));
    presentAct_ = view->addAction(tr("&Presentation Mode"));
    presentAct_->setCheckable(true);
    presentAct_->setShortcut(QKeySequence(Qt::Key_F5));
    presentAct_->setToolTip(
        tr("Larger type, advanced controls hidden, formula and block diagram in front; "
           "remembered per project"));
    connect(presentAct_, &QAction::toggled, this, [this](bool on) {
        setPresentationMode(on);
        if (project_ && !project_->readOnly()) project_->setMeta("presentation", on ? "1" : "0");
    });
    view->addAction(tr("Presentation &Settings…"), this, [this] {
        // Which advanced controls presentation mode hides.
        QDialog d(this);
        d.setWindowTitle(tr("Presentation Settings"));
        auto* layout = new QVBoxLayout(&d);
        layout->addWidget(
            new QLabel(tr("Presentation mode hides these controls of the design-space editor:"), &d));
        QSettings settings;
        const QStringList hidden =
            settings.value(QStringLiteral("presentation/hidden"), SpecEditor::advancedControlNames())
                .toStringList();
        QList<QCheckBox*> boxes;
        for (const auto& [key, label] : SpecEditor::advancedControls()) {
            auto* box = new QCheckBox(label, &d);
            box->setProperty("key", key);
            box->setChecked(hidden.contains(key));
            layout->addWidget(box);
            boxes << box;
        }
        auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, &d);
        connect(buttons, &QDialogButtonBox::accepted, &d, &QDialog::accept);
        connect(buttons, &QDialogButtonBox::rejected, &d, &QDialog::reject);
        layout->addWidget(buttons);
        if (d.exec() != QDialog::Accepted) return;
        QStringList chosen;
        for (QCheckBox* box : boxes)
            if (box->isChecked()) chosen << box->property("key").toString();
        settings.setValue(QStringLiteral("presentation/hidden"), chosen);
        if (presenting_) editor_->setAdvancedHidden(true, chosen);
    });
    view->addSeparator();
    for (QDockWidget* dock : findChildren<QDockWidget*>())
        view->addAction(dock->toggleViewAction());

    QMenu* help = menuBar()->addMenu(tr("&Help"));
    QAction* about = help->addAction(tr("About the &Unified View"), this, &MainWindow::showAboutUnifiedView);
    about->setShortcut(QKeySequence::HelpContents);
    help->addAction(tr("About &PEFT Workbench"), this, [this] {
        QMessageBox::about(
            this, tr("About PEFT Workbench"),
            tr("<h3>PEFT Workbench %1</h3><p>Explore parameter-efficient fine-tuning as laid out in "
               "<i>Towards a Unified View of Parameter-Efficient Transfer Learning</i> (He et al., "
               "ICLR 2022).</p><p>LibTorch %2 · Qt %3</p><p>GPL-3.0-or-later</p>")
                .arg(qs(appVersion()), engineVersion(), QString::fromLatin1(qVersion())));
    });

    QToolBar* tb = addToolBar(tr("Main"));
    tb->setObjectName(QStringLiteral("MainToolBar"));
    tb->addWidget(task_);
    tb->addWidget(steps_);
    tb->addAction(queueAct);
    tb->addAction(runAct_);
    tb->addAction(pauseAct_);
    tb->addAction(stopAct_);
    tb->addSeparator();
    tb->addAction(exportAct);
    tb->addAction(about);
    addRecent(QString());  // fills the menu
}

void MainWindow::buildPresetDock() {
    auto* dock = new QDockWidget(tr("Design space"), this);
    dock->setObjectName(QStringLiteral("PresetDock"));
    presets_ = new QListWidget(dock);
    presets_->setToolTip(
        tr("Each preset is one point of the unified view: a functional form, an insertion form, "
           "a modified representation and a composition function"));
    for (const Preset& p : peft::presets()) {
        auto* item = new QListWidgetItem(qs(p.name), presets_);
        item->setData(Qt::UserRole, qs(p.id));
        item->setToolTip(qs(p.formula + "\n" + p.paper_row));
    }
    editor_ = new SpecEditor(cfg_, dock);
    connect(presets_, &QListWidget::currentRowChanged, this, [this](int row) {
        if (row < 0) return;
        const Preset& p = peft::presets()[size_t(row)];
        try {
            editor_->setSpec(resolvePreset(p, cfg_), qs(p.id));
        } catch (const Error& e) {
            statusBar()->showMessage(qs(e.what()), 8000);
        }
    });
    connect(editor_, &SpecEditor::specChanged, this, &MainWindow::showSelection);
    auto* split = new QSplitter(Qt::Vertical, dock);
    split->addWidget(presets_);
    split->addWidget(editor_);
    split->setStretchFactor(0, 2);
    split->setStretchFactor(1, 3);
    dock->setWidget(split);
    dock->setMinimumWidth(300);
    addDockWidget(Qt::LeftDockWidgetArea, dock);
}

void MainWindow::buildSettingsDock() {
    // The training settings of the next run, beside the editor (a tab of the same dock area).
    QDockWidget* dock = findChild<QDockWidget*>(QStringLiteral("PresetDock"));
    auto* settingsDock = new QDockWidget(tr("Training settings"), this);
    settingsDock->setObjectName(QStringLiteral("TrainingSettingsDock"));
    settings_ = new TrainSettingsPanel(settingsDock);
    settingsDock->setWidget(settings_);
    addDockWidget(Qt::LeftDockWidgetArea, settingsDock);
    tabifyDockWidget(dock, settingsDock);
    dock->raise();
    connect(settings_, &TrainSettingsPanel::changed, this, [this](const QString& key) {
        if (key == QLatin1String("steps") || key == QLatin1String("seed")) updateTrainingDefaults();
        if (key == QLatin1String("steps")) {
            bool ok = false;
            const int steps = settings_->fieldText(key).toInt(&ok);
            if (ok) {
                const QSignalBlocker block(steps_);
                steps_->setValue(steps);
            }
        }
        if (key == QLatin1String("device") || key == QLatin1String("threads") ||
            key == QLatin1String("precision"))
            showEngineState();
    });
    connect(steps_, &QSpinBox::valueChanged, this,
            [this](int steps) { settings_->setFieldText(QStringLiteral("steps"), QString::number(steps)); });
    connect(editor_, &SpecEditor::specChanged, this, &MainWindow::updateTrainingDefaults);
    updateTrainingDefaults();
}

void MainWindow::updateTrainingDefaults() {
    const int64_t steps = settings_->fieldText(QStringLiteral("steps")).toLongLong();
    const uint64_t seed = settings_->fieldText(QStringLiteral("seed")).toULongLong();
    settings_->setDefaults(
        presetTrainConfig(editor_->presetId().toStdString(), steps > 0 ? steps : steps_->value(), seed));
}

void MainWindow::showLiveProgress() {
    // One run: its steps, rate and ETA; several side by side: their steps summed, their rates summed, the
    // longest ETA.
    if (live_.isEmpty()) {
        rateLabel_->clear();
        progress_->setVisible(false);
        return;
    }
    int64_t steps = 0, total = 0;
    double rate = 0, eta = 0;
    for (const LiveRun& l : std::as_const(live_)) {
        steps += l.step, total += l.total, rate += l.rate;
        eta = std::max(eta, l.eta);
    }
    progress_->setRange(0, int(std::min<int64_t>(total, INT_MAX)));
    progress_->setValue(int(std::min<int64_t>(steps, INT_MAX)));
    progress_->setVisible(true);
    const QString speed = tr("%1 steps/s · ETA %2 s").arg(rate, 0, 'f', 1).arg(eta, 0, 'f', 0);
    rateLabel_->setText(live_.size() > 1 ? tr("%1 runs · %2").arg(live_.size()).arg(speed) : speed);
}

void MainWindow::showEngineState() {
    // The running run's device, else the one the next run would ask for.
    // The next run's precision beside its device ("cpu, fp32"); a running run shows where it trains.
    const QString device = runDevice_.isEmpty()
                               ? settings_->fieldText(QStringLiteral("device")) + QStringLiteral(", ") +
                                     settings_->fieldText(QStringLiteral("precision"))
                               : runDevice_;
    const int threads = settings_->fieldText(QStringLiteral("threads")).toInt();
    backboneLabel_->setText(tr("%1 (%2 parameters) · %3 %4 · %5 threads")
                                .arg(qs(cfg_.name))
                                .arg(formatCount(backboneParamCount(cfg_)))
                                .arg(runDevice_.isEmpty() ? tr("next run on") : tr("training on"), device)
                                .arg(threads > 0 ? threads : defaultThreadCount()));
    backboneLabel_->setToolTip(tr("The project's backbone, the device and threads of the running run (or of "
                                  "the next one, with its precision, from Training settings); LibTorch %1")
                                   .arg(engineVersion()));
}

void MainWindow::buildCentral() {
    auto* splitter = new QSplitter(Qt::Vertical, this);

    plot_ = new BudgetChart(splitter);
    plot_->setMinimumHeight(440);
    connect(plot_, &BudgetChart::presetClicked, this, [this](int index) { presets_->setCurrentRow(index); });
    splitter->addWidget(plot_);

    auto* details = new QWidget(splitter);
    auto* outer = new QHBoxLayout(details);
    auto* layout = new QVBoxLayout;
    outer->addLayout(layout, 1);
    diagram_ = new BlockDiagram(details);
    outer->addWidget(diagram_);
    title_ = new QLabel(details);
    QFont tf = title_->font();
    tf.setPointSizeF(tf.pointSizeF() * 1.4);
    tf.setBold(true);
    title_->setFont(tf);
    formula_ = new QLabel(details);
    formula_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    QFont ff = formula_->font();
    ff.setPointSizeF(ff.pointSizeF() * 1.15);
    formula_->setFont(ff);
    formula_->setWordWrap(true);
    counts_ = new QLabel(details);
    counts_->setWordWrap(true);
    table_ = new QTableWidget(0, 6, details);
    table_->setObjectName(QStringLiteral("ModuleTable"));
    table_->setHorizontalHeaderLabels(
        {tr("Module"), tr("Layers"), tr("Trained"), tr("% backbone"), tr("Stored"), tr("% backbone")});
    table_->horizontalHeader()->setSectionResizeMode(0, QHeaderView::Stretch);
    table_->verticalHeader()->setVisible(false);
    table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    table_->setAlternatingRowColors(true);
    table_->setToolTip(
        tr("Trained: what the optimizer updates. Stored: what must be kept after training (a prefix "
           "MLP collapses to its output P_k, P_v)."));
    layout->addWidget(title_);
    layout->addWidget(formula_);
    layout->addWidget(counts_);
    layout->addWidget(table_, 1);
    splitter->addWidget(details);
    splitter->setStretchFactor(0, 3);
    splitter->setStretchFactor(1, 2);

    tabs_ = new QTabWidget(this);
    tabs_->setObjectName(QStringLiteral("Views"));
    tabs_->addTab(splitter, tr("Design space"));
    training_ = new TrainingView(tabs_);
    tabs_->addTab(training_, tr("Training"));
    compare_ = new CompareView(tabs_);
    tabs_->addTab(compare_, tr("Compare"));
    studies_ = new StudyView(tabs_);
    tabs_->addTab(studies_, tr("Studies"));
    tabs_->setTabToolTip(
        tabs_->indexOf(studies_),
        tr("The paper's experiments over several seeds: claim, plot with intervals, verdicts"));
    connect(studies_, &StudyView::openRequested, this, [this](const QString& path) {
        const QString id = studies_->study() ? qs(studies_->study()->id) : QString();
        if (openProject(path, true) && !id.isEmpty()) {  // read-only: the shipped file stays as shipped
            studies_->selectStudy(id);
            tabs_->setCurrentWidget(studies_);  // the user asked for this view's content
        }
    });
    connect(studies_, &StudyView::queueRequested, this, [this](const Study& s, const StudyOptions& o) {
        if (!project_ || project_->readOnly()) return;
        try {
            const QueuedStudy q = queueStudy(*project_, s, o);
            refreshRuns();
            statusBar()->showMessage(
                tr("study %1: %2 runs queued, %3 already in the project; Run ▸ Run Queue "
                   "trains them")
                    .arg(qs(s.id))
                    .arg(q.added)
                    .arg(qint64(q.runs.size()) - q.added),
                8000);
        } catch (const std::exception& e) {
            QMessageBox::warning(this, tr("Cannot queue the study"), QString::fromUtf8(e.what()));
        }
    });
    tabs_->setTabToolTip(0, tr("Where each preset sits in the design space and what it trains"));
    tabs_->setTabToolTip(tabs_->indexOf(training_), tr("Live loss and metric curves of the project's runs"));
    tabs_->setTabToolTip(tabs_->indexOf(compare_),
                         tr("Every run against full fine-tuning: table and Figure 1"));
    params_ = new ParamView(cfg_, tabs_);
    tabs_->addTab(params_, tr("Parameters"));
    tabs_->setTabToolTip(tabs_->indexOf(params_),
                         tr("What the spec trains and stores in each layer, next to a backbone layer"));
    lambda_ = new LambdaView(tabs_);
    tabs_->addTab(lambda_, tr("λ(x)"));
    tabs_->setTabToolTip(
        tabs_->indexOf(lambda_),
        tr("The prefix's gate λ(x) per layer, head and token for a run with a gated prefix"));
    connect(compare_, &CompareView::referenceRequested, this, &MainWindow::queueReference);
    connect(compare_, &CompareView::runsSelected, this, [this](const QList<qint64>& ids) {
        selectedRuns_ = ids;
        training_->showOnly(ids);
    });
    QTableWidget* runTable = compare_->table();
    runTable->setContextMenuPolicy(Qt::CustomContextMenu);
    connect(runTable, &QTableWidget::customContextMenuRequested, this, [this, runTable](const QPoint& at) {
        const QTableWidgetItem* item = runTable->itemAt(at);
        if (!item) return;
        const qint64 id = runTable->item(item->row(), 0)->data(Qt::UserRole).toLongLong();
        QMenu menu(this);
        for (QAction* a : runActions(id))
            menu.addAction(a);
        menu.exec(runTable->viewport()->mapToGlobal(at));
        qDeleteAll(menu.actions());
    });
    setCentralWidget(tabs_);
}

QList<QAction*> MainWindow::runActions(qint64 id) {
    QList<QAction*> out;
    if (!project_) return out;
    RunRecord r;
    try {
        r = project_->run(id);
    } catch (const std::exception&) {
        return out;
    }
    const bool writable = !project_->readOnly();
    const bool trains = queue_->currentRun() == id;
    auto add = [&](const QString& text, bool enabled, std::function<void()> f) {
        auto* a = new QAction(text, nullptr);
        a->setEnabled(enabled);
        connect(a, &QAction::triggered, this, [f = std::move(f)] { f(); });
        out << a;
    };
    add(tr("Show Settings"), true, [this, id] { showRunSettings(id, false); });
    add(tr("Duplicate with Changes…"), true, [this, id] { showRunSettings(id, true); });
    const bool resumable = (r.state == RunState::Interrupted || r.state == RunState::Cancelled) &&
                           project_->checkpoint(id, "eval").has_value();
    add(tr("Resume"), writable && resumable && !isTraining(), [this, id] {
        queue_->setProject(projectPath_);
        queue_->startRun(id);
    });
    add(tr("Re-queue from Scratch"), writable && !trains && r.state != RunState::Queued,
        [this, id] { manageRun(id, [](Project& p, int64_t run) { p.requeueRun(run); }); });
    add(tr("Rename…"), writable, [this, id, name = qs(r.name)] {
        bool ok = false;
        const QString to =
            QInputDialog::getText(this, tr("Rename Run"), tr("Name"), QLineEdit::Normal, name, &ok);
        if (ok && !to.trimmed().isEmpty())
            manageRun(id, [n = to.trimmed().toStdString()](Project& p, int64_t run) { p.renameRun(run, n); });
    });
    add(tr("Notes…"), writable, [this, id, notes = qs(r.notes)] {
        bool ok = false;
        const QString text = QInputDialog::getMultiLineText(this, tr("Run Notes"), tr("Notes"), notes, &ok);
        if (ok) manageRun(id, [n = text.toStdString()](Project& p, int64_t run) { p.setNotes(run, n); });
    });
    add(tr("Delete…"), writable && !trains, [this, id, name = qs(r.name)] {
        if (QMessageBox::question(
                this, tr("Delete Run"),
                tr("Delete run %1 (%2) with its curves and checkpoints? This cannot be undone.")
                    .arg(id)
                    .arg(name)) != QMessageBox::Yes)
            return;
        manageRun(id, [](Project& p, int64_t run) { p.deleteRun(run); });
        training_->removeRun(id);
    });
    return out;
}

void MainWindow::manageRun(qint64 id, const std::function<void(Project&, int64_t)>& change) {
    try {
        change(*project_, id);
    } catch (const std::exception& e) {
        QMessageBox::warning(this, tr("Run %1").arg(id), QString::fromUtf8(e.what()));
    }
    refreshRuns();
}

void MainWindow::showRunSettings(qint64 id, bool duplicate) {
    try {
        const RunRecipe r = runRecipe(*project_, project_->run(id));
        const bool started = project_->run(id).state != RunState::Queued;
        if (duplicate) {
            // The run's spec in the editor and its settings in the panel, for the next Queue This Spec.
            const RunRecord rec = project_->run(id);
            editor_->setSpec(r.spec,
                             rec.preset == "custom" || rec.preset == "adapter" ? QString() : qs(rec.preset));
            settings_->loadForNextRun(r.train);
            statusBar()->showMessage(tr("Run %1's spec and settings are in the editor and the Training "
                                        "settings: change them, then "
                                        "Queue This Spec")
                                         .arg(id),
                                     8000);
        } else {
            settings_->showConfig(r.train, started);
        }
        if (auto* dock = findChild<QDockWidget*>(QStringLiteral("TrainingSettingsDock"))) dock->raise();
    } catch (const std::exception& e) {
        QMessageBox::warning(this, tr("Run %1").arg(id), QString::fromUtf8(e.what()));
    }
}

QString MainWindow::selectedPresetId() const {
    const QListWidgetItem* item = presets_->currentItem();
    return item ? item->data(Qt::UserRole).toString() : QString();
}

void MainWindow::selectPreset(const QString& id) {
    for (int i = 0; i < presets_->count(); ++i)
        if (presets_->item(i)->data(Qt::UserRole).toString() == id) {
            presets_->setCurrentRow(i);
            return;
        }
    presets_->setCurrentRow(0);
}

void MainWindow::showSelection() {
    const int row = presets_->currentRow();
    const Spec& spec = editor_->spec();
    const ModelConfig& cfg = cfg_;
    const bool preset = !editor_->presetId().isEmpty() && row >= 0;
    const Preset* p = preset ? &peft::presets()[static_cast<size_t>(row)] : nullptr;
    if (!editor_->validationError().isEmpty()) {
        title_->setText(p ? qs(p->name) : tr("Custom spec"));
        formula_->setText(QStringLiteral("<span style='color:#c0392b'>%1</span>")
                              .arg(editor_->validationError().toHtmlEscaped()));
        counts_->clear();
        table_->setRowCount(0);
        return;
    }
    diagram_->setSpec(spec, cfg.pre_ln);
    params_->setSpec(spec);
    const ParamReport rep = countParams(spec, cfg);
    title_->setText(p ? qs(p->name) : tr("Custom spec"));
    formula_->setText(
        qs(formula(spec)).toHtmlEscaped().replace(QLatin1Char('\n'), QStringLiteral("<br>")) +
        (p ? QStringLiteral("<br><span style='color:gray'>%1</span>").arg(qs(p->paper_row).toHtmlEscaped())
           : QString()));
    counts_->setText(
        tr("<b>trained</b> %1 (%2 %) &nbsp;·&nbsp; <b>stored</b> %3 (%4 %) &nbsp;·&nbsp; task head %5 "
           "(always trained, not counted) &nbsp;·&nbsp; full fine-tuning trains %6")
            .arg(formatCount(rep.trained))
            .arg(rep.trainedPct(), 0, 'f', 3)
            .arg(formatCount(rep.stored))
            .arg(rep.storedPct(), 0, 'f', 3)
            .arg(formatCount(rep.head))
            .arg(formatCount(rep.backbone)));

    const std::vector<ParamReport::Row> rows = rep.foldedRows();
    table_->setRowCount(static_cast<int>(rows.size()));
    auto pct = [&](int64_t v) { return QString::number(100.0 * double(v) / double(rep.backbone), 'f', 4); };
    for (int i = 0; i < static_cast<int>(rows.size()); ++i) {
        const ParamReport::Row& r = rows[static_cast<size_t>(i)];
        const QStringList cells = {qs(r.name),
                                   r.layers ? QString::number(r.layers) : QStringLiteral("–"),
                                   formatCount(r.trained),
                                   pct(r.trained),
                                   formatCount(r.stored),
                                   pct(r.stored)};
        for (int c = 0; c < cells.size(); ++c) {
            auto* item = new QTableWidgetItem(cells[c]);
            if (c > 0) item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
            table_->setItem(i, c, item);
        }
    }
    table_->resizeColumnsToContents();
    table_->horizontalHeader()->setSectionResizeMode(0, QHeaderView::Stretch);

    plot_->highlightPreset(preset ? row : -1);
}

void MainWindow::exportPlot() {
    const bool curves = tabs_->currentWidget() == training_;
    QCustomPlot* plot = tabs_->currentWidget() == compare_   ? compare_->scatter()
                        : tabs_->currentWidget() == studies_ ? studies_->plot()
                        : tabs_->currentWidget() == lambda_  ? lambda_->heatmap()
                        : tabs_->currentWidget() == params_  ? params_->plot()
                                                             : plot_;
    const QString path = QFileDialog::getSaveFileName(
        this, tr("Export plot"), curves ? QStringLiteral("curves.png") : QStringLiteral("plot.png"),
        plotFileFilter() + (curves ? tr(";;CSV data (*.csv)") : QString()));
    if (path.isEmpty()) return;
    bool ok = false;
    if (curves && path.endsWith(QLatin1String(".csv"), Qt::CaseInsensitive))
        ok = training_->exportCsv(path);
    else if (curves)
        ok = training_->exportImage(path);
    else
        ok = savePlot(plot, path);
    if (!ok) QMessageBox::warning(this, tr("Export failed"), tr("Could not write %1.").arg(path));
}

void MainWindow::showAboutUnifiedView() {
    const QString html = tr(
        "<h3>The unified view (He et al., ICLR 2022)</h3>"
        "<p>Every method adds a modification Δh to a hidden representation h and composes it with h.</p>"
        "<table border=1 cellspacing=0 cellpadding=4>"
        "<tr><th>Method</th><th>Δh functional form</th><th>Insertion</th><th>Modified representation</th>"
        "<th>Composition</th></tr>"
        "<tr><td>Prefix tuning</td><td>softmax(x W<sub>q</sub> P<sub>k</sub><sup>T</sup>) P<sub>v</sub></td>"
        "<td>parallel</td><td>head attention</td><td>h ← (1−λ)h + λΔh</td></tr>"
        "<tr><td>Adapter</td><td>ReLU(h W<sub>down</sub>) W<sub>up</sub></td><td>sequential</td>"
        "<td>attention / FFN</td><td>h ← h + Δh</td></tr>"
        "<tr><td>LoRA</td><td>x W<sub>down</sub> W<sub>up</sub></td><td>parallel</td><td>a weight "
        "(W<sub>q</sub>, "
        "W<sub>v</sub>, …)</td><td>h ← h + s·Δh</td></tr>"
        "<tr><td>Parallel adapter</td><td>ReLU(x W<sub>down</sub>) W<sub>up</sub></td><td>parallel</td>"
        "<td>attention / FFN</td><td>h ← h + Δh</td></tr>"
        "<tr><td>Multi-head PA</td><td>ReLU(x W<sub>q</sub> P<sub>k</sub><sup>T</sup>) P<sub>v</sub></td>"
        "<td>parallel</td><td>head attention</td><td>h ← h + Δh</td></tr>"
        "<tr><td>Scaled PA</td><td>ReLU(x W<sub>down</sub>) W<sub>up</sub></td><td>parallel</td>"
        "<td>attention / FFN</td><td>h ← h + s·Δh</td></tr>"
        "</table>"
        "<p>λ(x) = Σ<sub>i</sub> exp(x W<sub>q</sub> P<sub>k</sub><sup>T</sup>)<sub>i</sub> / (Σ<sub>i</sub> "
        "exp(x W<sub>q</sub> P<sub>k</sub><sup>T</sup>)<sub>i</sub> + Σ<sub>j</sub> exp(x W<sub>q</sub> "
        "W<sub>k</sub><sup>T</sup> C<sup>T</sup>)<sub>j</sub>)</p>"
        "<p><b>Findings:</b> parallel insertion beats sequential; at large budgets modifying the FFN wins, "
        "at "
        "~0.1 % head-attention modifications win; scaled composition (s = 4) beats simple addition; the MAM "
        "adapter matches full fine-tuning with 6.7 % of the parameters.</p>");
    QMessageBox box(this);
    box.setWindowTitle(tr("About the Unified View"));
    box.setTextFormat(Qt::RichText);
    box.setText(html);
    box.exec();
}

void MainWindow::showNewMetrics(qint64 run) {
    const RunRecord r = project_->run(run);
    if (!training_->hasRun(run)) training_->addRun(run, qs(r.name));
    const int64_t after = shownStep_.value(run, -1);
    QVector<MetricSample> samples;
    int64_t last = after;
    for (const auto& m : project_->metrics(run)) {
        if (m.step <= after) continue;
        samples.push_back({m.step, m.wall_time, qs(m.split), qs(m.name), m.value});
        last = std::max(last, m.step);
    }
    training_->addSamples(run, samples);
    shownStep_[run] = last;
}

void MainWindow::submitToSlurmDialog() {
    if (!project_ || project_->readOnly()) return;
    std::vector<int64_t> chosen;
    for (const qint64 id : selectedRuns_)
        chosen.push_back(id);
    SlurmDialog d(*project_, peftwbPath(), chosen, this);
    if (d.exec() != QDialog::Accepted) return;
    SlurmPlan plan;
    try {
        plan = d.plan();
    } catch (const std::exception& e) {
        QMessageBox::warning(this, tr("Cannot submit"), QString::fromUtf8(e.what()));
        return;
    }
    const SlurmOptions o = d.options();
    const std::string path = projectPath_.toStdString();
    statusBar()->showMessage(tr("submitting %n task(s) to Slurm…", nullptr, int(plan.tasks.size())));
    slurmAct_->setEnabled(false);
    inBackground(
        [path, plan, o] {
            auto p = Project::open(path);  // this thread's own connection
            const SlurmSubmission s = submitToSlurm(*p, plan, o);
            return QString::fromStdString(s.job_id);
        },
        [this, plan](const QString& job, const QString& error) {
            slurmAct_->setEnabled(true);
            if (!error.isEmpty()) {
                statusBar()->clearMessage();
                QMessageBox::warning(this, tr("Slurm did not take the job"), error);
                return;
            }
            statusBar()->showMessage(
                tr("submitted job %1: %n task(s); shards in %2", nullptr, int(plan.tasks.size()))
                    .arg(job, qs(plan.shards_dir)),
                12000);
            refreshRuns();
            mergeClusterResults(true);  // Slurm's states at once
        });
}

void MainWindow::mergeClusterResults(bool quiet) {
    if (!project_ || project_->readOnly() || merging_) return;
    merging_ = true;
    const std::string path = projectPath_.toStdString();
    if (!quiet) statusBar()->showMessage(tr("merging the cluster's shards…"));
    inBackground(
        [path] {
            auto p = Project::open(path);
            const auto merges = mergeShards(*p, {});
            std::set<std::string> read;
            nlohmann::json j = {{"merged", nlohmann::json::array()}, {"refused", nlohmann::json::array()}};
            for (const auto& m : merges) {
                if (!m.refused.empty()) {
                    j["refused"].push_back(m.refused);
                    continue;
                }
                read.insert(std::filesystem::absolute(m.shard).lexically_normal().string());
                for (const int64_t id : m.merged)
                    j["merged"].push_back(id);
            }
            const auto infos = slurmRuns(*p);
            std::vector<std::string> jobs;
            for (const auto& s : infos)
                if (std::find(jobs.begin(), jobs.end(), s.job_id) == jobs.end()) jobs.push_back(s.job_id);
            const auto states = querySlurm(jobs);
            j["changes"] = reconcileSlurmStates(*p, states, read);
            nlohmann::json st = nlohmann::json::object();
            for (const auto& s : infos)
                if (const auto it = states.find(s.task()); it != states.end())
                    st[std::to_string(s.run)] = it->second.state + " " + s.task();
            j["states"] = st;
            return QString::fromStdString(j.dump());
        },
        [this, quiet](const QString& result, const QString& error) {
            merging_ = false;
            if (!project_) return;
            if (!error.isEmpty()) {
                statusBar()->showMessage(tr("merging the cluster's shards: %1").arg(error), 12000);
                return;
            }
            try {
                const auto j = nlohmann::json::parse(result.toStdString());
                clusterStates_.clear();
                for (const auto& [id, state] : j["states"].items())
                    clusterStates_[std::stoll(id)] = qs(state.get<std::string>());
                for (const auto& id : j["merged"])
                    showNewMetrics(id.get<int64_t>());
                refreshRuns();
                QStringList said;
                if (!j["merged"].empty())
                    said << tr("%n run(s) updated from the cluster", nullptr, int(j["merged"].size()));
                for (const auto& c : j["changes"])
                    said << qs(c.get<std::string>());
                for (const auto& r : j["refused"])
                    said << tr("skipped %1").arg(qs(r.get<std::string>()));
                if (!said.isEmpty() || !quiet)
                    statusBar()->showMessage(said.isEmpty() ? tr("the cluster's shards hold nothing new")
                                                            : said.join(QStringLiteral("; ")),
                                             12000);
            } catch (const std::exception& e) {
                statusBar()->showMessage(QString::fromUtf8(e.what()), 8000);
            }
        });
}

}  // namespace peft::ui
