"""Numbers as people and JSON read them: digit groups, bytes, non-finite floats."""


def group_digits(n):
    """68719476736 -> '68,719,476,736' (str.format's ',' is not everywhere)."""
    s = str(n)
    head = len(s) % 3 or 3
    parts = [s[:head]]
    for k in range(head, len(s), 3):
        parts.append(s[k : k + 3])
    return ",".join(parts)


def summary_line(passed, failed, interrupted=False):
    """A run's last line: 'N passed, N failed' (', interrupted' if it was)."""
    return "%d passed, %d failed%s" % (passed, failed, ", interrupted" if interrupted else "")


def human_bytes(n):
    """Bytes in binary units: 274877906944 -> '256 GiB'."""
    units = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")
    v = float(n)
    k = 0
    while v >= 1024 and k < len(units) - 1:
        v = v / 1024
        k += 1
    text = "%.1f" % v
    if text.endswith(".0"):
        text = text[:-2]
    return "%s %s" % (text, units[k])


def json_float(v):
    """Floats for JSON: NaN and ±Inf as the strings 'nan', 'inf', '-inf'."""
    if isinstance(v, float) and (v != v or v in (float("inf"), float("-inf"))):
        return repr(v)
    return v


# Our notation, and how to write it where a terminal cannot.
_ASCII = (
    ("∂", "d"),
    ("×", "x"),
    ("≤", "<="),
    ("≥", ">="),
    ("≠", "!="),
    ("γ", "gamma"),
    ("λ", "lambda"),
    ("Σ", "sum"),
    ("ᵀ", "^T"),
    ("·", "*"),
    ("−", "-"),
    ("…", "..."),
    ("²", "^2"),
    ("⁻", "^-"),
    ("√", "sqrt"),
    ("‖", "||"),
    ("⊗", "(x)"),
    ("±", "+-"),
    ("→", "->"),
    ("–", "-"),
    ("—", "-"),
    ("≈", "~"),
    ("∞", "inf"),
)


def terminal_text(text, encoding):
    """text as the stream's encoding can show it: unchanged when it can
    (or when the encoding is unknown), else in ASCII notation, and any
    character still left over as '?'."""
    if not encoding:
        return text
    try:
        text.encode(encoding)
        return text
    except (UnicodeEncodeError, LookupError):
        pass
    for symbol, ascii_text in _ASCII:
        text = text.replace(symbol, ascii_text)
    try:
        return text.encode(encoding, "replace").decode(encoding)
    except LookupError:
        return text.encode("ascii", "replace").decode("ascii")
