"""Which near-tie explains a VGG model's input-gradient difference in the synthetic golden test.

Runs the synthetic-weight VGG of make_synthetic_golden.py in float64, lists the ReLU inputs closest
to zero and the max-pool windows whose two largest values are closest (relative to the layer's
largest value), and for each re-runs the gradient with that one unit's derivative flipped (ReLU)
or that one window's gradient routed to its runner-up (max pool). A flip whose distance from the
float64 gradient equals the measured Fovea-vs-PyTorch difference identifies the kink that float32
rounding decides. Usage: python3 Tests/Golden/explain_kink.py vgg16
"""
import os, sys, json, struct, torch, numpy as np
import torch.nn.functional as F
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_synthetic_golden as g
torch.set_num_threads(2)
def read_st(p):
    b = open(p, "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8+n]); out = {}
    for k, v in h.items():
        if k == "__metadata__": continue
        s, e = v["data_offsets"]; out[k] = np.frombuffer(b[8+n+s:8+n+e], np.float32).reshape(v["shape"])
    return out
NAME = sys.argv[1] if len(sys.argv) > 1 else "vgg16"
HERE = os.path.dirname(os.path.abspath(__file__))
gold = read_st(os.path.join(HERE, "torchvision", "synthetic", NAME + ".safetensors"))
model = g.build(NAME)
state = model.state_dict()
model.load_state_dict({k: g.synthetic(k, list(v.shape)).to(v.dtype) for k, v in state.items()})
model.eval().double()
for m in model.modules():
    if isinstance(m, torch.nn.ReLU): m.inplace = False
x0 = torch.tensor(2 * g.uniform("input", 3 * 64 * 64).reshape(1, 3, 64, 64)).double()
acts = {}
hs = []
for n, m in model.named_modules():
    if isinstance(m, (torch.nn.ReLU, torch.nn.MaxPool2d)):
        hs.append(m.register_forward_hook(lambda m, i, o, n=n: acts.__setitem__(n, i[0].detach())))
def grad(model):
    x = x0.clone().requires_grad_(True)
    l = model(x); top = int(l[0].argmax()); l[0, top].backward(); return x.grad.clone(), top
g64, top = grad(model)
for h in hs: h.remove()
rel = lambda a, b: float(np.linalg.norm(a - b) / np.linalg.norm(b))
print("top", top, "float32 golden vs float64:", rel(gold["input_grad"].ravel(), g64.numpy().ravel()))
# ReLU candidates: smallest |input| relative to the layer's max
cands = []
for n, a in acts.items():
    if "classifier" in n: continue
    v = a.abs().flatten(); mx = float(v.max())
    if n.startswith("features") and isinstance(dict(model.named_modules())[n], torch.nn.ReLU):
        idx = torch.argsort(v)[:3]
        for i in idx: cands.append((float(v[i]) / mx, n, int(i), "relu"))
    else:
        # max pool 2x2 s2: near-ties between top two of each window
        c, h, w = a.shape[1:]
        win = a[0].reshape(c, h // 2, 2, w // 2, 2).permute(0, 1, 3, 2, 4).reshape(c, h // 2, w // 2, 4)
        s = torch.sort(win, dim=-1, descending=True).values
        gap = (s[..., 0] - s[..., 1]).flatten() / mx
        gap[(s[..., 0] <= 0).flatten()] = 1e9
        idx = torch.argsort(gap)[:3]
        for i in idx: cands.append((float(gap[i]), n, int(i), "pool"))
cands.sort()
for c in cands[:10]: print(c)
# flip the smallest relu candidates
class FlipReLU(torch.nn.Module):
    def __init__(self, index): super().__init__(); self.index = index
    def forward(self, x):
        mask = (x > 0).double().flatten(); mask[self.index] = 1 - mask[self.index]
        return x * mask.reshape(x.shape)
mods = dict(model.named_modules())
for gap, n, i, kind in cands[:6]:
    if kind != "relu": continue
    parent, child = n.rsplit(".", 1)
    orig = mods[parent][int(child)]
    mods[parent][int(child)] = FlipReLU(i)
    gf, _ = grad(model)
    mods[parent][int(child)] = orig
    print("flip", n, i, "gap", gap, "-> vs float64", rel(gf.numpy().ravel(), g64.numpy().ravel()))
class FlipPool(torch.nn.Module):
    def __init__(self, index): super().__init__(); self.index = index
    def forward(self, x):
        y, idx = F.max_pool2d(x, 2, 2, return_indices=True)
        c, h, w = x.shape[1:]
        flat = idx.flatten().clone()
        i = self.index; ch, r = divmod(i, y.shape[2] * y.shape[3]); oy, ox = divmod(r, y.shape[3])
        win = [(2*oy+a)*w + 2*ox+b for a in (0,1) for b in (0,1)]
        vals = [float(x[0, ch].detach().flatten()[p]) for p in win]
        order = sorted(range(4), key=lambda k: -vals[k])
        flat[i] = win[order[1]]
        return x.flatten(2).gather(2, flat.reshape(1, c, -1)).reshape(y.shape)
for gap, n, i, kind in cands[:10]:
    if kind != "pool": continue
    parent, child = n.rsplit(".", 1)
    orig = mods[parent][int(child)]
    mods[parent][int(child)] = FlipPool(i)
    gf, _ = grad(model)
    mods[parent][int(child)] = orig
    print("flip pool", n, i, "gap", gap, "-> vs float64", rel(gf.numpy().ravel(), g64.numpy().ravel()))
