#pragma once
#include <QString>
#include <QStringList>

namespace kd::ui {

/// The color schemes the View menu offers: "system" (the platform's palette), "light", "dark".
QStringList themeNames();

/// Applies a color scheme to the whole application (Fusion style with a light or dark palette,
/// or the platform default) and restyles every plot. Unknown names fall back to "system".
void applyTheme(const QString& name);

/// The scheme applied last.
QString currentTheme();

}  // namespace kd::ui
