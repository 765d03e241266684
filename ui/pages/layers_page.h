#pragma once
#include <QWidget>

class QCustomPlot;

namespace kd::ui {

class Session;

/// The Layers page: runs the teacher's layer analysis (S, I, E, Q; method.md sections 2-3) in
/// the background with a progress bar and Cancel, draws the per-layer curves over the teacher's
/// depth with the recommended layers marked, lets the user click layers to select or deselect
/// them (or take the recommendation) for the teacher and the student, draws the teacher-student
/// mapping as links, and computes the linear-CKA heat map between teacher and student layers.
/// Analyses are read from and stored in the on-disk AnalysisCache. The chosen layers go to
/// Session::setTeacherLayers / setStudentLayers.
class LayersPage : public QWidget {
  Q_OBJECT

 public:
  explicit LayersPage(Session* session, QWidget* parent = nullptr);
  ~LayersPage() override;

  /// Starts the analysis of the session's teacher on its dataset (no-op while one runs).
  /// `perClass` > 0 overrides the sample sizes (sample A and B per class) for quick runs.
  void runAnalysis(int perClass = 0);
  /// Starts the CKA map between the session's teacher and student.
  void runCka(int perClass = 0);
  /// Analyses a trained student the way the teacher is analysed and draws its S/I/E/Q beside
  /// the teacher's over relative depth ("Student beside teacher" tab): the model file
  /// `studentFile` (e.g. a finished run's student.kdmodel), or the session's student when empty.
  void analyseStudent(const QString& studentFile = {});
  /// Chooses the score drawn over depth (QualityPlot::Series).
  void setDepthSeries(int series);
  /// Shows the teacher curves (0) or the student beside the teacher (1).
  void showPlot(int index);
  /// Layers of the student analysis drawn (0 when none).
  int studentLayerCount() const;
  /// Cancels what runs; the results shown before stay.
  void cancel();
  /// True while an analysis or CKA job runs.
  bool isBusy() const;
  /// Selects the analysis' recommended teacher layers and the matching student layers.
  void takeRecommendation();
  /// Toggles teacher layer `layer` (as a click on the curves does).
  void toggleTeacherLayer(int layer);
  /// Toggles student layer `layer`.
  void toggleStudentLayer(int layer);

  /// The last error shown (empty after a success).
  QString lastError() const;
  /// For tests and screenshots.
  QCustomPlot* qualityPlot() const;
  QCustomPlot* ckaPlot() const;
  QCustomPlot* depthPlot() const;
  /// Finished when a student analysis is drawn.
  /// Number of CKA cells with a value (teacher layers x student layers), 0 before a run.
  int ckaCellCount() const;

 signals:
  void analysisFinished();
  void ckaFinished();
  void studentAnalysisFinished();
  /// A job failed (message already shown on the page).
  void failed(const QString& message);
  /// The user asked for a layer-choice study ("Layer study…").
  void layerStudyRequested();
  /// Progress text for the status bar.
  void statusMessage(const QString& text);

 private:
  struct Private;
  Private* d;
};

}  // namespace kd::ui
