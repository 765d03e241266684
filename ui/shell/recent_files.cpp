#include "shell/recent_files.h"

#include <QDir>
#include <QFileInfo>
#include <QMenu>
#include <QSettings>

namespace kd::ui {

RecentFiles::RecentFiles(const QString& key, QMenu* menu, QObject* parent)
    : QObject(parent), key_(key), menu_(menu) {
  rebuildMenu();
}

QStringList RecentFiles::files() const { return QSettings().value(key_).toStringList(); }

void RecentFiles::add(const QString& path) {
  const QString full = QFileInfo(path).absoluteFilePath();
  QStringList list = files();
  list.removeAll(full);
  list.prepend(full);
  while (list.size() > kMax) list.removeLast();
  QSettings().setValue(key_, list);
  rebuildMenu();
}

void RecentFiles::remove(const QString& path) {
  QStringList list = files();
  list.removeAll(QFileInfo(path).absoluteFilePath());
  QSettings().setValue(key_, list);
  rebuildMenu();
}

void RecentFiles::rebuildMenu() {
  menu_->clear();
  const QStringList list = files();
  for (int i = 0; i < list.size(); ++i) {
    const QString& path = list[i];
    QAction* a = menu_->addAction(QStringLiteral("&%1 %2").arg(i + 1).arg(QFileInfo(path).fileName()));
    a->setToolTip(QDir::toNativeSeparators(path));
    a->setStatusTip(QDir::toNativeSeparators(path));
    connect(a, &QAction::triggered, this, [this, path] { emit fileChosen(path); });
  }
  if (list.isEmpty()) menu_->addAction(tr("(none yet)"))->setEnabled(false);
  menu_->addSeparator();
  QAction* clear = menu_->addAction(tr("Clear list"));
  clear->setEnabled(!list.isEmpty());
  connect(clear, &QAction::triggered, this, [this] {
    QSettings().remove(key_);
    rebuildMenu();
  });
}

}  // namespace kd::ui
