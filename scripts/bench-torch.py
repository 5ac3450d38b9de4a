"""PyTorch CPU eager baseline for `npm run bench` (scripts/bench-torch.ts drives it).

A Llama decoder written the way HF transformers' eager code computes it (nn.Linear, RMSNorm,
rotate-half RoPE, grouped-query attention, SiLU MLP), with the weights our bench dumps from the
ONNX file, and read/steered the way the Python steering libraries do it: forward hooks on the
decoder layers. It loads once, writes the hidden states of a check batch (for the 1e-5
comparison), prints one JSON line (torch version, memory before and after loading), then serves
one JSON request per stdin line, so that the bench can interleave its runs with ours:

    {"op": "run", "workload": i, "threads": t}    -> {"ms": wall, "cpuMs": cpu}  (decode: per token)
    {"op": "matmul", "shapes": [[M, K, N], ...], "threads": t}  -> {"gflops": {"MxKxN": best of 5}}
    {"op": "chain", "dims": {H, q, kv, F, layers}, "rows": M, "passes": n, "threads": t}  -> {"ms": per pass}
    {"op": "quit"} or end of input                -> exits

    /usr/bin/python3 scripts/bench-torch.py <dump dir> <job.json>
"""
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def rss_mb():
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024
    return float('nan')


class RMSNorm(nn.Module):
    def __init__(self, w, eps):
        super().__init__()
        self.weight = nn.Parameter(w, requires_grad=False)
        self.eps = eps

    def forward(self, x):
        v = x.pow(2).mean(-1, keepdim=True)
        return self.weight * (x * torch.rsqrt(v + self.eps))


def linear(w_in_out):
    # The dump stores [in, out] (the ONNX MatMul layout); nn.Linear holds [out, in] as HF does.
    lin = nn.Linear(w_in_out.shape[0], w_in_out.shape[1], bias=False)
    lin.weight = nn.Parameter(w_in_out.t().contiguous(), requires_grad=False)
    return lin


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


class Block(nn.Module):
    def __init__(self, W, i, c):
        super().__init__()
        p = f'model.layers.{i}.'
        self.nh, self.nkv, self.hd = c['numHeads'], c['numKvHeads'], c['headDim']
        self.input_layernorm = RMSNorm(W[p + 'input_layernorm.weight'], c['eps'])
        self.post_attention_layernorm = RMSNorm(W[p + 'post_attention_layernorm.weight'], c['eps'])
        for n in ['q_proj', 'k_proj', 'v_proj', 'o_proj']:
            setattr(self, n, linear(W[p + 'self_attn.' + n + '.weight']))
        for n in ['gate_proj', 'up_proj', 'down_proj']:
            setattr(self, n, linear(W[p + 'mlp.' + n + '.weight']))

    def forward(self, x, cos, sin, mask, past):
        B, T, _ = x.shape
        h = self.input_layernorm(x)
        q = self.q_proj(h).view(B, T, self.nh, self.hd).transpose(1, 2)
        k = self.k_proj(h).view(B, T, self.nkv, self.hd).transpose(1, 2)
        v = self.v_proj(h).view(B, T, self.nkv, self.hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if past is not None:
            k = torch.cat([past[0], k], dim=2)
            v = torch.cat([past[1], v], dim=2)
        rep = self.nh // self.nkv
        kr = k.repeat_interleave(rep, dim=1)
        vr = v.repeat_interleave(rep, dim=1)
        att = (q @ kr.transpose(-1, -2)) / math.sqrt(self.hd) + mask
        o = (att.softmax(-1) @ vr).transpose(1, 2).reshape(B, T, self.nh * self.hd)
        x = x + self.o_proj(o)
        h = self.post_attention_layernorm(x)
        x = x + self.down_proj(F.silu(self.gate_proj(h)) * self.up_proj(h))
        return x, (k, v)


class Llama(nn.Module):
    def __init__(self, W, c):
        super().__init__()
        self.c = c
        self.embed = nn.Parameter(W['model.embed_tokens.weight'], requires_grad=False)
        self.layers = nn.ModuleList([Block(W, i, c) for i in range(c['numLayers'])])
        self.norm = RMSNorm(W['model.norm.weight'], c['eps'])
        head = W.get('lm_head.weight')
        self.lm_head = linear(head) if head is not None else None
        hd = c['headDim']
        self.inv_freq = 1.0 / (c['ropeTheta'] ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))

    def forward(self, ids, past=None, logits=True):
        B, T = ids.shape
        P = 0 if past is None else past[0][0].shape[2]
        x = F.embedding(ids, self.embed)
        pos = torch.arange(P, P + T, dtype=torch.float32)
        ang = pos[:, None] * self.inv_freq[None, :]
        emb = torch.cat([ang, ang], dim=-1)
        cos, sin = emb.cos()[None, None], emb.sin()[None, None]
        mask = torch.full((T, P + T), float('-inf')).triu(P + 1)[None, None]
        new = []
        for i, layer in enumerate(self.layers):
            x, kv = layer(x, cos, sin, mask, None if past is None else past[i])
            new.append(kv)
        if not logits:
            return None, new
        h = self.norm(x)
        out = self.lm_head(h) if self.lm_head is not None else h @ self.embed.t()
        return out, new


def load(dump):
    meta = json.load(open(os.path.join(dump, 'weights.json')))
    raw = np.fromfile(os.path.join(dump, 'weights.bin'), dtype=np.float32)
    W = {t['name']: torch.from_numpy(raw[t['offset']:t['offset'] + int(np.prod(t['dims']))].reshape(t['dims']).copy()) for t in meta['tensors']}
    del raw
    return W


def blas_threads():
    """The BLAS's own thread-count setter, if it has one. Debian's torch calls a generic libblas
    (OpenBLAS here), which keeps its own pool of one thread per core whatever torch.set_num_threads
    says: a "1 thread" run multiplied on every core until this was set as well."""
    import ctypes
    with open('/proc/self/maps') as f:
        libs = {p[-1] for p in (line.split() for line in f) if len(p) >= 6 and 'blas' in os.path.basename(p[-1])}
    for lib in sorted(libs):
        try:
            fn = getattr(ctypes.CDLL(lib), 'openblas_set_num_threads', None)
        except OSError:
            continue
        if fn is not None:
            return lib, fn
    return None, None


def set_threads(t, blas):
    torch.set_num_threads(t)
    if blas is not None:
        blas(t)


def timed(f):
    t0, c0 = time.perf_counter(), time.process_time()
    f()
    return (time.perf_counter() - t0) * 1000, (time.process_time() - c0) * 1000


def matmul_gflops(shapes, reps=5):
    out = {}
    for M, K, N in shapes:
        a, w = torch.randn(M, K), torch.randn(N, K)  # nn.Linear's [out, in] weight
        F.linear(a, w)
        n = max(1, min(100, round(2e8 / (2 * M * K * N))))  # ~0.2 GFLOP per timing
        best = min(timed(lambda: [F.linear(a, w) for _ in range(n)])[0] for _ in range(reps)) / n
        out[f'{M}x{K}x{N}'] = 2 * M * K * N / (best / 1000) / 1e9
    return out


chains = {}


def chain_ms(d, rows, passes):
    """The projection chain of bench-roofline.ts (q -> o = h; h -> k, v, up; h -> gate -> down =
    the next block's input), F.linear with weights of its own per block, variance 1/fan-in; ms per
    pass over `passes` passes back to back, warmed once per row count as the extraction runs are."""
    key = (d['H'], d['q'], d['kv'], d['F'], d['layers'])
    if key not in chains:
        H, q, kv, Fd = d['H'], d['q'], d['kv'], d['F']
        def w(n, k):  # nn.Linear's [out, in] weight
            return (torch.rand(n, k) - 0.5) * 2 * (3 / k) ** 0.5
        chains[key] = ([(w(q, H), w(H, q), w(kv, H), w(kv, H), w(Fd, H), w(Fd, H), w(H, Fd)) for _ in range(d['layers'])], set())
    blocks, warm = chains[key]
    x0 = torch.randn(rows, d['H'])

    def f(n):
        for _ in range(n):
            x = x0
            for wq, wo, wk, wv, wg, wu, wd in blocks:
                h = F.linear(F.linear(x, wq), wo)
                F.linear(h, wk), F.linear(h, wv), F.linear(h, wu)
                x = F.linear(F.linear(h, wg), wd)
    if rows not in warm:
        f(1)
        warm.add(rows)
    return timed(lambda: f(passes))[0] / passes


def main():
    dump, job_path = sys.argv[1], sys.argv[2]
    job = json.load(open(job_path))
    torch.set_grad_enabled(False)
    rss0 = rss_mb()
    W, c = load(dump), job['config']
    model = Llama(W, c).eval()
    del W
    import gc
    gc.collect()
    rss1 = rss_mb()

    # Read the residual stream as the Python libraries do: a forward hook per decoder layer.
    captured = {}
    def reader(i):
        def hook(_m, _inp, output):
            captured[i] = output[0]
        return hook
    for i, l in enumerate(model.layers):
        l.register_forward_hook(reader(i + 1))

    check = torch.tensor(job['checkIds'], dtype=torch.long)
    captured.clear()
    model(check, logits=False)
    emb = F.embedding(check, model.embed)
    hidden = [emb] + [captured[i + 1] for i in range(c['numLayers'])]
    np.stack([h.numpy() for h in hidden]).astype(np.float32).tofile(os.path.join(dump, 'check.bin'))
    model(check[:, :2], logits=False)  # a matmul, so that the BLAS is loaded
    blas_lib, blas = blas_threads()
    print(json.dumps({'torch': torch.__version__, 'rssBeforeLoadMb': rss0, 'rssAfterLoadMb': rss1, 'blasThreads': blas_lib}), flush=True)

    def extract(ids):
        captured.clear()
        model(ids, logits=False)  # what a hook-based reader needs: every layer, no LM head call
        return [captured[i + 1][:, 1:].mean(dim=1) for i in range(c['numLayers'])]

    def decode(prompt, n, layer, vec, coeff):
        h = model.layers[layer - 1].register_forward_hook(lambda _m, _i, o: (o[0] + coeff * vec, o[1]))
        try:
            ids = torch.tensor([prompt], dtype=torch.long)
            logits, past = model(ids)
            for _ in range(n):
                nxt = logits[:, -1].argmax(-1, keepdim=True)
                logits, past = model(nxt, past)
        finally:
            h.remove()

    def runner(w, batches):
        """The timed function, what it is timed per, and a list it appends each batch's end time to."""
        ends = []
        if w['kind'] == 'extract':
            ids = torch.tensor(w['ids'], dtype=torch.long)
            def f():
                ends.clear()
                for _ in range(batches):  # a dataset's batches back to back
                    extract(ids)
                    ends.append(time.perf_counter())
            return f, batches, ends
        vec = torch.tensor(w['vector'], dtype=torch.float32)
        return (lambda: decode(w['prompt'], w['tokens'], w['layer'], vec, w['coeff'])), w['tokens'], ends

    warm = set()
    for line in sys.stdin:
        req = json.loads(line)
        if req['op'] == 'quit':
            break
        set_threads(req['threads'], blas)
        if req['op'] == 'matmul':
            print(json.dumps({'gflops': matmul_gflops(req['shapes'])}), flush=True)
            continue
        if req['op'] == 'chain':
            print(json.dumps({'ms': chain_ms(req['dims'], req['rows'], req['passes'])}), flush=True)
            continue
        f, per, ends = runner(job['workloads'][req['workload']], req.get('batches', 1))
        if (req['workload'], req['threads']) not in warm:
            f()  # first runs allocate and pick kernels
            warm.add((req['workload'], req['threads']))
        t0 = time.perf_counter()
        ms, cpu = timed(f)
        first = {'firstMs': (ends[0] - t0) * 1000} if ends else {}
        print(json.dumps({'ms': ms / per, 'cpuMs': cpu / per, **first}), flush=True)


if __name__ == '__main__':
    main()
