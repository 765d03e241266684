#include "distill/method.h"

#include <cctype>

#include "common/error.h"

namespace kd {
namespace {

/// Lower case with '-' read as '_', so "Ours-CE" and "ours_ce" name the same method.
std::string normalized(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    out += c == '-' ? '_' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

}  // namespace

MethodTraits method_traits(Method method) {
  MethodTraits t;
  t.needs_teacher = method != Method::kStudent;
  switch (method) {
    case Method::kStudent:
      break;
    case Method::kKD:
      t.uses_kd = true;
      break;
    case Method::kKDStandardized:
      t.uses_kd = true;
      t.standardize_logits = true;
      break;
    case Method::kFitNets:
      t.uses_kd = true;
      t.feature_pairs = true;
      break;
    case Method::kFitNetsAllPairs:
      t.uses_kd = true;
      t.all_pairs = true;
      break;
    case Method::kSimilarityPreserving:  // the SP Gram loss is its own switch, not a pair loss
      t.uses_kd = true;
      break;
    case Method::kSimKD:
      t.uses_kd = true;
      break;
    case Method::kSemCKD:
      t.uses_kd = true;
      t.all_pairs = true;
      break;
    case Method::kOurs:
      t.feature_pairs = true;
      t.detached_head = true;
      t.ce_on_backbone = false;
      break;
    case Method::kOursCE:
      t.feature_pairs = true;
      break;
    case Method::kOursKD:
      t.feature_pairs = true;
      t.uses_kd = true;
      break;
  }
  return t;
}

std::string method_name(Method method) {
  switch (method) {
    case Method::kStudent:
      return "student";
    case Method::kKD:
      return "kd";
    case Method::kKDStandardized:
      return "kd_std";
    case Method::kFitNets:
      return "fitnets";
    case Method::kFitNetsAllPairs:
      return "fitnets_all";
    case Method::kSimilarityPreserving:
      return "sp";
    case Method::kSimKD:
      return "simkd";
    case Method::kSemCKD:
      return "semckd";
    case Method::kOurs:
      return "ours";
    case Method::kOursCE:
      return "ours_ce";
    case Method::kOursKD:
      return "ours_kd";
  }
  return "unknown";
}

std::string method_title(Method method) {
  switch (method) {
    case Method::kStudent:
      return "Student (cross entropy only)";
    case Method::kKD:
      return "Vanilla KD (Hinton)";
    case Method::kKDStandardized:
      return "KD with logit standardization (Sun et al.)";
    case Method::kFitNets:
      return "FitNets-style features + KD";
    case Method::kFitNetsAllPairs:
      return "FitNets-style features, all layer pairs + KD";
    case Method::kSimilarityPreserving:
      return "Similarity-preserving + KD (Tung & Mori)";
    case Method::kSimKD:
      return "SimKD (reused teacher classifier)";
    case Method::kSemCKD:
      return "SemCKD (attention over layer pairs)";
    case Method::kOurs:
      return "Ours (feature loss only, separate head)";
    case Method::kOursCE:
      return "Ours + CE on the backbone";
    case Method::kOursKD:
      return "Ours + CE + KD on the backbone";
  }
  return "unknown";
}

Method parse_method(const std::string& name) {
  const std::string key = normalized(name);
  for (const Method m : all_methods()) {
    if (method_name(m) == key) return m;
  }
  std::string known;
  for (const Method m : all_methods()) known += (known.empty() ? "" : ", ") + method_name(m);
  throw Error("unknown method '" + name + "' (known: " + known + ")");
}

const std::vector<Method>& all_methods() {
  static const std::vector<Method> methods = {Method::kStudent,
                                              Method::kKD,
                                              Method::kKDStandardized,
                                              Method::kFitNets,
                                              Method::kFitNetsAllPairs,
                                              Method::kSimilarityPreserving,
                                              Method::kSimKD,
                                              Method::kSemCKD,
                                              Method::kOurs,
                                              Method::kOursCE,
                                              Method::kOursKD};
  return methods;
}

}  // namespace kd
