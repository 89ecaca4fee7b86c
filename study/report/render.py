"""One report, four forms: Markdown, HTML (plots inline), CSV per table, and rich in the terminal."""

from __future__ import annotations

import base64
import csv
import html
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from study.report.tables import MISSING, TableData


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Paragraph:
    text: str
    banner: bool = False  # a warning the reader must not miss (partial study)


@dataclass(frozen=True)
class Image:
    file: str  # PNG file name under the output folder
    caption: str


Block = Heading | Paragraph | TableData | Image


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "<br>")


def _md_table(table: TableData) -> list[str]:
    lines = [f"### {table.title}", ""]
    if not table.rows:
        return lines + ["(no rows)", ""]
    lines.append("| " + " | ".join(_md_cell(c) for c in table.columns) + " |")
    lines.append("|" + "|".join("---" for _ in table.columns) + "|")
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in table.rows]
    return lines + ([""] + [f"_{table.note}_"] if table.note else []) + [""]


def to_markdown(blocks: Sequence[Block]) -> str:
    """The report as GitHub-flavoured Markdown (deterministic: no timestamps, fixed formats)."""
    lines: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            lines += ["#" * block.level + " " + block.text, ""]
        elif isinstance(block, Paragraph):
            lines += [f"> **{block.text}**" if block.banner else block.text, ""]
        elif isinstance(block, Image):
            lines += [f"![{block.caption}]({block.file})", ""]
        else:
            lines += _md_table(block)
    return "\n".join(lines).rstrip() + "\n"


def _html_table(table: TableData) -> str:
    def cells(tag: str, row: Sequence[str]) -> str:
        return "".join(f"<{tag}>{html.escape(c).replace(chr(10), '<br>')}</{tag}>" for c in row)

    body = "".join(f"<tr>{cells('td', row)}</tr>" for row in table.rows) or "<tr><td>(no rows)</td></tr>"
    note = f"<p><em>{html.escape(table.note)}</em></p>" if table.note else ""
    return f"<h3>{html.escape(table.title)}</h3><table><tr>{cells('th', table.columns)}</tr>{body}</table>{note}"


_STYLE = (
    "body{font-family:sans-serif;max-width:75em;margin:auto}table{border-collapse:collapse;margin:.5em 0}"
    "td,th{border:1px solid #bbb;padding:.2em .5em;vertical-align:top}.banner{background:#fde2a4;padding:.5em}"
)


def to_html(blocks: Sequence[Block], out_dir: Path, title: str) -> str:
    """A self-contained HTML page: the same blocks, the PNGs inline as base64."""
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body>"
    ]
    for block in blocks:
        if isinstance(block, Heading):
            parts.append(f"<h{block.level}>{html.escape(block.text)}</h{block.level}>")
        elif isinstance(block, Paragraph):
            parts.append(
                f"<p class='banner'>{html.escape(block.text)}</p>"
                if block.banner
                else f"<p>{html.escape(block.text)}</p>"
            )
        elif isinstance(block, Image):
            data = base64.b64encode((out_dir / block.file).read_bytes()).decode()
            parts.append(
                f"<figure><img alt='{html.escape(block.caption)}' src='data:image/png;base64,{data}'>"
                f"<figcaption>{html.escape(block.caption)}</figcaption></figure>"
            )
        else:
            parts.append(_html_table(block))
    return "\n".join(parts + ["</body></html>"]) + "\n"


def write_csvs(blocks: Sequence[Block], out_dir: Path) -> list[str]:
    """Each exportable table as ``<csv_name>.csv`` (missing values empty); the file names written."""
    written = []
    for block in blocks:
        if isinstance(block, TableData) and block.csv_name:
            with open(out_dir / f"{block.csv_name}.csv", "w", newline="", encoding="utf-8") as f:
                writer = csv.writer(f)
                writer.writerow(block.columns)
                writer.writerows([("" if c == MISSING else c.replace("\n", " ")) for c in row] for row in block.rows)
            written.append(f"{block.csv_name}.csv")
    return written


def print_blocks(blocks: Sequence[Block], console: Console) -> None:
    """The report in the terminal: rich tables; plots named, not drawn."""
    for block in blocks:
        if isinstance(block, Heading):
            console.print(Rule(block.text) if block.level > 1 else Text(block.text, style="bold underline"))
        elif isinstance(block, Paragraph):
            console.print(Text(block.text, style="bold yellow" if block.banner else ""))
        elif isinstance(block, Image):
            console.print(f"plot: {block.file} ({block.caption})")
        else:
            table = Table(
                *block.columns,
                title=block.title,
                title_justify="left",
                caption=block.note or None,
                caption_justify="left",
                show_lines=any("\n" in c for row in block.rows for c in row),
            )
            for row in block.rows:
                table.add_row(*row)
            console.print(table)
