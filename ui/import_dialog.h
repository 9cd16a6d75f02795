// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// File ▸ Import Dataset…: a training file (and optionally a dev file) as a dataset of the project, with a
// preview of the first rows, the column mapping (text, optional second text, label; inferred for GLUE's
// layouts), the label set with counts and what was skipped. The files are read off the GUI thread.
#include <QDialog>
#include <QString>

#include <memory>

#include "data/file_data.h"

class QCheckBox;
class QComboBox;
class QDialogButtonBox;
class QDoubleSpinBox;
class QFormLayout;
class QLabel;
class QLineEdit;
class QTableWidget;
class QThread;

namespace peft::ui {

class ImportDialog : public QDialog {
    Q_OBJECT

public:
    explicit ImportDialog(QWidget* parent = nullptr, const QString& trainFile = {});
    ~ImportDialog() override;

    /// What to import, as the controls say (valid once check() reported success).
    FileDatasetSpec spec() const;
    QTableWidget* preview() const { return preview_; }
    QComboBox* textColumn() const { return text_; }
    QComboBox* pairColumn() const { return pair_; }
    QComboBox* labelColumn() const { return label_; }
    QComboBox* sourceField() const { return source_; }
    QComboBox* targetField() const { return target_; }
    QLabel* summary() const { return summary_; }
    /// Sets the training file: fills the preview and the column choices, then checks the whole file.
    void setTrainFile(const QString& path);
    /// The backbone the data will train on: the check reports how much of the text its tokenizer maps to
    /// <unk> (an empty dir: the byte-level random backbone). Checks again when a file is set.
    void setBackbone(const QString& dir, const QString& name);
    /// Reads every file with the current mapping on a worker thread; `checked` reports the outcome.
    void check();
    /// The <unk> share found by the last check (0 when no backbone is set).
    double unknownShare() const { return unknownShare_; }
    bool checkedOk() const { return ok_; }

Q_SIGNALS:
    void checked(bool ok);

private:
    void fillColumns(const std::vector<std::string>& header);

    QLineEdit* train_ = nullptr;
    QLineEdit* dev_ = nullptr;
    QComboBox* text_ = nullptr;
    QComboBox* pair_ = nullptr;
    QComboBox* label_ = nullptr;
    QComboBox* source_ = nullptr;  // sequence-to-sequence JSON Lines: the source and target fields
    QComboBox* target_ = nullptr;
    QFormLayout* form_ = nullptr;
    bool seq2seqFields_ = false;  // the source / target rows are shown and read
    QDoubleSpinBox* devFraction_ = nullptr;
    QCheckBox* skipBad_ = nullptr;
    QTableWidget* preview_ = nullptr;
    QLabel* summary_ = nullptr;
    QDialogButtonBox* buttons_ = nullptr;
    QThread* worker_ = nullptr;
    bool ok_ = false;
    QString backboneDir_, backboneName_;
    bool hasBackbone_ = false;
    double unknownShare_ = 0;
    bool filling_ = false;
};

}  // namespace peft::ui
