// SPDX-License-Identifier: GPL-3.0-or-later
#include "param_view.h"

#include <QLabel>
#include <QVBoxLayout>

#include "plot_style.h"
#include "qcp.h"

#include "peft/accounting.h"
#include "util/error.h"

namespace peft::ui {

int64_t ParamView::layerParamCount(const ModelConfig& c, bool decoder) {
    const int64_t d = c.d_model, m = c.d_ff;
    const int64_t attention = 4 * d * d + 4 * d;  // W_q, W_k, W_v, W_o and their biases
    return attention + 2 * d * m + m + d          // W_1, W_2 and their biases
           + 4 * d                                // two LayerNorms (γ, β)
           + (decoder ? attention + 2 * d : 0);   // cross-attention and its LayerNorm
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
    const int Le = int(cfg_.n_layers), Ld = cfg_.encoderDecoder() ? int(cfg_.decoder_layers) : 0;
    const int outside = Le + Ld;  // the last slot
    trained_ = QVector<double>(outside + 1, 0.0);
    stored_ = QVector<double>(outside + 1, 0.0);
    for (const auto& m : rep.modules) {
        const bool dec = m.stack != Stack::Encoder;
        const int n = dec ? Ld : Le;
        const int slot = m.layer >= 0 && m.layer < n ? (dec ? Le : 0) + int(m.layer) : outside;
        trained_[slot] += double(m.trained);
        stored_[slot] += double(m.stored);
    }
    plot_->clearPlottables();
    plot_->clearItems();
    auto ticker = QSharedPointer<QCPAxisTickerText>::create();
    QVector<double> keys;
    for (int i = 0; i <= outside; ++i) {
        keys << i;
        const QString tick = i == outside ? tr("outside layers")
                             : Ld == 0    ? tr("layer %1").arg(i)
                             : i < Le     ? tr("enc %1").arg(i)
                                          : tr("dec %1").arg(i - Le);
        ticker->addTick(i, tick);
    }
    plot_->xAxis->setTicker(ticker);
    plot_->xAxis->setRange(-0.7, outside + 0.7);
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
    // What full fine-tuning trains in one layer: a line over the layers of each stack.
    const QColor red(0xe1, 0x57, 0x59);
    auto reference = [&](double from, double to, double count, const QString& text) {
        auto* line = new QCPItemLine(plot_);
        line->start->setCoords(from, count);
        line->end->setCoords(to, count);
        line->setPen(QPen(red, 1.2, Qt::DashLine));
        auto* label = new QCPItemText(plot_);
        label->position->setCoords(from + 0.1, count);
        label->setPositionAlignment(Qt::AlignLeft | Qt::AlignBottom);
        label->setText(text);
        label->setColor(red);
    };
    const double encoderLayer = double(layerParamCount(cfg_));
    double top = encoderLayer;
    if (Ld == 0) {
        reference(
            -0.7, outside + 0.7, encoderLayer,
            tr("one backbone layer: %1 (full fine-tuning)").arg(QLocale().toString(qlonglong(encoderLayer))));
    } else {
        const double decoderLayer = double(layerParamCount(cfg_, true));
        top = decoderLayer;
        reference(-0.7, Le - 0.5, encoderLayer,
                  tr("one encoder layer: %1").arg(QLocale().toString(qlonglong(encoderLayer))));
        reference(
            Le - 0.5, outside - 0.5, decoderLayer,
            tr("one decoder layer: %1 (full fine-tuning)").arg(QLocale().toString(qlonglong(decoderLayer))));
    }
    for (int i = 0; i <= outside; ++i)
        top = std::max({top, trained_[i], stored_[i]});
    plot_->yAxis->setRange(0.5, top * 4);
    applyPlotScale(plot_);
    plot_->replot();
    caption_->setText(
        tr("In total %1 parameters trained and %2 stored, of the backbone's %3 (%4 % / %5 %); the bars split "
           "them by layer%6.")
            .arg(QLocale().toString(qlonglong(rep.trained)))
            .arg(QLocale().toString(qlonglong(rep.stored)))
            .arg(QLocale().toString(qlonglong(rep.backbone)))
            .arg(rep.trainedPct(), 0, 'g', 3)
            .arg(rep.storedPct(), 0, 'g', 3)
            .arg(Ld ? tr(" (encoder, then decoder with its cross-attention)") : QString()));
}

}  // namespace peft::ui
