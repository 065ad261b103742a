"""Whether two native arrays share memory: element by element, or "cannot tell".

shares_memory(a, b) answers True, False, or None when it cannot decide.  Two
views of one buffer that use disjoint elements (two row blocks, the even and
the odd columns) are not aliases: like NumPy's shares_memory, the question is
whether some element of a occupies a byte that some element of b occupies,
not whether their address ranges overlap.

What it can read, without importing any array library:
- the same object, or nested lists sharing a row list (the list backends);
- the __array_interface__ of NumPy, Numba and CuPy-style host arrays: data
  pointer, shape, strides and item size.  Rows (or 1-D arrays) whose elements
  are adjacent are compared as byte intervals; other layouts element by
  element up to ELEMENT_LIMIT elements; NumPy arrays go to numpy.shares_memory
  when NumPy is already imported (exact, any size).
Anything else (torch tensors, JAX arrays, device memory) gives None: the
caller reports the alias check as skipped, never as passed.
"""

ELEMENT_LIMIT = 1 << 20  # elements enumerated at most, per array


def shares_memory(a, b):
    """True, False, or None (cannot decide) for two native arrays."""
    if a is b:
        return True
    if isinstance(a, list) and isinstance(b, list):
        ids = set(id(r) for r in b if isinstance(r, list))
        ids.add(id(b))
        return any(id(r) in ids for r in a if isinstance(r, list))
    exact = _numpy_answer(a, b)
    if exact is not None:
        return exact
    ia, ib = _intervals(a), _intervals(b)
    if ia is None or ib is None:
        return None
    return _overlap(ia, ib)


def _numpy_answer(a, b):
    import sys

    np = sys.modules.get("numpy")
    if np is None:
        return None
    if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)):
        return None
    try:
        return bool(np.shares_memory(a, b, max_work=10**7))
    except Exception:  # TooHardError: fall back to intervals
        return None


def _interface(a):
    """(pointer, shape, strides, itemsize) from __array_interface__, or None."""
    try:
        ai = a.__array_interface__
    except Exception:
        return None
    if not isinstance(ai, dict) or "data" not in ai or "shape" not in ai:
        return None
    try:
        ptr = int(ai["data"][0])
        shape = tuple(int(s) for s in ai["shape"])
        typestr = str(ai.get("typestr", ""))
        itemsize = int(typestr[2:])
        strides = ai.get("strides")
        if strides is None:  # C-contiguous
            strides = []
            step = itemsize
            for s in reversed(shape):
                strides.insert(0, step)
                step *= s
        strides = tuple(int(s) for s in strides)
    except Exception:
        return None
    if len(strides) != len(shape) or itemsize <= 0:
        return None
    return ptr, shape, strides, itemsize


def _intervals(a):
    """The byte intervals [lo, hi) a's elements occupy (sorted, merged), or
    None when a has no readable layout or too many scattered elements."""
    info = _interface(a)
    if info is None:
        return None
    ptr, shape, strides, itemsize = info
    for s in shape:
        if s == 0:
            return []
    if not shape:  # a 0-d array: one element
        return [(ptr, ptr + itemsize)]
    # the innermost axis is one interval when its elements are adjacent
    inner, step = shape[-1], strides[-1]
    if inner == 1 or abs(step) == itemsize:
        lo_off = min(0, (inner - 1) * step)
        hi_off = max(0, (inner - 1) * step) + itemsize
        outer_shape, outer_strides = shape[:-1], strides[:-1]
    else:
        lo_off, hi_off = 0, itemsize
        outer_shape, outer_strides = shape, strides
    count = 1
    for s in outer_shape:
        count *= s
    if count > ELEMENT_LIMIT:
        return None
    starts = [ptr]
    for s, st in zip(outer_shape, outer_strides):
        starts = [p + k * st for p in starts for k in range(s)]
    return _merge(sorted((p + lo_off, p + hi_off) for p in starts))


def _merge(spans):
    out = []
    for lo, hi in spans:
        if out and lo <= out[-1][1]:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return out


def _overlap(xs, ys):
    """Whether two sorted, merged lists of [lo, hi) intervals intersect."""
    i = j = 0
    while i < len(xs) and j < len(ys):
        if xs[i][1] <= ys[j][0]:
            i += 1
        elif ys[j][1] <= xs[i][0]:
            j += 1
        else:
            return True
    return False
