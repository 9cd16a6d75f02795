// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The design-space editor: the four dimensions of the unified view as explicit controls for each
// modification of a spec — functional form, modified representation (site), insertion form, composition
// (with s fixed or learnable) — plus its size r / l, layers, and the adapter options; a budget slider that
// sizes every part to a % of the backbone; and what trains of the backbone itself. Loading a preset fills the
// controls; changing a control makes the spec "custom". Invalid combinations are reported next to the
// offending control (the validator names the field).
#include <QWidget>

#include "model/config.h"
#include "peft/spec.h"

class QCheckBox;
class QFormLayout;
class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QListWidget;
class QSlider;
class QSpinBox;

namespace peft::ui {

class SpecEditor : public QWidget {
    Q_OBJECT

public:
    explicit SpecEditor(const ModelConfig& cfg, QWidget* parent = nullptr);

    /// Shows `spec` (e.g. a resolved preset) in the controls; `presetId` empty marks it custom.
    void setSpec(const Spec& spec, const QString& presetId);
    /// Another backbone: the spec is validated and counted against it from now on.
    void setConfig(const ModelConfig& cfg);
    const Spec& spec() const { return spec_; }
    /// The preset the spec still equals, or empty once a control changed it.
    QString presetId() const { return presetId_; }
    /// Empty when the spec is valid on the backbone, else the validator's message.
    QString validationError() const { return error_; }

    // The controls, for tests and tooltips.
    QComboBox* formBox() const { return form_; }
    QComboBox* siteBox() const { return site_; }
    QComboBox* insertionBox() const { return insertion_; }
    QComboBox* compositionBox() const { return composition_; }
    QSpinBox* sizeBox() const { return size_; }
    QDoubleSpinBox* scaleBox() const { return scale_; }
    QSlider* budgetSlider() const { return budget_; }
    QListWidget* modificationList() const { return mods_; }
    /// The control the last validation error points at (null when valid).
    QWidget* errorControl() const { return errorControl_; }
    /// Sets the budget (stored % of the backbone) as the slider does.
    void setBudgetPercent(double pct);
    /// Hides (or shows again) the advanced controls named in `names` (activation, layers, layernorm, init,
    /// dropout, prefix_mlp, scale, train_base), as presentation mode does.
    void setAdvancedHidden(bool hidden, const QStringList& names);
    /// The controls presentation mode may hide: (settings key, label as the user reads it).
    static QList<QPair<QString, QString>> advancedControls();
    static QStringList advancedControlNames();

Q_SIGNALS:
    /// Every change of the spec (valid or not: see validationError()).
    void specChanged();

private:
    void buildUi();
    void showModification(int index);
    void readControls();  // controls → spec_ (the selected modification)
    void revalidate();
    void refreshList();
    void markCustom();

    ModelConfig cfg_;
    Spec spec_;
    QString presetId_;
    QString error_;
    int current_ = -1;
    bool filling_ = false;

    QFormLayout* formLayout_ = nullptr;
    QFormLayout* baseLayout_ = nullptr;
    QLabel* name_ = nullptr;
    QComboBox* trainBase_ = nullptr;
    QListWidget* mods_ = nullptr;
    QComboBox* form_ = nullptr;
    QComboBox* site_ = nullptr;
    QComboBox* insertion_ = nullptr;
    QComboBox* composition_ = nullptr;
    QDoubleSpinBox* scale_ = nullptr;
    QSpinBox* size_ = nullptr;
    QLabel* sizeLabel_ = nullptr;
    QComboBox* activation_ = nullptr;
    QLineEdit* layers_ = nullptr;
    QWidget* stacks_ = nullptr;      // encoder–decoder backbones only
    QCheckBox* stackBoxes_[3] = {};  // encoder, decoder, cross
    QComboBox* norm_ = nullptr;
    QComboBox* init_ = nullptr;
    QDoubleSpinBox* dropout_ = nullptr;
    QCheckBox* prefixMlp_ = nullptr;
    QSlider* budget_ = nullptr;
    QLabel* budgetLabel_ = nullptr;
    QLabel* message_ = nullptr;
    QWidget* errorControl_ = nullptr;
};

}  // namespace peft::ui
