// SPDX-License-Identifier: GPL-3.0-or-later
#include "plot_export.h"

#include <QObject>
#include <QSvgGenerator>

#include "qcp.h"

namespace peft::ui {

bool savePlot(QCustomPlot* plot, const QString& path) {
    const auto is = [&](const char* ext) { return path.endsWith(QLatin1String(ext), Qt::CaseInsensitive); };
    if (is(".pdf")) return plot->savePdf(path);
    if (is(".jpg") || is(".jpeg")) return plot->saveJpg(path, 0, 0, 2.0);
    if (is(".svg")) {
        QSvgGenerator svg;
        svg.setFileName(path);
        svg.setSize(plot->size());
        svg.setViewBox(QRect(QPoint(0, 0), plot->size()));
        svg.setTitle(QStringLiteral("PEFT Workbench plot"));
        QCPPainter painter;
        if (!painter.begin(&svg)) return false;
        plot->toPainter(&painter, plot->width(), plot->height());
        return painter.end();
    }
    return plot->savePng(path, 0, 0, 2.0);
}

QString plotFileFilter() {
    return QObject::tr("PNG image (*.png);;SVG drawing (*.svg);;PDF document (*.pdf)");
}

}  // namespace peft::ui
