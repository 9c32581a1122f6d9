"""Declarative base with a constraint naming convention, so migrations are static and stable."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, ClassVar, cast

from sqlalchemy import DateTime, MetaData, Table, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_N_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dt.datetime: DateTime(timezone=True),
        dict[str, Any]: JSONB,
        list[Any]: JSONB,
    }


def table_of(model: type[Base]) -> Table:
    """A model's table, for Core statements: a multi-row insert through the table is one
    statement, where the ORM's bulk insert of a model with server defaults goes row by row."""
    return cast(Table, model.__table__)


def new_id() -> uuid.UUID:
    return uuid.uuid4()


class UuidPrimaryKey:
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)


class CreatedAt:
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())


class Timestamps(CreatedAt):
    updated_at: Mapped[dt.datetime] = mapped_column(server_default=func.now(), onupdate=func.now())
