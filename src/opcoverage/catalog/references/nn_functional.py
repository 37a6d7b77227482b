"""References for torch.nn.functional losses, distances, attention and patch ops, in float64 NumPy/SciPy."""

import numpy as np
import scipy.special


def _reduce(loss, reduction):
    if reduction == "mean":
        return np.mean(loss)
    if reduction == "sum":
        return np.sum(loss)
    return loss


# ---------------------------------------------------------------- distances


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    # torch divides by the product of the norms, each clamped below at eps.
    dot = np.sum(x1 * x2, axis=dim)
    n1 = np.maximum(np.linalg.norm(x1, axis=dim), eps)
    n2 = np.maximum(np.linalg.norm(x2, axis=dim), eps)
    return dot / (n1 * n2)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    # eps is added to the difference (not the norm), as torch documents.
    return np.linalg.norm(x1 - x2 + eps, ord=p, axis=-1, keepdims=keepdim)


# ---------------------------------------------------------------- regression losses


def l1_loss(input, target, reduction="mean"):
    return _reduce(np.abs(input - target), reduction)


def mse_loss(input, target, reduction="mean"):
    return _reduce((input - target) ** 2, reduction)


def smooth_l1_loss(input, target, reduction="mean", beta=1.0):
    d = np.abs(input - target)
    return _reduce(np.where(d < beta, 0.5 * d ** 2 / beta, d - 0.5 * beta), reduction)


def huber_loss(input, target, reduction="mean", delta=1.0):
    d = np.abs(input - target)
    return _reduce(np.where(d < delta, 0.5 * d ** 2, delta * (d - 0.5 * delta)), reduction)


def poisson_nll_loss(input, target, log_input=True, full=False, eps=1e-8, reduction="mean"):
    loss = np.exp(input) - target * input if log_input else input - target * np.log(input + eps)
    if full:
        # Stirling's term, added only where target > 1.
        stirling = target * np.log(np.where(target > 1, target, 1.0)) - target + 0.5 * np.log(2 * np.pi * target)
        loss = loss + np.where(target > 1, stirling, 0.0)
    return _reduce(loss, reduction)


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):
    var = np.maximum(var, eps)
    loss = 0.5 * (np.log(var) + (input - target) ** 2 / var)
    if full:
        loss = loss + 0.5 * np.log(2 * np.pi)
    return _reduce(loss, reduction)


# ---------------------------------------------------------------- classification losses


def _log_softmax(x, axis=1):
    return x - scipy.special.logsumexp(x, axis=axis, keepdims=True)


def nll_loss(input, target, ignore_index=-100, reduction="mean"):
    """input: log-probabilities [N, C, ...]; target: class indices [N, ...]; ignored targets add nothing."""
    valid = target != ignore_index
    safe = np.where(valid, target, 0)
    picked = np.take_along_axis(input, safe[:, None], axis=1)[:, 0]
    loss = np.where(valid, -picked, 0.0)
    if reduction == "mean":
        return np.sum(loss) / np.sum(valid)
    return _reduce(loss, reduction)


def cross_entropy(input, target, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """Class-index targets; label smoothing mixes in the mean of -log p over every class."""
    logp = _log_softmax(input, axis=1)
    nll = nll_loss(logp, target, ignore_index, reduction)
    if not label_smoothing:
        return nll
    valid = target != ignore_index
    smooth = np.where(valid, -np.sum(logp, axis=1), 0.0)
    if reduction == "mean":
        smooth = np.sum(smooth) / np.sum(valid)
    else:
        smooth = _reduce(smooth, reduction)
    classes = input.shape[1]
    return (1 - label_smoothing) * nll + label_smoothing / classes * smooth


def cross_entropy_probs(input, target, reduction="mean", label_smoothing=0.0):
    """Class-probability targets [N, C, ...]; the mean reduction divides by N * (spatial size)."""
    classes = input.shape[1]
    target = target * (1 - label_smoothing) + label_smoothing / classes
    loss = -np.sum(target * _log_softmax(input, axis=1), axis=1)
    return _reduce(loss, reduction)


def binary_cross_entropy(input, target, reduction="mean"):
    # torch clamps each log at -100 so that p = 0 or 1 stays finite.
    loss = -(target * np.maximum(np.log(input), -100) + (1 - target) * np.maximum(np.log1p(-input), -100))
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(input, target, pos_weight=None, reduction="mean"):
    log_sig = -np.logaddexp(0, -input)
    log_one_minus = -np.logaddexp(0, input)
    weight = 1.0 if pos_weight is None else pos_weight
    loss = -(weight * target * log_sig + (1 - target) * log_one_minus)
    return _reduce(loss, reduction)


def kl_div(input, target, reduction="mean", log_target=False):
    """input: log-probabilities; pointwise target * (log target - input), 0 where target == 0."""
    if log_target:
        loss = np.exp(target) * (target - input)
    else:
        loss = scipy.special.xlogy(target, target) - target * input
    if reduction == "batchmean":
        return np.sum(loss) / input.shape[0]
    return _reduce(loss, reduction)


def soft_margin_loss(input, target, reduction="mean"):
    return _reduce(np.logaddexp(0, -target * input), reduction)


def margin_ranking_loss(input1, input2, target, margin=0.0, reduction="mean"):
    return _reduce(np.maximum(0, -target * (input1 - input2) + margin), reduction)


def hinge_embedding_loss(input, target, margin=1.0, reduction="mean"):
    return _reduce(np.where(target == 1, input, np.maximum(0, margin - input)), reduction)


def cosine_embedding_loss(input1, input2, target, margin=0.0, reduction="mean"):
    # torch adds eps = 1e-12 to each squared norm; negligible for these samples' norms.
    cos = np.sum(input1 * input2, axis=-1) / np.sqrt(
        (np.sum(input1 ** 2, axis=-1) + 1e-12) * (np.sum(input2 ** 2, axis=-1) + 1e-12))
    return _reduce(np.where(target == 1, 1 - cos, np.maximum(0, cos - margin)), reduction)


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2.0, eps=1e-6, swap=False, reduction="mean"):
    d_pos = pairwise_distance(anchor, positive, p, eps)
    d_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_neg = np.minimum(d_neg, pairwise_distance(positive, negative, p, eps))
    return _reduce(np.maximum(d_pos - d_neg + margin, 0), reduction)


def multi_margin_loss(input, target, p=1, margin=1.0, reduction="mean"):
    """sum over classes i != y of max(0, margin - x[y] + x[i])^p, divided by the class count."""
    classes = input.shape[1]
    picked = np.take_along_axis(input, target[:, None], axis=1)
    terms = np.maximum(0, margin - picked + input) ** p
    terms[np.arange(input.shape[0]), target] = 0
    return _reduce(np.sum(terms, axis=1) / classes, reduction)


def multilabel_soft_margin_loss(input, target, reduction="mean"):
    log_sig = -np.logaddexp(0, -input)
    log_one_minus = -np.logaddexp(0, input)
    loss = -np.mean(target * log_sig + (1 - target) * log_one_minus, axis=-1)
    return _reduce(loss, reduction)


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction="mean"):
    """Connectionist temporal classification loss by the forward algorithm in log space.

    log_probs [T, N, C] are used as given (torch does not normalize them); targets [N, S] padded.
    The mean reduction divides each loss by its target length, then averages over the batch."""
    losses = []
    for n in range(log_probs.shape[1]):
        label = [int(c) for c in targets[n, :target_lengths[n]]]
        extended = [blank]
        for c in label:
            extended += [c, blank]
        steps = input_lengths[n]
        alpha = np.full(len(extended), -np.inf)
        alpha[0] = log_probs[0, n, blank]
        if len(extended) > 1:
            alpha[1] = log_probs[0, n, extended[1]]
        for t in range(1, steps):
            previous = alpha.copy()
            for s in range(len(extended)):
                paths = [previous[s]]
                if s >= 1:
                    paths.append(previous[s - 1])
                if s >= 2 and extended[s] != blank and extended[s] != extended[s - 2]:
                    paths.append(previous[s - 2])
                alpha[s] = scipy.special.logsumexp(paths) + log_probs[t, n, extended[s]]
        tail = alpha[-2:] if len(extended) > 1 else alpha[-1:]
        losses.append(-scipy.special.logsumexp(tail))
    losses = np.array(losses)
    if reduction == "mean":
        return np.mean(losses / np.maximum(np.asarray(target_lengths, np.float64), 1))
    return _reduce(losses, reduction)


# ---------------------------------------------------------------- layers and patches


def glu(x, dim=-1):
    a, b = np.split(x, 2, axis=dim)
    return a * scipy.special.expit(b)


def softmin(x, dim):
    return scipy.special.softmax(-x, axis=dim)


def rrelu_eval(x, lower=0.125, upper=1.0 / 3.0):
    # In evaluation mode the random slope is replaced by its mean.
    return np.where(x >= 0, x, x * (lower + upper) / 2)


def bilinear(x1, x2, weight, bias=None):
    out = np.einsum("ni,oij,nj->no", x1, weight, x2)
    return out if bias is None else out + bias


def channel_shuffle(x, groups):
    n, c = x.shape[:2]
    return x.reshape(n, groups, c // groups, *x.shape[2:]).swapaxes(1, 2).reshape(x.shape)


def scaled_dot_product_attention(query, key, value, attn_mask=None, is_causal=False, scale=None):
    """softmax(q k^T * scale + mask) v over [..., L, E] queries and [..., S, E] keys; a causal mask keeps j <= i."""
    scale = 1.0 / np.sqrt(query.shape[-1]) if scale is None else scale
    scores = query @ np.swapaxes(key, -1, -2) * scale
    if is_causal:
        length, source = scores.shape[-2:]
        scores = np.where(np.tril(np.ones((length, source), dtype=bool)), scores, -np.inf)
    if attn_mask is not None:
        scores = scores + attn_mask
    return scipy.special.softmax(scores, axis=-1) @ value


def affine_grid(theta, size, align_corners=False):
    """Sampling grid [N, H, W, 2] of normalized (x, y) coordinates: theta applied to the base grid."""
    n, _, height, width = size

    def base(count):
        if align_corners:
            return np.linspace(-1.0, 1.0, count) if count > 1 else np.zeros(1)
        return (2.0 * np.arange(count) + 1.0) / count - 1.0

    ys, xs = np.meshgrid(base(height), base(width), indexing="ij")
    points = np.stack([xs, ys, np.ones_like(xs)], axis=-1)  # [H, W, 3]
    return np.einsum("hwk,njk->nhwj", points, theta)


def unfold(x, kernel_size, dilation=1, padding=0, stride=1):
    """im2col: [N, C * kh * kw, L] with the block entries ordered (channel, kernel row, kernel column)."""
    def pair(v):
        return tuple(v) if isinstance(v, (list, tuple)) else (v, v)

    (kh, kw), (dh, dw), (ph, pw), (sh, sw) = pair(kernel_size), pair(dilation), pair(padding), pair(stride)
    n, c, h, w = x.shape
    padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    out_h = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    out_w = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    columns = np.empty((n, c, kh, kw, out_h, out_w), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            columns[:, :, i, j] = padded[:, :, i * dh:i * dh + sh * out_h:sh, j * dw:j * dw + sw * out_w:sw]
    return columns.reshape(n, c * kh * kw, out_h * out_w)
