#pragma once
// The distillation methods of method.md sections 4 and 5, as switches of one training loop.
#include <string>
#include <vector>

namespace kd {

/// A training method. Every method trains the same student in the same loop; they differ only
/// in which losses reach which parameters.
enum class Method {
  kStudent,               ///< "student": cross entropy alone, no teacher
  kKD,                    ///< "kd": CE + T^2 KL (Hinton)
  kKDStandardized,        ///< "kd_std": as kd with per-sample standardized logits (Sun et al.)
  kFitNets,               ///< "fitnets": CE + KD + 1x1-projector feature losses, one-to-one
  kFitNetsAllPairs,       ///< "fitnets_all": same, every student layer against every teacher layer
  kSimilarityPreserving,  ///< "sp": CE + KD + similarity-preserving Gram loss
  kSimKD,                 ///< "simkd": projector + trainable copy of the teacher's tail, CE + KD
  kSemCKD,                ///< "semckd": CE + KD + attention-weighted all-pairs feature losses
  kOurs,                  ///< "ours": feature loss only on the backbone, CE on the detached head
  kOursCE,                ///< "ours_ce": ours with CE also reaching the backbone
  kOursKD,                ///< "ours_kd": ours with CE and KD also reaching the backbone
};

/// What a method needs and which losses it uses.
struct MethodTraits {
  bool needs_teacher = false;     ///< uses a teacher at all
  bool uses_kd = false;           ///< KL on logits (needs teacher logits)
  bool standardize_logits = false;
  bool feature_pairs = false;     ///< one-to-one feature losses through projectors
  bool all_pairs = false;         ///< feature losses over every (student, teacher) layer pair
  bool detached_head = false;     ///< CE trains only the head, on the detached deepest feature
  bool ce_on_backbone = true;     ///< CE gradients reach the backbone
};

/// The traits of `method`.
MethodTraits method_traits(Method method);

/// The config name: "student", "kd", "kd_std", "fitnets", "fitnets_all", "sp", "simkd",
/// "semckd", "ours", "ours_ce", "ours_kd".
std::string method_name(Method method);

/// A human title, e.g. "Ours (feature loss only, separate head)".
std::string method_title(Method method);

/// Parses a config name (case-insensitive, '-' and '_' alike); throws kd::Error listing the
/// known names otherwise.
Method parse_method(const std::string& name);

/// Every method, in the order of method.md's table.
const std::vector<Method>& all_methods();

}  // namespace kd
