// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The training settings of the runs the window queues: one row per field of the run record's training config
// (the same table the CLI's options come from), grouped — optimisation, schedule, evaluation, data,
// decoding, hardware — with the preset's defaults shown and the fields the user changed in bold. Each value
// is read by the same parser as `peftwb train --FLAG`, so what the panel accepts, the CLI accepts. The device
// list holds the CPU and every CUDA device LibTorch reports; without one, a disabled entry says why.
#include <QHash>
#include <QSet>
#include <QString>
#include <QWidget>

#include "train/train_config.h"

class QComboBox;
class QLabel;

namespace peft::ui {

class TrainSettingsPanel : public QWidget {
    Q_OBJECT

public:
    explicit TrainSettingsPanel(QWidget* parent = nullptr);

    /// The defaults to show (the selected preset's): fields the user has not changed take them.
    void setDefaults(const TrainConfig& tc);
    /// Shows `tc` as it is (an existing run's settings); `readOnly` for a run that has started.
    void showConfig(const TrainConfig& tc, bool readOnly);
    /// Edits the next run starting from `tc` (a run being duplicated): fields that differ from the defaults
    /// are marked changed.
    void loadForNextRun(const TrainConfig& tc);
    /// Back to editing the next run to queue, from the current defaults.
    void resetToDefaults();
    /// The settings as entered. Throws peft::Error naming the field ("lr: expected a number, got 'x'").
    TrainConfig config() const;
    /// The first invalid field's message, or empty.
    QString validationError() const;
    /// Sets one field's text as the user would type it (for the toolbar's step box and for tests).
    void setFieldText(const QString& key, const QString& text);
    QString fieldText(const QString& key) const;
    bool isReadOnly() const { return readOnly_; }
    /// Whether the user changed `key` from the defaults.
    bool isEdited(const QString& key) const { return edited_.contains(key); }

Q_SIGNALS:
    void changed(const QString& key);

private:
    QWidget* editorFor(const TrainConfigField& f);
    void setText(const QString& key, const QString& text);
    void markEdited(const QString& key, bool edited);
    void validate();

    QHash<QString, QWidget*> editors_;
    QSet<QString> edited_;
    TrainConfig defaults_;
    QLabel* error_ = nullptr;
    QLabel* mode_ = nullptr;
    bool readOnly_ = false;
    bool loading_ = false;
};

}  // namespace peft::ui
