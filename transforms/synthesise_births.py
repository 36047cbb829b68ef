"""Synthesise births and the four departments' records of them, with the truth (demo data).

Pure: (births, seed, dirt_scale, start) in; polars frames out: the true children, every row of
every file the departments would deliver (text cells plus spreadsheet cell kinds), the file
plan, and the truth about records and problems. warehouse.demo_inbox writes them to disk.

Randomness is counter-based: a value is a hash of (seed, stream name, row key), so one seed
gives the same frames on any machine and adding a stream never shifts another. Every rate
below is a named constant; `dirt_scale` multiplies the dirt and discrepancy rates (marked
"x dirt_scale"), never the coverage gaps or the population shape.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import polars as pl

from schemas.canonical import CELL_DATE, CELL_NUMBER, CELL_TYPE_SUFFIX
from schemas.codes import DiscrepancyKind, Source
from schemas.divisions import ALIAS_SEPARATOR
from schemas.minzheng import EVENT_TYPE_LABELS
from schemas.source_spec import SourceSpec, ValueKind
from schemas.sources import SOURCES

# ---------------------------------------------------------------------------------------------
# The population (not scaled by dirt_scale)
# ---------------------------------------------------------------------------------------------
TWIN_BIRTH_SHARE = 0.015  # share of births that are one of a pair of twins
MONOZYGOTIC_TWIN_SHARE = 0.33  # identical twins share their sex; the rest draw it freely
BIRTH_ORDER_SHARES = (0.50, 0.35, 0.15)  # first, second, third or later (child level)
THIRD_PLUS_PARITY_SHARES = (0.80, 0.15, 0.05)  # a "third or later" birth is the 3rd, 4th, 5th
SEX_RATIO_BY_ORDER = (107.0, 120.0, 155.0)  # boys per 100 girls at birth order 1, 2, 3+
SAME_YEAR_SIBLING_SHARE = 0.004  # deliveries by a mother who already gave birth this year
SAME_YEAR_SIBLING_GAP_DAYS = 300
HOME_BIRTH_RATE = 0.03  # no hospital, so no birth medical certificate
MOTHER_AGE_MEAN_BY_ORDER = (25.0, 29.0, 32.0)
MOTHER_AGE_RANGE = (17, 38)  # with start 2013: mothers born 1975-1996
FATHER_AGE_GAP_YEARS = (0, 6)
LOCAL_ID_REGION_SHARE = 0.78  # adults whose ID number was issued in this county
ETHNIC_DOTTED_NAME_SHARE = 0.004  # families with Uyghur or Yi style names (with a middle dot)
YI_SHARE_OF_DOTTED = 0.3
CHILD_TAKES_MOTHER_SURNAME_SHARE = 0.06
ONE_CHAR_GIVEN_NAME_SHARE_ADULT = 0.30
ONE_CHAR_GIVEN_NAME_SHARE_CHILD = 0.15
NAME_POOL_ZIPF_EXPONENT = 0.6  # given-name popularity falls off like a Zipf law
INFANT_DEATH_RATE = 0.005
ADOPTION_RATE = 0.002
FOUNDLING_RATE = 0.0005
FOUNDLING_HUKOU_SHARE = 0.6  # foundlings later registered at the welfare home's collective hukou

# Department coverage (not scaled): who records the child, and when.
WEISHENG_ISSUE_LAG_DAYS = ((0.50, 0, 0), (0.35, 1, 3), (0.15, 4, 14))  # (share, min, max)
JISHENG_MISSING_RATE_BY_ORDER = (0.025, 0.035, 0.07)  # 计生漏报, more for later births
JISHENG_LAG_DAYS = ((0.75, 2, 30), (0.20, 31, 60), (0.05, 61, 120))
GONGAN_NEVER_REGISTERED_RATE = 0.012  # 未落户 for a first-born boy; the factors raise it
GONGAN_NEVER_GIRL_FACTOR = 1.6
GONGAN_NEVER_ORDER_FACTOR = (1.0, 1.5, 3.0)
HUKOU_LAG_DAYS = ((0.72, 5, 30), (0.20, 31, 90), (0.06, 91, 180), (0.02, 181, 330))
DEATH_LAG_DAYS = ((0.35, 0, 6), (0.25, 7, 27), (0.40, 28, 330))
ADOPTION_LAG_DAYS = (30, 300)
FOUNDLING_FOUND_LAG_DAYS = (0, 40)
FOUNDLING_HUKOU_LAG_DAYS = (20, 150)
JISHENG_BACKFILL_SHARE = 0.30  # 计生 re-sends a case with the child's ID once hukou is done
JISHENG_NAME_BEFORE_HUKOU_SHARE = 0.15  # name known to 计生 before hukou (no ID yet)
JISHENG_CERT_NUMBER_SHARE = 0.45  # 计生 cases that carry the birth certificate number
GONGAN_CERT_NUMBER_MISSING_RATE = 0.04  # hukou made without quoting the certificate
WITHIN_POLICY_SHARE_BY_ORDER = (0.99, 0.93, 0.25)

# ---------------------------------------------------------------------------------------------
# Discrepancies (x dirt_scale): counts are exact, rate x births (at least one each).
# ---------------------------------------------------------------------------------------------
SEX_CONFLICT_RATE = 0.005
BIRTH_DATE_CONFLICT_RATE = 0.01
BIRTH_DATE_CONFLICT_KIND_SHARES = (0.5, 0.2, 0.3)  # +-1 day, month/day swapped, another day
NAME_CONFLICT_RATE = 0.015
CHILD_SHARE_OF_NAME_CONFLICTS = 0.6  # the rest are in the mother's name
MOTHER_CONFLICT_RATE = 0.002  # another woman's ID (or the father's) in the mother's field
FATHER_ID_AS_MOTHER_SHARE = 0.3
DUPLICATE_REGISTRATION_RATE = 0.005
DUPLICATE_SOURCE_SHARES = (0.40, 0.15, 0.45)  # jisheng, weisheng, gongan
DUPLICATE_NAME_VARIANT_SHARE = 0.3  # a second hukou often spells the name differently
DUPLICATE_LAG_DAYS = (15, 200)
SHARED_ID_RATE = 0.0003  # 一号多人: one child ID number issued to a second child
CORRECTION_RATE = 0.01  # a record re-delivered later with a wrong value fixed
CORRECTION_LAG_DAYS = (7, 55)
UNKNOWN_SEX_RATE = 0.002  # 0, 9 or 未知

# ---------------------------------------------------------------------------------------------
# Dirt in the cells (x dirt_scale)
# ---------------------------------------------------------------------------------------------
ID_FULL_WIDTH_RATE = 0.005
ID_SPACES_RATE = 0.01
ID_LOWER_X_RATE = 0.3  # of the IDs that end in X
ID_OLD_15_DIGIT_RATE = 0.01  # adults born before 2000 only
ID_BAD_CHECK_DIGIT_RATE = 0.003
ID_SCIENTIFIC_TEXT_RATE = 0.002  # '4.50821E+17', an ID that went through Excel into a CSV
ID_NUMBER_CELL_RATE = 0.02  # spreadsheets: the ID stored as a number cell (digits lost)
MOTHER_ID_BLANK_RATE = 0.003
NAME_TRADITIONAL_RATE = 0.01
NAME_STRAY_SPACE_RATE = 0.015
DOT_VARIANT_RATE = 0.6  # a dotted name written with another middle dot
PLACEHOLDER_FOR_BLANK_RATE = 0.3  # a blank optional cell written 无, 不详, - or 0
VALUE_AS_PLACEHOLDER_RATE = 0.005  # an optional value lost and written as a placeholder
FATHER_BLANK_RATE = {"jisheng": 0.06, "weisheng": 0.10, "gongan": 0.04}
CERT_NUMBER_DIRT_RATE = 0.01  # lower-case letter or a space inside
SEX_CODE_FILE_SHARE = 0.3  # files that write sex as 1/2 rather than 男/女
SEX_STYLE_MIX_RATE = 0.02  # cells in the other style than their file's
ORDER_CHINESE_FILE_SHARE = 0.5  # 计生 files that write 一孩/二孩/三孩
ORDER_STYLE_MIX_RATE = 0.05
TOWNSHIP_FORM_SHARES = (0.55, 0.18, 0.12, 0.05, 0.06, 0.04)  # see township_cells()
WEISHENG_PLACE_FORM_SHARES = (0.30, 0.20, 0.20, 0.12, 0.10, 0.05, 0.03)  # see township_cells()
WEISHENG_CHILD_NAME_SHARES = (0.60, 0.25, 0.15)  # blank, placeholder, a real name
GESTATION_PLUS_DAYS_RATE = 0.1  # 孕周 written 39+2
# Date formats: iso, slash, compact, 年月日, dotted, then (spreadsheets) date cell, serial.
DATE_FORMAT_SHARES = {
    "jisheng": (0.30, 0.10, 0.05, 0.03, 0.02, 0.45, 0.05),
    "gongan": (0.70, 0.05, 0.20, 0.03, 0.02, 0.0, 0.0),
    "weisheng": (0.85, 0.10, 0.05, 0.0, 0.0, 0.0, 0.0),
    "minzheng": (0.25, 0.05, 0.0, 0.10, 0.05, 0.50, 0.05),
}
# 卫生 出生时间: "2013-05-04 14:32", "2013/5/4 14:32", "... 14:32:00", 年月日时分, date only.
BIRTH_TIME_FORMAT_SHARES = (0.80, 0.10, 0.05, 0.03, 0.02)

# Rows and files (x dirt_scale, capped at 1)
UNUSABLE_NO_RECORD_ID_RATE = 0.0005
UNUSABLE_NOTHING_IDENTIFYING_RATE = 0.0003
FOOTER_FILE_SHARE = 0.3
HEADER_SHUFFLE_FILE_SHARE = 0.25
EXTRA_COLUMN_FILE_SHARE = 0.25
HEADER_SPACE_FILE_SHARE = 0.1
OPTIONAL_COLUMN_DROP_FILE_SHARE = 0.1
SPLIT_EXTRACT_SHARE = 0.15  # an extract delivered as two files, _<n>
# Not dirt: file conventions of the departments.
GONGAN_BOM_FILE_SHARE = 0.5
JISHENG_ID_AS_NUMBER_FILE_SHARE = 0.3  # 个案编号 written as number cells
MAX_ROWS_PER_FILE = 100_000
EXTRACT_DAY_OF_MONTH = {"jisheng": 3, "weisheng": 5, "gongan": 8, "minzheng": 10}
EXTRACT_MONTHS = {  # months after the start month on which each source extracts
    "jisheng": tuple(range(1, 14)),
    "weisheng": tuple(range(1, 14)),
    "gongan": tuple(range(1, 14)),
    "minzheng": (2, 4, 6, 8, 10, 12, 13),
}
MINZHENG_XLS_EXTRACT_RANK = 0  # the legacy .xls: the first 民政 extract with rows
MINZHENG_CSV_EVERY_THIRD = 1  # then CSV for extracts 1, 4, 7 ... and xlsx for the rest
REJECTED_FILE_SOURCE, REJECTED_FILE_DROPPED_COLUMN = "gongan", "birth_date"
DUPLICATE_BYTES_SOURCE = "weisheng"
OPTIONAL_COLUMNS_SOMETIMES_ABSENT = {
    "jisheng": ("village", "policy_status"),
    "weisheng": ("gestational_weeks", "birth_weight_g"),
    "gongan": ("ethnicity",),
    "minzheng": (),
}

# ---------------------------------------------------------------------------------------------
# The county: 广西 贵港市 平南县 (code 450821); the townships and villages are made up.
# ---------------------------------------------------------------------------------------------
PROVINCE_NAME, PROVINCE_SHORT, CITY_NAME, COUNTY_NAME = "广西壮族自治区", "广西", "贵港市", "平南县"
COUNTY_CODE = "450821"
# (code, official name, other names, share of births)
TOWNSHIPS: tuple[tuple[str, str, tuple[str, ...], float], ...] = (
    ("450821001", "江北街道", ("江北",), 9.0),
    ("450821002", "城南街道", ("城南",), 7.0),
    ("450821101", "大安镇", ("大安",), 8.0),
    ("450821102", "龙湾镇", ("龙湾",), 6.0),
    ("450821103", "石门镇", (), 5.0),
    ("450821104", "新圩镇", ("新墟镇", "新圩"), 5.0),
    ("450821105", "清水镇", (), 4.5),
    ("450821106", "白沙镇", ("白沙",), 5.0),
    ("450821107", "黄泥镇", ("黄坭镇",), 4.0),
    ("450821108", "高岭镇", (), 4.0),
    ("450821109", "六塘镇", ("六塘",), 4.5),
    ("450821110", "沙坡镇", (), 4.0),
    ("450821111", "古樟镇", ("古樟",), 3.5),
    ("450821112", "三江口镇", ("三江口", "三江镇"), 3.5),
    ("450821113", "长垌镇", ("长垌", "长洞镇"), 3.0),
    ("450821114", "马鞍镇", (), 3.0),
    ("450821201", "福田乡", ("福田",), 2.5),
    ("450821202", "云岭乡", (), 2.0),
    ("450821203", "罗村乡", ("罗村",), 2.0),
    ("450821204", "瑶山瑶族乡", ("瑶山乡", "瑶山"), 1.5),
    ("450821205", "木棉乡", (), 2.0),
)
TOWNSHIP_SUFFIXES = ("瑶族乡", "街道", "镇", "乡")
VILLAGE_STEMS = (
    "新华", "团结", "和平", "东风", "红星", "联合", "石桥", "河口", "龙头", "双合", "光明", "永安",
    "平安", "长安", "兴隆", "太平", "金鸡", "马岭", "六合", "三和", "莲塘", "竹园", "黄竹", "上林",
    "下塘", "高田", "水口", "新村", "大塘", "思和",
)
HOSPITALS = (  # (name pattern, share); {t} is the township
    (f"{COUNTY_NAME}人民医院", 0.32), (f"{COUNTY_NAME}妇幼保健院", 0.28),
    (f"{COUNTY_NAME}中医医院", 0.06), (f"{CITY_NAME}人民医院", 0.09), ("{t}卫生院", 0.25),
)
# Other places adults' ID numbers were issued: Guangxi neighbours, then other provinces.
OTHER_ID_REGION_CODES = (
    "450802", "450803", "450804", "450881", "450921", "450922", "451402", "440883", "440981",
    "430421", "431102", "360726", "522122", "510824",
)
# Hukou births overflow into the city districts' codes once a day's 500 numbers per sex are used.
CHILD_ID_REGION_CODES = (COUNTY_CODE, "450802", "450803", "450804", "450881", "450802",
                         "450921", "450922", "451402", "450981")
ETHNICITIES = (("汉族", 0.62), ("壮族", 0.30), ("瑶族", 0.06), ("苗族", 0.01), ("侗族", 0.01))
PLACEHOLDERS = ("无", "不详", "-", "0")
UNKNOWN_SEX_VALUES = ("0", "9", "未知")
SEX_TEXT = {1: "男", 2: "女"}
BIRTH_ORDER_TEXT = ("一孩", "二孩", "三孩", "四孩", "五孩")
POLICY_TEXT = ("政策内", "政策外")
MIDDLE_DOT = "·"
DOT_VARIANTS = ("•", "・", "．", "∙")
EXTRA_COLUMN_HEADERS = ("备注", "经办人", "审核状态")  # columns no contract lists
EXTRA_COLUMN_VALUES = ("已核实", "补录", "待核实", "电话随访")
FOOTER_TEXTS = ("合计", "总计")
ID_CHECK_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK_CHARS = "10X98765432"

# ---------------------------------------------------------------------------------------------
# Names. Surname shares (per cent) approximate the national ranking, with Guangxi's common
# surnames (黄 韦 覃 莫 梁 蒙 陆 廖 农) raised; polyphonic and compound surnames included.
# ---------------------------------------------------------------------------------------------
SURNAME_SHARES: tuple[tuple[str, float], ...] = (
    ("王", 7.1), ("李", 7.0), ("张", 6.7), ("刘", 5.3), ("陈", 4.5), ("黄", 4.0), ("杨", 3.1),
    ("赵", 2.3), ("吴", 2.0), ("韦", 2.0), ("周", 1.9), ("徐", 1.6), ("覃", 1.5), ("孙", 1.5),
    ("马", 1.4), ("梁", 1.3), ("朱", 1.3), ("胡", 1.2), ("郭", 1.2), ("何", 1.2), ("林", 1.0),
    ("高", 1.0), ("罗", 1.0), ("郑", 0.9), ("莫", 0.9), ("谢", 0.75), ("宋", 0.7), ("唐", 0.7),
    ("许", 0.65), ("韩", 0.65), ("邓", 0.65), ("冯", 0.62), ("曹", 0.6), ("彭", 0.6), ("曾", 0.6),
    ("肖", 0.58), ("田", 0.55), ("潘", 0.55), ("董", 0.53), ("袁", 0.5), ("陆", 0.5), ("蒙", 0.5),
    ("蔡", 0.48), ("蒋", 0.48), ("余", 0.47), ("于", 0.45), ("杜", 0.45), ("叶", 0.45),
    ("卢", 0.45), ("廖", 0.45), ("程", 0.44), ("魏", 0.43), ("苏", 0.43), ("吕", 0.42),
    ("丁", 0.4), ("任", 0.4), ("钟", 0.4), ("姚", 0.38), ("谭", 0.38), ("沈", 0.37), ("姜", 0.36),
    ("崔", 0.35), ("范", 0.33), ("汪", 0.33), ("石", 0.32), ("金", 0.3), ("贾", 0.3), ("黎", 0.3),
    ("农", 0.3), ("夏", 0.28), ("付", 0.28), ("方", 0.28), ("邹", 0.27), ("熊", 0.27), ("白", 0.26),
    ("孟", 0.26), ("秦", 0.25), ("邱", 0.25), ("龙", 0.25), ("侯", 0.24), ("江", 0.24),
    ("尹", 0.23), ("薛", 0.23), ("闫", 0.22), ("段", 0.22), ("雷", 0.22), ("史", 0.21), ("陶", 0.2),
    ("贺", 0.2), ("毛", 0.2), ("甘", 0.2), ("郝", 0.19), ("顾", 0.19), ("龚", 0.19), ("邵", 0.18),
    ("万", 0.18), ("武", 0.17), ("钱", 0.17), ("戴", 0.17), ("严", 0.16), ("孔", 0.16),
    ("向", 0.15), ("常", 0.15), ("汤", 0.15), ("庞", 0.15), ("康", 0.14), ("易", 0.14),
    ("赖", 0.14), ("乔", 0.13), ("文", 0.13), ("施", 0.12), ("洪", 0.12), ("欧", 0.1),
    ("单", 0.05), ("解", 0.03), ("区", 0.03), ("仇", 0.02), ("查", 0.02), ("朴", 0.01),
    ("欧阳", 0.04), ("司马", 0.01), ("司徒", 0.01), ("上官", 0.005), ("诸葛", 0.005),
    ("令狐", 0.003),
)
# Given-name pools, most popular first (weights fall off like a Zipf law).
ADULT_FEMALE_GIVEN_ONE = tuple("芳娜敏静丽燕艳娟霞玲红梅英萍琳颖婷"
                               "雪慧洁莉兰凤琴云华倩丹蓉晶菊琼妮媛")
ADULT_FEMALE_GIVEN_TWO = (
    "秀英", "桂英", "秀兰", "玉兰", "桂兰", "丽娟", "丽华", "海燕", "晓燕", "春梅", "小红", "小燕",
    "丽萍", "玉梅", "美玲", "婷婷", "丽丽", "燕玲", "金凤", "月娥", "秋菊", "春燕", "翠兰", "秀梅",
    "丽芳", "小芳", "艳红", "晓丽", "晓梅", "雪梅", "海霞", "红梅", "玉芳", "丽霞", "秀珍", "桂芳",
    "凤英", "美华", "晓红", "小丽", "雅琴", "晓静", "丽君", "慧敏", "晓敏", "丽红", "玉珍", "春花",
    "桂香", "秀娟", "金兰", "雪莲", "美娟", "艳玲", "晓霞", "丹丹", "莉莉", "芳芳", "静静",
)
ADULT_MALE_GIVEN_ONE = tuple("伟强磊军勇杰涛斌超明刚平辉鹏华飞鑫波宁浩凯健俊帆帅旭宇林峰亮")
ADULT_MALE_GIVEN_TWO = (
    "建华", "建国", "志强", "海涛", "小龙", "文杰", "俊杰", "志勇", "建军", "国强", "家豪", "晓东",
    "永强", "振华", "伟东", "明辉", "志明", "国庆", "海波", "金龙", "德明", "文斌", "少华", "伟强",
    "立新", "红军", "卫东", "志刚", "春生", "永华",
)
BOY_GIVEN_ONE = tuple("睿宇浩轩杰晨铭博泽航")
BOY_GIVEN_TWO = (
    "子轩", "浩宇", "浩然", "宇轩", "梓豪", "俊杰", "子豪", "皓轩", "博文", "宇航", "浩轩", "一鸣",
    "梓轩", "俊熙", "明轩", "天佑", "睿泽", "子墨", "思远", "家乐", "嘉豪", "志豪", "俊宇", "文博",
    "承泽", "锦程", "逸飞", "星宇", "宇哲", "梓睿", "奕辰", "沐阳", "宇辰", "子睿", "俊豪", "晨阳",
    "嘉俊", "家俊", "明哲", "思源", "一诺", "欣然",
)
GIRL_GIVEN_ONE = tuple("琪涵萱怡妍琳彤悦婧雪")
GIRL_GIVEN_TWO = (
    "梓涵", "欣怡", "诗涵", "子涵", "雨涵", "可馨", "紫涵", "梦瑶", "思涵", "欣妍", "一诺", "语桐",
    "雨桐", "佳怡", "诗琪", "雅琪", "佳琪", "梓萱", "可欣", "依诺", "子萱", "梓琪", "思琪", "若曦",
    "诗雨", "晨曦", "欣悦", "雅婷", "梦琪", "雨萱", "佳欣", "心怡", "馨月", "嘉怡", "欣然", "婉清",
    "语嫣", "佳琳", "思颖",
)
UYGHUR_FEMALE = ("阿依古丽", "古丽娜尔", "热依拉", "帕提古丽", "阿依努尔", "迪丽拜尔", "米热古丽",
                 "努尔古丽", "再努尔", "祖丽胡玛尔")
UYGHUR_MALE = ("买买提", "艾力", "吐尔逊", "阿不都", "艾合买提", "玉素甫", "伊力哈木", "努尔买买提",
               "亚森", "热合曼")
YI_FAMILY = ("吉克", "阿说", "沙马", "吉伍", "阿苏", "曲比")
YI_FEMALE = ("阿呷", "阿果", "拉莫", "日嘎", "阿依")
YI_MALE = ("木呷", "日古", "拉且", "伍沙", "尔布")
# Foundlings are named by the welfare home: 党 or 国, or the county's first character.
FOUNDLING_SURNAMES = ("党", "国", COUNTY_NAME[0])
FOUNDLING_GIVEN = ("爱华", "爱民", "安康", "福", "康乐", "新生", "春生", "晓阳", "欣", "乐")
# Characters people confuse in names: homophones and look-alikes (each group interchangeable).
NAME_CONFUSION_GROUPS = (
    "伟玮炜韦", "丽莉俐利", "芳方", "静晶婧敬", "娟鹃绢", "玲琳铃苓", "燕艳雁", "华桦", "军君均",
    "杰洁捷", "涛滔韬", "浩皓昊", "轩萱宣", "欣馨昕", "梓子紫", "宇雨羽语", "辰晨臣", "怡仪宜",
    "涵含晗", "睿锐瑞", "琪琦祺淇", "嘉佳家", "明鸣铭", "彤桐童", "思斯", "文雯闻", "霞侠",
    "英瑛莹", "梅玫", "兰岚蓝", "红虹宏", "秀绣", "凤风", "敏闽", "萍平", "颖影", "婷亭", "雪薛",
    "慧惠", "倩茜", "蓉容", "强墙", "磊雷", "勇永", "斌彬", "超朝", "刚钢", "辉晖", "鹏朋", "飞菲",
    "鑫新", "凯恺", "俊骏", "峰锋", "亮靓", "航杭", "博搏", "泽择", "豪毫", "瑶遥", "妍研",
    "张章", "王汪", "李黎", "刘柳", "陈程", "杨阳扬", "黄皇", "赵召", "吴伍武", "周邹舟",
    "徐许", "胡湖", "林琳", "何贺", "郭国", "马玛", "罗骆", "梁粱", "郑正", "谢解", "唐汤",
    "冯逢", "于余", "萧肖", "曹操", "袁元", "邓登", "傅付符", "沈申", "曾增", "彭鹏", "苏素",
    "卢芦", "蒋江姜", "蔡菜", "魏卫", "叶业", "潘盘", "钟忠仲", "覃谭", "廖寥", "陆路鹿", "邱丘秋",
    "韦伟", "莫漠", "蒙孟", "区欧", "仇裘", "单善", "侯候", "己已", "未末", "王玉", "日曰", "田由",
    "大太", "天夫", "人入", "千干",
)
# Simplified -> traditional for the name characters above (checked against OpenCC in tests).
TRADITIONAL_CHARACTERS = dict(zip(
    "张刘陈杨黄赵吴孙马郑罗许韩邓冯叶苏吕卢谭陆龙贺顾龚万钱汤乔赖韦庞蒋贾邹严丽华伟红静凤兰云军"
    "强涛杰辉鹏飞宁凯帅国东轩诗梦瑶晓语泽铭乐锦颖洁琼莲庆卫义亚热买尔贵荣宝欢阳远维娅丝钟艳",
    "張劉陳楊黃趙吳孫馬鄭羅許韓鄧馮葉蘇呂盧譚陸龍賀顧龔萬錢湯喬賴韋龐蔣賈鄒嚴麗華偉紅靜鳳蘭雲軍"
    "強濤傑輝鵬飛寧凱帥國東軒詩夢瑤曉語澤銘樂錦穎潔瓊蓮慶衛義亞熱買爾貴榮寶歡陽遠維婭絲鍾豔",
    strict=True,
))

SOURCE_SPECS: dict[str, SourceSpec] = SOURCES
EVENT_LABELS = {code: label for label, code in EVENT_TYPE_LABELS.items()}  # code -> 死亡登记 ...
EXTRA_COLUMN = "extra_note"  # the unknown column's values in file_rows

_MIX_GOLDEN, _MIX_1, _MIX_2 = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB


# ---------------------------------------------------------------------------------------------
# Outputs
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SyntheticInbox:
    """Everything demo_inbox writes: reference, file rows and plan, and the truth."""

    divisions: pl.DataFrame  # township_code, township_name, aliases
    children: pl.DataFrame  # truth: one row per true child
    file_rows: pl.DataFrame  # every data row of every file, text cells in canonical names
    files: pl.DataFrame  # the file plan: name, format, encoding, columns, headers, fate
    records: pl.DataFrame  # truth: one row per record (its latest version) or unusable row
    problems: pl.DataFrame  # truth: every injected discrepancy, gap and dirt that matters
    first_extract: date
    last_extract: date


# ---------------------------------------------------------------------------------------------
# Counter-based random numbers
# ---------------------------------------------------------------------------------------------
def _u64(value: int) -> pl.Expr:
    return pl.lit(value, dtype=pl.UInt64)


def _mix64(x: pl.Expr) -> pl.Expr:
    """SplitMix64's finaliser: a bijective scramble of 64-bit integers (wrapping arithmetic)."""
    x = (x ^ (x // _u64(1 << 30))) * _u64(_MIX_1)
    x = (x ^ (x // _u64(1 << 27))) * _u64(_MIX_2)
    return x ^ (x // _u64(1 << 31))


@dataclass(frozen=True)
class RandomStreams:
    """Uniform numbers as a pure function of (seed, stream, key): order-free and reproducible."""

    seed: int
    dirt_scale: float = 1.0

    def salt(self, stream: str) -> int:
        digest = hashlib.sha256(f"{self.seed}\x00{stream}".encode()).digest()
        return int.from_bytes(digest[:8], "little")

    def uniform(self, stream: str, key: pl.Expr | str) -> pl.Expr:
        """A float in [0, 1) for each key (a non-negative integer column)."""
        key_expr = pl.col(key) if isinstance(key, str) else key
        x = key_expr.cast(pl.UInt64) * _u64(_MIX_GOLDEN) + _u64(self.salt(stream))
        return (_mix64(x) // _u64(2048)).cast(pl.Float64) * (0.5**53)

    def value(self, stream: str, key: int) -> float:
        """The same uniform as `uniform`, for one key, in plain Python (file-level choices)."""
        mask = (1 << 64) - 1
        x = (key * _MIX_GOLDEN + self.salt(stream)) & mask
        x = ((x ^ (x >> 30)) * _MIX_1) & mask
        x = ((x ^ (x >> 27)) * _MIX_2) & mask
        x ^= x >> 31
        return (x >> 11) * (0.5**53)

    def chance(self, stream: str, key: pl.Expr | str, rate: float) -> pl.Expr:
        return self.uniform(stream, key) < rate

    def dirt(self, stream: str, key: pl.Expr | str, rate: float) -> pl.Expr:
        """A dirt event: its rate is multiplied by dirt_scale."""
        return self.uniform(stream, key) < self.scaled(rate)

    def scaled(self, rate: float) -> float:
        return min(rate * self.dirt_scale, 1.0)

    def index(self, stream: str, key: pl.Expr | str, weights: Sequence[float]) -> pl.Expr:
        """An index drawn with the given weights."""
        total = float(sum(weights))
        cdf = [sum(weights[: i + 1]) / total for i in range(len(weights))]
        cdf[-1] = 1.0
        return pl.lit(pl.Series(cdf)).search_sorted(self.uniform(stream, key), side="right")

    def pick(self, stream: str, key: pl.Expr | str, pool: Sequence[str],
             weights: Sequence[float] | None = None) -> pl.Expr:
        """A value from the pool (uniform unless weighted)."""
        shares = weights if weights is not None else [1.0] * len(pool)
        return pl.lit(pl.Series(list(pool), dtype=pl.String)).gather(
            self.index(stream, key, shares)
        )

    def integer(self, stream: str, key: pl.Expr | str, low: int, high: int) -> pl.Expr:
        """An integer in [low, high]."""
        span = high - low + 1
        return (self.uniform(stream, key) * span).floor().cast(pl.Int64) + low

    def lag_days(self, stream: str, key: pl.Expr | str,
                 mixture: Sequence[tuple[float, int, int]]) -> pl.Expr:
        """Days drawn from a mixture of uniform ranges (share, min, max)."""
        component = self.index(stream + ".component", key, [m[0] for m in mixture])
        low = pl.lit(pl.Series([m[1] for m in mixture], dtype=pl.Int64)).gather(component)
        high = pl.lit(pl.Series([m[2] for m in mixture], dtype=pl.Int64)).gather(component)
        return (self.uniform(stream, key) * (high - low + 1)).floor().cast(pl.Int64) + low

    def exactly(self, stream: str, key: pl.Expr | str, eligible: pl.Expr, count: int) -> pl.Expr:
        """True on exactly `count` eligible rows (fewer if fewer are eligible)."""
        ranked = pl.when(eligible).then(self.uniform(stream, key)).rank("ordinal")
        return (ranked <= count).fill_null(False)

    def count(self, rate: float, population: int, *, scaled: bool = True) -> int:
        """How many cases of a kind: rate x population (x dirt_scale), at least one unless
        the rate is zero (so a small demo still shows every kind)."""
        effective = self.scaled(rate) if scaled else rate
        if population <= 0 or effective <= 0:
            return 0
        return min(population, max(1, round(effective * population)))


def text_format(template: str, *values: pl.Expr) -> pl.Expr:
    """Like pl.format ("{}" placeholders), through concat_str.

    polars 2.1's pl.format panics on a string column made of several chunks; concat_str
    does not.
    """
    pieces = template.split("{}")
    if len(pieces) != len(values) + 1:
        raise ValueError(f"{template!r} needs {len(pieces) - 1} values, got {len(values)}")
    parts: list[pl.Expr] = []
    for piece, value in zip(pieces, [*values, None], strict=True):
        if piece:
            parts.append(pl.lit(piece))
        if value is not None:
            parts.append(value.cast(pl.String))
    return pl.concat_str(parts)


def first_match(branches: Sequence[tuple[pl.Expr, pl.Expr]],
                otherwise: pl.Expr | None = None) -> pl.Expr:
    """A when/then chain over (condition, value) pairs: the first true condition wins."""
    (condition, value), *rest = branches
    chain: Any = pl.when(condition).then(value)
    for condition, value in rest:
        chain = chain.when(condition).then(value)
    return chain.otherwise(otherwise if otherwise is not None else pl.lit(None))


def zipf_weights(count: int) -> list[float]:
    return [1.0 / (rank + 1) ** NAME_POOL_ZIPF_EXPONENT for rank in range(count)]


# ---------------------------------------------------------------------------------------------
# Small value builders
# ---------------------------------------------------------------------------------------------
def id_number_check_digit(body: str) -> pl.Expr:
    """GB 11643-1999 check character of the 17 digits in column `body` (a materialised column:
    it is read 17 times)."""
    number = pl.col(body).cast(pl.Int64)
    total = sum(
        ((number // 10 ** (16 - i)) % 10 * weight for i, weight in enumerate(ID_CHECK_WEIGHTS)),
        pl.lit(0, dtype=pl.Int64),
    )
    return pl.lit(pl.Series(list(ID_CHECK_CHARS))).gather(total % 11)


def with_id_number(frame: pl.DataFrame, body: pl.Expr, out: str) -> pl.DataFrame:
    """Column `out`: the 17-digit body and its check character."""
    return (frame.with_columns(_id_body=body)
            .with_columns(pl.concat_str("_id_body", id_number_check_digit("_id_body")).alias(out))
            .drop("_id_body"))


def id_number_body(region: pl.Expr, birth_date: pl.Expr, sequence: pl.Expr) -> pl.Expr:
    """Region, birth date, 3-digit sequence: the first 17 characters of an ID number."""
    return pl.concat_str(region, birth_date.dt.strftime("%Y%m%d"),
                         sequence.cast(pl.String).str.zfill(3))


def township_stem(name: str) -> str:
    """The name without its suffix: 大安镇 -> 大安, 瑶山瑶族乡 -> 瑶山."""
    for suffix in TOWNSHIP_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix) + 1:
            return name[: -len(suffix)]
    return name


def add_months(day: date, months: int) -> date:
    month_index = day.year * 12 + day.month - 1 + months
    return date(month_index // 12, month_index % 12 + 1, 1)


def extract_dates(source: str, start: date) -> tuple[date, ...]:
    """The days a source extracts: monthly (民政 every other month) after `start`."""
    first = date(start.year, start.month, 1)
    day = EXTRACT_DAY_OF_MONTH[source]
    return tuple(add_months(first, m).replace(day=day) for m in EXTRACT_MONTHS[source])


def file_name(source: str, extract_date: date, file_seq: int, extension: str) -> str:
    """The contract's name, relative to the inbox: <source>/<source>_<YYYYMMDD>[_<n>].<ext>."""
    seq = "" if file_seq == 0 else f"_{file_seq}"
    return f"{source}/{source}_{extract_date:%Y%m%d}{seq}.{extension}"


def confusable_characters() -> dict[str, str]:
    """Each name character and the characters it is confused with."""
    table: dict[str, str] = {}
    for group in NAME_CONFUSION_GROUPS:
        for char in group:
            table[char] = table.get(char, "") + "".join(c for c in group if c != char)
    return table


def misspell_name(name: str, position_draw: float, char_draw: float) -> str | None:
    """One character of the name swapped for a homophone or look-alike; None when none fits."""
    table = CONFUSABLE_CHARACTERS
    positions = [i for i, char in enumerate(name) if char in table]
    if not positions:
        return None
    at = positions[min(int(position_draw * len(positions)), len(positions) - 1)]
    options = table[name[at]]
    return name[:at] + options[min(int(char_draw * len(options)), len(options) - 1)] + name[at + 1:]


def misspell_column(frame: pl.DataFrame, column: str, rng: RandomStreams, stream: str,
                    key: str) -> pl.Series:
    """The column with one confusable character changed per row (null where none fits)."""
    draws = frame.select(
        pl.col(column), rng.uniform(stream + ".at", key).alias("a"),
        rng.uniform(stream + ".char", key).alias("b"),
    )
    values = [
        misspell_name(name, a, b) if name else None
        for name, a, b in draws.iter_rows()
    ]
    return pl.Series(column, values, dtype=pl.String)


CONFUSABLE_CHARACTERS = confusable_characters()


# ---------------------------------------------------------------------------------------------
# The county
# ---------------------------------------------------------------------------------------------
def build_divisions() -> pl.DataFrame:
    """The reference list: code, official name, aliases (stem and older names)."""
    rows = []
    for code, name, aliases, _ in TOWNSHIPS:
        rows.append((code, name, ALIAS_SEPARATOR.join(aliases) or None))
    return pl.DataFrame(rows, schema={"township_code": pl.String, "township_name": pl.String,
                                      "aliases": pl.String}, orient="row")


def township_table() -> pl.DataFrame:
    """Per township: index, code, name, stem, an older name (or the stem), village pool offset."""
    return pl.DataFrame(
        {
            "township_index": list(range(len(TOWNSHIPS))),
            "township_code": [t[0] for t in TOWNSHIPS],
            "township_name": [t[1] for t in TOWNSHIPS],
            "township_stem": [township_stem(t[1]) for t in TOWNSHIPS],
            "township_alias": [
                next((a for a in t[2] if a != township_stem(t[1])), township_stem(t[1]))
                for t in TOWNSHIPS
            ],
        },
        schema_overrides={"township_index": pl.UInt32},
    )


# ---------------------------------------------------------------------------------------------
# People
# ---------------------------------------------------------------------------------------------
def given_name(rng: RandomStreams, stream: str, key: str, one: Sequence[str],
               two: Sequence[str], one_share: float) -> pl.Expr:
    return (
        pl.when(rng.chance(stream + ".length", key, one_share))
        .then(rng.pick(stream + ".one", key, one, zipf_weights(len(one))))
        .otherwise(rng.pick(stream + ".two", key, two, zipf_weights(len(two))))
    )


def surname(rng: RandomStreams, stream: str, key: str) -> pl.Expr:
    return rng.pick(stream, key, [s for s, _ in SURNAME_SHARES], [w for _, w in SURNAME_SHARES])


def assign_id_numbers(people: pl.DataFrame, rng: RandomStreams, stream: str,
                      regions: Sequence[str] | None = None) -> pl.Series:
    """Unique ID numbers for people with `region`, `birth_date`, `sex`, `key` columns.

    The sequence is the person's random rank among those born the same day in the same region
    with the same sex: odd for men, even for women (GB 11643-1999). With `regions`, a day's
    overflow beyond 500 per sex moves on to the next region code.
    """
    group = ("region", "birth_date", "sex")
    ranked = people.with_columns(
        rank=(rng.uniform(stream, "key").rank("ordinal").over(group) - 1).cast(pl.Int64),
        group_size=pl.len().over(group).cast(pl.Int64),
        group_key=pl.col("key").min().over(group),
    )
    capacity = 500 * (len(regions) if regions is not None else 1)
    if ranked.height and int(ranked["group_size"].max()) > capacity:  # type: ignore[arg-type]
        raise ValueError("too many people born on one day for the ID number space; "
                         "generate fewer births")
    # A random start within the day's numbers, so sequences do not all begin at 000.
    offset = (rng.uniform(stream + ".offset", "group_key")
              * (500 - pl.col("group_size")).clip(0)).floor().cast(pl.Int64)
    ranked = ranked.with_columns(rank=pl.col("rank") + offset)
    if regions is not None:
        ranked = ranked.with_columns(
            region=pl.lit(pl.Series(list(regions))).gather(pl.col("rank") // 500),
            rank=pl.col("rank") % 500,
        )
    body = id_number_body(pl.col("region"), pl.col("birth_date"),
                          pl.col("rank") * 2 + (pl.col("sex") == 1).cast(pl.Int64))
    return with_id_number(ranked, body, "id_number")["id_number"]


def build_deliveries(births: int, rng: RandomStreams, days_in_year: int) -> pl.DataFrame:
    """Deliveries (twins count two) adding up to exactly `births` children."""
    twin_delivery_share = TWIN_BIRTH_SHARE / (2 - TWIN_BIRTH_SHARE)
    deliveries = (
        pl.DataFrame({"delivery_no": pl.int_range(births, eager=True, dtype=pl.Int64)})
        .with_columns(
            size=pl.when(rng.chance("delivery.twins", "delivery_no", twin_delivery_share))
            .then(2).otherwise(1).cast(pl.Int64)
        )
        .with_columns(first_child=pl.col("size").cum_sum() - pl.col("size"))
        .filter(pl.col("first_child") < births)
        .with_columns(size=pl.min_horizontal("size", births - pl.col("first_child")))
    )
    order_index = rng.index("delivery.order", "delivery_no", BIRTH_ORDER_SHARES)
    deliveries = deliveries.with_columns(
        day=(rng.uniform("delivery.day", "delivery_no") * days_in_year).floor().cast(pl.Int64),
        minute=rng.integer("delivery.minute", "delivery_no", 0, 1439),
        township_index=rng.index("delivery.township", "delivery_no", [t[3] for t in TOWNSHIPS]),
        parity=pl.when(order_index < 2).then(order_index.cast(pl.Int64) + 1).otherwise(
            rng.index("delivery.parity3", "delivery_no", THIRD_PLUS_PARITY_SHARES).cast(pl.Int64)
            + 3
        ),
        mother_no=pl.col("delivery_no"),
        is_home_birth=rng.chance("delivery.home", "delivery_no", HOME_BIRTH_RATE),
    )
    return link_same_year_siblings(deliveries, rng)


def link_same_year_siblings(deliveries: pl.DataFrame, rng: RandomStreams) -> pl.DataFrame:
    """Give a few late-year deliveries the mother of a delivery at least 300 days earlier."""
    gap = SAME_YEAR_SIBLING_GAP_DAYS
    eligible = pl.col("day") >= gap
    count = rng.count(SAME_YEAR_SIBLING_SHARE, deliveries.height, scaled=False)
    later = deliveries.filter(rng.exactly("sibling.later", "delivery_no", eligible, count))
    earlier = deliveries.filter(pl.col("day") < gap).sort("day", "delivery_no")
    if later.is_empty() or earlier.is_empty():
        return deliveries
    before = earlier["day"].search_sorted(later["day"] - gap, side="right").cast(pl.Int64)
    later = later.with_columns(before=before).filter(pl.col("before") > 0)
    pick = later.select(
        (rng.uniform("sibling.earlier", "delivery_no") * pl.col("before")).floor().cast(pl.Int64)
    ).to_series()
    chosen = earlier[pick]
    links = pl.DataFrame({
        "delivery_no": later["delivery_no"],
        "sibling_mother_no": chosen["mother_no"],
        "sibling_parity": chosen["parity"] + chosen["size"],
        "sibling_township": chosen["township_index"],
    }).unique("sibling_mother_no", keep="first", maintain_order=True)
    return (
        deliveries.join(links, on="delivery_no", how="left", maintain_order="left")
        .with_columns(
            mother_no=pl.coalesce("sibling_mother_no", "mother_no"),
            parity=pl.coalesce("sibling_parity", "parity"),
            township_index=pl.coalesce("sibling_township", "township_index"),
        )
        .drop("sibling_mother_no", "sibling_parity", "sibling_township")
    )


def build_adults(keys: pl.DataFrame, rng: RandomStreams, start: date, role: str) -> pl.DataFrame:
    """Mothers or fathers for `keys` (mother_no, age, township_index, dotted, yi): names, IDs."""
    female = role in ("mother", "adoptive_mother")
    sex = 2 if female else 1
    s = f"adult.{role}"
    one, two = ((ADULT_FEMALE_GIVEN_ONE, ADULT_FEMALE_GIVEN_TWO) if female
                else (ADULT_MALE_GIVEN_ONE, ADULT_MALE_GIVEN_TWO))
    first_dotted = UYGHUR_FEMALE if female else UYGHUR_MALE
    yi_given = YI_FEMALE if female else YI_MALE
    adults = keys.with_columns(
        sex=pl.lit(sex, dtype=pl.Int64),
        birth_date=pl.lit(start) - pl.duration(days=(pl.col("age") * 365.25).cast(pl.Int64)
                                               + rng.integer(s + ".birthday", "key", 0, 364)),
        region=pl.when(rng.chance(s + ".local", "key", LOCAL_ID_REGION_SHARE))
        .then(pl.lit(COUNTY_CODE)).otherwise(rng.pick(s + ".region", "key", OTHER_ID_REGION_CODES)),
        surname=surname(rng, s + ".surname", "key"),
        given=given_name(rng, s + ".given", "key", one, two, ONE_CHAR_GIVEN_NAME_SHARE_ADULT),
        dotted_name=pl.when(pl.col("yi"))
        .then(pl.concat_str(rng.pick(s + ".yi_family", "key", YI_FAMILY), pl.lit(MIDDLE_DOT),
                            rng.pick(s + ".yi_given", "key", yi_given)))
        .otherwise(pl.concat_str(rng.pick(s + ".dotted", "key", first_dotted), pl.lit(MIDDLE_DOT),
                                 rng.pick(s + ".dotted_father", "key", UYGHUR_MALE))),
    )
    adults = adults.with_columns(
        name=pl.when(pl.col("dotted")).then(pl.col("dotted_name"))
        .otherwise(pl.concat_str("surname", "given")),
        surname=pl.when(pl.col("dotted")).then(pl.col("dotted_name").str.split(MIDDLE_DOT)
                                                .list.first())
        .otherwise(pl.col("surname")),
    )
    return adults


def build_children(births: int, rng: RandomStreams, start: date,
                   calendar: dict[str, tuple[date, ...]]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The true children (with every department's dates) and the adults (parents)."""
    days_in_year = (date(start.year + 1, start.month, 1) - date(start.year, start.month, 1)).days
    deliveries = build_deliveries(births, rng, days_in_year)
    p_male = [r / (r + 100.0) for r in SEX_RATIO_BY_ORDER]
    children = (
        deliveries.with_columns(twin_index=pl.int_ranges(0, "size"))
        .explode("twin_index")
        .sort("day", "delivery_no", "twin_index")
        .with_row_index("child_no")
        .with_columns(pl.col("child_no").cast(pl.Int64), pl.col("twin_index").cast(pl.Int64))
    )
    width = max(7, len(str(births)))
    children = children.with_columns(
        child_key=text_format("C{}", (pl.col("child_no") + 1).cast(pl.String).str.zfill(width)),
        birth_parity=pl.col("parity") + pl.col("twin_index"),
        birth_date=pl.lit(start) + pl.duration(days=pl.col("day")),
        birth_minute=pl.min_horizontal(
            pl.col("minute")
            + pl.col("twin_index") * rng.integer("twin.minutes", "child_no", 1, 15), 1439),
        twin_group=pl.when(pl.col("size") == 2)
        .then(text_format("T{}", (pl.col("delivery_no") + 1).cast(pl.String).str.zfill(width))),
    ).with_columns(birth_order=pl.min_horizontal("birth_parity", 3))
    male_draw = rng.uniform("child.sex", "child_no") < pl.lit(pl.Series(p_male)).gather(
        pl.col("birth_order") - 1)
    children = children.with_columns(sex=pl.when(male_draw).then(1).otherwise(2).cast(pl.Int64))
    identical = rng.chance("twin.identical", "delivery_no", MONOZYGOTIC_TWIN_SHARE)
    children = children.with_columns(
        sex=pl.when((pl.col("twin_index") == 1) & identical)
        .then(pl.col("sex").first().over("delivery_no")).otherwise("sex")
    )
    children = choose_events(children, rng, calendar)
    adults = build_parents(children, rng, start)
    children = name_children(children, adults, rng)
    return add_department_dates(children, rng, calendar), adults


def choose_events(children: pl.DataFrame, rng: RandomStreams,
                  calendar: dict[str, tuple[date, ...]]) -> pl.DataFrame:
    """Foundlings, infant deaths and adoptions, with the day each happened."""
    n = children.height
    last_event_day = calendar["minzheng"][-1] - timedelta(days=1)
    alone = (pl.col("size") == 1) & (pl.len().over("mother_no") == 1)
    foundling = rng.exactly("event.foundling", "child_no", alone & pl.col("is_home_birth"),
                            rng.count(FOUNDLING_RATE, n, scaled=False))
    children = children.with_columns(is_foundling=foundling)
    death = rng.exactly("event.death", "child_no", ~pl.col("is_foundling"),
                        rng.count(INFANT_DEATH_RATE, n, scaled=False))
    children = children.with_columns(is_dead=death)
    room = (pl.lit(last_event_day) - pl.col("birth_date")).dt.total_days()
    adoption = rng.exactly(
        "event.adoption", "child_no",
        ~pl.col("is_foundling") & ~pl.col("is_dead") & (room > ADOPTION_LAG_DAYS[0] + 30),
        rng.count(ADOPTION_RATE, n, scaled=False))
    lag = (
        pl.when(pl.col("is_foundling"))
        .then(rng.integer("event.found_lag", "child_no", *FOUNDLING_FOUND_LAG_DAYS))
        .when(pl.col("is_dead")).then(rng.lag_days("event.death_lag", "child_no", DEATH_LAG_DAYS))
        .otherwise(rng.integer("event.adoption_lag", "child_no", *ADOPTION_LAG_DAYS))
    )
    return children.with_columns(is_adopted=adoption).with_columns(
        event=pl.when("is_foundling").then(pl.lit(DiscrepancyKind.FOUNDLING.value))
        .when("is_dead").then(pl.lit(DiscrepancyKind.INFANT_DEATH.value))
        .when("is_adopted").then(pl.lit(DiscrepancyKind.ADOPTION.value)),
    ).with_columns(
        event_date=pl.when(pl.col("event").is_not_null())
        .then(pl.col("birth_date") + pl.duration(days=pl.min_horizontal(lag, room.clip(0))))
    )


def build_parents(children: pl.DataFrame, rng: RandomStreams, start: date) -> pl.DataFrame:
    """One mother and one father per mother_no, and adoptive parents for adopted children."""
    keyed = (
        children.filter(~pl.col("is_foundling"))
        .sort("mother_no", "child_no")
        .group_by("mother_no", maintain_order=True)
        .agg(pl.col("parity").first(), pl.col("township_index").first())
        .with_columns(key=pl.col("mother_no"))
    )
    mean_age = pl.lit(pl.Series(MOTHER_AGE_MEAN_BY_ORDER)).gather(
        pl.min_horizontal("parity", 3) - 1)
    spread = sum((rng.uniform(f"mother.age.{i}", "key") for i in range(4)), pl.lit(0.0)) - 2.0
    keyed = keyed.with_columns(
        age=(mean_age + spread * 6.0).clip(*MOTHER_AGE_RANGE),
        dotted=rng.chance("family.dotted", "key", ETHNIC_DOTTED_NAME_SHARE),
        yi=rng.chance("family.yi", "key", YI_SHARE_OF_DOTTED),
        ethnicity=rng.pick("family.ethnicity", "key", [e for e, _ in ETHNICITIES],
                           [w for _, w in ETHNICITIES]),
    ).with_columns(
        ethnicity=pl.when(~pl.col("dotted")).then("ethnicity")
        .when(pl.col("yi")).then(pl.lit("彝族")).otherwise(pl.lit("维吾尔族"))
    )
    mothers = build_adults(keyed, rng, start, "mother")
    fathers = build_adults(
        keyed.with_columns(age=pl.col("age") + rng.integer("father.gap", "key",
                                                             *FATHER_AGE_GAP_YEARS)),
        rng, start, "father")
    adopted = (
        children.filter(pl.col("is_adopted"))
        .select(key=pl.col("child_no"), mother_no=pl.col("child_no"),
                township_index="township_index")
        .with_columns(age=30.0 + rng.integer("adoptive.age", "key", 0, 10).cast(pl.Float64),
                      dotted=pl.lit(False), yi=pl.lit(False), ethnicity=pl.lit("汉族"),
                      parity=pl.lit(1, dtype=pl.Int64))
    )
    adoptive_mothers = build_adults(adopted, rng, start, "adoptive_mother")
    adoptive_fathers = build_adults(adopted, rng, start, "adoptive_father")
    columns = ["role", "mother_no", "key", "name", "surname", "birth_date", "region", "sex",
               "township_index", "dotted", "ethnicity"]
    adults = pl.concat([
        frame.with_columns(role=pl.lit(role)).select(columns)
        for role, frame in (("mother", mothers), ("father", fathers),
                            ("adoptive_mother", adoptive_mothers),
                            ("adoptive_father", adoptive_fathers))
    ])
    # One numbering for all adults, so no two people ever share an ID number.
    numbered = adults.with_row_index("person_no").with_columns(
        key_all=pl.col("person_no").cast(pl.Int64))
    ids = assign_id_numbers(numbered.with_columns(key=pl.col("key_all")), rng, "adult.id")
    return adults.with_columns(id_number=ids)


def parent_columns(adults: pl.DataFrame, role: str, prefix: str, on: str) -> pl.DataFrame:
    return adults.filter(pl.col("role") == role).select(
        pl.col("key").alias(on),
        pl.col("name").alias(f"{prefix}_name"),
        pl.col("surname").alias(f"{prefix}_surname"),
        pl.col("id_number").alias(f"{prefix}_id_number"),
        pl.col("birth_date").dt.year().alias(f"{prefix}_birth_year"),
        pl.col("dotted").alias(f"{prefix}_dotted"),
        pl.col("ethnicity").alias(f"{prefix}_ethnicity"),
    )


def name_children(children: pl.DataFrame, adults: pl.DataFrame,
                  rng: RandomStreams) -> pl.DataFrame:
    """Parents joined in; the name the family gives (adoptive family's surname if adopted)."""
    children = (
        children.join(parent_columns(adults, "mother", "mother", "mother_no"), on="mother_no",
                      how="left", maintain_order="left")
        .join(parent_columns(adults, "father", "father", "mother_no"), on="mother_no",
              how="left", maintain_order="left")
        .join(parent_columns(adults, "adoptive_mother", "adoptive_mother", "child_no"),
              on="child_no", how="left", maintain_order="left")
        .join(parent_columns(adults, "adoptive_father", "adoptive_father", "child_no"),
              on="child_no", how="left", maintain_order="left")
    )
    boy = pl.col("sex") == 1
    given = (
        pl.when(boy).then(given_name(rng, "child.boy", "child_no", BOY_GIVEN_ONE, BOY_GIVEN_TWO,
                                     ONE_CHAR_GIVEN_NAME_SHARE_CHILD))
        .otherwise(given_name(rng, "child.girl", "child_no", GIRL_GIVEN_ONE, GIRL_GIVEN_TWO,
                              ONE_CHAR_GIVEN_NAME_SHARE_CHILD))
    )
    # A second twin never gets the first twin's name: fall back to the next pool entry.
    second_given = (
        pl.when(boy).then(rng.pick("child.twin_boy", "child_no", BOY_GIVEN_TWO))
        .otherwise(rng.pick("child.twin_girl", "child_no", GIRL_GIVEN_TWO))
    )
    dotted_given = (
        pl.when(pl.col("mother_ethnicity") == "彝族")
        .then(pl.when(boy).then(rng.pick("child.yi_m", "child_no", YI_MALE))
              .otherwise(rng.pick("child.yi_f", "child_no", YI_FEMALE)))
        .otherwise(pl.when(boy).then(rng.pick("child.uy_m", "child_no", UYGHUR_MALE))
                   .otherwise(rng.pick("child.uy_f", "child_no", UYGHUR_FEMALE)))
    )
    family_surname = (
        pl.when(rng.chance("child.mother_surname", "child_no", CHILD_TAKES_MOTHER_SURNAME_SHARE))
        .then("mother_surname").otherwise("father_surname")
    )
    children = children.with_columns(given=given, second_given=second_given)
    children = children.with_columns(
        given=pl.when((pl.col("twin_index") == 1)
                      & (pl.col("given") == pl.col("given").first().over("delivery_no")))
        .then(pl.when(pl.col("second_given") == pl.col("given"))
              .then(pl.col("given") + pl.lit("儿")).otherwise("second_given"))
        .otherwise("given"),
    )
    foundling_name = pl.concat_str(
        rng.pick("foundling.surname", "child_no", FOUNDLING_SURNAMES),
        rng.pick("foundling.given", "child_no", FOUNDLING_GIVEN))
    yi = pl.col("mother_ethnicity") == "彝族"
    dotted_name = pl.when(yi).then(
        pl.concat_str(pl.col("father_surname"), pl.lit(MIDDLE_DOT), dotted_given)
    ).otherwise(pl.concat_str(dotted_given, pl.lit(MIDDLE_DOT), pl.col("father_surname")))
    return children.with_columns(
        birth_name=pl.when(pl.col("is_foundling")).then(foundling_name)
        .when(pl.col("mother_dotted")).then(dotted_name)
        .otherwise(pl.concat_str(family_surname, pl.col("given"))),
        adopted_name=pl.concat_str(pl.col("adoptive_father_surname"), pl.col("given")),
        ethnicity=pl.coalesce("mother_ethnicity", pl.lit("汉族")),
        village=pl.concat_str(
            pl.lit(pl.Series(list(VILLAGE_STEMS))).gather(
                (pl.col("mother_no") * 7 + pl.col("township_index").cast(pl.Int64) * 3)
                % len(VILLAGE_STEMS)),
            pl.when(rng.chance("child.community", "mother_no", 0.1)).then(pl.lit("社区"))
            .otherwise(pl.lit("村"))),
    ).drop("second_given")


def add_department_dates(children: pl.DataFrame, rng: RandomStreams,
                         calendar: dict[str, tuple[date, ...]]) -> pl.DataFrame:
    """When each department records the child (null when it never does by its last extract)."""
    def before_last(source: str, when: pl.Expr) -> pl.Expr:
        return pl.when(when < pl.lit(calendar[source][-1])).then(when)

    days = pl.duration
    order_index = pl.col("birth_order") - 1
    issued = pl.col("birth_date") + days(days=rng.lag_days("weisheng.lag", "child_no",
                                                           WEISHENG_ISSUE_LAG_DAYS))
    registered = pl.col("birth_date") + days(days=rng.lag_days("jisheng.lag", "child_no",
                                                               JISHENG_LAG_DAYS))
    jisheng_missing = rng.uniform("jisheng.missing", "child_no") < pl.lit(
        pl.Series(JISHENG_MISSING_RATE_BY_ORDER)).gather(order_index)
    never_rate = (
        GONGAN_NEVER_REGISTERED_RATE
        * pl.when(pl.col("sex") == 2).then(GONGAN_NEVER_GIRL_FACTOR).otherwise(1.0)
        * pl.lit(pl.Series(GONGAN_NEVER_ORDER_FACTOR)).gather(order_index)
    )
    never = rng.uniform("gongan.never", "child_no") < never_rate
    declared = (
        pl.when(pl.col("is_foundling"))
        .then(pl.when(rng.chance("gongan.foundling", "child_no", FOUNDLING_HUKOU_SHARE))
              .then(pl.col("event_date") + days(days=rng.integer(
                  "gongan.foundling_lag", "child_no", *FOUNDLING_HUKOU_LAG_DAYS))))
        .when(never).then(None)
        .otherwise(pl.col("birth_date") + days(days=rng.lag_days("gongan.lag", "child_no",
                                                                 HUKOU_LAG_DAYS)))
    )
    children = children.with_columns(
        issued_date=pl.when(~pl.col("is_home_birth")).then(before_last("weisheng", issued)),
        registered_date=pl.when(~pl.col("is_foundling") & ~jisheng_missing)
        .then(before_last("jisheng", registered)),
        declared_date=before_last("gongan", declared),
        gongan_never=never & ~pl.col("is_foundling"),
    ).with_columns(
        # A child who dies before the family registers the hukou is never registered.
        declared_date=pl.when(pl.col("is_dead") & (pl.col("event_date") <= pl.col("declared_date")))
        .then(None).otherwise("declared_date"),
    )
    # The hukou name is the adoptive family's when the hukou came after the adoption.
    adopted_first = pl.col("is_adopted") & (pl.col("declared_date") > pl.col("event_date"))
    return children.with_columns(
        child_name=pl.when(adopted_first).then("adopted_name").otherwise("birth_name"),
        hukou_mother_name=pl.when(adopted_first).then("adoptive_mother_name")
        .otherwise("mother_name"),
        hukou_mother_id_number=pl.when(adopted_first).then("adoptive_mother_id_number")
        .otherwise("mother_id_number"),
        hukou_father_name=pl.when(adopted_first).then("adoptive_father_name")
        .otherwise("father_name"),
        hukou_father_id_number=pl.when(adopted_first).then("adoptive_father_id_number")
        .otherwise("father_id_number"),
        hukou_is_adoptive=adopted_first.fill_null(False),
    )


# ---------------------------------------------------------------------------------------------
# Department records: clean values as each department recorded them
# ---------------------------------------------------------------------------------------------
RECORD_COLUMNS: dict[str, pl.DataType] = {
    "record_key": pl.Int64(), "version": pl.Int64(), "source": pl.String(),
    "record_id": pl.String(),
    "child_key": pl.String(), "child_no": pl.Int64(), "created_date": pl.Date(),
    "is_duplicate_registration": pl.Boolean(), "duplicate_of": pl.Int64(),
    "township_index": pl.UInt32(), "village": pl.String(), "child_name": pl.String(),
    "weisheng_name_kind": pl.Int64(), "sex_v": pl.Int64(), "birth_date_v": pl.Date(),
    "birth_minute": pl.Int64(), "parity_v": pl.Int64(), "carries_child_id": pl.Boolean(),
    "child_id_number": pl.String(), "mother_name": pl.String(), "mother_id_number": pl.String(),
    "mother_birth_year": pl.Int64(), "father_name": pl.String(), "father_id_number": pl.String(),
    "father_birth_year": pl.Int64(), "birth_cert_number": pl.String(),
    "is_within_policy": pl.Boolean(), "registered_date_v": pl.Date(), "issued_date_v": pl.Date(),
    "declared_date_v": pl.Date(), "event_date_v": pl.Date(), "event_type": pl.String(),
    "hospital": pl.String(), "ethnicity": pl.String(), "gestational_days": pl.Int64(),
    "birth_weight_g": pl.Int64(), "hukou_is_adoptive": pl.Boolean(),
}
SOURCE_ORDER = (Source.JISHENG.value, Source.WEISHENG.value, Source.GONGAN.value,
                Source.MINZHENG.value)
LINKED_SOURCES = SOURCE_ORDER[:3]  # the three that record every birth


def cert_number(serial: pl.Expr, year: pl.Expr, rng: RandomStreams) -> pl.Expr:
    """Birth certificate number: a letter for the year and 9 digits (45 + a running number)."""
    letters = pl.lit(pl.Series([chr(ord("A") + i) for i in range(26)]))
    # Numbers run on in issue order from a random start; distinct below 10**7 certificates.
    scrambled = (serial + rng.salt("cert.offset") % 10_000_000) % 10_000_000
    return pl.concat_str(letters.gather((year.cast(pl.Int64) - 2000) % 26), pl.lit("45"),
                         scrambled.cast(pl.String).str.zfill(7))


def add_birth_facts(children: pl.DataFrame, rng: RandomStreams) -> pl.DataFrame:
    """Certificate number, hospital, gestation and weight of each child born in hospital."""
    hospital_index = rng.index("birth.hospital", "child_no", [h[1] for h in HOSPITALS])
    township_names = pl.lit(pl.Series([t[1] for t in TOWNSHIPS])).gather(
        pl.col("township_index"))
    twin = pl.col("twin_group").is_not_null()
    preterm = rng.chance("birth.preterm", "child_no", 0.06)
    weeks = (
        pl.when(twin).then(rng.integer("birth.weeks_twin", "child_no", 33, 37))
        .when(preterm).then(rng.integer("birth.weeks_pre", "child_no", 32, 36))
        .otherwise(rng.integer("birth.weeks", "child_no", 37, 41))
    )
    spread = sum((rng.uniform(f"birth.weight.{i}", "child_no") for i in range(4)),
                 pl.lit(0.0)) - 2.0
    weight = (pl.when(twin).then(2450.0).when(preterm).then(2500.0).otherwise(3250.0)
              + spread * 720.0 + (pl.col("sex") == 1).cast(pl.Float64) * 100.0)
    has_cert = pl.col("issued_date").is_not_null()
    issue_order = pl.col("issued_date").cast(pl.Int64) * 100_000_000 + pl.col("child_no")
    serial = pl.when(has_cert).then(issue_order).rank("ordinal") - 1
    return children.with_columns(
        birth_cert_number=pl.when(has_cert).then(
            cert_number(serial.cast(pl.Int64), pl.col("issued_date").dt.year(), rng)),
        hospital=pl.when(pl.col("is_home_birth")).then(None)
        .when(hospital_index == len(HOSPITALS) - 1).then(pl.concat_str(
            township_names,
            pl.when(township_names.str.ends_with("街道")).then(pl.lit("社区卫生服务中心"))
            .otherwise(pl.lit("卫生院"))))
        .otherwise(pl.lit(pl.Series([h[0] for h in HOSPITALS])).gather(hospital_index)),
        gestational_days=weeks * 7 + rng.integer("birth.weeks_days", "child_no", 0, 6),
        birth_weight_g=((weight / 10).round() * 10).cast(pl.Int64).clip(900, 5200),
    )


def build_records(children: pl.DataFrame, rng: RandomStreams) -> pl.DataFrame:
    """First versions of every department's records, before any discrepancy."""
    births_known = dict(
        child_key=pl.col("child_key"), child_no=pl.col("child_no"),
        township_index=pl.col("township_index"), sex_v=pl.col("sex"),
        birth_date_v=pl.col("birth_date"), mother_name=pl.col("mother_name"),
        mother_id_number=pl.col("mother_id_number"),
        mother_birth_year=pl.col("mother_birth_year").cast(pl.Int64),
    )
    birth_father = dict(
        father_name=pl.col("father_name"), father_id_number=pl.col("father_id_number"),
        father_birth_year=pl.col("father_birth_year").cast(pl.Int64),
    )
    hukou_first = pl.col("declared_date") <= pl.col("registered_date")
    named_early = rng.chance("jisheng.named_early", "child_no", JISHENG_NAME_BEFORE_HUKOU_SHARE)
    within = rng.uniform("jisheng.policy", "child_no") < pl.lit(
        pl.Series(WITHIN_POLICY_SHARE_BY_ORDER)).gather(pl.col("birth_order") - 1)
    jisheng = children.filter(pl.col("registered_date").is_not_null()).select(
        source=pl.lit(Source.JISHENG.value), created_date=pl.col("registered_date"),
        **births_known, **birth_father,
        village=pl.col("village"),
        child_name=pl.when(hukou_first.fill_null(False)).then("child_name")
        .when(named_early).then("birth_name"),
        parity_v=pl.col("birth_parity"),
        carries_child_id=hukou_first.fill_null(False),
        birth_cert_number=pl.when(
            (pl.col("issued_date") <= pl.col("registered_date"))
            & rng.chance("jisheng.cert", "child_no", JISHENG_CERT_NUMBER_SHARE)
        ).then("birth_cert_number"),
        is_within_policy=within,
        registered_date_v=pl.col("registered_date"),
    )
    weisheng = children.filter(pl.col("issued_date").is_not_null()).select(
        source=pl.lit(Source.WEISHENG.value), created_date=pl.col("issued_date"),
        **births_known, **birth_father,
        weisheng_name_kind=rng.index("weisheng.name_kind", "child_no",
                                     WEISHENG_CHILD_NAME_SHARES).cast(pl.Int64),
        birth_minute=pl.col("birth_minute"), village=pl.col("village"),
        birth_cert_number=pl.col("birth_cert_number"),
        issued_date_v=pl.col("issued_date"), hospital=pl.col("hospital"),
        gestational_days=pl.col("gestational_days"), birth_weight_g=pl.col("birth_weight_g"),
        birth_name=pl.col("birth_name"),
    ).with_columns(
        child_name=pl.when(pl.col("weisheng_name_kind") == 2).then("birth_name")
    )
    gongan = children.filter(pl.col("declared_date").is_not_null()).select(
        source=pl.lit(Source.GONGAN.value), created_date=pl.col("declared_date"),
        **(births_known | dict(mother_name=pl.col("hukou_mother_name"),
                               mother_id_number=pl.col("hukou_mother_id_number"))),
        father_name=pl.col("hukou_father_name"),
        father_id_number=pl.col("hukou_father_id_number"),
        father_birth_year=pl.col("father_birth_year").cast(pl.Int64),
        child_name=pl.col("child_name"), ethnicity=pl.col("ethnicity"),
        carries_child_id=pl.lit(True),
        birth_cert_number=pl.when(
            (pl.col("issued_date") <= pl.col("declared_date"))
            & ~rng.chance("gongan.no_cert", "child_no", GONGAN_CERT_NUMBER_MISSING_RATE)
        ).then("birth_cert_number"),
        declared_date_v=pl.col("declared_date"),
        hukou_is_adoptive=pl.col("hukou_is_adoptive"),
    )
    registered_before = (pl.col("declared_date") <= pl.col("event_date")).fill_null(False)
    placeholder = pl.when(rng.chance("minzheng.placeholder", "child_no", 0.5)).then(
        pl.concat_str(pl.col("mother_name"),
                      pl.when(pl.col("sex") == 1).then(pl.lit("之子")).otherwise(pl.lit("之女")))
    ).otherwise(pl.when(pl.col("sex") == 1).then(pl.lit("男婴")).otherwise(pl.lit("女婴")))
    minzheng = children.filter(pl.col("event").is_not_null()).select(
        source=pl.lit(Source.MINZHENG.value), created_date=pl.col("event_date"),
        **births_known,
        event_type=pl.col("event"), event_date_v=pl.col("event_date"),
        child_name=pl.when(pl.col("event") == DiscrepancyKind.ADOPTION.value)
        .then("adopted_name")
        .when(pl.col("event") == DiscrepancyKind.FOUNDLING.value).then("birth_name")
        .when(registered_before).then("child_name").otherwise(placeholder),
        carries_child_id=registered_before
        & rng.chance("minzheng.carries_id", "child_no", 0.5),
    )
    records = pl.concat([jisheng, weisheng, gongan, minzheng], how="diagonal_relaxed")
    records = records.with_columns(
        record_key=pl.int_range(pl.len(), dtype=pl.Int64), version=pl.lit(0, dtype=pl.Int64),
        is_duplicate_registration=pl.lit(False),
    )
    return conform(records)


def conform(records: pl.DataFrame) -> pl.DataFrame:
    """Every record column, in order, with its declared type (nulls where a source has none)."""
    return records.select(
        (pl.col(c) if c in records.columns else pl.lit(None)).cast(t).alias(c)
        for c, t in RECORD_COLUMNS.items()
    )


def problem_rows(frame: pl.DataFrame, problem: str, detail: pl.Expr) -> pl.DataFrame:
    """Truth problem rows for the records in `frame`."""
    return frame.select(
        pl.col("source"), pl.col("record_key"), pl.col("child_key"),
        pl.lit(problem).alias("problem"), detail.cast(pl.String).alias("detail"),
    )


def add_duplicates(records: pl.DataFrame, rng: RandomStreams, births: int,
                   calendar: dict[str, tuple[date, ...]]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A second registration of a few children within one department (new record id)."""
    total = rng.count(DUPLICATE_REGISTRATION_RATE, births)
    duplicates = []
    for source, share in zip(LINKED_SOURCES, DUPLICATE_SOURCE_SHARES, strict=True):
        last = calendar[source][-1]
        eligible = (pl.col("source") == source) & (
            pl.col("created_date") + pl.duration(days=DUPLICATE_LAG_DAYS[0]) < pl.lit(last))
        count = max(1, round(total * share)) if total else 0
        chosen = records.filter(rng.exactly(f"duplicate.{source}", "record_key", eligible, count))
        lag = rng.integer(f"duplicate.{source}.lag", "record_key", *DUPLICATE_LAG_DAYS)
        duplicates.append(chosen.with_columns(
            duplicate_of=pl.col("record_key"), is_duplicate_registration=pl.lit(True),
            created_date=pl.min_horizontal(pl.col("created_date") + pl.duration(days=lag),
                                           pl.lit(last - timedelta(days=1))),
        ))
    extra = pl.concat(duplicates)
    extra = extra.with_columns(
        record_key=records.height + pl.int_range(pl.len(), dtype=pl.Int64),
        registered_date_v=pl.when(pl.col("source") == Source.JISHENG.value)
        .then("created_date").otherwise("registered_date_v"),
        issued_date_v=pl.when(pl.col("source") == Source.WEISHENG.value)
        .then("created_date").otherwise("issued_date_v"),
        declared_date_v=pl.when(pl.col("source") == Source.GONGAN.value)
        .then("created_date").otherwise("declared_date_v"),
    )
    # A second hukou is often made under a differently written name.
    extra = extra.with_columns(
        misspell_column(extra, "child_name", rng, "duplicate.name", "record_key").alias("variant"))
    renamed = ((pl.col("source") == Source.GONGAN.value)
               & rng.chance("duplicate.renamed", "record_key", DUPLICATE_NAME_VARIANT_SHARE)
               & pl.col("variant").is_not_null())
    extra = extra.with_columns(renamed=renamed).with_columns(
        child_name=pl.when("renamed").then("variant").otherwise("child_name"),
    )
    problems = pl.concat([
        problem_rows(extra, DiscrepancyKind.DUPLICATE_REGISTRATION.value,
                     text_format("second registration of record_key {}", pl.col("duplicate_of"))),
        problem_rows(extra.filter("renamed"), DiscrepancyKind.NAME_CONFLICT.value,
                     text_format("child_name written {} in the duplicate registration",
                               pl.col("child_name"))),
    ])
    return conform(pl.concat([records, extra.drop("renamed")], how="diagonal_relaxed")), problems


def one_record_per_child(records: pl.DataFrame, stream: str, rng: RandomStreams,
                         eligible: pl.Expr, count: int) -> pl.Series:
    """A mask of exactly `count` eligible records, no two of the same child."""
    # Evaluated once into a column: a window inside another window goes quadratic in polars.
    candidates = (
        records.select("record_key", "child_key", eligible.alias("eligible"))
        .filter("eligible")
        .with_columns(which=rng.uniform(stream + ".which", "record_key"))
        .sort("child_key", "which")
        .unique("child_key", keep="first", maintain_order=True)
    )
    chosen = candidates.filter(rng.exactly(stream, "record_key", pl.lit(True), count))
    return records["record_key"].is_in(chosen["record_key"].implode())


def linked_in_two_sources() -> pl.Expr:
    """An original record of a child whom at least two of 计生, 卫生, 公安 record."""
    linked = pl.col("source").is_in(LINKED_SOURCES) & ~pl.col("is_duplicate_registration")
    sources = pl.when(linked).then(pl.col("source")).n_unique().over("child_key")
    # n_unique counts the null of the other rows too: subtract it when present.
    nulls = (~linked).any().over("child_key").cast(pl.UInt32)
    return linked & ((sources - nulls) >= 2) & pl.col("child_key").is_not_null()


def shift_birth_date(rng: RandomStreams, stream: str) -> tuple[pl.Expr, pl.Expr]:
    """A wrong birth date (+-1 day, month and day swapped, or another day) and its kind."""
    kind = rng.index(stream + ".kind", "record_key", BIRTH_DATE_CONFLICT_KIND_SHARES)
    sign = pl.when(rng.chance(stream + ".sign", "record_key", 0.5)).then(1).otherwise(-1)
    day, month = pl.col("birth_date_v").dt.day(), pl.col("birth_date_v").dt.month()
    swappable = (day <= 12) & (day != month)
    one_day = pl.col("birth_date_v") + pl.duration(days=sign)
    other = pl.col("birth_date_v") + pl.duration(
        days=sign * rng.integer(stream + ".days", "record_key", 2, 20))
    swapped = pl.date(pl.col("birth_date_v").dt.year(), day, month)
    new = (pl.when(kind == 0).then(one_day)
           .when((kind == 1) & swappable).then(swapped)
           .when(kind == 1).then(one_day)
           .otherwise(other))
    label = (pl.when(kind == 0).then(pl.lit("one_day"))
             .when((kind == 1) & swappable).then(pl.lit("month_day_swapped"))
             .when(kind == 1).then(pl.lit("one_day")).otherwise(pl.lit("other_day")))
    return new, label


def inject_sex_and_date_conflicts(records: pl.DataFrame, rng: RandomStreams,
                                  births: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One department records the wrong sex, or the wrong birth date, for a few children."""
    records = records.with_columns(linked=linked_in_two_sources())
    sex_pick = one_record_per_child(records, "conflict.sex", rng, pl.col("linked"),
                                    rng.count(SEX_CONFLICT_RATE, births))
    date_pick = one_record_per_child(records, "conflict.date", rng, pl.col("linked"),
                                     rng.count(BIRTH_DATE_CONFLICT_RATE, births))
    new_date, date_kind = shift_birth_date(rng, "conflict.date")
    records = records.with_columns(sex_pick=sex_pick, date_pick=date_pick,
                                   true_sex=pl.col("sex_v"), true_date=pl.col("birth_date_v"),
                                   date_kind=date_kind)
    records = records.with_columns(
        sex_v=pl.when("sex_pick").then(3 - pl.col("sex_v")).otherwise("sex_v"),
        birth_date_v=pl.when("date_pick").then(new_date).otherwise("birth_date_v"),
    )
    problems = pl.concat([
        problem_rows(records.filter("sex_pick"), DiscrepancyKind.SEX_CONFLICT.value,
                     text_format("recorded sex {}, true {}", pl.col("sex_v"), pl.col("true_sex"))),
        problem_rows(records.filter("date_pick"), DiscrepancyKind.BIRTH_DATE_CONFLICT.value,
                     text_format("recorded {}, true {} ({})", pl.col("birth_date_v"),
                               pl.col("true_date"), pl.col("date_kind"))),
    ])
    return conform(records), problems


def assign_child_ids(records: pl.DataFrame, rng: RandomStreams,
                     births: int) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """公安 issues ID numbers from what it recorded; others copy the child's hukou number.

    A duplicate hukou gets a number of its own. A few children are issued a number already
    issued to another child (shared_id). Returns records, child_key -> id, problems.
    """
    gongan = records.filter(pl.col("source") == Source.GONGAN.value)
    people = gongan.select(key=pl.col("record_key"), region=pl.lit(COUNTY_CODE),
                           birth_date=pl.col("birth_date_v"), sex=pl.col("sex_v"))
    gongan = gongan.with_columns(
        child_id_number=assign_id_numbers(people, rng, "child.id", CHILD_ID_REGION_CODES))
    originals = gongan.filter(~pl.col("is_duplicate_registration")).sort("record_key")
    count = rng.count(SHARED_ID_RATE, births) if originals.height > 1 else 0
    victims = originals.with_row_index("position").filter(
        rng.exactly("shared_id.victim", "record_key", pl.lit(True), count))
    donor_position = victims.select(
        (pl.col("position").cast(pl.Int64) + 1
         + (rng.uniform("shared_id.donor", "record_key") * (originals.height - 1)).floor()
         .cast(pl.Int64)) % originals.height
    ).to_series()
    donors = originals[donor_position]
    shared = pl.DataFrame({"record_key": victims["record_key"],
                           "shared_id": donors["child_id_number"],
                           "donor_key": donors["record_key"],
                           "donor_child": donors["child_key"]})
    gongan = gongan.join(shared, on="record_key", how="left", maintain_order="left").with_columns(
        child_id_number=pl.coalesce("shared_id", "child_id_number"))
    child_ids = gongan.filter(~pl.col("is_duplicate_registration")).select(
        "child_key", child_hukou_id=pl.col("child_id_number"))
    victim_rows = gongan.filter(pl.col("shared_id").is_not_null())
    donor_rows = gongan.join(
        victim_rows.select(record_key=pl.col("donor_key"), victim_child=pl.col("child_key")),
        on="record_key", how="inner", maintain_order="left")
    problems = pl.concat([
        problem_rows(victim_rows, DiscrepancyKind.SHARED_ID.value,
                     text_format("issued the ID number of {}", pl.col("donor_child"))),
        problem_rows(donor_rows, DiscrepancyKind.SHARED_ID.value,
                     text_format("its ID number was also issued to {}", pl.col("victim_child"))),
    ])
    others = records.filter(pl.col("source") != Source.GONGAN.value).join(
        child_ids, on="child_key", how="left", maintain_order="left"
    ).with_columns(
        child_id_number=pl.when(pl.col("carries_child_id")).then("child_hukou_id"),
        carries_child_id=pl.col("carries_child_id") & pl.col("child_hukou_id").is_not_null(),
    )
    records = conform(pl.concat([others, gongan], how="diagonal_relaxed")).sort("record_key")
    return records, child_ids, problems


def replacement_mother_ids(records: pl.DataFrame, mask: pl.Expr, rng: RandomStreams,
                           stream: str) -> pl.DataFrame:
    """record_key -> another woman's valid ID: same region and birth date, another sequence."""
    chosen = records.filter(mask & pl.col("mother_id_number").is_not_null()).select(
        "record_key", "mother_id_number")
    sequence = pl.col("mother_id_number").str.slice(14, 3).cast(pl.Int64)
    shifted = (sequence + 2 * rng.integer(stream, "record_key", 1, 200)) % 1000
    body = pl.concat_str(pl.col("mother_id_number").str.slice(0, 14),
                         shifted.cast(pl.String).str.zfill(3))
    return with_id_number(chosen, body, "replacement_id").select("record_key", "replacement_id")


def inject_name_and_mother_conflicts(records: pl.DataFrame, rng: RandomStreams,
                                     births: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Homophone or look-alike typos in a child's or mother's name; another mother's ID."""
    chars = "".join(sorted(CONFUSABLE_CHARACTERS))
    has_name = pl.col("child_name").is_not_null()
    names_per_child = has_name.sum().over("child_key")
    records = records.with_columns(linked=linked_in_two_sources())
    total = rng.count(NAME_CONFLICT_RATE, births)
    child_count = round(total * CHILD_SHARE_OF_NAME_CONFLICTS)
    child_pick = one_record_per_child(
        records, "conflict.child_name", rng,
        has_name & (names_per_child >= 2) & ~pl.col("is_duplicate_registration")
        & pl.col("child_name").str.contains(f"[{chars}]").fill_null(False),
        child_count)
    records = records.with_columns(child_pick=child_pick)
    mother_pick = one_record_per_child(
        records, "conflict.mother_name", rng,
        pl.col("linked") & ~pl.col("child_pick")
        & pl.col("mother_name").str.contains(f"[{chars}]").fill_null(False),
        total - child_count)
    mother_id_pick = one_record_per_child(
        records, "conflict.mother_id", rng,
        pl.col("linked") & pl.col("mother_id_number").is_not_null(),
        rng.count(MOTHER_CONFLICT_RATE, births))
    records = records.with_columns(mother_pick=mother_pick, mother_id_pick=mother_id_pick)
    child_typo = misspell_column(records.filter("child_pick"), "child_name", rng,
                                 "conflict.child_name.typo", "record_key")
    mother_typo = misspell_column(records.filter("mother_pick"), "mother_name", rng,
                                  "conflict.mother_name.typo", "record_key")
    records = records.with_columns(true_child_name=pl.col("child_name"),
                                   true_mother_name=pl.col("mother_name"),
                                   true_mother_id=pl.col("mother_id_number"))
    records = scatter(records, "child_pick", "child_name", child_typo)
    records = scatter(records, "mother_pick", "mother_name", mother_typo)
    use_father = (rng.chance("conflict.mother_id.father", "record_key", FATHER_ID_AS_MOTHER_SHARE)
                  & pl.col("father_id_number").is_not_null())
    replacements = replacement_mother_ids(records, pl.col("mother_id_pick"), rng,
                                          "conflict.mother_id.seq")
    records = records.join(replacements, on="record_key", how="left", maintain_order="left")
    records = records.with_columns(
        mother_id_number=pl.when(pl.col("mother_id_pick") & use_father)
        .then("father_id_number")
        .when("mother_id_pick").then("replacement_id")
        .otherwise("mother_id_number"),
        mother_id_kind=pl.when(use_father).then(pl.lit("the father's ID number"))
        .otherwise(pl.lit("another woman's ID number")),
    )
    adoptive = records.filter(pl.col("hukou_is_adoptive"))
    problems = pl.concat([
        problem_rows(records.filter("child_pick"), DiscrepancyKind.NAME_CONFLICT.value,
                     text_format("child_name {} (true {})", pl.col("child_name"),
                               pl.col("true_child_name"))),
        problem_rows(records.filter("mother_pick"), DiscrepancyKind.NAME_CONFLICT.value,
                     text_format("mother_name {} (true {})", pl.col("mother_name"),
                               pl.col("true_mother_name"))),
        problem_rows(records.filter("mother_id_pick"), DiscrepancyKind.MOTHER_CONFLICT.value,
                     text_format("mother_id_number is {}", pl.col("mother_id_kind"))),
        problem_rows(adoptive, DiscrepancyKind.MOTHER_CONFLICT.value,
                     pl.lit("hukou made by the adoptive mother (explained by adoption)")),
    ])
    return conform(records), problems


def scatter(frame: pl.DataFrame, mask: str, column: str, values: pl.Series) -> pl.DataFrame:
    """Replace `column` on the rows where `mask` holds, in order, by `values` (null keeps)."""
    positions = frame.select(pl.arg_where(pl.col(mask))).to_series()
    current = frame[column]
    replaced = current.scatter(positions, pl.Series(values).fill_null(current.gather(positions)))
    return frame.with_columns(replaced.alias(column))


def assign_record_ids(records: pl.DataFrame, rng: RandomStreams) -> pl.DataFrame:
    """Each department's own numbering (计生 digits that fit a spreadsheet number cell)."""
    year = pl.col("created_date").dt.year().cast(pl.String)
    township_codes = pl.lit(pl.Series([t[0] for t in TOWNSHIPS])).gather(pl.col("township_index"))
    event_codes = {DiscrepancyKind.INFANT_DEATH.value: "SW", DiscrepancyKind.ADOPTION.value: "SY",
                   DiscrepancyKind.FOUNDLING.value: "QY"}
    ordered = records.sort("created_date", "record_key").with_columns(
        serial=pl.int_range(1, pl.len() + 1, dtype=pl.Int64)
        .over("source", pl.col("created_date").dt.year(), "township_index"),
        event_serial=pl.int_range(1, pl.len() + 1, dtype=pl.Int64)
        .over("source", pl.col("created_date").dt.year(), "event_type"),
        day_serial=pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over("source", "created_date"),
        duplicate_serial=pl.int_range(pl.len(), dtype=pl.Int64)
        .over("source", "is_duplicate_registration"),
    )
    weisheng_originals = records.filter(
        (pl.col("source") == Source.WEISHENG.value) & ~pl.col("is_duplicate_registration")).height
    reissued = cert_number(pl.col("duplicate_serial") + weisheng_originals,
                           pl.col("created_date").dt.year(), rng)
    ordered = ordered.with_columns(
        birth_cert_number=pl.when((pl.col("source") == Source.WEISHENG.value)
                                  & pl.col("is_duplicate_registration"))
        .then(reissued).otherwise("birth_cert_number"),
    ).with_columns(
        record_id=pl.when(pl.col("source") == Source.JISHENG.value)
        .then(pl.concat_str(year, township_codes.str.slice(6, 3),
                            pl.col("serial").cast(pl.String).str.zfill(6)))
        .when(pl.col("source") == Source.WEISHENG.value).then("birth_cert_number")
        .when(pl.col("source") == Source.GONGAN.value)
        .then(pl.concat_str(pl.lit("HJ"), pl.col("created_date").dt.strftime("%Y%m%d"),
                            pl.col("day_serial").cast(pl.String).str.zfill(5)))
        .otherwise(pl.concat_str(pl.lit("MZ"), year,
                                 pl.col("event_type").replace_strict(event_codes, default="QT"),
                                 pl.col("event_serial").cast(pl.String).str.zfill(5)))
    )
    return ordered.sort("record_key").drop("serial", "event_serial", "day_serial",
                                           "duplicate_serial")


def last_extract_date(calendar: dict[str, tuple[date, ...]]) -> pl.Expr:
    return pl.col("source").replace_strict({s: d[-1] for s, d in calendar.items()},
                                           return_dtype=pl.Date)


def add_versions(records: pl.DataFrame, rng: RandomStreams, calendar: dict[str, tuple[date, ...]],
                 child_ids: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Later versions: corrections of a wrong first version, and 计生 cases updated after hukou."""
    last = last_extract_date(calendar)
    room = (last - pl.col("created_date")).dt.total_days()
    corrected = rng.exactly("correction", "record_key", room > CORRECTION_LAG_DAYS[1] + 1,
                            rng.count(CORRECTION_RATE, records.height))
    kind = rng.index("correction.kind", "record_key", (0.25, 0.25, 0.25, 0.25))
    records = records.with_columns(corrected=corrected)
    fixed = records.filter("corrected").with_columns(
        version=pl.lit(1, dtype=pl.Int64),
        created_date=pl.col("created_date")
        + pl.duration(days=rng.integer("correction.lag", "record_key", *CORRECTION_LAG_DAYS)),
    )
    child_typo = misspell_column(records.filter("corrected"), "child_name", rng,
                                 "correction.child_name", "record_key")
    mother_typo = misspell_column(records.filter("corrected"), "mother_name", rng,
                                  "correction.mother_name", "record_key")
    typos = records.filter("corrected").select(
        "record_key", child_typo=child_typo, mother_typo=mother_typo)
    records = records.join(typos, on="record_key", how="left", maintain_order="left")
    what = (
        pl.when(kind == 1).then(pl.lit("birth_date"))
        .when((kind == 2) & pl.col("child_typo").is_not_null()).then(pl.lit("child_name"))
        .when((kind == 2) & pl.col("mother_typo").is_not_null()).then(pl.lit("mother_name"))
        .when((kind == 3) & pl.col("mother_id_number").is_not_null())
        .then(pl.lit("mother_id_number"))
        .otherwise(pl.lit("sex"))
    )
    records = records.with_columns(corrected_field=pl.when("corrected").then(what))
    field = pl.col("corrected_field")
    records = records.join(
        replacement_mother_ids(records, field == "mother_id_number", rng, "correction.mother_id"),
        on="record_key", how="left", maintain_order="left")
    shift = pl.when(rng.chance("correction.sign", "record_key", 0.5)).then(1).otherwise(-1) * (
        rng.integer("correction.days", "record_key", 1, 3))
    records = records.with_columns(
        sex_v=pl.when(field == "sex").then(3 - pl.col("sex_v")).otherwise("sex_v"),
        birth_date_v=pl.when(field == "birth_date")
        .then(pl.col("birth_date_v") + pl.duration(days=shift)).otherwise("birth_date_v"),
        child_name=pl.when(field == "child_name").then("child_typo").otherwise("child_name"),
        mother_name=pl.when(field == "mother_name").then("mother_typo").otherwise("mother_name"),
        mother_id_number=pl.when(field == "mother_id_number")
        .then("replacement_id")
        .otherwise("mother_id_number"),
    )
    corrections = records.filter("corrected").with_columns(
        wrong=pl.when(field == "sex").then(pl.col("sex_v").cast(pl.String))
        .when(field == "birth_date").then(pl.col("birth_date_v").cast(pl.String))
        .when(field == "child_name").then("child_name")
        .when(field == "mother_name").then("mother_name")
        .otherwise(pl.lit("another valid ID number")))
    problems = [problem_rows(corrections, "corrected_record",
                             text_format("first delivered with {} {}, corrected later",
                                       field, pl.col("wrong")))]
    # 计生 learns the child's ID number (and name) once the hukou is registered.
    hukou = child_ids.select("child_key", "child_hukou_id")
    candidates = records.filter(
        (pl.col("source") == Source.JISHENG.value) & ~pl.col("corrected")
        & ~pl.col("carries_child_id")
    ).join(hukou, on="child_key", how="inner", maintain_order="left")
    declared = records.filter((pl.col("source") == Source.GONGAN.value)
                              & ~pl.col("is_duplicate_registration")).select(
        "child_key", hukou_date=pl.col("created_date"), hukou_name=pl.col("child_name"))
    updated = candidates.join(declared, on="child_key", how="inner", maintain_order="left")
    updated = updated.with_columns(
        created_date=pl.max_horizontal("hukou_date", "created_date")
        + pl.duration(days=rng.integer("backfill.lag", "record_key", 5, 60)),
    ).filter(
        (pl.col("created_date") < last)
        & rng.chance("backfill", "record_key", JISHENG_BACKFILL_SHARE)
    ).with_columns(
        version=pl.lit(1, dtype=pl.Int64), child_id_number=pl.col("child_hukou_id"),
        carries_child_id=pl.lit(True),
        child_name=pl.coalesce("child_name", "hukou_name"),
    )
    problems.append(problem_rows(updated, "updated_record",
                                 pl.lit("re-sent with the child's ID number after hukou")))
    versions = pl.concat([conform(records), conform(fixed), conform(updated)])
    versions = versions.sort("record_key", "version").with_columns(
        record_no=pl.int_range(pl.len(), dtype=pl.Int64))
    return versions, pl.concat(problems)


# ---------------------------------------------------------------------------------------------
# Files: which extract carries each version, and how each file is laid out
# ---------------------------------------------------------------------------------------------
def extension_of(source: str, extract_rank: int) -> str:
    """计生 sends workbooks, 卫生 and 公安 CSV; 民政 a legacy .xls first, then CSV or xlsx.

    `extract_rank` counts the source's extracts that hold rows, so a small demo still gets
    every format.
    """
    if source == Source.JISHENG.value:
        return "xlsx"
    if source == Source.MINZHENG.value:
        if extract_rank == MINZHENG_XLS_EXTRACT_RANK:
            return "xls"
        return "csv" if extract_rank % 3 == MINZHENG_CSV_EVERY_THIRD else "xlsx"
    return "csv"


def place_versions(versions: pl.DataFrame, rng: RandomStreams,
                   calendar: dict[str, tuple[date, ...]]) -> pl.DataFrame:
    """Each version's extract (the first after it was made), file part and position."""
    placed = []
    for source_index, source in enumerate(SOURCE_ORDER):
        dates = pl.Series(calendar[source])
        rows = versions.filter(pl.col("source") == source).select(
            "record_no", "record_id", "version", "created_date", "source")
        rows = rows.with_columns(
            extract_index=dates.search_sorted(rows["created_date"], side="right").cast(pl.Int64))
        rows = rows.sort("extract_index", "created_date", "record_id", "version").with_columns(
            position=pl.int_range(pl.len(), dtype=pl.Int64).over("extract_index"),
            group_size=pl.len().over("extract_index").cast(pl.Int64),
            group_key=pl.col("extract_index") + source_index * 1000,
        )
        split = rng.dirt("file.split", "group_key", SPLIT_EXTRACT_SHARE) & (
            pl.col("group_size") >= 2)
        parts = pl.max_horizontal(
            (pl.col("group_size") + MAX_ROWS_PER_FILE - 1) // MAX_ROWS_PER_FILE,
            pl.when(split).then(2).otherwise(1))
        rejected_index = len(calendar[source]) // 2 if source == REJECTED_FILE_SOURCE else -1
        placed.append(rows.with_columns(
            file_seq=pl.col("position") * parts // pl.col("group_size")
            + (pl.col("extract_index") == rejected_index).cast(pl.Int64),
        ))
    placements = pl.concat(placed)
    date_table = pl.DataFrame(
        [(s, i, d) for s in SOURCE_ORDER for i, d in enumerate(calendar[s])],
        schema={"source": pl.String, "extract_index": pl.Int64, "extract_date": pl.Date},
        orient="row")
    return placements.join(
        date_table, on=["source", "extract_index"], how="left", maintain_order="left")


def plan_files(placements: pl.DataFrame, rng: RandomStreams,
               calendar: dict[str, tuple[date, ...]]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The file plan, and the placements with each version's file (plus the rejected copy)."""
    groups = (placements.group_by("source", "extract_index", "extract_date", "file_seq")
              .agg(pl.len().alias("rows")).sort("source", "extract_index", "file_seq")
              .with_columns(extract_rank=pl.col("extract_index").rank("dense").over("source")
                            .cast(pl.Int64) - 1))
    plans: list[dict[str, object]] = []
    for source, extract_index, extract_date, file_seq, _rows, rank in groups.iter_rows():
        plans.append(file_layout(source, extract_index, extract_date, file_seq, rng,
                                 extension_of(source, rank)))
    # One 公安 extract first arrives without a required column; it is re-sent as _1.
    rejected_index = len(calendar[REJECTED_FILE_SOURCE]) // 2
    rejected_date = calendar[REJECTED_FILE_SOURCE][rejected_index]
    spec = SOURCE_SPECS[REJECTED_FILE_SOURCE]
    rejected_columns = [c.name for c in spec.columns if c.name != REJECTED_FILE_DROPPED_COLUMN]
    rejected = file_name(REJECTED_FILE_SOURCE, rejected_date, 0, "csv")
    plans.append({
        **file_layout(REJECTED_FILE_SOURCE, rejected_index, rejected_date, 0, rng, "csv"),
        "columns": rejected_columns,
        "headers": [spec.column(c).header for c in rejected_columns],
        "fate": "reject_missing_columns",
        "detail": "missing required column "
                  + spec.column(REJECTED_FILE_DROPPED_COLUMN).header,
        "has_footer": False,
    })
    # One 卫生 file (about a third into the year) is delivered twice: the same bytes under
    # the next free name of its extract.
    firsts = sorted((int(str(p["extract_index"])), str(p["file"])) for p in plans
                    if p["source"] == DUPLICATE_BYTES_SOURCE and p["file_seq"] == 0)
    target = len(calendar[DUPLICATE_BYTES_SOURCE]) // 3
    if firsts:
        duplicate_index, original = next((f for f in firsts if f[0] >= target), firsts[-1])
        copy_seq = 1 + max(int(str(p["file_seq"])) for p in plans
                           if p["source"] == DUPLICATE_BYTES_SOURCE
                           and p["extract_index"] == duplicate_index)
        plans.append({
            **file_layout(DUPLICATE_BYTES_SOURCE, duplicate_index,
                          calendar[DUPLICATE_BYTES_SOURCE][duplicate_index], copy_seq, rng, "csv"),
            "fate": "duplicate_bytes", "copy_of": original,
            "detail": f"same bytes as {original}",
        })
    files = pl.DataFrame(plans, schema=FILE_PLAN_SCHEMA).sort("source", "extract_date", "file_seq")
    with_files = placements.join(
        files.filter(pl.col("fate") == "ingest").select("source", "extract_index", "file_seq",
                                                        "file"),
        on=["source", "extract_index", "file_seq"], how="left", maintain_order="left")
    resent = with_files.filter((pl.col("source") == REJECTED_FILE_SOURCE)
                               & (pl.col("extract_index") == rejected_index))
    rejected_rows = resent.with_columns(file=pl.lit(rejected), file_seq=pl.lit(0, pl.Int64))
    return files, pl.concat([with_files, rejected_rows])


FILE_PLAN_SCHEMA: dict[str, pl.DataType] = {
    "file": pl.String(), "source": pl.String(), "extract_index": pl.Int64(),
    "extract_date": pl.Date(), "file_seq": pl.Int64(), "extension": pl.String(),
    "encoding": pl.String(), "line_terminator": pl.String(), "columns": pl.List(pl.String()),
    "headers": pl.List(pl.String()), "date_cell_format": pl.String(),
    "sex_as_code": pl.Boolean(), "order_in_chinese": pl.Boolean(),
    "record_id_as_number": pl.Boolean(), "has_footer": pl.Boolean(), "footer_kind": pl.Int64(),
    "fate": pl.String(), "copy_of": pl.String(), "detail": pl.String(),
}


def file_layout(source: str, extract_index: int, extract_date: date, file_seq: int,
                rng: RandomStreams, extension: str) -> dict[str, object]:
    """One file's name, encoding, conventions and columns (shuffled, extra, missing, spaced)."""
    name = file_name(source, extract_date, file_seq, extension)
    key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:6], "little")

    def draw(stream: str, offset: int = 0) -> float:
        return rng.value(f"file.{stream}", key + offset)

    spec = SOURCE_SPECS[source]
    columns = [c.name for c in spec.columns]
    optional = OPTIONAL_COLUMNS_SOMETIMES_ABSENT[source]
    if optional and draw("drop") < rng.scaled(OPTIONAL_COLUMN_DROP_FILE_SHARE):
        columns.remove(optional[int(draw("drop.which") * len(optional))])
    if draw("shuffle") < rng.scaled(HEADER_SHUFFLE_FILE_SHARE):
        columns = sorted(columns, key=lambda c: draw("shuffle.order", columns.index(c) + 1))
    headers = [spec.column(c).header for c in columns]
    if draw("extra") < rng.scaled(EXTRA_COLUMN_FILE_SHARE):
        at = int(draw("extra.at") * (len(columns) + 1))
        columns.insert(at, EXTRA_COLUMN)
        headers.insert(at, EXTRA_COLUMN_HEADERS[int(draw("extra.which")
                                                    * len(EXTRA_COLUMN_HEADERS))])
    if draw("space") < rng.scaled(HEADER_SPACE_FILE_SHARE):
        at = int(draw("space.at") * len(headers))
        form = int(draw("space.form") * 3)
        headers[at] = (" " + headers[at], headers[at] + " ", headers[at] + "\u3000")[form]
    encoding = None
    if extension == "csv":
        encoding = spec.csv_encoding
        if source == Source.GONGAN.value and draw("bom") < GONGAN_BOM_FILE_SHARE:
            encoding = "utf-8-sig"
    return {
        "file": name, "source": source, "extract_index": extract_index,
        "extract_date": extract_date, "file_seq": file_seq, "extension": extension,
        "encoding": encoding,
        "line_terminator": "\r\n" if source == Source.WEISHENG.value else "\n",
        "columns": columns, "headers": headers,
        "date_cell_format": "yyyy-mm-dd" if draw("date_format") < 0.7 else "yyyy/m/d",
        "sex_as_code": draw("sex_code") < rng.scaled(SEX_CODE_FILE_SHARE),
        "order_in_chinese": draw("order_style") < ORDER_CHINESE_FILE_SHARE,
        "record_id_as_number": source == Source.JISHENG.value
        and draw("id_number") < JISHENG_ID_AS_NUMBER_FILE_SHARE,
        "has_footer": draw("footer") < rng.scaled(FOOTER_FILE_SHARE),
        "footer_kind": int(draw("footer.kind") * 3),
        "fate": "ingest", "copy_of": None, "detail": None,
    }


# ---------------------------------------------------------------------------------------------
# Rows that cannot be used
# ---------------------------------------------------------------------------------------------
IDENTIFYING_VALUES = ("child_name", "child_id_number", "mother_name", "mother_id_number",
                      "birth_date_v", "father_name", "father_id_number", "birth_cert_number")


def add_unusable_rows(rows: pl.DataFrame, rng: RandomStreams) -> pl.DataFrame:
    """Stray rows: a copy of a record without its record id; a row with nothing identifying."""
    usable = pl.col("is_delivered_copy").not_() & (pl.col("version") == 0)
    count_no_id = rng.count(UNUSABLE_NO_RECORD_ID_RATE, rows.height)
    count_blank = rng.count(UNUSABLE_NOTHING_IDENTIFYING_RATE, rows.height)
    next_no = int(rows["record_no"].max() or 0) + 1  # type: ignore[arg-type]
    no_id = rows.filter(rng.exactly("unusable.no_id", "record_no", usable, count_no_id))
    no_id = no_id.with_columns(
        record_id=pl.lit(None, dtype=pl.String), record_key=pl.lit(None, dtype=pl.Int64),
        position=pl.col("position") + 0.5,
        unusable_reason=pl.lit("no_record_id"),
    )
    blank = rows.filter(rng.exactly("unusable.blank", "record_no",
                                    usable & (pl.col("source") != Source.MINZHENG.value),
                                    count_blank))
    blank = blank.with_columns(
        record_id=pl.concat_str(pl.lit("TMP"), pl.col("record_id")),
        record_key=pl.lit(None, dtype=pl.Int64), child_key=pl.lit(None, dtype=pl.String),
        weisheng_name_kind=pl.lit(0, dtype=pl.Int64), position=pl.col("position") + 0.25,
        unusable_reason=pl.lit("no_identifying_fields"),
        **{c: pl.lit(None, dtype=rows.schema[c]) for c in IDENTIFYING_VALUES},
    )
    extra = pl.concat([no_id, blank]).with_columns(
        record_no=next_no + pl.int_range(pl.len(), dtype=pl.Int64))
    return pl.concat([rows.with_columns(unusable_reason=pl.lit(None, dtype=pl.String)), extra])


# ---------------------------------------------------------------------------------------------
# Cells: clean values written the way the departments write them (the dirt)
# ---------------------------------------------------------------------------------------------
DATE_PATTERNS = ("%Y-%m-%d", "%Y/%-m/%-d", "%Y%m%d", "%Y年%-m月%-d日", "%Y.%-m.%-d")
BIRTH_TIME_PATTERNS = ("%Y-%m-%d %H:%M", "%Y/%-m/%-d %H:%M", "%Y-%m-%d %H:%M:%S",
                       "%Y年%-m月%-d日%H时%M分", "%Y%m%d")
EXCEL_EPOCH = date(1899, 12, 30)
FULL_WIDTH = dict(zip("0123456789X", "０１２３４５６７８９Ｘ", strict=True))

# A cell is rendered in phases: first its random draws become columns, then the text is built
# from them. Eager polars does not share a subexpression used twice, so a draw referenced in
# several branches would otherwise be computed again for each.
Phases = list[dict[str, pl.Expr]]


def apply_phases(frame: pl.DataFrame, *cells: Phases) -> pl.DataFrame:
    """Run phase k of every cell together, in order of k."""
    for k in range(max(len(p) for p in cells)):
        merged: dict[str, pl.Expr] = {}
        for phases in cells:
            if k < len(phases):
                merged.update(phases[k])
        frame = frame.with_columns(**merged)
    return frame


def scaled_shares(shares: Sequence[float], rng: RandomStreams) -> list[float]:
    """Shares where the most common (clean) form keeps the rest: scale every other form."""
    clean = max(range(len(shares)), key=lambda i: shares[i])
    rest = [0.0 if i == clean else s * rng.dirt_scale for i, s in enumerate(shares)]
    if sum(rest) >= 1.0:
        rest = [r / sum(rest) * 0.999 for r in rest]
    rest[clean] = 1.0 - sum(rest)
    return rest


def date_cells(value: str, out: str, source: str, rng: RandomStreams) -> Phases:
    """A date column as text in mixed formats; in workbooks also date cells and serials."""
    drawn = f"_{out}_format"
    spreadsheet = pl.col("extension") != "csv"
    index = rng.index(f"cell.{value}", "record_no",
                      scaled_shares(DATE_FORMAT_SHARES[source], rng))
    column, chosen = pl.col(value), pl.col(drawn)
    text = first_match([
        (chosen == 5, column.dt.strftime(DATE_PATTERNS[0])),
        (chosen == 6, (column - pl.lit(EXCEL_EPOCH)).dt.total_days().cast(pl.String)),
        *((chosen == i, column.dt.strftime(pattern)) for i, pattern in enumerate(DATE_PATTERNS)),
    ])
    kind = (pl.when(column.is_null()).then(None)
            .when(spreadsheet & (chosen == 5)).then(pl.lit(CELL_DATE))
            .when(spreadsheet & (chosen == 6)).then(pl.lit(CELL_NUMBER)))
    return [
        {drawn: pl.when(~spreadsheet & (index >= 5)).then(0).otherwise(index)},
        {out: text, out + CELL_TYPE_SUFFIX: kind},
    ]


def birth_time_cells(rng: RandomStreams) -> Phases:
    """卫生 出生时间: the birth date with the time of day, in one of a few layouts."""
    moment = pl.col("birth_date_v").cast(pl.Datetime("us")) + pl.duration(
        minutes=pl.col("birth_minute").fill_null(0))
    chosen = pl.col("_birth_time_format")
    text = first_match([(chosen == i, moment.dt.strftime(pattern))
                        for i, pattern in enumerate(BIRTH_TIME_PATTERNS)])
    return [
        {"_birth_time_format": rng.index("cell.birth_time", "record_no",
                                         scaled_shares(BIRTH_TIME_FORMAT_SHARES, rng))},
        {"birth_date": text},
    ]


def id_cells(column: str, rng: RandomStreams, birth_year: str | None) -> Phases:
    """An ID number as written, its cell kind, and `_<column>_problem` (what it leaves)."""
    value, draw = pl.col(column), pl.col(f"_{column}_draw")
    spreadsheet = pl.col("extension") != "csv"
    edges: list[float] = []
    for rate in (ID_FULL_WIDTH_RATE, ID_SPACES_RATE, ID_BAD_CHECK_DIGIT_RATE,
                 ID_SCIENTIFIC_TEXT_RATE, ID_NUMBER_CELL_RATE, ID_OLD_15_DIGIT_RATE):
        edges.append((edges[-1] if edges else 0.0) + rng.scaled(rate))
    band = pl.lit(len(edges), dtype=pl.Int64)
    for i in reversed(range(len(edges))):
        band = pl.when(draw < edges[i]).then(pl.lit(i, dtype=pl.Int64)).otherwise(band)
    old_allowed = (pl.col(birth_year) < 2000).fill_null(False) if birth_year else pl.lit(False)
    digits_only = value.str.contains(r"^\d{18}$").fill_null(False)
    band = (
        pl.when(value.is_null() | (value.str.len_chars() != 18)).then(-1)
        .when((band == 3) & spreadsheet).then(-1)
        .when((band == 4) & (~spreadsheet | ~digits_only)).then(-1)
        .when((band == 5) & ~old_allowed).then(-1)
        .otherwise(band)
    )
    chosen = pl.col(f"_{column}_band")
    check_index = value.str.slice(17, 1).replace_strict(
        {c: i for i, c in enumerate(ID_CHECK_CHARS)}, default=0, return_dtype=pl.Int64)
    wrong_check = pl.lit(pl.Series(list(ID_CHECK_CHARS))).gather(
        (check_index + pl.col(f"_{column}_check")) % 11)
    spaced_form = pl.col(f"_{column}_spaces")
    spaced = (
        pl.when(spaced_form == 0)
        .then(pl.concat_str(value.str.slice(0, 6), pl.lit(" "), value.str.slice(6, 8), pl.lit(" "),
                            value.str.slice(14)))
        .when(spaced_form == 1).then(pl.concat_str(pl.lit(" "), value))
        .otherwise(pl.concat_str(value, pl.lit("  ")))
    )
    rounded = ((value.str.slice(0, 7).cast(pl.Int64, strict=False) + 5) // 10).cast(pl.String)
    scientific = pl.concat_str(rounded.str.slice(0, 1), pl.lit("."), rounded.str.slice(1, 5),
                               pl.lit("E+17"))
    lower_x = value.str.ends_with("X") & pl.col(f"_{column}_lower_x")
    text = (
        pl.when(chosen == 0).then(value.str.replace_many(FULL_WIDTH))
        .when(chosen == 1).then(spaced)
        .when(chosen == 2).then(pl.concat_str(value.str.slice(0, 17), wrong_check))
        .when(chosen == 3).then(scientific)
        .when(chosen == 5).then(pl.concat_str(value.str.slice(0, 6), value.str.slice(8, 9)))
        .when(lower_x).then(value.str.replace("X$", "x"))
        .otherwise(value)
    )
    problem = (pl.when(chosen == 2).then(pl.lit("invalid_id:bad_check_digit"))
               .when(chosen == 3).then(pl.lit("invalid_id:scientific_notation"))
               .when(chosen == 4).then(pl.lit("id_stored_as_number")))
    return [
        {f"_{column}_draw": rng.uniform(f"cell.{column}.dirt", "record_no"),
         f"_{column}_check": rng.integer(f"cell.{column}.check", "record_no", 1, 10),
         f"_{column}_spaces": rng.index(f"cell.{column}.spaces", "record_no", (0.5, 0.25, 0.25)),
         f"_{column}_lower_x": rng.dirt(f"cell.{column}.lower_x", "record_no", ID_LOWER_X_RATE)},
        {f"_{column}_band": band},
        {column: text, column + CELL_TYPE_SUFFIX: pl.when(chosen == 4).then(pl.lit(CELL_NUMBER)),
         f"_{column}_problem": problem},
    ]


def redotted(column: str) -> pl.Expr:
    """The name with its middle dot written another way, where the draw says so."""
    value, dotted = pl.col(column), pl.col(f"_{column}_dotted")
    return first_match([
        (~dotted | ~value.str.contains(MIDDLE_DOT, literal=True), value),
        *((pl.col(f"_{column}_dot") == i, value.str.replace_all(MIDDLE_DOT, dot, literal=True))
          for i, dot in enumerate(DOT_VARIANTS)),
    ], value)


def name_cells(column: str, rng: RandomStreams) -> Phases:
    """A name as typed: other middle dots, traditional characters, stray spaces."""
    value = pl.col(column)
    form = pl.col(f"_{column}_space_form")
    spaced = (
        pl.when(form == 0).then(pl.concat_str(value.str.slice(0, 1), pl.lit(" "),
                                              value.str.slice(1)))
        .when(form == 1).then(pl.concat_str(pl.lit(" "), value))
        .when(form == 2).then(pl.concat_str(value, pl.lit(" ")))
        .otherwise(pl.concat_str(value.str.slice(0, 1), pl.lit("\u3000"), value.str.slice(1)))
    )
    return [
        {f"_{column}_dot": rng.index(f"cell.{column}.dot", "record_no",
                                     [1.0] * len(DOT_VARIANTS)),
         f"_{column}_dotted": rng.dirt(f"cell.{column}.dotted", "record_no", DOT_VARIANT_RATE),
         f"_{column}_traditional": rng.dirt(f"cell.{column}.traditional", "record_no",
                                            NAME_TRADITIONAL_RATE),
         f"_{column}_space_form": rng.index(f"cell.{column}.space_form", "record_no",
                                            (0.5, 0.2, 0.2, 0.1)),
         f"_{column}_space": rng.dirt(f"cell.{column}.space", "record_no",
                                      NAME_STRAY_SPACE_RATE)},
        {column: redotted(column)},
        {column: pl.when(f"_{column}_traditional")
         .then(value.str.replace_many(TRADITIONAL_CHARACTERS)).otherwise(value)},
        {column: pl.when(pl.col(f"_{column}_space") & (value.str.len_chars() >= 2))
         .then(spaced).otherwise(value)},
    ]


def placeholder_used(text: pl.Expr, column: str, rng: RandomStreams) -> pl.Expr:
    """Whether an optional cell holds 无, 不详, - or 0: mostly where it is blank."""
    draw = rng.uniform(f"cell.{column}.placeholder", "record_no")
    return (pl.when(text.is_null()).then(draw < rng.scaled(PLACEHOLDER_FOR_BLANK_RATE))
            .otherwise(draw < rng.scaled(VALUE_AS_PLACEHOLDER_RATE)))


def with_placeholder(column: str, rng: RandomStreams) -> pl.Expr:
    return (pl.when(placeholder_used(pl.col(column), column, rng))
            .then(rng.pick(f"cell.{column}.placeholder_text", "record_no", PLACEHOLDERS))
            .otherwise(pl.col(column)))


def township_cells(source: str, rng: RandomStreams) -> Phases:
    """乡镇: official name, stem, county (and city) prefix, an older name, county + stem.

    卫生 出生地点 is free text that usually, not always, contains the township.
    """
    index = pl.col("township_index")
    name = pl.lit(pl.Series([t[1] for t in TOWNSHIPS])).gather(index)
    stem = pl.lit(pl.Series([township_stem(t[1]) for t in TOWNSHIPS])).gather(index)
    form = pl.col("_township_form")
    if source == Source.WEISHENG.value:
        village = pl.col("village").fill_null("")
        text = (
            pl.when(form == 0).then(pl.concat_str(pl.lit(COUNTY_NAME), name))
            .when(form == 1).then(pl.concat_str(name, village))
            .when(form == 2).then(pl.concat_str(pl.lit(PROVINCE_SHORT + CITY_NAME + COUNTY_NAME),
                                                name))
            .when(form == 3).then(pl.concat_str(pl.lit(COUNTY_NAME), name, pl.lit("卫生院")))
            .when(form == 4).then(pl.concat_str(pl.lit(PROVINCE_NAME + CITY_NAME + COUNTY_NAME),
                                                name, village))
            .when(form == 5).then(pl.concat_str(stem, village))
            .otherwise(pl.coalesce(pl.col("hospital"), pl.lit(COUNTY_NAME + "人民医院")))
        )
        shares: Sequence[float] = WEISHENG_PLACE_FORM_SHARES
    else:
        text = (
            pl.when(form == 0).then(name)
            .when(form == 1).then(stem)
            .when(form == 2).then(pl.concat_str(pl.lit(COUNTY_NAME), name))
            .when(form == 3).then(pl.concat_str(pl.lit(CITY_NAME + COUNTY_NAME), name))
            .when(form == 4).then(pl.lit(township_table()["township_alias"]).gather(index))
            .otherwise(pl.concat_str(pl.lit(COUNTY_NAME), stem))
        )
        shares = TOWNSHIP_FORM_SHARES
    return [{"_township_form": rng.index(f"cell.township.{source}", "record_no",
                                         scaled_shares(shares, rng))},
            {"township": text}]


def sex_cells(rng: RandomStreams) -> Phases:
    """男/女 or 1/2 by the file's habit (a few cells the other way); rarely unknown."""
    word = pl.col("sex_v").replace_strict(SEX_TEXT, default=None, return_dtype=pl.String)
    as_code = pl.col("sex_as_code") ^ pl.col("_sex_mix")
    return [
        {"_sex_mix": rng.dirt("cell.sex.mix", "record_no", SEX_STYLE_MIX_RATE),
         "_sex_unknown": rng.dirt("cell.sex.unknown", "record_no", UNKNOWN_SEX_RATE)
         & pl.col("sex_v").is_not_null(),
         "_sex_unknown_text": rng.pick("cell.sex.unknown_text", "record_no", UNKNOWN_SEX_VALUES)},
        {"sex": pl.when("_sex_unknown").then("_sex_unknown_text")
         .when(as_code).then(pl.col("sex_v").cast(pl.String)).otherwise(word),
         "sex_unknown": pl.col("_sex_unknown")},
    ]


def birth_order_cells(rng: RandomStreams) -> Phases:
    """孩次 as 1, 2, 3 or 一孩, 二孩, 三孩 by the file's habit."""
    parity = pl.col("parity_v").clip(1, len(BIRTH_ORDER_TEXT))
    chinese = pl.col("order_in_chinese") ^ pl.col("_order_mix")
    return [
        {"_order_mix": rng.dirt("cell.order.mix", "record_no", ORDER_STYLE_MIX_RATE)},
        {"birth_order": pl.when(chinese)
         .then(pl.lit(pl.Series(BIRTH_ORDER_TEXT)).gather(parity - 1))
         .otherwise(parity.cast(pl.String))},
    ]


def cert_cells(rng: RandomStreams) -> Phases:
    """A certificate number quoted by another department: now and then lower-case or spaced."""
    cert = pl.col("birth_cert_number")
    dirty = (
        pl.when(pl.col("_cert_form") == 0)
        .then(pl.concat_str(cert.str.slice(0, 1).str.to_lowercase(), cert.str.slice(1)))
        .otherwise(pl.concat_str(cert.str.slice(0, 1), pl.lit(" "), cert.str.slice(1))))
    return [
        {"_cert_form": rng.index("cell.cert.form", "record_no", (0.5, 0.5)),
         "_cert_dirty": rng.dirt("cell.cert", "record_no", CERT_NUMBER_DIRT_RATE)},
        {"birth_cert_number": pl.when("_cert_dirty").then(dirty).otherwise(cert)},
    ]


def plain_cells(columns: set[str], rng: RandomStreams) -> Phases:
    """Columns without much layout: record id, policy, gestation, weight, ethnicity, event."""
    weeks = pl.col("gestational_days") // 7
    spreadsheet = pl.col("extension") != "csv"
    record_id_number = (spreadsheet & pl.col("record_id_as_number")
                        & pl.col("record_id").str.contains(r"^\d{1,15}$").fill_null(False))
    texts = {
        "record_id" + CELL_TYPE_SUFFIX: pl.when(record_id_number).then(pl.lit(CELL_NUMBER)),
        "policy_status": pl.when(pl.col("is_within_policy")).then(pl.lit(POLICY_TEXT[0]))
        .when(pl.col("is_within_policy").not_()).then(pl.lit(POLICY_TEXT[1])),
        "gestational_weeks": pl.when("_weeks_plus")
        .then(text_format("{}+{}", weeks, pl.col("gestational_days") % 7))
        .otherwise(weeks.cast(pl.String)),
        "birth_weight_g": pl.col("birth_weight_g").cast(pl.String),
        "ethnicity": pl.when("_ethnicity_short")
        .then(pl.col("ethnicity").str.strip_suffix("族")).otherwise("ethnicity"),
        "event_type": pl.col("event_type").replace_strict(EVENT_LABELS, default=None,
                                                          return_dtype=pl.String),
        EXTRA_COLUMN: pl.when("_extra").then("_extra_text"),
    }
    return [
        {"_weeks_plus": rng.dirt("cell.weeks.plus", "record_no", GESTATION_PLUS_DAYS_RATE),
         "_ethnicity_short": rng.dirt("cell.ethnicity.short", "record_no", 0.03),
         "_extra": rng.chance("cell.extra", "record_no", 0.15),
         "_extra_text": rng.pick("cell.extra_text", "record_no", EXTRA_COLUMN_VALUES)},
        {name: expr for name, expr in texts.items()
         if name.removesuffix(CELL_TYPE_SUFFIX) in columns or name == EXTRA_COLUMN},
    ]


def weisheng_child_name() -> pl.Expr:
    """卫生 often has no name yet: blank, a placeholder (张丽之子, 男婴), or the name."""
    boy = pl.col("sex_v") == 1
    by_mother = pl.concat_str(pl.col("mother_name"),
                              pl.when(boy).then(pl.lit("之子")).otherwise(pl.lit("之女")))
    infant = pl.when(boy).then(pl.lit("男婴")).otherwise(pl.lit("女婴"))
    return (pl.when(pl.col("weisheng_name_kind") == 2).then("child_name")
            .when(pl.col("weisheng_name_kind") == 1)
            .then(pl.when(pl.col("record_no") % 2 == 0).then(by_mother).otherwise(infant)))


TEXT_COLUMNS = tuple(dict.fromkeys(
    c.name for spec in SOURCE_SPECS.values() for c in spec.columns))
CELL_KIND_COLUMNS = tuple(dict.fromkeys(
    c.name + CELL_TYPE_SUFFIX for spec in SOURCE_SPECS.values() for c in spec.columns
    if c.kind in (ValueKind.ID_NUMBER, ValueKind.DATE, ValueKind.RECORD_ID)
    and ".xlsx" in spec.extensions))


OPTIONAL_TEXT_COLUMNS = ("village", "father_name", "father_id_number", "birth_cert_number",
                         "hospital", "ethnicity")
ID_PROBLEM_COLUMNS = ("child_id_problem", "mother_id_problem", "father_id_problem")
# Columns kept beside the cells after rendering, for the truth.
RENDERED_META = ("file", "position", "record_no", "record_key", "version", "source",
                 "child_key", "is_duplicate_registration", "is_delivered_copy", "unusable_reason",
                 "declared_date_v", "event_type_code", "event_date_v", "sex_unknown")


def render_source(rows: pl.DataFrame, source: str, rng: RandomStreams) -> pl.DataFrame:
    """One source's columns as the text it writes, plus workbook cell kinds and ID problems."""
    columns = {c.name for c in SOURCE_SPECS[source].columns}
    rows = rows.with_columns(
        _father_blank=rng.dirt("cell.father.blank", "record_no",
                               FATHER_BLANK_RATE.get(source, 0.0)),
        _mother_blank=rng.dirt("cell.mother_id.blank", "record_no", MOTHER_ID_BLANK_RATE),
        _mother_unknown=rng.chance("cell.mother_id.unknown", "record_no", 0.5),
    ).with_columns(
        child_name=weisheng_child_name() if source == Source.WEISHENG.value
        else pl.col("child_name"),
        father_name=pl.when("_father_blank").then(None).otherwise("father_name"),
        father_id_number=pl.when("_father_blank").then(None).otherwise("father_id_number"),
        mother_id_number=pl.when("_mother_blank").then(None).otherwise("mother_id_number"),
    )
    cells = [
        sex_cells(rng), township_cells(source, rng), plain_cells(columns, rng),
        birth_time_cells(rng) if source == Source.WEISHENG.value
        else date_cells("birth_date_v", "birth_date", source, rng),
    ]
    for name in ("registered_date", "issued_date", "declared_date", "event_date"):
        if name in columns:
            cells.append(date_cells(name + "_v", name, source, rng))
    birth_years = {"child_id_number": None, "mother_id_number": "mother_birth_year",
                   "father_id_number": "father_birth_year"}
    for name, birth_year in birth_years.items():
        if name in columns:
            cells.append(id_cells(name, rng, birth_year))
    cells.extend(name_cells(name, rng) for name in ("child_name", "mother_name", "father_name")
                 if name in columns)
    if "birth_order" in columns:
        cells.append(birth_order_cells(rng))
    if "birth_cert_number" in columns:
        cells.append(cert_cells(rng))
    rows = apply_phases(rows, *cells)
    optional = [c for c in OPTIONAL_TEXT_COLUMNS if c in columns]
    problems = {c.removesuffix("_number") + "_problem": pl.col(f"_{c}_problem")
                if c in columns else pl.lit(None, dtype=pl.String) for c in birth_years}
    if "father_id_number" in columns:
        problems["father_id_problem"] = pl.when(
            placeholder_used(pl.col("father_id_number"), "father_id_number", rng)
        ).then(None).otherwise("_father_id_number_problem")
    rows = rows.with_columns(
        mother_id_number=pl.when(pl.col("mother_id_number").is_null() & pl.col("_mother_blank")
                                 & pl.col("_mother_unknown"))
        .then(pl.lit("不详")).otherwise("mother_id_number"),
        **problems,
        **{c: with_placeholder(c, rng) for c in optional},
    )
    kinds = [c for c in CELL_KIND_COLUMNS if c in rows.columns]
    # A cell replaced by a placeholder is text again, whatever kind its value had.
    rows = rows.with_columns(
        pl.when(pl.col(kind) == CELL_NUMBER)
        .then(pl.when(pl.col(kind.removesuffix(CELL_TYPE_SUFFIX)).str.contains(r"^\d+$"))
              .then(pl.col(kind)))
        .when(pl.col(kind) == CELL_DATE)
        .then(pl.when(pl.col(kind.removesuffix(CELL_TYPE_SUFFIX))
                      .str.contains(r"^\d{4}-\d{2}-\d{2}$")).then(pl.col(kind)))
        .alias(kind)
        for kind in kinds)
    return rows.select(*RENDERED_META, *[c for c in TEXT_COLUMNS if c in columns], *kinds,
                       *ID_PROBLEM_COLUMNS, EXTRA_COLUMN)


def render_files(rows: pl.DataFrame, files: pl.DataFrame, rng: RandomStreams) -> pl.DataFrame:
    """Every file's rows as text, footers added, numbered; one source at a time (memory)."""
    parts = rows.partition_by("source", as_dict=True)
    del rows
    rendered = []
    for source in SOURCE_ORDER:
        part = parts.pop((source,), None)
        if part is not None:
            cells = render_source(part, source, rng)
            del part
            rendered.append(number_rows(add_footers(
                cells, files.filter(pl.col("source") == source))))
    every = pl.concat(rendered, how="diagonal_relaxed", rechunk=False)
    # A tiny demo may lack a whole source: its columns still exist (all null).
    return every.with_columns(pl.lit(None, dtype=pl.String).alias(c)
                              for c in (*TEXT_COLUMNS, *CELL_KIND_COLUMNS, *ID_PROBLEM_COLUMNS)
                              if c not in every.columns)


# ---------------------------------------------------------------------------------------------
# Footer rows, row numbers, and the truth
# ---------------------------------------------------------------------------------------------
FOOTER_POSITION = 1e15


def add_footers(rendered: pl.DataFrame, files: pl.DataFrame) -> pl.DataFrame:
    """Total lines below the data (合计 / 总计 / 共 N 条) in the record-id column."""
    counts = dict(rendered.group_by("file").len().iter_rows())
    footers: list[dict[str, object]] = []
    for plan in files.filter(pl.col("has_footer") & (pl.col("fate") != "duplicate_bytes")
                             ).iter_rows(named=True):
        columns: list[str] = plan["columns"]
        count = counts.get(plan["file"], 0)
        at = columns.index("record_id")
        beside = columns[at + 1] if at + 1 < len(columns) else columns[at - 1]
        row: dict[str, object] = {"file": plan["file"], "source": plan["source"],
                                  "position": FOOTER_POSITION, "is_footer": True}
        kind = plan["footer_kind"]
        row["record_id"] = (FOOTER_TEXTS[0], FOOTER_TEXTS[1], f"共{count}条")[kind]
        if kind < 2:
            row[beside] = str(count) if kind == 0 else f"共{count}条"
        footers.append(row)
    if not footers:
        return rendered.with_columns(is_footer=pl.lit(False))
    footer_frame = pl.DataFrame(footers, infer_schema_length=None)
    return pl.concat([rendered.with_columns(is_footer=pl.lit(False)), footer_frame],
                     how="diagonal_relaxed", rechunk=False)


def number_rows(rows: pl.DataFrame) -> pl.DataFrame:
    """Spreadsheet row numbers: the header is row 1, the first data row 2."""
    return rows.sort("file", "position", "record_no", nulls_last=True).with_columns(
        row_number=pl.int_range(2, pl.len() + 2, dtype=pl.Int64).over("file"))


def latest_versions(rows: pl.DataFrame) -> pl.DataFrame:
    """Each record's latest delivered version (the copy in the rejected file never counts)."""
    columns = ("record_key", "version", "source", "record_id", "child_key", "file",
               "row_number", "is_duplicate_registration", "declared_date_v", "event_type_code",
               "event_date_v", "sex", "sex_unknown", "unusable_reason", *ID_PROBLEM_COLUMNS)
    return (rows.select(*columns, "is_delivered_copy", "is_footer")
            .filter(pl.col("record_key").is_not_null() & ~pl.col("is_delivered_copy")
                    & ~pl.col("is_footer"))
            .drop("is_delivered_copy", "is_footer")
            .sort("record_key", "version")
            .with_columns(versions=pl.len().over("record_key"))
            .unique("record_key", keep="last", maintain_order=True))


def truth_records(rows: pl.DataFrame, latest: pl.DataFrame) -> pl.DataFrame:
    """One row per record (latest version) and per unusable row."""
    unusable = rows.select("source", "record_id", "child_key", "file", "row_number", "version",
                           "unusable_reason").filter(pl.col("unusable_reason").is_not_null())
    columns = ["source", "record_id", "child_key", "file", "row_number", "version", "versions",
               "is_duplicate_registration", "is_unusable", "unusable_reason"]
    return pl.concat([
        latest.with_columns(is_unusable=pl.lit(False)).select(columns),
        unusable.with_columns(is_unusable=pl.lit(True), versions=pl.lit(1, dtype=pl.UInt32),
                              is_duplicate_registration=pl.lit(False)).select(columns),
    ], how="vertical_relaxed").sort("source", "file", "row_number")


def missing_problems(children: pl.DataFrame, latest: pl.DataFrame) -> pl.DataFrame:
    """Child-level gaps: a department that never recorded the child, and why."""
    present = latest.select("child_key", "source").unique()
    frames = []
    for source in LINKED_SOURCES:
        seen = present.filter(pl.col("source") == source).select("child_key")
        absent = children.join(seen, on="child_key", how="anti", maintain_order="left")
        if source == Source.WEISHENG.value:
            reason = (pl.when("is_foundling").then(pl.lit("foundling"))
                      .when("is_home_birth").then(pl.lit("home_birth"))
                      .otherwise(pl.lit("not_yet_issued")))
        elif source == Source.JISHENG.value:
            reason = (pl.when("is_foundling").then(pl.lit("foundling"))
                      .when(pl.col("registered_date").is_null()).then(pl.lit("not_reported"))
                      .otherwise(pl.lit("not_yet_reported")))
        else:
            reason = (pl.when("is_foundling").then(pl.lit("foundling_not_registered"))
                      .when(pl.col("is_dead") & ~pl.col("gongan_never"))
                      .then(pl.lit("died_before_hukou"))
                      .when("gongan_never").then(pl.lit("never_registered"))
                      .otherwise(pl.lit("not_yet_registered")))
        frames.append(absent.select(
            source=pl.lit(source), record_key=pl.lit(None, dtype=pl.Int64),
            child_key=pl.col("child_key"), problem=pl.lit(f"missing_in_{source}"),
            detail=reason))
    return pl.concat(frames)


def cell_problems(latest: pl.DataFrame, children: pl.DataFrame) -> pl.DataFrame:
    """Problems the cells carry: damaged IDs, unknown sex, late hukou, 民政 events."""
    frames = []
    for column in ("child_id_number", "mother_id_number", "father_id_number"):
        problem = pl.col(column.removesuffix("_number") + "_problem")
        frames.append(latest.filter(problem.is_not_null()).select(
            "source", "record_key", "child_key",
            problem=problem.str.split(":").list.first(),
            detail=pl.concat_str(pl.lit(column + " "),
                                 problem.str.split(":").list.get(-1)
                                 .replace("id_stored_as_number", "stored as a number cell"))))
    frames.append(problem_rows(latest.filter("sex_unknown"), "sex_unknown",
                               text_format("sex written {}", pl.col("sex"))))
    births = children.select("child_key", true_birth_date=pl.col("birth_date"))
    gongan = latest.filter(pl.col("source") == Source.GONGAN.value).join(
        births, on="child_key", how="left", maintain_order="left")
    late = gongan.filter(pl.col("declared_date_v")
                         > pl.col("true_birth_date").dt.offset_by("1mo"))
    frames.append(problem_rows(late, DiscrepancyKind.LATE_REGISTRATION.value, text_format(
        "declared {}, {} days after birth {}", pl.col("declared_date_v"),
        (pl.col("declared_date_v") - pl.col("true_birth_date")).dt.total_days(),
        pl.col("true_birth_date"))))
    events = latest.filter(pl.col("source") == Source.MINZHENG.value)
    frames.append(events.select("source", "record_key", "child_key",
                                problem=pl.col("event_type_code"),
                                detail=text_format("on {}", pl.col("event_date_v"))))
    return pl.concat(frames)


def truth_problems(problems: pl.DataFrame, rows: pl.DataFrame,
                   latest: pl.DataFrame) -> pl.DataFrame:
    """Problems with each record's id, file and row (of its latest version)."""
    located = problems.join(
        latest.select("record_key", "record_id", "file", "row_number"),
        on="record_key", how="left", maintain_order="left")
    narrow = rows.select("source", "record_id", "child_key", "file", "row_number",
                         "unusable_reason", "is_footer")
    unusable = narrow.filter(pl.col("unusable_reason").is_not_null()).select(
        "source", "record_id", "child_key", problem=pl.lit("unusable_row"),
        detail=pl.col("unusable_reason"), file=pl.col("file"), row_number=pl.col("row_number"))
    footers = narrow.filter("is_footer").select(
        "source", "record_id", child_key=pl.lit(None, dtype=pl.String),
        problem=pl.lit("footer_row"), detail=pl.lit("total line below the data"),
        file=pl.col("file"), row_number=pl.col("row_number"))
    columns = ["source", "record_id", "child_key", "problem", "detail", "file", "row_number"]
    return pl.concat([located.select(columns), unusable, footers],
                     how="vertical_relaxed").sort("source", "problem", "file", "row_number",
                                                  "child_key", nulls_last=True)


def truth_children(children: pl.DataFrame, child_ids: pl.DataFrame,
                   latest: pl.DataFrame) -> pl.DataFrame:
    width = max(7, len(str(children.height)))
    seen = latest.select("child_key", "source").unique().with_columns(flag=pl.lit(True)).pivot(
        on="source", index="child_key", values="flag")
    for source in SOURCE_ORDER:
        if source not in seen.columns:
            seen = seen.with_columns(pl.lit(None, dtype=pl.Boolean).alias(source))
    township_codes = pl.lit(pl.Series([t[0] for t in TOWNSHIPS])).gather(pl.col("township_index"))
    return children.join(child_ids, on="child_key", how="left", maintain_order="left").join(
        seen, on="child_key", how="left", maintain_order="left"
    ).select(
        "child_key", "sex", "birth_date",
        township_code=township_codes, birth_order="birth_order", birth_parity="birth_parity",
        mother_key=pl.when(~pl.col("is_foundling")).then(
            text_format("M{}", (pl.col("mother_no") + 1).cast(pl.String).str.zfill(width))),
        twin_group="twin_group", is_home_birth="is_home_birth", event="event",
        event_date="event_date", child_name="child_name", mother_name="mother_name",
        mother_id_number="mother_id_number", father_name="father_name",
        father_id_number="father_id_number", child_id_number="child_hukou_id",
        birth_cert_number="birth_cert_number", ethnicity="ethnicity",
        hukou_declared_date="declared_date",
        **{f"in_{s}": pl.col(s).fill_null(False) for s in SOURCE_ORDER},
    )


def truth_files(files: pl.DataFrame, file_rows: pl.DataFrame) -> pl.DataFrame:
    counts = file_rows.group_by("file").len("rows")
    return files.join(counts, on="file", how="left", maintain_order="left").with_columns(
        rows=pl.coalesce(
            "rows", pl.col("copy_of").replace_strict(dict(counts.iter_rows()), default=0,
                                                     return_dtype=pl.UInt32)),
    )


# ---------------------------------------------------------------------------------------------
# The stage
# ---------------------------------------------------------------------------------------------
def synthesise_rows(births: int, rng: RandomStreams, start: date,
                    calendar: dict[str, tuple[date, ...]]
                    ) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame,
                               pl.DataFrame]:
    """Children, their hukou IDs, the problems injected, the file plan, and every file row."""
    children, _parents = build_children(births, rng, start, calendar)
    children = add_birth_facts(children, rng)
    records = build_records(children, rng)
    records, duplicate_problems = add_duplicates(records, rng, births, calendar)
    records = assign_record_ids(records, rng)
    records, value_problems = inject_sex_and_date_conflicts(records, rng, births)
    records, child_ids, id_problems = assign_child_ids(records, rng, births)
    records, name_problems = inject_name_and_mother_conflicts(records, rng, births)
    versions, version_problems = add_versions(records, rng, calendar, child_ids)
    del records
    problems = pl.concat([duplicate_problems, value_problems, id_problems, name_problems,
                          version_problems], how="vertical_relaxed")
    files, placements = plan_files(place_versions(versions, rng, calendar), rng, calendar)
    rejected = files.filter(pl.col("fate") == "reject_missing_columns")["file"].to_list()
    rows = versions.join(placements.select("record_no", "file", "position"), on="record_no",
                         how="inner", maintain_order="right")
    del versions, placements  # the largest frames: free them before rendering
    rows = rows.with_columns(position=pl.col("position").cast(pl.Float64),
                             is_delivered_copy=pl.col("file").is_in(rejected),
                             event_type_code=pl.col("event_type"))
    rows = add_unusable_rows(rows, rng).join(
        files.select("file", "extension", "sex_as_code", "order_in_chinese",
                     "record_id_as_number"), on="file", how="left", maintain_order="left")
    return children, child_ids, problems, files, render_files(rows, files, rng)


def synthesise_births(births: int, seed: int, dirt_scale: float = 1.0,
                      start: date = date(2013, 1, 1)) -> SyntheticInbox:
    """The demo inbox's content and its truth, for `births` children born in a year."""
    if births < 1:
        raise ValueError(f"births must be at least 1, got {births}")
    if dirt_scale < 0:
        raise ValueError(f"dirt_scale must not be negative, got {dirt_scale}")
    rng = RandomStreams(seed, dirt_scale)
    calendar = {s: extract_dates(s, start) for s in SOURCE_ORDER}
    children, child_ids, injected, files, rows = synthesise_rows(births, rng, start, calendar)
    latest = latest_versions(rows)
    problems = pl.concat([injected, missing_problems(children, latest),
                          cell_problems(latest, children)], how="vertical_relaxed")
    file_rows = rows.select("file", "row_number", "source", *TEXT_COLUMNS, *CELL_KIND_COLUMNS,
                            EXTRA_COLUMN)
    return SyntheticInbox(
        divisions=build_divisions(),
        children=truth_children(children, child_ids, latest),
        file_rows=file_rows,
        files=truth_files(files, file_rows),
        records=truth_records(rows, latest),
        problems=truth_problems(problems, rows, latest),
        first_extract=min(d[0] for d in calendar.values()),
        last_extract=max(d[-1] for d in calendar.values()),
    )
