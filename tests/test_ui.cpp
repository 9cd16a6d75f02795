// SPDX-License-Identifier: GPL-3.0-or-later
// The main window under the offscreen platform: it opens, shows the budget plot of every preset, follows
// the selection, and renders to an image.
#include <QListWidget>
#include <QTableWidget>
#include <QtTest>

#include "qcp.h"

#include "main_window.h"

class TestUi : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() {
        QCoreApplication::setOrganizationName(QStringLiteral("peft-workbench-tests"));
        QSettings().clear();
    }

    void windowShowsBudgetPlotOfEveryPreset() {
        peft::ui::MainWindow w;
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        QCOMPARE(w.presetList()->count(), 16);
        QCustomPlot* plot = w.budgetPlot();
        QVERIFY(plot);
        QCOMPARE(plot->plottableCount(), 2);  // trained and stored bars
        auto* bars = qobject_cast<QCPBars*>(plot->plottable(0));
        QVERIFY(bars);
        QCOMPARE(bars->data()->size(), 16);
        QCOMPARE(plot->xAxis->scaleType(), QCPAxis::stLogarithmic);
    }

    void selectionFillsModuleTable() {
        peft::ui::MainWindow w;
        w.selectPreset(QStringLiteral("lora"));
        QCOMPARE(w.selectedPresetId(), QStringLiteral("lora"));
        QCOMPARE(w.moduleTable()->rowCount(), 2);  // lora@W_q, lora@W_v
        QCOMPARE(w.moduleTable()->item(0, 0)->text(), QStringLiteral("lora@W_q"));
        w.selectPreset(QStringLiteral("mam"));
        QCOMPARE(w.moduleTable()->rowCount(), 3);  // prefix, its MLP, the FFN adapter
    }

    void rendersToImage() {
        peft::ui::MainWindow w;
        w.resize(1200, 800);
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        const QImage img = w.grab().toImage();
        QCOMPARE(img.size(), QSize(1200, 800));
        QVERIFY(img.save(QDir::temp().filePath(QStringLiteral("peft-workbench-test-ui.png"))));
    }
};

QTEST_MAIN(TestUi)
#include "test_ui.moc"
