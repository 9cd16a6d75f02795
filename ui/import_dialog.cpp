// SPDX-License-Identifier: GPL-3.0-or-later
#include "import_dialog.h"

#include <algorithm>

#include <QCheckBox>
#include <QComboBox>
#include <QDialogButtonBox>
#include <QDoubleSpinBox>
#include <QElapsedTimer>
#include <QFileDialog>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QTableWidget>
#include <QThread>
#include <QVBoxLayout>

#include <algorithm>
#include <map>

#include "data/coverage.h"
#include "util/error.h"

namespace peft::ui {

namespace {

QString qs(const std::string& s) {
    return QString::fromStdString(s);
}

/// One file path with a Browse… button.
QWidget* fileRow(QWidget* parent, QLineEdit*& edit, const QString& placeholder,
                 const std::function<void()>& browse) {
    auto* w = new QWidget(parent);
    auto* h = new QHBoxLayout(w);
    h->setContentsMargins(0, 0, 0, 0);
    edit = new QLineEdit(w);
    edit->setPlaceholderText(placeholder);
    auto* b = new QPushButton(QObject::tr("Browse…"), w);
    QObject::connect(b, &QPushButton::clicked, w, browse);
    h->addWidget(edit, 1);
    h->addWidget(b);
    return w;
}

const QString kFilter =
    QObject::tr("Data files (*.tsv *.csv *.jsonl *.json *.txt *.source *.target);;All files (*)");

}  // namespace

ImportDialog::ImportDialog(QWidget* parent, const QString& trainFile) : QDialog(parent) {
    setWindowTitle(tr("Import Dataset"));
    setObjectName(QStringLiteral("ImportDialog"));
    auto* form = new QFormLayout;
    form->addRow(
        tr("Training file"), fileRow(this, train_, tr("TSV, CSV or JSON Lines with a header row"), [this] {
            const QString f = QFileDialog::getOpenFileName(this, tr("Training data"), QString(), kFilter);
            if (!f.isEmpty()) setTrainFile(f);
        }));
    form->addRow(tr("Dev file"),
                 fileRow(this, dev_, tr("optional: else a seeded share of the training rows"), [this] {
                     const QString f = QFileDialog::getOpenFileName(this, tr("Dev data"), QString(), kFilter);
                     if (!f.isEmpty()) {
                         dev_->setText(f);
                         check();
                     }
                 }));
    text_ = new QComboBox(this);
    pair_ = new QComboBox(this);
    label_ = new QComboBox(this);
    text_->setToolTip(tr("The column with the input text"));
    pair_->setToolTip(tr("A second text (premise / hypothesis, question / sentence), or none"));
    label_->setToolTip(tr("The column with the label (strings or integers; the label set is inferred)"));
    form->addRow(tr("Text column"), text_);
    form->addRow(tr("Second text"), pair_);
    form->addRow(tr("Label column"), label_);
    source_ = new QComboBox(this);
    target_ = new QComboBox(this);
    source_->setToolTip(
        tr("The field with the input text of a sequence-to-sequence pair (a translation file: "
           "the source language)"));
    target_->setToolTip(tr("The field with the text to generate (a translation file: the target language)"));
    form->addRow(tr("Source field"), source_);
    form->addRow(tr("Target field"), target_);
    form_ = form;
    devFraction_ = new QDoubleSpinBox(this);
    devFraction_->setRange(0.01, 0.5);
    devFraction_->setSingleStep(0.05);
    devFraction_->setValue(0.1);
    devFraction_->setToolTip(
        tr("Without a dev file: this share of the training rows (seeded split) is the dev set"));
    form->addRow(tr("Dev share"), devFraction_);
    skipBad_ = new QCheckBox(tr("Skip malformed rows (they are counted and listed)"), this);
    form->addRow(QString(), skipBad_);

    preview_ = new QTableWidget(this);
    preview_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    preview_->verticalHeader()->setVisible(true);
    preview_->horizontalHeader()->setStretchLastSection(true);
    preview_->setMinimumHeight(220);
    summary_ = new QLabel(tr("Choose a training file."), this);
    summary_->setWordWrap(true);
    summary_->setTextInteractionFlags(Qt::TextSelectableByMouse);

    buttons_ = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
    buttons_->button(QDialogButtonBox::Ok)->setText(tr("Import"));
    buttons_->button(QDialogButtonBox::Ok)->setEnabled(false);
    connect(buttons_, &QDialogButtonBox::accepted, this, &QDialog::accept);
    connect(buttons_, &QDialogButtonBox::rejected, this, &QDialog::reject);

    auto* v = new QVBoxLayout(this);
    v->addLayout(form);
    v->addWidget(new QLabel(tr("First rows:"), this));
    v->addWidget(preview_, 1);
    v->addWidget(summary_);
    v->addWidget(buttons_);
    resize(860, 600);

    for (QComboBox* c : {text_, pair_, label_, source_, target_})
        connect(c, &QComboBox::currentIndexChanged, this, [this] {
            if (!filling_) check();
        });
    connect(skipBad_, &QCheckBox::toggled, this, [this] { check(); });
    connect(train_, &QLineEdit::editingFinished, this, [this] { setTrainFile(train_->text()); });
    connect(dev_, &QLineEdit::editingFinished, this, [this] { check(); });
    if (!trainFile.isEmpty()) setTrainFile(trainFile);
}

ImportDialog::~ImportDialog() {
    if (worker_) worker_->wait();
}

void ImportDialog::fillColumns(const std::vector<std::string>& header) {
    filling_ = true;
    for (QComboBox* c : {text_, pair_, label_})
        c->clear();
    pair_->addItem(tr("(none)"), QString());
    for (const auto& h : header) {
        text_->addItem(qs(h), qs(h));
        pair_->addItem(qs(h), qs(h));
        label_->addItem(qs(h), qs(h));
    }
    try {  // GLUE's layouts choose themselves
        const ColumnMapping m = inferMapping(header, {}, "");
        text_->setCurrentIndex(text_->findData(qs(m.text)));
        pair_->setCurrentIndex(std::max(0, pair_->findData(qs(m.pair))));
        label_->setCurrentIndex(label_->findData(qs(m.label)));
    } catch (const Error&) {
        // The user picks the columns.
    }
    // Sequence-to-sequence JSON Lines: source / target, or a translation file's languages (translation.en,
    // translation.ro; English first when it is there). The rows that do not apply are hidden.
    source_->clear();
    target_->clear();
    std::vector<std::string> fields;
    auto has = [&](const std::string& n) {
        return std::find(header.begin(), header.end(), n) != header.end();
    };
    for (const auto& h : header)
        if (h.rfind("translation.", 0) == 0) fields.push_back(h);
    const bool plain = has("source") && has("target");
    if (plain) fields = {"source", "target"};
    for (const auto& h : header)
        if (std::find(fields.begin(), fields.end(), h) == fields.end() && h != "translation")
            fields.push_back(h);
    const bool seq2seq = seq2seqFields_ =
        !has("label") && !has("gold_label") &&
        (plain || (fields.size() >= 2 && fields[0].rfind("translation.", 0) == 0));
    for (const auto& f : fields) {
        source_->addItem(qs(f), qs(f));
        target_->addItem(qs(f), qs(f));
    }
    if (seq2seq) {
        int src = 0;
        if (!plain)
            for (int i = 0; i < int(fields.size()) && fields[size_t(i)].rfind("translation.", 0) == 0; ++i)
                if (fields[size_t(i)] == "translation.en") src = i;
        source_->setCurrentIndex(src);
        target_->setCurrentIndex(src == 0 ? 1 : 0);
    }
    for (QWidget* w :
         {static_cast<QWidget*>(text_), static_cast<QWidget*>(pair_), static_cast<QWidget*>(label_)})
        form_->setRowVisible(w, !seq2seq);
    form_->setRowVisible(source_, seq2seq);
    form_->setRowVisible(target_, seq2seq);
    filling_ = false;
}

void ImportDialog::setTrainFile(const QString& path) {
    train_->setText(path);
    preview_->clear();
    preview_->setRowCount(0);
    preview_->setColumnCount(0);
    try {
        const auto [header, rows] = previewTable(path.toStdString(), 20);
        preview_->setColumnCount(int(header.size()));
        QStringList labels;
        for (const auto& h : header)
            labels << qs(h);
        preview_->setHorizontalHeaderLabels(labels);
        preview_->setRowCount(int(rows.size()));
        QStringList lines;
        for (int r = 0; r < int(rows.size()); ++r) {
            lines << QString::number(rows[size_t(r)].line);
            for (int c = 0; c < int(rows[size_t(r)].cells.size()) && c < int(header.size()); ++c)
                preview_->setItem(r, c, new QTableWidgetItem(qs(rows[size_t(r)].cells[size_t(c)])));
        }
        preview_->setVerticalHeaderLabels(lines);  // the file's own line numbers
        preview_->resizeColumnsToContents();
        for (int c = 0; c < preview_->columnCount(); ++c)  // long texts must not push the label out of view
            preview_->setColumnWidth(c, std::min(preview_->columnWidth(c), 520));
        fillColumns(header);
        check();
    } catch (const std::exception& e) {
        ok_ = false;
        buttons_->button(QDialogButtonBox::Ok)->setEnabled(false);
        summary_->setText(QStringLiteral("<span style='color:#c0392b'>%1</span>")
                              .arg(QString::fromUtf8(e.what()).toHtmlEscaped()));
    }
}

void ImportDialog::setBackbone(const QString& dir, const QString& name) {
    backboneDir_ = dir;
    backboneName_ = name;
    hasBackbone_ = true;
    if (!train_->text().isEmpty()) check();
}

FileDatasetSpec ImportDialog::spec() const {
    FileDatasetSpec s;
    s.train = train_->text().toStdString();
    s.dev = dev_->text().toStdString();
    s.columns.text = text_->currentData().toString().toStdString();
    s.columns.pair = pair_->currentData().toString().toStdString();
    s.columns.label = label_->currentData().toString().toStdString();
    if (seq2seqFields_) {
        s.source_field = source_->currentData().toString().toStdString();
        s.target_field = target_->currentData().toString().toStdString();
    }
    s.dev_fraction = devFraction_->value();
    s.skip_bad_rows = skipBad_->isChecked();
    return s;
}

void ImportDialog::check() {
    if (train_->text().isEmpty()) return;
    if (worker_) {  // one check at a time; the newest request runs when this one ends
        connect(worker_, &QThread::finished, this, &ImportDialog::check, Qt::SingleShotConnection);
        return;
    }
    ok_ = false;
    buttons_->button(QDialogButtonBox::Ok)->setEnabled(false);
    summary_->setText(tr("Reading the files…"));
    devFraction_->setEnabled(dev_->text().isEmpty());
    const FileDatasetSpec s = spec();
    auto result = std::make_shared<FileData>();
    auto error = std::make_shared<std::string>();
    auto ms = std::make_shared<qint64>(0);
    auto coverage = std::make_shared<VocabularyCoverage>();
    auto coverageError = std::make_shared<std::string>();
    const std::string backboneDir = backboneDir_.toStdString();
    const bool withBackbone = hasBackbone_;
    worker_ = QThread::create([s, result, error, ms, coverage, coverageError, backboneDir, withBackbone] {
        QElapsedTimer t;
        t.start();
        try {
            *result = readFileData(s);
        } catch (const std::exception& e) {
            *error = e.what();
        }
        *ms = t.elapsed();
        if (!error->empty() || !withBackbone) return;
        try {  // what the backbone's tokenizer makes of the training text (the first 5,000 rows)
            *coverage = dataCoverage(*openFolderTokenizer(backboneDir), *result);
        } catch (const std::exception& e) {
            *coverageError = e.what();
        }
    });
    connect(worker_, &QThread::finished, this, [this, result, error, ms, coverage, coverageError] {
        worker_->deleteLater();
        worker_ = nullptr;
        if (!error->empty()) {
            summary_->setText(QStringLiteral("<span style='color:#c0392b'>%1</span>")
                                  .arg(QString::fromStdString(*error).toHtmlEscaped()));
            Q_EMIT checked(false);
            return;
        }
        const FileData& d = *result;
        QString text;
        if (d.seq2seq) {
            text = tr("Sequence to sequence: %1 training pairs, %2 dev pairs.")
                       .arg(d.strain.size())
                       .arg(d.sdev.size());
        } else {
            std::map<std::string, int> counts;
            for (const auto& r : d.train)
                ++counts[r.label];
            QStringList parts;
            for (const auto& l : d.labels)
                parts << QStringLiteral("<b>%1</b> (%2)").arg(qs(l).toHtmlEscaped()).arg(counts[l]);
            text = tr("%1 training rows, %2 dev rows. Labels: %3.")
                       .arg(d.train.size())
                       .arg(d.dev.size())
                       .arg(parts.join(QStringLiteral(", ")));
        }
        text += tr(" Read in %1 ms.").arg(*ms);
        if (d.skipped > 0) {
            text += QStringLiteral("<br><span style='color:#b9770e'>") +
                    tr("Skipped %1 bad rows:").arg(d.skipped);
            for (const auto& m : d.skipped_messages)
                text += QStringLiteral("<br>&nbsp;&nbsp;") + qs(m).toHtmlEscaped();
            text += QStringLiteral("</span>");
        }
        unknownShare_ = coverage->unknownShare();
        if (!coverageError->empty()) {
            text += QStringLiteral("<br><span style='color:#b9770e'>%1</span>")
                        .arg(tr("The backbone's tokenizer could not be read: %1")
                                 .arg(qs(*coverageError).toHtmlEscaped()));
        } else if (coverage->tokens > 0) {
            const std::string warning = coverageWarning(*coverage, backboneName_.toStdString());
            if (warning.empty())
                text += QStringLiteral("<br>") + tr("Vocabulary: %1 % of the tokens are &lt;unk&gt; for %2's "
                                                    "tokenizer (%3 texts).")
                                                     .arg(100 * coverage->unknownShare(), 0, 'f', 1)
                                                     .arg(backboneName_.toHtmlEscaped())
                                                     .arg(coverage->texts);
            else
                text += QStringLiteral("<br><span style='color:#c0392b'><b>%1</b></span>")
                            .arg(qs(warning).toHtmlEscaped());
        }
        summary_->setText(text);
        ok_ = true;
        buttons_->button(QDialogButtonBox::Ok)->setEnabled(true);
        Q_EMIT checked(true);
    });
    worker_->start();
}

}  // namespace peft::ui
