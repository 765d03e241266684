#pragma once
#include <QMainWindow>

class QLabel;
class QTabWidget;

namespace kd::ui {

class DataPage;
class ModelsPage;

/// The main window: assembles the pages, the menus, the status bar and the About box.
class MainWindow : public QMainWindow {
  Q_OBJECT

 public:
  explicit MainWindow(QWidget* parent = nullptr);

  /// Loads the embedded default: Fashion-MNIST and the default teacher and student.
  void loadDefaults();
  ModelsPage* modelsPage() const { return models_; }
  DataPage* dataPage() const { return data_; }

  /// The default teacher and student specs (Fashion-MNIST size).
  static QString defaultTeacher();
  static QString defaultStudent();

 protected:
  void closeEvent(QCloseEvent* event) override;

 private:
  void buildMenus();
  void showAbout();

  QTabWidget* tabs_ = nullptr;
  ModelsPage* models_ = nullptr;
  DataPage* data_ = nullptr;
  QLabel* device_ = nullptr;
};

}  // namespace kd::ui
