"""What every import command shares: a progress bar on stderr, the `line N: column: reason` report, and
the exit codes — 1 with nothing written when any row is bad, unless --skip-bad imports the good rows."""

import sys
from abc import ABC, abstractmethod
from contextlib import contextmanager
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from pevportal.csvimport import CsvFileError, ParsedFile, count_records


class ImportCommand(BaseCommand, ABC):
    """Base for `import_*` commands over CSV files; subclasses implement parse() and apply()."""

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="CSV file: UTF-8, RFC 4180, header row required")
        parser.add_argument(
            "--skip-bad", action="store_true", help="import the good rows, report the bad ones and exit 0"
        )

    @abstractmethod
    def parse(self, path: Path, progress) -> ParsedFile:
        """Read and validate the whole file; `progress(n)` advances the bar by n rows."""

    @abstractmethod
    def apply(self, parsed: ParsedFile, path: Path):
        """Write the valid rows (in one transaction) and return a result for summary()."""

    @abstractmethod
    def summary(self, result) -> str:
        """One line for stdout: what was created, updated, left unchanged and rejected."""

    def handle(self, *args, file: Path, skip_bad: bool, **options):
        if not file.is_file():
            raise CommandError(f"{file}: no such file")
        with self._progress(file) as progress:
            try:
                parsed = self.parse(file, progress)
            except CsvFileError as exc:
                self.stderr.write(str(exc.error))
                raise CommandError(f"{file}: nothing imported", returncode=1) from None
        if parsed.ignored_columns:
            self.stderr.write(f"ignored columns: {', '.join(parsed.ignored_columns)}")
        for error in parsed.errors:
            self.stderr.write(str(error))
        bad_rows = len({e.line for e in parsed.errors})
        if bad_rows and not skip_bad:
            raise CommandError(
                f"{file}: {bad_rows} bad row(s); nothing imported (fix them, or use --skip-bad)", returncode=1
            )
        result = self.apply(parsed, file)
        self.stdout.write(self.summary(result))

    @contextmanager
    def _progress(self, file: Path):
        bar = tqdm(
            total=count_records(file),
            unit=" rows",
            desc=f"reading {file.name}",
            file=sys.stderr,
            disable=None,
        )
        try:
            yield bar.update
        finally:
            bar.close()
