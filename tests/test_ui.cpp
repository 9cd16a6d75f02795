// SPDX-License-Identifier: GPL-3.0-or-later
// The main window under the offscreen platform: it opens the default project, shows the budget plot of every
// preset, follows the selection, trains a queued run on the worker thread (progress, finish, stop), reopens
// a project with its runs, curves and comparison, and renders every view to an image.
#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFile>
#include <QFileInfo>
#include <QFontMetrics>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSignalSpy>
#include <QStandardItemModel>
#include <QStandardPaths>
#include <QTabWidget>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTimer>
#include <QtTest>

#include <cmath>
#include <map>

#include <nlohmann/json.hpp>

#include "hf_fixture.h"
#include "io/adapter.h"
#include "io/hf_model.h"
#include "io/safetensors.h"
#include "project/run_record.h"
#include "qcp.h"
#include "run/executor.h"
#include "test_support.h"

#include "block_diagram.h"
#include "budget_chart.h"
#include "compare_view.h"
#include "import_dialog.h"
#include "lambda_view.h"
#include "main_window.h"
#include "param_view.h"
#include "plot_style.h"
#include "run_queue.h"
#include "spec_editor.h"
#include "study_view.h"
#include "sweep_dialog.h"
#include "train_settings.h"
#include "training_view.h"

#include "model/backbone_config.h"
#include "model/config.h"
#include "peft/accounting.h"
#include "peft/presets.h"
#include "project/project.h"
#include "slurm_dialog.h"
#include "util/system.h"

namespace {

using CV = peft::ui::CompareView;

/// A project with one queued run of `preset` on sentiment.
QString projectWithRun(const QTemporaryDir& dir, const QString& name, const char* preset, int steps) {
    const QString path = dir.filePath(name);
    auto p = peft::Project::create(path.toStdString(), {{"id", "default"}});
    const peft::ModelConfig cfg = peft::workbenchDefaultConfig(peft::resourcesDir());
    const peft::Preset& pr = peft::presetById(preset);
    peft::TrainConfig tc;
    tc.steps = steps;
    tc.eval_every = 10;
    tc.log_every = 5;
    tc.lr = pr.default_lr;
    tc.threads = 1;
    peft::RunRecipe r;
    r.spec = peft::resolvePreset(pr, cfg);
    r.train = tc;
    r.data.task = "sentiment";
    peft::addRun(*p, pr.name, pr.id, r);
    return path;
}

}  // namespace

class TestUi : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;

    /// A Hugging Face BERT folder (bert-base-uncased's vocabulary, random weights, 128 positions).
    QString bertFolder() {
        namespace hf = hf_fixture;
        const std::filesystem::path bert = dir_.filePath(QStringLiteral("bert-small")).toStdString();
        if (!std::filesystem::exists(bert / "config.json")) {
            std::filesystem::create_directories(bert);
            hf::writeSafetensors(bert / "model.safetensors",
                                 hf::bertLikeWeights("bert.", 128, 2, false, 30522), "F32");
            hf::writeJson(bert / "config.json", hf::bertConfig("bert", "BertModel", 30522, 128));
            std::filesystem::copy_file(
                std::string(PEFT_TEST_DATA) + "/tokenizers/bert-base-uncased/vocab.txt", bert / "vocab.txt");
        }
        return QString::fromStdString(bert.string());
    }

    /// A small BART folder (random weights, the letters' byte-level BPE, 512 positions).
    QString bartFolder() {
        namespace hf = hf_fixture;
        const std::filesystem::path bart = dir_.filePath(QStringLiteral("bart-small")).toStdString();
        if (!std::filesystem::exists(bart / "config.json")) {
            std::filesystem::create_directories(bart);
            hf::writeSafetensors(bart / "model.safetensors",
                                 hf::bartWeights("model.", hf::kVocab, 514, false), "F32");
            hf::writeJson(bart / "config.json", hf::bartConfig("bart", hf::kVocab, 512));
            hf::writeBpeTokenizer(bart, true);
        }
        return QString::fromStdString(bart.string());
    }

private Q_SLOTS:
    void initTestCase() {
        QStandardPaths::setTestModeEnabled(true);
        QCoreApplication::setOrganizationName(QStringLiteral("peft-workbench-tests"));
        QSettings().clear();
        QFile::remove(peft::ui::MainWindow::defaultProjectPath());
        QVERIFY(dir_.isValid());
    }

    void firstStartCreatesDefaultProjectWithEveryPresetQueued() {
        peft::ui::MainWindow w;
        QCOMPARE(w.projectPath(), peft::ui::MainWindow::defaultProjectPath());
        QVERIFY(QFileInfo::exists(w.projectPath()));
        QCOMPARE(w.compareView()->table()->rowCount(), 16);
        QCOMPARE(w.compareView()->table()->item(0, CV::ColStatus)->text(), QStringLiteral("queued"));
    }

    void runFromGuiReportsProgressAndFinishes() {
        const QString path = projectWithRun(dir_, QStringLiteral("run.peftproj"), "lora", 30);
        peft::ui::MainWindow w(path);
        QCOMPARE(w.projectPath(), path);
        QSignalSpy ended(&w, &peft::ui::MainWindow::runEnded);
        QSignalSpy drained(&w, &peft::ui::MainWindow::queueDrained);
        const int lambdaTab = w.tabs()->indexOf(w.lambdaView());
        w.tabs()->setCurrentIndex(lambdaTab);  // the user is elsewhere: starting a run must not move them
        w.runQueue();
        QVERIFY(w.isTraining());
        QVERIFY(drained.wait(180000));
        QCOMPARE(w.tabs()->currentIndex(), lambdaTab);
        QCOMPARE(ended.count(), 1);
        QVERIFY(!w.isTraining());
        QVERIFY(w.trainingView()->pointCount(1, QStringLiteral("train/loss")) >= 6);  // steps 1, 5, …, 30
        QCOMPARE(w.trainingView()->pointCount(1, QStringLiteral("dev/accuracy")), 3);
        QTableWidget* t = w.compareView()->table();
        QCOMPARE(t->rowCount(), 1);
        QCOMPARE(t->item(0, CV::ColStatus)->text(), QStringLiteral("finished"));
        QVERIFY(t->item(0, CV::ColBest)->text().startsWith(QStringLiteral("accuracy ")));
        // The run list beside the curves gives the finished run's best dev metric.
        QVERIFY2(w.trainingView()->runStatus(1).startsWith(QStringLiteral("0.")),
                 qPrintable(w.trainingView()->runStatus(1)));
    }

    // On a GPU machine (the device check): a run set to cuda in the settings panel, bf16, queued and started
    // from the GUI, trains there and finishes, its record saying where and in what precision.
    void runFromGuiOnCuda() {
        if (!peft::ui::cudaUnavailableReason().isEmpty())
            QSKIP(qPrintable(QStringLiteral("no GPU: ") + peft::ui::cudaUnavailableReason()));
        const QString path = projectWithRun(dir_, QStringLiteral("cuda.peftproj"), "lora", 30);
        peft::ui::MainWindow w(path);
        peft::ui::TrainSettingsPanel* panel = w.trainSettings();
        panel->setFieldText(QStringLiteral("device"), QStringLiteral("cuda:0"));
        panel->setFieldText(QStringLiteral("precision"), QStringLiteral("bf16"));
        panel->setFieldText(QStringLiteral("steps"), QStringLiteral("30"));
        QVERIFY2(panel->validationError().isEmpty(), qPrintable(panel->validationError()));
        const qint64 id = w.queueSelectedPreset();
        QVERIFY(id > 0);
        {
            auto p = peft::Project::open(path.toStdString());
            p->setRunState(1, peft::RunState::Cancelled, "not this one");
        }
        QSignalSpy drained(&w, &peft::ui::MainWindow::queueDrained);
        w.runQueue();
        QVERIFY(drained.wait(180000));
        auto p = peft::Project::open(path.toStdString(), peft::Project::Mode::ReadOnly);
        const peft::RunRecord r = p->run(id);
        QVERIFY2(r.state == peft::RunState::Finished, r.message.c_str());
        QCOMPARE(r.device, std::string("cuda:0"));
        QCOMPARE(r.train_config["precision"].get<std::string>(), std::string("bf16"));
    }

    // File ▸ Import Dataset with a translation file ({"translation": {"en": …, "ro": …}}): the dialog shows
    // source / target fields instead of the classification columns, English as the source; swapping them is
    // what the spec imports.
    void importDialogChoosesTranslationLanguages() {
        const QString path = dir_.filePath(QStringLiteral("wmt.jsonl"));
        {
            std::ofstream out(path.toStdString());
            for (int i = 0; i < 30; ++i)
                out << "{\"translation\": {\"ro\": \"casa " << i << "\", \"en\": \"the house " << i
                    << "\"}}\n";
        }
        peft::ui::ImportDialog dialog(nullptr, path);
        QSignalSpy checked(&dialog, &peft::ui::ImportDialog::checked);
        QVERIFY(checked.count() > 0 || checked.wait(30000));
        QVERIFY2(dialog.checkedOk(), qPrintable(dialog.summary()->text()));
        QCOMPARE(dialog.sourceField()->currentText(), QStringLiteral("translation.en"));
        QCOMPARE(dialog.targetField()->currentText(), QStringLiteral("translation.ro"));
        QVERIFY(dialog.sourceField()->isVisibleTo(&dialog));
        QVERIFY(!dialog.labelColumn()->isVisibleTo(&dialog));
        QVERIFY2(dialog.summary()->text().contains(
                     QStringLiteral("Sequence to sequence: 27 training pairs, 3 dev")),
                 qPrintable(dialog.summary()->text()));
        dialog.sourceField()->setCurrentIndex(
            dialog.sourceField()->findText(QStringLiteral("translation.ro")));
        dialog.targetField()->setCurrentIndex(
            dialog.targetField()->findText(QStringLiteral("translation.en")));
        const peft::FileDatasetSpec spec = dialog.spec();
        QCOMPARE(spec.source_field, std::string("translation.ro"));
        QCOMPARE(spec.target_field, std::string("translation.en"));
        const peft::FileData d = peft::readFileData(spec);
        QCOMPARE(d.strain.front().source.rfind("casa", 0), size_t(0));
    }

    // File ▸ Import Dataset: GLUE SST-2's dev file previewed, mapped and counted off the GUI thread, recorded
    // in a project on a Hugging Face BERT backbone, then a LoRA run trains on it from Run ▸ Queue This Spec.
    void importedSst2TrainsEndToEnd() {
        const QString sst2 = QStringLiteral(PEFT_TEST_DATA "/glue/SST-2/dev.tsv");
        peft::ui::ImportDialog dialog(nullptr, sst2);
        QSignalSpy checked(&dialog, &peft::ui::ImportDialog::checked);
        QVERIFY(checked.count() > 0 || checked.wait(30000));
        QVERIFY(dialog.checkedOk());
        QCOMPARE(dialog.preview()->rowCount(), 20);
        QCOMPARE(dialog.preview()->columnCount(), 2);
        QCOMPARE(dialog.textColumn()->currentText(), QStringLiteral("sentence"));
        QCOMPARE(dialog.labelColumn()->currentText(), QStringLiteral("label"));
        QVERIFY2(dialog.summary()->text().contains(QStringLiteral("Labels: <b>0</b> (")),
                 qPrintable(dialog.summary()->text()));
        peft::FileDatasetSpec spec = dialog.spec();
        spec.limit = 300;  // a short run: 300 rows, 10 % of them the dev set

        const QString file = dir_.filePath(QStringLiteral("sst2.peftproj"));
        peft::ui::MainWindow::createQueuedProject(file, QStringLiteral("sentiment"), 20, bertFolder());
        peft::ui::MainWindow w;
        QVERIFY(w.openProject(file));
        const qint64 dataset = w.importDataset(spec);
        QVERIFY(dataset > 0);
        QCOMPARE(w.taskBox()->currentData().toString(), QStringLiteral("dataset:%1").arg(dataset));
        {
            auto p = peft::Project::open(file.toStdString(), peft::Project::Mode::ReadOnly);
            const auto ds = p->datasets();
            const auto it =
                std::find_if(ds.begin(), ds.end(), [&](const auto& d) { return d.id == dataset; });
            QVERIFY(it != ds.end());
            QCOMPARE(QString::fromStdString(it->path), QFileInfo(sst2).absoluteFilePath());
            QCOMPARE(QString::fromStdString(it->content_hash),
                     QStringLiteral("54a9c12c77e402fc14d6a66a506f24d999f596b0176eb777c972cccc2f9cc4b0"));
            QCOMPARE(it->labels, (std::vector<std::string>{"0", "1"}));
        }
        w.specEditor()->setSpec(peft::resolvePreset(peft::presetById("lora"), w.backboneConfig()),
                                QStringLiteral("lora"));
        const qint64 run = w.queueSelectedPreset();
        QVERIFY(run > 0);
        {  // only this run: the backbone's preset queue is not part of the test
            auto p = peft::Project::open(file.toStdString());
            for (const auto& r : p->runs())
                if (r.id != run) p->setRunState(r.id, peft::RunState::Cancelled, "not part of this test");
        }
        w.openProject(file);  // reread the states
        QSignalSpy ended(&w, &peft::ui::MainWindow::runEnded);
        w.runQueue();
        QVERIFY(ended.wait(180000));
        auto q = peft::Project::open(file.toStdString(), peft::Project::Mode::ReadOnly);
        const peft::RunRecord r = q->run(run);
        QCOMPARE(QString::fromUtf8(peft::toString(r.state)), QStringLiteral("finished"));
        QCOMPARE(r.dataset_id.value_or(0), dataset);
        QVERIFY(w.trainingView()->pointCount(run, QStringLiteral("dev/accuracy")) > 0);
    }

    // File ▸ Import Adapter: a PEFT prefix-tuning folder becomes a run whose weights are the adapter's (λ(x)
    // of it at once); Run ▸ Export Adapter writes the same tensors back.
    void adapterImportsAndExportsThroughTheGui() {
        const std::string base = bertFolder().toStdString();
        peft::HfModel h = peft::loadHfModel(base, 2, 3);
        h.model->applySpec(
            peft::resolvePreset(peft::presetById("prefix"), h.config, {std::nullopt, 4, std::nullopt}));
        {
            torch::NoGradGuard ng;
            for (auto& p : h.model->parameters())
                if (p.requires_grad()) p.normal_(0.0, 0.5);
        }
        const QString adapter = dir_.filePath(QStringLiteral("prefix-adapter"));
        peft::exportAdapter(adapter.toStdString(), "hf-peft", h.model, "bert", base, true);

        const QString file = dir_.filePath(QStringLiteral("adapter.peftproj"));
        peft::ui::MainWindow::createQueuedProject(file, QStringLiteral("sentiment"), 20, bertFolder());
        peft::ui::MainWindow w;
        QVERIFY(w.openProject(file));
        qint64 run = -1;
        w.importAdapter(adapter, [&](qint64 id) { run = id; });
        QTRY_VERIFY_WITH_TIMEOUT(run >= 0, 60000);
        QVERIFY(run > 0);
        auto p = peft::Project::open(file.toStdString(), peft::Project::Mode::ReadOnly);
        QCOMPARE(QString::fromStdString(p->run(run).train_config.value("init_adapter", "")),
                 QFileInfo(adapter).absoluteFilePath());
        const peft::LambdaMap lam = peft::lambdaOfRun(file.toStdString(), run, "the plot was not bad");
        QCOMPARE(QString::fromStdString(lam.weights), QStringLiteral("the imported adapter"));
        QCOMPARE(lam.layers, int64_t(2));

        QString written = QStringLiteral("(pending)");
        const QString out = dir_.filePath(QStringLiteral("prefix-again"));
        w.exportAdapter(run, QStringLiteral("hf-peft"), out, [&](const QString& d) { written = d; });
        QTRY_VERIFY_WITH_TIMEOUT(written != QStringLiteral("(pending)"), 60000);
        QCOMPARE(written, out);
        const auto a =
            peft::readSafetensors((adapter + QStringLiteral("/adapter_model.safetensors")).toStdString());
        const auto b =
            peft::readSafetensors((out + QStringLiteral("/adapter_model.safetensors")).toStdString());
        QCOMPARE(a.tensors.size(), b.tensors.size());
        for (const auto& [name, t] : a.tensors)
            QVERIFY2(torch::equal(t, b.tensors.at(name)), name.c_str());
    }

    // File ▸ Open Backbone on a Hugging Face BERT folder (real bert-base-uncased vocabulary, random weights):
    // the design space sizes presets for it, its runs train the built-in task through its tokenizer.
    void huggingFaceBackboneOpensAndTrains() {
        const QString file = dir_.filePath(QStringLiteral("bert.peftproj"));
        peft::ui::MainWindow::createQueuedProject(file, QStringLiteral("sentiment"), 20, bertFolder());
        peft::ui::MainWindow w;
        QVERIFY(w.openBackbone(bertFolder(), file));
        QCOMPARE(w.projectPath(), file);
        QCOMPARE(w.backboneConfig().d_model, int64_t(32));
        QCOMPARE(w.backboneConfig().vocab_size, int64_t(30522));
        QVERIFY(!w.backboneConfig().causal);
        QVERIFY(w.specEditor()->validationError().isEmpty());
        QVERIFY(!w.specEditor()->findChild<QWidget*>(QStringLiteral("Stacks"))->isVisibleTo(w.specEditor()));
        QCOMPARE(w.compareView()->table()->rowCount(), 16);
        // The preset in the editor is sized for this backbone, as a fresh resolve on it is.
        if (!w.specEditor()->presetId().isEmpty())
            QCOMPARE(nlohmann::json(w.specEditor()->spec()),
                     nlohmann::json(peft::resolvePreset(
                         peft::presetById(w.specEditor()->presetId().toStdString()), w.backboneConfig())));

        QSignalSpy ended(&w, &peft::ui::MainWindow::runEnded);
        w.runQueue();
        QVERIFY(ended.wait(180000));
        w.stopTraining();
        auto p = peft::Project::open(file.toStdString(), peft::Project::Mode::ReadOnly);
        QCOMPARE(QString::fromStdString(p->backbone().value("model_type", "")), QStringLiteral("bert"));
        const peft::RunRecord r = p->run(1);
        QCOMPARE(QString::fromUtf8(peft::toString(r.state)), QStringLiteral("finished"));
        QCOMPARE(r.steps_done, int64_t(20));
        QVERIFY(w.trainingView()->pointCount(1, QStringLiteral("dev/accuracy")) > 0);
    }

    // File ▸ Open Backbone on a BART folder: an encoder–decoder's design space (every preset valid, counted
    // per stack), and the built-in translation task trains on it by teacher forcing and decodes.
    void bartBackboneOpensAndTrainsTranslation() {
        const QString file = dir_.filePath(QStringLiteral("bart.peftproj"));
        peft::ui::MainWindow::createQueuedProject(file, QStringLiteral("translation"), 6, bartFolder());
        peft::ui::MainWindow w;
        QVERIFY(w.openBackbone(bartFolder(), file));
        QCOMPARE(w.backboneConfig().decoder_layers, int64_t(2));
        QVERIFY(w.backboneConfig().encoderDecoder());
        QVERIFY(w.specEditor()->validationError().isEmpty());
        QCOMPARE(w.compareView()->table()->rowCount(), 16);
        // The spec editor offers the stacks: LoRA on the cross-attention alone, then everywhere again.
        peft::ui::SpecEditor* ed = w.specEditor();
        ed->setSpec(peft::resolvePreset(peft::presetById("lora"), w.backboneConfig()),
                    QStringLiteral("lora"));
        QWidget* stacks = ed->findChild<QWidget*>(QStringLiteral("Stacks"));
        QVERIFY(stacks && stacks->isVisibleTo(ed));
        std::map<QString, QCheckBox*> box;
        for (QCheckBox* b : stacks->findChildren<QCheckBox*>())
            box[b->text()] = b;
        QCOMPARE(box.size(), size_t(3));
        QVERIFY(box["encoder"]->isChecked() && box["decoder"]->isChecked() && box["cross"]->isChecked());
        box["encoder"]->setChecked(false);
        box["decoder"]->setChecked(false);
        QCOMPARE(ed->spec().modifications[0].stacks, std::vector<peft::Stack>{peft::Stack::Cross});
        QVERIFY(ed->validationError().isEmpty());
        box["encoder"]->setChecked(true);
        box["decoder"]->setChecked(true);
        QVERIFY(ed->spec().modifications[0].stacks.empty());

        QSignalSpy ended(&w, &peft::ui::MainWindow::runEnded);
        w.runQueue();
        QVERIFY(ended.wait(180000));
        w.stopTraining();
        auto p = peft::Project::open(file.toStdString(), peft::Project::Mode::ReadOnly);
        QCOMPARE(QString::fromStdString(p->backbone().value("model_type", "")), QStringLiteral("bart"));
        const peft::RunRecord r = p->run(1);
        QVERIFY2(r.state == peft::RunState::Finished, r.message.c_str());
        QVERIFY(w.trainingView()->pointCount(1, QStringLiteral("dev/rougeL")) > 0);
    }

    void reopenedProjectShowsRunsCurvesAndComparison() {
        const QString path = dir_.filePath(QStringLiteral("run.peftproj"));
        peft::ui::MainWindow w(path);
        QVERIFY(w.trainingView()->hasRun(1));
        QVERIFY(w.trainingView()->pointCount(1, QStringLiteral("train/loss")) >= 6);
        QCOMPARE(w.compareView()->table()->rowCount(), 1);
        QCOMPARE(w.compareView()->scatter()->graphCount(), 1);
    }

    void stopCancelsTheRunAndKeepsItsCurve() {
        const QString path = projectWithRun(dir_, QStringLiteral("stop.peftproj"), "lora", 100000);
        peft::ui::MainWindow w(path);
        QSignalSpy ended(&w, &peft::ui::MainWindow::runEnded);
        w.runQueue();
        QTRY_VERIFY_WITH_TIMEOUT(w.trainingView()->pointCount(1, QStringLiteral("train/loss")) > 2, 120000);
        // The Compare row of the running run is live: its status and step, not "queued 0/…".
        QTableWidget* table = w.compareView()->table();
        QTRY_VERIFY_WITH_TIMEOUT(
            table->item(0, CV::ColStatus)->text() == QStringLiteral("running") &&
                table->item(0, CV::ColSteps)->text().section(QLatin1Char('/'), 0, 0).toLongLong() > 0,
            30000);
        // So is its line in the Training view's run list: "step/total".
        QTRY_VERIFY_WITH_TIMEOUT(w.trainingView()->runStatus(1).contains(QStringLiteral("/100000")), 30000);
        // Pause holds the curve still; resume continues it.
        QAction* pause = nullptr;
        for (QAction* a : w.findChildren<QAction*>())
            if (a->text() == QStringLiteral("&Pause")) pause = a;
        QVERIFY(pause && pause->isEnabled());
        QSignalSpy status(w.runQueueController(), &peft::ui::RunQueue::statusChanged);
        pause->trigger();
        // The trainer reports "paused" after the step in flight; its points arrived before that report.
        QTRY_VERIFY_WITH_TIMEOUT(std::any_of(status.begin(), status.end(),
                                             [](const QList<QVariant>& a) {
                                                 return a.at(1).toString() == QStringLiteral("paused");
                                             }),
                                 60000);
        const int held = w.trainingView()->pointCount(1, QStringLiteral("train/loss"));
        QTest::qWait(1000);
        QCOMPARE(w.trainingView()->pointCount(1, QStringLiteral("train/loss")), held);
        pause->trigger();
        QTRY_VERIFY_WITH_TIMEOUT(w.trainingView()->pointCount(1, QStringLiteral("train/loss")) > held, 60000);
        w.stopTraining();
        QVERIFY(ended.wait(60000));
        QVERIFY(!w.isTraining());
        auto p = peft::Project::open(path.toStdString(), peft::Project::Mode::ReadOnly);
        const peft::RunRecord r = p->run(1);
        QCOMPARE(QString::fromUtf8(peft::toString(r.state)), QStringLiteral("cancelled"));
        QVERIFY(r.steps_done > 0 && r.steps_done < 100000);
        QVERIFY(p->metricCount(1) > 0);
    }

    void smoothingPassesNonFiniteValuesAndKeepsConstantsConstant() {
        peft::ui::TrainingView v;
        QVector<peft::ui::MetricSample> s;
        for (int i = 1; i <= 6; ++i)
            s.push_back(
                {i, double(i), QStringLiteral("train"), QStringLiteral("loss"), i == 4 ? std::nan("") : 2.0});
        v.setSmoothing(0.9);
        v.addSamples(7, s);
        QCPGraph* g = nullptr;
        for (int i = 0; i < v.plot()->graphCount(); ++i)
            if (v.plot()->graph(i)->property("run").toLongLong() == 7) g = v.plot()->graph(i);
        QVERIFY(g);
        QCOMPARE(g->data()->size(), 6);
        for (int i = 0; i < 6; ++i) {
            const double y = (g->data()->constBegin() + i)->value;
            if (i == 3)
                QVERIFY(std::isnan(y));  // a gap, not averaged into its neighbours
            else
                QVERIFY2(std::abs(y - 2.0) < 1e-12, QByteArray::number(y));  // debiased EMA of a constant
        }
        v.setSmoothing(0.0);  // rebuilds from the raw points
        QCOMPARE((g->data()->constBegin() + 5)->value, 2.0);

        // Export: SVG and CSV carry the curves.
        const QString svg = dir_.filePath(QStringLiteral("curves.svg")),
                      csv = dir_.filePath(QStringLiteral("curves.csv"));
        QVERIFY(v.exportImage(svg));
        QFile f(svg);
        QVERIFY(f.open(QIODevice::ReadOnly));
        QVERIFY(f.readAll().contains("<svg"));
        QVERIFY(v.exportCsv(csv));
        QFile c(csv);
        QVERIFY(c.open(QIODevice::ReadOnly | QIODevice::Text));
        const QStringList lines = QString::fromUtf8(c.readAll()).split(QLatin1Char('\n'), Qt::SkipEmptyParts);
        QCOMPARE(lines.size(), 7);  // header + 6 points, the NaN one included
        QVERIFY(lines[4].endsWith(QStringLiteral("nan"), Qt::CaseInsensitive));
    }

    void editorShowsEveryPresetValid_data() {
        QTest::addColumn<QString>("preset");
        for (const auto& p : peft::presets())
            QTest::newRow(p.id.c_str()) << QString::fromStdString(p.id);
    }
    void editorShowsEveryPresetValid() {
        QFETCH(QString, preset);
        const peft::ModelConfig cfg = peft::workbenchDefaultConfig(peft::resourcesDir());
        const peft::Spec spec = peft::resolvePreset(peft::presetById(preset.toStdString()), cfg);
        peft::ui::SpecEditor e(cfg);
        e.setSpec(spec, preset);
        QVERIFY2(e.validationError().isEmpty(), qPrintable(e.validationError()));
        QCOMPARE(nlohmann::json(e.spec()).dump(),
                 nlohmann::json(spec).dump());  // the controls change nothing
        QCOMPARE(e.modificationList()->count(), int(spec.modifications.size()));
        if (!spec.modifications.empty()) {
            const peft::Modification& m = spec.modifications[0];
            QCOMPARE(e.formBox()->currentData().toInt(), int(m.form));
            QCOMPARE(e.siteBox()->currentData().toInt(), int(m.site));
            QCOMPARE(e.compositionBox()->currentData().toInt(), int(m.composition));
            QCOMPARE(int64_t(e.sizeBox()->value()), m.size());
        }
    }

    void editorControlsBuildTheSpecAndPointAtErrors() {
        const peft::ModelConfig cfg = peft::workbenchDefaultConfig(peft::resourcesDir());
        peft::ui::SpecEditor e(cfg);
        e.setSpec(peft::resolvePreset(peft::presetById("lora"), cfg), QStringLiteral("lora"));
        QCOMPARE(e.presetId(), QStringLiteral("lora"));
        QVERIFY(e.validationError().isEmpty());
        QCOMPARE(e.spec().modifications.size(), size_t(2));

        // LoRA at W_q → an adapter at W_q is invalid: the message names the site and the site box is marked.
        e.formBox()->setCurrentIndex(e.formBox()->findData(int(peft::Form::Adapter)));
        QVERIFY(e.presetId().isEmpty());  // changing a control makes the spec custom
        QVERIFY(e.spec().modifications[0].form == peft::Form::Adapter);
        QVERIFY(e.spec().modifications[0].r > 0);  // the size carried over
        QVERIFY2(e.validationError().contains(QStringLiteral("sublayer")), qPrintable(e.validationError()));
        QCOMPARE(e.errorControl(), static_cast<QWidget*>(e.siteBox()));
        // … until the site is a sublayer output.
        e.siteBox()->setCurrentIndex(e.siteBox()->findData(int(peft::Site::FFN)));
        QVERIFY2(e.validationError().isEmpty(), qPrintable(e.validationError()));
        QVERIFY(e.spec().modifications[0].site == peft::Site::FFN);
        QCOMPARE(e.errorControl(), static_cast<QWidget*>(nullptr));
        e.insertionBox()->setCurrentIndex(e.insertionBox()->findData(int(peft::Insertion::Sequential)));
        QVERIFY(e.spec().modifications[0].insertion == peft::Insertion::Sequential);
        QVERIFY(e.validationError().isEmpty());

        // Gating needs a λ: not defined for an adapter.
        e.compositionBox()->setCurrentIndex(e.compositionBox()->findData(int(peft::Composition::Gated)));
        QVERIFY(e.validationError().contains(QStringLiteral("λ")));
        QCOMPARE(e.errorControl(), static_cast<QWidget*>(e.compositionBox()));
        e.compositionBox()->setCurrentIndex(e.compositionBox()->findData(int(peft::Composition::Scaled)));
        e.scaleBox()->setValue(4.0);
        QVERIFY(e.validationError().isEmpty());
        QCOMPARE(e.spec().modifications[0].scale, 4.0);

        // The budget slider sizes every part to a share of the backbone.
        e.setSpec(peft::resolvePreset(peft::presetById("pa-ffn"), cfg), QStringLiteral("pa-ffn"));
        const int64_t before = e.spec().modifications[0].r;
        e.setBudgetPercent(2.0);
        const peft::ParamReport rep = peft::countParams(e.spec(), cfg);
        QVERIFY2(std::abs(rep.storedPct() - 2.0) < 0.2, QByteArray::number(rep.storedPct()));
        QVERIFY(e.spec().modifications[0].r > before);
        QCOMPARE(e.presetId(), QStringLiteral("pa-ffn"));  // the same preset at another budget
    }

    void presentationModeIsRememberedPerProject() {
        const QString path = projectWithRun(dir_, QStringLiteral("present.peftproj"), "mam", 10);
        {
            peft::ui::MainWindow w(path);
            w.show();
            QVERIFY(!w.presentationMode());
            const qreal normal = w.font().pointSizeF();
            auto* spin = w.specEditor()->findChild<QDoubleSpinBox*>();
            QVERIFY(spin && !spin->isHidden());
            for (QAction* a : w.findChildren<QAction*>())
                if (a->text() == QStringLiteral("&Presentation Mode")) a->trigger();
            QVERIFY(w.presentationMode());
            QVERIFY(w.font().pointSizeF() > normal * 1.2);
            QVERIFY(w.budgetPlot()->isHidden());
            QVERIFY(spin->isHidden());  // s and dropout are advanced controls
        }
        peft::ui::MainWindow again(path);
        QVERIFY(again.presentationMode());  // stored in the project
        again.setPresentationMode(false);
        QVERIFY(!again.budgetPlot()->isHidden());
    }

    void sweepExpandsTheGridAndQueuesIt() {
        bool ok = false;
        QString error;
        QCOMPARE(peft::ui::parseBudgets(QStringLiteral("0.5, 2 8%"), &ok, &error),
                 (QVector<double>{0.5, 2, 8}));
        QVERIFY(ok);
        peft::ui::parseBudgets(QStringLiteral("1, x"), &ok, &error);
        QVERIFY(!ok && error.contains(QStringLiteral("'x'")));
        // 2 tasks × (full once + lora × 3 budgets) × 2 seeds = 2 × 4 × 2.
        const auto pts =
            peft::ui::expandSweep({QStringLiteral("full"), QStringLiteral("lora")}, {0.5, 2, 8},
                                  {QStringLiteral("sentiment"), QStringLiteral("entailment")}, 2);
        QCOMPARE(pts.size(), 16);
        QCOMPARE(pts[0].preset, QStringLiteral("full"));
        QCOMPARE(pts[0].budget, 0.0);
        QCOMPARE(pts[2].preset, QStringLiteral("lora"));
        QCOMPARE(pts[2].budget, 0.5);
        QCOMPARE(pts[3].seed, 1);
        QCOMPARE(pts.back().task, QStringLiteral("entailment"));

        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("sweep.peftproj"));
        peft::Project::create(path.toStdString(), {{"id", "default"}});
        peft::ui::MainWindow w(path);
        const auto ids = w.queueSweep(
            peft::ui::expandSweep({QStringLiteral("lora")}, {0.5, 2}, {QStringLiteral("sentiment")}, 1), 50);
        QCOMPARE(ids.size(), 2);
        auto p = peft::Project::open(path.toStdString(), peft::Project::Mode::ReadOnly);
        const auto runs = p->runs();
        QCOMPARE(runs.size(), size_t(2));
        const peft::ModelConfig cfg = peft::workbenchDefaultConfig(peft::resourcesDir());
        const double small = peft::countParams(peft::specFromJson(runs[0].spec), cfg).storedPct();
        const double large = peft::countParams(peft::specFromJson(runs[1].spec), cfg).storedPct();
        QVERIFY2(std::abs(small - 0.5) < 0.1 && std::abs(large - 2.0) < 0.3,
                 qPrintable(QStringLiteral("%1 %2").arg(small).arg(large)));
        QCOMPARE(runs[0].steps_total, int64_t(50));
    }

    void parameterViewSplitsCountsByLayer() {
        const peft::ModelConfig cfg = peft::workbenchDefaultConfig(peft::resourcesDir());
        peft::ui::ParamView v(cfg);
        for (const char* id : {"lora", "prompt", "mam", "full"}) {
            const peft::Spec spec = peft::resolvePreset(peft::presetById(id), cfg);
            const peft::ParamReport rep = peft::countParams(spec, cfg);
            v.setSpec(spec);
            QCOMPARE(v.trainedPerLayer().size(), int(cfg.n_layers) + 1);
            double trained = 0, stored = 0;
            for (int i = 0; i <= int(cfg.n_layers); ++i)
                trained += v.trainedPerLayer()[i], stored += v.storedPerLayer()[i];
            QCOMPARE(trained, double(rep.trained));
            QCOMPARE(stored, double(rep.stored));
        }
        // LoRA: the same in every layer, nothing outside; prompt tuning: everything outside the layers.
        v.setSpec(peft::resolvePreset(peft::presetById("lora"), cfg));
        QVERIFY(v.trainedPerLayer()[0] > 0);
        QCOMPARE(v.trainedPerLayer()[1], v.trainedPerLayer()[0]);
        QCOMPARE(v.trainedPerLayer().back(), 0.0);
        v.setSpec(peft::resolvePreset(peft::presetById("prompt"), cfg));
        QCOMPARE(v.trainedPerLayer()[0], 0.0);
        QVERIFY(v.trainedPerLayer().back() > 0);
        // One backbone layer, from its shapes: the layers and embeddings make up the whole backbone.
        const int64_t embeddings =
            cfg.vocab_size * cfg.d_model + cfg.max_positions * cfg.d_model + 2 * cfg.d_model;
        QCOMPARE(cfg.n_layers * peft::ui::ParamView::layerParamCount(cfg) + embeddings,
                 peft::backboneParamCount(cfg));
    }

    // An encoder–decoder: the encoder's layers, then the decoder's (its cross-attention counted with its
    // layer), each against its own stack's layer; LoRA on every attention's W_q and W_v puts twice the
    // encoder layer's parameters in a decoder layer (self- and cross-attention).
    void parameterViewSplitsEncoderAndDecoder() {
        peft::ModelConfig cfg = tinyBart(true);
        cfg.decoder_layers = 3;
        peft::ui::ParamView v(cfg);
        const peft::Spec lora = peft::resolvePreset(peft::presetById("lora"), cfg);
        v.setSpec(lora);
        QCOMPARE(v.trainedPerLayer().size(), 2 + 3 + 1);
        const double enc = v.trainedPerLayer()[0];
        QVERIFY(enc > 0);
        QCOMPARE(v.trainedPerLayer()[1], enc);
        for (int i = 2; i < 5; ++i)
            QCOMPARE(v.trainedPerLayer()[i], 2 * enc);
        double sum = 0;
        for (double x : v.trainedPerLayer())
            sum += x;
        QCOMPARE(sum, double(peft::countParams(lora, cfg).trained));
        // The layers of both stacks and the embeddings (shared tokens, each stack's positions and
        // embedding and final LayerNorms) make up the whole backbone.
        const int64_t d = cfg.d_model;
        const int64_t positions = cfg.max_positions + cfg.position_offset;
        const int64_t embeddings = cfg.vocab_size * d + 2 * positions * d + 2 * 2 * d + 2 * 2 * d;
        QCOMPARE(2 * peft::ui::ParamView::layerParamCount(cfg) +
                     3 * peft::ui::ParamView::layerParamCount(cfg, true) + embeddings,
                 peft::backboneParamCount(cfg));
    }

    void heatmapShowsKnownLambda() {
        peft::ui::LambdaView v;
        peft::ui::LambdaData d;
        d.tokens = {QStringLiteral("the"), QStringLiteral("plot"), QStringLiteral("was"),
                    QStringLiteral("good")};
        d.layers = 2;
        d.heads = 3;
        for (int l = 0; l < 2; ++l)
            for (int h = 0; h < 3; ++h)
                for (int t = 0; t < 4; ++t)
                    d.values.push_back((100 * l + 10 * h + t) / 1000.0);
        QSignalSpy shown(&v, &peft::ui::LambdaView::shown);
        v.showLambda(1, QStringLiteral("the plot was good"), d);
        QCOMPARE(shown.count(), 1);
        v.setLayer(1);
        auto* map = qobject_cast<QCPColorMap*>(v.heatmap()->plottable(0));
        QVERIFY(map);
        QCOMPARE(map->data()->keySize(), 4);    // tokens
        QCOMPARE(map->data()->valueSize(), 3);  // heads
        for (int h = 0; h < 3; ++h)
            for (int t = 0; t < 4; ++t)
                QCOMPARE(v.shownValue(h, t), (100 + 10 * h + t) / 1000.0);
        auto* strip = qobject_cast<QCPColorMap*>(v.strip()->plottable(0));
        QCOMPARE(strip->data()->valueSize(), 2);                     // layers
        QCOMPARE(strip->data()->cell(3, 0), (0 + 10 + 3) / 1000.0);  // mean over heads 0, 10, 20 → 10
        // An encoder–decoder's run: the attention kind is offered, and choosing one asks for it.
        QVERIFY(v.findChild<QComboBox*>(QStringLiteral("LambdaAttentionKind"))->isHidden());
        d.encoderDecoder = true;
        v.showLambda(1, QStringLiteral("the plot was good"), d);
        QVERIFY(!v.findChild<QComboBox*>(QStringLiteral("LambdaAttentionKind"))->isHidden());
        QSignalSpy asked(&v, &peft::ui::LambdaView::requested);
        v.setAttentionKind(QStringLiteral("cross"));
        v.request();
        QCOMPARE(asked.count(), 0);  // no runs listed yet: nothing to ask for
        v.setRuns({{7, QStringLiteral("prefix")}}, {7});
        v.request();
        QCOMPARE(asked.count(), 1);
        QCOMPARE(asked.at(0).at(2).toString(), QStringLiteral("cross"));
        // A run without gating: the reason is shown and the map is empty.
        peft::ui::LambdaData none;
        none.reason = QStringLiteral("no gated prefix");
        v.showLambda(2, QStringLiteral("x"), none);
        QCOMPARE(map->data()->keySize(), 0);
    }

    void everyViewRendersToImage() {
        peft::ui::MainWindow w(dir_.filePath(QStringLiteral("run.peftproj")));
        w.resize(1280, 800);
        w.show();
        QVERIFY(QTest::qWaitForWindowExposed(&w));
        for (int i = 0; i < w.tabs()->count(); ++i) {
            w.tabs()->setCurrentIndex(i);
            QCoreApplication::processEvents();
            const QImage img = w.grab().toImage();
            QCOMPARE(img.size(), QSize(1280, 800));
            QVERIFY(img.save(dir_.filePath(QStringLiteral("view-%1.png").arg(i))));
        }
    }

    // Every training setting of the panel reaches the queued run's record (data-driven over the fields of the
    // one table): each field changed at once, then Queue This Spec.
    void everyPanelSettingReachesTheRunRecord() {
        const QString path = projectWithRun(dir_, QStringLiteral("panel.peftproj"), "lora", 20);
        peft::ui::MainWindow w(path);
        peft::ui::TrainSettingsPanel* panel = w.trainSettings();
        QVERIFY(panel->validationError().isEmpty());
        peft::TrainConfig want = panel->config();
        QCOMPARE(want.lr, peft::presetById(w.selectedPresetId().toStdString()).default_lr);  // the preset's
        for (const peft::TrainConfigField& f : peft::trainConfigFields()) {
            if (f.key == std::string("device")) continue;  // a list of this machine's devices: below
            want = withFieldChanged(want, f);
            const nlohmann::json v = peft::trainConfigFieldValue(want, f);
            panel->setFieldText(QString::fromLatin1(f.key),
                                QString::fromStdString(v.is_string() ? v.get<std::string>() : v.dump()));
            QVERIFY2(panel->isEdited(QString::fromLatin1(f.key)), f.key);
        }
        QVERIFY2(panel->validationError().isEmpty(), qPrintable(panel->validationError()));
        const qint64 id = w.queueSelectedPreset();
        QVERIFY(id > 0);
        auto p = peft::Project::open(path.toStdString(), peft::Project::Mode::ReadOnly);
        const peft::TrainConfig got = peft::runRecipe(*p, p->run(id)).train;
        for (const peft::TrainConfigField& f : peft::trainConfigFields())
            QVERIFY2(peft::trainConfigFieldValue(got, f) == peft::trainConfigFieldValue(want, f), f.key);
        // A value the CLI would refuse is refused here too, naming the field, and nothing is queued.
        panel->setFieldText(QStringLiteral("lr"), QStringLiteral("fast"));
        QVERIFY(panel->validationError().contains(QStringLiteral("lr")));
    }

    // The device list: the CPU, then each CUDA device; on a build or machine without one, a disabled entry
    // says why. The chosen device is the one the run record asks for.
    void deviceListSaysWhyThereIsNoGpu() {
        peft::ui::MainWindow w(projectWithRun(dir_, QStringLiteral("device.peftproj"), "lora", 20));
        auto* device = w.trainSettings()->findChild<QComboBox*>(QStringLiteral("device"));
        QVERIFY(device);
        QCOMPARE(device->itemData(0).toString(), QStringLiteral("cpu"));
        QVERIFY2(device->itemText(0).startsWith(QStringLiteral("cpu — ")), qPrintable(device->itemText(0)));
        const QString why = peft::ui::cudaUnavailableReason();
        auto* model = qobject_cast<QStandardItemModel*>(device->model());
        QVERIFY(model);
        if (!why.isEmpty()) {
            const int last = device->count() - 1;
            QVERIFY(device->itemText(last).contains(why));
            QVERIFY(!model->item(last)->isEnabled());
        } else {
            QVERIFY(device->count() >= 2 && model->item(1)->isEnabled());
        }
        QCOMPARE(w.trainSettings()->config().device, std::string("cpu"));
    }

    // A run that fails does not stop the queue: it is recorded as failed (no dialog) and the next one trains.
    void queueGoesOnPastAFailedRun() {
        const QString path = projectWithRun(dir_, QStringLiteral("failing.peftproj"), "bitfit", 10);
        {
            auto p = peft::Project::open(path.toStdString());
            peft::RunRecord broken = p->run(1);
            broken.name = "broken";
            broken.train_config["precision"] = "fp16";  // a precision this version does not have
            p->addRun(broken);
            peft::RunRecord good = p->run(1);
            good.name = "good";
            p->addRun(good);
        }
        peft::ui::MainWindow w(path);
        QSignalSpy drained(&w, &peft::ui::MainWindow::queueDrained);
        w.runQueue();
        QVERIFY(drained.wait(180000));
        auto p = peft::Project::open(path.toStdString(), peft::Project::Mode::ReadOnly);
        QCOMPARE(QString::fromUtf8(peft::toString(p->run(2).state)), QStringLiteral("failed"));
        QVERIFY(p->run(2).message.find("precision") != std::string::npos);
        QCOMPARE(QString::fromUtf8(peft::toString(p->run(1).state)), QStringLiteral("finished"));
        QCOMPARE(QString::fromUtf8(peft::toString(p->run(3).state)), QStringLiteral("finished"));
    }

    // Duplicate with changes: a run's spec goes to the editor and its settings to the panel; queueing makes a
    // new run with them and the change. Delete removes the run.
    void runActionsDuplicateAndDelete() {
        const QString path = projectWithRun(dir_, QStringLiteral("actions.peftproj"), "lora", 20);
        peft::ui::MainWindow w(path);
        auto act = [&](qint64 id, const QString& text) {
            const QList<QAction*> actions = w.runActions(id);
            QAction* found = nullptr;
            for (QAction* a : actions)
                if (a->text() == text) found = a;
            QVERIFY2(found && found->isEnabled(), qPrintable(text));
            found->trigger();
            qDeleteAll(actions);
        };
        act(1, QStringLiteral("Duplicate with Changes…"));
        QCOMPARE(w.specEditor()->presetId(), QStringLiteral("lora"));
        QCOMPARE(w.trainSettings()->fieldText(QStringLiteral("steps")), QStringLiteral("20"));
        w.trainSettings()->setFieldText(QStringLiteral("lr"), QStringLiteral("0.0005"));
        const qint64 copy = w.queueSelectedPreset();
        QVERIFY(copy > 1);
        {
            auto p = peft::Project::open(path.toStdString(), peft::Project::Mode::ReadOnly);
            const peft::RunRecipe a = peft::runRecipe(*p, p->run(1)), b = peft::runRecipe(*p, p->run(copy));
            QCOMPARE(b.train.lr, 0.0005);
            QCOMPARE(b.train.steps, a.train.steps);
            QCOMPARE(b.train.log_every, a.train.log_every);  // the duplicated run's own settings
            QVERIFY(nlohmann::json(b.spec) == nlohmann::json(a.spec));
        }
        QTimer::singleShot(0, [] {  // the confirmation
            for (QWidget* top : QApplication::topLevelWidgets())
                if (auto* box = qobject_cast<QMessageBox*>(top)) box->button(QMessageBox::Yes)->click();
        });
        act(copy, QStringLiteral("Delete…"));
        QVERIFY_THROWS_EXCEPTION(
            peft::Error, peft::Project::open(path.toStdString(), peft::Project::Mode::ReadOnly)->run(copy));
    }

    // The run list beside the curves decides what is drawn (with the Compare selection as a second filter);
    // 20 runs get 20 different colours.
    void runListDecidesWhatIsDrawn() {
        peft::ui::TrainingView v;
        v.addRun(1, QStringLiteral("first"));
        v.addRun(2, QStringLiteral("second"));
        v.addSamples(1, {{1, 0.1, QStringLiteral("train"), QStringLiteral("loss"), 0.5}});
        v.addSamples(2, {{1, 0.1, QStringLiteral("train"), QStringLiteral("loss"), 0.7}});
        QCOMPARE(v.runList()->count(), 2);
        auto drawn = [&](qint64 run) {
            bool any = false;
            for (int i = 0; i < v.plot()->graphCount(); ++i)
                if (v.plot()->graph(i)->property("run").toLongLong() == run)
                    any = any || v.plot()->graph(i)->visible();
            return any;
        };
        QVERIFY(drawn(1) && drawn(2));
        v.runList()->item(1)->setCheckState(Qt::Unchecked);
        QVERIFY(drawn(1) && !drawn(2) && !v.isRunShown(2));
        v.addSamples(2, {{2, 0.2, QStringLiteral("dev"), QStringLiteral("accuracy"), 0.6}});  // a new series
        QVERIFY(!drawn(2));
        v.showOnly({2});  // the Compare selection
        QVERIFY(!drawn(1) && !drawn(2));
        v.showOnly({});
        QVERIFY(drawn(1) && !drawn(2));
        v.removeRun(1);
        QCOMPARE(v.runList()->count(), 1);
        QSet<QRgb> colours;
        for (int i = 0; i < 20; ++i)
            colours.insert(peft::ui::TrainingView::runColor(i).rgb());
        QCOMPARE(colours.size(), 20);
    }

    // Δ is against full fine-tuning of the same backbone and data only: two backbones, two tasks.
    void compareNeverMixesGroups() {
        auto run = [](qint64 id, const char* preset, double metric, int64_t trained) {
            peft::RunRecord r;
            r.id = id;
            r.name = std::string(preset) + " " + std::to_string(id);
            r.preset = preset;
            r.spec = nlohmann::json::object();
            r.state = peft::RunState::Finished;
            peft::RunSummary s;
            s.metric_name = "accuracy";
            s.best_dev_metric = metric;
            s.trained_params = trained;
            s.backbone_params = 1000;
            r.summary = s;
            return r;
        };
        const std::vector<peft::RunRecord> runs = {run(1, "full", 0.90, 1000), run(2, "lora", 0.85, 5),
                                                   run(3, "lora", 0.60, 5), run(4, "full", 0.70, 1000),
                                                   run(5, "lora", 0.72, 5)};
        const QString a = QStringLiteral("A · sentiment"), b = QStringLiteral("A · entailment"),
                      c = QStringLiteral("B · sentiment");
        peft::ui::CompareView v;
        v.setRuns(runs, {a, a, b, c, c});
        QTableWidget* t = v.table();
        auto deltaOf = [&](qint64 id) {
            for (int row = 0; row < t->rowCount(); ++row)
                if (t->item(row, CV::ColRun)->data(Qt::UserRole).toLongLong() == id)
                    return t->item(row, CV::ColDelta)->text();
            return QString();
        };
        QCOMPARE(deltaOf(2), QStringLiteral("-0.050"));
        QCOMPARE(deltaOf(3),
                 QStringLiteral("no reference"));        // entailment has no full fine-tuning of its own
        QCOMPARE(deltaOf(5), QStringLiteral("+0.020"));  // against B's full fine-tuning, not A's
        QCOMPARE(v.groupBox()->count(), 3);
        v.groupBox()->setCurrentText(c);
        bool line = false;
        for (int i = 0; i < v.scatter()->itemCount(); ++i)
            if (auto* text = qobject_cast<QCPItemText*>(v.scatter()->item(i)))
                line = line || text->text().contains(QStringLiteral("full fine-tuning 0.700"));
        QVERIFY(line);
    }

    // The scatter's labels: method and budget (and the run id where two would read alike), never on one
    // another or on a point, with 20 runs at nearly one budget and metric; those left out are counted on the
    // plot. Presentation mode's larger type is placed by the same rule.
    void scatterLabelsNeverOverlap() {
        std::vector<peft::RunRecord> runs;
        for (int i = 0; i < 20; ++i) {
            peft::RunRecord r;
            r.id = i + 1;
            r.name = "a long run name, number " + std::to_string(i + 1);
            r.preset = i % 2 ? "lora" : "pa-ffn";
            r.spec = nlohmann::json::object();
            r.train_config = {{"lr", 0.001 * (i + 1)}};  // 20 different runs, not seeds of a few
            r.state = peft::RunState::Finished;
            peft::RunSummary s;
            s.metric_name = "accuracy";
            s.best_dev_metric = 0.91 + 0.001 * (i % 7);
            s.trained_params = 500 + 10 * (i % 5);  // 0.50 … 0.54 % of the backbone
            s.backbone_params = 100000;
            r.summary = s;
            runs.push_back(r);
        }
        peft::ui::CompareView v;
        v.resize(970, 700);  // the Compare view's share of a 1280 × 800 window
        v.setRuns(runs,
                  std::vector<QString>(
                      runs.size(), QStringLiteral("a-long-backbone-name · dataset: a long file name.tsv")));
        v.show();
        QVERIFY(QTest::qWaitForWindowExposed(&v));
        // The table fits: no column beyond the view (the run names elide instead).
        QTableWidget* table = v.table();
        QVERIFY2(table->horizontalHeader()->length() <= table->viewport()->width(),
                 qPrintable(QStringLiteral("%1 > %2")
                                .arg(table->horizontalHeader()->length())
                                .arg(table->viewport()->width())));
        QVERIFY(table->columnWidth(CV::ColRun) >= 120);
        for (double scale : {1.0, 1.5}) {
            peft::ui::setPlotScale(v.scatter(), scale);  // replots: the labels are placed after the layout
            QCustomPlot* plot = v.scatter();
            QList<QRectF> shown;
            QSet<QString> texts;
            for (QCPItemText* t : v.pointLabels()) {
                texts.insert(t->text());
                if (t->visible())
                    shown << QRectF(t->topLeft->pixelPosition(), t->bottomRight->pixelPosition());
            }
            QCOMPARE(texts.size(), 20);
            QVERIFY(shown.size() >= 4);
            for (int a = 0; a < shown.size(); ++a)
                for (int b = a + 1; b < shown.size(); ++b)
                    QVERIFY2(!shown[a].intersects(shown[b]),
                             qPrintable(QStringLiteral("labels %1 and %2").arg(a).arg(b)));
            for (const auto& r : runs) {
                const QPointF at(plot->xAxis->coordToPixel(100.0 * double(r.summary->trained_params) /
                                                           double(r.summary->backbone_params)),
                                 plot->yAxis->coordToPixel(r.summary->best_dev_metric));
                for (const QRectF& rect : shown)
                    QVERIFY(!rect.contains(at));
            }
            QString crowded;
            for (int i = 0; i < plot->itemCount(); ++i)
                if (plot->item(i)->objectName() == QLatin1String("crowded"))
                    crowded = qobject_cast<QCPItemText*>(plot->item(i))->text();
            if (shown.size() < 20)
                QVERIFY2(crowded.startsWith(QStringLiteral("%1 of 20 labels").arg(20 - shown.size())),
                         qPrintable(crowded));
            else
                QVERIFY(crowded.isEmpty());
        }
    }

    // A group without full fine-tuning offers it in one click: queued with the group's backbone, data and
    // settings, the full preset's spec and learning rate.
    void fullFineTuningIsQueuedForAGroupWithoutIt() {
        const QString path = projectWithRun(dir_, QStringLiteral("reference.peftproj"), "lora", 20);
        peft::ui::MainWindow w(path);
        QPushButton* button = w.compareView()->referenceButton();
        QVERIFY(!button->isHidden());
        button->click();
        auto p = peft::Project::open(path.toStdString(), peft::Project::Mode::ReadOnly);
        QCOMPARE(p->runs().size(), size_t(2));
        const peft::RunRecord full = p->run(2);
        QCOMPARE(full.preset, std::string("full"));
        const peft::RunRecipe a = peft::runRecipe(*p, p->run(1)), b = peft::runRecipe(*p, full);
        QCOMPARE(peft::runGroup(b), peft::runGroup(a));
        QCOMPARE(b.train.steps, a.train.steps);
        QCOMPARE(b.train.seed, a.train.seed);
        QCOMPARE(b.train.batch_size, a.train.batch_size);
        QCOMPARE(b.train.lr, peft::presetById("full").default_lr);
        QVERIFY(b.spec.train_base == peft::TrainBase::All && b.spec.modifications.empty());
        QVERIFY(button->isHidden());  // the group has its reference now (queued)
    }

    // Presentation mode enlarges plot type, lines and markers — also of graphs added while it is on — and
    // puts them back after.
    void presentationModeEnlargesPlots() {
        peft::ui::MainWindow w(projectWithRun(dir_, QStringLiteral("plot-scale.peftproj"), "lora", 20));
        QCustomPlot* scatter = w.compareView()->scatter();
        const double tick = scatter->xAxis->tickLabelFont().pointSizeF(),
                     label = scatter->xAxis->labelFont().pointSizeF();
        w.setPresentationMode(true);
        QCOMPARE(scatter->xAxis->tickLabelFont().pointSizeF(), 1.5 * tick);
        QCOMPARE(scatter->xAxis->labelFont().pointSizeF(), 1.5 * label);
        w.trainingView()->addSamples(7, {{1, 0.1, QStringLiteral("train"), QStringLiteral("loss"), 0.5}});
        QCustomPlot* curves = w.trainingView()->plot();
        QCPGraph* g = curves->graph(curves->graphCount() - 1);
        QCOMPARE(g->pen().widthF(), 1.6 * 1.5);
        QCOMPARE(curves->yAxis->labelFont().pointSizeF(), 1.5 * label);
        w.setPresentationMode(false);
        QCOMPARE(scatter->xAxis->tickLabelFont().pointSizeF(), tick);
        QCOMPARE(g->pen().widthF(), 1.6);
    }

    // The block diagram's boxes hold their text (the type shrinks before anything is cut) for every preset.
    void blockDiagramTextFitsEveryPreset() {
        const peft::ModelConfig cfg = peft::workbenchDefaultConfig(peft::resourcesDir());
        peft::ui::BlockDiagram d;
        d.resize(d.sizeHint());
        for (const peft::Preset& p : peft::presets()) {
            d.setSpec(peft::resolvePreset(p, cfg), true);
            (void)d.grab();
            QVERIFY2(d.clippedTexts() == 0, p.id.c_str());
        }
    }

    // The λ view before anything is computed: no colour map (a hint instead), and the first run with a gated
    // prefix chosen; runs without one are listed as such.
    void lambdaViewStartsEmptyAndChoosesAGatedRun() {
        peft::ui::LambdaView v;
        QVERIFY(!v.heatmap()->plottable(0)->visible());
        bool hint = false;
        for (int i = 0; i < v.heatmap()->itemCount(); ++i)
            if (auto* t = qobject_cast<QCPItemText*>(v.heatmap()->item(i)))
                hint = hint || (t->visible() && t->text().contains(QStringLiteral("Show λ")));
        QVERIFY(hint);
        v.setRuns({{1, QStringLiteral("full")}, {2, QStringLiteral("mam")}, {3, QStringLiteral("lora")}},
                  {2});
        QCOMPARE(v.selectedRun(), qint64(2));
        auto* runs = v.findChild<QComboBox*>();
        QVERIFY(runs->itemText(0).contains(QStringLiteral("no gated prefix")));
    }

    // Importing text the backbone's tokenizer cannot read says so: SST-2 is mostly <unk> for the built-in
    // world's words (warned), and covered by BERT's WordPiece.
    void importReportsVocabularyCoverage() {
        peft::ui::ImportDialog dialog(nullptr, QStringLiteral(PEFT_TEST_DATA "/glue/SST-2/dev.tsv"));
        dialog.setBackbone(QString::fromStdString(peft::defaultBackboneDir()), QStringLiteral("world-lm"));
        QTRY_VERIFY_WITH_TIMEOUT(dialog.checkedOk() && dialog.unknownShare() > 0, 30000);
        QVERIFY(dialog.unknownShare() > 0.5);
        QVERIFY2(dialog.summary()->text().contains(QStringLiteral("&lt;unk&gt; for world-lm")),
                 qPrintable(dialog.summary()->text()));
        dialog.setBackbone(bertFolder(), QStringLiteral("bert-small"));
        QTRY_VERIFY_WITH_TIMEOUT(dialog.checkedOk() && dialog.unknownShare() < 0.01, 30000);
        QVERIFY(dialog.summary()->text().contains(QStringLiteral("Vocabulary: ")));
    }

    // Runs that differ only in their seed are one scatter point: their mean with the 95 % t interval as
    // whiskers and n in the label; the table keeps each run.
    void compareAggregatesSeeds() {
        std::vector<peft::RunRecord> runs;
        const double values[] = {0.80, 0.82, 0.84, 0.90};
        for (int i = 0; i < 4; ++i) {
            peft::RunRecord r;
            r.id = i + 1;
            r.name = "run " + std::to_string(i + 1);
            r.preset = i < 3 ? "lora" : "full";
            r.spec = {{"name", r.preset}};
            r.train_config = {{"seed", i + 1}, {"lr", 0.003}};
            r.state = peft::RunState::Finished;
            peft::RunSummary s;
            s.metric_name = "accuracy";
            s.best_dev_metric = values[i];
            s.trained_params = i < 3 ? 500 : 100000;
            s.backbone_params = 100000;
            r.summary = s;
            runs.push_back(r);
        }
        peft::ui::CompareView v;
        v.setRuns(runs, std::vector<QString>(runs.size(), QStringLiteral("g")));
        QCOMPARE(v.table()->rowCount(), 4);
        QCOMPARE(v.pointLabels().size(), 2);
        QVERIFY(v.pointLabels()[0]->text().contains(QStringLiteral("(n = 3)")));
        QCPErrorBars* bars = nullptr;
        for (int i = 0; i < v.scatter()->plottableCount(); ++i)
            if (auto* b = qobject_cast<QCPErrorBars*>(v.scatter()->plottable(i))) bars = b;
        QVERIFY(bars);
        // mean 0.82, sd 0.02, half-width t(0.975, 2)·0.02/√3 = 0.049683; full fine-tuning's single run: none.
        QVERIFY(std::fabs(bars->data()->at(0).errorPlus - 0.049683) < 1e-5);
        QCOMPARE(bars->data()->at(1).errorPlus, 0.0);
    }

    // The Studies view: a study queued from the view adds its runs to the project; with their results in,
    // the plot has each arm's mean (n in the legend) and the verdict table the paired verdict.
    void studyViewQueuesAndShowsVerdicts() {
        const QString path = projectWithRun(dir_, QStringLiteral("study.peftproj"), "lora", 20);
        const QString file = dir_.filePath(QStringLiteral("two-arms.json"));
        {
            QFile f(file);
            QVERIFY(f.open(QIODevice::WriteOnly));
            f.write(
                R"({"id": "two-arms", "title": "two arms", "claim": "LoRA beats BitFit", "source": "a test",
                       "tasks": ["sentiment"], "seeds": 3, "train": {"steps": 10},
                       "arms": [{"id": "lora", "preset": "lora"}, {"id": "bitfit", "preset": "bitfit"}],
                       "comparisons": [{"better": "lora", "worse": "bitfit"}]})");
        }
        peft::ui::MainWindow w(path);
        peft::ui::StudyView* view = w.studyView();
        QVERIFY(view->selectStudy(file));
        QCOMPARE(view->seeds(), 3);
        QVERIFY(view->tasks().empty());  // the study's own task unless another is chosen
        auto* task = view->findChild<QComboBox*>(QStringLiteral("StudyTask"));
        QVERIFY(task && task->findData(QStringLiteral("entailment")) > 0);
        view->queueButton()->click();
        std::vector<peft::RunRecord> studyRuns;
        {
            auto p = peft::Project::open(path.toStdString());
            for (const auto& r : p->runs())
                if (r.name.find("[two-arms]") != std::string::npos) studyRuns.push_back(r);
            QCOMPARE(studyRuns.size(), size_t(6));
            // Results as training would leave them: LoRA ahead of BitFit by 0.05 ± 0.01 on every seed.
            const double lora[] = {0.90, 0.92, 0.91}, bitfit[] = {0.85, 0.86, 0.88};
            for (size_t i = 0; i < studyRuns.size(); ++i) {
                peft::RunSummary s;
                s.metric_name = "accuracy";
                s.best_dev_metric = i < 3 ? lora[i] : bitfit[i - 3];
                s.trained_params = 500;
                s.backbone_params = 100000;
                p->setSummary(studyRuns[i].id, s);
                p->setRunState(studyRuns[i].id, peft::RunState::Finished);
            }
        }
        auto p = peft::Project::open(path.toStdString(), peft::Project::Mode::ReadOnly);
        view->showProject(p.get());
        QTableWidget* verdicts = view->verdictTable();
        QCOMPARE(verdicts->rowCount(), 1);
        QCOMPARE(verdicts->item(0, 4)->text(), QStringLiteral("agrees"));
        QCOMPARE(verdicts->item(0, 2)->text(), QStringLiteral("3"));
        QVERIFY(verdicts->item(0, 3)->text().startsWith(QStringLiteral("0.047 [0.009, 0.085]")));
        QCOMPARE(view->plot()->graphCount(), 2);
        QVERIFY(view->plot()->graph(0)->name().contains(QStringLiteral("n = 3")));
        view->showProject(nullptr);  // before the project closes
        // A built-in study's shipped results open read-only, on the Studies view.
        QVERIFY(view->selectStudy(QStringLiteral("insertion-form")));
        if (view->shippedResults().isEmpty()) QSKIP("no shipped results of insertion-form in resources/");
        for (QPushButton* b : view->findChildren<QPushButton*>())
            if (b->text() == QStringLiteral("Open Shipped Results")) b->click();
        QCOMPARE(w.projectPath(), view->shippedResults());
        QVERIFY(w.windowTitle().contains(QStringLiteral("read-only")));
        QVERIFY(view->report().runs.size() == 15 && view->report().verdicts.size() == 2);
    }

    // Presentation mode at 1280 × 800 on the shipped Figure-1 results: the plot keeps its y label whole (it
    // fits the axis' height in the larger type), the queue controls and the arm list give way, and all of it
    // comes back after.
    void studyViewInPresentationModeFitsItsPlot() {
        const QString shipped =
            QString::fromStdString(peft::resourcesDir() + "/studies/results/figure1.peftproj");
        if (!QFileInfo::exists(shipped)) QSKIP("no shipped results of figure1 in resources/");
        const QString copy =
            dir_.filePath(QStringLiteral("figure1-copy.peftproj"));  // the shipped file stays
        QVERIFY(QFile::copy(shipped, copy));
        peft::ui::MainWindow w(copy);
        w.resize(1280, 800);
        w.show();
        peft::ui::StudyView* view = w.studyView();
        QVERIFY(view->selectStudy(QStringLiteral("figure1")));
        w.setPresentationMode(true);
        w.findChild<QTabWidget*>()->setCurrentWidget(view);
        QCoreApplication::processEvents();
        QCustomPlot* plot = view->plot();
        plot->replot();
        const QString label = plot->yAxis->label();
        QVERIFY(label.contains(QStringLiteral("rougeL")));
        const int need = QFontMetrics(plot->yAxis->labelFont()).horizontalAdvance(label);
        QVERIFY2(
            need <= plot->axisRect()->height(),
            qPrintable(
                QStringLiteral("%1 px of label on a %2 px axis").arg(need).arg(plot->axisRect()->height())));
        QVERIFY(!view->queueButton()->isVisible());
        w.setPresentationMode(false);
        QVERIFY(view->queueButton()->isVisible());
        QVERIFY(plot->yAxis->label().contains(QStringLiteral("95 % CI")));
    }

    // On a BERT-base-sized backbone IA3 trains a few thousandths of a percent: its bar must still be on the
    // chart (the value axis reaches below the smallest budget), like every other preset's.
    void budgetChartShowsEveryPresetOnLargeBackbones() {
        peft::ModelConfig bert = peft::defaultModelConfig();
        bert.vocab_size = 30522;
        bert.d_model = 768;
        bert.n_heads = 12;
        bert.n_layers = 12;
        bert.d_ff = 3072;
        bert.max_positions = 512;
        peft::ui::BudgetChart chart;
        chart.setBackbone(bert);
        QCOMPARE(chart.trainedPct().size(), 16);
        for (double pct : chart.trainedPct()) {
            QVERIFY2(pct > 1e-5, qPrintable(QString::number(pct)));  // computed, not the floor
            QVERIFY2(pct > chart.xAxis->range().lower, qPrintable(QString::number(pct)));
        }
    }

    // The queue without a window: a pause pressed during the hand-over between two runs holds for the next
    // run (it starts paused and makes no step until resumed), then the queue drains.
    void runQueueKeepsAPauseAcrossTheHandOver() {
        const QString path = projectWithRun(dir_, QStringLiteral("queue.peftproj"), "bitfit", 20);
        {
            auto p = peft::Project::open(path.toStdString());
            peft::RunRecord second = p->run(1);
            second.name = "second";
            p->addRun(second);
        }
        peft::ui::RunQueue q;
        q.setProject(path);
        QSignalSpy drained(&q, &peft::ui::RunQueue::drained);
        QList<qint64> stepsOfSecond;
        connect(&q, &peft::ui::RunQueue::runFinished, &q, [&](qint64 run, bool ok, const QString& m) {
            QVERIFY2(ok, qPrintable(m));
            if (run == 1) q.setPaused(true);  // between the two runs
        });
        connect(&q, &peft::ui::RunQueue::progress, &q, [&](qint64 run, qint64 step, qint64, double, double) {
            if (run == 2) stepsOfSecond << step;
        });
        q.start();
        QTRY_VERIFY_WITH_TIMEOUT(q.currentRun() == 2, 180000);
        QVERIFY(q.isPaused());
        QTest::qWait(1500);  // paused: no step of the second run may happen, however long this waits
        QVERIFY2(stepsOfSecond.isEmpty() || stepsOfSecond.last() == 0,
                 qPrintable(QString::number(stepsOfSecond.isEmpty() ? -1 : stepsOfSecond.last())));
        q.setPaused(false);
        QVERIFY(drained.wait(180000));
        QCOMPARE(stepsOfSecond.last(), qint64(20));
        QVERIFY(peft::Project::open(path.toStdString(), peft::Project::Mode::ReadOnly)->run(2).state ==
                peft::RunState::Finished);
    }

    // Runs side by side: with 2 at once the queue trains in peftwb processes — two at a time, reporting
    // progress and metric points as the worker does — and a run's curve is the same whether it trained
    // beside another, after it, or on the worker thread (same seed: the same numbers). Stop cancels every
    // process through its stdin, each run keeping its curve, resumable.
    void runQueueTrainsSideBySideInProcesses() {
        if (peft::ui::peftwbPath().isEmpty()) QSKIP("no peftwb beside the test binary");
        const QString path = projectWithRun(dir_, QStringLiteral("side-by-side.peftproj"), "lora", 20);
        {
            auto p = peft::Project::open(path.toStdString());
            const peft::RunRecord first = p->run(1);
            for (int i = 0; i < 3; ++i)
                p->addRun(first);
        }
        peft::ui::RunQueue q;
        q.setProject(path);
        q.setParallel(2);
        QSignalSpy drained(&q, &peft::ui::RunQueue::drained);
        int most = 0;
        QSet<qint64> reported;
        connect(&q, &peft::ui::RunQueue::stateChanged, &q,
                [&] { most = std::max(most, int(q.runningRuns().size())); });
        connect(&q, &peft::ui::RunQueue::metrics, &q,
                [&](qint64 run, const QVector<peft::ui::MetricSample>& m) {
                    if (!m.isEmpty()) reported << run;
                });
        connect(&q, &peft::ui::RunQueue::runFinished, &q,
                [&](qint64, bool ok, const QString& m) { QVERIFY2(ok, qPrintable(m)); });
        {  // the fourth on the worker thread, as one run
            auto p = peft::Project::open(path.toStdString());
            p->setRunState(4, peft::RunState::Cancelled, "held back");
        }
        q.start();
        QVERIFY(drained.wait(240000));
        QCOMPARE(most, 2);
        QCOMPARE(reported, (QSet<qint64>{1, 2, 3}));
        QSignalSpy finished(&q, &peft::ui::RunQueue::runFinished);
        q.startRun(4);
        QVERIFY(finished.wait(240000));
        auto p = peft::Project::open(path.toStdString(), peft::Project::Mode::ReadOnly);
        auto curve = [&](qint64 run) {
            QStringList points;
            for (const auto& m : p->metrics(run))
                points << QStringLiteral("%1 %2 %3 %4")
                              .arg(m.step)
                              .arg(QString::fromStdString(m.split), QString::fromStdString(m.name))
                              .arg(m.value, 0, 'g', 17);
            return points;
        };
        QVERIFY(curve(1).size() > 5);
        for (qint64 run = 1; run <= 4; ++run) {
            QCOMPARE(QString::fromUtf8(peft::toString(p->run(run).state)), QStringLiteral("finished"));
            QCOMPARE(curve(run), curve(1));
        }
    }

    // Several GPUs: runs side by side that ask for "cuda" each take the least busy GPU, one per GPU here;
    // a third waits for a place while a CPU run goes ahead of it, and the device each trained on is in its
    // record. This machine has no GPU, so the queue is given two and the runs stop at the trainer's device
    // check, saying which device they were placed on (on a GPU machine the device check covers this).
    void runQueueSpreadsGpuRunsOverTheGpus() {
        if (peft::ui::peftwbPath().isEmpty()) QSKIP("no peftwb beside the test binary");
        if (peft::ui::cudaUnavailableReason().isEmpty()) QSKIP("a GPU is present: scripts/device-check.sh");
        const QString path = projectWithRun(dir_, QStringLiteral("gpus.peftproj"), "lora", 20);
        {
            auto p = peft::Project::open(path.toStdString());
            p->setRunDevice(1, "cuda");
            const peft::RunRecord first = p->run(1);
            p->addRun(first);  // 2: cuda
            p->addRun(first);  // 3: cuda
            peft::RunRecord cpu = first;
            cpu.device = "cpu";
            cpu.train_config["device"] = "cpu";
            p->addRun(cpu);  // 4: cpu
        }
        peft::ui::RunQueue q;
        q.setProject(path);
        q.setParallel(3);
        q.setGpus({QStringLiteral("cuda:0"), QStringLiteral("cuda:1")}, 1);
        QStringList started;
        connect(&q, &peft::ui::RunQueue::runStarting, &q,
                [&](qint64 run, bool) { started << QStringLiteral("%1@%2").arg(run).arg(q.deviceOf(run)); });
        QSignalSpy drained(&q, &peft::ui::RunQueue::drained);
        q.start();
        QVERIFY(drained.wait(240000));
        QCOMPARE(started.mid(0, 3), (QStringList{QStringLiteral("1@cuda:0"), QStringLiteral("2@cuda:1"),
                                                 QStringLiteral("4@cpu")}));
        QCOMPARE(started.size(), 4);
        QVERIFY2(started[3] == QStringLiteral("3@cuda:0") || started[3] == QStringLiteral("3@cuda:1"),
                 qPrintable(started.join(QLatin1Char(' '))));
        auto p = peft::Project::open(path.toStdString(), peft::Project::Mode::ReadOnly);
        for (qint64 run : {1, 2, 3}) {
            const peft::RunRecord r = p->run(run);
            QCOMPARE(r.state, peft::RunState::Failed);
            QVERIFY2(QString::fromStdString(r.message).contains(QString::fromStdString(r.device)) &&
                         r.device.rfind("cuda:", 0) == 0 && r.train_config["device"] == r.device,
                     r.message.c_str());
        }
        QCOMPARE(p->run(4).state, peft::RunState::Finished);
        QCOMPARE(p->run(4).device, std::string("cpu"));
    }

    // Stop pressed right after a run is handed to the worker (before or after it starts loading) cancels
    // that run: a 100,000-step run ends cancelled, early.
    void runQueueStopRightAfterTheHandOverCancels() {
        const QString path = projectWithRun(dir_, QStringLiteral("early-stop.peftproj"), "bitfit", 100000);
        peft::ui::RunQueue q;
        q.setProject(path);
        QSignalSpy finished(&q, &peft::ui::RunQueue::runFinished);
        q.start();
        q.stop();
        QVERIFY(finished.wait(120000));
        const peft::RunRecord r =
            peft::Project::open(path.toStdString(), peft::Project::Mode::ReadOnly)->run(1);
        QCOMPARE(QString::fromUtf8(peft::toString(r.state)), QStringLiteral("cancelled"));
        QVERIFY(r.steps_done < 1000);
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

    void slurmDialogPreviewsItsScriptAndRefusesBadOptions() {
        const QString path = projectWithRun(dir_, QStringLiteral("slurm-dialog.peftproj"), "lora", 20);
        auto p = peft::Project::open(path.toStdString());
        p->addRun(p->run(1));
        p->addRun(p->run(1));
        peft::ui::SlurmDialog d(*p, QStringLiteral("/opt/peft/bin/peftwb"));
        QCOMPARE(d.runList()->count(), 3);
        QVERIFY2(d.preview()->toPlainText().contains(QStringLiteral("#SBATCH --array=0-2\n")),
                 qPrintable(d.preview()->toPlainText()));
        QVERIFY(
            d.preview()->toPlainText().contains(QStringLiteral("exec '/opt/peft/bin/peftwb' slurm task")));
        QVERIFY(d.submitButton()->isEnabled());
        d.timeEdit()->setText(QStringLiteral("1:2:3:4"));
        QVERIFY(!d.submitButton()->isEnabled());
        QVERIFY2(d.problem()->text().contains(QStringLiteral("--time")), qPrintable(d.problem()->text()));
        d.timeEdit()->setText(QStringLiteral("02:00:00"));
        QVERIFY(d.submitButton()->isEnabled());
        QVERIFY(d.preview()->toPlainText().contains(QStringLiteral("#SBATCH --time=02:00:00\n")));
        d.partitionEdit()->setText(QStringLiteral("gpu\n#SBATCH --uid=0"));
        QVERIFY(!d.submitButton()->isEnabled());
        d.partitionEdit()->setText(QStringLiteral("gpu"));
        d.runList()->item(0)->setCheckState(Qt::Unchecked);
        QVERIFY(d.preview()->toPlainText().contains(QStringLiteral("#SBATCH --array=0-1\n")));
        QCOMPARE(d.runs(), (std::vector<int64_t>{2, 3}));
        for (int i = 0; i < d.runList()->count(); ++i)
            d.runList()->item(i)->setCheckState(Qt::Unchecked);
        QVERIFY(!d.submitButton()->isEnabled());
        QVERIFY(!QFileInfo::exists(d.shardsDir()));  // planning writes nothing
    }

    void clusterRunsMergeIntoTheTrainingView() {
        const QString path = projectWithRun(dir_, QStringLiteral("cluster.peftproj"), "bitfit", 20);
        const QString shard = dir_.filePath(QStringLiteral("cluster-task-0.peftproj"));
        {
            auto p = peft::Project::open(path.toStdString());
            const std::string id = p->projectId();
            p->writeShard(shard.toStdString(), {1}, {{"project_id", id}, {"task", 0}});
            p->markSubmitted({{1, nlohmann::json{{"job", "4242"},
                                                 {"index", 0},
                                                 {"shard", shard.toStdString()},
                                                 {"log", "/nonexistent/task-4242_0.log"}}
                                      .dump()}},
                             id);
        }
        peft::ui::MainWindow w(path);
        QCOMPARE(w.compareView()->table()->item(0, CV::ColStatus)->text(), QStringLiteral("submitted"));
        QVERIFY(!w.clusterLabel()->isHidden());
        QVERIFY(w.mergeClusterAction()->isEnabled());
        const auto grow = [&](int64_t from, int64_t to, peft::RunState state) {
            auto s = peft::Project::open(shard.toStdString());
            std::vector<peft::MetricPoint> points;
            for (int64_t step = from; step <= to; ++step)
                points.push_back({step, "train", "loss", 1.0 / double(step), 0.1 * double(step)});
            s->appendMetrics(1, points);
            s->setStepsDone(1, to);
            s->setRunState(1, state);
        };
        grow(1, 4, peft::RunState::Interrupted);  // as a task stopped by SIGTERM leaves it, to be requeued
        w.mergeClusterAction()->trigger();
        QTRY_COMPARE_WITH_TIMEOUT(w.trainingView()->pointCount(1, QStringLiteral("train/loss")), 4, 30000);
        // Still the cluster's: no local queue may resume it.
        QCOMPARE(w.compareView()->table()->item(0, CV::ColStatus)->text(), QStringLiteral("submitted"));
        grow(5, 7, peft::RunState::Finished);
        w.mergeClusterAction()->trigger();
        QTRY_COMPARE_WITH_TIMEOUT(w.trainingView()->pointCount(1, QStringLiteral("train/loss")), 7, 30000);
        QTRY_COMPARE_WITH_TIMEOUT(w.compareView()->table()->item(0, CV::ColStatus)->text(),
                                  QStringLiteral("finished"), 30000);
        QVERIFY(w.clusterLabel()->isHidden());  // nothing submitted any more: no polling either
    }
};

QTEST_MAIN(TestUi)
#include "test_ui.moc"
