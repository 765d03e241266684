// The plot theme follows the palette: applyPlotTheme installs one follower per plot, and a
// palette change (the light/dark switch) re-colours the axes with the new palette's text colour.
#include <QtTest/QtTest>
#include <qcustomplot.h>

#include "plots/plot_style.h"

class TestPlotStyle : public QObject {
  Q_OBJECT

 private slots:
  void themeFollowsThePalette() {
    QCustomPlot plot;  // has QObject children of its own (layers, layout)
    QVERIFY(!plot.children().isEmpty());
    QPalette light = plot.palette();
    light.setColor(QPalette::Text, QColor(0x10, 0x20, 0x30));
    light.setColor(QPalette::Base, QColor(0xfa, 0xfa, 0xfa));
    plot.setPalette(light);
    kd::ui::applyPlotTheme(&plot);
    QCOMPARE(plot.xAxis->tickLabelColor(), QColor(0x10, 0x20, 0x30));
    kd::ui::applyPlotTheme(&plot);  // again: still one follower
    QCOMPARE(plot.findChildren<QObject*>("kd_palette_follower", Qt::FindDirectChildrenOnly).size(), 1);

    QPalette dark = light;
    dark.setColor(QPalette::Text, QColor(0xe0, 0xe0, 0xd0));
    dark.setColor(QPalette::Base, QColor(0x20, 0x20, 0x20));
    plot.setPalette(dark);  // sends QEvent::PaletteChange to the plot
    QCOMPARE(plot.xAxis->tickLabelColor(), QColor(0xe0, 0xe0, 0xd0));
    QCOMPARE(plot.yAxis->labelColor(), QColor(0xe0, 0xe0, 0xd0));
  }
};

QTEST_MAIN(TestPlotStyle)
#include "test_plot_style.moc"
