#include "inspect_command.h"

#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>

#include "models/model_loader.h"
#include "text_table.h"

namespace kd::cli {

namespace {

struct InspectOptions {
  std::string model;
  std::string input;
  bool json = false;
};

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string t;
  for (size_t i = 0; i < shape.size(); ++i) t += (i ? "x" : "") + std::to_string(shape[i]);
  return t;
}

void print_json(const LoadedModel& loaded) {
  LayeredModel& m = *loaded.model;
  const InputShape in = m.input_shape();
  nlohmann::json j;
  j["model"] = loaded.source;
  j["architecture"] = m.architecture();
  j["origin"] = origin_name(loaded.origin);
  j["input_shape"] = {in.channels, in.height, in.width};
  j["num_classes"] = m.num_classes();
  j["parameters"] = m.parameter_count();
  j["head_start"] = m.head_start();
  if (!loaded.note.empty()) j["note"] = loaded.note;
  if (!loaded.metadata.empty()) j["metadata"] = loaded.metadata;
  j["layers"] = nlohmann::json::array();
  for (const auto& l : m.layers()) {
    j["layers"].push_back({{"index", l.index},
                           {"name", l.name},
                           {"kind", l.kind},
                           {"shape", l.shape},
                           {"params", l.params},
                           {"in_head", l.in_head}});
  }
  std::cout << j.dump(2) << '\n';
}

void print_table(const LoadedModel& loaded) {
  LayeredModel& m = *loaded.model;
  const InputShape in = m.input_shape();
  std::cout << "Model:      " << m.architecture() << " (" << origin_name(loaded.origin) << ")\n"
            << "Input:      " << in.channels << "x" << in.height << "x" << in.width << "\n"
            << "Classes:    " << m.num_classes() << "\n"
            << "Parameters: " << group_digits(m.parameter_count()) << "\n"
            << "Generalized layers: " << m.num_layers() << "\n";
  for (const auto& [k, v] : loaded.metadata) {
    if (k != "format" && k != "format_version") std::cout << "  " << k << ": " << v << "\n";
  }
  if (!loaded.note.empty()) std::cout << "Note: " << loaded.note << "\n";
  std::cout << "\n";
  if (m.num_layers() == 0) {
    std::cout << "(no generalized layers: only the logits of this model can be used)\n";
    return;
  }
  TextTable table({">#", "name", "kind", "output shape", ">params", "part"});
  for (const auto& l : m.layers()) {
    table.add_row({std::to_string(l.index), l.name, l.kind, shape_text(l.shape),
                   group_digits(l.params), l.in_head ? "head" : "backbone"});
  }
  table.print(std::cout);
  std::cout << "\nThe head is "
            << (m.head_start() < m.num_layers()
                    ? "layers " + std::to_string(m.head_start()) + ".." +
                          std::to_string(m.num_layers() - 1) + " and the classifier"
                    : std::string("the classifier after the last layer"))
            << ".\n";
}

}  // namespace

void add_inspect_command(CLI::App& app, int& exit_code) {
  auto opts = std::make_shared<InspectOptions>();
  CLI::App* cmd = app.add_subcommand("inspect", "Print a model's generalized layers");
  cmd->add_option("--model,-m", opts->model,
                  "zoo spec (e.g. resnet9:channels=1,size=28,width=0.25) or a .pt/.kdmodel file")
      ->required();
  cmd->add_option("--input", opts->input,
                  "input shape CxHxW for a TorchScript file that does not record it");
  cmd->add_flag("--json", opts->json, "print one JSON object instead of a table");
  cmd->footer(
      "Examples:\n"
      "  kdstudio-cli inspect --model resnet34\n"
      "  kdstudio-cli inspect --model vgg11_bn:channels=1,size=28,width=0.25 --json\n"
      "  kdstudio-cli inspect --model my_net.pt --input 3x32x32");
  cmd->callback([opts, &exit_code]() {
    std::optional<InputShape> input;
    if (!opts->input.empty()) input = parse_input_shape(opts->input);
    const LoadedModel loaded = load_model(opts->model, input);
    if (opts->json) {
      print_json(loaded);
    } else {
      print_table(loaded);
    }
    exit_code = 0;
  });
}

}  // namespace kd::cli
