// Geometry tracking logs (core/tracking/geometry_log.h): parse, write back what was read and
// parse again (the round trip must not fail and must keep every snapshot).
#include <cstdlib>
#include <string>

#include "common/error.h"
#include "tracking/geometry_log.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  kd::GeometryLog log;
  try {
    log = kd::parse_geometry_log(text, "fuzz.jsonl");
  } catch (const kd::Error&) {
    return 0;
  }
  std::string again = kd::probe_record(log.probe) + "\n";
  for (const kd::GeometrySnapshot& s : log.snapshots) again += kd::snapshot_record(s) + "\n";
  try {
    if (kd::parse_geometry_log(again, "round-trip.jsonl").snapshots.size() != log.snapshots.size()) std::abort();
  } catch (const kd::Error&) {
    std::abort();
  }
  return 0;
}
