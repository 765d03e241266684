#pragma once
#include <QColor>
#include <QImage>
#include <QSize>

#include "data/dataset.h"

namespace kd::ui {

/// Renders the first `perClass` training images of each class (one row per class, at most
/// `maxClasses` rows) into one image, each sample scaled up by `zoom`, on `background` (the gaps
/// between samples and the cells of classes with fewer samples).
QImage renderSampleGrid(const Dataset& dataset, int perClass = 8, int maxClasses = 10, int zoom = 2,
                        const QColor& background = Qt::white);

/// The pixel size of one grid cell (a sample and its gap) for `dataset` at `zoom`.
QSize sampleGridCell(const Dataset& dataset, int zoom);

/// Converts one uint8 (C,H,W) image tensor (C = 1 or 3) to a QImage.
QImage tensorToImage(const torch::Tensor& chw);

}  // namespace kd::ui
