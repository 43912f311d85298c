#!/usr/bin/env python3
"""The checkov gate for infra/: reads checkov's JSON report and fails on any Bicep parsing error
and on any failed check that checkov-skips.yaml does not accept with a reason.

checkov's exit code does not change when it cannot parse a Bicep file (it only counts the file
under summary.parsing_errors), so a syntax error would otherwise pass unnoticed.

Usage: checkov-gate.py REPORT.json SKIPS.yaml
"""

import json
import sys

import yaml

MIN_REASON = 40


def bicep_report(path):
    """The bicep part of the report, or why there is none."""
    try:
        with open(path, encoding="utf-8") as f:
            report = json.load(f)
    except (OSError, ValueError) as e:
        raise SystemExit(f"checkov gate: cannot read checkov's report {path}: {e} (see {path}.log)")
    reports = report if isinstance(report, list) else [report]
    for r in reports:
        if isinstance(r, dict) and r.get("check_type") == "bicep" and "results" in r:
            return r
    raise SystemExit(
        f"checkov gate: the report {path} has no Bicep results: checkov found no .bicep file it could read"
        f" (summary: {json.dumps([r.get('summary', r) if isinstance(r, dict) else r for r in reports])})"
    )


def load_skips(path):
    with open(path, encoding="utf-8") as f:
        entries = yaml.safe_load(f) or []
    problems = []
    if not isinstance(entries, list):
        raise SystemExit(f"checkov gate: {path} must be a list of entries")
    for i, e in enumerate(entries):
        where = f"{path} entry {i + 1}"
        if not isinstance(e, dict):
            problems.append(f"{where}: expected a mapping with check, file, resource, reason")
            continue
        missing = [k for k in ("check", "file", "resource", "reason") if not str(e.get(k) or "").strip()]
        if missing:
            problems.append(f"{where} ({e.get('check')}): missing {', '.join(missing)}")
        elif len(str(e["reason"]).strip()) < MIN_REASON:
            problems.append(f"{where} ({e['check']}): the reason is too short to explain anything")
    return entries, problems


def key(check_id, file_path, resource):
    return (check_id, file_path.lstrip("/"), resource)


def main(argv):
    if len(argv) != 3:
        raise SystemExit(__doc__)
    report = bicep_report(argv[1])
    skips, problems = load_skips(argv[2])
    summary = report.get("summary", {})
    results = report["results"]

    parsing_errors = results.get("parsing_errors") or []
    if summary.get("parsing_errors", 0) or parsing_errors:
        for f in parsing_errors or ["(checkov did not say which file)"]:
            problems.append(f"cannot parse {f}: fix the Bicep syntax (or keep to what checkov's Bicep parser reads)")

    accepted = {key(e["check"], e["file"], e["resource"]): e for e in skips if isinstance(e, dict) and "check" in e}
    used = set()
    failed = results.get("failed_checks") or []
    for f in failed:
        k = key(f["check_id"], f["file_path"], f["resource"])
        if k in accepted:
            used.add(k)
            continue
        line = f.get("file_line_range") or ["?"]
        problems.append(
            f"{f['check_id']} {f['check_name']}: {f['file_path'].lstrip('/')}:{line[0]} {f['resource']}"
            f" (fix it, or accept it in {argv[2]} with a reason)"
        )
    for k, e in accepted.items():
        if k not in used:
            problems.append(f"{argv[2]}: {e['check']} on {e['file']} {e['resource']} no longer fails: remove the entry")

    passed = len(results.get("passed_checks") or [])
    print(
        f"checkov {summary.get('checkov_version', '?')}: {passed} passed, {len(failed)} failed"
        f" ({len(used)} accepted in {argv[2]}), {len(parsing_errors)} parsing errors,"
        f" {summary.get('resource_count', '?')} resources"
    )
    if problems:
        for p in problems:
            print(f"  - {p}", file=sys.stderr)
        print(f"checkov gate: {len(problems)} problem{'s' if len(problems) != 1 else ''}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
