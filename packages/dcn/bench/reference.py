"""torchvision's deform_conv2d and torch's conv2d on the benchmark case of bench/index.ts, for @deformjs/core's
interleavedBench (which sets the thread count): input 1x256x64x64, 3x3, 256 filters, padding 1, offsets uniform in
[-2, 2], sigmoid mask; forward, and forward + backward (gradients of every input)."""
import torch
from torchvision.ops import deform_conv2d


def cases():
    torch.manual_seed(0)
    N, C, H, W, O, k = 1, 256, 64, 64, 256, 3
    x = torch.rand(N, C, H, W) * 2 - 1
    offset = torch.rand(N, 2 * k * k, H, W) * 4 - 2
    mask = torch.sigmoid(torch.randn(N, k * k, H, W))
    weight = (torch.rand(O, C, k, k) * 2 - 1) * 0.02
    bias = torch.zeros(O)

    def dcn_forward():
        with torch.no_grad():
            deform_conv2d(x, offset, weight, bias, padding=1, mask=mask)

    def dcn_forward_backward():
        leaves = [t.detach().requires_grad_() for t in (x, offset, mask, weight, bias)]
        out = deform_conv2d(leaves[0], leaves[1], leaves[3], leaves[4], padding=1, mask=leaves[2])
        torch.autograd.grad(out.sum(), leaves)

    def conv_forward():
        with torch.no_grad():
            torch.nn.functional.conv2d(x, weight, bias, padding=1)

    def conv_forward_backward():
        leaves = [t.detach().requires_grad_() for t in (x, weight, bias)]
        out = torch.nn.functional.conv2d(leaves[0], leaves[1], leaves[2], padding=1)
        torch.autograd.grad(out.sum(), leaves)

    return {'DCNv2 forward': dcn_forward, 'DCNv2 forward + backward': dcn_forward_backward,
            'conv2d forward': conv_forward, 'conv2d forward + backward': conv_forward_backward}
