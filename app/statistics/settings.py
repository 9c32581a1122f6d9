"""Summary settings: the monthly task and which Directo fields feed which Uku fields."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import SummarySettings
from app.db.repositories import statistics as statistics_repo
from app.errors import AppError, ProblemItem
from app.statistics.fields import FIELD_KEYS
from app.statistics.import_days import ImportDayRule

RELOAD_REMINDER = (
    "Changing the field mapping does not rewrite statistics already stored; "
    "start a reload to back-fill past months with the new mapping."
)


class LastWorkDay(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rule: Literal[ImportDayRule.LAST_WORK_DAY]


class LastCalendarDay(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rule: Literal[ImportDayRule.LAST_CALENDAR_DAY]


class DayOfNextMonth(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rule: Literal[ImportDayRule.DAY_OF_NEXT_MONTH]
    day: int = Field(ge=1, le=28, description="Day of the following month, 1–28")


ImportDay = Annotated[LastWorkDay | LastCalendarDay | DayOfNextMonth, Field(discriminator="rule")]


# As long as the column that keeps it with each stored value (`monthly_statistics.uku_field_id`).
UkuFieldId = Annotated[str, Field(max_length=128)]


class SummarySettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task_title: str = Field(min_length=1, max_length=200)
    topic: str | None = Field(default=None, max_length=200)
    recurrence: Literal["monthly"] = "monthly"
    import_day: ImportDay
    field_mapping: dict[str, UkuFieldId | None] = Field(
        default_factory=dict,
        max_length=50,
        description="Directo field key → Uku custom task field id (null: not imported)",
    )


class SummarySettingsOut(SummarySettingsIn):
    # What is stored, as stored: settings saved before ids were limited still read back.
    field_mapping: dict[str, str | None] = Field(
        default_factory=dict,
        description="Directo field key → Uku custom task field id (null: not imported)",
    )
    updated_at: dt.datetime
    note: str = RELOAD_REMINDER

    @classmethod
    def of(cls, row: SummarySettings) -> SummarySettingsOut:
        import_day: LastWorkDay | LastCalendarDay | DayOfNextMonth
        rule = ImportDayRule(row.import_day_rule)
        if rule is ImportDayRule.DAY_OF_NEXT_MONTH:
            assert row.import_day is not None
            import_day = DayOfNextMonth(rule=rule, day=row.import_day)
        elif rule is ImportDayRule.LAST_CALENDAR_DAY:
            import_day = LastCalendarDay(rule=rule)
        else:
            import_day = LastWorkDay(rule=rule)
        return cls(
            task_title=row.task_title,
            topic=row.topic,
            recurrence="monthly",
            import_day=import_day,
            field_mapping=row.field_mapping,
            updated_at=row.updated_at,
        )


async def save(
    session: AsyncSession, company_id: str, settings: SummarySettingsIn
) -> SummarySettings:
    """Validate field keys against the catalogue and store the settings (idempotent)."""
    unknown = sorted(set(settings.field_mapping) - FIELD_KEYS)
    if unknown:
        raise AppError(
            "field_unknown",
            f"Unknown field key(s): {', '.join(unknown)}. GET /v1/directo/fields lists them.",
            status=422,
            errors=[
                ProblemItem(
                    code="field_unknown",
                    message=f"{key!r} is not a catalogue field",
                    loc=["body", "field_mapping", key],
                )
                for key in unknown
            ],
        )
    empty_ids = sorted(
        key
        for key, value in settings.field_mapping.items()
        if value is not None and not value.strip()
    )
    if empty_ids:
        raise AppError(
            "field_mapping_invalid",
            "An Uku field id must not be blank; use null to leave a field unmapped.",
            status=422,
            errors=[
                ProblemItem(
                    code="field_id_blank",
                    message="blank Uku field id",
                    loc=["body", "field_mapping", key],
                )
                for key in empty_ids
            ],
        )
    day = settings.import_day.day if isinstance(settings.import_day, DayOfNextMonth) else None
    return await statistics_repo.upsert_summary_settings(
        session,
        company_id,
        {
            "task_title": settings.task_title,
            "topic": settings.topic,
            "recurrence": settings.recurrence,
            "import_day_rule": settings.import_day.rule.value,
            "import_day": day,
            "field_mapping": settings.field_mapping,
        },
    )
