#include "pages/try_it_page.h"

#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QFutureWatcher>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QImage>
#include <QLabel>
#include <QMimeData>
#include <QPixmap>
#include <QPushButton>
#include <QRandomGenerator>
#include <QTableWidget>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>
#include <memory>
#include <optional>
#include <vector>

#include "data/transforms.h"
#include "deploy/predictor.h"
#include "shell/guarded_call.h"
#include "shell/session.h"

namespace kd::ui {

namespace {

constexpr int kThumbPx = 56;  // side of an image's thumbnail in the table
constexpr int kTopK = 3;

struct Item {
  QString name;
  torch::Tensor pixels;  // (C, H, W) float in [0, 1]
  int label = -1;        // test images only
};

struct Outcome {
  std::optional<TimedPredictions> teacher, student;
  QString error;
};

QString sizeText(int64_t bytes) {
  if (bytes <= 0) return QObject::tr("size unknown");
  return bytes >= (1 << 20) ? QStringLiteral("%1 MB").arg(bytes / 1048576.0, 0, 'f', 1)
                            : QStringLiteral("%1 KB").arg(bytes / 1024.0, 0, 'f', 0);
}

QImage thumbnail(const torch::Tensor& pixels) {
  const torch::Tensor hwc = pixels.mul(255).round().clamp(0, 255).to(torch::kUInt8).permute({1, 2, 0}).contiguous();
  const int h = static_cast<int>(hwc.size(0)), w = static_cast<int>(hwc.size(1)), c = static_cast<int>(hwc.size(2));
  QImage img(hwc.data_ptr<uint8_t>(), w, h, w * c, c == 1 ? QImage::Format_Grayscale8 : QImage::Format_RGB888);
  return img.copy().scaled(kThumbPx, kThumbPx, Qt::KeepAspectRatio, Qt::SmoothTransformation);
}

}  // namespace

struct TryItPage::Private {
  Session* session = nullptr;
  std::shared_ptr<Predictor> teacher, student;
  QString teacherProblem, studentPath;
  std::vector<Item> items;
  Outcome outcome;
  QFutureWatcher<Outcome>* watcher = nullptr;
  bool rerun = false;  // images or models changed while a job ran
  QString lastError;
  QLabel* teacherLabel = nullptr;
  QLabel* studentLabel = nullptr;
  QLabel* summary = nullptr;
  QLabel* error = nullptr;
  QTableWidget* table = nullptr;

  /// Preprocessing and labels of the session's dataset (for the teacher, and for student files
  /// that carry none).
  std::optional<DeployInfo> datasetInfo() const {
    const auto data = session->dataset();
    if (!data) return std::nullopt;
    const ChannelStats stats = compute_channel_stats(data->train);
    DeployInfo info;
    info.channels = data->channels();
    info.height = data->height();
    info.width = data->width();
    info.mean = stats.mean;
    info.std = stats.std;
    info.class_names = data->class_names;
    info.dataset = data->name;
    return info;
  }

  /// The input images are read for: the student's, else the teacher's.
  const DeployInfo* inputInfo() const {
    if (student) return &student->info();
    if (teacher) return &teacher->info();
    return nullptr;
  }

  QStringList top(const std::optional<TimedPredictions>& p, const std::shared_ptr<Predictor>& model, int row) const {
    if (!p || !model || row < 0 || row >= static_cast<int>(p->top.size())) return {};
    QStringList lines;
    for (const auto& [cls, prob] : p->top[static_cast<size_t>(row)]) {
      lines << QStringLiteral("%1 %2%").arg(QString::fromStdString(model->info().class_names[static_cast<size_t>(cls)]))
                   .arg(100.0 * prob, 0, 'f', 1);
    }
    return lines;
  }
};

TryItPage::TryItPage(Session* session, QWidget* parent) : QWidget(parent), d(new Private) {
  d->session = session;
  setAcceptDrops(true);
  buildUi();
  d->watcher = new QFutureWatcher<Outcome>(this);
  connect(d->watcher, &QFutureWatcher<Outcome>::finished, this, [this] {
    d->outcome = d->watcher->result();
    if (d->rerun) {
      d->rerun = false;
      classify();
      return;
    }
    if (!d->outcome.error.isEmpty()) {
      showError(d->outcome.error);
      return;
    }
    showResults();
    emit classified();
  });
  connect(session, &Session::teacherChanged, this, &TryItPage::rebuildTeacher);
  connect(session, &Session::datasetChanged, this, &TryItPage::rebuildTeacher);
  rebuildTeacher();
}

TryItPage::~TryItPage() {
  d->watcher->waitForFinished();
  delete d;
}

void TryItPage::buildUi() {
  auto* layout = new QVBoxLayout(this);
  auto* models = new QHBoxLayout;
  auto* teacherBox = new QGroupBox(tr("Teacher"));
  auto* tl = new QVBoxLayout(teacherBox);
  d->teacherLabel = new QLabel;
  d->teacherLabel->setWordWrap(true);
  tl->addWidget(d->teacherLabel);
  auto* studentBox = new QGroupBox(tr("Student"));
  auto* sl = new QVBoxLayout(studentBox);
  d->studentLabel = new QLabel(tr("No student yet: open an exported student (.onnx, .kdmodel, .pt) or a run's "
                                  "seed-0/student.kdmodel; a finished training run puts its student here."));
  d->studentLabel->setWordWrap(true);
  auto* open = new QPushButton(tr("Open student…"));
  open->setToolTip(tr("An exported student (ONNX, KD Studio model, safetensors, TorchScript)"));
  connect(open, &QPushButton::clicked, this, [this] {
    const QString path = QFileDialog::getOpenFileName(this, tr("Open a student"), QString(),
                                                      tr("Models (*.onnx *.kdmodel *.safetensors *.pt);;All files (*)"));
    if (!path.isEmpty()) setStudentFile(path);
  });
  sl->addWidget(d->studentLabel);
  sl->addWidget(open, 0, Qt::AlignLeft);
  models->addWidget(teacherBox, 1);
  models->addWidget(studentBox, 1);
  layout->addLayout(models);

  auto* buttons = new QHBoxLayout;
  auto* pick = new QPushButton(tr("Pick 8 test images"));
  pick->setToolTip(tr("Eight images drawn from the test split, with their true classes"));
  connect(pick, &QPushButton::clicked, this, [this] { pickTestImages(8); });
  auto* add = new QPushButton(tr("Open images…"));
  add->setToolTip(tr("Image files (PNG, JPEG, BMP, ...); you can also drop them on this page"));
  connect(add, &QPushButton::clicked, this, [this] {
    const QStringList paths = QFileDialog::getOpenFileNames(
        this, tr("Open images"), QString(), tr("Images (*.png *.jpg *.jpeg *.bmp *.tif *.tiff *.webp *.ppm *.pgm)"));
    if (!paths.isEmpty()) setImageFiles(paths);
  });
  buttons->addWidget(pick);
  buttons->addWidget(add);
  buttons->addWidget(new QLabel(tr("or drop image files here")));
  buttons->addStretch(1);
  layout->addLayout(buttons);

  d->error = new QLabel;
  d->error->setWordWrap(true);
  d->error->setStyleSheet(QStringLiteral("color: #c0392b;"));
  d->error->hide();
  layout->addWidget(d->error);

  d->table = new QTableWidget(0, 4);
  d->table->setHorizontalHeaderLabels({tr("Image"), tr("True class"), tr("Teacher top-3"), tr("Student top-3")});
  d->table->horizontalHeader()->setSectionResizeMode(QHeaderView::Stretch);
  d->table->horizontalHeader()->setSectionResizeMode(0, QHeaderView::ResizeToContents);
  d->table->verticalHeader()->setDefaultSectionSize(kThumbPx + 8);
  d->table->setIconSize(QSize(kThumbPx, kThumbPx));
  d->table->setEditTriggers(QAbstractItemView::NoEditTriggers);
  d->table->setToolTip(tr("Each image with its true class (test images) and both models' three most likely "
                          "classes; ✓ / ✗: the top class is right / wrong"));
  layout->addWidget(d->table, 1);
  d->summary = new QLabel(tr("Pick test images or drop image files to compare the teacher and the student."));
  d->summary->setWordWrap(true);
  d->summary->setTextInteractionFlags(Qt::TextSelectableByMouse);
  layout->addWidget(d->summary);
}

void TryItPage::rebuildTeacher() {
  d->teacher.reset();
  d->teacherProblem.clear();
  const auto loaded = d->session->teacher();
  const auto info = d->datasetInfo();
  if (!loaded) {
    d->teacherLabel->setText(tr("No teacher: load one on the Models page."));
  } else if (!info) {
    d->teacherLabel->setText(tr("Load a dataset on the Data page: the teacher is fed with its mean and std."));
  } else {
    const QString spec = d->session->teacherSpec();
    const QFileInfo file(spec);
    const int64_t bytes = file.isFile() ? file.size() : loaded->model->parameter_count() * 4;
    const QString error = runGuarded([&] {
      std::shared_ptr<LayeredModel> model(loaded, loaded->model.get());  // keeps the LoadedModel alive
      d->teacher = Predictor::wrap(model, *info, "LibTorch", bytes);
    });
    if (error.isEmpty()) {
      d->teacherLabel->setText(tr("%1 — %2 parameters, %3 (%4)")
                                   .arg(QString::fromStdString(loaded->model->architecture()))
                                   .arg(QLocale().toString(static_cast<qlonglong>(loaded->model->parameter_count())))
                                   .arg(sizeText(bytes), file.isFile() ? tr("file") : tr("float32 weights")));
    } else {
      d->teacherLabel->setText(tr("The teacher cannot read this dataset's images: %1").arg(error));
    }
  }
  d->items.clear();
  showImages();
}

QString TryItPage::setStudentFile(const QString& path) {
  std::shared_ptr<Predictor> student;
  const auto fallback = d->datasetInfo();
  const QString error = runGuarded([&] { student = Predictor::open(path.toStdString(), fallback); });
  if (!error.isEmpty()) {
    showError(error);
    return error;
  }
  d->student = std::move(student);
  d->studentPath = path;
  const DeployInfo& info = d->student->info();
  QString text = tr("%1 — %2, %3 (%4)")
                     .arg(QFileInfo(path).fileName(), QString::fromStdString(info.architecture),
                          sizeText(d->student->file_bytes()), QString::fromStdString(d->student->runtime()));
  if (!info.experiment.empty()) text += tr("; from %1").arg(QString::fromStdString(info.experiment));
  if (info.test_accuracy) text += tr(", test accuracy %1%").arg(*info.test_accuracy, 0, 'f', 2);
  d->studentLabel->setText(text);
  d->error->hide();
  if (!d->items.empty()) classify();
  return {};
}

void TryItPage::pickTestImages(int count, quint32 seed) {
  const auto data = d->session->dataset();
  if (!data) {
    showError(tr("Load a dataset on the Data page to pick test images."));
    return;
  }
  QRandomGenerator rng = seed ? QRandomGenerator(seed) : QRandomGenerator::securelySeeded();
  const int64_t n = data->test.size();
  d->items.clear();
  for (int i = 0; i < count && n > 0; ++i) {
    const int64_t index = static_cast<int64_t>(rng.bounded(static_cast<quint64>(n)));
    Item item;
    item.name = tr("test #%1").arg(index);
    item.pixels = data->test.images[index].to(torch::kFloat).div(255.0);
    item.label = static_cast<int>(data->test.labels[index].item<int64_t>());
    d->items.push_back(std::move(item));
  }
  showImages();
  classify();
}

void TryItPage::setImageFiles(const QStringList& paths) {
  const DeployInfo* info = d->inputInfo();
  if (!info) {
    showError(tr("Load a teacher (and a dataset) or open a student first: images are fitted to its input."));
    return;
  }
  std::vector<Item> items;
  for (const QString& path : paths) {
    Item item;
    item.name = QFileInfo(path).fileName();
    const QString error = runGuarded([&] { item.pixels = read_image_for(path.toStdString(), *info, ImageFit{true}); });
    if (!error.isEmpty()) {
      showError(error);  // nothing replaced: the images shown stay
      return;
    }
    items.push_back(std::move(item));
  }
  d->items = std::move(items);
  showImages();
  classify();
}

void TryItPage::classify() {
  if (d->items.empty() || (!d->teacher && !d->student)) return;
  if (d->watcher->isRunning()) {
    d->rerun = true;
    return;
  }
  std::vector<torch::Tensor> pixels;
  for (const Item& item : d->items) pixels.push_back(item.pixels);
  const torch::Tensor batch = torch::stack(pixels);
  auto teacher = d->teacher;
  auto student = d->student;
  d->error->hide();
  emit statusMessage(tr("Classifying %1 images…").arg(d->items.size()));
  d->watcher->setFuture(QtConcurrent::run([batch, teacher, student] {
    Outcome out;
    out.error = runGuarded([&] {
      if (teacher) out.teacher = predict_one_by_one(*teacher, batch, kTopK);
      if (student) out.student = predict_one_by_one(*student, batch, kTopK);
    });
    return out;
  }));
}

bool TryItPage::isBusy() const { return d->watcher->isRunning(); }

void TryItPage::showImages() {
  d->outcome = {};
  d->table->setRowCount(static_cast<int>(d->items.size()));
  const auto data = d->session->dataset();
  for (int r = 0; r < static_cast<int>(d->items.size()); ++r) {
    const Item& item = d->items[static_cast<size_t>(r)];
    auto* image = new QTableWidgetItem(QIcon(QPixmap::fromImage(thumbnail(item.pixels))), item.name);
    d->table->setItem(r, 0, image);
    QString truth = QStringLiteral("—");
    if (item.label >= 0 && data && item.label < static_cast<int>(data->class_names.size())) {
      truth = QString::fromStdString(data->class_names[static_cast<size_t>(item.label)]);
    }
    d->table->setItem(r, 1, new QTableWidgetItem(truth));
    d->table->setItem(r, 2, new QTableWidgetItem);
    d->table->setItem(r, 3, new QTableWidgetItem);
  }
}

void TryItPage::showResults() {
  const auto data = d->session->dataset();
  int teacherRight = 0, studentRight = 0, labelled = 0, agree = 0;
  for (int r = 0; r < rowCount(); ++r) {
    const Item& item = d->items[static_cast<size_t>(r)];
    const QStringList t = teacherTop(r), s = studentTop(r);
    auto mark = [&](const std::optional<TimedPredictions>& p, const QStringList& lines, int& right) {
      if (lines.isEmpty()) return QString();
      const int64_t best = p->top[static_cast<size_t>(r)].front().first;
      const bool correct = item.label >= 0 && best == item.label;
      right += correct ? 1 : 0;
      return (item.label >= 0 ? (correct ? QStringLiteral("✓ ") : QStringLiteral("✗ ")) : QString()) + lines.join('\n');
    };
    d->table->item(r, 2)->setText(mark(d->outcome.teacher, t, teacherRight));
    d->table->item(r, 3)->setText(mark(d->outcome.student, s, studentRight));
    labelled += item.label >= 0 ? 1 : 0;
    if (d->outcome.teacher && d->outcome.student &&
        d->outcome.teacher->top[static_cast<size_t>(r)].front().first ==
            d->outcome.student->top[static_cast<size_t>(r)].front().first) {
      ++agree;
    }
  }
  d->table->resizeRowsToContents();
  QStringList parts;
  auto describe = [&](const QString& role, const std::optional<TimedPredictions>& p, const std::shared_ptr<Predictor>& m,
                      int right) {
    if (!p || !m) return;
    QString text = tr("%1: %2 ms per image, %3").arg(role).arg(p->ms_per_image, 0, 'f', 2).arg(sizeText(m->file_bytes()));
    if (labelled > 0) text += tr(", %1 of %2 right").arg(right).arg(labelled);
    parts << text;
  };
  describe(tr("Teacher"), d->outcome.teacher, d->teacher, teacherRight);
  describe(tr("Student"), d->outcome.student, d->student, studentRight);
  QString summary = parts.join(QStringLiteral("   ·   "));
  if (d->outcome.teacher && d->outcome.student && d->outcome.student->ms_per_image > 0 && d->student->file_bytes() > 0) {
    summary += tr("\nThe student is %1x faster and %2x smaller on this machine; the two agree on %3 of %4 images.")
                   .arg(d->outcome.teacher->ms_per_image / d->outcome.student->ms_per_image, 0, 'f', 1)
                   .arg(static_cast<double>(d->teacher->file_bytes()) / d->student->file_bytes(), 0, 'f', 1)
                   .arg(agree)
                   .arg(rowCount());
  }
  summary += tr("\nLatency: one image at a time on this machine's CPU, after one warm-up image, preprocessing included.");
  d->summary->setText(summary);
  emit statusMessage(tr("Classified %1 images").arg(rowCount()));
}

void TryItPage::showError(const QString& message) {
  d->lastError = message;
  d->error->setText(message);
  d->error->show();
  emit failed(message);
}

int TryItPage::rowCount() const { return static_cast<int>(d->items.size()); }
QStringList TryItPage::teacherTop(int row) const { return d->top(d->outcome.teacher, d->teacher, row); }
QStringList TryItPage::studentTop(int row) const { return d->top(d->outcome.student, d->student, row); }
QString TryItPage::summaryText() const { return d->summary->text(); }
QString TryItPage::lastError() const { return d->lastError; }
QTableWidget* TryItPage::table() const { return d->table; }

void TryItPage::dragEnterEvent(QDragEnterEvent* event) {
  if (event->mimeData()->hasUrls()) event->acceptProposedAction();
}

void TryItPage::dropEvent(QDropEvent* event) {
  QStringList images, models;
  for (const QUrl& url : event->mimeData()->urls()) {
    if (!url.isLocalFile()) continue;
    const QString path = url.toLocalFile();
    const QString ext = QFileInfo(path).suffix().toLower();
    (ext == "onnx" || ext == "kdmodel" || ext == "safetensors" || ext == "pt" ? models : images) << path;
  }
  if (!models.isEmpty()) setStudentFile(models.first());
  if (!images.isEmpty()) setImageFiles(images);
  event->acceptProposedAction();
}

}  // namespace kd::ui
