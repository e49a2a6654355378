"""The two questions HG asks the marketplace: Variant Listing Status and Variant Listing Count.

They are webhooks too, but HG expects an answer from the marketplace's tables, not an
acknowledgement. The filters of Variant Listing Status are [doc] (``company_id``, ``sku``
values, ``mp_sku`` values, ``mp_status``, ``report_date``), as are the fields of each result
and that results are paginated; how pages are asked for is not documented.

**Pagination [inferred]:** ``page`` (1-based, default 1) and ``size`` (default 100, at most
1000). ``offset``/``limit`` would do as well; page/size was picked as the more common shape
and is correctable only in code for now. An answer echoes ``page`` and ``size`` and gives
``total`` (every matching row) so that HG can tell when it has them all.

Variant Listing Count is a ``GET`` [doc]: its filters arrive as query-string parameters
(every value a string), so its model converts ``"12345"`` to ``12345``; its filters are the
status query's without pagination [inferred]. A ``sku``/``mp_sku`` filter may be one code or
a list of codes; :meth:`ListingFilters.sku_values` and :meth:`ListingFilters.mp_sku_values`
always give a list.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from connectors.hepsiglobal.model_types import NonEmptyStr

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "ListingFilters",
    "VariantListingCountAnswer",
    "VariantListingCountQuery",
    "VariantListingStatusAnswer",
    "VariantListingStatusQuery",
    "VariantListingStatusRow",
]

_OPEN = ConfigDict(extra="allow")
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000

_Codes = StrictStr | list[StrictStr]


def _as_list(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


class _CodeLists:
    """``sku_values()`` and ``mp_sku_values()`` for a model with ``sku`` and ``mp_sku`` filters."""

    def sku_values(self) -> list[str]:
        """The ``sku`` filter as a list ([] when absent)."""
        return _as_list(getattr(self, "sku", None))

    def mp_sku_values(self) -> list[str]:
        """The ``mp_sku`` filter as a list ([] when absent)."""
        return _as_list(getattr(self, "mp_sku", None))


class ListingFilters(_CodeLists, BaseModel):
    """The documented filters [doc]; each one absent means "any"."""

    model_config = _OPEN

    company_id: StrictInt | None = Field(None, description="only this HG seller's variants")
    sku: _Codes | None = Field(None, description="only these HG variant codes (one code or a list)")
    mp_sku: _Codes | None = Field(None, description="only these marketplace codes (one code or a list)")
    mp_status: NonEmptyStr | None = Field(None, description="only variants in this state, e.g. ENABLED")
    report_date: StrictStr | None = Field(None, description="the day (or date-time) the report is for")


class VariantListingStatusQuery(ListingFilters):
    """``POST /webhooks/variant-listing-status`` [doc partly]: filters and a page [inferred]."""

    page: StrictInt = Field(1, ge=1, description="which page, from 1 [inferred]")
    size: StrictInt = Field(
        DEFAULT_PAGE_SIZE,
        ge=1,
        le=MAX_PAGE_SIZE,
        description=f"rows a page, 1 to {MAX_PAGE_SIZE} [inferred]",
    )

    @property
    def offset(self) -> int:
        """Rows to skip for this page."""
        return (self.page - 1) * self.size


class VariantListingStatusRow(BaseModel):
    """One result [doc]: a variant's listing state at the marketplace."""

    model_config = _OPEN

    company_id: StrictInt | None = Field(None, description="the HG seller's id")
    sku: StrictStr = Field(description="HG variant code")
    mp_sku: StrictStr | None = Field(None, description="the marketplace's code for the variant")
    status: StrictStr = Field(description="its listing state at the marketplace, e.g. ENABLED")
    report_date: StrictStr | None = Field(None, description="the day the state was reported for")


class VariantListingStatusAnswer(BaseModel):
    """The marketplace's answer: one page of results, and how many match in all [inferred]."""

    model_config = _OPEN

    items: list[VariantListingStatusRow] = Field(description="this page's results")
    page: StrictInt = Field(ge=1, description="the page asked for")
    size: StrictInt = Field(ge=1, description="the page size asked for")
    total: StrictInt = Field(ge=0, description="how many results match, over every page")


class VariantListingCountQuery(_CodeLists, BaseModel):
    """``GET`` Variant Listing Count [doc method]: filters from the query string [inferred]."""

    model_config = _OPEN

    company_id: int | None = Field(None, description="only this HG seller's variants")
    sku: str | list[str] | None = Field(None, description="only these HG variant codes")
    mp_sku: str | list[str] | None = Field(None, description="only these marketplace codes")
    mp_status: str | None = Field(None, description="only variants in this state, e.g. ENABLED")
    report_date: str | None = Field(None, description="the day the count is for")


class VariantListingCountAnswer(BaseModel):
    """The marketplace's answer [inferred]: how many variants match the filters."""

    model_config = _OPEN

    count: StrictInt = Field(ge=0, description="how many variants match")
    filters: dict[str, Any] | None = Field(None, description="the filters the count is for, echoed")
