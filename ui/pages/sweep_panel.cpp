#include "pages/sweep_panel.h"

#include <QCoreApplication>
#include <QDesktopServices>
#include <QDialog>
#include <QDialogButtonBox>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSettings>
#include <QSpinBox>
#include <QSplitter>
#include <QTableWidget>
#include <QThread>
#include <QTimer>
#include <QUrl>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>
#include <algorithm>
#include <cmath>

#include "shell/app_theme.h"
#include "shell/guarded_call.h"
#include "io/atomic_file.h"
#include "jobs/progress_bridge.h"
#include "plots/study_plot.h"
#include "common/child_process.h"
#include "jobs/run_files.h"
#include "sweep/sweep_queue.h"
#include "sweep/sweep_summary.h"

namespace kd::ui {

namespace {

constexpr const char* kRootKey = "experiments/sweepsRoot";
constexpr const char* kJobsKey = "experiments/sweepJobs";
/// How often the status is read from the folder while points run here, and otherwise (a sweep
/// running from the CLI or on a cluster).
constexpr int kBusyPollMs = 1000;
constexpr int kIdlePollMs = 3000;

enum GroupColumn { kGroupName, kGroupDone, kGroupSeeds, kGroupBest, kGroupLast, kGroupColumns };
enum PointColumn { kPointIndex, kPointLabel, kPointState, kPointEpochs, kPointBest, kPointDetail, kPointColumns };

QString meanStd(const std::optional<double>& mean, const std::optional<double>& std) {
  if (!mean) return {};
  QString text = QString::number(*mean, 'f', 2);
  if (std) text += QStringLiteral(" \u00b1 ") + QString::number(*std, 'f', 2);
  return text;
}

QTableWidget* makeTable(const QStringList& headers, const QString& tip) {
  auto* t = new QTableWidget(0, static_cast<int>(headers.size()));
  t->setHorizontalHeaderLabels(headers);
  t->setEditTriggers(QAbstractItemView::NoEditTriggers);
  t->setSelectionBehavior(QAbstractItemView::SelectRows);
  t->setAlternatingRowColors(true);
  t->setWordWrap(false);
  t->verticalHeader()->hide();
  t->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
  t->horizontalHeader()->setStretchLastSection(true);
  t->setToolTip(tip);
  return t;
}

void setCell(QTableWidget* t, int row, int column, const QString& text, bool right = false) {
  QTableWidgetItem* item = t->item(row, column);
  if (!item) {
    item = new QTableWidgetItem;
    if (right) item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
    t->setItem(row, column, item);
  }
  if (item->text() != text) item->setText(text);
}

/// Refreshes the panel from the queue's thread (queued to the GUI thread).
class PanelObserver : public QueueObserver {
 public:
  PanelObserver(SweepPanel* panel, std::shared_ptr<std::atomic<bool>> stop)
      : panel_(panel), stop_(std::move(stop)) {}
  void on_point_started(const PointInfo&, int) override { poke(); }
  void on_point_finished(const PointStatus&, int) override { poke(); }
  bool cancelled() const override { return stop_->load(); }

 private:
  void poke() { QMetaObject::invokeMethod(panel_, &SweepPanel::refreshStatus, Qt::QueuedConnection); }
  SweepPanel* panel_;
  std::shared_ptr<std::atomic<bool>> stop_;
};

}  // namespace

SweepPanel::SweepPanel(QWidget* parent) : QWidget(parent), cliPath_(kdstudioCliPath()) {
  setObjectName(QStringLiteral("sweepPanel"));
  pool_.setMaxThreadCount(1);  // one queue or one study's analysis at a time
  buildUi();
  root_->setText(QSettings()
                     .value(kRootKey, QDir::current().absoluteFilePath(QStringLiteral("sweeps")))
                     .toString());
  poll_ = new QTimer(this);
  poll_->setInterval(kIdlePollMs);
  connect(poll_, &QTimer::timeout, this, &SweepPanel::refreshStatus);
  queue_ = new QFutureWatcher<QueueResult>(this);
  connect(queue_, &QFutureWatcher<QueueResult>::finished, this, &SweepPanel::onQueueFinished);
  study_ = new QFutureWatcher<StudyResult>(this);
  connect(study_, &QFutureWatcher<StudyResult>::finished, this, &SweepPanel::onStudyFinished);
  studyProgress_ = new ProgressBridge(this);
  connect(studyProgress_, &ProgressBridge::progressed, this,
          [this](double fraction, const QString& message) {
            emit statusMessage(tr("Layer study: analysing the teacher: %1 (%2%)")
                                   .arg(message)
                                   .arg(std::lround(fraction * 100)));
          });
  updateTables();
  updateButtons();
}

SweepPanel::~SweepPanel() {
  if (stopFlag_) stopFlag_->store(true);
  studyProgress_->cancel();
  queue_->waitForFinished();
  study_->waitForFinished();
}

void SweepPanel::buildUi() {
  root_ = new QLineEdit;
  root_->setObjectName(QStringLiteral("sweepsRoot"));
  root_->setToolTip(tr("Folder that receives the sweep folders (kdstudio-cli sweep run --out; default: sweeps)"));
  connect(root_, &QLineEdit::editingFinished, this, [this] { setSweepsRoot(root_->text()); });
  auto* browse = new QPushButton(tr("\u2026"));
  browse->setToolTip(tr("Choose the sweeps folder"));
  connect(browse, &QPushButton::clicked, this, [this] {
    const QString dir = QFileDialog::getExistingDirectory(this, tr("Sweeps folder"), root_->text());
    if (!dir.isEmpty()) setSweepsRoot(dir);
  });
  auto* openFile = new QPushButton(tr("Open sweep &file\u2026"));
  openFile->setToolTip(tr("A sweep file (docs/sweeps.md): a base experiment and the axes it varies; "
                          "its folder is made under the sweeps folder"));
  connect(openFile, &QPushButton::clicked, this, &SweepPanel::openFileInteractive);
  auto* openFolder = new QPushButton(tr("Open sweep f&older\u2026"));
  openFolder->setToolTip(tr("A sweep folder made before, here, by kdstudio-cli or on a cluster"));
  connect(openFolder, &QPushButton::clicked, this, &SweepPanel::openFolderInteractive);

  title_ = new QLabel(tr("No sweep open"));
  title_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  // Long names and paths must not widen the window: the label clips, its tooltip has it all.
  title_->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);
  counts_ = new QLabel;
  counts_->setObjectName(QStringLiteral("sweepCounts"));
  error_ = new QLabel;
  error_->setWordWrap(true);
  error_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  styleAsError(error_);
  error_->hide();

  jobs_ = new QSpinBox;
  jobs_->setRange(1, std::max(1, QThread::idealThreadCount()));
  jobs_->setValue(std::min(jobs_->maximum(), QSettings().value(kJobsKey, 1).toInt()));
  jobs_->setToolTip(tr("Points trained at once; the CPU cores are shared out between them"));
  connect(jobs_, &QSpinBox::valueChanged, this, [](int v) { QSettings().setValue(kJobsKey, v); });
  run_ = new QPushButton(tr("&Run"));
  run_->setToolTip(tr("Train every point that is not done, here (finished points are skipped, "
                      "interrupted ones resume)"));
  connect(run_, &QPushButton::clicked, this, [this] { startRun(jobs_->value()); });
  stop_ = new QPushButton(tr("S&top"));
  stop_->setToolTip(tr("Stop the running points after their current batch; Run continues them"));
  connect(stop_, &QPushButton::clicked, this, &SweepPanel::stop);
  cluster_ = new QPushButton(tr("Run on &cluster\u2026"));
  connect(cluster_, &QPushButton::clicked, this, &SweepPanel::submitInteractive);
  exportCsv_ = new QPushButton(tr("Export C&SV\u2026"));
  exportCsv_->setToolTip(tr("Save the results by sweep point (mean and std over seeds) as CSV"));
  connect(exportCsv_, &QPushButton::clicked, this, &SweepPanel::exportCsvInteractive);
  showFolder_ = new QPushButton(tr("Show folder"));
  showFolder_->setToolTip(tr("Open the sweep folder in the file manager"));
  connect(showFolder_, &QPushButton::clicked, this,
          [this] { QDesktopServices::openUrl(QUrl::fromLocalFile(sweepDir())); });

  groups_ = makeTable({tr("Sweep point"), tr("Points done"), tr("Seeds"), tr("Best % (mean \u00b1 std)"),
                       tr("Last %")},
                      tr("The results pooled over seeds: points that differ only by seed form one row"));
  groups_->setObjectName(QStringLiteral("sweepGroups"));
  points_ = makeTable({tr("#"), tr("Point"), tr("Status"), tr("Epochs"), tr("Best %"), tr("Detail")},
                      tr("Every point of the grid, read from its folder (log.txt holds its output)"));
  points_->setObjectName(QStringLiteral("sweepPoints"));
  connect(points_, &QTableWidget::cellDoubleClicked, this, [this](int row, int) {
    if (!folder_ || row < 0 || row >= folder_->size()) return;
    QDesktopServices::openUrl(QUrl::fromLocalFile(
        QDir(QString::fromStdString(folder_->point_dir(row))).filePath(QString::fromUtf8(kPointLogFile))));
  });

  studyPlot_ = new StudyPlot;
  studyPlot_->setMinimumSize(360, 240);
  verdict_ = new QLabel;
  verdict_->setObjectName(QStringLiteral("studyVerdict"));
  verdict_->setWordWrap(true);
  verdict_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  studyBox_ = new QWidget;
  auto* studyLayout = new QVBoxLayout(studyBox_);
  studyLayout->setContentsMargins(0, 0, 0, 0);
  studyLayout->addWidget(studyPlot_, 1);
  studyLayout->addWidget(verdict_);
  studyBox_->hide();

  auto* top = new QHBoxLayout;
  top->addWidget(new QLabel(tr("Sweeps folder")));
  top->addWidget(root_, 1);
  top->addWidget(browse);
  top->addWidget(openFile);
  top->addWidget(openFolder);
  auto* state = new QHBoxLayout;
  state->addWidget(title_, 1);
  state->addWidget(counts_);
  auto* actions = new QHBoxLayout;
  actions->addWidget(new QLabel(tr("Jobs")));
  actions->addWidget(jobs_);
  actions->addWidget(run_);
  actions->addWidget(stop_);
  actions->addWidget(cluster_);
  actions->addWidget(exportCsv_);
  actions->addWidget(showFolder_);
  actions->addStretch(1);
  auto* tables = new QSplitter(Qt::Vertical);
  tables->addWidget(groups_);
  tables->addWidget(points_);
  auto* split = new QSplitter(Qt::Horizontal);
  split->addWidget(tables);
  split->addWidget(studyBox_);
  split->setStretchFactor(0, 3);
  split->setStretchFactor(1, 2);
  auto* layout = new QVBoxLayout(this);
  layout->addLayout(top);
  layout->addLayout(state);
  layout->addLayout(actions);
  layout->addWidget(error_);
  layout->addWidget(split, 1);
}

QString SweepPanel::sweepsRoot() const { return root_->text(); }

void SweepPanel::setSweepsRoot(const QString& folder) {
  root_->setText(folder);
  QSettings().setValue(kRootKey, folder);
}

QString SweepPanel::sweepDir() const {
  return folder_ ? QString::fromStdString(folder_->dir()) : QString();
}

void SweepPanel::showError(const QString& message) {
  lastError_ = message;
  error_->setText(message);
  error_->setVisible(!message.isEmpty());
}

QString SweepPanel::openSweep(const QString& fileOrFolder) {
  if (isBusy()) {
    showError(tr("A sweep is running: stop it before opening another"));
    return lastError_;
  }
  std::optional<SweepFolder> opened;
  std::vector<StudyLayer> layers;
  const QString error = runGuarded([&] {
    opened = open_or_create_sweep(fileOrFolder.toStdString(), root_->text().toStdString());
    if (QFileInfo::exists(QDir(QString::fromStdString(opened->dir())).filePath(QString::fromUtf8(kStudyLayersFile))))
      layers = read_study_layers(opened->dir());
  });
  if (!error.isEmpty()) {
    showError(tr("Could not open the sweep: %1").arg(error));
    return lastError_;
  }
  showError({});
  folder_ = std::move(opened);
  studyLayers_ = std::move(layers);
  studyPlot_->clearReport(tr("No finished runs yet"));
  title_->setText(tr("<b>%1</b>: %2 points in %3")
                      .arg(QString::fromStdString(folder_->name()).toHtmlEscaped())
                      .arg(folder_->size())
                      .arg(sweepDir().toHtmlEscaped()));
  title_->setToolTip(sweepDir());
  groups_->setRowCount(0);
  points_->setRowCount(0);
  refreshStatus();
  poll_->start();
  updateButtons();
  emit statusMessage(tr("Opened the sweep %1").arg(sweepDir()));
  return {};
}

bool SweepPanel::isBusy() const { return queue_->isRunning() || study_->isRunning(); }

bool SweepPanel::startRun(int jobs) {
  if (!folder_ || isBusy()) return false;
  if (cliPath_.isEmpty() || !QFileInfo(cliPath_).isExecutable()) {
    showError(tr("kdstudio-cli was not found next to this program or on the PATH: it runs each "
                 "point (install the kdstudio package, or build it)"));
    return false;
  }
  showError({});
  stopFlag_ = std::make_shared<std::atomic<bool>>(false);
  QueueOptions options;
  options.jobs = jobs;
  options.executable = cliPath_.toStdString();
  const SweepFolder folder = *folder_;
  auto observer = std::make_shared<PanelObserver>(this, stopFlag_);
  queue_->setFuture(QtConcurrent::run(&pool_, [folder, options, observer] {
    QueueResult r;
    r.error = runGuarded([&] { r.outcome = run_sweep_queue(folder, options, observer.get()); });
    return r;
  }));
  poll_->setInterval(kBusyPollMs);
  emit statusMessage(tr("Running the sweep's points, %n at a time", nullptr, jobs));
  emit busyChanged(true);
  updateButtons();
  refreshStatus();
  return true;
}

void SweepPanel::stop() {
  if (stopFlag_) stopFlag_->store(true);
  studyProgress_->cancel();
  if (isBusy()) emit statusMessage(tr("Stopping: the running points end after their current batch\u2026"));
}

void SweepPanel::onQueueFinished() {
  const QueueResult r = queue_->result();
  poll_->setInterval(kIdlePollMs);
  refreshStatus();
  if (!r.error.isEmpty()) {
    showError(tr("The sweep could not run: %1").arg(r.error));
  } else if (r.outcome.failed > 0) {
    showError(tr("%n point(s) failed: their Detail says why, their log.txt (double-click) holds "
                 "their output; Run retries them", nullptr, r.outcome.failed));
  }
  emit statusMessage(r.outcome.stopped
                         ? tr("Sweep stopped: %1 done; Run continues it").arg(status_.count(PointState::kDone))
                         : tr("Sweep finished: %1 of %2 points done").arg(status_.count(PointState::kDone)).arg(status_.points.size()));
  emit busyChanged(false);
  updateButtons();
  emit runFinished(r.outcome.stopped);
}

void SweepPanel::refreshStatus() {
  if (!folder_) return;
  status_ = folder_->status();
  std::map<int, std::string> slurm;
  // squeue is a process: asked only while some point is unfinished and none runs here.
  const bool unfinished = status_.count(PointState::kDone) < static_cast<int>(status_.points.size());
  if (unfinished && !queue_->isRunning()) {
    try {
      slurm = slurm_task_states(*folder_);
    } catch (const std::exception&) {  // a damaged jobs.json: the points' own status still shows
    }
  }
  for (PointStatus& p : status_.points) {
    const auto it = slurm.find(p.point.index);
    if (it != slurm.end() && p.state != PointState::kRunning && p.state != PointState::kDone)
      p.detail = "Slurm: " + it->second + (p.detail.empty() ? "" : "; " + p.detail);
  }
  updateTables();
  updateStudy();
}

void SweepPanel::updateTables() {
  const auto count = [this](PointState s) { return status_.count(s); };
  counts_->setText(folder_ ? tr("%1 done, %2 running, %3 interrupted, %4 failed, %5 pending")
                                 .arg(count(PointState::kDone))
                                 .arg(count(PointState::kRunning))
                                 .arg(count(PointState::kInterrupted))
                                 .arg(count(PointState::kFailed))
                                 .arg(count(PointState::kPending))
                           : QString());
  const std::vector<SweepGroup> groups = group_results(status_);
  groups_->setRowCount(static_cast<int>(groups.size()));
  for (int r = 0; r < static_cast<int>(groups.size()); ++r) {
    const SweepGroup& g = groups[static_cast<size_t>(r)];
    setCell(groups_, r, kGroupName, QString::fromStdString(g.group));
    setCell(groups_, r, kGroupDone, QStringLiteral("%1/%2").arg(g.points_done).arg(g.points.size()), true);
    setCell(groups_, r, kGroupSeeds, QString::number(g.seeds), true);
    // A standard deviation over one seed says nothing: shown from two seeds on.
    const bool spread = g.seeds > 1;
    setCell(groups_, r, kGroupBest, meanStd(g.best_mean, spread ? g.best_std : std::nullopt), true);
    setCell(groups_, r, kGroupLast, meanStd(g.last_mean, spread ? g.last_std : std::nullopt), true);
  }
  points_->setRowCount(static_cast<int>(status_.points.size()));
  for (int r = 0; r < static_cast<int>(status_.points.size()); ++r) {
    const PointStatus& p = status_.points[static_cast<size_t>(r)];
    setCell(points_, r, kPointIndex, QString::number(p.point.index), true);
    setCell(points_, r, kPointLabel, QString::fromStdString(p.point.label));
    setCell(points_, r, kPointState, QString::fromUtf8(point_state_name(p.state)));
    setCell(points_, r, kPointEpochs,
            p.run ? QStringLiteral("%1/%2").arg(p.run->epochs_done).arg(p.run->epochs_planned) : QString(), true);
    setCell(points_, r, kPointBest, p.run ? meanStd(p.run->best_mean, p.run->seeds_done > 1 ? p.run->best_std : std::nullopt) : QString(), true);
    setCell(points_, r, kPointDetail, QString::fromStdString(p.detail));
    if (QTableWidgetItem* item = points_->item(r, kPointState)) {
      item->setForeground(p.state == PointState::kFailed ? errorColor(palette()) : palette().color(QPalette::Text));
    }
  }
}

void SweepPanel::updateStudy() {
  studyBox_->setVisible(isStudy());
  if (!isStudy()) return;
  const StudyReport report = layer_study_report(status_, studyLayers_);
  studyPlot_->setReport(report);
  verdict_->setText(QString::fromStdString(report.verdict));
}

QString SweepPanel::studyVerdict() const { return isStudy() ? verdict_->text() : QString(); }

int SweepPanel::groupRowCount() const { return groups_->rowCount(); }
int SweepPanel::pointRowCount() const { return points_->rowCount(); }

QString SweepPanel::groupCell(int row, int column) const {
  const QTableWidgetItem* item = groups_->item(row, column);
  return item ? item->text() : QString();
}

QString SweepPanel::pointCell(int row, int column) const {
  const QTableWidgetItem* item = points_->item(row, column);
  return item ? item->text() : QString();
}

void SweepPanel::updateButtons() {
  const bool open = folder_.has_value();
  const bool busy = isBusy();
  run_->setEnabled(open && !busy);
  stop_->setEnabled(busy);
  exportCsv_->setEnabled(open);
  showFolder_->setEnabled(open);
  jobs_->setEnabled(!busy);
  const bool slurm = clusterAvailable();
  cluster_->setEnabled(open && !busy && slurm);
  cluster_->setToolTip(slurm ? tr("Submit the unfinished points to Slurm as a job array (sbatch); "
                                  "the sweeps folder must be on storage every node sees")
                             : tr("Needs Slurm's sbatch on the PATH (a cluster's login node); "
                                  "'kdstudio-cli sweep submit --slurm' does the same"));
}

QString SweepPanel::exportCsv(const QString& path) {
  const QString error = runGuarded([&] { write_file_atomically(path.toStdString(), sweep_csv(status_)); });
  showError(error.isEmpty() ? QString() : tr("Could not export the CSV: %1").arg(error));
  if (error.isEmpty()) emit statusMessage(tr("Results written to %1").arg(path));
  return error;
}

void SweepPanel::exportCsvInteractive() {
  if (!folder_) return;
  const QString path = QFileDialog::getSaveFileName(
      this, tr("Export the sweep's results"),
      QDir(sweepDir()).filePath(QString::fromStdString(folder_->name()) + QStringLiteral(".csv")),
      tr("CSV (*.csv)"));
  if (!path.isEmpty()) exportCsv(path);
}

bool SweepPanel::clusterAvailable() { return !find_program("sbatch").empty(); }

QString SweepPanel::submitToSlurm(SlurmOptions options) {
  if (!folder_) return tr("no sweep is open");
  options.executable = QFileInfo(cliPath_).absoluteFilePath().toStdString();
  options.workdir = QDir::currentPath().toStdString();
  Submission sub;
  const QString error = runGuarded([&] { sub = submit_sweep(*folder_, options, false); });
  showError(error.isEmpty() ? QString() : tr("Could not submit the sweep: %1").arg(error));
  if (!error.isEmpty()) return lastError_;
  emit statusMessage(sub.indices.empty()
                         ? tr("Nothing to submit: every point is done or running")
                         : tr("Submitted %1 points as Slurm job array %2")
                               .arg(sub.indices.size())
                               .arg(QString::fromStdString(sub.job_id)));
  refreshStatus();
  return {};
}

void SweepPanel::submitInteractive() {
  QDialog dialog(this);
  dialog.setWindowTitle(tr("Run on the cluster"));
  auto* partition = new QLineEdit;
  partition->setPlaceholderText(tr("the cluster's default"));
  auto* account = new QLineEdit;
  account->setPlaceholderText(tr("your default"));
  auto* time = new QLineEdit;
  time->setPlaceholderText(tr("e.g. 04:00:00 (the partition's default)"));
  auto* cpus = new QSpinBox;
  cpus->setRange(0, 4096);
  cpus->setSpecialValueText(tr("default"));
  auto* gpus = new QSpinBox;
  gpus->setRange(0, 64);
  auto* parallel = new QSpinBox;
  parallel->setRange(0, 100000);
  parallel->setSpecialValueText(tr("no limit"));
  auto* form = new QFormLayout;
  form->addRow(tr("Partition"), partition);
  form->addRow(tr("Account"), account);
  form->addRow(tr("Time per point"), time);
  form->addRow(tr("CPU cores per point"), cpus);
  form->addRow(tr("GPUs per point"), gpus);
  form->addRow(tr("Points at once"), parallel);
  auto* note = new QLabel(tr("Each point is one task of a job array running %1 on the folder %2: "
                             "both must be reachable from the nodes. Tasks requeue themselves "
                             "before their time limit and resume from their checkpoint.")
                              .arg(cliPath_, sweepDir()));
  note->setWordWrap(true);
  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel);
  buttons->button(QDialogButtonBox::Ok)->setText(tr("Submit"));
  connect(buttons, &QDialogButtonBox::accepted, &dialog, &QDialog::accept);
  connect(buttons, &QDialogButtonBox::rejected, &dialog, &QDialog::reject);
  auto* layout = new QVBoxLayout(&dialog);
  layout->addLayout(form);
  layout->addWidget(note);
  layout->addWidget(buttons);
  if (dialog.exec() != QDialog::Accepted) return;
  SlurmOptions o;
  o.partition = partition->text().trimmed().toStdString();
  o.account = account->text().trimmed().toStdString();
  o.time = time->text().trimmed().toStdString();
  o.cpus_per_task = cpus->value();
  o.gpus_per_task = gpus->value();
  o.max_parallel = parallel->value();
  submitToSlurm(o);
}

void SweepPanel::openFileInteractive() {
  const QString path = QFileDialog::getOpenFileName(this, tr("Open a sweep file"), QString(),
                                                    tr("Sweep files (*.json);;All files (*)"));
  if (!path.isEmpty()) openSweep(path);
}

void SweepPanel::openFolderInteractive() {
  const QString dir = QFileDialog::getExistingDirectory(this, tr("Open a sweep folder"), root_->text());
  if (!dir.isEmpty()) openSweep(dir);
}

QString SweepPanel::startLayerStudy(const ExperimentConfig& base, const LayerStudyOptions& options, int jobs) {
  if (isBusy()) {
    showError(tr("A sweep is running: stop it before starting a layer study"));
    return lastError_;
  }
  const QString error = runGuarded([&] {
    check_layer_study_base(base);
    if (base.teacher.empty()) throw Error("the study needs a teacher: choose one on the Models page");
  });
  if (!error.isEmpty()) {
    showError(tr("Cannot start a layer study: %1").arg(error));
    return lastError_;
  }
  showError({});
  studyJobs_ = jobs;
  studyProgress_->reset();
  const std::string out = root_->text().toStdString();
  ProgressBridge* progress = studyProgress_;
  study_->setFuture(QtConcurrent::run(&pool_, [base, options, out, progress] {
    StudyResult r;
    r.error = runGuarded([&] {
      try {
        const std::vector<StudyLayer> layers = analyse_study_teacher(base, {}, progress);
        r.dir = QString::fromStdString(
            create_layer_study(base, layers, options, layer_study_name(base), out).dir());
      } catch (const Cancelled&) {
        r.cancelled = true;
      }
    });
    return r;
  }));
  emit statusMessage(tr("Layer study: analysing the teacher's layers\u2026"));
  emit busyChanged(true);
  updateButtons();
  return {};
}

void SweepPanel::onStudyFinished() {
  const StudyResult r = study_->result();
  emit busyChanged(false);
  updateButtons();
  if (r.cancelled) {
    emit statusMessage(tr("Layer study stopped before its runs started"));
    return;
  }
  if (!r.error.isEmpty()) {
    showError(tr("The layer study could not start: %1").arg(r.error));
    return;
  }
  if (!openSweep(r.dir).isEmpty()) return;
  emit studyPrepared(r.dir);
  startRun(studyJobs_);
}

bool SweepPanel::askLayerStudy(QWidget* parent, LayerStudyOptions* options, int* jobs) {
  QDialog dialog(parent);
  dialog.setWindowTitle(tr("Layer-choice study"));
  auto* text = new QLabel(
      tr("Does distilling from the layers with the highest knowledge quality Q help on your data? "
         "The study trains the Training page's experiment with the Q layers, the standard "
         "layers, the S, I, E and \u221a(I\u00b7E) choices and a few random layer sets, several "
         "seeds each, then relates accuracy to the mean Q of the layers (Spearman's \u03c1)."));
  text->setWordWrap(true);
  auto* seeds = new QSpinBox;
  seeds->setRange(1, 100);
  seeds->setValue(options->seeds);
  auto* randomSets = new QSpinBox;
  randomSets->setRange(0, 100);
  randomSets->setValue(options->random_sets);
  auto* parallel = new QSpinBox;
  parallel->setRange(1, std::max(1, QThread::idealThreadCount()));
  parallel->setValue(std::clamp(*jobs, 1, parallel->maximum()));
  auto* runs = new QLabel;
  const auto updateRuns = [&] {
    runs->setText(tr("%1 training runs").arg((6 + randomSets->value()) * seeds->value()));
  };
  connect(seeds, &QSpinBox::valueChanged, &dialog, updateRuns);
  connect(randomSets, &QSpinBox::valueChanged, &dialog, updateRuns);
  updateRuns();
  auto* form = new QFormLayout;
  form->addRow(tr("Seeds per choice"), seeds);
  form->addRow(tr("Random layer sets"), randomSets);
  form->addRow(tr("Runs at once"), parallel);
  form->addRow(QString(), runs);
  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel);
  buttons->button(QDialogButtonBox::Ok)->setText(tr("Start"));
  connect(buttons, &QDialogButtonBox::accepted, &dialog, &QDialog::accept);
  connect(buttons, &QDialogButtonBox::rejected, &dialog, &QDialog::reject);
  auto* layout = new QVBoxLayout(&dialog);
  layout->addWidget(text);
  layout->addLayout(form);
  layout->addWidget(buttons);
  if (dialog.exec() != QDialog::Accepted) return false;
  options->seeds = seeds->value();
  options->random_sets = randomSets->value();
  *jobs = parallel->value();
  return true;
}

}  // namespace kd::ui
