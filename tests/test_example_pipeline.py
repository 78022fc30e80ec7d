import shutil

import openai
import pytest

from resummarize.cli import main
from resummarize.testing import FaultPlan


def test_pipeline_survives_a_flaky_provider(fake_openai_factory) -> None:  # type: ignore[no-untyped-def]
    fake = fake_openai_factory(faults=FaultPlan.sequence(["http_503"]))  # the first request fails
    client = openai.OpenAI(base_url=fake.base_url, api_key=fake.api_key, max_retries=2)
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content and fake.count(status=503) == 1


def test_digest_repair_offline(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    shutil.copyfile("seeds/2026-01-28-cs.LG.md", tmp_path / "digest.md")
    monkeypatch.delenv("MODEL_NAME", raising=False)
    args = [str(tmp_path / "digest.md"), "--language", "English"]
    assert main(["repair", *args, "--replay", "cassettes/seed", "--cache", str(tmp_path / "j.db")]) == 0
    assert main(["scan", *args]) == 0
