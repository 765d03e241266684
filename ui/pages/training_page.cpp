#include "pages/training_page.h"

#include <QCoreApplication>
#include <QDir>
#include <QElapsedTimer>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QProgressBar>
#include <QPushButton>
#include <QScrollArea>
#include <QSettings>
#include <QSplitter>
#include <QTabWidget>
#include <QStandardPaths>
#include <QThread>
#include <QTimer>
#include <QVBoxLayout>
#include <cmath>

#include "shell/app_theme.h"
#include "common/device.h"
#include "common/error.h"
#include "plots/live_plot.h"
#include "shell/session.h"
#include "pages/student_geometry_panel.h"
#include "pages/training_form.h"
#include "plots/training_plots.h"
#include "pages/training_summary.h"
#include "jobs/training_worker.h"

namespace kd::ui {

namespace {

/// Delay that gathers the points of several reports into one redraw (at most ~25 per second).
constexpr int kCoalesceMs = 40;
/// Resolution of the progress bar.
constexpr int kProgressSteps = 1000;
/// Notes kept on screen.
constexpr int kMaxNotes = 4;
constexpr const char* kRunsRootKey = "training/runsRoot";

QString defaultRunsRoot() {
  return QDir(QStandardPaths::writableLocation(QStandardPaths::DocumentsLocation))
      .filePath(QStringLiteral("KD Studio/runs"));
}

}  // namespace

struct TrainingPage::Private {
  Session* session = nullptr;
  TrainingForm* form = nullptr;
  QLabel* banner = nullptr;
  QLabel* summary = nullptr;
  QLabel* error = nullptr;
  QLabel* device = nullptr;
  QLabel* status = nullptr;
  QLabel* result = nullptr;
  QLabel* notes = nullptr;
  QPushButton* start = nullptr;
  QPushButton* pause = nullptr;
  QPushButton* resume = nullptr;
  QPushButton* stop = nullptr;
  QProgressBar* progress = nullptr;
  TrainingPlots* plots = nullptr;
  StudentGeometryPanel* geometry = nullptr;
  QTabWidget* views = nullptr;
  QThread* thread = nullptr;
  TrainingWorker* worker = nullptr;
  QTimer* coalesce = nullptr;

  ExperimentConfig base = TrainingForm::demoDefaults();  ///< fields the form does not show
  bool running = false, paused = false, stopping = false, teacherMode = false, training = false;
  QString runDir, lastError;
  QStringList noteLines;
  int lossPoints = 0, testPoints = 0;
};

TrainingPage::TrainingPage(Session* session, QWidget* parent) : QWidget(parent), d(new Private) {
  d->session = session;
  buildUi();
  d->thread = new QThread(this);
  d->thread->setObjectName(QStringLiteral("training"));
  d->worker = new TrainingWorker;
  d->worker->moveToThread(d->thread);
  connect(d->thread, &QThread::finished, d->worker, &QObject::deleteLater);
  connect(d->worker, &TrainingWorker::prepared, this, &TrainingPage::onPrepared);
  connect(d->worker, &TrainingWorker::dataArrived, this, [this] {
    if (!d->coalesce->isActive()) d->coalesce->start();
  });
  connect(d->worker, &TrainingWorker::finished, this, &TrainingPage::onFinished);
  d->thread->start();
  d->coalesce = new QTimer(this);
  d->coalesce->setSingleShot(true);
  d->coalesce->setInterval(kCoalesceMs);
  connect(d->coalesce, &QTimer::timeout, this, &TrainingPage::flush);

  QSettings settings;
  setRunsRoot(settings.value(kRunsRootKey, defaultRunsRoot()).toString());
  for (auto signal : {&Session::teacherChanged, &Session::studentChanged, &Session::datasetChanged,
                      &Session::layersChanged, &Session::analysisChanged}) {
    connect(session, signal, this, &TrainingPage::updateSummary);
  }
  connect(d->form, &TrainingForm::changed, this, &TrainingPage::updateSummary);
  applyConfig(d->base);
  d->plots->clear(!d->running);
  updateButtons();
}

TrainingPage::~TrainingPage() {
  d->worker->setPaused(false);
  d->worker->requestStop();
  d->thread->quit();
  d->thread->wait();
  delete d;
}

void TrainingPage::buildUi() {
  d->form = new TrainingForm;
  connect(d->form, &TrainingForm::teacherModeRequested, this, &TrainingPage::setTeacherMode);
  auto* scroll = new QScrollArea;
  scroll->setWidget(d->form);
  scroll->setWidgetResizable(true);
  scroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
  scroll->setMinimumWidth(300);

  d->banner =
      new QLabel(tr("<b>Training the teacher</b>: the teacher model learns alone from "
                    "the labels (cross entropy). When it finishes, the trained file can "
                    "be loaded as the teacher."));
  d->banner->setWordWrap(true);
  d->banner->setStyleSheet(
      QStringLiteral("background: #fff3cd; color: #664d03; padding: 6px; "
                     "border-radius: 4px;"));
  d->banner->hide();
  const auto button = [this](const QString& text, const char* name, const QString& tip,
                             void (TrainingPage::*slot)()) {
    auto* b = new QPushButton(text);
    b->setObjectName(QLatin1String(name));
    b->setToolTip(tip);
    connect(b, &QPushButton::clicked, this, slot);
    return b;
  };
  d->start = button(tr("&Start"), "startButton",
                    tr("Train these settings. An unfinished run of the same settings continues "
                       "from its last checkpoint."),
                    &TrainingPage::start);
  d->pause = button(tr("&Pause"), "pauseButton", tr("Hold training before the next batch"),
                    &TrainingPage::pause);
  d->resume = button(tr("&Resume"), "resumeButton", tr("Continue a paused training"),
                     &TrainingPage::resume);
  d->stop = button(tr("S&top"), "stopButton",
                   tr("Stop after the current batch; the last epoch's checkpoint stays and Start "
                      "continues from it"),
                   &TrainingPage::stop);
  const auto label = [](const char* name, const QString& tip) {
    auto* l = new QLabel;
    l->setObjectName(QLatin1String(name));
    l->setToolTip(tip);
    l->setWordWrap(true);
    l->setTextInteractionFlags(Qt::TextSelectableByMouse);
    return l;
  };
  d->device = label("trainingDevice", tr("The device training runs on"));
  d->device->setWordWrap(false);
  d->status = label("trainingStatus", tr("What training is doing now"));
  d->result =
      label("trainingResult", tr("Test accuracy of the finished run (also in its result.json)"));
  d->result->setWordWrap(false);
  d->error = label("trainingError", tr("Why training could not start or stopped with an error"));
  styleAsError(d->error);
  d->error->hide();
  d->notes = label("trainingNotes",
                   tr("Messages from the engine (resumed runs, cached teacher targets, …)"));
  d->notes->setStyleSheet(QStringLiteral("color: gray;"));
  d->progress = new QProgressBar;
  d->progress->setRange(0, kProgressSteps);
  d->progress->setToolTip(tr("Progress over all seeds, with images per second and the time left"));
  d->summary = label("trainingSummary", tr("What Start will run: models and data come from the "
                                           "Models and Data pages, layers from the Layers page"));
  d->summary->setTextFormat(Qt::RichText);
  d->plots = new TrainingPlots;
  d->geometry = new StudentGeometryPanel;
  d->views = new QTabWidget;
  d->views->setObjectName(QStringLiteral("trainingViews"));
  d->views->addTab(d->plots, tr("Curves"));
  d->views->addTab(d->geometry, tr("Student geometry"));
  d->views->setTabToolTip(1, tr("How each distilled student layer takes on its teacher layer's "
                                "geometry, measured after every epoch (Track geometry)"));

  auto* buttons = new QHBoxLayout;
  for (QPushButton* b : {d->start, d->pause, d->resume, d->stop}) buttons->addWidget(b);
  buttons->addSpacing(12);
  buttons->addWidget(d->status, 1);
  buttons->addWidget(d->device);
  auto* resultRow = new QHBoxLayout;
  resultRow->addWidget(d->progress, 1);
  resultRow->addWidget(d->result);
  auto* right = new QWidget;
  auto* rightLayout = new QVBoxLayout(right);
  rightLayout->setContentsMargins(0, 0, 0, 0);
  rightLayout->addWidget(d->banner);
  rightLayout->addWidget(d->summary);
  rightLayout->addLayout(buttons);
  rightLayout->addLayout(resultRow);
  rightLayout->addWidget(d->error);
  rightLayout->addWidget(d->notes);
  rightLayout->addWidget(d->views, 1);
  auto* split = new QSplitter(Qt::Horizontal);
  split->addWidget(scroll);
  split->addWidget(right);
  split->setStretchFactor(1, 1);
  split->setSizes({340, 940});
  auto* layout = new QVBoxLayout(this);
  layout->addWidget(split);
}

ExperimentConfig TrainingPage::currentConfig() const {
  ExperimentConfig c = d->base;
  d->form->writeTo(c);
  const Session* s = d->session;
  if (!s->datasetSpec().isEmpty()) c.dataset = s->datasetSpec().toStdString();
  c.teacher_layers.reset();
  c.student_layers.reset();
  if (d->teacherMode) {
    c.method = Method::kStudent;
    c.student = s->teacherSpec().toStdString();
    c.teacher.clear();
    return c;
  }
  c.student = s->studentSpec().toStdString();
  c.teacher =
      method_traits(c.method).needs_teacher ? s->teacherSpec().toStdString() : std::string();
  if (!methodUsesLayers(c.method)) return c;
  // Explicit where the Layers page chose; otherwise the engine's default (Q for ours, standard).
  const QVector<int> teacher = s->teacherLayers(), student = s->studentLayers();
  if (!teacher.isEmpty()) {
    c.teacher_layers =
        LayerChoice{LayerChoice::Kind::kExplicit, {teacher.begin(), teacher.end()}, {}};
    c.num_layers = static_cast<int>(teacher.size());
  } else if (const std::vector<int> q = qualityLayersFromAnalysis(c, *s); !q.empty()) {
    // The analysis the user ran on the Layers page (the paper's sample sizes) picks the layers,
    // rather than a second, smaller one inside the run.
    c.teacher_layers = LayerChoice{LayerChoice::Kind::kExplicit, q, {}};
  }
  if (!student.isEmpty()) {
    c.student_layers =
        LayerChoice{LayerChoice::Kind::kExplicit, {student.begin(), student.end()}, {}};
    if (teacher.isEmpty()) c.num_layers = static_cast<int>(student.size());  // Q picks as many
  }
  return c;
}

void TrainingPage::applyConfig(const ExperimentConfig& config) {
  d->base = config;
  d->form->readFrom(config);
  updateSummary();
}

QString TrainingPage::runsRoot() const { return d->form->runsRoot(); }

void TrainingPage::setRunsRoot(const QString& folder) {
  d->form->setRunsRoot(folder);
  QSettings().setValue(kRunsRootKey, folder);
}

QStringList TrainingPage::problems() const {
  const Session* s = d->session;
  QStringList out;
  if (runsRoot().isEmpty()) out << tr("Choose a runs folder.");
  const ExperimentConfig c = currentConfig();
  if (d->teacherMode) {
    if (s->teacherSpec().isEmpty()) out << tr("Load or build a teacher on the Models page first.");
  } else {
    if (s->studentSpec().isEmpty()) out << tr("Load or build a student on the Models page first.");
    if (method_traits(c.method).needs_teacher && s->teacherSpec().isEmpty()) {
      out << tr("The method “%1” needs a teacher: load one on the Models page, or choose "
                "“%2”.")
                 .arg(QString::fromStdString(method_title(c.method)),
                      QString::fromStdString(method_title(Method::kStudent)));
    }
  }
  if (!out.isEmpty()) return out;
  try {
    validate_experiment(c);
  } catch (const Error& e) {
    out = QString::fromStdString(e.what()).split(QLatin1Char('\n'), Qt::SkipEmptyParts);
  }
  return out;
}

void TrainingPage::start() {
  if (d->running) return;
  const QStringList problems = this->problems();
  if (!problems.isEmpty()) {
    showError(tr("Cannot start: %1").arg(problems.join(QStringLiteral("\n"))));
    return;
  }
  d->error->hide();
  d->lastError.clear();
  d->result->clear();
  d->noteLines.clear();
  d->notes->clear();
  d->runDir.clear();
  d->lossPoints = d->testPoints = 0;
  const ExperimentConfig config = currentConfig();
  const QString root = runsRoot();
  QSettings().setValue(kRunsRootKey, root);
  d->running = true;
  d->paused = d->stopping = d->training = false;
  d->plots->clear(!d->running);
  if (!config.track_geometry) {
    d->geometry->clear(tr("Geometry tracking is off for this run (Track geometry in the form)."));
  } else if (!method_traits(config.method).feature_pairs) {
    d->geometry->clear(tr("%1 has no one-to-one feature pairs to follow: the student's geometry is "
                          "tracked for Ours, Ours+CE, Ours+KD and FitNets.")
                           .arg(QString::fromStdString(method_title(config.method))));
  } else {
    d->geometry->clear(tr("The first snapshot (before training) comes once the teacher's side of "
                          "the probe is measured."));
  }
  d->progress->setValue(0);
  d->progress->setFormat(tr("preparing…"));
  d->status->setText(tr("Preparing: opening the data and the models…"));
  d->worker->resetFlags();
  d->worker->markQueued();
  TrainingWorker* worker = d->worker;
  QMetaObject::invokeMethod(
      worker, [worker, config, root, processes = d->form->processes()] { worker->train(config, root, processes); },
      Qt::QueuedConnection);
  updateButtons();
  emit runningChanged(true);
  emit statusMessage(tr("Training started"));
}

void TrainingPage::pause() {
  if (!d->running || d->paused || d->stopping) return;
  d->paused = true;
  d->worker->setPaused(true);
  d->status->setText(tr("<b>Paused</b> — Resume continues with the next batch"));
  updateButtons();
  emit statusMessage(tr("Training paused"));
}

void TrainingPage::resume() {
  if (!d->running || !d->paused) return;
  d->paused = false;
  d->worker->setPaused(false);
  d->status->setText(d->training ? tr("Training…") : tr("Preparing…"));
  updateButtons();
  emit statusMessage(tr("Training resumed"));
}

void TrainingPage::stop() {
  if (!d->running || d->stopping) return;
  d->stopping = true;
  d->worker->requestStop();
  d->status->setText(tr("Stopping after the current batch…"));
  updateButtons();
}

bool TrainingPage::isRunning() const { return d->running; }
bool TrainingPage::isPaused() const { return d->paused; }

bool TrainingPage::waitForStopped(int timeoutMs) {
  QElapsedTimer clock;
  clock.start();
  while (d->worker->isBusy()) {
    if (clock.elapsed() > timeoutMs) return false;
    QThread::msleep(10);
  }
  // Deliver the worker's finished() now, so that the page is idle when this returns.
  QCoreApplication::sendPostedEvents(this, QEvent::MetaCall);
  return true;
}

void TrainingPage::setTeacherMode(bool on) {
  if (on == d->teacherMode) return;
  if (d->running) {  // the running experiment keeps its mode
    d->form->setTeacherMode(d->teacherMode);
    return;
  }
  d->teacherMode = on;
  d->form->setTeacherMode(on);
  d->banner->setVisible(on);
  updateSummary();
}

bool TrainingPage::teacherMode() const { return d->teacherMode; }
int TrainingPage::testAccuracyPoints() const { return d->testPoints; }
int TrainingPage::lossPoints() const { return d->lossPoints; }
QString TrainingPage::lastError() const { return d->lastError; }
QCustomPlot* TrainingPage::lossPlot() const { return d->plots->loss(); }
QCustomPlot* TrainingPage::accuracyPlot() const { return d->plots->accuracy(); }
QCustomPlot* TrainingPage::lrPlot() const { return d->plots->lr(); }

void TrainingPage::showError(const QString& message) {
  d->lastError = message;
  d->error->setText(message);
  d->error->show();
}

void TrainingPage::updateButtons() {
  d->start->setEnabled(!d->running);
  d->pause->setEnabled(d->running && !d->paused && !d->stopping);
  d->resume->setEnabled(d->running && d->paused && !d->stopping);
  d->stop->setEnabled(d->running && !d->stopping);
  d->form->setEnabled(!d->running);
}

void TrainingPage::updateSummary() {
  const Session* s = d->session;
  d->form->setStudentArchitecture(s->student() && s->student()->model
                                      ? QString::fromStdString(s->student()->model->architecture())
                                      : QString());
  d->form->setTeacherLayersByQuality(s->teacherLayers().isEmpty() && !s->analysis());
  const ExperimentConfig c = currentConfig();
  d->summary->setText(describeExperiment(c, *s, d->teacherMode));
  if (!d->running) {
    QString device;
    try {
      device = QString::fromStdString(describe_device(resolve_device(c.device)));
      if (d->form->processes() > 1) device += tr(" × %1 processes").arg(d->form->processes());
    } catch (const std::exception& e) {
      device = QString::fromStdString(e.what());
    }
    d->device->setText(tr("Device: %1").arg(device));
  }
}

void TrainingPage::onPrepared(const QString& runDir, const QString& device, const QString& plan) {
  d->runDir = runDir;
  d->training = true;
  d->device->setText(tr("Device: %1").arg(device));
  d->status->setText(d->paused ? tr("<b>Paused</b>") : tr("Training…"));
  d->notes->setToolTip(tr("Run folder: %1\n%2").arg(QDir::toNativeSeparators(runDir), plan));
  addNote(tr("Run folder %1 · %2").arg(QDir::toNativeSeparators(runDir), plan));
  emit started(runDir);
  emit statusMessage(tr("Training in %1").arg(QDir::toNativeSeparators(runDir)));
}

void TrainingPage::addNote(const QString& note) {
  d->noteLines << note;
  while (d->noteLines.size() > kMaxNotes) d->noteLines.removeFirst();
  d->notes->setText(d->noteLines.join(QLatin1Char('\n')));
}

void TrainingPage::flush() {
  const TrainingUpdate u = d->worker->takeUpdate();
  for (const QString& note : u.notes) addNote(note);
  if (u.stage && !d->paused && !d->stopping) {
    const int percent = static_cast<int>(std::lround(u.stage->second * 100));
    d->status->setText(tr("%1 %2 %").arg(u.stage->first.toHtmlEscaped()).arg(percent));
    if (!u.progress && d->lossPoints == 0) {
      d->progress->setValue(static_cast<int>(u.stage->second * kProgressSteps));
      d->progress->setFormat(tr("%1 %2 %").arg(u.stage->first).arg(percent));
    }
  }
  if (u.progress) {
    showProgress(*u.progress);
    if (!d->paused && !d->stopping) d->status->setText(tr("Training…"));
  }
  d->lossPoints += static_cast<int>(u.steps.size());
  d->testPoints += static_cast<int>(u.epochs.size());
  d->plots->add(u);
  if (u.geometryProbe) {
    d->geometry->setClassNames(classNames());
    d->geometry->setProbe(*u.geometryProbe);
  }
  for (const GeometrySnapshot& s : u.geometry) d->geometry->addSnapshot(s);
}

QStringList TrainingPage::classNames() const {
  QStringList names;
  if (const auto data = d->session->dataset()) {
    for (const std::string& n : data->class_names) names << QString::fromStdString(n);
  }
  return names;
}

StudentGeometryPanel* TrainingPage::geometryPanel() const { return d->geometry; }

void TrainingPage::showView(int index) { d->views->setCurrentIndex(index); }

void TrainingPage::showProgress(const TrainingUpdate::Progress& p) {
  const double seedFraction = static_cast<double>(p.step) / static_cast<double>(p.totalSteps);
  const double overall = (p.seedIndex + seedFraction) / std::max(1, p.seedCount);
  d->progress->setValue(static_cast<int>(std::lround(overall * kProgressSteps)));
  // Seeds still to come take as long as this one will.
  double eta = p.etaSeconds;
  const int64_t left = p.totalSteps - p.step;
  if (left > 0) eta += (p.seedCount - 1 - p.seedIndex) * p.etaSeconds / left * p.totalSteps;
  d->progress->setFormat(tr("seed %1/%2 · epoch %3/%4 · %5 img/s · ETA %6")
                             .arg(p.seedIndex + 1)
                             .arg(p.seedCount)
                             .arg(p.epoch + 1)
                             .arg(p.epochs)
                             .arg(std::lround(p.imagesPerSecond))
                             .arg(formatDuration(eta)));
}

void TrainingPage::onFinished(const TrainingOutcome& outcome) {
  flush();
  d->coalesce->stop();
  d->running = d->paused = d->stopping = d->training = false;
  if (!outcome.runDir.isEmpty()) d->runDir = outcome.runDir;
  const QString folder = QDir::toNativeSeparators(d->runDir);
  if (!outcome.error.isEmpty()) {
    d->status->setText(tr("Failed"));
    showError(
        d->runDir.isEmpty()
            ? tr("Training failed: %1").arg(outcome.error)
            : tr("Training failed: %1\nThe run folder and its last checkpoint are kept (%2): "
                 "press Start again to resume once the cause is fixed.")
                  .arg(outcome.error, folder));
    d->lastError = outcome.error;
    emit failed(outcome.error);
  } else if (outcome.complete) {
    d->progress->setValue(kProgressSteps);
    d->progress->setFormat(tr("done"));
    const auto pm = accuracyText;
    d->result->setText(tr("Test accuracy: <b>%1</b> (best epoch %2)")
                           .arg(pm(outcome.lastAccMean, outcome.lastAccStd, outcome.seeds),
                                pm(outcome.bestAccMean, outcome.bestAccStd, outcome.seeds)));
    d->status->setText(tr("Finished"));
    emit statusMessage(tr("Training finished: %1 test accuracy")
                           .arg(pm(outcome.lastAccMean, outcome.lastAccStd, outcome.seeds)));
    if (d->teacherMode && !outcome.modelPath.isEmpty()) emit teacherTrained(outcome.modelPath);
  } else {
    d->status->setText(d->runDir.isEmpty() ? tr("Stopped before training began")
                                           : tr("Stopped. Start again with the same settings to "
                                                "resume from the last checkpoint."));
    emit statusMessage(tr("Training stopped"));
  }
  updateButtons();
  updateSummary();
  emit finished(d->runDir, outcome.complete && outcome.error.isEmpty());
  emit runningChanged(false);
}

}  // namespace kd::ui
