"""Golden values for the datasets tests, from the reference libraries (run with /usr/bin/python3).

pil_resize.json: PIL's antialiased bilinear resize (what torchvision's Resize does to PIL images, as in DETR's
transforms) of a small random RGB image to smaller, larger and mixed sizes.
"""
import json
import os

import numpy as np
from PIL import Image

rng = np.random.default_rng(0)
inputs = []
for (height, width), sizes in [((7, 9), [(4, 3), (13, 11), (5, 9), (9, 7), (2, 2), (17, 4)]), ((30, 40), [(23, 17), (57, 43), (11, 30), (40, 13)])]:
    image = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    cases = []
    for out_width, out_height in sizes:
        out = np.asarray(Image.fromarray(image).resize((out_width, out_height), Image.BILINEAR))
        cases.append({"width": out_width, "height": out_height, "data": out.reshape(-1).tolist()})
    inputs.append({"width": width, "height": height, "data": image.reshape(-1).tolist(), "cases": cases})
here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "..", "test", "fixtures", "pil_resize.json"), "w") as f:
    json.dump(inputs, f)
