// SPDX-License-Identifier: GPL-3.0-or-later
#include "slurm_dialog.h"

#include <QDateTime>
#include <QDialogButtonBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFontDatabase>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSettings>
#include <QSpinBox>
#include <QSplitter>
#include <QToolButton>
#include <QVBoxLayout>

#include "util/error.h"

namespace peft::ui {

namespace {
QString qs(const std::string& s) {
    return QString::fromStdString(s);
}
}  // namespace

SlurmDialog::SlurmDialog(const Project& project, const QString& program, const std::vector<int64_t>& selected,
                         QWidget* parent)
    : QDialog(parent), project_(project), program_(program) {
    setWindowTitle(tr("Submit to Slurm"));
    QSettings settings;
    settings.beginGroup(QStringLiteral("slurm"));

    runs_ = new QListWidget;
    for (const RunRecord& r : project.runs()) {
        const bool can = r.state == RunState::Queued || r.state == RunState::Interrupted ||
                         r.state == RunState::Cancelled || r.state == RunState::Failed;
        if (!can) continue;
        auto* item = new QListWidgetItem(tr("%1  %2  (%3)").arg(r.id).arg(qs(r.name), qs(toString(r.state))));
        item->setData(Qt::UserRole, qint64(r.id));
        item->setFlags(item->flags() | Qt::ItemIsUserCheckable);
        const bool tick = selected.empty()
                              ? r.state == RunState::Queued
                              : std::find(selected.begin(), selected.end(), r.id) != selected.end();
        item->setCheckState(tick ? Qt::Checked : Qt::Unchecked);
        item->setToolTip(r.state == RunState::Queued
                             ? tr("trains from step 0")
                             : tr("its shard carries its checkpoint: it resumes there"));
        runs_->addItem(item);
    }
    runs_->setMinimumWidth(280);

    const QString base = QFileInfo(qs(project.path())).absolutePath() + QStringLiteral("/slurm-") +
                         QFileInfo(qs(project.path())).completeBaseName() + QStringLiteral("-") +
                         QDateTime::currentDateTime().toString(QStringLiteral("yyyyMMdd-HHmmss"));
    shards_ = new QLineEdit(base);
    shards_->setToolTip(
        tr("A new folder on a file system the nodes see: the script, one shard per task and "
           "the tasks' logs go there"));
    auto* browse = new QToolButton;
    browse->setText(tr("…"));
    connect(browse, &QToolButton::clicked, this, [this] {
        const QString d =
            QFileDialog::getExistingDirectory(this, tr("Folder for the shards"), shards_->text());
        if (!d.isEmpty()) shards_->setText(d + QStringLiteral("/slurm-shards"));
    });
    auto* shardRow = new QHBoxLayout;
    shardRow->addWidget(shards_, 1);
    shardRow->addWidget(browse);

    partition_ = new QLineEdit(settings.value(QStringLiteral("partition")).toString());
    partition_->setPlaceholderText(tr("the cluster's default"));
    gpus_ = new QSpinBox;
    gpus_->setRange(0, 64);
    gpus_->setValue(settings.value(QStringLiteral("gpus"), 0).toInt());
    gpus_->setSpecialValueText(tr("none"));
    cpus_ = new QSpinBox;
    cpus_->setRange(0, 512);
    cpus_->setValue(settings.value(QStringLiteral("cpus"), 4).toInt());
    cpus_->setSpecialValueText(tr("the cluster's default"));
    cpus_->setToolTip(tr("Also each task's thread count"));
    time_ = new QLineEdit(settings.value(QStringLiteral("time")).toString());
    time_->setPlaceholderText(tr("HH:MM:SS, or the partition's limit"));
    mem_ = new QLineEdit(settings.value(QStringLiteral("mem")).toString());
    mem_->setPlaceholderText(tr("e.g. 16G, or the cluster's default"));
    maxParallel_ = new QSpinBox;
    maxParallel_->setRange(0, 100000);
    maxParallel_->setValue(settings.value(QStringLiteral("max_parallel"), 0).toInt());
    maxParallel_->setSpecialValueText(tr("no limit"));
    perTask_ = new QSpinBox;
    perTask_->setRange(1, 1000);
    perTask_->setValue(settings.value(QStringLiteral("runs_per_task"), 1).toInt());
    extra_ = new QPlainTextEdit(settings.value(QStringLiteral("extra")).toString());
    extra_->setPlaceholderText(tr("--account=…  (one sbatch option per line)"));
    extra_->setMaximumHeight(64);

    auto* form = new QFormLayout;
    form->addRow(tr("Shards folder"), shardRow);
    form->addRow(tr("Partition"), partition_);
    form->addRow(tr("GPUs per task"), gpus_);
    form->addRow(tr("CPUs per task"), cpus_);
    form->addRow(tr("Time limit"), time_);
    form->addRow(tr("Memory"), mem_);
    form->addRow(tr("Tasks at once"), maxParallel_);
    form->addRow(tr("Runs per task"), perTask_);
    form->addRow(tr("More options"), extra_);

    auto* left = new QVBoxLayout;
    left->addWidget(new QLabel(tr("Runs (queued ones train from step 0; stopped ones resume)")));
    left->addWidget(runs_, 1);
    left->addLayout(form);

    preview_ = new QPlainTextEdit;
    preview_->setReadOnly(true);
    preview_->setLineWrapMode(QPlainTextEdit::NoWrap);
    preview_->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
    preview_->setMinimumWidth(520);
    auto* right = new QVBoxLayout;
    right->addWidget(new QLabel(tr("The script sbatch will be given (kept beside the shards)")));
    right->addWidget(preview_, 1);

    problem_ = new QLabel;
    problem_->setWordWrap(true);
    problem_->setStyleSheet(QStringLiteral("color: #b00020"));
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Cancel);
    submit_ = buttons->addButton(tr("Submit"), QDialogButtonBox::AcceptRole);
    connect(buttons, &QDialogButtonBox::accepted, this, [this] {
        remember();
        accept();
    });
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);

    auto* columns = new QHBoxLayout;
    columns->addLayout(left, 2);
    columns->addLayout(right, 3);
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(columns, 1);
    layout->addWidget(problem_);
    layout->addWidget(buttons);

    for (QLineEdit* e : {shards_, partition_, time_, mem_})
        connect(e, &QLineEdit::textChanged, this, &SlurmDialog::update);
    for (QSpinBox* b : {gpus_, cpus_, maxParallel_, perTask_})
        connect(b, &QSpinBox::valueChanged, this, &SlurmDialog::update);
    connect(extra_, &QPlainTextEdit::textChanged, this, &SlurmDialog::update);
    connect(runs_, &QListWidget::itemChanged, this, &SlurmDialog::update);
    update();
    resize(1180, 680);
}

std::vector<int64_t> SlurmDialog::runs() const {
    std::vector<int64_t> ids;
    for (int i = 0; i < runs_->count(); ++i)
        if (runs_->item(i)->checkState() == Qt::Checked)
            ids.push_back(runs_->item(i)->data(Qt::UserRole).toLongLong());
    return ids;
}

QString SlurmDialog::shardsDir() const {
    return shards_->text().trimmed();
}

SlurmOptions SlurmDialog::options() const {
    SlurmOptions o;
    o.partition = partition_->text().trimmed().toStdString();
    o.gpus_per_task = gpus_->value();
    o.cpus_per_task = cpus_->value();
    o.time = time_->text().trimmed().toStdString();
    o.mem = mem_->text().trimmed().toStdString();
    o.max_parallel = maxParallel_->value();
    o.runs_per_task = perTask_->value();
    for (const QString& line : extra_->toPlainText().split(QLatin1Char('\n'), Qt::SkipEmptyParts))
        if (!line.trimmed().isEmpty()) o.extra.push_back(line.trimmed().toStdString());
    o.program = program_.toStdString();
    if (const QByteArray s = qgetenv("PEFTWB_SBATCH"); !s.isEmpty()) o.sbatch = s.toStdString();
    return o;
}

SlurmPlan SlurmDialog::plan() const {
    const auto ids = runs();
    if (ids.empty()) throw Error("runs", "tick at least one run");
    return planSlurmSubmission(project_, ids, shardsDir().toStdString(), options());
}

void SlurmDialog::update() {
    try {
        if (program_.isEmpty())
            throw Error("peftwb", "the command-line program is not beside the workbench: the tasks run it");
        const SlurmPlan p = plan();
        preview_->setPlainText(qs(p.script));
        problem_->clear();
        submit_->setEnabled(true);
        submit_->setText(p.tasks.size() == 1 ? tr("Submit 1 Task")
                                             : tr("Submit %1 Tasks").arg(p.tasks.size()));
    } catch (const std::exception& e) {
        problem_->setText(QString::fromUtf8(e.what()));
        submit_->setEnabled(false);
        submit_->setText(tr("Submit"));
    }
}

void SlurmDialog::remember() const {
    QSettings settings;
    settings.beginGroup(QStringLiteral("slurm"));
    settings.setValue(QStringLiteral("partition"), partition_->text().trimmed());
    settings.setValue(QStringLiteral("gpus"), gpus_->value());
    settings.setValue(QStringLiteral("cpus"), cpus_->value());
    settings.setValue(QStringLiteral("time"), time_->text().trimmed());
    settings.setValue(QStringLiteral("mem"), mem_->text().trimmed());
    settings.setValue(QStringLiteral("max_parallel"), maxParallel_->value());
    settings.setValue(QStringLiteral("runs_per_task"), perTask_->value());
    settings.setValue(QStringLiteral("extra"), extra_->toPlainText());
}

}  // namespace peft::ui
