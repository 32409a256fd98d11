"""One yardstick for t-SNE maps from any tool: KL(P || Q) with P from each point's
3 x perplexity exact nearest neighbours (Gaussian conditionals calibrated to the perplexity by
bisection, symmetrised, summing to 1) and Q the Student-t affinities with Z summed exactly over
all pairs. Used by the benchmark to compare Fovea, openTSNE and scikit-learn on equal terms."""
import numpy as np


def sparse_p(x, perplexity=30.0, neighbours=None):
    """P on each point's `neighbours` nearest (default 3 x perplexity; n - 1 gives exact P)."""
    from sklearn.neighbors import NearestNeighbors
    n = x.shape[0]
    k = min(n - 1, neighbours or int(np.ceil(3 * perplexity)))
    dist, idx = NearestNeighbors(n_neighbors=k + 1, algorithm="brute").fit(x).kneighbors(x)
    d2, idx = dist[:, 1:] ** 2, idx[:, 1:]
    d2 = d2 - d2.min(axis=1, keepdims=True)
    target = np.log(perplexity)
    beta, lo, hi = np.ones(n), np.zeros(n), np.full(n, np.inf)
    for _ in range(100):
        w = np.exp(-beta[:, None] * d2)
        s = w.sum(1)
        h = np.log(s) + beta * (w * d2).sum(1) / s
        up = h > target
        lo = np.where(up, beta, lo)
        hi = np.where(up, hi, beta)
        beta = np.where(up, np.where(np.isinf(hi), beta * 2, (beta + hi) / 2), (beta + lo) / 2)
    w = np.exp(-beta[:, None] * d2)
    cond = w / w.sum(1, keepdims=True)
    from scipy.sparse import csr_matrix
    c = csr_matrix((cond.ravel(), (np.repeat(np.arange(n), k), idx.ravel())), shape=(n, n))
    p = (c + c.T) / (2 * n)
    return p.tocoo()


def exact_z(y, block=2048):
    y = np.asarray(y, dtype=np.float64)
    sq = (y ** 2).sum(1)
    z = 0.0
    for s in range(0, len(y), block):
        d2 = sq[s:s + block, None] + sq[None, :] - 2 * y[s:s + block] @ y.T
        z += (1 / (1 + np.maximum(d2, 0))).sum()
    return z - len(y)          # minus the diagonal (w_ii = 1)


def kl(p, y):
    y = np.asarray(y, dtype=np.float64)
    z = exact_z(y)
    d2 = ((y[p.row] - y[p.col]) ** 2).sum(1)
    q = 1 / (1 + d2) / z
    return float((p.data * np.log(p.data / q)).sum())
