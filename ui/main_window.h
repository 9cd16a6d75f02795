// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The workbench's main window. Qt only: it talks to core through torch-free headers (spec, presets,
// accounting), so no torch op ever runs on the GUI thread here.
#include <QMainWindow>
#include <QString>

class QCustomPlot;
class QCPItemRect;
class QLabel;
class QListWidget;
class QTableWidget;

namespace peft::ui {

class MainWindow : public QMainWindow {
    Q_OBJECT

public:
    explicit MainWindow(QWidget* parent = nullptr);

    QCustomPlot* budgetPlot() const { return plot_; }
    QTableWidget* moduleTable() const { return table_; }
    QListWidget* presetList() const { return presets_; }
    QString selectedPresetId() const;
    void selectPreset(const QString& id);

protected:
    void closeEvent(QCloseEvent* event) override;

private:
    void buildActions();
    void buildPresetDock();
    void buildCentral();
    void fillBudgetPlot();
    void showSelection();
    void showAboutUnifiedView();
    void exportPlot();

    QListWidget* presets_ = nullptr;
    QCustomPlot* plot_ = nullptr;
    QCPItemRect* highlight_ = nullptr;
    QLabel* title_ = nullptr;
    QLabel* formula_ = nullptr;
    QLabel* counts_ = nullptr;
    QTableWidget* table_ = nullptr;
};

}  // namespace peft::ui
