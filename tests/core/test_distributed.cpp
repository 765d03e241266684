// Data parallelism's pieces that need no second process (core/distributed, the loader's
// shards, the cache's shard rows): the launch environments of torchrun and srun (every bad one
// named), Slurm node lists, DistributedSampler's order (hand-checked), and GradientSync's
// buckets over a stand-in communicator (launched during backward, in order, averaged).
// The real multi-process runs are in tests/cli/test_cli_distributed.cpp.
#include <QtTest/QtTest>
#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <torch/torch.h>

#include "data/batch_loader.h"
#include "distill/teacher_targets.h"
#include "distributed/communicator.h"
#include "distributed/gradient_sync.h"
#include "distributed/launch_env.h"
#include "test_util.h"

namespace {

using kdtest::error_of;
using Env = std::map<std::string, std::string>;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

/// A communicator of two ranks whose peer always sends `peer_factor` times this rank's tensor.
/// It records each all-reduce's size and whether backward was still running (`in_backward`).
class StandInCommunicator final : public kd::Communicator {
 public:
  explicit StandInCommunicator(double peer_factor) : Communicator(two_ranks()), factor_(peer_factor) {}
  std::string backend() const override { return "stand-in"; }
  void all_reduce(torch::Tensor& t, kd::Reduce) override { t.mul_(1 + factor_); }
  std::unique_ptr<Pending> all_reduce_async(torch::Tensor& t) override {
    launches.push_back({t.numel(), in_backward});
    t.mul_(1 + factor_);
    struct Done final : Pending {
      void wait() override {}
    };
    return std::make_unique<Done>();
  }
  void broadcast(torch::Tensor&, int) override {}
  std::string broadcast_text(const std::string& text, int) override { return text; }
  std::string share_text(const std::string& text, std::chrono::seconds, int) override { return text; }
  int64_t reduce_value(int64_t value, kd::Reduce) override { return value; }
  void barrier() override {}

  std::vector<std::pair<int64_t, bool>> launches;  // (elements, launched during backward)
  bool in_backward = false;

 private:
  static kd::LaunchEnv two_ranks() {
    kd::LaunchEnv e;
    e.world_size = 2;
    return e;
  }
  double factor_;
};

}  // namespace

class TestDistributed : public QObject {
  Q_OBJECT

 private slots:
  void torchrunEnvironment() {
    const Env env = {{"RANK", "3"}, {"WORLD_SIZE", "8"}, {"LOCAL_RANK", "1"}, {"LOCAL_WORLD_SIZE", "2"},
                     {"MASTER_ADDR", "node7"}, {"MASTER_PORT", "29400"}, {"TORCHELASTIC_USE_AGENT_STORE", "True"}};
    const auto e = kd::launch_env_from(env);
    QVERIFY(e.has_value());
    QCOMPARE(e->rank, 3);
    QCOMPARE(e->world_size, 8);
    QCOMPARE(e->local_rank, 1);
    QCOMPARE(e->local_world_size, 2);
    QCOMPARE(e->master_addr, std::string("node7"));
    QCOMPARE(e->master_port, 29400);
    QVERIFY(e->agent_store);
    QCOMPARE(e->launcher, std::string("torchrun"));
    // One process: nothing distributed, and no environment at all is one process too.
    QVERIFY(!kd::launch_env_from({{"RANK", "0"}, {"WORLD_SIZE", "1"}}));
    QVERIFY(!kd::launch_env_from({}));
  }

  void slurmEnvironment() {
    // srun -N 2 --ntasks-per-node 4: the job step's variables; the master is the step's first node.
    const Env env = {{"SLURM_PROCID", "5"}, {"SLURM_STEP_NUM_TASKS", "8"}, {"SLURM_LOCALID", "1"},
                     {"SLURM_STEP_TASKS_PER_NODE", "4(x2)"}, {"SLURM_STEP_NODELIST", "gpu[07-08]"},
                     {"SLURM_JOB_ID", "123456"}, {"SLURM_NTASKS", "8"}};
    const auto e = kd::launch_env_from(env);
    QVERIFY(e.has_value());
    QCOMPARE(e->rank, 5);
    QCOMPARE(e->world_size, 8);
    QCOMPARE(e->local_rank, 1);
    QCOMPARE(e->local_world_size, 4);
    QCOMPARE(e->master_addr, std::string("gpu07"));
    QCOMPARE(e->master_port, 29500 + 456);
    QCOMPARE(e->launcher, std::string("slurm"));
    // A batch script (no job step) is one process, whatever the allocation.
    QVERIFY(!kd::launch_env_from({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "8"}, {"SLURM_JOB_ID", "1"}}));
    // MASTER_ADDR and MASTER_PORT win when set.
    Env set = env;
    set["MASTER_ADDR"] = "10.0.0.1";
    set["MASTER_PORT"] = "40000";
    const auto f = kd::launch_env_from(set);
    QCOMPARE(f->master_addr, std::string("10.0.0.1"));
    QCOMPARE(f->master_port, 40000);
  }

  void slurmNodeLists() {
    QCOMPARE(kd::first_slurm_node("node[03-05,7],gpu2"), std::string("node03"));
    QCOMPARE(kd::first_slurm_node("login1"), std::string("login1"));
    QCOMPARE(kd::first_slurm_node("a1,b[1-2]"), std::string("a1"));
    QCOMPARE(kd::first_slurm_node("rack2-n[010-012]"), std::string("rack2-n010"));
    for (const std::string bad : {"", "[1-2]", "node[", "node[x-2]", "node[1]x"}) {
      QVERIFY2(contains(error_of([&] { kd::first_slurm_node(bad); }), "cannot read the Slurm node list"), bad.c_str());
    }
  }

  void badEnvironmentsAreNamed_data() {
    QTest::addColumn<QString>("variables");
    QTest::addColumn<QString>("expected");
    QTest::newRow("no master") << "RANK=0 WORLD_SIZE=2 MASTER_PORT=1" << "not MASTER_ADDR";
    QTest::newRow("no port") << "RANK=0 WORLD_SIZE=2 MASTER_ADDR=h" << "without MASTER_PORT";
    QTest::newRow("rank too big") << "RANK=2 WORLD_SIZE=2 MASTER_ADDR=h MASTER_PORT=1" << "rank 2 is not below the world size 2";
    QTest::newRow("not a number") << "RANK=x WORLD_SIZE=2 MASTER_ADDR=h MASTER_PORT=1" << "RANK='x' is not a whole number";
    QTest::newRow("port range") << "RANK=0 WORLD_SIZE=2 MASTER_ADDR=h MASTER_PORT=70000" << "MASTER_PORT='70000'";
    QTest::newRow("rank without size") << "RANK=1" << "without WORLD_SIZE";
    QTest::newRow("local rank") << "RANK=1 WORLD_SIZE=2 LOCAL_RANK=2 LOCAL_WORLD_SIZE=2 MASTER_ADDR=h MASTER_PORT=1"
                                << "local rank 2 is not below the 2 ranks of this node";
    QTest::newRow("srun without local id") << "SLURM_PROCID=1 SLURM_STEP_NUM_TASKS=2 SLURM_STEP_NODELIST=n1"
                                           << "without SLURM_LOCALID";
    QTest::newRow("srun without nodes") << "SLURM_PROCID=1 SLURM_STEP_NUM_TASKS=2 SLURM_LOCALID=0" << "host of rank 0 is unknown";
  }
  void badEnvironmentsAreNamed() {
    QFETCH(QString, variables);
    QFETCH(QString, expected);
    Env env;
    for (const QString& kv : variables.split(' ')) env[kv.section('=', 0, 0).toStdString()] = kv.section('=', 1).toStdString();
    const std::string error = error_of([&] { kd::launch_env_from(env); });
    QVERIFY2(contains(error, expected.toStdString()), error.c_str());
  }

  void shardsFollowDistributedSampler() {
    // 10 samples, 2 ranks x batch 2 = 1 rank x batch 4: the epoch order is cut to 10 (a multiple
    // of 2), rank r takes order[r], order[r + 2], ...; batch k of both ranks = batch k of one.
    kd::DatasetSplit split;
    split.images = torch::arange(10, torch::kUInt8).view({10, 1, 1, 1});
    split.labels = torch::arange(10, torch::kInt64);
    kd::ChannelStats stats;
    stats.mean = {0};
    stats.std = {1};
    const auto options = kd::LoaderOptions().shuffle(true).seed(7).workers(0);
    kd::BatchLoader whole(split, stats, kd::LoaderOptions(options).batch_size(4));
    kd::BatchLoader rank0(split, stats, kd::LoaderOptions(options).batch_size(2).shard_rank(0).shard_count(2));
    kd::BatchLoader rank1(split, stats, kd::LoaderOptions(options).batch_size(2).shard_rank(1).shard_count(2));
    QCOMPARE(whole.batches_per_epoch(), 2);
    QCOMPARE(rank0.batches_per_epoch(), 2);
    for (int epoch = 0; epoch < 3; ++epoch) {
      whole.start_epoch(epoch);
      rank0.start_epoch(epoch);
      rank1.start_epoch(epoch);
      std::set<int64_t> seen;
      for (int b = 0; b < 2; ++b) {
        const auto w = whole.next(), a = rank0.next(), c = rank1.next();
        QVERIFY(w && a && c);
        const auto* o = w->samples.data_ptr<int64_t>();
        // Interleaved: rank 0 gets positions 0 and 2 of the global batch, rank 1 positions 1 and 3.
        QCOMPARE(a->samples[0].item<int64_t>(), o[0]);
        QCOMPARE(c->samples[0].item<int64_t>(), o[1]);
        QCOMPARE(a->samples[1].item<int64_t>(), o[2]);
        QCOMPARE(c->samples[1].item<int64_t>(), o[3]);
        for (int i = 0; i < 2; ++i) {
          QVERIFY(seen.insert(a->samples[i].item<int64_t>()).second);  // disjoint shards
          QVERIFY(seen.insert(c->samples[i].item<int64_t>()).second);
        }
      }
      QVERIFY(!rank0.next() && !rank1.next());
    }
    QVERIFY(contains(error_of([&] { kd::BatchLoader(split, stats, kd::LoaderOptions().shard_rank(2).shard_count(2)); }),
                     "rank 2 is not one of 2 ranks"));
  }

  void cacheShardRowsCoverEveryRowOnce() {
    for (int ranks : {1, 2, 3, 7}) {
      int64_t next = 0;
      for (int r = 0; r < ranks; ++r) {
        const auto [first, last] = kd::TeacherTargetCache::shard_rows(100, r, ranks);
        QCOMPARE(first, next);
        QVERIFY(last - first == 100 / ranks || last - first == 100 / ranks + 1);
        next = last;
      }
      QCOMPARE(next, int64_t{100});
    }
  }

  void gradientBucketsAverageDuringBackward() {
    torch::manual_seed(0);
    torch::nn::Sequential net(torch::nn::Linear(8, 16), torch::nn::ReLU(), torch::nn::Linear(16, 16),
                              torch::nn::ReLU(), torch::nn::Linear(16, 4));
    torch::nn::Linear unused(4, 4);  // in the parameter list, never in the graph
    std::vector<torch::Tensor> params = net->parameters();
    for (auto& p : unused->parameters()) params.push_back(p);
    const torch::Tensor x = torch::randn({5, 8});
    // Reference gradients of this rank alone.
    net->zero_grad();
    net->forward(x).pow(2).sum().backward();
    std::vector<torch::Tensor> reference;
    for (auto& p : net->parameters()) reference.push_back(p.grad().clone());

    // Buckets of at most 1 KiB: the 16x16 weight (1 KiB) alone, the rest grouped; the peer sends
    // 3x this rank's gradient, so the mean is 2x.
    StandInCommunicator comm(3.0);
    kd::GradientSync sync(params, comm, 1024);
    QVERIFY(sync.bucket_count() >= 3);
    int64_t elements = 0;
    for (auto& p : params) elements += p.numel();
    QCOMPARE(sync.bytes_per_step(), elements * 4);
    for (int step = 0; step < 2; ++step) {
      for (auto& p : params) p.mutable_grad() = torch::Tensor();
      comm.launches.clear();
      sync.begin_step();
      comm.in_backward = true;
      net->forward(x).pow(2).sum().backward();
      comm.in_backward = false;
      sync.end_step();
      QCOMPARE(comm.launches.size(), sync.bucket_count());
      // The first bucket (reverse order) holds the unused layer, so it completes only in
      // end_step; buckets leave in order on every rank, so none left during backward here.
      for (const auto& [n, during] : comm.launches) QVERIFY(!during);
      int64_t total = 0;
      for (const auto& [n, during] : comm.launches) total += n;
      QCOMPARE(total, elements);
      const auto grads = net->parameters();
      for (size_t i = 0; i < grads.size(); ++i) {
        QVERIFY(torch::allclose(grads[i].grad(), 2 * reference[i], 1e-6, 1e-6));
      }
      for (auto& p : unused->parameters()) QVERIFY(!p.grad().defined());
    }
  }

  void bucketsLeaveDuringBackward() {
    // Without an unused parameter, every bucket is launched before backward returns.
    torch::manual_seed(1);
    torch::nn::Sequential net(torch::nn::Linear(8, 16), torch::nn::Tanh(), torch::nn::Linear(16, 16),
                              torch::nn::Tanh(), torch::nn::Linear(16, 4));
    StandInCommunicator comm(1.0);
    kd::GradientSync sync(net->parameters(), comm, 1024);
    sync.begin_step();
    comm.in_backward = true;
    net->forward(torch::randn({3, 8})).sum().backward();
    comm.in_backward = false;
    sync.end_step();
    QCOMPARE(comm.launches.size(), sync.bucket_count());
    for (const auto& [n, during] : comm.launches) QVERIFY(during);
    // Reverse parameter order: the last layer's bias and weight (4 + 64 elements) fill the first bucket.
    QCOMPARE(comm.launches.front().first, int64_t{4 + 64 + 16});
  }
};

QTEST_GUILESS_MAIN(TestDistributed)
#include "test_distributed.moc"
