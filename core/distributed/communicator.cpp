#include "distributed/communicator.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "common/error_text.h"
#include "common/torch_compat.h"

#if defined(KD_WITH_GLOO)
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO
#endif
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#if defined(KD_WITH_NCCL)
#ifndef USE_C10D_NCCL
#define USE_C10D_NCCL
#endif
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif
#endif

namespace kd {

#if defined(KD_WITH_GLOO)

namespace {

using Engine = KD_C10D_ENGINE_BASE;
using Milliseconds = std::chrono::milliseconds;

/// Key prefix of our own check-in on the store.
constexpr const char* kJoinedKey = "kdstudio/joined/";

/// The message of a failed collective without LibTorch's backtrace.
std::string reason(const std::exception& e) { return first_error_line(e); }

c10d::ReduceOp reduce_op(Reduce op) {
  switch (op) {
    case Reduce::kMin:
      return c10d::ReduceOp::MIN;
    case Reduce::kMax:
      return c10d::ReduceOp::MAX;
    case Reduce::kSum:
      break;
  }
  return c10d::ReduceOp::SUM;
}

bool is_loopback(const std::string& host) {
  return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1";
}

std::string host_name() {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) != 0) return "?";
  return name;
}

/// Gloo's network device: GLOO_SOCKET_IFNAME's interface when set (as in PyTorch), loopback for
/// a rendezvous on this machine, else the address this host's name resolves to.
std::shared_ptr<::gloo::transport::Device> gloo_device(const LaunchEnv& env) {
  if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname && *ifname) {
    return c10d::ProcessGroupGloo::createDeviceForInterface(ifname);
  }
  if (is_loopback(env.master_addr)) return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  return c10d::ProcessGroupGloo::createDefaultDevice();
}

class C10dCommunicator final : public Communicator {
 public:
  C10dCommunicator(LaunchEnv env, const CommunicatorOptions& options) : Communicator(std::move(env)) {
    timeout_ = options.timeout;
    cuda_ = options.device.rfind("cuda", 0) == 0;
    connect_store();
    check_in();
    try {
      auto gloo_options = c10d::ProcessGroupGloo::Options::create(Milliseconds(timeout_));
      gloo_options->devices.push_back(gloo_device(env_));
      auto gloo = c10::make_intrusive<c10d::ProcessGroupGloo>(
          c10::make_intrusive<c10d::PrefixStore>("gloo", store_), env_.rank, env_.world_size, gloo_options);
      control_ = gloo;
      data_ = gloo;
      backend_ = "gloo";
#if defined(KD_WITH_NCCL)
      if (cuda_) {
        auto nccl_options = c10d::ProcessGroupNCCL::Options::create();
        nccl_options->timeout = Milliseconds(timeout_);
        data_ = c10::make_intrusive<c10d::ProcessGroupNCCL>(
            c10::make_intrusive<c10d::PrefixStore>("nccl", store_), env_.rank, env_.world_size,
            nccl_options);
        backend_ = "nccl";
      }
#endif
    } catch (const std::exception& e) {
      throw RankFailure("rank " + std::to_string(env_.rank) + ": the process group could not connect (" +
                        reason(e) + "); set GLOO_SOCKET_IFNAME to the network interface the ranks share");
    }
  }

  std::string backend() const override { return backend_; }

  void all_reduce(torch::Tensor& tensor, Reduce op) override {
    bytes_reduced_ += tensor.numel() * static_cast<int64_t>(tensor.element_size());
    std::vector<at::Tensor> tensors = {tensor};
    c10d::AllreduceOptions o;
    o.reduceOp = reduce_op(op);
    finish(engine(tensor)->allreduce(tensors, o), "an all-reduce");
  }

  std::unique_ptr<Pending> all_reduce_async(torch::Tensor& tensor) override {
    bytes_reduced_ += tensor.numel() * static_cast<int64_t>(tensor.element_size());
    std::vector<at::Tensor> tensors = {tensor};
    auto work = start([&] { return engine(tensor)->allreduce(tensors); }, "an all-reduce");
    return std::make_unique<PendingWork>(this, std::move(work));
  }

  void broadcast(torch::Tensor& tensor, int root) override {
    std::vector<at::Tensor> tensors = {tensor};
    c10d::BroadcastOptions o;
    o.rootRank = root;
    finish(engine(tensor)->broadcast(tensors, o), "a broadcast");
  }

  std::string broadcast_text(const std::string& text, int root) override {
    torch::Tensor size = torch::full({1}, static_cast<int64_t>(text.size()), torch::kInt64);
    control_broadcast(size, root);
    torch::Tensor bytes = torch::empty({size.item<int64_t>()}, torch::kUInt8);
    if (env_.rank == root && !text.empty()) std::memcpy(bytes.data_ptr<uint8_t>(), text.data(), text.size());
    if (bytes.numel() > 0) control_broadcast(bytes, root);
    return std::string(reinterpret_cast<const char*>(bytes.data_ptr<uint8_t>()), static_cast<size_t>(bytes.numel()));
  }

  std::string share_text(const std::string& text, std::chrono::seconds patience, int root) override {
    const std::string key = "kdstudio/shared/" + std::to_string(shared_++);
    try {
      if (env_.rank == root) {
        store_->set(key, std::vector<uint8_t>(text.begin(), text.end()));
        return text;
      }
      store_->wait({key}, Milliseconds(patience));
      const std::vector<uint8_t> bytes = store_->get(key);
      return std::string(bytes.begin(), bytes.end());
    } catch (const std::exception& e) {
      throw RankFailure("rank " + std::to_string(env_.rank) + ": rank " + std::to_string(root) +
                        " did not send what it prepared (" + reason(e) + ")");
    }
  }

  int64_t reduce_value(int64_t value, Reduce op) override {
    torch::Tensor t = torch::full({1}, value, torch::kInt64);
    std::vector<at::Tensor> tensors = {t};
    c10d::AllreduceOptions o;
    o.reduceOp = reduce_op(op);
    finish(control_->allreduce(tensors, o), "an all-reduce");
    return t.item<int64_t>();
  }

  void barrier() override { finish(control_->barrier(), "a barrier"); }

 private:
  using WorkPtr = decltype(std::declval<Engine&>().barrier());

  class PendingWork final : public Pending {
   public:
    PendingWork(C10dCommunicator* owner, WorkPtr work) : owner_(owner), work_(std::move(work)) {}
    void wait() override {
      if (work_) owner_->finish(std::move(work_), "an all-reduce");
      work_ = WorkPtr();
    }

   private:
    C10dCommunicator* owner_;
    WorkPtr work_;
  };

  /// CPU tensors go through Gloo, CUDA tensors through the data engine.
  const c10::intrusive_ptr<Engine>& engine(const torch::Tensor& t) const { return t.is_cuda() ? data_ : control_; }

  template <typename Launch>
  WorkPtr start(Launch&& launch, const char* what) {
    try {
      return launch();
    } catch (const std::exception& e) {
      fail(what, e);
    }
  }

  void finish(WorkPtr work, const char* what) {
    try {
      work->wait();
    } catch (const std::exception& e) {
      fail(what, e);
    }
  }

  void control_broadcast(torch::Tensor& t, int root) {
    std::vector<at::Tensor> tensors = {t};
    c10d::BroadcastOptions o;
    o.rootRank = root;
    finish(control_->broadcast(tensors, o), "a broadcast");
  }

  [[noreturn]] void fail(const char* what, const std::exception& e) const {
    const std::string why = reason(e);
    const bool timed_out = why.find("imed out") != std::string::npos || why.find("imeout") != std::string::npos;
    throw RankFailure("rank " + std::to_string(env_.rank) + " of " + std::to_string(env_.world_size) + ": " +
                      (timed_out ? std::string(what) + " waited more than " +
                                       std::to_string(timeout_.count()) + " s for another rank"
                                 : "another rank stopped during " + std::string(what)) +
                      " (" + why + ")");
  }

  void connect_store() {
    c10d::TCPStoreOptions o;
    o.port = static_cast<uint16_t>(env_.master_port);
    o.isServer = env_.rank == 0 && !env_.agent_store;
    o.waitWorkers = false;
    o.timeout = Milliseconds(timeout_);
    compat::use_classic_tcp_store(o);
    const std::string where = env_.master_addr + ":" + std::to_string(env_.master_port);
    try {
      store_ = c10::make_intrusive<c10d::TCPStore>(env_.master_addr, o);
    } catch (const std::exception& e) {
      if (o.isServer) {
        throw RankFailure("rank 0 cannot serve the rendezvous on port " + std::to_string(env_.master_port) +
                          " (" + reason(e) + "); choose another MASTER_PORT");
      }
      throw RankFailure("rank " + std::to_string(env_.rank) + " could not reach the rendezvous at " + where +
                        " within " + std::to_string(timeout_.count()) +
                        " s: is rank 0 running, and are MASTER_ADDR and MASTER_PORT right? (" + reason(e) + ")");
    }
  }

  /// Each rank leaves its host and pid on the store and waits for all the others, so that a
  /// missing rank is named rather than reported as a bare timeout.
  void check_in() {
    const std::string mine = host_name() + " pid " + std::to_string(getpid());
    std::vector<std::string> keys;
    for (int r = 0; r < env_.world_size; ++r) keys.push_back(kJoinedKey + std::to_string(r));
    try {
      store_->set(keys[static_cast<size_t>(env_.rank)], std::vector<uint8_t>(mine.begin(), mine.end()));
      store_->wait(keys, Milliseconds(timeout_));
    } catch (const std::exception& e) {
      std::string missing;
      int count = 0;
      for (int r = 0; r < env_.world_size; ++r) {
        bool there = false;
        try {
          there = store_->check({keys[static_cast<size_t>(r)]});
        } catch (const std::exception&) {
        }
        if (!there) {
          missing += (count++ ? ", " : "") + std::to_string(r);
          if (count == 8 && env_.world_size > 9) {
            missing += ", ...";
            break;
          }
        }
      }
      if (count == 0) {
        throw RankFailure("rank " + std::to_string(env_.rank) + ": the rendezvous at " + env_.master_addr +
                          ":" + std::to_string(env_.master_port) + " failed (" + reason(e) + ")");
      }
      throw RankFailure("rank" + std::string(count > 1 ? "s " : " ") + missing + " of " +
                        std::to_string(env_.world_size) + " did not join the rendezvous at " +
                        env_.master_addr + ":" + std::to_string(env_.master_port) + " within " +
                        std::to_string(timeout_.count()) +
                        " s; check that every rank was started, with the same MASTER_ADDR, MASTER_PORT "
                        "and WORLD_SIZE");
    }
  }

  std::chrono::seconds timeout_{300};
  int64_t shared_ = 0;  // share_text() calls so far (each uses a key of its own)
  bool cuda_ = false;
  std::string backend_;
  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<Engine> control_;  // Gloo on the CPU: texts and flags
  c10::intrusive_ptr<Engine> data_;     // the tensors' engine
};

}  // namespace

bool distributed_available() { return true; }

std::unique_ptr<Communicator> Communicator::join(const LaunchEnv& env, const CommunicatorOptions& options) {
  return std::make_unique<C10dCommunicator>(env, options);
}

#else

bool distributed_available() { return false; }

std::unique_ptr<Communicator> Communicator::join(const LaunchEnv&, const CommunicatorOptions&) {
  throw Error("this build of KD Studio has no distributed training: it was built without c10d's Gloo "
              "(install libgloo-dev and build again)");
}

#endif

}  // namespace kd
