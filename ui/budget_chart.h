// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The budget chart: trained and stored parameters of every preset on the open backbone, in % of the backbone
// (log scale), full fine-tuning as the reference line, the selected preset highlighted. Clicking a bar
// selects its preset.
#include "qcp.h"

#include "model/config.h"

namespace peft::ui {

class BudgetChart : public QCustomPlot {
    Q_OBJECT

public:
    explicit BudgetChart(QWidget* parent = nullptr);

    /// Recomputes every preset's counts on `cfg` (a preset that does not fit is labelled so). The value axis
    /// reaches down to the smallest bar (IA3 on a large backbone is a few thousandths of a percent).
    void setBackbone(const ModelConfig& cfg);
    /// Highlights the preset at `index` (in presets() order); -1: none.
    void highlightPreset(int index);
    /// The preset counts shown (trained %, stored %), in presets() order, for tests and export.
    const QVector<double>& trainedPct() const { return trained_; }

Q_SIGNALS:
    void presetClicked(int index);

private:
    QCPBars* trainedBars_ = nullptr;
    QCPBars* storedBars_ = nullptr;
    QCPItemRect* highlight_ = nullptr;
    QCPItemText* fullLabel_ = nullptr;
    QCPTextElement* title_ = nullptr;
    QVector<double> trained_;
    int count_ = 0;
};

}  // namespace peft::ui
