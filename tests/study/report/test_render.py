"""The four forms of a report: Markdown, HTML, CSV and the terminal show the same cells."""

from __future__ import annotations

import csv

from rich.console import Console

from study.report.render import Heading, Paragraph, print_blocks, to_html, to_markdown, write_csvs
from study.report.tables import MISSING, TableData

TABLE = TableData(
    "Cells", ("name", "value"), (("a|b", "1.00"), ("two\nlines", MISSING)), csv_name="cells", note="a note"
)
BLOCKS = [Heading("Title", 1), Paragraph("Partial report: still running", banner=True), TABLE]


def test_markdown_escapes_pipes_and_breaks_multi_line_cells():
    markdown = to_markdown(BLOCKS)
    assert markdown.startswith("# Title\n\n> **Partial report: still running**\n\n### Cells\n")
    assert "| a\\|b | 1.00 |" in markdown and "| two<br>lines | — |" in markdown
    assert markdown.endswith("_a note_\n")


def test_empty_table_says_so():
    assert "(no rows)" in to_markdown([TableData("Empty", ("x",), ())])


def test_html_escapes_text(tmp_path):
    page = to_html([Paragraph("<script>", banner=True), TABLE], tmp_path, "t & t")
    assert "<title>t &amp; t</title>" in page and "&lt;script&gt;" in page and "<td>two<br>lines</td>" in page


def test_csv_leaves_missing_values_empty(tmp_path):
    assert write_csvs(BLOCKS, tmp_path) == ["cells.csv"]
    with open(tmp_path / "cells.csv", newline="", encoding="utf-8") as f:
        assert list(csv.reader(f)) == [["name", "value"], ["a|b", "1.00"], ["two lines", ""]]


def test_terminal_shows_the_table_and_the_banner():
    console = Console(record=True, width=100, color_system=None)
    print_blocks(BLOCKS, console)
    text = console.export_text()
    assert "Partial report: still running" in text and "a|b" in text and "a note" in text
