"""Run one catalogue case with its inputs in a memory layout: what the engine
will do for the layout variants (refbackprop.cases.LAYOUTS), written out here
so the backends' side can be tested before the runner grows the variants.

The steps are run_case's: convert (array(), then view() for the inputs the
layout applies to: native_input), snapshot the inputs, call, check the inputs
are unchanged and no output shares memory with an input, judge every output.
A shares_memory that answers None is reported as 'alias check skipped'.
"""

import struct

from refbackprop.cases import LAYOUT_INPUTS, LAYOUTS
from refbackprop.compare import OUTPUTS, _flat, exact_outputs, judge_output
from refbackprop.runner import INPUT_NAMES, CaseResult


def _bits(v):
    return struct.pack("<d", v)


def native_input(backend, name, values, shape, dtype, layout=None):
    """backend.array(values, shape, dtype), then view() in the layout when the
    layout applies to this input (name: 'x', 'w', 'b' or 'dy').  The one
    change run_case needs for the layout variants."""
    if layout is not None and layout not in LAYOUT_INPUTS:
        raise ValueError("layout must be one of %s, not %r" % (", ".join(LAYOUTS), layout))
    native = backend.array(values, shape, dtype)
    if layout is None or name not in LAYOUT_INPUTS[layout]:
        return native
    declared = tuple(getattr(backend, "layouts", ()))
    if layout not in declared or not hasattr(backend, "view"):
        raise ValueError(
            "backend %r does not declare the %r layout (it declares: %s)"
            % (backend.name, layout, ", ".join(declared) or "none")
        )
    return backend.view(native, layout)


def _snapshot(backend, native, rank):
    return [_bits(float(v)) for v in _flat(backend.tolist(native), rank)]


def run_in_layout(backend, case, layout):
    """(CaseResult, [notes]) for the case with its inputs in `layout`."""
    result = CaseResult(backend.name, case)
    notes = []
    inputs, shapes = case.inputs(), case.shapes()
    names = [k for k in INPUT_NAMES[case.op] if inputs[k] is not None]
    native = dict(
        (k, native_input(backend, k, inputs[k], shapes[k], case.dtype, layout)) for k in names
    )
    before = dict((k, _snapshot(backend, native[k], len(shapes[k]))) for k in names)
    try:
        if case.op == "forward":
            outs = (backend.forward(native["x"], native["w"], native.get("b")),)
        else:
            outs = backend.backward(native["x"], native["w"], native["dy"], native.get("b"))
    except Exception as e:
        result.problems.append("%s raised %s: %s" % (case.op, type(e).__name__, e))
        return result, notes
    for k in names:
        if _snapshot(backend, native[k], len(shapes[k])) != before[k]:
            result.problems.append("input %s was modified by the call" % k)
    specs = exact_outputs(case)
    for name, out in zip(OUTPUTS[case.op], outs):
        if specs[name] is None or out is None:
            if (specs[name] is None) != (out is None):
                result.problems.append(
                    "%s is %s" % (name, "missing" if out is None else "given without a bias")
                )
            continue
        for k in names:
            shared = backend.shares_memory(out, native[k])
            if shared is None:
                notes.append("alias check skipped: %s and input %s" % (name, k))
            elif shared:
                result.problems.append("%s aliases input %s" % (name, k))
        result.outputs.append(judge_output(name, backend.tolist(out), specs[name], case.dtype))
    return result, notes
