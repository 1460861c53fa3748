"""Encode seaborn-data's taxis.csv (NYC TLC yellow and green cab trips of March 2019, public
NYC Open Data) into the table the constraint-inference test reads: money columns as they are,
and the three categorical columns one-hot coded by hand, so the test knows which one-hot sets
and orders the table holds without ehrsynth having seen them.

Usage: python3 scripts/encode_taxis.py taxis.csv crates/ehrsynth-table/tests/data/taxis_encoded.csv.gz
(taxis.csv from https://github.com/mwaskom/seaborn-data). Standard library only.
"""

import csv
import gzip
import sys

NUMBERS = ["passengers", "distance", "fare", "tip", "tolls", "total"]
# column -> (prefix, categories); a missing category sets none of its indicators.
ONE_HOT = {
    "color": ("color", ["yellow", "green"]),
    "payment": ("pay", ["credit card", "cash"]),
    "pickup_borough": ("pickup", ["Manhattan", "Queens", "Brooklyn", "Bronx", "Staten Island"]),
}


def indicator(prefix: str, category: str) -> str:
    return f"{prefix}_{category.lower().replace(' ', '_')}"


def main(source: str, target: str) -> None:
    with open(source, newline="") as f:
        rows = list(csv.DictReader(f))
    header = NUMBERS + [
        indicator(prefix, c) for prefix, categories in ONE_HOT.values() for c in categories
    ]
    with gzip.open(target, "wt", newline="") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(header)
        for row in rows:
            cells = [row[c] for c in NUMBERS]
            for column, (_, categories) in ONE_HOT.items():
                cells += ["1" if row[column] == c else "0" for c in categories]
            out.writerow(cells)
    print(f"wrote {target}: {len(rows)} rows x {len(header)} columns")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
