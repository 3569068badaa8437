#!/usr/bin/env python3
"""Writes the PyTorch-computed golden fixtures the Swift tests compare against.

  Tests/ModelTests/Fixtures/torch_tiny.safetensors + torch_tiny.json
      a 2-layer LSTM built with torch.nn (Embedding, LSTM, Linear) with random weights, one batch with a
      non-zero initial state: its mean cross-entropy, every parameter's gradient and the final state.
  Tests/ModelTests/Fixtures/torch_tiny_{gru,rnn,rnn-relu}.safetensors + .json   (--cells: only these)
      the same for nn.GRU and nn.RNN (tanh, relu), plus the greedy (argmax) continuation of the first row.
  Tests/SamplingTests/Fixtures/{char,jamo}/model.safetensors + vocab.json + golden.json
      a tiny model per granularity trained by PyTorch on the shipped constitution (token ids from
      gasa's own vocab.json), and its greedy (argmax) continuation of a prime text.

Usage: python tools/make_fixtures.py [--gasa .build/release/gasa]   (needs torch, numpy, safetensors)
"""
import argparse, json, os, shutil, subprocess, sys, tempfile, unicodedata
import torch, torch.nn as nn, torch.nn.functional as F
from safetensors.torch import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class CharRNN(nn.Module):
    def __init__(self, V, E, H, L):
        super().__init__()
        self.embed = nn.Embedding(V, E)
        self.lstm = nn.LSTM(E, H, num_layers=L, batch_first=True)
        self.head = nn.Linear(H, V)

    def forward(self, x, state=None):
        h, state = self.lstm(self.embed(x), state)
        return self.head(h), state


class CellRNN(nn.Module):
    """The same model with nn.GRU or nn.RNN, under the module names gasa uses (gru, rnn)."""
    def __init__(self, V, E, H, L, cell):
        super().__init__()
        self.cell = cell
        self.embed = nn.Embedding(V, E)
        if cell == "gru":
            self.gru = nn.GRU(E, H, num_layers=L, batch_first=True)
        else:
            self.rnn = nn.RNN(E, H, num_layers=L, batch_first=True,
                              nonlinearity="relu" if cell == "rnn-relu" else "tanh")
        self.head = nn.Linear(H, V)

    def forward(self, x, state=None):
        h, state = (self.gru if self.cell == "gru" else self.rnn)(self.embed(x), state)
        return self.head(h), state


def cell_fixture(cell):
    torch.manual_seed(11)
    V, E, H, L, B, T = 11, 6, 10, 2, 3, 5
    m = CellRNN(V, E, H, L, cell)
    with torch.no_grad():
        for p in m.parameters():
            p.mul_(1.5)
    x = torch.randint(0, V, (B, T))
    y = torch.randint(0, V, (B, T))
    h0 = 0.5 * torch.randn(L, B, H)
    logits, hT = m(x, h0)
    loss = F.cross_entropy(logits.reshape(-1, V), y.reshape(-1))
    loss.backward()
    greedy = []
    with torch.no_grad():
        out, state = m(x[:1])
        nxt = int(out[0, -1].argmax())
        for _ in range(12):
            greedy.append(nxt)
            out, state = m(torch.tensor([[nxt]]), state)
            nxt = int(out[0, -1].argmax())
    d = os.path.join(ROOT, "Tests/ModelTests/Fixtures")
    save(m, os.path.join(d, f"torch_tiny_{cell}.safetensors"))
    golden = dict(cell=cell, vocab_size=V, embedding_size=E, hidden_size=H, layers=L, batch=B, steps=T,
                  inputs=x.flatten().tolist(), targets=y.flatten().tolist(), h0=h0.flatten().tolist(),
                  loss=loss.item(), final_h=hT.detach().flatten().tolist(), greedy=greedy,
                  grads={k: p.grad.flatten().tolist() for k, p in m.named_parameters()})
    with open(os.path.join(d, f"torch_tiny_{cell}.json"), "w") as f:
        json.dump(golden, f)


def save(model, path):
    save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, path)


def parity_fixture():
    torch.manual_seed(7)
    V, E, H, L, B, T = 11, 6, 10, 2, 3, 5
    m = CharRNN(V, E, H, L)
    with torch.no_grad():
        for p in m.parameters():
            p.mul_(1.5)
    x = torch.randint(0, V, (B, T))
    y = torch.randint(0, V, (B, T))
    h0 = 0.5 * torch.randn(L, B, H)
    c0 = 0.5 * torch.randn(L, B, H)
    logits, (hT, cT) = m(x, (h0, c0))
    loss = F.cross_entropy(logits.reshape(-1, V), y.reshape(-1))
    loss.backward()
    d = os.path.join(ROOT, "Tests/ModelTests/Fixtures")
    os.makedirs(d, exist_ok=True)
    save(m, os.path.join(d, "torch_tiny.safetensors"))
    golden = dict(vocab_size=V, embedding_size=E, hidden_size=H, layers=L, batch=B, steps=T,
                  inputs=x.flatten().tolist(), targets=y.flatten().tolist(),
                  h0=h0.flatten().tolist(), c0=c0.flatten().tolist(),
                  loss=loss.item(), final_h=hT.detach().flatten().tolist(), final_c=cT.detach().flatten().tolist(),
                  grads={k: p.grad.flatten().tolist() for k, p in m.named_parameters()})
    with open(os.path.join(d, "torch_tiny.json"), "w") as f:
        json.dump(golden, f)


def hangul_jamo(c):
    s = ord(c) - 0xAC00
    if 0 <= s < 11172:
        out = [chr(0x1100 + s // 588), chr(0x1161 + (s % 588) // 28)]
        if s % 28:
            out.append(chr(0x11A7 + s % 28))
        return out
    return [c]


def sampling_fixture(gasa, granularity, tmp):
    prep = os.path.join(tmp, granularity)
    corpus = os.path.join(ROOT, "data/constitution_ko/constitution_ko.txt")
    subprocess.run([gasa, "prepare", corpus, "--out", prep, "--granularity", granularity], check=True,
                   stdout=subprocess.DEVNULL)
    vocab = json.load(open(os.path.join(prep, "vocab.json")))
    ids = {"".join(chr(s) for s in t["scalars"]): t["id"] for t in vocab["tokens"]}
    text = unicodedata.normalize("NFC", open(corpus, encoding="utf-8").read().replace("\r\n", "\n"))

    def tokenize(s):
        out = []
        for c in s:
            for piece in (hangul_jamo(c) if granularity == "jamo" else [c]):
                out.append(ids[piece])
        return out

    data = torch.tensor(tokenize(text))
    V = len(vocab["tokens"])
    torch.manual_seed(1)
    m = CharRNN(V, 24, 32, 1)
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    B, T = 16, 32
    for _ in range(400):
        starts = torch.randint(0, len(data) - T - 1, (B,))
        x = torch.stack([data[s:s + T] for s in starts])
        y = torch.stack([data[s + 1:s + T + 1] for s in starts])
        logits, _ = m(x)
        loss = F.cross_entropy(logits.reshape(-1, V), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    prime = "대한민국은 "
    tokens = []
    with torch.no_grad():
        logits, state = m(torch.tensor([tokenize(prime)]))
        nxt = int(logits[0, -1].argmax())
        for _ in range(240):
            tokens.append(nxt)
            logits, state = m(torch.tensor([[nxt]]), state)
            nxt = int(logits[0, -1].argmax())
    by_id = {t["id"]: "".join(chr(s) for s in t["scalars"]) for t in vocab["tokens"]}
    out = unicodedata.normalize("NFC", "".join(by_id[t] for t in tokens))
    d = os.path.join(ROOT, "Tests/SamplingTests/Fixtures", granularity)
    os.makedirs(d, exist_ok=True)
    save(m, os.path.join(d, "model.safetensors"))
    shutil.copy(os.path.join(prep, "vocab.json"), os.path.join(d, "vocab.json"))
    json.dump(dict(prime=prime, embedding_size=24, hidden_size=32, layers=1, tokens=tokens, text=out,
                   final_loss=loss.item()), open(os.path.join(d, "golden.json"), "w"), ensure_ascii=False)
    print(f"{granularity}: vocab {V}, last train loss {loss.item():.3f}, greedy: {out[:60]!r}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gasa", default=os.path.join(ROOT, ".build/release/gasa"))
    ap.add_argument("--cells", action="store_true", help="write only the GRU and RNN fixtures")
    a = ap.parse_args()
    torch.set_num_threads(1)
    for cell in ("gru", "rnn", "rnn-relu"):
        cell_fixture(cell)
    if a.cells:
        return
    parity_fixture()
    with tempfile.TemporaryDirectory() as tmp:
        for g in ("char", "jamo"):
            sampling_fixture(a.gasa, g, tmp)


if __name__ == "__main__":
    main()
