// SPDX-License-Identifier: GPL-3.0-or-later
// peft-workbench: the GUI entry point. All behaviour lives in ui/ and core/.
#include <QApplication>
#include <QCommandLineParser>
#include <QDir>
#include <QElapsedTimer>
#include <QIcon>
#include <QTabWidget>
#include <QTimer>

#include <algorithm>
#include <cstdio>
#include <vector>

#include "lambda_view.h"
#include "main_window.h"
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
    QCommandLineOption view(QStringLiteral("view"),
                            QStringLiteral("Open on a view: design, training, compare, lambda."),
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
    parser.addOption(screenshot);
    parser.addOption(view);
    parser.addOption(runQueue);
    parser.addOption(probe);
    parser.addPositionalArgument(QStringLiteral("project"),
                                 QStringLiteral("A .peftproj file (default: the built-in default project)."));
    parser.process(app);

    const QString resources = QString::fromStdString(peft::resourcesDir());
    if (!resources.isEmpty())
        QApplication::setWindowIcon(QIcon(resources + QStringLiteral("/icons/peft-workbench.svg")));

    const QStringList args = parser.positionalArguments();
    peft::ui::MainWindow window(args.isEmpty() ? QString() : args.first());
    window.show();
    const QStringList views = {QStringLiteral("design"), QStringLiteral("training"),
                               QStringLiteral("compare"), QStringLiteral("lambda")};
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
