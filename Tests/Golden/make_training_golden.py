#!/usr/bin/env python3
"""Golden files for Fovea's training code and fashion-cnn (Tests/Golden/training/).

    python3 Tests/Golden/make_training_golden.py

Needs torch and the Debian package dataset-fashion-mnist. Writes:
  optimizers.json            SGD (plain, momentum + weight decay, Nesterov) and Adam (with weight
                             decay): a 6-element parameter, three fixed gradients, the parameter
                             after each step (torch.optim)
  fashion_cnn.safetensors    from the shipped weights (Sources/Fovea/Resources/fashion-cnn.safetensors):
                             eval logits of the first 16 test images; the input gradient of the top
                             logit of image 0 plus uniform noise of +-0.01 (noisy_input, which
                             breaks max-pool ties); in train mode with dropout off (BatchNorm on batch
                             statistics) on the first 32 training images: the gradient of the mean
                             cross-entropy for every parameter (classifier.1.weight: rows 0-3 only),
                             the BatchNorm running statistics after that forward pass, and the
                             parameters after one Adam step (lr 1e-3, same subset)
  fashion_cnn.json           the loss of that batch, the test accuracy over all 10k test images,
                             and FGSM accuracy on the first 1000 test images at epsilon 0, 0.05,
                             0.1, 0.2 (0..1 pixel scale)
"""
import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from fashion_cnn import FashionCNN, load_safetensors, load_split  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from golden_io import write_safetensors  # noqa: E402

OUT = os.path.join(HERE, "training")


def optimizer_cases():
    p0 = [0.5, -1.0, 2.0, 0.0, -0.25, 1.5]
    grads = [[0.1, -0.2, 0.3, 0.0, 1.0, -1.0], [0.05, 0.4, -0.3, 0.2, -0.5, 0.0], [-0.3, 0.1, 0.2, -0.1, 0.25, 0.75]]
    settings = {
        "sgd": (torch.optim.SGD, dict(lr=0.1)),
        "sgd_momentum_wd": (torch.optim.SGD, dict(lr=0.1, momentum=0.9, weight_decay=0.01)),
        "sgd_nesterov": (torch.optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True)),
        "adam": (torch.optim.Adam, dict(lr=0.01)),
        "adam_wd": (torch.optim.Adam, dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    }
    cases = {}
    for name, (cls, kw) in settings.items():
        p = torch.tensor(p0, dtype=torch.float32, requires_grad=True)
        opt = cls([p], **kw)
        steps = []
        for g in grads:
            p.grad = torch.tensor(g, dtype=torch.float32)
            opt.step()
            steps.append([float(v) for v in p.detach()])
        cases[name] = {"settings": {k: (list(v) if isinstance(v, tuple) else v) for k, v in kw.items()}, "after": steps}
    return {"initial": p0, "gradients": grads, "cases": cases}


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(2)
    with open(os.path.join(OUT, "optimizers.json"), "w") as f:
        json.dump(optimizer_cases(), f, indent=1)

    net = FashionCNN()
    net.load_state_dict(load_safetensors(os.path.join(ROOT, "Sources/Fovea/Resources/fashion-cnn.safetensors")))
    xte, yte = load_split("test")
    xtr, ytr = load_split("train")
    out = {}
    net.eval()
    with torch.no_grad():
        out["eval_logits"] = net(xte[:16])
        accuracy = float((torch.cat([net(xte[i:i + 1000]).argmax(1) for i in range(0, 10000, 1000)]) == yte).float().mean())
    # Flat backgrounds make 2x2 max-pool windows hold equal values, where float rounding, not
    # the network, decides which input gets the gradient; a little noise breaks those ties.
    g = torch.Generator().manual_seed(0)
    out["noisy_input"] = xte[:1] + (torch.rand(xte[:1].shape, generator=g) - 0.5) * 0.02
    x = out["noisy_input"].clone().requires_grad_(True)
    logits = net(x)
    logits[0, logits[0].argmax()].backward()
    out["input_grad"] = x.grad

    # FGSM accuracy on the first 1000 test images: x' = clamp(x + eps sign(d CE / d x), 0, 1) on 0..1 pixels.
    pixels = xte[:1000] * 0.3530 + 0.2860
    fgsm = {}
    for eps in [0.0, 0.05, 0.1, 0.2]:
        p = pixels.clone().requires_grad_(True)
        torch.nn.functional.cross_entropy(net((p - 0.2860) / 0.3530), yte[:1000], reduction="sum").backward()
        adv = (pixels + eps * p.grad.sign()).clamp(0, 1)
        with torch.no_grad():
            fgsm[str(eps)] = float((net((adv - 0.2860) / 0.3530).argmax(1) == yte[:1000]).float().mean())
    net.train()
    net.classifier[3].eval()  # dropout off: its random mask is not reproducible across frameworks
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(net(xtr[:32]), ytr[:32])
    loss.backward()
    def subset(name, t):
        return t[:4] if name == "classifier.1.weight" else t
    for name, p in net.named_parameters():
        out[f"grad.{name}"] = subset(name, p.grad)
    for name, b in net.named_buffers():
        if "running" in name:
            out[f"after_forward.{name}"] = b
    opt.step()
    for name, p in net.named_parameters():
        out[f"after_step.{name}"] = subset(name, p)
    write_safetensors(os.path.join(OUT, "fashion_cnn.safetensors"), out)
    with open(os.path.join(OUT, "fashion_cnn.json"), "w") as f:
        json.dump({"batch_loss": loss.item(), "test_accuracy": accuracy, "fgsm_accuracy_first_1000": fgsm, "torch": torch.__version__}, f, indent=1)
    print(f"test accuracy {accuracy:.4f}, batch loss {loss.item():.6f}")


if __name__ == "__main__":
    main()
