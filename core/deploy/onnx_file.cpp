#include "deploy/onnx_file.h"

#include "common/error.h"
#include "deploy/onnx_graph.h"
#include "io/atomic_file.h"

#ifdef KD_WITH_ONNX
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include <fstream>
#include <set>
#include <sstream>

#include "common/version.h"
#endif

namespace kd {

#ifdef KD_WITH_ONNX

namespace {

void fill_tensor(onnx::TensorProto& t, const std::string& name, const torch::Tensor& value) {
  t.set_name(name);
  for (int64_t d : value.sizes()) t.add_dims(d);
  const bool is_long = value.scalar_type() == torch::kLong;
  t.set_data_type(is_long ? onnx::TensorProto::INT64 : onnx::TensorProto::FLOAT);
  const torch::Tensor c = value.contiguous();
  t.set_raw_data(std::string(static_cast<const char*>(c.data_ptr()), c.numel() * c.element_size()));
}

void set_float_type(onnx::ValueInfoProto& v, const std::string& name, const std::vector<int64_t>& dims) {
  v.set_name(name);
  auto* tensor = v.mutable_type()->mutable_tensor_type();
  tensor->set_elem_type(onnx::TensorProto::FLOAT);
  auto* shape = tensor->mutable_shape();
  for (int64_t d : dims) {
    auto* dim = shape->add_dim();
    if (d < 0) {
      dim->set_dim_param("batch");
    } else {
      dim->set_dim_value(d);
    }
  }
}

/// The checker and strict shape inference; throws kd::Error with their message.
std::string check_model(const onnx::ModelProto& model, const std::string& what) {
  try {
    onnx::checker::check_model(model);
    onnx::ModelProto inferred = model;
    onnx::shape_inference::InferShapes(inferred, onnx::OpSchemaRegistry::Instance(),
                                       onnx::ShapeInferenceOptions(true, 1, true));
  } catch (const std::exception& e) {
    throw Error(what + ": ONNX's checker rejected the model: " + e.what());
  }
  std::string ops;
  std::set<std::string> seen;
  for (const auto& n : model.graph().node()) {
    if (seen.insert(n.op_type()).second) ops += (ops.empty() ? "" : " ") + n.op_type();
  }
  return ops;
}

onnx::ModelProto read_model(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open " + path);
  onnx::ModelProto model;
  if (!model.ParseFromIstream(&in)) throw Error(path + " is not an ONNX model (it does not parse as one)");
  if (!model.has_graph()) throw Error(path + " is not an ONNX model (it has no graph)");
  return model;
}

}  // namespace

bool onnx_available() { return true; }

void write_onnx(const OnnxGraph& graph, const std::map<std::string, std::string>& metadata,
                const std::string& graph_name, const std::string& path) {
  onnx::ModelProto model;
  model.set_ir_version(7);
  model.set_producer_name("KD Studio");
  model.set_producer_version(version());
  auto* opset = model.add_opset_import();
  opset->set_domain("");
  opset->set_version(kOnnxOpset);
  for (const auto& [k, v] : metadata) {
    auto* p = model.add_metadata_props();
    p->set_key(k);
    p->set_value(v);
  }
  onnx::GraphProto* g = model.mutable_graph();
  g->set_name(graph_name);
  set_float_type(*g->add_input(), graph.input(), graph.input_dims());
  set_float_type(*g->add_output(), graph.output(), {-1, graph.output_classes()});
  for (const auto& [name, value] : graph.constants()) fill_tensor(*g->add_initializer(), name, value);
  for (const OnnxNode& n : graph.nodes()) {
    onnx::NodeProto* p = g->add_node();
    p->set_op_type(n.op);
    p->set_name(n.name);
    for (const auto& i : n.inputs) p->add_input(i);
    for (const auto& o : n.outputs) p->add_output(o);
    for (const OnnxAttribute& a : n.attributes) {
      onnx::AttributeProto* attr = p->add_attribute();
      attr->set_name(a.name);
      if (const auto* i = std::get_if<int64_t>(&a.value)) {
        attr->set_type(onnx::AttributeProto::INT);
        attr->set_i(*i);
      } else if (const auto* f = std::get_if<float>(&a.value)) {
        attr->set_type(onnx::AttributeProto::FLOAT);
        attr->set_f(*f);
      } else {
        attr->set_type(onnx::AttributeProto::INTS);
        for (int64_t x : std::get<std::vector<int64_t>>(a.value)) attr->add_ints(x);
      }
    }
  }
  check_model(model, path);
  std::string bytes;
  if (!model.SerializeToString(&bytes)) throw Error(path + ": the model could not be serialized");
  write_file_atomically(path, bytes);
}

std::map<std::string, std::string> read_onnx_metadata(const std::string& path) {
  const onnx::ModelProto model = read_model(path);
  std::map<std::string, std::string> m;
  for (const auto& p : model.metadata_props()) m[p.key()] = p.value();
  return m;
}

std::string check_onnx_file(const std::string& path) { return check_model(read_model(path), path); }

#else

namespace {
[[noreturn]] void unavailable() {
  throw Error("this build of KD Studio has no ONNX support (it was built without libonnx-dev)");
}
}  // namespace

bool onnx_available() { return false; }
void write_onnx(const OnnxGraph&, const std::map<std::string, std::string>&, const std::string&,
                const std::string&) {
  unavailable();
}
std::map<std::string, std::string> read_onnx_metadata(const std::string&) { unavailable(); }
std::string check_onnx_file(const std::string&) { unavailable(); }

#endif

}  // namespace kd
