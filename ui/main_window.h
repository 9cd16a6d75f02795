// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The workbench's main window. Qt only: it talks to core through torch-free headers (spec, presets,
// accounting, project), so no torch op ever runs on the GUI thread; training runs on a worker thread
// (RunWorker) that reports through queued signals.
#include <QFont>
#include <QHash>
#include <QMainWindow>
#include <QString>
#include <QThread>

#include <functional>
#include <memory>

#include "data/file_data.h"
#include "model/config.h"

namespace peft {
class Project;
}

class QAction;
class QComboBox;
class QCustomPlot;
class QCPBars;
class QCPItemRect;
class QCPTextElement;
class QLabel;
class QListWidget;
class QProgressBar;
class QSpinBox;
class QTableWidget;
class QTabWidget;

namespace peft::ui {

class BlockDiagram;
class BudgetChart;
class CompareView;
class LambdaView;
class ParamView;
class LambdaWorker;
class RunQueue;
class SpecEditor;
class StudyView;
class TrainingView;
class TrainSettingsPanel;

class MainWindow : public QMainWindow {
    Q_OBJECT

public:
    /// Opens `project`, or the built-in default project (created on first start with every preset queued).
    explicit MainWindow(const QString& project = {}, QWidget* parent = nullptr);
    ~MainWindow() override;

    /// The default project's file: <app data>/default.peftproj.
    static QString defaultProjectPath();
    /// Creates a project with every preset queued on `task` (steps each), for "Run queue".
    /// `backboneDir` empty: the shipped default backbone; else a backbone folder (the workbench's own or a
    /// Hugging Face bert / roberta / gpt2 folder). Throws peft::Error when the folder does not load.
    static void createQueuedProject(const QString& path, const QString& task, int steps,
                                    const QString& backboneDir = {});
    /// Opens a backbone folder: checks it, creates `projectFile` (asked for when empty) with every preset
    /// queued on the chosen task, and opens it. Returns false (after saying why) when it cannot.
    bool openBackbone(const QString& dir, QString projectFile = {});
    /// Records a dataset of the user's files in the project and makes it the task to queue on; returns its id
    /// (0 when it failed, after saying why).
    qint64 importDataset(const FileDatasetSpec& spec);
    QComboBox* taskBox() const { return task_; }
    /// File ▸ Import Dataset…, optionally on `file`.
    void importDatasetDialog(const QString& file = {});
    /// File ▸ Import Adapter…: queues a run that starts from an adapter folder (checked against the backbone
    /// on a worker thread); `done` gets the run id (0 on failure, after saying why).
    void importAdapter(const QString& dir, std::function<void(qint64)> done = {});
    /// Run ▸ Export Adapter…: the run's best weights as an adapter folder (format "hf-peft" or "native"), on
    /// a worker thread; `done` gets the folder (empty on failure, after saying why).
    void exportAdapter(qint64 run, const QString& format, const QString& dir,
                       std::function<void(QString)> done = {});
    /// The shape of the open project's backbone, which the design-space editor and counts use.
    const ModelConfig& backboneConfig() const { return cfg_; }

    bool openProject(const QString& path, bool readOnly = false);
    QString projectPath() const { return projectPath_; }
    TrainingView* trainingView() const { return training_; }
    CompareView* compareView() const { return compare_; }
    LambdaView* lambdaView() const { return lambda_; }
    StudyView* studyView() const { return studies_; }
    SpecEditor* specEditor() const { return editor_; }
    ParamView* paramView() const { return params_; }
    TrainSettingsPanel* trainSettings() const { return settings_; }
    QTabWidget* tabs() const { return tabs_; }
    /// What can be done with run `id` (the Compare table's context menu): show its settings, duplicate it
    /// with changes, resume, re-queue from scratch, rename, notes, delete. The caller owns the actions.
    QList<QAction*> runActions(qint64 id);
    QAction* submitToSlurmAction() const { return slurmAct_; }
    QAction* mergeClusterAction() const { return mergeAct_; }
    QLabel* clusterLabel() const { return clusterLabel_; }
    /// Shows run `id`'s settings in the panel (read-only once it started), or with `duplicate` puts its spec
    /// in the editor and its settings in the panel for the next Queue This Spec.
    void showRunSettings(qint64 id, bool duplicate);
    /// Queues the selected preset on the chosen task; returns the run id (0 when it failed).
    qint64 queueSelectedPreset();
    /// Queues full fine-tuning on a group (backbone · data) that has none, with the settings of the group's
    /// first run; returns the run id (0 when it failed).
    qint64 queueReference(const QString& group);
    /// Runs the queued runs one after another.
    void runQueue();
    /// Queues a sweep's points (each preset sized to its budget) with `steps` each; returns the run ids.
    QList<qint64> queueSweep(const QVector<struct SweepPoint>& points, int steps);
    void stopTraining();
    bool isTraining() const;
    RunQueue* runQueueController() const { return queue_; }
    /// Presentation mode for classrooms: larger type, the advanced controls hidden (QSettings
    /// "presentation/hidden"), formula and block diagram in front. Remembered per project.
    void setPresentationMode(bool on);
    bool presentationMode() const { return presenting_; }

    BudgetChart* budgetPlot() const { return plot_; }
    QTableWidget* moduleTable() const { return table_; }
    QListWidget* presetList() const { return presets_; }
    QString selectedPresetId() const;
    void selectPreset(const QString& id);

protected:
    void closeEvent(QCloseEvent* event) override;

Q_SIGNALS:
    /// A run finished, was cancelled or failed, and the project was reread.
    void runEnded(qint64 run);
    void queueDrained();

private:
    void buildTrainingControls();
    void refreshRuns();
    /// The task choices: the built-in tasks, then the project's imported datasets.
    void refreshTasks();
    void setProjectTitle();
    void addRecent(const QString& path);
    void newProject();
    void openProjectDialog();
    void openBackboneDialog();
    void importAdapterDialog();
    void exportAdapterDialog();
    /// Runs `work` on a worker thread; `done` gets its result or its error message on the GUI thread. The
    /// window waits for such work when it is destroyed (it may be writing files).
    void inBackground(std::function<QString()> work, std::function<void(QString result, QString error)> done);
    /// Reads the open project's backbone config and shows it in the editor, counts and status bar.
    void applyBackbone();
    void saveProjectAs();
    void buildActions();
    void buildPresetDock();
    /// Applies `change` to run `id` of the open project, says why when it cannot, and rereads the runs.
    void manageRun(qint64 id, const std::function<void(Project&, int64_t)>& change);
    /// The training-settings panel, tabbed with the design-space dock (after the toolbar's controls exist).
    void buildSettingsDock();
    /// The settings panel's defaults: the selected preset's policy at the panel's steps and seed.
    void updateTrainingDefaults();
    /// The status bar's backbone, device (of the running run, else of the next) and threads.
    void showEngineState();
    void showLiveProgress();
    void buildCentral();
    void showSelection();
    void showAboutUnifiedView();
    /// Run ▸ Submit to Slurm…: the dialog, then sbatch on a worker thread.
    void submitToSlurmDialog();
    /// Merges the shards of the project's cluster runs and asks Slurm where their tasks stand, on a worker
    /// thread; curves that grew appear in the Training view. `quiet`: from the timer (no message when
    /// nothing changed).
    void mergeClusterResults(bool quiet);
    /// Adds to the Training view the metric points of `run` after the last one it shows.
    void showNewMetrics(qint64 run);
    void exportPlot();

    QListWidget* presets_ = nullptr;
    BudgetChart* plot_ = nullptr;
    QLabel* title_ = nullptr;
    QLabel* formula_ = nullptr;
    QLabel* counts_ = nullptr;
    QTableWidget* table_ = nullptr;
    SpecEditor* editor_ = nullptr;
    BlockDiagram* diagram_ = nullptr;
    ParamView* params_ = nullptr;

    QTabWidget* tabs_ = nullptr;
    TrainingView* training_ = nullptr;
    CompareView* compare_ = nullptr;
    LambdaView* lambda_ = nullptr;
    StudyView* studies_ = nullptr;
    QThread lambdaThread_;
    LambdaWorker* lambdaWorker_ = nullptr;
    QComboBox* task_ = nullptr;
    QSpinBox* steps_ = nullptr;
    QAction* runAct_ = nullptr;
    QAction* pauseAct_ = nullptr;
    QAction* stopAct_ = nullptr;
    QMenu* recentMenu_ = nullptr;
    QLabel* runLabel_ = nullptr;
    QLabel* rateLabel_ = nullptr;
    QProgressBar* progress_ = nullptr;

    std::unique_ptr<Project> project_;
    QList<qint64> selectedRuns_;  // in the Compare view
    ModelConfig cfg_;             // the open project's backbone
    QLabel* backboneLabel_ = nullptr;
    QString projectPath_;
    RunQueue* queue_ = nullptr;
    TrainSettingsPanel* settings_ = nullptr;
    QString runDevice_;  // the running run's device, empty when idle
    struct LiveRun {
        int64_t step = 0, total = 1;
        double rate = 0, eta = 0;
    };
    QHash<qint64, LiveRun> live_;  // the runs training now (several with runs side by side)
    QList<QThread*> background_;   // inBackground's threads not yet reported; waited for on destruction
    bool presenting_ = false;
    QAction* presentAct_ = nullptr;
    QFont normalFont_;

    // Runs on a Slurm cluster: their shards merged on a timer while any is submitted.
    QAction* slurmAct_ = nullptr;
    QAction* mergeAct_ = nullptr;
    QLabel* clusterLabel_ = nullptr;
    class QTimer* clusterTimer_ = nullptr;
    bool merging_ = false;
    QHash<qint64, QString> clusterStates_;  // Slurm's state of each submitted run's task ("RUNNING 12_3")
    QHash<qint64, int64_t> shownStep_;      // the last metric step the Training view has of each run
};

}  // namespace peft::ui
