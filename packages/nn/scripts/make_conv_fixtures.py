"""Makes test/fixtures/depthwise_conv.json and conv_transpose.json: nn.Conv2d(groups=C) and nn.ConvTranspose2d
in float64, outputs and the gradients of sum(out * g) with respect to the input, weight and bias. Tensors NHWC,
weights in PyTorch's layout. Run with /usr/bin/python3 from the package folder."""
import json
import os

import torch

OUT = os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures')


def flat(t):
    return [round(float(v), 12) for v in t.detach().reshape(-1).tolist()]


def nhwc(t):
    return flat(t.permute(0, 2, 3, 1))


def run(module, shape):
    x = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
    y = module(x)
    g = torch.randn_like(y)
    (y * g).sum().backward()
    out = {'inputShape': [shape[0], shape[2], shape[3], shape[1]], 'x': nhwc(x), 'weight': flat(module.weight)}
    out['bias'] = flat(module.bias) if module.bias is not None else None
    out.update({'outShape': list(y.permute(0, 2, 3, 1).shape), 'y': nhwc(y), 'g': nhwc(g), 'dx': nhwc(x.grad)})
    out['dweight'] = flat(module.weight.grad)
    out['dbias'] = flat(module.bias.grad) if module.bias is not None else None
    return out


def main():
    torch.manual_seed(0)
    # (channels, kernel, stride, padding, dilation, bias, input h, w): MobileNet's 3x3 at strides 1 and 2,
    # rectangular kernel and padding, and dilations with and without a stride.
    depthwise = [
        (3, 3, 1, 1, 1, True, 6, 7),
        (4, 3, 2, 1, 1, False, 7, 8),
        (2, (3, 1), (2, 1), (1, 0), 1, True, 6, 5),
        (3, 3, 1, 2, 2, True, 7, 6),
        (2, 3, 2, 2, 2, True, 9, 8),
    ]
    cases = []
    for c, k, s, p, d, bias, h, w in depthwise:
        conv = torch.nn.Conv2d(c, c, k, stride=s, padding=p, dilation=d, groups=c, bias=bias).double()
        case = {'channels': c, 'kernelSize': k, 'stride': s, 'padding': p, 'dilation': d}
        case.update(run(conv, (2, c, h, w)))
        cases.append(case)
    with open(os.path.join(OUT, 'depthwise_conv.json'), 'w') as f:
        json.dump(cases, f, separators=(',', ':'))

    # (in, out, kernel, stride, padding, output_padding, bias, input h, w): FlowNet's 4/2/1 upsampling, a 3/2/1
    # with output_padding 1 (exact doubling), a 2/2/0, a rectangular kernel and stride, and stride 1 with padding.
    transpose = [
        (3, 2, 4, 2, 1, 0, True, 3, 4),
        (2, 3, 3, 2, 1, 1, True, 4, 3),
        (3, 2, 2, 2, 0, 0, False, 3, 3),
        (2, 2, (3, 2), (2, 1), (0, 1), (1, 0), True, 3, 4),
        (2, 3, 3, 1, 1, 0, True, 4, 4),
    ]
    cases = []
    for i, o, k, s, p, op, bias, h, w in transpose:
        conv = torch.nn.ConvTranspose2d(i, o, k, stride=s, padding=p, output_padding=op, bias=bias).double()
        case = {'inChannels': i, 'outChannels': o, 'kernelSize': k, 'stride': s, 'padding': p, 'outputPadding': op}
        case.update(run(conv, (2, i, h, w)))
        cases.append(case)
    with open(os.path.join(OUT, 'conv_transpose.json'), 'w') as f:
        json.dump(cases, f, separators=(',', ':'))


main()
