"""
nanoGPT's whole CPU recipe in PyTorch, on a real text file: the reference run that `qkv train` is
compared with (val loss and wall time). The model, get_lr and the optimizer are torch_nanogpt.py's
(nanoGPT's model.py and train.py written out); this file adds train.py's data handling and eval loop:

  - data/shakespeare_char/prepare.py: vocabulary = sorted(set(text)), first 90% train, last 10% val;
  - train.py: torch.manual_seed(1337), get_batch with torch.randint, estimate_loss over eval_iters=20
    batches of each split every eval_interval=250 iterations (and at max_iters), max_iters=2000.

Usage (from the repository root):
    ../shared/bin/torch-python bench/torch_nanogpt_train.py ../shared/data/tinyshakespeare.txt [--threads 2] [--bias 1]
Prints one line per evaluation and a final JSON line.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_nanogpt as ng  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('file')
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--bias', type=int, default=1, help="1: biases in Linear and LayerNorm (qkv's default); nanoGPT's train.py default is 0")
    ap.add_argument('--max-iters', type=int, default=2000)
    ap.add_argument('--eval-interval', type=int, default=250)
    ap.add_argument('--eval-iters', type=int, default=20)
    ap.add_argument('--seed', type=int, default=1337)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)

    with open(a.file, 'r', encoding='utf-8') as f:
        text = f.read()
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    ids = np.array([stoi[c] for c in text], dtype=np.uint16)
    n = len(ids)
    data = {'train': ids[:int(n * 0.9)], 'val': ids[int(n * 0.9):]}

    def get_batch(split):
        d = data[split]
        ix = torch.randint(len(d) - ng.block_size, (ng.batch_size,))
        x = torch.stack([torch.from_numpy((d[i:i + ng.block_size]).astype(np.int64)) for i in ix])
        y = torch.stack([torch.from_numpy((d[i + 1:i + 1 + ng.block_size]).astype(np.int64)) for i in ix])
        return x, y

    config = ng.GPTConfig(block_size=ng.block_size, vocab_size=len(chars), n_layer=ng.n_layer, n_head=ng.n_head,
                          n_embd=ng.n_embd, dropout=0.0, bias=bool(a.bias))
    model = ng.GPT(config)
    optimizer = model.configure_optimizers(ng.weight_decay, ng.learning_rate, (ng.beta1, ng.beta2), 'cpu')

    @torch.no_grad()
    def estimate_loss():
        out = {}
        model.eval()
        for split in ['train', 'val']:
            losses = torch.zeros(a.eval_iters)
            for k in range(a.eval_iters):
                X, Y = get_batch(split)
                _, loss = model(X, Y)
                losses[k] = loss.item()
            out[split] = losses.mean().item()
        model.train()
        return out

    t0 = time.perf_counter()
    train_time = 0.0
    X, Y = get_batch('train')
    evals = []
    iter_num = 0
    while True:
        lr = ng.get_lr(iter_num)
        for g in optimizer.param_groups:
            g['lr'] = lr
        if iter_num % a.eval_interval == 0 or iter_num == a.max_iters:
            losses = estimate_loss()
            evals.append({'step': iter_num, **losses})
            print(f"step {iter_num}: train loss {losses['train']:.4f}, val loss {losses['val']:.4f}", flush=True)
        if iter_num >= a.max_iters:
            break
        s = time.perf_counter()
        _, loss = model(X, Y)
        X, Y = get_batch('train')
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), ng.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        loss.item()
        train_time += time.perf_counter() - s
        iter_num += 1
    wall = time.perf_counter() - t0
    print(json.dumps({'final_val': evals[-1]['val'], 'best_val': min(e['val'] for e in evals), 'evals': evals,
                      'wall_s': round(wall, 1), 'train_ms_per_iter': round(train_time * 1000 / a.max_iters, 2),
                      'threads': a.threads, 'bias': bool(a.bias), 'torch': torch.__version__}))


if __name__ == '__main__':
    main()
