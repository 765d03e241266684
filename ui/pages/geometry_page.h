#pragma once
#include <QWidget>

class QCustomPlot;

namespace kd::ui {

class Session;
struct GeometryRequest;

/// The Geometry page: for any generalized layer of the teacher or the student, a 2-D scatter of
/// a class-balanced sample (PCA, or t-SNE computed in the background with progress and Cancel),
/// colored by class with a legend and the class centers; hovering a point shows its class,
/// index and image; beside it the layer's TwoNN ID, PCA-ID and NCC accuracy.
class GeometryPage : public QWidget {
  Q_OBJECT

 public:
  enum class Projection { kPca, kTsne };
  enum class Side { kTeacher, kStudent };

  explicit GeometryPage(Session* session, QWidget* parent = nullptr);
  ~GeometryPage() override;

  /// Projects `layer` of the teacher or student (background job; a newer request replaces an
  /// older one). `perClass` points per class (0 = the page's setting).
  void project(Side side, int layer, Projection method, int perClass = 0);
  void cancel();
  bool isBusy() const;
  /// Points in the scatter (0 before a projection).
  int pointCount() const;
  /// The text the hover tooltip shows for point `index` of the scatter (for tests).
  QString hoverText(int index) const;
  QString lastError() const;
  QCustomPlot* scatterPlot() const;

  /// t-SNE settings used by the next projection (the page's spin boxes).
  void setPerplexity(double perplexity);
  void setTsneIterations(int iterations);
  /// The point whose sample the hover panel shows (-1 before any hover).
  int hoveredIndex() const;

 signals:
  void projectionFinished();
  void failed(const QString& message);
  void statusMessage(const QString& text);

 private:
  struct Private;
  void buildUi();
  void refillLayers();
  void startJob(const GeometryRequest& request);
  void onFinished();
  void onPointHovered(int index, const QPoint& globalPos);
  void showResult();
  void showError(const QString& message);
  void clearScatter(const QString& why);
  void modelChanged(Side side);
  void setBusyUi(bool busy);

  Private* d;
};

}  // namespace kd::ui
