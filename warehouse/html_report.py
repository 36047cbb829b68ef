"""The run's HTML report: one self-contained page read from the published warehouse.

Comes in: a published warehouse file. Goes out: FILE.reports/<run_id>/report.html, with its
styles, script and data inline (no network, no fonts fetched), charts drawn as SVG in the
browser from the embedded JSON. The published tables hold no ID number, so neither does it.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import math
import os
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb

from warehouse.errors import BirthrecError
from warehouse.report_data import ReportData, read_report_data
from warehouse.state_paths import StatePaths

REPORT_FILE_NAME = "report.html"
REPORT_FILE_MODE = 0o644  # readable like any report beside the warehouse: it holds no ID number
REPORT_TITLE = "出生人口信息核查报告"
# Escapes that keep embedded JSON from closing its <script> element or opening a comment.
SCRIPT_SAFE_JSON = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"}


class ReportError(BirthrecError):
    """The warehouse cannot be read or holds no published run to report."""


def write_html_report(warehouse: Path, out: Path | None = None) -> Path:
    """Write the report of the run published in WAREHOUSE; return the page's path.

    The warehouse is opened read-only, so the report can be written while readers (or the
    next publish) are at work. The page is written beside its final name and renamed.
    """
    if not warehouse.is_file():
        raise ReportError(f"{warehouse}: no published warehouse here — run `birthrec run` first")
    try:
        with duckdb.connect(str(warehouse), read_only=True) as connection:
            data = read_report_data(connection)
    except duckdb.Error as error:
        raise ReportError(f"{warehouse}: cannot read the published tables ({error}) — "
                          "is it a birthrec warehouse of this version?") from error
    run_id = data["run"].get("run_id")
    if not run_id:
        raise ReportError(f"{warehouse}: the run table names no published run")
    target = out if out is not None else StatePaths(warehouse).reports / run_id / REPORT_FILE_NAME
    target.parent.mkdir(parents=True, exist_ok=True)
    # A partial file of its own, so two writers of the same report never mix their bytes.
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=target.parent,
                                     prefix=target.name, suffix=".partial",
                                     delete=False) as partial:
        partial.write(render_html_report(data, warehouse.name))
    Path(partial.name).chmod(REPORT_FILE_MODE)
    os.replace(partial.name, target)
    return target


def report_asset(name: str) -> str:
    """A stylesheet or script kept beside this module, to be inlined into the page."""
    return resources.files("warehouse").joinpath(name).read_text(encoding="utf-8")


def finite(value: Any) -> Any:
    """NaN and infinities become null: JSON has no spelling for them."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [finite(item) for item in value]
    return value


def embedded_json(data: ReportData) -> str:
    """The data block's text: JSON that cannot end the script element it sits in.

    >>> embedded_json({"label": "</script><b>"})
    '{"label": "\\\\u003c/script\\\\u003e\\\\u003cb\\\\u003e"}'
    """
    text = json.dumps(finite(data), ensure_ascii=False, allow_nan=False)
    for character, escape in SCRIPT_SAFE_JSON.items():
        text = text.replace(character, escape)
    return text


def csp_hash(text: str) -> str:
    """A Content-Security-Policy source for exactly this inline script or style."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def content_security_policy(script: str, style: str) -> str:
    """Nothing may load from anywhere: only this page's own script and style run.

    The browser then refuses any request the page might make, which is what keeps it
    usable offline and leak-free, whatever a future edit adds.
    """
    return (f"default-src 'none'; script-src {csp_hash(script)}; style-src {csp_hash(style)}; "
            "img-src data:; connect-src 'none'; form-action 'none'; base-uri 'none'")


def render_html_report(data: ReportData, warehouse_name: str) -> str:
    """The whole page as text; the charts are drawn by its script from the data block."""
    script, style = report_asset("html_report.js"), report_asset("html_report.css")
    run = data["run"]
    meta = [f"数据截至 {run.get('as_of', '—')}", f"运行编号 {run.get('run_id', '—')}",
            f"发布于 {run.get('finished_at', '—')}", f"数据仓库 {warehouse_name}"]
    low, high = data["normal_range"]
    targets = "、".join(f"{data['kpi_labels'][name]} ≥ {round(target * 100)}%"
                       for name, target in data["targets"].items())
    page = PAGE_TEMPLATE.format(
        csp=html.escape(content_security_policy(script, style)),
        title=html.escape(REPORT_TITLE),
        style=style,
        meta="".join(f"<span>{html.escape(str(item))}</span>" for item in meta),
        normal=f"{low:g}–{high:g}",
        targets=html.escape(targets),
        data=embedded_json(data),
        script=script,
    )
    return page


PAGE_TEMPLATE = """<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="referrer" content="no-referrer">
<title>{title}</title>
<style>{style}</style>
</head>
<body>
<header class="report-head"><div class="wrap">
<h1>{title}</h1>
<p class="meta">{meta}</p>
</div></header>
<main class="wrap">
<div class="cards" id="cards"></div>

<section class="block" id="sex-ratio">
<h2>出生性别比</h2>
<p class="lead">出生性别比为每 100 名女婴对应的男婴数，正常范围为 {normal}（绿色带）。
圆点为比值，横线为 95% 置信区间（Wilson 法）；出生数越少，区间越宽，比值越不可靠。
超出坐标范围的区间以箭头表示、比值以空心点标在边缘，完整数值见右侧。</p>
<figure>
<figcaption>图 1　各部门全县出生性别比</figcaption>
<p class="caption-note">“核对后”为四部门记录关联后的全部儿童；
各部门按其自身登记的性别计算，每名儿童只计一次。</p>
<div class="chart" id="chart-ratio-by-source"></div>
</figure>
<figure>
<figcaption>图 2　分乡镇出生性别比</figcaption>
<p class="caption-note">可切换数据来源。第一行为全县合计，乡镇按区划代码排列。</p>
<div class="toggle" id="toggle-ratio-by-township" role="group" aria-label="数据来源"></div>
<div class="chart" id="chart-ratio-by-township"></div>
</figure>
</section>

<section class="block" id="monthly">
<h2>月度趋势</h2>
<p class="lead">按出生日期所在月份统计。近几个月的公安、计生登记数偏低，多因落户和上报尚未完成。</p>
<figure>
<figcaption>图 3　各月出生数</figcaption>
<div class="chart" id="chart-monthly-births"></div>
</figure>
<figure>
<figcaption>图 4　各月出生性别比（核对后儿童）</figcaption>
<p class="caption-note">每月出生数较少，单月区间很宽，宜看整体走势而非单月高低。</p>
<div class="chart" id="chart-monthly-ratio"></div>
</figure>
</section>

<section class="block" id="discrepancies">
<h2>部门间差异</h2>
<p class="lead">差异指同一儿童在各部门记录中的缺失、重复或不一致。“待核查”需乡镇核实处理；
“已有合理解释”指民政的死亡、收养等事件可以解释；“已处理”为核查人员已确认。</p>
<figure>
<figcaption>图 5　各类差异数量</figcaption>
<div class="chart" id="chart-discrepancy-by-kind"></div>
</figure>
<figure>
<figcaption>图 6　各乡镇待核查差异（按类型）</figcaption>
<p class="caption-note">乡镇按核对后儿童的户籍乡镇归属；颜色越深，条数越多。</p>
<div class="chart" id="chart-discrepancy-by-township"></div>
</figure>
</section>

<section class="block" id="indicators">
<h2>登记指标</h2>
<p class="lead">计生人口数据库的三项指标，目标：{targets}。括号内为核对后儿童数。
覆盖率 = 计生已登记的儿童 / 全部儿童；
身份证录入率 = 已录入公安身份证号的计生记录 / 已落户儿童的计生记录；
准确率 = 性别、出生日期、母亲、姓名均与核对结果一致的计生记录 / 全部计生记录。</p>
<figure>
<figcaption>图 7　各乡镇登记指标与目标</figcaption>
<div class="chart" id="chart-indicators"></div>
</figure>
</section>

<section class="block notes" id="notes">
<h2>说明</h2>
<ul>
<li>数据全部取自本次发布的数据仓库（只读），与仓库中的表一一对应；页面不含任何身份证号。</li>
<li>出生性别比的置信区间采用 Wilson 法计算男婴占比的 95% 区间后换算；
女婴数为 0 时比值无法计算。</li>
<li>本页为独立文件，不引用任何外部资源，可离线打开、打印或转发。</li>
</ul>
</section>
</main>
<footer>birthrec 自动生成</footer>
<script type="application/json" id="report-data">{data}</script>
<script>{script}</script>
</body>
</html>
"""
