"""The demo organisation's fixed data: regions, estates, people, texts, checklist and
survey questionnaire (Chinese, as the seeds write them)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from application.security import Principal

YEAR_START = datetime(2025, 1, 1, 1, 0, tzinfo=timezone.utc)  # 09:00 in Shanghai

REGIONS = [("EC", "华东区域"), ("SC", "华南区域"), ("NC", "华北区域"), ("SW", "西南区域")]
ESTATES = [
    "绿地花园",
    "滨江苑",
    "锦绣华庭",
    "翠湖天地",
    "阳光城",
    "御景湾",
    "金色家园",
    "万科城",
    "碧桂园",
    "龙湖郦城",
    "世纪名苑",
    "东方明珠苑",
    "香樟园",
    "紫薇花园",
    "和平里",
    "星河湾",
]
CITIES = {
    "EC": ["上海", "杭州", "南京"],
    "SC": ["深圳", "广州"],
    "NC": ["北京", "天津"],
    "SW": ["成都", "重庆"],
}

ADMIN = Principal("demo.admin", "系统管理员", "admin")
DESK = Principal("demo.desk", "李娜", "front_desk")
SUP = Principal("demo.sup", "王强", "supervisor")
STAFF = Principal("demo.staff", "张伟", "staff")
INSPECTOR = Principal("demo.inspector", "陈杰", "inspector")
QM1 = Principal("demo.qm1", "周敏", "quality_manager")
QM2 = Principal("demo.qm2", "吴磊", "quality_manager")

TICKET_TEXTS = {
    "repair": [
        ("水电", "卫生间水管漏水，楼下天花板渗水"),
        ("电梯", "3号电梯运行异响，门关闭缓慢"),
        ("门禁", "单元门禁刷卡无反应"),
        ("照明", "地下车库B区照明灯不亮"),
        ("给排水", "厨房下水道堵塞"),
    ],
    "complaint": [
        ("噪音", "夜间装修噪音扰民"),
        ("保洁", "楼道垃圾未及时清运，有异味"),
        ("安保", "外来人员随意进出小区"),
        ("服务态度", "前台接待态度冷淡"),
        ("停车", "消防通道被车辆占用"),
    ],
    "inquiry": [
        ("物业费", "咨询物业费缴纳方式和发票"),
        ("装修", "咨询装修申请流程"),
        ("快递", "快递柜使用问题"),
    ],
    "suggestion": [("绿化", "建议增加儿童游乐区绿化"), ("设施", "建议增设电动车充电桩")],
    "praise": [("表扬", "维修师傅上门及时，服务周到")],
}
KIND_WEIGHTS = [
    ("repair", 50),
    ("complaint", 20),
    ("inquiry", 18),
    ("suggestion", 7),
    ("praise", 5),
]
DEPTS = {
    "水电": "engineering",
    "电梯": "engineering",
    "门禁": "engineering",
    "照明": "engineering",
    "给排水": "engineering",
    "保洁": "cleaning",
    "安保": "security",
    "停车": "security",
    "绿化": "landscaping",
}
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英"

SECTIONS: list[dict[str, Any]] = [
    {
        "code": "KF",
        "name": "客户服务",
        "items": [
            {
                "code": "KF-01",
                "requirement": "前台接待礼貌规范，着装整洁",
                "max_points": 10,
                "critical": False,
            },
            {
                "code": "KF-02",
                "requirement": "投诉在24小时内回复业主",
                "max_points": 10,
                "critical": True,
            },
            {
                "code": "KF-03",
                "requirement": "报修工单按时回访",
                "max_points": 10,
                "critical": False,
            },
        ],
    },
    {
        "code": "GC",
        "name": "工程维护",
        "items": [
            {
                "code": "GC-01",
                "requirement": "电梯年检合格证在有效期内",
                "max_points": 10,
                "critical": True,
            },
            {
                "code": "GC-02",
                "requirement": "消防设施完好，通道畅通",
                "max_points": 10,
                "critical": True,
            },
            {
                "code": "GC-03",
                "requirement": "设备房整洁，巡检记录完整",
                "max_points": 10,
                "critical": False,
            },
        ],
    },
    {
        "code": "HJ",
        "name": "环境与秩序",
        "items": [
            {
                "code": "HJ-01",
                "requirement": "公共区域清洁无垃圾堆放",
                "max_points": 10,
                "critical": False,
            },
            {
                "code": "HJ-02",
                "requirement": "绿化养护良好，无枯死苗木",
                "max_points": 10,
                "critical": False,
            },
            {
                "code": "HJ-03",
                "requirement": "门岗对外来人员登记",
                "max_points": 10,
                "critical": False,
            },
        ],
    },
]
FINDINGS = {"KF": "现场抽查发现接待不规范", "GC": "设备巡检记录缺失", "HJ": "公共区域存在卫生死角"}

SURVEY_QUESTIONS: list[dict[str, Any]] = [
    {
        "code": "Q1",
        "text": "您对客户服务的满意程度",
        "dimension": "service",
        "weight": 2,
        "overall": False,
    },
    {
        "code": "Q2",
        "text": "您对维修及时性的满意程度",
        "dimension": "repair",
        "weight": 2,
        "overall": False,
    },
    {
        "code": "Q3",
        "text": "您对环境卫生的满意程度",
        "dimension": "environment",
        "weight": 1,
        "overall": False,
    },
    {
        "code": "Q4",
        "text": "您对安全秩序的满意程度",
        "dimension": "security",
        "weight": 1,
        "overall": False,
    },
    {
        "code": "OV",
        "text": "总体而言，您对物业服务的满意程度",
        "dimension": "overall",
        "weight": 1,
        "overall": True,
    },
]
