// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Saves a QCustomPlot as PNG (2× scale), JPEG, PDF or SVG, chosen by the file's extension.
#include <QString>

class QCustomPlot;

namespace peft::ui {

bool savePlot(QCustomPlot* plot, const QString& path);
/// The file-dialog filter of the formats savePlot writes.
QString plotFileFilter();

}  // namespace peft::ui
