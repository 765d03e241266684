#include "tracking/geometry_log.h"

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/error.h"
#include "io/text_file.h"

namespace kd {

namespace {

using json = nlohmann::json;

// Non-finite values (a diverging student) are written as null and read back as NaN.
double number_of(const json& j) {
  return j.is_null() ? std::numeric_limits<double>::quiet_NaN() : j.get<double>();
}

json finite_or_null(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

json scores_json(const QualityScores& q) {
  return json{{"S", finite_or_null(q.separation)}, {"I", finite_or_null(q.information)},
              {"E", finite_or_null(q.efficiency)}, {"Q", finite_or_null(q.quality)}};
}

QualityScores scores_from(const json& j) {
  QualityScores q;
  q.separation = number_of(j.at("S"));
  q.information = number_of(j.at("I"));
  q.efficiency = number_of(j.at("E"));
  q.quality = number_of(j.at("Q"));
  return q;
}

// Coordinates: a non-finite one (a diverging student) is null in the file and NaN when read.
json floats_json(const std::vector<float>& v) {
  json out = json::array();
  for (float x : v) out.push_back(std::isfinite(x) ? json(x) : json(nullptr));
  return out;
}

std::vector<float> floats_from(const json& j) {
  if (!j.is_array()) throw Error("coordinates must be a list of numbers");
  std::vector<float> out;
  out.reserve(j.size());
  for (const json& x : j) {
    out.push_back(x.is_null() ? std::numeric_limits<float>::quiet_NaN() : static_cast<float>(x.get<double>()));
  }
  return out;
}

GeometryProbe probe_from(const json& j) {
  GeometryProbe p;
  p.num_classes = j.at("num_classes").get<int64_t>();
  p.n_train = j.at("n_train").get<int64_t>();
  p.labels = j.at("labels").get<std::vector<int64_t>>();
  p.class_names = j.value("class_names", std::vector<std::string>{});
  p.teacher_layers = j.at("teacher_layers").get<std::vector<std::string>>();
  for (const json& e : j.at("pairs")) {
    ProbePair pair;
    pair.teacher_layer = e.at("teacher_layer").get<int>();
    pair.student_layer = e.at("student_layer").get<int>();
    pair.teacher_name = e.at("teacher_name").get<std::string>();
    pair.student_name = e.at("student_name").get<std::string>();
    pair.teacher = scores_from(e.at("teacher"));
    pair.teacher_coords = floats_from(e.at("teacher_coords"));
    p.pairs.push_back(std::move(pair));
  }
  return p;
}

GeometrySnapshot snapshot_from(const json& j) {
  GeometrySnapshot s;
  s.epoch = j.at("epoch").get<int>();
  s.step = j.at("step").get<int64_t>();
  s.epochs_done = number_of(j.at("epochs_done"));
  s.partial = j.at("partial").get<bool>();
  s.seconds = number_of(j.at("seconds"));
  for (const json& e : j.at("pairs")) {
    PairSnapshot p;
    p.student = scores_from(e.at("student"));
    p.cka = number_of(e.at("cka"));
    for (const json& v : e.at("cka_all")) p.cka_all.push_back(number_of(v));
    p.ncc = number_of(e.at("ncc"));
    p.feature_loss = number_of(e.at("feature_loss"));
    p.coords = floats_from(e.at("coords"));
    s.pairs.push_back(std::move(p));
  }
  return s;
}

// A snapshot that does not fit its probe would draw wrong pictures: say what is off.
std::string misfit(const GeometryProbe& probe, const GeometrySnapshot& s) {
  if (s.pairs.size() != probe.pairs.size()) {
    return "it has " + std::to_string(s.pairs.size()) + " pairs, the probe " +
           std::to_string(probe.pairs.size());
  }
  const size_t points = 2 * probe.labels.size();
  for (size_t i = 0; i < s.pairs.size(); ++i) {
    if (s.pairs[i].coords.size() != points) {
      return "pair " + std::to_string(i) + " has " + std::to_string(s.pairs[i].coords.size()) +
             " coordinates, the probe's " + std::to_string(probe.labels.size()) + " samples need " +
             std::to_string(points);
    }
    if (s.pairs[i].cka_all.size() != probe.teacher_layers.size()) {
      return "pair " + std::to_string(i) + " has CKA to " +
             std::to_string(s.pairs[i].cka_all.size()) + " teacher layers, the teacher has " +
             std::to_string(probe.teacher_layers.size());
    }
  }
  return {};
}

}  // namespace

std::string probe_record(const GeometryProbe& probe) {
  json pairs = json::array();
  for (const ProbePair& p : probe.pairs) {
    pairs.push_back(json{{"teacher_layer", p.teacher_layer},
                         {"student_layer", p.student_layer},
                         {"teacher_name", p.teacher_name},
                         {"student_name", p.student_name},
                         {"teacher", scores_json(p.teacher)},
                         {"teacher_coords", floats_json(p.teacher_coords)}});
  }
  return json{{"kind", "probe"},
              {"num_classes", probe.num_classes},
              {"n_train", probe.n_train},
              {"labels", probe.labels},
              {"class_names", probe.class_names},
              {"teacher_layers", probe.teacher_layers},
              {"pairs", pairs}}
      .dump();
}

std::string snapshot_record(const GeometrySnapshot& s) {
  json pairs = json::array();
  for (const PairSnapshot& p : s.pairs) {
    json cka_all = json::array();
    for (double v : p.cka_all) cka_all.push_back(finite_or_null(v));
    pairs.push_back(json{{"student", scores_json(p.student)},
                         {"cka", finite_or_null(p.cka)},
                         {"cka_all", cka_all},
                         {"ncc", finite_or_null(p.ncc)},
                         {"feature_loss", finite_or_null(p.feature_loss)},
                         {"coords", floats_json(p.coords)}});
  }
  return json{{"kind", "snapshot"}, {"epoch", s.epoch},     {"step", s.step}, {"epochs_done", finite_or_null(s.epochs_done)},
              {"partial", s.partial}, {"seconds", finite_or_null(s.seconds)}, {"pairs", pairs}}
      .dump();
}

GeometryLog parse_geometry_log(const std::string& text, const std::string& origin) {
  GeometryLog log;
  bool have_probe = false;
  std::istringstream in(text);
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty()) continue;
    const bool last = in.peek() == std::char_traits<char>::eof();
    json j;
    try {
      j = json::parse(line);
    } catch (const json::exception& e) {
      if (last && have_probe) break;  // torn by a killed run
      throw Error(origin + ", line " + std::to_string(number) + ": not JSON (" + e.what() + ")");
    }
    try {
      const std::string kind = j.at("kind").get<std::string>();
      if (kind == "probe") {
        if (have_probe) throw Error("a second probe line");
        log.probe = probe_from(j);
        if (log.probe.num_classes < 1) throw Error("num_classes must be at least 1");
        for (int64_t label : log.probe.labels) {
          if (label < 0 || label >= log.probe.num_classes) {
            throw Error("label " + std::to_string(label) + " is out of range for " +
                        std::to_string(log.probe.num_classes) + " classes");
          }
        }
        for (const ProbePair& p : log.probe.pairs) {
          if (p.teacher_coords.size() != 2 * log.probe.labels.size()) {
            throw Error("teacher coordinates of " + p.teacher_name + " do not match the " +
                        std::to_string(log.probe.labels.size()) + " probe samples");
          }
        }
        have_probe = true;
      } else if (kind == "snapshot") {
        if (!have_probe) throw Error("a snapshot before the probe line");
        GeometrySnapshot s = snapshot_from(j);
        const std::string why = misfit(log.probe, s);
        if (!why.empty()) throw Error("the snapshot does not fit the probe: " + why);
        log.snapshots.push_back(std::move(s));
      } else {
        throw Error("unknown kind '" + kind + "'");
      }
    } catch (const json::exception& e) {
      throw Error(origin + ", line " + std::to_string(number) + ": " + e.what());
    } catch (const Error& e) {
      throw Error(origin + ", line " + std::to_string(number) + ": " + e.what());
    }
  }
  if (!have_probe) throw Error(origin + ": no probe line (not a geometry log?)");
  return log;
}

GeometryLog read_geometry_log(const std::string& path) {
  return parse_geometry_log(read_text_file(path), path);
}

}  // namespace kd
