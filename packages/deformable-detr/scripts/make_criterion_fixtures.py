"""Golden values for the set criterion, written from the official code (Deformable-DETR models/matcher.py,
deformable_detr.py SetCriterion, segmentation.py sigmoid_focal_loss; DETR's softmax variant), with
torchvision's box ops and scipy's linear_sum_assignment. Writes test/fixtures/criterion.json.
Run: /usr/bin/python3 scripts/make_criterion_fixtures.py (from packages/deformable-detr).
"""
import json
import os

import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment
from torchvision.ops import box_convert, generalized_box_iou

torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'criterion.json')


def xyxy(b):
    return box_convert(b, 'cxcywh', 'xyxy')


def sigmoid_focal_loss(inputs, targets, num_boxes, alpha=0.25, gamma=2):
    prob = inputs.sigmoid()
    ce_loss = F.binary_cross_entropy_with_logits(inputs, targets, reduction='none')
    p_t = prob * targets + (1 - prob) * (1 - targets)
    loss = ce_loss * ((1 - p_t) ** gamma)
    alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
    loss = alpha_t * loss
    return loss.mean(1).sum() / num_boxes


@torch.no_grad()
def match(logits, boxes, targets, focal, cost_class, cost_bbox, cost_giou, alpha=0.25, gamma=2.0):
    bs, nq = logits.shape[:2]
    out_bbox = boxes.flatten(0, 1)
    tgt_ids = torch.cat([t['labels'] for t in targets])
    tgt_bbox = torch.cat([t['boxes'] for t in targets])
    if focal:
        out_prob = logits.flatten(0, 1).sigmoid()
        neg = (1 - alpha) * (out_prob ** gamma) * (-(1 - out_prob + 1e-8).log())
        pos = alpha * ((1 - out_prob) ** gamma) * (-(out_prob + 1e-8).log())
        c_class = pos[:, tgt_ids] - neg[:, tgt_ids]
    else:
        out_prob = logits.flatten(0, 1).softmax(-1)
        c_class = -out_prob[:, tgt_ids]
    c_bbox = torch.cdist(out_bbox, tgt_bbox, p=1)
    c_giou = -generalized_box_iou(xyxy(out_bbox), xyxy(tgt_bbox))
    C = (cost_bbox * c_bbox + cost_class * c_class + cost_giou * c_giou).view(bs, nq, -1)
    sizes = [len(t['boxes']) for t in targets]
    indices = [linear_sum_assignment(c[i]) for i, c in enumerate(C.split(sizes, -1))]
    return [(torch.as_tensor(i, dtype=torch.int64), torch.as_tensor(j, dtype=torch.int64)) for i, j in indices], C


def layer_losses(logits, boxes, targets, indices, num_boxes, focal, num_classes, eos_coef=0.1):
    batch_idx = torch.cat([torch.full_like(src, i) for i, (src, _) in enumerate(indices)])
    src_idx = torch.cat([src for (src, _) in indices])
    target_classes_o = torch.cat([t['labels'][J] for t, (_, J) in zip(targets, indices)])
    if focal:
        target_classes = torch.full(logits.shape[:2], num_classes, dtype=torch.int64)
        target_classes[batch_idx, src_idx] = target_classes_o
        onehot = torch.zeros([logits.shape[0], logits.shape[1], logits.shape[2] + 1])
        onehot.scatter_(2, target_classes.unsqueeze(-1), 1)
        onehot = onehot[:, :, :-1]
        loss_ce = sigmoid_focal_loss(logits, onehot, num_boxes) * logits.shape[1]
    else:
        target_classes = torch.full(logits.shape[:2], num_classes, dtype=torch.int64)
        target_classes[batch_idx, src_idx] = target_classes_o
        weight = torch.ones(num_classes + 1)
        weight[-1] = eos_coef
        loss_ce = F.cross_entropy(logits.transpose(1, 2), target_classes, weight)
    src_boxes = boxes[batch_idx, src_idx]
    tgt_boxes = torch.cat([t['boxes'][i] for t, (_, i) in zip(targets, indices)])
    loss_bbox = F.l1_loss(src_boxes, tgt_boxes, reduction='none').sum() / num_boxes
    loss_giou = (1 - torch.diag(generalized_box_iou(xyxy(src_boxes), xyxy(tgt_boxes)))).sum() / num_boxes
    return {'loss_ce': loss_ce.item(), 'loss_bbox': loss_bbox.item(), 'loss_giou': loss_giou.item()}


def random_boxes(gen, n):
    cxcy = torch.rand(n, 2, generator=gen) * 0.6 + 0.2
    wh = torch.rand(n, 2, generator=gen) * 0.3 + 0.05
    return torch.cat([cxcy, wh], 1)


def case(gen, focal, num_classes, nq, sizes, layers):
    c = num_classes if focal else num_classes + 1
    targets = [{'labels': torch.randint(0, num_classes, (s,), generator=gen), 'boxes': random_boxes(gen, s)} for s in sizes]
    num_boxes = max(sum(sizes), 1)
    weights = (2, 5, 2) if focal else (1, 5, 2)
    out = {'focal': focal, 'num_classes': num_classes, 'targets': [{'labels': t['labels'].tolist(), 'boxes': t['boxes'].flatten().tolist()} for t in targets], 'layers': []}
    total = 0.0
    for _ in range(layers):
        logits = torch.randn(len(sizes), nq, c, generator=gen) * 2
        boxes = random_boxes(gen, len(sizes) * nq).view(len(sizes), nq, 4)
        indices, C = match(logits, boxes, targets, focal, *weights)
        losses = layer_losses(logits, boxes, targets, indices, num_boxes, focal, num_classes)
        total += weights[0] * losses['loss_ce'] + weights[1] * losses['loss_bbox'] + weights[2] * losses['loss_giou']
        out['layers'].append({
            'logits': logits.flatten().tolist(), 'boxes': boxes.flatten().tolist(), 'shape': [len(sizes), nq, c],
            'cost': [x.flatten().tolist() for x in C.split(sizes, -1)],
            'indices': [[i.tolist(), j.tolist()] for i, j in indices], 'losses': losses,
        })
    out['total'] = total
    return out


if __name__ == '__main__':
    gen = torch.Generator().manual_seed(7)
    x = torch.randn(2, 5, 3, generator=gen) * 3
    t = (torch.rand(2, 5, 3, generator=gen) > 0.7).double()
    record = {
        'focal_loss': {'logits': x.flatten().tolist(), 'targets': t.flatten().tolist(), 'shape': [2, 5, 3], 'sum': sigmoid_focal_loss(x, t, 1).item() * 5},
        'focal': case(gen, True, 4, 7, [3, 1], 2),
        'softmax': case(gen, False, 4, 7, [2, 3], 2),
    }
    with open(OUT, 'w') as f:
        json.dump(record, f)
    print('wrote', OUT)
