"""OCR speed on this machine: seconds per page for the pages without a text layer of the given PDFs (default:
a generated scanned page and the image-only files of ../shared/datasets/pdf-edge-cases), read one after another
in this process the way a parsing worker reads them (ingest.ocr, 150 dpi), with the characters read.

    .venv/bin/python benchmarks/ocr_speed.py [PDF ...]
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

from ingest.load import load_pdf
from ingest.ocr import read_pdf_page

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for the scanned-page fixture
from tests.fixtures.make_scan import scanned_page  # noqa: E402

EDGE = ROOT.parent / "shared" / "datasets" / "pdf-edge-cases"
LINES = [f"Line {i}: hotels are reimbursed up to EUR {100 + i} per night in city number {i}." for i in range(20)]


def main() -> None:
    inputs: list[tuple[str, bytes]] = [(p, Path(p).read_bytes()) for p in sys.argv[1:]]
    if not inputs:
        page = scanned_page(LINES)
        if page is not None:
            inputs.append(("generated page, 20 lines", page))
        inputs += [(p.name, p.read_bytes()) for p in sorted(EDGE.glob("*.pdf")) if EDGE.exists()]
    read_pdf_page(scanned_page(["warm up"]) or inputs[0][1], 1)  # the engine loads once per process
    times = []
    print(f"{'file':<34}{'page':>5}{'chars':>8}{'seconds':>9}")
    for name, data in inputs:
        try:
            pending = [p.page for p in load_pdf(Path(name), data, ocr=True) if p.ocr and p.page is not None]
        except Exception:  # noqa: BLE001 - a file pypdf cannot read is not this benchmark's subject
            continue
        for number in pending:
            started = time.perf_counter()
            text = read_pdf_page(data, number)
            times.append(time.perf_counter() - started)
            print(f"{name[:33]:<34}{number:>5}{len(text):>8}{times[-1]:>9.2f}")
    if times:
        print(f"{len(times)} pages: median {statistics.median(times):.2f} s, max {max(times):.2f} s per page")


if __name__ == "__main__":
    main()
