// Model and image files that core must refuse with a clear message, without crashing
// (docs/reliability.md, "Bad inputs", "Untrusted files"): files that are not models, model files
// that do not fit or are too small for their architecture, NaN weights, and image headers that
// ask for gigabytes. The huge-claim rows also check that the refusal is immediate.
#include <QtTest/QtTest>
#include <cmath>
#include <filesystem>
#include <limits>
#include <opencv2/imgcodecs.hpp>

#include "common/error.h"
#include "data/image_folder_reader.h"
#include "data/image_header.h"
#include "io/safetensors.h"
#include "models/model_file.h"
#include "models/model_loader.h"
#include "models/zoo/zoo_builder.h"
#include "bad_input_util.h"
#include "test_util.h"

Q_DECLARE_METATYPE(std::string)

namespace {

namespace fs = std::filesystem;
using kdtest::Bytes;
using kdtest::contains;
using kdtest::error_of;
using kdtest::read_bytes;
using kdtest::safetensors_bytes;

constexpr const char* kStudent = "resnet9:channels=1,size=28,width=0.125";

}  // namespace

class TestBadFiles : public QObject {
  Q_OBJECT

  QTemporaryDir tmp_;

  std::string dir() const { return tmp_.path().toStdString(); }

 private slots:
  void initTestCase() {
    QVERIFY(tmp_.isValid());
    torch::set_num_threads(2);
  }

  // ---- model files opened through load_model ----

  void foreignModelFiles_data() {
    QTest::addColumn<QByteArray>("bytes");
    QTest::addColumn<QString>("name");
    QTest::addColumn<QString>("expected");
    QTest::newRow("text named .kdmodel") << QByteArray("hello, I am a model\n") << "notes.kdmodel"
                                         << "is neither a TorchScript archive";
    QTest::newRow("empty .pt") << QByteArray() << "empty.pt" << "is neither a TorchScript archive";
    QTest::newRow("pickle named .pth") << QByteArray("\x80\x02}q\x00.", 6) << "weights.pth"
                                       << "a pickled state_dict (torch.save) cannot be opened";
    const Bytes plain = safetensors_bytes(R"({"w":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}})",
                                          Bytes{1, 2});
    QTest::newRow("plain safetensors")
        << QByteArray(reinterpret_cast<const char*>(plain.data()), static_cast<int>(plain.size()))
        << "plain.safetensors" << "not a KD Studio model file";
    const Bytes arch = safetensors_bytes(
        R"({"__metadata__":{"format":"kdstudio-model","architecture":"resnet50"}})");
    QTest::newRow("unknown architecture")
        << QByteArray(reinterpret_cast<const char*>(arch.data()), static_cast<int>(arch.size()))
        << "arch.kdmodel" << "its architecture 'resnet50' cannot be built";
  }

  void foreignModelFiles() {
    QFETCH(QByteArray, bytes);
    QFETCH(QString, name);
    QFETCH(QString, expected);
    const std::string path = dir() + "/" + name.toStdString();
    kdtest::write_bytes(path, Bytes(bytes.begin(), bytes.end()));
    const std::string e = error_of([&] { kd::load_model(path); });
    VERIFY_HAS(e, path);
    VERIFY_HAS(e, expected.toStdString());
  }

  void modelFileOfAnotherArchitecture() {
    auto model = kd::zoo::create_zoo_model(kd::zoo::parse_zoo_spec(kStudent));
    const std::string path = dir() + "/other.kdmodel";
    kd::save_zoo_model(*model, path);
    kd::SafetensorsContent content = kd::read_safetensors(path);
    content.metadata["architecture"] = "resnet18:channels=1,size=28,width=0.125";
    kd::write_safetensors(path, content.tensors, content.metadata);
    const std::string e = error_of([&] { kd::load_model(path); });
    VERIFY_HAS(e, path + " does not match its architecture resnet18:channels=1,size=28,width=0.125");
    VERIFY_HAS(e, "missing tensors: ");
    // The same tensors under a wider architecture: refused before that one is even built.
    content.metadata["architecture"] = "resnet9:channels=1,size=28,width=0.25";
    kd::write_safetensors(path, content.tensors, content.metadata);
    VERIFY_HAS(error_of([&] { kd::load_model(path); }),
               "it has at least 148736 parameters, but the file holds 78590 values");
  }

  void modelFileWithNonFiniteWeights_data() {
    QTest::addColumn<double>("value");
    QTest::newRow("NaN") << std::nan("");
    QTest::newRow("Inf") << std::numeric_limits<double>::infinity();
  }

  void modelFileWithNonFiniteWeights() {
    QFETCH(double, value);
    auto model = kd::zoo::create_zoo_model(kd::zoo::parse_zoo_spec(kStudent));
    {
      torch::NoGradGuard no_grad;
      model->named_state().front().second.view(-1)[3] = value;
    }
    const std::string path = dir() + "/nan.kdmodel";
    kd::save_zoo_model(*model, path);
    const std::string e = error_of([&] { kd::load_model(path); });
    VERIFY_HAS(e, path + ": tensor '" + model->named_state().front().first + "'");
    VERIFY_HAS(e, "contains NaN or Inf values");
  }

  void architectureLargerThanTheFile() {
    // ~200 bytes naming a model of about a billion parameters: refused before it is built.
    const Bytes forged = safetensors_bytes(
        R"({"__metadata__":{"format":"kdstudio-model",)"
        R"("architecture":"vgg19_bn:width=4,size=1024,classes=100000"}})");
    const std::string path = dir() + "/forged.kdmodel";
    kdtest::write_bytes(path, forged);
    QElapsedTimer clock;
    clock.start();
    const std::string e = error_of([&] { kd::load_model(path); });
    VERIFY_HAS(e, path + ": its architecture 'vgg19_bn:width=4,size=1024,classes=100000' cannot "
                         "be built: it has at least ");
    VERIFY_HAS(e, "parameters, but the file holds 0 values");
    QVERIFY(clock.elapsed() < 1000);
  }

  void minParameterCountIsALowerBound_data() {
    QTest::addColumn<std::string>("spec");
    for (const char* arch : {"resnet9", "resnet18", "resnet34", "mobilenetv2", "vgg11_bn",
                             "vgg19_bn", "vit_b", "vit_ett"}) {
      for (const char* options : {":width=0.0625", ":width=0.125,size=64,classes=200",
                                  ":channels=1,size=28,width=0.25"}) {
        const std::string spec = std::string(arch) + options;
        QTest::newRow(spec.c_str()) << spec;
      }
    }
  }

  void minParameterCountIsALowerBound() {
    QFETCH(std::string, spec);
    const kd::zoo::ZooSpec s = kd::zoo::parse_zoo_spec(spec);
    std::unique_ptr<kd::zoo::ZooModel> model;
    try {
      model = kd::zoo::create_zoo_model(s);
    } catch (const kd::Error&) {
      QSKIP("this architecture cannot take these options");  // e.g. a ViT at size 28
    }
    int64_t params = 0;
    for (const auto& p : model->parameters()) params += p.numel();
    const int64_t bound = kd::zoo::min_parameter_count(s);
    QVERIFY2(bound <= params, qPrintable(QString("%1 > %2").arg(bound).arg(params)));
    QVERIFY2(bound * 16 >= params, qPrintable(QString("%1 is too loose for %2").arg(bound).arg(params)));
  }

  void truncatedModelFile() {
    const std::string path = dir() + "/cut.kdmodel";
    Bytes bytes = read_bytes(kdtest::fixture("zoo_resnet9.kdmodel"));
    bytes.resize(bytes.size() * 2 / 3);
    kdtest::write_bytes(path, bytes);
    const std::string e = error_of([&] { kd::load_model(path); });
    VERIFY_HAS(e, path + " is truncated or has trailing bytes");
  }

  // ---- images ----

  void imageHeaderAsksForGigabytes_data() {
    QTest::addColumn<QByteArray>("header");
    QTest::addColumn<QString>("file");
    QTest::addColumn<QString>("expected");
    // PNG: signature, IHDR of 100000 x 100000 (CRC not checked before the size is).
    // 29 bytes written out; the CRC's 4 bytes come from the zeros appended.
    QByteArray png("\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\x01\x86\xa0\0\x01\x86\xa0\x08\x02\0\0\0", 29);
    png.append(64, '\0');
    QTest::newRow("png 100000 x 100000") << png << "huge.png" << "100000 x 100000 pixels";
    // JPEG: SOI, SOF0 of 60000 x 60000.
    QByteArray jpg("\xff\xd8\xff\xc0\0\x11\x08\xea\x60\xea\x60\x03", 12);
    jpg.append(64, '\0');
    QTest::newRow("jpeg 60000 x 60000") << jpg << "huge.jpg" << "60000 x 60000 pixels";
    QByteArray bmp("BM", 2);
    bmp.append(16, '\0');
    bmp.append("\x30\x75\0\0\x30\x75\0\0", 8);  // 30000 x 30000: under OpenCV's own limit
    bmp.append(64, '\0');
    QTest::newRow("bmp 30000 x 30000") << bmp << "huge.bmp" << "30000 x 30000 pixels";
    QTest::newRow("pnm 50000 x 50000") << QByteArray("P6\n# made by hand\n50000 50000\n255\n") << "huge.ppm"
                                       << "50000 x 50000 pixels";
    QByteArray webp("RIFF\0\0\0\0WEBPVP8X\x0a\0\0\0\0\0\0\0\xff\x3f\0\xff\x3f\0", 30);
    QTest::newRow("webp 16384 x 16384") << webp << "huge.webp" << "16384 x 16384 pixels";
    // Little-endian TIFF, one directory with ImageWidth and ImageLength (LONG) of 40000.
    QByteArray tiff("II*\0\x08\0\0\0\x02\0"
                    "\0\x01\x04\0\x01\0\0\0\x40\x9c\0\0"
                    "\x01\x01\x04\0\x01\0\0\0\x40\x9c\0\0", 34);
    QTest::newRow("tiff 40000 x 40000") << tiff << "huge.tif" << "40000 x 40000 pixels";
    QByteArray zero("\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\0\0\0\0\x10\x08\x02\0\0\0", 29);
    zero.append(4, '\0');  // the CRC
    QTest::newRow("png of zero width") << zero << "zero.png" << "declares a zero size";
  }

  void imageHeaderAsksForGigabytes() {
    QFETCH(QByteArray, header);
    QFETCH(QString, file);
    QFETCH(QString, expected);
    const fs::path root = dir() + "/images-" + file.toStdString();
    fs::create_directories(root / "train/a");
    fs::create_directories(root / "train/b");
    fs::create_directories(root / "test/a");
    cv::Mat pixel(2, 2, CV_8UC3, cv::Scalar(1, 2, 3));
    QVERIFY(cv::imwrite((root / "train/a/ok.png").string(), pixel));
    QVERIFY(cv::imwrite((root / "test/a/ok.png").string(), pixel));
    const std::string bad = (root / "train/b" / file.toStdString()).string();
    kdtest::write_bytes(bad, Bytes(header.begin(), header.end()));
    QElapsedTimer clock;
    clock.start();
    const std::string e = error_of([&] { kd::load_image_folder(root.string()); });
    VERIFY_HAS(e, bad);
    VERIFY_HAS(e, expected.toStdString());
    QVERIFY(clock.elapsed() < 5000);
  }

  /// The header reader agrees with OpenCV on real files of every format it knows.
  void declaredDimsMatchRealImages_data() {
    QTest::addColumn<QString>("extension");
    for (const char* e : {"png", "jpg", "bmp", "tif", "webp", "ppm", "pgm"}) QTest::newRow(e) << e;
  }

  void declaredDimsMatchRealImages() {
    QFETCH(QString, extension);
    const std::string path = dir() + "/real." + extension.toStdString();
    cv::Mat image(37, 53, extension == "pgm" ? CV_8UC1 : CV_8UC3, cv::Scalar(9, 99, 199));
    if (!cv::imwrite(path, image)) QSKIP("OpenCV cannot write this format here");
    const Bytes bytes = read_bytes(path);
    const auto dims = kd::declared_image_dims(bytes.data(), bytes.size());
    QVERIFY(dims.has_value());
    QCOMPARE(dims->width, int64_t{53});
    QCOMPARE(dims->height, int64_t{37});
    kd::check_image_header(path);  // within the limit: no error
  }

  /// fuzz_image's finding (fuzz/corpus/fuzz_image/regression-dicom-abort.img): bytes with
  /// "DICM" at offset 128 sent OpenCV to GDCM's DICOM reader, which failed an assert and aborted
  /// the process. Only the signatures of the formats we read reach the decoder now.
  void unsupportedSignaturesNeverReachTheDecoder() {
    const std::string crash = kdtest::fixture("../../fuzz/corpus/fuzz_image/regression-dicom-abort.img");
    const std::string e = kdtest::error_of([&] { kd::check_image_header(crash); });
    QVERIFY2(e.find("not a PNG, JPEG, BMP, PNM, WebP or TIFF image") != std::string::npos, e.c_str());
    const Bytes crash_bytes = read_bytes(crash);
    QCOMPARE(crash_bytes.size(), size_t(133));
    QVERIFY(!kd::has_supported_image_signature(crash_bytes.data(), crash_bytes.size()));
    // A GIF (OpenCV 4.6 has no GIF decoder) and a 128-byte preamble + "DICM" are refused too.
    for (const std::string& text : {std::string("GIF89a\x01\x00\x01\x00"),
                                    std::string(128, '\0') + "DICM"}) {
      const std::string path = dir() + "/fake.png";
      kdtest::write_bytes(path, Bytes(text.begin(), text.end()));
      QVERIFY(kdtest::error_of([&] { kd::check_image_header(path); }).find("not a PNG") !=
              std::string::npos);
    }
    // Each supported signature passes (the header checks then apply).
    const std::vector<std::string> good = {"\x89PNG\r\n\x1a\n", "\xff\xd8\xff\xe0", "BM",
                                           std::string("II*\0", 4), std::string("MM\0*", 4),
                                           std::string("RIFF\x10\0\0\0WEBPVP8 ", 16), "P5\n", "P6 "};
    for (const std::string& g : good) {
      QVERIFY2(kd::has_supported_image_signature(reinterpret_cast<const uint8_t*>(g.data()), g.size()),
               g.c_str());
    }
  }
};

QTEST_APPLESS_MAIN(TestBadFiles)
#include "test_bad_files.moc"
