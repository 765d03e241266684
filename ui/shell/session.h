#pragma once
#include <QObject>
#include <QString>
#include <QVector>
#include <memory>

#include "analysis/layer_analyzer.h"
#include "data/dataset.h"
#include "models/model_loader.h"

namespace kd::ui {

/// The experiment being set up in the app, shared by every page: the loaded teacher, student and
/// dataset (with the specs they were loaded from), the teacher's layer analysis and the layers
/// chosen for distillation. Lives on the GUI thread; pages read it and change it through its
/// setters, which emit the matching signal. Workers get copies of the shared pointers; models are
/// only run in eval mode with no gradients by the pages' workers (training loads its own copies).
class Session : public QObject {
  Q_OBJECT

 public:
  explicit Session(QObject* parent = nullptr);

  std::shared_ptr<LoadedModel> teacher() const { return teacher_; }
  std::shared_ptr<LoadedModel> student() const { return student_; }
  std::shared_ptr<const Dataset> dataset() const { return dataset_; }
  /// The spec or path each was loaded from ("" while none is loaded).
  QString teacherSpec() const;
  QString studentSpec() const;
  QString datasetSpec() const { return datasetSpec_; }

  /// The teacher's analysis on the current dataset, or null (reset when either changes).
  std::shared_ptr<const AnalysisResult> analysis() const { return analysis_; }

  /// Generalized layer indices chosen for distillation, ascending. Empty means "not chosen":
  /// the engine's default applies (teacher: by Q for the paper's method, the standard layers
  /// otherwise; student: the standard layers).
  QVector<int> teacherLayers() const { return teacherLayers_; }
  QVector<int> studentLayers() const { return studentLayers_; }

  void setTeacher(std::shared_ptr<LoadedModel> model);
  void setStudent(std::shared_ptr<LoadedModel> model);
  void setDataset(std::shared_ptr<const Dataset> dataset, const QString& spec);
  void setAnalysis(std::shared_ptr<const AnalysisResult> analysis);
  /// Sorts and deduplicates; emits layersChanged only when something changed.
  void setTeacherLayers(QVector<int> layers);
  void setStudentLayers(QVector<int> layers);

 signals:
  void teacherChanged();
  void studentChanged();
  void datasetChanged();
  void analysisChanged();
  /// The teacher or student layer choice changed.
  void layersChanged();

 private:
  std::shared_ptr<LoadedModel> teacher_;
  std::shared_ptr<LoadedModel> student_;
  std::shared_ptr<const Dataset> dataset_;
  QString datasetSpec_;
  std::shared_ptr<const AnalysisResult> analysis_;
  QVector<int> teacherLayers_;
  QVector<int> studentLayers_;
};

}  // namespace kd::ui
