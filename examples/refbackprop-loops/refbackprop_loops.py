"""refbackprop_loops: a linear layer in plain Python loops, as a refbackprop backend."""


class LoopsBackend:
    name = "loops"
    dtypes = ("float64",)

    def array(self, values, shape, dtype):  # native array: (shape, lists)
        rows = [list(r) for r in values] if len(shape) == 2 else list(values)
        return (tuple(shape), rows)

    def tolist(self, a):
        shape, v = a
        return [[float(t) for t in r] for r in v] if len(shape) == 2 else [float(t) for t in v]

    def forward(self, x, w, b=None):  # x (N, D), w (D, M), b (M,)
        (n, d), (_, m), X, W = x[0], w[0], x[1], w[1]
        y = [
            [sum(X[i][k] * W[k][j] for k in range(d)) + (b[1][j] if b else 0.0) for j in range(m)]
            for i in range(n)
        ]
        return ((n, m), y)

    def backward(self, x, w, dy, b=None):  # dy (N, M)
        (n, d), (_, m), X, W, G = x[0], w[0], x[1], w[1], dy[1]
        dx = [[sum(G[i][j] * W[k][j] for j in range(m)) for k in range(d)] for i in range(n)]
        dw = [[sum(X[i][k] * G[i][j] for i in range(n)) for j in range(m)] for k in range(d)]
        db = ((m,), [sum(G[i][j] for i in range(n)) for j in range(m)]) if b else None
        return ((n, d), dx), ((d, m), dw), db
