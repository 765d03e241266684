#include "pages/model_panel.h"

#include <QComboBox>
#include <QDoubleSpinBox>
#include <QDragEnterEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLocale>
#include <QMimeData>
#include <QPushButton>
#include <QSpinBox>
#include <QTableView>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

#include "shell/app_theme.h"
#include "shell/guarded_call.h"
#include "table_models/layer_table_model.h"
#include "models/zoo/zoo_spec.h"

namespace kd::ui {

ModelPanel::ModelPanel(const QString& role, QWidget* parent) : QGroupBox(role, parent), role_(role) {
  setAcceptDrops(true);
  buildUi();
  watcher_ = new QFutureWatcher<Result>(this);
  connect(watcher_, &QFutureWatcher<Result>::finished, this, &ModelPanel::onFinished);
}

ModelPanel::~ModelPanel() { watcher_->waitForFinished(); }

void ModelPanel::buildUi() {
  arch_ = new QComboBox;
  for (const auto& name : zoo::zoo_architectures()) arch_->addItem(QString::fromStdString(name));
  arch_->setToolTip(tr("Built-in architecture (method.md: the paper's models)"));
  channels_ = new QSpinBox;
  channels_->setRange(1, 64);
  channels_->setToolTip(tr("Input channels: 1 for Fashion-MNIST/MNIST, 3 for colour images"));
  size_ = new QSpinBox;
  size_->setRange(8, 1024);
  size_->setToolTip(tr("Input height and width in pixels (28 for Fashion-MNIST, 32 for CIFAR)"));
  classes_ = new QSpinBox;
  classes_->setRange(2, 100000);
  classes_->setToolTip(tr("Number of classes of the classifier"));
  width_ = new QDoubleSpinBox;
  width_->setRange(0.05, 4.0);
  width_->setSingleStep(0.125);
  width_->setDecimals(3);
  width_->setToolTip(tr("Channel multiplier: smaller models train faster on a CPU"));
  build_ = new QPushButton(tr("&Build"));
  build_->setToolTip(tr("Build this zoo model with fresh weights and list its layers"));
  open_ = new QPushButton(tr("Open file…"));
  open_->setToolTip(tr("Open a TorchScript .pt or a KD Studio .kdmodel file (or drop it here)"));
  connect(build_, &QPushButton::clicked, this, [this] { loadSpec(zooSpecFromControls()); });
  connect(open_, &QPushButton::clicked, this, &ModelPanel::openFileDialog);

  auto* form = new QFormLayout;
  auto* row1 = new QHBoxLayout;
  row1->addWidget(arch_, 1);
  row1->addWidget(build_);
  row1->addWidget(open_);
  form->addRow(tr("Architecture"), row1);
  auto* row2 = new QHBoxLayout;
  row2->addWidget(new QLabel(tr("Channels")));
  row2->addWidget(channels_);
  row2->addWidget(new QLabel(tr("Size")));
  row2->addWidget(size_);
  row2->addWidget(new QLabel(tr("Classes")));
  row2->addWidget(classes_);
  row2->addWidget(new QLabel(tr("Width")));
  row2->addWidget(width_);
  row2->addStretch();
  form->addRow(tr("Options"), row2);

  summary_ = new QLabel(tr("No model loaded yet."));
  summary_->setWordWrap(true);
  summary_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  error_ = new QLabel;
  error_->setWordWrap(true);
  styleAsError(error_);
  error_->hide();

  layers_ = new LayerTableModel(this);
  table_ = new QTableView;
  table_->setModel(layers_);
  table_->setSelectionBehavior(QAbstractItemView::SelectRows);
  table_->verticalHeader()->hide();
  table_->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
  table_->horizontalHeader()->setStretchLastSection(true);
  table_->setAlternatingRowColors(true);
  table_->setToolTip(tr("The model's generalized layers (method.md section 1)"));

  auto* layout = new QVBoxLayout(this);
  layout->addLayout(form);
  layout->addWidget(summary_);
  layout->addWidget(error_);
  layout->addWidget(table_, 1);
  setZooControls(QStringLiteral("resnet9"));
}

void ModelPanel::setZooControls(const QString& spec) {
  const zoo::ZooSpec s = zoo::parse_zoo_spec(spec.toStdString());
  arch_->setCurrentText(QString::fromStdString(s.arch));
  channels_->setValue(static_cast<int>(s.channels));
  size_->setValue(static_cast<int>(s.size));
  classes_->setValue(static_cast<int>(s.classes));
  width_->setValue(s.width);
}

QString ModelPanel::zooSpecFromControls() const {
  zoo::ZooSpec s;
  s.arch = arch_->currentText().toStdString();
  s.channels = channels_->value();
  s.size = size_->value();
  s.classes = classes_->value();
  s.width = width_->value();
  return QString::fromStdString(s.to_string());
}

int ModelPanel::layerCount() const { return layers_->rowCount(); }

bool ModelPanel::isBusy() const { return watcher_->isRunning(); }

void ModelPanel::loadSpec(const QString& spec) {
  ++jobId_;
  if (watcher_->isRunning()) {  // run after the current one; its result will be stale
    pendingSpec_ = spec;
    return;
  }
  runningJob_ = jobId_;
  summary_->setText(tr("Loading %1…").arg(spec));
  const std::string s = spec.toStdString();
  watcher_->setFuture(QtConcurrent::run([s]() -> Result {
    Result r;
    r.error = runGuarded([&] { r.model = std::make_shared<LoadedModel>(load_model(s)); });
    return r;
  }));
}

void ModelPanel::onFinished() {
  const Result r = watcher_->result();
  if (!pendingSpec_.isEmpty()) {
    const QString next = pendingSpec_;
    pendingSpec_.clear();
    --jobId_;  // loadSpec increments again
    loadSpec(next);
    return;  // the finished job is stale
  }
  if (runningJob_ != jobId_) return;
  if (!r.error.isEmpty()) {
    lastError_ = r.error;
    error_->setText(tr("Could not load the %1: %2").arg(role_.toLower(), r.error));
    error_->show();
    showModel();  // the previous model stays
    emit loadFailed(r.error);
    return;
  }
  model_ = r.model;
  // A model file of a zoo architecture: show its options in the controls, so Build rebuilds it.
  const QString arch = QString::fromStdString(model_->model->architecture());
  if (runGuarded([&] { zoo::parse_zoo_spec(arch.toStdString()); }).isEmpty()) setZooControls(arch);
  lastError_.clear();
  error_->hide();
  showModel();
  emit modelLoaded(QString::fromStdString(model_->model->architecture()),
                   model_->model->num_layers());
}

void ModelPanel::showModel() {
  if (!model_) {
    summary_->setText(tr("No model loaded yet."));
    layers_->clear();
    return;
  }
  LayeredModel& m = *model_->model;
  const InputShape in = m.input_shape();
  QString text = tr("<b>%1</b> (%2) — input %3×%4×%5, %6 classes, %7 parameters, %8 generalized layers")
                     .arg(QString::fromStdString(m.architecture()).toHtmlEscaped(),
                          QString::fromUtf8(origin_name(model_->origin)))
                     .arg(in.channels)
                     .arg(in.height)
                     .arg(in.width)
                     .arg(m.num_classes())
                     .arg(compactCount(m.parameter_count()))
                     .arg(m.num_layers());
  const auto acc = model_->metadata.find("test_accuracy");
  if (acc != model_->metadata.end()) {
    bool isNumber = false;
    const double value = QString::fromStdString(acc->second).toDouble(&isNumber);
    text += tr("; test accuracy %1%").arg(isNumber ? QString::number(value, 'f', 2)
                                                   : QString::fromStdString(acc->second).toHtmlEscaped());
  } else if (model_->origin == ModelOrigin::kZoo) {
    text += tr("; fresh (untrained) weights");
  }
  if (!model_->note.empty()) text += "<br><i>" + QString::fromStdString(model_->note).toHtmlEscaped() + "</i>";
  summary_->setText(text);
  layers_->setLayers(m.layers());
}

void ModelPanel::openFileDialog() {
  const QString path = QFileDialog::getOpenFileName(
      this, tr("Open %1 model").arg(role_.toLower()), QString(),
      tr("Models (*.pt *.pth *.kdmodel *.safetensors);;All files (*)"));
  if (!path.isEmpty()) loadSpec(path);
}

void ModelPanel::dragEnterEvent(QDragEnterEvent* event) {
  if (event->mimeData()->hasUrls()) event->acceptProposedAction();
}

void ModelPanel::dropEvent(QDropEvent* event) {
  const auto urls = event->mimeData()->urls();
  if (!urls.isEmpty() && urls.first().isLocalFile()) {
    loadSpec(urls.first().toLocalFile());
    event->acceptProposedAction();
  }
}

}  // namespace kd::ui
