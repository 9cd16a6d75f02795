// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The sweep builder: a grid over methods (presets), budgets (% of the backbone), tasks and seeds becomes a
// queue of runs in the project, trained one after another.
#include <QDialog>
#include <QString>
#include <QStringList>
#include <QVector>

class QLineEdit;
class QListWidget;
class QSpinBox;
class QLabel;

namespace peft::ui {

struct SweepPoint {
    QString preset;
    double budget = 0;  // stored % of the backbone; 0 = the preset's default budget
    QString task;
    int seed = 0;
};

/// The grid's points in queue order (task, then preset, then budget, then seed). `budgets` empty means each
/// preset's default budget. Budgets outside (0, 100] are an error (the message says which).
QVector<SweepPoint> expandSweep(const QStringList& presets, const QVector<double>& budgets,
                                const QStringList& tasks, int seeds, QString* error = nullptr);

/// Parses "0.1, 0.5, 1 5" into budgets; `ok` false with the offending token in `error`.
QVector<double> parseBudgets(const QString& text, bool* ok, QString* error);

class SweepDialog : public QDialog {
    Q_OBJECT

public:
    explicit SweepDialog(QWidget* parent = nullptr);
    QVector<SweepPoint> points() const;
    int steps() const;
    QListWidget* presetList() const { return presets_; }
    QListWidget* taskList() const { return tasks_; }
    QLineEdit* budgetEdit() const { return budgets_; }
    QSpinBox* seedBox() const { return seeds_; }

private:
    void update();

    QListWidget* presets_ = nullptr;
    QListWidget* tasks_ = nullptr;
    QLineEdit* budgets_ = nullptr;
    QSpinBox* seeds_ = nullptr;
    QSpinBox* steps_ = nullptr;
    QLabel* summary_ = nullptr;
    class QPushButton* ok_ = nullptr;
};

}  // namespace peft::ui
