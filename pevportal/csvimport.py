"""The file rules every CSV import shares (CIS, enrollments, AMI): UTF-8, RFC 4180, a header row naming the
columns, errors reported as `line N: column: reason` with the header as line 1, and all-or-nothing unless
the operator asks to skip bad rows.

Each import supplies a row validator; this module reads the file, collects errors and keeps line numbers.
"""

import csv
import hashlib
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError


@dataclass(frozen=True, order=True)
class RowError:
    line: int
    column: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.column}: {self.reason}"


class CsvFileError(Exception):
    """The file as a whole cannot be read (encoding, header); nothing is imported."""

    def __init__(self, error: RowError):
        super().__init__(str(error))
        self.error = error


@dataclass
class ParsedFile:
    """The rows that passed validation (line number, cleaned values) and the errors of those that did not."""

    sha256: str
    rows: list[tuple[int, Any]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def rows_seen(self) -> int:
        return len(self.rows) + len({e.line for e in self.errors})


class RowInvalid(Exception):
    """Raised by a row validator; carries one error per bad column."""

    def __init__(self, errors: dict[str, str]):
        super().__init__(errors)
        self.errors = errors


def field_errors(exc: ValidationError, column: str) -> dict[str, str]:
    """A Django ValidationError as {column: reason}, for validators reused from the models."""
    return {column: " ".join(exc.messages)}


RowValidator = Callable[[int, dict[str, str]], Any]


def parse_csv(
    path: Path,
    *,
    required: list[str],
    optional: list[str] = (),
    validate_row: RowValidator,
    progress: Callable[[int], None] | None = None,
) -> ParsedFile:
    """Read and validate a CSV file. Raises CsvFileError for a file-level problem.

    `validate_row(line, values)` returns the cleaned row or raises RowInvalid. Values are stripped of
    surrounding white space; a blank optional column is "".
    """
    data = path.read_bytes()
    parsed = ParsedFile(sha256=hashlib.sha256(data).hexdigest())
    text = _decode(data)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header = _read_header(reader, required, optional)
    parsed.ignored_columns = [name for name in header if name not in required and name not in optional]
    width = len(header)
    for line, record in _records(reader):
        if not any(cell.strip() for cell in record):
            continue  # blank lines (a trailing newline in Excel exports) are not rows
        if len(record) != width:
            parsed.errors.append(RowError(line, "(row)", f"has {len(record)} fields, the header has {width}"))
            continue
        values = {name: cell.strip() for name, cell in zip(header, record, strict=True)}
        for name in optional:
            values.setdefault(name, "")
        try:
            parsed.rows.append((line, validate_row(line, values)))
        except RowInvalid as exc:
            parsed.errors.extend(RowError(line, column, reason) for column, reason in exc.errors.items())
        if progress:
            progress(1)
    return parsed


def count_records(path: Path) -> int:
    """A cheap upper bound of data rows, for sizing a progress bar."""
    with path.open("rb") as handle:
        return max(sum(1 for _ in handle) - 1, 0)


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise CsvFileError(
            RowError(
                line, "(file)", f"not valid UTF-8 (byte 0x{data[exc.start]:02x}); save the file as UTF-8"
            )
        ) from None


def _read_header(reader, required: list[str], optional: list[str]) -> list[str]:
    try:
        header = [name.strip().lower() for name in next(reader)]
    except StopIteration:
        raise CsvFileError(RowError(1, "(header)", "the file is empty; a header row is required")) from None
    except csv.Error as exc:
        raise CsvFileError(RowError(1, "(header)", f"malformed CSV: {exc}")) from None
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise CsvFileError(RowError(1, "(header)", f"duplicate columns: {', '.join(duplicates)}"))
    missing = [name for name in required if name not in header]
    if missing:
        raise CsvFileError(RowError(1, "(header)", f"missing required columns: {', '.join(missing)}"))
    return header


def _records(reader) -> Iterator[tuple[int, list[str]]]:
    """Yield (line where the record starts, fields); a quoted field may span lines (RFC 4180)."""
    while True:
        start = reader.line_num + 1
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise CsvFileError(RowError(start, "(row)", f"malformed CSV: {exc}")) from None
        yield start, record
