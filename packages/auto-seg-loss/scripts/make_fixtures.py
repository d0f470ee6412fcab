"""Golden values for @deformjs/auto-seg-loss from the official AutoSegLoss formulas, in float64.

Run with Debian's interpreter: /usr/bin/python3 scripts/make_fixtures.py
Writes test/fixtures/surrogates.json. The functions below restate fundamentalvision/Auto-Seg-Loss
(mmseg/models/losses/auto_seg_loss.py and mmseg/core/evaluation/utils.py) with the non-inplace branches, on
CPU and in float64. Every class is present in every case, where our class averaging and the official one
coincide.
"""
import json
import os

import torch
import torch.nn.functional as F

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, '..', 'test', 'fixtures', 'surrogates.json')


def quadratic_solver(x0, x1, x2, x):
    x1_new = (x1 - x0) / (x2 - x0)
    x_new = (x - x0) / (x2 - x0)
    if x1_new == 0.5:
        return x_new
    return (x1_new - torch.sqrt(x1_new ** 2 + (1 - 2 * x1_new) * x_new)) / (2 * x1_new - 1)


def bezier(x, control_points):
    cp = torch.cat([control_points, control_points.new_ones(2)])
    y_list = []
    for n in range(0, len(cp), 4):
        if n == 0:
            x_part = x.where(x <= cp[n + 2], cp[n + 2])
            t = quadratic_solver(x_part.new_zeros(1), cp[n], cp[n + 2], x_part)
            y = -2 * t * (t - 1) * cp[n + 1] + t ** 2 * cp[n + 3]
        else:
            x_part = x.where((x > cp[n - 2]) & (x <= cp[n + 2]), cp[n + 2])
            t = quadratic_solver(cp[n - 2], cp[n], cp[n + 2], x_part)
            y = (t - 1) ** 2 * cp[n - 1] - 2 * t * (t - 1) * cp[n + 1] + t ** 2 * cp[n + 3]
        y_list.append(y)
    y = y_list[0]
    for n, y_part in enumerate(y_list[1:]):
        y = y_part.where((x > cp[4 * n + 2]) & (x <= cp[4 * n + 6]), y)
    return y


def map_to_one_hot(x, num_class):
    x = x.where((x >= 0) & (x < num_class), torch.tensor([num_class], dtype=x.dtype))
    B, H, W = x.shape
    onehot = torch.zeros((B, num_class + 1, H, W))
    return onehot.scatter_(1, x.long().view(B, 1, H, W), 1)[:, :-1]


def compute_edge(seg):
    avg = torch.nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)(seg)
    return (seg != avg).to(seg.dtype) * seg


def dilate(seg, tol):
    return torch.nn.MaxPool2d(2 * tol + 1, stride=1, padding=tol)(seg)


def soft_iou(inp, target, mask, theta):
    N, C, H, W = inp.shape
    gi = bezier(inp, theta[: len(theta) // 2])
    gu = bezier(inp, theta[len(theta) // 2:])
    inter = (gi * target * mask.view(N, 1, H, W)).sum((0, 2, 3))
    union = ((gu + target - gu * target) * mask.view(N, 1, H, W)).sum((0, 2, 3)) + 1e-8
    return inter / union


def metric_value(metric, inp, target, mask, theta, tol, drop_bg):
    if metric == 'mIoU':
        return soft_iou(inp, target, mask.to(inp.dtype), theta).mean()
    if metric == 'FWIoU':
        iou = soft_iou(inp, target, mask.to(inp.dtype), theta)
        freq = target.sum((0, 2, 3))
        return (iou[freq > 0] * freq[freq > 0]).sum() / freq[freq > 0].sum()
    if metric == 'BIoU':
        edge = dilate(compute_edge(target), tol)
        trimap = (edge[:, 1:] if drop_bg else edge).max(dim=1).values > 0.5
        return soft_iou(inp, target, (mask & trimap).to(inp.dtype), theta).mean()
    if metric == 'mAcc':
        inter = (bezier(inp, theta) * target).sum((0, 2, 3))
        return (inter / (target.sum((0, 2, 3)) + 1e-8)).mean()
    if metric == 'gAcc':
        return (bezier(inp, theta) * target).sum() / (target.sum() + 1e-8)
    if metric == 'BF1':
        eps = 1e-8
        target_edge = (-F.max_pool2d(-F.pad(target, (1, 1, 1, 1), value=1.0), 3, 1) != target).to(target.dtype)
        erode = -F.max_pool2d(-F.pad(inp, (1, 1, 1, 1), value=1.0), 3, 1)
        q = len(theta) // 4
        t1, t2, t3, t4 = theta[:q], theta[q:2 * q], theta[2 * q:3 * q], theta[3 * q:]
        inter = bezier(inp, t1) * bezier(erode, t2)
        union = bezier(inp, t3) + bezier(erode, t4) - bezier(inp, t3) * bezier(erode, t4)
        inp_edge = union - inter
        target_dil = dilate(target_edge, tol) if tol > 0 else target_edge
        inp_dil = dilate(inp_edge, tol) if tol > 0 else inp_edge
        freq = target_edge.sum((0, 2, 3))
        n_gt = freq + eps
        n_fg = inp_edge.sum((0, 2, 3)) + eps
        p = (inp_edge * target_dil).sum((0, 2, 3)) / n_fg
        r = (inp_dil * target_edge).sum((0, 2, 3)) / n_gt
        f1 = 2 * p * r / (p + r + eps)
        return f1[1:][freq[1:] != 0].mean() if drop_bg else f1[freq != 0].mean()
    raise KeyError(metric)


PRESET_MIOU = [5.69728440e-04, 6.43720450e-01, 3.38589169e-01, 7.05543360e-01, 6.25281252e-01, 7.79551927e-01,
               6.90375570e-01, 1.30628900e-02, 8.34170515e-01, 9.62431815e-01, 9.42998269e-01, 9.80038125e-01]
PRESET_FWIOU = [3.65390355e-04, 9.84171689e-01, 9.69491959e-01, 9.92340326e-01, 9.88328516e-01, 9.95552719e-01,
                3.54609758e-01, 2.67221928e-01, 5.60551465e-01, 4.35290039e-01, 5.65432191e-01, 6.01448298e-01]
PRESET_ACC = [2.1453928e-02, 7.3905742e-01, 4.1163361e-01, 7.9865617e-01, 9.1986191e-01, 9.5041156e-01]
PRESET_BF1 = [0.8113003373146057, 0.8526162505149841, 0.17164576053619385, 0.03164796531200409,
              0.20997394621372223, 0.44903290271759033, 0.07847517728805542, 0.8753038048744202]


def random_monotone(num_curves, pieces):
    """Random raw theta mapped cumulatively, as the official search does."""
    per = 2 * (2 * pieces - 1)
    theta = torch.rand(num_curves * per) * 0.8 + 0.1
    out = theta.clone()
    for start in range(0, len(out), per):
        for p in range(2, per, 2):
            out[start + p:start + p + 2] = out[start + p:start + p + 2] * (1 - out[start + p - 2:start + p]) + out[start + p - 2:start + p]
    return [round(v, 6) for v in out.tolist()]


def make_labels(B, H, W, K, ignore):
    """Blocky label maps holding every class, optionally with ignored (255) pixels."""
    labels = torch.randint(0, K, (B, (H + 2) // 3, (W + 2) // 3)).repeat_interleave(3, 1).repeat_interleave(3, 2)[:, :H, :W].clone()
    for k in range(K):
        labels[0, k, 0] = k
    if ignore:
        labels[torch.rand(B, H, W) < 0.15] = 255
    return labels


def case(name, metric, theta, B, H, W, K, ignore, tol=5, drop_bg=False):
    labels = make_labels(B, H, W, K, ignore)
    logits = (torch.randn(B, K, H, W) * 2).requires_grad_()
    mask = (labels >= 0) & (labels < K)
    target = map_to_one_hot(labels, K)
    value = metric_value(metric, torch.softmax(logits, 1), target, mask, torch.tensor(theta), tol, drop_bg)
    loss = 1 - value
    loss.backward()
    return {
        'name': name, 'metric': metric, 'controlPoints': theta, 'tolerance': tol, 'dropBackground': drop_bg,
        'shape': [B, H, W, K],
        'logits': [round(v, 7) for v in logits.detach().permute(0, 2, 3, 1).reshape(-1).tolist()],
        'labels': labels.reshape(-1).tolist(),
        'loss': loss.item(),
        'grad': [float('%.9g' % v) for v in logits.grad.permute(0, 2, 3, 1).reshape(-1).tolist()],
    }


def main():
    cases = [
        case('mIoU preset, ignored pixels', 'mIoU', PRESET_MIOU, 2, 9, 11, 4, True),
        case('mIoU random monotone', 'mIoU', random_monotone(2, 2), 1, 10, 7, 3, False),
        case('FWIoU preset, ignored pixels', 'FWIoU', PRESET_FWIOU, 2, 9, 11, 4, True),
        case('mAcc preset, ignored pixels', 'mAcc', PRESET_ACC, 2, 8, 9, 3, True),
        case('gAcc random monotone, ignored pixels', 'gAcc', random_monotone(1, 2), 1, 12, 10, 4, True),
        case('BIoU preset, drop background, tolerance 2', 'BIoU', PRESET_FWIOU, 2, 14, 13, 3, True, tol=2, drop_bg=True),
        case('BIoU random, tolerance 1', 'BIoU', random_monotone(2, 2), 1, 12, 12, 3, True, tol=1),
        case('BF1 preset, tolerance 2', 'BF1', PRESET_BF1, 2, 12, 14, 3, False, tol=2),
        case('BF1 preset, ignored pixels, tolerance 1', 'BF1', PRESET_BF1, 1, 13, 12, 3, True, tol=1),
        case('BF1 random two-piece, drop background, tolerance 1', 'BF1', random_monotone(4, 2), 1, 11, 12, 4, False, tol=1, drop_bg=True),
    ]
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, 'w') as f:
        json.dump({'source': 'scripts/make_fixtures.py (official AutoSegLoss formulas, float64)', 'cases': cases}, f)
    print(f'wrote {OUT} ({os.path.getsize(OUT)} bytes)')


if __name__ == '__main__':
    main()
