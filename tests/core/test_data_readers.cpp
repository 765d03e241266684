// Tests of the dataset readers: raw file bytes, IDX, CIFAR binary, image folders, data specs
// and the real Fashion-MNIST. Every input is written by the test into a temporary folder.
#include <QtTest/QtTest>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <opencv2/imgcodecs.hpp>

#include "common/error.h"
#include "data/cifar_reader.h"
#include "data/data_spec.h"
#include "data/file_bytes.h"
#include "data/idx_reader.h"
#include "data/image_folder_reader.h"
#include "test_util.h"

namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

/// An IDX file: magic 0, 0, type, ndim, big-endian sizes, then `data`.
Bytes idx_bytes(const std::vector<uint32_t>& dims, const Bytes& data, uint8_t type = 0x08) {
  Bytes bytes = {0, 0, type, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims) {
    for (int shift : {24, 16, 8, 0}) bytes.push_back(static_cast<uint8_t>(d >> shift));
  }
  bytes.insert(bytes.end(), data.begin(), data.end());
  return bytes;
}

/// 0, 1, 2, ... count-1 (mod 256).
Bytes ramp(size_t count, uint8_t start = 0) {
  Bytes bytes(count);
  for (size_t i = 0; i < count; ++i) bytes[i] = static_cast<uint8_t>(start + i);
  return bytes;
}

/// The kd::Error message `f` throws, or "" when it throws nothing.
QString error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const kd::Error& e) {
    return QString::fromStdString(e.what());
  }
  return {};
}

/// Checks that the message `expr` evaluates to contains every part (shows it when not).
#define VERIFY_MESSAGE(expr, ...)                                                    \
  do {                                                                               \
    const QString message_ = (expr);                                                 \
    for (const char* part : {__VA_ARGS__}) {                                         \
      QVERIFY2(message_.contains(QString::fromUtf8(part)),                           \
               qPrintable(QString("'%1' lacks '%2'").arg(message_, QString(part)))); \
    }                                                                                \
  } while (false)

/// CIFAR records: per record the label bytes, then 3072 bytes (record r: r*7 + i).
Bytes cifar_records(const std::vector<Bytes>& labels) {
  Bytes bytes;
  for (size_t r = 0; r < labels.size(); ++r) {
    bytes.insert(bytes.end(), labels[r].begin(), labels[r].end());
    const Bytes image = ramp(3072, static_cast<uint8_t>(r * 7));
    bytes.insert(bytes.end(), image.begin(), image.end());
  }
  return bytes;
}

/// Writes a file, creating its folder.
void write_file(const fs::path& path, const Bytes& bytes) {
  fs::create_directories(path.parent_path());
  kdtest::write_bytes(path.string(), bytes);
}

void write_text(const fs::path& path, const std::string& text) {
  write_file(path, Bytes(text.begin(), text.end()));
}

/// Writes a B, G, R image (cv::imwrite's channel order) filled by `pixel(y, x) -> Vec3b`.
void write_image(const fs::path& path, int height, int width,
                 const std::function<cv::Vec3b(int, int)>& pixel) {
  fs::create_directories(path.parent_path());
  cv::Mat image(height, width, CV_8UC3);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) image.at<cv::Vec3b>(y, x) = pixel(y, x);
  }
  QVERIFY(cv::imwrite(path.string(), image));
}

void write_solid(const fs::path& path, uint8_t b, uint8_t g, uint8_t r, int side = 4) {
  write_image(path, side, side, [&](int, int) { return cv::Vec3b(b, g, r); });
}

int64_t value_at(const torch::Tensor& t, std::vector<int64_t> index) {
  torch::Tensor v = t;
  for (int64_t i : index) v = v[i];
  return v.item<int64_t>();
}

}  // namespace

class TestDataReaders : public QObject {
  Q_OBJECT

 private slots:
  // --- file bytes ---
  void readsPlainAndGzipAlike() {
    QTemporaryDir dir;
    const Bytes content = ramp(100000);
    const std::string plain = dir.filePath("a.bin").toStdString();
    const std::string gz = dir.filePath("a.bin.gz").toStdString();
    kdtest::write_bytes(plain, content);
    kdtest::write_gzip(gz, content);
    QVERIFY(fs::file_size(gz) < content.size());  // really compressed
    QVERIFY(kd::read_file_bytes(plain) == content);
    QVERIFY(kd::read_file_bytes(gz) == content);
    kdtest::write_bytes(plain, {});
    QVERIFY(kd::read_file_bytes(plain).empty());
  }

  void fileErrorsNameTheFile() {
    QTemporaryDir dir;
    const std::string missing = dir.filePath("nope.gz").toStdString();
    VERIFY_MESSAGE(error_of([&] { kd::read_file_bytes(missing); }), "nope.gz", "not found");

    const std::string gz = dir.filePath("cut.gz").toStdString();
    kdtest::write_gzip(gz, ramp(50000));
    fs::resize_file(gz, fs::file_size(gz) / 2);
    VERIFY_MESSAGE(error_of([&] { kd::read_file_bytes(gz); }), "cut.gz", "corrupt");

    // A gzip header followed by an invalid deflate block (block type 3 is reserved).
    const std::string bad = dir.filePath("bad.gz").toStdString();
    kdtest::write_bytes(bad, {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff, 0xff});
    VERIFY_MESSAGE(error_of([&] { kd::read_file_bytes(bad); }), "bad.gz", "corrupt");

    VERIFY_MESSAGE(error_of([&] { kd::read_file_bytes(dir.path().toStdString()); }), "is a folder");
  }

  void sizeLimitIsEnforced() {
    QTemporaryDir dir;
    const std::string plain = dir.filePath("p").toStdString();
    const std::string gz = dir.filePath("z.gz").toStdString();
    kdtest::write_bytes(plain, ramp(100));
    kdtest::write_gzip(gz, Bytes(1 << 20, 0));  // 1 MiB of zeros: a ~1 KiB file
    QCOMPARE(kd::read_file_bytes(plain, 100).size(), size_t{100});
    VERIFY_MESSAGE(error_of([&] { kd::read_file_bytes(plain, 99); }), "larger than the limit");
    VERIFY_MESSAGE(error_of([&] { kd::read_file_bytes(gz, 5000); }), "z.gz", "larger than");
    QCOMPARE(kd::read_file_bytes(gz, 1 << 20).size(), size_t{1 << 20});
  }

  // --- IDX ---
  void parsesIdxImagesAndLabels() {
    // Two 2 x 3 images holding 0..11; labels 3 and 7.
    const auto split =
        kd::parse_idx_split(idx_bytes({2, 2, 3}, ramp(12)), idx_bytes({2}, {3, 7}), "i", "l");
    QCOMPARE(split.images.sizes().vec(), (std::vector<int64_t>{2, 1, 2, 3}));
    QCOMPARE(split.images.scalar_type(), torch::kUInt8);
    QCOMPARE(value_at(split.images, {0, 0, 1, 0}), int64_t{3});   // image 0, row 1, col 0: 3
    QCOMPARE(value_at(split.images, {1, 0, 1, 2}), int64_t{11});  // image 1, row 1, col 2: 6 + 5
    QCOMPARE(split.labels.scalar_type(), torch::kInt64);
    QCOMPARE(value_at(split.labels, {1}), int64_t{7});
  }

  void parsesIdxChannelsLast() {
    // One 2 x 2 x 3 (H, W, C) image holding 0..11: value (h, w, c) = 6h + 3w + c.
    const auto split =
        kd::parse_idx_split(idx_bytes({1, 2, 2, 3}, ramp(12)), idx_bytes({1}, {0}), "i", "l");
    QCOMPARE(split.images.sizes().vec(), (std::vector<int64_t>{1, 3, 2, 2}));
    QCOMPARE(value_at(split.images, {0, 2, 1, 0}), int64_t{8});  // c 2, h 1, w 0: 6 + 0 + 2
    QCOMPARE(value_at(split.images, {0, 1, 0, 1}), int64_t{4});  // c 1, h 0, w 1: 0 + 3 + 1
  }

  void rejectsBrokenIdx_data() {
    QTest::addColumn<QByteArray>("images");
    QTest::addColumn<QByteArray>("labels");
    QTest::addColumn<QString>("file");
    QTest::addColumn<QString>("problem");
    const auto qb = [](const Bytes& b) {
      return QByteArray(reinterpret_cast<const char*>(b.data()), static_cast<int>(b.size()));
    };
    const Bytes images = idx_bytes({2, 2, 2}, ramp(8));
    const Bytes labels = idx_bytes({2}, {0, 1});
    Bytes bad_magic = images;
    bad_magic[0] = 0x1f;
    QTest::newRow("magic") << qb(bad_magic) << qb(labels) << "imgs"
                           << "not an IDX file";
    QTest::newRow("type") << qb(idx_bytes({2, 2, 2}, ramp(64), 0x0D)) << qb(labels) << "imgs"
                          << "element type 0x0d";
    QTest::newRow("image ndim") << qb(idx_bytes({2, 4}, ramp(8))) << qb(labels) << "imgs"
                                << "2 dimensions, expected 3 or 4";
    QTest::newRow("label ndim") << qb(images) << qb(idx_bytes({2, 1}, {0, 1})) << "labs"
                                << "2 dimensions, expected 1";
    QTest::newRow("short") << qb({0, 0}) << qb(labels) << "imgs"
                           << "too short";
    QTest::newRow("header") << qb({0, 0, 8, 3, 0, 0, 0, 2}) << qb(labels) << "imgs"
                            << "truncated IDX header";
    QTest::newRow("truncated") << qb(idx_bytes({2, 2, 2}, ramp(7))) << qb(labels) << "imgs"
                               << "truncated file: the header declares 2 x 2 x 2 values but "
                                  "only 7 bytes";
    QTest::newRow("trailing") << qb(images) << qb(idx_bytes({2}, {0, 1, 9, 9})) << "labs"
                              << "2 unexpected bytes";
    QTest::newRow("huge claim") << qb(idx_bytes({0xffffffff, 0xffffffff, 0xffffffff}, ramp(8)))
                                << qb(labels) << "imgs"
                                << "truncated file";
    QTest::newRow("count") << qb(images) << qb(idx_bytes({3}, {0, 1, 2})) << "imgs"
                           << "imgs holds 2 images but labs holds 3 labels";
    QTest::newRow("empty") << qb(idx_bytes({0, 2, 2}, {})) << qb(idx_bytes({0}, {})) << "imgs"
                           << "contains no images";
    QTest::newRow("channels") << qb(idx_bytes({2, 1, 1, 2}, ramp(4))) << qb(labels) << "imgs"
                              << "2 channels";
  }

  void rejectsBrokenIdx() {
    QFETCH(QByteArray, images);
    QFETCH(QByteArray, labels);
    QFETCH(QString, file);
    QFETCH(QString, problem);
    const Bytes i(images.begin(), images.end()), l(labels.begin(), labels.end());
    const QString message = error_of([&] { kd::parse_idx_split(i, l, "imgs", "labs"); });
    QVERIFY2(message.startsWith(file), qPrintable(message));
    QVERIFY2(message.contains(problem), qPrintable(message));
  }

  void loadsIdxFolderWithAnySpelling() {
    QTemporaryDir tmp;
    const fs::path dir = tmp.path().toStdString();
    // Train gzipped with the usual names; test plain with the dotted names.
    kdtest::write_gzip(dir / "train-images-idx3-ubyte.gz", idx_bytes({3, 2, 2}, ramp(12)));
    kdtest::write_gzip(dir / "train-labels-idx1-ubyte.gz", idx_bytes({3}, {0, 2, 1}));
    write_file(dir / "t10k-images.idx3-ubyte", idx_bytes({2, 2, 2}, ramp(8, 100)));
    write_file(dir / "t10k-labels.idx1-ubyte", idx_bytes({2}, {2, 0}));
    QVERIFY(kd::has_idx_files(dir.string()));
    const kd::Dataset d = kd::load_idx_dataset(dir.string(), "Tiny");
    QCOMPARE(d.name, std::string("Tiny"));
    QCOMPARE(d.class_names, (std::vector<std::string>{"0", "1", "2"}));  // max label 2
    QCOMPARE(d.train.size(), int64_t{3});
    QCOMPARE(d.test.size(), int64_t{2});
    QCOMPARE(value_at(d.test.images, {1, 0, 0, 1}), int64_t{105});  // image 1 starts at 100 + 4
    QCOMPARE(value_at(d.train.labels, {1}), int64_t{2});
    QCOMPARE(d.channels(), int64_t{1});
  }

  void idxFolderErrors() {
    QTemporaryDir tmp;
    const fs::path dir = tmp.path().toStdString();
    write_file(dir / "train-images-idx3-ubyte", idx_bytes({2, 1, 1}, {1, 2}));
    write_file(dir / "train-labels-idx1-ubyte", idx_bytes({2}, {0, 1}));
    write_file(dir / "t10k-images-idx3-ubyte", idx_bytes({1, 1, 1}, {1}));
    QString message = error_of([&] { kd::load_idx_dataset(dir.string(), "Mine"); });
    VERIFY_MESSAGE(message, "Mine: cannot find t10k-labels", "t10k-labels-idx1-ubyte.gz",
                   "t10k-labels.idx1-ubyte");
    QVERIFY(!message.contains("apt-get"));  // only for the default Fashion-MNIST folder

    // The training labels define 2 classes, so a test label 2 is out of range.
    write_file(dir / "t10k-labels-idx1-ubyte", idx_bytes({1}, {2}));
    message = error_of([&] { kd::load_idx_dataset(dir.string(), "Mine"); });
    VERIFY_MESSAGE(message, "t10k-labels-idx1-ubyte", "label 2 at position 0 is out of range",
                   "2 classes");
    // With given names (one class) the training label 1 is out of range.
    message = error_of([&] { kd::load_idx_dataset(dir.string(), "Mine", {"only"}); });
    VERIFY_MESSAGE(message, "train-labels-idx1-ubyte", "label 1 at position 1");

    message = error_of([&] { kd::load_fashion_mnist((dir / "absent").string()); });
    VERIFY_MESSAGE(message, "absent", "does not exist");
  }

  void mnistHasDigitNames() {
    QTemporaryDir tmp;
    const fs::path dir = tmp.path().toStdString();
    write_file(dir / "train-images-idx3-ubyte", idx_bytes({1, 1, 1}, {1}));
    write_file(dir / "train-labels-idx1-ubyte", idx_bytes({1}, {3}));
    write_file(dir / "t10k-images-idx3-ubyte", idx_bytes({1, 1, 1}, {1}));
    write_file(dir / "t10k-labels-idx1-ubyte", idx_bytes({1}, {9}));
    const kd::Dataset d = kd::load_mnist(dir.string());
    QCOMPARE(d.num_classes(), int64_t{10});
    QCOMPARE(d.class_names[9], std::string("9"));
  }

  void realFashionMnist() {
    if (!fs::exists(fs::path(kd::kDefaultFashionMnistDir) / "train-labels-idx1-ubyte.gz")) {
      QSKIP("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)");
    }
    const kd::Dataset d = kd::load_dataset("fashion-mnist");
    QCOMPARE(d.name, std::string("Fashion-MNIST"));
    QCOMPARE(d.train.images.sizes().vec(), (std::vector<int64_t>{60000, 1, 28, 28}));
    QCOMPARE(d.test.images.sizes().vec(), (std::vector<int64_t>{10000, 1, 28, 28}));
    QCOMPARE(d.num_classes(), int64_t{10});
    QCOMPARE(d.class_names[9], std::string("Ankle boot"));
    // Reference values read from the files with Python's gzip module: the first train and test
    // labels are 9, the first images' pixel sums 76247 and 33456, 6000 / 1000 images a class.
    QCOMPARE(value_at(d.train.labels, {0}), int64_t{9});
    QCOMPARE(value_at(d.test.labels, {0}), int64_t{9});
    QCOMPARE(d.train.images[0].sum().item<int64_t>(), int64_t{76247});
    QCOMPARE(d.test.images[0].sum().item<int64_t>(), int64_t{33456});
    QVERIFY(torch::equal(torch::bincount(d.train.labels), torch::full({10}, 6000, torch::kLong)));
    QVERIFY(torch::equal(torch::bincount(d.test.labels), torch::full({10}, 1000, torch::kLong)));
  }

  // --- CIFAR ---
  void parsesCifarRecords() {
    const auto split = kd::parse_cifar_records(cifar_records({{4}, {9}}), 1, 0, 10, "f.bin");
    QCOMPARE(split.images.sizes().vec(), (std::vector<int64_t>{2, 3, 32, 32}));
    QCOMPARE(value_at(split.labels, {1}), int64_t{9});
    // Record 1's byte i is (7 + i) mod 256: plane 2, row 31, col 31 is i = 3071 -> 3078 % 256.
    QCOMPARE(value_at(split.images, {1, 2, 31, 31}), int64_t{3078 % 256});
    QCOMPARE(value_at(split.images, {0, 1, 0, 5}), int64_t{(1024 + 5) % 256});  // green plane
    // CIFAR-100 records hold coarse then fine label.
    const Bytes hundred = cifar_records({{3, 42}});
    QCOMPARE(value_at(kd::parse_cifar_records(hundred, 2, 1, 100, "t").labels, {0}), int64_t{42});
    QCOMPARE(value_at(kd::parse_cifar_records(hundred, 2, 0, 20, "t").labels, {0}), int64_t{3});
    QCOMPARE(value_at(kd::parse_cifar_records(hundred, 2, 0, 20, "t").images, {0, 0, 0, 0}),
             int64_t{0});
  }

  void rejectsBrokenCifar() {
    Bytes cut = cifar_records({{1}, {2}});
    cut.resize(cut.size() - 5);
    VERIFY_MESSAGE(error_of([&] { kd::parse_cifar_records(cut, 1, 0, 10, "data_batch_2.bin"); }),
                   "data_batch_2.bin", "truncated", "1 records and 3068 bytes left over");
    const Bytes bad = cifar_records({{1}, {10}});
    VERIFY_MESSAGE(error_of([&] { kd::parse_cifar_records(bad, 1, 0, 10, "test_batch.bin"); }),
                   "test_batch.bin", "record 1 has label 10", "only 10 classes");
    VERIFY_MESSAGE(error_of([&] { kd::parse_cifar_records({}, 1, 0, 10, "e.bin"); }), "e.bin",
                   "empty");
    // A fine label 100 is out of range even though the coarse one is fine.
    const Bytes fine = cifar_records({{3, 100}});
    VERIFY_MESSAGE(error_of([&] { kd::parse_cifar_records(fine, 2, 1, 100, "train.bin"); }),
                   "train.bin", "label 100");
  }

  void loadsCifar10FromParentFolder() {
    QTemporaryDir tmp;
    const fs::path root = tmp.path().toStdString();
    const fs::path dir = root / "cifar-10-batches-bin";
    for (int b = 1; b <= 5; ++b) {  // batch b holds one record with label b - 1
      write_file(dir / ("data_batch_" + std::to_string(b) + ".bin"),
                 cifar_records({{static_cast<uint8_t>(b - 1)}}));
    }
    write_file(dir / "test_batch.bin", cifar_records({{8}, {9}}));
    QVERIFY(kd::has_cifar10_files(root.string()));
    kd::Dataset d = kd::load_cifar10(root.string());
    QCOMPARE(d.train.size(), int64_t{5});
    QVERIFY(torch::equal(d.train.labels, torch::arange(5, torch::kLong)));  // batch order kept
    QCOMPARE(d.test.size(), int64_t{2});
    QCOMPARE(d.class_names.front(), std::string("airplane"));  // standard names, no meta file
    QCOMPARE(d.class_names.back(), std::string("truck"));
    QCOMPARE(d.source, dir.string());

    write_text(dir / "batches.meta.txt", "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n\n");
    QCOMPARE(kd::load_cifar10(dir.string()).class_names[9], std::string("j"));
    write_text(dir / "batches.meta.txt", "a\nb\n");
    VERIFY_MESSAGE(error_of([&] { kd::load_cifar10(dir.string()); }), "batches.meta.txt",
                   "lists 2 class names, expected 10");

    fs::remove(dir / "data_batch_3.bin");
    VERIFY_MESSAGE(error_of([&] { kd::load_cifar10(root.string()); }), "data_batch_3.bin",
                   "not found");
    VERIFY_MESSAGE(error_of([&] { kd::load_cifar10((root / "x").string()); }), "CIFAR-10",
                   "cannot find data_batch_1.bin");
  }

  void loadsCifar100FineAndCoarse() {
    QTemporaryDir tmp;
    const fs::path dir = tmp.path().toStdString();
    write_file(dir / "train.bin", cifar_records({{3, 42}, {19, 99}}));
    write_file(dir / "test.bin", cifar_records({{0, 0}}));
    std::string coarse_names;
    for (int i = 0; i < 20; ++i) coarse_names += "super" + std::to_string(i) + "\r\n";
    write_text(dir / "coarse_label_names.txt", coarse_names);

    const kd::Dataset fine = kd::load_cifar100(dir.string());
    QCOMPARE(fine.num_classes(), int64_t{100});
    QVERIFY(torch::equal(fine.train.labels, torch::tensor({42, 99}, torch::kLong)));
    QCOMPARE(fine.class_names[42], std::string("class_42"));  // no fine_label_names.txt

    const kd::Dataset coarse = kd::load_cifar100(dir.string(), kd::Cifar100Labels::kCoarse);
    QCOMPARE(coarse.num_classes(), int64_t{20});
    QVERIFY(torch::equal(coarse.train.labels, torch::tensor({3, 19}, torch::kLong)));
    QCOMPARE(coarse.class_names[19], std::string("super19"));  // "\r" trimmed
    QVERIFY(torch::equal(coarse.train.images, fine.train.images));
  }

  // --- image folders ---
  void readsImageFolderPixelsInRgb() {
    QTemporaryDir tmp;
    const fs::path dir = tmp.path().toStdString();
    // Pixel (y, x) of a 3 x 4 image: B = 10y + x, G = 100 + 10y + x, R = 200 + 10y + x.
    write_image(dir / "train/dog/a.png", 3, 4, [](int y, int x) {
      const int v = 10 * y + x;
      return cv::Vec3b(v, 100 + v, 200 + v);
    });
    write_solid(dir / "train/cat/b.bmp", 10, 20, 30, 3);  // B 10, G 20, R 30
    write_solid(dir / "test/cat/c.png", 1, 2, 3, 3);
    write_file(dir / "train/cat/notes.txt", {'x'});  // ignored
    kd::ImageFolderOptions opt;
    opt.size = 3;
    const kd::Dataset d = kd::load_image_folder(dir.string(), opt);
    QCOMPARE(d.class_names, (std::vector<std::string>{"cat", "dog"}));  // sorted
    QCOMPARE(d.train.images.sizes().vec(), (std::vector<int64_t>{2, 3, 3, 3}));
    QVERIFY(torch::equal(d.train.labels, torch::tensor({0, 1}, torch::kLong)));
    QCOMPARE(value_at(d.train.images, {0, 0, 1, 1}), int64_t{30});  // cat: R first
    QCOMPARE(value_at(d.train.images, {0, 2, 1, 1}), int64_t{10});
    QCOMPARE(value_at(d.test.images, {0, 1, 2, 2}), int64_t{2});
    QCOMPARE(d.name, tmp.path().section('/', -1).toStdString());
    // The dog is 3 x 4, resized to 3 x 3: only check it is not a plain copy of the cat.
    QVERIFY(!torch::equal(d.train.images[0], d.train.images[1]));

    opt.size = 4;  // a 4 x 4 dog is read without resizing: check every channel's position
    write_image(dir / "train/dog/a.png", 4, 4, [](int y, int x) {
      const int v = 10 * y + x;
      return cv::Vec3b(v, 100 + v, 200 + v);
    });
    const kd::Dataset exact = kd::load_image_folder(dir.string(), opt);
    QCOMPARE(value_at(exact.train.images, {1, 0, 2, 3}), int64_t{223});  // R = 200 + 23
    QCOMPARE(value_at(exact.train.images, {1, 1, 2, 3}), int64_t{123});  // G
    QCOMPARE(value_at(exact.train.images, {1, 2, 3, 0}), int64_t{30});   // B = 30 + 0
  }

  void resizesWithAreaAveragingAndGrey() {
    QTemporaryDir tmp;
    const fs::path dir = tmp.path().toStdString();
    // 12 x 12 image: 90 at the centre of each 3 x 3 block, 0 elsewhere. Shrunk to 4 x 4 by
    // area averaging every output pixel is 90 / 9 = 10 (bilinear sampling would give 90).
    write_image(dir / "train/a/x.png", 12, 12, [](int y, int x) {
      const uint8_t v = (y % 3 == 1 && x % 3 == 1) ? 90 : 0;
      return cv::Vec3b(v, v, v);
    });
    write_solid(dir / "val/a/y.png", 30, 20, 10);  // B 30, G 20, R 10
    kd::ImageFolderOptions opt;
    opt.size = 4;
    const kd::Dataset d = kd::load_image_folder(dir.string(), opt);
    QVERIFY(torch::equal(d.train.images, torch::full({1, 3, 4, 4}, 10, torch::kUInt8)));
    opt.channels = 1;
    const kd::Dataset grey = kd::load_image_folder(dir.string(), opt);
    QCOMPARE(grey.test.images.sizes().vec(), (std::vector<int64_t>{1, 1, 4, 4}));
    // Grey = 0.299 R + 0.587 G + 0.114 B = 2.99 + 11.74 + 3.42 = 18.15 -> 18.
    QCOMPARE(value_at(grey.test.images, {0, 0, 2, 2}), int64_t{18});
  }

  void readsManyImagesInParallel() {
    QTemporaryDir tmp;
    const fs::path dir = tmp.path().toStdString();
    for (int i = 0; i < 300; ++i) {  // image i is filled with i mod 256, class i mod 3
      const auto v = static_cast<uint8_t>(i);
      char name[32];
      std::snprintf(name, sizeof name, "img%03d.png", i);
      write_solid(dir / "train" / ("c" + std::to_string(i % 3)) / name, v, v, v);
    }
    write_solid(dir / "test/c1/t.png", 0, 0, 0);
    kd::ImageFolderOptions opt;
    opt.size = 4;
    const kd::Dataset d = kd::load_image_folder(dir.string(), opt);
    QCOMPARE(d.train.size(), int64_t{300});
    // Files are listed class by class, sorted by name: class c holds c, c + 3, c + 6, ...
    for (int64_t k = 0; k < 300; ++k) {
      const int64_t cls = k / 100, i = cls + 3 * (k % 100);
      QCOMPARE(value_at(d.train.labels, {k}), cls);
      QVERIFY(torch::equal(d.train.images[k], torch::full({3, 4, 4}, i % 256, torch::kUInt8)));
    }
  }

  void imageFolderErrors() {
    QTemporaryDir tmp;
    const fs::path dir = tmp.path().toStdString();
    VERIFY_MESSAGE(error_of([&] { kd::load_image_folder(dir.string()); }), "no train folder");
    write_solid(dir / "train/cat/a.png", 1, 2, 3);
    VERIFY_MESSAGE(error_of([&] { kd::load_image_folder(dir.string()); }), "no test/ or val/");
    write_solid(dir / "test/bird/b.png", 1, 2, 3);
    VERIFY_MESSAGE(error_of([&] { kd::load_image_folder(dir.string()); }), "test/bird",
                   "class 'bird' does not exist in the training set");
    fs::rename(dir / "test/bird", dir / "test/cat");
    fs::create_directories(dir / "train/empty");
    VERIFY_MESSAGE(error_of([&] { kd::load_image_folder(dir.string()); }), "train/empty",
                   "contains no images");
    fs::remove(dir / "train/empty");
    write_file(dir / "train/cat/broken.png", {'n', 'o', 'p', 'e'});
    VERIFY_MESSAGE(error_of([&] { kd::load_image_folder(dir.string()); }), "broken.png",
                   "not a PNG, JPEG, BMP, PNM, WebP or TIFF image");
    write_file(dir / "train/cat/broken.png", {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 'x'});
    VERIFY_MESSAGE(error_of([&] { kd::load_image_folder(dir.string()); }), "broken.png",
                   "cannot read or decode");
    kd::ImageFolderOptions opt;
    opt.channels = 2;
    VERIFY_MESSAGE(error_of([&] { kd::load_image_folder(dir.string(), opt); }), "channels");
  }

  void readsTinyImageNetLayout() {
    QTemporaryDir tmp;
    const fs::path dir = tmp.path().toStdString();
    write_solid(dir / "train/n02/images/n02_0.JPEG", 0, 0, 250, 8);  // red
    write_solid(dir / "train/n01/images/n01_0.JPEG", 250, 0, 0, 8);  // blue
    write_text(dir / "train/n01/n01_boxes.txt", "n01_0.JPEG\t0\t0\t7\t7\n");
    write_solid(dir / "val/images/val_0.JPEG", 0, 250, 0, 8);  // green
    write_solid(dir / "val/images/val_1.JPEG", 250, 0, 0, 8);
    write_text(dir / "val/val_annotations.txt",
               "val_0.JPEG\tn02\t0\t0\t7\t7\n"
               "val_1.JPEG\tn01\t0\t0\t7\t7\n");
    write_solid(dir / "test/images/test_0.JPEG", 0, 0, 0, 8);  // unlabelled: ignored
    write_text(dir / "wnids.txt", "n02\nn01\n");
    write_text(dir / "words.txt",
               "n01\tgoldfish, Carassius auratus\nn02\tgreat white shark, "
               "white shark\nn03\tother\n");
    kd::ImageFolderOptions opt;
    opt.size = 8;
    const kd::Dataset d = kd::load_image_folder(dir.string(), opt);
    QCOMPARE(d.class_names, (std::vector<std::string>{"goldfish", "great white shark"}));
    QVERIFY(torch::equal(d.test.labels, torch::tensor({1, 0}, torch::kLong)));
    // JPEG keeps a solid colour within a few levels.
    QVERIFY(std::abs(value_at(d.train.images, {0, 2, 4, 4}) - 250) <= 3);  // n01 blue
    QVERIFY(std::abs(value_at(d.train.images, {1, 0, 4, 4}) - 250) <= 3);  // n02 red
    QVERIFY(std::abs(value_at(d.test.images, {0, 1, 4, 4}) - 250) <= 3);   // val_0 green
    QVERIFY(value_at(d.test.images, {0, 0, 4, 4}) <= 3);

    write_text(dir / "val/val_annotations.txt", "val_0.JPEG\tn09\t0\t0\t7\t7\n");
    VERIFY_MESSAGE(error_of([&] { kd::load_image_folder(dir.string(), opt); }),
                   "val_annotations.txt, line 1", "class 'n09'");
  }

  // --- data specs ---
  void parsesDataSpecs_data() {
    QTest::addColumn<QString>("text");
    QTest::addColumn<QString>("kind");
    QTest::addColumn<QString>("location");
    QTest::addColumn<QString>("options");    // "k=v;k=v", sorted by key
    QTest::addColumn<QString>("formatted");  // format_data_spec's text
    QTest::newRow("default") << "fashion-mnist"
                             << "fashion-mnist"
                             << ""
                             << ""
                             << "fashion-mnist";
    QTest::newRow("dir") << "mnist:/data/m"
                         << "mnist"
                         << "/data/m"
                         << ""
                         << "mnist:/data/m";
    QTest::newRow("colon in dir") << "idx:/a:b"
                                  << "idx"
                                  << "/a:b"
                                  << ""
                                  << "idx:/a:b";
    QTest::newRow("no options") << "cifar10:/c?"
                                << "cifar10"
                                << "/c"
                                << ""
                                << "cifar10:/c";
    QTest::newRow("coarse") << "cifar100:/c?labels=coarse"
                            << "cifar100"
                            << "/c"
                            << "labels=coarse"
                            << "cifar100:/c?labels=coarse";
    QTest::newRow("folder") << "folder:/p?size=64&channels=1"
                            << "folder"
                            << "/p"
                            << "channels=1;size=64"
                            << "folder:/p?channels=1&size=64";
  }

  void parsesDataSpecs() {
    QFETCH(QString, text);
    QFETCH(QString, kind);
    QFETCH(QString, location);
    QFETCH(QString, options);
    QFETCH(QString, formatted);
    const kd::DataSpec spec = kd::parse_data_spec(text.toStdString());
    QCOMPARE(QString::fromStdString(spec.kind), kind);
    QCOMPARE(QString::fromStdString(spec.location), location);
    QStringList pairs;
    for (const auto& [k, v] : spec.options) pairs << QString::fromStdString(k + "=" + v);
    QCOMPARE(pairs.join(';'), options);
    QCOMPARE(QString::fromStdString(kd::format_data_spec(spec)), formatted);
  }

  void rejectsBadDataSpecs_data() {
    QTest::addColumn<QString>("text");
    QTest::addColumn<QString>("problem");
    QTest::newRow("kind") << "cifar:/x"
                          << "unknown dataset kind 'cifar'";
    QTest::newRow("kind list") << "imagenet"
                               << "valid kinds: fashion-mnist, mnist, idx, cifar10";
    QTest::newRow("no options") << "cifar10:/x?labels=fine"
                                << "it takes no options";
    QTest::newRow("option") << "folder:/x?colour=1"
                            << "unknown option 'colour' for dataset "
                               "kind 'folder' (valid options: size, "
                               "channels)";
    QTest::newRow("location") << "folder"
                              << "needs a folder: folder:DIR";
    QTest::newRow("number") << "folder:/x?size=12px"
                            << "expected a whole number";
    QTest::newRow("range") << "folder:/x?size=0"
                           << "from 1 to 4096";
    QTest::newRow("channels") << "folder:/x?channels=2"
                              << "expected 1 or 3";
    QTest::newRow("labels") << "cifar100:/x?labels=medium"
                            << "expected fine or coarse";
    QTest::newRow("malformed") << "cifar100:/x?labels"
                               << "malformed option 'labels'";
    QTest::newRow("twice") << "folder:/x?size=8&size=9"
                           << "'size' given twice";
    QTest::newRow("missing dir") << "/no/such/folder"
                                 << "folder /no/such/folder does not exist";
  }

  void rejectsBadDataSpecs() {
    QFETCH(QString, text);
    QFETCH(QString, problem);
    const QString message = error_of([&] { kd::parse_data_spec(text.toStdString()); });
    QVERIFY2(message.contains(problem), qPrintable(message));
  }

  void detectsDatasetFolders() {
    QTemporaryDir tmp;
    const fs::path root = tmp.path().toStdString();
    write_file(root / "i/train-images-idx3-ubyte", idx_bytes({1, 1, 1}, {5}));
    write_file(root / "c10/cifar-10-batches-bin/data_batch_1.bin", {});
    write_file(root / "c100/train.bin", {});
    write_solid(root / "f/train/a/x.png", 1, 2, 3);
    fs::create_directories(root / "empty");
    QCOMPARE(kd::parse_data_spec((root / "i").string()).kind, std::string("idx"));
    QCOMPARE(kd::parse_data_spec((root / "c10").string()).kind, std::string("cifar10"));
    QCOMPARE(kd::parse_data_spec((root / "c100").string()).kind, std::string("cifar100"));
    const kd::DataSpec folder = kd::parse_data_spec((root / "f").string() + "?size=8");
    QCOMPARE(folder.kind, std::string("folder"));
    QCOMPARE(folder.options.at("size"), std::string("8"));
    VERIFY_MESSAGE(error_of([&] { kd::parse_data_spec((root / "empty").string()); }),
                   "cannot tell which dataset");
  }

  void loadsThroughSpecs() {
    QTemporaryDir tmp;
    const fs::path dir = tmp.path().toStdString();
    write_solid(dir / "train/a/x.png", 1, 2, 3, 8);
    write_solid(dir / "test/a/y.png", 1, 2, 3, 8);
    const kd::Dataset d = kd::load_dataset("folder:" + dir.string() + "?size=5&channels=1");
    QCOMPARE(d.train.images.sizes().vec(), (std::vector<int64_t>{1, 1, 5, 5}));
    const kd::Dataset detected = kd::load_dataset(dir.string());
    QCOMPARE(detected.height(), int64_t{32});  // default size
    QCOMPARE(detected.channels(), int64_t{3});
    QVERIFY(kd::data_spec_help().find("cifar100:DIR") != std::string::npos);
  }
};

QTEST_APPLESS_MAIN(TestDataReaders)
#include "test_data_readers.moc"
