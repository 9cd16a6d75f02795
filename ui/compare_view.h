// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Every run of the project side by side: a sortable table (method, the four dimensions, trained %, best dev
// metric, difference to full fine-tuning, time, peak memory) and the paper's Figure 1 for the user's own runs
// — dev metric against trained % of the backbone on a log axis, full fine-tuning as a reference line.
#include <QWidget>

#include <vector>

#include "project/project.h"

class QCustomPlot;
class QTableWidget;
class QLabel;

namespace peft::ui {

class CompareView : public QWidget {
    Q_OBJECT

public:
    explicit CompareView(QWidget* parent = nullptr);
    void setRuns(const std::vector<RunRecord>& runs);
    QTableWidget* table() const { return table_; }
    QCustomPlot* scatter() const { return plot_; }

Q_SIGNALS:
    /// The user picked runs in the table (to overlay their curves).
    void runsSelected(const QList<qint64>& runs);

private:
    QTableWidget* table_ = nullptr;
    QCustomPlot* plot_ = nullptr;
    QLabel* note_ = nullptr;
};

}  // namespace peft::ui
