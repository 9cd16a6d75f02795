// SPDX-License-Identifier: GPL-3.0-or-later
#include "sweep_dialog.h"

#include <QDialogButtonBox>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QPushButton>
#include <QRegularExpression>
#include <QSpinBox>
#include <QVBoxLayout>

#include "data/world.h"
#include "peft/presets.h"

namespace peft::ui {

QVector<double> parseBudgets(const QString& text, bool* ok, QString* error) {
    QVector<double> out;
    *ok = true;
    for (const QString& token :
         text.split(QRegularExpression(QStringLiteral("[,;\\s]+")), Qt::SkipEmptyParts)) {
        bool good = false;
        const double v = QString(token).remove(QLatin1Char('%')).toDouble(&good);
        if (!good || !(v > 0) || v > 100) {
            *ok = false;
            if (error) *error = QObject::tr("'%1' is not a budget between 0 and 100 %").arg(token);
            return {};
        }
        out << v;
    }
    return out;
}

QVector<SweepPoint> expandSweep(const QStringList& presets, const QVector<double>& budgets,
                                const QStringList& tasks, int seeds, QString* error) {
    QVector<SweepPoint> out;
    for (double b : budgets)
        if (!(b > 0) || b > 100) {
            if (error) *error = QObject::tr("budget %1 % is outside (0, 100]").arg(b);
            return {};
        }
    const QVector<double> sizes = budgets.isEmpty() ? QVector<double>{0.0} : budgets;
    for (const QString& task : tasks)
        for (const QString& preset : presets)
            for (double b : sizes)
                for (int seed = 0; seed < std::max(1, seeds); ++seed) {
                    // Full fine-tuning and BitFit have no size to vary: one point per task and seed.
                    const bool sizeless =
                        preset == QLatin1String("full") || preset == QLatin1String("bitfit");
                    if (sizeless && b != sizes.front()) continue;
                    out.push_back({preset, sizeless ? 0.0 : b, task, seed});
                }
    return out;
}

SweepDialog::SweepDialog(QWidget* parent) : QDialog(parent) {
    setWindowTitle(tr("Sweep"));
    presets_ = new QListWidget(this);
    for (const Preset& p : peft::presets()) {
        auto* item = new QListWidgetItem(QString::fromStdString(p.name), presets_);
        item->setData(Qt::UserRole, QString::fromStdString(p.id));
        item->setFlags(item->flags() | Qt::ItemIsUserCheckable);
        const bool on =
            p.id == "full" || p.id == "lora" || p.id == "prefix" || p.id == "pa-ffn" || p.id == "mam";
        item->setCheckState(on ? Qt::Checked : Qt::Unchecked);
    }
    presets_->setToolTip(tr("Methods to compare (points of the design space)"));
    tasks_ = new QListWidget(this);
    for (const auto& t : builtinTaskNames()) {
        auto* item = new QListWidgetItem(QString::fromStdString(t), tasks_);
        item->setFlags(item->flags() | Qt::ItemIsUserCheckable);
        item->setCheckState(t == "sentiment" ? Qt::Checked : Qt::Unchecked);
    }
    tasks_->setMaximumHeight(90);
    budgets_ = new QLineEdit(QStringLiteral("0.5, 2, 8"), this);
    budgets_->setToolTip(
        tr("Stored parameters as % of the backbone, separated by commas; empty: each preset's "
           "default budget. Full fine-tuning and BitFit have no size and run once."));
    seeds_ = new QSpinBox(this);
    seeds_->setRange(1, 10);
    seeds_->setToolTip(tr("Seeds per point (0, 1, …)"));
    steps_ = new QSpinBox(this);
    steps_->setRange(10, 100000);
    steps_->setSingleStep(100);
    steps_->setValue(300);
    steps_->setSuffix(tr(" steps"));
    summary_ = new QLabel(this);
    summary_->setWordWrap(true);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
    ok_ = buttons->button(QDialogButtonBox::Ok);
    ok_->setText(tr("Queue and Run"));
    connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);

    auto* form = new QFormLayout;
    form->addRow(tr("Tasks"), tasks_);
    form->addRow(tr("Budgets (%)"), budgets_);
    form->addRow(tr("Seeds"), seeds_);
    form->addRow(tr("Steps per run"), steps_);
    auto* layout = new QVBoxLayout(this);
    auto* row = new QHBoxLayout;
    row->addWidget(presets_, 1);
    row->addLayout(form, 1);
    layout->addLayout(row);
    layout->addWidget(summary_);
    layout->addWidget(buttons);
    resize(720, 420);

    connect(presets_, &QListWidget::itemChanged, this, &SweepDialog::update);
    connect(tasks_, &QListWidget::itemChanged, this, &SweepDialog::update);
    connect(budgets_, &QLineEdit::textChanged, this, &SweepDialog::update);
    connect(seeds_, qOverload<int>(&QSpinBox::valueChanged), this, &SweepDialog::update);
    update();
}

QVector<SweepPoint> SweepDialog::points() const {
    QStringList presets, tasks;
    for (int i = 0; i < presets_->count(); ++i)
        if (presets_->item(i)->checkState() == Qt::Checked)
            presets << presets_->item(i)->data(Qt::UserRole).toString();
    for (int i = 0; i < tasks_->count(); ++i)
        if (tasks_->item(i)->checkState() == Qt::Checked) tasks << tasks_->item(i)->text();
    bool ok = false;
    QString error;
    const QVector<double> budgets = parseBudgets(budgets_->text(), &ok, &error);
    if (!ok) return {};
    return expandSweep(presets, budgets, tasks, seeds_->value());
}

int SweepDialog::steps() const {
    return steps_->value();
}

void SweepDialog::update() {
    bool ok = false;
    QString error;
    parseBudgets(budgets_->text(), &ok, &error);
    if (!ok) {
        summary_->setText(QStringLiteral("<span style='color:#c0392b'>%1</span>").arg(error.toHtmlEscaped()));
        budgets_->setStyleSheet(QStringLiteral("border: 2px solid #c0392b;"));
        ok_->setEnabled(false);
        return;
    }
    budgets_->setStyleSheet(QString());
    const int n = int(points().size());
    summary_->setText(tr("%n run(s) will be queued and trained one after another.", nullptr, n));
    ok_->setEnabled(n > 0);
}

}  // namespace peft::ui
