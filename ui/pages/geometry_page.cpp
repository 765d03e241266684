#include "pages/geometry_page.h"

#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QFutureWatcher>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QProgressBar>
#include <QPushButton>
#include <QSignalBlocker>
#include <QSpinBox>
#include <QSplitter>
#include <QToolTip>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>
#include <optional>

#include "shell/app_theme.h"
#include "jobs/geometry_job.h"
#include "plots/plot_style.h"
#include "jobs/progress_bridge.h"
#include "plots/scatter_plot.h"
#include "shell/session.h"

namespace kd::ui {

namespace {

constexpr int kProgressSteps = 1000;  // progress bar resolution
constexpr int kHoverImagePx = 112;    // side of the hovered sample's image in the panel
const char* const kNoValue = "—";     // shown where a metric is missing

QString roleName(GeometryPage::Side side) {
  return side == GeometryPage::Side::kTeacher ? QStringLiteral("Teacher") : QStringLiteral("Student");
}

}  // namespace

struct GeometryPage::Private {
  Session* session = nullptr;
  QComboBox* side = nullptr;
  QComboBox* layer = nullptr;
  QComboBox* method = nullptr;
  QSpinBox* perClass = nullptr;
  QDoubleSpinBox* perplexity = nullptr;
  QSpinBox* iterations = nullptr;
  QPushButton* projectButton = nullptr;
  QPushButton* cancelButton = nullptr;
  QProgressBar* progress = nullptr;
  QLabel* error = nullptr;
  ScatterPlot* plot = nullptr;
  QLabel* twonn = nullptr;
  QLabel* pcaId = nullptr;
  QLabel* ncc = nullptr;
  QLabel* points = nullptr;
  QLabel* featureDim = nullptr;
  QLabel* time = nullptr;
  QLabel* hoverImage = nullptr;
  QLabel* hoverLabel = nullptr;
  QFutureWatcher<GeometryResult>* watcher = nullptr;
  ProgressBridge* bridge = nullptr;
  quint64 jobId = 0;                       // the newest request; results of older ones are dropped
  std::optional<GeometryRequest> pending;  // waits for the running job to stop
  QString runningRole;                     // "Teacher"/"Student" of the running job
  std::optional<GeometryResult> shown;     // what the scatter shows
  int hovered = -1;
  QString lastError;
};

GeometryPage::GeometryPage(Session* session, QWidget* parent) : QWidget(parent), d(new Private) {
  d->session = session;
  buildUi();
  d->bridge = new ProgressBridge(this);
  connect(d->bridge, &ProgressBridge::progressed, this, [this](double f, const QString& message) {
    d->progress->setValue(static_cast<int>(f * kProgressSteps));
    d->progress->setFormat(message + QStringLiteral("  %p%"));
  });
  d->watcher = new QFutureWatcher<GeometryResult>(this);
  connect(d->watcher, &QFutureWatcher<GeometryResult>::finished, this, &GeometryPage::onFinished);
  connect(session, &Session::teacherChanged, this, [this] { modelChanged(Side::kTeacher); });
  connect(session, &Session::studentChanged, this, [this] { modelChanged(Side::kStudent); });
  connect(session, &Session::datasetChanged, this, [this] {
    if (isBusy()) cancel();
    clearScatter(tr("The dataset changed: press Project to draw the new one."));
  });
  refillLayers();
}

GeometryPage::~GeometryPage() {
  d->pending.reset();
  d->bridge->cancel();
  d->watcher->waitForFinished();
  delete d;
}

void GeometryPage::buildUi() {
  d->side = new QComboBox;
  d->side->setObjectName(QStringLiteral("sideCombo"));
  d->side->addItem(tr("Teacher"));
  d->side->addItem(tr("Student"));
  d->side->setToolTip(tr("Whose layer to project: the teacher's or the student's"));
  connect(d->side, &QComboBox::currentIndexChanged, this, [this] { refillLayers(); });
  d->layer = new QComboBox;
  d->layer->setObjectName(QStringLiteral("layerCombo"));
  d->layer->setMinimumContentsLength(22);
  d->layer->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
  d->layer->setToolTip(tr("The generalized layer whose outputs are projected: index, module, shape"));
  d->method = new QComboBox;
  d->method->setObjectName(QStringLiteral("methodCombo"));
  d->method->addItem(tr("PCA"));
  d->method->addItem(tr("t-SNE"));
  d->method->setToolTip(tr("PCA: the two directions of largest variance (instant).\n"
                           "t-SNE: keeps neighbourhoods, computed in the background."));
  d->perClass = new QSpinBox;
  d->perClass->setObjectName(QStringLiteral("perClassSpin"));
  d->perClass->setRange(2, 5000);
  d->perClass->setValue(100);
  d->perClass->setToolTip(tr("Training samples per class in the scatter (class-balanced, seed 0)"));
  d->perplexity = new QDoubleSpinBox;
  d->perplexity->setObjectName(QStringLiteral("perplexitySpin"));
  d->perplexity->setRange(1, 500);
  d->perplexity->setDecimals(0);
  d->perplexity->setValue(30);
  d->perplexity->setToolTip(tr("t-SNE perplexity: about how many neighbours each point keeps "
                               "(needs at least 3 × perplexity + 1 points)"));
  d->iterations = new QSpinBox;
  d->iterations->setObjectName(QStringLiteral("iterationsSpin"));
  d->iterations->setRange(50, 10000);
  d->iterations->setSingleStep(250);
  d->iterations->setValue(1000);
  d->iterations->setToolTip(tr("t-SNE optimization iterations"));
  auto syncTsne = [this] {
    const bool tsne = d->method->currentIndex() == 1;
    d->perplexity->setEnabled(tsne);
    d->iterations->setEnabled(tsne);
  };
  connect(d->method, &QComboBox::currentIndexChanged, this, syncTsne);
  syncTsne();
  d->projectButton = new QPushButton(tr("&Project"));
  d->projectButton->setObjectName(QStringLiteral("projectButton"));
  d->projectButton->setToolTip(tr("Compute the scatter of the chosen layer in the background"));
  connect(d->projectButton, &QPushButton::clicked, this, [this] {
    project(d->side->currentIndex() == 0 ? Side::kTeacher : Side::kStudent,
            d->layer->currentData().isValid() ? d->layer->currentData().toInt() : -1,
            d->method->currentIndex() == 0 ? Projection::kPca : Projection::kTsne);
  });
  d->cancelButton = new QPushButton(tr("Cancel"));
  d->cancelButton->setObjectName(QStringLiteral("cancelButton"));
  d->cancelButton->setToolTip(tr("Stop the running projection; the scatter shown stays"));
  d->cancelButton->setEnabled(false);
  connect(d->cancelButton, &QPushButton::clicked, this, &GeometryPage::cancel);
  d->progress = new QProgressBar;
  d->progress->setObjectName(QStringLiteral("geometryProgress"));
  d->progress->setRange(0, kProgressSteps);
  d->progress->setValue(0);
  d->progress->setTextVisible(true);
  d->progress->setFormat(tr("idle"));
  d->progress->setMinimumWidth(160);
  d->progress->setToolTip(tr("Progress of the projection"));

  auto* controls = new QHBoxLayout;
  controls->addWidget(new QLabel(tr("Model")));
  controls->addWidget(d->side);
  controls->addWidget(new QLabel(tr("Layer")));
  controls->addWidget(d->layer, 1);
  controls->addWidget(new QLabel(tr("Projection")));
  controls->addWidget(d->method);
  controls->addWidget(new QLabel(tr("Per class")));
  controls->addWidget(d->perClass);
  controls->addWidget(new QLabel(tr("Perplexity")));
  controls->addWidget(d->perplexity);
  controls->addWidget(new QLabel(tr("Iterations")));
  controls->addWidget(d->iterations);
  controls->addWidget(d->projectButton);
  controls->addWidget(d->cancelButton);
  controls->addWidget(d->progress);

  d->error = new QLabel;
  d->error->setObjectName(QStringLiteral("geometryError"));
  d->error->setWordWrap(true);
  styleAsError(d->error);
  d->error->hide();

  d->plot = new ScatterPlot;
  d->plot->setObjectName(QStringLiteral("geometryScatter"));
  d->plot->setMinimumSize(400, 300);
  d->plot->setToolTip(QString());  // the hover tooltip names the point instead
  addPlotInteractions(d->plot, QStringLiteral("geometry"));
  applyPlotTheme(d->plot);
  connect(d->plot, &ScatterPlot::pointHovered, this, &GeometryPage::onPointHovered);

  auto metric = [](const QString& name, const QString& tip) {
    auto* l = new QLabel(QString::fromUtf8(kNoValue));
    l->setObjectName(name);
    l->setToolTip(tip);
    l->setTextInteractionFlags(Qt::TextSelectableByMouse);
    return l;
  };
  d->twonn = metric(QStringLiteral("twonnValue"),
                    tr("TwoNN intrinsic dimension (Facco et al. 2017) of the layer's sample"));
  d->pcaId = metric(QStringLiteral("pcaIdValue"),
                    tr("Principal components needed for 90% of the variance"));
  d->ncc = metric(QStringLiteral("nccValue"),
                  tr("Nearest-class-center accuracy of the sample in feature space"));
  d->points = metric(QStringLiteral("pointsValue"), tr("Points in the scatter"));
  d->featureDim = metric(QStringLiteral("featureDimValue"),
                         tr("Feature dimension (large maps are max-pooled first)"));
  d->time = metric(QStringLiteral("timeValue"), tr("Time taken by the last projection"));
  auto* metricsBox = new QGroupBox(tr("Layer geometry"));
  auto* form = new QFormLayout(metricsBox);
  form->addRow(tr("TwoNN ID"), d->twonn);
  form->addRow(tr("PCA-ID (90%)"), d->pcaId);
  form->addRow(tr("NCC accuracy"), d->ncc);
  form->addRow(tr("Points"), d->points);
  form->addRow(tr("Feature dim"), d->featureDim);
  form->addRow(tr("Time"), d->time);

  auto* hoverBox = new QGroupBox(tr("Hovered sample"));
  d->hoverImage = new QLabel;
  d->hoverImage->setObjectName(QStringLiteral("hoverImage"));
  d->hoverImage->setFixedSize(kHoverImagePx, kHoverImagePx);
  d->hoverImage->setAlignment(Qt::AlignCenter);
  d->hoverImage->setFrameShape(QFrame::StyledPanel);
  d->hoverImage->setToolTip(tr("The input image of the point under the mouse"));
  d->hoverLabel = new QLabel(tr("Hover over a point to see its class and image."));
  d->hoverLabel->setObjectName(QStringLiteral("hoverText"));
  d->hoverLabel->setWordWrap(true);
  d->hoverLabel->setToolTip(tr("Class and training-set index of the point under the mouse"));
  auto* hoverLayout = new QVBoxLayout(hoverBox);
  hoverLayout->addWidget(d->hoverImage, 0, Qt::AlignHCenter);
  hoverLayout->addWidget(d->hoverLabel);

  auto* sidePanel = new QWidget;
  auto* sideLayout = new QVBoxLayout(sidePanel);
  sideLayout->setContentsMargins(0, 0, 0, 0);
  sideLayout->addWidget(metricsBox);
  sideLayout->addWidget(hoverBox);
  sideLayout->addStretch(1);
  sidePanel->setMinimumWidth(220);
  sidePanel->setMaximumWidth(320);

  auto* split = new QSplitter(Qt::Horizontal);
  split->addWidget(d->plot);
  split->addWidget(sidePanel);
  split->setStretchFactor(0, 1);
  split->setChildrenCollapsible(false);

  auto* layout = new QVBoxLayout(this);
  layout->addLayout(controls);
  layout->addWidget(d->error);
  layout->addWidget(split, 1);
  clearScatter(tr("Choose a layer and press Project."));
}

void GeometryPage::refillLayers() {
  const bool teacher = d->side->currentIndex() == 0;
  const auto model = teacher ? d->session->teacher() : d->session->student();
  const QVariant previous = d->layer->currentData();
  const QSignalBlocker block(d->layer);
  d->layer->clear();
  if (!model || !model->model) {
    d->layer->setPlaceholderText(teacher ? tr("no teacher loaded") : tr("no student loaded"));
    return;
  }
  const LayeredModel& m = *model->model;
  for (int i = 0; i < m.num_layers(); ++i) d->layer->addItem(layerLabel(m, i), i);
  int select = previous.isValid() ? previous.toInt() : m.head_start() - 1;
  if (select < 0 || select >= m.num_layers()) select = std::max(0, m.head_start() - 1);
  d->layer->setCurrentIndex(std::min(select, m.num_layers() - 1));
}

void GeometryPage::modelChanged(Side side) {
  if (d->side->currentIndex() == (side == Side::kTeacher ? 0 : 1)) {
    d->layer->setCurrentIndex(-1);  // a new model: start from its default layer
    refillLayers();
  }
  const QString role = roleName(side);
  if (d->pending && d->pending->modelRole == role) d->pending.reset();
  if (d->watcher->isRunning() && d->runningRole == role) {
    if (!d->pending) ++d->jobId;  // drop its result; a pending request replaces it anyway
    d->bridge->cancel();
  }
  if (d->shown && d->shown->modelRole == role) {
    clearScatter(tr("The %1 changed: press Project to draw it.").arg(role.toLower()));
  }
}

void GeometryPage::project(Side side, int layer, Projection method, int perClass) {
  {  // the controls show what is being projected
    const QSignalBlocker b1(d->method), b2(d->perClass);
    if (d->side->currentIndex() != (side == Side::kTeacher ? 0 : 1)) {
      d->side->setCurrentIndex(side == Side::kTeacher ? 0 : 1);  // refills the layers
    }
    const int row = d->layer->findData(layer);
    if (row >= 0) d->layer->setCurrentIndex(row);
    d->method->setCurrentIndex(method == Projection::kPca ? 0 : 1);
    d->perplexity->setEnabled(method == Projection::kTsne);
    d->iterations->setEnabled(method == Projection::kTsne);
    if (perClass > 0) d->perClass->setValue(perClass);
  }
  GeometryRequest q;
  q.modelRole = roleName(side);
  q.model = side == Side::kTeacher ? d->session->teacher() : d->session->student();
  q.dataset = d->session->dataset();
  q.layer = layer;
  q.tsne = method == Projection::kTsne;
  q.perClass = perClass > 0 ? perClass : d->perClass->value();
  q.perplexity = d->perplexity->value();
  q.iterations = d->iterations->value();
  if (!q.model) {
    showError(tr("No %1 is loaded: load one on the Models page first.").arg(q.modelRole.toLower()));
    return;
  }
  if (!q.dataset) {
    showError(tr("No dataset is loaded: load one on the Data page first."));
    return;
  }
  q.job = ++d->jobId;
  if (d->watcher->isRunning()) {  // the running job is now stale: stop it, then run this one
    d->pending = q;
    d->bridge->cancel();
    return;
  }
  startJob(q);
}

void GeometryPage::startJob(const GeometryRequest& request) {
  d->bridge->reset();
  d->runningRole = request.modelRole;
  d->progress->setValue(0);
  d->progress->setFormat(tr("starting…"));
  setBusyUi(true);
  emit statusMessage(tr("Projecting %1 layer %2 (%3)…")
                         .arg(request.modelRole.toLower())
                         .arg(request.layer)
                         .arg(request.tsne ? tr("t-SNE") : tr("PCA")));
  ProgressBridge* bridge = d->bridge;
  d->watcher->setFuture(
      QtConcurrent::run([request, bridge] { return computeGeometry(request, bridge); }));
}

void GeometryPage::onFinished() {
  GeometryResult r = d->watcher->result();
  if (d->pending) {  // a newer request waited for this one: the finished result is stale
    const GeometryRequest next = *d->pending;
    d->pending.reset();
    startJob(next);
    return;
  }
  setBusyUi(false);
  if (r.job != d->jobId || r.cancelled) {  // cancelled, or the session changed meanwhile
    d->progress->setValue(0);
    d->progress->setFormat(tr("cancelled"));
    emit statusMessage(tr("Projection cancelled; the scatter shown stays."));
    return;
  }
  if (!r.error.isEmpty()) {
    d->progress->setValue(0);
    d->progress->setFormat(tr("failed"));
    showError(tr("Could not project %1 layer %2: %3. The scatter shown stays; pick another layer "
                 "or load a model that fits the dataset.")
                  .arg(r.modelRole.toLower())
                  .arg(r.layer)
                  .arg(r.error));
    return;
  }
  d->lastError.clear();
  d->error->hide();
  d->progress->setValue(kProgressSteps);
  d->progress->setFormat(tr("done in %1 s").arg(r.seconds, 0, 'f', 1));
  d->shown = std::move(r);
  showResult();
  emit statusMessage(tr("Projected %1 points of %2 layer %3.")
                         .arg(pointCount())
                         .arg(d->shown->modelRole.toLower())
                         .arg(d->shown->layer));
  emit projectionFinished();
}

void GeometryPage::showResult() {
  const GeometryResult& r = *d->shown;
  d->hovered = -1;
  const QString method = r.tsne ? tr("t-SNE") : tr("PCA");
  d->plot->setTitle(tr("%1 · layer %2 · %3").arg(r.modelRole, r.layerText, method));
  if (r.tsne) {
    d->plot->xAxis->setLabel(tr("t-SNE 1"));
    d->plot->yAxis->setLabel(tr("t-SNE 2"));
  } else {
    auto label = [&](int k) {
      if (k >= r.explainedVariance.size()) return tr("PC %1").arg(k + 1);
      return tr("PC %1 (%2% var)").arg(k + 1).arg(100.0 * r.explainedVariance[k], 0, 'f', 1);
    };
    d->plot->xAxis->setLabel(label(0));
    d->plot->yAxis->setLabel(label(1));
  }
  d->plot->setPoints(r.x, r.y, r.labels, r.centerX, r.centerY, r.classNames);
  auto show = [](QLabel* l, const QString& value, const QString& error) {
    l->setText(error.isEmpty() ? value : QString::fromUtf8(kNoValue));
    if (!error.isEmpty()) l->setToolTip(error);
  };
  show(d->twonn, QString::number(r.twonn, 'f', 2), r.twonnError);
  show(d->pcaId, QString::number(r.pcaId), r.pcaIdError);
  show(d->ncc, QString::number(100.0 * r.ncc, 'f', 1) + QStringLiteral(" %"), r.nccError);
  d->points->setText(QString::number(r.x.size()));
  d->featureDim->setText(QString::number(r.featureDim));
  d->time->setText(tr("%1 s").arg(r.seconds, 0, 'f', 2));
  d->hoverImage->clear();
  d->hoverLabel->setText(tr("Hover over a point to see its class and image."));
}

void GeometryPage::clearScatter(const QString& why) {
  d->shown.reset();
  d->hovered = -1;
  d->plot->xAxis->setLabel(QString());
  d->plot->yAxis->setLabel(QString());
  d->plot->clearPoints(why);
  for (QLabel* l : {d->twonn, d->pcaId, d->ncc, d->points, d->featureDim, d->time}) {
    if (l != nullptr) l->setText(QString::fromUtf8(kNoValue));
  }
  if (d->hoverImage != nullptr) d->hoverImage->clear();
}

void GeometryPage::onPointHovered(int index, const QPoint& globalPos) {
  if (index < 0 || !d->shown) {
    QToolTip::hideText();
    return;  // the panel keeps the last sample
  }
  d->hovered = index;
  const QString text = hoverText(index);
  d->hoverLabel->setText(text);
  const QImage& img = d->shown->images.value(index);
  if (!img.isNull()) {
    const bool small = img.width() <= kHoverImagePx / 2 && img.height() <= kHoverImagePx / 2;
    d->hoverImage->setPixmap(QPixmap::fromImage(
        img.scaled(kHoverImagePx, kHoverImagePx, Qt::KeepAspectRatio,
                   small ? Qt::FastTransformation : Qt::SmoothTransformation)));
  }
  QToolTip::showText(globalPos, text, d->plot);
}

void GeometryPage::showError(const QString& message) {
  d->lastError = message;
  d->error->setText(message);
  d->error->show();
  emit failed(message);
}

void GeometryPage::setBusyUi(bool busy) {
  d->cancelButton->setEnabled(busy);
}

void GeometryPage::cancel() {
  d->pending.reset();
  if (!d->watcher->isRunning()) return;
  ++d->jobId;  // whatever the job returns now is dropped, even if it finished just in time
  d->bridge->cancel();
  d->progress->setFormat(tr("cancelling…"));
}

bool GeometryPage::isBusy() const { return d->watcher->isRunning() || d->pending.has_value(); }

int GeometryPage::pointCount() const { return d->plot->pointCount(); }

QString GeometryPage::hoverText(int index) const {
  if (!d->shown || index < 0 || index >= d->shown->labels.size()) return {};
  const int c = d->shown->labels[index];
  return tr("%1 (class %2)\ntraining sample #%3")
      .arg(d->shown->classNames.value(c))
      .arg(c)
      .arg(d->shown->samples.value(index));
}

QString GeometryPage::lastError() const { return d->lastError; }

QCustomPlot* GeometryPage::scatterPlot() const { return d->plot; }

void GeometryPage::setPerplexity(double perplexity) { d->perplexity->setValue(perplexity); }

void GeometryPage::setTsneIterations(int iterations) { d->iterations->setValue(iterations); }

int GeometryPage::hoveredIndex() const { return d->hovered; }

}  // namespace kd::ui
