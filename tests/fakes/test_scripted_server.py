"""The scripted fake server answers like an OpenAI-compatible server and records what it got."""

import httpx

from tests.fakes.scripted_server import (
    ScriptedReply,
    ScriptedServer,
    prefer_longer_answer_script,
    response_sections,
    sequence_script,
)

PROMPT = (
    "[INST] sys\n###Task Description:\n...\n\n###Instruction:\nq\n\n###Response A:\nshort\n\n"
    "###Response B:\na longer answer\n\n###Score Rubric:\n[r]\n\n###Feedback:  [/INST]"
)


def test_completions_chat_and_models() -> None:
    with ScriptedServer(lambda prompt: f"echo {len(prompt)}") as server:
        completion = httpx.post(f"{server.base_url}/completions", json={"model": "m", "prompt": "hello"}).json()
        chat = httpx.post(f"{server.base_url}/chat/completions",
                          json={"model": "m", "messages": [{"role": "user", "content": "hi"}]}).json()
        models = httpx.get(f"{server.base_url}/models").json()
    assert completion["choices"][0]["text"] == "echo 5"
    assert chat["choices"][0]["message"]["content"] == "echo 2"
    assert models["data"][0]["owned_by"] != "vllm"
    assert [r.path for r in server.requests] == ["/v1/completions", "/v1/chat/completions"]


def test_logprobs_errors_and_sequences() -> None:
    reply = ScriptedReply(text=" [RESULT] A", logprobs=((" [RESULT]", {" [RESULT]": -0.1}),
                                                        (" A", {" A": -0.2, " B": -1.9})))
    script = sequence_script([ScriptedReply(text="overloaded", status=503), reply])
    with ScriptedServer(script) as server:
        first = httpx.post(f"{server.base_url}/completions", json={"prompt": "p", "logprobs": 2})
        second = httpx.post(f"{server.base_url}/completions", json={"prompt": "p", "logprobs": 2}).json()
    assert first.status_code == 503
    assert second["choices"][0]["logprobs"]["top_logprobs"][1] == {" A": -0.2, " B": -1.9}


def test_prometheus_helpers() -> None:
    assert response_sections(PROMPT) == ("short", "a longer answer")
    assert prefer_longer_answer_script(PROMPT).endswith("[RESULT] B")
