// The C++ zoo against its PyTorch twin (scripts/kdstudio_zoo.py), and the robustness of model
// files and the safetensors parser. Reference values: scripts/make_zoo_fixtures.py.
#include <QtTest/QtTest>

#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "common/error.h"
#include "io/safetensors.h"
#include "models/model_file.h"
#include "models/zoo/zoo_builder.h"
#include "models/zoo/zoo_spec.h"
#include "test_util.h"

namespace {

/// Tolerances for C++ vs PyTorch float32 outputs (same kernels, possibly other reduction orders).
constexpr double kRtol = 1e-4;
constexpr double kAtol = 1e-5;

/// Fixture names: tests/fixtures/zoo_<name>.kdmodel and zoo_<name>_ref.safetensors.
const char* const kParityFixtures[] = {"resnet9",  "mobilenetv2",   "vgg11_bn",
                                       "vit_ett",  "vgg11_bn_tiny", "vit_ett_tiny"};

/// Runs `f`; returns the kd::Error message, or a marker saying what happened instead.
using kdtest::error_of;

bool contains(const std::string& text, const QString& part) {
  return text.find(part.toStdString()) != std::string::npos;
}

/// Empty when `actual` matches `expected` within the tolerances, else what differs.
std::string mismatch(const torch::Tensor& actual, const torch::Tensor& expected) {
  if (actual.sizes() != expected.sizes()) {
    return "shape " + c10::str(actual.sizes()) + " vs expected " + c10::str(expected.sizes());
  }
  // Float32 rounding grows with the values' scale (and differs between BLAS libraries), so the
  // absolute tolerance is relative to the largest expected magnitude.
  const double scale = std::max(1.0, expected.abs().max().item<double>());
  if (torch::allclose(actual, expected, kRtol, kAtol * scale)) return {};
  return "max |difference| " + std::to_string((actual - expected).abs().max().item<double>()) +
         " (max |expected| " + std::to_string(expected.abs().max().item<double>()) + ")";
}

std::map<std::string, torch::Tensor> as_map(const kd::NamedTensors& tensors) {
  return {tensors.begin(), tensors.end()};
}

std::string dtype_name(torch::ScalarType t) {
  if (t == torch::kFloat32) return "F32";
  if (t == torch::kInt64) return "I64";
  return c10::toString(t);
}

/// The state-dict layouts PyTorch's kdstudio_zoo.build() gives: spec -> name -> [dtype, shape].
const nlohmann::json& pytorch_state_shapes() {
  static const nlohmann::json table = [] {
    std::ifstream f(kdtest::fixture("zoo_state_shapes.json"));
    return nlohmann::json::parse(f);
  }();
  return table;
}

/// A safetensors image: `header` as the JSON text, `data_bytes` zero bytes of tensor data.
QByteArray safetensors_bytes(const std::string& header, size_t data_bytes,
                             uint64_t header_len = std::numeric_limits<uint64_t>::max()) {
  if (header_len == std::numeric_limits<uint64_t>::max()) header_len = header.size();
  QByteArray bytes(8, '\0');
  std::memcpy(bytes.data(), &header_len, 8);
  bytes.append(header.data(), static_cast<qsizetype>(header.size()));
  bytes.append(QByteArray(static_cast<qsizetype>(data_bytes), '\0'));
  return bytes;
}

kd::SafetensorsContent parse(const QByteArray& bytes) {
  return kd::parse_safetensors(reinterpret_cast<const uint8_t*>(bytes.constData()),
                               static_cast<size_t>(bytes.size()), "broken.safetensors");
}

std::vector<uint8_t> file_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

}  // namespace

class TestZooPytorchParity : public QObject {
  Q_OBJECT

 private slots:
  void logitsAndFeaturesMatchPyTorch_data();
  void logitsAndFeaturesMatchPyTorch();
  void stateLayoutMatchesPyTorch_data();
  void stateLayoutMatchesPyTorch();
  void savedFileHoldsExactlyTheNamedState_data();
  void savedFileHoldsExactlyTheNamedState();
  void widthSurvivesSaveAndLoad();
  void badModelFilesAreRejected_data();
  void badModelFilesAreRejected();
  void minimalSafetensorsBufferParses();
  void brokenSafetensorsBuffersAreRejected_data();
  void brokenSafetensorsBuffersAreRejected();
  void everyTruncationIsRejected();
  void corruptedBytesNeverCrash();
};

void TestZooPytorchParity::logitsAndFeaturesMatchPyTorch_data() {
  QTest::addColumn<QString>("name");
  for (const char* name : kParityFixtures) QTest::newRow(name) << QString(name);
}

void TestZooPytorchParity::logitsAndFeaturesMatchPyTorch() {
  QFETCH(QString, name);
  const std::string base = "zoo_" + name.toStdString();
  kd::LoadedZooModel loaded = kd::load_zoo_model(kdtest::fixture(base + ".kdmodel"));
  const kd::SafetensorsContent ref = kd::read_safetensors(kdtest::fixture(base + "_ref.safetensors"));
  kd::zoo::ZooModel& model = *loaded.model;
  // The spec PyTorch wrote is canonical: C++ reads it back to the same text.
  QCOMPARE(QString::fromStdString(model.architecture()),
           QString::fromStdString(ref.metadata.at("architecture")));
  QCOMPARE(QString::fromStdString(loaded.metadata.at("producer")),
           QString("scripts/make_zoo_fixtures.py"));

  const auto tensors = as_map(ref.tensors);
  const torch::Tensor input = tensors.at("input");
  QCOMPARE(input.size(0), int64_t{3});
  torch::NoGradGuard no_grad;
  model.set_training(false);
  const torch::Tensor logits = model.forward(input);
  std::string diff = mismatch(logits, tensors.at("logits"));
  QVERIFY2(diff.empty(), ("logits: " + diff).c_str());

  int features = 0;
  for (const auto& [key, expected] : ref.tensors) {
    if (key.rfind("feature_", 0) != 0) continue;
    const int layer = std::stoi(key.substr(std::strlen("feature_")));
    diff = mismatch(model.forward_to(input, layer), expected);
    QVERIFY2(diff.empty(), (key + ": " + diff).c_str());
    ++features;
  }
  QVERIFY(features >= 2);

  // The stored BatchNorm statistics matter: batch statistics give other logits.
  bool has_batchnorm = false;
  for (const auto& [key, t] : model.named_state()) has_batchnorm |= contains(key, "running_var");
  if (has_batchnorm) {
    model.set_training(true);
    QVERIFY(!torch::allclose(model.forward(input), tensors.at("logits"), kRtol, kAtol));
  }
}

void TestZooPytorchParity::stateLayoutMatchesPyTorch_data() {
  QTest::addColumn<QString>("spec");
  for (const auto& [spec, layout] : pytorch_state_shapes().items()) {
    QTest::newRow(spec.c_str()) << QString::fromStdString(spec);
  }
  QVERIFY(pytorch_state_shapes().size() >= 8);
}

void TestZooPytorchParity::stateLayoutMatchesPyTorch() {
  QFETCH(QString, spec);
  const nlohmann::json& expected = pytorch_state_shapes().at(spec.toStdString());
  auto model = kd::zoo::create_zoo_model(kd::zoo::parse_zoo_spec(spec.toStdString()));
  QCOMPARE(QString::fromStdString(model->architecture()), spec);
  const auto state = model->named_state();
  const auto actual = as_map(state);
  QCOMPARE(actual.size(), state.size());  // no name twice

  std::string problems;
  for (const auto& [name, entry] : expected.items()) {
    const auto it = actual.find(name);
    if (it == actual.end()) {
      problems += " missing " + name + ";";
      continue;
    }
    const std::string shape = c10::str(it->second.sizes());
    const std::string want_shape = c10::str(c10::IntArrayRef(entry[1].get<std::vector<int64_t>>()));
    const std::string dtype = dtype_name(it->second.scalar_type());
    if (shape != want_shape || dtype != entry[0].get<std::string>()) {
      problems += " " + name + " is " + dtype + shape + ", PyTorch has " +
                  entry[0].get<std::string>() + want_shape + ";";
    }
  }
  for (const auto& [name, t] : actual) {
    if (!expected.contains(name)) problems += " extra " + name + ";";
  }
  QVERIFY2(problems.empty(), problems.c_str());
}

void TestZooPytorchParity::savedFileHoldsExactlyTheNamedState_data() {
  QTest::addColumn<QString>("spec");
  for (const char* spec : {"resnet34:width=0.125", "mobilenetv2:channels=1,size=28,width=0.25",
                           "vgg19_bn:size=72,classes=200,width=0.125", "vit_ett:width=0.25",
                           "vit_b:size=64,width=0.0625"}) {
    QTest::newRow(spec) << QString(spec);
  }
}

void TestZooPytorchParity::savedFileHoldsExactlyTheNamedState() {
  QFETCH(QString, spec);
  auto model = kd::zoo::create_zoo_model(kd::zoo::parse_zoo_spec(spec.toStdString()), 7);
  QTemporaryDir dir;
  QVERIFY(dir.isValid());
  const std::string path = dir.filePath("model.kdmodel").toStdString();
  kd::save_zoo_model(*model, path, {{"dataset", "unit-test"}});

  const kd::SafetensorsContent file = kd::read_safetensors(path);
  QCOMPARE(QString::fromStdString(file.metadata.at("format")), QString(kd::kModelFileFormat));
  QCOMPARE(QString::fromStdString(file.metadata.at("format_version")), QString("1"));
  QCOMPARE(QString::fromStdString(file.metadata.at("architecture")), spec);
  QCOMPARE(QString::fromStdString(file.metadata.at("dataset")), QString("unit-test"));

  const auto state = model->named_state();
  const auto stored = as_map(file.tensors);
  QCOMPARE(file.tensors.size(), state.size());
  QCOMPARE(stored.size(), state.size());
  for (const auto& [name, t] : state) {
    const auto it = stored.find(name);
    QVERIFY2(it != stored.end(), ("not in the file: " + name).c_str());
    QCOMPARE(it->second.scalar_type(), t.scalar_type());
    QCOMPARE(it->second.sizes().vec(), t.sizes().vec());
    QVERIFY2(torch::equal(it->second, t), ("values differ: " + name).c_str());
  }

  // And it loads back to the same function.
  kd::LoadedZooModel back = kd::load_zoo_model(path);
  const kd::InputShape in = model->input_shape();
  const torch::Tensor x = torch::randn({2, in.channels, in.height, in.width});
  torch::NoGradGuard no_grad;
  model->set_training(false);
  back.model->set_training(false);
  QVERIFY(torch::equal(back.model->forward(x), model->forward(x)));
}

void TestZooPytorchParity::widthSurvivesSaveAndLoad() {
  // 1280 * 0.07851563 = 100.50001 -> 101 channels; the saved spec must rebuild the same model.
  auto model = kd::zoo::create_zoo_model(kd::zoo::parse_zoo_spec("mobilenetv2:width=0.07851563"));
  QTemporaryDir dir;
  const std::string path = dir.filePath("odd_width.kdmodel").toStdString();
  kd::save_zoo_model(*model, path);
  QCOMPARE(QString::fromStdString(error_of([&] { kd::load_zoo_model(path); })),
           QString("<no error>"));
}

void TestZooPytorchParity::badModelFilesAreRejected_data() {
  QTest::addColumn<QString>("change");
  QTest::addColumn<QString>("problem");
  QTest::addColumn<QString>("detail");
  QTest::newRow("wrong shape") << "wrong shape" << "wrong shapes" << "layers.1.conv1.weight [1,2,3]";
  QTest::newRow("missing tensor") << "missing tensor" << "missing tensors" << "classifier.fc.bias";
  QTest::newRow("extra tensor") << "extra tensor" << "unexpected tensors" << "layers.9.conv.weight";
  QTest::newRow("NaN weights") << "NaN weights" << "NaN" << "layers.2.conv2.weight";
  QTest::newRow("Inf running_var") << "Inf running_var" << "Inf" << "layers.0.bn.running_var";
  QTest::newRow("no metadata") << "no metadata" << "not a KD Studio model file" << "kdstudio-model";
  QTest::newRow("other format") << "other format" << "not a KD Studio model file" << "architecture";
  QTest::newRow("no architecture") << "no architecture" << "not a KD Studio model file" << "format";
  QTest::newRow("unknown architecture") << "unknown architecture" << "cannot be built" << "resnet50";
  QTest::newRow("bad option") << "bad option" << "cannot be built" << "width=9";
}

void TestZooPytorchParity::badModelFilesAreRejected() {
  QFETCH(QString, change);
  QFETCH(QString, problem);
  QFETCH(QString, detail);
  const std::string spec = "resnet9:channels=1,size=28,width=0.0625";
  auto model = kd::zoo::create_zoo_model(kd::zoo::parse_zoo_spec(spec));
  kd::NamedTensors tensors;
  for (const auto& [name, t] : model->named_state()) tensors.emplace_back(name, t.clone());
  std::map<std::string, std::string> meta = {
      {"format", kd::kModelFileFormat}, {"format_version", "1"}, {"architecture", spec}};
  auto tensor = [&](const std::string& name) -> torch::Tensor& {
    for (auto& [n, t] : tensors) {
      if (n == name) return t;
    }
    throw std::logic_error("no tensor " + name);
  };

  if (change == "wrong shape") tensor("layers.1.conv1.weight") = torch::zeros({1, 2, 3});
  if (change == "missing tensor") {
    std::erase_if(tensors, [](const auto& nt) { return nt.first == "classifier.fc.bias"; });
  }
  if (change == "extra tensor") tensors.emplace_back("layers.9.conv.weight", torch::ones({2}));
  if (change == "NaN weights") tensor("layers.2.conv2.weight")[0][0][1][1] = std::nan("");
  if (change == "Inf running_var") {
    tensor("layers.0.bn.running_var")[1] = std::numeric_limits<float>::infinity();
  }
  if (change == "no metadata") meta.clear();
  if (change == "other format") meta["format"] = "pytorch";
  if (change == "no architecture") meta.erase("architecture");
  if (change == "unknown architecture") meta["architecture"] = "resnet50";
  if (change == "bad option") meta["architecture"] = "resnet9:width=9";

  QTemporaryDir dir;
  QVERIFY(dir.isValid());
  const std::string path = dir.filePath("bad.kdmodel").toStdString();
  kd::write_safetensors(path, tensors, meta);
  const std::string message = error_of([&] { kd::load_zoo_model(path); });
  QVERIFY2(contains(message, problem) && contains(message, detail), message.c_str());
  QVERIFY2(contains(message, dir.filePath("bad.kdmodel")), message.c_str());
}

void TestZooPytorchParity::minimalSafetensorsBufferParses() {
  // The builder the broken cases use makes valid files when nothing is broken.
  const QByteArray bytes = safetensors_bytes(
      R"({"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
      R"("b":{"dtype":"I64","shape":[],"data_offsets":[16,24]},)"
      R"("c":{"dtype":"U8","shape":[0,5],"data_offsets":[24,24]}})",
      24);
  const kd::SafetensorsContent content = parse(bytes);
  QCOMPARE(content.tensors.size(), size_t{3});
  QCOMPARE(QString::fromStdString(content.metadata.at("k")), QString("v"));
  const auto t = as_map(content.tensors);
  QCOMPARE(t.at("a").sizes().vec(), (std::vector<int64_t>{2, 2}));
  QCOMPARE(t.at("b").dim(), int64_t{0});
  QCOMPARE(t.at("c").sizes().vec(), (std::vector<int64_t>{0, 5}));
}

void TestZooPytorchParity::brokenSafetensorsBuffersAreRejected_data() {
  QTest::addColumn<QByteArray>("bytes");
  QTest::addColumn<QString>("problem");
  const std::string f32x4 = R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})";
  auto one = [](const std::string& dtype, const std::string& shape, const std::string& offsets) {
    return R"({"w":{"dtype":")" + dtype + R"(","shape":)" + shape + R"(,"data_offsets":)" +
           offsets + "}}";
  };
  QTest::newRow("empty") << QByteArray() << "too short";
  QTest::newRow("too short") << QByteArray("\x02\0\0\0\0", 5) << "too short";
  QTest::newRow("header length past the end") << safetensors_bytes("{}", 0, 1000) << "header length";
  QTest::newRow("header length 2^63") << safetensors_bytes("{}", 0, 1ull << 63) << "header length";
  QTest::newRow("header length max") << safetensors_bytes("{}", 0, ~0ull - 1) << "header length";
  QTest::newRow("non-JSON header") << safetensors_bytes("{not json}", 0) << "not JSON";
  QTest::newRow("binary header") << safetensors_bytes("\xff\xfe\x01", 0) << "not JSON";
  QTest::newRow("header not an object") << safetensors_bytes("[1,2,3]", 0) << "not a JSON object";
  QTest::newRow("deeply nested header")
      << safetensors_bytes(std::string(100000, '[') + std::string(100000, ']'), 0)
      << "not a JSON object";
  QTest::newRow("metadata not strings")
      << safetensors_bytes(R"({"__metadata__":{"a":1}})", 0) << "not a string";
  QTest::newRow("entry without offsets")
      << safetensors_bytes(R"({"w":{"dtype":"F32","shape":[1]}})", 4) << "needs dtype";
  QTest::newRow("unknown dtype") << safetensors_bytes(one("F8_E4M3", "[1]", "[0,1]"), 1) << "dtype";
  QTest::newRow("negative dimension") << safetensors_bytes(one("F32", "[-1]", "[0,4]"), 4) << "negative";
  QTest::newRow("fractional dimension") << safetensors_bytes(one("F32", "[1.5]", "[0,4]"), 4) << "non-integer";
  QTest::newRow("offsets not matching shape")
      << safetensors_bytes(one("F32", "[2,2]", "[0,12]"), 12) << "do not match";
  QTest::newRow("offsets not matching dtype")
      << safetensors_bytes(one("F64", "[3]", "[0,12]"), 12) << "do not match";
  QTest::newRow("reversed offsets") << safetensors_bytes(one("U8", "[0]", "[8,0]"), 8) << "do not match";
  QTest::newRow("offset past 2^64") << safetensors_bytes(one("U8", "[1]", "[0,1e30]"), 1) << "data_offsets";
  QTest::newRow("truncated data") << safetensors_bytes(f32x4, 8) << "truncated";
  QTest::newRow("trailing bytes") << safetensors_bytes(f32x4, 20) << "trailing bytes";
  QTest::newRow("gap between tensors")
      << safetensors_bytes(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
                           R"("b":{"dtype":"U8","shape":[4],"data_offsets":[8,12]}})",
                           12)
      << "gap";
  QTest::newRow("overlapping tensors")
      << safetensors_bytes(R"({"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]},)"
                           R"("b":{"dtype":"U8","shape":[8],"data_offsets":[4,12]}})",
                           12)
      << "overlaps";
  QTest::newRow("absurd shape")
      << safetensors_bytes(one("F32", "[4294967296,4294967296,4294967296]", "[0,4]"), 4) << "absurd";
  QTest::newRow("absurd shape, offsets to match")
      << safetensors_bytes(one("U8", "[4611686018427387904,4]", "[0,18446744073709551615]"), 8)
      << "absurd";
  QTest::newRow("empty tensor, dimension past int64")
      << safetensors_bytes(one("F32", "[0,9223372036854775808]", "[0,0]"), 0) << "absurd";
}

void TestZooPytorchParity::brokenSafetensorsBuffersAreRejected() {
  QFETCH(QByteArray, bytes);
  QFETCH(QString, problem);
  const std::string message = error_of([&] { parse(bytes); });
  QVERIFY2(contains(message, problem) && contains(message, "broken.safetensors"), message.c_str());
}

void TestZooPytorchParity::everyTruncationIsRejected() {
  auto model = kd::zoo::create_zoo_model(kd::zoo::parse_zoo_spec("vit_ett:size=8,width=0.05"));
  QTemporaryDir dir;
  const std::string path = dir.filePath("small.kdmodel").toStdString();
  kd::save_zoo_model(*model, path);
  const std::vector<uint8_t> bytes = file_bytes(path);
  QVERIFY(bytes.size() > 1000);
  for (size_t n = 0; n < bytes.size(); ++n) {
    const std::string message =
        error_of([&] { kd::parse_safetensors(bytes.data(), n, "cut.safetensors"); });
    if (!contains(message, "cut.safetensors")) {
      QFAIL(("prefix of " + std::to_string(n) + " bytes: " + message).c_str());
    }
  }
  QCOMPARE(kd::parse_safetensors(bytes.data(), bytes.size(), "whole").tensors.size(),
           model->named_state().size());
}

void TestZooPytorchParity::corruptedBytesNeverCrash() {
  // Random byte changes, mostly in the header: each file parses or throws kd::Error, nothing else.
  auto model = kd::zoo::create_zoo_model(kd::zoo::parse_zoo_spec("resnet9:size=8,width=0.03"));
  QTemporaryDir dir;
  const std::string path = dir.filePath("small.kdmodel").toStdString();
  kd::save_zoo_model(*model, path);
  const std::vector<uint8_t> original = file_bytes(path);
  uint64_t header_len = 0;
  std::memcpy(&header_len, original.data(), 8);
  std::mt19937 rng(2024);
  std::uniform_int_distribution<size_t> in_header(0, 8 + header_len - 1), anywhere(0, original.size() - 1);
  std::uniform_int_distribution<int> byte(0, 255), count(1, 3);
  const char noise[] = "0123456789[]{}\",:-.e";
  int parsed = 0, rejected = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    std::vector<uint8_t> bytes = original;
    for (int k = count(rng); k > 0; --k) {
      const size_t at = trial % 4 == 0 ? anywhere(rng) : in_header(rng);
      bytes[at] = trial % 2 ? static_cast<uint8_t>(byte(rng))
                            : static_cast<uint8_t>(noise[byte(rng) % (sizeof(noise) - 1)]);
    }
    const std::string message =
        error_of([&] { kd::parse_safetensors(bytes.data(), bytes.size(), "fuzz"); });
    if (message == "<no error>") {
      ++parsed;
    } else if (contains(message, "fuzz")) {
      ++rejected;
    } else {
      QFAIL(("trial " + std::to_string(trial) + ": " + message).c_str());
    }
  }
  QVERIFY(parsed > 0 && rejected > 0);
}

QTEST_APPLESS_MAIN(TestZooPytorchParity)
#include "test_zoo_pytorch_parity.moc"
