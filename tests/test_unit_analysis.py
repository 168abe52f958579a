"""Analysis by unit (issue 12 item 7): the figures of a street, a district and a
community over the history of every site under it, against the hand-made May
of tests/unit_history.py; the exports and the monthly bulletin PDF; and a
street's analyst reaching nothing of the neighbour street, by route, by page
and by callback."""

from __future__ import annotations

import csv
import io
import json
import unicodedata

import openpyxl
import pytest
from pypdf import PdfReader

from data.history.unit_read import unit_scope
from data.history.unit_view import load_unit_view, parse_unit_filters
from data.site_files import load_sites
from data.units.tree import tree_of_sites
from layouts import analysis_unit as page
from tests import unit_history as hand
from tests.auth import add_account, sign_in_client
from tests.chain import write_chain_sites
from tests.common import PREFIX

MAY = f"start={hand.START}&end={hand.END}"


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """The three chain sites and their hand-made history."""
    folder = tmp_path_factory.mktemp("unit-analysis")
    sites_dir = write_chain_sites(folder / "sites")
    sites = load_sites(sites_dir, ("ta", "tb", "tc"))
    hand.write(folder / "data" / "history", sites)
    return folder, sites


def view(chain, unit: str):
    folder, sites = chain
    tree = tree_of_sites(sites)
    scope = unit_scope(tree, unit, sites)
    filters = parse_unit_filters({"start": str(hand.START), "end": str(hand.END)},
                                 scope, sites)
    return load_unit_view(folder / "data" / "history", tree, sites, unit, filters)


def rates(figures) -> tuple:
    return tuple(figures[k] for k in ("closure_rate", "on_time_rate",
                                      "rework_rate", "solved_in_grid_share"))


@pytest.mark.parametrize("unit", ["S1", "S2", "D1", "C1", "C2"])
def test_a_units_rates_are_as_worked_out_by_hand(chain, unit):
    assert rates(view(chain, unit).totals) == pytest.approx(hand.RATES[unit],
                                                            abs=1e-4)


def test_a_street_is_the_sum_of_its_communities_and_broken_down_by_them(chain):
    s1 = view(chain, "S1")
    assert s1.children["unit"].tolist() == ["C1", "C2"]
    assert s1.children["name"].tolist() == ["甲社区", "乙社区"]
    columns = ["reported", "closed", "due", "overdue", "on_time", "rework",
               "in_grid", "repeats"]
    for row in s1.children.to_dict("records"):
        assert tuple(row[c] for c in columns) == hand.COUNTS[row["unit"]]
        assert rates(row) == pytest.approx(hand.RATES[row["unit"]], abs=1e-4)
    assert s1.totals["due"] == 8 and s1.totals["closed"] == 6
    d1 = view(chain, "D1")
    assert d1.children["unit"].tolist() == ["S1", "S2"]
    assert rates(d1.children.iloc[1]) == pytest.approx(hand.RATES["S2"], abs=1e-4)


def test_a_community_is_broken_down_by_its_grids(chain):
    c1 = view(chain, "C1")
    assert c1.children["unit"].tolist() == ["ta/G1", "ta/G2"]
    assert c1.children["closed"].tolist() == [3, 1]
    assert c1.children["overdue"].tolist() == [0, 1]


def test_the_recurring_problems_name_the_category_and_the_grids(chain):
    top = view(chain, "D1").top
    rows = [tuple(r) for r in top[["kind", "key", "repeats"]].itertuples(index=False)]
    assert rows == [("category", "sanitation", 2), ("grid", "ta/G1", 1),
                    ("grid", "tb/G1", 1)]
    repeats = view(chain, "S1").repeats
    assert repeats["id"].tolist() == ["ta-B", "tb-G"]
    assert repeats["previous_id"].tolist() == ["ta-A", "tb-F"]


# -- the app: routes, pages, callbacks ---------------------------------------

@pytest.fixture
def unit_app(make_app, chain):
    folder, _ = chain
    return make_app(GOV_SITES_DIR=str(folder / "sites"), GOV_SITES="",
                    GOV_DATA_DIR=str(folder / "data"))


def analyst_of(r, app, unit: str):
    client = app.server.test_client()
    add_account(r, PREFIX, f"ana_{unit}", "analyst", None, (), "", unit)
    assert sign_in_client(client, f"ana_{unit}").status_code == 302
    return client


def test_the_childrens_csv_and_workbook_hold_the_figures(r, unit_app):
    client = analyst_of(r, unit_app, "S1")
    response = client.get(f"/api/v1/units/S1/export/children.csv?{MAY}")
    assert response.status_code == 200, response.get_json()
    rows = list(csv.DictReader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert [(row["unit"], row["closed"], row["due"], row["closure_rate"])
            for row in rows] == [("C1", "4", "5", "0.8"), ("C2", "2", "3", "0.6667")]
    book = client.get(f"/api/v1/units/S1/export/incidents.xlsx?{MAY}")
    assert book.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(book.data)).worksheets[0]
    ids = sorted(row[0] for row in sheet.iter_rows(min_row=2, values_only=True))
    assert ids == ["ta-A", "ta-B", "ta-C", "ta-E", "tb-F", "tb-G", "tb-H", "tb-I"]


def pdf_text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    return "\n".join(unicodedata.normalize("NFKC", p.extract_text())
                     for p in reader.pages)


def test_the_monthly_bulletin_is_a_pdf_with_the_units_name_and_rates(
        r, unit_app, warm):
    client = analyst_of(r, unit_app, "S1")
    response = client.get(f"/api/v1/units/S1/bulletin/{hand.MONTH}.pdf")
    assert response.status_code == 200, response.get_json()
    assert response.mimetype == "application/pdf"
    reader = PdfReader(io.BytesIO(response.data))
    assert len(reader.pages) == 4
    text = pdf_text(response.data)
    assert "测试街道" in text and "月度通报" in text and hand.MONTH in text
    for shown in ("75.0%", "37.5%", "16.7%", "83.3%"):  # S1's four rates
        assert shown in text, shown
    for shown in ("甲社区", "乙社区", "80.0%", "66.7%"):  # by community
        assert shown in text, shown
    assert "环境卫生" in text  # the recurring problem
    assert "第二街道" not in text and "丙社区" not in text


@pytest.mark.parametrize("path, status, code", [
    ("/api/v1/units/S1/bulletin/2024-13.pdf", 400, "month_format"),
    ("/api/v1/units/S1/bulletin/2999-01.pdf", 400, "date_future"),
    ("/api/v1/units/S1/bulletin/2023-01.pdf", 404, "no_data"),
    ("/api/v1/units/S1/export/nothing.csv", 404, "unknown_chart"),
    ("/api/v1/units/S1/export/children.csv?start=2024-05-09&end=2024-05-01", 400,
     "date_inverted"),
    ("/api/v1/units/S9/export/children.csv", 404, "unknown_unit"),
])
def test_bad_unit_export_urls_answer_json_errors(r, unit_app, path, status, code):
    response = analyst_of(r, unit_app, "S1").get(path)
    assert response.status_code == status
    assert response.get_json()["code"] == code


NEIGHBOUR = [f"/api/v1/units/S2/export/{t}.{f}?{MAY}"
             for t in ("children", "recurring", "repeats", "incidents")
             for f in ("csv", "xlsx")] + [
    f"/api/v1/units/{u}/bulletin/{hand.MONTH}.pdf" for u in ("S2", "C3", "D1")]


def test_a_streets_analyst_gets_nothing_of_the_neighbour_street(r, unit_app):
    client = analyst_of(r, unit_app, "S1")
    for path in NEIGHBOUR:
        response = client.get(path)
        assert response.status_code == 403, path
        assert "丙" not in response.data.decode("utf-8", "replace")
    assert client.get(f"/api/v1/units/C1/export/children.csv?{MAY}"
                      ).status_code == 200
    # the page of the neighbour street is refused; its own opens
    refused = client.get("/analysis?unit=S2")
    assert "第二街道" not in refused.data.decode()
    layout = client.get("/_dash-layout").get_json()
    assert layout is not None


def post_views(client, unit: str):
    outputs = [{"id": page.MESSAGE, "property": "children"},
               *({"id": i, "property": "children"} for i, _ in page.KPIS.values()),
               {"id": page.RATES_GRAPH, "property": "figure"},
               {"id": page.DAILY_GRAPH, "property": "figure"},
               {"id": page.CHILDREN, "property": "children"},
               {"id": page.RECURRING, "property": "children"},
               {"id": page.EXPORTS, "property": "children"},
               {"id": page.DATA_TIME, "property": "children"},
               {"id": page.QUERY, "property": "data"}]
    output = "...".join(f"{o['id']}.{o['property']}" for o in outputs)
    body = {"output": f"..{output}..", "outputs": outputs,
            "inputs": [{"id": page.DATES, "property": "start_date",
                        "value": str(hand.START)},
                       {"id": page.DATES, "property": "end_date",
                        "value": str(hand.END)},
                       {"id": page.CATEGORIES, "property": "value", "value": []},
                       {"id": page.REPEAT, "property": "value", "value": 7}],
            "state": [{"id": page.UNIT, "property": "data", "value": unit},
                      {"id": page.LANG, "property": "data", "value": "zh"},
                      {"id": page.RAW, "property": "data", "value": {}}],
            "changedPropIds": [f"{page.DATES}.start_date"]}
    return client.post("/_dash-update-component", json=body)


def test_the_pages_callback_draws_its_own_street_and_refuses_the_neighbour(
        r, unit_app):
    client = analyst_of(r, unit_app, "S1")
    own = post_views(client, "S1")
    assert own.status_code == 200, own.data[:300]
    answer = own.get_json()["response"]
    assert answer["ua-kpi-closure"]["children"] == "75.0%"
    assert answer["ua-kpi-rework"]["children"] == "16.7%"
    text = json.dumps(answer, ensure_ascii=False)
    assert "甲社区" in text and "乙社区" in text
    assert "丙" not in text and "tc-" not in text
    for other in ("S2", "C3", "D1", "nowhere", None):
        refused = post_views(client, other)
        assert refused.status_code == 403, other
    # a district's analyst reaches both streets
    district = analyst_of(r, unit_app, "D1")
    assert post_views(district, "S2").status_code == 200


def test_a_sites_people_analyse_its_community_only_and_not_from_some_grids(
        r, unit_app):
    analyst = unit_app.server.test_client()
    add_account(r, PREFIX, "ta_ana", "analyst", "ta")
    assert sign_in_client(analyst, "ta_ana").status_code == 302
    assert analyst.get(f"/api/v1/units/C1/export/incidents.csv?{MAY}"
                       ).status_code == 200
    for unit in ("C2", "S1"):
        assert analyst.get(f"/api/v1/units/{unit}/export/incidents.csv?{MAY}"
                           ).status_code == 403
    # a worker of grid G1 reads the API, but a community holds grid G2 too
    worker = unit_app.server.test_client()
    add_account(r, PREFIX, "ta_w1", "worker", "ta", ("G1",))
    assert sign_in_client(worker, "ta_w1").status_code == 302
    refused = worker.get(f"/api/v1/units/C1/export/incidents.csv?{MAY}")
    assert refused.status_code == 403 and "ta-C" not in refused.get_data(True)
    supervisor = unit_app.server.test_client()
    add_account(r, PREFIX, "ta_sup_g1", "supervisor", "ta", ("G1",))
    assert sign_in_client(supervisor, "ta_sup_g1").status_code == 302
    assert post_views(supervisor, "C1").status_code == 403
