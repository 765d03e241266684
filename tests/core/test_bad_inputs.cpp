// Bad inputs that core must refuse with a clear message, without crashing and without leaving a
// half-written file (docs/reliability.md, "Bad inputs"): forged safetensors headers, damaged
// checkpoints and run folders, configs beyond range, a one-class dataset, a full disk. Each row
// names the message it expects; the huge-claim rows also check that the refusal is immediate.
// Model and image files: test_bad_files.cpp.
#include <signal.h>
#include <sys/resource.h>

#include <QtTest/QtTest>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "data/data_spec.h"
#include "experiment/experiment_config.h"
#include "experiment/experiment_runner.h"
#include "idx_subset.h"
#include "io/atomic_file.h"
#include "io/safetensors.h"
#include "models/model_file.h"
#include "models/zoo/zoo_builder.h"
#include "bad_input_util.h"
#include "test_util.h"

Q_DECLARE_METATYPE(std::string)
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using kdtest::Bytes;
using kdtest::contains;
using kdtest::error_of;
using kdtest::read_bytes;
using kdtest::safetensors_bytes;
using kdtest::temporaries;

constexpr const char* kStudent = "resnet9:channels=1,size=28,width=0.125";

/// Runs `f` with the file-size limit at `bytes` (what a full disk looks like to a writer:
/// writes fail with EFBIG; SIGXFSZ is ignored so the write reports instead of killing us).
std::string error_with_file_limit(rlim_t bytes, const std::function<void()>& f) {
  rlimit old{};
  getrlimit(RLIMIT_FSIZE, &old);
  const auto old_handler = signal(SIGXFSZ, SIG_IGN);
  rlimit small = old;
  small.rlim_cur = bytes;
  setrlimit(RLIMIT_FSIZE, &small);
  const std::string e = error_of(f);
  setrlimit(RLIMIT_FSIZE, &old);
  signal(SIGXFSZ, old_handler);
  return e;
}

}  // namespace

class TestBadInputs : public QObject {
  Q_OBJECT

  QTemporaryDir tmp_;
  std::string data_spec_;  ///< a 10-class, 5-per-class copy of Fashion-MNIST as IDX files
  std::string base_run_;   ///< a finished one-epoch run on it

  std::string dir() const { return tmp_.path().toStdString(); }

  /// A copy of the base run in a fresh folder, for one case to damage.
  std::string copy_of_base(const std::string& name) {
    const std::string out = dir() + "/" + name;
    fs::copy(base_run_, out, fs::copy_options::recursive);
    return out;
  }

  /// What resuming the run folder `run` throws.
  static std::string resume_error(const std::string& run) {
    return error_of([&] { kd::ExperimentRunner::open(run)->run(); });
  }

 private slots:
  void initTestCase() {
    QVERIFY(tmp_.isValid());
    qputenv("KDSTUDIO_CACHE_DIR", QByteArray::fromStdString(dir() + "/cache"));
    torch::set_num_threads(2);
  }

  // ---- safetensors: the container of model files and checkpoints ----

  void forgedSafetensors_data() {
    QTest::addColumn<QByteArray>("bytes");
    QTest::addColumn<QString>("expected");
    const auto row = [](const char* tag, const Bytes& b, const char* expected) {
      QTest::newRow(tag) << QByteArray(reinterpret_cast<const char*>(b.data()),
                                       static_cast<int>(b.size()))
                         << expected;
    };
    const std::string f32x2 = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
    row("too short", {1, 2, 3}, "too short to be a safetensors file (3 bytes)");
    // 100 bytes in all whose header length claims 10^12 bytes.
    row("header length beyond the file", safetensors_bytes(std::string(92, ' '), {}, 1000000000000),
        "header length (1000000000000 bytes) is larger than the file or the limit");
    row("header not JSON", safetensors_bytes("{\"w\": [1, 2"), "its header is not JSON");
    row("header not an object", safetensors_bytes("[1, 2]"), "header is not a JSON object");
    row("unknown dtype", safetensors_bytes(R"({"w":{"dtype":"F8","shape":[1],"data_offsets":[0,1]}})", {0}),
        "unsupported tensor dtype 'F8'");
    row("negative dimension",
        safetensors_bytes(R"({"w":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}})", {0}),
        "negative or non-integer dimension");
    // 10^11 float32 values declared by a file of about 100 bytes.
    row("1e11 elements in a tiny file",
        safetensors_bytes(R"({"w":{"dtype":"F32","shape":[100000,1000000],"data_offsets":[0,8]}})",
                          Bytes(8)),
        "data_offsets do not match its shape and dtype");
    row("element count overflows",
        safetensors_bytes(
            R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,8]}})",
            Bytes(8)),
        "absurd number of elements");
    row("offsets past the end",
        safetensors_bytes(R"({"w":{"dtype":"U8","shape":[100],"data_offsets":[0,100]}})", Bytes(40)),
        "truncated or has trailing bytes: the header describes 100 bytes of tensor data, the file "
        "holds 40");
    row("overlapping tensors",
        safetensors_bytes(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
                          R"("b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}})",
                          Bytes(6)),
        "overlaps or leaves a gap");
    row("missing fields", safetensors_bytes(R"({"w":{"dtype":"F32"}})"),
        "needs dtype, shape and data_offsets");
    row("metadata not text", safetensors_bytes(R"({"__metadata__":{"format":7}})"),
        "metadata 'format' is not a string");
    row("truncated data", safetensors_bytes(f32x2, Bytes(5)), "is truncated or has trailing bytes");
  }

  void forgedSafetensors() {
    QFETCH(QByteArray, bytes);
    QFETCH(QString, expected);
    QElapsedTimer clock;
    clock.start();
    const std::string e = error_of([&] {
      kd::parse_safetensors(reinterpret_cast<const uint8_t*>(bytes.data()),
                            static_cast<size_t>(bytes.size()), "m.safetensors");
    });
    VERIFY_HAS(e, "m.safetensors");
    VERIFY_HAS(e, expected.toStdString());
    QVERIFY2(clock.elapsed() < 1000, "a forged header must be refused at once");
  }

  void safetensorsThatIsNotAFile() {
    // A folder's stream "size" is 2^63 - 1 on ext4: it must not become an allocation.
    std::string e = error_of([&] { kd::read_safetensors(dir()); });
    VERIFY_HAS(e, dir() + " is a folder");
    e = error_of([&] { kd::read_safetensors(dir() + "/absent.safetensors"); });
    VERIFY_HAS(e, "cannot open " + dir() + "/absent.safetensors");
  }

  // ---- damaged run folders and checkpoints, found when resuming ----

  void trainBaseRun() {
    const kd::Dataset full = kd::load_dataset("fashion-mnist");
    const std::string data = dir() + "/data";
    fs::create_directories(data);
    kdtest::write_idx_subset(full.train, 5, data, "train");
    kdtest::write_idx_subset(full.test, 5, data, "t10k");
    data_spec_ = "fashion-mnist:" + data;
    kd::ExperimentConfig c;
    c.dataset = data_spec_;
    c.student = kStudent;
    c.method = kd::Method::kStudent;
    c.epochs = 1;
    c.batch_size = 25;
    c.device = "cpu";
    auto runner = kd::ExperimentRunner::create(c, "", dir() + "/runs");
    runner->run();
    base_run_ = runner->run_dir();
    QVERIFY(fs::exists(base_run_ + "/seed-0/checkpoint.safetensors"));
    QVERIFY2(resume_error(copy_of_base("intact")) == "<no error>", "an intact run must resume");
  }

  void damagedCheckpoints_data() {
    QTest::addColumn<QString>("damage");
    QTest::addColumn<QString>("expected");
    QTest::newRow("truncated") << "truncate" << "checkpoint.safetensors is truncated";
    QTest::newRow("text") << "text" << "checkpoint.safetensors is too short";
    QTest::newRow("a model file") << "model" << "checkpoint.safetensors is not a KD Studio checkpoint";
    QTest::newRow("another seed") << "seed" << "belongs to seed 5, not 0";
    QTest::newRow("another architecture")
        << "arch" << "checkpoint does not fit the student " + QString(kStudent);
    QTest::newRow("epochs text") << "epochs text" << "its training state is unreadable";
    QTest::newRow("epochs beyond") << "epochs beyond" << "records 7 epochs done, which does not fit";
    QTest::newRow("optimizer step shape") << "step" << "optim.0.step is not a single whole number";
    QTest::newRow("optimizer state shape") << "moment" << "optimizer state optim.0.exp_avg has shape 3";
  }

  void damagedCheckpoints() {
    QFETCH(QString, damage);
    QFETCH(QString, expected);
    if (base_run_.empty()) trainBaseRun();
    const std::string run = copy_of_base(std::string("ckpt-") + QTest::currentDataTag());
    const std::string path = run + "/seed-0/checkpoint.safetensors";
    kd::SafetensorsContent c = kd::read_safetensors(path);
    std::map<std::string, torch::Tensor> tensors(c.tensors.begin(), c.tensors.end());
    const auto rewrite = [&] {
      kd::write_safetensors(path, kd::NamedTensors(tensors.begin(), tensors.end()), c.metadata);
    };
    if (damage == "truncate") {
      Bytes b = read_bytes(path);
      b.resize(b.size() - 100);
      kdtest::write_bytes(path, b);
    } else if (damage == "text") {
      kdtest::write_bytes(path, {'x'});
    } else if (damage == "model") {
      auto m = kd::zoo::create_zoo_model(kd::zoo::parse_zoo_spec(kStudent));
      kd::save_zoo_model(*m, path);
    } else if (damage == "seed") {
      c.metadata["seed"] = "5";
      rewrite();
    } else if (damage == "arch") {
      auto other = kd::zoo::create_zoo_model(
          kd::zoo::parse_zoo_spec("resnet18:channels=1,size=28,width=0.125"));
      std::erase_if(tensors, [](const auto& kv) { return kv.first.rfind("student.", 0) == 0; });
      for (auto& [name, t] : other->named_state()) tensors["student." + name] = t;
      rewrite();
    } else if (damage == "epochs text") {
      c.metadata["epochs_done"] = "one";
      rewrite();
    } else if (damage == "epochs beyond") {
      c.metadata["epochs_done"] = "7";
      rewrite();
    } else if (damage == "step") {
      tensors["optim.0.step"] = torch::zeros({2}, torch::kInt64);
      rewrite();
    } else if (damage == "moment") {
      tensors["optim.0.exp_avg"] = torch::zeros({3});
      rewrite();
    }
    const std::string e = resume_error(run);
    VERIFY_HAS(e, expected.toStdString());
    QVERIFY2(!contains(e, "not a kd::Error"), e.c_str());
    QVERIFY2(temporaries(run).isEmpty(), qPrintable(temporaries(run).join(", ")));
  }

  void damagedRunFolder() {
    if (base_run_.empty()) trainBaseRun();
    std::string run = copy_of_base("resolved-bad");
    kdtest::write_bytes(run + "/resolved.json", {'{', '"', 'e'});
    std::string e = resume_error(run);
    VERIFY_HAS(e, run + "/resolved.json: not valid JSON");

    run = copy_of_base("resolved-type");
    json j = json::parse(read_bytes(run + "/resolved.json"));
    j["epochs"] = "ten";
    kd::write_file_atomically(run + "/resolved.json", j.dump());
    e = resume_error(run);
    VERIFY_HAS(e, "epochs: expected a positive integer, got \"ten\"");

    // Temporaries of writes that a killed process left behind are removed on resume.
    run = copy_of_base("stale");
    kdtest::write_bytes(run + "/seed-0/checkpoint.safetensors.tmp-a1b2c3", {1, 2, 3});
    kdtest::write_bytes(run + "/result.json.tmp-zzzzzz", {'{'});
    QCOMPARE(resume_error(run), std::string("<no error>"));
    QVERIFY2(temporaries(run).isEmpty(), qPrintable(temporaries(run).join(", ")));
  }

  void datasetGoneBeforeResume() {
    if (base_run_.empty()) trainBaseRun();
    const std::string run = copy_of_base("moved-data");
    const std::string data = data_spec_.substr(std::string("fashion-mnist:").size());
    fs::rename(data, data + "-moved");
    const std::string e = resume_error(run);
    fs::rename(data + "-moved", data);
    VERIFY_HAS(e, "Fashion-MNIST: folder " + data + " does not exist");
  }

  // ---- configs ----

  /// Found by fuzz_paper_config: a number beyond double's range made nlohmann::json throw
  /// out_of_range, which escaped as a non-kd::Error (fuzz/corpus/*/regression-number-overflow.json).
  void configNumberOverflow() {
    std::string e = error_of([] {
      kd::import_paper_config(R"({"Dataset": "CIFAR100F", "NumEpochs": 1e999})", "p.json");
    });
    VERIFY_HAS(e, "p.json: not valid JSON: number overflow parsing '1e999'");
    QVERIFY2(!contains(e, "not a kd::Error"), e.c_str());
    e = error_of([] { kd::experiment_from_json(R"({"epochs": 1e999})", "x.json"); });
    VERIFY_HAS(e, "x.json: not valid JSON: number overflow parsing '1e999'");
    QVERIFY2(!contains(e, "not a kd::Error"), e.c_str());
  }

  // ---- datasets ----

  void oneClassDataset() {
    const std::string data = dir() + "/one-class";
    fs::create_directories(data);
    const Bytes images = {0, 0, 8, 3, 0, 0, 0, 4, 0, 0, 0, 28, 0, 0, 0, 28};
    Bytes img = images;
    img.resize(16 + 4 * 28 * 28, 7);
    kdtest::write_bytes(data + "/train-images-idx3-ubyte", img);
    kdtest::write_bytes(data + "/t10k-images-idx3-ubyte", img);
    const Bytes labels = {0, 0, 8, 1, 0, 0, 0, 4, 0, 0, 0, 0};
    kdtest::write_bytes(data + "/train-labels-idx1-ubyte", labels);
    kdtest::write_bytes(data + "/t10k-labels-idx1-ubyte", labels);
    kd::ExperimentConfig c;
    c.dataset = "idx:" + data;
    c.student = kStudent;
    c.method = kd::Method::kStudent;
    c.device = "cpu";
    const std::string e = error_of([&] { kd::prepare_experiment(c); });
    VERIFY_HAS(e, "the dataset has 1 class; classification needs at least 2");
  }

  // ---- writing: a full disk and a missing folder leave no half-written file ----

  void fullDiskLeavesTheOldFile() {
    const std::string folder = dir() + "/full";
    fs::create_directories(folder);
    const std::string path = folder + "/model.safetensors";
    kd::write_safetensors(path, {{"w", torch::ones({4})}}, {});
    const Bytes before = read_bytes(path);
    const std::string e = error_with_file_limit(64 * 1024, [&] {
      kd::write_safetensors(path, {{"w", torch::ones({1 << 20})}}, {});
    });
    VERIFY_HAS(e, "cannot write " + path + ": File too large");
    QVERIFY(read_bytes(path) == before);
    QVERIFY2(temporaries(folder).isEmpty(), qPrintable(temporaries(folder).join(", ")));

    // A checkpoint write that fails mid-run keeps the previous checkpoint and reports the file.
    if (base_run_.empty()) trainBaseRun();
    const std::string run = copy_of_base("full-disk");
    const std::string ckpt = run + "/seed-0/checkpoint.safetensors";
    const Bytes ckpt_before = read_bytes(ckpt);
    json j = json::parse(read_bytes(run + "/resolved.json"));
    j["epochs"] = 2;  // one more epoch to train, whose checkpoint cannot be written
    kd::write_file_atomically(run + "/resolved.json", j.dump());
    const std::string train_error = error_with_file_limit(
        static_cast<rlim_t>(ckpt_before.size() / 2), [&] { kd::ExperimentRunner::open(run)->run(); });
    VERIFY_HAS(train_error, "cannot write " + ckpt + ": File too large");
    QVERIFY(read_bytes(ckpt) == ckpt_before);
    QVERIFY2(temporaries(run).isEmpty(), qPrintable(temporaries(run).join(", ")));
  }

  void missingOutputFolder() {
    const std::string path = dir() + "/no/such/folder/model.kdmodel";
    auto model = kd::zoo::create_zoo_model(kd::zoo::parse_zoo_spec(kStudent));
    std::string e = error_of([&] { kd::save_zoo_model(*model, path); });
    VERIFY_HAS(e, "cannot write " + path);
    VERIFY_HAS(e, "is the folder there and writable?");
    // An output "folder" that is a file.
    kdtest::write_bytes(dir() + "/plain-file", {'x'});
    e = error_of([&] { kd::write_file_atomically(dir() + "/plain-file/result.json", "{}"); });
    VERIFY_HAS(e, "cannot write " + dir() + "/plain-file/result.json");
  }
};

QTEST_APPLESS_MAIN(TestBadInputs)
#include "test_bad_inputs.moc"
