#include "lib/model/norm_and_leading_rows.h"

namespace sherl {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

class NormAndLeadingRows : public torch::autograd::Function<NormAndLeadingRows> {
 public:
  static variable_list forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& weight,
                               const torch::Tensor& bias, int64_t rows, double eps) {
    auto [y, mean, rstd] = at::native_layer_norm(x, {x.size(-1)}, weight, bias, eps);
    ctx->save_for_backward({x, weight, bias, mean, rstd});
    ctx->saved_data["rows"] = rows;
    return {y, x.narrow(1, 0, rows).clone()};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor &x = saved[0], &weight = saved[1], &bias = saved[2];
    const std::array<bool, 3> wanted{true, ctx->needs_input_grad(1), ctx->needs_input_grad(2)};
    torch::Tensor dy = grads[0].defined() ? grads[0].contiguous() : torch::zeros_like(x);
    auto [dx, dweight, dbias] =
        at::native_layer_norm_backward(dy, x, {x.size(-1)}, saved[3], saved[4], weight, bias, wanted);
    if (grads[1].defined()) dx.narrow(1, 0, ctx->saved_data["rows"].toInt()).add_(grads[1]);
    return {dx, dweight, dbias, torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

std::array<torch::Tensor, 2> layer_norm_and_leading_rows(const torch::Tensor& x, const torch::Tensor& weight,
                                                         const torch::Tensor& bias, double eps, int64_t rows) {
  auto out = NormAndLeadingRows::apply(x, weight, bias, rows, eps);
  return {out[0], out[1]};
}

}  // namespace sherl
