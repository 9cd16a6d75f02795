// SPDX-License-Identifier: GPL-3.0-or-later
#include "param_view.h"

#include <QLabel>
#include <QVBoxLayout>

#include "plot_style.h"
#include "qcp.h"

#include "peft/accounting.h"
#include "util/error.h"

namespace peft::ui {

int64_t ParamView::layerParamCount(const ModelConfig& c) {
    const int64_t d = c.d_model, m = c.d_ff;
    return 4 * d * d + 4 * d    // W_q, W_k, W_v, W_o and their biases
           + 2 * d * m + m + d  // W_1, W_2 and their biases
           + 4 * d;             // two LayerNorms (γ, β)
}

ParamView::ParamView(const ModelConfig& cfg, QWidget* parent) : QWidget(parent), cfg_(cfg) {
    plot_ = new QCustomPlot(this);
    plot_->setObjectName(QStringLiteral("ParamPlot"));
    plot_->yAxis->setScaleType(QCPAxis::stLogarithmic);
    plot_->yAxis->setTicker(QSharedPointer<QCPAxisTickerLog>::create());
    plot_->yAxis->setNumberFormat(QStringLiteral("gb"));
    plot_->yAxis->setLabel(tr("parameters (log scale)"));
    plot_->legend->setVisible(true);
    plot_->setToolTip(
        tr("Trained and stored parameters of the spec per layer, next to one layer of the "
           "backbone (what full fine-tuning trains there)"));
    caption_ = new QLabel(this);
    caption_->setWordWrap(true);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(caption_);
    layout->addWidget(plot_, 1);
}

void ParamView::setConfig(const ModelConfig& cfg) {
    cfg_ = cfg;
    try {
        setSpec(spec_);
    } catch (const Error&) {
        // The last spec does not fit this backbone; the next valid spec redraws the view.
    }
}

void ParamView::setSpec(const Spec& spec) {
    spec_ = spec;
    const ParamReport rep = countParams(spec, cfg_);
    const int L = int(cfg_.n_layers);
    trained_ = QVector<double>(L + 1, 0.0);
    stored_ = QVector<double>(L + 1, 0.0);
    for (const auto& m : rep.modules) {
        const int slot = m.layer >= 0 && m.layer < L ? int(m.layer) : L;
        trained_[slot] += double(m.trained);
        stored_[slot] += double(m.stored);
    }
    plot_->clearPlottables();
    plot_->clearItems();
    auto ticker = QSharedPointer<QCPAxisTickerText>::create();
    QVector<double> keys;
    for (int i = 0; i <= L; ++i) {
        keys << i;
        ticker->addTick(i, i < L ? tr("layer %1").arg(i) : tr("outside layers"));
    }
    plot_->xAxis->setTicker(ticker);
    plot_->xAxis->setRange(-0.7, L + 0.7);
    auto* group = new QCPBarsGroup(plot_);
    auto bars = [&](const QVector<double>& v, const QString& name, const QColor& c) {
        auto* b = new QCPBars(plot_->xAxis, plot_->yAxis);
        b->setName(name);
        b->setWidth(0.35);
        b->setPen(QPen(c.darker(130)));
        b->setBrush(c);
        QVector<double> shown(v.size());
        for (int i = 0; i < v.size(); ++i)
            shown[i] = std::max(v[i], 0.5);  // log axis: an empty slot shows as a stub
        b->setData(keys, shown);
        b->setBarsGroup(group);
    };
    bars(trained_, tr("trained"), QColor(0x4e, 0x79, 0xa7));
    bars(stored_, tr("stored"), QColor(0xf2, 0x8e, 0x2b));
    const double layerCount = double(layerParamCount(cfg_));
    auto* full = new QCPItemStraightLine(plot_);
    full->point1->setCoords(-1, layerCount);
    full->point2->setCoords(L + 1, layerCount);
    full->setPen(QPen(QColor(0xe1, 0x57, 0x59), 1.2, Qt::DashLine));
    auto* label = new QCPItemText(plot_);
    label->position->setCoords(-0.6, layerCount);
    label->setPositionAlignment(Qt::AlignLeft | Qt::AlignBottom);
    label->setText(
        tr("one backbone layer: %1 (full fine-tuning)").arg(QLocale().toString(qlonglong(layerCount))));
    label->setColor(QColor(0xe1, 0x57, 0x59));
    double top = layerCount;
    for (int i = 0; i <= L; ++i)
        top = std::max({top, trained_[i], stored_[i]});
    plot_->yAxis->setRange(0.5, top * 4);
    applyPlotScale(plot_);
    plot_->replot();
    caption_->setText(
        tr("In total %1 parameters trained and %2 stored, of the backbone's %3 (%4 % / %5 %); the bars split "
           "them by layer.")
            .arg(QLocale().toString(qlonglong(rep.trained)))
            .arg(QLocale().toString(qlonglong(rep.stored)))
            .arg(QLocale().toString(qlonglong(rep.backbone)))
            .arg(rep.trainedPct(), 0, 'g', 3)
            .arg(rep.storedPct(), 0, 'g', 3));
}

}  // namespace peft::ui
