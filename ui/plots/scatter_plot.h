#pragma once
#include <QPointF>
#include <QStringList>
#include <QVector>
#include <qcustomplot.h>

namespace kd::ui {

/// A 2-D scatter colored by class: one graph per class (legend entry = class name), the class
/// centers as larger outlined markers with the class index beside them, and a nearest-point
/// lookup in screen space for hovering. Emits pointHovered when the point under the mouse
/// changes (-1 when the mouse leaves every point).
class ScatterPlot : public QCustomPlot {
  Q_OBJECT

 public:
  /// Distance in pixels within which the mouse is "on" a point.
  static constexpr double kHoverRadiusPx = 8.0;
  /// Classes beyond which the legend is hidden (it would not fit; the hover names the class).
  static constexpr int kMaxLegendClasses = 20;

  explicit ScatterPlot(QWidget* parent = nullptr);

  /// Replaces the points: x[i], y[i] of class labels[i]; centers per class (cx, cy), one per
  /// entry of classNames. Rescales the axes to the data.
  void setPoints(const QVector<double>& x, const QVector<double>& y, const QVector<int>& labels,
                 const QVector<double>& cx, const QVector<double>& cy, const QStringList& classNames);
  /// Adds reference points under the points (call after setPoints, which removes them): hollow
  /// rings in the class colors, without legend entries or hovering; e.g. the teacher's sample
  /// under the student's in the same coordinates.
  void setReference(const QVector<double>& x, const QVector<double>& y, const QVector<int>& labels);
  int referenceCount() const { return referenceCount_; }
  /// Removes every point (the plot shows `message` as its title).
  void clearPoints(const QString& message = {});
  void setTitle(const QString& title);
  QString title() const;

  int pointCount() const { return static_cast<int>(x_.size()); }
  /// Points of class `cls` drawn by its graph.
  int classPointCount(int cls) const;
  /// Data coordinates and class of point `index`.
  QPointF pointAt(int index) const { return {x_.value(index), y_.value(index)}; }
  int labelAt(int index) const { return labels_.value(index, -1); }
  /// Widget pixel position of point `index`.
  QPointF pixelOf(int index) const;
  /// The point nearest to widget position `pixel` within `maxDistance` pixels, or -1.
  int nearestPoint(const QPointF& pixel, double maxDistance = kHoverRadiusPx) const;
  /// Rings point `index` (-1: none).
  void setHighlighted(int index);
  int highlighted() const { return highlighted_; }

 signals:
  /// The point under the mouse changed; globalPos is where the mouse is.
  void pointHovered(int index, const QPoint& globalPos);

 protected:
  void leaveEvent(QEvent* event) override;
  /// Follows light/dark palette changes.
  void changeEvent(QEvent* event) override;

 private:
  void onMouseMove(QMouseEvent* event);
  void rescaleWithMargin();
  /// Colors that follow the palette: the hover ring and the class-index labels.
  void applyPaletteColors();

  QCPTextElement* title_ = nullptr;
  QCPGraph* ring_ = nullptr;  // the hovered point's ring, drawn above everything
  QVector<QCPGraph*> classGraphs_;
  QVector<double> x_, y_;
  QVector<int> labels_;
  int highlighted_ = -1;
  int referenceCount_ = 0;
};

}  // namespace kd::ui
