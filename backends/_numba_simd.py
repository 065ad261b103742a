"""LLVM-IR building blocks of the numba GEMM (backends/_numba_kernels.py).

Numba has no vector types, so the hot loops are numba intrinsics that emit
LLVM IR with explicit <lanes x dtype> vectors: the micro-kernel (_tile) and
the packing of op(B) panels (_packer with _copy_body, or _transpose_body for
a transposed operand).  Compact IR compiles in a fraction of the time MR·NR
unrolled scalar locals took, and vectorizes by construction.

The kernels that use these are cached on disk by numba, keyed on
_numba_kernels.py only; tools/gen_numba_kernels.py therefore writes a hash
of this file into that one (and a test checks it is current), so that any
change here invalidates the cache.  Design notes: docs/design.md.
"""

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


# The micro-kernel prefetches its packed panels this many steps of k ahead
# (0: not at all): op(A)'s panel and op(B)'s.  The hardware prefetchers alone
# left the tile loop waiting on L2: 4-6% faster at 256³-512³ on one core
# (docs/performance.md).
PF_A = 16
PF_B = 8


def _tile(mr, nr, lanes):
    """The micro-kernel, a numba intrinsic with explicit <lanes x dtype> vectors:

        tile(ap, bp, kc, C, ci, cj, rows, cols, init, bias)
        C[ci + r, cj + c] = start[r, c] + Σ_{kk<kc} ap[kk, r] bp[kk, c]
        for r < rows (≤ mr), c < cols (≤ nr); start = 0 (init 0), C itself
        (init 1) or bias[cj + c] (init 2).

    ap (≥kc, mr) and bp (≥kc, nr) are packed panels, C a C-contiguous 2-D
    array, bias 1-D, all of one dtype.  The tile lives in mr·nr/lanes vector
    accumulators (allocas, which LLVM promotes to registers); each step
    broadcasts mr values of ap, loads nr/lanes vectors of bp and does
    mr·nr/lanes llvm.fmuladd (fused where the CPU has FMA, IEEE either way),
    and prefetches the panels PF_A and PF_B steps ahead.  C's tile is
    prefetched for writing before the loop, and with init 1 its old values
    are added after it (C + Σ, not Σ started from C: one more rounding order,
    within the same bound), so that C's lines arrive while the loop runs.
    A tile on C's edge masks its columns and skips its rows past `rows` (C is
    only loaded at rows below `rows`), so edges need no buffer.
    """
    nv = nr // lanes

    @intrinsic
    def tile(typingctx, ap, bp, kc, C, ci, cj, rows, cols, init, bias):
        if not (
            all(
                isinstance(a, types.Array)
                and a.ndim == 2
                and a.layout == "C"
                and a.dtype == ap.dtype
                for a in (ap, bp, C)
            )
            and isinstance(bias, types.Array)
            and bias.ndim == 1
            and bias.dtype == ap.dtype
        ):
            return None
        sig = types.void(ap, bp, kc, C, ci, cj, rows, cols, init, bias)

        def codegen(context, builder, signature, args):
            e = _Emit(context, builder, signature.args[0].dtype, lanes)
            b = builder
            a_d, b_d, c_d = [e.data(signature.args[k], args[k]) for k in (0, 1, 3)]
            c_ary = context.make_array(signature.args[3])(context, builder, args[3])
            ld = cgutils.unpack_tuple(builder, c_ary.shape, 2)[1]
            kc_, ci_, cj_, rows_, cols_, init_ = [e.index(args[k]) for k in (2, 4, 5, 6, 7, 8)]
            bias_d = e.data(signature.args[9], args[9])
            masks = [e.mask(cols_, e.const(v * lanes)) for v in range(nv)]
            last = b.sub(rows_, e.const(1))
            crow = [e.add(e.mul(e.add(ci_, e.smin(e.const(r), last)), ld), cj_) for r in range(mr)]
            # C's old values (init 1) are added after the loop, not loaded
            # before it: the tile's lines, prefetched for writing here, come
            # in from L3 or memory while the loop runs instead of stalling it
            adds = b.icmp_signed("==", init_, e.const(1))
            acc = e.tile_start(mr, b.select(adds, e.const(0), init_), c_d, crow, bias_d, cj_, masks)
            for r in range(mr):
                for c in range(0, nr, 64 // e.size):
                    e.prefetch(c_d, e.add(crow[r], e.const(c)))
            with cgutils.for_range(b, kc_) as loop:
                kk = e.index(loop.index)
                arow = e.mul(kk, e.const(mr))
                brow = e.mul(kk, e.const(nr))
                bs = [e.load(b_d, e.add(brow, e.const(v * lanes))) for v in range(nv)]
                if PF_A:
                    for c in range(0, mr, 64 // e.size):
                        e.prefetch(a_d, e.add(arow, e.const(PF_A * mr + c)), write=False)
                if PF_B:
                    for c in range(0, nr, 64 // e.size):
                        e.prefetch(b_d, e.add(brow, e.const(PF_B * nr + c)), write=False)
                e.tile_step(acc, a_d, lambda r: e.add(arow, e.const(r)), bs)
            with b.if_then(adds):
                for r in range(mr):
                    for v in range(nv):
                        old = e.load(c_d, e.add(crow[r], e.const(v * lanes)), masks[v])
                        b.store(b.fadd(old, b.load(acc[r][v])), acc[r][v])
            e.tile_store(acc, rows_, c_d, crow, masks)
            return context.get_dummy_value()

        return sig, codegen

    return tile


class _PackIR:
    """What the packing intrinsics emit with: B and bp as arrays, the scalar
    arguments (k0, kb, j0, nq) as i64, B's row length, the elements of one
    panel of bp, and vector loads and stores at element offsets."""

    def __init__(self, context, builder, signature, args, lanes):
        self.b = builder
        elt = context.get_value_type(signature.args[0].dtype)
        self.size = context.get_abi_sizeof(elt)
        self.vptr = ir.PointerType(ir.VectorType(elt, lanes))
        self.src = context.make_array(signature.args[0])(context, builder, args[0])
        self.dst = context.make_array(signature.args[5])(context, builder, args[5])
        self.k0, self.kb, self.j0, self.nq = [self.index(args[k]) for k in (1, 2, 3, 4)]
        self.ld = cgutils.unpack_tuple(builder, self.src.shape, 2)[1]
        shape = cgutils.unpack_tuple(builder, self.dst.shape, 3)
        self.panel = builder.mul(shape[1], shape[2])

    def index(self, v):
        i64 = ir.IntType(64)
        return v if v.type == i64 else self.b.sext(v, i64)

    def const(self, v):
        return ir.Constant(ir.IntType(64), v)

    def _at(self, ary, offset):
        return self.b.bitcast(self.b.gep(ary.data, [offset]), self.vptr)

    def load(self, offset):
        return self.b.load(self._at(self.src, offset), align=self.size)

    def store(self, value, offset):
        self.b.store(value, self._at(self.dst, offset), align=self.size)


def _packer(nr, lanes, body):
    """A numba intrinsic packer(B, k0, kb, j0, nq, bp) that fills the panels
    bp[q] (q < nq) of NR columns of op(B) for rows k0..k0+kb of op(B) with
    explicit vectors; body(e, nr, lanes) emits the loops (_copy_body: op(B)
    is B, _transpose_body: op(B) is Bᵀ).  B and bp (≥nq, ≥kb, nr)
    C-contiguous, of one dtype; numba's element loops ran 2.5x slower."""

    @intrinsic
    def packer(typingctx, B, k0, kb, j0, nq, bp):
        if not (
            isinstance(B, types.Array)
            and B.ndim == 2
            and B.layout == "C"
            and isinstance(bp, types.Array)
            and bp.ndim == 3
            and bp.layout == "C"
            and B.dtype == bp.dtype
        ):
            return None

        def codegen(context, builder, signature, args):
            body(_PackIR(context, builder, signature, args, lanes), nr, lanes)
            return context.get_dummy_value()

        return types.void(B, k0, kb, j0, nq, bp), codegen

    return packer


COPY_ROWS = 16


def _copy_body(e, nr, lanes):
    """bp[q, kk, :] = B[k0 + kk, j0 + q*nr : j0 + (q+1)*nr]: each row segment
    moved as nr/lanes vector loads and stores, COPY_ROWS rows of B at a time
    panel by panel (so each panel is written COPY_ROWS·nr elements in a row,
    while COPY_ROWS rows of B are read along in step)."""
    b = e.b
    step = e.const(COPY_ROWS)
    blocks = b.udiv(b.add(e.kb, e.const(COPY_ROWS - 1)), step)
    with cgutils.for_range(b, blocks) as block:
        first = b.mul(e.index(block.index), step)
        count = b.sub(e.kb, first)
        count = b.select(b.icmp_signed("<", count, step), count, step)
        with cgutils.for_range(b, e.nq) as panels:
            q = e.index(panels.index)
            with cgutils.for_range(b, count) as rows:
                kk = b.add(first, e.index(rows.index))
                s0 = b.add(b.add(b.mul(b.add(e.k0, kk), e.ld), e.j0), b.mul(q, e.const(nr)))
                d0 = b.add(b.mul(kk, e.const(nr)), b.mul(q, e.panel))
                for v in range(nr // lanes):
                    off = e.const(v * lanes)
                    e.store(e.load(b.add(s0, off)), b.add(d0, off))


def _transpose_vectors(builder, vecs):
    """The lanes×lanes block held in `vecs` (row i in vecs[i]), transposed with
    log2(lanes) rounds of two-input shuffles: each round swaps the off-diagonal
    h×h sub-blocks of every 2h×2h block (h = lanes/2, ..., 1)."""
    n = len(vecs)
    h = n // 2
    while h >= 1:
        low, high = [], []
        for b in range(0, n, 2 * h):
            low += list(range(b, b + h)) + list(range(n + b, n + b + h))
            high += list(range(b + h, b + 2 * h)) + list(range(n + b + h, n + b + 2 * h))
        masks = [ir.Constant(ir.VectorType(ir.IntType(32), n), m) for m in (low, high)]
        out = list(vecs)
        for i in range(n):
            if (i // h) % 2 == 0:
                j = i + h
                out[i] = builder.shuffle_vector(vecs[i], vecs[j], masks[0])
                out[j] = builder.shuffle_vector(vecs[i], vecs[j], masks[1])
        vecs = out
        h //= 2
    return vecs


def _transpose_body(e, nr, lanes):
    """bp[q, kk, c] = B[j0 + q*nr + c, k0 + kk], kb a multiple of lanes: each
    lanes×lanes block is read as lanes vector loads along B's rows,
    transposed in registers (_transpose_vectors) and stored as lanes vectors."""
    b, const = e.b, e.const
    with cgutils.for_range(b, e.nq) as panels:
        q = e.index(panels.index)
        with cgutils.for_range(b, b.udiv(e.kb, const(lanes))) as steps:
            kk = b.mul(e.index(steps.index), const(lanes))
            col = b.add(e.k0, kk)
            for half in range(nr // lanes):
                first = b.add(e.j0, b.add(b.mul(q, const(nr)), const(half * lanes)))
                rows = [
                    e.load(b.add(b.mul(b.add(first, const(i)), e.ld), col)) for i in range(lanes)
                ]
                for t, v in enumerate(_transpose_vectors(b, rows)):
                    e.store(
                        v,
                        b.add(
                            b.add(b.mul(q, e.panel), b.mul(b.add(kk, const(t)), const(nr))),
                            const(half * lanes),
                        ),
                    )


# -- kernels on unpacked operands (small N, small work) ------------------------


class _Emit:
    """IR helpers of the unpacked kernels: i64 indices, element pointers into
    an array's data, <lanes x dtype> loads and stores (masked where a tile
    has fewer than its width of columns), broadcasts and fused multiply-adds;
    and what every tile does with its accumulators (zeros, tile_start,
    tile_step, tile_store)."""

    def __init__(self, context, builder, elt_type, lanes):
        self.b = builder
        self.context = context
        self.elt = context.get_value_type(elt_type)
        self.size = context.get_abi_sizeof(self.elt)
        self.lanes = lanes
        self.vec = ir.VectorType(self.elt, lanes)
        self.i64 = ir.IntType(64)
        self.mask_type = ir.VectorType(ir.IntType(1), lanes)
        suffix = "v%d%s" % (lanes, "f32" if self.size == 4 else "f64")
        module = builder.module
        self.fmuladd_fn = cgutils.get_or_insert_function(
            module, ir.FunctionType(self.vec, [self.vec] * 3), "llvm.fmuladd." + suffix
        )
        vptr = ir.PointerType(self.vec)
        self.mload_fn = cgutils.get_or_insert_function(
            module,
            ir.FunctionType(self.vec, [vptr, ir.IntType(32), self.mask_type, self.vec]),
            "llvm.masked.load.%s.p0" % suffix,
        )
        self.mstore_fn = cgutils.get_or_insert_function(
            module,
            ir.FunctionType(ir.VoidType(), [self.vec, vptr, ir.IntType(32), self.mask_type]),
            "llvm.masked.store.%s.p0" % suffix,
        )

    def prefetch(self, data, offset, write=True):
        """Prefetch the cache line of element `offset` into L1, for writing or
        reading (a hint: never faults, also past an array's end)."""
        i8p = ir.PointerType(ir.IntType(8))
        fn = cgutils.get_or_insert_function(
            self.b.module,
            ir.FunctionType(ir.VoidType(), [i8p] + [ir.IntType(32)] * 3),
            "llvm.prefetch.p0",
        )
        i32 = ir.IntType(32)
        ptr = self.b.bitcast(self.b.gep(data, [offset]), i8p)
        self.b.call(
            fn, [ptr, ir.Constant(i32, int(write)), ir.Constant(i32, 3), ir.Constant(i32, 1)]
        )

    def data(self, ty, value):
        return self.context.make_array(ty)(self.context, self.b, value).data

    def index(self, v):
        return v if v.type == self.i64 else self.b.sext(v, self.i64)

    def const(self, v):
        return ir.Constant(self.i64, v)

    def add(self, *terms):
        out = terms[0]
        for t in terms[1:]:
            out = self.b.add(out, t)
        return out

    def mul(self, a, b):
        return self.b.mul(a, b)

    def vptr(self, data, offset):
        return self.b.bitcast(self.b.gep(data, [offset]), ir.PointerType(self.vec))

    def scalar(self, data, offset):
        return self.b.load(self.b.gep(data, [offset]), align=self.size)

    def load(self, data, offset, mask=None):
        if mask is None:
            return self.b.load(self.vptr(data, offset), align=self.size)
        return self.b.call(
            self.mload_fn,
            [
                self.vptr(data, offset),
                ir.Constant(ir.IntType(32), self.size),
                mask,
                ir.Constant(self.vec, None),
            ],
        )

    def store(self, value, data, offset, mask=None):
        if mask is None:
            self.b.store(value, self.vptr(data, offset), align=self.size)
        else:
            self.b.call(
                self.mstore_fn,
                [value, self.vptr(data, offset), ir.Constant(ir.IntType(32), self.size), mask],
            )

    def mask(self, count, first):
        """Lanes first .. first+lanes-1 that are below count (i64 values)."""
        ivec = ir.VectorType(self.i64, self.lanes)
        lanes = ir.Constant(ivec, list(range(self.lanes)))
        base = self.splat_int(self.b.sub(count, first))
        return self.b.icmp_signed("<", lanes, base)

    def splat_int(self, v):
        ivec = ir.VectorType(self.i64, self.lanes)
        one = self.b.insert_element(
            ir.Constant(ivec, ir.Undefined), v, ir.Constant(ir.IntType(32), 0)
        )
        return self.b.shuffle_vector(
            one,
            ir.Constant(ivec, ir.Undefined),
            ir.Constant(ir.VectorType(ir.IntType(32), self.lanes), None),
        )

    def splat(self, v):
        one = self.b.insert_element(
            ir.Constant(self.vec, ir.Undefined), v, ir.Constant(ir.IntType(32), 0)
        )
        return self.b.shuffle_vector(
            one,
            ir.Constant(self.vec, ir.Undefined),
            ir.Constant(ir.VectorType(ir.IntType(32), self.lanes), None),
        )

    def fma(self, a, b, c):
        return self.b.call(self.fmuladd_fn, [a, b, c])

    def reduce(self, v):
        """Σ of the lanes of v, pairwise (any order is within the bound)."""
        n = self.lanes
        while n > 1:
            h = n // 2
            idx = ir.VectorType(ir.IntType(32), self.lanes)
            hi = ir.Constant(idx, [h + i if i < h else i for i in range(self.lanes)])
            v = self.b.fadd(v, self.b.shuffle_vector(v, ir.Constant(self.vec, ir.Undefined), hi))
            n = h
        return self.b.extract_element(v, ir.Constant(ir.IntType(32), 0))

    def smin(self, a, b):
        return self.b.select(self.b.icmp_signed("<", a, b), a, b)

    def zeros(self, rows, cols):
        """rows × cols vector accumulators (allocas, which LLVM promotes to
        registers), set to 0: acc[r][v]."""
        acc = [[cgutils.alloca_once(self.b, self.vec) for v in range(cols)] for r in range(rows)]
        zero = ir.Constant(self.vec, None)
        for r in range(rows):
            for v in range(cols):
                self.b.store(zero, acc[r][v])
        return acc

    def tile_start(self, rows, init, c_d, crow, bias_d, bias_at, masks):
        """A tile's accumulators (rows × len(masks) vectors) holding its start:
        0 (init 0), C's rows at offsets crow (init 1), or the bias row at
        offset bias_at (None: 0) in every row (init 2)."""
        b, lanes = self.b, self.lanes
        nv = len(masks)
        acc = self.zeros(rows, nv)
        with b.if_then(b.icmp_signed("==", init, self.const(1))):
            for r in range(rows):
                for v in range(nv):
                    at = self.add(crow[r], self.const(v * lanes))
                    b.store(self.load(c_d, at, masks[v]), acc[r][v])
        with b.if_then(b.icmp_signed("==", init, self.const(2))):
            for v in range(nv):
                at = self.const(v * lanes)
                if bias_at is not None:
                    at = self.add(bias_at, at)
                row = self.load(bias_d, at, masks[v])
                for r in range(rows):
                    b.store(row, acc[r][v])
        return acc

    def tile_step(self, acc, a_d, a_at, bs):
        """One step along k: acc[r][v] += a_r·bs[v] (llvm.fmuladd), a_r the
        element of A at offset a_at(r), broadcast to a vector."""
        b = self.b
        for r in range(len(acc)):
            a = self.splat(self.scalar(a_d, a_at(r)))
            for v in range(len(bs)):
                b.store(self.fma(a, bs[v], b.load(acc[r][v])), acc[r][v])

    def tile_store(self, acc, rows, c_d, crow, masks):
        """Store a tile's accumulators into C at offsets crow, the rows below
        `rows` only, each row's vectors under masks."""
        b, lanes = self.b, self.lanes
        for r in range(len(acc)):
            with b.if_then(b.icmp_signed("<", self.const(r), rows)):
                for v in range(len(masks)):
                    value = b.load(acc[r][v])
                    self.store(value, c_d, self.add(crow[r], self.const(v * lanes)), masks[v])


def _direct_tile(mr, nr, lanes):
    """A tile on operands used where they lie (no packing), a numba intrinsic:

        tile(A, ao, ars, aks, B, bo, bks, kc, C, co, crs, rows, cols, init, bias)
        C[co + r*crs + c] = start[r, c] + Σ_{kk<kc} A[ao + r*ars + kk*aks] * B[bo + kk*bks + c]
        for r < rows (≤ mr), c < cols (≤ nr); start = 0 (init 0), C itself
        (init 1) or bias[c] (init 2).

    Offsets and strides are in elements of the flattened C-contiguous arrays,
    so A may be read along rows (X in forward, aks = 1) or down columns (Xᵀ
    in dW, ars = 1); B is read along its rows (W or dY).  Rows past `rows`
    repeat the last row's loads and are not stored; columns past `cols` are
    masked off, so no load or store leaves the operands.
    """
    nv = nr // lanes

    @intrinsic
    def tile(typingctx, A, ao, ars, aks, B, bo, bks, kc, C, co, crs, rows, cols, init, bias):
        arrays = (A, B, C, bias)
        if not all(
            isinstance(a, types.Array) and a.layout == "C" and a.dtype == A.dtype for a in arrays
        ):
            return None
        sig = types.void(A, ao, ars, aks, B, bo, bks, kc, C, co, crs, rows, cols, init, bias)

        def codegen(context, builder, signature, args):
            e = _Emit(context, builder, signature.args[0].dtype, lanes)
            b = builder
            a_d, b_d, c_d, bias_d = [e.data(signature.args[k], args[k]) for k in (0, 4, 8, 14)]
            ao_, ars_, aks_, bo_, bks_, kc_, co_, crs_, rows_, cols_, init_ = [
                e.index(args[k]) for k in (1, 2, 3, 5, 6, 7, 9, 10, 11, 12, 13)
            ]
            masks = [e.mask(cols_, e.const(v * lanes)) for v in range(nv)]
            last = b.sub(rows_, e.const(1))
            arow = [e.add(ao_, e.mul(e.smin(e.const(r), last), ars_)) for r in range(mr)]
            crow = [e.add(co_, e.mul(e.const(r), crs_)) for r in range(mr)]
            acc = e.tile_start(mr, init_, c_d, crow, bias_d, None, masks)
            with cgutils.for_range(b, kc_) as loop:
                kk = e.index(loop.index)
                brow = e.add(bo_, e.mul(kk, bks_))
                bs = [e.load(b_d, e.add(brow, e.const(v * lanes)), masks[v]) for v in range(nv)]
                ak = e.mul(kk, aks_)
                e.tile_step(acc, a_d, lambda r: e.add(arow[r], ak), bs)
            e.tile_store(acc, rows_, c_d, crow, masks)
            return context.get_dummy_value()

        return sig, codegen

    return tile


def _dot_tile(mr, jr, lanes):
    """Dot products of rows, a numba intrinsic, for C = A Bᵀ with both operands
    read along their rows (dX = dY Wᵀ at small N):

        dots(A, ao, ars, B, bo, brs, k, C, co, crs, rows, jrows)
        C[co + r*crs + j] = Σ_{kk<k} A[ao + r*ars + kk] * B[bo + j*brs + kk]
        for r < rows (≤ mr), j < jrows (≤ jr).

    mr·jr vector accumulators run along k (the last, partial vector masked),
    then each is summed across its lanes.  Rows past rows or jrows repeat the
    last row's loads and are not stored.
    """

    @intrinsic
    def dots(typingctx, A, ao, ars, B, bo, brs, k, C, co, crs, rows, jrows):
        arrays = (A, B, C)
        if not all(
            isinstance(a, types.Array) and a.layout == "C" and a.dtype == A.dtype for a in arrays
        ):
            return None
        sig = types.void(A, ao, ars, B, bo, brs, k, C, co, crs, rows, jrows)

        def codegen(context, builder, signature, args):
            e = _Emit(context, builder, signature.args[0].dtype, lanes)
            b = builder
            a_d, b_d, c_d = [e.data(signature.args[i], args[i]) for i in (0, 3, 7)]
            ao_, ars_, bo_, brs_, k_, co_, crs_, rows_, jrows_ = [
                e.index(args[i]) for i in (1, 2, 4, 5, 6, 8, 9, 10, 11)
            ]
            alast = b.sub(rows_, e.const(1))
            blast = b.sub(jrows_, e.const(1))
            arow = [e.add(ao_, e.mul(e.smin(e.const(r), alast), ars_)) for r in range(mr)]
            brow = [e.add(bo_, e.mul(e.smin(e.const(j), blast), brs_)) for j in range(jr)]
            acc = e.zeros(mr, jr)
            steps = b.sdiv(k_, e.const(lanes))

            def step(kk, mask):
                bs = [e.load(b_d, e.add(brow[j], kk), mask) for j in range(jr)]
                for r in range(mr):
                    a = e.load(a_d, e.add(arow[r], kk), mask)
                    for j in range(jr):
                        b.store(e.fma(a, bs[j], b.load(acc[r][j])), acc[r][j])

            with cgutils.for_range(b, steps) as loop:
                step(e.mul(e.index(loop.index), e.const(lanes)), None)
            tail = e.mul(steps, e.const(lanes))
            with b.if_then(b.icmp_signed("<", tail, k_)):
                step(tail, e.mask(k_, tail))
            for r in range(mr):
                for j in range(jr):
                    ok = b.and_(
                        b.icmp_signed("<", e.const(r), rows_),
                        b.icmp_signed("<", e.const(j), jrows_),
                    )
                    with b.if_then(ok):
                        total = e.reduce(b.load(acc[r][j]))
                        b.store(
                            total,
                            b.gep(c_d, [e.add(co_, e.mul(e.const(r), crs_), e.const(j))]),
                            align=e.size,
                        )
            return context.get_dummy_value()

        return sig, codegen

    return dots


@intrinsic
def fetch_add(typingctx, counter, value):
    """counter[0] before adding value to it, atomically (an LLVM atomicrmw,
    sequentially consistent): workers on several threads take turns from one
    int64 counter without a lock.  counter is a 1-D int64 array."""
    if not (
        isinstance(counter, types.Array)
        and counter.dtype == types.int64
        and counter.ndim == 1
        and isinstance(value, types.Integer)
    ):
        return None

    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        v = args[1]
        if v.type != ir.IntType(64):
            v = builder.sext(v, ir.IntType(64))
        return builder.atomic_rmw("add", data, v, "seq_cst")

    return types.int64(counter, value), codegen


@intrinsic
def aligned_panels(typingctx, flat, shape):
    """A C-contiguous 3-D array of `shape` (a tuple of three ints) on flat's
    memory (a 1-D array of at least shape's size plus 64 bytes), starting at
    its first element on a 64-byte boundary: a cache line, one 512-bit
    vector (numba's np.empty aligns to 32, so every second buffer had each
    vector load of a panel straddle two lines).  Built here rather than as
    flat[skip:].reshape(shape), whose lowering cost 0.3 s of compile time."""
    if not (
        isinstance(flat, types.Array)
        and flat.ndim == 1
        and flat.layout == "C"
        and isinstance(shape, types.UniTuple)
        and shape.count == 3
        and isinstance(shape.dtype, types.Integer)
    ):
        return None
    out_type = types.Array(flat.dtype, 3, "C")

    def codegen(context, builder, signature, args):
        from numba.core.imputils import impl_ret_borrowed
        from numba.np.arrayobj import populate_array

        src = context.make_array(signature.args[0])(context, builder, args[0])
        out = context.make_array(out_type)(context, builder)
        intp = context.get_value_type(types.intp)
        dims = [
            builder.sext(v, intp) if v.type.width < intp.width else v
            for v in cgutils.unpack_tuple(builder, args[1], 3)
        ]
        size = context.get_abi_sizeof(context.get_data_type(flat.dtype))
        item = ir.Constant(intp, size)
        address = builder.ptrtoint(src.data, intp)
        skip = builder.udiv(
            builder.urem(
                builder.sub(ir.Constant(intp, 64), builder.urem(address, ir.Constant(intp, 64))),
                ir.Constant(intp, 64),
            ),
            item,
        )
        strides = [
            builder.mul(item, builder.mul(dims[1], dims[2])),
            builder.mul(item, dims[2]),
            item,
        ]
        populate_array(
            out,
            data=builder.gep(src.data, [skip]),
            shape=cgutils.pack_array(builder, dims),
            strides=cgutils.pack_array(builder, strides),
            itemsize=item,
            meminfo=src.meminfo,
        )
        return impl_ret_borrowed(context, builder, out_type, out._getvalue())

    return out_type(flat, shape), codegen
