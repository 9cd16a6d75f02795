// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Every run of the project side by side: a sortable table (method, the four dimensions, trained %, best dev
// metric, difference to full fine-tuning, time, peak memory) and the paper's Figure 1 for the user's own runs
// — dev metric against trained % of the backbone on a log axis, full fine-tuning as a reference line.
#include <QHash>
#include <QWidget>

#include <map>
#include <utility>
#include <vector>

#include "project/project.h"

class QComboBox;
class QCPItemLine;
class QCPItemText;
class QCustomPlot;
class QPushButton;
class QTableWidget;
class QLabel;

namespace peft::ui {

class CompareView : public QWidget {
    Q_OBJECT

public:
    /// The table's columns: what is read most first; the long spec summary last, where it can elide.
    enum Column {
        ColRun,
        ColMethod,
        ColStatus,
        ColTrained,
        ColBest,
        ColDelta,
        ColSteps,
        ColTime,
        ColMemory,
        ColGroup,
        ColDimensions,
        ColumnCount
    };

    explicit CompareView(QWidget* parent = nullptr);
    /// The project's runs and each one's group (backbone · data, as runGroup names it): Δ and the scatter's
    /// reference line are within a group only.
    /// Slurm's state of runs on a cluster ("RUNNING 12_3"), shown beside their status from the next setRuns.
    void setClusterStates(const QHash<qint64, QString>& states) { cluster_ = states; }
    void setRuns(const std::vector<RunRecord>& runs, const std::vector<QString>& groups);
    QComboBox* groupBox() const { return group_; }
    /// Live state of a training run between rereads of the project: its step and its latest dev metric.
    void showProgress(qint64 run, qint64 step, qint64 total);
    void showLatestMetric(qint64 run, const QString& name, double value);
    QTableWidget* table() const { return table_; }
    /// Shows or hides a column (remembered across sessions; the run column stays).
    void setColumnShown(int column, bool shown);
    /// A column's stable name in the settings ("dimensions", "memory", …).
    static const char* columnKey(int column);
    QCustomPlot* scatter() const { return plot_; }
    /// "Queue full fine-tuning for this group": shown when the scatter's group has no full fine-tuning run.
    QPushButton* referenceButton() const { return reference_; }
    /// The scatter's point labels that are drawn (one per point unless they would overlap; hover shows all).
    QList<QCPItemText*> pointLabels() const { return labels_; }

Q_SIGNALS:
    /// The user picked runs in the table (to overlay their curves).
    void runsSelected(const QList<qint64>& runs);
    /// The user asked for full fine-tuning of a group that has none (backbone · data, as runGroup names it).
    void referenceRequested(const QString& group);

private:
    struct Point {
        double x = 0, y = 0;  // trained %, best dev metric (the mean over seeds)
        double err = 0;       // half the 95 % t interval over seeds (0 for a single run)
        QString label, tip;
    };
    void drawScatter();
    /// Places the point labels where they overlap neither each other nor the points (after each layout).
    void placeLabels();
    int rowOf(qint64 run) const;

    std::vector<RunRecord> runs_;
    std::vector<QString> groups_;
    std::map<std::pair<QString, QString>, double> fullBest_;  // (group, metric) → full fine-tuning's best
    QComboBox* group_ = nullptr;
    QLabel* groupLabel_ = nullptr;
    QTableWidget* table_ = nullptr;
    QCustomPlot* plot_ = nullptr;
    QLabel* note_ = nullptr;
    QPushButton* reference_ = nullptr;
    QVector<Point> points_;        // of the scatter's group
    QList<QCPItemText*> labels_;   // the drawn labels, by point
    QList<QCPItemLine*> leaders_;  // each label's line to its point (shown when it is set away)
    QHash<qint64, QString> cluster_;
};

}  // namespace peft::ui
