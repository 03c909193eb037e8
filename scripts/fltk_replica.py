#!/usr/bin/python3
"""The seed's own experiment, as Python FLTK v0.3.1 runs it, in PyTorch.

FashionMNIST-CNN, 2 clients, 3 rounds, batch 16, SGD lr 0.001 momentum 0.9
(each client keeps its optimizer across rounds), FLTK's uniform sampler
(client c of world size 3 holds the training images i ≡ c (mod 3), 20,000
each, reshuffled every round), ToTensor only, the unweighted mean of the
clients' state_dicts (buffers included) loaded back into every client, and
the federator's test on the odd-indexed 5,000 test images. Every client
starts from the same weights (FLTK's default_models, torch.manual_seed).

FLTK's README gives one run (86.82 / 88.10 / 88.88 %); this replica gives
the spread over seeds that one run cannot, so fltk's accuracy can be set
against a distribution (scripts/fltk-side-by-side.sh --seeds runs fltk's).

    /usr/bin/python3 scripts/fltk_replica.py --seeds 1,2,3 [--data data/fashion-mnist]

Prints one CSV line per seed: seed,acc_round1,acc_round2,acc_round3,seconds.
"""

import argparse
import gzip
import os
import random
import sys
import time

try:
    import torch
    from torch import nn
    import torch.nn.functional as F
except ImportError as exc:  # pragma: no cover
    sys.exit(f"fltk_replica.py: cannot import torch ({exc}); install Debian python3-torch and run with /usr/bin/python3")


class FashionMNISTCNN(nn.Module):
    """FLTK: [conv5x5 1→16 pad2, BN, ReLU, maxpool2], [conv5x5 16→32 pad2, BN, ReLU, maxpool2], FC 1568-10."""

    def __init__(self):
        super().__init__()
        self.layer1 = nn.Sequential(nn.Conv2d(1, 16, 5, padding=2), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2))
        self.layer2 = nn.Sequential(nn.Conv2d(16, 32, 5, padding=2), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2))
        self.fc = nn.Linear(7 * 7 * 32, 10)

    def forward(self, x):
        return self.fc(torch.flatten(self.layer2(self.layer1(x)), 1))


def read_idx(path):
    """Read an IDX file (gzip or raw) into a uint8 tensor of its shape."""
    opener = gzip.open if path.endswith('.gz') else open
    with opener(path, 'rb') as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 8:
        raise ValueError(f'{path}: not an unsigned-byte IDX file')
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], 'big') for i in range(dims)]
    body = data[4 + 4 * dims:]
    n = 1
    for d in shape:
        n *= d
    if len(body) != n:
        raise ValueError(f'{path}: {len(body)} bytes of data, header says {n}')
    return torch.frombuffer(bytearray(body), dtype=torch.uint8).reshape(shape)


def find(data_dir, stem):
    for name in (stem + '.gz', stem):
        p = os.path.join(data_dir, name)
        if os.path.exists(p):
            return p
    sys.exit(f'fltk_replica.py: {stem}(.gz) not found in {data_dir}; run make data')


def run(seed, xs, ys, tx, ty):
    torch.manual_seed(seed)
    init = FashionMNISTCNN().state_dict()
    clients = []
    for rank in (1, 2):
        net = FashionMNISTCNN()
        net.load_state_dict(init)
        opt = torch.optim.SGD(net.parameters(), lr=0.001, momentum=0.9)
        clients.append((rank, net, opt, list(range(rank, len(xs), 3))))
    server = FashionMNISTCNN()
    accs = []
    for rnd in range(1, 4):
        for rank, net, opt, idx in clients:
            random.Random(seed * 1000 + rank + rnd).shuffle(idx)  # FLTK reshuffles its shard every epoch
            net.train()
            for b in range(0, len(idx), 16):
                sel = torch.tensor(idx[b:b + 16])
                opt.zero_grad()
                loss = F.cross_entropy(net(xs[sel]), ys[sel])
                loss.backward()
                opt.step()
        states = [net.state_dict() for _, net, _, _ in clients]
        avg = {}
        for k in states[0]:
            if states[0][k].dtype.is_floating_point:
                avg[k] = sum(s[k] for s in states) / len(states)
            else:
                avg[k] = states[0][k]
        for _, net, _, _ in clients:
            net.load_state_dict(avg)
        server.load_state_dict(avg)
        server.eval()
        with torch.no_grad():
            pred = server(tx).argmax(1)
        accs.append(100.0 * (pred == ty).float().mean().item())
    return accs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--seeds', default='1,2,3', help='comma-separated seeds')
    ap.add_argument('--data', default='data/fashion-mnist', help='directory of the Fashion-MNIST IDX files')
    args = ap.parse_args()
    torch.set_num_threads(1)
    xs = read_idx(find(args.data, 'train-images-idx3-ubyte')).float().div(255).unsqueeze(1)
    ys = read_idx(find(args.data, 'train-labels-idx1-ubyte')).long()
    tx = read_idx(find(args.data, 't10k-images-idx3-ubyte')).float().div(255).unsqueeze(1)[1::2]
    ty = read_idx(find(args.data, 't10k-labels-idx1-ubyte')).long()[1::2]
    print('seed,acc_round1,acc_round2,acc_round3,seconds', flush=True)
    for seed in [int(s) for s in args.seeds.split(',') if s]:
        t0 = time.perf_counter()
        accs = run(seed, xs, ys, tx, ty)
        print(f'{seed},{accs[0]:.2f},{accs[1]:.2f},{accs[2]:.2f},{time.perf_counter() - t0:.1f}', flush=True)


if __name__ == '__main__':
    main()
