#!/usr/bin/env python3
"""Peer measurement for bench/train-epoch.sh: seconds per training epoch of LeNet-300-100 / LeNet-5 on the
embedded MNIST in PyTorch, with the same set-up as `slimnet train` (Adam, lr 1e-3, batch size, threads, data
already in memory as normalised float tensors, shuffled each epoch). Prints one JSON line per epoch."""
import argparse, gzip, json, os, struct, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)

class LeNet300(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(784, 300), nn.Linear(300, 100), nn.Linear(100, 10)
    def forward(self, x):
        x = x.flatten(1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))

class LeNet5(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 20, 5), nn.Conv2d(20, 50, 5)
        self.fc1, self.fc2 = nn.Linear(800, 500), nn.Linear(500, 10)
    def forward(self, x):
        x = F.relu(F.max_pool2d(self.conv1(x), 2, 2))
        x = F.relu(F.max_pool2d(self.conv2(x), 2, 2))
        return self.fc2(F.relu(self.fc1(x.flatten(1))))

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=["lenet-300-100", "lenet-5"], required=True)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "data", "mnist"))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    x = torch.from_numpy(read_idx(os.path.join(a.data, "train-images-idx3-ubyte.gz")).astype(np.float32) / 255.0)
    x = ((x - 0.1307) / 0.3081).unsqueeze(1).contiguous()
    y = torch.from_numpy(read_idx(os.path.join(a.data, "train-labels-idx1-ubyte.gz")).astype(np.int64))
    model = LeNet300() if a.model == "lenet-300-100" else LeNet5()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    n = x.shape[0]
    for epoch in range(a.epochs):
        model.train()
        start = time.perf_counter()
        perm = torch.randperm(n)
        total = 0.0
        for i in range(0, n, a.batch_size):
            idx = perm[i:i + a.batch_size]
            xb, yb = x[idx], y[idx]
            opt.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        secs = time.perf_counter() - start
        print(json.dumps({"epoch": epoch + 1, "seconds": secs, "train_loss": total / n, "threads": a.threads, "torch": torch.__version__}), flush=True)

if __name__ == "__main__":
    main()
