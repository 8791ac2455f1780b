"""SQLite files are created at start, not migrated: a file from an older release still opens."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, inspect, text

from gateway.db import make_engine


def test_a_ledger_from_before_the_background_column_gets_it_with_old_rows_kept(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    make_engine(url).dispose()
    old = create_engine(url)
    with old.begin() as conn:  # the ledger as it was before migration 0005, with a row
        conn.execute(text("ALTER TABLE ledger DROP COLUMN background"))
        conn.execute(
            text(
                "INSERT INTO ledger (request_id, attempt, ts, tenant, endpoint, requested_model,"
                " status, outcome, input_tokens, cached_input_tokens, output_tokens,"
                " reasoning_tokens, audio_input_tokens, cached_audio_input_tokens,"
                " audio_output_tokens, image_input_tokens, tool_calls, cost_nanos, latency_ms,"
                " estimated, unpriced, stream) VALUES ('req_old', 1, '2026-01-01 00:00:00',"
                " 't', 'responses', 'm', 200, 'completed', 0, 0, 0, 0, 0, 0, 0, 0, '{}', 0, 0,"
                " 0, 0, 0)"
            )
        )
    old.dispose()
    engine = make_engine(url)
    try:
        columns = {c["name"]: c for c in inspect(engine).get_columns("ledger")}
        assert columns["background"]["nullable"] is False
        with engine.connect() as conn:
            row = conn.execute(text("SELECT request_id, background FROM ledger")).one()
        assert tuple(row) == ("req_old", 0)
    finally:
        engine.dispose()


def test_a_ledger_from_before_the_tags_column_gets_it_with_old_rows_untagged(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    make_engine(url).dispose()
    old = create_engine(url)
    with old.begin() as conn:  # the ledger as it was before migration 0006, with a row
        conn.execute(text("ALTER TABLE ledger DROP COLUMN tags"))
        conn.execute(
            text(
                "INSERT INTO ledger (request_id, attempt, ts, tenant, endpoint, requested_model,"
                " status, outcome, input_tokens, cached_input_tokens, output_tokens,"
                " reasoning_tokens, audio_input_tokens, cached_audio_input_tokens,"
                " audio_output_tokens, image_input_tokens, tool_calls, cost_nanos, latency_ms,"
                " estimated, unpriced, stream, background) VALUES ('req_old', 1,"
                " '2026-01-01 00:00:00', 't', 'responses', 'm', 200, 'completed', 0, 0, 0, 0, 0,"
                " 0, 0, 0, '{}', 0, 0, 0, 0, 0, 0)"
            )
        )
    old.dispose()
    engine = make_engine(url)
    try:
        columns = {c["name"]: c for c in inspect(engine).get_columns("ledger")}
        assert columns["tags"]["nullable"] is True
        with engine.connect() as conn:
            row = conn.execute(text("SELECT request_id, tags FROM ledger")).one()
        assert tuple(row) == ("req_old", None)
    finally:
        engine.dispose()
