"""A solver layer inside a net

A linear program as the last layer of a network. From 6 features, the net scores 12 items, and
the LP `max score^T x  s.t.  0 <= x <= 1, sum x <= 4` picks the best four. The LP's solution is
piecewise constant in the scores, so its implicit derivative is zero and nothing upstream would
learn. LPGD instead differentiates by re-solving the LP with the loss gradient folded into the
cost: `OptLayer(HighsLP(), ..., backward="lpgd")`. The net learns the choices of a hidden rule
from 32 examples. With `backward="implicit"` instead, the gradient that reaches the scores is zero.

Pinned figure: `final_loss = 2.7812`, the training loss after 30 steps with LPGD (squared error
of the choices, per example; 5.09 at the start).
"""

import numpy as np
import torch
from torch import nn

from invtools.solver_layers import HighsLP, OptLayer

n, k, budget = 12, 6, 4.0
G = np.vstack([np.eye(n), -np.eye(n), np.ones((1, n))])  # x <= 1, -x <= 0, sum x <= budget
h = torch.tensor(np.concatenate([np.ones(n), np.zeros(n), [budget]]))


class Chooser(nn.Module):
    """features (B, k) -> scores (B, n) -> the LP's choice x (B, n) in [0, 1], sum x <= budget."""

    def __init__(self, backward: str):
        super().__init__()
        self.score = nn.Linear(k, n, dtype=torch.float64)
        self.choose = OptLayer(HighsLP(), G=G, backward=backward, tau=1.0)

    def forward(self, features):
        return self.choose(-self.score(features), None, h.expand(len(features), -1))  # min -score^T x


rng = np.random.default_rng(0)
features = torch.tensor(rng.standard_normal((32, k)))
hidden = torch.tensor(rng.standard_normal((n, k)))
with torch.no_grad():
    chosen = OptLayer(HighsLP(), G=G)(-(features @ hidden.T), None, h.expand(32, -1))  # the rule's picks

torch.manual_seed(0)
net = Chooser("implicit")
((net(features) - chosen) ** 2).sum(dim=1).mean().backward()
print(f"implicit: gradient norm at the scores' weights {net.score.weight.grad.norm():.3g} (nothing learns)")

torch.manual_seed(0)
net = Chooser("lpgd")
opt = torch.optim.Adam(net.parameters(), lr=0.1)
for step in range(30):
    loss = ((net(features) - chosen) ** 2).sum(dim=1).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    if step % 10 == 0:
        print(f"lpgd, step {step:2d}: loss {loss.item():.3f}")
with torch.no_grad():
    final_loss = float(((net(features) - chosen) ** 2).sum(dim=1).mean())
print(f"final training loss with LPGD: {final_loss:.4f} (a random choice's is about "
      f"{2 * budget * (1 - budget / n):.2f})")
