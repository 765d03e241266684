#include "data_command.h"

#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "data/data_spec.h"
#include "data/transforms.h"
#include "text_table.h"

namespace kd::cli {

namespace {

struct DataOptions {
  std::string data;
  bool json = false;
};

std::string fixed(double v, int digits) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(digits) << v;
  return s.str();
}

}  // namespace

void add_data_command(CLI::App& app, int& exit_code) {
  auto opts = std::make_shared<DataOptions>();
  CLI::App* cmd = app.add_subcommand("data", "Describe a dataset: splits, classes, statistics");
  cmd->add_option("--data,-d", opts->data, "dataset spec (see below)")->default_val("fashion-mnist");
  cmd->add_flag("--json", opts->json, "print one JSON object");
  cmd->footer(data_spec_help() +
              "\nExamples:\n"
              "  kdstudio-cli data\n"
              "  kdstudio-cli data --data cifar10:~/data/cifar-10-batches-bin --json\n"
              "  kdstudio-cli data --data 'folder:/data/flowers?size=64'");
  cmd->callback([opts, &exit_code]() {
    const Dataset ds = load_dataset(opts->data);
    const ChannelStats stats = compute_channel_stats(ds.train);
    std::vector<int64_t> train_counts(ds.num_classes(), 0), test_counts(ds.num_classes(), 0);
    const auto tr = ds.train.labels.accessor<int64_t, 1>();
    for (int64_t i = 0; i < tr.size(0); ++i) ++train_counts[tr[i]];
    const auto te = ds.test.labels.accessor<int64_t, 1>();
    for (int64_t i = 0; i < te.size(0); ++i) ++test_counts[te[i]];
    if (opts->json) {
      nlohmann::json j = {{"name", ds.name},
                          {"source", ds.source},
                          {"classes", ds.class_names},
                          {"train_size", ds.train.size()},
                          {"test_size", ds.test.size()},
                          {"shape", {ds.channels(), ds.height(), ds.width()}},
                          {"mean", stats.mean},
                          {"std", stats.std},
                          {"train_per_class", train_counts},
                          {"test_per_class", test_counts}};
      std::cout << j.dump(2) << '\n';
    } else {
      std::cout << "Dataset: " << ds.name << " (" << ds.source << ")\n"
                << "Images:  " << ds.channels() << "x" << ds.height() << "x" << ds.width()
                << ", train " << ds.train.size() << ", test " << ds.test.size() << "\n";
      std::cout << "Channel mean/std (train, [0,1] scale):";
      for (size_t c = 0; c < stats.mean.size(); ++c) {
        std::cout << " " << fixed(stats.mean[c], 4) << "/" << fixed(stats.std[c], 4);
      }
      std::cout << "\n\n";
      TextTable table({">label", "class", ">train", ">test"});
      for (int64_t c = 0; c < ds.num_classes(); ++c) {
        table.add_row({std::to_string(c), ds.class_names[c], std::to_string(train_counts[c]),
                       std::to_string(test_counts[c])});
      }
      table.print(std::cout);
    }
    exit_code = 0;
  });
}

}  // namespace kd::cli
