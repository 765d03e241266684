#include "table_models/run_table_model.h"

#include <QBrush>
#include <QColor>
#include <QDateTime>
#include <algorithm>
#include <numeric>

namespace kd::ui {

namespace {

/// Epochs of the first seed still under way ("3/6"), or the planned epochs when none is.
QString epochsText(const RunSummary& r) {
  for (int done : r.seed_epochs) {
    if (done < r.epochs_planned) return QStringLiteral("%1/%2").arg(done).arg(r.epochs_planned);
  }
  return QString::number(r.epochs_planned);
}

QString seedsText(const RunSummary& r) {
  if (r.complete) return QString::number(r.seeds_planned);
  return QStringLiteral("%1/%2").arg(r.seeds_done).arg(r.seeds_planned);
}

}  // namespace

QString layerListText(const std::vector<int>& layers) {
  if (layers.empty()) return QStringLiteral("\u2014");
  QStringList parts;
  for (int l : layers) parts << QString::number(l);
  return parts.join(QStringLiteral(", "));
}

QString accuracyText(const std::optional<double>& mean, const std::optional<double>& std,
                     int seeds) {
  if (!mean) return {};
  QString text = QString::number(*mean, 'f', 2);
  if (std && seeds > 1) text += QStringLiteral(" \u00b1 ") + QString::number(*std, 'f', 2);
  return text;
}

void RunTableModel::setRuns(std::vector<RunSummary> runs) {
  beginResetModel();
  runs_ = std::move(runs);
  names_.clear();
  for (const RunSummary& r : runs_) {
    const auto same = std::count_if(runs_.begin(), runs_.end(),
                                    [&r](const RunSummary& o) { return o.name == r.name; });
    names_.push_back(QString::fromStdString(same > 1 ? r.folder : r.name));
  }
  endResetModel();
}

int RunTableModel::rowOf(const QString& runDir) const {
  const std::string dir = runDir.toStdString();
  for (size_t i = 0; i < runs_.size(); ++i) {
    if (runs_[i].run_dir == dir) return static_cast<int>(i);
  }
  return -1;
}

int RunTableModel::rowCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : static_cast<int>(runs_.size());
}

int RunTableModel::columnCount(const QModelIndex& parent) const {
  return parent.isValid() ? 0 : kColumnCount;
}

QVariant RunTableModel::display(const RunSummary& r, int column) const {
  switch (column) {
    case kName:
      return names_.at(static_cast<size_t>(&r - runs_.data()));
    case kMethod:
      return QString::fromStdString(r.method);
    case kTeacherLayers:
      return layerListText(r.teacher_layers);
    case kStudentLayers:
      return layerListText(r.student_layers);
    case kSeeds:
      return seedsText(r);
    case kEpochs:
      return epochsText(r);
    case kBest:
      return accuracyText(r.best_mean, r.best_std, r.seeds_done);
    case kLast:
      return accuracyText(r.last_mean, r.last_std, r.seeds_done);
    case kStatus:
      return QString::fromStdString(r.status);
    case kDate:
      return QDateTime::fromSecsSinceEpoch(r.modified_unix)
          .toString(QStringLiteral("yyyy-MM-dd HH:mm"));
    default:
      return {};
  }
}

QVariant RunTableModel::sortKey(const RunSummary& r, int column) const {
  switch (column) {
    case kSeeds:
      return r.seeds_done;
    case kEpochs:
      return std::accumulate(r.seed_epochs.begin(), r.seed_epochs.end(), 0);
    case kBest:
      return r.best_mean.value_or(-1.0);
    case kLast:
      return r.last_mean.value_or(-1.0);
    case kDate:
      return static_cast<qlonglong>(r.modified_unix);
    default:
      return display(r, column);
  }
}

QVariant RunTableModel::data(const QModelIndex& index, int role) const {
  if (!index.isValid() || index.row() >= rowCount()) return {};
  const RunSummary& r = runs_[static_cast<size_t>(index.row())];
  switch (role) {
    case Qt::DisplayRole:
      return display(r, index.column());
    case Qt::UserRole:
      return sortKey(r, index.column());
    case kRunDirRole:
      return QString::fromStdString(r.run_dir);
    case Qt::TextAlignmentRole:
      if (index.column() >= kSeeds && index.column() <= kLast) {
        return QVariant::fromValue(Qt::AlignRight | Qt::AlignVCenter);
      }
      return {};
    case Qt::ForegroundRole:
      if (index.column() == kStatus && r.damaged()) return QBrush(QColor(0xc6, 0x28, 0x28));
      return {};
    case Qt::ToolTipRole: {
      QString tip =
          tr("%1\n%2 \u2192 %3 on %4\nStatus: %5")
              .arg(QString::fromStdString(r.run_dir),
                   r.teacher.empty() ? tr("(no teacher)") : QString::fromStdString(r.teacher),
                   QString::fromStdString(r.student), QString::fromStdString(r.dataset),
                   QString::fromStdString(r.status));
      if (index.column() == kEpochs && !r.seed_epochs.empty()) {
        QStringList per;
        for (int e : r.seed_epochs) per << QString::number(e);
        tip += tr("\nEpochs done per seed: %1 of %2")
                   .arg(per.join(QStringLiteral(", ")))
                   .arg(r.epochs_planned);
      }
      return tip;
    }
    default:
      return {};
  }
}

QVariant RunTableModel::headerData(int section, Qt::Orientation orientation, int role) const {
  if (orientation != Qt::Horizontal) return {};
  static const char* const kTitles[kColumnCount] = {
      QT_TR_NOOP("Name"),           QT_TR_NOOP("Method"),
      QT_TR_NOOP("Teacher layers"), QT_TR_NOOP("Student layers"),
      QT_TR_NOOP("Seeds"),          QT_TR_NOOP("Epochs"),
      QT_TR_NOOP("Best %"),         QT_TR_NOOP("Last %"),
      QT_TR_NOOP("Status"),         QT_TR_NOOP("Date")};
  static const char* const kTips[kColumnCount] = {
      QT_TR_NOOP("The experiment's name (its run folder's name when it has none)"),
      QT_TR_NOOP("Distillation method"),
      QT_TR_NOOP("Distilled teacher layers (generalized layer indices)"),
      QT_TR_NOOP("Student layers matched to the teacher layers"),
      QT_TR_NOOP("Finished seeds (of planned while unfinished)"),
      QT_TR_NOOP("Epochs per seed (epochs done of the seed under way while unfinished)"),
      QT_TR_NOOP("Best test accuracy: mean \u00b1 standard deviation over finished seeds"),
      QT_TR_NOOP("Last epoch's test accuracy: mean \u00b1 standard deviation over finished seeds"),
      QT_TR_NOOP("complete, partial, not started, or damaged (with the reason)"),
      QT_TR_NOOP("Last change of any file of the run (local time)")};
  if (section < 0 || section >= kColumnCount) return {};
  if (role == Qt::DisplayRole) return tr(kTitles[section]);
  if (role == Qt::ToolTipRole) return tr(kTips[section]);
  return {};
}

}  // namespace kd::ui
