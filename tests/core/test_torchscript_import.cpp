// Importing TorchScript models as generalized-layer chains (core/models/scripted_model.h).
// Fixtures and reference values come from scripts/make_torchscript_fixtures.py (PyTorch 1.13);
// the expected partitions below are the hand-derived ones written there.
#include <torch/script.h>
#include <torch/torch.h>

#include <QtTest/QtTest>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "common/error.h"
#include "models/module_partition.h"
#include "models/scripted_model.h"
#include "test_util.h"

namespace {

struct ExpectedLayer {
  std::string name;
  std::string kind;
  std::vector<int64_t> shape;
};

struct Expected {
  kd::PartitionMode mode;
  kd::InputShape input;
  std::vector<ExpectedLayer> layers;
  int head_start;
  int64_t classes;
};

using kd::PartitionMode;

// Same as EXPECTED / INPUTS in scripts/make_torchscript_fixtures.py.
const std::map<std::string, Expected>& expectations() {
  static const std::map<std::string, Expected> table = {
      {"seq_cnn",
       {PartitionMode::kGeneralized,
        {1, 28, 28},
        {{"2", "Conv2d+BatchNorm2d+ReLU", {8, 28, 28}},
         {"5", "MaxPool2d+Conv2d+ReLU", {8, 7, 7}},
         {"6", "Flatten", {392}},
         {"8", "Linear+ReLU", {16}}},
        3,
        10}},
      {"resnet_script",
       {PartitionMode::kGeneralized,
        {3, 32, 32},
        {{"relu", "Conv2d+BatchNorm2d+ReLU", {8, 32, 32}},
         {"layer1.0", "BasicBlock", {8, 32, 32}},
         {"layer1.1", "BasicBlock", {8, 32, 32}},
         {"layer2.0", "BasicBlock", {16, 16, 16}},
         {"avgpool", "AdaptiveAvgPool2d+Flatten (inserted)", {16}}},
        5,
        10}},
      {"resnet_trace",
       {PartitionMode::kGeneralized,
        {3, 32, 32},
        {{"relu", "Conv2d+BatchNorm2d+ReLU", {8, 32, 32}},
         {"layer1.0", "BasicBlock", {8, 32, 32}},
         {"layer1.1", "BasicBlock", {8, 32, 32}},
         {"layer2.0", "BasicBlock", {16, 16, 16}},
         {"avgpool", "AdaptiveAvgPool2d+Flatten (inserted)", {16}}},
        5,
        10}},
      {"mobilenet",
       {PartitionMode::kGeneralized,
        {3, 40, 40},
        {{"features.0.2", "Conv2d+BatchNorm2d+ReLU6", {8, 20, 20}},
         {"features.1", "InvertedResidual", {8, 20, 20}},
         {"features.2", "InvertedResidual", {16, 10, 10}},
         {"features.3", "InvertedResidual", {16, 10, 10}},
         {"features.4.2", "Conv2d+BatchNorm2d+ReLU6", {32, 10, 10}},
         {"classifier.0", "Dropout+GlobalAvgPool+Flatten (inserted)", {32}}},
        6,
        10}},
      {"skip", {PartitionMode::kLogitsOnly, {3, 16, 16}, {}, 0, 10}},
      {"branches",
       {PartitionMode::kTopLevel,
        {3, 16, 16},
        {{"stem", "Sequential", {8, 16, 16}},
         {"mix", "TwoBranch", {8, 16, 16}},
         {"act", "ReLU", {8, 16, 16}},
         {"pool", "AdaptiveAvgPool2d", {8, 1, 1}},
         {"flatten", "Flatten", {8}}},
        5,
        6}},
      {"nested",
       {PartitionMode::kGeneralized,
        {1, 28, 28},
        {{"encoder.block1.1", "Conv2d+ReLU", {4, 28, 28}},
         {"encoder.block2.1", "Conv2d+BatchNorm2d+LeakyReLU", {8, 14, 14}},
         {"head.0", "MaxPool2d+Flatten", {392}},
         {"head.2", "Linear+GELU", {16}}},
        3,
        10}},
      {"odd_input", {PartitionMode::kGeneralized, {2, 5, 5}, {{"0", "Flatten", {50}}}, 1, 3}},
  };
  return table;
}

std::string model_path(const std::string& name) { return kdtest::fixture("ts_" + name + ".pt"); }

std::unique_ptr<kd::ScriptedModel> load_fixture(const std::string& name) {
  std::optional<kd::InputShape> input;
  if (name == "odd_input") input = kd::InputShape{2, 5, 5};  // not probed, no kdstudio.json
  return kd::load_torchscript(model_path(name), input);
}

// Reference values computed by PyTorch: buffers of the holder module ts_<name>_ref.pt.
struct Reference {
  torch::Tensor input, output, layer_abs_sums;
};

Reference load_reference(const std::string& name) {
  torch::jit::Module holder = torch::jit::load(kdtest::fixture("ts_" + name + "_ref.pt"));
  return {holder.attr("input").toTensor(), holder.attr("output").toTensor(),
          holder.attr("layer_abs_sums").toTensor()};
}

// The message of the kd::Error that f throws, or "" when it throws none.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const kd::Error& e) {
    return e.what();
  }
  return {};
}

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Logits of the layer chain: every generalized layer, then the tail.
torch::Tensor chain_logits(kd::ScriptedModel& m, const torch::Tensor& x) {
  return m.forward_tail(m.forward_range(x, 0, m.num_layers() - 1));
}

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

}  // namespace

class TestTorchScriptImport : public QObject {
  Q_OBJECT

 private:
  void add_fixture_rows() {
    QTest::addColumn<QString>("name");
    for (const auto& [name, expected] : expectations()) {
      QTest::newRow(name.c_str()) << QString::fromStdString(name);
    }
  }

 private slots:
  void type_names_lose_module_path_and_mangling() {
    QCOMPARE(kd::plain_type_name("__torch__.torch.nn.modules.conv.___torch_mangle_3.Conv2d"),
             std::string("Conv2d"));
    QCOMPARE(kd::plain_type_name("__torch__.BasicBlock"), std::string("BasicBlock"));
    QCOMPARE(kd::plain_type_name("__torch__.Foo___torch_mangle_12"), std::string("Foo"));
    QCOMPARE(kd::plain_type_name("ReLU"), std::string("ReLU"));
  }

  void partition_rule_on_a_synthetic_chain() {
    using R = kd::InsertedReshape;
    // conv bn relu | block | pool [flatten inserted] | linear relu | dropout linear (tail)
    const std::vector<kd::ChainModule> chain = {
        {"c", "Conv2d", false, R::kNone},       {"b", "BatchNorm2d", false, R::kNone},
        {"r", "ReLU", false, R::kNone},         {"blk", "Bottleneck", false, R::kNone},
        {"pool", "AvgPool2d", false, R::kNone}, {"fc1", "Linear", true, R::kFlatten},
        {"act", "SiLU", false, R::kNone},       {"drop", "Dropout", false, R::kNone},
        {"fc2", "Linear", true, R::kNone}};
    const kd::ChainPartition p = kd::partition_generalized(chain);
    QCOMPARE(p.layers.size(), size_t{4});
    QCOMPARE(kd::layer_kind(chain, p.layers[0]), std::string("Conv2d+BatchNorm2d+ReLU"));
    QCOMPARE(kd::layer_name(chain, p.layers[1]), std::string("blk"));
    QCOMPARE(kd::layer_kind(chain, p.layers[2]), std::string("AvgPool2d+Flatten (inserted)"));
    QCOMPARE(kd::layer_kind(chain, p.layers[3]), std::string("Linear+SiLU"));
    QCOMPARE(p.tail_begin, size_t{7});
    QCOMPARE(kd::first_head_layer(chain, p), 3);

    // A flatten needed right after a block is a layer of its own.
    const std::vector<kd::ChainModule> after_block = {{"blk", "BasicBlock", false, R::kNone},
                                                      {"fc", "Linear", true, R::kFlatten}};
    const kd::ChainPartition q = kd::partition_generalized(after_block);
    QCOMPARE(q.layers.size(), size_t{2});
    QCOMPARE(kd::layer_name(after_block, q.layers[1]), std::string("flatten before fc"));
    QCOMPARE(kd::layer_kind(after_block, q.layers[1]), std::string("Flatten (inserted)"));
    QCOMPARE(kd::first_head_layer(after_block, q), 2);

    // Top level: every module a layer but the last, which is the tail.
    const kd::ChainPartition t = kd::partition_top_level(after_block);
    QCOMPARE(t.layers.size(), size_t{1});
    QCOMPARE(kd::layer_kind(after_block, t.layers[0]),
             std::string("BasicBlock+Flatten (inserted)"));
    QCOMPARE(t.tail_begin, size_t{1});
  }

  void partition_matches_hand_derivation_data() { add_fixture_rows(); }
  void partition_matches_hand_derivation() {
    QFETCH(QString, name);
    const Expected& want = expectations().at(name.toStdString());
    auto model = load_fixture(name.toStdString());
    QCOMPARE(model->partition_mode(), want.mode);
    QCOMPARE(model->input_shape().channels, want.input.channels);
    QCOMPARE(model->input_shape().height, want.input.height);
    QCOMPARE(model->input_shape().width, want.input.width);
    QCOMPARE(model->num_classes(), want.classes);
    QCOMPARE(model->num_layers(), static_cast<int>(want.layers.size()));
    QCOMPARE(model->head_start(), want.head_start);
    for (size_t l = 0; l < want.layers.size(); ++l) {
      const kd::LayerInfo& got = model->layers()[l];
      QCOMPARE(got.index, static_cast<int>(l));
      QCOMPARE(got.name, want.layers[l].name);
      QCOMPARE(got.kind, want.layers[l].kind);
      QCOMPARE(got.shape, want.layers[l].shape);
      QCOMPARE(got.in_head, static_cast<int>(l) >= want.head_start);
    }
    QVERIFY(!model->partition_message().empty());
    QCOMPARE(model->architecture(), "torchscript:" + model_path(name.toStdString()));
  }

  void layer_parameter_counts() {
    // Hand count for the Sequential CNN: conv 1*8*9+8 and BN 2*8; conv 8*8*9+8; none;
    // linear 392*16+16; the tail linear 16*10+10.
    auto model = load_fixture("seq_cnn");
    const std::vector<int64_t> want = {96, 584, 0, 6288};
    for (size_t l = 0; l < want.size(); ++l) QCOMPARE(model->layers()[l].params, want[l]);
    QCOMPARE(model->parameter_count(), int64_t{96 + 584 + 6288 + 170});
    // named_state: parameters and BatchNorm buffers, by dotted name.
    std::map<std::string, std::vector<int64_t>> state;
    for (const auto& [key, value] : model->named_state()) state[key] = value.sizes().vec();
    QCOMPARE(state.at("0.weight"), (std::vector<int64_t>{8, 1, 3, 3}));
    QCOMPARE(state.at("1.running_var"), (std::vector<int64_t>{8}));
    QCOMPARE(state.at("9.bias"), (std::vector<int64_t>{10}));
  }

  void chain_reproduces_pytorch_data() { add_fixture_rows(); }
  void chain_reproduces_pytorch() {
    QFETCH(QString, name);
    auto model = load_fixture(name.toStdString());
    const Reference ref = load_reference(name.toStdString());
    model->set_training(false);
    torch::NoGradGuard no_grad;
    QVERIFY(torch::allclose(model->forward(ref.input), ref.output, 1e-4, 1e-5));
    QVERIFY(torch::allclose(chain_logits(*model, ref.input), ref.output, 1e-4, 1e-5));
    // Each layer's feature against PyTorch's (sum of |.| from a hook on its last module).
    QCOMPARE(ref.layer_abs_sums.size(0), static_cast<int64_t>(model->num_layers()));
    for (int l = 0; l < model->num_layers(); ++l) {
      const double got = model->forward_to(ref.input, l).abs().sum().item<double>();
      const double want = ref.layer_abs_sums[l].item<double>();
      QVERIFY2(std::abs(got - want) <= 1e-4 * std::abs(want) + 1e-5,
               qPrintable(QString("layer %1: %2 vs %3").arg(l).arg(got).arg(want)));
      QCOMPARE(model->forward_from(model->forward_to(ref.input, l), l).sizes(), ref.output.sizes());
    }
  }

  void non_sequential_models_say_so() {
    auto skip = load_fixture("skip");
    QCOMPARE(skip->partition_mode(), PartitionMode::kLogitsOnly);
    QCOMPARE(std::string(kd::partition_mode_name(skip->partition_mode())),
             std::string("logits_only"));
    const std::string& m = skip->partition_message();
    QVERIFY2(has(m, "not a plain chain of its children") && has(m, "differs") &&
                 has(m, "only the logits") && has(m, "feature distillation"),
             m.c_str());
    QCOMPARE(skip->num_layers(), 0);
    QCOMPARE(skip->head_start(), 0);

    auto branches = load_fixture("branches");
    QCOMPARE(branches->partition_mode(), PartitionMode::kTopLevel);
    const std::string& b = branches->partition_message();
    QVERIFY2(has(b, "fails at mix.b") && has(b, "top-level children"), b.c_str());

    auto seq = load_fixture("seq_cnn");
    QVERIFY2(has(seq->partition_message(), "4 generalized layers"),
             seq->partition_message().c_str());
    auto resnet = load_fixture("resnet_script");
    QVERIFY2(has(resnet->partition_message(), "Flatten was inserted before fc"),
             resnet->partition_message().c_str());
  }

  void parameters_get_gradients_data() { add_fixture_rows(); }
  void parameters_get_gradients() {
    QFETCH(QString, name);
    auto model = load_fixture(name.toStdString());
    const Reference ref = load_reference(name.toStdString());
    model->set_training(true);
    const std::vector<torch::Tensor> params = model->parameters();
    QVERIFY(!params.empty());
    // Through the layer chain (what distillation trains), and through forward().
    for (int pass = 0; pass < 2; ++pass) {
      for (const auto& p : params) {
        QVERIFY(p.requires_grad());
        if (p.grad().defined()) p.mutable_grad().zero_();
      }
      const torch::Tensor logits =
          pass == 0 ? chain_logits(*model, ref.input) : model->forward(ref.input);
      logits.pow(2).mean().backward();
      for (const auto& p : params) {
        QVERIFY(p.grad().defined());
        QVERIFY(p.grad().abs().sum().item<double>() > 0);
      }
    }
  }

  void save_and_reload_data() { add_fixture_rows(); }
  void save_and_reload() {
    QFETCH(QString, name);
    QTemporaryDir dir;
    const std::string saved = dir.filePath("model.pt").toStdString();
    auto model = load_fixture(name.toStdString());
    const Reference ref = load_reference(name.toStdString());
    model->set_training(false);
    model->save_torchscript(saved);
    // The kdstudio.json written with it gives the input shape, so no argument is needed.
    auto again = kd::load_torchscript(saved);
    again->set_training(false);
    QCOMPARE(again->num_layers(), model->num_layers());
    QCOMPARE(again->input_shape().height, model->input_shape().height);
    {
      torch::NoGradGuard no_grad;
      QVERIFY(torch::equal(again->forward(ref.input), model->forward(ref.input)));
    }

    // One optimizer step changes the outputs; the saved file must hold the new weights.
    model->set_training(true);
    torch::optim::SGD sgd(model->parameters(), torch::optim::SGDOptions(0.05));
    sgd.zero_grad();
    model->forward(ref.input).pow(2).mean().backward();
    sgd.step();
    model->set_training(false);
    torch::NoGradGuard no_grad;
    const torch::Tensor changed = model->forward(ref.input);
    QVERIFY(!torch::allclose(changed, ref.output, 1e-4, 1e-5));
    model->save_torchscript(saved);
    auto stepped = kd::load_torchscript(saved);
    stepped->set_training(false);
    QVERIFY(torch::equal(stepped->forward(ref.input), changed));
    QVERIFY(torch::allclose(chain_logits(*stepped, ref.input), changed, 1e-4, 1e-5));
    // Only the target file is left behind (the temporary one was renamed).
    QCOMPARE(QDir(dir.path()).entryList(QDir::Files), QStringList{"model.pt"});
  }

  void input_shape_is_probed_or_given() {
    // ts_resnet_trace.pt has no kdstudio.json: 1x28x28 fails, 3x32x32 runs.
    QCOMPARE(load_fixture("resnet_trace")->input_shape().height, int64_t{32});
    // An explicit shape overrides kdstudio.json (this model pools adaptively).
    auto bigger = kd::load_torchscript(model_path("resnet_script"), kd::InputShape{3, 48, 48});
    QCOMPARE(bigger->layers()[0].shape, (std::vector<int64_t>{8, 48, 48}));
    // No shape runs the 2x5x5 model: the error says to pass one.
    const std::string odd = error_of([] { kd::load_torchscript(model_path("odd_input")); });
    QVERIFY2(has(odd, model_path("odd_input")) && has(odd, "pass its input shape"), odd.c_str());
    const std::string wrong = error_of([] {
      kd::load_torchscript(model_path("seq_cnn"), kd::InputShape{3, 32, 32});
    });
    QVERIFY2(has(wrong, "does not run on inputs of shape 3x32x32"), wrong.c_str());
  }

  void bad_files_give_clear_errors() {
    QTemporaryDir dir;
    const std::string text = dir.filePath("notes.pt").toStdString();
    kdtest::write_bytes(text, {'h', 'e', 'l', 'l', 'o', '\n'});
    std::string e = error_of([&] { kd::load_torchscript(text); });
    QVERIFY2(has(e, text) && has(e, "not a TorchScript archive") && has(e, "not a zip file"),
             e.c_str());

    std::vector<uint8_t> bytes = read_bytes(model_path("seq_cnn"));
    bytes.resize(bytes.size() / 2);
    const std::string truncated = dir.filePath("truncated.pt").toStdString();
    kdtest::write_bytes(truncated, bytes);
    e = error_of([&] { kd::load_torchscript(truncated); });
    QVERIFY2(
        has(e, truncated) && has(e, "not a TorchScript archive") && has(e, "damaged or incomplete"),
        e.c_str());

    e = error_of([] { kd::load_torchscript(kdtest::fixture("ts_state_dict.pt")); });
    QVERIFY2(has(e, "not a TorchScript archive") && has(e, "torch.save"), e.c_str());

    e = error_of([&] { kd::load_torchscript(dir.filePath("missing.pt").toStdString()); });
    QVERIFY2(has(e, "does not exist"), e.c_str());

    auto model = load_fixture("seq_cnn");
    e = error_of([&] { model->forward_range(torch::zeros({1, 1, 28, 28}), 0, 4); });
    QVERIFY2(has(e, "out of range"), e.c_str());
    e = error_of([&] { model->forward_range(torch::zeros({1, 3, 28, 28}), 0, 0); });
    QVERIFY2(has(e, "module 0 (Conv2d) failed"), e.c_str());
  }
};

QTEST_APPLESS_MAIN(TestTorchScriptImport)
#include "test_torchscript_import.moc"
