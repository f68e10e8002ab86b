#!/usr/bin/env python3
"""dlt side of the syncfn benchmark: the same loopback provider, through dlt's rest_api source.

Modes (one process per measured run, like `syncfn run`):
  full         first sync into an empty destination (incremental on updated_at from 1970)
  resync       a full pass again with nothing changed (no updated_after filter), merge on id
  incremental  updated_after = the last updated_at dlt's state holds (after 1% changed)
  read         read every row back from the destination, 1,000 at a time, as JSON lines

Prints one JSON line: {"mode", "destination", "rows": rows normalized per table}.
"""
import argparse
import json
import os
import sys

# No telemetry (the benchmark machine has no network) and quiet logs, before dlt loads.
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING")

import dlt  # noqa: E402
from dlt.sources.rest_api import rest_api_source  # noqa: E402

TABLE = "contacts"
DATASET = "bench"


def source(base_url, limit, incremental):
    params = {"limit": limit}
    if incremental:
        params["updated_after"] = {
            "type": "incremental",
            "cursor_path": "updated_at",
            "initial_value": "1970-01-01T00:00:00Z",
        }
    return rest_api_source(
        {
            "client": {
                "base_url": base_url,
                "paginator": {"type": "cursor", "cursor_path": "next_cursor", "cursor_param": "cursor"},
            },
            "resource_defaults": {"primary_key": "id", "write_disposition": "merge"},
            "resources": [
                {
                    "name": TABLE,
                    "endpoint": {"path": "contacts", "params": params, "data_selector": "results"},
                }
            ],
        }
    )


def destination(kind, workdir):
    if kind == "duckdb":
        return dlt.destinations.duckdb(credentials=os.path.join(workdir, "dlt.duckdb"))
    if kind == "sqlite":
        return dlt.destinations.sqlalchemy(credentials="sqlite:///" + os.path.join(workdir, "dlt.sqlite"))
    raise SystemExit(f"error: destination {kind!r} is not one of duckdb, sqlite")


def read_back(kind, workdir):
    """Every row as a JSON line to /dev/null, fetched 1,000 at a time; returns the row count."""
    if kind == "duckdb":
        import duckdb

        con = duckdb.connect(os.path.join(workdir, "dlt.duckdb"), read_only=True)
        cur = con.execute(f"SELECT * FROM {DATASET}.{TABLE} ORDER BY _dlt_load_id, _dlt_id")
    else:
        import sqlite3

        con = sqlite3.connect(os.path.join(workdir, "dlt.sqlite"))
        # dlt's sqlalchemy destination attaches the dataset as a schema named after it.
        path = os.path.join(workdir, f"dlt__{DATASET}.sqlite")
        if os.path.exists(path):
            con.execute(f"ATTACH DATABASE '{path}' AS {DATASET}")
            table = f"{DATASET}.{TABLE}"
        else:
            table = TABLE
        cur = con.execute(f"SELECT * FROM {table} ORDER BY _dlt_load_id, _dlt_id")
    names = [d[0] for d in cur.description]
    count = 0
    with open(os.devnull, "w") as sink:
        while True:
            rows = cur.fetchmany(1000)
            if not rows:
                break
            for row in rows:
                sink.write(json.dumps(dict(zip(names, row)), default=str))
                sink.write("\n")
            count += len(rows)
    return count


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", required=True, choices=["full", "resync", "incremental", "read"])
    ap.add_argument("--base-url", help="provider URL (not needed for read)")
    ap.add_argument("--limit", type=int, default=100, help="page size")
    ap.add_argument("--destination", required=True, choices=["duckdb", "sqlite"])
    ap.add_argument("--workdir", required=True, help="holds the pipeline state and the database")
    a = ap.parse_args()

    os.makedirs(a.workdir, exist_ok=True)
    if a.mode == "read":
        print(json.dumps({"mode": a.mode, "destination": a.destination, "rows": {TABLE: read_back(a.destination, a.workdir)}}))
        return
    if not a.base_url:
        sys.exit("error: --base-url is required for mode " + a.mode)
    pipeline = dlt.pipeline(
        pipeline_name="bench",
        pipelines_dir=os.path.join(a.workdir, "pipelines"),
        destination=destination(a.destination, a.workdir),
        dataset_name=DATASET,
    )
    pipeline.run(source(a.base_url, a.limit, incremental=(a.mode != "resync")))
    rows = pipeline.last_trace.last_normalize_info.row_counts
    print(json.dumps({"mode": a.mode, "destination": a.destination, "rows": {k: v for k, v in rows.items() if not k.startswith("_dlt")}}))


if __name__ == "__main__":
    main()
