// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Every run of the project side by side: a sortable table (method, the four dimensions, trained %, best dev
// metric, difference to full fine-tuning, time, peak memory) and the paper's Figure 1 for the user's own runs
// — dev metric against trained % of the backbone on a log axis, full fine-tuning as a reference line.
#include <QWidget>

#include <map>
#include <utility>
#include <vector>

#include "project/project.h"

class QComboBox;
class QCustomPlot;
class QTableWidget;
class QLabel;

namespace peft::ui {

class CompareView : public QWidget {
    Q_OBJECT

public:
    explicit CompareView(QWidget* parent = nullptr);
    /// The project's runs and each one's group (backbone · data, as runGroup names it): Δ and the scatter's
    /// reference line are within a group only.
    void setRuns(const std::vector<RunRecord>& runs, const std::vector<QString>& groups);
    QComboBox* groupBox() const { return group_; }
    /// Live state of a training run between rereads of the project: its step and its latest dev metric.
    void showProgress(qint64 run, qint64 step, qint64 total);
    void showLatestMetric(qint64 run, const QString& name, double value);
    QTableWidget* table() const { return table_; }
    QCustomPlot* scatter() const { return plot_; }

Q_SIGNALS:
    /// The user picked runs in the table (to overlay their curves).
    void runsSelected(const QList<qint64>& runs);

private:
    void drawScatter();
    int rowOf(qint64 run) const;

    std::vector<RunRecord> runs_;
    std::vector<QString> groups_;
    std::map<std::pair<QString, QString>, double> fullBest_;  // (group, metric) → full fine-tuning's best
    QComboBox* group_ = nullptr;
    QLabel* groupLabel_ = nullptr;
    QTableWidget* table_ = nullptr;
    QCustomPlot* plot_ = nullptr;
    QLabel* note_ = nullptr;
};

}  // namespace peft::ui
