"""What the staff API's routes depend on: the use cases' inputs and the authenticated caller."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.assignment.domain.unit import Unit
from services.assignment.ports import AssignmentUnitOfWork
from shared.clock import Clock
from shared.staff_auth import Principal


@dataclass(frozen=True)
class AssignmentApi:
    """Set on `app.state.assignment` by the composition root."""

    unit: Unit
    unit_of_work: Callable[[], AssignmentUnitOfWork]
    clock: Clock
    authenticate: Callable[[HTTPAuthorizationCredentials | None], Awaitable[Principal]]
    public_url: str = "http://127.0.0.1:8082"  # where staff reach this API: calendar feed URLs


def assignment_api(request: Request) -> AssignmentApi:
    """The service's API dependencies."""
    api: AssignmentApi = request.app.state.assignment
    return api


_bearer = HTTPBearer(auto_error=False, description="JWT with claims `sub` and `roles`")


async def caller(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    """The caller's principal; 401 without a valid bearer token."""
    return await assignment_api(request).authenticate(credentials)


Api = Annotated[AssignmentApi, Depends(assignment_api)]
Caller = Annotated[Principal, Depends(caller)]
