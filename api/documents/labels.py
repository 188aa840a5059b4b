"""Chinese labels for the vocabulary's codes, as printed on documents (the code itself
is printed where no label is known, so a new value never breaks a document)."""

from __future__ import annotations

from typing import Any

LABELS: dict[str, dict[str, str]] = {
    "department": {
        "customer_service": "客服部",
        "engineering": "工程部",
        "security": "秩序部",
        "cleaning": "环境部（保洁）",
        "landscaping": "环境部（绿化）",
        "administration": "综合管理部",
        "quality": "品质管理部",
    },
    "severity": {"minor": "一般", "major": "严重", "critical": "重大"},
    "nc_source": {
        "inspection": "检查",
        "audit": "审核",
        "ticket": "工单",
        "survey": "满意度调查",
        "self_report": "自报",
    },
    "nc_status": {
        "raised": "已提出",
        "noticed": "已通知整改",
        "analysed": "已分析原因",
        "planned": "已制定措施",
        "plan_approved": "措施已批准",
        "rectified": "已整改待复检",
        "closed": "已关闭",
        "cancelled": "已撤销",
    },
    "disposition": {
        "rework": "返工",
        "repair": "返修",
        "concession": "让步接收",
        "return": "退回",
        "scrap": "报废",
    },
    "plan_status": {"submitted": "待审批", "approved": "已批准", "sent_back": "已退回修改"},
    "escalation": {"project": "项目级", "region": "区域级", "company": "公司级"},
    "inspection_kind": {
        "self_check": "项目月度自检",
        "cross_check": "交叉检查",
        "regional_monthly": "城市公司月度检查",
        "company_quarterly": "公司季度检查",
        "night_check": "夜间检查",
        "mystery_visit": "神秘访客",
        "internal_audit": "内部审核",
        "third_party_audit": "第三方审核",
    },
    "inspection_status": {
        "scheduled": "已计划",
        "in_progress": "检查中",
        "submitted": "已提交",
        "appealed": "申诉中",
        "finalized": "已定稿",
        "cancelled": "已取消",
        "missed": "未按期完成",
    },
    "result": {"pass": "合格", "fail": "不合格", "na": "不适用"},
    "party": {"first_party": "第一方（自行调查）", "third_party": "第三方调查"},
    "method": {"web": "网络", "face_to_face": "面访", "email": "电子邮件", "phone": "电话"},
    "segment": {"owner": "业主", "tenant": "租户"},
    "dimension": {
        "service": "服务质量",
        "value": "性价比",
        "overall": "总体",
        "security": "安全秩序",
        "cleaning": "环境卫生",
        "engineering": "工程维修",
        "landscaping": "绿化",
        "customer_service": "客户服务",
    },
    "loyalty": {
        "loyal": "忠诚",
        "favourable": "倾向",
        "vulnerable": "动摇",
        "at_risk": "流失风险",
        "not_assessable": "无法评估",
    },
    "survey_status": {
        "draft": "草稿",
        "submitted": "待审批",
        "approved": "已批准",
        "open": "调查中",
        "closed": "已结束",
        "published": "已发布",
    },
    "assessment_status": {
        "draft": "草稿",
        "reviewed": "已复核",
        "approved": "总经理已批准",
        "published": "已发布",
        "appealed": "二级申诉中",
        "appeal_decided": "申诉已裁决（终局）",
    },
    "deduction_rule": {
        "failed_recheck": "复检未通过",
        "missed_self_check": "未按期自检",
    },
    "responsible_role": {"project_manager": "项目经理", "direct_manager": "直属管理人员"},
}


def label(kind: str, code: Any) -> str:
    """`label("severity", "major")` → `严重`; an unknown code is printed as it is."""
    if code is None:
        return "—"
    return LABELS.get(kind, {}).get(str(code), str(code))


def both(kind: str, code: Any) -> str:
    """The label with its code: `严重 (major)`."""
    if code is None:
        return "—"
    text = label(kind, code)
    return text if text == str(code) else f"{text}（{code}）"
