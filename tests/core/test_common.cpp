// Small core services: device choice, thread count, atomic file writes, data-spec paths.
#include <QtTest/QtTest>
#include <torch/cuda.h>
#include <torch/torch.h>

#include <ATen/Parallel.h>
#include <filesystem>
#include <fstream>
#include <thread>

#include "test_util.h"
#include "common/device.h"
#include "common/error.h"
#include "data/data_spec.h"
#include "io/atomic_file.h"

namespace {

using kdtest::error_of;

std::string read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

}  // namespace

class TestCommon : public QObject {
  Q_OBJECT

 private slots:
  void deviceChoice() {
    QVERIFY(kd::resolve_device("cpu").is_cpu());
    QVERIFY(kd::resolve_device("CPU").is_cpu());
    const torch::Device automatic = kd::resolve_device("auto");
    QCOMPARE(automatic.is_cuda(), torch::cuda::is_available());
    if (!torch::cuda::is_available()) {
      const std::string e = error_of([] { kd::resolve_device("cuda"); });
      QVERIFY2(QString::fromStdString(e).contains("CUDA is not available"), e.c_str());
    } else {
      QVERIFY(kd::resolve_device("cuda:0").is_cuda());
      const std::string e = error_of([] { kd::resolve_device("cuda:99"); });
      QVERIFY2(QString::fromStdString(e).contains("GPU(s) present"), e.c_str());
    }
    const std::string e = error_of([] { kd::resolve_device("tpu"); });
    QVERIFY2(QString::fromStdString(e).contains("unknown device 'tpu'"), e.c_str());
  }

  void threadsDefaultToCoreCount() {
    const int n = kd::configure_threads(0);
    QCOMPARE(n, static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
    QCOMPARE(at::get_num_threads(), n);
    QCOMPARE(kd::configure_threads(1), 1);
    QCOMPARE(at::get_num_threads(), 1);
  }

  void atomicFileReplacesWholeOrNothing() {
    QTemporaryDir dir;
    const std::string path = dir.filePath("out.bin").toStdString();
    {
      kd::AtomicFile f(path);
      f.write("first", 5);
      f.commit();
    }
    QCOMPARE(read_all(path), std::string("first"));
    try {  // an interrupted write leaves the old file and no temporary behind
      kd::AtomicFile f(path);
      f.write("second-but-unfinished", 21);
      throw std::runtime_error("interrupted");
    } catch (const std::runtime_error&) {
    }
    QCOMPARE(read_all(path), std::string("first"));
    QCOMPARE(QDir(dir.path()).entryList(QDir::Files), QStringList{"out.bin"});
  }

  void atomicFileNamesUnwritableFolder() {
    const std::string e = error_of([] { kd::AtomicFile f("/nonexistent-dir/model.kdmodel"); });
    QVERIFY2(QString::fromStdString(e).contains("/nonexistent-dir/model.kdmodel"), e.c_str());
  }

  void dataSpecExpandsHome() {
    const QByteArray home = qgetenv("HOME");
    const kd::DataSpec spec = kd::parse_data_spec("cifar10:~/data/cifar");
    QCOMPARE(QString::fromStdString(spec.location), QString(home + "/data/cifar"));
  }
};

QTEST_APPLESS_MAIN(TestCommon)
#include "test_common.moc"
