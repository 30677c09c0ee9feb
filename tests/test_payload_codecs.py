"""Payload codecs through a real service: encrypted runs leave no plaintext in the database,
keys rotate, a wrong or missing key fails with a clear error."""

from __future__ import annotations

import base64
import json
import dataclasses
from pathlib import Path
from typing import Any, Generator, Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from postgrip_agent import Agent, Client, activity, workflow
from postgrip_agent.converter import ENVELOPE_KEY, DataConverter, EncryptionCodec, PayloadConversionError, ZlibCodec
from postgrip_agent.server import LocalServer

from .conftest import postgres_db

SECRET_ARG = "TOPSECRET-ARGUMENT-4111111111111111"
SECRET_RESULT = "TOPSECRET-RESULT-CARD-ON-FILE"
SECRET_MEMO = "TOPSECRET-MEMO-NOTE"


@dataclasses.dataclass
class Card:
    holder: str
    number: str


@activity.defn
def charge(card: Card) -> Card:
    assert isinstance(card, Card)
    activity.heartbeat(card)
    return Card(card.holder, SECRET_RESULT)


@workflow.defn
class Payment:
    @workflow.run
    def run(self, card: Card) -> Generator[Any, Any, Card]:
        assert workflow.memo_value("note") == SECRET_MEMO
        charged = yield workflow.execute_activity(charge, card, start_to_close_timeout=10)
        return charged


KEY_1, KEY_2 = bytes(range(32)), bytes(range(32, 64))


def _converter(key_id: str = "k1", **keys: bytes) -> DataConverter:
    return DataConverter(codecs=[ZlibCodec(), EncryptionCodec(keys or {"k1": KEY_1}, key_id)])


@pytest.fixture(params=["sqlite-file", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite-file":
        yield str(tmp_path / "secret.db")
    else:
        yield from postgres_db()


def _stored_bytes(db: str) -> bytes:
    """Everything the service's database holds: the SQLite file and its log, or every row of every table."""
    if not db.startswith("postgresql"):
        return b"".join(Path(db + suffix).read_bytes() for suffix in ("", "-wal") if Path(db + suffix).exists())
    import psycopg

    schema = parse_qs(urlsplit(db).query)["schema"][0]
    base = db.split("?")[0]
    with psycopg.connect(base, autocommit=True) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,)
            ).fetchall()
        ]
        return "".join(
            str(conn.execute(f"SELECT coalesce(string_agg(t::text, '\n'), '') FROM \"{schema}\".\"{table}\" t").fetchone()[0])
            for table in tables
        ).encode()


def test_an_encrypted_run_leaves_no_plaintext_in_the_database(store: str) -> None:
    with LocalServer(db=store) as server:
        client = Client.connect(server.address, data_converter=_converter())
        with Agent(client, task_queue="pay", workflows=[Payment], activities=[charge]):
            result = client.execute_workflow(
                Payment, Card("Ada", SECRET_ARG), id="pay-1", task_queue="pay", memo={"note": SECRET_MEMO}, timeout=30
            )
        assert result == Card("Ada", SECRET_RESULT)
        stored = _stored_bytes(store)
        assert b"pay-1" in stored  # the rows are there...
        for secret in (SECRET_ARG, SECRET_RESULT, SECRET_MEMO, "Ada"):  # ...and none of the payloads in clear
            assert secret.encode() not in stored, secret
        started = server.engine.history("pay-1")[0].attributes
        envelope = started["args"][0][ENVELOPE_KEY]
        assert envelope["codecs"] == ["zlib", "aes256-gcm"]
        assert base64.b64decode(envelope["data"])[:3] == b"\x02k1"  # the key id travels with the payload


def test_keys_rotate_and_a_wrong_or_missing_key_fails_clearly(tmp_path: Path) -> None:
    with LocalServer(db=str(tmp_path / "rotate.db")) as server:
        old = Client.connect(server.address, data_converter=_converter("k1", k1=KEY_1))
        with Agent(old, task_queue="pay", workflows=[Payment], activities=[charge]):
            old.execute_workflow(
                Payment, Card("Ada", SECRET_ARG), id="before", task_queue="pay", memo={"note": SECRET_MEMO}, timeout=30
            )
        rotated = Client.connect(server.address, data_converter=_converter("k2", k1=KEY_1, k2=KEY_2))
        with Agent(rotated, task_queue="pay", workflows=[Payment], activities=[charge]):
            after = rotated.execute_workflow(
                Payment, Card("Bob", SECRET_ARG), id="after", task_queue="pay", memo={"note": SECRET_MEMO}, timeout=30
            )
        assert after == Card("Bob", SECRET_RESULT)
        assert rotated.get_workflow_handle("before", result_type=Card).result(timeout=10) == Card("Ada", SECRET_RESULT)
        new_envelope = server.engine.history("after")[0].attributes["args"][0][ENVELOPE_KEY]
        assert base64.b64decode(new_envelope["data"])[:3] == b"\x02k2"

        retired = Client.connect(server.address, data_converter=_converter("k2", k2=KEY_2))
        with pytest.raises(PayloadConversionError, match="key 'k1', which this EncryptionCodec does not have"):
            retired.get_workflow_handle("before", result_type=Card).result(timeout=10)
        wrong = Client.connect(server.address, data_converter=_converter("k1", k1=KEY_2))
        with pytest.raises(PayloadConversionError, match="could not be decrypted with key 'k1'"):
            wrong.get_workflow_handle("before", result_type=Card).result(timeout=10)
        plain = Client.connect(server.address)
        with pytest.raises(PayloadConversionError, match="encoded with zlib, aes256-gcm; give this client a DataConverter"):
            plain.get_workflow_handle("before").result(timeout=10)


def test_bad_codec_settings_are_refused_with_the_fix() -> None:
    with pytest.raises(ValueError, match="must be 32 bytes"):
        EncryptionCodec({"k1": b"short"}, "k1")
    with pytest.raises(ValueError, match="key_id 'k9' is not one of the keys"):
        EncryptionCodec({"k1": KEY_1}, "k9")
    with pytest.raises(ValueError, match="level must be an integer 1..9"):
        ZlibCodec(level=0)
    with pytest.raises(TypeError, match="data_converter must be a postgrip_agent.converter.DataConverter"):
        Client.connect("http://127.0.0.1:1", data_converter="aes", check_health=False)  # type: ignore[arg-type]


KEYS_MODULE = """
from postgrip_agent.converter import DataConverter, EncryptionCodec, ZlibCodec

converter = DataConverter(codecs=[ZlibCodec(), EncryptionCodec({"k1": bytes(range(32))}, "k1")])
"""


def test_the_cli_shows_an_encrypted_result_as_stored_unless_given_the_codec(tmp_path: Path) -> None:
    from .test_cli import cli

    (tmp_path / "payload_keys.py").write_text(KEYS_MODULE)
    with LocalServer(db=str(tmp_path / "cli.db")) as server:
        client = Client.connect(server.address, data_converter=_converter())
        with Agent(client, task_queue="pay", workflows=[Payment], activities=[charge]):
            client.execute_workflow(
                Payment, Card("Ada", SECRET_ARG), id="cli-pay", task_queue="pay", memo={"note": SECRET_MEMO}, timeout=30
            )
        shown = cli("workflow", "watch", "cli-pay", "-o", "json", address=server.address, cwd=tmp_path)
        assert SECRET_RESULT not in shown.stdout and ENVELOPE_KEY in shown.stdout, shown.stdout
        assert "shown as stored" in shown.stderr and "encoded with zlib, aes256-gcm" in shown.stderr, shown.stderr
        assert "--data-converter MODULE:NAME" in shown.stderr
        opened = cli(
            "workflow",
            "watch",
            "cli-pay",
            "-o",
            "json",
            "--data-converter",
            "payload_keys:converter",
            address=server.address,
            cwd=tmp_path,
        )
        assert json.loads(opened.stdout) == {"holder": "Ada", "number": SECRET_RESULT}
        refused = cli(
            "workflow", "watch", "cli-pay", "--data-converter", "payload_keys", address=server.address, cwd=tmp_path, check=2
        )
        assert "give MODULE:NAME" in refused.stderr and "Traceback" not in refused.stderr


def test_an_encrypted_history_replays_with_its_converter(tmp_path: Path) -> None:
    from postgrip_agent.replayer import Replayer

    with LocalServer(db=str(tmp_path / "replay.db")) as server:
        client = Client.connect(server.address, data_converter=_converter())
        with Agent(client, task_queue="pay", workflows=[Payment], activities=[charge]):
            client.execute_workflow(
                Payment, Card("Ada", SECRET_ARG), id="replayed", task_queue="pay", memo={"note": SECRET_MEMO}, timeout=30
            )
        history = client.get_workflow_handle("replayed").fetch_history()
    assert Replayer(workflows=[Payment], data_converter=_converter()).replay_workflow(history).error is None
    failed = Replayer(workflows=[Payment]).replay_workflow(history, raise_on_failure=False).error
    assert failed is not None and "encoded with zlib, aes256-gcm" in str(failed), failed
