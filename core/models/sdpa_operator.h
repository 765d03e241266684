#pragma once
// aten::scaled_dot_product_attention on LibTorch builds that lack it (sdpa_operator.cpp).

namespace kd {

/// True when this build registers its own aten::scaled_dot_product_attention (LibTorch before
/// 2.0), false where LibTorch has it. Calling it also keeps the registration linked into every
/// program that loads TorchScript (the linker would drop an object file nobody refers to).
bool sdpa_operator_is_ours();

}  // namespace kd
