"""hgsync's engine: everything between the files an operator writes and the connectors.

Sub-packages, each importing only from those below it (tests/test_architecture.py checks):

    cli          the `hgsync` command
    service      the daemon: schedules, live reload, status server
    outbound     a run, marketplace → HG: plan, spool, diff, deliver
    inbound      HG → marketplace: receive, inbox, apply
    ── connectors (sources, sinks, hepsiglobal), outside this package ──
    definitions  the files: YAML with positions, config and pipeline models, the loader
    mapping      sandboxed Jinja rendering and its filters
    store        the state store
    errors, logging, signals, http_server    the kernel, imported by all
"""
