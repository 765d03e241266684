#include "pages/student_geometry_panel.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QSignalBlocker>
#include <QSlider>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>

#include "plots/live_plot.h"
#include "plots/plot_style.h"
#include "plots/scatter_plot.h"

namespace kd::ui {

namespace {

QString number(double v, int decimals = 2) {
  return std::isfinite(v) ? QString::number(v, 'f', decimals) : QStringLiteral("–");
}

// Widens [lo, hi] to hold every (x, y) pair of `coords` in the range they fall in.
void widen(const std::vector<float>& coords, double lo[2], double hi[2]) {
  for (size_t i = 0; i + 1 < coords.size(); i += 2) {
    for (int a = 0; a < 2; ++a) {
      const double v = coords[i + static_cast<size_t>(a)];
      if (!std::isfinite(v)) continue;
      lo[a] = std::min(lo[a], v);
      hi[a] = std::max(hi[a], v);
    }
  }
}

}  // namespace

StudentGeometryPanel::StudentGeometryPanel(QWidget* parent) : QWidget(parent) {
  setObjectName(QStringLiteral("studentGeometry"));
  cka_ = new LivePlot(QStringLiteral("student-cka"), tr("CKA of each student layer to its teacher layer"),
                      tr("epoch"), tr("linear CKA"));
  quality_ = new LivePlot(QStringLiteral("student-quality"),
                          tr("Student layer Q (teacher layer's Q dashed)"), tr("epoch"), tr("Q"));
  scatter_ = new ScatterPlot;
  scatter_->setObjectName(QStringLiteral("studentGeometryScatter"));
  scatter_->setToolTip(tr("The probe sample: rings are the teacher layer's targets, dots the student layer "
                          "through its projector, both on the teacher layer's top two principal axes"));
  applyPlotTheme(scatter_);
  addPlotInteractions(scatter_, QStringLiteral("student-geometry"));
  pair_ = new QComboBox;
  pair_->setObjectName(QStringLiteral("geometryPair"));
  pair_->setToolTip(tr("Which distilled pair (teacher layer → student layer) the 2-D view shows"));
  pair_->setSizeAdjustPolicy(QComboBox::AdjustToContents);
  slider_ = new QSlider(Qt::Horizontal);
  slider_->setObjectName(QStringLiteral("geometrySlider"));
  slider_->setToolTip(tr("Scrub through the snapshots: before training, then after every epoch"));
  slider_->setRange(0, 0);
  caption_ = new QLabel;
  caption_->setObjectName(QStringLiteral("geometryCaption"));
  caption_->setWordWrap(true);
  caption_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  message_ = new QLabel;
  message_->setWordWrap(true);
  message_->setStyleSheet(QStringLiteral("color: gray;"));

  auto* curves = new QVBoxLayout;
  curves->addWidget(cka_, 1);
  curves->addWidget(quality_, 1);
  auto* controls = new QHBoxLayout;
  controls->addWidget(new QLabel(tr("Pair")));
  controls->addWidget(pair_);
  controls->addWidget(slider_, 1);
  auto* view = new QVBoxLayout;
  view->addLayout(controls);
  view->addWidget(scatter_, 1);
  view->addWidget(caption_);
  auto* row = new QHBoxLayout;
  row->addLayout(curves, 1);
  row->addLayout(view, 1);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(message_);
  layout->addLayout(row, 1);

  connect(pair_, &QComboBox::currentIndexChanged, this, [this] { drawScatter(); });
  connect(slider_, &QSlider::valueChanged, this, [this](int value) {
    following_ = value == slider_->maximum();
    if (value != current_) showSnapshot(value);
  });
  clear(tr("Student geometry appears here while a run with geometry tracking trains: after every "
           "epoch, how each distilled student layer takes on its teacher layer's geometry."));
}

void StudentGeometryPanel::setClassNames(const QStringList& names) {
  classNames_ = names;
  drawScatter();
}

void StudentGeometryPanel::clear(const QString& message) {
  probe_ = {};
  snapshots_.clear();
  current_ = -1;
  following_ = true;
  {
    const QSignalBlocker b1(pair_), b2(slider_);
    pair_->clear();
    slider_->setRange(0, 0);
  }
  message_->setText(message);
  message_->setVisible(!message.isEmpty());
  cka_->clearSeries(tr("no snapshots yet"));
  quality_->clearSeries(tr("no snapshots yet"));
  scatter_->clearPoints();
  caption_->clear();
}

void StudentGeometryPanel::setProbe(const GeometryProbe& probe) {
  clear(QString());
  probe_ = probe;
  const QSignalBlocker block(pair_);
  for (int i = 0; i < pairCount(); ++i) pair_->addItem(pairName(i));
  pair_->setCurrentIndex(pairCount() > 0 ? 0 : -1);
}

QString StudentGeometryPanel::pairName(int pair) const {
  const ProbePair& p = probe_.pairs.at(static_cast<size_t>(pair));
  return tr("T%1 %2 → S%3 %4")
      .arg(p.teacher_layer)
      .arg(QString::fromStdString(p.teacher_name))
      .arg(p.student_layer)
      .arg(QString::fromStdString(p.student_name));
}

void StudentGeometryPanel::addSnapshot(const GeometrySnapshot& snapshot) {
  if (snapshot.pairs.size() != probe_.pairs.size()) return;  // not of this probe
  snapshots_.push_back(snapshot);
  rebuildCurves();
  {
    const QSignalBlocker block(slider_);
    slider_->setRange(0, snapshotCount() - 1);
  }
  if (following_ || current_ < 0) showSnapshot(snapshotCount() - 1);
}

void StudentGeometryPanel::setLog(const GeometryLog& log) {
  setProbe(log.probe);
  snapshots_ = log.snapshots;
  rebuildCurves();
  {
    const QSignalBlocker block(slider_);
    slider_->setRange(0, std::max(0, snapshotCount() - 1));
  }
  following_ = true;
  showSnapshot(snapshotCount() - 1);
}

int StudentGeometryPanel::currentPair() const { return pair_->currentIndex(); }

void StudentGeometryPanel::setCurrentPair(int pair) { pair_->setCurrentIndex(pair); }

void StudentGeometryPanel::showSnapshot(int index) {
  if (index < 0 || index >= snapshotCount()) return;
  current_ = index;
  if (slider_->value() != index) {
    const QSignalBlocker block(slider_);
    slider_->setValue(index);
  }
  drawScatter();
}

void StudentGeometryPanel::rebuildCurves() {
  cka_->clearSeries();
  quality_->clearSeries();
  if (snapshots_.empty()) return;
  const double first = snapshots_.front().epochs_done, last = snapshots_.back().epochs_done;
  std::vector<QCPGraph*> students;
  for (int i = 0; i < pairCount(); ++i) {
    const auto k = static_cast<size_t>(i);
    QVector<double> xs, cka, q;
    for (const GeometrySnapshot& s : snapshots_) {
      xs.append(s.epochs_done);
      cka.append(s.pairs[k].cka);
      q.append(s.pairs[k].student.quality);
    }
    const QString key = QString::number(i);
    const QString label = QStringLiteral("T%1→S%2").arg(probe_.pairs[k].teacher_layer).arg(probe_.pairs[k].student_layer);
    cka_->series(key, label, true);
    cka_->append(key, xs, cka);
    students.push_back(quality_->series(key, label, true));  // the same colours as the CKA plot's
    quality_->append(key, xs, q);
  }
  for (int i = 0; i < pairCount(); ++i) {
    const QString key = QStringLiteral("t") + QString::number(i);
    QCPGraph* teacher = quality_->series(key, key);
    teacher->setPen(QPen(students[static_cast<size_t>(i)]->pen().color(), 1.5, Qt::DashLine));
    teacher->removeFromLegend();
    const double q_t = probe_.pairs[static_cast<size_t>(i)].teacher.quality;
    quality_->append(key, {first, std::max(last, first + 1)}, {q_t, q_t});
  }
  cka_->refresh();
  quality_->refresh();
}

void StudentGeometryPanel::drawScatter() {
  const int pair = currentPair();
  if (pair < 0 || current_ < 0 || current_ >= snapshotCount()) {
    scatter_->clearPoints();
    caption_->clear();
    return;
  }
  const auto k = static_cast<size_t>(pair);
  const ProbePair& p = probe_.pairs[k];
  const GeometrySnapshot& s = snapshots_[static_cast<size_t>(current_)];
  const PairSnapshot& ps = s.pairs[k];
  const int classes = static_cast<int>(probe_.num_classes);
  QStringList names = classNames_;
  if (names.isEmpty()) {
    for (const std::string& n : probe_.class_names) names << QString::fromStdString(n);
  }
  for (int c = static_cast<int>(names.size()); c < classes; ++c) names << tr("class %1").arg(c);
  while (names.size() > classes) names.removeLast();
  QVector<double> tx, ty, sx, sy, cx(classes, 0.0), cy(classes, 0.0), count(classes, 0.0);
  QVector<int> labels;
  for (size_t i = 0; i < probe_.labels.size(); ++i) {
    const int c = static_cast<int>(probe_.labels[i]);
    labels.append(c);
    tx.append(p.teacher_coords[2 * i]);
    ty.append(p.teacher_coords[2 * i + 1]);
    sx.append(ps.coords[2 * i]);
    sy.append(ps.coords[2 * i + 1]);
    if (c >= 0 && c < classes) {
      cx[c] += sx.back();
      cy[c] += sy.back();
      count[c] += 1;
    }
  }
  for (int c = 0; c < classes; ++c) {
    if (count[c] > 0) cx[c] /= count[c], cy[c] /= count[c];
  }
  scatter_->setPoints(sx, sy, labels, cx, cy, names);
  scatter_->setReference(tx, ty, labels);
  // Axes fixed over the run, so the points are seen to move towards the teacher's rings.
  double lo[2] = {HUGE_VAL, HUGE_VAL}, hi[2] = {-HUGE_VAL, -HUGE_VAL};
  widen(p.teacher_coords, lo, hi);
  for (const GeometrySnapshot& each : snapshots_) widen(each.pairs[k].coords, lo, hi);
  if (lo[0] < hi[0] && lo[1] < hi[1]) {
    const double px = 0.05 * (hi[0] - lo[0]), py = 0.05 * (hi[1] - lo[1]);
    scatter_->xAxis->setRange(lo[0] - px, hi[0] + px);
    scatter_->yAxis->setRange(lo[1] - py, hi[1] + py);
  }
  scatter_->xAxis->setLabel(tr("teacher PC 1"));
  scatter_->yAxis->setLabel(tr("teacher PC 2"));
  const QString when = s.epoch < 0 ? tr("before training")
                       : s.partial ? tr("during epoch %1 (step %2)").arg(s.epoch + 1).arg(s.step)
                                   : tr("after epoch %1 (step %2)").arg(s.epoch + 1).arg(s.step);
  scatter_->setTitle(tr("T%1 → S%2, %3").arg(p.teacher_layer).arg(p.student_layer).arg(when));
  scatter_->replot(QCustomPlot::rpQueuedReplot);
  caption_->setText(tr("Snapshot %1 of %2, %3 · CKA to the teacher layer %4 · Q %5 (teacher %6) · "
                       "NCC %7 % · feature loss %8 · probe of %9 samples")
                        .arg(current_ + 1)
                        .arg(snapshotCount())
                        .arg(when)
                        .arg(number(ps.cka, 3))
                        .arg(number(ps.student.quality, 3))
                        .arg(number(p.teacher.quality, 3))
                        .arg(number(100 * ps.ncc, 1))
                        .arg(number(ps.feature_loss, 4))
                        .arg(probe_.labels.size()));
}

QString StudentGeometryPanel::caption() const { return caption_->text(); }

}  // namespace kd::ui
