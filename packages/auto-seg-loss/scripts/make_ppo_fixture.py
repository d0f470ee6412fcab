"""Golden values for one round of the official PPO update (ASL_search/autoloss_ppo_bezier.py with
ASL_search/truncated_normal.py, restated for CPU): fixed thetas and rewards, 60 Adam steps on the logits.

Run with Debian's interpreter: /usr/bin/python3 scripts/make_ppo_fixture.py
Writes test/fixtures/ppo.json.
"""
import json
import math
import os

import numpy as np
import torch

torch.manual_seed(1)
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, '..', 'test', 'fixtures', 'ppo.json')


class TruncatedNormal:
    def __init__(self, mu, sigma, a, b):
        self.mu, self.sigma, self.a, self.b = mu, sigma, a, b
        n = len(mu)
        self.normal = torch.distributions.normal.Normal(torch.zeros(n, dtype=mu.dtype), torch.ones(n, dtype=mu.dtype))

    def sample(self, batch_size):
        alpha = (-self.mu + self.a) / self.sigma
        beta = (-self.mu + self.b) / self.sigma
        uniform = torch.rand(batch_size, len(self.mu), dtype=self.mu.dtype)
        alpha_cdf = self.normal.cdf(alpha)
        p = (self.normal.cdf(beta) - alpha_cdf).view(1, -1) * uniform + alpha_cdf.view(1, -1)
        eps = torch.finfo(p.dtype).eps
        v = torch.clamp(2 * p - 1, -1 + eps, 1 - eps)
        x = self.mu.view(1, -1) + (2 ** 0.5) * torch.erfinv(v) * self.sigma.view(1, -1)
        return torch.clamp(x, self.a, self.b).detach()

    def log_prob(self, x):
        alpha = (-self.mu + self.a) / self.sigma
        beta = (-self.mu + self.b) / self.sigma
        normal_x = (x - self.mu) / self.sigma
        down = (self.normal.cdf(beta) - self.normal.cdf(alpha)).log().view(1, -1)
        up = (1.0 / self.sigma).log() + self.normal.log_prob(normal_x)
        return (up - down).where((x >= self.a) & (x <= self.b), torch.tensor(-np.inf, dtype=x.dtype))


def main():
    dtype = torch.float64
    mu0 = [0.25, 0.25, 1 / 3, 1 / 3, 0.5, 0.5]
    mu_x = (-torch.log(1.0 / torch.tensor(mu0, dtype=dtype) - 1)).requires_grad_()
    sigma = torch.full((6,), 0.2, dtype=dtype)
    optimizer = torch.optim.Adam([mu_x], lr=0.2)
    sampler = TruncatedNormal(mu_x.sigmoid().detach(), sigma, 0.0, 1.0)
    thetas = torch.cat([sampler.mu.view(1, -1), sampler.sample(7)], 0)
    rewards = torch.tensor([0.5, 0.62, 0.41, 0.55, 0.48, 0.7, 0.3, 0.52], dtype=dtype)
    advantages = (rewards - rewards[0]).view(-1, 1)
    init_log_prob = sampler.log_prob(thetas).detach()
    for _ in range(60):
        sampler = TruncatedNormal(mu_x.sigmoid(), sigma, 0.0, 1.0)
        ratio = (sampler.log_prob(thetas) - init_log_prob).exp()
        clipped = ratio.clamp(1 - 0.2, 1 + 0.2)
        loss = -torch.min(ratio * advantages, clipped * advantages).mean(dim=0).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    out = {
        'source': 'scripts/make_ppo_fixture.py (official PPO update, float64)',
        'initialMean': mu0, 'std': 0.2, 'learningRate': 0.2, 'clipEps': 0.2, 'updatesPerRound': 60,
        'thetas': thetas.tolist(), 'rewards': rewards.tolist(),
        'meanAfter': mu_x.sigmoid().tolist(),
    }
    with open(OUT, 'w') as f:
        json.dump(out, f, indent=1)
    print(f'wrote {OUT}', out['meanAfter'])


if __name__ == '__main__':
    main()
