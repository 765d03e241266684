// The Try it page: the session's teacher and a student file classify the same images; each
// row's top-3 equals what the deploy core computes from the same pixels, with the session
// dataset's mean and std for the teacher and the file's own preprocessing for the student.
#include <torch/torch.h>

#include <QSignalSpy>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QtTest/QtTest>
#include <memory>
#include <opencv2/imgcodecs.hpp>

#include "data/data_spec.h"
#include "data/transforms.h"
#include "deploy/onnx_export.h"
#include "deploy/predictor.h"
#include "models/bundled_models.h"
#include "models/model_loader.h"
#include "models/zoo/zoo_builder.h"
#include "models/zoo/zoo_spec.h"
#include "pages/try_it_page.h"
#include "shell/session.h"

using kd::ui::TryItPage;

namespace {

constexpr int kTimeoutMs = 60000;

QStringList expectedTop(kd::Predictor& p, const torch::Tensor& pixels, int row) {
  const auto top = kd::top_k(p.logits(pixels.slice(0, row, row + 1)), 3).front();
  QStringList lines;
  for (const auto& [cls, prob] : top) {
    lines << QStringLiteral("%1 %2%").arg(QString::fromStdString(p.info().class_names[cls])).arg(100.0 * prob, 0, 'f', 1);
  }
  return lines;
}

}  // namespace

class TryItPageTest : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() {
    QVERIFY(dir_.isValid());
    teacher_ = std::make_shared<kd::LoadedModel>(kd::load_model(kd::bundled_teacher_path()));
    auto data = std::make_shared<kd::Dataset>();
    const kd::Dataset full = kd::load_dataset("fashion-mnist");
    data->name = full.name;
    data->class_names = full.class_names;
    data->train = {full.train.images.slice(0, 0, 3000).clone(), full.train.labels.slice(0, 0, 3000).clone()};
    data->test = {full.test.images.slice(0, 0, 100).clone(), full.test.labels.slice(0, 0, 100).clone()};
    data_ = data;
    // A student exported to ONNX with its own (made-up) preprocessing, so that the page must use
    // the file's and not the session's.
    auto student = kd::zoo::create_zoo_model(kd::zoo::parse_zoo_spec("resnet9:channels=1,size=28,width=0.125"), 5);
    kd::DeployInfo info;
    info.channels = 1;
    info.height = info.width = 28;
    info.mean = {0.5f};
    info.std = {0.25f};
    info.class_names = data->class_names;
    student_ = dir_.filePath("student.onnx");
    kd::export_onnx(*student, info, false, student_.toStdString());
  }

  void teacherAndStudentSideBySide() {
    kd::ui::Session session;
    session.setTeacher(teacher_);
    session.setDataset(data_, "fashion-mnist (first 3000)");
    TryItPage page(&session);
    page.resize(1280, 800);
    page.show();
    QVERIFY(page.setStudentFile(student_).isEmpty());
    QSignalSpy done(&page, &TryItPage::classified);
    page.pickTestImages(6, 42);
    QTRY_COMPARE_WITH_TIMEOUT(done.count(), 1, kTimeoutMs);
    QCOMPARE(page.rowCount(), 6);

    // The same six images, by the same draw, through the core.
    QRandomGenerator rng(42);
    std::vector<torch::Tensor> rows;
    std::vector<int64_t> labels;
    for (int i = 0; i < 6; ++i) {
      const int64_t index = static_cast<int64_t>(rng.bounded(quint64{100}));
      rows.push_back(data_->test.images[index].to(torch::kFloat).div(255.0));
      labels.push_back(data_->test.labels[index].item<int64_t>());
      QCOMPARE(page.table()->item(i, 1)->text(), QString::fromStdString(data_->class_names[labels.back()]));
    }
    const torch::Tensor pixels = torch::stack(rows);
    const kd::ChannelStats stats = kd::compute_channel_stats(data_->train);
    kd::DeployInfo teacherInfo;
    teacherInfo.channels = 1;
    teacherInfo.height = teacherInfo.width = 28;
    teacherInfo.mean = stats.mean;
    teacherInfo.std = stats.std;
    teacherInfo.class_names = data_->class_names;
    auto teacher = kd::Predictor::wrap(std::shared_ptr<kd::LayeredModel>(teacher_, teacher_->model.get()), teacherInfo,
                                       "LibTorch", 0);
    auto student = kd::Predictor::open(student_.toStdString());
    int teacherRight = 0;
    for (int r = 0; r < 6; ++r) {
      QCOMPARE(page.teacherTop(r), expectedTop(*teacher, pixels, r));
      QCOMPARE(page.studentTop(r), expectedTop(*student, pixels, r));
      const bool right = kd::top_k(teacher->logits(pixels.slice(0, r, r + 1)), 1).front().front().first == labels[r];
      teacherRight += right ? 1 : 0;
      QVERIFY(page.table()->item(r, 2)->text().startsWith(right ? "✓" : "✗"));
    }
    QVERIFY2(page.summaryText().contains(QStringLiteral("Teacher: ")) &&
                 page.summaryText().contains(QStringLiteral("%1 of 6 right").arg(teacherRight)),
             qPrintable(page.summaryText()));
    QVERIFY2(page.summaryText().contains(QStringLiteral("x faster")), qPrintable(page.summaryText()));
    QVERIFY(teacherRight >= 5);  // the bundled teacher is 93 % accurate

    // Image files: fitted (resized) to the student's input, classified with no true class.
    const QString big = dir_.filePath("big.png");
    QVERIFY(cv::imwrite(big.toStdString(), cv::Mat(40, 40, CV_8UC1, cv::Scalar(128))));
    page.setImageFiles({big});
    QTRY_COMPARE_WITH_TIMEOUT(done.count(), 2, kTimeoutMs);
    QCOMPARE(page.rowCount(), 1);
    QCOMPARE(page.table()->item(0, 1)->text(), QStringLiteral("—"));
    QCOMPARE(page.studentTop(0).size(), 3);

    // Bad inputs: a clear message, nothing replaced.
    const QString junk = dir_.filePath("junk.png");
    QFile f(junk);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write("not an image");
    f.close();
    QSignalSpy failed(&page, &TryItPage::failed);
    page.setImageFiles({junk});
    QCOMPARE(failed.count(), 1);
    QVERIFY2(page.lastError().contains("junk.png: not a PNG, JPEG, BMP, PNM, WebP or TIFF image"), qPrintable(page.lastError()));
    QCOMPARE(page.rowCount(), 1);
    const QString error = page.setStudentFile(dir_.filePath("missing.onnx"));
    QVERIFY2(error.contains("missing.onnx: no such model file"), qPrintable(error));
    QCOMPARE(page.studentTop(0).size(), 3);  // the student that was loaded stays
  }

 private:
  QTemporaryDir dir_;
  std::shared_ptr<kd::LoadedModel> teacher_;
  std::shared_ptr<const kd::Dataset> data_;
  QString student_;
};

QTEST_MAIN(TryItPageTest)
#include "test_try_it_page.moc"
