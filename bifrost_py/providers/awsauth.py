"""Where a Bedrock provider's AWS credentials come from.

The config's `access_key_id` / `secret_access_key` (/ `session_token`) when given; otherwise
botocore's default chain (AWS_* environment variables, ~/.aws profiles, SSO, container and
instance roles), the same search the AWS CLI and boto3 do, with its automatic refresh of
temporary credentials. The chain can touch the disk and the network (instance metadata), so it
is searched in a worker thread, once, and only refreshed in a thread when it says it must be.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from ..errors import CredentialsRefused


@dataclass(frozen=True, slots=True)
class AWSKeys:
    access_key: str
    secret_key: str
    session_token: str | None = None


class AWSCredentialSource:
    def __init__(self, provider_name: str, access_key: str = "", secret_key: str = "", session_token: str = "") -> None:
        self.provider_name = provider_name
        self._static = AWSKeys(access_key, secret_key, session_token or None) if access_key else None
        self._chain: Any = None
        self._searched = False
        self._lock = asyncio.Lock()

    @property
    def configured(self) -> bool:
        """True when the config names the keys (no search needed)."""
        return self._static is not None

    async def keys(self) -> AWSKeys:
        """The keys to sign with now; raises CredentialsRefused when there are none."""
        if self._static is not None:
            if not self._static.secret_key:
                raise CredentialsRefused(f"provider '{self.provider_name}' has access_key_id but no secret_access_key")
            return self._static
        chain = await self._default_chain()
        if chain is None:
            raise CredentialsRefused(
                f"provider '{self.provider_name}' has no AWS credentials: set access_key_id and "
                "secret_access_key, or the AWS environment (AWS_ACCESS_KEY_ID, AWS_PROFILE, a role)"
            )
        refresh_needed = getattr(chain, "refresh_needed", None)
        if refresh_needed is not None and refresh_needed():
            frozen = await asyncio.to_thread(chain.get_frozen_credentials)
        else:
            frozen = chain.get_frozen_credentials()
        return AWSKeys(frozen.access_key, frozen.secret_key, frozen.token)

    async def _default_chain(self) -> Any:
        if not self._searched:
            async with self._lock:
                if not self._searched:
                    self._chain = await asyncio.to_thread(_search_chain)
                    self._searched = True
        return self._chain


def _search_chain() -> Any:
    import botocore.session

    return botocore.session.get_session().get_credentials()
