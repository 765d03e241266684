#include "shell/guided_tour.h"

#include <QApplication>
#include <QDir>
#include <QDirIterator>
#include <QTabWidget>
#include <QTimer>
#include <cstdio>

#include "shell/app_theme.h"
#include "pages/data_page.h"
#include "pages/experiments_page.h"
#include "pages/geometry_page.h"
#include "pages/layers_page.h"
#include "shell/main_window.h"
#include "pages/models_page.h"
#include "shell/session.h"
#include "pages/training_page.h"
#include "pages/try_it_page.h"

namespace kd::ui {

namespace {

// How often a step's completion is checked.
constexpr int kPollMs = 200;

}  // namespace

GuidedTour::GuidedTour(MainWindow* window, QString outDir, Options options, QObject* parent)
    : QObject(parent), window_(window), outDir_(std::move(outDir)), options_(options) {
  runs_ = std::make_unique<QTemporaryDir>();
  Session* s = window_->session();
  auto idle = [] { return true; };
  auto show = [this](QWidget* page) { return [this, page] { window_->tabs()->setCurrentWidget(page); }; };

  add("load the default models and data", [] {},
      [this, s] {
        return (s->teacher() && s->student() && s->dataset()) ||
               !window_->dataPage()->lastError().isEmpty();
      },
      300);
  // Without data (e.g. Fashion-MNIST not installed) the tour cannot go on: say why at once.
  steps_.back().failure = [this] { return window_->dataPage()->lastError(); };
  add("models page", show(static_cast<QWidget*>(window_->modelsPage())), idle);
  add("shot", [this] { shot("models"); }, idle);
  add("data page", show(static_cast<QWidget*>(window_->dataPage())), idle);
  add("shot", [this] { shot("data"); }, idle);
  add("analyse the teacher", [this] {
        window_->tabs()->setCurrentWidget(window_->layersPage());
        window_->layersPage()->runAnalysis(options_.analysisPerClass);
      },
      [this, s] { return !window_->layersPage()->isBusy() && s->analysis() != nullptr; }, 600);
  add("take the recommendation and compute CKA", [this] {
        window_->layersPage()->takeRecommendation();
        window_->layersPage()->runCka(30);
      },
      [this] { return !window_->layersPage()->isBusy() && window_->layersPage()->ckaCellCount() > 0; }, 300);
  add("shot", [this] { shot("layers"); }, idle);
  add("project a layer with t-SNE", [this, s] {
        window_->tabs()->setCurrentWidget(window_->geometryPage());
        const int layer = s->teacherLayers().isEmpty() ? 0 : s->teacherLayers().back();
        window_->geometryPage()->project(GeometryPage::Side::kTeacher, layer,
                                         GeometryPage::Projection::kTsne, options_.geometryPerClass);
      },
      [this] { return !window_->geometryPage()->isBusy() && window_->geometryPage()->pointCount() > 0; }, 300);
  add("shot", [this] { shot("geometry"); }, idle);
  add("start a short training", [this] {
        TrainingPage* t = window_->trainingPage();
        window_->tabs()->setCurrentWidget(t);
        t->setRunsRoot(runs_->path());
        ExperimentConfig c = t->currentConfig();
        c.name = "tour";
        c.epochs = options_.epochs;
        c.train_per_class = options_.trainPerClass;
        c.seeds = 1;
        t->applyConfig(c);
        t->start();
      },
      [this] { return window_->trainingPage()->testAccuracyPoints() >= 1; }, 600);
  add("shot", [this] { shot("training-live"); }, idle);
  add("finish training", [] {}, [this] { return !window_->trainingPage()->isRunning(); }, 600);
  add("shot", [this] { shot("training"); }, idle);
  add("student geometry", [this] { window_->trainingPage()->showView(1); }, idle);
  add("shot", [this] { shot("training-geometry"); }, idle);
  add("back to the curves", [this] { window_->trainingPage()->showView(0); }, idle);
  add("analyse the trained student beside the teacher", [this] {
        window_->tabs()->setCurrentWidget(window_->layersPage());
        window_->layersPage()->showPlot(1);
        // The student the tour's training has just written (seed-0/student.kdmodel).
        QDirIterator it(runs_->path(), {QStringLiteral("student.kdmodel")}, QDir::Files,
                        QDirIterator::Subdirectories);
        window_->layersPage()->analyseStudent(it.hasNext() ? it.next() : QString());
      },
      [this] { return !window_->layersPage()->isBusy() && window_->layersPage()->studentLayerCount() > 0; }, 300);
  add("shot", [this] { shot("layers-student-depth"); }, idle);
  add("back to the teacher's curves", [this] { window_->layersPage()->showPlot(0); }, idle);
  add("experiments page", [this] {
        window_->tabs()->setCurrentWidget(window_->experimentsPage());
        window_->experimentsPage()->setRunsRoot(runs_->path());
      },
      [this] { return window_->experimentsPage()->runCount() > 0; }, 60);
  add("overlay the run", [this] { window_->experimentsPage()->selectRows({0}); },
      [this] { return window_->experimentsPage()->overlayCurveCount() > 0; }, 60);
  add("shot", [this] { shot("experiments"); }, idle);
  add("the run's student geometry", [this] { window_->experimentsPage()->showRunView(1); }, idle);
  add("shot", [this] { shot("experiments-geometry"); }, idle);
  add("back to the overlay", [this] { window_->experimentsPage()->showRunView(0); }, idle);
  add("try the trained student against the teacher",
      [this] {
        window_->tabs()->setCurrentWidget(window_->tryItPage());
        window_->tryItPage()->pickTestImages(8, 7);
      },
      [this] {
        TryItPage* page = window_->tryItPage();
        return !page->isBusy() && page->rowCount() > 0 &&
               (!page->teacherTop(0).isEmpty() || !page->lastError().isEmpty());
      },
      60);
  add("shot", [this] { shot("try-it"); }, idle);
  add("dark scheme", [this] {
        applyTheme(QStringLiteral("dark"));
        window_->tabs()->setCurrentWidget(window_->layersPage());
      }, idle);
  add("shot", [this] { shot("layers-dark"); }, idle);
  add("dark training page", [this] { window_->tabs()->setCurrentWidget(window_->trainingPage()); }, idle);
  add("shot", [this] { shot("training-dark"); }, idle);
  add("dark geometry page", [this] { window_->tabs()->setCurrentWidget(window_->geometryPage()); }, idle);
  add("shot", [this] { shot("geometry-dark"); }, idle);
  add("dark data page", [this] { window_->tabs()->setCurrentWidget(window_->dataPage()); }, idle);
  add("shot", [this] { shot("data-dark"); }, idle);
}

GuidedTour::~GuidedTour() = default;

void GuidedTour::add(QString what, std::function<void()> action, std::function<bool()> done,
                     int timeoutSeconds) {
  steps_.push_back({std::move(what), std::move(action), std::move(done), timeoutSeconds, {}});
}

void GuidedTour::start() {
  QDir().mkpath(outDir_);
  current_ = 0;
  QTimer::singleShot(0, this, &GuidedTour::next);
}

void GuidedTour::next() {
  if (current_ >= steps_.size()) {
    std::printf("tour: done, screenshots in %s\n", qPrintable(outDir_));
    emit finished(0);
    return;
  }
  const Step& step = steps_[current_];
  if (step.what != "shot") std::printf("tour: %s\n", qPrintable(step.what));
  std::fflush(stdout);
  step.action();
  stepClock_.start();
  QTimer::singleShot(kPollMs, this, &GuidedTour::poll);
}

void GuidedTour::poll() {
  const Step& step = steps_[current_];
  if (step.done()) {
    const QString failure = step.failure ? step.failure() : QString();
    if (!failure.isEmpty()) {
      std::fprintf(stderr, "tour: step \"%s\" failed: %s\n", qPrintable(step.what), qPrintable(failure));
      shot("failed");
      emit finished(1);
      return;
    }
    ++current_;
    // Let queued replots and layouts settle before the next step (and its screenshot).
    QTimer::singleShot(400, this, &GuidedTour::next);
    return;
  }
  if (stepClock_.elapsed() > step.timeoutSeconds * 1000LL) {
    std::fprintf(stderr, "tour: step \"%s\" did not finish within %d s\n", qPrintable(step.what),
                 step.timeoutSeconds);
    shot("failed");
    emit finished(1);
    return;
  }
  QTimer::singleShot(kPollMs, this, &GuidedTour::poll);
}

void GuidedTour::shot(const QString& name) {
  const QString path = QDir(outDir_).filePath(options_.prefix + name + ".png");
  if (!window_->grab().save(path)) std::fprintf(stderr, "tour: could not write %s\n", qPrintable(path));
  else std::printf("tour: saved %s\n", qPrintable(path));
}

}  // namespace kd::ui
