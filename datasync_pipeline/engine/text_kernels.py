"""Text through Arrow kernels: the rules of ``normalize`` on two million email keys at once.

A first sync of contacts pairs and validates every email address of both sides. One Python object
at a time (strip, lower, hash, match a pattern), that was a third of the compare's cost. Here an
email column of ``str`` values is converted once to an Arrow string array, in the order its values
lie in memory, and the rules run as vectorised kernels on it, with the same result as the Python
forms, value for value:

- surrounding space: ``str.strip()`` removes the characters ``str.isspace()`` calls space, and
  ``utf8_trim`` is given exactly that set (``PYTHON_WHITESPACE``, checked against Python itself);
- blank: text that is empty once stripped is no value;
- lower case: ``ascii_lower`` for ASCII text, which is what ``str.lower`` does to it; text with any
  other character goes to ``str.lower`` itself (Unicode's special cases, 'İ' into 'i̇', stay Python's);
- a valid email: ``normalize.SURELY_VALID_EMAIL`` run by RE2 vouches for the common, plainly valid
  ASCII address; every address it cannot vouch for is left to email-validator (``normalize``).

A column holding anything but ``str`` and missing values (None, NaN, pd.NA), or text UTF-8 cannot
encode (a lone surrogate), is not taken: the callers keep their general path for it.

The other text columns (names, phones, cities) stay with the Python forms: converting a value to
Arrow costs about what stripping it costs (more for non-ASCII text, whose UTF-8 form CPython then
keeps beside the value), and those columns need Python objects again at the end (measured, issue 11).

Arrow allocates from glibc's allocator here (``POOL``), not its default mimalloc: in a fresh process
(a Dagster step is one) mimalloc's first growth of a two-million-key hash table spent a third of a
second in the kernel.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pandas.api.types import infer_dtype

# The characters for which str.isspace() is true, which str.strip() removes (test_text_kernels checks the list).
PYTHON_WHITESPACE = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
                     "\u200a\u2028\u2029\u202f\u205f\u3000")
POOL = pa.system_memory_pool()


def is_text(values: np.ndarray) -> bool:
    """Whether every value is a ``str`` or missing (None, NaN, pd.NA): the fast paths' case."""
    return values.dtype == object and infer_dtype(values, skipna=True) in ("string", "empty")


def arrow_text(values: np.ndarray) -> pa.Array | None:
    """The values as an Arrow string array, missing ones as null; None unless every value is text UTF-8 can hold."""
    if not is_text(values):
        return None
    try:
        text = pa.array(values, type=pa.string(), from_pandas=True, memory_pool=POOL)
    except (pa.ArrowException, UnicodeEncodeError):  # a lone surrogate; more text than one array holds
        return None
    return text if isinstance(text, pa.Array) else None


def stripped(text: pa.Array) -> pa.Array:
    """``str.strip()`` of every value."""
    return pc.utf8_trim(text, characters=PYTHON_WHITESPACE, memory_pool=POOL)


def lowered(text: pa.Array) -> pa.Array:
    """``str.lower()`` of every value: ASCII text by the kernel, any other by ``str.lower``."""
    lower = pc.ascii_lower(text, memory_pool=POOL)
    other = ~flags(pc.string_is_ascii(text), missing=True)
    if other.any():
        rows = np.flatnonzero(other)
        replacements = pa.array([value.lower() for value in text.take(rows).to_pylist()], type=pa.string())
        lower = pc.replace_with_mask(lower, pa.array(other), replacements, memory_pool=POOL)
    return lower


def blank_to_null(text: pa.Array) -> pa.Array:
    """Empty text as null (no value): the same text with a validity bitmap that leaves blanks out."""
    if not len(text):
        return text
    text = text.take(np.arange(len(text))) if text.offset else text  # one whose buffers start at its first value
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int32, count=len(text) + 1)
    present = (np.diff(offsets) > 0) & ~flags(text.is_null(), missing=False)
    validity = pa.py_buffer(np.packbits(present, bitorder="little"))
    return pa.Array.from_buffers(pa.string(), len(text), [validity, text.buffers()[1], text.buffers()[2]])


def flags(condition: pa.Array, *, missing: bool = False) -> np.ndarray:
    """A boolean Arrow array as a numpy one, null as ``missing``."""
    return condition.fill_null(missing).to_numpy(zero_copy_only=False)
