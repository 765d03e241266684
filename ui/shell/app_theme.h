#pragma once
#include <QColor>
#include <QString>
#include <QStringList>

class QLabel;
class QPalette;

namespace kd::ui {

/// The color schemes the View menu offers: "system" (the platform's palette), "light", "dark".
QStringList themeNames();

/// Applies a color scheme to the whole application (Fusion style with a light or dark palette,
/// or the platform default) and restyles every plot. Unknown names fall back to "system".
void applyTheme(const QString& name);

/// The scheme applied last.
QString currentTheme();

/// True when `palette`'s window is dark (a dark scheme).
bool isDark(const QPalette& palette);

/// Text colors for errors and warnings that stay readable on `palette`'s window: dark red and
/// amber on light windows, light red and light amber on dark ones (contrast at least 4.5:1 on
/// both of our schemes).
QColor errorColor(const QPalette& palette);
QColor warningColor(const QPalette& palette);

/// Shows `label`'s text in errorColor of its palette, and keeps doing so when the palette
/// changes (light/dark switch).
void styleAsError(QLabel* label);

}  // namespace kd::ui
