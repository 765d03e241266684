#include "plots/sample_grid.h"

#include <QPainter>
#include <torch/torch.h>

namespace kd::ui {

QImage tensorToImage(const torch::Tensor& chw) {
  const torch::Tensor t = chw.to(torch::kUInt8).contiguous();
  const int c = static_cast<int>(t.size(0)), h = static_cast<int>(t.size(1)),
            w = static_cast<int>(t.size(2));
  QImage img(w, h, QImage::Format_RGB888);
  const uint8_t* p = t.data_ptr<uint8_t>();
  for (int y = 0; y < h; ++y) {
    uchar* line = img.scanLine(y);
    for (int x = 0; x < w; ++x) {
      for (int k = 0; k < 3; ++k) {
        const int ch = c == 1 ? 0 : std::min(k, c - 1);
        line[x * 3 + k] = p[(ch * h + y) * w + x];
      }
    }
  }
  return img;
}

namespace {
constexpr int kGap = 2;  // pixels between samples
}  // namespace

QSize sampleGridCell(const Dataset& dataset, int zoom) {
  return {static_cast<int>(dataset.width()) * zoom + kGap, static_cast<int>(dataset.height()) * zoom + kGap};
}

QImage renderSampleGrid(const Dataset& dataset, int perClass, int maxClasses, int zoom,
                        const QColor& background) {
  const int classes = static_cast<int>(std::min<int64_t>(dataset.num_classes(), maxClasses));
  const int h = static_cast<int>(dataset.height()) * zoom, w = static_cast<int>(dataset.width()) * zoom;
  QImage grid(perClass * (w + kGap), classes * (h + kGap), QImage::Format_RGB888);
  grid.fill(background);
  QPainter painter(&grid);
  std::vector<int> filled(static_cast<size_t>(classes), 0);
  const auto labels = dataset.train.labels.accessor<int64_t, 1>();
  int remaining = classes * perClass;
  for (int64_t i = 0; i < labels.size(0) && remaining > 0; ++i) {
    const int64_t c = labels[i];
    if (c >= classes || filled[static_cast<size_t>(c)] >= perClass) continue;
    const int col = filled[static_cast<size_t>(c)]++;
    --remaining;
    const QImage img = tensorToImage(dataset.train.images[i]).scaled(w, h);
    painter.drawImage(col * (w + kGap), static_cast<int>(c) * (h + kGap), img);
  }
  return grid;
}

}  // namespace kd::ui
