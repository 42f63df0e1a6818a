#!/usr/bin/env python3
"""Independent reader for gatebench interval logs (HdrHistogram_py, `pip install hdrhistogram`).

Prints JSON: for every tag, the merged count, p50/p99 and max (values in microseconds).
Used by the test suite to check that `.hlog` files are standard and match summary.json.
"""
import json
import sys

from hdrh.histogram import HdrHistogram
from hdrh.log import HistogramLogReader


def main(path):
    reader = HistogramLogReader(path, HdrHistogram(1, 3_600_000_000, 3))
    merged = {}
    while True:
        h = reader.get_next_interval_histogram()
        if h is None:
            break
        tag = h.get_tag()
        if tag not in merged:
            merged[tag] = HdrHistogram(1, 3_600_000_000, 3)
        merged[tag].add(h)
    out = {
        tag: {
            "count": h.get_total_count(),
            "p50": h.get_value_at_percentile(50),
            "p99": h.get_value_at_percentile(99),
            "max": h.get_max_value(),
        }
        for tag, h in merged.items()
    }
    json.dump(out, sys.stdout, indent=1, sort_keys=True)


if __name__ == "__main__":
    main(sys.argv[1])
