#!/usr/bin/env python3
"""Keeps the README's numbers equal to what was measured.

The README marks what it does not own:
  <!-- include: bench/results-X.md -->   ...   <!-- end include -->
      the results file as `make bench` (or --measure) wrote it, its title dropped and its
      headings demoted under the README's section; `...md#table2` takes only its second table;
  <!-- docs: KEY -->VALUE<!-- /docs -->
      one value: `tests` (the @Test functions under Tests/), or a KEY of
      bench/results-docs.md's table.

  readme_sync.py                         rewrite README.md from the files
  readme_sync.py --check                 exit 1 (naming each stale block) if README.md is not
                                         what the files say; `make test` runs this
  readme_sync.py --measure FOVEA --cache DIR
                                         first measure bench/results-docs.md (about 2 minutes:
                                         t-SNE of scikit-learn's digits, Fashion-MNIST
                                         retrieval), then rewrite

Needs only the standard library, and numpy and scikit-learn for --measure.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")
DOCS_RESULTS = os.path.join(ROOT, "bench", "results-docs.md")
INCLUDE = re.compile(r"(<!-- include: ([^\s#]+)(?:#table(\d+))? -->\n)(.*?)(<!-- end include -->)", re.S)
VALUE = re.compile(r"(<!-- docs: ([\w-]+) -->)(.*?)(<!-- /docs -->)")


def test_count():
    """Swift Testing's count: one per @Test function (a parameterised test counts once)."""
    n = 0
    for folder, _, files in os.walk(os.path.join(ROOT, "Tests")):
        for name in files:
            if name.endswith(".swift"):
                with open(os.path.join(folder, name), encoding="utf-8") as f:
                    n += sum(1 for line in f if re.match(r"\s*@Test\b", line))
    return n


def measured_values():
    """KEY -> value from bench/results-docs.md's table (| key | value | how |)."""
    values = {}
    if os.path.exists(DOCS_RESULTS):
        with open(DOCS_RESULTS, encoding="utf-8") as f:
            for line in f:
                cells = [c.strip() for c in line.strip().strip("|").split("|")]
                if len(cells) >= 2 and cells[0].startswith("`") and cells[0].endswith("`"):
                    values[cells[0].strip("`")] = cells[1]
    values["tests"] = str(test_count())
    return values


def tables(lines):
    """The markdown tables among `lines`, each as its lines."""
    found, current = [], []
    for line in lines + [""]:
        if line.startswith("|"):
            current.append(line)
        elif current:
            found.append(current)
            current = []
    return found


def included(path, table=None):
    """A results file as the README shows it: no H1 title, headings two levels deeper; or
    only its `table`-th table (1-based)."""
    full = os.path.join(ROOT, path)
    if not os.path.exists(full):
        raise SystemExit(f"README.md includes {path}, which does not exist (run `make bench` or `make docs`)")
    with open(full, encoding="utf-8") as f:
        lines = f.read().strip("\n").split("\n")
    if table is not None:
        found = tables(lines)
        if not 1 <= table <= len(found):
            raise SystemExit(f"README.md includes table {table} of {path}, which has {len(found)}")
        return "\n".join(found[table - 1]) + "\n"
    if lines and lines[0].startswith("# "):
        title = lines[0][2:].strip()
        lines = lines[1:]
        # A title that carries the measurement's date keeps it, as a line.
        if re.search(r"\d{4}-\d\d-\d\d", title):
            lines = [f"*{title}*"] + lines
    lines = ["##" + l if re.match(r"#{2,4} ", l) else l for l in lines]
    return "\n".join(lines).strip("\n") + "\n"


def synced(text):
    """README text with every include and value replaced; and the names of those that changed."""
    stale = []

    def include(m):
        body = included(m.group(2), int(m.group(3)) if m.group(3) else None)
        if body != m.group(4):
            stale.append(m.group(2) + (f"#table{m.group(3)}" if m.group(3) else ""))
        return m.group(1) + body + m.group(5)

    values = measured_values()

    def value(m):
        key = m.group(2)
        if key not in values:
            raise SystemExit(f"README.md asks for docs value '{key}', which bench/results-docs.md does not have (run `make docs`)")
        if values[key] != m.group(3):
            stale.append(f"{key} ({m.group(3)} -> {values[key]})")
        return m.group(1) + values[key] + m.group(4)

    text = INCLUDE.sub(include, text)
    text = VALUE.sub(value, text)
    return text, stale


def run(cmd):
    start = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return time.perf_counter() - start, out


def knn_accuracy(y, labels, k=10, folds=5):
    """k-NN vote accuracy of 2-D points, `folds`-fold cross-validation (contiguous folds)."""
    import numpy as np
    n = len(y)
    correct = 0
    for f in range(folds):
        test = np.arange(f * n // folds, (f + 1) * n // folds)
        train = np.setdiff1d(np.arange(n), test)
        d2 = ((y[test, None, :] - y[None, train, :]) ** 2).sum(-1)
        nearest = train[np.argsort(d2, axis=1)[:, :k]]
        votes = np.array([np.bincount(labels[row], minlength=labels.max() + 1).argmax() for row in nearest])
        correct += int((votes == labels[test]).sum())
    return correct / n


def measure(fovea, cache):
    import numpy as np
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    import tsne_kl
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        digits = os.path.join(cache, "datasets", "digits.csv")
        x_path, l_path = os.path.join(tmp, "digits.npy"), os.path.join(tmp, "labels.npy")
        run([fovea, "embed", digits, "-o", x_path, "--labels", l_path])
        x, labels = np.load(x_path).astype(np.float64), np.load(l_path)
        print(f"t-SNE of {len(x)} digits, exact, 3 runs...", file=sys.stderr)
        times, kl_printed, y = [], None, None
        for _ in range(3):
            out = os.path.join(tmp, "exact.npy")
            seconds, printed = run([fovea, "tsne", x_path, "-o", out, "--json"])
            times.append(seconds)
            kl_printed, y = json.loads(printed)["kl"], np.load(out).astype(np.float64)
        p_all = tsne_kl.sparse_p(x, neighbours=len(x) - 1)
        bh_out = os.path.join(tmp, "bh.npy")
        bh_seconds, bh_printed = run([fovea, "tsne", x_path, "-o", bh_out, "--method", "barnes-hut", "--json"])
        y_bh = np.load(bh_out).astype(np.float64)
        rows += [
            ("tsne-digits-seconds", f"{min(times):.1f} / {statistics.median(times):.1f} s",
             "`fovea tsne` of the 1797 digits (exact gradients), process start to exit, min / median of 3"),
            ("tsne-digits-kl", f"{kl_printed:.3f}", "its KL as `fovea tsne` prints it (exact P and Q)"),
            ("tsne-digits-kl-exact", f"{tsne_kl.kl(p_all, y):.3f}", "the same map's KL by scripts/tsne_kl.py with P over all pairs"),
            ("tsne-digits-knn", f"{knn_accuracy(y, labels):.3f}", "10-NN accuracy in the 2-D map, 5-fold cross-validation"),
            ("tsne-digits-bh-seconds", f"{bh_seconds:.1f} s", "`fovea tsne --method barnes-hut` on the digits, one run"),
            ("tsne-digits-bh-kl", f"{json.loads(bh_printed)['kl']:.3f}", "its KL as printed (kNN P, Barnes-Hut Z)"),
            ("tsne-digits-bh-kl-exact", f"{tsne_kl.kl(p_all, y_bh):.3f}", "the Barnes-Hut map's KL with P over all pairs and exact Z"),
        ]
        try:
            from sklearn.manifold import TSNE
            start = time.perf_counter()
            y_sk = TSNE(perplexity=30, init="pca", random_state=0).fit_transform(x)
            rows.append(("sklearn-digits-bh-kl-exact", f"{tsne_kl.kl(p_all, y_sk):.3f}",
                         f"scikit-learn's Barnes-Hut TSNE (PCA init) on the same digits, KL with P over all pairs ({time.perf_counter() - start:.1f} s)"))
        except ImportError:
            print("scikit-learn is not installed: its digits row is left out", file=sys.stderr)
        print("Fashion-MNIST retrieval...", file=sys.stderr)
        emb, emb_labels = os.path.join(tmp, "fashion.npy"), os.path.join(tmp, "fashion-labels.npy")
        run([fovea, "embed", "fashion-mnist:test", "--model", "fashion-cnn", "-o", emb, "--labels", emb_labels])
        _, out = run([fovea, "neighbors", "--evaluate", "--index", emb, "--labels", emb_labels, "--k", "10", "--json"])
        precision = json.loads(out)["precision"]
        rows.append(("fashion-precision-at-10", f"{precision:.3f}",
                     "`fovea neighbors --evaluate --k 10`: fashion-cnn features of the 10k test images, cosine, leave-one-out"))
        print("command timings...", file=sys.stderr)
        chelsea = os.path.join(cache, "photos", "chelsea.png")
        best = lambda cmd, n: min(run(cmd)[0] for _ in range(n))
        rows.append(("models-seconds", f"{best([fovea, 'models'], 5):.2f} s", "`fovea models`, process start to exit, min of 5"))
        seconds = best([fovea, "embed", "fashion-mnist:all", "--model", "fashion-cnn", "-o", os.path.join(tmp, "all.npy")], 1)
        rows.append(("embed-fashion-all-seconds", f"{seconds:.0f} s", "`fovea embed fashion-mnist:all --model fashion-cnn`, one run"))
        seconds = best([fovea, "top-patches", "fashion-mnist:test", "--model", "fashion-cnn", "--layer", "features.6",
                        "-o", os.path.join(tmp, "patches.png")], 1)
        rows.append(("top-patches-fashion-seconds", f"{seconds:.1f} s", "`fovea top-patches fashion-mnist:test --model fashion-cnn --layer features.6`, one run"))
        epsilons = "0,0.05,0.1,0.15,0.2,0.25,0.3"
        seconds, out = run([fovea, "robustness", "fashion-mnist:test", "--model", "fashion-cnn", "--method", "fgsm",
                            "--epsilons", epsilons, "--json"])
        accuracies = ", ".join(f"{100 * a:.1f}" for a in json.loads(out)["accuracies"])
        rows.append(("fgsm-fashion-accuracies", f"{accuracies}%", f"`fovea robustness fashion-mnist:test --model fashion-cnn --method fgsm --epsilons {epsilons}`"))
        rows.append(("fgsm-fashion-seconds", f"{seconds:.0f} s", "the same run, process start to exit"))
        seconds = best([fovea, "dream", chelsea, "-o", os.path.join(tmp, "dream.png")], 1)
        rows.append(("dream-seconds", f"{seconds:.1f} s", "`fovea dream chelsea.png`, one run"))
        seconds = best([fovea, "stylize", chelsea, "--size", "384", "-o", os.path.join(tmp, "stylized.png")], 3)
        rows.append(("stylize-384-seconds", f"{seconds:.1f} s", "`fovea stylize chelsea.png --size 384`, min of 3"))
    from bench import measured_lines
    with open(DOCS_RESULTS, "w", encoding="utf-8") as f:
        f.write("# Numbers quoted in the README\n\n")
        f.write("\n".join(measured_lines()) + "\n- made by `scripts/readme_sync.py --measure` (part of `make docs`)\n\n")
        f.write("| key | value | how |\n|---|---|---|\n")
        for key, value, how in rows:
            f.write(f"| `{key}` | {value} | {how} |\n")
    print(f"wrote {os.path.relpath(DOCS_RESULTS, ROOT)}", file=sys.stderr)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only report whether README.md is in sync")
    parser.add_argument("--measure", metavar="FOVEA", help="measure bench/results-docs.md with this fovea binary first")
    parser.add_argument("--cache", default=os.environ.get("FOVEA_CACHE", os.path.expanduser("~/.cache/fovea")))
    args = parser.parse_args()
    if args.measure:
        measure(args.measure, args.cache)
    with open(README, encoding="utf-8") as f:
        text = f.read()
    new, stale = synced(text)
    if args.check:
        if stale:
            print("README.md is out of date with: " + ", ".join(stale) + " (run `python3 scripts/readme_sync.py`)", file=sys.stderr)
            sys.exit(1)
        print("README.md matches its results files")
        return
    if new != text:
        with open(README, "w", encoding="utf-8") as f:
            f.write(new)
    print(f"README.md: {len(stale)} block(s) rewritten" + (": " + ", ".join(stale) if stale else ""))


if __name__ == "__main__":
    main()
