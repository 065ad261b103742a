"""Memory layouts that kernels get wrong, as catalogue variants.

The catalogue's inputs are plain row-major arrays.  A backend that declares
`layouts` (a tuple of the names below) and `view(native, layout)` can also be
checked on the same logical values held in another memory layout:

    transposed   a 2-D array stored column-major: the transpose of a
                 row-major array (torch's weight.t(), NumPy's order='F')
    strided      every other element of a buffer along the last axis
                 (x[:, ::2]); the skipped elements are NaN, so a kernel that
                 reads them gives NaN where a number is expected
    offset       the data starts one element into its buffer, whose first
                 element is NaN: a start that is not 16-byte aligned, and a
                 kernel that ignores the offset reads the NaN
    batched      leading batch dimensions: an (N, C) array viewed as
                 (B, T, C) with N = B·T (batch_split(N))

view(native, layout) returns an array with the same logical values (tolist()
gives the same lists, to the bit) in that layout, copying when it must.
Which inputs a variant changes is fixed here (APPLIES_TO): transposed needs a
matrix (x, w, dy); batched splits the rows of x and dy (N, the rows they share)
and leaves w and b alone.  A backend's tolist() returns the logical matrix
whatever the layout: leading batch dimensions flattened into N.
"""

LAYOUTS = ("transposed", "strided", "offset", "batched")

APPLIES_TO = {
    "transposed": ("x", "w", "dy"),
    "strided": ("x", "w", "b", "dy"),
    "offset": ("x", "w", "b", "dy"),
    "batched": ("x", "dy"),
}


def batch_split(n):
    """(B, T) with B·T = N for the batched layout: B the smallest divisor of N
    with 1 < B < N, so both are above 1 whenever N is composite (N = 6 gives
    (2, 3), 65 gives (5, 13)); (1, N) for N prime, 0 or 1."""
    p = 2
    while p * p <= n:
        if n % p == 0:
            return p, n // p
        p += 1
    return 1, n


def supported(backend):
    """The layouts a backend declares (an empty tuple when it declares none)."""
    declared = getattr(backend, "layouts", None)
    if declared is None or not hasattr(backend, "view"):
        return ()
    return tuple(name for name in LAYOUTS if name in tuple(declared))


def native_input(backend, name, values, shape, dtype, layout=None):
    """backend.array(values, shape, dtype), then view() in the layout when
    the layout applies to this input (name is 'x', 'w', 'b' or 'dy')."""
    if layout is not None and layout not in APPLIES_TO:
        raise ValueError("layout must be one of %s, not %r" % (", ".join(LAYOUTS), layout))
    native = backend.array(values, shape, dtype)
    if layout is None or name not in APPLIES_TO[layout]:
        return native
    if layout not in supported(backend):
        raise ValueError("backend %r does not declare the %r layout (it declares: %s)"
                         % (getattr(backend, "name", "?"), layout,
                            ", ".join(supported(backend)) or "none"))
    return backend.view(native, layout)
