// SPDX-License-Identifier: GPL-3.0-or-later
#include "lambda_view.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QToolTip>
#include <QVBoxLayout>

#include <random>

#include "qcp.h"

#include "data/world.h"

namespace peft::ui {

namespace {

QCPColorGradient lambdaGradient() {
    // Viridis (perceptually uniform, colour-blind safe), by its published stops.
    QCPColorGradient g;
    g.clearColorStops();
    g.setColorStopAt(0.00, QColor(0x44, 0x01, 0x54));
    g.setColorStopAt(0.25, QColor(0x3b, 0x52, 0x8b));
    g.setColorStopAt(0.50, QColor(0x21, 0x91, 0x8c));
    g.setColorStopAt(0.75, QColor(0x5e, 0xc9, 0x62));
    g.setColorStopAt(1.00, QColor(0xfd, 0xe7, 0x25));
    g.setNanHandling(QCPColorGradient::nhTransparent);
    return g;
}

/// One colour map over [0, n) × [0, m) with integer cells, on `plot`'s axes.
QCPColorMap* makeMap(QCustomPlot* plot) {
    auto* map = new QCPColorMap(plot->xAxis, plot->yAxis);
    map->setInterpolate(false);
    map->setTightBoundary(false);  // cells centred on integer token / head indices
    return map;
}

/// A colour scale for λ ∈ [0, 1] beside `plot`'s axis rect, with ticks every 0.25.
QCPColorScale* addScale(QCustomPlot* plot, QCPColorMap* map, const QString& label) {
    auto* scale = new QCPColorScale(plot);
    plot->plotLayout()->addElement(0, 1, scale);
    scale->setLabel(label);
    scale->setBarWidth(14);
    auto ticker = QSharedPointer<QCPAxisTickerFixed>::create();
    ticker->setTickStep(0.25);
    scale->axis()->setTicker(ticker);
    map->setColorScale(scale);
    scale->setGradient(lambdaGradient());  // after attaching: the scale's gradient is the map's
    scale->setDataRange(QCPRange(0, 1));
    auto* group = new QCPMarginGroup(plot);
    plot->axisRect()->setMarginGroup(QCP::msBottom | QCP::msTop, group);
    scale->setMarginGroup(QCP::msBottom | QCP::msTop, group);
    // The same fixed left margin in both plots, so the strip's tokens sit under the heatmap's.
    plot->axisRect()->setAutoMargins(QCP::msTop | QCP::msBottom | QCP::msRight);
    plot->axisRect()->setMargins(QMargins(72, 0, 0, 0));
    return scale;
}

}  // namespace

LambdaView::LambdaView(QWidget* parent) : QWidget(parent) {
    runs_ = new QComboBox(this);
    runs_->setToolTip(tr("A run of the project; λ needs a gated prefix (prefix tuning, MAM, UniPELT)"));
    runs_->setMinimumContentsLength(28);
    text_ = new QLineEdit(this);
    text_->setText(QStringLiteral("the plot was not bad but the music was dull . i"));
    text_->setCursorPosition(0);  // the sentence from its start
    text_->setToolTip(tr("A sentence in the built-in world's words (unknown words become <unk>)"));
    auto* show = new QPushButton(tr("Show λ"), this);
    auto* dev = new QPushButton(tr("Dev example"), this);
    dev->setToolTip(tr("A fresh review from the built-in world, as the sentiment task writes it"));
    attention_ = new QComboBox(this);
    attention_->setObjectName(QStringLiteral("LambdaAttentionKind"));
    attention_->addItem(tr("encoder self-attention"), QStringLiteral("encoder"));
    attention_->addItem(tr("decoder self-attention"), QStringLiteral("decoder"));
    attention_->addItem(tr("cross-attention"), QStringLiteral("cross"));
    attention_->setToolTip(
        tr("An encoder–decoder has three attentions with prefixes: the encoder's, the decoder's own and the "
           "decoder's over the encoder (its queries are the decoder's tokens: the input shifted right)"));
    attention_->setVisible(false);  // until a run shows it is an encoder–decoder's
    layer_ = new QSpinBox(this);
    layer_->setPrefix(tr("layer "));
    layer_->setRange(0, 0);
    layer_->setToolTip(tr("The layer whose heads are shown"));
    info_ = new QLabel(this);
    info_->setWordWrap(true);
    info_->setTextInteractionFlags(Qt::TextSelectableByMouse);

    connect(show, &QPushButton::clicked, this, &LambdaView::request);
    connect(text_, &QLineEdit::returnPressed, this, &LambdaView::request);
    connect(dev, &QPushButton::clicked, this, &LambdaView::pickDevExample);
    connect(layer_, qOverload<int>(&QSpinBox::valueChanged), this, [this] { redraw(); });
    connect(attention_, qOverload<int>(&QComboBox::activated), this, &LambdaView::request);

    plot_ = new QCustomPlot(this);
    plot_->setObjectName(QStringLiteral("LambdaHeatmap"));
    plot_->yAxis->setLabel(tr("head"));
    plot_->xAxis->setTickLabelRotation(-40);
    map_ = makeMap(plot_);
    addScale(plot_, map_, QStringLiteral("λ(x)"));
    plot_->setMouseTracking(true);
    connect(plot_, &QCustomPlot::mouseMove, this, [this](QMouseEvent* e) {
        if (data_.tokens.isEmpty()) return;
        const double x = plot_->xAxis->pixelToCoord(e->pos().x()),
                     y = plot_->yAxis->pixelToCoord(e->pos().y());
        const int t = int(std::lround(x)), h = int(std::lround(y));
        if (t < 0 || t >= data_.tokens.size() || h < 0 || h >= data_.heads) {
            QToolTip::hideText();
            return;
        }
        QToolTip::showText(e->globalPosition().toPoint(),
                           tr("layer %1, head %2, token “%3”: λ = %4")
                               .arg(layer_->value())
                               .arg(h)
                               .arg(data_.tokens[t])
                               .arg(shownValue(h, t), 0, 'f', 5),
                           plot_);
    });

    strip_ = new QCustomPlot(this);
    strip_->setObjectName(QStringLiteral("LambdaLayerStrip"));
    strip_->setMaximumHeight(170);
    strip_->yAxis->setLabel(tr("layer (mean over heads)"));
    strip_->xAxis->setTickLabels(false);
    stripMap_ = makeMap(strip_);
    addScale(strip_, stripMap_, tr("mean λ"));

    auto* top = new QHBoxLayout;
    top->addWidget(runs_);
    top->addWidget(text_, 1);
    top->addWidget(dev);
    top->addWidget(show);
    top->addWidget(attention_);
    top->addWidget(layer_);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addLayout(top);
    layout->addWidget(info_);
    layout->addWidget(plot_, 3);
    layout->addWidget(strip_, 1);
    hint_ = new QCPItemText(plot_);
    hint_->position->setType(QCPItemPosition::ptAxisRectRatio);
    hint_->position->setCoords(0.5, 0.5);
    hint_->setColor(Qt::gray);
    showEmpty(tr("Choose a run with a gated prefix and a sentence, then Show λ"));
    info_->setText(
        tr("λ(x) is the share of attention the prefix takes in the joint softmax (the paper's "
           "Eq. 7): h ← (1 − λ(x))·Attn(x W_q, C W_k, C W_v) + λ(x)·softmax(x W_q P_kᵀ) P_v. Choose "
           "a run with a gated prefix and a sentence."));
}

void LambdaView::setRuns(const QList<QPair<qint64, QString>>& runs, const QSet<qint64>& gated) {
    const qint64 current = selectedRun();
    const QSignalBlocker block(runs_);
    runs_->clear();
    for (const auto& [id, name] : runs) {
        if (gated.contains(id)) {
            runs_->addItem(QStringLiteral("%1 · %2").arg(id).arg(name), id);
        } else {
            runs_->addItem(tr("%1 · %2 — no gated prefix").arg(id).arg(name), id);
            runs_->setItemData(runs_->count() - 1, runs_->palette().color(QPalette::PlaceholderText),
                               Qt::ForegroundRole);
        }
    }
    int i = runs_->findData(current);
    for (int k = 0; i < 0 && k < runs.size(); ++k)
        if (gated.contains(runs[k].first)) i = k;
    runs_->setCurrentIndex(i >= 0 ? i : 0);
}

qint64 LambdaView::selectedRun() const {
    return runs_->currentIndex() >= 0 ? runs_->currentData().toLongLong() : 0;
}

void LambdaView::selectRun(qint64 run) {
    const int i = runs_->findData(run);
    if (i >= 0) runs_->setCurrentIndex(i);
}

QString LambdaView::text() const {
    return text_->text();
}

void LambdaView::setText(const QString& text) {
    text_->setText(text);
    text_->setCursorPosition(0);
}

QString LambdaView::attentionKind() const {
    return attention_->currentData().toString();
}

void LambdaView::setAttentionKind(const QString& stack) {
    const int i = attention_->findData(stack);
    if (i >= 0) attention_->setCurrentIndex(i);
}

void LambdaView::setLayer(int layer) {
    layer_->setValue(layer);
    redraw();
}

void LambdaView::request() {
    if (selectedRun() == 0) {
        showError(tr("The project has no runs yet."));
        return;
    }
    info_->setText(tr("computing λ …"));
    Q_EMIT requested(selectedRun(), text_->text(), attentionKind());
}

void LambdaView::pickDevExample() {
    static const World world(1);
    std::mt19937_64 rng(uint64_t(++exampleCounter_) * 7919);
    text_->setText(QString::fromStdString(world.sentiment(rng).text + " i"));
    request();
}

void LambdaView::showError(const QString& message) {
    data_ = LambdaData();
    showEmpty(tr("No λ: see the message above"));
    info_->setText(message);
    Q_EMIT shown();
}

double LambdaView::shownValue(int head, int token) const {
    return map_->data()->cell(token, head);
}

void LambdaView::showEmpty(const QString& hint) {
    map_->data()->clear();
    stripMap_->data()->clear();
    map_->setVisible(false);
    stripMap_->setVisible(false);
    for (QCustomPlot* p : {plot_, strip_}) {
        p->xAxis->setTicks(false);
        p->yAxis->setTicks(false);
        p->xAxis->setRange(0, 1);
        p->yAxis->setRange(0, 1);
    }
    hint_->setText(hint);
    hint_->setVisible(true);
    plot_->replot();
    strip_->replot();
}

void LambdaView::showLambda(qint64, const QString&, const LambdaData& data) {
    data_ = data;
    attention_->setVisible(data.encoderDecoder);
    if (!data.reason.isEmpty()) {
        showEmpty(tr("No λ for this run"));
        info_->setText(tr("No λ for this run: %1").arg(data.reason));
        Q_EMIT shown();
        return;
    }
    layer_->setRange(0, std::max(0, data.layers - 1));
    redraw();
    Q_EMIT shown();
}

void LambdaView::redraw() {
    const LambdaData& d = data_;
    if (d.tokens.isEmpty() || d.layers == 0) return;
    const int T = int(d.tokens.size()), L = std::min(layer_->value(), d.layers - 1);
    hint_->setVisible(false);
    map_->setVisible(true);
    stripMap_->setVisible(true);
    for (QCustomPlot* p : {plot_, strip_}) {
        p->xAxis->setTicks(true);
        p->yAxis->setTicks(true);
    }
    map_->data()->setSize(T, d.heads);
    map_->data()->setRange(QCPRange(0, T - 1), QCPRange(0, d.heads - 1));
    for (int t = 0; t < T; ++t)
        for (int h = 0; h < d.heads; ++h)
            map_->data()->setCell(t, h, d.at(L, h, t));
    auto ticker = QSharedPointer<QCPAxisTickerText>::create();
    for (int t = 0; t < T; ++t)
        ticker->addTick(t, d.tokens[t]);
    plot_->xAxis->setTicker(ticker);
    auto heads = QSharedPointer<QCPAxisTickerText>::create();
    for (int h = 0; h < d.heads; ++h)
        heads->addTick(h, QString::number(h));
    plot_->yAxis->setTicker(heads);
    plot_->xAxis->setRange(-0.5, T - 0.5);
    plot_->yAxis->setRange(-0.5, d.heads - 0.5);
    plot_->replot();

    // The strip: each layer's mean over heads, per token.
    stripMap_->data()->setSize(T, d.layers);
    stripMap_->data()->setRange(QCPRange(0, T - 1), QCPRange(0, d.layers - 1));
    double total = 0;
    for (int l = 0; l < d.layers; ++l)
        for (int t = 0; t < T; ++t) {
            double m = 0;
            for (int h = 0; h < d.heads; ++h)
                m += d.at(l, h, t);
            stripMap_->data()->setCell(t, l, m / d.heads);
            total += m / d.heads;
        }
    auto layers = QSharedPointer<QCPAxisTickerText>::create();
    for (int l = 0; l < d.layers; ++l)
        layers->addTick(l, QString::number(l));
    strip_->yAxis->setTicker(layers);
    strip_->xAxis->setTicker(ticker);  // the heatmap's token ticks (labels hidden): columns line up
    strip_->xAxis->setRange(-0.5, T - 0.5);
    strip_->yAxis->setRange(-0.5, d.layers - 0.5);
    strip_->replot();
    info_->setText(
        tr("λ(x) of %1layer %2 per head and token (%3; mean over all layers, heads and tokens %4). "
           "Hover a cell for its value.")
            .arg(d.encoderDecoder ? attention_->currentText() + tr(", ") : QString())
            .arg(L)
            .arg(d.weights)
            .arg(total / double(d.layers * T), 0, 'f', 4));
}

}  // namespace peft::ui
