// SPDX-License-Identifier: GPL-3.0-or-later
#include "block_diagram.h"

#include <QPainter>
#include <QPainterPath>

namespace peft::ui {

namespace {

const QColor kSublayer(0xdc, 0xe6, 0xf2);
const QColor kSublayerEdge(0x4e, 0x79, 0xa7);
const QColor kDelta(0xfd, 0xd8, 0xb5);
const QColor kDeltaEdge(0xe1, 0x6c, 0x0e);

QString compositionMark(const Modification& m) {
    switch (m.composition) {
        case Composition::Add:
            return QStringLiteral("+");
        case Composition::Scaled:
            return QStringLiteral("+ %1·").arg(m.scale, 0, 'g', 3);
        case Composition::LearnedScale:
            return QStringLiteral("+ s·");
        case Composition::Gated:
            return QStringLiteral("λ(x)");
        case Composition::LearnedGate:
            return QStringLiteral("σ-gate");
        case Composition::Rescale:
            return QStringLiteral("⊙");
    }
    return {};
}

QString sizeText(const Modification& m) {
    if (m.usesR()) return QStringLiteral(" r=%1").arg(m.r);
    if (m.usesL()) return QStringLiteral(" l=%1").arg(m.l);
    return {};
}

void arrow(QPainter& p, QPointF from, QPointF to) {
    p.drawLine(from, to);
    const QPointF d = to - from;
    const double len = std::hypot(d.x(), d.y());
    if (len < 1) return;
    const QPointF u = d / len, n(-u.y(), u.x());
    QPolygonF head;
    head << to << to - 7 * u + 3.5 * n << to - 7 * u - 3.5 * n;
    p.setBrush(p.pen().color());
    p.drawPolygon(head);
    p.setBrush(Qt::NoBrush);
}

/// A rounded box with its text word-wrapped inside, the type made smaller (down to 60 %) until the text
/// fits. Returns false when it does not fit even then.
bool drawBox(QPainter& p, const QRectF& r, const QColor& fill, const QColor& edge, const QString& text) {
    p.setPen(QPen(edge, 1.4));
    p.setBrush(fill);
    p.drawRoundedRect(r, 5, 5);
    p.setBrush(Qt::NoBrush);
    p.setPen(Qt::black);
    const QFont original = p.font();
    const QRectF inside = r.adjusted(3, 1, -3, -1);
    QFont f = original;
    bool fits = false;
    for (int i = 0; i < 6 && !fits; ++i) {
        if (i > 0) f.setPointSizeF(original.pointSizeF() * (1.0 - 0.08 * i));
        const QRectF need =
            QFontMetricsF(f).boundingRect(inside, int(Qt::AlignCenter | Qt::TextWordWrap), text);
        fits = need.width() <= inside.width() + 0.5 && need.height() <= inside.height() + 0.5;
    }
    p.setFont(f);
    p.drawText(inside, Qt::AlignCenter | Qt::TextWordWrap, text);
    p.setFont(original);
    return fits;
}

}  // namespace

BlockDiagram::BlockDiagram(QWidget* parent) : QWidget(parent) {
    setToolTip(
        tr("One transformer block of the backbone and where the spec modifies it: sequential modules sit "
           "on the path after their sublayer, parallel ones branch from the sublayer's input to its "
           "output, prefixes act inside the attention per head"));
}

void BlockDiagram::setSpec(const Spec& spec, bool preLn) {
    spec_ = spec;
    preLn_ = preLn;
    update();
}

void BlockDiagram::paintEvent(QPaintEvent*) {
    clipped_ = 0;
    QPainter p(this);
    p.setRenderHint(QPainter::Antialiasing);
    p.fillRect(rect(), palette().base());
    const double W = width(), H = height();
    const double cx = W * 0.38, bw = W * 0.46, bh = H * 0.15;
    // Every box's text fits or is counted (clippedTexts) — the tests draw every preset.
    auto box = [&](const QRectF& r, const QColor& fill, const QColor& edge, const QString& text) {
        clipped_ += !drawBox(p, r, fill, edge, text);
    };
    QFont small = font();
    small.setPointSizeF(font().pointSizeF() * 0.85);

    // Bottom to top: input, attention sublayer, ⊕, FFN sublayer, ⊕, output.
    const double yIn = H - 14, yAttn = H * 0.66, yAdd1 = H * 0.47, yFfn = H * 0.30, yAdd2 = H * 0.11,
                 yOut = 10;
    const QRectF attn(cx - bw / 2, yAttn - bh / 2, bw, bh), ffn(cx - bw / 2, yFfn - bh / 2, bw, bh);
    p.setFont(small);
    p.setPen(Qt::black);
    p.drawText(QRectF(0, yIn - 10, W, 16), Qt::AlignHCenter, tr("input x (from the previous block)"));
    p.drawText(QRectF(0, yOut - 8, W, 16), Qt::AlignHCenter, tr("output h"));

    QPen path(QColor(0x55, 0x55, 0x55), 1.3);
    p.setPen(path);
    arrow(p, {cx, yIn - 12}, {cx, attn.bottom()});
    arrow(p, {cx, attn.top()}, {cx, yAdd1 + 8});
    arrow(p, {cx, yAdd1 - 8}, {cx, ffn.bottom()});
    arrow(p, {cx, ffn.top()}, {cx, yAdd2 + 8});
    arrow(p, {cx, yAdd2 - 8}, {cx, yOut + 10});
    // Residual connections on the left.
    const double rx = cx - bw / 2 - 18;
    p.drawPolyline(QPolygonF({{cx, yIn - 20}, {rx, yIn - 20}, {rx, yAdd1}}));
    arrow(p, {rx, yAdd1}, {cx - 8, yAdd1});
    p.drawPolyline(QPolygonF({{cx, yAdd1 - 14}, {rx, yAdd1 - 14}, {rx, yAdd2}}));
    arrow(p, {rx, yAdd2}, {cx - 8, yAdd2});
    for (double y : {yAdd1, yAdd2}) {
        p.drawEllipse(QPointF(cx, y), 8, 8);
        p.drawText(QRectF(cx - 8, y - 9, 16, 16), Qt::AlignCenter, QStringLiteral("+"));
    }

    // What touches each sublayer.
    QStringList attnNotes, ffnNotes;
    const double px = cx + bw / 2 + 12;  // parallel branches on the right
    int branch = 0;
    for (const auto& m : spec_.modifications) {
        const QString label = QString::fromUtf8(toString(m.form)) + sizeText(m);
        const bool atAttn = m.site == Site::Attention || m.site == Site::HeadAttention ||
                            m.site == Site::Wq || m.site == Site::Wk || m.site == Site::Wv ||
                            m.site == Site::Wo;
        const QRectF& sub = atAttn ? attn : ffn;
        if (m.site == Site::Input) {
            box(QRectF(cx + 14, yIn - 34, W * 0.42, 20), kDelta, kDeltaEdge, label + tr(" prepended"));
            continue;
        }
        if (isWeightSite(m.site) || m.form == Form::IA3) {
            (atAttn ? attnNotes : ffnNotes) << (m.form == Form::IA3 ? tr("⊙ IA3")
                                                                    : QString::fromUtf8(siteDisplay(m.site)) +
                                                                          tr(" + LoRA") + sizeText(m));
            continue;
        }
        if (m.site == Site::HeadAttention) {
            attnNotes << tr("per head: %1 %2").arg(label, compositionMark(m));
            continue;
        }
        if (m.insertion == Insertion::Sequential) {
            // On the path, between the sublayer and its ⊕.
            const double y = sub.top() - (sub.top() - (atAttn ? yAdd1 : yAdd2)) / 2;
            box(QRectF(cx + 10, y - 10, W * 0.34, 20), kDelta, kDeltaEdge,
                tr("sequential %1 %2").arg(label, compositionMark(m)));
            continue;
        }
        // Parallel: from the sublayer's input, beside it, into its output.
        const double bx = px + branch * 6;
        QPen br(kDeltaEdge, 1.4, Qt::DashLine);
        p.setPen(br);
        p.drawPolyline(
            QPolygonF({{cx, sub.bottom() + 8}, {bx + 30, sub.bottom() + 8}, {bx + 30, sub.bottom()}}));
        box(QRectF(bx, sub.top() + 4, W - bx - 6, sub.height() - 8), kDelta, kDeltaEdge,
            tr("parallel %1").arg(label));
        p.setPen(br);
        p.drawLine(QPointF(bx + 30, sub.top()), QPointF(bx + 30, sub.top() - 10));
        arrow(p, {bx + 30, sub.top() - 10}, {cx + 3, sub.top() - 10});
        p.setPen(kDeltaEdge);
        p.drawText(QRectF(cx + 6, sub.top() - 26, 80, 14), Qt::AlignLeft, compositionMark(m));
        ++branch;
    }
    p.setFont(font());
    box(attn, kSublayer, kSublayerEdge,
        tr("multi-head attention") +
            (attnNotes.isEmpty() ? QString() : QStringLiteral("\n") + attnNotes.join(QStringLiteral("; "))));
    box(ffn, kSublayer, kSublayerEdge,
        tr("FFN") +
            (ffnNotes.isEmpty() ? QString() : QStringLiteral("\n") + ffnNotes.join(QStringLiteral("; "))));
    p.setFont(small);
    p.setPen(Qt::darkGray);
    if (spec_.train_base != TrainBase::None)
        p.drawText(QRectF(4, 4, W - 8, 16), Qt::AlignRight,
                   spec_.train_base == TrainBase::All ? tr("all weights train") : tr("biases train"));
    p.drawText(QRectF(4, H - 34, 70, 16), Qt::AlignLeft, preLn_ ? tr("pre-LN") : tr("post-LN"));
}

}  // namespace peft::ui
