"""The PyTorch side of bench/index.ts (core's interleavedBench sets the threads), float32, NCHW.

warp: F.grid_sample(features, grid, mode='bilinear', padding_mode='zeros', align_corners=False) with the pixel
locations p + flow(p) normalised as g = (2 * (p + flow) + 1) / size - 1 (the conversion test/fixtures/warp.json
checks ours against). aggregation: FGFA's, as upstream runs it: the frames stacked along the batch through the
embedding network (1x1, ReLU, 3x3, ReLU, 1x1), L2-normalised over channels, cosine similarity to the frame's own
embedding, softmax over frames per position, weighted sum of the frames' features. Backward passes take a fixed
random upstream gradient, into the inputs (features and flow; the frames' features) and the embedding weights.
`cases(spec)` returns one function per case, named as on our side; spec is "name:H,W,C,embed,frames;...".
"""
import torch
import torch.nn.functional as F


def warp(features, flow, base):
    h, w = features.shape[2:]
    p = base + flow.permute(0, 2, 3, 1)
    size = torch.tensor([w, h], dtype=features.dtype)
    return F.grid_sample(features, (2 * p + 1) / size - 1, mode="bilinear", padding_mode="zeros", align_corners=False)


class Embedding(torch.nn.Module):
    def __init__(self, channels, embed):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(channels, embed, 1)
        self.conv2 = torch.nn.Conv2d(embed, embed, 3, padding=1)
        self.conv3 = torch.nn.Conv2d(embed, 4 * embed, 1)

    def forward(self, x):
        return self.conv3(F.relu(self.conv2(F.relu(self.conv1(x)))))


def aggregate(embed, frames):
    """frames [T, C, H, W], the frame itself first: returns [1, C, H, W]."""
    e = embed(frames)
    e = e / (e.norm(dim=1, keepdim=True) + 1e-12)
    weights = torch.softmax((e * e[:1]).sum(dim=1, keepdim=True), dim=0)
    return (weights * frames).sum(dim=0, keepdim=True)


def size_cases(name, h, w, c, embed_channels, frames):
    features = torch.randn(1, c, h, w)
    flow = torch.randn(1, 2, h, w) * 3
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    base = torch.stack([xs, ys], dim=-1)[None]
    warp_upstream = torch.randn(1, c, h, w)

    def warp_forward():
        with torch.no_grad():
            warp(features, flow, base)

    def warp_backward():
        f = features.clone().requires_grad_(True)
        fl = flow.clone().requires_grad_(True)
        (warp(f, fl, base) * warp_upstream).sum().backward()

    out = {f"{name}: warp forward": warp_forward, f"{name}: warp forward + backward": warp_backward}
    if embed_channels == 0:
        return out
    stack = torch.randn(frames, c, h, w)
    embed = Embedding(c, embed_channels)
    agg_upstream = torch.randn(1, c, h, w)

    def aggregation_forward():
        with torch.no_grad():
            aggregate(embed, stack)

    def aggregation_backward():
        embed.zero_grad(set_to_none=True)
        s = stack.clone().requires_grad_(True)
        (aggregate(embed, s) * agg_upstream).sum().backward()

    out[f"{name}: aggregation forward"] = aggregation_forward
    out[f"{name}: aggregation forward + backward"] = aggregation_backward
    return out


def cases(spec):
    torch.manual_seed(0)
    out = {}
    for item in spec.split(";"):
        name, dims = item.split(":")
        out.update(size_cases(name, *map(int, dims.split(","))))
    return out
