"""The PyTorch side of the loader benchmark: PIL decode, DETR's training transforms (torchvision functional ops:
random flip, RandomSelect(RandomResize, RandomResize + RandomSizeCrop + RandomResize), ToTensor, Normalize),
padding collate with a pixel mask, through torch's DataLoader with 2 worker processes. Prints JSON last."""
import json
import random
import sys
import time

import torch
import torchvision.transforms.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset

torch.set_num_threads(2)
annotation_file, image_dir, batch_size, workers, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
scales = json.loads(sys.argv[6])
max_size = int(sys.argv[7])
crop_resizes = json.loads(sys.argv[8])
crop_min, crop_max = json.loads(sys.argv[9])


def size_with_aspect_ratio(w, h, size, max_size=None):
    if max_size is not None:
        mn, mx = float(min(w, h)), float(max(w, h))
        if mx / mn * size > max_size:
            size = int(round(max_size * mn / mx))
    if (w <= h and w == size) or (h <= w and h == size):
        return h, w
    if w < h:
        return int(size * h / w), size
    return size, int(size * w / h)


def resize(img, boxes, size, max_size=None):
    oh, ow = size_with_aspect_ratio(img.width, img.height, size, max_size)
    rw, rh = ow / img.width, oh / img.height
    return F.resize(img, [oh, ow]), boxes * torch.tensor([rw, rh, rw, rh])


def crop(img, boxes, labels, i, j, h, w):
    img = F.crop(img, i, j, h, w)
    b = boxes - torch.tensor([j, i, j, i], dtype=torch.float32)
    b = torch.min(b.reshape(-1, 2, 2), torch.tensor([w, h], dtype=torch.float32)).clamp(min=0)
    keep = torch.all(b[:, 1, :] > b[:, 0, :], dim=1)
    return img, b.reshape(-1, 4)[keep], labels[keep]


class Coco(Dataset):
    def __init__(self):
        data = json.load(open(annotation_file))
        self.images = sorted(data["images"], key=lambda x: x["id"])
        self.anns = {}
        for a in data["annotations"]:
            x, y, w, h = a["bbox"]
            self.anns.setdefault(a["image_id"], []).append(([x, y, x + w, y + h], a["category_id"]))

    def __len__(self):
        return len(self.images)

    def __getitem__(self, k):
        info = self.images[k]
        img = Image.open(f"{image_dir}/{info['file_name']}").convert("RGB")
        anns = self.anns.get(info["id"], [])
        boxes = torch.tensor([a[0] for a in anns], dtype=torch.float32).reshape(-1, 4)
        labels = torch.tensor([a[1] for a in anns], dtype=torch.int64)
        if random.random() < 0.5:
            img = F.hflip(img)
            boxes = boxes[:, [2, 1, 0, 3]] * torch.tensor([-1, 1, -1, 1]) + torch.tensor([img.width, 0, img.width, 0])
        if random.random() < 0.5:
            img, boxes = resize(img, boxes, random.choice(scales), max_size)
        else:
            img, boxes = resize(img, boxes, random.choice(crop_resizes))
            w = random.randint(min(crop_min, img.width), min(img.width, crop_max))
            h = random.randint(min(crop_min, img.height), min(img.height, crop_max))
            i, j = random.randint(0, img.height - h), random.randint(0, img.width - w)
            img, boxes, labels = crop(img, boxes, labels, i, j, h, w)
            img, boxes = resize(img, boxes, random.choice(scales), max_size)
        tensor = F.normalize(F.to_tensor(img), [0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
        h, w = tensor.shape[-2:]
        cxcywh = torch.stack([(boxes[:, 0] + boxes[:, 2]) / 2 / w, (boxes[:, 1] + boxes[:, 3]) / 2 / h, (boxes[:, 2] - boxes[:, 0]) / w, (boxes[:, 3] - boxes[:, 1]) / h], 1)
        return tensor, {"boxes": cxcywh, "labels": labels}


def collate(batch):
    h = max(t.shape[1] for t, _ in batch)
    w = max(t.shape[2] for t, _ in batch)
    images = torch.zeros(len(batch), 3, h, w)
    mask = torch.ones(len(batch), h, w, dtype=torch.bool)
    for k, (t, _) in enumerate(batch):
        images[k, :, : t.shape[1], : t.shape[2]] = t
        mask[k, : t.shape[1], : t.shape[2]] = False
    return images, mask, [target for _, target in batch]


def worker_init(_):
    torch.set_num_threads(1)


loader = DataLoader(Coco(), batch_size=batch_size, shuffle=True, num_workers=workers, collate_fn=collate, worker_init_fn=worker_init, persistent_workers=workers > 0)
times = []
for epoch in range(epochs + 1):
    start = time.perf_counter()
    n = 0
    for images, mask, targets in loader:
        n += images.shape[0]
    if epoch > 0:
        times.append(time.perf_counter() - start)
times.sort()
print(json.dumps({"images": n, "epoch_ms": times[len(times) // 2] * 1000}))
