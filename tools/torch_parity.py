#!/usr/bin/env python3
"""Loads a gasa checkpoint into torch.nn (Embedding; LSTM, GRU or RNN; Linear) and checks that PyTorch computes the
same validation loss as gasa recorded in the checkpoint's meta.json: the whole val split, read from the
shards with numpy, state zero at the start and carried from minibatch to minibatch, as gasa evaluates.

Usage: python tools/torch_parity.py RUN/best [PREPARED_DIR]      (needs torch, numpy, safetensors)
Exit status 0 when the two agree to 1e-4 nats per token.
"""
import json, os, sys
import numpy as np
import torch, torch.nn.functional as F
from safetensors.torch import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import CellRNN, CharRNN  # noqa: E402  (the same torch.nn modules the test fixtures use)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    ckpt = sys.argv[1]
    meta = json.load(open(os.path.join(ckpt, "meta.json")))
    prep = sys.argv[2] if len(sys.argv) > 2 else meta["prepared_directory"]
    cfg = meta["model"]
    cell = cfg.get("cell", "lstm")
    shape = (cfg["vocab_size"], cfg["embedding_size"], cfg["hidden_size"], cfg["layers"])
    m = CharRNN(*shape) if cell == "lstm" else CellRNN(*shape, cell)
    m.load_state_dict(load_file(os.path.join(ckpt, meta["weights_file"])), strict=True)
    m.eval()
    manifest = json.load(open(os.path.join(prep, "manifest.json")))
    val = next(s for s in manifest["splits"] if s["name"] == "val")
    dtype = "<u2" if manifest["token_bytes"] == 2 else "<u4"
    B, L, H = val["batch_size"], cfg["layers"], cfg["hidden_size"]
    state = (torch.zeros(L, B, H), torch.zeros(L, B, H)) if cell == "lstm" else torch.zeros(L, B, H)
    total, count = 0.0, 0
    with torch.no_grad():
        for sh in val["shards"]:
            a = np.memmap(os.path.join(prep, sh["file"]), dtype=dtype, mode="r", offset=64)
            a = a.reshape(sh["minibatches"], B, sh["steps"] + 1)
            for k in range(sh["minibatches"]):
                batch = torch.from_numpy(a[k].astype(np.int64))
                x, y = batch[:, :-1], batch[:, 1:]
                logits, state = m(x, state)
                total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum").item()
                count += y.numel()
    torch_loss = total / count
    gasa_loss = meta.get("val_loss")
    print(f"val targets {count} (manifest: {val['served_targets']})")
    print(f"PyTorch val loss {torch_loss:.6f} nats/token")
    if gasa_loss is None:
        sys.exit("meta.json has no val_loss to compare with (was the checkpoint validated?)")
    print(f"gasa    val loss {gasa_loss:.6f} nats/token  (iteration {meta['iteration']})")
    diff = abs(torch_loss - gasa_loss)
    print(f"difference {diff:.2e}: {'agree' if diff <= 1e-4 else 'DISAGREE'} (tolerance 1e-4)")
    sys.exit(0 if diff <= 1e-4 and count == val["served_targets"] else 1)


if __name__ == "__main__":
    main()
