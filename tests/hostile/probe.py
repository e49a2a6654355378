"""Runs one family of the hostile corpus in this process, under a memory cap, printing one
JSON line per case: ``python -m tests.hostile.probe templates|yaml HOME``.

Before each case a ``{"start": id}`` line is printed and a watchdog armed
(``faulthandler.dump_traceback_later``): a case that hangs, even holding the GIL in C code,
ends this process with the stacks on stderr, and the test reports that case as hung.
"""

from __future__ import annotations

import faulthandler
import json
import resource
import sys
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tests.hostile import corpus

CASE_SECONDS = 30  # a watchdog against hangs, far above what any case takes
MEMORY_BYTES = 2 * 1024**3

CONFIG = """\
connections:
  marketplace: sqlite:///marketplace.db
targets:
  hepsiglobal:
    base_url: http://127.0.0.1:9
    client_id: test-client
    client_secret: not-a-secret
state: sqlite:///state/state.db
"""


def _templates(home: Path) -> Iterator[tuple[str, Callable[[], dict[str, Any]]]]:
    from engine.mapping.render import RenderError, RowValues, Structure, TemplateSyntaxError

    def case(request: dict[str, Any]) -> dict[str, Any]:
        try:
            Structure.compile(request).render({"row": RowValues(corpus.ROW)})
        except RenderError as exc:
            return {"outcome": "row_error", "message": str(exc)}
        except TemplateSyntaxError as exc:
            return {"outcome": "located", "message": f"{exc.lineno}: {exc.message}"}
        return {"outcome": "rendered"}

    for case_id, request in corpus.templates().items():
        yield case_id, lambda r=request: case(r)


def _yaml(home: Path) -> Iterator[tuple[str, Callable[[], dict[str, Any]]]]:
    from click.testing import CliRunner

    from engine.cli.commands import main

    (home / "config").mkdir(parents=True, exist_ok=True)
    (home / "pipelines").mkdir(exist_ok=True)

    def case(case_id: str, content: str | bytes) -> dict[str, Any]:
        config = home / "config" / "hgsync.yaml"
        pipeline = home / "pipelines" / "case.yaml"
        data = content.encode("utf-8") if isinstance(content, str) else content
        if case_id.startswith("config-"):
            config.write_bytes(data)
            pipeline.write_text(corpus.BASE)
        else:
            config.write_text(CONFIG)
            pipeline.write_bytes(data)
        result = CliRunner().invoke(main, ["--home", str(home), "validate", "--offline"])
        crashed = result.exception is not None and not isinstance(result.exception, SystemExit)
        return {
            "outcome": "crash" if crashed else "exit",
            "exit": result.exit_code,
            "stdout": "\n".join(result.stdout.splitlines()[:60]),
            "stderr": result.stderr[-2000:],
            "message": "".join(traceback.format_exception(result.exception)) if crashed else "",
        }

    yield "baseline", lambda: case("baseline", corpus.BASE)
    for case_id, (content, _) in corpus.yaml_files().items():
        yield case_id, lambda i=case_id, c=content: case(i, c)


FAMILIES = {"templates": _templates, "yaml": _yaml}


def main(family: str, home: str) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    for case_id, run in FAMILIES[family](Path(home)):
        print(json.dumps({"start": case_id}), flush=True)
        faulthandler.dump_traceback_later(CASE_SECONDS, exit=True)
        try:
            result = run()
        except BaseException as exc:  # noqa: BLE001 - every escape is a finding, reported by the test
            result = {"outcome": "crash", "message": "".join(traceback.format_exception(exc))[-4000:]}
        finally:
            faulthandler.cancel_dump_traceback_later()
        print(json.dumps({"id": case_id, **result}), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:3])
