// The desktop app's first pages, offscreen: default models and data load in the background,
// zoo and TorchScript models list their layers, errors are shown and lose nothing, stale loads
// are dropped. Set KD_SCREENSHOT_DIR to also save a PNG of each page.
#include <QPushButton>
#include <QSignalSpy>
#include <QTabWidget>
#include <QtTest/QtTest>

#include "data_page.h"
#include "main_window.h"
#include "model_panel.h"
#include "models/bundled_models.h"
#include "models/model_loader.h"
#include "models_page.h"
#include "test_util.h"

using kd::ui::MainWindow;
using kd::ui::ModelPanel;

class TestMainWindow : public QObject {
  Q_OBJECT

 private:
  static constexpr int kTimeoutMs = 60000;  // generous: CI machines are slow

  static void saveShot(QWidget* w, const QString& name) {
    const QString dir = qEnvironmentVariable("KD_SCREENSHOT_DIR");
    if (!dir.isEmpty()) w->grab().save(dir + "/" + name + ".png");
  }

 private slots:
  void initTestCase() {
    QCoreApplication::setOrganizationName("KDStudioTest");
    QCoreApplication::setApplicationName("test_main_window");
  }

  void defaultsLoad() {
    MainWindow w;
    w.resize(1280, 800);
    w.show();
    w.loadDefaults();
    const int teacherLayers = kd::load_model(MainWindow::defaultTeacher().toStdString()).model->num_layers();
    QTRY_COMPARE_WITH_TIMEOUT(w.modelsPage()->teacher()->layerCount(), teacherLayers, kTimeoutMs);
    QTRY_COMPARE_WITH_TIMEOUT(w.modelsPage()->student()->layerCount(), 6, kTimeoutMs);
    QCOMPARE(w.modelsPage()->student()->model()->model->architecture(),
             std::string(kd::kDefaultStudentSpec));
    saveShot(&w, "models");
    if (!QFileInfo::exists("/usr/share/datasets/fashion-mnist")) {
      QSKIP("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)");
    }
    QTRY_VERIFY_WITH_TIMEOUT(w.dataPage()->dataset() != nullptr, kTimeoutMs);
    QCOMPARE(w.dataPage()->dataset()->train.size(), 60000);
    QCOMPARE(w.dataPage()->dataset()->test.size(), 10000);
    w.findChild<QTabWidget*>()->setCurrentWidget(w.dataPage());
    saveShot(&w, "data");
  }

  void zooModelsListTheirLayers_data() {
    QTest::addColumn<QString>("spec");
    QTest::addColumn<int>("layers");
    QTest::newRow("vgg11_bn") << "vgg11_bn:channels=1,size=28,width=0.25" << 11;
    QTest::newRow("mobilenetv2") << "mobilenetv2:width=0.25" << 20;
    QTest::newRow("vit_ett") << "vit_ett:width=0.25" << 9;
  }

  void zooModelsListTheirLayers() {
    QFETCH(QString, spec);
    QFETCH(int, layers);
    ModelPanel panel("Teacher");
    QSignalSpy loaded(&panel, &ModelPanel::modelLoaded);
    panel.setZooControls(spec);
    QCOMPARE(panel.zooSpecFromControls(), spec);
    panel.findChild<QPushButton*>()->click();  // the Build button
    QTRY_COMPARE_WITH_TIMEOUT(loaded.count(), 1, kTimeoutMs);
    QCOMPARE(panel.layerCount(), layers);
    QCOMPARE(loaded.first().at(1).toInt(), layers);
  }

  void torchScriptFileLoads() {
    ModelPanel panel("Student");
    panel.loadSpec(QString::fromStdString(kdtest::fixture("ts_seq_cnn.pt")));
    QTRY_VERIFY_WITH_TIMEOUT(panel.model() != nullptr, kTimeoutMs);
    QCOMPARE(panel.model()->origin, kd::ModelOrigin::kTorchScript);
    QCOMPARE(panel.layerCount(), panel.model()->model->num_layers());
    QVERIFY(panel.layerCount() > 0);
  }

  void badFileShowsErrorAndKeepsModel() {
    ModelPanel panel("Teacher");
    QSignalSpy failed(&panel, &ModelPanel::loadFailed);
    panel.loadSpec("resnet9:width=0.125");
    QTRY_COMPARE_WITH_TIMEOUT(panel.layerCount(), 6, kTimeoutMs);
    panel.loadSpec("/nonexistent/teacher.pt");
    QTRY_COMPARE_WITH_TIMEOUT(failed.count(), 1, kTimeoutMs);
    QVERIFY2(panel.lastError().contains("does not exist"), qPrintable(panel.lastError()));
    QCOMPARE(panel.layerCount(), 6);  // nothing lost
    QCOMPARE(panel.model()->model->architecture(), std::string("resnet9:width=0.125"));
  }

  void staleLoadIsDropped() {
    ModelPanel panel("Teacher");
    QSignalSpy loaded(&panel, &ModelPanel::modelLoaded);
    panel.loadSpec("vgg19_bn:width=0.125");
    panel.loadSpec("resnet9:width=0.125");  // the user changed their mind
    QTRY_VERIFY_WITH_TIMEOUT(!panel.isBusy() && loaded.count() >= 1, kTimeoutMs);
    QTest::qWait(200);
    QCOMPARE(loaded.count(), 1);
    QCOMPARE(panel.layerCount(), 6);
  }

  void badDatasetShowsError() {
    kd::ui::DataPage page;
    QSignalSpy failed(&page, &kd::ui::DataPage::loadFailed);
    page.loadSpec("cifar10:/nonexistent/cifar");
    QTRY_COMPARE_WITH_TIMEOUT(failed.count(), 1, kTimeoutMs);
    QVERIFY2(page.lastError().contains("/nonexistent/cifar"), qPrintable(page.lastError()));
    QVERIFY(page.dataset() == nullptr);
  }
};

QTEST_MAIN(TestMainWindow)
#include "test_main_window.moc"
