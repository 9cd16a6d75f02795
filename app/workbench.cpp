// SPDX-License-Identifier: GPL-3.0-or-later
// peft-workbench: the GUI entry point. All behaviour lives in ui/ and core/.
#include <QApplication>
#include <QCommandLineParser>
#include <QDir>
#include <QIcon>
#include <QTimer>

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
    QCommandLineOption screenshot(QStringLiteral("screenshot"),
                                  QStringLiteral("Render the main window to FILE (PNG) and quit."),
                                  QStringLiteral("FILE"));
    parser.addOption(screenshot);
    parser.process(app);

    const QString resources = QString::fromStdString(peft::resourcesDir());
    if (!resources.isEmpty())
        QApplication::setWindowIcon(QIcon(resources + QStringLiteral("/icons/peft-workbench.svg")));

    peft::ui::MainWindow window;
    window.show();
    if (parser.isSet(screenshot)) {
        const QString path = parser.value(screenshot);
        QTimer::singleShot(500, &window, [&window, path] {
            const bool ok = window.grab().save(path);
            QApplication::exit(ok ? 0 : 1);
        });
    }
    return QApplication::exec();
}
