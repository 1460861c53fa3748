"""Independent check of the eICU demo cohort (no pandas needed): exclusion counts, deaths, and
the day-1 non-invasive blood pressure and lab summaries of a few stays, computed straight from the
CSVs with the definitions in docs/eicu.md. Its printout is the source of the expected values in
crates/ehrsynth-cohort/tests/eicu_demo.rs.

    python3 scripts/eicu_demo_counts.py [../shared/data/eicu-demo]
"""
import csv, gzip, math, sys
from collections import defaultdict

DEMO = sys.argv[1] if len(sys.argv) > 1 else "../shared/data/eicu-demo"

def rows(name):
    with gzip.open(f"{DEMO}/{name}.csv.gz", "rt", newline="") as f:
        yield from csv.DictReader(f)

def num(s):
    try:
        return float(s)
    except ValueError:
        return None

patients = list(rows("patient"))
print("all", len(patients))
icu = [p for p in patients if "icu" in p["unittype"].lower()]
print("icu", len(icu))

def key(p):
    age = num(p["age"].replace(">", ""))
    nl = lambda v: (v is None, v if v is not None else 0)
    return (nl(num(p["hospitaldischargeyear"])), nl(age), nl(num(p["patienthealthsystemstayid"])),
            nl(num(p["hospitaladmitoffset"])), int(p["patientunitstayid"]))

first = {}
for p in icu:
    if p["uniquepid"] not in first or key(p) < key(first[p["uniquepid"]]):
        first[p["uniquepid"]] = p
first_ids = {p["patientunitstayid"] for p in first.values()}
adults = [p for p in icu if (lambda a: a is None or a >= 16)(num(p["age"].replace(">", "")))]
print("adult", len(adults))
firsts = [p for p in adults if p["patientunitstayid"] in first_ids]
print("first", len(firsts))
apache = {r["patientunitstayid"]: r for r in rows("apachePatientResult") if r["apacheversion"] == "IVa"}
scored = [p for p in firsts if p["patientunitstayid"] in apache
          and (num(apache[p["patientunitstayid"]]["predictedhospitalmortality"]) or 0) > 0]
print("apache", len(scored))
final = [p for p in scored if p["hospitaldischargestatus"] or p["unitdischargestatus"]]
print("status", len(final))
deaths = sum(p["hospitaldischargestatus"] == "Expired" or p["unitdischargestatus"] == "Expired" for p in final)
print("deaths", deaths)

ids = {p["patientunitstayid"] for p in final}
hour = lambda off: math.ceil(off / 60.0)  # admission = unit admission (offset 0) on the demo
bp = defaultdict(lambda: defaultdict(list))  # stay -> var -> [(hour, value)]
ranges = {"noninvasivesystolic": (25, 250), "noninvasivediastolic": (1, 200), "noninvasivemean": (1, 250)}
for r in rows("vitalAperiodic"):
    s = r["patientunitstayid"]
    off = num(r["observationoffset"])
    if s not in ids or off is None or not 0 <= hour(off) <= 24:
        continue
    for var, (lo, hi) in ranges.items():
        v = num(r[var])
        if v is not None and lo <= v <= hi:
            bp[s][var].append((hour(off), v))

def summary(points):
    by_hour = defaultdict(list)
    for h, v in points:
        by_hour[h].append(v)
    means = [sum(v) / len(v) for h, v in sorted(by_hour.items())]
    return (means[0], means[-1], min(means), max(means)) if means else None

for s in sorted(ids, key=int)[:3]:
    p = next(p for p in final if p["patientunitstayid"] == s)
    print("stay", s, "age", p["age"], "gender", p["gender"], "ethnicity", p["ethnicity"],
          "hospitalid", p["hospitalid"], "hosp_los", num(p["hospitaldischargeoffset"]) / 1440.0,
          "ventdays", apache[s]["actualventdays"])
    print("  sysbp first/last/min/max", summary(bp[s]["noninvasivesystolic"]))
    print("  meanbp first/last/min/max", summary(bp[s]["noninvasivemean"]))

# BUN from the partial lab table for the first cohort stay that has one, window hours [-24, 24]
labs = defaultdict(list)
for r in rows("lab_SUBSET_pyhealth"):
    s = r["patientunitstayid"]
    off, v = num(r["labresultoffset"]), num(r["labresult"])
    if s in ids and r["labname"] == "BUN" and off is not None and v is not None and 1 <= v <= 280 \
            and -24 <= hour(off) <= 24:
        labs[s].append((hour(off), v, num(r["labresultrevisedoffset"]), off))
for s in sorted(labs, key=int)[:2]:
    latest = {}
    for h, v, rev, off in sorted(labs[s], key=lambda t: (t[3], t[2])):
        latest[off] = (h, v)
    print("stay", s, "bun first/last", summary(list(latest.values()))[:2])
