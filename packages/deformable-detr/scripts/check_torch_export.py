"""Interop back to PyTorch: our DEFORMABLE_DETR_SMALL, exported by `encodeTorchStateDict` (safetensors, PyTorch
names and layouts), loads with load_state_dict(strict=True) into the PyTorch port of upstream's Deformable DETR
(make_parity_fixtures.py: the official module tree and key names) and reproduces our outputs.

Runs scripts/export_for_torch.ts (through tsx) into a temporary folder, loads the state_dict strictly, runs
the same batch in float64, checks the outputs against ours (max abs difference < 1e-4) and writes
test/fixtures/torch-export-small.json: the configuration, the batch, PyTorch's state_dict key shapes and
PyTorch's outputs, which test/torch_export.test.ts compares with a fresh export, without Python.
Run with Debian's torch: /usr/bin/python3 scripts/check_torch_export.py (from packages/deformable-detr).
"""
import json
import os
import struct
import subprocess
import sys
import tempfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_parity_fixtures import DeformableDETR  # noqa: E402  (the PyTorch port; sets float64 as default)

OUT = os.path.join(HERE, '..', 'test', 'fixtures', 'torch-export-small.json')
DTYPES = {'F32': torch.float32, 'I32': torch.int32, 'F64': torch.float64, 'I64': torch.int64}


def load_safetensors(path):
    """safetensors' format (8-byte little-endian header length, JSON header, raw little-endian data)."""
    with open(path, 'rb') as f:
        data = f.read()
    (n,) = struct.unpack('<Q', data[:8])
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    out = {}
    for name, info in header.items():
        if name == '__metadata__':
            continue
        start, end = info['data_offsets']
        t = torch.frombuffer(bytearray(body[start:end]), dtype=DTYPES[info['dtype']])
        out[name] = t.reshape(info['shape'])
    return out, header.get('__metadata__', {})


def main():
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(['npx', 'tsx', os.path.join(HERE, 'export_for_torch.ts'), tmp], cwd=os.path.join(HERE, '..'),
                       check=True)
        state, metadata = load_safetensors(os.path.join(tmp, 'small.safetensors'))
        with open(os.path.join(tmp, 'input.json')) as f:
            given = json.load(f)
    assert metadata.get('format') == 'pt', metadata
    cfg = given['config']
    model = DeformableDETR(cfg)
    model.load_state_dict(state, strict=True)
    model.eval()
    images = torch.tensor(given['images_nchw'])
    mask = torch.tensor(given['mask']).bool()
    with torch.no_grad():
        out = model(images, mask)
    diffs = {k: (out[k] - torch.tensor(given['ours'][k])).abs().max().item() for k in ('pred_logits', 'pred_boxes')}
    print('loaded', len(state), 'tensors strictly;', sum(v.numel() for v in state.values()), 'parameters;',
          'max |PyTorch - ours|:', diffs)
    assert all(d < 1e-4 for d in diffs.values()), diffs
    record = {
        'config': cfg,
        'images_nchw': given['images_nchw'],
        'mask': given['mask'],
        'state_dict_shapes': {k: list(v.shape) for k, v in model.state_dict().items()},
        'pred_logits': out['pred_logits'].float().tolist(),
        'pred_boxes': out['pred_boxes'].float().tolist(),
        'max_abs_difference_when_made': diffs,
    }
    with open(OUT, 'w') as f:
        json.dump(record, f)


if __name__ == '__main__':
    main()
