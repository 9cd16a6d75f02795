// SPDX-License-Identifier: GPL-3.0-or-later
#include "spec_editor.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QPushButton>
#include <QSlider>
#include <QSpinBox>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>

#include "peft/accounting.h"
#include "peft/presets.h"
#include "util/error.h"

namespace peft::ui {

namespace {

const Form kForms[] = {Form::Adapter, Form::LoRA, Form::Prefix, Form::MultiHeadRelu, Form::IA3, Form::Prompt};
const Site kSites[] = {
    Site::Attention, Site::HeadAttention, Site::FFN, Site::Wq, Site::Wk, Site::Wv, Site::Wo, Site::W1,
    Site::W2,        Site::Input};
const Insertion kInsertions[] = {Insertion::Sequential, Insertion::Parallel};
const Composition kCompositions[] = {Composition::Add,   Composition::Scaled,      Composition::LearnedScale,
                                     Composition::Gated, Composition::LearnedGate, Composition::Rescale};
const Activation kActivations[] = {Activation::ReLU, Activation::GELU, Activation::GELUTanh,
                                   Activation::SiLU, Activation::Tanh, Activation::Identity};
const AdapterNorm kNorms[] = {AdapterNorm::None, AdapterNorm::In, AdapterNorm::Out};
const Init kInits[] = {Init::Bert, Init::Lora};
const TrainBase kTrainBases[] = {TrainBase::None, TrainBase::Biases, TrainBase::All};

QString tip(Form f) {
    switch (f) {
        case Form::Adapter:
            return QObject::tr("Bottleneck adapter: Δh = f(h W_down) W_up, size r");
        case Form::LoRA:
            return QObject::tr("LoRA: Δh = s · x W_down W_up on a weight, rank r");
        case Form::Prefix:
            return QObject::tr("Prefix tuning: Δh = softmax(x W_q P_kᵀ) P_v per head, l prefix vectors");
        case Form::MultiHeadRelu:
            return QObject::tr(
                "Multi-head parallel adapter: Δh = ReLU(x W_q P_kᵀ) P_v per head (the paper's "
                "\"cross_attn_relu\")");
        case Form::IA3:
            return QObject::tr("IA3: learned rescaling l ⊙ h of keys, values or the FFN activation");
        case Form::Prompt:
            return QObject::tr("Prompt tuning: l trainable input embeddings prepended");
    }
    return {};
}

QString tip(Composition c) {
    switch (c) {
        case Composition::Add:
            return QObject::tr("h ← h + Δh");
        case Composition::Scaled:
            return QObject::tr("h ← h + s·Δh with a fixed s (the scaled parallel adapter)");
        case Composition::LearnedScale:
            return QObject::tr("h ← h + s·Δh with s trained");
        case Composition::Gated:
            return QObject::tr("h ← (1 − λ(x))·h + λ(x)·Δh, λ from the joint softmax (prefix tuning only)");
        case Composition::LearnedGate:
            return QObject::tr("h ← h + σ(x W_g + b_g)·Δh (UniPELT's gate)");
        case Composition::Rescale:
            return QObject::tr("h ← l ⊙ h (IA3)");
    }
    return {};
}

template <typename E, size_t N>
void fill(QComboBox* box, const E (&values)[N], QString (*tooltip)(E) = nullptr) {
    for (size_t i = 0; i < N; ++i) {
        box->addItem(QString::fromUtf8(toString(values[i])), int(values[i]));
        if (tooltip) box->setItemData(int(i), tooltip(values[i]), Qt::ToolTipRole);
    }
}

template <typename E>
E valueOf(const QComboBox* box) {
    return static_cast<E>(box->currentData().toInt());
}

template <typename E>
void select(QComboBox* box, E v) {
    box->setCurrentIndex(box->findData(int(v)));
}

QString layersText(const std::vector<int64_t>& layers) {
    if (layers.empty()) return QStringLiteral("all");
    QStringList parts;
    for (int64_t l : layers)
        parts << QString::number(l);
    return parts.join(QLatin1Char(','));
}

// Slider position (0–1000) ↔ stored % of the backbone on a log scale from 0.01 % to 100 %.
double sliderToPct(int v) {
    return std::pow(10.0, -2.0 + 4.0 * v / 1000.0);
}
int pctToSlider(double pct) {
    return int(std::lround((std::log10(std::clamp(pct, 0.01, 100.0)) + 2.0) / 4.0 * 1000.0));
}

}  // namespace

SpecEditor::SpecEditor(const ModelConfig& cfg, QWidget* parent) : QWidget(parent), cfg_(cfg) {
    buildUi();
}

void SpecEditor::buildUi() {
    name_ = new QLabel(this);
    QFont f = name_->font();
    f.setBold(true);
    name_->setFont(f);
    trainBase_ = new QComboBox(this);
    fill(trainBase_, kTrainBases);
    trainBase_->setToolTip(
        tr("What of the backbone itself trains: none (PEFT), its biases (BitFit), or all "
           "(full fine-tuning)"));

    mods_ = new QListWidget(this);
    mods_->setMaximumHeight(80);
    mods_->setToolTip(tr("The spec's modifications; each is one point on the four axes of the unified view"));
    auto* add = new QPushButton(tr("Add"), this);
    add->setToolTip(tr("Add a modification (a parallel adapter at the FFN)"));
    auto* remove = new QPushButton(tr("Remove"), this);
    remove->setToolTip(tr("Remove the selected modification"));

    form_ = new QComboBox(this);
    fill(
        form_, kForms, +[](Form v) { return tip(v); });
    form_->setToolTip(tr("Functional form of Δh (the paper's first dimension)"));
    site_ = new QComboBox(this);
    fill(site_, kSites);
    site_->setToolTip(
        tr("Modified representation: the sublayer output (attention, FFN), the per-head attention "
           "(head_attention), a weight matrix (W_*) or the input"));
    insertion_ = new QComboBox(this);
    fill(insertion_, kInsertions);
    insertion_->setToolTip(
        tr("Insertion form: sequential reads the sublayer's output h; parallel reads its input x"));
    composition_ = new QComboBox(this);
    fill(
        composition_, kCompositions, +[](Composition v) { return tip(v); });
    composition_->setToolTip(tr("Composition function: how Δh joins h"));
    scale_ = new QDoubleSpinBox(this);
    scale_->setRange(0.0, 1000.0);
    scale_->setDecimals(3);
    scale_->setToolTip(tr("s of a scaled composition (initial s when learned); for LoRA, s = α / r"));
    size_ = new QSpinBox(this);
    size_->setRange(0, 100000);
    size_->setToolTip(tr("r: bottleneck / rank (adapters, LoRA); l: number of prefix / prompt vectors"));
    sizeLabel_ = new QLabel(tr("r"), this);
    activation_ = new QComboBox(this);
    fill(activation_, kActivations);
    activation_->setToolTip(tr("The adapter's nonlinearity f"));
    layers_ = new QLineEdit(this);
    layers_->setToolTip(tr("Layers to modify: 'all' or indices such as 0,1,2 (0 is the lowest)"));
    stacks_ = new QWidget(this);
    stacks_->setObjectName(QStringLiteral("Stacks"));
    auto* stackRow = new QHBoxLayout(stacks_);
    stackRow->setContentsMargins(0, 0, 0, 0);
    const QString stackTips[] = {
        tr("The encoder's layers (self-attention and FFN)"),
        tr("The decoder's layers (self-attention and FFN)"),
        tr("The decoder's cross-attention over the encoder's output (attention sites)")};
    for (int i = 0; i < 3; ++i) {
        stackBoxes_[i] = new QCheckBox(QString::fromUtf8(toString(Stack(i))), stacks_);
        stackBoxes_[i]->setToolTip(stackTips[i]);
        stackRow->addWidget(stackBoxes_[i]);
    }
    stackRow->addStretch();
    norm_ = new QComboBox(this);
    fill(norm_, kNorms);
    norm_->setToolTip(tr("An adapter's own LayerNorm, on its input (Pfeiffer) or output"));
    init_ = new QComboBox(this);
    fill(init_, kInits);
    init_->setToolTip(tr("Initialisation: bert (small random both) or lora (W_up = 0, so Δh starts at 0)"));
    dropout_ = new QDoubleSpinBox(this);
    dropout_->setRange(0.0, 0.9);
    dropout_->setSingleStep(0.05);
    dropout_->setToolTip(tr("Dropout inside the adapter / LoRA"));
    prefixMlp_ = new QCheckBox(tr("prefix MLP"), this);
    prefixMlp_->setToolTip(
        tr("Li & Liang's reparameterisation: P_k, P_v come from an MLP while training; only "
           "its output is stored"));

    budget_ = new QSlider(Qt::Horizontal, this);
    budget_->setRange(0, 1000);
    budget_->setToolTip(
        tr("Budget: sizes every part (r and l together) so the stored parameters are this "
           "% of the backbone (log scale)"));
    budgetLabel_ = new QLabel(this);
    budgetLabel_->setMinimumWidth(70);
    message_ = new QLabel(this);
    message_->setWordWrap(true);
    message_->setStyleSheet(QStringLiteral("color: #c0392b;"));

    auto* form = formLayout_ = new QFormLayout;
    form->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
    form->addRow(tr("Functional form"), form_);
    form->addRow(tr("Modified repr."), site_);
    form->addRow(tr("Insertion"), insertion_);
    form->addRow(tr("Composition"), composition_);
    form->addRow(tr("s"), scale_);
    form->addRow(sizeLabel_, size_);
    form->addRow(tr("f"), activation_);
    form->addRow(tr("Layers"), layers_);
    form->addRow(tr("Stacks"), stacks_);
    form->setRowVisible(stacks_, cfg_.encoderDecoder());
    form->addRow(tr("LayerNorm"), norm_);
    form->addRow(tr("Init"), init_);
    form->addRow(tr("Dropout"), dropout_);
    form->addRow(QString(), prefixMlp_);
    auto* buttons = new QHBoxLayout;
    buttons->addWidget(add);
    buttons->addWidget(remove);
    buttons->addStretch();
    auto* budgetRow = new QHBoxLayout;
    budgetRow->addWidget(new QLabel(tr("Budget"), this));
    budgetRow->addWidget(budget_, 1);
    budgetRow->addWidget(budgetLabel_);
    auto* base = baseLayout_ = new QFormLayout;
    base->addRow(tr("Backbone trains"), trainBase_);

    auto* layout = new QVBoxLayout(this);
    layout->addWidget(name_);
    layout->addLayout(base);
    layout->addWidget(mods_);
    layout->addLayout(buttons);
    layout->addLayout(form);
    layout->addLayout(budgetRow);
    layout->addWidget(message_);
    layout->addStretch();

    connect(mods_, &QListWidget::currentRowChanged, this, &SpecEditor::showModification);
    auto changed = [this] {
        if (filling_) return;
        readControls();
        markCustom();
        revalidate();
    };
    for (QComboBox* box : {form_, site_, insertion_, composition_, activation_, norm_, init_, trainBase_})
        connect(box, qOverload<int>(&QComboBox::currentIndexChanged), this, changed);
    connect(scale_, qOverload<double>(&QDoubleSpinBox::valueChanged), this, changed);
    connect(size_, qOverload<int>(&QSpinBox::valueChanged), this, changed);
    connect(dropout_, qOverload<double>(&QDoubleSpinBox::valueChanged), this, changed);
    connect(prefixMlp_, &QCheckBox::toggled, this, changed);
    for (QCheckBox* box : stackBoxes_)
        connect(box, &QCheckBox::toggled, this, changed);
    connect(layers_, &QLineEdit::editingFinished, this, changed);
    connect(budget_, &QSlider::valueChanged, this, [this](int v) {
        if (!filling_) setBudgetPercent(sliderToPct(v));
    });
    connect(add, &QPushButton::clicked, this, [this] {
        Modification m;
        m.form = Form::Adapter;
        m.site = Site::FFN;
        m.insertion = Insertion::Parallel;
        m.r = 16;
        spec_.modifications.push_back(m);
        markCustom();
        refreshList();
        mods_->setCurrentRow(int(spec_.modifications.size()) - 1);
        revalidate();
    });
    connect(remove, &QPushButton::clicked, this, [this] {
        if (current_ < 0 || current_ >= int(spec_.modifications.size())) return;
        spec_.modifications.erase(spec_.modifications.begin() + current_);
        markCustom();
        refreshList();
        mods_->setCurrentRow(std::min(current_, int(spec_.modifications.size()) - 1));
        revalidate();
    });
}

QList<QPair<QString, QString>> SpecEditor::advancedControls() {
    return {{QStringLiteral("train_base"), tr("Backbone trains (full, BitFit)")},
            {QStringLiteral("scale"), tr("s — the scaling factor")},
            {QStringLiteral("activation"), tr("f — the activation")},
            {QStringLiteral("layers"), tr("Layers modified")},
            {QStringLiteral("layernorm"), tr("LayerNorm of the adapter")},
            {QStringLiteral("init"), tr("Initialisation")},
            {QStringLiteral("dropout"), tr("Dropout")},
            {QStringLiteral("prefix_mlp"), tr("Prefix MLP (reparametrisation)")}};
}

QStringList SpecEditor::advancedControlNames() {
    QStringList keys;
    for (const auto& [key, label] : advancedControls())
        keys << key;
    return keys;
}

void SpecEditor::setAdvancedHidden(bool hidden, const QStringList& names) {
    const std::map<QString, QWidget*> controls = {
        {QStringLiteral("scale"), scale_},         {QStringLiteral("activation"), activation_},
        {QStringLiteral("layers"), layers_},       {QStringLiteral("layernorm"), norm_},
        {QStringLiteral("init"), init_},           {QStringLiteral("dropout"), dropout_},
        {QStringLiteral("prefix_mlp"), prefixMlp_}};
    for (const auto& [name, w] : controls)
        formLayout_->setRowVisible(w, !(hidden && names.contains(name)));
    baseLayout_->setRowVisible(trainBase_, !(hidden && names.contains(QStringLiteral("train_base"))));
}

void SpecEditor::setSpec(const Spec& spec, const QString& presetId) {
    spec_ = spec;
    presetId_ = presetId;
    current_ = -1;
    refreshList();
    mods_->setCurrentRow(spec_.modifications.empty() ? -1 : 0);
    if (spec_.modifications.empty()) showModification(-1);
    revalidate();
}

void SpecEditor::setConfig(const ModelConfig& cfg) {
    cfg_ = cfg;
    formLayout_->setRowVisible(stacks_, cfg_.encoderDecoder());
    showModification(current_);
    revalidate();
}

void SpecEditor::refreshList() {
    const bool was = filling_;
    filling_ = true;
    mods_->clear();
    for (const auto& m : spec_.modifications)
        mods_->addItem(QString::fromStdString(m.label()));
    name_->setText(
        presetId_.isEmpty()
            ? tr("Custom spec")
            : tr("Preset: %1").arg(QString::fromStdString(presetById(presetId_.toStdString()).name)));
    select(trainBase_, spec_.train_base);
    filling_ = was;
}

void SpecEditor::showModification(int index) {
    current_ = index;
    const bool valid = index >= 0 && index < int(spec_.modifications.size());
    for (QWidget* w :
         std::initializer_list<QWidget*>{form_, site_, insertion_, composition_, scale_, size_, activation_,
                                         layers_, stacks_, norm_, init_, dropout_, prefixMlp_})
        w->setEnabled(valid);
    if (!valid) return;
    filling_ = true;
    const Modification& m = spec_.modifications[size_t(index)];
    select(form_, m.form);
    select(site_, m.site);
    select(insertion_, m.insertion);
    select(composition_, m.composition);
    scale_->setValue(m.scale);
    size_->setValue(int(m.size()));
    sizeLabel_->setText(m.usesL() ? tr("l") : tr("r"));
    size_->setEnabled(m.usesR() || m.usesL());
    scale_->setEnabled(m.composition == Composition::Scaled || m.composition == Composition::LearnedScale ||
                       m.form == Form::LoRA);
    select(activation_, m.activation);
    activation_->setEnabled(m.form == Form::Adapter);
    layers_->setText(layersText(m.layers));
    // No list: every stack where the site exists.
    for (int i = 0; i < 3; ++i) {
        const Stack st = Stack(i);
        const bool exists = siteInStack(m.site, st);
        stackBoxes_[i]->setEnabled(exists);
        stackBoxes_[i]->setChecked(exists && (m.stacks.empty() || std::find(m.stacks.begin(), m.stacks.end(),
                                                                            st) != m.stacks.end()));
    }
    select(norm_, m.layernorm);
    norm_->setEnabled(m.form == Form::Adapter);
    select(init_, m.init);
    init_->setEnabled(m.form == Form::Adapter || m.form == Form::LoRA);
    dropout_->setValue(m.dropout);
    dropout_->setEnabled(m.form == Form::Adapter || m.form == Form::LoRA);
    prefixMlp_->setChecked(m.prefix_mlp);
    prefixMlp_->setEnabled(m.form == Form::Prefix);
    filling_ = false;
}

void SpecEditor::readControls() {
    spec_.train_base = valueOf<TrainBase>(trainBase_);
    if (current_ < 0 || current_ >= int(spec_.modifications.size())) return;
    Modification& m = spec_.modifications[size_t(current_)];
    const int64_t oldSize = m.size();
    const Form oldForm = m.form;
    m.form = valueOf<Form>(form_);
    m.site = valueOf<Site>(site_);
    m.insertion = valueOf<Insertion>(insertion_);
    m.composition = valueOf<Composition>(composition_);
    m.scale = scale_->value();
    m.activation = valueOf<Activation>(activation_);
    m.layernorm = valueOf<AdapterNorm>(norm_);
    m.init = valueOf<Init>(init_);
    m.dropout = dropout_->value();
    m.prefix_mlp = prefixMlp_->isChecked() && m.form == Form::Prefix;
    // A size carries over between r and l when the form changes; forms without a size have none.
    m.r = m.l = 0;
    m.setSize(m.form == oldForm ? int64_t(size_->value()) : std::max<int64_t>(oldSize, 8));
    m.name.clear();
    // The stacks ticked, or none listed when they are every one where the site exists.
    m.stacks.clear();
    if (cfg_.encoderDecoder()) {
        bool all = true;
        for (int i = 0; i < 3; ++i) {
            const bool on = stackBoxes_[i]->isChecked() && siteInStack(m.site, Stack(i));
            if (on) m.stacks.push_back(Stack(i));
            all = all && on == siteInStack(m.site, Stack(i));
        }
        if (all) m.stacks.clear();
    }
    m.layers.clear();
    const QString text = layers_->text().trimmed();
    if (!text.isEmpty() && text != QLatin1String("all"))
        for (const QString& part : text.split(QLatin1Char(','), Qt::SkipEmptyParts)) {
            bool ok = false;
            const int v = part.trimmed().toInt(&ok);
            m.layers.push_back(ok ? v : -1);  // -1: the validator names it
        }
    showModification(current_);  // enables what the new form uses
    if (QListWidgetItem* item = mods_->item(current_)) item->setText(QString::fromStdString(m.label()));
}

void SpecEditor::markCustom() {
    if (presetId_.isEmpty()) return;
    presetId_.clear();
    spec_.name = "custom";
    name_->setText(tr("Custom spec"));
}

void SpecEditor::setBudgetPercent(double pct) {
    try {
        const BudgetResult b = solveBudget(spec_, cfg_, pct);
        const QString keep = presetId_;
        spec_ = b.spec;
        presetId_ = keep;  // a preset at another budget is still that preset
        const int row = current_;
        refreshList();
        mods_->setCurrentRow(row);
        showModification(row);
        revalidate();
    } catch (const Error& e) {
        message_->setText(QString::fromUtf8(e.what()));
    }
}

void SpecEditor::revalidate() {
    if (errorControl_) errorControl_->setStyleSheet(QString());
    errorControl_ = nullptr;
    try {
        validate(spec_, cfg_);
        error_.clear();
        message_->clear();
    } catch (const Error& e) {
        error_ = QString::fromUtf8(e.what());
        message_->setText(error_);
        // Point at the control the validator names: modifications[i].field.
        const QString where = QString::fromStdString(e.where());
        const int open = where.indexOf(QLatin1Char('[')), close = where.indexOf(QLatin1Char(']'));
        if (open >= 0 && close > open) {
            const int index = where.mid(open + 1, close - open - 1).toInt();
            if (index != current_ && index < mods_->count()) mods_->setCurrentRow(index);
        }
        const QString field = where.section(QLatin1Char('.'), -1).section(QLatin1Char('['), 0, 0);
        const std::map<QString, QWidget*> controls = {{QStringLiteral("form"), form_},
                                                      {QStringLiteral("site"), site_},
                                                      {QStringLiteral("insertion"), insertion_},
                                                      {QStringLiteral("composition"), composition_},
                                                      {QStringLiteral("scale"), scale_},
                                                      {QStringLiteral("r"), size_},
                                                      {QStringLiteral("l"), size_},
                                                      {QStringLiteral("layers"), layers_},
                                                      {QStringLiteral("stacks"), stacks_},
                                                      {QStringLiteral("layernorm"), norm_},
                                                      {QStringLiteral("activation"), activation_},
                                                      {QStringLiteral("dropout"), dropout_},
                                                      {QStringLiteral("init"), init_},
                                                      {QStringLiteral("prefix_mlp"), prefixMlp_}};
        auto it = controls.find(field);
        if (it != controls.end()) {
            errorControl_ = it->second;
            errorControl_->setStyleSheet(QStringLiteral("border: 2px solid #c0392b;"));
        }
    }
    // The budget slider follows the spec's stored share.
    if (error_.isEmpty()) {
        const ParamReport rep = countParams(spec_, cfg_);
        const bool was = filling_;
        filling_ = true;
        budget_->setValue(pctToSlider(rep.storedPct()));
        filling_ = was;
        budgetLabel_->setText(QStringLiteral("%1 %").arg(rep.storedPct(), 0, 'g', 3));
    }
    Q_EMIT specChanged();
}

}  // namespace peft::ui
