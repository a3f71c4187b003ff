"""One call from parsed body to finished response: the request hooks and the attempt loop.

The order of events is documented in hookspecs.py. Each attempt is an `Exchange` (exchange.py),
which settles itself; this module decides which target comes next and makes sure the call ends
once: `request_end` runs for every call, after all its attempts settled, whatever happened.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from aiohttp import web

from .answers import CLIENT_CLOSED, Responder
from .context import COUNT_TOKENS, Advice, Attempt, Call
from .counting import count_tokens
from .errors import GatewayError, NotFound, UpstreamUnavailable
from .exchange import Exchange

if TYPE_CHECKING:
    from .gateway import Gateway

log = logging.getLogger("bifrost_py.pipeline")


class Pipeline:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.dispatch = gateway.dispatcher

    async def handle(self, call: Call, request: web.Request) -> web.StreamResponse:
        """Answer `call`. Never raises but for cancellation (the client hung up)."""
        try:
            return await self._answer(call, Responder(call, request))
        finally:
            if self.dispatch.ends_requests:
                await self.gateway.finish(self.dispatch.request_end(call))

    async def _answer(self, call: Call, responder: Responder) -> web.StreamResponse:
        try:
            if call.error is not None:
                raise call.error
            reply = await self.dispatch.request_start(call)
            if reply is not None:
                return await responder.reply(reply, None)
            targets = await self.dispatch.route(call, self.gateway.resolve(call.model))
            if not targets:
                raise NotFound(f"model '{call.model}' is not served by any configured provider")
            call.targets = targets
            if call.endpoint == COUNT_TOKENS:
                return await count_tokens(self.gateway, call, responder, targets[0])
            return await self._attempts(call, responder)
        except GatewayError as error:
            call.error = error
            return await responder.error(error, call.last_attempt)
        except ConnectionError:
            call.error = GatewayError("the client closed the connection", status=CLIENT_CLOSED)
            return responder.response or web.Response(status=CLIENT_CLOSED)
        except Exception as exc:
            # A bug (ours or a plugin's): still an answer in the caller's dialect, and logged.
            log.exception("request %s failed inside the gateway", call.request_id)
            call.error = GatewayError(f"internal gateway error ({type(exc).__name__}); see the gateway's log "
                                      f"for request {call.request_id}")
            return await responder.error(call.error, call.last_attempt)

    async def _attempts(self, call: Call, responder: Responder) -> web.StreamResponse:
        queue = list(call.targets)
        while queue:
            target = queue.pop(0)
            attempt = Attempt(call=call, target=target, number=len(call.attempts) + 1)
            call.attempts.append(attempt)
            response = await Exchange(self.gateway, attempt, responder).run()
            if response is not None:
                return response
            error = attempt.outcome.error
            if error is None or error.final:
                break
            advice = await self.dispatch.should_fall_back(attempt)
            if advice is None:
                advice = Advice(Advice.NEXT if attempt.outcome.refused_by else Advice.STOP)
            if advice.action == Advice.STOP:
                break
            if advice.action == Advice.RETRY:
                queue.insert(0, advice.target or target)
            if not queue:
                break
            if advice.delay > 0:
                if call.deadline is not None and time.perf_counter() + advice.delay > call.deadline:
                    break
                await asyncio.sleep(advice.delay)
        raise final_error(call)


def final_error(call: Call) -> GatewayError:
    """The last attempt's error; after several attempts, its message lists them all. A copy:
    each attempt's own error stays as it was logged."""
    errors = [a.outcome.error for a in call.attempts if a.outcome.error is not None]
    last = errors[-1] if errors else UpstreamUnavailable("no attempt could be made")
    if len(call.attempts) < 2:
        return last
    listed = "; ".join(
        f"#{a.number} {a.target}: {a.outcome.status} {a.outcome.error.type if a.outcome.error else ''}"
        f" ({a.outcome.error.message if a.outcome.error else 'ok'})"
        for a in call.attempts
    )
    return last.with_message(f"all {len(call.attempts)} attempts failed: {listed}")
