#include "shell/session.h"

#include <algorithm>

namespace kd::ui {

namespace {

QVector<int> normalized(QVector<int> layers) {
  std::sort(layers.begin(), layers.end());
  layers.erase(std::unique(layers.begin(), layers.end()), layers.end());
  return layers;
}

}  // namespace

Session::Session(QObject* parent) : QObject(parent) {}

QString Session::teacherSpec() const {
  return teacher_ ? QString::fromStdString(teacher_->source) : QString();
}

QString Session::studentSpec() const {
  return student_ ? QString::fromStdString(student_->source) : QString();
}

void Session::setTeacher(std::shared_ptr<LoadedModel> model) {
  teacher_ = std::move(model);
  // Layer indices of another model mean nothing; the analysis belongs to the old teacher.
  teacherLayers_.clear();
  setAnalysis(nullptr);
  emit teacherChanged();
  emit layersChanged();
}

void Session::setStudent(std::shared_ptr<LoadedModel> model) {
  student_ = std::move(model);
  studentLayers_.clear();
  emit studentChanged();
  emit layersChanged();
}

void Session::setDataset(std::shared_ptr<const Dataset> dataset, const QString& spec) {
  dataset_ = std::move(dataset);
  datasetSpec_ = spec;
  setAnalysis(nullptr);
  emit datasetChanged();
}

void Session::setAnalysis(std::shared_ptr<const AnalysisResult> analysis) {
  if (analysis == analysis_) return;
  analysis_ = std::move(analysis);
  emit analysisChanged();
}

void Session::setTeacherLayers(QVector<int> layers) {
  layers = normalized(std::move(layers));
  if (layers == teacherLayers_) return;
  teacherLayers_ = layers;
  emit layersChanged();
}

void Session::setStudentLayers(QVector<int> layers) {
  layers = normalized(std::move(layers));
  if (layers == studentLayers_) return;
  studentLayers_ = layers;
  emit layersChanged();
}

}  // namespace kd::ui
