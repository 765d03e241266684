#include "plots/layer_mapping_view.h"

#include <QHelpEvent>
#include <QMouseEvent>
#include <QPainter>
#include <QPainterPath>
#include <QToolTip>

#include "table_models/layer_table_model.h"
#include "plots/plot_style.h"

namespace kd::ui {

namespace {

constexpr int kLabelWidth = 64;   // the "Teacher" / "Student" column
constexpr int kMargin = 8;        // around the drawing
constexpr int kStarSpace = 16;    // above the teacher row, for the recommendation stars
constexpr int kBoxHeight = 28;
constexpr int kMaxBoxWidth = 44;
constexpr int kBoxGap = 4;

}  // namespace

LayerMappingView::LayerMappingView(QWidget* parent) : QWidget(parent) {
  setObjectName(QStringLiteral("layerMapping"));
  setMouseTracking(true);
  setToolTip(tr("Top: the teacher's generalized layers; bottom: the student's. Click a box to "
                "select or deselect that layer. A link pairs the i-th chosen teacher layer with "
                "the i-th chosen student layer. ★ = recommended by knowledge quality."));
  setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Preferred);
}

void LayerMappingView::setTeacherLayers(std::vector<LayerInfo> layers) {
  teacher_ = std::move(layers);
  update();
}

void LayerMappingView::setStudentLayers(std::vector<LayerInfo> layers) {
  student_ = std::move(layers);
  update();
}

void LayerMappingView::setSelection(const QVector<int>& teacher, const QVector<int>& student) {
  chosenTeacher_ = teacher;
  chosenStudent_ = student;
  update();
}

void LayerMappingView::setRecommended(const QVector<int>& teacher) {
  recommended_ = teacher;
  update();
}

int LayerMappingView::linkCount() const {
  return static_cast<int>(std::min(chosenTeacher_.size(), chosenStudent_.size()));
}

QRect LayerMappingView::box(bool teacher, int layer) const {
  const int n = static_cast<int>(teacher ? teacher_.size() : student_.size());
  if (layer < 0 || layer >= n) return {};
  const int left = kLabelWidth + kMargin;
  const int span = std::max(1, width() - left - kMargin);
  const double slot = static_cast<double>(span) / n;
  const int w = std::clamp(static_cast<int>(slot) - kBoxGap, 6, kMaxBoxWidth);
  const int cx = left + static_cast<int>((layer + 0.5) * slot);
  const int top = teacher ? kMargin + kStarSpace : height() - kMargin - kBoxHeight;
  return {cx - w / 2, top, w, kBoxHeight};
}

std::pair<bool, int> LayerMappingView::hit(const QPoint& pos) const {
  for (bool teacher : {true, false}) {
    const int n = static_cast<int>(teacher ? teacher_.size() : student_.size());
    for (int l = 0; l < n; ++l) {
      if (box(teacher, l).adjusted(-kBoxGap / 2, -2, kBoxGap / 2, 2).contains(pos)) return {teacher, l};
    }
  }
  return {true, -1};
}

void LayerMappingView::paintRow(QPainter& p, bool teacher) {
  const auto& layers = teacher ? teacher_ : student_;
  const QVector<int>& chosen = teacher ? chosenTeacher_ : chosenStudent_;
  const QPalette pal = palette();
  const int rowTop = teacher ? kMargin + kStarSpace : height() - kMargin - kBoxHeight;
  p.setPen(pal.color(QPalette::Text));
  p.drawText(QRect(kMargin, rowTop, kLabelWidth, kBoxHeight), Qt::AlignVCenter | Qt::AlignLeft,
             teacher ? tr("Teacher") : tr("Student"));
  if (layers.empty()) {
    p.setPen(pal.color(QPalette::PlaceholderText));
    p.drawText(QRect(kLabelWidth + kMargin, rowTop, width(), kBoxHeight), Qt::AlignVCenter,
               teacher ? tr("no teacher loaded") : tr("no student loaded"));
    return;
  }
  for (int l = 0; l < static_cast<int>(layers.size()); ++l) {
    const QRect r = box(teacher, l);
    const int pair = static_cast<int>(chosen.indexOf(l));
    QColor fill = pal.color(QPalette::Button);
    QColor text = pal.color(QPalette::ButtonText);
    if (pair >= 0) {
      fill = pair < linkCount() ? seriesColor(pair) : pal.color(QPalette::Highlight);
      text = Qt::white;
    }
    QPen border(pair >= 0 ? fill.darker(140) : pal.color(QPalette::Mid), pair >= 0 ? 2 : 1);
    if (layers[static_cast<size_t>(l)].in_head) border.setStyle(Qt::DashLine);
    p.setPen(border);
    p.setBrush(fill);
    p.drawRoundedRect(r, 4, 4);
    p.setPen(text);
    p.drawText(r, Qt::AlignCenter, QString::number(l));
    if (teacher && recommended_.contains(l)) {
      p.setPen(QColor(0xd6, 0x27, 0x28));
      p.drawText(QRect(r.left(), r.top() - kStarSpace, r.width(), kStarSpace), Qt::AlignCenter,
                 QStringLiteral("★"));
    }
  }
}

void LayerMappingView::paintEvent(QPaintEvent*) {
  QPainter p(this);
  p.setRenderHint(QPainter::Antialiasing);
  for (int i = 0; i < linkCount(); ++i) {
    const QRect t = box(true, chosenTeacher_[i]);
    const QRect s = box(false, chosenStudent_[i]);
    if (t.isEmpty() || s.isEmpty()) continue;
    const QPointF a(t.center().x(), t.bottom() + 1), b(s.center().x(), s.top() - 1);
    const double mid = (a.y() + b.y()) / 2;
    QPainterPath path(a);
    path.cubicTo(QPointF(a.x(), mid), QPointF(b.x(), mid), b);
    p.setPen(QPen(seriesColor(i), 2.5));
    p.setBrush(Qt::NoBrush);
    p.drawPath(path);
  }
  paintRow(p, true);
  paintRow(p, false);
}

void LayerMappingView::mouseReleaseEvent(QMouseEvent* event) {
  if (event->button() != Qt::LeftButton) return QWidget::mouseReleaseEvent(event);
  const auto [teacher, layer] = hit(event->pos());
  if (layer < 0) return;
  if (teacher) {
    emit teacherLayerClicked(layer);
  } else {
    emit studentLayerClicked(layer);
  }
}

bool LayerMappingView::event(QEvent* event) {
  if (event->type() == QEvent::ToolTip) {
    auto* help = static_cast<QHelpEvent*>(event);
    const auto [teacher, layer] = hit(help->pos());
    if (layer >= 0) {
      const LayerInfo& info = (teacher ? teacher_ : student_)[static_cast<size_t>(layer)];
      QString text = (teacher ? tr("Teacher layer %1") : tr("Student layer %1")).arg(layer);
      text += QStringLiteral(": %1 (%2), %3").arg(QString::fromStdString(info.name),
                                                  QString::fromStdString(info.kind),
                                                  shapeText(info.shape));
      if (info.in_head) text += tr(" — in the classifier head");
      if (teacher && recommended_.contains(layer)) text += tr("\nRecommended by knowledge quality");
      text += tr("\nClick to select or deselect");
      QToolTip::showText(help->globalPos(), text, this);
      return true;
    }
  }
  return QWidget::event(event);
}

}  // namespace kd::ui
