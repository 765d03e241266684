#pragma once
#include <QAbstractTableModel>
#include <vector>

#include "experiment/run_store.h"

namespace kd::ui {

/// Table model over the runs of a runs folder (kd::RunSummary): name, method, layers, seeds,
/// epochs, best and last test accuracy, status and date. Qt::UserRole gives each cell's sort
/// key (numbers for the numeric columns). Runs whose names repeat show their folder names.
class RunTableModel : public QAbstractTableModel {
  Q_OBJECT

 public:
  enum Column {
    kName,
    kMethod,
    kTeacherLayers,
    kStudentLayers,
    kSeeds,
    kEpochs,
    kBest,
    kLast,
    kStatus,
    kDate,
    kColumnCount
  };
  /// Role of the run folder (QString) on every cell.
  static constexpr int kRunDirRole = Qt::UserRole + 1;

  using QAbstractTableModel::QAbstractTableModel;

  /// Replaces the rows.
  void setRuns(std::vector<RunSummary> runs);
  const std::vector<RunSummary>& runs() const { return runs_; }
  /// The run at source row `row` (must be valid).
  const RunSummary& run(int row) const { return runs_.at(static_cast<size_t>(row)); }
  /// Source row of a run folder, or -1.
  int rowOf(const QString& runDir) const;

  int rowCount(const QModelIndex& parent = {}) const override;
  int columnCount(const QModelIndex& parent = {}) const override;
  QVariant data(const QModelIndex& index, int role) const override;
  QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

 private:
  QVariant display(const RunSummary& r, int column) const;
  QVariant sortKey(const RunSummary& r, int column) const;

  std::vector<RunSummary> runs_;
  std::vector<QString> names_;  ///< shown names: the run's name, or its folder when names repeat
};

/// "3, 4, 5, 6", or "—" for none.
QString layerListText(const std::vector<int>& layers);
/// "87.37 ± 0.18" (the ± part only when more than one seed finished), or "" without a value.
QString accuracyText(const std::optional<double>& mean, const std::optional<double>& std,
                     int seeds);

}  // namespace kd::ui
