"""The no-change pass: a row whose digest was saved with its delivered key is unchanged
without being rendered; anything of the pipeline's definition changing renders every row again."""

from __future__ import annotations

import sqlite3

from tests.conftest import CANCEL_PIPELINE, CONFIG


def _digests(project) -> dict[str, str | None]:
    db = sqlite3.connect(project.home / "state" / "state.db")
    try:
        return dict(db.execute("SELECT key, source_digest FROM hgsync_deliveries"))
    finally:
        db.close()


def _set(project, sql: str) -> None:
    db = sqlite3.connect(project.home / "state" / "state.db")
    try:
        db.execute(sql)
        db.commit()
    finally:
        db.close()


def test_a_row_with_its_saved_digest_is_unchanged_without_rendering(cancels, sandbox):
    project = cancels(30, mode="upsert")
    assert project.cli("run", "cancels").exit_code == 0
    saved = _digests(project)
    assert len(saved) == 30 and all(saved.values())
    # were the rows rendered, every stored fingerprint that differs would make them "changed"
    _set(project, "UPDATE hgsync_deliveries SET fingerprint = 'not-this-request'")
    second = project.cli("run", "cancels")
    assert second.exit_code == 0, second.output
    assert "unchanged 30" in second.output and "sent 0" in second.output


def test_a_changed_row_is_found_and_only_it_sent(cancels, sandbox):
    project = cancels(30, mode="upsert")
    assert project.cli("run", "cancels").exit_code == 0
    before = _digests(project)
    sandbox.reset()
    project.sql("UPDATE cancels SET reason = 'late_shipment' WHERE id = 7")
    result = project.cli("run", "cancels")
    assert result.exit_code == 0, result.output
    assert "changed 1" in result.output and "unchanged 29" in result.output
    assert [r["body"]["reason"] for r in sandbox.records("cancel_order_item")] == ["late_shipment"]
    after = _digests(project)
    changed = [key for key in after if after[key] != before[key]]
    assert changed == ["100002_HBV00000007"]


def test_a_template_change_renders_every_row_again(cancels, sandbox):
    project = cancels(30, mode="upsert")
    assert project.cli("run", "cancels").exit_code == 0
    before = _digests(project)
    sandbox.reset()
    # the same requests from another template: all unchanged, every digest saved anew
    project.pipeline(
        "cancels", (CANCEL_PIPELINE % "upsert").replace("{{ row.reason }}", "{{ row.reason | trim }}")
    )
    same = project.cli("run", "cancels")
    assert "unchanged 30" in same.output, same.output
    after = _digests(project)
    assert all(after[key] and after[key] != before[key] for key in before)
    # another template: the rows it changes are sent, though the source did not change
    project.pipeline(
        "cancels",
        (CANCEL_PIPELINE % "upsert").replace(
            "{{ row.reason }}", "{{ 'late_shipment' if row.sku == 'HBV00000003' else row.reason }}"
        ),
    )
    changed = project.cli("run", "cancels")
    assert changed.exit_code == 0, changed.output
    assert "changed 1" in changed.output and "unchanged 29" in changed.output
    assert len(sandbox.records("cancel_order_item")) == 1


def test_an_operation_corrected_in_config_renders_every_row_again(cancels, sandbox):
    project = cancels(10, mode="upsert")
    assert project.cli("run", "cancels").exit_code == 0
    before = _digests(project)
    project.write_config(
        CONFIG.format(url=sandbox.url).replace(
            "    rate_limit: null\n",
            "    rate_limit: null\n    operations:\n"
            "      cancel_order_item: {path: '/v1/orders/{order_number}/items/{order_item_number}'}\n",
        )
    )
    result = project.cli("run", "cancels")
    assert result.exit_code == 0, result.output
    assert "unchanged 10" in result.output  # the fingerprint leaves the concrete path out
    after = _digests(project)
    assert all(after[key] and after[key] != before[key] for key in before)


def test_a_store_without_digests_gets_them_from_a_run_that_renders(cancels, sandbox):
    project = cancels(20, mode="upsert")
    assert project.cli("run", "cancels").exit_code == 0
    _set(project, "UPDATE hgsync_deliveries SET source_digest = NULL")  # as an older hgsync left it
    plan = project.cli("plan", "cancels")
    assert "20  unchanged" in plan.output
    assert not any(_digests(project).values())  # plan writes nothing
    assert "unchanged 20" in project.cli("run", "cancels").output
    assert all(_digests(project).values())


def test_duplicate_keys_are_found_among_rows_not_rendered(cancels, sandbox):
    project = cancels(10, mode="upsert")
    assert project.cli("run", "cancels").exit_code == 0
    project.sql("INSERT INTO cancels SELECT 11, order_number, sku, reason FROM cancels WHERE id = 4")
    result = project.cli("run", "cancels")
    assert result.exit_code == 1
    assert "cancels(id=11) key '100001_HBV00000004': duplicate key" in result.output
    assert "cancels(id=4) key '100001_HBV00000004': duplicate key" in result.output


def test_a_key_sent_again_loses_its_digest_until_delivered(cancels, sandbox):
    from connectors.hepsiglobal.sandbox import Faults

    project = cancels(10, mode="upsert")
    assert project.cli("run", "cancels").exit_code == 0
    project.sql("UPDATE cancels SET reason = 'late_shipment' WHERE id = 2")
    sandbox.set_faults(Faults(rate_500=1.0))
    assert project.cli("run", "cancels").exit_code == 1
    assert _digests(project)["100000_HBV00000002"] is None  # failed: nothing to skip it by
    # the row going back to what HG last accepted is not taken as delivered on its old digest
    project.sql("UPDATE cancels SET reason = 'customer_demand' WHERE id = 2")
    sandbox.set_faults(Faults())
    result = project.cli("run", "cancels")
    assert result.exit_code == 0, result.output
    assert _digests(project)["100000_HBV00000002"] is not None


def test_a_duplicate_read_before_the_row_it_repeats_is_found(cancels, sandbox):
    project = cancels(10, mode="upsert")
    assert project.cli("run", "cancels").exit_code == 0
    # id 0 comes first, is rendered (its digest is new) and has the key of id 4, not rendered
    project.sql("INSERT INTO cancels SELECT 0, order_number, sku, reason FROM cancels WHERE id = 4")
    sandbox.reset()
    result = project.cli("run", "cancels")
    assert result.exit_code == 1
    assert "cancels(id=0) key '100001_HBV00000004': duplicate key" in result.output
    assert "cancels(id=4) key '100001_HBV00000004': duplicate key" in result.output
    assert "unchanged 9" in result.output and sandbox.records() == []


def test_identical_rows_not_rendered_are_duplicates(cancels, sandbox):
    project = cancels(10, mode="upsert")
    query = "query: SELECT order_number, sku, reason FROM cancels ORDER BY id"
    project.pipeline("cancels", (CANCEL_PIPELINE % "upsert").replace("table: cancels", query))
    assert project.cli("run", "cancels").exit_code == 0
    assert "unchanged 10" in project.cli("run", "cancels").output  # digests saved, none rendered
    # the very same values twice: one digest, one key, both rows held back
    project.sql("INSERT INTO cancels SELECT 11, order_number, sku, reason FROM cancels WHERE id = 4")
    sandbox.reset()
    result = project.cli("run", "cancels")
    assert result.exit_code == 1
    assert result.output.count("key '100001_HBV00000004': duplicate key") == 2, result.output
    assert "unchanged 9" in result.output and sandbox.records() == []


def test_beyond_the_digests_held_in_memory_they_are_looked_up_by_chunk(cancels, sandbox, monkeypatch):
    from engine.outbound import plan

    monkeypatch.setattr(plan, "DIGEST_MAP_LIMIT", 3)
    project = cancels(10, mode="upsert")
    assert project.cli("run", "cancels").exit_code == 0
    _set(project, "UPDATE hgsync_deliveries SET fingerprint = 'not-this-request'")
    assert "unchanged 10" in project.cli("run", "cancels").output  # not rendered, as with the map
    project.sql("UPDATE cancels SET reason = 'late_shipment' WHERE id = 7")
    project.sql("INSERT INTO cancels SELECT 11, order_number, sku, reason FROM cancels WHERE id = 4")
    sandbox.reset()
    result = project.cli("run", "cancels")
    assert result.exit_code == 1
    assert "cancels(id=4) key '100001_HBV00000004': duplicate key" in result.output
    assert [r["body"]["reason"] for r in sandbox.records("cancel_order_item")] == ["late_shipment"]
