#include "pages/run_details.h"

#include <QApplication>
#include <QCoreApplication>
#include <QStringList>

#include "shell/app_theme.h"
#include "distill/method.h"
#include "table_models/run_table_model.h"

namespace kd::ui {

namespace {

QString tr(const char* text) { return QCoreApplication::translate("kd::ui::RunDetails", text); }

/// Escaped text that may break after '/', ',' and ':' (long paths and model specs would
/// otherwise widen the panel).
QString breakable(const std::string& text) {
  QString out;
  for (const QChar ch : QString::fromStdString(text).toHtmlEscaped()) {
    out += ch;
    if (ch == QLatin1Char('/') || ch == QLatin1Char(',') || ch == QLatin1Char(':'))
      out += QChar(0x200b);
  }
  return out;
}

QString row(const QString& key, const QString& value) {
  return QStringLiteral("<tr><td style='padding-right:8px'><i>%1</i></td><td>%2</td></tr>")
      .arg(key, value);
}

QString settingsTable(const RunSummary& r) {
  QString rows;
  const ExperimentConfig* c = r.config ? &*r.config : nullptr;
  rows += row(tr("Method"), c ? QString::fromStdString(method_title(c->method)).toHtmlEscaped()
                              : QString::fromStdString(r.method).toHtmlEscaped());
  rows += row(tr("Models"), (r.teacher.empty() ? tr("(no teacher)") : breakable(r.teacher)) +
                                QStringLiteral(" \u2192 ") + breakable(r.student));
  if (!r.teacher_layers.empty() || !r.student_layers.empty()) {
    rows += row(tr("Layers"), layerListText(r.teacher_layers) + QStringLiteral(" \u2192 ") +
                                  layerListText(r.student_layers));
  }
  QString data = breakable(r.dataset);
  if (c && c->train_per_class > 0)
    data += tr(", %1 training images per class").arg(c->train_per_class);
  if (c && c->test_per_class > 0) data += tr(", %1 test images per class").arg(c->test_per_class);
  if (c && c->augment) data += tr(", augmented");
  rows += row(tr("Data"), data);
  if (c) {
    QString opt = QString::fromStdString(c->optimizer);
    if (c->lr) opt += tr(", lr %1").arg(*c->lr, 0, 'g', 6);
    if (c->weight_decay) opt += tr(", weight decay %1").arg(*c->weight_decay, 0, 'g', 6);
    opt += QStringLiteral(", ") + QString::fromStdString(c->schedule);
    rows += row(tr("Optimizer"), opt.toHtmlEscaped());
    rows += row(tr("Epochs"), tr("%1, batch %2").arg(c->epochs).arg(c->batch_size));
    rows += row(tr("Seeds"),
                c->seeds > 1
                    ? tr("%1 (%2\u2013%3)").arg(c->seeds).arg(c->seed).arg(c->seed + c->seeds - 1)
                    : tr("1 (%1)").arg(c->seed));
  }
  if (!r.device.empty())
    rows += row(tr("Device"), QString::fromStdString(r.device).toHtmlEscaped());
  return QStringLiteral("<table cellspacing='0' cellpadding='1'>%1</table>").arg(rows);
}

QString resultText(const RunSummary& r) {
  if (!r.result || r.result->seeds.empty()) return tr("No seed has finished yet.");
  const int n = static_cast<int>(r.result->seeds.size());
  const QString best = accuracyText(r.best_mean, r.best_std, n);
  const QString last = accuracyText(r.last_mean, r.last_std, n);
  QString text =
      n == 1 ? tr("<b>Best</b> %1 %, <b>last</b> %2 % (one seed)").arg(best).arg(last)
             : tr("<b>Best</b> %1 %, <b>last</b> %2 % over %3 seeds").arg(best).arg(last).arg(n);
  for (const SeedResult& s : r.result->seeds) {
    text += tr("<br>seed %1: best %2 % (epoch %3), last %4 %, %5 s")
                .arg(s.seed)
                .arg(s.best_test_acc, 0, 'f', 2)
                .arg(s.best_epoch + 1)
                .arg(s.last_test_acc, 0, 'f', 2)
                .arg(s.seconds, 0, 'f', 0);
  }
  if (r.teacher_test_acc) text += tr("<br>teacher: %1 %").arg(*r.teacher_test_acc, 0, 'f', 2);
  return text;
}

}  // namespace

QString runDetailsHtml(const RunSummary& r) {
  const QString statusColor = r.damaged() ? errorColor(QApplication::palette()).name() : QStringLiteral("gray");
  QString html = QStringLiteral("<b>%1</b><br><span style='color:%2'>%3</span>")
                     .arg(QString::fromStdString(r.name).toHtmlEscaped(), statusColor,
                          QString::fromStdString(r.status).toHtmlEscaped());
  html += QStringLiteral("<p>%1</p>").arg(settingsTable(r));
  html += QStringLiteral("<p>%1</p>").arg(resultText(r));
  html += QStringLiteral("<p style='color:gray'>%1</p>").arg(breakable(r.run_dir));
  return html;
}

}  // namespace kd::ui
