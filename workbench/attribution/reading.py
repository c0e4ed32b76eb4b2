"""Reading aggregated paths: a CSV or a DataFrame in ``ChannelAttribution``'s format.

:func:`read_paths` turns one row per path (``"email > sms > direct"``, with
``total_conversions``, ``total_conversion_value`` and ``total_null``) into
:class:`~workbench.attribution.paths.Paths`.  A file is read by Arrow's multi-threaded
CSV reader and attributed without pandas: the command line's own start is part of what
a user waits for (issue 15).
"""

from __future__ import annotations

import csv
from os import PathLike
from typing import TYPE_CHECKING

import numpy as np

from ..results import loaded_pandas
from .paths import AttributionInputError, Paths, _check_counts, _numeric, _numpy, _rows

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["read_paths"]

#: separators looked for when the path column never contains ``sep``
CANDIDATE_SEPARATORS = (">", "|", ",", ";", "/", "\t", "→", "»", "<")


def _sniff_delimiter(path: str | PathLike) -> str:
    with open(path, newline="", encoding="utf-8") as fh:
        head = fh.read(64 * 1024)
    try:
        return csv.Sniffer().sniff(head, delimiters=",;\t").delimiter
    except csv.Error:
        return ","


def _split_paths(text, sep: str, path_col: str,
                 index) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Split and encode path strings (an Arrow string array): (codes, offsets, channels).

    Vectorized in Arrow's C++ kernels: split, then dictionary-encode the touches as they
    are; only the (few) distinct touches are stripped of spaces, and touches that are the
    same once stripped (``"sms "`` and ``"sms"``) share a code.  A large column is cut in
    two halves split on two threads (Arrow's kernels release the GIL: 0.44 -> 0.26 s for
    a million paths here), their dictionaries merged after.
    """
    import pyarrow.compute as pc

    if hasattr(text, "combine_chunks"):
        text = text.combine_chunks()
    n = len(text)
    halves = [text] if n < SPLIT_THREADS_MIN else [text.slice(0, n // 2),
                                                     text.slice(n // 2)]

    def split(part):
        lists = pc.split_pattern(part, pattern=sep)
        enc = pc.dictionary_encode(pc.list_flatten(lists))
        if hasattr(enc, "combine_chunks"):
            enc = enc.combine_chunks()
        return (_numpy(pc.list_value_length(lists)).astype(np.int64),
                _numpy(enc.indices), enc.dictionary.to_pylist())

    if len(halves) == 1:
        parts = [split(text)]
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(len(halves)) as pool:
            parts = list(pool.map(split, halves))
    lengths = np.concatenate([p[0] for p in parts])
    if not (lengths > 1).any():
        _no_separator(text, sep, path_col, index)
    stripped = [[s.strip() for s in p[2]] for p in parts]
    names = sorted({s for part in stripped for s in part} - {""})
    lookup = {name: i for i, name in enumerate(names)}
    remaps = [np.array([lookup.get(s, -1) for s in part], dtype=np.int32) for part in stripped]
    codes = np.concatenate([r[p[1]] for r, p in zip(remaps, parts, strict=True)])
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    if any((r < 0).any() for r in remaps) and np.any(codes < 0):
        row = np.repeat(np.arange(n), lengths)
        bad = np.zeros(n, dtype=bool)
        bad[row[codes < 0]] = True
        blank = bad & (lengths == 1)  # nothing but spaces
        if blank.any():
            raise AttributionInputError(f"column {path_col!r}: empty path at "
                                        f"{_rows(blank, index)}")
        ex = text[int(np.flatnonzero(bad)[0])].as_py()
        raise AttributionInputError(f"column {path_col!r}: empty touch (nothing between two "
                                    f"{sep!r}) at {_rows(bad, index)} (e.g. {ex!r})")
    return codes, offsets, tuple(names)


#: from this many paths the split runs on two threads
SPLIT_THREADS_MIN = 200_000


def _no_separator(text, sep: str, path_col: str, index) -> None:
    """No path contains ``sep``: fine, unless another separator is plainly used."""
    import pyarrow.compute as pc

    for cand in CANDIDATE_SEPARATORS:
        if cand == sep or cand in sep:
            continue
        hit = np.asarray(pc.match_substring(text, cand), dtype=bool)
        if hit.any():
            i = int(np.flatnonzero(hit)[0])
            raise AttributionInputError(
                f"column {path_col!r}: the separator {sep!r} appears in no row, but "
                f"{cand!r} appears in {int(hit.sum())} of {len(hit)} rows (e.g. row "
                f"{i if index is None else index[i]}: {text[i].as_py()!r}); pass "
                f"sep={cand!r}")


def _read_csv(path: str | PathLike, delimiter: str | None, path_col: str):
    """A CSV file as an Arrow table (multi-threaded; the path column kept as text)."""
    import pyarrow as pa
    import pyarrow.csv as pv

    delim = delimiter or _sniff_delimiter(path)
    try:
        return pv.read_csv(path, parse_options=pv.ParseOptions(delimiter=delim),
                           convert_options=pv.ConvertOptions(column_types={path_col: pa.string()}))
    except pa.ArrowInvalid as exc:
        raise AttributionInputError(f"{path}: cannot be read as a CSV file: {exc}") from exc


def read_paths(path_or_df: str | PathLike | pd.DataFrame, sep: str = ">",
               path_col: str = "path", conv_col: str = "total_conversions",
               value_col: str | None = "total_conversion_value",
               null_col: str | None = "total_null", *, collapse_repeats: bool = False,
               delimiter: str | None = None) -> Paths:
    """Read aggregated paths (``ChannelAttribution``'s format) into :class:`Paths`.

    Parameters
    ----------
    path_or_df
        A DataFrame, or a CSV file (its delimiter is sniffed among ``,`` ``;``
        and tab unless ``delimiter`` is given; ``ChannelAttribution``'s sample
        data uses ``;``). A file is read by Arrow's multi-threaded CSV reader and
        its paths never become Python strings.
    sep
        Separator between touches inside a path; spaces around it are ignored
        (``"email > sms"`` and ``"email>sms"`` are the same path).
    path_col, conv_col, value_col, null_col
        Column names. ``value_col=None`` means no revenue (all zero);
        ``null_col=None`` means no non-converting journeys (the Markov chain then
        has no null transitions, as in ``ChannelAttribution`` without
        ``var_null``).
    collapse_repeats
        Count consecutive identical touches once (default ``False``, as
        ``ChannelAttribution``); see :meth:`Paths.collapse_repeats`.
    delimiter
        CSV delimiter; sniffed when ``None``.

    Returns
    -------
    Paths
        One row per input row, in input order; channel codes follow the sorted
        channel names.

    Raises
    ------
    AttributionInputError
        Naming the column and the rows: missing column, empty path or touch, a
        path column that never contains ``sep`` while another separator appears,
        non-numeric, missing or negative counts, a row whose counts are all zero,
        value on a row without conversions, or no conversion at all.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"path": ["email > sms", "sms"], "total_conversions": [2, 1],
    ...                    "total_conversion_value": [80.0, 20.0], "total_null": [3, 4]})
    >>> read_paths(df)
    Paths(2 paths, 2 channels, 3 conversions, 7 nulls, value 100.00)
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if not sep:
        raise AttributionInputError("sep must be a non-empty string")
    if _is_frame(path_or_df):
        columns, table = list(path_or_df.columns), None
    else:
        table = _read_csv(path_or_df, delimiter, path_col)
        columns = table.column_names
    wanted = [c for c in (path_col, conv_col, value_col, null_col) if c is not None]
    missing = [c for c in wanted if c not in columns]
    if missing:
        hint = ("; pass value_col=None / null_col=None when the data has no such column"
                if set(missing) & {value_col, null_col} else "")
        raise AttributionInputError(f"missing column(s) {missing}; the data has "
                                    f"{list(map(str, columns))}{hint}")
    counts = [c for c in wanted if c != path_col]
    if table is None:  # a DataFrame: its own row labels in the messages
        index, n = path_or_df.index, len(path_or_df)
        raw_counts = {c: path_or_df[c] for c in counts}
        raw = path_or_df[path_col].astype("string")
        try:  # zero-copy when pandas already stores the strings in Arrow
            text = pa.chunked_array([pa.array(raw)])
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            text = pa.chunked_array([pa.array(raw.to_numpy(dtype=object), type=pa.string())])
    else:  # a file: Arrow's columns, rows by position, no pandas
        index, n = None, table.num_rows
        raw_counts = {c: table.column(c).combine_chunks() for c in counts}
        text = table.column(path_col)
    if n == 0:
        raise AttributionInputError("no rows: nothing to attribute")
    # compared in numpy, not against an Arrow scalar (pyarrow imports pandas to convert
    # a Python scalar, see _numpy); a missing path is empty
    empty = (np.asarray(pc.is_null(text), dtype=bool) if text.null_count else
             _numpy(pc.binary_length(text)) == 0)
    if text.null_count:
        empty |= np.nan_to_num(pc.binary_length(text).to_numpy(zero_copy_only=False)) == 0
    if empty.any():
        raise AttributionInputError(f"column {path_col!r}: empty path at {_rows(empty, index)}")
    codes, offsets, names = _split_paths(text, sep, path_col, index)
    arrays = {c: _numeric(c, raw_counts[c], index) for c in counts}
    _check_counts(arrays, conv_col, value_col, null_col, index)
    paths = Paths(names, codes, offsets, arrays[conv_col],
                  arrays[value_col] if value_col is not None else np.zeros(n),
                  arrays[null_col] if null_col is not None else np.zeros(n))
    return paths.collapse_repeats() if collapse_repeats else paths


def _is_frame(x) -> bool:
    """Whether ``x`` is a pandas DataFrame (without importing pandas to ask)."""
    pd = loaded_pandas()
    return pd is not None and isinstance(x, pd.DataFrame)
