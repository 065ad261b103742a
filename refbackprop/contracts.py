"""Precision contracts: what a kernel promises about the formats it computes in.

A contract names four formats (refbackprop.formats):

- storage: X, W, b and dY are rounded to it before the kernel or the
  reference sees them (the catalogue's inputs are values of it);
- multiply: the format the multiplies' operands are converted to (tf32:
  float32 operands rounded to TF32; otherwise the storage format, exact);
- accumulate: the format the sums are formed in;
- output: the format of Y, dX, dW and db.

    name              storage   multiply  accumulate  output
    float64           float64   float64   float64     float64
    float32           float32   float32   float32     float32
    tf32              float32   tf32      float32     float32
    bfloat16          bfloat16  bfloat16  float32     bfloat16
    float16           float16   float16   float32     float16
    bfloat16-f32out   bfloat16  bfloat16  float32     float32
    float16-f32out    float16   float16   float32     float32

These names are what a backend lists in `dtypes`, what `--dtype` takes and
what the dtype slot of a case id holds (forward/bfloat16/N7-D13-M11/...).
The bound each contract implies is derived in docs/precision.md and computed
by bounds.element_bound.
"""

from . import formats


class Contract:
    """One precision contract (see the module's table)."""

    __slots__ = (
        "name",
        "storage",
        "multiply",
        "accumulate",
        "output",
        "operand_rounding",
        "legacy",
        "summary",
    )

    def __init__(
        self, name, storage, multiply, accumulate, output, operand_rounding=0.0, summary=""
    ):
        self.name = name
        self.storage = formats.get(storage)
        self.multiply = formats.get(multiply)
        self.accumulate = formats.get(accumulate)
        self.output = formats.get(output)
        # δ: the largest relative error of converting an operand to the
        # multiply format (0 where the operands are already in it).
        self.operand_rounding = operand_rounding
        # float64 and float32: judged exactly as before contracts existed.
        self.legacy = name in ("float64", "float32")
        self.summary = summary

    def __repr__(self):
        return "Contract(%r)" % self.name

    @property
    def rounds_output(self):
        """Whether the output format is narrower than the accumulation's."""
        return self.output.p < self.accumulate.p

    def to_dict(self):
        return {
            "name": self.name,
            "storage": self.storage.name,
            "multiply": self.multiply.name,
            "accumulate": self.accumulate.name,
            "output": self.output.name,
            "operand_rounding": self.operand_rounding,
            "summary": self.summary,
        }


# TF32 conversion: one TF32 ulp relative (2^-10), not half of one, because
# tensor cores are documented to take float32 operands by dropping the low
# 13 bits (truncation) as well as by rounding to nearest; the bound must
# hold for both.
_TF32_CONVERSION = 2.0**-10

_ALL = (
    Contract("float64", "float64", "float64", "float64", "float64", summary="float64 throughout"),
    Contract("float32", "float32", "float32", "float32", "float32", summary="float32 throughout"),
    Contract(
        "tf32",
        "float32",
        "tf32",
        "float32",
        "float32",
        _TF32_CONVERSION,
        summary="float32 storage, TF32 multiplies, float32 accumulation and outputs",
    ),
    Contract(
        "bfloat16",
        "bfloat16",
        "bfloat16",
        "float32",
        "bfloat16",
        summary="bfloat16 storage and outputs, float32 accumulation",
    ),
    Contract(
        "float16",
        "float16",
        "float16",
        "float32",
        "float16",
        summary="float16 storage and outputs, float32 accumulation",
    ),
    Contract(
        "bfloat16-f32out",
        "bfloat16",
        "bfloat16",
        "float32",
        "float32",
        summary="bfloat16 storage, float32 accumulation and outputs",
    ),
    Contract(
        "float16-f32out",
        "float16",
        "float16",
        "float32",
        "float32",
        summary="float16 storage, float32 accumulation and outputs",
    ),
)
CONTRACTS = {}
for _c in _ALL:
    CONTRACTS[_c.name] = _c
NAMES = tuple(c.name for c in _ALL)


def get(name):
    """The Contract for a name (or the Contract itself); ValueError names the
    known ones."""
    return formats.lookup(CONTRACTS, NAMES, name, Contract, "precision contract")


def to_storage(v, name):
    """v rounded to the contract's storage format."""
    return formats.round_to(v, get(name).storage)
