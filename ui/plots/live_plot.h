#pragma once
#include <qcustomplot.h>

#include <QHash>
#include <QString>
#include <QVector>

namespace kd::ui {

/// A line plot fed while training runs: named series created on first use (each with the next
/// series color and a legend entry), points appended in batches, and one queued replot per
/// refresh(). The axes follow the data unless the user has zoomed or panned (userHasZoomed).
class LivePlot : public QCustomPlot {
  Q_OBJECT

 public:
  /// `name` is the object name and the export file name.
  LivePlot(const QString& name, const QString& title, const QString& xLabel, const QString& yLabel,
           QWidget* parent = nullptr);

  /// The series `key`, created on first use with legend text `label`; `markers` draws each
  /// point as a circle (sparse series such as the per-epoch test values).
  QCPGraph* series(const QString& key, const QString& label, bool markers = false);
  /// The series `key`, or null when it does not exist yet.
  QCPGraph* findSeries(const QString& key) const { return graphs_.value(key, nullptr); }
  /// Appends points to series `key` (which must exist), x ascending.
  void append(const QString& key, const QVector<double>& xs, const QVector<double>& ys);
  /// Removes every series and shows `placeholder` in the middle until data arrives.
  void clearSeries(const QString& placeholder = QString());
  /// Fits the axes to the data (unless the user zoomed) and queues one replot.
  void refresh();

 private:
  QHash<QString, QCPGraph*> graphs_;
  QCPItemText* placeholder_ = nullptr;
};

}  // namespace kd::ui
