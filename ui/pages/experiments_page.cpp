#include "pages/experiments_page.h"

#include <QComboBox>
#include <QDesktopServices>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QFileSystemWatcher>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QScrollArea>
#include <QSettings>
#include <QSortFilterProxyModel>
#include <QSplitter>
#include <QTabWidget>
#include <QTableView>
#include <QTextDocumentFragment>
#include <QTimer>
#include <QUrl>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

#include "shell/app_theme.h"
#include "plots/plot_style.h"
#include "pages/run_details.h"
#include "jobs/run_files.h"
#include "table_models/run_table_model.h"
#include "jobs/student_export.h"
#include "pages/student_geometry_panel.h"
#include "pages/sweep_panel.h"
#include "shell/guarded_call.h"
#include "tracking/geometry_log.h"

namespace kd::ui {

namespace {

/// Quiet time after the last file-system change before the runs are listed again.
constexpr int kRescanDelayMs = 500;
/// Most folders watched (inotify watches are a per-user budget).
constexpr int kMaxWatched = 400;
constexpr const char* kRootKey = "experiments/runsRoot";

QPushButton* button(const QString& text, const QString& tip) {
  auto* b = new QPushButton(text);
  b->setToolTip(tip);
  return b;
}

}  // namespace

ExperimentsPage::ExperimentsPage(QWidget* parent) : QWidget(parent) {
  buildUi();
  const QString fallback = QDir::current().absoluteFilePath(QStringLiteral("runs"));
  root_->setText(QSettings().value(kRootKey, fallback).toString());
  fsWatcher_ = new QFileSystemWatcher(this);
  debounce_ = new QTimer(this);
  debounce_->setSingleShot(true);
  debounce_->setInterval(kRescanDelayMs);
  connect(debounce_, &QTimer::timeout, this, &ExperimentsPage::refresh);
  connect(fsWatcher_, &QFileSystemWatcher::directoryChanged, debounce_,
          qOverload<>(&QTimer::start));
  connect(fsWatcher_, &QFileSystemWatcher::fileChanged, debounce_, qOverload<>(&QTimer::start));
  scan_ = new QFutureWatcher<RunScan>(this);
  connect(scan_, &QFutureWatcher<RunScan>::finished, this, &ExperimentsPage::onScanFinished);
  curvesJob_ = new QFutureWatcher<std::vector<RunCurves>>(this);
  connect(curvesJob_, &QFutureWatcher<std::vector<RunCurves>>::finished, this,
          &ExperimentsPage::onCurvesFinished);
  updateDetails();
  updateButtons();
}

ExperimentsPage::~ExperimentsPage() {
  debounce_->stop();
  scan_->waitForFinished();
  curvesJob_->waitForFinished();
  exportJob_->waitForFinished();
}

bool ExperimentsPage::exportStudent(const QString& runDir, const QString& path) {
  if (exportJob_->isRunning()) return false;
  exportPath_ = path;
  emit statusMessage(tr("Writing the student to %1…").arg(path));
  exportJob_->setFuture(QtConcurrent::run([runDir, path] { return exportStudentTo(runDir, path); }));
  updateButtons();
  return true;
}

bool ExperimentsPage::isExportingStudent() const { return exportJob_->isRunning(); }

void ExperimentsPage::buildUi() {
  root_ = new QLineEdit;
  root_->setToolTip(tr("Folder holding the run folders (kdstudio-cli train --out; default: runs)"));
  auto* browseButton = button(tr("\u2026"), tr("Choose the runs folder"));
  refresh_ = button(tr("&Refresh"), tr("List the runs again (new runs also appear by themselves)"));
  connect(root_, &QLineEdit::returnPressed, this, [this] { setRunsRoot(root_->text()); });
  connect(browseButton, &QPushButton::clicked, this, &ExperimentsPage::browse);
  connect(refresh_, &QPushButton::clicked, this, &ExperimentsPage::refresh);
  error_ = new QLabel;
  error_->setWordWrap(true);
  styleAsError(error_);
  error_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  error_->hide();

  model_ = new RunTableModel(this);
  proxy_ = new QSortFilterProxyModel(this);
  proxy_->setSourceModel(model_);
  proxy_->setSortRole(Qt::UserRole);
  table_ = new QTableView;
  table_->setObjectName(QStringLiteral("runTable"));
  table_->setModel(proxy_);
  table_->setSelectionBehavior(QAbstractItemView::SelectRows);
  table_->setSelectionMode(QAbstractItemView::ExtendedSelection);
  table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  table_->setSortingEnabled(true);
  table_->sortByColumn(RunTableModel::kDate, Qt::DescendingOrder);
  table_->setAlternatingRowColors(true);
  table_->setWordWrap(false);
  table_->verticalHeader()->hide();
  table_->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
  table_->horizontalHeader()->setSectionResizeMode(RunTableModel::kStatus, QHeaderView::Stretch);
  table_->setToolTip(
      tr("Every run in the runs folder. Select several (Ctrl/Shift-click) to "
         "compare their curves; double-click one to open its config"));
  connect(table_, &QTableView::doubleClicked, this,
          [this](const QModelIndex& i) { openConfig(i.row()); });
  connect(table_->selectionModel(), &QItemSelectionModel::selectionChanged, this, [this] {
    if (!restoring_) updateOverlay(true);
    updateButtons();
  });
  connect(table_->selectionModel(), &QItemSelectionModel::currentChanged, this, [this] {
    if (restoring_) return;
    updateDetails();
    updateButtons();
  });

  openConfig_ =
      button(tr("&Open config"), tr("Open the run's config.json to run it again or edit it"));
  exportCsv_ =
      button(tr("Export &CSV\u2026"), tr("Save the run's metrics per seed and epoch as CSV"));
  showFolder_ = button(tr("Show &folder"), tr("Open the run folder in the file manager"));
  exportStudent_ = button(tr("Export &student\u2026"),
                          tr("Save the distilled student of a finished run (first seed) as a "
                             "model file: .kdmodel (safetensors) or TorchScript .pt"));
  connect(exportStudent_, &QPushButton::clicked, this, [this] {
    const QString runDir = currentRunDir();
    const QString path = askStudentExportPath(this, runDir);
    if (!path.isEmpty()) exportStudent(runDir, path);
  });
  exportJob_ = new QFutureWatcher<QString>(this);
  connect(exportJob_, &QFutureWatcher<QString>::finished, this, [this] {
    const QString error = exportJob_->result();
    showError(error.isEmpty() ? QString() : tr("Could not export the student: %1").arg(error));
    if (error.isEmpty()) emit statusMessage(tr("Student written to %1").arg(exportPath_));
    updateButtons();
    emit studentExported(exportPath_, error);
  });
  metric_ = new QComboBox;
  metric_->setObjectName(QStringLiteral("metricCombo"));
  for (int m = 0; m < RunOverlayPlot::kMetricCount; ++m) {
    metric_->addItem(RunOverlayPlot::metricName(static_cast<RunOverlayPlot::Metric>(m)));
  }
  metric_->setToolTip(tr("The metric plotted per epoch for the selected runs"));
  exportPlot_ = button(tr("Export &plot\u2026"), tr("Save the plot as PNG, PDF or SVG"));
  connect(openConfig_, &QPushButton::clicked, this,
          [this] { openConfig(table_->currentIndex().row()); });
  connect(exportCsv_, &QPushButton::clicked, this, &ExperimentsPage::exportCsvInteractive);
  connect(showFolder_, &QPushButton::clicked, this, &ExperimentsPage::showFolder);
  connect(exportPlot_, &QPushButton::clicked, this, &ExperimentsPage::exportPlotInteractive);
  connect(metric_, &QComboBox::currentIndexChanged, this,
          [this](int m) { plot_->setMetric(static_cast<RunOverlayPlot::Metric>(m)); });

  plot_ = new RunOverlayPlot;
  plot_->setMinimumSize(360, 240);
  details_ = new QLabel;
  details_->setWordWrap(true);
  details_->setAlignment(Qt::AlignTop | Qt::AlignLeft);
  details_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  details_->setToolTip(tr("Settings and results of the current run"));
  details_->setMargin(6);
  auto* detailsScroll = new QScrollArea;
  detailsScroll->setWidget(details_);
  detailsScroll->setWidgetResizable(true);
  detailsScroll->setMinimumWidth(260);

  auto* top = new QHBoxLayout;
  top->addWidget(new QLabel(tr("Runs folder")));
  top->addWidget(root_, 1);
  top->addWidget(browseButton);
  top->addWidget(refresh_);
  auto* actions = new QHBoxLayout;
  actions->setContentsMargins(0, 0, 0, 0);
  actions->addWidget(openConfig_);
  actions->addWidget(exportCsv_);
  actions->addWidget(showFolder_);
  actions->addWidget(exportStudent_);
  actions->addStretch();
  actions->addWidget(new QLabel(tr("Plot")));
  actions->addWidget(metric_);
  actions->addWidget(exportPlot_);
  auto* side = new QSplitter(Qt::Horizontal);
  geometry_ = new StudentGeometryPanel;
  runViews_ = new QTabWidget;
  runViews_->setObjectName(QStringLiteral("runViews"));
  runViews_->addTab(plot_, tr("Curves"));
  runViews_->addTab(geometry_, tr("Student geometry"));
  runViews_->setTabToolTip(1, tr("The current run's student geometry per epoch (runs trained with "
                                 "Track geometry): scrub through the epochs with the slider"));
  side->addWidget(runViews_);
  side->addWidget(detailsScroll);
  side->setStretchFactor(0, 3);
  side->setStretchFactor(1, 1);
  side->setSizes({900, 340});
  auto* bottom = new QWidget;
  auto* bottomLayout = new QVBoxLayout(bottom);
  bottomLayout->setContentsMargins(0, 0, 0, 0);
  bottomLayout->addLayout(actions);
  bottomLayout->addWidget(side, 1);
  auto* split = new QSplitter(Qt::Vertical);
  split->addWidget(table_);
  split->addWidget(bottom);
  split->setStretchFactor(0, 2);
  split->setStretchFactor(1, 3);
  split->setSizes({300, 450});
  auto* runs = new QWidget;
  auto* runsLayout = new QVBoxLayout(runs);
  runsLayout->addLayout(top);
  runsLayout->addWidget(error_);
  runsLayout->addWidget(split, 1);
  sweeps_ = new SweepPanel;
  connect(sweeps_, &SweepPanel::statusMessage, this, &ExperimentsPage::statusMessage);
  tabs_ = new QTabWidget;
  tabs_->setDocumentMode(true);
  tabs_->addTab(runs, tr("Runs"));
  tabs_->setTabToolTip(0, tr("Every run folder under the runs folder"));
  tabs_->addTab(sweeps_, tr("Sweeps"));
  tabs_->setTabToolTip(1, tr("Grids of experiments and layer-choice studies, run here or on Slurm"));
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(tabs_);
}

void ExperimentsPage::showSweeps() { tabs_->setCurrentWidget(sweeps_); }

void ExperimentsPage::showRuns() { tabs_->setCurrentIndex(0); }

QString ExperimentsPage::runsRoot() const { return root_->text(); }

void ExperimentsPage::setRunsRoot(const QString& folder) {
  root_->setText(folder);
  QSettings().setValue(kRootKey, folder);
  refresh();
}

void ExperimentsPage::browse() {
  const QString dir = QFileDialog::getExistingDirectory(this, tr("Runs folder"), root_->text());
  if (!dir.isEmpty()) setRunsRoot(dir);
}

void ExperimentsPage::showEvent(QShowEvent* event) {
  QWidget::showEvent(event);
  if (!scanned_) refresh();  // the first look lists the runs; nothing is read before
}

void ExperimentsPage::refresh() {
  scanned_ = true;
  if (scan_->isRunning()) {
    rescanPending_ = true;  // one scan at a time; the next starts when this one ends
    return;
  }
  startScan();
}

bool ExperimentsPage::isScanning() const { return scan_->isRunning() || rescanPending_; }

void ExperimentsPage::startScan() {
  const QString root = root_->text();
  scan_->setFuture(QtConcurrent::run([root] { return scanRuns(root); }));
}

void ExperimentsPage::onScanFinished() {
  RunScan r = scan_->result();
  if (rescanPending_) {
    rescanPending_ = false;
    startScan();
  }
  if (r.root != root_->text()) return;  // listed a folder the user has left since
  if (!r.error.isEmpty()) {
    showError(tr("Cannot list the runs: %1. Choose another runs folder with \u201c\u2026\u201d "
                 "(it is created when the first run is trained).")
                  .arg(r.error));
    scanError_ = true;
    applyRuns({});
    const QFileInfo root(r.root);
    watchPaths(root.dir().exists() ? QStringList{root.absolutePath()} : QStringList{});
    return;
  }
  if (scanError_) showError({});
  scanError_ = false;
  applyRuns(std::move(r.runs));
  watchPaths(r.watch);
  emit statusMessage(runCount() == 1 ? tr("1 run in %1").arg(r.root)
                                     : tr("%1 runs in %2").arg(runCount()).arg(r.root));
}

void ExperimentsPage::applyRuns(std::vector<RunSummary> runs) {
  const QStringList selected = selectedRunDirs();
  const QString current = currentRunDir();
  ++scanGeneration_;
  restoring_ = true;
  model_->setRuns(std::move(runs));
  QItemSelection selection;
  for (const QString& dir : selected) {
    const int row = model_->rowOf(dir);
    if (row < 0) continue;
    const QModelIndex first = proxy_->mapFromSource(model_->index(row, 0));
    selection.select(first, first.siblingAtColumn(RunTableModel::kColumnCount - 1));
  }
  table_->selectionModel()->select(selection, QItemSelectionModel::ClearAndSelect);
  const int currentRow = model_->rowOf(current);
  if (currentRow >= 0) {
    table_->selectionModel()->setCurrentIndex(proxy_->mapFromSource(model_->index(currentRow, 0)),
                                              QItemSelectionModel::NoUpdate);
  }
  restoring_ = false;
  updateOverlay(false);
  updateDetails();
  updateButtons();
}

void ExperimentsPage::watchPaths(const QStringList& paths) {
  const QStringList old = fsWatcher_->directories() + fsWatcher_->files();
  if (!old.isEmpty()) fsWatcher_->removePaths(old);
  const QStringList wanted = paths.mid(0, kMaxWatched);
  if (!wanted.isEmpty()) fsWatcher_->addPaths(wanted);
}

int ExperimentsPage::runCount() const { return model_->rowCount(); }

int ExperimentsPage::sourceRow(int viewRow) const {
  if (viewRow < 0 || viewRow >= proxy_->rowCount()) return -1;
  return proxy_->mapToSource(proxy_->index(viewRow, 0)).row();
}

QString ExperimentsPage::runDirAt(int row) const {
  const int source = sourceRow(row);
  return source < 0 ? QString() : QString::fromStdString(model_->run(source).run_dir);
}

const RunSummary* ExperimentsPage::currentRun() const {
  const int source = sourceRow(table_->currentIndex().row());
  return source < 0 ? nullptr : &model_->run(source);
}

QString ExperimentsPage::currentRunDir() const {
  const RunSummary* r = currentRun();
  return r ? QString::fromStdString(r->run_dir) : QString();
}

QStringList ExperimentsPage::selectedRunDirs() const {
  QModelIndexList rows = table_->selectionModel()->selectedRows();
  std::sort(rows.begin(), rows.end(),
            [](const QModelIndex& a, const QModelIndex& b) { return a.row() < b.row(); });
  QStringList dirs;
  for (const QModelIndex& i : rows) dirs << i.data(RunTableModel::kRunDirRole).toString();
  return dirs;
}

void ExperimentsPage::selectRows(const QList<int>& rows) {
  QItemSelection selection;
  for (int row : rows) {
    if (row < 0 || row >= proxy_->rowCount()) continue;
    selection.select(proxy_->index(row, 0), proxy_->index(row, RunTableModel::kColumnCount - 1));
  }
  table_->selectionModel()->select(selection, QItemSelectionModel::ClearAndSelect);
  if (!rows.isEmpty() && rows.last() >= 0 && rows.last() < proxy_->rowCount()) {
    table_->selectionModel()->setCurrentIndex(proxy_->index(rows.last(), 0),
                                              QItemSelectionModel::NoUpdate);
  }
}

void ExperimentsPage::updateOverlay(bool fit) {
  if (curvesJob_->isRunning()) {
    curvesPending_ = true;
    fitPending_ = fitPending_ || fit;
    return;
  }
  // The selected runs in table order; names that repeat are told apart by their folders.
  std::vector<const RunSummary*> selected;
  for (const QString& dir : selectedRunDirs()) {
    const int row = model_->rowOf(dir);
    if (row >= 0) selected.push_back(&model_->run(row));
  }
  std::vector<RunCurves> shown;
  std::vector<std::tuple<std::string, QString, qint64>> missing;
  QStringList errors;
  for (const RunSummary* r : selected) {
    const bool repeated = std::count_if(selected.begin(), selected.end(), [r](const RunSummary* o) {
                            return o->name == r->name;
                          }) > 1;
    const QString label = QString::fromStdString(repeated ? r->folder : r->name);
    const QString dir = QString::fromStdString(r->run_dir);
    const auto cached = curves_.constFind(dir);
    // Curves read in the second of the run's last change may miss that change (mtimes have
    // whole seconds): they serve until the next scan, which reads them again.
    const bool stale =
        cached == curves_.constEnd() || cached->modified != r->modified_unix ||
        (cached->readAt <= cached->modified + 1 && cached->generation != scanGeneration_);
    if (stale) {
      missing.emplace_back(r->run_dir, label, r->modified_unix);
      continue;
    }
    RunCurves c = *cached;
    c.label = label;
    if (!c.error.isEmpty()) errors << tr("%1: %2").arg(label, c.error);
    shown.push_back(std::move(c));
  }
  if (!missing.empty()) {
    curvesFit_ = fit;
    curvesJob_->setFuture(QtConcurrent::run([missing]() {
      std::vector<RunCurves> out;
      for (const auto& [dir, label, modified] : missing)
        out.push_back(readRunCurves(dir, label, modified));
      return out;
    }));
    return;
  }
  const bool anyEpoch =
      std::any_of(shown.begin(), shown.end(), [](const RunCurves& c) { return !c.seeds.empty(); });
  plot_->setHint(shown.empty() ? QString()
                 : !errors.isEmpty()
                     ? tr("The curves could not be read:\n%1").arg(errors.join('\n'))
                 : anyEpoch ? QString()
                            : tr("The selected runs have not finished an epoch yet"));
  plot_->setRuns(std::move(shown), fit);
  exportPlot_->setEnabled(plot_->curveCount() > 0);
}

void ExperimentsPage::onCurvesFinished() {
  for (RunCurves& c : curvesJob_->result()) {
    c.generation = scanGeneration_;
    curves_.insert(c.runDir, std::move(c));
  }
  bool fit = curvesFit_;
  if (curvesPending_) {
    curvesPending_ = false;
    fit = fit || fitPending_;
    fitPending_ = false;
  }
  updateOverlay(fit);
}

int ExperimentsPage::overlayCurveCount() const { return plot_->curveCount(); }

QVector<double> ExperimentsPage::overlayCurveValues(int curve) const {
  return plot_->curveValues(curve);
}

QCustomPlot* ExperimentsPage::overlayPlot() const { return plot_; }

void ExperimentsPage::setOverlayMetric(RunOverlayPlot::Metric metric) {
  metric_->setCurrentIndex(metric);
}

void ExperimentsPage::showRunView(int index) { runViews_->setCurrentIndex(index); }

void ExperimentsPage::showGeometry(const QString& runDir) {
  QString file;
  if (!runDir.isEmpty()) {
    const QDir dir(runDir);
    for (const QString& seed : dir.entryList(QDir::Dirs | QDir::NoDotAndDotDot, QDir::Name)) {
      const QString candidate = dir.filePath(seed + QLatin1Char('/') + QLatin1String(kGeometryLogFile));
      if (QFileInfo::exists(candidate)) {
        file = candidate;
        break;
      }
    }
  }
  const QFileInfo info(file);
  const QString key = file.isEmpty() ? runDir
                                     : file + QString::number(info.size()) +
                                           info.lastModified().toString(Qt::ISODateWithMs);
  if (key == geometryKey_) return;
  geometryKey_ = key;
  if (file.isEmpty()) {
    geometry_->clear(runDir.isEmpty() ? tr("Click a run to see how its student took on the teacher's geometry.")
                                      : tr("This run has no geometry.jsonl: it was trained without geometry "
                                           "tracking (Track geometry on the Training page, or "
                                           "kdstudio-cli train --track-geometry)."));
    return;
  }
  GeometryLog log;
  const QString error = runGuarded([&] { log = read_geometry_log(file.toStdString()); });
  if (!error.isEmpty()) {
    geometry_->clear(tr("Cannot show the student geometry: %1").arg(error));
    return;
  }
  geometry_->setLog(log);  // with the class names the probe recorded
}

void ExperimentsPage::updateDetails() {
  const RunSummary* r = currentRun();
  showGeometry(r ? QString::fromStdString(r->run_dir) : QString());
  if (r) {
    details_->setText(runDetailsHtml(*r));
  } else if (runCount() == 0) {
    details_->setText(tr("No runs in %1 yet. Runs trained on the Training page or with "
                         "<tt>kdstudio-cli train --out %1</tt> appear here by themselves.")
                          .arg(root_->text().toHtmlEscaped()));
  } else {
    details_->setText(
        tr("Click a run to see its settings and results; select several to compare "
           "their curves."));
  }
}

QString ExperimentsPage::detailsText() const {
  return QTextDocumentFragment::fromHtml(details_->text()).toPlainText();
}

void ExperimentsPage::updateButtons() {
  const bool current = currentRun() != nullptr;
  openConfig_->setEnabled(current);
  exportCsv_->setEnabled(current);
  showFolder_->setEnabled(current);
  exportStudent_->setEnabled(current && currentRun()->complete && !(exportJob_ && exportJob_->isRunning()));
  exportPlot_->setEnabled(plot_->curveCount() > 0);
}

void ExperimentsPage::showError(const QString& message) {
  lastError_ = message;
  error_->setText(message);
  error_->setVisible(!message.isEmpty());
}

void ExperimentsPage::openConfig(int row) {
  const QString dir = runDirAt(row);
  if (!dir.isEmpty())
    emit openConfigRequested(QDir(dir).filePath(QString::fromLatin1(kRunConfigFile)));
}

QString ExperimentsPage::exportCsv(int row, const QString& path) const {
  const QString dir = runDirAt(row);
  if (dir.isEmpty()) return tr("there is no run at row %1").arg(row);
  return writeEpochsCsv(dir, path);
}

void ExperimentsPage::exportCsvInteractive() {
  const RunSummary* r = currentRun();
  if (!r) return;
  QSettings settings;
  const QString proposed =
      QDir(settings.value("export/dir").toString())
          .filePath(QString::fromStdString(r->folder) + QStringLiteral("-epochs.csv"));
  const QString path =
      QFileDialog::getSaveFileName(this, tr("Export metrics"), proposed, tr("CSV file (*.csv)"));
  if (path.isEmpty()) return;
  settings.setValue("export/dir", QFileInfo(path).absolutePath());
  const QString error = exportCsv(table_->currentIndex().row(), path);
  if (!error.isEmpty()) {
    showError(tr("Could not export the metrics: %1").arg(error));
    return;
  }
  showError({});
  emit statusMessage(tr("Metrics written to %1").arg(path));
}

void ExperimentsPage::exportPlotInteractive() {
  QSettings settings;
  const QString proposed =
      QDir(settings.value("export/dir").toString()).filePath(QStringLiteral("experiments.png"));
  const QString path = QFileDialog::getSaveFileName(
      this, tr("Export plot"), proposed,
      tr("PNG image (*.png);;PDF document (*.pdf);;SVG drawing (*.svg)"));
  if (path.isEmpty()) return;
  settings.setValue("export/dir", QFileInfo(path).absolutePath());
  const QString error = savePlot(plot_, path);
  if (!error.isEmpty()) {
    showError(tr("Could not export the plot: %1").arg(error));
    return;
  }
  showError({});
  emit statusMessage(tr("Plot written to %1").arg(path));
}

void ExperimentsPage::showFolder() {
  if (const RunSummary* r = currentRun()) {
    QDesktopServices::openUrl(QUrl::fromLocalFile(QString::fromStdString(r->run_dir)));
  }
}

}  // namespace kd::ui
