#pragma once
#include <QObject>
#include <QStringList>

class QMenu;

namespace kd::ui {

/// The "Recent experiments" list: kept in QSettings under `key`, newest first, at most kMax,
/// shown in a menu whose entries emit fileChosen().
class RecentFiles : public QObject {
  Q_OBJECT

 public:
  /// Entries kept.
  static constexpr int kMax = 8;

  RecentFiles(const QString& key, QMenu* menu, QObject* parent = nullptr);
  /// Puts `path` first (removing an older entry of it) and saves the list.
  void add(const QString& path);
  /// Removes `path` (e.g. a file that no longer opens).
  void remove(const QString& path);
  QStringList files() const;

 signals:
  void fileChosen(const QString& path);

 private:
  void rebuildMenu();
  QString key_;
  QMenu* menu_;
};

}  // namespace kd::ui
