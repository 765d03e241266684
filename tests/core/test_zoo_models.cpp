// The built-in zoo: generalized-layer counts and shapes from method.md section 1, parameter
// totals from torchvision (resnet18/34 with a 3x3 stem, mobilenet_v2, the vgg*_bn feature
// extractors) or hand computation (resnet9, the VGG head, the ViTs), and the forward API.
#include <QtTest/QtTest>
#include <torch/torch.h>

#include "common/error.h"
#include "models/zoo/layer_blocks.h"
#include "models/zoo/zoo_builder.h"

using kd::zoo::create_zoo_model;
using kd::zoo::parse_zoo_spec;

namespace {

/// Expands "64x32x32*2;512" into [[64,32,32],[64,32,32],[512]].
std::vector<std::vector<int64_t>> expand_shapes(const QString& text) {
  std::vector<std::vector<int64_t>> out;
  for (const QString& run : text.split(';')) {
    const QStringList parts = run.split('*');
    const int repeat = parts.size() > 1 ? parts[1].toInt() : 1;
    std::vector<int64_t> shape;
    for (const QString& d : parts[0].split('x')) shape.push_back(d.toLongLong());
    for (int i = 0; i < repeat; ++i) out.push_back(shape);
  }
  return out;
}

QString shape_string(const std::vector<int64_t>& s) {
  QStringList parts;
  for (int64_t d : s) parts << QString::number(d);
  return parts.join('x');
}

}  // namespace

class TestZooModels : public QObject {
  Q_OBJECT

 private slots:
  void layerTable_data() {
    QTest::addColumn<QString>("spec");
    QTest::addColumn<QString>("shapes");
    QTest::addColumn<int>("headStart");
    QTest::addColumn<qlonglong>("params");  // -1: not checked
    // method.md section 1, CIFAR size (3x32x32, 10 classes).
    QTest::newRow("resnet9") << "resnet9"
                             << "64x32x32*2;128x16x16;256x8x8;512x4x4;512" << 6 << 4903242LL;
    QTest::newRow("resnet18") << "resnet18"
                              << "64x32x32*3;128x16x16*2;256x8x8*2;512x4x4*2;512" << 10
                              << 11173962LL;
    QTest::newRow("resnet34") << "resnet34"
                              << "64x32x32*4;128x16x16*4;256x8x8*6;512x4x4*3;512" << 18
                              << 21282122LL;
    QTest::newRow("mobilenetv2")
        << "mobilenetv2"
        << "32x32x32;16x32x32;24x16x16*2;32x8x8*3;64x4x4*4;96x4x4*3;160x2x2*3;320x2x2;"
           "1280x2x2;1280"
        << 20 << 2236682LL;
    // VGG: torchvision's feature extractor (9,225,984 / 20,035,392) + our 512-512 head
    // (512*512+512)*2 + 512*10+10 = 530,442.
    QTest::newRow("vgg11_bn") << "vgg11_bn"
                              << "64x32x32;128x16x16;256x8x8*2;512x4x4*2;512x2x2*2;512;512*2"
                              << 9 << 9756426LL;
    QTest::newRow("vgg19_bn") << "vgg19_bn"
                              << "64x32x32*2;128x16x16*2;256x8x8*4;512x4x4*4;512x2x2*4;512;512*2"
                              << 17 << 20565834LL;
    // ViT-B: patch embed 37,632 + cls 768 + pos 65*768; 12 blocks of 7,087,872; head 9,226.
    QTest::newRow("vit_b") << "vit_b" << "65x768*13" << 13 << 85152010LL;
    // ViT-ETT: patch embed 9,408 + 192 + 65*192; 8 blocks of 370,944; head 2,314.
    QTest::newRow("vit_ett") << "vit_ett" << "65x192*9" << 9 << 2991946LL;
    // Fashion-MNIST size: ceil-mode pools keep VGG valid at 28 (28, 14, 7, 4, 2, 1).
    QTest::newRow("resnet9@28") << "resnet9:channels=1,size=28"
                                << "64x28x28*2;128x14x14;256x7x7;512x4x4;512" << 6 << -1LL;
    QTest::newRow("vgg11_bn@28") << "vgg11_bn:channels=1,size=28"
                                 << "64x28x28;128x14x14;256x7x7*2;512x4x4*2;512x2x2*2;512;512*2"
                                 << 9 << -1LL;
    QTest::newRow("mobilenetv2@28")
        << "mobilenetv2:channels=1,size=28"
        << "32x28x28;16x28x28;24x14x14*2;32x7x7*3;64x4x4*4;96x4x4*3;160x2x2*3;320x2x2;"
           "1280x2x2;1280"
        << 20 << -1LL;
    QTest::newRow("vit_ett@28") << "vit_ett:channels=1,size=28" << "50x192*9" << 9 << -1LL;
    // Width multiplier.
    QTest::newRow("resnet9 width 0.25") << "resnet9:width=0.25"
                                        << "16x32x32*2;32x16x16;64x8x8;128x4x4;128" << 6 << -1LL;
    QTest::newRow("vit_ett width 0.5") << "vit_ett:width=0.5" << "65x96*9" << 9 << -1LL;
    // Tiny-ImageNet variants (method.md section 7): same shapes as at CIFAR size.
    QTest::newRow("resnet34@64") << "resnet34:size=64,classes=200"
                                 << "64x32x32*4;128x16x16*4;256x8x8*6;512x4x4*3;512" << 18 << -1LL;
    QTest::newRow("vgg19_bn@64") << "vgg19_bn:size=64,classes=200"
                                 << "64x32x32*2;128x16x16*2;256x8x8*4;512x4x4*4;512x2x2*4;512;512*2"
                                 << 17 << -1LL;
    QTest::newRow("mobilenetv2@64")
        << "mobilenetv2:size=64,classes=200"
        << "32x32x32;16x32x32;24x16x16*2;32x8x8*3;64x4x4*4;96x4x4*3;160x2x2*3;320x2x2;"
           "1280x2x2;1280"
        << 20 << -1LL;
    QTest::newRow("vit_ett@64") << "vit_ett:size=64,classes=200" << "65x192*9" << 9 << -1LL;
  }

  void layerTable() {
    QFETCH(QString, spec);
    QFETCH(QString, shapes);
    QFETCH(int, headStart);
    QFETCH(qlonglong, params);
    auto model = create_zoo_model(parse_zoo_spec(spec.toStdString()));
    const auto expected = expand_shapes(shapes);
    QCOMPARE(model->num_layers(), static_cast<int>(expected.size()));
    int64_t layer_params = 0;
    for (const auto& info : model->layers()) {
      QCOMPARE(shape_string(info.shape), shape_string(expected[info.index]));
      QCOMPARE(QString::fromStdString(info.name), QString("layers.%1").arg(info.index));
      QCOMPARE(info.in_head, info.index >= headStart);
      layer_params += info.params;
    }
    QCOMPARE(model->head_start(), headStart);
    if (params >= 0) QCOMPARE(static_cast<qlonglong>(model->parameter_count()), params);
    QVERIFY(layer_params < model->parameter_count() || model->num_layers() == 0);
  }

  void forwardApiIsConsistent_data() {
    QTest::addColumn<QString>("spec");
    QTest::newRow("resnet9") << "resnet9:channels=1,size=28,width=0.125";
    QTest::newRow("vgg11_bn") << "vgg11_bn:channels=1,size=28,width=0.125";
    QTest::newRow("mobilenetv2") << "mobilenetv2:width=0.25";
    QTest::newRow("vit_ett") << "vit_ett:width=0.25";
  }

  void forwardApiIsConsistent() {
    QFETCH(QString, spec);
    auto model = create_zoo_model(parse_zoo_spec(spec.toStdString()), 7);
    model->set_training(false);
    torch::NoGradGuard no_grad;
    const auto in = model->input_shape();
    torch::manual_seed(1);
    const torch::Tensor x = torch::randn({3, in.channels, in.height, in.width});
    const torch::Tensor logits = model->forward(x);
    QCOMPARE(logits.size(0), 3);
    QCOMPARE(logits.size(1), model->num_classes());
    std::vector<int> all;
    for (int l = 0; l < model->num_layers(); ++l) all.push_back(l);
    torch::Tensor logits2;
    const auto feats = model->features(x, all, &logits2);
    QVERIFY(torch::allclose(logits, logits2));
    for (int l = 0; l < model->num_layers(); ++l) {
      QVERIFY(torch::allclose(feats[l], model->forward_to(x, l)));
      QVERIFY(torch::allclose(model->forward_from(feats[l], l), logits, 1e-5, 1e-6));
    }
  }

  // Folding by hand: conv weight 2, BatchNorm gamma 3, beta 0.5, mean 1, var + eps 4, so the
  // scale is 3 / 2: folded weight 3, bias (0 - 1) * 1.5 + 0.5 = -1; input 5 gives 14 both ways.
  void foldBatchNormHandComputed() {
    kd::zoo::ConvBnActImpl block(1, 1, 1, 1, kd::zoo::Activation::kNone);
    torch::NoGradGuard no_grad;
    auto named = block.named_parameters();
    auto buffers = block.named_buffers();
    named["conv.weight"].fill_(2.0);
    named["bn.weight"].fill_(3.0);
    named["bn.bias"].fill_(0.5);
    buffers["bn.running_mean"].fill_(1.0);
    buffers["bn.running_var"].fill_(4.0 - 1e-5);  // BatchNorm2d's default eps
    block.eval();
    const torch::Tensor x = torch::full({1, 1, 1, 1}, 5.0);
    QCOMPARE(block.forward(x).item<double>(), 14.0);
    QVERIFY(block.fold_batch_norm());
    QCOMPARE(named["conv.weight"].item<double>(), 3.0);
    auto* conv = block.modules(false)[0]->as<torch::nn::Conv2dImpl>();
    QVERIFY(conv != nullptr);
    QCOMPARE(conv->bias.item<double>(), -1.0);
    QCOMPARE(block.forward(x).item<double>(), 14.0);
  }

  // The inference copy (BatchNorm folded, NHWC on the CPU) gives every layer's eval-mode output
  // and the logits to float rounding, for each architecture with BatchNorm, and is independent
  // of the model it came from.
  void inferenceCopyMatchesEvalMode_data() {
    QTest::addColumn<QString>("spec");
    QTest::newRow("resnet9") << "resnet9:channels=1,size=28,width=0.125";
    QTest::newRow("resnet18 (shortcut convs)") << "resnet18:channels=1,size=28,width=0.125";
    QTest::newRow("vgg11_bn (conv bias)") << "vgg11_bn:channels=1,size=28,width=0.125";
    QTest::newRow("mobilenetv2") << "mobilenetv2:width=0.25";
  }

  void inferenceCopyMatchesEvalMode() {
    QFETCH(QString, spec);
    auto model = create_zoo_model(parse_zoo_spec(spec.toStdString()), 7);
    torch::NoGradGuard no_grad;
    // Statistics and affine terms away from the initial 0/1, or folding would change nothing.
    torch::manual_seed(2);
    for (auto& [name, t] : model->named_state()) {
      const bool bn = name.find("running_var") != std::string::npos ||
                      (t.dim() == 1 && name.find("weight") != std::string::npos);
      if (name.find("running_mean") != std::string::npos || (t.dim() == 1 && name.ends_with("bias"))) {
        t.copy_(torch::randn_like(t) * 0.3);
      } else if (bn && t.is_floating_point()) {
        t.copy_(torch::rand_like(t) + 0.5);
      }
    }
    model->set_training(false);
    auto copy = model->inference_copy(torch::kCPU);
    QVERIFY(copy != nullptr);
    QCOMPARE(copy->num_layers(), model->num_layers());
    const auto in = model->input_shape();
    const torch::Tensor x = torch::randn({4, in.channels, in.height, in.width});
    std::vector<int> all;
    for (int l = 0; l < model->num_layers(); ++l) all.push_back(l);
    torch::Tensor logits, copy_logits;
    const auto want = model->features(x, all, &logits);
    const auto got = copy->features(x, all, &copy_logits);
    for (size_t l = 0; l < all.size(); ++l) {
      const double scale = want[l].abs().max().item<double>();
      QVERIFY2(torch::allclose(got[l], want[l], 1e-4, 1e-5 * scale),
               qPrintable(QString("layer %1 differs by %2").arg(l).arg(
                   (got[l] - want[l]).abs().max().item<double>())));
    }
    QVERIFY(torch::allclose(copy_logits, logits, 1e-4, 1e-5 * logits.abs().max().item<double>()));
    // The model itself is untouched (layout and values), and the copy does not follow it.
    for (const auto& p : model->parameters()) QVERIFY(p.is_contiguous());
    QVERIFY(torch::equal(model->forward(x), logits));
    for (auto& p : model->parameters()) p.zero_();
    QVERIFY(torch::equal(copy->forward(x), copy_logits));
  }

  void inferenceCopyOfModelWithoutBatchNormIsNull() {
    auto vit = create_zoo_model(parse_zoo_spec("vit_ett:width=0.25"), 7);
    QVERIFY(vit->inference_copy(torch::kCPU) == nullptr);
  }

  void initSeedIsDeterministic() {
    auto a = create_zoo_model(parse_zoo_spec("resnet9:width=0.125"), 3);
    auto b = create_zoo_model(parse_zoo_spec("resnet9:width=0.125"), 3);
    auto c = create_zoo_model(parse_zoo_spec("resnet9:width=0.125"), 4);
    const auto pa = a->parameters(), pb = b->parameters(), pc = c->parameters();
    QVERIFY(torch::equal(pa[0], pb[0]));
    QVERIFY(!torch::equal(pa[0], pc[0]));
  }

  void specRoundTrip() {
    const auto spec = parse_zoo_spec("ResNet9:channels=1,size=28,width=0.25,classes=10");
    QCOMPARE(QString::fromStdString(spec.to_string()), QString("resnet9:channels=1,size=28,width=0.25"));
    QCOMPARE(spec.channels, 1);
    QVERIFY(!spec.stem_downsamples());
    QVERIFY(parse_zoo_spec("vgg11_bn:size=64").stem_downsamples());
    QVERIFY(!parse_zoo_spec("vgg11_bn:size=64,downsample=off").stem_downsamples());
  }

  void badSpecs_data() {
    QTest::addColumn<QString>("spec");
    QTest::addColumn<QString>("needle");
    QTest::newRow("unknown arch") << "resnet50" << "unknown model 'resnet50'";
    QTest::newRow("unknown option") << "resnet9:depth=3" << "unknown model option 'depth'";
    QTest::newRow("no value") << "resnet9:channels" << "expected key=value";
    QTest::newRow("bad width") << "resnet9:width=-1" << "width=-1";
    QTest::newRow("bad channels") << "resnet9:channels=abc" << "channels=abc";
    QTest::newRow("bad downsample") << "resnet9:downsample=maybe" << "auto, on or off";
  }

  void badSpecs() {
    QFETCH(QString, spec);
    QFETCH(QString, needle);
    try {
      parse_zoo_spec(spec.toStdString());
      QFAIL("no error");
    } catch (const kd::Error& e) {
      QVERIFY2(QString(e.what()).contains(needle), e.what());
    }
  }

  void vitRejectsSizeNotMultipleOfPatch() {
    try {
      create_zoo_model(parse_zoo_spec("vit_ett:size=30"));
      QFAIL("no error");
    } catch (const kd::Error& e) {
      QVERIFY2(QString(e.what()).contains("not a multiple of the patch size 4"), e.what());
    }
  }

  void layerIndexOutOfRange() {
    auto model = create_zoo_model(parse_zoo_spec("resnet9:width=0.125"));
    const torch::Tensor x = torch::zeros({1, 3, 32, 32});
    try {
      model->forward_to(x, 6);
      QFAIL("no error");
    } catch (const kd::Error& e) {
      QVERIFY2(QString(e.what()).contains("layer index 6 is out of range"), e.what());
    }
  }
};

QTEST_APPLESS_MAIN(TestZooModels)
#include "test_zoo_models.moc"
