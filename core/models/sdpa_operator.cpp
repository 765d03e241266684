// aten::scaled_dot_product_attention for LibTorch builds older than 2.0 (Debian 12's 1.13).
//
// PyTorch 2.x's attention (nn.MultiheadAttention through F.multi_head_attention_forward, every
// scripted transformer, F.scaled_dot_product_attention itself) calls this operator, which 1.13
// lacks: TorchScript files saved by 2.x would not load ("Unknown builtin op"). We register it
// with 2.x's schema, computed as 2.x's math reference does (ATen's
// _scaled_dot_product_attention_math): q and k each scaled by sqrt(scale), a boolean mask turned
// into -inf, a causal mask as a lower triangle, a float mask added, a softmax whose fully masked
// rows give zeros (2.5's _safe_softmax), dropout when dropout_p > 0, then the product with v.
// A composite of differentiable operators: autograd needs nothing more, so such models train.
// Checked against PyTorch 2.6 by tests/core/test_torchscript_v2.cpp.
#include "models/sdpa_operator.h"

#include "common/torch_compat.h"

#if !KD_TORCH_HAS_SDPA
#include <torch/library.h>
#include <torch/torch.h>

#include <cmath>

namespace {

torch::Tensor sdpa(const torch::Tensor& query, const torch::Tensor& key, const torch::Tensor& value,
                   const c10::optional<torch::Tensor>& attn_mask, double dropout_p, bool is_causal,
                   c10::optional<double> scale, bool enable_gqa) {
  TORCH_CHECK(query.dim() >= 2 && key.dim() >= 2 && value.dim() >= 2,
              "scaled_dot_product_attention: query, key and value need at least 2 dimensions");
  TORCH_CHECK(!(is_causal && attn_mask.has_value() && attn_mask->defined()),
              "scaled_dot_product_attention: attn_mask and is_causal cannot both be set");
  const int64_t L = query.size(-2), S = key.size(-2), E = query.size(-1);
  const double s = scale.has_value() ? *scale : 1.0 / std::sqrt(static_cast<double>(E));
  const double root = std::sqrt(s);
  torch::Tensor k = key, v = value;
  if (enable_gqa && query.dim() >= 3 && key.dim() >= 3 && query.size(-3) != key.size(-3)) {
    TORCH_CHECK(query.size(-3) % key.size(-3) == 0,
                "scaled_dot_product_attention: query heads must be a multiple of key heads");
    k = k.repeat_interleave(query.size(-3) / key.size(-3), -3);
    v = v.repeat_interleave(query.size(-3) / value.size(-3), -3);
  }
  torch::Tensor attn = torch::matmul(query * root, k.transpose(-2, -1) * root);
  const auto neg_inf = -std::numeric_limits<double>::infinity();
  if (is_causal) {
    const torch::Tensor keep = torch::ones({L, S}, query.options().dtype(torch::kBool)).tril();
    attn = attn.masked_fill(keep.logical_not(), neg_inf);
  }
  if (attn_mask.has_value() && attn_mask->defined()) {
    if (attn_mask->scalar_type() == torch::kBool) {
      attn = attn.masked_fill(attn_mask->logical_not(), neg_inf);
    } else {
      attn = attn + *attn_mask;
    }
  }
  torch::Tensor weights = torch::softmax(attn, -1);
  // Rows with every position masked give zeros, not NaN (as 2.x's _safe_softmax).
  const torch::Tensor all_masked = attn.eq(neg_inf).all(-1, /*keepdim=*/true);
  weights = weights.masked_fill(all_masked, 0.0);
  if (dropout_p > 0) weights = torch::dropout(weights, dropout_p, /*train=*/true);
  return torch::matmul(weights, v);
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(aten, m) {
  m.def(
      "scaled_dot_product_attention(Tensor query, Tensor key, Tensor value, Tensor? attn_mask=None, "
      "float dropout_p=0.0, bool is_causal=False, *, float? scale=None, bool enable_gqa=False) -> Tensor");
}

TORCH_LIBRARY_IMPL(aten, CompositeImplicitAutograd, m) {
  m.impl("scaled_dot_product_attention", TORCH_FN(sdpa));
}

namespace kd {
bool sdpa_operator_is_ours() { return true; }
}  // namespace kd

#else

namespace kd {
bool sdpa_operator_is_ours() { return false; }
}  // namespace kd

#endif
