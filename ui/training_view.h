// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Live training curves: training loss (solid), evaluation loss (dashed) on the left axis and the task metric
// (dots and line) on the right axis, one colour per run, several runs overlaid. Points arrive in batches and
// are appended with addData; replots are coalesced to at most 25 a second. EMA smoothing of the training
// loss (non-finite values pass through unsmoothed, as gaps), log-y, x as step or wall time, zoom and pan,
// PNG / PDF / CSV export.
#include <QColor>
#include <QHash>
#include <QString>
#include <QVector>
#include <QWidget>

#include "run_worker.h"

class QCheckBox;
class QComboBox;
class QCustomPlot;
class QCPAxis;
class QCPGraph;
class QCPRange;
class QLabel;
class QListWidget;
class QSlider;
class QTimer;

namespace peft::ui {

class TrainingView : public QWidget {
    Q_OBJECT

public:
    explicit TrainingView(QWidget* parent = nullptr);

    /// Starts (or replaces) the curves of a run.
    void addRun(qint64 run, const QString& name);
    void removeRun(qint64 run);
    void clear();
    /// Shows only these runs (all when empty) — the Compare selection; a note says so. Runs unticked in the
    /// run list stay hidden either way.
    void showOnly(const QList<qint64>& runs);
    /// Whether a run's curves are drawn (ticked in the run list and not filtered out by Compare).
    bool isRunShown(qint64 run) const;
    QListWidget* runList() const { return list_; }
    /// The run's state beside its name in the run list ("48/80", "0.918"), and a longer form for its tooltip.
    void setRunStatus(qint64 run, const QString& status, const QString& detail = {});
    QString runStatus(qint64 run) const;
    /// Appends points of a run (unknown runs are added with a generic name).
    void addSamples(qint64 run, const QVector<MetricSample>& samples);
    bool hasRun(qint64 run) const { return runs_.contains(run); }

    /// EMA weight in [0, 0.99]: 0 is raw.
    void setSmoothing(double alpha);
    double smoothing() const { return alpha_; }
    void setLogY(bool on);
    void setWallTimeAxis(bool on);
    QCustomPlot* plot() const { return plot_; }
    /// Points held for a run and series ("train/loss", "dev/loss", "dev/<metric>"), raw.
    int pointCount(qint64 run, const QString& series) const;
    /// Replots now (normally coalesced by a timer). Returns the milliseconds the replot took.
    double replotNow();
    bool exportImage(const QString& path);
    bool exportCsv(const QString& path) const;

    static QColor runColor(int index);
    /// The training-loss line style of the index-th run: solid for the first 20, then dash-dot patterns.
    static Qt::PenStyle runPenStyle(int index);

private:
    struct Series {
        QVector<double> step, wall, value;  // raw
        QCPGraph* graph = nullptr;
        double ema = 0;
        bool emaStarted = false;
        int emaCount = 0;
    };
    struct Run {
        QString name;
        QColor color;
        Qt::PenStyle style = Qt::SolidLine;
        QHash<QString, Series> series;
    };
    Series& seriesFor(Run& r, qint64 run, const QString& key);
    double smoothedNext(Series& s, double v) const;
    void rebuildGraph(Series& s, bool smooth);
    void rebuildAll();
    void scheduleReplot();
    bool visibleSpan(QCPAxis* valueAxis, QCPRange& out) const;
    void applyVisibility();

    QCustomPlot* plot_ = nullptr;
    QListWidget* list_ = nullptr;
    QLabel* filterNote_ = nullptr;
    QList<qint64> compareFilter_;
    QSlider* smoothSlider_ = nullptr;
    QLabel* smoothLabel_ = nullptr;
    QCheckBox* logY_ = nullptr;
    QComboBox* xAxis_ = nullptr;
    QTimer* replotTimer_ = nullptr;
    QHash<qint64, Run> runs_;
    QVector<qint64> order_;
    double alpha_ = 0.6;
    bool wallAxis_ = false;
    bool followData_ = true;  // rescale while data arrives until the user zooms
};

}  // namespace peft::ui
