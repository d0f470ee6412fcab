"""Makes test/fixtures/matching.json: scipy.optimize.linear_sum_assignment's optimal costs on random, tied and
partly forbidden (+inf) matrices. Run with /usr/bin/python3 from the package folder (python3-scipy)."""
import json
import math
import os

import numpy as np
import scipy.optimize

OUT = os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures', 'matching.json')

rng = np.random.default_rng(4)
cases = []
for shape, kind in [((7, 5), 'float'), ((5, 7), 'float'), ((40, 15), 'float'), ((15, 40), 'int'), ((12, 12), 'int'), ((10, 6), 'inf')]:
    if kind == 'float':
        c = rng.random(shape)
    elif kind == 'int':
        c = rng.integers(0, 4, shape).astype(float)  # many ties
    else:
        c = rng.random(shape)
        c[rng.random(shape) < 0.3] = np.inf
    r, k = scipy.optimize.linear_sum_assignment(c)
    cases.append({'shape': list(shape), 'cost': [None if math.isinf(v) else v for v in c.reshape(-1).tolist()], 'rows': r.tolist(), 'cols': k.tolist(), 'total': float(c[r, k].sum())})
with open(OUT, 'w') as f:
    json.dump(cases, f, separators=(',', ':'))
