#pragma once
// Writing and reading .onnx files (protobuf, through Debian's libonnx-dev). A build without
// libonnx (KD_WITH_ONNX off) has every function, and each throws a kd::Error saying so.
#include <map>
#include <string>

namespace kd {

class OnnxGraph;

/// Whether this build writes and reads ONNX files.
bool onnx_available();

/// Writes `graph` as an ONNX model (opset kOnnxOpset, IR version 7) with `metadata` as its
/// metadata_props, after ONNX's checker and strict shape inference passed on it (the inferred
/// output must be (batch, classes)). Written atomically: a failure leaves nothing at `path`.
/// Throws kd::Error naming the problem.
void write_onnx(const OnnxGraph& graph, const std::map<std::string, std::string>& metadata,
                const std::string& graph_name, const std::string& path);

/// The metadata_props of an ONNX file. Throws kd::Error when it is not a readable ONNX model.
std::map<std::string, std::string> read_onnx_metadata(const std::string& path);

/// Runs ONNX's checker and strict shape inference on a file; returns the operator types it
/// uses, in first-use order. Throws kd::Error with the checker's message.
std::string check_onnx_file(const std::string& path);

}  // namespace kd
