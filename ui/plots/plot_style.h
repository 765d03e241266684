#pragma once
#include <QColor>
#include <QString>

class QCustomPlot;

namespace kd::ui {

/// Color of class `index` (the 10-color "tab10" cycle, then evenly spaced hues).
QColor classColor(int index);

/// Color of data series `index` in line plots (same cycle as classColor).
QColor seriesColor(int index);

/// Styles a plot to match the application palette (light or dark): background, axes, grid,
/// labels and legend. Call again when the palette changes.
void applyPlotTheme(QCustomPlot* plot);

/// Saves a plot as PNG, PDF or SVG, chosen by the file's extension, at its on-screen size
/// (PNG at twice the resolution). Returns an empty string on success, otherwise the reason.
QString savePlot(QCustomPlot* plot, const QString& path);

/// Gives a plot the shared interactions: drag to pan, wheel to zoom, double-click to fit the
/// data again, and a context menu with "Fit to data" and "Export plot…" (PNG, PDF, SVG).
/// `baseName` is the file name the export dialog proposes.
void addPlotInteractions(QCustomPlot* plot, const QString& baseName);

/// True once the user has zoomed or panned a plot by hand (so live updates must not rescale
/// it); reset by "Fit to data".
bool userHasZoomed(const QCustomPlot* plot);

}  // namespace kd::ui
