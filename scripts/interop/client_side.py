"""What both conformance clients (feature_client.py, modern_client.py) answer as the client: a stand-in model
for sampling, a user who picks teal, one root; and how they report names without a gateway's prefix."""
import warnings

from mcp.types import CreateMessageResult, ElicitResult, ListRootsResult, Root, TextContent

warnings.simplefilter("ignore")  # sampling is deprecated in the newest revision, and still offered by servers


async def on_sampling(context, params):
    question = params.messages[0].content.text
    return CreateMessageResult(role="assistant", content=TextContent(type="text", text=f"echo {question}"),
                               model="stand-in-model")


async def on_elicitation(context, params):
    return ElicitResult(action="accept", content={"colour": "teal"})


async def on_roots(context):
    return ListRootsResult(roots=[Root(uri="file:///work/project", name="project")])


CALLBACKS = dict(sampling_callback=on_sampling, elicitation_callback=on_elicitation, list_roots_callback=on_roots)


def strip(prefix, value):
    return value[len(prefix):] if prefix and value.startswith(prefix) else value


def text(result):
    return "".join(getattr(c, "text", "") for c in result.content)
