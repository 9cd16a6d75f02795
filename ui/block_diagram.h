// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// One transformer block, drawn bottom to top (input → attention sublayer → FFN sublayer → output), with the
// spec's modifications where they sit: a sequential adapter on the path after its sublayer, a parallel one
// as a branch from the sublayer's input to its output, a prefix inside the attention (per head, gated by λ
// or not), LoRA beside the weight it changes, IA3 as a rescaling, a prompt at the input. The composition is
// written on the branch (+, ·s, λ, σ-gate, ⊙).
#include <QWidget>

#include "peft/spec.h"

namespace peft::ui {

class BlockDiagram : public QWidget {
    Q_OBJECT

public:
    explicit BlockDiagram(QWidget* parent = nullptr);
    void setSpec(const Spec& spec, bool preLn);
    QSize sizeHint() const override { return {300, 260}; }
    QSize minimumSizeHint() const override { return {240, 220}; }
    /// Boxes whose text did not fit at the last paint (the type shrinks to 60 % first).
    int clippedTexts() const { return clipped_; }

protected:
    void paintEvent(QPaintEvent* event) override;

private:
    Spec spec_;
    bool preLn_ = true;
    int clipped_ = 0;
};

}  // namespace peft::ui
