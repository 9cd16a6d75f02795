// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Presentation mode for plots: a scale factor on a QCustomPlot that enlarges its axis and legend type, item
// text, graph lines and markers. Each object's own size is remembered the first time it is scaled, so views
// may call applyPlotScale after adding graphs or items and the factor is applied exactly once.
class QCustomPlot;

namespace peft::ui {

/// Sets the plot's factor (1 = as the view drew it), applies it and replots.
void setPlotScale(QCustomPlot* plot, double factor);
/// Applies the plot's factor to everything it holds now (views call it after adding graphs or items).
void applyPlotScale(QCustomPlot* plot);
double plotScale(const QCustomPlot* plot);

}  // namespace peft::ui
