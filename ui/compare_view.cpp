// SPDX-License-Identifier: GPL-3.0-or-later
#include "compare_view.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QSplitter>
#include <QTableWidget>
#include <QVBoxLayout>

#include <cmath>
#include <map>
#include <optional>

#include "qcp.h"

namespace peft::ui {

namespace {

/// A numeric cell that sorts by value (and shows `text`).
class NumberItem : public QTableWidgetItem {
public:
    NumberItem(double v, const QString& text) : QTableWidgetItem(text) {
        setData(Qt::UserRole, v);
        setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
    }
    bool operator<(const QTableWidgetItem& o) const override {
        return data(Qt::UserRole).toDouble() < o.data(Qt::UserRole).toDouble();
    }
};

/// "adapter@FFN seq/add r=16; prefix@head-attn l=30" from the spec JSON.
QString dimensions(const nlohmann::json& spec) {
    QStringList parts;
    if (spec.contains("train_base") && spec["train_base"].is_string() && spec["train_base"] != "none")
        parts
            << QStringLiteral("base: %1").arg(QString::fromStdString(spec["train_base"].get<std::string>()));
    if (spec.contains("modifications") && spec["modifications"].is_array())
        for (const auto& m : spec["modifications"]) {
            auto str = [&](const char* k) {
                return m.contains(k) && m[k].is_string() ? QString::fromStdString(m[k].get<std::string>())
                                                         : QString();
            };
            QString p = str("form") + QLatin1Char('@') + str("site");
            const QString ins = str("insertion"), comp = str("composition");
            if (!ins.isEmpty() || !comp.isEmpty()) p += QLatin1Char(' ') + ins + QLatin1Char('/') + comp;
            if (m.contains("r") && m["r"].is_number() && m["r"].get<int64_t>() > 0)
                p += QStringLiteral(" r=%1").arg(m["r"].get<int64_t>());
            if (m.contains("l") && m["l"].is_number() && m["l"].get<int64_t>() > 0)
                p += QStringLiteral(" l=%1").arg(m["l"].get<int64_t>());
            parts << p;
        }
    return parts.isEmpty() ? QStringLiteral("—") : parts.join(QStringLiteral("; "));
}

}  // namespace

CompareView::CompareView(QWidget* parent) : QWidget(parent) {
    table_ = new QTableWidget(this);
    table_->setObjectName(QStringLiteral("CompareTable"));
    const QStringList headers = {tr("Run"),
                                 tr("Method"),
                                 tr("Dimensions"),
                                 tr("Status"),
                                 tr("Trained %"),
                                 tr("Best dev"),
                                 tr("Δ vs full FT"),
                                 tr("Steps"),
                                 tr("Time (s)"),
                                 tr("Process peak RSS (MB)"),
                                 tr("Backbone · data")};
    table_->setColumnCount(int(headers.size()));
    table_->setHorizontalHeaderLabels(headers);
    table_->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    table_->horizontalHeader()->setStretchLastSection(true);  // names and dimensions keep their full width
    table_->setWordWrap(false);
    table_->horizontalHeaderItem(9)->setToolTip(
        tr("Peak resident memory of the process that trained the run (the whole workbench when trained from "
           "the GUI)"));
    table_->verticalHeader()->setVisible(false);
    table_->setSelectionBehavior(QAbstractItemView::SelectRows);
    table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    table_->setSortingEnabled(true);
    table_->setAlternatingRowColors(true);
    table_->setToolTip(
        tr("Click a header to sort. Select runs to overlay their curves in the Training view."));
    connect(table_, &QTableWidget::itemSelectionChanged, this, [this] {
        QList<qint64> ids;
        for (const QModelIndex& i : table_->selectionModel()->selectedRows())
            ids << table_->item(i.row(), 0)->data(Qt::UserRole).toLongLong();
        Q_EMIT runsSelected(ids);
    });

    plot_ = new QCustomPlot(this);
    plot_->setObjectName(QStringLiteral("CompareScatter"));
    plot_->xAxis->setScaleType(QCPAxis::stLogarithmic);
    plot_->xAxis->setTicker(QSharedPointer<QCPAxisTickerLog>(new QCPAxisTickerLog));
    plot_->xAxis->setLabel(tr("trained parameters (% of the backbone, log scale)"));
    plot_->yAxis->setLabel(tr("best dev metric"));
    plot_->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
    plot_->setToolTip(
        tr("The paper's Figure 1 for your runs: quality against the share of parameters trained. "
           "The dashed line is full fine-tuning."));
    note_ = new QLabel(this);
    note_->setWordWrap(true);
    group_ = new QComboBox(this);
    group_->setObjectName(QStringLiteral("CompareGroup"));
    group_->setToolTip(
        tr("The scatter shows one backbone and data set at a time, against its own full fine-tuning"));
    connect(group_, &QComboBox::currentIndexChanged, this, [this] { drawScatter(); });
    groupLabel_ = new QLabel(tr("Scatter of:"), this);

    auto* split = new QSplitter(Qt::Vertical, this);
    split->addWidget(table_);
    auto* scatterBox = new QWidget(split);
    auto* scatterLayout = new QVBoxLayout(scatterBox);
    scatterLayout->setContentsMargins(0, 0, 0, 0);
    auto* groupRow = new QHBoxLayout;
    groupRow->addWidget(groupLabel_);
    groupRow->addWidget(group_, 1);
    scatterLayout->addLayout(groupRow);
    scatterLayout->addWidget(plot_, 1);
    split->addWidget(scatterBox);
    split->setStretchFactor(0, 1);
    split->setStretchFactor(1, 1);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(note_);
    layout->addWidget(split, 1);
}

void CompareView::setRuns(const std::vector<RunRecord>& runs, const std::vector<QString>& groups) {
    runs_ = runs;
    groups_ = groups;
    groups_.resize(runs_.size());
    // Full fine-tuning's best of each group (backbone and data) and metric is that group's reference: a run
    // is never compared with full fine-tuning of another task or backbone.
    fullBest_.clear();
    for (size_t i = 0; i < runs_.size(); ++i) {
        const RunRecord& r = runs_[i];
        if (r.preset == "full" && r.summary && r.state == RunState::Finished) {
            const auto key = std::make_pair(groups_[i], QString::fromStdString(r.summary->metric_name));
            auto it = fullBest_.find(key);
            if (it == fullBest_.end() || r.summary->best_dev_metric > it->second)
                fullBest_[key] = r.summary->best_dev_metric;
        }
    }

    table_->setSortingEnabled(false);
    table_->setRowCount(int(runs_.size()));
    for (size_t i = 0; i < runs_.size(); ++i) {
        const RunRecord& r = runs_[i];
        const int row = int(i);
        auto* name = new QTableWidgetItem(QString::fromStdString(r.name));
        name->setData(Qt::UserRole, qint64(r.id));
        name->setToolTip(QString::fromStdString(r.name));
        table_->setItem(row, 0, name);
        table_->setItem(row, 1, new QTableWidgetItem(QString::fromStdString(r.preset)));
        auto* dims = new QTableWidgetItem(dimensions(r.spec));
        dims->setToolTip(dims->text());
        table_->setItem(row, 2, dims);
        auto* status = new QTableWidgetItem(QString::fromUtf8(toString(r.state)));
        if (!r.message.empty()) status->setToolTip(QString::fromStdString(r.message));
        table_->setItem(row, 3, status);
        if (r.summary && r.summary->backbone_params > 0) {
            const auto& s = *r.summary;
            const double pct = 100.0 * double(s.trained_params) / double(s.backbone_params);
            table_->setItem(row, 4, new NumberItem(pct, QString::number(pct, 'g', 3) + QStringLiteral(" %")));
            table_->setItem(row, 5,
                            new NumberItem(s.best_dev_metric, QStringLiteral("%1 %2")
                                                                  .arg(QString::fromStdString(s.metric_name))
                                                                  .arg(s.best_dev_metric, 0, 'f', 3)));
            auto full = fullBest_.find(std::make_pair(groups_[i], QString::fromStdString(s.metric_name)));
            if (full != fullBest_.end()) {
                const double d = s.best_dev_metric - full->second;
                table_->setItem(
                    row, 6,
                    new NumberItem(d, QStringLiteral("%1%2").arg(d >= 0 ? "+" : "").arg(d, 0, 'f', 3)));
            } else {
                auto* none = new NumberItem(-1e9, tr("no reference"));
                none->setToolTip(
                    tr("No finished full fine-tuning run on %1: queue one to compare with").arg(groups_[i]));
                table_->setItem(row, 6, none);
            }
            table_->setItem(row, 8, new NumberItem(s.seconds, QString::number(s.seconds, 'f', 1)));
            table_->setItem(row, 9,
                            new NumberItem(double(s.peak_memory_bytes) / 1e6,
                                           QString::number(double(s.peak_memory_bytes) / 1e6, 'f', 0)));
        } else {
            for (int c : {4, 5, 6, 8, 9})
                table_->setItem(row, c, new NumberItem(-1, QStringLiteral("—")));
        }
        table_->setItem(row, 7,
                        new NumberItem(double(r.steps_done),
                                       QStringLiteral("%1/%2").arg(r.steps_done).arg(r.steps_total)));
        table_->setItem(row, 10, new QTableWidgetItem(groups_[i]));
    }
    table_->setSortingEnabled(true);

    // The scatter shows one group at a time: the one chosen, else the one with the most runs.
    std::map<QString, int> sizes;
    for (const QString& g : groups_)
        ++sizes[g];
    const QString keep = group_->currentText();
    {
        const QSignalBlocker block(group_);
        group_->clear();
        for (const auto& [g, n] : sizes)
            group_->addItem(g);
        int pick = group_->findText(keep);
        if (pick < 0) {
            int most = -1;
            for (int k = 0; k < group_->count(); ++k)
                if (sizes[group_->itemText(k)] > most) most = sizes[group_->itemText(k)], pick = k;
        }
        group_->setCurrentIndex(pick);
    }
    group_->setVisible(group_->count() > 1);
    groupLabel_->setVisible(group_->count() > 1);
    drawScatter();
    int finished = 0;
    for (const auto& r : runs_)
        finished += r.state == RunState::Finished;
    note_->setText(
        tr("%1 runs, %2 finished, in %3 group(s) of backbone and data; Δ is against full fine-tuning "
           "of the same group. Trained % counts the parameters the optimizer updates (the task head "
           "apart), as the paper does.")
            .arg(runs_.size())
            .arg(finished)
            .arg(sizes.size()));
}

int CompareView::rowOf(qint64 run) const {
    for (int row = 0; row < table_->rowCount(); ++row)
        if (const QTableWidgetItem* item = table_->item(row, 0);
            item && item->data(Qt::UserRole).toLongLong() == run)
            return row;
    return -1;
}

void CompareView::showProgress(qint64 run, qint64 step, qint64 total) {
    const int row = rowOf(run);
    if (row < 0) return;
    table_->setSortingEnabled(false);  // the row stays where it is while it updates
    table_->setItem(row, 3, new QTableWidgetItem(QString::fromUtf8(toString(RunState::Running))));
    table_->setItem(row, 7, new NumberItem(double(step), QStringLiteral("%1/%2").arg(step).arg(total)));
    table_->setSortingEnabled(true);
}

void CompareView::showLatestMetric(qint64 run, const QString& name, double value) {
    const int row = rowOf(run);
    if (row < 0) return;
    table_->setSortingEnabled(false);
    auto* item = new NumberItem(value, tr("%1 %2 (latest)").arg(name).arg(value, 0, 'f', 3));
    item->setToolTip(tr("The run is training: its latest evaluation; the best one is shown when it ends"));
    table_->setItem(row, 5, item);
    table_->setSortingEnabled(true);
}

void CompareView::drawScatter() {
    const QString group = group_->currentText();
    QVector<double> xs, ys;
    QStringList labels;
    std::optional<double> reference;
    QString metric;
    for (size_t i = 0; i < runs_.size(); ++i) {
        const RunRecord& r = runs_[i];
        if (groups_[i] != group || !r.summary || r.summary->backbone_params <= 0) continue;
        const auto& s = *r.summary;
        const double pct = 100.0 * double(s.trained_params) / double(s.backbone_params);
        if (pct <= 0) continue;
        xs << pct;
        ys << s.best_dev_metric;
        // Method and budget: two LoRA runs of different sizes are told apart.
        const QString budget = pct >= 10  ? QString::number(pct, 'f', 0)
                               : pct >= 1 ? QString::number(pct, 'f', 1)
                                          : QString::number(pct, 'g', 2);
        labels << QStringLiteral("%1 %2 %").arg(QString::fromStdString(r.preset), budget);
        metric = QString::fromStdString(s.metric_name);
        if (auto it = fullBest_.find(std::make_pair(group, metric)); it != fullBest_.end())
            reference = it->second;
    }
    plot_->clearPlottables();
    plot_->clearItems();
    if (!xs.isEmpty()) {
        QCPGraph* g = plot_->addGraph();
        g->setLineStyle(QCPGraph::lsNone);
        g->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, QColor(0x4e79a7), QColor(0x4e79a7), 8));
        g->setData(xs, ys);
        for (int i = 0; i < xs.size(); ++i) {
            auto* t = new QCPItemText(plot_);
            t->position->setCoords(xs[i], ys[i]);
            t->setPositionAlignment(Qt::AlignLeft | Qt::AlignBottom);
            t->setText(QStringLiteral(" ") + labels[i]);
            t->setFont(QFont(font().family(), 8));
        }
        double lo = *std::min_element(xs.begin(), xs.end()), hi = *std::max_element(xs.begin(), xs.end());
        plot_->xAxis->setRange(lo / 2, std::max(hi * 2, 150.0));
        double ylo = *std::min_element(ys.begin(), ys.end()), yhi = *std::max_element(ys.begin(), ys.end());
        if (reference) {
            const double f = *reference;
            auto* line = new QCPItemStraightLine(plot_);
            line->point1->setCoords(1e-6, f);
            line->point2->setCoords(1e6, f);
            line->setPen(QPen(QColor(0xe15759), 1.2, Qt::DashLine));
            auto* label = new QCPItemText(plot_);
            label->position->setCoords(lo / 2, f);
            label->setPositionAlignment(Qt::AlignLeft | Qt::AlignTop);
            label->setText(tr(" full fine-tuning %1").arg(f, 0, 'f', 3));
            label->setColor(QColor(0xe15759));
            ylo = std::min(ylo, f), yhi = std::max(yhi, f);
        }
        const double pad = std::max(0.02, (yhi - ylo) * 0.1);
        plot_->yAxis->setRange(ylo - pad, yhi + pad);
        plot_->yAxis->setLabel(tr("best dev %1").arg(metric));
    } else {
        // Nothing finished yet: a hint instead of empty axes.
        plot_->xAxis->setRange(0.05, 200);
        plot_->yAxis->setRange(0, 1);
        plot_->yAxis->setLabel(tr("best dev metric"));
        auto* hint = new QCPItemText(plot_);
        hint->position->setType(QCPItemPosition::ptAxisRectRatio);
        hint->position->setCoords(0.5, 0.5);
        hint->setText(tr("No finished runs yet: Run ▸ Run Queue trains the queued ones"));
        hint->setColor(Qt::gray);
    }
    plot_->replot();
}

}  // namespace peft::ui
