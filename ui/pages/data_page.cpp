#include "pages/data_page.h"

#include <QComboBox>
#include <QEvent>
#include <QFileDialog>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QPixmap>
#include <QPushButton>
#include <QScrollArea>
#include <QSplitter>
#include <QTableWidget>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

#include "shell/app_theme.h"
#include "shell/guarded_call.h"
#include "data/data_spec.h"
#include "plots/sample_grid.h"

namespace kd::ui {

QStringList DataPage::kinds() {
  return {QStringLiteral("fashion-mnist"), QStringLiteral("mnist"),    QStringLiteral("idx"),
          QStringLiteral("cifar10"),       QStringLiteral("cifar100"), QStringLiteral("cifar100-coarse"),
          QStringLiteral("folder")};
}

QString DataPage::specFor(const QString& kind, const QString& folder) {
  if (kind == QLatin1String("fashion-mnist") && folder.isEmpty()) return kind;
  if (kind == QLatin1String("cifar100-coarse")) {
    return QStringLiteral("cifar100:%1?labels=coarse").arg(folder);
  }
  return QStringLiteral("%1:%2").arg(kind, folder);
}

DataPage::DataPage(QWidget* parent) : QWidget(parent) {
  kind_ = new QComboBox;
  kind_->setObjectName(QStringLiteral("datasetKind"));
  kind_->setToolTip(tr("Open a dataset of this kind: Fashion-MNIST loads at once, the others ask "
                       "for the folder holding the files"));
  const QStringList titles = {tr("Fashion-MNIST (installed)"),
                              tr("MNIST (IDX files)…"),
                              tr("Other IDX files…"),
                              tr("CIFAR-10 (binary version)…"),
                              tr("CIFAR-100, fine labels…"),
                              tr("CIFAR-100, coarse labels…"),
                              tr("Image folder or Tiny-ImageNet…")};
  const QStringList keys = kinds();
  for (int i = 0; i < keys.size(); ++i) kind_->addItem(titles.value(i), keys[i]);
  connect(kind_, &QComboBox::activated, this, &DataPage::kindActivated);
  spec_ = new QLineEdit(QStringLiteral("fashion-mnist"));
  spec_->setToolTip(QString::fromStdString(data_spec_help()));
  spec_->setPlaceholderText(tr("fashion-mnist, mnist:DIR, idx:DIR, cifar10:DIR, cifar100:DIR, folder:DIR"));
  load_ = new QPushButton(tr("&Load"));
  load_->setToolTip(tr("Read the dataset named on the left"));
  auto* browse = new QPushButton(tr("Folder…"));
  browse->setToolTip(tr("Pick a dataset folder (IDX, CIFAR binary or one subfolder per class)"));
  connect(load_, &QPushButton::clicked, this, [this] { loadSpec(spec_->text()); });
  connect(spec_, &QLineEdit::returnPressed, this, [this] { loadSpec(spec_->text()); });
  connect(browse, &QPushButton::clicked, this, &DataPage::browse);

  summary_ = new QLabel(tr("No dataset loaded yet."));
  summary_->setWordWrap(true);
  error_ = new QLabel;
  error_->setWordWrap(true);
  styleAsError(error_);
  error_->hide();
  classes_ = new QTableWidget(0, 3);
  classes_->setHorizontalHeaderLabels({tr("Class"), tr("Train"), tr("Test")});
  classes_->verticalHeader()->hide();
  classes_->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
  classes_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  classes_->setToolTip(tr("Samples per class in each split"));
  samples_ = new QLabel;
  samples_->setAlignment(Qt::AlignTop | Qt::AlignLeft);
  samples_->setToolTip(tr("The first training images of each class, one row per class"));
  auto* scroll = new QScrollArea;
  scroll->setWidget(samples_);
  scroll->setWidgetResizable(true);

  auto* top = new QHBoxLayout;
  top->addWidget(new QLabel(tr("Dataset")));
  top->addWidget(kind_);
  top->addWidget(spec_, 1);
  top->addWidget(browse);
  top->addWidget(load_);
  auto* split = new QSplitter(Qt::Horizontal);
  split->addWidget(classes_);
  split->addWidget(scroll);
  split->setStretchFactor(1, 1);
  auto* layout = new QVBoxLayout(this);
  layout->addLayout(top);
  layout->addWidget(summary_);
  layout->addWidget(error_);
  layout->addWidget(split, 1);

  watcher_ = new QFutureWatcher<Result>(this);
  connect(watcher_, &QFutureWatcher<Result>::finished, this, &DataPage::onFinished);
}

DataPage::~DataPage() { watcher_->waitForFinished(); }

bool DataPage::isBusy() const { return watcher_->isRunning(); }

void DataPage::browse() {
  const QString dir = QFileDialog::getExistingDirectory(this, tr("Dataset folder"));
  if (dir.isEmpty()) return;
  spec_->setText(dir);
  loadSpec(dir);
}

void DataPage::kindActivated(int index) {
  const QString kind = kind_->itemData(index).toString();
  if (kind == QLatin1String("fashion-mnist")) {
    openKind(kind, {});
    return;
  }
  const QString dir = QFileDialog::getExistingDirectory(
      this, tr("Folder of the %1 dataset").arg(kind_->itemText(index).remove(QStringLiteral("…"))));
  if (!dir.isEmpty()) openKind(kind, dir);
}

QString DataPage::openKind(const QString& kind, const QString& folder) {
  const int index = kind_->findData(kind);
  if (index >= 0) kind_->setCurrentIndex(index);
  const QString spec = specFor(kind, folder);
  loadSpec(spec);
  return spec;
}

int DataPage::classRows() const { return classes_->rowCount(); }

QPair<qlonglong, qlonglong> DataPage::classCounts(int c) const {
  const auto number = [&](int column) {
    const QTableWidgetItem* item = classes_->item(c, column);
    return item ? item->text().toLongLong() : -1;
  };
  return {number(1), number(2)};
}

void DataPage::changeEvent(QEvent* event) {
  QWidget::changeEvent(event);
  if (event->type() == QEvent::PaletteChange && dataset_) showDataset();  // the grid's background
}

void DataPage::loadSpec(const QString& spec) {
  spec_->setText(spec);
  if (watcher_->isRunning()) {  // one load at a time: the newest request runs next
    pendingSpec_ = spec;
    return;
  }
  runningSpec_ = spec;
  load_->setEnabled(false);
  summary_->setText(tr("Loading %1…").arg(spec));
  const std::string s = spec.toStdString();
  watcher_->setFuture(QtConcurrent::run([s]() -> Result {
    Result r;
    r.error = runGuarded([&] { r.dataset = std::make_shared<const Dataset>(load_dataset(s)); });
    return r;
  }));
}

void DataPage::onFinished() {
  load_->setEnabled(true);
  const Result r = watcher_->result();
  if (!pendingSpec_.isEmpty()) {  // a newer request supersedes this result
    const QString next = pendingSpec_;
    pendingSpec_.clear();
    loadSpec(next);
    return;
  }
  if (!r.error.isEmpty()) {
    lastError_ = r.error;
    QString text = tr("Could not load the dataset: %1").arg(r.error);
    if (r.error.contains(QLatin1String("dataset-fashion-mnist"))) {  // the default data is missing
      text += tr("\nOr open another dataset: choose its kind in the box on the left (MNIST, "
                 "CIFAR, an image folder, …), type its spec, or pick a folder with Folder…");
    }
    error_->setText(text);
    error_->show();
    showDataset();  // what was loaded before stays
    emit loadFailed(r.error);
    return;
  }
  lastError_.clear();
  error_->hide();
  dataset_ = r.dataset;
  loadedSpec_ = runningSpec_;
  showDataset();
  emit datasetLoaded(QString::fromStdString(dataset_->name), dataset_->train.size(),
                     dataset_->test.size());
}

void DataPage::showDataset() {
  if (!dataset_) {
    summary_->setText(tr("No dataset loaded yet."));
    return;
  }
  const Dataset& d = *dataset_;
  summary_->setText(tr("<b>%1</b> — %2 training and %3 test images of %4×%5×%6, %7 classes "
                       "<span style='color:gray'>(%8)</span>")
                        .arg(QString::fromStdString(d.name).toHtmlEscaped())
                        .arg(d.train.size())
                        .arg(d.test.size())
                        .arg(d.channels())
                        .arg(d.height())
                        .arg(d.width())
                        .arg(d.num_classes())
                        .arg(QString::fromStdString(d.source).toHtmlEscaped()));
  const torch::Tensor train_counts = torch::bincount(d.train.labels, {}, d.num_classes());
  const torch::Tensor test_counts = torch::bincount(d.test.labels, {}, d.num_classes());
  classes_->setRowCount(static_cast<int>(d.num_classes()));
  for (int c = 0; c < d.num_classes(); ++c) {
    classes_->setItem(c, 0, new QTableWidgetItem(QString::fromStdString(d.class_names[c])));
    classes_->setItem(c, 1, new QTableWidgetItem(QString::number(train_counts[c].item<int64_t>())));
    classes_->setItem(c, 2, new QTableWidgetItem(QString::number(test_counts[c].item<int64_t>())));
  }
  const int zoom = d.height() <= 32 ? 2 : 1;
  grid_ = renderSampleGrid(d, kGridSamples, kMaxGridClasses, zoom, palette().color(QPalette::Base));
  samples_->setPixmap(QPixmap::fromImage(grid_));
  samples_->setToolTip(d.num_classes() > kMaxGridClasses
                           ? tr("The first training images of the first %1 classes, one row per "
                                "class (the table lists all %2)")
                                 .arg(kMaxGridClasses)
                                 .arg(d.num_classes())
                           : tr("The first training images of each class, one row per class, in "
                                "the order of the table"));
}

}  // namespace kd::ui
