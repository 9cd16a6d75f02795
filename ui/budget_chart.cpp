// SPDX-License-Identifier: GPL-3.0-or-later
#include "budget_chart.h"

#include <QLocale>

#include <algorithm>
#include <cmath>

#include "peft/accounting.h"
#include "peft/presets.h"
#include "plot_style.h"
#include "util/error.h"

namespace peft::ui {

namespace {

const QColor kTrained(0x4c, 0x78, 0xa8);
const QColor kStored(0xf5, 0x85, 0x18);
/// Where a bar that could not be computed sits (and bars start): below any real budget.
constexpr double kFloorPct = 1e-6;

}  // namespace

BudgetChart::BudgetChart(QWidget* parent) : QCustomPlot(parent) {
    setObjectName(QStringLiteral("BudgetPlot"));
    setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
    axisRect()->setRangeDrag(Qt::Horizontal);
    axisRect()->setRangeZoom(Qt::Horizontal);
    yAxis->grid()->setVisible(false);
    xAxis->setScaleType(QCPAxis::stLogarithmic);
    xAxis->setTicker(QSharedPointer<QCPAxisTickerLog>::create());
    xAxis->setNumberFormat(QStringLiteral("gb"));
    xAxis->setLabel(tr("parameters, % of the backbone (log scale)"));

    highlight_ = new QCPItemRect(this);
    highlight_->setPen(Qt::NoPen);
    highlight_->setBrush(QColor(255, 220, 120, 90));
    highlight_->setLayer(QStringLiteral("background"));
    highlight_->setVisible(false);

    auto* group = new QCPBarsGroup(this);
    auto makeBars = [&](const QString& name, const QColor& c) {
        auto* bars = new QCPBars(yAxis, xAxis);
        bars->setName(name);
        bars->setPen(QPen(c.darker(130)));
        bars->setBrush(c);
        bars->setWidth(0.3);
        bars->setBaseValue(kFloorPct);
        bars->setBarsGroup(group);
        return bars;
    };
    trainedBars_ = makeBars(tr("trained"), kTrained);
    storedBars_ = makeBars(tr("stored"), kStored);

    auto* full = new QCPItemStraightLine(this);
    full->point1->setCoords(100, 0);
    full->point2->setCoords(100, 1);
    full->setPen(QPen(QColor(120, 120, 120), 1.5, Qt::DashLine));
    fullLabel_ = new QCPItemText(this);
    fullLabel_->setPositionAlignment(Qt::AlignRight | Qt::AlignVCenter);
    fullLabel_->setText(tr("full fine-tuning "));
    fullLabel_->setColor(QColor(100, 100, 100));

    plotLayout()->insertRow(0);
    title_ = new QCPTextElement(this, QString(), QFont(font().family(), 11, QFont::Bold));
    plotLayout()->addElement(0, 0, title_);
    legend->setVisible(true);
    axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignBottom | Qt::AlignRight);
    connect(this, &QCustomPlot::plottableClick, this, [this](QCPAbstractPlottable*, int index, QMouseEvent*) {
        if (index >= 0 && index < count_) Q_EMIT presetClicked(index);
    });
}

void BudgetChart::setBackbone(const ModelConfig& cfg) {
    const auto& all = peft::presets();
    auto ticker = QSharedPointer<QCPAxisTickerText>::create();
    QVector<double> keys, stored;
    trained_.clear();
    count_ = int(all.size());
    double smallest = 100;
    for (int i = 0; i < count_; ++i) {
        QString label = QString::fromStdString(all[size_t(i)].name);
        double t = kFloorPct, st = kFloorPct;
        try {
            const ParamReport rep = countParams(resolvePreset(all[size_t(i)], cfg), cfg);
            t = std::max(rep.trainedPct(), kFloorPct);
            st = std::max(rep.storedPct(), kFloorPct);
            smallest = std::min({smallest, t, st});
        } catch (const Error&) {
            label += tr(" (does not fit)");  // e.g. a prefix longer than the backbone's positions
        }
        const double key = count_ - i;  // first preset on top
        ticker->addTick(key, label);
        keys << key;
        trained_ << t;
        stored << st;
    }
    yAxis->setTicker(ticker);
    yAxis->setRange(0.3, count_ + 1.3);  // headroom above the first bar for the full fine-tuning label
    // From a power of ten below the smallest bar to beyond full fine-tuning.
    xAxis->setRange(std::pow(10.0, std::floor(std::log10(smallest)) - 0.3), 250);
    fullLabel_->position->setCoords(100, count_ + 0.9);
    trainedBars_->setData(keys, trained_, true);
    storedBars_->setData(keys, stored, true);
    title_->setText(tr("Parameter budget of every preset on the backbone '%1' (%2 parameters)")
                        .arg(QString::fromStdString(cfg.name),
                             QLocale::system().toString(static_cast<qlonglong>(backboneParamCount(cfg)))));
    applyPlotScale(this);
    replot();
}

void BudgetChart::highlightPreset(int index) {
    highlight_->setVisible(index >= 0 && index < count_);
    const double key = count_ - index;
    highlight_->topLeft->setType(QCPItemPosition::ptPlotCoords);
    highlight_->bottomRight->setType(QCPItemPosition::ptPlotCoords);
    highlight_->topLeft->setCoords(1e-9, key + 0.45);
    highlight_->bottomRight->setCoords(1e6, key - 0.45);
    replot(QCustomPlot::rpQueuedReplot);
}

}  // namespace peft::ui
