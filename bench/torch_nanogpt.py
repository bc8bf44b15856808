"""
The PyTorch baseline for `npm run bench`: nanoGPT's model.py and the inner loop of its train.py,
written out here (nothing is downloaded), timed on the CPU recipe of nanoGPT's README:

    python train.py config/train_shakespeare_char.py --device=cpu --compile=False --eval_iters=20
        --log_interval=1 --block_size=64 --batch_size=12 --n_layer=4 --n_head=4 --n_embd=128
        --max_iters=2000 --lr_decay_iters=2000 --dropout=0.0

i.e. vocab 65, block 64, batch 12, 4 layers, 4 heads, width 128, dropout 0, bias True, AdamW lr 1e-3,
betas (0.9, 0.99), weight decay 0.1 on matrices, warm-up 100, cosine to 1e-4, grad clip 1.0, float32.
The data are random tokens: the time of a step does not depend on the text.

One timed iteration is what train.py does per step with gradient_accumulation_steps = 1 and
log_interval = 1: set the lr, forward (with loss), get_batch (the next batch, fetched as train.py does
right after the forward), backward, clip_grad_norm_, optimizer.step, zero_grad(set_to_none=True), and
loss.item() (train.py's logging). Evaluation and checkpointing are not timed. GradScaler is disabled
for float32 in train.py (a no-op), so it is left out.

Usage (from the repository root; the wrapper pins OpenBLAS's OpenMP build):
    ../shared/bin/torch-python bench/torch_nanogpt.py [threads=2] [--warmup N] [--iters K] [--runs R]
        [--generate TOKENS] [--gen-runs N] [--gen-max-seconds S]
Prints one JSON line: ms_per_iter is the median over R runs of K iterations each, after N warm-up
iterations. With --generate, also the speed of nanoGPT's generate() (no KV cache: every step re-runs the
whole context) for TOKENS new tokens with a block size of 1024, temperature 1, one short prompt.
"""
import argparse
import inspect
import json
import math
import os
import platform
import re
import statistics
import time

import numpy as np
import torch
import torch.nn as nn
from torch.nn import functional as F


# ---------------------------------------------------------------------------------------------------
# model.py (nanoGPT), with the explicit attention path (torch 1.13 has no scaled_dot_product_attention)
# ---------------------------------------------------------------------------------------------------

class LayerNorm(nn.Module):
    """LayerNorm but with an optional bias. PyTorch doesn't support simply bias=False"""

    def __init__(self, ndim, bias):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ndim))
        self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None

    def forward(self, input):
        return F.layer_norm(input, self.weight.shape, self.weight, self.bias, 1e-5)


class CausalSelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        assert config.n_embd % config.n_head == 0
        # key, query, value projections for all heads, but in a batch
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        # output projection
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        # regularization
        self.attn_dropout = nn.Dropout(config.dropout)
        self.resid_dropout = nn.Dropout(config.dropout)
        self.n_head = config.n_head
        self.n_embd = config.n_embd
        self.dropout = config.dropout
        # the causal mask (nanoGPT's non-flash path)
        self.register_buffer("bias", torch.tril(torch.ones(config.block_size, config.block_size))
                             .view(1, 1, config.block_size, config.block_size))

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(self.bias[:, :, :T, :T] == 0, float('-inf'))
        att = F.softmax(att, dim=-1)
        att = self.attn_dropout(att)
        y = att @ v  # (B, nh, T, T) x (B, nh, T, hs) -> (B, nh, T, hs)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        y = self.resid_dropout(self.c_proj(y))
        return y


class MLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        x = self.c_fc(x)
        x = self.gelu(x)
        x = self.c_proj(x)
        x = self.dropout(x)
        return x


class Block(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.ln_1 = LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        x = x + self.mlp(self.ln_2(x))
        return x


class GPTConfig:
    def __init__(self, block_size=1024, vocab_size=50304, n_layer=12, n_head=12, n_embd=768, dropout=0.0, bias=True):
        self.block_size = block_size
        self.vocab_size = vocab_size
        self.n_layer = n_layer
        self.n_head = n_head
        self.n_embd = n_embd
        self.dropout = dropout
        self.bias = bias


class GPT(nn.Module):
    def __init__(self, config):
        super().__init__()
        assert config.vocab_size is not None
        assert config.block_size is not None
        self.config = config
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(config.vocab_size, config.n_embd),
            wpe=nn.Embedding(config.block_size, config.n_embd),
            drop=nn.Dropout(config.dropout),
            h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
            ln_f=LayerNorm(config.n_embd, bias=config.bias),
        ))
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        # weight tying
        self.transformer.wte.weight = self.lm_head.weight
        # init all weights
        self.apply(self._init_weights)
        # apply special scaled init to the residual projections, per GPT-2 paper
        for pn, p in self.named_parameters():
            if pn.endswith('c_proj.weight'):
                torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    def get_num_params(self, non_embedding=True):
        n_params = sum(p.numel() for p in self.parameters())
        if non_embedding:
            n_params -= self.transformer.wpe.weight.numel()
        return n_params

    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx, targets=None):
        device = idx.device
        b, t = idx.size()
        assert t <= self.config.block_size, f"Cannot forward sequence of length {t}, block size is only {self.config.block_size}"
        pos = torch.arange(0, t, dtype=torch.long, device=device)  # shape (t)
        tok_emb = self.transformer.wte(idx)  # (b, t, n_embd)
        pos_emb = self.transformer.wpe(pos)  # (t, n_embd)
        x = self.transformer.drop(tok_emb + pos_emb)
        for block in self.transformer.h:
            x = block(x)
        x = self.transformer.ln_f(x)
        if targets is not None:
            logits = self.lm_head(x)
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)
        else:
            # inference-time mini-optimization: only forward the lm_head on the very last position
            logits = self.lm_head(x[:, [-1], :])
            loss = None
        return logits, loss

    def configure_optimizers(self, weight_decay, learning_rate, betas, device_type):
        param_dict = {pn: p for pn, p in self.named_parameters()}
        param_dict = {pn: p for pn, p in param_dict.items() if p.requires_grad}
        decay_params = [p for n, p in param_dict.items() if p.dim() >= 2]
        nodecay_params = [p for n, p in param_dict.items() if p.dim() < 2]
        optim_groups = [
            {'params': decay_params, 'weight_decay': weight_decay},
            {'params': nodecay_params, 'weight_decay': 0.0},
        ]
        # nanoGPT asks for fused AdamW only where it exists and on CUDA: on the CPU (and in torch 1.13,
        # whose AdamW has no `fused`) it is the plain (for-loop) AdamW.
        fused_available = 'fused' in inspect.signature(torch.optim.AdamW).parameters
        use_fused = fused_available and device_type == 'cuda'
        extra_args = dict(fused=True) if use_fused else dict()
        return torch.optim.AdamW(optim_groups, lr=learning_rate, betas=betas, **extra_args)

    @torch.no_grad()
    def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None):
        for _ in range(max_new_tokens):
            idx_cond = idx if idx.size(1) <= self.config.block_size else idx[:, -self.config.block_size:]
            logits, _ = self(idx_cond)
            logits = logits[:, -1, :] / temperature
            if top_k is not None:
                v, _ = torch.topk(logits, min(top_k, logits.size(-1)))
                logits[logits < v[:, [-1]]] = -float('Inf')
            probs = F.softmax(logits, dim=-1)
            idx_next = torch.multinomial(probs, num_samples=1)
            idx = torch.cat((idx, idx_next), dim=1)
        return idx


# ---------------------------------------------------------------------------------------------------
# train.py (nanoGPT): the recipe's settings, get_batch, get_lr and the inner loop
# ---------------------------------------------------------------------------------------------------

vocab_size = 65
block_size = 64
batch_size = 12
n_layer, n_head, n_embd = 4, 4, 128
dropout = 0.0
bias = True
learning_rate = 1e-3
max_iters = 2000
lr_decay_iters = 2000
min_lr = 1e-4
warmup_iters = 100
weight_decay = 1e-1
beta1, beta2 = 0.9, 0.99
grad_clip = 1.0
decay_lr = True
device = 'cpu'


def get_lr(it):
    # 1) linear warmup for warmup_iters steps
    if it < warmup_iters:
        return learning_rate * (it + 1) / (warmup_iters + 1)
    # 2) if it > lr_decay_iters, return min learning rate
    if it > lr_decay_iters:
        return min_lr
    # 3) in between, use cosine decay down to min learning rate
    decay_ratio = (it - warmup_iters) / (lr_decay_iters - warmup_iters)
    assert 0 <= decay_ratio <= 1
    coeff = 0.5 * (1.0 + math.cos(math.pi * decay_ratio))
    return min_lr + coeff * (learning_rate - min_lr)


def blas_info():
    """What BLAS torch was built for (torch.__config__.show()) and which one is loaded now."""
    built = None
    try:
        found = re.findall(r'\b((?:BLAS|LAPACK)_INFO=[^,\s]*)', torch.__config__.show())
        built = ', '.join(found) if found else None
    except Exception:  # noqa: BLE001 - informational only
        pass
    loaded = []
    try:
        with open('/proc/self/maps') as f:
            for line in f:
                path = line.split()[-1] if len(line.split()) >= 6 else ''
                name = os.path.basename(path)
                if ('blas' in name or 'mkl' in name) and path not in loaded:
                    loaded.append(path)
    except OSError:
        pass
    return built, loaded


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('threads', nargs='?', type=int, default=2)
    ap.add_argument('--warmup', type=int, default=10)
    ap.add_argument('--iters', type=int, default=20, help='iterations per timed run')
    ap.add_argument('--runs', type=int, default=5, help='timed runs (the median is reported; 0: no train step timing)')
    ap.add_argument('--generate', type=int, default=0, help='also time generate() of this many new tokens (0: no)')
    ap.add_argument('--gen-runs', type=int, default=3)
    ap.add_argument('--gen-block-size', type=int, default=1024)
    ap.add_argument('--gen-max-seconds', type=float, default=0, help='no further generate runs once the runs took this long (0: no limit)')
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(1337)
    # random "text": a uint16 token array as train.py's memmap of train.bin (1M tokens)
    data = np.random.default_rng(0).integers(0, vocab_size, size=1_000_000, dtype=np.uint16)

    def get_batch(split):
        ix = torch.randint(len(data) - block_size, (batch_size,))
        x = torch.stack([torch.from_numpy((data[i:i + block_size]).astype(np.int64)) for i in ix])
        y = torch.stack([torch.from_numpy((data[i + 1:i + 1 + block_size]).astype(np.int64)) for i in ix])
        return x, y  # device 'cpu': no pinning or transfer

    config = GPTConfig(block_size=block_size, vocab_size=vocab_size, n_layer=n_layer, n_head=n_head,
                       n_embd=n_embd, dropout=dropout, bias=bias)
    model = GPT(config)
    model.to(device)
    optimizer = model.configure_optimizers(weight_decay, learning_rate, (beta1, beta2), 'cpu')
    model.train()

    iter_num = 0
    X, Y = get_batch('train')
    last_loss = None

    def step():
        nonlocal iter_num, X, Y, last_loss
        lr = get_lr(iter_num) if decay_lr else learning_rate
        for param_group in optimizer.param_groups:
            param_group['lr'] = lr
        logits, loss = model(X, Y)
        X, Y = get_batch('train')  # async prefetch in train.py: the next batch while the model works
        loss.backward()
        if grad_clip != 0.0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        last_loss = loss.item()  # log_interval = 1
        iter_num += 1

    for _ in range(a.warmup):
        step()
    per_iter = []
    for _ in range(a.runs):
        t0 = time.perf_counter()
        for _ in range(a.iters):
            step()
        per_iter.append((time.perf_counter() - t0) * 1000 / a.iters)

    built, loaded = blas_info()
    out = {
        'ms_per_iter': statistics.median(per_iter) if per_iter else None,  # --runs 0: generation only
        'runs_ms_per_iter': [round(v, 3) for v in per_iter],
        'threads': torch.get_num_threads(),
        'warmup': a.warmup, 'iters': a.iters, 'runs': a.runs,
        'params': model.get_num_params(),
        'final_loss': last_loss,
        'torch': torch.__version__,
        'python': platform.python_version(),
        'blas': built,
        'blas_loaded': loaded,
        'omp_num_threads': os.environ.get('OMP_NUM_THREADS'),
    }

    if a.generate > 0:
        gconfig = GPTConfig(block_size=a.gen_block_size, vocab_size=vocab_size, n_layer=n_layer, n_head=n_head,
                            n_embd=n_embd, dropout=0.0, bias=bias)
        gmodel = GPT(gconfig)
        gmodel.eval()
        prompt = torch.tensor([[(i * 7) % vocab_size for i in range(6)]], dtype=torch.long)  # 6 tokens, as 'ROMEO:'
        tps = []
        g0 = time.perf_counter()
        for r in range(a.gen_runs):
            if r > 0 and a.gen_max_seconds > 0 and time.perf_counter() - g0 > a.gen_max_seconds:
                break
            torch.manual_seed(1337 + r)
            t0 = time.perf_counter()
            gmodel.generate(prompt, a.generate, temperature=1.0)
            tps.append(a.generate / (time.perf_counter() - t0))
        out['generate'] = {
            'tokens_per_second': statistics.median(tps),
            'runs_tokens_per_second': [round(v, 2) for v in tps],
            'new_tokens': a.generate, 'prompt_tokens': prompt.size(1), 'block_size': a.gen_block_size,
            'kv_cache': False, 'runs': len(tps),
        }

    print(json.dumps(out))


if __name__ == '__main__':
    main()
