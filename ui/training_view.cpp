// SPDX-License-Identifier: GPL-3.0-or-later
#include "training_view.h"

#include <QApplication>
#include <QCheckBox>
#include <QComboBox>
#include <QElapsedTimer>
#include <QFile>
#include <QHBoxLayout>
#include <QLabel>
#include <QListWidget>
#include <QPainter>
#include <QSlider>
#include <QSplitter>
#include <QStyledItemDelegate>
#include <QTextStream>
#include <QTimer>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>

#include "plot_export.h"
#include "plot_style.h"
#include "qcp.h"

namespace peft::ui {

namespace {

constexpr int StatusRole = Qt::UserRole + 1;

/// A run-list row: tick, swatch, the name (elided in the middle) and, right-aligned in grey, the run's state
/// ("48/80", "finished 0.918", "failed").
class RunItemDelegate : public QStyledItemDelegate {
public:
    using QStyledItemDelegate::QStyledItemDelegate;
    void paint(QPainter* painter, const QStyleOptionViewItem& option,
               const QModelIndex& index) const override {
        QStyleOptionViewItem opt = option;
        initStyleOption(&opt, index);
        const QString name = opt.text, status = index.data(StatusRole).toString();
        opt.text.clear();
        const QWidget* w = opt.widget;
        QStyle* style = w ? w->style() : QApplication::style();
        style->drawControl(QStyle::CE_ItemViewItem, &opt, painter, w);
        const QRect text = style->subElementRect(QStyle::SE_ItemViewItemText, &opt, w).adjusted(2, 0, -2, 0);
        const QFontMetrics fm(opt.font);
        const int statusWidth =
            status.isEmpty() ? 0 : std::min(fm.horizontalAdvance(status) + 4, text.width() / 2);
        const QPalette::ColorRole role =
            opt.state & QStyle::State_Selected ? QPalette::HighlightedText : QPalette::Text;
        painter->save();
        painter->setFont(opt.font);
        painter->setPen(opt.palette.color(QPalette::Active, role));
        const QRect nameRect = text.adjusted(0, 0, -(statusWidth ? statusWidth + 8 : 0), 0);
        painter->drawText(nameRect, Qt::AlignLeft | Qt::AlignVCenter,
                          fm.elidedText(name, Qt::ElideMiddle, nameRect.width()));
        if (!status.isEmpty()) {
            if (!(opt.state & QStyle::State_Selected))
                painter->setPen(opt.palette.color(QPalette::PlaceholderText));
            painter->drawText(text, Qt::AlignRight | Qt::AlignVCenter,
                              fm.elidedText(status, Qt::ElideRight, statusWidth));
        }
        painter->restore();
    }
};

bool isTrainLoss(const QString& key) {
    return key == QLatin1String("train/loss");
}

bool isTrainLossGraph(const QCPGraph* g) {
    return g->property("series").toString() == QLatin1String("train/loss");
}

}  // namespace

QColor TrainingView::runColor(int index) {
    // Tableau 20: the ten strong hues first (distinct, colour-blind friendly in the first few), then their
    // light partners, so 20 runs get 20 colours; beyond that the line style changes too (runPenStyle).
    static const QRgb colors[] = {0x4e79a7, 0xf28e2b, 0xe15759, 0x76b7b2, 0x59a14f, 0xedc948, 0xb07aa1,
                                  0xff9da7, 0x9c755f, 0x79706e, 0xa0cbe8, 0xffbe7d, 0xff9d9a, 0x86bcb6,
                                  0x8cd17d, 0xf1ce63, 0xd4a6c8, 0xfabfd2, 0xd7b5a6, 0xbab0ac};
    constexpr int n = int(sizeof colors / sizeof colors[0]);
    return QColor(colors[((index % n) + n) % n]);
}

Qt::PenStyle TrainingView::runPenStyle(int index) {
    static const Qt::PenStyle styles[] = {Qt::SolidLine, Qt::DashDotLine, Qt::DashDotDotLine};
    return styles[(std::max(index, 0) / 20) % 3];
}

TrainingView::TrainingView(QWidget* parent) : QWidget(parent) {
    plot_ = new QCustomPlot(this);
    plot_->setObjectName(QStringLiteral("TrainingPlot"));
    plot_->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
    plot_->setNoAntialiasingOnDrag(true);
    // Polylines as one path: with a million points (adaptively sampled) a replot takes ~6 ms instead of
    // ~120 ms on this machine (peft-workbench --bench-replot 1000000).
    plot_->setPlottingHint(QCP::phFastPolylines, true);
    plot_->xAxis->setLabel(tr("step"));
    plot_->yAxis->setLabel(tr("loss"));
    plot_->yAxis2->setVisible(true);
    plot_->yAxis2->setLabel(tr("dev metric"));
    plot_->yAxis2->setRange(0, 1);
    // The run list beside the plot is the legend on screen (it never covers the curves); the plot's own
    // legend appears in exported images only.
    plot_->legend->setVisible(false);
    plot_->legend->setFont(QFont(font().family(), 8));
    plot_->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignRight);
    list_ = new QListWidget(this);
    list_->setObjectName(QStringLiteral("TrainingRunList"));
    list_->setToolTip(tr("The runs drawn: untick to hide a run's curves"));
    list_->setTextElideMode(Qt::ElideMiddle);
    list_->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);  // long names elide instead
    list_->setItemDelegate(new RunItemDelegate(list_));
    connect(list_, &QListWidget::itemChanged, this, [this] { applyVisibility(); });
    filterNote_ = new QLabel(this);
    filterNote_->setWordWrap(true);
    filterNote_->setVisible(false);
    plot_->setToolTip(
        tr("Solid: training loss (EMA-smoothed). Dashed: evaluation loss. Dots: the task metric on the "
           "right axis. Drag to pan, wheel to zoom, double-click to fit."));
    connect(plot_, &QCustomPlot::mouseDoubleClick, this, [this] {
        followData_ = true;
        scheduleReplot();
    });
    connect(plot_, &QCustomPlot::mouseWheel, this, [this] { followData_ = false; });
    connect(plot_, &QCustomPlot::mousePress, this, [this] { followData_ = false; });

    smoothSlider_ = new QSlider(Qt::Horizontal, this);
    smoothSlider_->setRange(0, 99);
    smoothSlider_->setValue(int(std::lround(alpha_ * 100)));
    smoothSlider_->setToolTip(
        tr("Exponential moving average of the training loss (weight of the past). Non-finite losses are "
           "not smoothed: they show as gaps."));
    smoothLabel_ = new QLabel(this);
    logY_ = new QCheckBox(tr("log loss"), this);
    logY_->setToolTip(tr("Logarithmic loss axis"));
    xAxis_ = new QComboBox(this);
    xAxis_->addItems({tr("x: step"), tr("x: wall time")});
    xAxis_->setToolTip(tr("Plot against optimizer steps or seconds of training"));

    connect(smoothSlider_, &QSlider::valueChanged, this, [this](int v) { setSmoothing(v / 100.0); });
    connect(logY_, &QCheckBox::toggled, this, &TrainingView::setLogY);
    connect(xAxis_, qOverload<int>(&QComboBox::currentIndexChanged), this,
            [this](int i) { setWallTimeAxis(i == 1); });

    auto* controls = new QHBoxLayout;
    controls->addWidget(new QLabel(tr("Smoothing"), this));
    controls->addWidget(smoothSlider_, 1);
    controls->addWidget(smoothLabel_);
    controls->addSpacing(16);
    controls->addWidget(logY_);
    controls->addWidget(xAxis_);
    auto* side = new QWidget(this);
    auto* sideLayout = new QVBoxLayout(side);
    sideLayout->setContentsMargins(0, 0, 0, 0);
    sideLayout->addWidget(filterNote_);
    sideLayout->addWidget(list_, 1);
    auto* split = new QSplitter(Qt::Horizontal, this);
    split->addWidget(plot_);
    split->addWidget(side);
    split->setStretchFactor(0, 1);
    split->setStretchFactor(1, 0);
    split->setSizes({880, 290});
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addLayout(controls);
    layout->addWidget(split, 1);
    smoothLabel_->setText(QString::number(alpha_, 'f', 2));

    replotTimer_ = new QTimer(this);
    replotTimer_->setSingleShot(true);
    replotTimer_->setInterval(40);  // at most 25 replots a second
    connect(replotTimer_, &QTimer::timeout, this, [this] { replotNow(); });
}

void TrainingView::addRun(qint64 run, const QString& name) {
    removeRun(run);
    Run r;
    r.name = name;
    r.color = runColor(int(order_.size()));
    r.style = runPenStyle(int(order_.size()));
    runs_.insert(run, r);
    order_.push_back(run);
    // Its row in the run list: a swatch of its colour and line, its name, ticked.
    QPixmap swatch(22, 12);
    swatch.fill(Qt::transparent);
    {
        QPainter painter(&swatch);
        painter.setPen(QPen(r.color, 3, r.style));
        painter.drawLine(1, 6, 21, 6);
    }
    const QSignalBlocker block(list_);
    auto* item = new QListWidgetItem(QIcon(swatch), name, list_);
    item->setToolTip(name);
    item->setData(Qt::UserRole, run);
    item->setFlags(item->flags() | Qt::ItemIsUserCheckable);
    item->setCheckState(Qt::Checked);
    scheduleReplot();
}

void TrainingView::setRunStatus(qint64 run, const QString& status, const QString& detail) {
    for (int i = 0; i < list_->count(); ++i)
        if (QListWidgetItem* item = list_->item(i); item->data(Qt::UserRole).toLongLong() == run) {
            const QSignalBlocker block(list_);  // not a change of what is shown
            item->setData(StatusRole, status);
            const QString more = detail.isEmpty() ? status : detail;
            item->setToolTip(more.isEmpty() ? runs_.value(run).name
                                            : QStringLiteral("%1\n%2").arg(runs_.value(run).name, more));
        }
}

QString TrainingView::runStatus(qint64 run) const {
    for (int i = 0; i < list_->count(); ++i)
        if (list_->item(i)->data(Qt::UserRole).toLongLong() == run)
            return list_->item(i)->data(StatusRole).toString();
    return {};
}

void TrainingView::removeRun(qint64 run) {
    auto it = runs_.find(run);
    if (it == runs_.end()) return;
    for (auto& s : it->series)
        if (s.graph) plot_->removeGraph(s.graph);
    runs_.erase(it);
    order_.removeAll(run);
    const QSignalBlocker block(list_);
    for (int i = list_->count() - 1; i >= 0; --i)
        if (list_->item(i)->data(Qt::UserRole).toLongLong() == run) delete list_->takeItem(i);
    scheduleReplot();
}

void TrainingView::clear() {
    plot_->clearGraphs();
    runs_.clear();
    order_.clear();
    const QSignalBlocker block(list_);
    list_->clear();
    followData_ = true;
    scheduleReplot();
}

void TrainingView::showOnly(const QList<qint64>& runs) {
    compareFilter_ = runs;
    applyVisibility();
}

bool TrainingView::isRunShown(qint64 run) const {
    if (!compareFilter_.isEmpty() && !compareFilter_.contains(run)) return false;
    for (int i = 0; i < list_->count(); ++i)
        if (list_->item(i)->data(Qt::UserRole).toLongLong() == run)
            return list_->item(i)->checkState() == Qt::Checked;
    return true;
}

void TrainingView::applyVisibility() {
    for (auto it = runs_.begin(); it != runs_.end(); ++it) {
        const bool visible = isRunShown(it.key());
        for (auto& series : it->series) {
            series.graph->setVisible(visible);
            if (isTrainLossGraph(series.graph)) {
                if (visible)
                    series.graph->addToLegend();
                else
                    series.graph->removeFromLegend();
            }
        }
    }
    filterNote_->setVisible(!compareFilter_.isEmpty());
    filterNote_->setText(tr("Showing the %n run(s) selected in Compare (clear that selection to show all)",
                            "", int(compareFilter_.size())));
    followData_ = true;
    scheduleReplot();
}

TrainingView::Series& TrainingView::seriesFor(Run& r, qint64 run, const QString& key) {
    auto it = r.series.find(key);
    if (it != r.series.end()) return *it;
    Series s;
    const bool metric = !key.endsWith(QLatin1String("/loss"));
    s.graph = plot_->addGraph(plot_->xAxis, metric ? plot_->yAxis2 : plot_->yAxis);
    QPen pen(r.color, isTrainLoss(key) ? 1.6 : 1.4);
    pen.setStyle(key == QLatin1String("dev/loss") ? Qt::DashLine : r.style);
    s.graph->setPen(pen);
    if (metric) {
        s.graph->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, r.color, r.color, 5));
        s.graph->setPen(QPen(r.color, 1.0, Qt::DotLine));
    }
    s.graph->setName(isTrainLoss(key) ? r.name : r.name + QStringLiteral(" — ") + key);
    s.graph->setProperty("series", key);
    if (!isTrainLoss(key)) s.graph->removeFromLegend();  // one legend row per run: its training loss
    s.graph->setProperty("run", run);
    applyPlotScale(plot_);   // presentation mode's line widths and markers for the new graph
    if (!isRunShown(run)) {  // a hidden run's new series stays hidden
        s.graph->setVisible(false);
        s.graph->removeFromLegend();
    }
    return *r.series.insert(key, s);
}

double TrainingView::smoothedNext(Series& s, double v) const {
    if (!std::isfinite(v)) return v;  // passes through: a gap, not a poisoned average
    if (!s.emaStarted) {
        s.emaStarted = true;
        s.ema = 0;
        s.emaCount = 0;
    }
    // Debiased EMA (as TensorBoard): the first points are not pulled towards zero.
    s.ema = alpha_ * s.ema + (1 - alpha_) * v;
    ++s.emaCount;
    const double debias = 1 - std::pow(alpha_, s.emaCount);
    return debias > 0 ? s.ema / debias : v;
}

void TrainingView::addSamples(qint64 run, const QVector<MetricSample>& samples) {
    if (!runs_.contains(run)) addRun(run, tr("run %1").arg(run));
    Run& r = runs_[run];
    for (const MetricSample& m : samples) {
        if (m.name == QLatin1String("lr")) continue;
        if (m.split == QLatin1String("train") && m.name != QLatin1String("loss")) continue;
        const QString key = m.split + QLatin1Char('/') + m.name;
        if (m.split == QLatin1String("dev") && m.name != QLatin1String("loss") &&
            m.name != QLatin1String("accuracy") && m.name != QLatin1String("rougeL") &&
            m.name != QLatin1String("bleu") && m.name != QLatin1String("perplexity"))
            continue;  // one task metric per run on the right axis
        Series& s = seriesFor(r, run, key);
        s.step.push_back(double(m.step));
        s.wall.push_back(m.wallTime);
        s.value.push_back(m.value);
        double y = isTrainLoss(key) && alpha_ > 0 ? smoothedNext(s, m.value) : m.value;
        if (m.name == QLatin1String("bleu")) y /= 100.0;  // BLEU is 0–100; the right axis is 0–1
        s.graph->addData(wallAxis_ ? m.wallTime : double(m.step), std::isfinite(y) ? y : qQNaN());
    }
    scheduleReplot();
}

void TrainingView::rebuildGraph(Series& s, bool smooth) {
    s.emaStarted = false;
    QVector<double> xs = wallAxis_ ? s.wall : s.step, ys(s.value.size());
    const bool bleu = s.graph->property("series").toString() == QLatin1String("dev/bleu");
    for (int i = 0; i < s.value.size(); ++i) {
        const double y = smooth && alpha_ > 0 ? smoothedNext(s, s.value[i]) : s.value[i];
        ys[i] = std::isfinite(y) ? (bleu ? y / 100.0 : y) : qQNaN();
    }
    s.graph->setData(xs, ys, true);
}

void TrainingView::rebuildAll() {
    for (auto& r : runs_)
        for (auto it = r.series.begin(); it != r.series.end(); ++it)
            rebuildGraph(*it, isTrainLoss(it.key()));
    scheduleReplot();
}

void TrainingView::setSmoothing(double alpha) {
    alpha_ = std::clamp(alpha, 0.0, 0.99);
    smoothLabel_->setText(QString::number(alpha_, 'f', 2));
    if (smoothSlider_->value() != int(std::lround(alpha_ * 100)))
        smoothSlider_->setValue(int(std::lround(alpha_ * 100)));
    rebuildAll();
}

void TrainingView::setLogY(bool on) {
    plot_->yAxis->setScaleType(on ? QCPAxis::stLogarithmic : QCPAxis::stLinear);
    if (on)
        plot_->yAxis->setTicker(QSharedPointer<QCPAxisTickerLog>(new QCPAxisTickerLog));
    else
        plot_->yAxis->setTicker(QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));
    if (logY_->isChecked() != on) logY_->setChecked(on);
    followData_ = true;
    scheduleReplot();
}

void TrainingView::setWallTimeAxis(bool on) {
    wallAxis_ = on;
    plot_->xAxis->setLabel(on ? tr("wall time (s)") : tr("step"));
    if (xAxis_->currentIndex() != (on ? 1 : 0)) xAxis_->setCurrentIndex(on ? 1 : 0);
    followData_ = true;
    rebuildAll();
}

int TrainingView::pointCount(qint64 run, const QString& series) const {
    auto r = runs_.find(run);
    if (r == runs_.end()) return 0;
    auto s = r->series.find(series);
    return s == r->series.end() ? 0 : int(s->value.size());
}

void TrainingView::scheduleReplot() {
    if (!replotTimer_->isActive()) replotTimer_->start();
}

bool TrainingView::visibleSpan(QCPAxis* valueAxis, QCPRange& out) const {
    // The union of the visible graphs' keys (valueAxis null) or of their values on `valueAxis`.
    bool found = false;
    const QCP::SignDomain domain =
        valueAxis && valueAxis->scaleType() == QCPAxis::stLogarithmic ? QCP::sdPositive : QCP::sdBoth;
    for (int i = 0; i < plot_->graphCount(); ++i) {
        QCPGraph* g = plot_->graph(i);
        if (!g->visible() || (valueAxis && g->valueAxis() != valueAxis)) continue;
        bool ok = false;
        const QCPRange r = valueAxis ? g->getValueRange(ok, domain, QCPRange()) : g->getKeyRange(ok);
        if (!ok) continue;
        out = found ? QCPRange(std::min(out.lower, r.lower), std::max(out.upper, r.upper)) : r;
        found = true;
    }
    return found;
}

double TrainingView::replotNow() {
    QElapsedTimer t;  // the whole replot: axis ranges from the data, then drawing
    t.start();
    replotTimer_->stop();
    if (followData_) {
        QCPRange x, loss, metric;
        if (visibleSpan(nullptr, x)) plot_->xAxis->setRange(x.lower, std::max(x.upper, x.lower + 1));
        if (visibleSpan(plot_->yAxis, loss)) {
            if (plot_->yAxis->scaleType() == QCPAxis::stLogarithmic)
                plot_->yAxis->setRange(std::max(loss.lower * 0.8, 1e-4), loss.upper * 1.25);
            else
                plot_->yAxis->setRange(std::min(0.0, loss.lower), loss.upper * 1.05 + 1e-9);
        }
        // The metric axis: its data's range with some room, within [0, 1] (BLEU is shown / 100).
        if (visibleSpan(plot_->yAxis2, metric)) {
            const double pad = std::max(0.02, 0.1 * metric.size());
            plot_->yAxis2->setRange(std::max(0.0, metric.lower - pad),
                                    std::min(1.0 + 0.25 * pad, metric.upper + pad));
        }
        for (int i = 0; i < plot_->graphCount(); ++i)
            if (plot_->graph(i)->valueAxis() == plot_->yAxis2 && plot_->graph(i)->visible()) {
                const QString series = plot_->graph(i)->property("series").toString();
                plot_->yAxis2->setLabel(tr("dev %1").arg(series.section(QLatin1Char('/'), 1)));
                break;
            }
    }
    plot_->replot();
    return double(t.nsecsElapsed()) / 1e6;
}

bool TrainingView::exportImage(const QString& path) {
    plot_->legend->setVisible(true);  // the image carries its own legend (the run list is not in it)
    replotNow();
    const bool ok = savePlot(plot_, path);
    plot_->legend->setVisible(false);
    replotNow();
    return ok;
}

bool TrainingView::exportCsv(const QString& path) const {
    QFile f(path);
    if (!f.open(QIODevice::WriteOnly | QIODevice::Truncate | QIODevice::Text)) return false;
    QTextStream out(&f);
    out << "run,name,series,step,wall_time,value\n";
    for (qint64 id : order_) {
        const Run& r = runs_[id];
        QString name = r.name;
        name.replace(QLatin1Char('"'), QLatin1String("\"\""));
        for (auto it = r.series.begin(); it != r.series.end(); ++it)
            for (int i = 0; i < it->value.size(); ++i)
                out << id << ",\"" << name << "\"," << it.key() << ',' << qint64(it->step[i]) << ','
                    << QString::number(it->wall[i], 'g', 9) << ',' << QString::number(it->value[i], 'g', 9)
                    << '\n';
    }
    return out.status() == QTextStream::Ok;
}

}  // namespace peft::ui
