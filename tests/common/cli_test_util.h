#pragma once
// Helpers shared by the tests that run kdstudio-cli as a process and read what it wrote.
#include <QByteArray>
#include <QFile>
#include <QJsonDocument>
#include <QJsonObject>
#include <QString>

namespace kdtest {

/// One finished invocation: exit code (-1 when it did not finish in time), stdout, stderr.
struct Run {
  int code = -1;
  QString out, err;
};

/// A file's bytes, or empty when it cannot be read.
inline QByteArray readAll(const QString& path) {
  QFile f(path);
  return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

/// A JSON file's object (empty when missing or not an object).
inline QJsonObject readJson(const QString& path) {
  return QJsonDocument::fromJson(readAll(path)).object();
}

}  // namespace kdtest
