from tests.support import fake_provider as fp


async def test_json_and_stream_roundtrip(fakes, gateway):
    (p1,) = await fakes("p1")
    gw = await gateway({"p1": p1})
    reply = await gw.responses()
    assert reply.status == 200, reply.body
    assert reply.text == "hello"
    p1.always(fp.stream_ok("streamed text"))
    reply = await gw.responses(stream=True)
    assert reply.status == 200, reply.body
    assert reply.text == "streamed text"
    assert reply.event_types[-1] == "response.completed"
