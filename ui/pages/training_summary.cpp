#include "pages/training_summary.h"

#include <QFileInfo>
#include <QObject>
#include <QStringList>
#include <cmath>

#include "analysis/knowledge_quality.h"
#include "analysis/layer_analyzer.h"
#include "shell/session.h"

namespace kd::ui {

namespace {

QString layerText(const QVector<int>& layers) {
  QStringList parts;
  for (int l : layers) parts << QString::number(l);
  return QStringLiteral("[%1]").arg(parts.join(QStringLiteral(", ")));
}

/// A model spec for people: the file name of a model file, the spec otherwise.
QString modelText(const QString& spec) {
  if (spec.isEmpty()) return QObject::tr("<i>none loaded</i>");
  const QFileInfo file(spec);
  return (file.isFile() ? file.fileName() : spec).toHtmlEscaped();
}

QString countText(int64_t n) { return n > 0 ? QString::number(n) : QObject::tr("all"); }

}  // namespace

QString formatDuration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return QStringLiteral("?");
  const long s = std::lround(seconds);
  const QLatin1Char zero('0');
  if (s >= 3600) {
    return QStringLiteral("%1:%2:%3")
        .arg(s / 3600)
        .arg((s / 60) % 60, 2, 10, zero)
        .arg(s % 60, 2, 10, zero);
  }
  return QStringLiteral("%1:%2").arg(s / 60).arg(s % 60, 2, 10, zero);
}

QString accuracyText(double mean, double std, int seeds) {
  return seeds > 1 ? QStringLiteral("%1 ± %2 %").arg(mean, 0, 'f', 2).arg(std, 0, 'f', 2)
                   : QStringLiteral("%1 %").arg(mean, 0, 'f', 2);
}

std::vector<int> qualityLayersFromAnalysis(const ExperimentConfig& c, const Session& s) {
  const bool byQ =
      c.method == Method::kOurs || c.method == Method::kOursCE || c.method == Method::kOursKD;
  const auto analysis = s.analysis();
  if (!byQ || !analysis || analysis->layers.empty() || c.num_layers < 1 ||
      c.num_layers > static_cast<int>(analysis->layers.size())) {
    return {};
  }
  std::vector<QualityScores> scores;
  for (const auto& layer : analysis->layers) scores.push_back(layer.scores);
  return select_layers(scores, c.num_layers, SelectionCriterion::kQuality);
}

bool methodUsesLayers(Method m) {
  const MethodTraits t = method_traits(m);
  return t.feature_pairs || t.all_pairs || m == Method::kSimilarityPreserving ||
         m == Method::kSimKD;
}

QString describeExperiment(const ExperimentConfig& c, const Session& s, bool teacherMode) {
  const QString data =
      QObject::tr("Data: %1 · %2 / %3 train / test images per class%4 · %5 × %6")
          .arg(QString::fromStdString(c.dataset).toHtmlEscaped(), countText(c.train_per_class),
               countText(c.test_per_class), c.augment ? QObject::tr(", augmented") : QString(),
               c.epochs == 1 ? QObject::tr("1 epoch") : QObject::tr("%1 epochs").arg(c.epochs),
               c.seeds == 1 ? QObject::tr("1 seed") : QObject::tr("%1 seeds").arg(c.seeds));
  if (teacherMode) {
    return QObject::tr("<b>Teacher</b> %1 trained alone with cross entropy<br>%2")
        .arg(modelText(s.teacherSpec()), data);
  }
  QString text = QStringLiteral("<b>%1</b><br>")
                     .arg(QString::fromStdString(method_title(c.method)).toHtmlEscaped());
  text += method_traits(c.method).needs_teacher
              ? QObject::tr("%1 → %2").arg(modelText(s.teacherSpec()), modelText(s.studentSpec()))
              : QObject::tr("Student %1 alone").arg(modelText(s.studentSpec()));
  if (methodUsesLayers(c.method)) {
    const bool byQ =
        c.method == Method::kOurs || c.method == Method::kOursCE || c.method == Method::kOursKD;
    QString teacher;
    if (!s.teacherLayers().isEmpty()) {
      teacher = layerText(s.teacherLayers());
    } else if (c.teacher_layers && c.teacher_layers->kind == LayerChoice::Kind::kExplicit) {
      const auto& l = c.teacher_layers->indices;
      teacher = QObject::tr("%1 (top %2 by Q in the Layers page's analysis)")
                    .arg(layerText(QVector<int>(l.begin(), l.end())))
                    .arg(c.num_layers);
    } else {
      teacher = byQ ? QObject::tr("top %1 by Q").arg(c.num_layers) : QObject::tr("standard");
    }
    const QString student =
        c.student_layers ? layerText(s.studentLayers()) : QObject::tr("standard");
    text += QObject::tr(" · layers: teacher %1 → student %2").arg(teacher, student);
  }
  return text + QStringLiteral("<br>") + data;
}

}  // namespace kd::ui
