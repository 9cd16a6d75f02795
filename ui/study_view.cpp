// SPDX-License-Identifier: GPL-3.0-or-later
#include "study_view.h"

#include <QComboBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QMessageBox>
#include <QPushButton>
#include <QSpinBox>
#include <QSplitter>
#include <QTableWidget>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>

#include "plot_style.h"
#include "qcp.h"
#include "training_view.h"
#include "util/system.h"

namespace peft::ui {

namespace {

QString qs(const std::string& s) {
    return QString::fromStdString(s);
}

QString interval(const Summary& m) {
    if (m.n == 0) return QStringLiteral("—");
    return m.hasInterval() ? QStringLiteral("%1 [%2, %3]")
                                 .arg(m.mean, 0, 'f', 3)
                                 .arg(m.lo, 0, 'f', 3)
                                 .arg(m.hi, 0, 'f', 3)
                           : QStringLiteral("%1 (n = 1: no interval)").arg(m.mean, 0, 'f', 3);
}

}  // namespace

StudyView::StudyView(QWidget* parent) : QWidget(parent) {
    choice_ = new QComboBox(this);
    choice_->setObjectName(QStringLiteral("StudyChoice"));
    // Long titles and dataset names must not widen the window: the combos shrink and elide.
    choice_->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
    choice_->setMinimumContentsLength(24);
    choice_->setToolTip(
        tr("One of the paper's experiments (resources/studies/), or a study file of your own"));
    try {
        studies_ = builtinStudies();
    } catch (const std::exception& e) {
        QMessageBox::warning(this, tr("Studies"), QString::fromUtf8(e.what()));
    }
    for (const Study& s : studies_)
        choice_->addItem(qs(s.title.empty() ? s.id : s.title), qs(s.id));
    auto* open = new QPushButton(tr("Open Study File…"), this);
    connect(open, &QPushButton::clicked, this, [this] {
        const QString file = QFileDialog::getOpenFileName(this, tr("Open a study"), QString(),
                                                          tr("Studies (*.json);;All files (*)"));
        if (!file.isEmpty()) selectStudy(file);
    });
    seeds_ = new QSpinBox(this);
    seeds_->setRange(1, 1000);
    seeds_->setPrefix(tr("seeds: "));
    seeds_->setToolTip(
        tr("Runs per arm, budget and task (seeds 1 … n, the same for every arm: runs pair by seed)"));
    task_ = new QComboBox(this);
    task_->setObjectName(QStringLiteral("StudyTask"));
    task_->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
    task_->setMinimumContentsLength(14);
    task_->setToolTip(
        tr("Run the study on its own tasks, or on another task or an imported dataset of the "
           "project (with the project's backbone)"));
    task_->addItem(tr("on the study's tasks"), QString());
    connect(task_, &QComboBox::currentIndexChanged, this, [this] { redraw(); });
    queue_ = new QPushButton(tr("Queue Study"), this);
    queue_->setToolTip(
        tr("Queue the runs the project does not have yet (finished ones are never run again); "
           "Run ▸ Run Queue trains them"));
    connect(queue_, &QPushButton::clicked, this, [this] {
        if (const Study* s = study()) Q_EMIT queueRequested(*s, options());
    });
    shipped_ = new QPushButton(tr("Open Shipped Results"), this);
    shipped_->setToolTip(
        tr("The study's results on the built-in world, as shipped with the workbench (a project "
           "of its own; scripts/study-results.sh rebuilds it)"));
    connect(shipped_, &QPushButton::clicked, this, [this] {
        if (!shippedResults().isEmpty()) Q_EMIT openRequested(shippedResults());
    });
    connect(choice_, &QComboBox::currentIndexChanged, this, [this] { showStudy(); });
    connect(seeds_, qOverload<int>(&QSpinBox::valueChanged), this, [this] { redraw(); });

    about_ = new QLabel(this);
    about_->setWordWrap(true);
    about_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    cost_ = new QLabel(this);
    cost_->setWordWrap(true);

    plot_ = new QCustomPlot(this);
    plot_->setObjectName(QStringLiteral("StudyPlot"));
    plot_->xAxis->setScaleType(QCPAxis::stLogarithmic);
    plot_->xAxis->setTicker(QSharedPointer<QCPAxisTickerLog>(new QCPAxisTickerLog));
    plot_->xAxis->setLabel(tr("trained parameters (% of the backbone, log scale)"));
    plot_->legend->setVisible(true);
    plot_->legend->setFont(QFont(font().family(), 8));
    {  // The legend beside the axes, at the top: inside them it would hide points wherever it sat.
        auto* side = new QCPLayoutGrid;
        plot_->plotLayout()->addElement(0, 1, side);
        plot_->plotLayout()->setColumnStretchFactor(1, 0.001);
        side->addElement(0, 0, plot_->legend);
        side->addElement(1, 0, new QCPLayoutElement(plot_));
        side->setRowStretchFactor(0, 0.001);
        side->setMargins(QMargins(0, 10, 8, 0));
    }
    plot_->setToolTip(
        tr("Each arm's mean over the seeds that finished, with its 95 % t interval as whiskers; "
           "the reference arm (full fine-tuning) as a band. Arms at one budget are spread sideways a little "
           "so that none hides another."));

    verdicts_ = new QTableWidget(this);
    verdicts_->setObjectName(QStringLiteral("StudyVerdicts"));
    verdicts_->setColumnCount(5);
    verdicts_->setHorizontalHeaderLabels(
        {tr("Comparison"), tr("Task"), tr("n"), tr("Difference [95 % CI]"), tr("Verdict")});
    verdicts_->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    verdicts_->horizontalHeader()->setSectionResizeMode(0, QHeaderView::Stretch);
    verdicts_->verticalHeader()->setVisible(false);
    verdicts_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    verdicts_->setWordWrap(false);
    verdicts_->setToolTip(
        tr("Paired by seed: the mean difference better − worse and its 95 % t interval. Agrees: above 0; "
           "disagrees: below 0; inconclusive otherwise (with the seeds that would decide it)"));
    missing_ = new QLabel(this);
    missing_->setWordWrap(true);

    auto* top = new QHBoxLayout;
    top->addWidget(new QLabel(tr("Study:"), this));
    top->addWidget(choice_, 1);
    top->addWidget(open);
    top->addWidget(shipped_);
    // What it costs beside where and how often it runs, and the button that queues it.
    runRow_ = new QWidget(this);
    auto* run = new QHBoxLayout(runRow_);
    run->setContentsMargins(0, 0, 0, 0);
    run->addWidget(cost_, 1);
    run->addWidget(task_);
    run->addWidget(seeds_);
    run->addWidget(queue_);
    auto* lower = new QWidget(this);
    auto* lowerLayout = new QVBoxLayout(lower);
    lowerLayout->setContentsMargins(0, 0, 0, 0);
    lowerLayout->addWidget(verdicts_, 1);
    lowerLayout->addWidget(missing_);
    auto* split = new QSplitter(Qt::Vertical, this);
    split->addWidget(plot_);
    split->addWidget(lower);
    split->setSizes({500, 250});
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addLayout(top);
    layout->addWidget(about_);
    layout->addWidget(runRow_);
    layout->addWidget(split, 1);
    showStudy();
}

void StudyView::setTaskChoices(const QList<QPair<QString, QString>>& choices) {
    const QString keep = task_->currentData().toString();
    const QSignalBlocker block(task_);
    while (task_->count() > 1)
        task_->removeItem(1);
    for (const auto& [label, key] : choices)
        task_->addItem(tr("on %1").arg(label), key);
    task_->setCurrentIndex(std::max(0, task_->findData(keep)));
}

std::vector<std::string> StudyView::tasks() const {
    const QString key = task_->currentData().toString();
    return key.isEmpty() ? std::vector<std::string>{} : std::vector<std::string>{key.toStdString()};
}

StudyOptions StudyView::options() const {
    StudyOptions o;
    o.seeds = seeds_->value();
    o.tasks = tasks();
    return o;
}

QString StudyView::shippedResults() const {
    const Study* s = study();
    if (!s || resourcesDir().empty()) return {};
    const QString path = qs(resourcesDir() + "/studies/results/" + s->id + ".peftproj");
    return QFileInfo::exists(path) ? path : QString();
}

const Study* StudyView::study() const {
    const int i = choice_->currentIndex();
    return i >= 0 && i < int(studies_.size()) ? &studies_[size_t(i)] : nullptr;
}

int StudyView::seeds() const {
    return seeds_->value();
}

void StudyView::setSeeds(int seeds) {
    seeds_->setValue(seeds);
}

bool StudyView::selectStudy(const QString& idOrFile) {
    for (int i = 0; i < int(studies_.size()); ++i)
        if (qs(studies_[size_t(i)].id) == idOrFile) {
            choice_->setCurrentIndex(i);
            return true;
        }
    try {
        studies_.push_back(loadStudy(idOrFile.toStdString()));
    } catch (const std::exception& e) {
        QMessageBox::warning(this, tr("Cannot open the study"), QString::fromUtf8(e.what()));
        return false;
    }
    const Study& s = studies_.back();
    choice_->addItem(qs(s.title.empty() ? s.id : s.title), qs(s.id));
    choice_->setCurrentIndex(choice_->count() - 1);
    return true;
}

void StudyView::showProject(const Project* project) {
    project_ = project;
    redraw();
}

void StudyView::setPresentation(bool on) {
    if (presenting_ == on) return;
    presenting_ = on;
    runRow_->setVisible(!on);
    showStudy();
}

void StudyView::showStudy() {
    const Study* s = study();
    queue_->setEnabled(s != nullptr);
    shipped_->setEnabled(!shippedResults().isEmpty());
    if (!s) {
        about_->setText(tr("No study found (resources/studies/ is missing): open a study file."));
        return;
    }
    {
        const QSignalBlocker block(seeds_);
        seeds_->setValue(int(s->seeds));
    }
    QStringList arms, comparisons;
    for (const auto& a : s->arms) {
        QString text = qs(a.label) + (a.random_init ? tr(" (random init)") : QString());
        if (!a.budgets.empty()) {
            QStringList b;
            for (double v : a.budgets)
                b << QString::number(v) + QStringLiteral(" %");
            text += QStringLiteral(" (") + b.join(QStringLiteral(", ")) + QLatin1Char(')');
        }
        arms << text;
    }
    for (const auto& c : s->comparisons)
        comparisons << (c.claim.empty() ? qs(c.better + " > " + c.worse) : qs(c.claim));
    for (const auto& g : s->gates)
        comparisons << (g.claim.empty() ? qs(g.arm) + QStringLiteral(" ≥ ") + QString::number(g.at_least)
                                        : qs(g.claim));
    if (presenting_)
        about_->setText(
            tr("<b>Claim</b> (%1): %2").arg(qs(s->source).toHtmlEscaped(), qs(s->claim).toHtmlEscaped()));
    else
        about_->setText(tr("<b>Claim</b> (%1): %2<br><b>Arms</b>: %3<br><b>Comparisons</b>: %4")
                            .arg(qs(s->source).toHtmlEscaped(), qs(s->claim).toHtmlEscaped(),
                                 arms.join(QStringLiteral("; ")).toHtmlEscaped(),
                                 comparisons.isEmpty()
                                     ? tr("none (a descriptive study)")
                                     : comparisons.join(QStringLiteral("; ")).toHtmlEscaped()));
    redraw();
}

void StudyView::redraw() {
    const Study* s = study();
    plot_->clearPlottables();
    plot_->clearItems();
    verdicts_->setRowCount(0);
    if (!s) return;
    StudyOptions o = options();
    // On the study's own tasks, what the project holds is shown: also a dataset the study ran on instead
    // (`peftwb study run … --data`).
    if (o.tasks.empty() && project_) o.tasks = studyTasksInProject(*project_, *s);
    std::vector<StudyRunResult> runs;
    try {
        const std::vector<StudyCell> cells = studyCells(*s, o);
        if (project_)
            runs = studyResults(*project_, *s, o);
        else
            for (const auto& c : cells)
                runs.push_back({c, 0, RunState::Queued, std::nullopt, {}, 0});
        // The cost: runs × steps at the project's measured speed (its finished runs' steps per second).
        std::vector<double> rates;
        if (project_)
            for (const RunRecord& r : project_->runs())
                if (r.state == RunState::Finished && r.summary && r.summary->seconds > 0)
                    rates.push_back(double(r.steps_done) / r.summary->seconds);
        const int64_t steps = s->train.value("steps", int64_t(600));
        int64_t todo = 0;
        for (const auto& r : runs)
            todo += r.run == 0 || r.state != RunState::Finished;
        QString cost = tr("%1 runs (arms × budgets × tasks × seeds) of %2 steps; %3 still to train")
                           .arg(cells.size())
                           .arg(steps)
                           .arg(todo);
        if (!rates.empty() && todo > 0) {
            std::sort(rates.begin(), rates.end());
            const double rate = rates[rates.size() / 2];
            cost += tr(" — about %1 min at this project's median %2 steps/s (evaluations included)")
                        .arg(std::max(1.0, std::round(double(todo * steps) / rate / 60.0)))
                        .arg(rate, 0, 'f', 1);
        }
        cost_->setText(cost + QLatin1Char('.'));
    } catch (const std::exception& e) {
        cost_->setText(QString::fromUtf8(e.what()));
        return;
    }
    report_ = studyReport(*s, runs);

    // The plot: one task (the first), each arm's means across its budgets with whiskers.
    const std::string task = report_.cells.empty() ? std::string() : report_.cells.front().task;
    double xlo = 1e9, xhi = 0, ylo = 1e9, yhi = -1e9;
    QString metric;
    std::vector<const StudyCellSummary*> shown;
    for (const auto& c : report_.cells)
        if (c.task == task && c.summary.n > 0 && c.trained_pct > 0) {
            shown.push_back(&c);
            xlo = std::min(xlo, c.trained_pct), xhi = std::max(xhi, c.trained_pct);
            ylo = std::min(ylo, c.summary.lo), yhi = std::max(yhi, c.summary.hi);
        }
    const double xmin = xlo / 2, xmax = std::max(xhi * 2, 150.0);
    // Points at one budget are spread sideways (about 1/110 of the axis each) so that none hides another.
    std::vector<double> placed;
    for (const auto* c : shown)
        placed.push_back(std::log10(c->trained_pct));
    placed = spreadApart(placed, (std::log10(xmax) - std::log10(xmin)) / 110);
    for (size_t a = 0; a < s->arms.size(); ++a) {
        QVector<double> xs, ys, err;
        Summary reference;
        std::vector<size_t>
            mine;  // indices into `shown` by trained %: the graph's order, which the bars follow
        for (size_t i = 0; i < shown.size(); ++i)
            if (shown[i]->arm == s->arms[a].id) mine.push_back(i);
        std::stable_sort(mine.begin(), mine.end(),
                         [&](size_t p, size_t q) { return shown[p]->trained_pct < shown[q]->trained_pct; });
        for (const size_t i : mine) {
            const StudyCellSummary& c = *shown[i];
            xs << std::pow(10.0, placed[i]);
            ys << c.summary.mean;
            err << (c.summary.hasInterval() ? c.summary.hi - c.summary.mean : 0.0);
            metric = qs(c.metric_name);
            reference = c.summary;
        }
        if (xs.isEmpty()) continue;
        const QColor color = TrainingView::runColor(int(a));
        const int n = int(reference.n);
        if (s->arms[a].id == s->reference) {  // a band across the plot: mean and interval
            auto* band = new QCPItemRect(plot_);
            band->topLeft->setTypeX(QCPItemPosition::ptAxisRectRatio);
            band->bottomRight->setTypeX(QCPItemPosition::ptAxisRectRatio);
            band->topLeft->setCoords(0, reference.hi);
            band->bottomRight->setCoords(1, reference.lo);
            QColor fill = color;
            fill.setAlpha(50);
            band->setBrush(fill);
            band->setPen(Qt::NoPen);
            auto* line = new QCPItemStraightLine(plot_);
            line->point1->setCoords(1e-6, reference.mean);
            line->point2->setCoords(1e6, reference.mean);
            line->setPen(QPen(color, 1.2, Qt::DashLine));
        }
        QCPGraph* g = plot_->addGraph();
        g->setName(tr("%1 (n = %2)").arg(qs(s->arms[a].label)).arg(n));
        g->setPen(QPen(color, 1.4));
        g->setLineStyle(xs.size() > 1 ? QCPGraph::lsLine : QCPGraph::lsNone);
        g->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, color, color, 7));
        g->setData(xs, ys);
        auto* bars = new QCPErrorBars(plot_->xAxis, plot_->yAxis);
        bars->removeFromLegend();
        bars->setDataPlottable(g);
        bars->setData(err);
        bars->setPen(QPen(color, 1.2));
    }
    if (xhi > 0) {
        plot_->xAxis->setRange(xmin, xmax);
        const double pad = std::max(0.01, (yhi - ylo) * 0.12);
        plot_->yAxis->setRange(ylo - pad, yhi + pad);
        plot_->yAxis->setLabel((presenting_ ? tr("dev %1 on %2") : tr("best dev %1 on %2 (mean, 95 % CI)"))
                                   .arg(metric, qs(task)));
        plot_->legend->setVisible(true);
    } else {
        plot_->legend->setVisible(false);
        plot_->xAxis->setRange(0.05, 200);
        plot_->yAxis->setRange(0, 1);
        plot_->yAxis->setLabel(tr("best dev metric (mean, 95 % CI)"));
        auto* hint = new QCPItemText(plot_);
        hint->position->setType(QCPItemPosition::ptAxisRectRatio);
        hint->position->setCoords(0.5, 0.5);
        hint->setText(project_
                          ? tr("No finished run of this study in the project yet: Queue Study, then Run ▸ "
                               "Run Queue")
                          : tr("Open a project to run the study"));
        hint->setColor(Qt::gray);
    }
    applyPlotScale(plot_);
    plot_->replot();

    // The verdicts.
    auto label = [&](const std::string& id) {
        for (const auto& a : s->arms)
            if (a.id == id) return qs(a.label);
        return qs(id);
    };
    verdicts_->setRowCount(int(report_.verdicts.size()));
    for (int row = 0; row < int(report_.verdicts.size()); ++row) {
        const StudyVerdict& v = report_.verdicts[size_t(row)];
        auto* item = new QTableWidgetItem(qs(verdictSubject(*s, v)));
        item->setToolTip(qs(v.comparison.claim));
        verdicts_->setItem(row, 0, item);
        verdicts_->setItem(row, 1, new QTableWidgetItem(qs(v.task)));
        verdicts_->setItem(row, 2, new QTableWidgetItem(QString::number(v.verdict.difference.n)));
        verdicts_->setItem(row, 3, new QTableWidgetItem(interval(v.verdict.difference)));
        auto* verdict = new QTableWidgetItem(QString::fromUtf8(verdictWord(v)));
        verdict->setToolTip(qs(v.verdict.text));
        QFont bold = verdict->font();
        bold.setBold(true);
        verdict->setFont(bold);
        verdict->setForeground(v.verdict.kind == VerdictKind::Agrees      ? QColor(0x2e7d32)
                               : v.verdict.kind == VerdictKind::Disagrees ? QColor(0xc62828)
                                                                          : QColor(0x757575));
        verdicts_->setItem(row, 4, verdict);
    }
    QStringList missing;
    int64_t planned = 0, finished = 0;
    for (const auto& c : report_.cells)
        for (const auto& m : c.missing)
            missing << label(c.arm) + (c.budget > 0 ? QStringLiteral(" %1 %").arg(c.budget) : QString()) +
                           QStringLiteral(" ") + qs(m);
    for (const auto& r : report_.runs) {
        ++planned;
        finished += r.metric.has_value();
    }
    QString headroom;
    for (const CeilingNote& c : report_.ceilings) {
        headroom += tr(" Headroom: the best arm, %1, is %2 below the %3 ceiling of %4")
                        .arg(qs(c.best_arm))
                        .arg(c.distance, 0, 'f', 3)
                        .arg(qs(c.metric))
                        .arg(c.ceiling);
        if (!c.at_ceiling.empty()) {
            QStringList at;
            for (const auto& a : c.at_ceiling)
                at << qs(a);
            headroom += tr("; at the ceiling: %1").arg(at.join(QStringLiteral(", ")));
        }
        headroom += QLatin1Char('.');
    }
    missing_->setText(
        tr("%1 of %2 runs finished. Means and intervals use the finished seeds (n); comparisons pair them by "
           "seed.%3")
            .arg(finished)
            .arg(planned)
            .arg(missing.isEmpty() || missing.size() > 12
                     ? QString(missing.isEmpty() ? QString()
                                                 : tr(" %1 runs not finished.").arg(missing.size()))
                     : tr(" Not finished: %1.").arg(missing.join(QStringLiteral("; ")))) +
        headroom);
}

}  // namespace peft::ui
