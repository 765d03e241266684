#include "shell/app_theme.h"

#include <QApplication>
#include <QEvent>
#include <QLabel>
#include <QPalette>
#include <QStyle>
#include <QStyleFactory>
#include <QTimer>
#include <qcustomplot.h>

#include "plots/plot_style.h"

namespace kd::ui {

namespace {

QString g_theme = QStringLiteral("system");
QString g_platformStyle;
QPalette g_platformPalette;

QPalette darkPalette() {
  QPalette p;
  const QColor window(0x2b, 0x2d, 0x30), base(0x1e, 0x1f, 0x22), text(0xe6, 0xe6, 0xe6);
  const QColor disabled(0x80, 0x80, 0x80), highlight(0x3d, 0x8e, 0xe0);
  p.setColor(QPalette::Window, window);
  p.setColor(QPalette::WindowText, text);
  p.setColor(QPalette::Base, base);
  p.setColor(QPalette::AlternateBase, window);
  p.setColor(QPalette::ToolTipBase, base);
  p.setColor(QPalette::ToolTipText, text);
  p.setColor(QPalette::PlaceholderText, disabled);
  p.setColor(QPalette::Text, text);
  p.setColor(QPalette::Button, window);
  p.setColor(QPalette::ButtonText, text);
  p.setColor(QPalette::BrightText, Qt::red);
  p.setColor(QPalette::Link, highlight.lighter(130));
  p.setColor(QPalette::Highlight, highlight);
  p.setColor(QPalette::HighlightedText, Qt::white);
  p.setColor(QPalette::Light, window.lighter(150));
  p.setColor(QPalette::Mid, window.lighter(120));
  p.setColor(QPalette::Dark, window.darker(150));
  p.setColor(QPalette::Shadow, Qt::black);
  for (auto role : {QPalette::WindowText, QPalette::Text, QPalette::ButtonText}) {
    p.setColor(QPalette::Disabled, role, disabled);
  }
  return p;
}

QPalette lightPalette() {
  QPalette p = QStyleFactory::create(QStringLiteral("Fusion"))->standardPalette();
  p.setColor(QPalette::AlternateBase, QColor(0xf3, 0xf5, 0xf8));
  return p;
}

/// Object name of the filter styleAsError() installs (found by name, not by type: the class has
/// no meta-object of its own).
constexpr const char* kErrorFollowerName = "kd_error_color_follower";

/// Re-colors an error label whenever its palette changes.
class ErrorColorFollower : public QObject {
 public:
  explicit ErrorColorFollower(QLabel* label) : QObject(label), label_(label) {
    setObjectName(kErrorFollowerName);
  }
  void apply() {
    const QColor want = errorColor(label_->palette());
    if (label_->palette().color(QPalette::WindowText) == want) return;  // also ends the recursion
    QPalette p = label_->palette();
    p.setColor(QPalette::WindowText, want);
    p.setColor(QPalette::Text, want);
    label_->setPalette(p);
  }
  bool eventFilter(QObject* watched, QEvent* event) override {
    if (watched == label_ && (event->type() == QEvent::PaletteChange ||
                              event->type() == QEvent::ApplicationPaletteChange)) {
      apply();
    }
    return false;
  }

 private:
  QLabel* label_;
};

}  // namespace

bool isDark(const QPalette& palette) { return palette.color(QPalette::Window).lightness() < 128; }

QColor errorColor(const QPalette& palette) {
  return isDark(palette) ? QColor(0xff, 0x8a, 0x80) : QColor(0xc6, 0x28, 0x28);
}

QColor warningColor(const QPalette& palette) {
  return isDark(palette) ? QColor(0xff, 0xc1, 0x07) : QColor(0x8a, 0x4f, 0x00);
}

void styleAsError(QLabel* label) {
  auto* follower = static_cast<ErrorColorFollower*>(
      label->findChild<QObject*>(kErrorFollowerName, Qt::FindDirectChildrenOnly));
  if (!follower) {
    follower = new ErrorColorFollower(label);
    label->installEventFilter(follower);
  }
  follower->apply();
}

QStringList themeNames() { return {QStringLiteral("system"), QStringLiteral("light"), QStringLiteral("dark")}; }

QString currentTheme() { return g_theme; }

void applyTheme(const QString& name) {
  if (g_platformStyle.isEmpty()) {  // remember what the platform gave us, to go back to it
    g_platformStyle = QApplication::style()->name();
    g_platformPalette = QApplication::palette();
  }
  g_theme = themeNames().contains(name) ? name : QStringLiteral("system");
  if (g_theme == "dark") {
    QApplication::setStyle(QStyleFactory::create(QStringLiteral("Fusion")));
    QApplication::setPalette(darkPalette());
  } else if (g_theme == "light") {
    QApplication::setStyle(QStyleFactory::create(QStringLiteral("Fusion")));
    QApplication::setPalette(lightPalette());
  } else {
    QApplication::setStyle(QStyleFactory::create(g_platformStyle));
    QApplication::setPalette(g_platformPalette);
  }
  // Plots follow their PaletteChange events (applyPlotTheme installs a filter); this pass
  // catches plots whose palette resolved before the event, once the change has propagated.
  QTimer::singleShot(0, qApp, [] {
    for (QWidget* top : QApplication::topLevelWidgets()) {
      for (QCustomPlot* plot : top->findChildren<QCustomPlot*>()) applyPlotTheme(plot);
    }
  });
}

}  // namespace kd::ui
