// SPDX-License-Identifier: GPL-3.0-or-later
#include "plot_style.h"

#include "qcp.h"

namespace peft::ui {

namespace {

constexpr const char* kFactor = "peftPlotScale";

/// The object's own value of `key`: remembered from `current` the first time.
double own(QObject* o, const char* key, double current) {
    const QVariant v = o->property(key);
    if (v.isValid()) return v.toDouble();
    o->setProperty(key, current);
    return current;
}

QFont scaled(QObject* o, const char* key, QFont f, double k) {
    f.setPointSizeF(own(o, key, f.pointSizeF()) * k);
    return f;
}

/// A pen k times its own width (a cosmetic 0-width pen counts as 1 px).
QPen scaled(QObject* o, const char* key, QPen p, double k) {
    const double w = own(o, key, p.widthF());
    p.setWidthF(k == 1.0 ? w : std::max(w, 1.0) * k);
    return p;
}

void scaleAxis(QCPAxis* a, double k) {
    a->setTickLabelFont(scaled(a, "peftTickFont", a->tickLabelFont(), k));
    a->setLabelFont(scaled(a, "peftLabelFont", a->labelFont(), k));
}

}  // namespace

double plotScale(const QCustomPlot* plot) {
    const QVariant v = plot->property(kFactor);
    return v.isValid() ? v.toDouble() : 1.0;
}

void applyPlotScale(QCustomPlot* plot) {
    const double k = plotScale(plot);
    for (QCPAxisRect* rect : plot->axisRects())
        for (QCPAxis* a : rect->axes())
            scaleAxis(a, k);
    for (QCPLayoutElement* e : plot->plotLayout()->elements(true))
        if (auto* scale = qobject_cast<QCPColorScale*>(e)) scaleAxis(scale->axis(), k);
    if (plot->legend) plot->legend->setFont(scaled(plot->legend, "peftFont", plot->legend->font(), k));
    for (int i = 0; i < plot->graphCount(); ++i) {
        QCPGraph* g = plot->graph(i);
        g->setPen(scaled(g, "peftPen", g->pen(), k));
        QCPScatterStyle style = g->scatterStyle();
        if (!style.isNone()) {
            style.setSize(own(g, "peftMarker", style.size()) * k);
            g->setScatterStyle(style);
        }
    }
    for (int i = 0; i < plot->itemCount(); ++i) {
        QCPAbstractItem* item = plot->item(i);
        if (auto* t = qobject_cast<QCPItemText*>(item)) t->setFont(scaled(t, "peftFont", t->font(), k));
        if (auto* l = qobject_cast<QCPItemStraightLine*>(item)) l->setPen(scaled(l, "peftPen", l->pen(), k));
        if (auto* l = qobject_cast<QCPItemLine*>(item)) l->setPen(scaled(l, "peftPen", l->pen(), k));
    }
}

void setPlotScale(QCustomPlot* plot, double factor) {
    plot->setProperty(kFactor, factor);
    applyPlotScale(plot);
    plot->replot();
}

}  // namespace peft::ui
