#include "pages/layers_page.h"

#include <QComboBox>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QFutureWatcher>
#include <QHBoxLayout>
#include <QLabel>
#include <QPointer>
#include <QProgressBar>
#include <QPushButton>
#include <QSpinBox>
#include <QSplitter>
#include <QTabWidget>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>
#include <functional>

#include "shell/app_theme.h"
#include "plots/cka_heatmap.h"
#include "plots/depth_profile_plot.h"
#include "distill/standard_layers.h"
#include "shell/guarded_call.h"
#include "jobs/layer_jobs.h"
#include "plots/layer_mapping_view.h"
#include "table_models/layer_scores_table.h"
#include "plots/plot_style.h"
#include "jobs/progress_bridge.h"
#include "plots/quality_plot.h"
#include "shell/session.h"

namespace kd::ui {

namespace {

using JobResult = LayerJobResult;
using Work = std::function<JobResult(ProgressBridge*)>;

// Progress bar resolution (steps from 0 to 1).
constexpr int kProgressSteps = 1000;

QVector<int> toggled(QVector<int> layers, int layer) {
  if (layers.contains(layer)) {
    layers.removeAll(layer);
  } else {
    layers << layer;
  }
  return layers;
}

/// A student file named for the legend: a run's seed-N/student.kdmodel as RUN/seed-N, any
/// other file by its name.
QString studentFileLabel(const QString& path) {
  const QFileInfo file(path);
  const QDir seed = file.dir();
  if (seed.dirName().startsWith(QLatin1String("seed-"))) {
    QDir run = seed;
    run.cdUp();
    return run.dirName() + QLatin1Char('/') + seed.dirName();
  }
  return file.fileName();
}

}  // namespace

struct LayersPage::Private {
  enum class Job { kNone, kAnalysis, kCka, kStudent };

  LayersPage* q = nullptr;
  QPointer<Session> session;
  QPushButton* analyse = nullptr;
  QSpinBox* perClass = nullptr;
  QPushButton* recommend = nullptr;
  QPushButton* cka = nullptr;
  QSpinBox* ckaPerClass = nullptr;
  QPushButton* study = nullptr;
  QProgressBar* progress = nullptr;
  QPushButton* cancel = nullptr;
  QLabel* status = nullptr;
  QLabel* summary = nullptr;
  QLabel* error = nullptr;
  QLabel* pairing = nullptr;
  QualityPlot* plot = nullptr;
  LayerScoresTable* table = nullptr;
  LayerMappingView* mapping = nullptr;
  CkaHeatmap* heatmap = nullptr;
  QTabWidget* plotTabs = nullptr;
  DepthProfilePlot* depth = nullptr;
  QComboBox* depthSeries = nullptr;
  QPushButton* analyseStudent = nullptr;
  QPushButton* studentFile = nullptr;
  std::shared_ptr<const AnalysisResult> studentAnalysis;
  QString studentLabel;

  Job running = Job::kNone;
  int jobId = 0;  // id of the job whose result is wanted; older results are dropped
  std::shared_ptr<ProgressBridge> bridge;
  QList<QFutureWatcher<JobResult>*> watchers;
  QString lastError;
  QString analysisSummary;  // rich text describing the analysis drawn, empty when none

  void buildUi();
  void startJob(Job kind, Work work);
  void finished(Job kind, const JobResult& r);
  void dropJob(const QString& why);
  void inputsChanged(bool teacherOrData);
  void showModels();
  void analysisChanged();
  void drawDepth();
  void refreshSelection();
  void updateButtons();
  void updateSummary();
  void showError(const QString& message);
  void setStatus(const QString& text);
};

void LayersPage::Private::buildUi() {
  analyse = new QPushButton(tr("&Analyse teacher"));
  analyse->setToolTip(tr("Compute S, I, E and Q for every layer of the teacher on the training "
                         "data, in the background (read from the cache when done before)"));
  perClass = new QSpinBox;
  perClass->setRange(0, 5000);
  perClass->setSpecialValueText(tr("default"));
  perClass->setToolTip(tr("Samples per class for samples A and B; “default” uses the paper's "
                          "sizes (A = 5000 / classes, B = min(500, N / classes) per class)"));
  recommend = new QPushButton(tr("Use &recommended"));
  recommend->setToolTip(tr("Choose the recommended teacher layers (highest Q) and as many of the "
                           "student's standard layers"));
  cka = new QPushButton(tr("Compute &CKA"));
  cka->setToolTip(tr("Linear CKA between every teacher layer and every student layer, in the "
                     "background"));
  ckaPerClass = new QSpinBox;
  ckaPerClass->setRange(2, 1000);
  ckaPerClass->setValue(50);
  ckaPerClass->setToolTip(tr("Samples per class for the CKA map"));
  study = new QPushButton(tr("Layer &study\u2026"));
  study->setObjectName(QStringLiteral("layerStudyButton"));
  study->setToolTip(tr("Does Q pick the right layers on your data? Train the Training page's "
                       "experiment with the Q layers, the standard ones, the S, I and E choices "
                       "and random sets, several seeds each, and relate accuracy to Q "
                       "(Experiments page, Sweeps tab)"));
  QObject::connect(study, &QPushButton::clicked, q, &LayersPage::layerStudyRequested);
  progress = new QProgressBar;
  progress->setRange(0, kProgressSteps);
  progress->setValue(0);
  progress->setToolTip(tr("Progress of the running analysis or CKA map"));
  cancel = new QPushButton(tr("Cancel"));
  cancel->setToolTip(tr("Stop the running job; the results shown before stay"));
  status = new QLabel;
  status->setToolTip(tr("What the running job is doing"));
  summary = new QLabel;
  summary->setWordWrap(true);
  summary->setToolTip(tr("The analysis shown"));
  error = new QLabel;
  error->setWordWrap(true);
  styleAsError(error);
  error->setTextInteractionFlags(Qt::TextSelectableByMouse);
  error->hide();
  pairing = new QLabel;
  pairing->setWordWrap(true);
  pairing->setToolTip(tr("How the chosen teacher and student layers are paired"));

  plot = new QualityPlot;
  depth = new DepthProfilePlot;
  depthSeries = new QComboBox;
  depthSeries->setObjectName(QStringLiteral("depthSeries"));
  for (int s = 0; s < QualityPlot::kSeriesCount; ++s) {
    depthSeries->addItem(QualityPlot::seriesName(static_cast<QualityPlot::Series>(s)));
  }
  depthSeries->setCurrentIndex(QualityPlot::kQuality);
  depthSeries->setToolTip(tr("The score drawn for the teacher's and the student's layers"));
  analyseStudent = new QPushButton(tr("Analyse &student"));
  analyseStudent->setToolTip(tr("Analyse the student loaded on the Models page as the teacher is "
                                "analysed (useful for a trained student loaded from a file)"));
  studentFile = new QPushButton(tr("Student &file…"));
  studentFile->setToolTip(tr("Analyse a trained student from a file, e.g. a finished run's "
                             "seed-*/student.kdmodel, beside the teacher"));
  QObject::connect(depthSeries, &QComboBox::currentIndexChanged, q, [this] { drawDepth(); });
  QObject::connect(analyseStudent, &QPushButton::clicked, q, [this] { q->analyseStudent(); });
  QObject::connect(studentFile, &QPushButton::clicked, q, [this] {
    const QString file = QFileDialog::getOpenFileName(q, tr("Trained student"), QString(),
                                                      tr("Models (*.kdmodel *.safetensors *.pt);;All files (*)"));
    if (!file.isEmpty()) q->analyseStudent(file);
  });
  auto* depthControls = new QHBoxLayout;
  depthControls->addWidget(analyseStudent);
  depthControls->addWidget(studentFile);
  depthControls->addStretch();
  depthControls->addWidget(new QLabel(tr("Score")));
  depthControls->addWidget(depthSeries);
  auto* depthBox = new QWidget;
  auto* depthLayout = new QVBoxLayout(depthBox);
  depthLayout->setContentsMargins(0, 0, 0, 0);
  depthLayout->addLayout(depthControls);
  depthLayout->addWidget(depth, 1);
  table = new LayerScoresTable;
  mapping = new LayerMappingView;
  heatmap = new CkaHeatmap;
  applyPlotTheme(plot);
  applyPlotTheme(heatmap);
  addPlotInteractions(plot, QStringLiteral("knowledge-quality"));
  addPlotInteractions(heatmap, QStringLiteral("cka-map"));

  auto* top = new QHBoxLayout;
  top->addWidget(analyse);
  auto* perClassLabel = new QLabel(tr("Samples per class"));
  perClassLabel->setBuddy(perClass);
  top->addWidget(perClassLabel);
  top->addWidget(perClass);
  top->addWidget(recommend);
  top->addSpacing(16);
  top->addWidget(cka);
  auto* ckaLabel = new QLabel(tr("per class"));
  ckaLabel->setBuddy(ckaPerClass);
  top->addWidget(ckaLabel);
  top->addWidget(ckaPerClass);
  top->addSpacing(16);
  top->addWidget(study);
  top->addSpacing(16);
  top->addWidget(progress, 1);
  top->addWidget(cancel);

  auto* left = new QSplitter(Qt::Vertical);
  plotTabs = new QTabWidget;
  plotTabs->setObjectName(QStringLiteral("layerPlots"));
  plotTabs->addTab(plot, tr("Teacher"));
  plotTabs->addTab(depthBox, tr("Student beside teacher"));
  plotTabs->setTabToolTip(1, tr("S, I, E or Q of a trained student's layers beside the teacher's, "
                                "over relative depth: where the student lags its teacher"));
  left->addWidget(plotTabs);
  left->addWidget(table);
  left->setStretchFactor(0, 3);
  left->setStretchFactor(1, 2);
  left->setSizes({440, 260});
  auto* mappingBox = new QWidget;
  auto* mappingLayout = new QVBoxLayout(mappingBox);
  mappingLayout->setContentsMargins(0, 0, 0, 0);
  mappingLayout->addWidget(mapping);
  mappingLayout->addWidget(pairing);
  auto* right = new QSplitter(Qt::Vertical);
  right->addWidget(mappingBox);
  right->addWidget(heatmap);
  right->setStretchFactor(0, 1);
  right->setStretchFactor(1, 3);
  right->setSizes({210, 490});
  auto* split = new QSplitter(Qt::Horizontal);
  split->addWidget(left);
  split->addWidget(right);
  split->setStretchFactor(0, 3);
  split->setStretchFactor(1, 2);
  split->setSizes({740, 520});

  auto* layout = new QVBoxLayout(q);
  layout->addLayout(top);
  layout->addWidget(status);
  layout->addWidget(summary);
  layout->addWidget(error);
  layout->addWidget(split, 1);
}

void LayersPage::Private::setStatus(const QString& text) {
  status->setText(text);
  emit q->statusMessage(text);
}

void LayersPage::Private::showError(const QString& message) {
  lastError = message;
  error->setText(message);
  error->show();
  emit q->failed(message);
}

void LayersPage::Private::updateSummary() {
  if (!analysisSummary.isEmpty()) {
    summary->setText(plot->isStale() ? tr("<i>Out of date:</i> %1").arg(analysisSummary) : analysisSummary);
  } else if (!session->teacher()) {
    summary->setText(tr("Load a teacher on the Models page to analyse its layers."));
  } else if (!session->dataset()) {
    summary->setText(tr("Load a dataset on the Data page to analyse the teacher on it."));
  } else {
    summary->setText(tr("Ready: click “Analyse teacher” (a few seconds with a small “Samples per "
                        "class”, minutes with the paper's default sizes)."));
  }
}

void LayersPage::Private::updateButtons() {
  const bool busy = running != Job::kNone;
  const bool haveInputs = session && session->teacher() && session->dataset();
  analyse->setEnabled(!busy && haveInputs);
  cka->setEnabled(!busy && haveInputs && session->student());
  recommend->setEnabled(session && session->analysis() && !session->analysis()->recommended.empty());
  cancel->setEnabled(busy);
  study->setEnabled(haveInputs && session->student());
  analyseStudent->setEnabled(!busy && session && session->student() && session->dataset());
  studentFile->setEnabled(!busy && session && session->dataset());
}

void LayersPage::Private::startJob(Job kind, Work work) {
  const int id = ++jobId;
  running = kind;
  bridge = std::make_shared<ProgressBridge>();
  auto b = bridge;
  connect(b.get(), &ProgressBridge::progressed, q, [this, id](double f, const QString& message) {
    if (id != jobId) return;
    progress->setValue(qRound(f * kProgressSteps));
    setStatus(message);
  });
  auto* watcher = new QFutureWatcher<JobResult>(q);
  watchers << watcher;
  // The bridge is captured here too so that its last owner lets go on the GUI thread.
  connect(watcher, &QFutureWatcherBase::finished, q, [this, watcher, id, kind, b] {
    watchers.removeOne(watcher);
    watcher->deleteLater();
    if (id != jobId) return;  // the teacher, student or data changed meanwhile: stale
    running = Job::kNone;
    bridge.reset();
    updateButtons();
    finished(kind, watcher->result());
  });
  progress->setValue(0);
  watcher->setFuture(QtConcurrent::run([work = std::move(work), b] { return work(b.get()); }));
  updateButtons();
}

void LayersPage::Private::finished(Job kind, const JobResult& r) {
  if (kind == Job::kStudent) {
    progress->setValue(r.error.isEmpty() && !r.cancelled ? kProgressSteps : 0);
    if (r.cancelled) return setStatus(tr("Student analysis cancelled."));
    if (!r.error.isEmpty()) {
      setStatus({});
      return showError(tr("The student analysis failed: %1").arg(r.error));
    }
    lastError.clear();
    error->hide();
    studentAnalysis = r.analysis;
    drawDepth();
    setStatus(tr("Student analysed: %1 layers.").arg(r.analysis->layers.size()));
    emit q->studentAnalysisFinished();
    return;
  }
  const bool analysis = kind == Job::kAnalysis;
  if (r.cancelled) {
    progress->setValue(0);
    setStatus(analysis ? tr("Analysis cancelled; the results shown before are kept.")
                       : tr("CKA cancelled; the map shown before is kept."));
    return;
  }
  if (!r.error.isEmpty()) {
    progress->setValue(0);
    setStatus({});
    showError((analysis ? tr("The layer analysis failed: %1. The results shown before are kept.")
                        : tr("The CKA map failed: %1. The map shown before is kept."))
                  .arg(r.error));
    return;
  }
  lastError.clear();
  error->hide();
  progress->setValue(kProgressSteps);
  if (analysis) {
    session->setAnalysis(r.analysis);  // draws through analysisChanged
    QString done = r.analysis->from_cache ? tr("Analysis read from the cache.")
                                          : tr("Analysis done in %1 s.").arg(r.analysis->seconds, 0, 'f', 1);
    const int layers = static_cast<int>(r.analysis->layers.size());
    if (layers < r.analysis->settings.top_k) {
      done += QLatin1Char(' ') + tr("The teacher has only %n generalized layer(s), so all of them are "
                                    "recommended (%1 asked).", nullptr, layers)
                                     .arg(r.analysis->settings.top_k);
    }
    setStatus(done);
    emit q->analysisFinished();
  } else {
    heatmap->setMatrix(r.cka);
    refreshSelection();
    setStatus(tr("CKA map done: %1 teacher x %2 student layers.").arg(heatmap->rows()).arg(heatmap->columns()));
    emit q->ckaFinished();
  }
}

void LayersPage::Private::dropJob(const QString& why) {
  if (running == Job::kNone) return;
  bridge->cancel();  // it stops soon; its result is dropped by the id
  ++jobId;
  running = Job::kNone;
  bridge.reset();
  progress->setValue(0);
  setStatus(why);
}

void LayersPage::Private::inputsChanged(bool teacherOrData) {
  if (running == Job::kAnalysis && teacherOrData) dropJob(tr("Analysis stopped: its inputs changed."));
  if (running == Job::kCka) dropJob(tr("CKA stopped: its inputs changed."));
  if (running == Job::kStudent) dropJob(tr("Student analysis stopped: its inputs changed."));
  if (teacherOrData && studentAnalysis) {
    studentAnalysis.reset();  // measured on data that may have changed
    drawDepth();
  }
  showModels();
  if (heatmap->cellCount() > 0) {
    heatmap->setStale(tr("The models or the data changed since this map was computed:\nclick "
                         "“Compute CKA” to update it."));
  }
  if (teacherOrData && !session->analysis()) {
    if (plot->layerCount() > 0) {
      plot->setStale(tr("The teacher or the data changed since these curves were computed: "
                        "click “Analyse teacher” to update them."));
    }
    table->setEnabled(false);
    mapping->setRecommended({});
  }
  refreshSelection();
  updateButtons();
  updateSummary();
}

void LayersPage::Private::drawDepth() {
  const auto teacher = session ? session->analysis() : nullptr;
  const QString teacherLabel =
      teacher ? tr("teacher %1").arg(QString::fromStdString(teacher->model)) : tr("teacher");
  depth->setProfiles(teacher.get(), studentAnalysis.get(),
                     static_cast<QualityPlot::Series>(depthSeries->currentIndex()), teacherLabel,
                     studentAnalysis ? studentLabel : tr("student"));
  if (!teacher) {
    depth->setHint(tr("Analyse the teacher first (Analyse teacher)."));
  } else if (!studentAnalysis) {
    depth->setHint(tr("Analyse a trained student: “Student file…” (a finished run's "
                      "seed-*/student.kdmodel) or “Analyse student”."));
  } else {
    depth->setHint({});
  }
}

void LayersPage::Private::showModels() {
  const auto teacher = session->teacher(), student = session->student();
  mapping->setTeacherLayers(teacher ? teacher->model->layers() : std::vector<LayerInfo>{});
  mapping->setStudentLayers(student ? student->model->layers() : std::vector<LayerInfo>{});
}

void LayersPage::Private::analysisChanged() {
  drawDepth();
  const auto a = session->analysis();
  if (a) {
    plot->setAnalysis(*a);
    table->setAnalysis(*a);
    mapping->setRecommended(QVector<int>(a->recommended.begin(), a->recommended.end()));
    analysisSummary = (tr("<b>%1</b> on %2: %3 layers; samples A %4 and B %5 of %6; %7%8")
                         .arg(QString::fromStdString(a->model).toHtmlEscaped(),
                              QString::fromStdString(a->dataset).toHtmlEscaped())
                         .arg(a->layers.size())
                         .arg(a->sample_a)
                         .arg(a->sample_b)
                         .arg(a->n_train)
                         .arg(QString::fromStdString(a->device).toHtmlEscaped(),
                              a->from_cache ? tr(" — from the cache") : QString()));
    updateSummary();
  } else {
    inputsChanged(true);
  }
  refreshSelection();
  updateButtons();
}

void LayersPage::Private::refreshSelection() {
  const QVector<int> t = session ? session->teacherLayers() : QVector<int>{};
  const QVector<int> s = session ? session->studentLayers() : QVector<int>{};
  if (!plot->isStale()) plot->setSelectedLayers(t);
  table->setSelectedLayers(t);
  mapping->setSelection(t, s);
  heatmap->setPairs(t, s);
  QString text;
  if (t.isEmpty()) {
    text = tr("No teacher layers chosen: the paper's method trains at the top layers by Q of "
              "this analysis, the other methods at their standard layers. Click layers on the "
              "curves or the boxes above, or “Use recommended”.");
  } else if (s.isEmpty()) {
    text = tr("%n teacher layer(s) chosen; no student layers: the method chooses them "
              "(its standard layers). Click student boxes to choose.", "", static_cast<int>(t.size()));
  } else if (t.size() != s.size()) {
    text = tr("<span style='color:%3'>%1 teacher and %2 student layers are chosen: most "
              "methods pair them one to one and need equal counts (fitnets_all and semckd use "
              "all pairs).</span>")
               .arg(t.size())
               .arg(s.size())
               .arg(warningColor(pairing->palette()).name());
  } else {
    text = tr("%n teacher-student pair(s), linked in order.", "", static_cast<int>(t.size()));
  }
  pairing->setText(text);
}

LayersPage::LayersPage(Session* session, QWidget* parent) : QWidget(parent), d(new Private) {
  d->q = this;
  d->session = session;
  d->buildUi();
  connect(d->analyse, &QPushButton::clicked, this, [this] { runAnalysis(); });
  connect(d->recommend, &QPushButton::clicked, this, &LayersPage::takeRecommendation);
  connect(d->cka, &QPushButton::clicked, this, [this] { runCka(); });
  connect(d->cancel, &QPushButton::clicked, this, &LayersPage::cancel);
  connect(d->plot, &QualityPlot::layerClicked, this, &LayersPage::toggleTeacherLayer);
  connect(d->table, &LayerScoresTable::layerToggled, this, &LayersPage::toggleTeacherLayer);
  connect(d->mapping, &LayerMappingView::teacherLayerClicked, this, &LayersPage::toggleTeacherLayer);
  connect(d->mapping, &LayerMappingView::studentLayerClicked, this, &LayersPage::toggleStudentLayer);
  connect(session, &Session::teacherChanged, this, [this] { d->inputsChanged(true); });
  connect(session, &Session::datasetChanged, this, [this] { d->inputsChanged(true); });
  connect(session, &Session::studentChanged, this, [this] { d->inputsChanged(false); });
  connect(session, &Session::analysisChanged, this, [this] { d->analysisChanged(); });
  connect(session, &Session::layersChanged, this, [this] { d->refreshSelection(); });
  d->showModels();
  if (session->analysis()) d->analysisChanged();
  d->refreshSelection();
  d->updateButtons();
  d->updateSummary();
}

LayersPage::~LayersPage() {
  if (d->session) disconnect(d->session, nullptr, this, nullptr);
  if (d->bridge) d->bridge->cancel();
  for (auto* watcher : d->watchers) watcher->waitForFinished();
  delete d;
  d = nullptr;
}

void LayersPage::runAnalysis(int perClass) {
  if (isBusy()) return;
  const auto teacher = d->session->teacher();
  const auto data = d->session->dataset();
  if (!teacher || !data) {
    d->showError(!teacher ? tr("No teacher is loaded: open one on the Models page first.")
                          : tr("No dataset is loaded: open one on the Data page first."));
    return;
  }
  if (teacher->model->num_layers() == 0) {
    d->showError(tr("The teacher has no generalized layers, so there is nothing to analyse: %1")
                     .arg(QString::fromStdString(teacher->note)));
    return;
  }
  if (perClass > 0) d->perClass->setValue(perClass);
  AnalysisSettings settings;
  settings.per_class_a = settings.per_class_b = d->perClass->value();
  settings.device = "auto";
  d->setStatus(tr("Analysing %1…").arg(QString::fromStdString(teacher->model->architecture())));
  d->startJob(Private::Job::kAnalysis, [teacher, data, settings](ProgressBridge* bridge) {
    return analyseTeacher(teacher, data, settings, bridge);
  });
}

void LayersPage::runCka(int perClass) {
  if (isBusy()) return;
  const auto teacher = d->session->teacher();
  const auto student = d->session->student();
  const auto data = d->session->dataset();
  if (!teacher || !student || !data) {
    d->showError(!data ? tr("No dataset is loaded: open one on the Data page first.")
                       : tr("The CKA map needs a teacher and a student: load both on the Models page."));
    return;
  }
  if (perClass > 0) d->ckaPerClass->setValue(perClass);
  CkaSettings settings;
  settings.per_class = d->ckaPerClass->value();
  settings.device = "auto";
  d->setStatus(tr("Computing the CKA map…"));
  d->startJob(Private::Job::kCka, [teacher, student, data, settings](ProgressBridge* bridge) {
    return computeCka(teacher, student, data, settings, bridge);
  });
}

void LayersPage::analyseStudent(const QString& studentFile) {
  if (isBusy()) return;
  const auto data = d->session->dataset();
  std::shared_ptr<LoadedModel> loaded = studentFile.isEmpty() ? d->session->student() : nullptr;
  if (!data || (studentFile.isEmpty() && !loaded)) {
    d->showError(!data ? tr("No dataset is loaded: open one on the Data page first.")
                       : tr("No student is loaded: open one on the Models page, or choose a file."));
    return;
  }
  d->studentLabel = studentFile.isEmpty()
                        ? tr("student %1").arg(QString::fromStdString(loaded->model->architecture()))
                        : tr("student %1").arg(studentFileLabel(studentFile));
  AnalysisSettings settings;
  settings.per_class_a = settings.per_class_b = d->perClass->value();
  settings.device = "auto";
  d->setStatus(tr("Analysing the student…"));
  const std::string file = studentFile.toStdString();
  d->startJob(Private::Job::kStudent, [loaded, file, data, settings](ProgressBridge* bridge) {
    std::shared_ptr<LoadedModel> model = loaded;
    if (!model) {
      LayerJobResult failed;
      failed.error = runGuarded([&] { model = std::make_shared<LoadedModel>(load_model(file)); });
      if (!failed.error.isEmpty()) return failed;
    }
    return analyseTeacher(model, data, settings, bridge);
  });
}

void LayersPage::setDepthSeries(int series) { d->depthSeries->setCurrentIndex(series); }

void LayersPage::showPlot(int index) { d->plotTabs->setCurrentIndex(index); }

int LayersPage::studentLayerCount() const {
  return d->studentAnalysis ? static_cast<int>(d->studentAnalysis->layers.size()) : 0;
}

QCustomPlot* LayersPage::depthPlot() const { return d->depth; }

void LayersPage::cancel() {
  if (d->bridge) d->bridge->cancel();
}

bool LayersPage::isBusy() const { return d->running != Private::Job::kNone; }

void LayersPage::takeRecommendation() {
  const auto analysis = d->session->analysis();
  if (!analysis || analysis->recommended.empty()) {
    d->setStatus(tr("Run the analysis first: the recommendation comes from it."));
    return;
  }
  const QVector<int> teacher(analysis->recommended.begin(), analysis->recommended.end());
  d->session->setTeacherLayers(teacher);
  const auto student = d->session->student();
  if (!student) return;
  std::vector<int> layers;
  const QString error = runGuarded(
      [&] { layers = standard_layers(*student->model, static_cast<int>(teacher.size())); });
  if (!error.isEmpty()) {
    d->showError(tr("Could not choose %1 student layers: %2. Choose them by clicking the "
                    "student's boxes.")
                     .arg(teacher.size())
                     .arg(error));
    return;
  }
  d->session->setStudentLayers(QVector<int>(layers.begin(), layers.end()));
}

void LayersPage::toggleTeacherLayer(int layer) {
  const auto teacher = d->session->teacher();
  if (!teacher || layer < 0 || layer >= teacher->model->num_layers()) return;
  d->session->setTeacherLayers(toggled(d->session->teacherLayers(), layer));
}

void LayersPage::toggleStudentLayer(int layer) {
  const auto student = d->session->student();
  if (!student || layer < 0 || layer >= student->model->num_layers()) return;
  d->session->setStudentLayers(toggled(d->session->studentLayers(), layer));
}

QString LayersPage::lastError() const { return d->lastError; }
QCustomPlot* LayersPage::qualityPlot() const { return d->plot; }
QCustomPlot* LayersPage::ckaPlot() const { return d->heatmap; }
int LayersPage::ckaCellCount() const { return d->heatmap->cellCount(); }

}  // namespace kd::ui
