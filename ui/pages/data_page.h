#pragma once
#include <QFutureWatcher>
#include <QImage>
#include <QPair>
#include <QStringList>
#include <QWidget>
#include <memory>

#include "data/dataset.h"

class QComboBox;
class QLabel;
class QLineEdit;
class QPushButton;
class QTableWidget;

namespace kd::ui {

/// The Data page: a dataset spec (Fashion-MNIST by default), its size and classes, and a grid
/// of sample images per class. Loading runs on a worker thread.
class DataPage : public QWidget {
  Q_OBJECT

 public:
  explicit DataPage(QWidget* parent = nullptr);
  ~DataPage() override;

  /// Loads a dataset spec in the background (e.g. "fashion-mnist", "cifar10:/data/cifar").
  void loadSpec(const QString& spec);
  /// The loaded dataset, or null.
  std::shared_ptr<const Dataset> dataset() const { return dataset_; }
  /// The spec the shown dataset was loaded from ("" while none is).
  QString spec() const { return loadedSpec_; }
  /// True while loading.
  bool isBusy() const;
  /// The last error shown (empty after a success).
  QString lastError() const { return lastError_; }

  /// The dataset kinds the Kind box offers, as keys: "fashion-mnist", "mnist", "idx", "cifar10",
  /// "cifar100", "cifar100-coarse", "folder".
  static QStringList kinds();
  /// The spec for a dataset of `kind` (a key of kinds()) in `folder`: "cifar10:/data/c10",
  /// "cifar100:/data/c100?labels=coarse"; Fashion-MNIST without a folder is the installed one.
  static QString specFor(const QString& kind, const QString& folder);
  /// Loads a dataset of `kind` from `folder` (what the Kind box does after its folder dialog) and
  /// returns the spec.
  QString openKind(const QString& kind, const QString& folder);
  /// Largest number of classes the sample grid shows (one row each).
  static constexpr int kMaxGridClasses = 100;
  /// Samples per class in the grid.
  static constexpr int kGridSamples = 10;
  /// The sample grid shown (null image before a dataset is loaded).
  QImage sampleGrid() const { return grid_; }
  /// Rows of the class table.
  int classRows() const;
  /// The class table's (train, test) counts of class `c`.
  QPair<qlonglong, qlonglong> classCounts(int c) const;

 protected:
  void changeEvent(QEvent* event) override;

 signals:
  void datasetLoaded(const QString& name, qlonglong trainSize, qlonglong testSize);
  void loadFailed(const QString& message);

 private:
  struct Result {
    std::shared_ptr<const Dataset> dataset;
    QString error;
  };
  void browse();
  void kindActivated(int index);
  void onFinished();
  void showDataset();

  QComboBox* kind_ = nullptr;
  QLineEdit* spec_ = nullptr;
  QPushButton* load_ = nullptr;
  QLabel* summary_ = nullptr;
  QLabel* error_ = nullptr;
  QTableWidget* classes_ = nullptr;
  QLabel* samples_ = nullptr;
  QFutureWatcher<Result>* watcher_ = nullptr;
  std::shared_ptr<const Dataset> dataset_;
  QImage grid_;
  QString lastError_;
  QString runningSpec_;  // the spec being loaded
  QString loadedSpec_;   // the spec of dataset_
  QString pendingSpec_;  // asked for while another load ran; loaded next
};

}  // namespace kd::ui
