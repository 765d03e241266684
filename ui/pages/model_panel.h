#pragma once
#include <QFutureWatcher>
#include <QGroupBox>
#include <memory>

#include "models/model_loader.h"

class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QPushButton;
class QSpinBox;
class QTableView;

namespace kd::ui {

class LayerTableModel;

/// One side of the Models page (teacher or student): pick a zoo architecture with its options or
/// open a file (button or drag and drop), then see the model's generalized layers. Loading runs
/// on a worker thread; a result that arrives after a newer request is dropped.
class ModelPanel : public QGroupBox {
  Q_OBJECT

 public:
  ModelPanel(const QString& role, QWidget* parent = nullptr);
  ~ModelPanel() override;

  /// Loads a zoo spec or a file path in the background.
  void loadSpec(const QString& spec);
  /// Sets the zoo controls from a spec (without loading).
  void setZooControls(const QString& spec);
  /// Asks for a model file with a dialog and loads it.
  void openFileDialog();
  /// The zoo spec the controls describe.
  QString zooSpecFromControls() const;

  /// The loaded model, or null while none is loaded.
  std::shared_ptr<LoadedModel> model() const { return model_; }
  /// Number of rows in the layer table.
  int layerCount() const;
  /// True while a load is running.
  bool isBusy() const;
  /// The error shown for the last failed load (empty after a success).
  QString lastError() const { return lastError_; }

 signals:
  /// A model finished loading.
  void modelLoaded(const QString& architecture, int layers);
  /// A load failed; the previous model stays.
  void loadFailed(const QString& message);

 protected:
  void dragEnterEvent(QDragEnterEvent* event) override;
  void dropEvent(QDropEvent* event) override;

 private:
  struct Result {
    std::shared_ptr<LoadedModel> model;
    QString error;
  };
  void buildUi();
  void onFinished();
  void showModel();

  QString role_;
  QComboBox* arch_ = nullptr;
  QSpinBox* channels_ = nullptr;
  QSpinBox* size_ = nullptr;
  QSpinBox* classes_ = nullptr;
  QDoubleSpinBox* width_ = nullptr;
  QPushButton* build_ = nullptr;
  QPushButton* open_ = nullptr;
  QLabel* summary_ = nullptr;
  QLabel* error_ = nullptr;
  QTableView* table_ = nullptr;
  LayerTableModel* layers_ = nullptr;
  QFutureWatcher<Result>* watcher_ = nullptr;
  std::shared_ptr<LoadedModel> model_;
  QString lastError_;
  quint64 jobId_ = 0;       // id of the newest request
  quint64 runningJob_ = 0;  // id of the request the watcher runs
  QString pendingSpec_;     // a request made while another was running
};

}  // namespace kd::ui
