"""National do-not-call registry copies over the wire: a load's answer, the load history."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import Field

from api.schemas.base import ReadModel
from api.schemas.leads import RowErrorRead
from dialer.compliance.registry import Registry, copy_age_days
from dialer.runtime.registry import RegistryLoadResult
from dialer.storage.records import StoredRegistryLoad

__all__ = ["RegistryCopyRead", "RegistryLoadRead"]


class RegistryLoadRead(ReadModel):
    """What a registry upload did. Its copy is in force when this answer is sent."""

    id: str
    registry: Registry = Field(description="us: US National DNC Registry; uk: TPS; ca: DNCL")
    name: str
    count: int = Field(description="distinct numbers in force from this copy")
    rejected: list[RowErrorRead] = Field(
        description="the first 1,000 lines that are not numbers; `row` is the line number"
    )
    rejected_count: int = Field(description="every line that is not a number")
    duplicates: int = Field(description="number lines that repeat an earlier one")
    lines: int
    header: str | None = Field(description="a first line taken for a header and skipped")
    published_on: date
    loaded_at: datetime
    sha256: str = Field(description="of the file as uploaded")

    @classmethod
    def of(cls, result: RegistryLoadResult) -> RegistryLoadRead:
        load = result.load
        return cls(
            id=load.id,
            registry=load.registry,
            name=load.name,
            count=load.count,
            rejected=[
                RowErrorRead(row=bad.line, phone=bad.text, reason=bad.reason)
                for bad in result.rejected
            ],
            rejected_count=result.rejected_count,
            duplicates=load.duplicates,
            lines=result.lines,
            header=result.header,
            published_on=load.published_on,
            loaded_at=load.loaded_at,
            sha256=load.sha256,
        )


class RegistryCopyRead(ReadModel):
    """One load in the history; ``current`` is the copy in force for its registry."""

    id: str
    registry: Registry
    name: str
    count: int
    rejected_count: int
    duplicates: int
    published_on: date
    loaded_at: datetime
    replaced_at: datetime | None
    current: bool
    age_days: float = Field(description="days since the start (UTC) of published_on, now")
    sha256: str

    @classmethod
    def of(cls, load: StoredRegistryLoad, wall_epoch: float) -> RegistryCopyRead:
        return cls(
            id=load.id,
            registry=load.registry,
            name=load.name,
            count=load.count,
            rejected_count=load.rejected_count,
            duplicates=load.duplicates,
            published_on=load.published_on,
            loaded_at=load.loaded_at,
            replaced_at=load.replaced_at,
            current=load.current,
            age_days=round(copy_age_days(load.published_on, wall_epoch), 3),
            sha256=load.sha256,
        )
