// SPDX-License-Identifier: GPL-3.0-or-later
#include "main_window.h"

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QDockWidget>
#include <QFileDialog>
#include <QHeaderView>
#include <QKeySequence>
#include <QLabel>
#include <QListWidget>
#include <QMenuBar>
#include <QMessageBox>
#include <QSettings>
#include <QSplitter>
#include <QStatusBar>
#include <QTableWidget>
#include <QToolBar>
#include <QVBoxLayout>

#include "qcp.h"

#include "model/config.h"
#include "peft/accounting.h"
#include "peft/presets.h"
#include "util/system.h"

namespace peft::ui {

namespace {

QString qs(const std::string& s) {
    return QString::fromStdString(s);
}

QString formatCount(int64_t n) {
    return QLocale::system().toString(static_cast<qlonglong>(n));
}

const QColor kTrained(0x4c, 0x78, 0xa8);
const QColor kStored(0xf5, 0x85, 0x18);

}  // namespace

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent) {
    setWindowTitle(tr("PEFT Workbench — default project"));
    setObjectName(QStringLiteral("MainWindow"));
    buildCentral();
    buildPresetDock();
    buildActions();
    fillBudgetPlot();

    const ModelConfig cfg = workbenchDefaultConfig(resourcesDir());
    statusBar()->showMessage(
        tr("Backbone %1: d = %2, %3 layers, %4 parameters   |   device: cpu   |   threads: %5   "
           "|   LibTorch %6")
            .arg(qs(cfg.name))
            .arg(cfg.d_model)
            .arg(cfg.n_layers)
            .arg(formatCount(backboneParamCount(cfg)))
            .arg(defaultThreadCount())
            .arg(qs(torchVersion())));

    QSettings settings;
    restoreGeometry(settings.value(QStringLiteral("window/geometry")).toByteArray());
    restoreState(settings.value(QStringLiteral("window/state")).toByteArray());
    if (!settings.contains(QStringLiteral("window/geometry"))) resize(1280, 800);
    selectPreset(settings.value(QStringLiteral("window/preset"), QStringLiteral("mam")).toString());
}

void MainWindow::closeEvent(QCloseEvent* event) {
    QSettings settings;
    settings.setValue(QStringLiteral("window/geometry"), saveGeometry());
    settings.setValue(QStringLiteral("window/state"), saveState());
    settings.setValue(QStringLiteral("window/preset"), selectedPresetId());
    QMainWindow::closeEvent(event);
}

void MainWindow::buildActions() {
    QMenu* file = menuBar()->addMenu(tr("&File"));
    QAction* exportAct = file->addAction(tr("&Export Plot…"), this, &MainWindow::exportPlot);
    exportAct->setShortcut(QKeySequence(tr("Ctrl+E")));
    exportAct->setToolTip(tr("Save the budget chart as PNG or PDF"));
    file->addSeparator();
    QAction* quit = file->addAction(tr("&Quit"), this, &QWidget::close);
    quit->setShortcut(QKeySequence::Quit);

    QMenu* view = menuBar()->addMenu(tr("&View"));
    for (QDockWidget* dock : findChildren<QDockWidget*>())
        view->addAction(dock->toggleViewAction());

    QMenu* help = menuBar()->addMenu(tr("&Help"));
    QAction* about = help->addAction(tr("About the &Unified View"), this, &MainWindow::showAboutUnifiedView);
    about->setShortcut(QKeySequence::HelpContents);
    help->addAction(tr("About &PEFT Workbench"), this, [this] {
        QMessageBox::about(
            this, tr("About PEFT Workbench"),
            tr("<h3>PEFT Workbench %1</h3><p>Explore parameter-efficient fine-tuning as laid out in "
               "<i>Towards a Unified View of Parameter-Efficient Transfer Learning</i> (He et al., "
               "ICLR 2022).</p><p>LibTorch %2 · Qt %3</p><p>GPL-3.0-or-later</p>")
                .arg(qs(appVersion()), qs(torchVersion()), QString::fromLatin1(qVersion())));
    });

    QToolBar* tb = addToolBar(tr("Main"));
    tb->setObjectName(QStringLiteral("MainToolBar"));
    tb->addAction(exportAct);
    tb->addAction(about);
}

void MainWindow::buildPresetDock() {
    auto* dock = new QDockWidget(tr("Design space"), this);
    dock->setObjectName(QStringLiteral("PresetDock"));
    presets_ = new QListWidget(dock);
    presets_->setToolTip(
        tr("Each preset is one point of the unified view: a functional form, an insertion form, "
           "a modified representation and a composition function"));
    for (const Preset& p : peft::presets()) {
        auto* item = new QListWidgetItem(qs(p.name), presets_);
        item->setData(Qt::UserRole, qs(p.id));
        item->setToolTip(qs(p.formula + "\n" + p.paper_row));
    }
    connect(presets_, &QListWidget::currentRowChanged, this, &MainWindow::showSelection);
    dock->setWidget(presets_);
    dock->setMinimumWidth(250);
    addDockWidget(Qt::LeftDockWidgetArea, dock);
}

void MainWindow::buildCentral() {
    auto* splitter = new QSplitter(Qt::Vertical, this);

    plot_ = new QCustomPlot(splitter);
    plot_->setObjectName(QStringLiteral("BudgetPlot"));
    plot_->setMinimumHeight(440);
    plot_->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
    plot_->axisRect()->setRangeDrag(Qt::Horizontal);
    plot_->axisRect()->setRangeZoom(Qt::Horizontal);
    splitter->addWidget(plot_);

    auto* details = new QWidget(splitter);
    auto* layout = new QVBoxLayout(details);
    title_ = new QLabel(details);
    QFont tf = title_->font();
    tf.setPointSizeF(tf.pointSizeF() * 1.4);
    tf.setBold(true);
    title_->setFont(tf);
    formula_ = new QLabel(details);
    formula_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    QFont ff = formula_->font();
    ff.setPointSizeF(ff.pointSizeF() * 1.15);
    formula_->setFont(ff);
    formula_->setWordWrap(true);
    counts_ = new QLabel(details);
    counts_->setWordWrap(true);
    table_ = new QTableWidget(0, 6, details);
    table_->setObjectName(QStringLiteral("ModuleTable"));
    table_->setHorizontalHeaderLabels(
        {tr("Module"), tr("Layers"), tr("Trained"), tr("% backbone"), tr("Stored"), tr("% backbone")});
    table_->horizontalHeader()->setSectionResizeMode(0, QHeaderView::Stretch);
    table_->verticalHeader()->setVisible(false);
    table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    table_->setAlternatingRowColors(true);
    table_->setToolTip(
        tr("Trained: what the optimizer updates. Stored: what must be kept after training (a prefix "
           "MLP collapses to its output P_k, P_v)."));
    layout->addWidget(title_);
    layout->addWidget(formula_);
    layout->addWidget(counts_);
    layout->addWidget(table_, 1);
    splitter->addWidget(details);
    splitter->setStretchFactor(0, 3);
    splitter->setStretchFactor(1, 2);
    setCentralWidget(splitter);
}

void MainWindow::fillBudgetPlot() {
    const ModelConfig cfg = workbenchDefaultConfig(resourcesDir());
    const auto& all = peft::presets();
    auto ticker = QSharedPointer<QCPAxisTickerText>::create();
    QVector<double> keys, trained, stored;
    const int n = static_cast<int>(all.size());
    for (int i = 0; i < n; ++i) {
        const ParamReport rep = countParams(resolvePreset(all[static_cast<size_t>(i)], cfg), cfg);
        const double key = n - i;  // first preset on top
        ticker->addTick(key, qs(all[static_cast<size_t>(i)].name));
        keys << key;
        trained << std::max(rep.trainedPct(), 1e-4);
        stored << std::max(rep.storedPct(), 1e-4);
    }
    QCPAxis* keyAxis = plot_->yAxis;
    QCPAxis* valueAxis = plot_->xAxis;
    keyAxis->setTicker(ticker);
    keyAxis->setRange(0.3, n + 1.3);  // headroom above the first bar for the full fine-tuning label
    keyAxis->grid()->setVisible(false);
    valueAxis->setScaleType(QCPAxis::stLogarithmic);
    valueAxis->setTicker(QSharedPointer<QCPAxisTickerLog>::create());
    valueAxis->setNumberFormat(QStringLiteral("gb"));
    valueAxis->setRange(0.05, 250);
    valueAxis->setLabel(tr("parameters, % of the backbone (log scale)"));

    highlight_ = new QCPItemRect(plot_);
    highlight_->setPen(Qt::NoPen);
    highlight_->setBrush(QColor(255, 220, 120, 90));
    highlight_->setLayer(QStringLiteral("background"));

    auto* group = new QCPBarsGroup(plot_);
    auto makeBars = [&](const QString& name, const QColor& c, const QVector<double>& v) {
        auto* bars = new QCPBars(keyAxis, valueAxis);
        bars->setName(name);
        bars->setPen(QPen(c.darker(130)));
        bars->setBrush(c);
        bars->setWidth(0.3);
        bars->setBaseValue(1e-4);
        bars->setData(keys, v, true);
        bars->setBarsGroup(group);
        return bars;
    };
    makeBars(tr("trained"), kTrained, trained);
    makeBars(tr("stored"), kStored, stored);

    auto* full = new QCPItemStraightLine(plot_);
    full->point1->setCoords(100, 0);
    full->point2->setCoords(100, 1);
    full->setPen(QPen(QColor(120, 120, 120), 1.5, Qt::DashLine));
    auto* fullLabel = new QCPItemText(plot_);
    fullLabel->position->setCoords(100, n + 0.9);
    fullLabel->setPositionAlignment(Qt::AlignRight | Qt::AlignVCenter);
    fullLabel->setText(tr("full fine-tuning "));
    fullLabel->setColor(QColor(100, 100, 100));

    plot_->plotLayout()->insertRow(0);
    auto* titleEl = new QCPTextElement(plot_,
                                       tr("Parameter budget of every preset on the default backbone '%1' (%2 "
                                          "parameters)")
                                           .arg(qs(cfg.name), formatCount(backboneParamCount(cfg))),
                                       QFont(font().family(), 11, QFont::Bold));
    plot_->plotLayout()->addElement(0, 0, titleEl);
    plot_->legend->setVisible(true);
    plot_->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignBottom | Qt::AlignRight);

    connect(plot_, &QCustomPlot::plottableClick, this,
            [this, n](QCPAbstractPlottable*, int dataIndex, QMouseEvent*) {
                if (dataIndex >= 0 && dataIndex < n) presets_->setCurrentRow(dataIndex);
            });
    plot_->replot();
}

QString MainWindow::selectedPresetId() const {
    const QListWidgetItem* item = presets_->currentItem();
    return item ? item->data(Qt::UserRole).toString() : QString();
}

void MainWindow::selectPreset(const QString& id) {
    for (int i = 0; i < presets_->count(); ++i)
        if (presets_->item(i)->data(Qt::UserRole).toString() == id) {
            presets_->setCurrentRow(i);
            return;
        }
    presets_->setCurrentRow(0);
}

void MainWindow::showSelection() {
    const int row = presets_->currentRow();
    if (row < 0) return;
    const Preset& p = peft::presets()[static_cast<size_t>(row)];
    const ModelConfig cfg = workbenchDefaultConfig(resourcesDir());
    const Spec spec = resolvePreset(p, cfg);
    const ParamReport rep = countParams(spec, cfg);

    title_->setText(qs(p.name));
    formula_->setText(
        qs(formula(spec)).replace(QLatin1Char('\n'), QStringLiteral("<br>")) +
        QStringLiteral("<br><span style='color:gray'>%1</span>").arg(qs(p.paper_row).toHtmlEscaped()));
    counts_->setText(
        tr("<b>trained</b> %1 (%2 %) &nbsp;·&nbsp; <b>stored</b> %3 (%4 %) &nbsp;·&nbsp; task head %5 "
           "(always trained, not counted) &nbsp;·&nbsp; full fine-tuning trains %6")
            .arg(formatCount(rep.trained))
            .arg(rep.trainedPct(), 0, 'f', 3)
            .arg(formatCount(rep.stored))
            .arg(rep.storedPct(), 0, 'f', 3)
            .arg(formatCount(rep.head))
            .arg(formatCount(rep.backbone)));

    const std::vector<ParamReport::Row> rows = rep.foldedRows();
    table_->setRowCount(static_cast<int>(rows.size()));
    auto pct = [&](int64_t v) { return QString::number(100.0 * double(v) / double(rep.backbone), 'f', 4); };
    for (int i = 0; i < static_cast<int>(rows.size()); ++i) {
        const ParamReport::Row& r = rows[static_cast<size_t>(i)];
        const QStringList cells = {qs(r.name),
                                   r.layers ? QString::number(r.layers) : QStringLiteral("–"),
                                   formatCount(r.trained),
                                   pct(r.trained),
                                   formatCount(r.stored),
                                   pct(r.stored)};
        for (int c = 0; c < cells.size(); ++c) {
            auto* item = new QTableWidgetItem(cells[c]);
            if (c > 0) item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
            table_->setItem(i, c, item);
        }
    }
    table_->resizeColumnsToContents();
    table_->horizontalHeader()->setSectionResizeMode(0, QHeaderView::Stretch);

    const int n = presets_->count();
    const double key = n - row;
    highlight_->topLeft->setType(QCPItemPosition::ptPlotCoords);
    highlight_->bottomRight->setType(QCPItemPosition::ptPlotCoords);
    highlight_->topLeft->setCoords(1e-6, key + 0.45);
    highlight_->bottomRight->setCoords(1e6, key - 0.45);
    plot_->replot(QCustomPlot::rpQueuedReplot);
}

void MainWindow::exportPlot() {
    const QString path = QFileDialog::getSaveFileName(this, tr("Export plot"), QStringLiteral("budget.png"),
                                                      tr("PNG image (*.png);;PDF document (*.pdf)"));
    if (path.isEmpty()) return;
    const bool ok = path.endsWith(QLatin1String(".pdf"), Qt::CaseInsensitive)
                        ? plot_->savePdf(path)
                        : plot_->savePng(path, 0, 0, 2.0);
    if (!ok) QMessageBox::warning(this, tr("Export failed"), tr("Could not write %1.").arg(path));
}

void MainWindow::showAboutUnifiedView() {
    const QString html = tr(
        "<h3>The unified view (He et al., ICLR 2022)</h3>"
        "<p>Every method adds a modification Δh to a hidden representation h and composes it with h.</p>"
        "<table border=1 cellspacing=0 cellpadding=4>"
        "<tr><th>Method</th><th>Δh functional form</th><th>Insertion</th><th>Modified representation</th>"
        "<th>Composition</th></tr>"
        "<tr><td>Prefix tuning</td><td>softmax(x W<sub>q</sub> P<sub>k</sub><sup>T</sup>) P<sub>v</sub></td>"
        "<td>parallel</td><td>head attention</td><td>h ← (1−λ)h + λΔh</td></tr>"
        "<tr><td>Adapter</td><td>ReLU(h W<sub>down</sub>) W<sub>up</sub></td><td>sequential</td>"
        "<td>attention / FFN</td><td>h ← h + Δh</td></tr>"
        "<tr><td>LoRA</td><td>x W<sub>down</sub> W<sub>up</sub></td><td>parallel</td><td>a weight "
        "(W<sub>q</sub>, "
        "W<sub>v</sub>, …)</td><td>h ← h + s·Δh</td></tr>"
        "<tr><td>Parallel adapter</td><td>ReLU(x W<sub>down</sub>) W<sub>up</sub></td><td>parallel</td>"
        "<td>attention / FFN</td><td>h ← h + Δh</td></tr>"
        "<tr><td>Multi-head PA</td><td>ReLU(x W<sub>q</sub> P<sub>k</sub><sup>T</sup>) P<sub>v</sub></td>"
        "<td>parallel</td><td>head attention</td><td>h ← h + Δh</td></tr>"
        "<tr><td>Scaled PA</td><td>ReLU(x W<sub>down</sub>) W<sub>up</sub></td><td>parallel</td>"
        "<td>attention / FFN</td><td>h ← h + s·Δh</td></tr>"
        "</table>"
        "<p>λ(x) = Σ<sub>i</sub> exp(x W<sub>q</sub> P<sub>k</sub><sup>T</sup>)<sub>i</sub> / (Σ<sub>i</sub> "
        "exp(x W<sub>q</sub> P<sub>k</sub><sup>T</sup>)<sub>i</sub> + Σ<sub>j</sub> exp(x W<sub>q</sub> "
        "W<sub>k</sub><sup>T</sup> C<sup>T</sup>)<sub>j</sub>)</p>"
        "<p><b>Findings:</b> parallel insertion beats sequential; at large budgets modifying the FFN wins, "
        "at "
        "~0.1 % head-attention modifications win; scaled composition (s = 4) beats simple addition; the MAM "
        "adapter matches full fine-tuning with 6.7 % of the parameters.</p>");
    QMessageBox box(this);
    box.setWindowTitle(tr("About the Unified View"));
    box.setTextFormat(Qt::RichText);
    box.setText(html);
    box.exec();
}

}  // namespace peft::ui
