"""Path parameters shared by routers: Uku's company and client ids."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

_ID_PATTERN = r"^[A-Za-z0-9._:-]+$"

CompanyId = Annotated[
    str, Path(min_length=1, max_length=64, pattern=_ID_PATTERN, description="Uku company id")
]
ClientId = Annotated[
    str, Path(min_length=1, max_length=64, pattern=_ID_PATTERN, description="Uku client id")
]
