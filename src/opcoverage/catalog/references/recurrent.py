"""References for ONNX's recurrent layers (RNN, GRU, LSTM; X is [seq, batch, input]), in float64 NumPy."""

import numpy as np

from opcoverage.catalog.references.activation import sigmoid


def _recurrence(X, W, R, B, initial_states, direction, step):
    """Run ``step(x_t, states, W, R, Wb, Rb) -> states`` over time for each direction; gather Y and finals."""
    seq, batch = X.shape[:2]
    dirs, hidden = W.shape[0], R.shape[-1]
    gates = W.shape[1]
    reverse = {"forward": [False], "reverse": [True], "bidirectional": [False, True]}[direction]
    Y = np.zeros((seq, dirs, batch, hidden))
    finals = []
    for d, backwards in enumerate(reverse):
        bias = B[d] if B is not None else np.zeros(2 * gates)
        states = [s[d] if s is not None else np.zeros((batch, hidden)) for s in initial_states]
        for t in (range(seq - 1, -1, -1) if backwards else range(seq)):
            states = step(X[t], states, W[d], R[d], bias[:gates], bias[gates:])
            Y[t, d] = states[0]
        finals.append(states)
    return (Y,) + tuple(np.stack([f[i] for f in finals]) for i in range(len(initial_states)))


def rnn_tanh(X, W, R, B=None, initial_h=None, direction="forward"):
    def step(x, states, w, r, wb, rb):
        return [np.tanh(x @ w.T + wb + states[0] @ r.T + rb)]

    return _recurrence(X, W, R, B, [initial_h], direction, step)


def gru(X, W, R, B=None, initial_h=None, direction="forward", linear_before_reset=0):
    """ONNX gate order z, r, h."""
    def step(x, states, w, r, wb, rb):
        h = states[0]
        hidden = h.shape[-1]
        xw = x @ w.T + wb
        z = sigmoid(xw[:, :hidden] + h @ r[:hidden].T + rb[:hidden])
        reset = sigmoid(xw[:, hidden:2 * hidden] + h @ r[hidden:2 * hidden].T + rb[hidden:2 * hidden])
        if linear_before_reset:
            candidate = np.tanh(xw[:, 2 * hidden:] + reset * (h @ r[2 * hidden:].T + rb[2 * hidden:]))
        else:
            candidate = np.tanh(xw[:, 2 * hidden:] + (reset * h) @ r[2 * hidden:].T + rb[2 * hidden:])
        return [(1 - z) * candidate + z * h]

    return _recurrence(X, W, R, B, [initial_h], direction, step)


def lstm(X, W, R, B=None, initial_h=None, initial_c=None, direction="forward"):
    """ONNX gate order i, o, f, c (no peepholes)."""
    def step(x, states, w, r, wb, rb):
        h, c = states
        hidden = h.shape[-1]
        g = x @ w.T + wb + h @ r.T + rb
        i, o, f = (sigmoid(g[:, k * hidden:(k + 1) * hidden]) for k in range(3))
        c = f * c + i * np.tanh(g[:, 3 * hidden:])
        return [o * np.tanh(c), c]

    return _recurrence(X, W, R, B, [initial_h, initial_c], direction, step)
