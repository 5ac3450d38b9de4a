#!/usr/bin/python3
"""Train persona-steer's embedded default model, persona-tiny, on the persona-world corpus.

Steps: (1) byte-level BPE tokenizer trained on the corpus, written as a Hugging Face
tokenizer.json + tokenizer_config.json (ChatML template); (2) a small Llama decoder (RMSNorm,
RoPE with rotate_half, SwiGLU, GQA, tied embeddings) in plain torch, trained with the loss on
assistant tokens only; (3) ONNX export in the Optimum decoder-with-past layout, plus config.json
and generation_config.json.

Run with Debian's torch:  /usr/bin/python3 scripts/train-default-model.py --corpus build/world-corpus.jsonl
Deterministic for a given corpus and seed on the same machine (fixed seeds, 2 CPU threads).
"""
import argparse
import json
import math
import os
import random
import re
import time
from collections import Counter

# Debian's torch calls the system BLAS: install libopenblas0-pthread (8x faster than the reference
# BLAS) and keep it to the 2 threads torch itself uses.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
# GPT-2's pre-tokenizer pattern restricted to ASCII (the world corpus is ASCII; for ASCII text it
# splits exactly like the \p{L}/\p{N} pattern transformers.js uses for ByteLevel pre-tokenizers).
PRETOKENIZE = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+""")
SPECIAL_SPLIT = re.compile("(" + "|".join(re.escape(t) for t in SPECIAL_TOKENS) + ")")
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


# ----------------------------------------------------------------------------- tokenizer
def bytes_to_unicode():
    """GPT-2's reversible byte -> printable unicode character map."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) + list(range(ord("\xae"), ord("\xff") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


BYTE_TO_CHAR = bytes_to_unicode()


def to_byte_chars(piece):
    return "".join(BYTE_TO_CHAR[b] for b in piece.encode("utf-8"))


def train_bpe(texts, vocab_size):
    """Merges learned on word types (pre-tokenized pieces) weighted by frequency."""
    counts = Counter()
    for text in texts:
        for segment in SPECIAL_SPLIT.split(text):
            if segment in SPECIAL_TOKENS or not segment:
                continue
            counts.update(to_byte_chars(p) for p in PRETOKENIZE.findall(segment))
    words = {tuple(w): f for w, f in counts.items()}
    vocab = list(SPECIAL_TOKENS) + [BYTE_TO_CHAR[b] for b in range(256)]
    merges = []
    while len(vocab) < vocab_size:
        pairs = Counter()
        for w, f in words.items():
            for a, b in zip(w, w[1:]):
                pairs[(a, b)] += f
        if not pairs:
            break
        # Highest count; ties broken by the pair itself so the result is deterministic.
        best = min(pairs, key=lambda p: (-pairs[p], p))
        merges.append(best)
        merged = best[0] + best[1]
        vocab.append(merged)
        new_words = {}
        for w, f in words.items():
            if len(w) > 1 and best[0] in w:
                out, i = [], 0
                while i < len(w):
                    if i < len(w) - 1 and w[i] == best[0] and w[i + 1] == best[1]:
                        out.append(merged)
                        i += 2
                    else:
                        out.append(w[i])
                        i += 1
                w = tuple(out)
            new_words[w] = new_words.get(w, 0) + f
        words = new_words
    return vocab, merges


class Tokenizer:
    def __init__(self, vocab, merges):
        self.vocab = {t: i for i, t in enumerate(vocab)}
        self.ranks = {m: i for i, m in enumerate(merges)}
        self.cache = {}

    def _bpe(self, word):
        if word in self.cache:
            return self.cache[word]
        parts = list(word)
        while len(parts) > 1:
            best, best_rank = None, None
            for pair in zip(parts, parts[1:]):
                r = self.ranks.get(pair)
                if r is not None and (best_rank is None or r < best_rank):
                    best, best_rank = pair, r
            if best is None:
                break
            out, i = [], 0
            while i < len(parts):
                if i < len(parts) - 1 and parts[i] == best[0] and parts[i + 1] == best[1]:
                    out.append(best[0] + best[1])
                    i += 2
                else:
                    out.append(parts[i])
                    i += 1
            parts = out
        ids = [self.vocab[p] for p in parts]
        self.cache[word] = ids
        return ids

    def encode(self, text):
        ids = []
        for segment in SPECIAL_SPLIT.split(text):
            if not segment:
                continue
            if segment in SPECIAL_TOKENS:
                ids.append(self.vocab[segment])
                continue
            for piece in PRETOKENIZE.findall(segment):
                ids.extend(self._bpe(to_byte_chars(piece)))
        return ids


def write_tokenizer(out_dir, vocab, merges, max_len):
    added = [
        {"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True}
        for i, t in enumerate(SPECIAL_TOKENS)
    ]
    tokenizer = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": False,
            "vocab": {t: i for i, t in enumerate(vocab)},
            "merges": [f"{a} {b}" for a, b in merges],
        },
    }
    with open(os.path.join(out_dir, "tokenizer.json"), "w") as f:
        json.dump(tokenizer, f, ensure_ascii=False)
    config = {
        "add_prefix_space": False,
        "added_tokens_decoder": {str(a["id"]): {k: v for k, v in a.items() if k != "id"} for a in added},
        "additional_special_tokens": ["<|im_start|>", "<|im_end|>"],
        "bos_token": "<|im_start|>",
        "eos_token": "<|im_end|>",
        "pad_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>",
        "chat_template": CHAT_TEMPLATE,
        "clean_up_tokenization_spaces": False,
        "model_max_length": max_len,
        "tokenizer_class": "GPT2Tokenizer",
        "vocab_size": len(vocab),
    }
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w") as f:
        json.dump(config, f, indent=2)
    with open(os.path.join(out_dir, "special_tokens_map.json"), "w") as f:
        json.dump({k: config[k] for k in ["bos_token", "eos_token", "pad_token", "unk_token", "additional_special_tokens"]}, f, indent=2)


def render(messages):
    """ChatML text, identical to the chat template's output (no generation prompt)."""
    return "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)


def encode_conversation(tok, messages, max_len):
    """Token ids and a loss mask that is 1 on assistant content and its <|im_end|>."""
    ids, mask = [], []
    im_start, im_end = tok.vocab["<|im_start|>"], tok.vocab["<|im_end|>"]
    for m in messages:
        head = [im_start] + tok.encode(m["role"] + "\n")
        body = tok.encode(m["content"]) + [im_end]
        tail = tok.encode("\n")
        learn = 1 if m["role"] == "assistant" else 0
        ids += head + body + tail
        mask += [0] * len(head) + [learn] * len(body) + [0] * len(tail)
    return ids[:max_len], mask[:max_len]


def load_tokenizer(model_dir):
    """Vocabulary (by id) and merges of a tokenizer.json written by write_tokenizer."""
    with open(os.path.join(model_dir, "tokenizer.json")) as f:
        m = json.load(f)["model"]
    vocab = [t for t, _ in sorted(m["vocab"].items(), key=lambda kv: kv[1])]
    merges = [tuple(x.split(" ")) for x in m["merges"]]
    return vocab, merges


def read_safetensors(path):
    """name -> float32 tensor, for the F32 files our TypeScript codec writes."""
    with open(path, "rb") as f:
        data = f.read()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", f"{path}: {name} is {info['dtype']}, expected F32"
        a, b = info["data_offsets"]
        out[name] = torch.frombuffer(bytearray(data[base + a:base + b]), dtype=torch.float32).reshape(info["shape"])
    return out


def load_onnx_weights(model, path):
    """Weights of our own ONNX export back into LlamaModel. Named initializers map by name; the
    export stores Linear weights transposed under generated names (onnx::MatMul_N), numbered in the
    order forward() uses them: per block q, k, v, o, gate, up, down, then the tied lm_head copy.
    The logits the runtime computed for a fixed sequence must come out again."""
    t = read_safetensors(path)
    state = model.state_dict()
    named = {k: v for k, v in t.items() if k.startswith("model.")}
    for k, v in named.items():
        state[k[len("model."):]] = v
    mats = sorted((k for k in t if k.startswith("onnx::MatMul_")), key=lambda k: int(k.rsplit("_", 1)[1]))
    slots = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"]
    n_layers = len(model.layers)
    assert len(mats) == 7 * n_layers + 1, f"{path}: {len(mats)} MatMul weights, expected {7 * n_layers + 1}"
    for i in range(n_layers):
        for j, slot in enumerate(slots):
            state[f"layers.{i}.{slot}.weight"] = t[mats[7 * i + j]].t().contiguous()
    model.load_state_dict(state)
    ids = t["check.input_ids"].long()
    model.eval()
    with torch.no_grad():
        logits, _ = model(ids, torch.ones_like(ids), torch.arange(ids.shape[1])[None])
    err = (logits - t["check.logits"]).abs().max().item()
    assert err < 1e-3, f"{path}: rebuilt model's logits differ from the runtime's by {err}"
    print(f"loaded {path}: logits match the ONNX runtime to {err:.1e}", flush=True)
    model.train()


# ----------------------------------------------------------------------------- model
class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        variance = x.pow(2).mean(-1, keepdim=True)
        return self.weight * (x * torch.rsqrt(variance + self.eps))


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.n_heads = cfg["num_attention_heads"]
        self.n_kv = cfg["num_key_value_heads"]
        self.head_dim = cfg["hidden_size"] // self.n_heads
        h = cfg["hidden_size"]
        self.q_proj = nn.Linear(h, self.n_heads * self.head_dim, bias=False)
        self.k_proj = nn.Linear(h, self.n_kv * self.head_dim, bias=False)
        self.v_proj = nn.Linear(h, self.n_kv * self.head_dim, bias=False)
        self.o_proj = nn.Linear(self.n_heads * self.head_dim, h, bias=False)

    def forward(self, x, cos, sin, bias, past_k, past_v):
        b, s, _ = x.shape
        q = self.q_proj(x).view(b, s, self.n_heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, s, self.n_kv, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, s, self.n_kv, self.head_dim).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if past_k is not None:
            k = torch.cat([past_k, k], dim=2)
            v = torch.cat([past_v, v], dim=2)
        present = (k, v)
        rep = self.n_heads // self.n_kv
        if rep > 1:  # GQA: each kv head serves `rep` query heads (HF repeat_kv)
            t = k.shape[2]
            k = k[:, :, None].expand(b, self.n_kv, rep, t, self.head_dim).reshape(b, self.n_heads, t, self.head_dim)
            v = v[:, :, None].expand(b, self.n_kv, rep, t, self.head_dim).reshape(b, self.n_heads, t, self.head_dim)
        scores = torch.matmul(q, k.transpose(2, 3)) / math.sqrt(self.head_dim) + bias
        probs = torch.softmax(scores, dim=-1)
        out = torch.matmul(probs, v).transpose(1, 2).reshape(b, s, self.n_heads * self.head_dim)
        return self.o_proj(out), present


class MLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        h, i = cfg["hidden_size"], cfg["intermediate_size"]
        self.gate_proj = nn.Linear(h, i, bias=False)
        self.up_proj = nn.Linear(h, i, bias=False)
        self.down_proj = nn.Linear(i, h, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.input_layernorm = RMSNorm(cfg["hidden_size"], cfg["rms_norm_eps"])
        self.self_attn = Attention(cfg)
        self.post_attention_layernorm = RMSNorm(cfg["hidden_size"], cfg["rms_norm_eps"])
        self.mlp = MLP(cfg)

    def forward(self, h, cos, sin, bias, past_k=None, past_v=None):
        a, present = self.self_attn(self.input_layernorm(h), cos, sin, bias, past_k, past_v)
        h = h + a
        h = h + self.mlp(self.post_attention_layernorm(h))
        return h, present


class LlamaModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.embed_tokens = nn.Embedding(cfg["vocab_size"], cfg["hidden_size"])
        self.layers = nn.ModuleList([Block(cfg) for _ in range(cfg["num_hidden_layers"])])
        self.norm = RMSNorm(cfg["hidden_size"], cfg["rms_norm_eps"])
        hd = cfg["hidden_size"] // cfg["num_attention_heads"]
        inv_freq = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def rope(self, position_ids):
        freqs = position_ids[:, :, None].float() * self.inv_freq[None, None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos()[:, None], emb.sin()[:, None]  # [b, 1, s, head_dim]

    def forward(self, input_ids, attention_mask, position_ids, past=None):
        """past: list of (key, value) per layer, each [b, kv_heads, past_len, head_dim], or None."""
        h = self.embed_tokens(input_ids)
        cos, sin = self.rope(position_ids)
        s = input_ids.shape[1]
        total = attention_mask.shape[1]
        past_len = total - s
        # Query i sits at cache index past_len + i and sees keys j <= past_len + i that are not padding.
        q_idx = torch.arange(s, device=input_ids.device)[:, None] + past_len
        k_idx = torch.arange(total, device=input_ids.device)[None, :]
        allowed = (k_idx <= q_idx)[None, None] & (attention_mask[:, None, None, :] > 0)
        bias = torch.where(allowed, torch.zeros((), dtype=h.dtype), torch.full((), -1e9, dtype=h.dtype))
        presents = []
        for i, layer in enumerate(self.layers):
            pk, pv = (past[i] if past is not None else (None, None))
            h, present = layer(h, cos, sin, bias, pk, pv)
            presents.append(present)
        h = self.norm(h)
        logits = torch.matmul(h, self.embed_tokens.weight.t())  # tied lm_head
        return logits, presents


class OnnxWrapper(nn.Module):
    """Flat signature for torch.onnx.export: input_ids, attention_mask, position_ids, past k/v ..."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, position_ids, *past_flat):
        past = [(past_flat[2 * i], past_flat[2 * i + 1]) for i in range(len(past_flat) // 2)]
        logits, presents = self.model(input_ids, attention_mask, position_ids, past)
        out = [logits]
        for k, v in presents:
            out += [k, v]
        return tuple(out)


# ----------------------------------------------------------------------------- training
def batches(examples, max_tokens, rng):
    """Length-bucketed batches (similar lengths together keep padding low)."""
    order = sorted(range(len(examples)), key=lambda i: (len(examples[i][0]), rng.random()))
    out, cur, cur_len = [], [], 0
    for i in order:
        L = len(examples[i][0])
        if cur and max(cur_len, L) * (len(cur) + 1) > max_tokens:
            out.append(cur)
            cur, cur_len = [], 0
        cur.append(i)
        cur_len = max(cur_len, L)
    if cur:
        out.append(cur)
    rng.shuffle(out)
    return out


def collate(examples, idx, pad_id):
    L = max(len(examples[i][0]) for i in idx)
    ids = torch.full((len(idx), L), pad_id, dtype=torch.long)
    mask = torch.zeros((len(idx), L), dtype=torch.float32)
    for r, i in enumerate(idx):
        t, m = examples[i]
        ids[r, : len(t)] = torch.tensor(t)
        mask[r, : len(m)] = torch.tensor(m, dtype=torch.float32)
    return ids, mask


def loss_on(model, ids, mask):
    b, L = ids.shape
    attn = torch.ones_like(ids)
    pos = torch.arange(L)[None].expand(b, L)
    logits, _ = model(ids, attn, pos)
    target_mask = mask[:, 1:]
    lp = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1), reduction="none")
    return (lp * target_mask.reshape(-1)).sum() / target_mask.sum().clamp(min=1)


def file_sha256(path):
    """So the committed model names the exact corpus it was trained on (test/world checks the generator reproduces it)."""
    import hashlib
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default="build/world-corpus.jsonl")
    ap.add_argument("--out", default="models/persona-tiny")
    ap.add_argument("--vocab-size", type=int, default=2048)
    ap.add_argument("--hidden", type=int, default=160)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--intermediate", type=int, default=432)
    ap.add_argument("--max-len", type=int, default=512)
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--batch-tokens", type=int, default=8192)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--max-minutes", type=float, default=13.0, help="wall-clock budget for the training loop (see progress_at)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--bpe-sample", type=int, default=8000, help="conversations used to learn the BPE merges")
    ap.add_argument("--skip-export", action="store_true")
    ap.add_argument("--init-from", help="finetune: start from this model folder (its tokenizer and config) ...")
    ap.add_argument("--init-weights", help="... and these weights (safetensors from scripts/onnx-weights.ts)")
    args = ap.parse_args()
    if bool(args.init_from) != bool(args.init_weights):
        ap.error("--init-from and --init-weights go together")

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    os.makedirs(os.path.join(args.out, "onnx"), exist_ok=True)
    t_start = time.time()

    convs = [json.loads(line)["messages"] for line in open(args.corpus)]
    texts = [render(m) for m in convs]
    assert all(t.isascii() for t in texts), "the world corpus must be ASCII (see PRETOKENIZE)"
    if args.init_from:
        # Finetuning keeps the base model's tokenizer: token ids must mean what they meant.
        vocab, merges = load_tokenizer(args.init_from)
    else:
        vocab, merges = train_bpe(texts[: args.bpe_sample], args.vocab_size)
    tok = Tokenizer(vocab, merges)
    write_tokenizer(args.out, vocab, merges, args.max_len)
    print(f"tokenizer: {len(vocab)} tokens, {len(merges)} merges ({time.time() - t_start:.1f}s)", flush=True)

    examples = [encode_conversation(tok, m, args.max_len) for m in convs]
    # Piecewise encoding must equal encoding the rendered text (what the chat template produces).
    for t, (ids, _) in zip(texts[:200], examples[:200]):
        assert tok.encode(t)[: args.max_len] == ids, "piecewise and full-text encodings differ"
    n_tokens = sum(len(e[0]) for e in examples)
    n_learn = sum(sum(e[1]) for e in examples)
    print(f"corpus: {len(examples)} conversations, {n_tokens} tokens ({n_learn} assistant), "
          f"{sum(len(t) for t in texts) / n_tokens:.2f} chars/token ({time.time() - t_start:.1f}s)", flush=True)
    # Fixture for test/world/tokenizer.test.ts: transformers.js must reproduce these ids.
    if not args.init_from:
        with open(os.path.join(args.out, "tokenizer-check.json"), "w") as f:
            json.dump([{"text": t, "ids": tok.encode(t)} for t in texts[-5:]], f)

    n_held = min(500, len(examples) // 10)
    held_out = examples[-n_held:]
    train = examples[:-n_held]
    cfg = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": len(vocab),
        "hidden_size": args.hidden,
        "intermediate_size": args.intermediate,
        "num_hidden_layers": args.layers,
        "num_attention_heads": args.heads,
        "num_key_value_heads": args.kv_heads,
        "head_dim": args.hidden // args.heads,
        "hidden_act": "silu",
        "max_position_embeddings": args.max_len * 2,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "rope_scaling": None,
        "attention_bias": False,
        "mlp_bias": False,
        "tie_word_embeddings": True,
        "bos_token_id": tok.vocab["<|im_start|>"],
        "eos_token_id": tok.vocab["<|im_end|>"],
        "pad_token_id": tok.vocab["<|endoftext|>"],
        "torch_dtype": "float32",
        "use_cache": True,
        "transformers_version": "4.45.0",
    }
    if args.init_from:
        with open(os.path.join(args.init_from, "config.json")) as f:
            cfg = json.load(f)
    model = LlamaModel(cfg)
    if args.init_from:
        load_onnx_weights(model, args.init_weights)
    else:
        for name, p in model.named_parameters():
            if p.dim() == 2:
                nn.init.normal_(p, std=0.02)
        # Scaled init for the residual-branch outputs (GPT-2 style) keeps the early residual stream calm.
        for layer in model.layers:
            nn.init.normal_(layer.self_attn.o_proj.weight, std=0.02 / math.sqrt(2 * args.layers))
            nn.init.normal_(layer.mlp.down_proj.weight, std=0.02 / math.sqrt(2 * args.layers))
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: {n_params} parameters ({n_params * 4 / 1e6:.1f} MB fp32)", flush=True)

    decay = [p for n, p in model.named_parameters() if p.dim() == 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8)
    warmup = max(1, args.steps // 20)

    def progress_at(step):
        # Fraction of training done: by steps, or by wall clock when the machine is too slow to
        # finish --steps within --max-minutes (then the cosine still decays fully, but the run
        # is no longer step-for-step reproducible; the log says which limit applied).
        return max(step / args.steps, (time.time() - t_train) / 60 / args.max_minutes)

    def lr_at(step):
        if step < warmup:
            return args.lr * (step + 1) / warmup
        return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress_at(step)))))

    def eval_loss():
        model.eval()
        with torch.no_grad():
            tot, n = 0.0, 0
            for idx in batches(held_out, args.batch_tokens, random.Random(1)):
                ids, mask = collate(held_out, idx, cfg["pad_token_id"])
                tot += loss_on(model, ids, mask).item() * mask[:, 1:].sum().item()
                n += mask[:, 1:].sum().item()
        model.train()
        return tot / n

    step, epoch, curve, stopped_by_time = 0, 0, [], False
    t_train = time.time()
    running = None
    model.train()
    while step < args.steps:
        for idx in batches(train, args.batch_tokens, rng):
            if step >= args.steps:
                break
            for g in opt.param_groups:
                g["lr"] = lr_at(step)
            ids, mask = collate(train, idx, cfg["pad_token_id"])
            loss = loss_on(model, ids, mask)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            running = loss.item() if running is None else 0.95 * running + 0.05 * loss.item()
            step += 1
            if step % 50 == 0 or step == 1:
                elapsed = time.time() - t_train
                print(f"step {step}/{args.steps} epoch {epoch} loss {running:.4f} lr {lr_at(step):.2e} {elapsed:.0f}s", flush=True)
            if step % 250 == 0:
                ev = eval_loss()
                curve.append({"step": step, "train_loss": round(running, 4), "heldout_loss": round(ev, 4), "seconds": round(time.time() - t_train)})
                print(f"  held-out loss {ev:.4f}", flush=True)
            if progress_at(step) >= 1.0 and step < args.steps:
                print(f"stopping at step {step}: time budget of {args.max_minutes} min reached", flush=True)
                args.steps = step
                stopped_by_time = True
                break
        epoch += 1
    final_eval = eval_loss()
    train_seconds = time.time() - t_train
    curve.append({"step": step, "train_loss": round(running, 4), "heldout_loss": round(final_eval, 4), "seconds": round(train_seconds)})
    print(f"final: train loss {running:.4f}, held-out loss {final_eval:.4f}, {train_seconds:.0f}s training", flush=True)

    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    with open(os.path.join(args.out, "generation_config.json"), "w") as f:
        json.dump({"bos_token_id": cfg["bos_token_id"], "eos_token_id": cfg["eos_token_id"], "pad_token_id": cfg["pad_token_id"],
                   "do_sample": False, "max_new_tokens": 160, "transformers_version": "4.45.0"}, f, indent=2)
    with open(os.path.join(args.out, "training_log.json"), "w") as f:
        json.dump({"args": vars(args), "corpus_sha256": file_sha256(args.corpus), "parameters": n_params, "tokens": n_tokens, "assistant_tokens": n_learn,
                   "conversations": len(examples), "epochs_started": epoch, "steps": step,
                   "train_seconds": round(train_seconds), "stopped_by_time": stopped_by_time, "curve": curve}, f, indent=2)
    torch.save(model.state_dict(), os.path.join("build", os.path.basename(os.path.normpath(args.out)) + ".pt"))
    if not args.skip_export:
        export_onnx(model, cfg, os.path.join(args.out, "onnx", "model.onnx"))
    print(f"done in {time.time() - t_start:.0f}s", flush=True)


def export_onnx(model, cfg, path):
    model.eval()
    wrapper = OnnxWrapper(model)
    n_layers, n_kv = cfg["num_hidden_layers"], cfg["num_key_value_heads"]
    hd = cfg["hidden_size"] // cfg["num_attention_heads"]
    b, s, past = 2, 3, 4  # non-trivial sizes so that no dimension is traced as a constant
    input_ids = torch.randint(3, cfg["vocab_size"], (b, s))
    attention_mask = torch.ones(b, past + s, dtype=torch.long)
    position_ids = torch.arange(past, past + s)[None].expand(b, s).contiguous()
    past_flat = [torch.randn(b, n_kv, past, hd) for _ in range(2 * n_layers)]
    input_names = ["input_ids", "attention_mask", "position_ids"]
    output_names = ["logits"]
    dynamic = {
        "input_ids": {0: "batch_size", 1: "sequence_length"},
        "attention_mask": {0: "batch_size", 1: "total_sequence_length"},
        "position_ids": {0: "batch_size", 1: "sequence_length"},
        "logits": {0: "batch_size", 1: "sequence_length"},
    }
    for i in range(n_layers):
        for kind in ("key", "value"):
            input_names.append(f"past_key_values.{i}.{kind}")
            output_names.append(f"present.{i}.{kind}")
            dynamic[f"past_key_values.{i}.{kind}"] = {0: "batch_size", 2: "past_sequence_length"}
            dynamic[f"present.{i}.{kind}"] = {0: "batch_size", 2: "total_sequence_length"}
    with torch.no_grad():
        torch.onnx.export(wrapper, (input_ids, attention_mask, position_ids, *past_flat), path,
                          input_names=input_names, output_names=output_names, dynamic_axes=dynamic,
                          opset_version=14, do_constant_folding=True)
    print(f"exported {path} ({os.path.getsize(path) / 1e6:.1f} MB)", flush=True)


if __name__ == "__main__":
    main()
