#include "plots/plot_style.h"

#include <QApplication>
#include <QFileDialog>
#include <QFileInfo>
#include <filesystem>
#include <system_error>
#include <QMenu>
#include <QMessageBox>
#include <QPalette>
#include <QSettings>
#include <QSvgGenerator>
#include <qcustomplot.h>

namespace kd::ui {

namespace {

// Dynamic property set on a plot once the user pans or zooms it.
constexpr const char* kZoomedProperty = "kdUserZoomed";

void styleAxis(QCPAxis* axis, const QColor& fg, const QColor& grid) {
  axis->setBasePen(QPen(fg));
  axis->setTickPen(QPen(fg));
  axis->setSubTickPen(QPen(fg));
  axis->setTickLabelColor(fg);
  axis->setLabelColor(fg);
  axis->grid()->setPen(QPen(grid, 1, Qt::DotLine));
  axis->grid()->setZeroLinePen(QPen(grid, 1, Qt::SolidLine));
}

/// Found among the plot's children by this name (the class has no meta-object of its own, so
/// findChild<PaletteFollower*> would match any child: UBSan caught that downcast).
constexpr const char* kPaletteFollowerName = "kd_palette_follower";

/// Re-applies the plot theme whenever the plot's palette changes (light/dark switch).
class PaletteFollower : public QObject {
 public:
  explicit PaletteFollower(QCustomPlot* plot) : QObject(plot), plot_(plot) {
    setObjectName(kPaletteFollowerName);
  }
  bool eventFilter(QObject* watched, QEvent* event) override {
    if (watched == plot_ && event->type() == QEvent::PaletteChange) applyPlotTheme(plot_);
    return false;
  }

 private:
  QCustomPlot* plot_;
};

}  // namespace

QColor classColor(int index) {
  static const QColor kTab10[] = {QColor(0x1f, 0x77, 0xb4), QColor(0xff, 0x7f, 0x0e),
                                  QColor(0x2c, 0xa0, 0x2c), QColor(0xd6, 0x27, 0x28),
                                  QColor(0x94, 0x67, 0xbd), QColor(0x8c, 0x56, 0x4b),
                                  QColor(0xe3, 0x77, 0xc2), QColor(0x7f, 0x7f, 0x7f),
                                  QColor(0xbc, 0xbd, 0x22), QColor(0x17, 0xbe, 0xcf)};
  if (index >= 0 && index < 10) return kTab10[index];
  // Beyond ten: golden-angle hue steps keep neighbouring classes apart.
  const int hue = static_cast<int>(std::fmod(index * 137.508, 360.0));
  return QColor::fromHsv(hue, 180, 210);
}

QColor seriesColor(int index) { return classColor(index); }

void applyPlotTheme(QCustomPlot* plot) {
  if (!plot->findChild<QObject*>(kPaletteFollowerName, Qt::FindDirectChildrenOnly)) {
    plot->installEventFilter(new PaletteFollower(plot));
  }
  const QPalette pal = plot->palette();
  const QColor bg = pal.color(QPalette::Base);
  const QColor fg = pal.color(QPalette::Text);
  QColor grid = fg;
  grid.setAlpha(60);
  plot->setBackground(QBrush(bg));
  for (QCPAxisRect* rect : plot->axisRects()) {
    for (QCPAxis* axis : rect->axes()) styleAxis(axis, fg, grid);
  }
  plot->legend->setBrush(QBrush(bg));
  plot->legend->setBorderPen(QPen(grid));
  plot->legend->setTextColor(fg);
  for (int i = 0; i < plot->plotLayout()->elementCount(); ++i) {
    if (auto* title = qobject_cast<QCPTextElement*>(plot->plotLayout()->elementAt(i))) {
      title->setTextColor(fg);
    }
  }
  plot->replot(QCustomPlot::rpQueuedReplot);
}

QString savePlot(QCustomPlot* plot, const QString& finalPath) {
  const QString suffix = QFileInfo(finalPath).suffix().toLower();
  // Written under a temporary name in the same folder, then renamed: a crash or a full disk
  // never leaves a half-written file under the name the user chose.
  const QFileInfo target(finalPath);
  const QString path = target.dir().filePath(
      QStringLiteral(".%1.tmp-%2.%3").arg(target.completeBaseName()).arg(QCoreApplication::applicationPid()).arg(suffix));
  const int w = std::max(plot->width(), 320);
  const int h = std::max(plot->height(), 240);
  bool ok = false;
  if (suffix == "png") {
    ok = plot->savePng(path, w, h, 2.0);
  } else if (suffix == "pdf") {
    ok = plot->savePdf(path, w, h);
  } else if (suffix == "svg") {
    QSvgGenerator svg;
    svg.setFileName(path);
    svg.setSize(QSize(w, h));
    svg.setViewBox(QRect(0, 0, w, h));
    svg.setTitle(plot->objectName());
    svg.setDescription(QStringLiteral("Exported by KD Studio"));
    QCPPainter painter;
    if (painter.begin(&svg)) {
      plot->toPainter(&painter, w, h);
      ok = painter.end();
    }
    ok = ok && QFileInfo(path).size() > 0;
  } else {
    return QObject::tr("unknown plot format \"%1\": use .png, .pdf or .svg").arg(suffix);
  }
  if (ok) {
    std::error_code error;
    std::filesystem::rename(path.toStdString(), finalPath.toStdString(), error);
    ok = !error;
  }
  if (!ok) {
    QFile::remove(path);
    return QObject::tr("could not write %1 (is the folder writable and not full?)").arg(finalPath);
  }
  return {};
}

bool userHasZoomed(const QCustomPlot* plot) { return plot->property(kZoomedProperty).toBool(); }

void addPlotInteractions(QCustomPlot* plot, const QString& baseName) {
  plot->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
  QObject::connect(plot, &QCustomPlot::mouseWheel, plot,
                   [plot] { plot->setProperty(kZoomedProperty, true); });
  QObject::connect(plot, &QCustomPlot::mouseMove, plot, [plot](QMouseEvent* e) {
    if (e->buttons() & Qt::LeftButton) plot->setProperty(kZoomedProperty, true);
  });
  auto fit = [plot] {
    plot->setProperty(kZoomedProperty, false);
    plot->rescaleAxes();
    plot->replot();
  };
  QObject::connect(plot, &QCustomPlot::mouseDoubleClick, plot, fit);
  plot->setContextMenuPolicy(Qt::CustomContextMenu);
  QObject::connect(plot, &QWidget::customContextMenuRequested, plot, [plot, baseName, fit](QPoint pos) {
    QMenu menu(plot);
    menu.addAction(QObject::tr("Fit to data"), plot, fit);
    menu.addAction(QObject::tr("Export plot…"), plot, [plot, baseName] {
      QSettings settings;
      const QString dir = settings.value("export/dir").toString();
      const QString path = QFileDialog::getSaveFileName(
          plot, QObject::tr("Export plot"), QDir(dir).filePath(baseName + ".png"),
          QObject::tr("PNG image (*.png);;PDF document (*.pdf);;SVG drawing (*.svg)"));
      if (path.isEmpty()) return;
      settings.setValue("export/dir", QFileInfo(path).absolutePath());
      const QString error = savePlot(plot, path);
      if (!error.isEmpty()) QMessageBox::warning(plot, QObject::tr("Export failed"), error);
    });
    menu.exec(plot->mapToGlobal(pos));
  });
}

}  // namespace kd::ui
