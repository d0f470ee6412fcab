"""Makes the @deformjs/weights test fixtures with the PyTorch reference. Run with /usr/bin/python3 from the package folder."""
import argparse
import collections
import json
import os
import struct

import torch

OUT = os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures')
os.makedirs(OUT, exist_ok=True)
torch.manual_seed(0)


def values(t):
    return t.detach().reshape(-1).double().tolist()


# A checkpoint as training scripts save it: nested dicts, argparse args, a state_dict with parameters,
# buffers, strided views, storage offsets and several storage dtypes.
conv = torch.nn.Conv2d(3, 4, 3)
bn = torch.nn.BatchNorm2d(4)
bn.running_mean.uniform_()
base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
state = collections.OrderedDict()
state['backbone.conv.weight'] = torch.nn.Parameter(conv.weight.detach().clone())
state['backbone.conv.bias'] = conv.bias.detach().clone()
for k, v in bn.state_dict().items():
    state['backbone.bn.' + k] = v
state['views.transposed'] = base.t()  # non-contiguous
state['views.column'] = base[:, 2]  # stride 6, offset 2
state['views.slice'] = base[1:3, 1:4]  # offset 7, strides (6, 1)
state['views.expanded'] = torch.tensor([1.5, -2.0]).reshape(2, 1).expand(2, 3)  # stride 0
state['dtypes.f16'] = torch.tensor([0.5, -1.25, 65504.0, 6e-8, 1 / 3], dtype=torch.float16)
state['dtypes.bf16'] = torch.tensor([0.5, -1.25, 3.0e38, 1 / 3], dtype=torch.bfloat16)
state['dtypes.f64'] = torch.tensor([1 / 3, -2.5e-40, 1e10], dtype=torch.float64)
state['dtypes.i64'] = torch.tensor([0, -1, 2**31 - 1, -2**31], dtype=torch.int64)
state['dtypes.i32'] = torch.tensor([7, -8], dtype=torch.int32)
state['dtypes.i16'] = torch.tensor([-300, 300], dtype=torch.int16)
state['dtypes.i8'] = torch.tensor([-5, 5], dtype=torch.int8)
state['dtypes.u8'] = torch.tensor([0, 255], dtype=torch.uint8)
state['dtypes.bool'] = torch.tensor([True, False, True])
checkpoint = {'model': state, 'epoch': 3, 'args': argparse.Namespace(lr=2e-4, name='tiny'), 'note': 'fixture'}
torch.save(checkpoint, os.path.join(OUT, 'checkpoint.pth'))
# The same checkpoint in the legacy (pre-1.6) format that older model zoos still ship.
torch.save(checkpoint, os.path.join(OUT, 'checkpoint_legacy.pth'), _use_new_zipfile_serialization=False)
# The same state dict saved bare and with DataParallel's `module.` prefix.
torch.save(collections.OrderedDict(('module.' + k, v) for k, v in state.items() if k.startswith('backbone.')), os.path.join(OUT, 'data_parallel.pth'))
expected = {k: {'shape': list(v.shape), 'values': [float(x) if x == x else None for x in values(v)]} for k, v in state.items()}
with open(os.path.join(OUT, 'checkpoint.json'), 'w') as f:
    json.dump({'epoch': 3, 'args': {'lr': 2e-4, 'name': 'tiny'}, 'tensors': expected}, f)

# An int64 value tfjs cannot hold.
torch.save({'big': torch.tensor([2**40], dtype=torch.int64)}, os.path.join(OUT, 'int64_overflow.pth'))


# A malicious checkpoint: unpickling it with PyTorch (before weights_only) would run a shell command.
class Pwned:
    def __reduce__(self):
        return (os.system, ('echo pwned',))


torch.save({'weight': torch.zeros(2), 'payload': Pwned()}, os.path.join(OUT, 'malicious.pth'))


# The same attack leaving evidence: the test checks this marker file never appears.
class Marker:
    def __reduce__(self):
        return (os.system, ('touch /tmp/deformjs-weights-pwned-marker',))


torch.save({'payload': Marker()}, os.path.join(OUT, 'malicious_marker.pth'))

# A checkpoint re-zipped with deflate (torch.save never compresses): refused with a clear error.
import zipfile  # noqa: E402

with zipfile.ZipFile(os.path.join(OUT, 'data_parallel.pth')) as src, zipfile.ZipFile(os.path.join(OUT, 'deflated.pth'), 'w', zipfile.ZIP_DEFLATED) as dst:
    for info in src.infolist():
        dst.writestr(info.filename, src.read(info.filename))


# safetensors written by hand (the format is small) in every dtype the reader supports.
def safetensors(path, tensors, metadata=None):
    header, blobs, offset = {}, [], 0
    if metadata:
        header['__metadata__'] = metadata
    for name, (dtype, shape, data) in tensors.items():
        header[name] = {'dtype': dtype, 'shape': shape, 'data_offsets': [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    raw = json.dumps(header).encode()
    raw += b' ' * (-len(raw) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(raw)) + raw + b''.join(blobs))


def raw(t):
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().tobytes()
    return t.contiguous().numpy().tobytes()


st = {
    'F32': torch.randn(2, 3),
    'F16': state['dtypes.f16'],
    'BF16': state['dtypes.bf16'],
    'F64': state['dtypes.f64'],
    'I64': state['dtypes.i64'],
    'I32': state['dtypes.i32'],
    'I16': state['dtypes.i16'],
    'I8': state['dtypes.i8'],
    'U8': state['dtypes.u8'],
    'BOOL': state['dtypes.bool'],
}
safetensors(os.path.join(OUT, 'dtypes.safetensors'), {k: (k, list(v.shape), raw(v)) for k, v in st.items()}, {'source': 'make_fixtures.py'})
with open(os.path.join(OUT, 'dtypes.json'), 'w') as f:
    json.dump({k: values(v) for k, v in st.items()}, f)
print('fixtures written to', os.path.abspath(OUT))
