// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The Studies view: pick one of the paper's experiments (a built-in study or a file), read its claim, arms,
// comparisons and what it costs (runs × steps at the project's measured speed), queue it in the project, and
// watch its paper-shaped plot fill in — the mean of each arm over seeds against trained % with 95 % whiskers,
// the reference as a band — beside the verdict table (paired difference, interval, n, verdict). The numbers
// are study/study.h's, the same as `peftwb study report`.
#include <QWidget>

#include <optional>
#include <vector>

#include "project/project.h"
#include "study/study.h"

class QComboBox;
class QCustomPlot;
class QLabel;
class QPushButton;
class QSpinBox;
class QTableWidget;

namespace peft::ui {

class StudyView : public QWidget {
    Q_OBJECT

public:
    explicit StudyView(QWidget* parent = nullptr);
    /// The project the study's runs are in (read again on every call: the plot and verdicts follow its runs).
    void showProject(const Project* project);
    /// What the study may run on instead of its own tasks: (label, key) of the built-in tasks and the
    /// project's imported datasets ("dataset:ID"), as the main window's task list has them.
    void setTaskChoices(const QList<QPair<QString, QString>>& choices);
    /// The tasks the study runs on: its own (empty), or the one chosen.
    std::vector<std::string> tasks() const;
    /// Chooses a built-in study by id, or adds and chooses a study file; false (and a message) when it fails.
    bool selectStudy(const QString& idOrFile);
    const Study* study() const;
    int seeds() const;
    void setSeeds(int seeds);
    QCustomPlot* plot() const { return plot_; }
    QTableWidget* verdictTable() const { return verdicts_; }
    QPushButton* queueButton() const { return queue_; }
    /// The shipped results of the chosen study (resources/studies/results/ID.peftproj), or empty.
    QString shippedResults() const;
    /// The last report drawn.
    const StudyReport& report() const { return report_; }
    /// Presentation mode: the claim, the plot and the verdicts only (arms, cost and the queue controls give
    /// their room to the plot, whose axis label drops what its legend and tooltip say).
    void setPresentation(bool on);

Q_SIGNALS:
    /// The user wants the study's runs queued in the project with this many seeds.
    void queueRequested(const peft::Study& study, const peft::StudyOptions& options);
    /// The user wants to open the shipped results of a built-in study (a project file).
    void openRequested(const QString& project);

private:
    void showStudy();
    void redraw();
    StudyOptions options() const;

    std::vector<Study> studies_;
    QComboBox* choice_ = nullptr;
    QLabel* about_ = nullptr;
    QLabel* cost_ = nullptr;
    QSpinBox* seeds_ = nullptr;
    QComboBox* task_ = nullptr;
    QPushButton* queue_ = nullptr;
    QPushButton* shipped_ = nullptr;
    QWidget* runRow_ = nullptr;
    bool presenting_ = false;
    QCustomPlot* plot_ = nullptr;
    QTableWidget* verdicts_ = nullptr;
    QLabel* missing_ = nullptr;
    const Project* project_ = nullptr;
    StudyReport report_;
};

}  // namespace peft::ui
