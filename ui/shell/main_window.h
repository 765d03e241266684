#pragma once
#include <QMainWindow>
#include <QVector>

#include "experiment/experiment_config.h"

class QLabel;
class QTabWidget;

namespace kd::ui {

class DataPage;
class ExperimentsPage;
class GeometryPage;
class LayersPage;
class ModelsPage;
class RecentFiles;
class Session;
class TrainingPage;
class TryItPage;

/// The main window: assembles the pages around one Session, and owns the menus, shortcuts,
/// status bar, experiment files (open, save, recent) and the settings that persist.
class MainWindow : public QMainWindow {
  Q_OBJECT

 public:
  explicit MainWindow(QWidget* parent = nullptr);
  ~MainWindow() override;

  /// Loads the embedded default: Fashion-MNIST, the bundled teacher and the default student.
  void loadDefaults();
  /// Loads what the last session used (models, data, form); the defaults on first launch.
  void loadLastSession();

  /// Opens an experiment file (ours or the paper's KD_wo_CE format): loads its models and data,
  /// fills the training form and selects its explicit layers once the models are loaded.
  /// Returns the error shown, or an empty string.
  QString openExperiment(const QString& path);
  /// Starts a layer-choice study of the Training page's experiment on the Experiments page's
  /// Sweeps tab (shown); returns the error shown there, or "".
  QString startLayerStudy(int seeds, int randomSets, int jobs);
  /// Writes the current experiment (form, models, data, layers) as JSON, atomically.
  QString saveExperiment(const QString& path);

  ModelsPage* modelsPage() const { return models_; }
  DataPage* dataPage() const { return data_; }
  LayersPage* layersPage() const { return layers_; }
  GeometryPage* geometryPage() const { return geometry_; }
  TrainingPage* trainingPage() const { return training_; }
  ExperimentsPage* experimentsPage() const { return experiments_; }
  TryItPage* tryItPage() const { return tryIt_; }
  Session* session() const { return session_; }
  QTabWidget* tabs() const { return tabs_; }
  /// True while `page`'s tab carries the warning mark of an error the user has not seen yet.
  bool pageFlagged(QWidget* page) const;

  /// The default teacher (the bundled model file, else its zoo spec) and student specs.
  static QString defaultTeacher();
  static QString defaultStudent();

 protected:
  void closeEvent(QCloseEvent* event) override;

 private:
  void buildPages();
  void buildMenus();
  void connectSession();
  void showAbout();
  void showError(const QString& message);
  /// Marks `page`'s tab (an error came while another page was shown) until it is shown.
  void flagPageError(QWidget* page);
  void openExperimentDialog();
  void saveExperimentDialog(bool askName);
  void applyPendingLayers();
  void updateTitle();

  Session* session_ = nullptr;
  QTabWidget* tabs_ = nullptr;
  ModelsPage* models_ = nullptr;
  DataPage* data_ = nullptr;
  LayersPage* layers_ = nullptr;
  GeometryPage* geometry_ = nullptr;
  TrainingPage* training_ = nullptr;
  ExperimentsPage* experiments_ = nullptr;
  TryItPage* tryIt_ = nullptr;
  QLabel* device_ = nullptr;
  RecentFiles* recent_ = nullptr;
  QString experimentPath_;  // the file the experiment was opened from or saved to
  // Layers of an opened experiment, applied once its models have loaded.
  struct PendingLayers {
    QString teacherSpec, studentSpec;
    QVector<int> teacher, student;
    bool active = false;
  } pending_;
  bool closeAfterStop_ = false;  // the user chose to quit during training
};

}  // namespace kd::ui
