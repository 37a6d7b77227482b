"""References for Core ATen ops (backward, creation and aten-level variants), in float64 NumPy."""

import itertools

import numpy as np

from opcoverage.catalog.references import convolution as conv_ref
from opcoverage.catalog.references import pooling as pool_ref
from opcoverage.catalog.references.convolution import ntuple
from opcoverage.catalog.references.pooling import adaptive_bins, pool_geometry


def _linear_vjp(f, shape, grad):
    """J^T grad for a map f that is linear in its argument: entry i is <f(e_i), grad>. Each column of J comes from
    the forward reference on a unit vector, so the result is exact in float64 and cheap at catalog sizes."""
    size = int(np.prod(shape))
    out = np.empty(size)
    basis = np.zeros(size)
    for i in range(size):
        basis[i] = 1.0
        out[i] = np.sum(f(basis.reshape(shape)) * grad)
        basis[i] = 0.0
    return out.reshape(shape)


# --- creation ops: the ``like`` input only carries the case's dtype


def full(like, size, fill_value):
    return np.full(tuple(size), fill_value).astype(like.dtype)


def fill(input, value):
    return np.full_like(input, value)


def scalar_tensor(like, s):
    return np.asarray(s).astype(like.dtype)


def arange(like, start, end, step=1):
    return np.arange(start, end, step).astype(like.dtype)


def empty_strided(like, size, stride):
    """The values of an uninitialized tensor are undefined; the op must still give the requested size and strides."""
    return np.asarray(list(size) + list(stride), dtype=np.int64)


def rand(like, size):
    """Every value of torch.rand lies in [0, 1)."""
    return np.ones(tuple(size), dtype=bool)


def randn(like, size):
    """Every value of torch.randn is finite, and the sample's mean and variance lie within 5 standard errors of 0
    and 1."""
    return np.ones(tuple(size), dtype=bool), np.asarray(True)


def randperm(like, n):
    """A random permutation of 0..n-1, sorted, is 0..n-1."""
    return np.arange(n).astype(like.dtype)


# --- views, copies and scatters


def alias(input):
    return np.array(input, copy=True)


def copy(input, src):
    """aten::copy (functional copy_): src broadcast to the shape of self, in the dtype of self."""
    return np.broadcast_to(src, input.shape).astype(input.dtype)


def as_strided(input, size, stride, storage_offset=0):
    flat = np.ascontiguousarray(input).ravel()[storage_offset or 0:]
    strides = tuple(s * flat.itemsize for s in stride)
    return np.lib.stride_tricks.as_strided(flat, shape=tuple(size), strides=strides).copy()


def select_scatter(input, src, dim, index):
    out = input.copy()
    out[(slice(None),) * (dim % input.ndim) + (index,)] = src
    return out


def slice_scatter(input, src, dim=0, start=None, end=None, step=1):
    out = input.copy()
    out[(slice(None),) * (dim % input.ndim) + (slice(start, end, step),)] = src
    return out


def masked_scatter(input, mask, source):
    """Positions where mask is true take consecutive elements of source, in row-major order."""
    shape = np.broadcast_shapes(input.shape, mask.shape)
    out = np.broadcast_to(input, shape).copy()
    where = np.broadcast_to(mask, shape)
    out[where] = source.ravel()[:int(where.sum())]
    return out


def index(input, *indices, start_dim=0):
    """aten::index.Tensor: advanced indexing with index tensors on consecutive dims starting at start_dim."""
    return input[(slice(None),) * start_dim + tuple(indices)]


# --- pooling, padding and resampling


def _adaptive_avg(x, nd, output_size):
    sizes = ntuple(output_size, nd)
    bins = [adaptive_bins(length, out) for length, out in zip(x.shape[-nd:], sizes)]
    out = np.empty(x.shape[:-nd] + sizes)
    lead = (slice(None),) * (x.ndim - nd)
    for position in itertools.product(*[range(s) for s in sizes]):
        box = tuple(slice(*bins[axis][i]) for axis, i in enumerate(position))
        out[lead + position] = x[lead + box].mean(axis=tuple(range(-nd, 0)))
    return out


def adaptive_avg_pool3d(input, output_size):
    return _adaptive_avg(input, 3, output_size)


def adaptive_avg_pool2d_backward(grad_output, input):
    return _linear_vjp(lambda e: _adaptive_avg(e, 2, grad_output.shape[-2:]), input.shape, grad_output)


def avg_pool2d_backward(grad_output, input, kernel_size, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True, divisor_override=None):
    def forward(e):
        return pool_ref.avg_pool2d(e, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)

    return _linear_vjp(forward, input.shape, grad_output)


def _max_pool_with_indices(x, nd, kernel_size, stride, padding, dilation, ceil_mode):
    """Max pooling and, per output, the flat index within its input plane of the first maximum in window order
    (torch's rule; padding never wins)."""
    axes = pool_geometry(x.shape, nd, kernel_size, stride, padding, dilation, ceil_mode)
    lead_shape, plane = x.shape[:-nd], x.shape[-nd:]
    out_shape = tuple(a[4] for a in axes)
    values = np.empty(lead_shape + out_shape, dtype=x.dtype)
    indices = np.empty(lead_shape + out_shape, dtype=np.int64)
    flat_x = x.reshape(-1, *plane)
    flat_values = values.reshape(-1, *out_shape)
    flat_indices = indices.reshape(-1, *out_shape)
    for position in itertools.product(*[range(s) for s in out_shape]):
        taps = []
        for (k, s, p, d, _, _), o in zip(axes, position):
            taps.append([o * s - p + t * d for t in range(k)])
        coords = [c for c in itertools.product(*taps) if all(0 <= ci < n for ci, n in zip(c, plane))]
        window = np.stack([flat_x[(slice(None),) + c] for c in coords], axis=-1)
        best = np.argmax(window, axis=-1)
        flat_values[(slice(None),) + position] = np.take_along_axis(window, best[:, None], -1)[:, 0]
        flat_indices[(slice(None),) + position] = np.ravel_multi_index(np.array(coords).T, plane)[best]
    return values, indices


def max_pool3d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    return _max_pool_with_indices(input, 3, kernel_size, stride, padding, dilation, ceil_mode)


def max_pool2d_with_indices_backward(grad_output, input, kernel_size, stride=None, padding=0, dilation=1,
                                     ceil_mode=False):
    """Each output's gradient goes to the position of its window's maximum; positions picked twice accumulate."""
    _, indices = _max_pool_with_indices(input, 2, kernel_size, stride, padding, dilation, ceil_mode)
    planes = int(np.prod(input.shape[:-2]))
    grad = np.zeros((planes, input.shape[-2] * input.shape[-1]))
    flat_indices = indices.reshape(planes, -1)
    flat_grad = grad_output.reshape(planes, -1)
    for p in range(planes):
        np.add.at(grad[p], flat_indices[p], flat_grad[p])
    return grad.reshape(input.shape)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    return pool_ref.avg_pool1d(input, kernel_size, stride, padding, ceil_mode, count_include_pad)


def adaptive_avg_pool1d(input, output_size):
    return _adaptive_avg(input, 1, output_size)


def col2im(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """F.fold: block (i, j) of every column adds into the padded image, which is then cropped."""
    kernel, dilation = ntuple(kernel_size, 2), ntuple(dilation, 2)
    padding, stride = ntuple(padding, 2), ntuple(stride, 2)
    size = ntuple(output_size, 2)
    batched = input.ndim == 3
    x = input if batched else input[None]
    blocks = [(size[a] + 2 * padding[a] - dilation[a] * (kernel[a] - 1) - 1) // stride[a] + 1 for a in range(2)]
    n, channels = x.shape[0], x.shape[1] // (kernel[0] * kernel[1])
    cols = x.reshape(n, channels, kernel[0], kernel[1], blocks[0], blocks[1])
    image = np.zeros((n, channels, size[0] + 2 * padding[0], size[1] + 2 * padding[1]))
    for i, j in itertools.product(range(kernel[0]), range(kernel[1])):
        rows = slice(i * dilation[0], i * dilation[0] + stride[0] * (blocks[0] - 1) + 1, stride[0])
        columns = slice(j * dilation[1], j * dilation[1] + stride[1] * (blocks[1] - 1) + 1, stride[1])
        image[:, :, rows, columns] += cols[:, :, i, j]
    image = image[:, :, padding[0]:padding[0] + size[0], padding[1]:padding[1] + size[1]]
    return image if batched else image[0]


def _unnormalize(coord, size, align_corners):
    if align_corners:
        return (coord + 1) / 2 * (size - 1)
    return ((coord + 1) * size - 1) / 2


def _reflect(coord, twice_low, twice_high):
    if twice_low == twice_high:
        return np.zeros_like(coord)
    low, span = twice_low / 2, (twice_high - twice_low) / 2
    coord = np.abs(coord - low)
    extra = np.fmod(coord, span)
    flips = np.floor(coord / span)
    return np.where(flips % 2 == 0, extra + low, span - extra + low)


def _pad_coordinate(coord, size, padding_mode, align_corners):
    """torch's padding of a source coordinate: clip to the border, or reflect about the edges (then clip)."""
    if padding_mode == "border":
        return np.clip(coord, 0, size - 1)
    if padding_mode == "reflection":
        if align_corners:
            coord = _reflect(coord, 0, 2 * (size - 1))
        else:
            coord = _reflect(coord, -1, 2 * size - 1)
        return np.clip(coord, 0, size - 1)
    return coord


def _cubic_coefficients(t, a=-0.75):
    def near(x):  # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x):  # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    return [far(t + 1), near(t), near(1 - t), far(2 - t)]


def grid_sampler_2d(input, grid, mode="bilinear", padding_mode="zeros", align_corners=False):
    """F.grid_sample on 4-D input: grid[..., 0] is x (width), grid[..., 1] is y (height), in [-1, 1]."""
    n, channels, height, width = input.shape
    out = np.zeros((n, channels) + grid.shape[1:3])

    def gather(b, iy, ix):
        """Values at integer coordinates, zero outside the image."""
        inside = (ix >= 0) & (ix < width) & (iy >= 0) & (iy < height)
        values = input[b][:, np.clip(iy, 0, height - 1), np.clip(ix, 0, width - 1)]
        return np.where(inside, values, 0.0)

    for b in range(n):
        gx = _unnormalize(grid[b, ..., 0], width, align_corners)
        gy = _unnormalize(grid[b, ..., 1], height, align_corners)
        if mode == "bicubic":
            # Taps are padded one by one, around the unpadded coordinate.
            x0, y0 = np.floor(gx), np.floor(gy)
            wx, wy = _cubic_coefficients(gx - x0), _cubic_coefficients(gy - y0)
            for i, j in itertools.product(range(4), range(4)):
                tx = _pad_coordinate(x0 - 1 + i, width, padding_mode, align_corners)
                ty = _pad_coordinate(y0 - 1 + j, height, padding_mode, align_corners)
                out[b] += gather(b, ty.astype(np.int64), tx.astype(np.int64)) * wx[i] * wy[j]
            continue
        gx = _pad_coordinate(gx, width, padding_mode, align_corners)
        gy = _pad_coordinate(gy, height, padding_mode, align_corners)
        if mode == "nearest":
            out[b] = gather(b, np.rint(gy).astype(np.int64), np.rint(gx).astype(np.int64))
            continue
        x0, y0 = np.floor(gx).astype(np.int64), np.floor(gy).astype(np.int64)
        fx, fy = gx - x0, gy - y0
        out[b] = (gather(b, y0, x0) * (1 - fx) * (1 - fy) + gather(b, y0, x0 + 1) * fx * (1 - fy)
                  + gather(b, y0 + 1, x0) * (1 - fx) * fy + gather(b, y0 + 1, x0 + 1) * fx * fy)
    return out


# --- convolution and embedding backward


def _conv_forward(nd, transposed, stride, padding, dilation, groups, output_padding):
    if transposed:
        forward = {1: conv_ref.conv_transpose1d, 2: conv_ref.conv_transpose2d}[nd]
        return lambda x, w: forward(x, w, None, stride, padding, output_padding, groups, dilation)
    forward = {1: conv_ref.conv1d, 2: conv_ref.conv2d, 3: conv_ref.conv3d}[nd]
    return lambda x, w: forward(x, w, None, stride, padding, dilation, groups)


def convolution_backward(grad_output, input, weight, stride=1, padding=0, dilation=1, groups=1, transposed=False,
                         output_padding=0):
    """(grad_input, grad_weight, grad_bias) of a (transposed) convolution with a bias."""
    forward = _conv_forward(input.ndim - 2, transposed, stride, padding, dilation, groups, output_padding)
    grad_input = _linear_vjp(lambda e: forward(e, weight), input.shape, grad_output)
    grad_weight = _linear_vjp(lambda e: forward(input, e), weight.shape, grad_output)
    grad_bias = grad_output.sum(axis=(0,) + tuple(range(2, grad_output.ndim)))
    return grad_input, grad_weight, grad_bias


def embedding_dense_backward(grad_output, indices, num_weights, padding_idx=-1, scale_grad_by_freq=False):
    """Row r of the weight's gradient sums grad_output over the positions whose index is r; the padding row gets
    none, and scale_grad_by_freq divides each contribution by how often its index occurs."""
    dim = grad_output.shape[-1]
    flat_indices = indices.reshape(-1)
    flat_grad = grad_output.reshape(-1, dim)
    if scale_grad_by_freq:
        counts = np.bincount(flat_indices, minlength=num_weights)
        flat_grad = flat_grad / counts[flat_indices][:, None]
    grad = np.zeros((num_weights, dim))
    np.add.at(grad, flat_indices, flat_grad)
    if padding_idx is not None and padding_idx >= 0:
        grad[padding_idx] = 0.0
    return grad


def embedding_bag(input, weight, per_sample_weights=None, *, offsets, mode="mean", include_last_offset=False,
                  padding_idx=None):
    """Bag b reduces the rows of weight picked by input[offsets[b]:offsets[b + 1]]; padding_idx entries are left
    out (also from a mean's count) and an empty bag gives zeros."""
    ends = list(offsets[1:]) + ([] if include_last_offset else [len(input)])
    starts = list(offsets[:len(ends)])
    out = np.zeros((len(starts), weight.shape[1]))
    for b, (start, end) in enumerate(zip(starts, ends)):
        picked = [i for i in range(start, end) if padding_idx is None or input[i] != padding_idx]
        if not picked:
            continue
        rows = weight[input[picked]]
        if per_sample_weights is not None:
            rows = rows * per_sample_weights[picked][:, None]
        out[b] = {"sum": rows.sum, "mean": rows.mean, "max": rows.max}[mode](axis=0)
    return out


# --- distances


def _minkowski(diff, p):
    diff = np.abs(diff)
    if p == 0:
        return np.count_nonzero(diff, axis=-1).astype(np.float64)
    if np.isinf(p):
        return diff.max(axis=-1)
    return (diff ** p).sum(axis=-1) ** (1.0 / p)


def cdist_forward(x1, x2, p=2.0):
    return _minkowski(x1[..., :, None, :] - x2[..., None, :, :], p)


def pdist_forward(input, p=2.0):
    rows, cols = np.triu_indices(input.shape[0], k=1)
    return _minkowski(input[rows] - input[cols], p)


# --- normalization forward and backward


def _per_channel(v, ndim):
    return np.reshape(v, (1, -1) + (1,) * (ndim - 2))


def native_batch_norm_legit(input, weight, bias, running_mean, running_var, momentum=0.1, eps=1e-5):
    """Training batch norm: (output, batch mean, 1/sqrt(biased batch variance + eps), updated running mean, updated
    running variance). The running variance takes the unbiased batch variance."""
    axes = (0,) + tuple(range(2, input.ndim))
    count = input.size // input.shape[1]
    mean = input.mean(axis=axes)
    var = input.var(axis=axes)
    rstd = 1.0 / np.sqrt(var + eps)
    n = input.ndim
    out = (input - _per_channel(mean, n)) * _per_channel(rstd * weight, n) + _per_channel(bias, n)
    new_mean = (1 - momentum) * running_mean + momentum * mean
    new_var = (1 - momentum) * running_var + momentum * var * count / (count - 1)
    return out, mean, rstd, new_mean, new_var


def native_batch_norm_legit_no_training(input, weight, bias, running_mean, running_var, momentum=0.1, eps=1e-5):
    n = input.ndim
    scale = _per_channel(weight, n) / np.sqrt(_per_channel(running_var, n) + eps)
    return (input - _per_channel(running_mean, n)) * scale + _per_channel(bias, n)


def _normalized_backward(grad_x_hat, x_hat, rstd, axes):
    """Gradient through x_hat = (x - mean) * rstd, mean and variance taken over ``axes``."""
    mean_g = grad_x_hat.mean(axis=axes, keepdims=True)
    mean_gx = (grad_x_hat * x_hat).mean(axis=axes, keepdims=True)
    return rstd * (grad_x_hat - mean_g - x_hat * mean_gx)


def native_layer_norm_backward(grad_out, input, weight, bias, normalized_shape, eps=1e-5):
    axes = tuple(range(input.ndim - len(normalized_shape), input.ndim))
    outer = tuple(range(input.ndim - len(normalized_shape)))
    mean = input.mean(axis=axes, keepdims=True)
    rstd = 1.0 / np.sqrt(input.var(axis=axes, keepdims=True) + eps)
    x_hat = (input - mean) * rstd
    grad_input = _normalized_backward(grad_out * weight, x_hat, rstd, axes)
    return grad_input, (grad_out * x_hat).sum(axis=outer), grad_out.sum(axis=outer)


def native_group_norm_backward(grad_out, input, weight, bias, num_groups, eps=1e-5):
    n = input.shape[0]
    grouped = input.reshape(n, num_groups, -1)
    mean = grouped.mean(axis=2, keepdims=True)
    rstd = 1.0 / np.sqrt(grouped.var(axis=2, keepdims=True) + eps)
    x_hat = ((grouped - mean) * rstd).reshape(input.shape)
    grad_x_hat = (grad_out * _per_channel(weight, input.ndim)).reshape(n, num_groups, -1)
    grad_input = _normalized_backward(grad_x_hat, x_hat.reshape(n, num_groups, -1), rstd, (2,)).reshape(input.shape)
    reduce = (0,) + tuple(range(2, input.ndim))
    return grad_input, (grad_out * x_hat).sum(axis=reduce), grad_out.sum(axis=reduce)


def native_dropout(input, p, train=True):
    """Only the deterministic cases: not training, p = 0 (identity, all kept) and p = 1 (all dropped)."""
    if not train or p == 0:
        return input.copy(), np.ones(input.shape, dtype=bool)
    if p == 1:
        return np.zeros_like(input), np.zeros(input.shape, dtype=bool)
    raise ValueError("native_dropout with 0 < p < 1 in training is random; the catalog samples p = 0, p = 1 and eval")
