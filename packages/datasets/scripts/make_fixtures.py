"""Golden values for the datasets tests, from the reference libraries (run with /usr/bin/python3).

pil_resize.json: PIL's antialiased bilinear resize (what torchvision's Resize does to PIL images, as in DETR's
transforms) of a small random RGB image to smaller, larger and mixed sizes.
"""
import json
import os

import numpy as np
from PIL import Image

rng = np.random.default_rng(0)
image = rng.integers(0, 256, size=(7, 9, 3), dtype=np.uint8)
cases = []
for width, height in [(4, 3), (13, 11), (5, 9), (9, 7), (2, 2), (17, 4)]:
    out = np.asarray(Image.fromarray(image).resize((width, height), Image.BILINEAR))
    cases.append({"width": width, "height": height, "data": out.reshape(-1).tolist()})
here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "..", "test", "fixtures", "pil_resize.json"), "w") as f:
    json.dump({"width": 9, "height": 7, "data": image.reshape(-1).tolist(), "cases": cases}, f)
