#!/usr/bin/python3
"""PyTorch CPU training throughput for the architectures of trainer/model.

Run with Debian's python3-torch (scripts/bench-train.sh installs it):

    /usr/bin/python3 scripts/bench_train_torch.py --threads 1,2 --batch 10,50 \
        --models MNIST2NN,MNISTCNN --seconds 2

For each model, thread count and batch size it times forward + cross-entropy
on logits + backward + optimizer step (SGD, lr 0.01, momentum 0 unless
--momentum) on one fixed random batch, after warm-up steps, for about
--seconds seconds. It prints CSV lines on stdout:

    model,batch,threads,samples_per_s,params

With --procs P > 1 it instead runs P copies of itself side by side, each a
process with one thread (as the seed FLTK runs one client per process),
and prints their summed samples/s with threads written "Px1".

Diagnostics (parameter counts, mismatches, unknown models) go to stderr.
Exit status 1 if a model is unknown or its parameter count differs from the
one the Go model registers; the other models are still measured.
"""

import argparse
import os
import subprocess
import sys
import time

try:
    import torch
    from torch import nn
    import torch.nn.functional as F
except ImportError as exc:  # pragma: no cover
    sys.exit(f"bench_train_torch.py: cannot import torch ({exc}); install Debian python3-torch "
             "(scripts/bench-train.sh does) and run with /usr/bin/python3")


# ---------------------------------------------------------------------------
# Architectures (same layouts as trainer/model; see
# /work/shared/reference/fltk-v0.3.1.md §1.8).

class MNIST2NN(nn.Module):
    """McMahan et al. 2017 2NN: MLP 784-200-200-10 with ReLU."""

    def __init__(self, classes=10):
        super().__init__()
        self.fc1 = nn.Linear(784, 200)
        self.fc2 = nn.Linear(200, 200)
        self.fc3 = nn.Linear(200, classes)

    def forward(self, x):
        x = torch.flatten(x, 1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


class MNISTCNN(nn.Module):
    """McMahan et al. 2017 CNN: 2×[conv5x5 same, ReLU, maxpool2] (32, 64), FC 3136-512 ReLU, FC 512-10."""

    def __init__(self, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 5, padding=2)
        self.conv2 = nn.Conv2d(32, 64, 5, padding=2)
        self.fc1 = nn.Linear(3136, 512)
        self.fc2 = nn.Linear(512, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc2(F.relu(self.fc1(torch.flatten(x, 1))))


class FashionMNISTCNN(nn.Module):
    """FLTK: [conv5x5 1→16 pad2, BN, ReLU, maxpool2], [conv5x5 16→32 pad2, BN, ReLU, maxpool2], FC 1568-10."""

    def __init__(self, classes=10):
        super().__init__()
        self.layer1 = nn.Sequential(nn.Conv2d(1, 16, 5, padding=2), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2))
        self.layer2 = nn.Sequential(nn.Conv2d(16, 32, 5, padding=2), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2))
        self.fc = nn.Linear(7 * 7 * 32, classes)

    def forward(self, x):
        return self.fc(torch.flatten(self.layer2(self.layer1(x)), 1))


class Cifar10CNN(nn.Module):
    """FLTK Cifar10CNN: 3 stages of 2×[conv3x3 pad1, ReLU, BN] + maxpool2, FC 2048-128, FC 128-10; no softmax."""

    def __init__(self, classes=10):
        super().__init__()
        layers, cin = [], 3
        for c in (32, 64, 128):
            layers += [nn.Conv2d(cin, c, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(c),
                       nn.Conv2d(c, c, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(c), nn.MaxPool2d(2)]
            cin = c
        self.features = nn.Sequential(*layers)
        self.fc1 = nn.Linear(128 * 4 * 4, 128)
        self.fc2 = nn.Linear(128, classes)

    def forward(self, x):
        return self.fc2(self.fc1(torch.flatten(self.features(x), 1)))


class BasicBlock(nn.Module):
    """kuangliu ResNet BasicBlock (conv3x3 without bias, BN, 1x1 conv + BN shortcut)."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet18(nn.Module):
    """kuangliu ResNet-18 for 32×32 inputs (Cifar10ResNet; Cifar100ResNet with 100 classes)."""

    def __init__(self, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        blocks, cin = [], 64
        for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            blocks += [BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)]
            cin = cout
        self.layers = nn.Sequential(*blocks)
        self.fc = nn.Linear(512, classes)

    def forward(self, x):
        out = self.layers(F.relu(self.bn1(self.conv1(x))))
        out = F.adaptive_avg_pool2d(out, 1)
        return self.fc(torch.flatten(out, 1))


class Cifar100VGG(nn.Module):
    """FLTK Cifar100VGG: VGG-16-BN (cfg D) + classifier 512-4096-4096-100 with dropout."""

    CFG = (64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M')

    def __init__(self, classes=100):
        super().__init__()
        layers, cin = [], 3
        for c in self.CFG:
            if c == 'M':
                layers.append(nn.MaxPool2d(2, 2))
                continue
            layers += [nn.Conv2d(cin, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
            cin = c
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Linear(512, 4096), nn.ReLU(inplace=True), nn.Dropout(),
            nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Dropout(),
            nn.Linear(4096, classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


class PreActResidual(nn.Module):
    """FLTK FashionMNISTResNet residual: BN, ReLU, conv3x3, BN, ReLU, conv3x3 (+ 1x1 conv shortcut)."""

    def __init__(self, cin, cout, conv1x1=False, stride=1):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin, eps=1e-3)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1)
        self.bn2 = nn.BatchNorm2d(cout, eps=1e-3)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.conv3 = nn.Conv2d(cin, cout, 1, stride) if conv1x1 else None

    def forward(self, x):
        y = self.conv1(F.relu(self.bn1(x)))
        y = self.conv2(F.relu(self.bn2(y)))
        if self.conv3 is not None:
            x = self.conv3(x)
        return y + x


class FashionMNISTResNet(nn.Module):
    """FLTK FashionMNISTResNet with the later AdaptiveAvgPool2d fix (v0.3.1's AvgPool2d(3) fails on 28×28)."""

    def __init__(self, classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 64, 7, 2, 3), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1))
        blocks = [PreActResidual(64, 64), PreActResidual(64, 64)]
        for cin, cout in ((64, 128), (128, 256), (256, 512)):
            blocks += [PreActResidual(cin, cout, conv1x1=True, stride=2), PreActResidual(cout, cout)]
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(512, classes)

    def forward(self, x):
        y = F.adaptive_avg_pool2d(self.blocks(self.stem(x)), 1)
        return self.fc(torch.flatten(y, 1))


class CharLSTM(nn.Module):
    """Character LSTM LM: embedding V-E, one LSTM layer of H units over T steps, FC H-V at every step.

    Defaults V 80, E 8, H 128, T 80 as trainer/model/charlstm.go. The Go LSTM has one bias per gate;
    nn.LSTM has two (b_ih, b_hh), so b_hh is frozen at zero to keep the same trainable parameters.
    """

    def __init__(self, classes=80, embed=8, hidden=128):
        super().__init__()
        self.embedding = nn.Embedding(classes, embed)
        self.lstm = nn.LSTM(embed, hidden, batch_first=True)
        with torch.no_grad():
            self.lstm.bias_hh_l0.zero_()
        self.lstm.bias_hh_l0.requires_grad_(False)
        self.decoder = nn.Linear(hidden, classes)

    def forward(self, x):  # x: (N, T) token ids -> logits (N·T, V)
        out, _ = self.lstm(self.embedding(x))
        return self.decoder(out.reshape(-1, out.shape[-1]))


# name -> (constructor, per-sample input shape, classes, expected trainable params).
# A model whose input shape is (T,) takes token ids in [0, classes) and has one label per step.
MODELS = {
    'MNIST2NN': (MNIST2NN, (1, 28, 28), 10, 199210),
    'MNISTCNN': (MNISTCNN, (1, 28, 28), 10, 1663370),
    'FashionMNISTCNN': (FashionMNISTCNN, (1, 28, 28), 10, 29034),
    'Cifar10CNN': (Cifar10CNN, (3, 32, 32), 10, 551466),
    'Cifar10ResNet': (ResNet18, (3, 32, 32), 10, 11173962),
    'Cifar100ResNet': (ResNet18, (3, 32, 32), 100, 11220132),
    'Cifar100VGG': (Cifar100VGG, (3, 32, 32), 100, 34015396),
    'FashionMNISTResNet': (FashionMNISTResNet, (1, 28, 28), 10, 11177482),
    'CharLSTM': (CharLSTM, (80,), 80, 80 * 8 + 8 * 512 + 128 * 512 + 512 + 128 * 80 + 80),  # 81,104
}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def bench(model, shape, classes, batch, seconds, warmup, momentum):
    """Return samples/s of forward + loss + backward + SGD step on one random batch."""
    gen = torch.Generator().manual_seed(1)
    if len(shape) == 1:  # token sequences, one label per step
        x = torch.randint(0, classes, (batch,) + shape, generator=gen)
        y = torch.randint(0, classes, (batch * shape[0],), generator=gen)
    else:
        x = torch.rand((batch,) + shape, generator=gen)
        y = torch.randint(0, classes, (batch,), generator=gen)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=momentum)
    model.train()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    for _ in range(warmup):
        step()
    steps, start = 0, time.perf_counter()
    while True:
        step()
        steps += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return steps * batch / elapsed


def side_by_side(args):
    """Run args.procs one-thread copies of this script at once per model and
    batch; print the summed samples/s."""
    if args.header:
        print('model,batch,threads,samples_per_s,params', flush=True)
    status = 0
    for name in [m for m in args.models.split(',') if m]:
        for batch in args.batch:
            cmd = [sys.executable, os.path.abspath(__file__), '--models', name, '--batch', str(batch),
                   '--threads', '1', '--seconds', str(args.seconds), '--warmup', str(args.warmup),
                   '--momentum', str(args.momentum)]
            procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) for _ in range(args.procs)]
            total, params, ok = 0.0, '', True
            for p in procs:
                out, _ = p.communicate()
                rows = [r.split(',') for r in out.splitlines() if r.count(',') == 4]
                if p.returncode != 0 or len(rows) != 1:
                    ok = False
                    continue
                total += float(rows[0][3])
                params = rows[0][4]
            if not ok:
                log(f'{name}: a side-by-side process failed')
                status = 1
                continue
            print(f'{name},{batch},{args.procs}x1,{total:.1f},{params}', flush=True)
    return status


def int_list(s):
    return [int(v) for v in s.split(',') if v]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--models', default='MNIST2NN,MNISTCNN,FashionMNISTCNN,Cifar10CNN',
                    help='comma-separated model names (known: %s)' % ','.join(MODELS))
    ap.add_argument('--batch', type=int_list, default=[10, 50], help='batch sizes, e.g. 10,50')
    ap.add_argument('--threads', type=int_list, default=[1], help='intra-op thread counts, e.g. 1,2')
    ap.add_argument('--seconds', type=float, default=2.0, help='timed seconds per measurement')
    ap.add_argument('--warmup', type=int, default=3, help='untimed steps before each measurement')
    ap.add_argument('--momentum', type=float, default=0.0, help='SGD momentum (lr is 0.01)')
    ap.add_argument('--header', action='store_true', help='print the CSV header line first')
    ap.add_argument('--procs', type=int, default=1,
                    help='P > 1: run P one-thread processes side by side and print their sum (threads "Px1")')
    args = ap.parse_args()
    if args.procs > 1:
        return side_by_side(args)

    torch.set_num_interop_threads(1)
    log(f'torch {torch.__version__}, SGD lr 0.01 momentum {args.momentum}, '
        f'{args.seconds:g}s per measurement after {args.warmup} warm-up steps')
    if args.header:
        print('model,batch,threads,samples_per_s,params', flush=True)
    status = 0
    for name in [m for m in args.models.split(',') if m]:
        if name not in MODELS:
            log(f'{name}: unknown model (known: {",".join(MODELS)}); skipped')
            status = 1
            continue
        ctor, shape, classes, want = MODELS[name]
        torch.manual_seed(1)
        model = ctor(classes)
        params = sum(p.numel() for p in model.parameters() if p.requires_grad)
        ok = params == want
        log(f'{name}: {params} trainable params (Go model: {want}) {"OK" if ok else "MISMATCH"}')
        if not ok:
            status = 1
        for threads in args.threads:
            torch.set_num_threads(threads)
            for batch in args.batch:
                sps = bench(model, shape, classes, batch, args.seconds, args.warmup, args.momentum)
                print(f'{name},{batch},{threads},{sps:.1f},{params}', flush=True)
    return status


if __name__ == '__main__':
    sys.exit(main())
