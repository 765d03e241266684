#pragma once
#include <QWidget>

#include "experiment/experiment_config.h"

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QLineEdit;
class QSpinBox;

namespace kd::ui {

/// The Training page's settings: method and its weights, optimizer and schedule, epochs, batch
/// size, seeds, data subset, device and caching, and the runs folder. Every field carries a
/// tooltip; fields a method does not use are disabled. Models, data and layers are not here
/// (they come from the Session).
class TrainingForm : public QWidget {
  Q_OBJECT

 public:
  explicit TrainingForm(QWidget* parent = nullptr);

  /// The page's starting point: kdstudio-cli demo's settings (500 training images per class,
  /// 3 epochs, 1 seed), a few minutes on a CPU with Fashion-MNIST.
  static ExperimentConfig demoDefaults();

  /// Writes the form's fields into `config` (other fields are left as they are).
  void writeTo(ExperimentConfig& config) const;
  /// Shows the form's fields of `config`.
  void readFrom(const ExperimentConfig& config);

  QString runsRoot() const;
  /// Processes that train the run together (data parallelism; 1 = this process alone).
  int processes() const;
  void setRunsRoot(const QString& folder);

  /// The student's architecture (e.g. "resnet9:..."), for the automatic learning rate shown.
  void setStudentArchitecture(const QString& architecture);
  /// Whether the teacher layers will be ranked by Q (enables the analysis sample size).
  void setTeacherLayersByQuality(bool byQuality);
  /// Teacher mode: the method is fixed to "student" (cross entropy alone); checks the box.
  void setTeacherMode(bool on);

 signals:
  /// Any field changed.
  void changed();
  /// The user toggled "Train the teacher".
  void teacherModeRequested(bool on);

 private:
  void buildMethodFields();
  void buildOptimizerFields();
  void buildRunFields();
  void updateEnabled();
  void updateAutoHints();
  void browseRunsRoot();

  QCheckBox* teacherMode_ = nullptr;
  QComboBox* method_ = nullptr;
  QComboBox* projector_ = nullptr;
  QDoubleSpinBox* temperature_ = nullptr;
  QDoubleSpinBox* ceWeight_ = nullptr;
  QDoubleSpinBox* kdWeight_ = nullptr;
  QDoubleSpinBox* featureWeight_ = nullptr;
  QComboBox* optimizer_ = nullptr;
  QLineEdit* lr_ = nullptr;
  QLineEdit* weightDecay_ = nullptr;
  QComboBox* schedule_ = nullptr;
  QSpinBox* epochs_ = nullptr;
  QSpinBox* batchSize_ = nullptr;
  QSpinBox* seeds_ = nullptr;
  QSpinBox* firstSeed_ = nullptr;
  QSpinBox* trainPerClass_ = nullptr;
  QSpinBox* testPerClass_ = nullptr;
  QSpinBox* analysisPerClass_ = nullptr;
  QCheckBox* augment_ = nullptr;
  QComboBox* device_ = nullptr;
  QSpinBox* processes_ = nullptr;
  QCheckBox* mixedPrecision_ = nullptr;
  QCheckBox* cudaGraphs_ = nullptr;
  QCheckBox* trackGeometry_ = nullptr;
  QComboBox* teacherCache_ = nullptr;
  QLineEdit* name_ = nullptr;
  QLineEdit* runsRoot_ = nullptr;
  QString studentArchitecture_;
  bool byQuality_ = true;
  bool inTeacherMode_ = false;
  int methodBeforeTeacherMode_ = -1;
};

}  // namespace kd::ui
