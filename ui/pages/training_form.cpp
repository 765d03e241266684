#include "pages/training_form.h"

#include <algorithm>
#include <thread>

#include <torch/cuda.h>

#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QDoubleValidator>
#include <QFileDialog>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLineEdit>
#include <QPushButton>
#include <QSettings>
#include <QSpinBox>
#include <QToolButton>
#include <QVBoxLayout>
#include <limits>

#include "distill/method.h"
#include "experiment/experiment_setup.h"

namespace kd::ui {

namespace {

/// Parses a number typed in the C locale; nullopt when blank, NaN when not a number.
std::optional<double> optionalNumber(const QLineEdit* edit) {
  const QString text = edit->text().trimmed();
  if (text.isEmpty()) return std::nullopt;
  bool ok = false;
  const double v = text.toDouble(&ok);
  return ok ? v : std::numeric_limits<double>::quiet_NaN();
}

QString numberText(std::optional<double> v) { return v ? QString::number(*v, 'g', 12) : QString(); }

/// Selects the item whose data (or text) is `value`, adding it when missing.
void selectData(QComboBox* box, const QString& value) {
  int i = box->findData(value);
  if (i < 0) {
    box->addItem(value, value);
    i = box->count() - 1;
  }
  box->setCurrentIndex(i);
}

/// A combo box that does not widen the form to its longest entry (the popup shows it whole).
QComboBox* narrowCombo() {
  auto* box = new QComboBox;
  box->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
  box->setMinimumContentsLength(10);
  return box;
}

/// A check box with an object name (tests and the tour find it by that) and a tool tip.
QCheckBox* checkBox(const QString& text, const QString& name, const QString& tip) {
  auto* box = new QCheckBox(text);
  box->setObjectName(name);
  box->setToolTip(tip);
  return box;
}

QComboBox* choiceBox(const QStringList& values, const QString& tip) {
  QComboBox* box = narrowCombo();
  for (const QString& v : values) box->addItem(v, v);
  box->setToolTip(tip);
  return box;
}

QDoubleSpinBox* numberBox(double lo, double hi, double step, int decimals, const QString& tip) {
  auto* box = new QDoubleSpinBox;
  box->setRange(lo, hi);
  box->setSingleStep(step);
  box->setDecimals(decimals);
  box->setToolTip(tip);
  return box;
}

QSpinBox* countBox(int lo, int hi, const QString& special, const QString& tip) {
  auto* box = new QSpinBox;
  box->setRange(lo, hi);
  box->setSpecialValueText(special);
  box->setToolTip(tip);
  return box;
}

}  // namespace

ExperimentConfig TrainingForm::demoDefaults() {
  ExperimentConfig c;
  c.train_per_class = kDemoPerClass;  // the demo's budget (experiment_setup.h)
  c.epochs = kDemoEpochs;
  c.seeds = 1;
  c.analysis_per_class = 100;
  c.log_every = 5;  // smoother live curves; does not change the run's numbers
  return c;
}

TrainingForm::TrainingForm(QWidget* parent) : QWidget(parent) {
  buildMethodFields();
  buildOptimizerFields();
  buildRunFields();
  readFrom(ExperimentConfig{});
}

void TrainingForm::buildMethodFields() {
  method_ = narrowCombo();
  method_->setObjectName(QStringLiteral("method"));
  for (const Method m : all_methods()) {
    method_->addItem(QString::fromStdString(method_title(m)),
                     QString::fromStdString(method_name(m)));
    method_->setItemData(method_->count() - 1, QString::fromStdString(method_name(m)),
                         Qt::ToolTipRole);
  }
  method_->setToolTip(
      tr("How the student learns (method.md sections 4-5). “Ours”: feature loss "
         "only on the backbone, cross entropy on a separate head."));
  projector_ = choiceBox({QStringLiteral("SingleLayerConv"), QStringLiteral("ThreeLayerConv")},
                         tr("Projector from student to teacher channels: a 1x1 convolution, or "
                            "1x1-BN-ReLU-3x3-BN-ReLU-1x1 (method.md section 4)"));
  temperature_ = numberBox(0.01, 1000, 0.5, 2, tr("KD temperature T (softens both softmaxes)"));
  ceWeight_ = numberBox(0, 1000, 0.1, 3, tr("Weight of the cross entropy with the labels"));
  kdWeight_ = numberBox(0, 1000, 0.1, 3, tr("Weight of T² · KL(teacher ‖ student) on the logits"));
  featureWeight_ =
      numberBox(0, 1000, 0.1, 3, tr("Weight of the feature loss (or the SP/SemCKD loss)"));
  auto* box = new QGroupBox(tr("Method"));
  auto* form = new QFormLayout(box);
  form->addRow(tr("Method"), method_);
  form->addRow(tr("Projector"), projector_);
  form->addRow(tr("Temperature"), temperature_);
  form->addRow(tr("CE weight"), ceWeight_);
  form->addRow(tr("KD weight"), kdWeight_);
  form->addRow(tr("Feature weight"), featureWeight_);
  teacherMode_ = new QCheckBox(tr("Train the teacher (not the student)"));
  teacherMode_->setToolTip(
      tr("Train the Models page's teacher alone with cross entropy, e.g. a "
         "zoo teacher that has not been trained yet"));
  connect(teacherMode_, &QCheckBox::toggled, this, &TrainingForm::teacherModeRequested);
  auto* layout = new QVBoxLayout(this);
  layout->addWidget(teacherMode_);
  layout->addWidget(box);
  connect(method_, &QComboBox::currentIndexChanged, this, &TrainingForm::updateEnabled);
  for (QComboBox* b : {method_, projector_})
    connect(b, &QComboBox::currentIndexChanged, this, &TrainingForm::changed);
  for (QDoubleSpinBox* b : {temperature_, ceWeight_, kdWeight_, featureWeight_}) {
    connect(b, &QDoubleSpinBox::valueChanged, this, &TrainingForm::changed);
  }
}

void TrainingForm::buildOptimizerFields() {
  optimizer_ = choiceBox({QStringLiteral("adamw"), QStringLiteral("sgd")},
                         tr("AdamW (the paper's recipe) or SGD with momentum 0.9"));
  auto* validator = new QDoubleValidator(0, 1e6, 12, this);
  validator->setLocale(QLocale::c());
  lr_ = new QLineEdit;
  lr_->setValidator(validator);
  lr_->setToolTip(
      tr("Peak learning rate (one-cycle) or base rate. Blank: the student family's "
         "default (method.md section 6)"));
  weightDecay_ = new QLineEdit;
  weightDecay_->setValidator(validator);
  weightDecay_->setToolTip(tr("Weight decay. Blank: 0.01 for AdamW, 5e-4 for SGD"));
  schedule_ = choiceBox(
      {QStringLiteral("onecycle"), QStringLiteral("multistep"), QStringLiteral("constant")},
      tr("One-cycle (cosine, warm-up 30%, per batch), steps ×0.1 at 150/180/210 "
         "of 240 epochs (scaled), or constant"));
  epochs_ = countBox(1, 100000, QString(), tr("Passes over the training subset"));
  batchSize_ = countBox(1, 65536, QString(),
                        tr("Images per optimizer step (lower it when the GPU runs out of memory)"));
  seeds_ = countBox(1, 100, QString(),
                    tr("Independent runs with seeds first, first+1, …; the result "
                       "reports mean and std over them"));
  firstSeed_ = countBox(0, std::numeric_limits<int>::max(), QString(),
                        tr("Seed of the first run "
                           "(initialisation and shuffling)"));
  auto* box = new QGroupBox(tr("Optimizer"));
  auto* form = new QFormLayout(box);
  form->addRow(tr("Optimizer"), optimizer_);
  form->addRow(tr("Learning rate"), lr_);
  form->addRow(tr("Weight decay"), weightDecay_);
  form->addRow(tr("Schedule"), schedule_);
  form->addRow(tr("Epochs"), epochs_);
  form->addRow(tr("Batch size"), batchSize_);
  form->addRow(tr("Seeds"), seeds_);
  form->addRow(tr("First seed"), firstSeed_);
  layout()->addWidget(box);
  connect(optimizer_, &QComboBox::currentIndexChanged, this, &TrainingForm::updateAutoHints);
  for (QComboBox* b : {optimizer_, schedule_})
    connect(b, &QComboBox::currentIndexChanged, this, &TrainingForm::changed);
  for (QLineEdit* e : {lr_, weightDecay_})
    connect(e, &QLineEdit::textChanged, this, &TrainingForm::changed);
  for (QSpinBox* b : {epochs_, batchSize_, seeds_, firstSeed_}) {
    connect(b, &QSpinBox::valueChanged, this, &TrainingForm::changed);
  }
}

void TrainingForm::buildRunFields() {
  trainPerClass_ = countBox(0, 10000000, tr("all"),
                            tr("Training images per class (a class-balanced "
                               "subset); “all” = the whole training split"));
  testPerClass_ = countBox(0, 10000000, tr("all"),
                           tr("Test images per class for the accuracy "
                              "after each epoch; “all” = the whole test split"));
  analysisPerClass_ = countBox(0, 100000, tr("auto"),
                               tr("Images per class of sample A when the "
                                  "teacher layers are ranked by Q (method.md "
                                  "section 2); “auto” = 5000 / classes"));
  augment_ = new QCheckBox(tr("Random crop and flip"));
  augment_->setToolTip(
      tr("Random crop (padding 4) and horizontal flip; turns the teacher cache off"));
  QStringList devices = {QStringLiteral("auto"), QStringLiteral("cpu"), QStringLiteral("cuda")};
  const int gpus = static_cast<int>(torch::cuda::device_count());
  for (int i = 0; gpus > 1 && i < gpus; ++i) devices << QStringLiteral("cuda:%1").arg(i);
  device_ =
      choiceBox(devices, tr("Where to train: auto = the GPU when there is one, else the CPU"));
  processes_ = countBox(1, std::max(1, static_cast<int>(std::thread::hardware_concurrency())), QString(),
                        tr("Processes that train the run together, data-parallel (kdstudio-cli train "
                           "--nproc): each trains on its share of every batch and the gradients are "
                           "averaged; on CUDA each takes its own GPU. The cores are shared among them"));
  processes_->setObjectName(QStringLiteral("processes"));
  processes_->setValue(1);
  mixedPrecision_ = new QCheckBox(tr("bf16 on CUDA"));
  mixedPrecision_->setToolTip(
      tr("Mixed precision (bfloat16 autocast) on a CUDA device: faster, "
         "less memory"));
  cudaGraphs_ = checkBox(tr("Capture the step on CUDA"), QStringLiteral("cudaGraphs"),
                         tr("After three ordinary steps the whole training step is captured in a CUDA "
                            "graph and replayed: one launch per step instead of hundreds (docs/gpu.md). "
                            "Off: every step runs as launched"));
  cudaGraphs_->setChecked(true);
  // An application preference (on unless turned off), so that a lab's runs show the student's
  // geometry without anyone asking; a config that asks for tracking turns it on.
  trackGeometry_ = checkBox(tr("After every epoch"), QStringLiteral("trackGeometry"),
                            tr("Measure each distilled student layer on a probe sample (up to 50 images per "
                               "class) after every epoch: CKA to its teacher layer, S/I/E/Q, NCC accuracy, "
                               "and a 2-D view (Student geometry tab; geometry.jsonl in the run folder). "
                               "Does not change the numbers"));
  trackGeometry_->setChecked(QSettings().value(QStringLiteral("training/trackGeometry"), true).toBool());
  connect(trackGeometry_, &QCheckBox::toggled, this,
          [](bool on) { QSettings().setValue(QStringLiteral("training/trackGeometry"), on); });
  teacherCache_ = choiceBox({QStringLiteral("auto"), QStringLiteral("memory"),
                             QStringLiteral("disk"), QStringLiteral("off")},
                            tr("Compute the frozen teacher's targets once and reuse them every "
                               "epoch: in memory, on disk in the run folder, or not at all"));
  name_ = new QLineEdit;
  name_->setPlaceholderText(tr("the method's name"));
  name_->setToolTip(tr("Label of the run folder (<name>-<hash>)"));
  runsRoot_ = new QLineEdit;
  runsRoot_->setObjectName(QStringLiteral("runsRoot"));
  runsRoot_->setToolTip(
      tr("Folder that receives the run folders (config, checkpoints, metrics, "
         "trained students)"));
  auto* browse = new QToolButton;
  browse->setText(QStringLiteral("…"));
  browse->setToolTip(tr("Choose the runs folder"));
  connect(browse, &QToolButton::clicked, this, &TrainingForm::browseRunsRoot);
  auto* rootRow = new QHBoxLayout;
  rootRow->setContentsMargins(0, 0, 0, 0);
  rootRow->addWidget(runsRoot_, 1);
  rootRow->addWidget(browse);

  auto* data = new QGroupBox(tr("Data and execution"));
  auto* form = new QFormLayout(data);
  form->addRow(tr("Train / class"), trainPerClass_);
  form->addRow(tr("Test / class"), testPerClass_);
  form->addRow(tr("Q sample / class"), analysisPerClass_);
  form->addRow(tr("Augment"), augment_);
  form->addRow(tr("Device"), device_);
  form->addRow(tr("Processes"), processes_);
  form->addRow(tr("Mixed precision"), mixedPrecision_);
  form->addRow(tr("CUDA graphs"), cudaGraphs_);
  form->addRow(tr("Teacher cache"), teacherCache_);
  form->addRow(tr("Track geometry"), trackGeometry_);
  form->addRow(tr("Run name"), name_);
  form->addRow(tr("Runs folder"), rootRow);
  layout()->addWidget(data);
  static_cast<QVBoxLayout*>(layout())->addStretch(1);
  connect(device_, &QComboBox::currentIndexChanged, this, &TrainingForm::updateEnabled);
  connect(augment_, &QCheckBox::toggled, this, &TrainingForm::updateEnabled);
  for (QSpinBox* b : {trainPerClass_, testPerClass_, analysisPerClass_, processes_}) {
    connect(b, &QSpinBox::valueChanged, this, &TrainingForm::changed);
  }
  for (QCheckBox* b : {augment_, mixedPrecision_, cudaGraphs_, trackGeometry_})
    connect(b, &QCheckBox::toggled, this, &TrainingForm::changed);
  for (QComboBox* b : {device_, teacherCache_})
    connect(b, &QComboBox::currentIndexChanged, this, &TrainingForm::changed);
  for (QLineEdit* e : {name_, runsRoot_})
    connect(e, &QLineEdit::textChanged, this, &TrainingForm::changed);
}

int TrainingForm::processes() const { return processes_->value(); }

void TrainingForm::writeTo(ExperimentConfig& c) const {
  c.method = parse_method(method_->currentData().toString().toStdString());
  c.projector = projector_->currentData().toString().toStdString();
  c.temperature = temperature_->value();
  c.ce_weight = ceWeight_->value();
  c.kd_weight = kdWeight_->value();
  c.feature_weight = featureWeight_->value();
  c.optimizer = optimizer_->currentData().toString().toStdString();
  c.lr = optionalNumber(lr_);
  c.weight_decay = optionalNumber(weightDecay_);
  c.schedule = schedule_->currentData().toString().toStdString();
  c.epochs = epochs_->value();
  c.batch_size = batchSize_->value();
  c.seeds = seeds_->value();
  c.seed = static_cast<uint64_t>(firstSeed_->value());
  c.train_per_class = trainPerClass_->value();
  c.test_per_class = testPerClass_->value();
  c.analysis_per_class = analysisPerClass_->value();
  c.augment = augment_->isChecked();
  c.device = device_->currentData().toString().toStdString();
  c.mixed_precision = mixedPrecision_->isChecked();
  c.cuda_graphs = cudaGraphs_->isChecked();
  c.track_geometry = trackGeometry_->isChecked();
  c.teacher_cache = teacherCache_->currentData().toString().toStdString();
  c.name = name_->text().trimmed().toStdString();
}

void TrainingForm::readFrom(const ExperimentConfig& c) {
  QSignalBlocker block(this);  // one changed() at the end, not one per field
  const int m = std::max(0, method_->findData(QString::fromStdString(method_name(c.method))));
  if (inTeacherMode_) {
    methodBeforeTeacherMode_ = m;  // shown again when teacher mode ends
  } else {
    method_->setCurrentIndex(m);
  }
  selectData(projector_, QString::fromStdString(c.projector));
  temperature_->setValue(c.temperature);
  ceWeight_->setValue(c.ce_weight);
  kdWeight_->setValue(c.kd_weight);
  featureWeight_->setValue(c.feature_weight);
  selectData(optimizer_, QString::fromStdString(c.optimizer));
  lr_->setText(numberText(c.lr));
  weightDecay_->setText(numberText(c.weight_decay));
  selectData(schedule_, QString::fromStdString(c.schedule));
  epochs_->setValue(c.epochs);
  batchSize_->setValue(static_cast<int>(std::min<int64_t>(c.batch_size, batchSize_->maximum())));
  seeds_->setValue(c.seeds);
  firstSeed_->setValue(
      static_cast<int>(std::min<uint64_t>(c.seed, static_cast<uint64_t>(firstSeed_->maximum()))));
  trainPerClass_->setValue(static_cast<int>(c.train_per_class));
  testPerClass_->setValue(static_cast<int>(c.test_per_class));
  analysisPerClass_->setValue(static_cast<int>(c.analysis_per_class));
  augment_->setChecked(c.augment);
  selectData(device_, QString::fromStdString(c.device));
  mixedPrecision_->setChecked(c.mixed_precision);
  cudaGraphs_->setChecked(c.cuda_graphs);
  if (c.track_geometry) trackGeometry_->setChecked(true);
  selectData(teacherCache_, QString::fromStdString(c.teacher_cache));
  name_->setText(QString::fromStdString(c.name));
  updateEnabled();
  updateAutoHints();
  block.unblock();
  emit changed();
}

QString TrainingForm::runsRoot() const { return runsRoot_->text().trimmed(); }

void TrainingForm::setRunsRoot(const QString& folder) { runsRoot_->setText(folder); }

void TrainingForm::setStudentArchitecture(const QString& architecture) {
  studentArchitecture_ = architecture;
  updateAutoHints();
}

void TrainingForm::setTeacherLayersByQuality(bool byQuality) {
  byQuality_ = byQuality;
  updateEnabled();
}

void TrainingForm::setTeacherMode(bool on) {
  const QSignalBlocker block(teacherMode_);
  teacherMode_->setChecked(on);
  if (on == inTeacherMode_) return;
  inTeacherMode_ = on;
  if (on) {
    methodBeforeTeacherMode_ = method_->currentIndex();
    method_->setCurrentIndex(
        method_->findData(QString::fromStdString(method_name(Method::kStudent))));
  } else if (methodBeforeTeacherMode_ >= 0) {
    method_->setCurrentIndex(methodBeforeTeacherMode_);
  }
  method_->setEnabled(!on);
  updateEnabled();
}

void TrainingForm::updateEnabled() {
  const Method m = parse_method(method_->currentData().toString().toStdString());
  const MethodTraits t = method_traits(m);
  projector_->setEnabled(t.feature_pairs || t.all_pairs);
  temperature_->setEnabled(t.uses_kd);
  kdWeight_->setEnabled(t.uses_kd);
  featureWeight_->setEnabled(t.feature_pairs || t.all_pairs || m == Method::kSimilarityPreserving);
  const bool byQ = m == Method::kOurs || m == Method::kOursCE || m == Method::kOursKD;
  analysisPerClass_->setEnabled(byQ && byQuality_);
  teacherCache_->setEnabled(t.needs_teacher && !augment_->isChecked());
  mixedPrecision_->setEnabled(device_->currentData().toString() != QLatin1String("cpu"));
  cudaGraphs_->setEnabled(device_->currentData().toString() != QLatin1String("cpu"));
}

void TrainingForm::updateAutoHints() {
  const std::string optimizer = optimizer_->currentData().toString().toStdString();
  lr_->setPlaceholderText(
      studentArchitecture_.isEmpty()
          ? tr("auto (by the student's family)")
          : tr("auto (%1)").arg(default_lr(studentArchitecture_.toStdString(), optimizer)));
  weightDecay_->setPlaceholderText(tr("auto (%1)").arg(optimizer == "sgd" ? 5e-4 : 0.01));
}

void TrainingForm::browseRunsRoot() {
  const QString dir = QFileDialog::getExistingDirectory(this, tr("Runs folder"), runsRoot());
  if (!dir.isEmpty()) runsRoot_->setText(dir);
}

}  // namespace kd::ui
