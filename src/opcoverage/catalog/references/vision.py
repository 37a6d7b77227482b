"""References for ONNX's image and detection operators (image decoding, RoI pooling, NMS, deformable conv, unpooling)."""

import itertools
import math
import struct
import zlib

import numpy as np


def image_decoder(image, pixel_format="RGB"):
    """Decoding a losslessly encoded image (the adapter encodes the sample as PNG) gives the pixels back."""
    return image[..., ::-1].copy() if pixel_format == "BGR" else image.copy()


def encode_png(image: np.ndarray) -> np.ndarray:
    """A minimal 8-bit PNG (grey for one channel, RGB for three) of an [H, W, C] uint8 array, as uint8 bytes."""
    height, width, channels = image.shape
    color_type = {1: 0, 3: 2}[channels]
    raw = b"".join(b"\x00" + np.ascontiguousarray(image[row]).tobytes() for row in range(height))

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    stream = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    return np.frombuffer(stream, dtype=np.uint8).copy()


def _bilinear_zero(plane, y, x):
    """Bilinear samples of a 2-D plane at float coordinates, with zeros outside the plane."""
    height, width = plane.shape
    y0, x0 = np.floor(y).astype(np.int64), np.floor(x).astype(np.int64)
    out = np.zeros(np.broadcast(y, x).shape)
    for dy in (0, 1):
        for dx in (0, 1):
            yy, xx = y0 + dy, x0 + dx
            weight = (1 - np.abs(y - yy)) * (1 - np.abs(x - xx))
            inside = (yy >= 0) & (yy < height) & (xx >= 0) & (xx < width)
            out += np.where(inside, weight * plane[np.clip(yy, 0, height - 1), np.clip(xx, 0, width - 1)], 0.0)
    return out


def deform_conv2d(input, weight, offset, bias=None, mask=None, stride=1, padding=0, dilation=1):
    """Each kernel tap (i, j) of each output position reads the input bilinearly at its regular position plus
    its (dy, dx) offset, times its mask; offsets are [batch, offset_groups * kh * kw * 2, out_h, out_w]."""
    from opcoverage.catalog.references.convolution import ntuple

    (sh, sw), (ph, pw), (dh, dw) = ntuple(stride, 2), ntuple(padding, 2), ntuple(dilation, 2)
    batch, channels = input.shape[:2]
    out_channels, group_channels, kh, kw = weight.shape
    groups = channels // group_channels
    out_h, out_w = offset.shape[-2:]
    offset_groups = offset.shape[1] // (2 * kh * kw)
    off = offset.reshape(batch, offset_groups, kh, kw, 2, out_h, out_w)
    m = np.ones((batch, offset_groups, kh, kw, out_h, out_w)) if mask is None \
        else mask.reshape(batch, offset_groups, kh, kw, out_h, out_w)
    base_y = (np.arange(out_h) * sh - ph)[None, None, :, None] + (np.arange(kh) * dh)[:, None, None, None]
    base_x = (np.arange(out_w) * sw - pw)[None, None, None, :] + (np.arange(kw) * dw)[None, :, None, None]
    columns = np.zeros((batch, channels, kh, kw, out_h, out_w))
    for n in range(batch):
        for c in range(channels):
            g = c // (channels // offset_groups)
            sampled = _bilinear_zero(input[n, c], base_y + off[n, g, :, :, 0], base_x + off[n, g, :, :, 1])
            columns[n, c] = sampled * m[n, g]
    columns = columns.reshape(batch, groups, group_channels, kh, kw, out_h, out_w)
    w = weight.reshape(groups, out_channels // groups, group_channels, kh, kw)
    out = np.einsum("ngcijyx,gocij->ngoyx", columns, w).reshape(batch, out_channels, out_h, out_w)
    return out if bias is None else out + bias.reshape(1, -1, 1, 1)


def roi_boxes(low_corner, high_corner):
    """[x1, y1, x2, y2] boxes from their two corners, which samples draw from separate ranges."""
    return np.concatenate([low_corner, high_corner], axis=1)


def _roi_align_sample(plane, y, x):
    """ONNX/Caffe2 RoiAlign bilinear sampling: zero beyond one pixel outside, edge-clamped within."""
    height, width = plane.shape
    if y < -1.0 or y > height or x < -1.0 or x > width:
        return 0.0
    y, x = max(y, 0.0), max(x, 0.0)
    y_low, x_low = int(y), int(x)
    if y_low >= height - 1:
        y_low = y_high = height - 1
        y = float(y_low)
    else:
        y_high = y_low + 1
    if x_low >= width - 1:
        x_low = x_high = width - 1
        x = float(x_low)
    else:
        x_high = x_low + 1
    ly, lx = y - y_low, x - x_low
    hy, hx = 1.0 - ly, 1.0 - lx
    return (hy * hx * plane[y_low, x_low] + hy * lx * plane[y_low, x_high]
            + ly * hx * plane[y_high, x_low] + ly * lx * plane[y_high, x_high])


def roi_align(input, low_corner, high_corner, batch_indices, output_height=1, output_width=1, sampling_ratio=0,
              spatial_scale=1.0, coordinate_transformation_mode="half_pixel"):
    """Average RoiAlign: each output bin averages a grid of bilinear samples (sampling_ratio per axis, or
    ceil(roi size / bins) when 0); half_pixel shifts the box by -0.5, output_half_pixel clamps its size to >= 1."""
    boxes = roi_boxes(low_corner, high_corner)
    channels = input.shape[1]
    out = np.zeros((boxes.shape[0], channels, output_height, output_width))
    shift = 0.5 if coordinate_transformation_mode == "half_pixel" else 0.0
    for r, box in enumerate(boxes):
        x1, y1, x2, y2 = box * spatial_scale - shift
        roi_w, roi_h = x2 - x1, y2 - y1
        if coordinate_transformation_mode == "output_half_pixel":
            roi_w, roi_h = max(roi_w, 1.0), max(roi_h, 1.0)
        bin_h, bin_w = roi_h / output_height, roi_w / output_width
        grid_h = sampling_ratio if sampling_ratio > 0 else int(math.ceil(roi_h / output_height))
        grid_w = sampling_ratio if sampling_ratio > 0 else int(math.ceil(roi_w / output_width))
        count = max(grid_h * grid_w, 1)
        for c in range(channels):
            plane = input[int(batch_indices[r]), c]
            for ph, pw in itertools.product(range(output_height), range(output_width)):
                total = 0.0
                for iy, ix in itertools.product(range(grid_h), range(grid_w)):
                    y = y1 + ph * bin_h + (iy + 0.5) * bin_h / grid_h
                    x = x1 + pw * bin_w + (ix + 0.5) * bin_w / grid_w
                    total += _roi_align_sample(plane, y, x)
                out[r, c, ph, pw] = total / count
    return out


def _round_half_away(value):
    return math.floor(value + 0.5) if value >= 0 else -math.floor(-value + 0.5)


def max_roi_pool(input, low_corner, high_corner, batch_indices, pooled_shape, spatial_scale=1.0):
    """Caffe's RoIPool: box corners rounded to pixels (half away from zero), bins of (size + 1) / pooled pixels,
    each bin's maximum (0 for an empty bin)."""
    boxes = roi_boxes(low_corner, high_corner)
    height, width = input.shape[2:]
    pooled_h, pooled_w = pooled_shape
    out = np.zeros((boxes.shape[0], input.shape[1], pooled_h, pooled_w))
    for r, box in enumerate(boxes):
        x1, y1, x2, y2 = (_round_half_away(v * spatial_scale) for v in box)
        roi_h, roi_w = max(y2 - y1 + 1, 1), max(x2 - x1 + 1, 1)
        for ph, pw in itertools.product(range(pooled_h), range(pooled_w)):
            h0 = min(max(math.floor(ph * roi_h / pooled_h) + y1, 0), height)
            h1 = min(max(math.ceil((ph + 1) * roi_h / pooled_h) + y1, 0), height)
            w0 = min(max(math.floor(pw * roi_w / pooled_w) + x1, 0), width)
            w1 = min(max(math.ceil((pw + 1) * roi_w / pooled_w) + x1, 0), width)
            if h1 > h0 and w1 > w0:
                out[r, :, ph, pw] = input[int(batch_indices[r]), :, h0:h1, w0:w1].max(axis=(1, 2))
    return out


def _box_corners(box, center_point_box):
    if center_point_box:
        xc, yc, w, h = box
        return yc - h / 2, xc - w / 2, yc + h / 2, xc + w / 2
    y1, x1, y2, x2 = box
    return min(y1, y2), min(x1, x2), max(y1, y2), max(x1, x2)


def _iou(a, b):
    height = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    width = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = height * width
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def non_max_suppression(boxes, scores, max_output_boxes_per_class=0, iou_threshold=0.0, score_threshold=None,
                        center_point_box=0):
    """Per batch and class, greedily keep the best-scoring boxes (score above score_threshold) whose IoU with
    every kept box is at most iou_threshold; rows are (batch, class, box)."""
    selected = []
    for b in range(scores.shape[0]):
        corners = [_box_corners(box, center_point_box) for box in boxes[b]]
        for c in range(scores.shape[1]):
            kept = []
            for i in np.argsort(-scores[b, c], kind="stable"):
                if len(kept) >= max_output_boxes_per_class:
                    break
                if score_threshold is not None and not scores[b, c, i] > score_threshold:
                    continue
                if all(_iou(corners[i], corners[j]) <= iou_threshold for j in kept):
                    kept.append(int(i))
            selected.extend((b, c, i) for i in kept)
    return np.array(selected, dtype=np.int64).reshape(-1, 3)


def unpool_positions(offsets, kernel_size, stride, output_width):
    """Sample encoding for max unpooling: each pooled value's index is an offset inside its window (0..k*k-1);
    this turns it into the flat position in its [H_out * W_out] output plane, as max_pool2d's indices are."""
    rows = np.arange(offsets.shape[-2]).reshape(-1, 1) * stride + offsets // kernel_size
    cols = np.arange(offsets.shape[-1]).reshape(1, -1) * stride + offsets % kernel_size
    return (rows * output_width + cols).astype(np.int64)


def unpool_output_size(input_shape, kernel_size, stride, output_size=None):
    if output_size is not None:
        return tuple(output_size[-2:])
    return tuple((length - 1) * stride + kernel_size for length in input_shape[-2:])


def max_unpool(input, offsets, kernel_size, stride=None, output_size=None):
    stride = stride or kernel_size
    out_h, out_w = unpool_output_size(input.shape, kernel_size, stride, output_size)
    batch, channels = input.shape[:2]
    positions = unpool_positions(offsets, kernel_size, stride, out_w).reshape(batch, channels, -1)
    out = np.zeros((batch, channels, out_h * out_w))
    np.put_along_axis(out, positions, input.reshape(batch, channels, -1), axis=2)
    return out.reshape(batch, channels, out_h, out_w)
