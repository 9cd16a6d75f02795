// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The λ(x) view: for a run with a gated prefix, the prefix's share of each head's joint attention softmax,
// λ(x) = Σ_i exp(x W_q P_k,iᵀ) / (Σ_i exp(x W_q P_k,iᵀ) + Σ_j exp(x W_q W_k ᵀ C_jᵀ)), as a head × token
// heatmap of one layer (colour scale, token labels, the exact value under the mouse) and a strip of the
// per-layer means over heads. For a run without gating it says why there is no λ.
#include <QSet>
#include <QWidget>

#include "run_worker.h"

class QComboBox;
class QCustomPlot;
class QCPColorMap;
class QCPItemText;
class QLabel;
class QLineEdit;
class QSpinBox;

namespace peft::ui {

class LambdaView : public QWidget {
    Q_OBJECT

public:
    explicit LambdaView(QWidget* parent = nullptr);

    /// The runs to choose from: (id, name) of the project's runs, and those with a gated prefix (the others
    /// are listed greyed, saying they have no λ; the first gated one is chosen when nothing is).
    void setRuns(const QList<QPair<qint64, QString>>& runs, const QSet<qint64>& gated);
    /// Shows λ of `run` for `text` (what LambdaWorker computed).
    void showLambda(qint64 run, const QString& text, const LambdaData& data);
    void showError(const QString& message);
    qint64 selectedRun() const;
    void selectRun(qint64 run);
    /// Asks for λ of the selected run and the text (answered by showLambda or showError).
    void request();
    QString text() const;
    void setText(const QString& text);
    void setLayer(int layer);
    /// The attention kind asked for: encoder, decoder or cross (offered once a run shows it has them).
    QString attentionKind() const;
    void setAttentionKind(const QString& stack);
    QCustomPlot* heatmap() const { return plot_; }
    QCustomPlot* strip() const { return strip_; }
    const LambdaData& data() const { return data_; }
    /// The value shown at (head, token) of the current layer.
    double shownValue(int head, int token) const;

Q_SIGNALS:
    /// The user wants λ of `run` for `text` in an attention kind (encoder, decoder or cross; an
    /// encoder–decoder's, else encoder).
    void requested(qint64 run, const QString& text, const QString& stack);
    /// λ (or the reason there is none) is on screen.
    void shown();

private:
    void redraw();
    /// Empty maps with a hint in their middle (before anything is computed, or when there is no λ).
    void showEmpty(const QString& hint);
    void pickDevExample();

    QComboBox* runs_ = nullptr;
    QLineEdit* text_ = nullptr;
    QSpinBox* layer_ = nullptr;
    QComboBox* attention_ = nullptr;
    QLabel* info_ = nullptr;
    QCustomPlot* plot_ = nullptr;
    QCPColorMap* map_ = nullptr;
    QCustomPlot* strip_ = nullptr;
    QCPColorMap* stripMap_ = nullptr;
    QCPItemText* hint_ = nullptr;
    LambdaData data_;
    int exampleCounter_ = 0;
};

}  // namespace peft::ui
