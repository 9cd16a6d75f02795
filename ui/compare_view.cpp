// SPDX-License-Identifier: GPL-3.0-or-later
#include "compare_view.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QMap>
#include <QMenu>
#include <QPushButton>
#include <QSettings>
#include <QSplitter>
#include <QTableWidget>
#include <QToolTip>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <optional>

#include "plot_style.h"
#include "qcp.h"
#include "study/stats.h"

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
    QStringList headers(ColumnCount);
    headers[ColRun] = tr("Run");
    headers[ColMethod] = tr("Method");
    headers[ColStatus] = tr("Status");
    headers[ColTrained] = tr("Trained %");
    headers[ColBest] = tr("Best dev");
    headers[ColDelta] = tr("Δ vs full FT");
    headers[ColSteps] = tr("Steps");
    headers[ColTime] = tr("Time (s)");
    headers[ColMemory] = tr("Peak RSS (MB)");
    headers[ColGroup] = tr("Backbone · data");
    headers[ColDimensions] = tr("Dimensions");
    table_->setColumnCount(ColumnCount);
    table_->setHorizontalHeaderLabels(headers);
    QHeaderView* header = table_->horizontalHeader();
    header->setSectionResizeMode(QHeaderView::ResizeToContents);
    // Names are long and user-chosen: the run column takes the width the others leave and elides in the
    // middle (the tooltip has the whole name), so the table fits the window.
    header->setSectionResizeMode(ColRun, QHeaderView::Stretch);
    header->setSectionResizeMode(ColGroup, QHeaderView::Interactive);  // fitted to at most 220 px in setRuns
    header->setMinimumSectionSize(48);
    // Columns are shown or hidden from the header's context menu (remembered); the spec summary and the
    // process memory start hidden (the method's tooltip has the summary).
    header->setContextMenuPolicy(Qt::CustomContextMenu);
    connect(header, &QHeaderView::customContextMenuRequested, this, [this, header](const QPoint& at) {
        QMenu menu(this);
        for (int c = 0; c < ColumnCount; ++c) {
            if (c == ColRun) continue;
            QAction* a = menu.addAction(table_->horizontalHeaderItem(c)->text());
            a->setCheckable(true);
            a->setChecked(!table_->isColumnHidden(c));
            connect(a, &QAction::toggled, this, [this, c](bool on) { setColumnShown(c, on); });
        }
        menu.exec(header->mapToGlobal(at));
    });
    const QStringList hidden = QSettings()
                                   .value(QStringLiteral("compare/hiddenColumns"),
                                          QStringList{QStringLiteral("dimensions"), QStringLiteral("memory")})
                                   .toStringList();
    for (int c = 0; c < ColumnCount; ++c)
        table_->setColumnHidden(c, hidden.contains(QString::fromLatin1(columnKey(c))));
    table_->setTextElideMode(Qt::ElideMiddle);
    table_->setWordWrap(false);
    table_->horizontalHeaderItem(ColMemory)->setToolTip(
        tr("Peak resident memory of the process that trained the run (the whole workbench when "
           "trained from the GUI)"));
    table_->horizontalHeaderItem(ColDelta)->setToolTip(
        tr("Best dev metric minus the best of full fine-tuning on the same backbone and data"));
    table_->verticalHeader()->setVisible(false);
    table_->verticalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    table_->setSelectionBehavior(QAbstractItemView::SelectRows);
    table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    table_->setSortingEnabled(true);
    table_->setAlternatingRowColors(true);
    table_->setToolTip(
        tr("Click a header to sort. Select runs to overlay their curves in the Training view."));
    connect(table_, &QTableWidget::itemSelectionChanged, this, [this] {
        QList<qint64> ids;
        for (const QModelIndex& i : table_->selectionModel()->selectedRows())
            ids << table_->item(i.row(), ColRun)->data(Qt::UserRole).toLongLong();
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
           "Hover a point for its run. The dashed line is full fine-tuning."));
    note_ = new QLabel(this);
    note_->setWordWrap(true);
    group_ = new QComboBox(this);
    group_->setObjectName(QStringLiteral("CompareGroup"));
    group_->setToolTip(
        tr("The scatter shows one backbone and data set at a time, against its own full fine-tuning"));
    connect(group_, &QComboBox::currentIndexChanged, this, [this] { drawScatter(); });
    groupLabel_ = new QLabel(tr("Scatter of:"), this);
    reference_ = new QPushButton(tr("Queue Full Fine-Tuning for This Group"), this);
    reference_->setObjectName(QStringLiteral("QueueReference"));
    reference_->setToolTip(
        tr("Δ needs full fine-tuning on the same backbone and data: queue one with this group's settings"));
    reference_->setVisible(false);
    connect(reference_, &QPushButton::clicked, this,
            [this] { Q_EMIT referenceRequested(group_->currentText()); });
    // Labels are placed once the axes know their pixel size (after every layout: resize, zoom, pan).
    connect(plot_, &QCustomPlot::afterLayout, this, &CompareView::placeLabels);
    plot_->setMouseTracking(true);
    connect(plot_, &QCustomPlot::mouseMove, this, [this](QMouseEvent* e) {
        // The nearest point within 8 px: its run, method, budget and metric.
        int best = -1;
        double bestD = 64;
        for (int i = 0; i < points_.size(); ++i) {
            const double dx = plot_->xAxis->coordToPixel(points_[i].x) - e->position().x(),
                         dy = plot_->yAxis->coordToPixel(points_[i].y) - e->position().y();
            if (dx * dx + dy * dy < bestD) bestD = dx * dx + dy * dy, best = i;
        }
        if (best < 0)
            QToolTip::hideText();
        else
            QToolTip::showText(e->globalPosition().toPoint(), points_[best].tip, plot_);
    });

    auto* split = new QSplitter(Qt::Vertical, this);
    split->addWidget(table_);
    auto* scatterBox = new QWidget(split);
    auto* scatterLayout = new QVBoxLayout(scatterBox);
    scatterLayout->setContentsMargins(0, 0, 0, 0);
    auto* groupRow = new QHBoxLayout;
    groupRow->addWidget(groupLabel_);
    groupRow->addWidget(group_, 1);
    groupRow->addWidget(reference_);
    scatterLayout->addLayout(groupRow);
    scatterLayout->addWidget(plot_, 1);
    split->addWidget(scatterBox);
    split->setStretchFactor(0, 1);
    split->setStretchFactor(1, 1);
    split->setSizes({400, 500});  // proportions: the scatter a little taller than the table
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
        table_->setItem(row, ColRun, name);
        auto* method = new QTableWidgetItem(QString::fromStdString(r.preset));
        auto* dims = new QTableWidgetItem(dimensions(r.spec));
        dims->setToolTip(dims->text());
        method->setToolTip(dims->text());
        table_->setItem(row, ColMethod, method);
        table_->setItem(row, ColDimensions, dims);
        QString statusText = QString::fromUtf8(toString(r.state));
        if (const auto c = cluster_.find(r.id); c != cluster_.end() && r.state == RunState::Submitted)
            statusText += QStringLiteral(" · ") + c.value();  // Slurm's own word: RUNNING 12_3
        auto* status = new QTableWidgetItem(statusText);
        if (!r.message.empty()) status->setToolTip(QString::fromStdString(r.message));
        table_->setItem(row, ColStatus, status);
        if (r.summary && r.summary->backbone_params > 0) {
            const auto& s = *r.summary;
            const double pct = 100.0 * double(s.trained_params) / double(s.backbone_params);
            table_->setItem(row, ColTrained,
                            new NumberItem(pct, QString::number(pct, 'g', 3) + QStringLiteral(" %")));
            table_->setItem(row, ColBest,
                            new NumberItem(s.best_dev_metric, QStringLiteral("%1 %2")
                                                                  .arg(QString::fromStdString(s.metric_name))
                                                                  .arg(s.best_dev_metric, 0, 'f', 3)));
            auto full = fullBest_.find(std::make_pair(groups_[i], QString::fromStdString(s.metric_name)));
            if (full != fullBest_.end()) {
                const double d = s.best_dev_metric - full->second;
                table_->setItem(
                    row, ColDelta,
                    new NumberItem(d, QStringLiteral("%1%2").arg(d >= 0 ? "+" : "").arg(d, 0, 'f', 3)));
            } else {
                auto* none = new NumberItem(-1e9, tr("no reference"));
                none->setToolTip(
                    tr("No finished full fine-tuning run on %1: queue one to compare with").arg(groups_[i]));
                table_->setItem(row, ColDelta, none);
            }
            table_->setItem(row, ColTime, new NumberItem(s.seconds, QString::number(s.seconds, 'f', 1)));
            table_->setItem(row, ColMemory,
                            new NumberItem(double(s.peak_memory_bytes) / 1e6,
                                           QString::number(double(s.peak_memory_bytes) / 1e6, 'f', 0)));
        } else {
            for (int c : {ColTrained, ColBest, ColDelta, ColTime, ColMemory})
                table_->setItem(row, c, new NumberItem(-1, QStringLiteral("—")));
        }
        table_->setItem(row, ColSteps,
                        new NumberItem(double(r.steps_done),
                                       QStringLiteral("%1/%2").arg(r.steps_done).arg(r.steps_total)));
        table_->setItem(row, ColGroup, new QTableWidgetItem(groups_[i]));
    }
    table_->setSortingEnabled(true);
    table_->resizeColumnToContents(ColGroup);
    table_->setColumnWidth(ColGroup, std::min(table_->columnWidth(ColGroup), 220));

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

const char* CompareView::columnKey(int column) {
    static const char* const keys[ColumnCount] = {"run",    "method", "status",    "trained",
                                                  "best",   "delta",  "steps",     "time",
                                                  "memory", "group",  "dimensions"};
    return column >= 0 && column < ColumnCount ? keys[column] : "";
}

void CompareView::setColumnShown(int column, bool shown) {
    if (column == ColRun) return;  // the run's name is always there
    table_->setColumnHidden(column, !shown);
    QStringList hidden;
    for (int c = 0; c < ColumnCount; ++c)
        if (table_->isColumnHidden(c)) hidden << QString::fromLatin1(columnKey(c));
    QSettings().setValue(QStringLiteral("compare/hiddenColumns"), hidden);
}

int CompareView::rowOf(qint64 run) const {
    for (int row = 0; row < table_->rowCount(); ++row)
        if (const QTableWidgetItem* item = table_->item(row, ColRun);
            item && item->data(Qt::UserRole).toLongLong() == run)
            return row;
    return -1;
}

void CompareView::showProgress(qint64 run, qint64 step, qint64 total) {
    const int row = rowOf(run);
    if (row < 0) return;
    table_->setSortingEnabled(false);  // the row stays where it is while it updates
    table_->setItem(row, ColStatus, new QTableWidgetItem(QString::fromUtf8(toString(RunState::Running))));
    table_->setItem(row, ColSteps,
                    new NumberItem(double(step), QStringLiteral("%1/%2").arg(step).arg(total)));
    table_->setSortingEnabled(true);
}

void CompareView::showLatestMetric(qint64 run, const QString& name, double value) {
    const int row = rowOf(run);
    if (row < 0) return;
    table_->setSortingEnabled(false);
    auto* item = new NumberItem(value, tr("%1 %2 (latest)").arg(name).arg(value, 0, 'f', 3));
    item->setToolTip(tr("The run is training: its latest evaluation; the best one is shown when it ends"));
    table_->setItem(row, ColBest, item);
    table_->setSortingEnabled(true);
}

void CompareView::drawScatter() {
    const QString group = group_->currentText();
    points_.clear();
    labels_.clear();
    leaders_.clear();
    std::optional<double> reference;
    QString metric;
    bool hasFull = false;
    // Runs that differ only in their seed are one point: the mean over them with its 95 % t interval as
    // whiskers (n in the label); a run of its own is drawn as it is. The table keeps every run.
    std::vector<std::string> keys;
    std::map<std::string, std::vector<size_t>> members;
    for (size_t i = 0; i < runs_.size(); ++i) {
        const RunRecord& r = runs_[i];
        if (groups_[i] != group) continue;
        hasFull = hasFull || r.preset == "full";
        if (!r.summary || r.summary->backbone_params <= 0 || r.summary->trained_params <= 0) continue;
        nlohmann::json settings = r.train_config.is_object() ? r.train_config : nlohmann::json::object();
        for (const char* k : {"seed", "threads", "device", "attention"})  // same math wherever it ran
            settings.erase(k);
        const std::string key = r.preset + "\n" + r.spec.dump() + "\n" + settings.dump() + "\n" +
                                std::to_string(r.summary->trained_params);
        if (!members.count(key)) keys.push_back(key);
        members[key].push_back(i);
    }
    QMap<QString, int> labelCount;
    std::vector<qint64> firstId;
    for (const std::string& key : keys) {
        const std::vector<size_t>& idx = members[key];
        const RunRecord& r = runs_[idx.front()];
        const auto& s = *r.summary;
        const double pct = 100.0 * double(s.trained_params) / double(s.backbone_params);
        std::vector<double> values;
        QStringList names;
        for (size_t i : idx) {
            values.push_back(runs_[i].summary->best_dev_metric);
            names << QStringLiteral("%1 (run %2): %3")
                         .arg(QString::fromStdString(runs_[i].name))
                         .arg(runs_[i].id)
                         .arg(runs_[i].summary->best_dev_metric, 0, 'f', 3);
        }
        const Summary m = summarize(values);
        // Method and budget: two LoRA runs of different sizes are told apart (and equal ones by run id).
        const QString budget = pct >= 10  ? QString::number(pct, 'f', 0)
                               : pct >= 1 ? QString::number(pct, 'f', 1)
                                          : QString::number(pct, 'g', 2);
        Point p;
        p.x = pct;
        p.y = m.mean;
        p.err = m.hasInterval() ? m.hi - m.mean : 0.0;
        p.label = QStringLiteral("%1 %2 %").arg(QString::fromStdString(r.preset), budget);
        if (m.n > 1) p.label += QStringLiteral(" (n = %1)").arg(m.n);
        p.tip =
            m.n > 1
                ? tr("%1 · %2 % trained · best dev %3: mean %4, 95 % CI [%5, %6] over n = %7 seeds (t)\n%8")
                      .arg(QString::fromStdString(r.preset))
                      .arg(QString::number(pct, 'g', 3))
                      .arg(QString::fromStdString(s.metric_name))
                      .arg(m.mean, 0, 'f', 3)
                      .arg(m.lo, 0, 'f', 3)
                      .arg(m.hi, 0, 'f', 3)
                      .arg(m.n)
                      .arg(names.join(QLatin1Char('\n')))
                : tr("%1 (run %2)\n%3 · %4 % trained · best dev %5 %6")
                      .arg(QString::fromStdString(r.name))
                      .arg(r.id)
                      .arg(QString::fromStdString(r.preset))
                      .arg(QString::number(pct, 'g', 3))
                      .arg(QString::fromStdString(s.metric_name))
                      .arg(m.mean, 0, 'f', 3);
        ++labelCount[p.label];
        points_ << p;
        firstId.push_back(r.id);
        metric = QString::fromStdString(s.metric_name);
        if (auto it = fullBest_.find(std::make_pair(group, metric)); it != fullBest_.end())
            reference = it->second;
    }
    for (int k = 0; k < points_.size(); ++k)  // repeated labels get the (first) run id
        if (labelCount[points_[k].label] > 1)
            points_[k].label += QStringLiteral(" #%1").arg(firstId[size_t(k)]);
    // By trained %: the graph keeps its points sorted by x, and the error bars follow the graph's order.
    std::stable_sort(points_.begin(), points_.end(),
                     [](const Point& a, const Point& b) { return a.x < b.x; });
    reference_->setVisible(!group.isEmpty() && !hasFull);
    plot_->clearPlottables();
    plot_->clearItems();
    if (!points_.isEmpty()) {
        QVector<double> xs, ys, errs;
        for (const Point& p : points_)
            xs << p.x, ys << p.y, errs << p.err;
        QCPGraph* g = plot_->addGraph();
        g->setLineStyle(QCPGraph::lsNone);
        g->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, QColor(0x4e79a7), QColor(0x4e79a7), 8));
        g->setData(xs, ys);
        if (std::any_of(errs.begin(), errs.end(), [](double e) { return e > 0; })) {
            auto* bars = new QCPErrorBars(plot_->xAxis, plot_->yAxis);
            bars->setDataPlottable(g);
            bars->setData(errs);
            bars->setPen(QPen(QColor(0x4e79a7), 1.2));
        }
        for (const Point& p : points_) {
            auto* t = new QCPItemText(plot_);
            t->setPositionAlignment(Qt::AlignLeft | Qt::AlignTop);
            t->setText(p.label);
            t->setPadding(QMargins(1, 0, 1, 0));
            t->setFont(QFont(font().family(), 8));
            t->setClipToAxisRect(true);
            labels_ << t;
            auto* leader = new QCPItemLine(plot_);  // for a label set away from its point
            leader->setPen(QPen(QColor(0x4e79a7), 0.8));
            leader->setVisible(false);
            leaders_ << leader;
        }
        auto* crowded = new QCPItemText(plot_);  // filled in by placeLabels
        crowded->setObjectName(QStringLiteral("crowded"));
        crowded->position->setType(QCPItemPosition::ptAxisRectRatio);
        crowded->position->setCoords(1, 1);
        crowded->setPositionAlignment(Qt::AlignRight | Qt::AlignBottom);
        crowded->setFont(QFont(font().family(), 8));
        crowded->setColor(Qt::darkGray);
        double lo = *std::min_element(xs.begin(), xs.end()), hi = *std::max_element(xs.begin(), xs.end());
        plot_->xAxis->setRange(lo / 2, std::max(hi * 2, 150.0));
        double ylo = 1e9, yhi = -1e9;
        for (int i = 0; i < ys.size(); ++i)
            ylo = std::min(ylo, ys[i] - errs[i]), yhi = std::max(yhi, ys[i] + errs[i]);
        if (reference) {
            const double f = *reference;
            auto* line = new QCPItemStraightLine(plot_);
            line->point1->setCoords(1e-6, f);
            line->point2->setCoords(1e6, f);
            line->setPen(QPen(QColor(0xe15759), 1.2, Qt::DashLine));
            auto* label = new QCPItemText(plot_);
            label->setObjectName(QStringLiteral("reference"));
            label->position->setCoords(lo / 2, f);
            label->setPositionAlignment(Qt::AlignLeft | Qt::AlignTop);
            label->setText(tr(" full fine-tuning %1").arg(f, 0, 'f', 3));
            label->setColor(QColor(0xe15759));
            ylo = std::min(ylo, f), yhi = std::max(yhi, f);
        }
        const double pad = std::max(0.02, (yhi - ylo) * 0.12);
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
        hint->setText(hasFull || group.isEmpty()
                          ? tr("No finished runs yet: Run ▸ Run Queue trains the queued ones")
                          : tr("No finished runs in this group yet"));
        hint->setColor(Qt::gray);
    }
    applyPlotScale(plot_);
    plot_->replot();
}

void CompareView::placeLabels() {
    if (labels_.isEmpty()) return;
    const QRectF area = plot_->axisRect()->rect();
    // What a label must not cover: every point's marker, the reference line's label, labels placed before.
    QVector<QRectF> taken;
    QVector<QPointF> at;
    for (const Point& p : points_) {
        at << QPointF(plot_->xAxis->coordToPixel(p.x), plot_->yAxis->coordToPixel(p.y));
        taken << QRectF(at.back() - QPointF(5, 5), QSizeF(10, 10));
        if (p.err > 0)  // the whisker
            taken << QRectF(QPointF(at.back().x() - 4, plot_->yAxis->coordToPixel(p.y + p.err)),
                            QPointF(at.back().x() + 4, plot_->yAxis->coordToPixel(p.y - p.err)));
    }
    QCPItemText* crowded = nullptr;
    for (int i = 0; i < plot_->itemCount(); ++i)
        if (auto* t = qobject_cast<QCPItemText*>(plot_->item(i))) {
            if (t->objectName() == QLatin1String("crowded")) crowded = t;
            if (t->objectName() == QLatin1String("reference"))
                taken << QRectF(t->topLeft->pixelPosition(), t->bottomRight->pixelPosition());
        }
    const QString crowdedText = tr("%1 of %2 labels left out (overlap): hover a point");
    if (crowded) {  // its corner at its longest, so that the placement does not depend on the last one
        const QFontMetricsF fm(crowded->font());
        const QSizeF size(fm.horizontalAdvance(crowdedText.arg(points_.size()).arg(points_.size())) + 4,
                          fm.height());
        taken << QRectF(area.bottomRight() - QPointF(size.width(), size.height()), size);
    }
    // Points from left to right (ties: top first), each label at the first free place around its point.
    QVector<int> order(points_.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](int a, int b) {
        return at[a].x() != at[b].x() ? at[a].x() < at[b].x() : at[a].y() < at[b].y();
    });
    int hidden = 0;
    for (int i : order) {
        QCPItemText* t = labels_[i];
        const QFontMetricsF fm(t->font());
        const QSizeF size(fm.horizontalAdvance(t->text()) + 4, fm.height());
        const double w = size.width(), h = size.height(), px = at[i].x(), py = at[i].y();
        // Around the point, nearest first; from the second ring on, a thin line leads to the point.
        bool placed = false;
        QPointF where;
        for (const double d : {6.0, 16.0, 28.0, 42.0, 58.0}) {
            const QPointF candidates[] = {{px + d, py - h / 2},     {px - d - w, py - h / 2},
                                          {px - w / 2, py - d - h}, {px - w / 2, py + d},
                                          {px + d, py - d - h},     {px + d, py + d},
                                          {px - d - w, py - d - h}, {px - d - w, py + d}};
            for (const QPointF& c : candidates) {
                const QRectF r(c, size);
                if (!area.contains(r)) continue;
                if (std::any_of(taken.begin(), taken.end(), [&](const QRectF& o) { return o.intersects(r); }))
                    continue;
                where = c;
                taken << r;
                placed = true;
                break;
            }
            if (placed) {
                QCPItemLine* leader = leaders_[i];
                leader->setVisible(d > 6.0);
                if (d > 6.0) {  // from the point's edge to the nearest point of the label
                    const QRectF r(where, size);
                    const QPointF end(std::clamp(px, r.left(), r.right()),
                                      std::clamp(py, r.top(), r.bottom()));
                    const QPointF dir = end - at[i];
                    const double len = std::hypot(dir.x(), dir.y());
                    leader->start->setPixelPosition(at[i] + dir * (4.0 / std::max(len, 4.0)));
                    leader->end->setPixelPosition(end);
                }
                break;
            }
        }
        if (placed) t->position->setPixelPosition(where);
        if (!placed) leaders_[i]->setVisible(false);
        t->setVisible(placed);
        hidden += !placed;
    }
    if (crowded) crowded->setText(hidden ? crowdedText.arg(hidden).arg(points_.size()) : QString());
}

}  // namespace peft::ui
