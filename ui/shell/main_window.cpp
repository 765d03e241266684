#include "shell/main_window.h"

#include <QAction>
#include <QActionGroup>
#include <QApplication>
#include <QCloseEvent>
#include <QDesktopServices>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QLabel>
#include <QMenuBar>
#include <QMessageBox>
#include <QPushButton>
#include <QSettings>
#include <QSplitter>
#include <QStatusBar>
#include <QStyle>
#include <QTabWidget>
#include <QUrl>

#include "shell/app_theme.h"
#include "common/device.h"
#include "common/version.h"
#include "pages/data_page.h"
#include "pages/experiments_page.h"
#include "pages/try_it_page.h"
#include "pages/geometry_page.h"
#include "shell/guarded_call.h"
#include "io/atomic_file.h"
#include "pages/layers_page.h"
#include "pages/model_panel.h"
#include "models/bundled_models.h"
#include "models/zoo/zoo_spec.h"
#include "pages/models_page.h"
#include "shell/recent_files.h"
#include "shell/session.h"
#include "pages/sweep_panel.h"
#include "pages/training_page.h"

namespace kd::ui {

namespace {

// How long a status-bar message stays.
constexpr int kStatusMs = 6000;

QVector<int> explicitLayers(const std::optional<LayerChoice>& choice) {
  QVector<int> out;
  if (choice && choice->kind == LayerChoice::Kind::kExplicit) {
    for (int l : choice->indices) out.push_back(l);
  }
  return out;
}

bool isZooSpec(const QString& spec) {
  return runGuarded([&] { zoo::parse_zoo_spec(spec.toStdString()); }).isEmpty();
}

}  // namespace

QString MainWindow::defaultTeacher() {
  const std::string bundled = bundled_teacher_path();
  return QString::fromStdString(bundled.empty() ? std::string(kBundledTeacherSpec) : bundled);
}

QString MainWindow::defaultStudent() { return QString::fromLatin1(kDefaultStudentSpec); }

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent) {
  session_ = new Session(this);
  buildPages();
  buildMenus();
  connectSession();

  device_ = new QLabel(QString::fromStdString(describe_device(resolve_device("auto"))));
  device_->setToolTip(tr("The device training and analysis will run on"));
  statusBar()->addPermanentWidget(device_);

  QSettings settings;
  experiments_->setRunsRoot(training_->runsRoot());  // the Training page remembers its folder
  if (!restoreGeometry(settings.value("window/geometry").toByteArray())) resize(1280, 800);
  // The pages' splitters, in construction order (stable for a given version of the app).
  const QList<QSplitter*> splitters = findChildren<QSplitter*>();
  const QList<QVariant> states = settings.value("window/splitters").toList();
  if (states.size() == splitters.size()) {
    for (int i = 0; i < splitters.size(); ++i) splitters[i]->restoreState(states[i].toByteArray());
  }
  tabs_->setCurrentIndex(settings.value("window/tab", 0).toInt());
  updateTitle();
}

MainWindow::~MainWindow() = default;

void MainWindow::buildPages() {
  tabs_ = new QTabWidget;
  tabs_->setDocumentMode(true);
  models_ = new ModelsPage;
  data_ = new DataPage;
  layers_ = new LayersPage(session_);
  geometry_ = new GeometryPage(session_);
  training_ = new TrainingPage(session_);
  experiments_ = new ExperimentsPage;
  tryIt_ = new TryItPage(session_);
  const struct {
    QWidget* page;
    QString title, tip;
  } pages[] = {
      {models_, tr("&Models"), tr("Teacher and student and their generalized layers (Ctrl+1)")},
      {data_, tr("&Data"), tr("The dataset: size, classes and sample images (Ctrl+2)")},
      {layers_, tr("&Layers"), tr("Knowledge quality of the teacher's layers; choose the layers to distill (Ctrl+3)")},
      {geometry_, tr("&Geometry"), tr("A layer's sample in 2-D (PCA or t-SNE), its intrinsic dimension and NCC accuracy (Ctrl+4)")},
      {training_, tr("&Training"), tr("Method, hyperparameters and live training plots (Ctrl+5)")},
      {experiments_, tr("E&xperiments"), tr("Every run: results, curves side by side, exports (Ctrl+6)")},
      {tryIt_, tr("Tr&y it"), tr("The teacher and a distilled student classify the same images: top-3, latency, size (Ctrl+7)")},
  };
  for (const auto& p : pages) tabs_->setTabToolTip(tabs_->addTab(p.page, p.title), p.tip);
  setCentralWidget(tabs_);
}

void MainWindow::connectSession() {
  connect(models_->teacher(), &ModelPanel::modelLoaded, this, [this](const QString& a, int n) {
    session_->setTeacher(models_->teacher()->model());
    statusBar()->showMessage(tr("Teacher %1: %2 generalized layers").arg(a).arg(n), kStatusMs);
    applyPendingLayers();
  });
  connect(models_->student(), &ModelPanel::modelLoaded, this, [this](const QString& a, int n) {
    session_->setStudent(models_->student()->model());
    statusBar()->showMessage(tr("Student %1: %2 generalized layers").arg(a).arg(n), kStatusMs);
    applyPendingLayers();
  });
  connect(data_, &DataPage::datasetLoaded, this, [this](const QString& name, qlonglong tr_, qlonglong te) {
    session_->setDataset(data_->dataset(), data_->spec());
    statusBar()->showMessage(tr("%1: %2 training, %3 test images").arg(name).arg(tr_).arg(te), kStatusMs);
  });
  // Each page shows its own errors, once, in its error line; the window only points at a page
  // whose error came while another page was shown.
  for (auto* panel : {models_->teacher(), models_->student()}) {
    connect(panel, &ModelPanel::loadFailed, this, [this] { flagPageError(models_); });
  }
  connect(data_, &DataPage::loadFailed, this, [this] { flagPageError(data_); });
  connect(layers_, &LayersPage::failed, this, [this] { flagPageError(layers_); });
  connect(geometry_, &GeometryPage::failed, this, [this] { flagPageError(geometry_); });
  connect(tabs_, &QTabWidget::currentChanged, this, [this](int index) {
    tabs_->setTabIcon(index, QIcon());  // seen
  });
  auto showStatus = [this](const QString& text) { statusBar()->showMessage(text, kStatusMs); };
  connect(layers_, &LayersPage::statusMessage, this, showStatus);
  connect(geometry_, &GeometryPage::statusMessage, this, showStatus);
  connect(training_, &TrainingPage::statusMessage, this, showStatus);
  connect(experiments_, &ExperimentsPage::statusMessage, this, showStatus);
  connect(tryIt_, &TryItPage::statusMessage, this, showStatus);

  connect(models_, &ModelsPage::trainTeacherRequested, this, [this] {
    if (!session_->teacher()) return showError(tr("Load or build a teacher model first."));
    training_->setTeacherMode(true);
    tabs_->setCurrentWidget(training_);
    statusBar()->showMessage(tr("Training mode: the teacher. Press Start to train it."), kStatusMs);
  });
  connect(training_, &TrainingPage::teacherTrained, this, [this](const QString& path) {
    training_->setTeacherMode(false);
    models_->teacher()->loadSpec(path);
    statusBar()->showMessage(tr("The trained teacher is loaded: %1").arg(path), kStatusMs);
  });
  connect(training_, &TrainingPage::runningChanged, this, &MainWindow::updateTitle);
  connect(training_, &TrainingPage::started, this, [this](const QString& runDir) {
    experiments_->setRunsRoot(QFileInfo(runDir).absolutePath());
  });
  connect(training_, &TrainingPage::finished, this, [this](const QString& runDir, bool complete) {
    experiments_->refresh();
    // The newest distilled student goes to the Try it page (its first seed's file).
    const QStringList seeds = QDir(runDir).entryList({QStringLiteral("seed-*")}, QDir::Dirs, QDir::Name);
    const QString student = seeds.isEmpty() ? QString() : runDir + "/" + seeds.first() + "/student.kdmodel";
    if (complete && QFileInfo::exists(student)) tryIt_->setStudentFile(student);
    if (closeAfterStop_) close();
  });
  connect(training_, &TrainingPage::failed, this, [this] {
    closeAfterStop_ = false;
    flagPageError(training_);
  });
  connect(experiments_, &ExperimentsPage::openConfigRequested, this,
          [this](const QString& path) { openExperiment(path); });
  connect(layers_, &LayersPage::layerStudyRequested, this, [this] {
    LayerStudyOptions options;
    int jobs = 1;
    if (SweepPanel::askLayerStudy(this, &options, &jobs)) startLayerStudy(options.seeds, options.random_sets, jobs);
  });
}

QString MainWindow::startLayerStudy(int seeds, int randomSets, int jobs) {
  LayerStudyOptions options;
  options.seeds = seeds;
  options.random_sets = randomSets;
  tabs_->setCurrentWidget(experiments_);
  experiments_->showSweeps();
  return experiments_->sweepPanel()->startLayerStudy(training_->currentConfig(), options, jobs);
}

void MainWindow::flagPageError(QWidget* page) {
  const int index = tabs_->indexOf(page);
  if (index < 0 || index == tabs_->currentIndex()) return;  // the page's own line shows it
  tabs_->setTabIcon(index, style()->standardIcon(QStyle::SP_MessageBoxWarning));
  statusBar()->showMessage(
      tr("Something went wrong on the %1 page: its tab is marked.").arg(tabs_->tabText(index).remove('&')),
      2 * kStatusMs);
}

bool MainWindow::pageFlagged(QWidget* page) const {
  const int index = tabs_->indexOf(page);
  return index >= 0 && !tabs_->tabIcon(index).isNull();
}

void MainWindow::showError(const QString& message) {
  statusBar()->showMessage(tr("Error: %1").arg(message.section('\n', 0, 0)), 2 * kStatusMs);
}

void MainWindow::loadDefaults() {
  pending_ = {};
  const QString teacher = defaultTeacher();
  if (isZooSpec(teacher)) models_->teacher()->setZooControls(teacher);
  models_->teacher()->loadSpec(teacher);
  models_->student()->setZooControls(defaultStudent());
  models_->student()->loadSpec(defaultStudent());
  data_->loadSpec(QStringLiteral("fashion-mnist"));
}

void MainWindow::loadLastSession() {
  const QString last = QSettings().value("session/config").toString();
  if (last.isEmpty()) return loadDefaults();
  ExperimentConfig c;
  const QString error = runGuarded([&] { c = experiment_from_json(last.toStdString(), "the last session"); });
  // A model file that has gone since (or a broken entry) must not spoil the first screen.
  if (!error.isEmpty() || (!c.teacher.empty() && !isZooSpec(QString::fromStdString(c.teacher)) &&
                           !QFileInfo::exists(QString::fromStdString(c.teacher)))) {
    return loadDefaults();
  }
  loadDefaults();  // the same default models and data, unless the last session used others
  training_->applyConfig(c);
  if (!c.teacher.empty() && QString::fromStdString(c.teacher) != defaultTeacher()) {
    models_->teacher()->loadSpec(QString::fromStdString(c.teacher));
  }
  if (QString::fromStdString(c.student) != defaultStudent()) {
    if (isZooSpec(QString::fromStdString(c.student))) models_->student()->setZooControls(QString::fromStdString(c.student));
    models_->student()->loadSpec(QString::fromStdString(c.student));
  }
  if (c.dataset != "fashion-mnist") data_->loadSpec(QString::fromStdString(c.dataset));
  pending_ = {QString::fromStdString(c.teacher), QString::fromStdString(c.student),
              explicitLayers(c.teacher_layers), explicitLayers(c.student_layers), true};
}

QString MainWindow::openExperiment(const QString& path) {
  ExperimentConfig c;
  std::vector<std::string> notes;
  const QString error =
      runGuarded([&] { c = load_experiment_file(path.toStdString(), &notes); });
  if (!error.isEmpty()) {
    QMessageBox::warning(this, tr("Cannot open experiment"),
                         tr("%1\n\n%2").arg(QDir::toNativeSeparators(path), error));
    return error;
  }
  const QString teacher = QString::fromStdString(c.teacher);
  const QString student = QString::fromStdString(c.student);
  if (!teacher.isEmpty()) {
    if (isZooSpec(teacher)) models_->teacher()->setZooControls(teacher);
    if (teacher != session_->teacherSpec()) models_->teacher()->loadSpec(teacher);
  }
  if (isZooSpec(student)) models_->student()->setZooControls(student);
  if (student != session_->studentSpec()) models_->student()->loadSpec(student);
  if (QString::fromStdString(c.dataset) != session_->datasetSpec()) {
    data_->loadSpec(QString::fromStdString(c.dataset));
  }
  training_->applyConfig(c);
  pending_ = {teacher, student, explicitLayers(c.teacher_layers), explicitLayers(c.student_layers), true};
  applyPendingLayers();
  experimentPath_ = path;
  recent_->add(path);
  updateTitle();
  QString message = tr("Opened %1").arg(QFileInfo(path).fileName());
  for (const auto& n : notes) message += " · " + QString::fromStdString(n);
  statusBar()->showMessage(message, kStatusMs);
  return {};
}

void MainWindow::applyPendingLayers() {
  if (!pending_.active) return;
  const bool teacherReady = pending_.teacherSpec.isEmpty() || session_->teacherSpec() == pending_.teacherSpec;
  if (!teacherReady || session_->studentSpec() != pending_.studentSpec) return;
  pending_.active = false;
  session_->setTeacherLayers(pending_.teacher);
  session_->setStudentLayers(pending_.student);
}

QString MainWindow::saveExperiment(const QString& path) {
  const QString error = runGuarded([&] {
    write_file_atomically(path.toStdString(), experiment_to_json(training_->currentConfig()));
  });
  if (!error.isEmpty()) {
    QMessageBox::warning(this, tr("Cannot save experiment"),
                         tr("%1\n\n%2").arg(QDir::toNativeSeparators(path), error));
    return error;
  }
  experimentPath_ = path;
  recent_->add(path);
  updateTitle();
  statusBar()->showMessage(tr("Saved %1").arg(QDir::toNativeSeparators(path)), kStatusMs);
  return {};
}

void MainWindow::openExperimentDialog() {
  QSettings settings;
  const QString path = QFileDialog::getOpenFileName(
      this, tr("Open experiment"), settings.value("files/experimentDir").toString(),
      tr("Experiments (*.json);;All files (*)"));
  if (path.isEmpty()) return;
  settings.setValue("files/experimentDir", QFileInfo(path).absolutePath());
  openExperiment(path);
}

void MainWindow::saveExperimentDialog(bool askName) {
  QString path = experimentPath_;
  if (askName || path.isEmpty()) {
    QSettings settings;
    const QString name = QString::fromStdString(training_->currentConfig().name);
    path = QFileDialog::getSaveFileName(
        this, tr("Save experiment"),
        QDir(settings.value("files/experimentDir").toString())
            .filePath((name.isEmpty() ? QStringLiteral("experiment") : name) + ".json"),
        tr("Experiments (*.json)"));
    if (path.isEmpty()) return;
    if (QFileInfo(path).suffix().isEmpty()) path += ".json";
    settings.setValue("files/experimentDir", QFileInfo(path).absolutePath());
  }
  saveExperiment(path);
}

void MainWindow::buildMenus() {
  QMenu* file = menuBar()->addMenu(tr("&File"));
  QAction* newExp = file->addAction(tr("&New experiment"), this, [this] {
    experimentPath_.clear();
    training_->applyConfig(ExperimentConfig{});
    loadDefaults();
    updateTitle();
  });
  newExp->setShortcut(QKeySequence::New);
  newExp->setStatusTip(tr("Start over from the default dataset, teacher and student"));
  file->addAction(tr("&Open experiment…"), this, &MainWindow::openExperimentDialog)
      ->setShortcut(QKeySequence::Open);
  recent_ = new RecentFiles(QStringLiteral("files/recent"), file->addMenu(tr("Open &recent")), this);
  connect(recent_, &RecentFiles::fileChosen, this, [this](const QString& path) {
    if (!openExperiment(path).isEmpty() && !QFileInfo::exists(path)) recent_->remove(path);
  });
  file->addAction(tr("&Save experiment"), this, [this] { saveExperimentDialog(false); })
      ->setShortcut(QKeySequence::Save);
  file->addAction(tr("Save experiment &as…"), this, [this] { saveExperimentDialog(true); })
      ->setShortcut(QKeySequence::SaveAs);
  file->addSeparator();
  for (auto* panel : {models_->teacher(), models_->student()}) {
    const bool isTeacher = panel == models_->teacher();
    QAction* a = file->addAction(isTeacher ? tr("Open &teacher model…") : tr("Open st&udent model…"),
                                 this, [this, panel] {
                                   tabs_->setCurrentWidget(models_);
                                   panel->openFileDialog();
                                 });
    a->setShortcut(isTeacher ? QKeySequence(tr("Ctrl+T")) : QKeySequence(tr("Ctrl+U")));
  }
  file->addSeparator();
  file->addAction(tr("&Quit"), this, &QWidget::close)->setShortcut(QKeySequence::Quit);

  QMenu* run = menuBar()->addMenu(tr("&Run"));
  QAction* analyse = run->addAction(tr("&Analyse teacher layers"), this, [this] {
    tabs_->setCurrentWidget(layers_);
    layers_->runAnalysis();
  });
  analyse->setShortcut(QKeySequence(tr("F6")));
  QAction* start = run->addAction(tr("&Start training"), this, [this] {
    tabs_->setCurrentWidget(training_);
    training_->start();
  });
  start->setShortcut(QKeySequence(tr("F5")));
  QAction* pause = run->addAction(tr("&Pause / resume training"), this, [this] {
    training_->isPaused() ? training_->resume() : training_->pause();
  });
  pause->setShortcut(QKeySequence(tr("F8")));
  QAction* stop = run->addAction(tr("S&top training"), this, [this] { training_->stop(); });
  stop->setShortcut(QKeySequence(tr("Shift+F5")));
  auto syncRunActions = [start, pause, stop](bool running) {
    start->setEnabled(!running);
    pause->setEnabled(running);
    stop->setEnabled(running);
  };
  syncRunActions(false);
  connect(training_, &TrainingPage::runningChanged, this, syncRunActions);

  QMenu* view = menuBar()->addMenu(tr("&View"));
  for (int i = 0; i < tabs_->count(); ++i) {
    QAction* a = view->addAction(tabs_->tabText(i).remove('&'), this, [this, i] { tabs_->setCurrentIndex(i); });
    a->setShortcut(QKeySequence(QStringLiteral("Ctrl+%1").arg(i + 1)));
  }
  view->addSeparator();
  QMenu* theme = view->addMenu(tr("Color &scheme"));
  auto* group = new QActionGroup(this);
  const QString saved = QSettings().value("view/theme", "system").toString();
  const QStringList titles = {tr("System"), tr("Light"), tr("Dark")};
  for (int i = 0; i < themeNames().size(); ++i) {
    const QString name = themeNames()[i];
    QAction* a = theme->addAction(titles[i], this, [name] {
      applyTheme(name);
      QSettings().setValue("view/theme", name);
    });
    a->setCheckable(true);
    a->setChecked(name == saved);
    group->addAction(a);
  }

  QMenu* help = menuBar()->addMenu(tr("&Help"));
  help->addAction(tr("&User guide"), this, [] {
    for (const QString& p : {QCoreApplication::applicationDirPath() + "/../share/doc/kdstudio/user-guide.md",
                             QStringLiteral(KD_SOURCE_DIR "/docs/user-guide.md")}) {
      if (QFileInfo::exists(p)) {
        QDesktopServices::openUrl(QUrl::fromLocalFile(QFileInfo(p).absoluteFilePath()));
        return;
      }
    }
  })->setShortcut(QKeySequence::HelpContents);
  help->addAction(tr("&About KD Studio"), this, &MainWindow::showAbout);
}

void MainWindow::showAbout() {
  QMessageBox::about(
      this, tr("About KD Studio"),
      tr("<h3>KD Studio %1</h3><p>Interactive knowledge distillation: feature-only distillation "
         "with teacher layers chosen by knowledge quality (Cooper et al., \"Logit-Based Losses "
         "Limit the Effectiveness of Feature Knowledge Distillation\", NeurReps 2025).</p>"
         "<p>Qt %2 · %3<br>Device: %4</p>")
          .arg(QString::fromStdString(version()), QString::fromUtf8(qVersion()),
               QString::fromStdString(library_versions()), device_->text()));
}

void MainWindow::updateTitle() {
  const QString name = experimentPath_.isEmpty() ? tr("untitled") : QFileInfo(experimentPath_).fileName();
  const QString state = training_->isRunning() ? tr(" (training…)") : QString();
  setWindowTitle(tr("%1%2 — KD Studio").arg(name, state));
}

void MainWindow::closeEvent(QCloseEvent* event) {
  if (training_->isRunning()) {
    if (!closeAfterStop_) {
      const auto answer = QMessageBox::question(
          this, tr("Training is running"),
          tr("Stop training and quit? The last checkpoint is kept: starting the same experiment "
             "again resumes it."),
          QMessageBox::Yes | QMessageBox::No, QMessageBox::No);
      if (answer != QMessageBox::Yes) return event->ignore();
      closeAfterStop_ = true;
      training_->stop();
      statusBar()->showMessage(tr("Stopping training…"));
    }
    return event->ignore();  // closes when the worker reports that it stopped
  }
  layers_->cancel();
  geometry_->cancel();
  QSettings settings;
  settings.setValue("window/geometry", saveGeometry());
  settings.setValue("window/tab", tabs_->currentIndex());
  QList<QVariant> states;
  for (QSplitter* splitter : findChildren<QSplitter*>()) states.append(splitter->saveState());
  settings.setValue("window/splitters", states);
  const QString config = runGuarded([&] {
    settings.setValue("session/config", QString::fromStdString(experiment_to_json(training_->currentConfig())));
  });
  (void)config;  // an incomplete form is simply not remembered
  event->accept();
}

}  // namespace kd::ui
