// SPDX-License-Identifier: GPL-3.0-or-later
#include "train_settings.h"

#include <QAbstractItemView>
#include <QCheckBox>
#include <QComboBox>
#include <QFormLayout>
#include <QGroupBox>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QScrollArea>
#include <QStandardItemModel>
#include <QToolButton>
#include <QVBoxLayout>

#include <nlohmann/json.hpp>

#include "run_worker.h"
#include "train/schedule.h"
#include "util/error.h"

namespace peft::ui {

namespace {

struct Group {
    const char* id;
    const char* title;
    bool advanced;  // folded until the user opens it
};
const Group kGroups[] = {
    {"optimisation", QT_TRANSLATE_NOOP("TrainSettingsPanel", "Optimisation"), false},
    {"schedule", QT_TRANSLATE_NOOP("TrainSettingsPanel", "Schedule"), false},
    {"hardware", QT_TRANSLATE_NOOP("TrainSettingsPanel", "Device and seed"), false},
    {"evaluation", QT_TRANSLATE_NOOP("TrainSettingsPanel", "Evaluation"), true},
    {"data", QT_TRANSLATE_NOOP("TrainSettingsPanel", "Data"), true},
    {"decoding", QT_TRANSLATE_NOOP("TrainSettingsPanel", "Decoding (generation tasks)"), true}};

/// The label of a field: a few spelled out, the others their key made readable ("grad_accum" → "Grad accum").
QString labelOf(const TrainConfigField& f) {
    static const QHash<QString, const char*> spelled = {
        {QStringLiteral("lr"), QT_TRANSLATE_NOOP("TrainSettingsPanel", "Learning rate")},
        {QStringLiteral("grad_clip"), QT_TRANSLATE_NOOP("TrainSettingsPanel", "Gradient clip")},
        {QStringLiteral("grad_accum"), QT_TRANSLATE_NOOP("TrainSettingsPanel", "Accumulation")},
        {QStringLiteral("warmup_ratio"), QT_TRANSLATE_NOOP("TrainSettingsPanel", "Warmup share")},
        {QStringLiteral("max_eval_examples"), QT_TRANSLATE_NOOP("TrainSettingsPanel", "Dev examples")},
        {QStringLiteral("eos_id"), QT_TRANSLATE_NOOP("TrainSettingsPanel", "EOS token id")},
        {QStringLiteral("pad_id"), QT_TRANSLATE_NOOP("TrainSettingsPanel", "Pad token id")},
        {QStringLiteral("beam_size"), QT_TRANSLATE_NOOP("TrainSettingsPanel", "Beam width")}};
    const QString key = QString::fromLatin1(f.key);
    if (const char* label = spelled.value(key)) return TrainSettingsPanel::tr(label);
    QString s = QString(key).replace(QLatin1Char('_'), QLatin1Char(' '));
    if (!s.isEmpty()) s[0] = s[0].toUpper();
    return s;
}

QString valueText(const TrainConfig& tc, const TrainConfigField& f) {
    const nlohmann::json v = trainConfigFieldValue(tc, f);
    return QString::fromStdString(v.is_string() ? v.get<std::string>() : v.dump());
}

}  // namespace

TrainSettingsPanel::TrainSettingsPanel(QWidget* parent) : QWidget(parent) {
    auto* outer = new QVBoxLayout(this);
    outer->setContentsMargins(4, 4, 4, 4);
    mode_ = new QLabel(this);
    mode_->setWordWrap(true);
    outer->addWidget(mode_);
    auto* scroll = new QScrollArea(this);
    scroll->setWidgetResizable(true);
    scroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    scroll->setFrameShape(QFrame::NoFrame);
    auto* body = new QWidget(scroll);
    auto* layout = new QVBoxLayout(body);
    layout->setContentsMargins(0, 0, 0, 0);
    for (const Group& g : kGroups) {
        auto* box = new QGroupBox(tr(g.title), body);
        auto* form = new QFormLayout(box);
        form->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
        for (const TrainConfigField& f : trainConfigFields())
            if (QString::fromLatin1(f.group) == QLatin1String(g.id)) {
                QWidget* e = editorFor(f);
                e->setToolTip(QStringLiteral("%1 (peftwb train --%2)")
                                  .arg(QString::fromLatin1(f.help), QString::fromLatin1(f.flag)));
                form->addRow(labelOf(f), e);
            }
        if (g.advanced) {  // folded: a button opens it
            auto* toggle = new QToolButton(body);
            toggle->setText(tr(g.title));
            toggle->setCheckable(true);
            toggle->setArrowType(Qt::RightArrow);
            toggle->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
            toggle->setAutoRaise(true);
            box->setTitle(QString());
            box->setVisible(false);
            connect(toggle, &QToolButton::toggled, box, [box, toggle](bool on) {
                box->setVisible(on);
                toggle->setArrowType(on ? Qt::DownArrow : Qt::RightArrow);
            });
            layout->addWidget(toggle);
        }
        layout->addWidget(box);
    }
    layout->addStretch(1);
    scroll->setWidget(body);
    outer->addWidget(scroll, 1);
    error_ = new QLabel(this);
    error_->setWordWrap(true);
    error_->setStyleSheet(QStringLiteral("color: #b00020"));
    outer->addWidget(error_);
    auto* reset = new QPushButton(tr("Preset defaults"), this);
    reset->setToolTip(tr("Forget the changes: every field takes the selected preset's default"));
    connect(reset, &QPushButton::clicked, this, &TrainSettingsPanel::resetToDefaults);
    outer->addWidget(reset, 0, Qt::AlignRight);
    resetToDefaults();
}

QWidget* TrainSettingsPanel::editorFor(const TrainConfigField& f) {
    const QString key = QString::fromLatin1(f.key);
    QWidget* w = nullptr;
    if (std::holds_alternative<bool TrainConfig::*>(f.member)) {
        auto* c = new QCheckBox(this);
        connect(c, &QCheckBox::toggled, this, [this, key] {
            if (loading_) return;
            markEdited(key, true);
            validate();
            Q_EMIT changed(key);
        });
        w = c;
    } else if (std::holds_alternative<Schedule TrainConfig::*>(f.member) || key == QLatin1String("device") ||
               key == QLatin1String("precision") || key == QLatin1String("attention")) {
        auto* c = new QComboBox(this);
        // As wide as the dock allows, not as the longest entry (the reason a GPU is unavailable is long).
        c->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
        c->setMinimumContentsLength(6);
        if (key == QLatin1String("device")) {
            for (const auto& [id, label] : engineDevices())
                c->addItem(label, id);
            c->view()->setMinimumWidth(c->view()->sizeHintForColumn(0) + 24);  // whole names in the list
            const QString why = cudaUnavailableReason();
            if (!why.isEmpty()) {  // shown, disabled, with the reason
                c->addItem(tr("cuda — not available: %1").arg(why), QStringLiteral("cuda"));
                auto* model = qobject_cast<QStandardItemModel*>(c->model());
                if (model) model->item(c->count() - 1)->setEnabled(false);
            }
        } else if (key == QLatin1String("precision") || key == QLatin1String("attention")) {
            auto addAll = [c](const auto& table) {
                for (const auto& e : table) {
                    c->addItem(QString::fromLatin1(e.name), QString::fromLatin1(e.name));
                    c->setItemData(c->count() - 1, QString::fromUtf8(e.help), Qt::ToolTipRole);
                }
            };
            if (key == QLatin1String("precision"))
                addAll(kPrecisions);
            else
                addAll(kAttentionPaths);
        } else {
            for (const auto& e : kScheduleNames)
                c->addItem(QString::fromLatin1(e.name), QString::fromLatin1(e.name));
        }
        connect(c, &QComboBox::currentIndexChanged, this, [this, key] {
            if (loading_) return;
            markEdited(key, true);
            validate();
            Q_EMIT changed(key);
        });
        w = c;
    } else {
        auto* e = new QLineEdit(this);
        connect(e, &QLineEdit::textEdited, this, [this, key] {
            markEdited(key, true);
            validate();
            Q_EMIT changed(key);
        });
        w = e;
    }
    w->setObjectName(key);
    editors_.insert(key, w);
    return w;
}

void TrainSettingsPanel::setText(const QString& key, const QString& text) {
    QWidget* w = editors_.value(key);
    if (auto* check = qobject_cast<QCheckBox*>(w)) {
        check->setChecked(text == QLatin1String("true"));
    } else if (auto* combo = qobject_cast<QComboBox*>(w)) {
        int i = combo->findData(text);
        if (i < 0) {  // a recorded device this machine does not have: shown as it is
            combo->addItem(text, text);
            i = combo->count() - 1;
        }
        combo->setCurrentIndex(i);
    } else if (auto* e = qobject_cast<QLineEdit*>(w)) {
        e->setText(text);
    }
}

QString TrainSettingsPanel::fieldText(const QString& key) const {
    QWidget* w = editors_.value(key);
    if (auto* check = qobject_cast<QCheckBox*>(w))
        return check->isChecked() ? QStringLiteral("true") : QStringLiteral("false");
    if (auto* combo = qobject_cast<QComboBox*>(w)) return combo->currentData().toString();
    if (auto* e = qobject_cast<QLineEdit*>(w)) return e->text().trimmed();
    return {};
}

void TrainSettingsPanel::setFieldText(const QString& key, const QString& text) {
    if (!editors_.contains(key) || readOnly_ || fieldText(key) == text) return;
    loading_ = true;
    setText(key, text);
    loading_ = false;
    markEdited(key, true);
    validate();
    Q_EMIT changed(key);
}

void TrainSettingsPanel::markEdited(const QString& key, bool edited) {
    if (edited)
        edited_.insert(key);
    else
        edited_.remove(key);
    if (QWidget* w = editors_.value(key)) {
        QFont f = w->font();
        f.setBold(edited);
        w->setFont(f);
    }
}

void TrainSettingsPanel::setDefaults(const TrainConfig& tc) {
    defaults_ = tc;
    if (readOnly_) return;
    loading_ = true;
    for (const TrainConfigField& f : trainConfigFields()) {
        const QString key = QString::fromLatin1(f.key);
        if (!edited_.contains(key)) setText(key, valueText(tc, f));
    }
    loading_ = false;
    validate();
}

void TrainSettingsPanel::resetToDefaults() {
    readOnly_ = false;
    for (QWidget* w : std::as_const(editors_))
        w->setEnabled(true);
    for (const QString& key : editors_.keys())
        markEdited(key, false);
    mode_->setText(
        tr("Settings of the next run you queue (Queue This Spec, Sweep). Bold: changed from the "
           "preset's defaults."));
    setDefaults(defaults_);
}

void TrainSettingsPanel::loadForNextRun(const TrainConfig& tc) {
    resetToDefaults();
    loading_ = true;
    for (const TrainConfigField& f : trainConfigFields()) {
        const QString key = QString::fromLatin1(f.key);
        setText(key, valueText(tc, f));
        markEdited(key, trainConfigFieldValue(tc, f) != trainConfigFieldValue(defaults_, f));
    }
    loading_ = false;
    validate();
}

void TrainSettingsPanel::showConfig(const TrainConfig& tc, bool readOnly) {
    loading_ = true;
    for (const TrainConfigField& f : trainConfigFields())
        setText(QString::fromLatin1(f.key), valueText(tc, f));
    loading_ = false;
    readOnly_ = readOnly;
    for (QWidget* w : std::as_const(editors_))
        w->setEnabled(!readOnly);
    mode_->setText(readOnly ? tr("Settings of the selected run (it has started: read only). Preset defaults "
                                 "returns to the next run's settings.")
                            : tr("Settings of the selected queued run."));
    validate();
}

TrainConfig TrainSettingsPanel::config() const {
    TrainConfig tc;
    for (const TrainConfigField& f : trainConfigFields())
        setTrainConfigField(tc, f, fieldText(QString::fromLatin1(f.key)).toStdString(), f.key);
    return tc;
}

QString TrainSettingsPanel::validationError() const {
    try {
        config();
    } catch (const Error& e) {
        return QString::fromUtf8(e.what());
    }
    return {};
}

void TrainSettingsPanel::validate() {
    error_->setText(validationError());
}

}  // namespace peft::ui
