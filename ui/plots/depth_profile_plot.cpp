#include "plots/depth_profile_plot.h"

#include "plots/plot_style.h"

namespace kd::ui {

namespace {

double scoreOf(const QualityScores& s, QualityPlot::Series series) {
  switch (series) {
    case QualityPlot::kSeparation: return s.separation;
    case QualityPlot::kInformation: return s.information;
    case QualityPlot::kEfficiency: return s.efficiency;
    default: return s.quality;
  }
}

void fill(QCPGraph* graph, const AnalysisResult* a, QualityPlot::Series series) {
  QVector<double> x, y;
  if (a) {
    const int n = static_cast<int>(a->layers.size());
    for (int i = 0; i < n; ++i) {
      x.append(relativeDepth(i, n));
      y.append(scoreOf(a->layers[static_cast<size_t>(i)].scores, series));
    }
  }
  graph->setData(x, y, true);
}

}  // namespace

double relativeDepth(int index, int count) {
  return count > 1 ? static_cast<double>(index) / static_cast<double>(count - 1) : 0.0;
}

DepthProfilePlot::DepthProfilePlot(QWidget* parent) : QCustomPlot(parent) {
  setObjectName(QStringLiteral("depthProfile"));
  xAxis->setLabel(tr("relative depth (layer / last layer)"));
  xAxis->setRange(-0.03, 1.03);
  teacher_ = addGraph();
  student_ = addGraph();
  teacher_->setPen(QPen(seriesColor(0), 2));
  teacher_->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, 6));
  student_->setPen(QPen(seriesColor(1), 2));
  student_->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssSquare, 6));
  legend->setVisible(true);
  // Teachers' curves tend to sit high and students' deep layers low: the lower left stays clear.
  axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignBottom | Qt::AlignLeft);
  hint_ = new QCPItemText(this);
  hint_->position->setType(QCPItemPosition::ptAxisRectRatio);
  hint_->position->setCoords(0.5, 0.5);
  hint_->setClipToAxisRect(false);
  applyPlotTheme(this);
  addPlotInteractions(this, QStringLiteral("depth-profile"));
}

void DepthProfilePlot::setHint(const QString& hint) {
  hint_->setText(hint);
  hint_->setColor(palette().color(QPalette::PlaceholderText));
  hint_->setVisible(!hint.isEmpty());
  replot(rpQueuedReplot);
}

void DepthProfilePlot::setProfiles(const AnalysisResult* teacher, const AnalysisResult* student,
                                   QualityPlot::Series series, const QString& teacherLabel,
                                   const QString& studentLabel) {
  fill(teacher_, teacher, series);
  fill(student_, student, series);
  teacher_->setName(teacherLabel);
  student_->setName(studentLabel);
  yAxis->setLabel(QualityPlot::seriesName(series));
  bool found = false;
  QCPRange range = teacher_->getValueRange(found);
  bool found2 = false;
  const QCPRange other = student_->getValueRange(found2);
  if (found2) range = found ? QCPRange(std::min(range.lower, other.lower), std::max(range.upper, other.upper)) : other;
  if (found || found2) {
    const double pad = range.size() > 0 ? 0.08 * range.size() : 0.5;
    yAxis->setRange(range.lower - pad, range.upper + pad);
  }
  xAxis->setRange(-0.03, 1.03);
  replot(rpQueuedReplot);
}

}  // namespace kd::ui
