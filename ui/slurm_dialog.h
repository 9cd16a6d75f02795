// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Run ▸ Submit to Slurm…: which runs, the sbatch options (remembered between sessions), and a live preview
// of the script that will be submitted. The dialog only plans (core/design/slurm: nothing written); the
// main window submits on a worker thread.
#include <QDialog>
#include <QString>
#include <vector>

#include "slurm/slurm.h"

class QLabel;
class QLineEdit;
class QListWidget;
class QPlainTextEdit;
class QPushButton;
class QSpinBox;

namespace peft::ui {

class SlurmDialog : public QDialog {
    Q_OBJECT

public:
    /// `project`: read for its runs and to plan; `program`: the peftwb the tasks run; `selected`: runs to
    /// tick (else every queued one).
    SlurmDialog(const Project& project, const QString& program, const std::vector<int64_t>& selected = {},
                QWidget* parent = nullptr);
    std::vector<int64_t> runs() const;
    QString shardsDir() const;
    SlurmOptions options() const;
    /// The plan of what is entered now (throws peft::Error saying what is wrong).
    SlurmPlan plan() const;

    QListWidget* runList() const { return runs_; }
    QLineEdit* shardsEdit() const { return shards_; }
    QLineEdit* partitionEdit() const { return partition_; }
    QLineEdit* timeEdit() const { return time_; }
    QPlainTextEdit* preview() const { return preview_; }
    QLabel* problem() const { return problem_; }
    QPushButton* submitButton() const { return submit_; }

private:
    void update();
    void remember() const;

    const Project& project_;
    QString program_;
    QListWidget* runs_ = nullptr;
    QLineEdit* shards_ = nullptr;
    QLineEdit* partition_ = nullptr;
    QSpinBox* gpus_ = nullptr;
    QSpinBox* cpus_ = nullptr;
    QLineEdit* time_ = nullptr;
    QLineEdit* mem_ = nullptr;
    QSpinBox* maxParallel_ = nullptr;
    QSpinBox* perTask_ = nullptr;
    QPlainTextEdit* extra_ = nullptr;
    QPlainTextEdit* preview_ = nullptr;
    QLabel* problem_ = nullptr;
    QPushButton* submit_ = nullptr;
};

}  // namespace peft::ui
