"""Admin routes for an EditableSection (configstore.py): the entries of one list of a plugin's
config section, the file's read-only and the ones added here editable, in evaluation order.

    GET    PATH            every entry in evaluation order, each with `source` ("config" or
                           "ui"), `read_only`, `position` and `problems` (a stored entry that no
                           longer validates, e.g. its provider was deleted, is left out of service)
    POST   PATH            add an entry (last of the ones added here); 400 listing the problems,
                           worded as `bifrost-py check` words them for the file
    PUT    PATH            {"order": [names]}: the order of the entries added here
    GET    PATH/{name}     one entry
    PUT    PATH/{name}     replace an entry's settings (it keeps its place)
    DELETE PATH/{name}     delete an entry added here

Every change is in service for the next request when the answer comes back; the audit log gets
each with the GET of its path before and after (routes.add_snapshots).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..configstore import ChangeRefused, EditableSection
from . import AdminRoute
from .guard import Handler
from .helpers import AdminError, json_body, json_response


def refused(exc: ChangeRefused) -> AdminError:
    """A refused change in the admin error shape, its problems listed when there are several."""
    extra: dict[str, Any] = {"problems": exc.problems} if exc.problems else {}
    return AdminError(exc.status, str(exc), **extra)


def editable_routes(editable: EditableSection[Any], path: str, *, plural: str, order: str, body: dict[str, Any],
                    hint: str, tag: str) -> list[AdminRoute]:
    """The six routes above for `editable` under `path` (below /api); `plural` is the list's
    key in answers, `order` says in words how the entries are evaluated."""
    field = editable.shape.name_field
    what = editable.shape.kind
    item = f"{path}/{{{field}}}"

    def listing() -> dict[str, Any]:
        return {plural: editable.view(), "order": order, "editable": True}

    async def listed(request: web.Request) -> web.StreamResponse:
        return json_response(listing())

    async def created(request: web.Request) -> web.StreamResponse:
        return json_response(await editable.create(await json_body(request, hint=hint)), status=201)

    async def reordered(request: web.Request) -> web.StreamResponse:
        await editable.reorder((await json_body(request, hint='{"order": ["name", ...]}')).get("order"))
        return json_response(listing())

    async def shown(request: web.Request) -> web.StreamResponse:
        return json_response(editable.one(request.match_info[field]))

    async def changed(request: web.Request) -> web.StreamResponse:
        return json_response(await editable.update(request.match_info[field], await json_body(request, hint=hint)))

    async def deleted(request: web.Request) -> web.StreamResponse:
        await editable.delete(request.match_info[field])
        return json_response({"deleted": request.match_info[field]})

    order_body = {"type": "object", "required": ["order"], "properties": {"order": {"type": "array",
                                                                                     "items": {"type": "string"}}}}
    return [
        AdminRoute("GET", path, answering(listed), f"{what.capitalize()} in evaluation order (config file's first)",
                   tag=tag),
        AdminRoute("POST", path, answering(created), f"Add {what[:-1]}; in service for the next request",
                   body=body, tag=tag, names=field),
        AdminRoute("PUT", path, answering(reordered), f"Order the {what} added here", body=order_body, tag=tag),
        AdminRoute("GET", item, answering(shown), f"One of the {what}", tag=tag),
        AdminRoute("PUT", item, answering(changed), f"Replace one of the {what} added here", body=body, tag=tag),
        AdminRoute("DELETE", item, answering(deleted), f"Delete one of the {what} added here", tag=tag),
    ]


def answering(handler: Handler) -> Handler:
    """`handler` with a ChangeRefused answered in the admin error shape."""
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except ChangeRefused as exc:
            raise refused(exc) from None

    return wrapped
