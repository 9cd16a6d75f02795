// SPDX-License-Identifier: GPL-3.0-or-later
// peft-workbench: the GUI entry point. All behaviour lives in ui/ and core/.
#include <QApplication>
#include <QCommandLineParser>
#include <QDir>
#include <QElapsedTimer>
#include <QFileInfo>
#include <QIcon>
#include <QLabel>
#include <QStandardPaths>
#include <QTabWidget>
#include <QTimer>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include "import_dialog.h"
#include "lambda_view.h"
#include "main_window.h"
#include "plot_export.h"
#include "qcp.h"
#include "run_process.h"
#include "slurm_dialog.h"
#include "study_view.h"
#include "training_view.h"
#include "util/system.h"

int main(int argc, char** argv) {
    peft::preferPassiveOpenMpWait(argv);
    QApplication app(argc, argv);
    QApplication::setApplicationName(QStringLiteral("PEFT Workbench"));
    QApplication::setOrganizationName(QStringLiteral("peft-workbench"));
    QApplication::setApplicationVersion(QString::fromStdString(peft::appVersion()));
    QApplication::setDesktopFileName(QStringLiteral("peft-workbench"));

    QCommandLineParser parser;
    parser.setApplicationDescription(
        QStringLiteral("Explore parameter-efficient fine-tuning in the unified view"));
    parser.addHelpOption();
    parser.addVersionOption();
    QCommandLineOption screenshot(
        QStringLiteral("screenshot"),
        QStringLiteral("Render the main window to FILE (PNG) and quit (with --run-queue: "
                       "once the queue is done)."),
        QStringLiteral("FILE"));
    QCommandLineOption view(
        QStringLiteral("view"),
        QStringLiteral("Open on a view: design, training, compare, studies, parameters, lambda."),
        QStringLiteral("NAME"));
    QCommandLineOption runQueue(QStringLiteral("run-queue"),
                                QStringLiteral("Start the project's queue on open."));
    QCommandLineOption probe(
        QStringLiteral("probe-latency"),
        QStringLiteral("Measure the GUI event loop's latency with a 10 ms timer while the queue "
                       "runs; print percentiles when it is done (use with --run-queue)."));
    QCommandLineOption lambdaRun(
        QStringLiteral("lambda-run"),
        QStringLiteral("Show λ(x) of run ID (with --view lambda; --screenshot waits for it)."),
        QStringLiteral("ID"));
    parser.addOption(lambdaRun);
    QCommandLineOption studyOption(
        QStringLiteral("study"),
        QStringLiteral("Show study ID (a built-in one) or FILE in the Studies view."), QStringLiteral("ID"));
    parser.addOption(studyOption);
    QCommandLineOption studyPlot(
        QStringLiteral("study-plot"),
        QStringLiteral(
            "Save the Studies view's plot of --study on the project as FILE (PNG, PDF or SVG by its "
            "extension) without opening the window, and quit (scripts/study-results.sh uses it for "
            "plot.png)."),
        QStringLiteral("FILE"));
    parser.addOption(studyPlot);
    QCommandLineOption benchReplot(
        QStringLiteral("bench-replot"),
        QStringLiteral("Benchmark: replot time of the training view holding N points (prints and quits)."),
        QStringLiteral("N"));
    parser.addOption(benchReplot);
    QCommandLineOption present(
        QStringLiteral("presentation"),
        QStringLiteral("Start in presentation mode (larger type, advanced controls hidden)."));
    parser.addOption(present);
    QCommandLineOption backbone(
        QStringLiteral("backbone"),
        QStringLiteral(
            "Open a backbone folder (a Hugging Face bert / roberta / gpt2 folder): the project "
            "argument, or <app data>/<folder name>.peftproj, is created with every preset queued on "
            "it when it does not exist."),
        QStringLiteral("DIR"));
    parser.addOption(backbone);
    QCommandLineOption importFile(
        QStringLiteral("import"),
        QStringLiteral("Open File ▸ Import Dataset on FILE (with --screenshot: render the "
                       "dialog once the file is read, and quit)."),
        QStringLiteral("FILE"));
    parser.addOption(importFile);
    QCommandLineOption slurmDialog(
        QStringLiteral("slurm-dialog"),
        QStringLiteral("With --screenshot and a project: render Run ▸ Submit to Slurm on it, and quit."));
    parser.addOption(slurmDialog);
    parser.addOption(screenshot);
    parser.addOption(view);
    parser.addOption(runQueue);
    parser.addOption(probe);
    parser.addPositionalArgument(QStringLiteral("project"),
                                 QStringLiteral("A .peftproj file (default: the built-in default project)."));
    parser.process(app);

    if (parser.isSet(benchReplot)) {
        // N training-loss points of one run, appended with addData as live training does, then the median
        // of 11 full replots at 1200 × 700.
        const int n = parser.value(benchReplot).toInt();
        peft::ui::TrainingView bench;
        bench.resize(1200, 700);
        bench.show();
        bench.addRun(1, QStringLiteral("bench"));
        QVector<peft::ui::MetricSample> batch;
        for (int i = 1; i <= n; ++i) {
            batch.push_back({i, i * 0.01, QStringLiteral("train"), QStringLiteral("loss"),
                             2.0 / std::sqrt(double(i)) + 0.05 * std::sin(i * 0.1)});
            if (batch.size() == 10000 || i == n) {
                bench.addSamples(1, batch);
                batch.clear();
            }
        }
        std::vector<double> ms;
        for (int i = 0; i < 11; ++i)
            ms.push_back(bench.replotNow());
        std::sort(ms.begin(), ms.end());
        std::printf(
            "training view with %d points: replot median %.1f ms (min %.1f, max %.1f) over %zu replots\n",
            bench.pointCount(1, QStringLiteral("train/loss")), ms[ms.size() / 2], ms.front(), ms.back(),
            ms.size());
        return 0;
    }

    const QString resources = QString::fromStdString(peft::resourcesDir());
    if (!resources.isEmpty())
        QApplication::setWindowIcon(QIcon(resources + QStringLiteral("/icons/peft-workbench.svg")));

    if (parser.isSet(slurmDialog) && parser.isSet(screenshot) && !parser.positionalArguments().isEmpty()) {
        try {
            const auto project = peft::Project::open(parser.positionalArguments().front().toStdString(),
                                                     peft::Project::Mode::ReadOnly);
            peft::ui::SlurmDialog dialog(*project, peft::ui::peftwbPath());
            dialog.show();
            QTimer::singleShot(100, &dialog, [&] {
                QApplication::exit(dialog.grab().save(parser.value(screenshot)) ? 0 : 1);
            });
            return app.exec();
        } catch (const std::exception& e) {
            std::fprintf(stderr, "peft-workbench: %s\n", e.what());
            return 1;
        }
    }

    if (parser.isSet(importFile) && parser.isSet(screenshot)) {
        peft::ui::ImportDialog dialog(nullptr, parser.value(importFile));
        dialog.show();
        auto save = [&] {
            const bool ok = dialog.grab().save(parser.value(screenshot));
            QApplication::exit(ok ? 0 : 1);
        };
        if (dialog.summary()->text().contains(QStringLiteral("Reading")))
            QObject::connect(&dialog, &peft::ui::ImportDialog::checked, &dialog,
                             [&] { QTimer::singleShot(100, save); });
        else
            QTimer::singleShot(100, save);
        return app.exec();
    }

    const QStringList args = parser.positionalArguments();
    if (parser.isSet(studyPlot)) {
        // No window and no dialog (a message box would wait for a click that never comes): errors on stderr.
        if (args.isEmpty() || !parser.isSet(studyOption)) {
            std::fprintf(stderr, "--study-plot needs --study ID|FILE and a project file\n");
            return 2;
        }
        std::unique_ptr<peft::Project> project;
        try {
            peft::loadStudy(parser.value(studyOption).toStdString());
            project = peft::Project::open(args.first().toStdString(), peft::Project::Mode::ReadOnly);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "%s\n", e.what());
            return 1;
        }
        peft::ui::StudyView studyView;
        studyView.resize(1100, 800);
        studyView.showProject(project.get());
        if (!studyView.selectStudy(parser.value(studyOption))) return 1;
        studyView.plot()->resize(960, 520);
        studyView.plot()->replot();
        if (!peft::ui::savePlot(studyView.plot(), parser.value(studyPlot))) {
            std::fprintf(stderr, "%s: cannot write\n", qPrintable(parser.value(studyPlot)));
            return 1;
        }
        return 0;
    }
    peft::ui::MainWindow window(args.isEmpty() ? QString() : args.first());
    window.show();
    if (parser.isSet(backbone)) {
        const QString dir = parser.value(backbone);
        const QString file = !args.isEmpty()
                                 ? args.first()
                                 : QStandardPaths::writableLocation(QStandardPaths::AppDataLocation) +
                                       QLatin1Char('/') + QFileInfo(QDir::cleanPath(dir)).fileName() +
                                       QStringLiteral(".peftproj");
        if (!window.openBackbone(dir, file)) return 1;
    }
    if (parser.isSet(importFile))
        QTimer::singleShot(0, &window, [&] { window.importDatasetDialog(parser.value(importFile)); });
    if (parser.isSet(present)) window.setPresentationMode(true);
    const QStringList views = {QStringLiteral("design"),     QStringLiteral("training"),
                               QStringLiteral("compare"),    QStringLiteral("studies"),
                               QStringLiteral("parameters"), QStringLiteral("lambda")};
    if (parser.isSet(studyOption)) window.studyView()->selectStudy(parser.value(studyOption));
    if (parser.isSet(view))
        window.tabs()->setCurrentIndex(std::max(0, int(views.indexOf(parser.value(view)))));

    // Event-loop latency probe: how late a 10 ms timer fires while training runs on the worker thread.
    std::vector<double> lateness;
    QElapsedTimer clock;
    QTimer probeTimer;
    if (parser.isSet(probe)) {
        probeTimer.setTimerType(Qt::PreciseTimer);
        probeTimer.setInterval(10);
        QObject::connect(&probeTimer, &QTimer::timeout, [&] {
            if (clock.isValid()) lateness.push_back(std::max(0.0, double(clock.nsecsElapsed()) / 1e6 - 10.0));
            clock.restart();
        });
        probeTimer.start();
    }
    auto finish = [&] {
        if (parser.isSet(probe) && !lateness.empty()) {
            std::sort(lateness.begin(), lateness.end());
            auto pct = [&](double q) { return lateness[size_t(q * double(lateness.size() - 1))]; };
            std::printf(
                "event-loop latency over %zu ticks of a 10 ms timer: p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
                lateness.size(), pct(0.5), pct(0.99), lateness.back());
            std::fflush(stdout);
        }
        if (parser.isSet(screenshot)) {
            const bool ok = window.grab().save(parser.value(screenshot));
            QApplication::exit(ok ? 0 : 1);
        } else if (parser.isSet(probe)) {
            QApplication::exit(0);
        }
    };
    if (parser.isSet(lambdaRun)) {
        window.lambdaView()->selectRun(parser.value(lambdaRun).toLongLong());
        QObject::connect(window.lambdaView(), &peft::ui::LambdaView::shown, &window, [&] {
            if (parser.isSet(screenshot)) QTimer::singleShot(200, &window, finish);
        });
        QTimer::singleShot(0, &window, [&window] { window.lambdaView()->request(); });
    } else if (parser.isSet(runQueue)) {
        QObject::connect(&window, &peft::ui::MainWindow::queueDrained, &window,
                         [&] { QTimer::singleShot(300, &window, finish); });
        QTimer::singleShot(0, &window, [&window] { window.runQueue(); });
    } else if (parser.isSet(screenshot)) {
        QTimer::singleShot(500, &window, finish);
    }
    return QApplication::exec();
}
