"""Loading leads as JSON and CSV: row-level rejections, duplicates, limits."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

CSV = {"Content-Type": "text/csv"}
JSON_TYPE = {"Content-Type": "application/json"}


def _url(campaign: dict[str, Any]) -> str:
    return f"/api/v1/campaigns/{campaign['id']}/leads"


async def test_json_load_rejects_bad_rows_and_loads_the_rest(
    client: httpx.AsyncClient, campaign: dict[str, Any]
) -> None:
    leads = [
        {"phone": "+14155550100", "timezone": "America/Los_Angeles", "data": {"name": "Ada"}},
        {"phone": "not a number"},
        {"phone": "(415) 555-0101"},  # national format: normalised to E.164
        {"phone": "+14155550100"},  # duplicate of row 1
        {"phone": "+14155550102", "timezone": "Mars/Olympus"},
    ]
    response = await client.post(_url(campaign), json={"leads": leads})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["accepted"] == 2
    assert body["duplicates"] == 1
    assert body["dnc"] == 0
    assert [(r["row"], r["phone"]) for r in body["rejected"]] == [
        (2, "not a number"),
        (5, "+14155550102"),
    ]
    assert all(r["reason"] for r in body["rejected"])

    listed = (await client.get(_url(campaign))).json()
    assert sorted(lead["phone"] for lead in listed) == ["+14155550100", "+14155550101"]
    first = next(lead for lead in listed if lead["phone"] == "+14155550100")
    assert first["status"] == "new"
    assert first["attempts"] == 0
    assert first["data"] == {"name": "Ada"}
    assert first["timezone"] == "America/Los_Angeles"


async def test_json_rows_of_the_wrong_shape_are_rejected_one_by_one(
    client: httpx.AsyncClient, campaign: dict[str, Any]
) -> None:
    leads: list[Any] = [
        {"phone": "+14155550100", "priority": "high"},  # 1: not an integer
        7,  # 2: not an object
        {"phone": 4155550101},  # 3: not a string
        {"phone": "+14155550102", "data": [1]},  # 4: data not an object
        {"phone": "+14155550103", "name": "Ada"},  # 5: an unknown field
        {"phone": "+14155550104", "priority": 2**31},  # 6: over the column
        {"phone": "+14155550105", "priority": -(2**31)},  # 7: good, at the bound
        {"timezone": "America/New_York"},  # 8: no phone
        {"phone": "+14155550106", "timezone": 5},  # 9: not a string
        {"phone": "+14155550107"},  # 10: good
        {"phone": "+14155550108", "priority": True},  # 11: not 1
    ]
    response = await client.post(_url(campaign), json={"leads": leads})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["accepted"] == 2
    rejected = {r["row"]: r for r in body["rejected"]}
    assert sorted(rejected) == [1, 2, 3, 4, 5, 6, 8, 9, 11]
    assert rejected[1]["phone"] == "+14155550100"
    assert rejected[1]["reason"].startswith("priority:")
    assert rejected[2]["reason"] == "a lead must be an object with a phone"
    assert rejected[3]["phone"] == "4155550101"
    assert rejected[4]["reason"].startswith("data:")
    assert rejected[5]["reason"].startswith("name:")
    assert "2147483647" in rejected[6]["reason"]
    assert rejected[8]["reason"].startswith("phone:")
    assert rejected[9]["reason"].startswith("timezone:")
    assert rejected[11]["reason"] == "priority: must be a number, not true or false"
    listed = {lead["phone"]: lead for lead in (await client.get(_url(campaign))).json()}
    assert sorted(listed) == ["+14155550105", "+14155550107"]
    assert listed["+14155550105"]["priority"] == -(2**31)


async def test_a_csv_priority_beyond_the_column_rejects_its_row(
    client: httpx.AsyncClient, campaign: dict[str, Any]
) -> None:
    text = "phone,priority\n+14155550100,99999999999999999999999\n+14155550101,2147483647\n"
    response = await client.post(_url(campaign), content=text.encode(), headers=CSV)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["accepted"] == 1
    assert [(r["row"], r["phone"]) for r in body["rejected"]] == [(2, "+14155550100")]
    assert "priority" in body["rejected"][0]["reason"]


@pytest.mark.parametrize("offset", ["-1", str(2**53), "599302350762150592512", "x"])
async def test_a_lead_listing_offset_out_of_range_is_422(
    client: httpx.AsyncClient, campaign: dict[str, Any], offset: str
) -> None:
    response = await client.get(_url(campaign), params={"offset": offset})
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["query", "offset"]


async def test_loading_again_counts_duplicates(
    client: httpx.AsyncClient, campaign: dict[str, Any]
) -> None:
    payload = {"leads": [{"phone": "+14155550100"}, {"phone": "+14155550101"}]}
    assert (await client.post(_url(campaign), json=payload)).json()["accepted"] == 2
    again = (await client.post(_url(campaign), json=payload)).json()
    assert again == {"accepted": 0, "rejected": [], "duplicates": 2, "dnc": 0}


async def test_numbers_on_the_dnc_list_are_counted_not_loaded(
    client: httpx.AsyncClient, campaign: dict[str, Any]
) -> None:
    await client.post("/api/v1/dnc", json={"numbers": ["+14155550100"]})
    payload = {"leads": [{"phone": "+14155550100"}, {"phone": "+14155550101"}]}
    body = (await client.post(_url(campaign), json=payload)).json()
    assert body["accepted"] == 1
    assert body["dnc"] == 1


async def test_deeply_nested_json_is_a_422_or_its_rows_fault_never_a_500(
    client: httpx.AsyncClient, campaign: dict[str, Any]
) -> None:
    # Past the parser's stack: the body cannot be read at all.
    response = await client.post(
        _url(campaign), content="[" * 100_000 + "]" * 100_000, headers=JSON_TYPE
    )
    assert response.status_code == 422, response.text
    assert "nested too deeply" in response.json()["detail"][0]["msg"]
    # Readable, but a lead's data nested past the limit: that row only.
    deep: Any = "leaf"
    for _ in range(200):
        deep = [deep]
    leads = [{"phone": "+14155550100", "data": {"x": deep}}, {"phone": "+14155550101"}]
    body = (await client.post(_url(campaign), json={"leads": leads})).json()
    assert body["accepted"] == 1
    assert [(r["row"], "nested deeper than 32" in r["reason"]) for r in body["rejected"]] == [
        (1, True)
    ]
    assert [lead["phone"] for lead in (await client.get(_url(campaign))).json()] == ["+14155550101"]


@pytest.mark.parametrize(
    "name",
    [
        "America",  # a directory of zones: ZoneInfo raised IsADirectoryError (a 500)
        "A" * 300,  # ENAMETOOLONG (a 500)
        "iso3166.tab",  # a file beside the zones, not one
        "localtime",  # the host's own zone
        "America/../UTC",
    ],
)
async def test_a_timezone_that_is_no_zone_rejects_its_row(
    client: httpx.AsyncClient, campaign: dict[str, Any], name: str
) -> None:
    leads = [{"phone": "+14155550100", "timezone": name}, {"phone": "+14155550101"}]
    response = await client.post(_url(campaign), json={"leads": leads})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["accepted"] == 1
    assert [(r["row"], "unknown time zone" in r["reason"]) for r in body["rejected"]] == [(1, True)]


async def test_csv_rows_are_numbered_by_line(
    client: httpx.AsyncClient, campaign: dict[str, Any]
) -> None:
    text = (
        "phone,timezone,first_name,plan\n"  # line 1
        "+14155550100,America/New_York,Ada,gold\n"  # 2
        "garbage,,Bob,\n"  # 3
        "\n"  # 4: blank, skipped but counted
        "+14155550101,,Cy,silver\n"  # 5
        "+14155550100,,Ada again,gold\n"  # 6: duplicate
        "+14155550102,,too,many,fields\n"  # 7
        "12,,Dee,\n"  # 8
    )
    response = await client.post(_url(campaign), content=text.encode(), headers=CSV)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["accepted"] == 2
    assert body["duplicates"] == 1
    assert [(r["row"], r["phone"]) for r in body["rejected"]] == [
        (3, "garbage"),
        (7, "+14155550102"),
        (8, "12"),
    ]
    listed = {lead["phone"]: lead for lead in (await client.get(_url(campaign))).json()}
    assert listed["+14155550100"]["data"] == {"first_name": "Ada", "plan": "gold"}
    assert listed["+14155550100"]["timezone"] == "America/New_York"
    assert listed["+14155550101"]["timezone"] is None


async def test_csv_priority_column_orders_leads_and_a_bad_one_is_its_rows_fault(
    client: httpx.AsyncClient, campaign: dict[str, Any]
) -> None:
    text = (
        "phone,priority,name\n"
        "+14155550100,5,Ada\n"  # 2
        "+14155550101,high,Bob\n"  # 3: not a number
        "+14155550102,,Cy\n"  # 4: none given
        "+14155550103,-2,Dee\n"  # 5
        f"+14155550104,{'9' * 5000},Eve\n"  # 6: past int()'s 4,300 digits (was a 500)
        "+14155550105,²,Fay\n"  # 7: a digit to str.isdigit(), not to int() (was a 500)
        "+14155550106,+-3,Gus\n"  # 8
        "+14155550107,-99999999999999999999,Hal\n"  # 9
    )
    response = await client.post(_url(campaign), content=text.encode(), headers=CSV)
    body = response.json()
    assert body["accepted"] == 3
    reasons = {r["row"]: r["reason"] for r in body["rejected"]}
    assert sorted(reasons) == [3, 6, 7, 8, 9]
    assert all("priority must be" in reason for reason in reasons.values())
    assert "-2147483648 to 2147483647" in reasons[6] and "-2147483648" in reasons[9]
    listed = {lead["phone"]: lead for lead in (await client.get(_url(campaign))).json()}
    assert listed["+14155550100"]["priority"] == 5
    assert listed["+14155550102"]["priority"] == 0
    assert listed["+14155550103"]["priority"] == -2
    assert listed["+14155550100"]["data"] == {"name": "Ada"}


async def test_csv_header_is_case_insensitive_and_bom_tolerant(
    client: httpx.AsyncClient, campaign: dict[str, Any]
) -> None:
    text = "\ufeffName,Phone\nAda,+14155550100\n"
    response = await client.post(
        _url(campaign), content=text.encode(), headers={"Content-Type": "text/csv; charset=utf-8"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1


@pytest.mark.parametrize(
    "text",
    ["number,name\n+14155550100,Ada\n", "", "\n\n", "+14155550100\n"],
)
async def test_csv_without_a_phone_header_is_422(
    client: httpx.AsyncClient, campaign: dict[str, Any], text: str
) -> None:
    response = await client.post(_url(campaign), content=text.encode(), headers=CSV)
    assert response.status_code == 422, response.text
    assert "phone" in json.dumps(response.json()["detail"])
    assert (await client.get(_url(campaign))).json() == []


async def test_csv_not_utf8_is_422(client: httpx.AsyncClient, campaign: dict[str, Any]) -> None:
    response = await client.post(_url(campaign), content=b"phone\n\xff\xfe\n", headers=CSV)
    assert response.status_code == 422
    message = response.json()["detail"][0]["msg"]
    assert "UTF-8" in message and "charset=" in message  # says how to name another one
    assert (await client.get(_url(campaign))).json() == []


async def test_csv_in_the_charset_its_content_type_names(
    client: httpx.AsyncClient, campaign: dict[str, Any]
) -> None:
    """A Windows spreadsheet's export: cp1252, said so in the header."""
    text = "phone,name\n+14155550100,José Müller\n+14155550101,Zoë \u2013 €\n"
    for charset in ("windows-1252", '"cp1252"', "CP1252"):
        response = await client.post(
            _url(campaign),
            content=text.encode("cp1252"),
            headers={"Content-Type": f"text/csv; charset={charset}"},
        )
        assert response.status_code == 200, response.text
    listed = {lead["phone"]: lead for lead in (await client.get(_url(campaign))).json()}
    assert listed["+14155550100"]["data"] == {"name": "José Müller"}
    assert listed["+14155550101"]["data"] == {"name": "Zoë \u2013 €"}
    # UTF-16 with its byte-order mark: the mark is not part of the header.
    response = await client.post(
        _url(campaign),
        content="phone,name\n+14155550102,Åsa\n".encode("utf-16"),
        headers={"Content-Type": "text/csv; charset=utf-16"},
    )
    assert response.json()["accepted"] == 1, response.text


@pytest.mark.parametrize(
    ("charset", "body", "expected"),
    [
        ("klingon-8", b"phone\n+14155550100\n", "'klingon-8'"),
        ("ascii", "phone,name\n+14155550100,José\n".encode(), "not valid ascii (byte 27)"),
    ],
)
async def test_csv_in_an_unknown_or_wrong_charset_is_422_and_loads_nothing(
    client: httpx.AsyncClient, campaign: dict[str, Any], charset: str, body: bytes, expected: str
) -> None:
    response = await client.post(
        _url(campaign), content=body, headers={"Content-Type": f"text/csv; charset={charset}"}
    )
    assert response.status_code == 422, response.text
    assert expected in response.json()["detail"][0]["msg"]
    assert (await client.get(_url(campaign))).json() == []


@pytest.mark.parametrize(
    ("delimiter", "media"),
    [(";", "text/csv"), ("\t", "text/tab-separated-values"), ("|", "text/csv")],
)
async def test_csv_fields_split_by_semicolons_tabs_or_bars(
    client: httpx.AsyncClient, campaign: dict[str, Any], delimiter: str, media: str
) -> None:
    """European Excel writes ';'. The separator is the one under which the header names phone."""
    rows = [
        ["phone", "timezone", "name", "balance"],
        ["+14155550100", "America/Los_Angeles", "Ada, Countess", "1,50"],
        ["not a phone", "", "Bob", ""],
        ["+14155550101", "", "Cy", "2,75", "extra"],
    ]
    text = "".join(delimiter.join(row) + "\n" for row in rows)
    response = await client.post(
        _url(campaign), content=text.encode(), headers={"Content-Type": media}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["accepted"] == 1
    assert [(r["row"], r["phone"]) for r in body["rejected"]] == [
        (3, "not a phone"),
        (4, "+14155550101"),
    ]
    (lead,) = (await client.get(_url(campaign))).json()
    assert lead["timezone"] == "America/Los_Angeles"
    assert lead["data"] == {"name": "Ada, Countess", "balance": "1,50"}


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
async def test_the_separator_is_found_whatever_the_line_endings(
    client: httpx.AsyncClient, campaign: dict[str, Any], newline: str
) -> None:
    # "\r" alone: old Mac exports; the header must still be found as one line.
    text = newline.join(["", "phone;name", "+14155550100;Ada", ""])
    response = await client.post(_url(campaign), content=text.encode(), headers=CSV)
    assert response.json()["accepted"] == 1, response.text
    (lead,) = (await client.get(_url(campaign))).json()
    assert lead["data"] == {"name": "Ada"}


async def test_a_comma_header_naming_phone_keeps_commas_even_with_semicolons_in_it(
    client: httpx.AsyncClient, campaign: dict[str, Any]
) -> None:
    text = "phone,note;with semicolon\n+14155550100,a;b\n"
    response = await client.post(_url(campaign), content=text.encode(), headers=CSV)
    assert response.json()["accepted"] == 1, response.text
    (lead,) = (await client.get(_url(campaign))).json()
    assert lead["data"] == {"note;with semicolon": "a;b"}


@pytest.mark.parametrize(
    ("header", "named"),
    [("phone,name,Phone", "'Phone' twice (columns 1 and 3)"), ("phone,name,NAME ", "'NAME' twice")],
)
async def test_csv_header_naming_a_column_twice_is_422_and_loads_nothing(
    client: httpx.AsyncClient, campaign: dict[str, Any], header: str, named: str
) -> None:
    text = f"{header}\n+14155550100,Ada,+14155550101\n"
    response = await client.post(_url(campaign), content=text.encode(), headers=CSV)
    assert response.status_code == 422, response.text
    assert named in response.json()["detail"][0]["msg"]
    assert (await client.get(_url(campaign))).json() == []
    # Unnamed columns (a spreadsheet's trailing empty ones) are not names.
    text = "phone,,name,,\n+14155550100,,Ada,,\n"
    response = await client.post(_url(campaign), content=text.encode(), headers=CSV)
    assert response.json()["accepted"] == 1, response.text


async def test_over_100k_leads_is_413_and_writes_nothing(
    client: httpx.AsyncClient, campaign: dict[str, Any]
) -> None:
    leads = [{"phone": f"+1415{i:07d}"} for i in range(100_001)]
    response = await client.post(_url(campaign), json={"leads": leads})
    assert response.status_code == 413
    assert "100000" in response.json()["detail"]
    assert (await client.get(_url(campaign))).json() == []


async def test_over_100k_csv_rows_is_413(
    client: httpx.AsyncClient, campaign: dict[str, Any]
) -> None:
    text = "phone\n" + "".join(f"+1415{i:07d}\n" for i in range(100_001))
    response = await client.post(_url(campaign), content=text.encode(), headers=CSV)
    assert response.status_code == 413
    assert (await client.get(_url(campaign))).json() == []


async def test_a_body_over_20mb_is_413(client: httpx.AsyncClient, campaign: dict[str, Any]) -> None:
    body = b"phone,notes\n" + b"+14155550100," + b"x" * (20 * 1024 * 1024) + b"\n"
    response = await client.post(_url(campaign), content=body, headers=CSV)
    assert response.status_code == 413
    assert "20 MB" in response.json()["detail"]


async def test_a_chunked_body_over_20mb_is_413(
    client: httpx.AsyncClient, campaign: dict[str, Any]
) -> None:
    async def chunks() -> Any:
        yield b"phone\n"
        for _ in range(21):
            yield b"1" * (1024 * 1024)

    response = await client.post(_url(campaign), content=chunks(), headers=CSV)
    assert response.status_code == 413


@pytest.mark.parametrize(
    ("payload", "loc"),
    [
        # Only the envelope: a row of the wrong shape is that row's fault (above).
        ({"leads": "+14155550100"}, ["body", "leads"]),
        ({}, ["body", "leads"]),
        ({"leads": [], "extra": 1}, ["body", "extra"]),
    ],
)
async def test_malformed_json_envelopes_are_422(
    client: httpx.AsyncClient, campaign: dict[str, Any], payload: Any, loc: list[Any]
) -> None:
    response = await client.post(_url(campaign), json=payload)
    assert response.status_code == 422, response.text
    assert loc in [e["loc"] for e in response.json()["detail"]]


@pytest.mark.parametrize("raw", [b"", b"{", b"not json"])
async def test_unparseable_json_is_422(
    client: httpx.AsyncClient, campaign: dict[str, Any], raw: bytes
) -> None:
    response = await client.post(
        _url(campaign), content=raw, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422


async def test_other_content_types_are_415(
    client: httpx.AsyncClient, campaign: dict[str, Any]
) -> None:
    response = await client.post(
        _url(campaign), content=b"<leads/>", headers={"Content-Type": "application/xml"}
    )
    assert response.status_code == 415
    assert "text/csv" in response.json()["detail"]


async def test_list_filters_and_pages(client: httpx.AsyncClient, campaign: dict[str, Any]) -> None:
    leads = [{"phone": f"+1415555{i:04d}"} for i in range(100, 105)]
    await client.post(_url(campaign), json={"leads": leads})
    assert len((await client.get(_url(campaign), params={"status": "new"})).json()) == 5
    assert (await client.get(_url(campaign), params={"status": "done"})).json() == []
    page = (await client.get(_url(campaign), params={"limit": 2, "offset": 4})).json()
    assert len(page) == 1


@pytest.mark.parametrize(
    "params", [{"status": "sleeping"}, {"limit": 0}, {"limit": 5000}, {"offset": -1}]
)
async def test_bad_list_parameters_are_422(
    client: httpx.AsyncClient, campaign: dict[str, Any], params: dict[str, Any]
) -> None:
    response = await client.get(_url(campaign), params=params)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][0] == "query"
