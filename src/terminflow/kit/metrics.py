"""Prometheus metrics every process counts, summed over processes by ``/metrics``.

With ``TERMINFLOW_METRICS_TOKEN`` set, settings points ``PROMETHEUS_MULTIPROC_DIR`` at
``<data folder>/metrics`` before anything imports ``prometheus_client``, so each web and worker
process writes its counters to its own memory-mapped file there and any web process sums them
all when scraped. Without a token the counters stay in process memory and nobody reads them.

Counters and histograms live here; figures that are a state of the database (backlogs, the
oldest pending push, heartbeats) are read at scrape time by ``terminflow.health`` instead, so
they are right whichever process answers.

Hot paths count per batch, not per item (``inc(n)``): a multiprocess increment takes a lock
and writes to the mapped file.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

WEB_PUSHES = Counter(
    "terminflow_web_pushes_received",
    "Web push requests answered, by outcome "
    "(stored, repeat, unknown_token, unreadable, unsupported_charset, too_large, timeout, "
    "error).",
    ["outcome"],
)
INBOX_PROCESSED = Counter(
    "terminflow_inbox_processed",
    "Inbox rows processed, by the status they ended in (processed, ignored, failed, retry).",
    ["status"],
)
INBOX_BATCH_SECONDS = Histogram(
    "terminflow_inbox_batch_seconds",
    "Time to process one batch of inbox rows (read, parse, look up, apply, commit).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
INBOX_LAG_SECONDS = Histogram(
    "terminflow_inbox_lag_seconds",
    "From a web push being stored to its processing being committed.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
)
RUNS_EXECUTED = Counter(
    "terminflow_runs_executed", "Campaign runs executed by the worker.", ["kind"]
)
RUN_LATENESS_SECONDS = Histogram(
    "terminflow_run_lateness_seconds",
    "How late a run fired after its due time.",
    buckets=(0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0),
)
EMAILS = Counter(
    "terminflow_emails",
    "Outbox emails by what happened (sent, failed, bounced, retry, server_down, cancelled).",
    ["outcome"],
)
ETERMIN_API_CALLS = Counter(
    "terminflow_etermin_api_calls", "Calls to eTermin's API, by endpoint.", ["endpoint"]
)
ETERMIN_API_ERRORS = Counter(
    "terminflow_etermin_api_errors",
    "Calls to eTermin's API that failed (network, timeout, error status), by endpoint.",
    ["endpoint"],
)
ETERMIN_SYNC = Counter(
    "terminflow_etermin_sync",
    "Appointments the eTermin sync checked, and the differences it queued (created, "
    "modified, deleted); failed counts sync runs that failed.",
    ["result"],
)
TRACKING_HITS = Counter(
    "terminflow_tracking_hits",
    "Opens and clicks recorded, by kind (open, click) and by whom (human, bot).",
    ["kind", "by"],
)

# Known label values start at 0 in every process, so a series exists before its first event
# (an alert on the rate of failed emails then works from the start).
for _outcome in (
    "stored",
    "repeat",
    "unknown_token",
    "unreadable",
    "unsupported_charset",
    "too_large",
    "timeout",
    "error",
):
    WEB_PUSHES.labels(_outcome)
for _status in ("processed", "ignored", "failed"):
    INBOX_PROCESSED.labels(_status)
for _outcome in ("sent", "failed", "bounced", "retry", "server_down", "cancelled"):
    EMAILS.labels(_outcome)
for _result in ("checked", "created", "modified", "deleted", "failed"):
    ETERMIN_SYNC.labels(_result)
RUNS_EXECUTED.labels("all")
for _kind in ("open", "click"):
    for _by in ("human", "bot"):
        TRACKING_HITS.labels(_kind, _by)
