// The Data page, offscreen: the class table holds each split's per-class counts, the sample grid
// shows the first training images of every class (more than ten classes too) on the palette's
// background, the Kind box builds the dataset specs, and a bad dataset keeps what was loaded.
#include <torch/torch.h>

#include <QComboBox>
#include <QDir>
#include <QImage>
#include <QSignalSpy>
#include <QtTest/QtTest>

#include "shell/app_theme.h"
#include "data/data_spec.h"
#include "pages/data_page.h"
#include "idx_subset.h"
#include "plots/sample_grid.h"

using kd::ui::DataPage;

namespace {

constexpr int kTimeoutMs = 60000;

/// An image folder with `classes` classes: DIR/train/cNN/*.png (`train` each) and DIR/test/cNN
/// (`test` each); every image of class c is a flat grey of value 10 * c + 3 * i.
void writeImageFolder(const QString& dir, int classes, int train, int test) {
  for (const auto& [split, count] : {std::pair{QStringLiteral("train"), train}, std::pair{QStringLiteral("test"), test}}) {
    for (int c = 0; c < classes; ++c) {
      const QString folder = QStringLiteral("%1/%2/c%3").arg(dir, split).arg(c, 2, 10, QLatin1Char('0'));
      QVERIFY(QDir().mkpath(folder));
      for (int i = 0; i < count; ++i) {
        QImage img(16, 16, QImage::Format_Grayscale8);
        img.fill(QColor(10 * c + 3 * i, 10 * c + 3 * i, 10 * c + 3 * i));
        QVERIFY(img.save(QStringLiteral("%1/%2.png").arg(folder).arg(i)));
      }
    }
  }
}

}  // namespace

class TestDataPage : public QObject {
  Q_OBJECT

 private:
  QTemporaryDir idxDir_, folderDir_;

  static void load(DataPage& page, const QString& spec) {
    QSignalSpy loaded(&page, &DataPage::datasetLoaded);
    page.loadSpec(spec);
    QTRY_VERIFY_WITH_TIMEOUT(loaded.count() == 1, kTimeoutMs);
  }

 private slots:
  void initTestCase() {
    QVERIFY(idxDir_.isValid() && folderDir_.isValid());
    torch::set_num_threads(2);
  }

  void specsOfTheKindBox() {
    QCOMPARE(DataPage::specFor("fashion-mnist", {}), QString("fashion-mnist"));
    QCOMPARE(DataPage::specFor("fashion-mnist", "/d/fm"), QString("fashion-mnist:/d/fm"));
    QCOMPARE(DataPage::specFor("mnist", "/d/m"), QString("mnist:/d/m"));
    QCOMPARE(DataPage::specFor("cifar10", "/d/c"), QString("cifar10:/d/c"));
    QCOMPARE(DataPage::specFor("cifar100", "/d/c"), QString("cifar100:/d/c"));
    QCOMPARE(DataPage::specFor("cifar100-coarse", "/d/c"), QString("cifar100:/d/c?labels=coarse"));
    QCOMPARE(DataPage::specFor("folder", "/d/f"), QString("folder:/d/f"));
    // Every spec the box builds parses in core.
    for (const QString& kind : DataPage::kinds()) {
      const QString spec = DataPage::specFor(kind, "/d/x");
      try {
        (void)kd::parse_data_spec(spec.toStdString());
      } catch (const std::exception& e) {
        QFAIL(qPrintable(spec + ": " + e.what()));
      }
    }
    DataPage page;
    auto* box = page.findChild<QComboBox*>("datasetKind");
    QVERIFY(box != nullptr);
    QCOMPARE(box->count(), int(DataPage::kinds().size()));
    QVERIFY(!box->toolTip().isEmpty());
  }

  void classTableAndGridShowTheData() {
    if (!QFileInfo::exists("/usr/share/datasets/fashion-mnist")) QSKIP("Fashion-MNIST is not installed");
    const kd::Dataset full = kd::load_dataset("fashion-mnist");
    const std::string dir = idxDir_.path().toStdString();
    kdtest::write_idx_subset(full.train, 7, dir, "train");
    kdtest::write_idx_subset(full.test, 3, dir, "t10k");
    DataPage page;
    const QString spec = page.openKind("fashion-mnist", idxDir_.path());
    QCOMPARE(spec, "fashion-mnist:" + idxDir_.path());
    QSignalSpy loaded(&page, &DataPage::datasetLoaded);
    QTRY_VERIFY_WITH_TIMEOUT(loaded.count() == 1, kTimeoutMs);
    QCOMPARE(page.spec(), spec);
    const kd::Dataset& d = *page.dataset();
    QCOMPARE(page.classRows(), 10);
    for (int c = 0; c < 10; ++c) QCOMPARE(page.classCounts(c), (QPair<qlonglong, qlonglong>(7, 3)));
    // 10 samples per row are asked for and 7 exist: 10 columns of 28x28 at zoom 2 plus the gaps.
    const QImage grid = page.sampleGrid();
    const QSize cell = kd::ui::sampleGridCell(d, 2);
    QCOMPARE(cell, QSize(58, 58));
    QCOMPARE(grid.size(), QSize(DataPage::kGridSamples * cell.width(), 10 * cell.height()));
    // Cell (class c, column k) holds the k-th training image of class c, scaled up twice.
    const auto labels = d.train.labels.accessor<int64_t, 1>();
    std::vector<int> seen(10, 0);
    for (int64_t i = 0; i < d.train.size(); ++i) {
      const int c = static_cast<int>(labels[i]);
      const int k = seen[size_t(c)]++;
      const QImage sample = kd::ui::tensorToImage(d.train.images[i]);
      for (const QPoint p : {QPoint(0, 0), QPoint(13, 9), QPoint(27, 27)}) {
        QCOMPARE(grid.pixelColor(k * cell.width() + 2 * p.x(), c * cell.height() + 2 * p.y() + 1),
                 sample.pixelColor(p));
      }
    }
    // Columns 7..9 have no sample: the palette's base color fills them.
    QCOMPARE(grid.pixelColor(8 * cell.width() + 5, 5), page.palette().color(QPalette::Base));
  }

  void moreThanTenClassesAllGetARow() {
    writeImageFolder(folderDir_.path(), 12, 4, 2);
    DataPage page;
    load(page, DataPage::specFor("folder", folderDir_.path()) + "?size=16&channels=1");
    QCOMPARE(page.classRows(), 12);
    for (int c = 0; c < 12; ++c) QCOMPARE(page.classCounts(c), (QPair<qlonglong, qlonglong>(4, 2)));
    const QSize cell = kd::ui::sampleGridCell(*page.dataset(), 2);
    QCOMPARE(page.sampleGrid().height(), 12 * cell.height());
    // Row 11 (class c11) starts with its first image: grey 110 (the decoder keeps flat greys).
    const auto& names = page.dataset()->class_names;
    const int row = static_cast<int>(std::find(names.begin(), names.end(), "c11") - names.begin());
    QCOMPARE(row, 11);
    QCOMPARE(page.sampleGrid().pixelColor(3, row * cell.height() + 3).red(), 110);
  }

  void gridFollowsTheScheme() {
    writeImageFolder(folderDir_.path(), 12, 4, 2);
    DataPage page;
    load(page, DataPage::specFor("folder", folderDir_.path()) + "?size=16&channels=1");
    const QPoint gap(kd::ui::sampleGridCell(*page.dataset(), 2).width() - 1, 0);  // between samples
    kd::ui::applyTheme("dark");
    QTRY_VERIFY(kd::ui::isDark(page.palette()));
    QTRY_COMPARE(page.sampleGrid().pixelColor(gap), page.palette().color(QPalette::Base));
    QVERIFY(page.sampleGrid().pixelColor(gap).lightness() < 80);
    kd::ui::applyTheme("light");
    QTRY_VERIFY(!kd::ui::isDark(page.palette()));
    QTRY_COMPARE(page.sampleGrid().pixelColor(gap), page.palette().color(QPalette::Base));
    QVERIFY(page.sampleGrid().pixelColor(gap).lightness() > 200);
    kd::ui::applyTheme("system");
  }

  void badDatasetKeepsTheLoadedOne() {
    writeImageFolder(folderDir_.path(), 12, 4, 2);
    DataPage page;
    load(page, DataPage::specFor("folder", folderDir_.path()) + "?size=16&channels=1");
    QSignalSpy failed(&page, &DataPage::loadFailed);
    page.openKind("cifar10", "/nonexistent/cifar");
    QTRY_COMPARE_WITH_TIMEOUT(failed.count(), 1, kTimeoutMs);
    QVERIFY2(page.lastError().contains("/nonexistent/cifar"), qPrintable(page.lastError()));
    QCOMPARE(page.classRows(), 12);  // nothing lost
    QCOMPARE(page.dataset()->num_classes(), int64_t{12});
    QCOMPARE(page.spec(), DataPage::specFor("folder", folderDir_.path()) + "?size=16&channels=1");
  }
};

QTEST_MAIN(TestDataPage)
#include "test_data_page.moc"
