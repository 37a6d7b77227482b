"""`opcoverage report --html`: the self-contained page in a real headless browser (Chromium): it loads without
console errors, filters and sorts, and its reproduce commands are the Markdown report's."""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from opcoverage import results as res
from opcoverage.cli import main
from opcoverage.report.markdown import reproduce_command
from opcoverage.types import CaseResult, Status

BROWSER = next((b for b in ("chromium", "chromium-browser", "google-chrome", "chrome") if shutil.which(b)), None)
needs_browser = pytest.mark.skipif(BROWSER is None, reason="no headless Chromium here (CI installs Debian's "
                                                           "chromium in .ci/run)")


class _Rows(HTMLParser):
    """The data-id of each rendered row, the count line and the page's error box, from a dumped DOM."""

    def __init__(self):
        super().__init__()
        self.ids, self.count, self.errors, self.codes, self._in = [], "", "", [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr" and "data-id" in attrs:
            self.ids.append(attrs["data-id"])
        self._in = attrs.get("id") or ("code" if tag == "code" else None)

    def handle_data(self, data):
        if self._in == "count":
            self.count += data
        elif self._in == "errors":
            self.errors += data
        elif self._in == "code":
            self.codes.append(data)

    def handle_endtag(self, tag):
        self._in = None


def _results() -> res.ResultsFile:
    records = [CaseResult("add", "torch:cpu", "float32", "s0", Status.PASS, max_abs_err=0.0, max_rel_err=0.0),
               CaseResult("add", "jax:cpu", "float16", "s1", Status.MISMATCH, "values differ </script><!-- x",
                          max_abs_err=0.5, max_rel_err=0.25),
               CaseResult("mul", "jax:cpu", "float64", "s0", Status.MISMATCH, "matches a float32 reference",
                          max_abs_err=1e-7, max_rel_err=3e-8, extra={"computed_as": "float32"}),
               CaseResult("mul", "torch:cpu", "bfloat16", "s0", Status.UNSUPPORTED, "no kernel for 'BFloat16'"),
               CaseResult("sub", "onnxruntime:cpu", "int32", "s2", Status.ERROR, "boom", max_rel_err=None)]
    env = {"seed": 3, "samples": "quick", "specs": ["my specs"], "catalog": "x", "frameworks": {"torch": "2.13"},
           "categories": {"add": "elementwise_binary", "mul": "elementwise_binary", "sub": "elementwise_binary"}}
    return res.ResultsFile(env, tuple(records))


def _dump(page: Path, fragment: str = "") -> tuple[_Rows, str]:
    proc = subprocess.run([BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
                           "--virtual-time-budget=5000", "--dump-dom", page.as_uri() + fragment],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    parsed = _Rows()
    parsed.feed(proc.stdout)
    assert 'data-ready="1"' in proc.stdout, "the page's script did not finish"
    console = [line for line in proc.stderr.splitlines() if "CONSOLE" in line]
    return parsed, "\n".join(console)


@needs_browser
def test_the_page_loads_filters_and_sorts_in_a_headless_browser(tmp_path):
    path = tmp_path / "r.json"
    res.write(path, _results())
    page = tmp_path / "r.html"
    assert main(["report", str(path), "--html", str(page)]) == 0
    text = page.read_text()
    assert "http://" not in text and "https://" not in text and "<link" not in text  # nothing fetched
    assert "</script><!-- x" not in text  # the message cannot break out of the data element

    everything, console = _dump(page)
    assert console == "" and everything.errors == ""
    assert len(everything.ids) == 5 and everything.count.startswith("5 of 5 records match")

    mismatches, console = _dump(page, "#status=mismatch&target=jax:cpu")
    assert console == "" and mismatches.errors == ""
    assert sorted(mismatches.ids) == ["add-jax:cpu-float16-s1", "mul-jax:cpu-float64-s0"]
    assert mismatches.count.startswith("2 of 5")

    glob, _ = _dump(page, "#op=m*&sort=max_rel_err&order=desc")
    assert glob.ids == ["mul-jax:cpu-float64-s0", "mul-torch:cpu-bfloat16-s0"]  # 3e-8 before no error at all
    by_error, _ = _dump(page, "#sort=max_rel_err&order=desc")
    assert by_error.ids[0] == "add-jax:cpu-float16-s1"

    # The reproduce commands are the Markdown report's, quoting included (a --specs folder with a space).
    results = _results()
    expected = sorted(reproduce_command(r, results.environment) for r in results.results)
    assert sorted(everything.codes) == expected and any("'my specs'" in c for c in expected)


@needs_browser
def test_lower_precision_is_marked_in_the_page(tmp_path):
    path = tmp_path / "r.json"
    res.write(path, _results())
    page = tmp_path / "r.html"
    assert main(["report", str(path), "--html", str(page)]) == 0
    proc = subprocess.run([BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
                           page.as_uri() + "#op=mul&dtype=float64"], capture_output=True, text=True, timeout=120)
    assert re.search(r"mismatch \(computes float64 in float32\)", proc.stdout)
