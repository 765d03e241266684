#pragma once
#include <QFutureWatcher>
#include <QWidget>
#include <memory>

#include "data/dataset.h"

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

 signals:
  void datasetLoaded(const QString& name, qlonglong trainSize, qlonglong testSize);
  void loadFailed(const QString& message);

 private:
  struct Result {
    std::shared_ptr<const Dataset> dataset;
    QString error;
  };
  void browse();
  void onFinished();
  void showDataset();

  QLineEdit* spec_ = nullptr;
  QPushButton* load_ = nullptr;
  QLabel* summary_ = nullptr;
  QLabel* error_ = nullptr;
  QTableWidget* classes_ = nullptr;
  QLabel* samples_ = nullptr;
  QFutureWatcher<Result>* watcher_ = nullptr;
  std::shared_ptr<const Dataset> dataset_;
  QString lastError_;
  QString runningSpec_;  // the spec being loaded
  QString loadedSpec_;   // the spec of dataset_
  QString pendingSpec_;  // asked for while another load ran; loaded next
};

}  // namespace kd::ui
