// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The parameter view: what a spec trains and stores in each layer of the backbone (an encoder–decoder's
// encoder layers, then its decoder layers, cross-attention counted with its decoder layer; and outside the
// layers: a prompt, a prefix MLP, the backbone's own biases or weights), next to the parameters of one layer
// of the backbone itself (per stack), which full fine-tuning trains.
#include <QWidget>

#include "model/config.h"
#include "peft/spec.h"

class QCustomPlot;
class QLabel;

namespace peft::ui {

class ParamView : public QWidget {
    Q_OBJECT

public:
    explicit ParamView(const ModelConfig& cfg, QWidget* parent = nullptr);
    void setSpec(const Spec& spec);
    /// Another backbone: the last spec is shown again against it.
    void setConfig(const ModelConfig& cfg);
    QCustomPlot* plot() const { return plot_; }
    /// Trained and stored counts per layer as shown: the (encoder's) layers, an encoder–decoder's decoder
    /// layers after them, and last what is outside the layers.
    const QVector<double>& trainedPerLayer() const { return trained_; }
    const QVector<double>& storedPerLayer() const { return stored_; }
    /// Parameters of one backbone layer (attention, FFN, LayerNorms); a decoder layer (`decoder`) has
    /// cross-attention and its LayerNorm too.
    static int64_t layerParamCount(const ModelConfig& cfg, bool decoder = false);

private:
    ModelConfig cfg_;
    Spec spec_;
    QCustomPlot* plot_ = nullptr;
    QLabel* caption_ = nullptr;
    QVector<double> trained_, stored_;
};

}  // namespace peft::ui
