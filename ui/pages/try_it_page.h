#pragma once
#include <QString>
#include <QStringList>
#include <QWidget>

class QTableWidget;

namespace kd::ui {

class Session;

/// The "Try it" page: the teacher and a distilled student classify the same images side by
/// side. Images are picked from the test split or dropped / opened as files; each row shows the
/// image, its class when known, and both models' top-3. Below: each model's latency per image on
/// this machine (one image at a time, after a warm-up) and its size. The teacher is the session's
/// (preprocessed with the session dataset's mean and std); the student is a file: an export
/// (.onnx, .kdmodel, .safetensors, .pt) or a run's student.kdmodel.
class TryItPage : public QWidget {
  Q_OBJECT

 public:
  explicit TryItPage(Session* session, QWidget* parent = nullptr);
  ~TryItPage() override;

  /// Opens a student file (an error is shown on the page and returned; empty on success).
  QString setStudentFile(const QString& path);
  /// Replaces the images with `count` test images drawn with `seed` (0: a new draw each time).
  void pickTestImages(int count, quint32 seed = 0);
  /// Replaces the images with image files (converted and resized to the models' input).
  void setImageFiles(const QStringList& paths);
  /// Classifies the current images with both models (in the background).
  void classify();
  bool isBusy() const;

  int rowCount() const;
  /// Top-3 of row `row` as "name probability" lines ("" when that model is not loaded).
  QStringList teacherTop(int row) const;
  QStringList studentTop(int row) const;
  /// The summary under the table (latency and size of both models).
  QString summaryText() const;
  QString lastError() const;
  QTableWidget* table() const;

 signals:
  void classified();
  void failed(const QString& message);
  void statusMessage(const QString& text);

 protected:
  void dragEnterEvent(QDragEnterEvent* event) override;
  void dropEvent(QDropEvent* event) override;

 private:
  struct Private;
  void buildUi();
  void rebuildTeacher();
  void showImages();
  void showResults();
  void showError(const QString& message);

  Private* d;
};

}  // namespace kd::ui
