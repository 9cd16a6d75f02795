// SPDX-License-Identifier: GPL-3.0-or-later
// End to end through the real `peftwb` executable: exit codes, messages and JSON shapes.
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QtTest>

namespace {

struct Result {
    int code = -1;
    QByteArray out, err;
};

Result peftwb(const QStringList& args) {
    QProcess p;
    p.start(QStringLiteral(PEFTWB_PATH), args);
    if (!p.waitForFinished(120000)) return {};
    return {p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1, p.readAllStandardOutput(),
            p.readAllStandardError()};
}

QJsonDocument json(const QByteArray& bytes) {
    QJsonParseError e;
    QJsonDocument d = QJsonDocument::fromJson(bytes, &e);
    if (e.error != QJsonParseError::NoError) qWarning() << e.errorString() << bytes.left(400);
    return d;
}

}  // namespace

class TestCli : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void versionNamesLibTorchDevicesThreads() {
        const Result r = peftwb({QStringLiteral("--version")});
        QCOMPARE(r.code, 0);
        QVERIFY(r.out.startsWith("peftwb 0."));
        QVERIFY(r.out.contains("LibTorch 1.") || r.out.contains("LibTorch 2."));
        QVERIFY(r.out.contains("devices: cpu"));
        QVERIFY(r.out.contains("threads: "));
    }

    void helpListsSubcommands() {
        const Result r = peftwb({QStringLiteral("--help")});
        QCOMPARE(r.code, 0);
        for (const char* c : {"presets", "params", "forward", "demo"})
            QVERIFY2(r.out.contains(c), c);
        const Result sub = peftwb({QStringLiteral("params"), QStringLiteral("--help")});
        QCOMPARE(sub.code, 0);
        QVERIFY(sub.out.contains("--budget"));
    }

    void presetsJson() {
        const Result r = peftwb({QStringLiteral("presets"), QStringLiteral("--json")});
        QCOMPARE(r.code, 0);
        const QJsonArray arr = json(r.out).array();
        QCOMPARE(arr.size(), 16);
        for (const auto& v : arr)
            for (const char* k : {"id", "name", "formula", "paper_row"})
                QVERIFY2(!v.toObject().value(QLatin1String(k)).toString().isEmpty(), k);
        QCOMPARE(arr.first().toObject().value(QStringLiteral("id")).toString(), QStringLiteral("full"));
    }

    // --r sets every LoRA part: LoRA on W_q and W_v with r = 8 on d = 128, 4 layers is 4·r·d per layer.
    void paramsJsonFollowsFormula() {
        const Result r = peftwb({QStringLiteral("params"), QStringLiteral("--preset"), QStringLiteral("lora"),
                                 QStringLiteral("--r"), QStringLiteral("8"), QStringLiteral("--json")});
        QCOMPARE(r.code, 0);
        const QJsonObject o = json(r.out).object();
        QCOMPARE(o.value(QStringLiteral("trained")).toInteger(), qint64(4 * 4 * 8 * 128));
        QCOMPARE(o.value(QStringLiteral("stored")).toInteger(), qint64(4 * 4 * 8 * 128));
        QVERIFY(o.value(QStringLiteral("backbone")).toInteger() > 800000);
        const QJsonArray mods = o.value(QStringLiteral("modules")).toArray();
        QCOMPARE(mods.size(), 8);  // two sites × four layers
        for (const auto& m : mods)
            for (const char* k : {"name", "layer", "trained", "stored"})
                QVERIFY(m.toObject().contains(QLatin1String(k)));
    }

    void paramsBudget() {
        const Result r =
            peftwb({QStringLiteral("params"), QStringLiteral("--preset"), QStringLiteral("pa-ffn"),
                    QStringLiteral("--budget"), QStringLiteral("2"), QStringLiteral("--json")});
        QCOMPARE(r.code, 0);
        const double pct = json(r.out).object().value(QStringLiteral("stored_pct")).toDouble();
        QVERIFY2(qAbs(pct - 2.0) < 0.2, QByteArray::number(pct));
    }

    void forwardJsonHasLambdaOfEveryLayerHeadToken() {
        const Result r =
            peftwb({QStringLiteral("forward"), QStringLiteral("--preset"), QStringLiteral("mam"),
                    QStringLiteral("--text"), QStringLiteral("not bad"), QStringLiteral("--json")});
        QCOMPARE(r.code, 0);
        const QJsonObject o = json(r.out).object();
        const QJsonArray tokens = o.value(QStringLiteral("tokens")).toArray();
        QCOMPARE(tokens.size(), 8);  // <bos> + 7 bytes
        QCOMPARE(o.value(QStringLiteral("logits")).toArray().size(), 260);
        const QJsonArray lambda = o.value(QStringLiteral("lambda")).toArray();
        QCOMPARE(lambda.size(), 4);
        QCOMPARE(lambda.first().toArray().size(), 4);
        QCOMPARE(lambda.first().toArray().first().toArray().size(), tokens.size());
        for (const auto& layer : lambda)
            for (const auto& head : layer.toArray())
                for (const auto& v : head.toArray())
                    QVERIFY(v.toDouble() > 0.0 && v.toDouble() < 1.0);
    }

    void forwardWithoutGatingSaysWhy() {
        const Result r = peftwb({QStringLiteral("forward"), QStringLiteral("--preset"),
                                 QStringLiteral("lora"), QStringLiteral("--json")});
        QCOMPARE(r.code, 0);
        const QJsonObject o = json(r.out).object();
        QVERIFY(!o.contains(QStringLiteral("lambda")));
        QVERIFY(o.value(QStringLiteral("lambda_reason")).toString().contains(QStringLiteral("gated")));
    }

    void errorsNameTheFieldAndFail_data() {
        QTest::addColumn<QStringList>("args");
        QTest::addColumn<QString>("message");
        QTest::newRow("r = 0") << QStringList{"params", "--preset", "lora", "--r", "0"}
                               << "modifications[0].r: the bottleneck r must be at least 1";
        QTest::newRow("unknown preset")
            << QStringList{"params", "--preset", "nope"} << "unknown preset 'nope'";
        QTest::newRow("bad number") << QStringList{"params", "--preset", "lora", "--r", "x"}
                                    << "--r: expected an integer";
        QTest::newRow("unknown option")
            << QStringList{"params", "--preset", "lora", "--rank", "4"} << "--rank: unknown option";
        QTest::newRow("fixed budget")
            << QStringList{"params", "--preset", "bitfit", "--budget", "1"} << "has a fixed size";
        QTest::newRow("missing spec file")
            << QStringList{"params", "--spec", "/nonexistent.json"} << "/nonexistent.json: cannot open";
    }
    void errorsNameTheFieldAndFail() {
        QFETCH(QStringList, args);
        QFETCH(QString, message);
        const Result r = peftwb(args);
        QCOMPARE(r.code, 1);
        QVERIFY2(QString::fromUtf8(r.err).contains(message), r.err.constData());
        QVERIFY(r.out.isEmpty());
    }

    void specFileErrorsNameFileAndField() {
        QTemporaryFile f;
        QVERIFY(f.open());
        f.write(R"({"modifications":[{"form":"adapter","site":"ffn","r":4,"composition":"gated"}]})");
        f.close();
        const Result r = peftwb({QStringLiteral("params"), QStringLiteral("--spec"), f.fileName()});
        QCOMPARE(r.code, 1);
        QVERIFY2(QString::fromUtf8(r.err).contains(f.fileName() +
                                                   QStringLiteral(": modifications[0].composition")),
                 r.err.constData());
    }

    void unknownCommandIsUsageError() {
        const Result r = peftwb({QStringLiteral("frobnicate")});
        QCOMPARE(r.code, 2);
        QVERIFY(r.err.contains("unknown command"));
    }
};

QTEST_GUILESS_MAIN(TestCli)
#include "test_cli.moc"
